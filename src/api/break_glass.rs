//! `GET /api/v1/break-glass`: the emergency-access report — every break-glass episode in a
//! period, with where, when, how long, from the key switch or by whom and why.
//!
//! Built from the audit log, not kept beside it: the door's `break_glass_started` and
//! `break_glass_ended` events give where, when and how long; an admin's `break_glass` command
//! event gives who (token, role) and why. One source of truth, and the report verifies with
//! the chain.

use axum::extract::State;
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::auth::{Auth, TechnicianRole};
use super::problem::{fmt_time, parse_time, ApiQuery};
use super::{ApiResult, AppState};
use crate::model::Event;

/// The report's period.
#[derive(Debug, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassQuery {
    /// RFC 3339, inclusive (default: 30 days before `to`).
    #[serde(default)]
    #[schemars(schema_with = "crate::api::contract::date_time_schema")]
    pub from: Option<String>,
    /// RFC 3339, exclusive (default: now).
    #[serde(default)]
    #[schemars(schema_with = "crate::api::contract::date_time_schema")]
    pub to: Option<String>,
}

/// One emergency access.
#[derive(Debug, Serialize, JsonSchema, PartialEq)]
pub struct BreakGlassEpisode {
    pub door_id: Option<String>,
    /// `key_switch` or `command`.
    pub source: String,
    pub started_at: String,
    /// The period it was given, minutes.
    pub minutes: Option<u64>,
    /// Absent while it runs (or when its end falls after the period).
    pub ended_at: Option<String>,
    pub seconds: Option<u64>,
    /// For a command: why, in the admin's words.
    pub reason: Option<String>,
    /// For a command: the token that sent it, and its role.
    pub token_id: Option<String>,
    pub role: Option<String>,
}

/// The report.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BreakGlassReport {
    pub from: String,
    pub to: String,
    pub episodes: Vec<BreakGlassEpisode>,
    /// True when the period held more events than one report reads.
    pub truncated: bool,
}

/// Most events one report reads (an episode is two or three).
const REPORT_EVENTS: u32 = 3000;
const DAY_MS: i64 = 86_400_000;
/// How far apart an admin's command and the door's start may be recorded.
const COMMAND_SLACK_MS: i64 = 5_000;

pub async fn report(
    State(st): State<AppState>,
    Auth(_caller, _): Auth<TechnicianRole>,
    ApiQuery(q): ApiQuery<BreakGlassQuery>,
) -> ApiResult<Json<BreakGlassReport>> {
    let to_ms = match q.to.as_deref() {
        Some(v) => parse_time("to", v)?,
        None => st.core.clock.now_ms() + 1,
    };
    let from_ms = match q.from.as_deref() {
        Some(v) => parse_time("from", v)?,
        None => to_ms - 30 * DAY_MS,
    };
    let events = st
        .core
        .store
        .events_with_reasons(
            &["break_glass_started", "break_glass_ended", "break_glass"],
            from_ms,
            to_ms,
            REPORT_EVENTS,
        )
        .await?;
    Ok(Json(BreakGlassReport {
        from: fmt_time(from_ms),
        to: fmt_time(to_ms),
        truncated: events.len() >= REPORT_EVENTS as usize,
        episodes: episodes(&events),
    }))
}

/// Pairs each door's starts with their ends, and a command's start with the command.
pub fn episodes(events: &[Event]) -> Vec<BreakGlassEpisode> {
    let mut out: Vec<BreakGlassEpisode> = Vec::new();
    let mut commands: Vec<&Event> = events
        .iter()
        .filter(|e| e.reason == "break_glass" && e.granted == Some(true))
        .collect();
    for e in events {
        match e.reason.as_str() {
            "break_glass_started" => {
                let source = e.details["source"].as_str().unwrap_or("command").to_owned();
                let command = (source == "command")
                    .then(|| {
                        commands.iter().position(|c| {
                            c.door_id == e.door_id && (c.ts_ms - e.ts_ms).abs() <= COMMAND_SLACK_MS
                        })
                    })
                    .flatten()
                    .map(|i| commands.remove(i));
                // A start while one runs (the key turned during a command's period) extends
                // the same episode.
                if let Some(open) = out
                    .iter_mut()
                    .rev()
                    .find(|o| o.door_id == e.door_id && o.ended_at.is_none())
                {
                    open.minutes = e.details["minutes"].as_u64().or(open.minutes);
                    continue;
                }
                out.push(BreakGlassEpisode {
                    door_id: e.door_id.clone(),
                    source,
                    started_at: fmt_time(e.ts_ms),
                    minutes: e.details["minutes"].as_u64(),
                    ended_at: None,
                    seconds: None,
                    reason: command.and_then(|c| {
                        c.details["break_glass"]["reason"]
                            .as_str()
                            .map(str::to_owned)
                    }),
                    token_id: command
                        .and_then(|c| c.details["token_id"].as_str().map(str::to_owned)),
                    role: command.and_then(|c| c.details["role"].as_str().map(str::to_owned)),
                });
            }
            "break_glass_ended" => {
                if let Some(open) = out
                    .iter_mut()
                    .rev()
                    .find(|o| o.door_id == e.door_id && o.ended_at.is_none())
                {
                    open.ended_at = Some(fmt_time(e.ts_ms));
                    open.seconds = e.details["seconds"].as_u64();
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Chain, EventDraft, EventKind};

    fn ev(chain: &mut Chain, ts: i64, reason: &str, details: serde_json::Value) -> Event {
        chain.seal(
            EventDraft {
                kind: EventKind::Door,
                door_id: Some("icu".into()),
                granted: (reason == "break_glass").then_some(true),
                reason: reason.into(),
                details,
                ..Default::default()
            },
            ts,
        )
    }

    #[test]
    fn starts_pair_with_their_ends_and_commands_with_their_reason() {
        let mut c = Chain::new("ctl");
        let events = [
            // A key switch, 90 s.
            ev(
                &mut c,
                1_000,
                "break_glass_started",
                serde_json::json!({"source": "key_switch", "minutes": 15}),
            ),
            ev(
                &mut c,
                91_000,
                "break_glass_ended",
                serde_json::json!({"seconds": 90}),
            ),
            // A command: the door's start is recorded just before the command's own event.
            ev(
                &mut c,
                200_000,
                "break_glass_started",
                serde_json::json!({"source": "command", "minutes": 5}),
            ),
            ev(
                &mut c,
                200_004,
                "break_glass",
                serde_json::json!({"token_id": "t1", "role": "admin", "break_glass": {"reason": "arrest", "minutes": 5}}),
            ),
            // The key turned during it extends the same episode, which is still running.
            ev(
                &mut c,
                260_000,
                "break_glass_started",
                serde_json::json!({"source": "key_switch", "minutes": 15}),
            ),
        ];
        let eps = episodes(&events);
        assert_eq!(eps.len(), 2, "{eps:?}");
        assert_eq!(eps[0].source, "key_switch");
        assert_eq!((eps[0].seconds, eps[0].reason.as_deref()), (Some(90), None));
        assert_eq!(eps[1].source, "command");
        assert_eq!(eps[1].reason.as_deref(), Some("arrest"));
        assert_eq!(eps[1].token_id.as_deref(), Some("t1"));
        assert_eq!(eps[1].minutes, Some(15), "extended by the key");
        assert!(eps[1].ended_at.is_none());
    }
}
