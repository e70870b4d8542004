//! Abuse limits: failed authentications per client address, and a per-credential ceiling on
//! decisions.
//!
//! A bearer token carries 256 random bits, so the failure limit is not what keeps a guesser
//! out; it keeps a misconfigured or hostile client from flooding the controller and the audit
//! log, and makes one visible (every refusal up to the limit is an `auth` event, then one
//! `auth_throttled` per window). The decision ceiling bounds what one stolen terminal token can
//! do: a terminal asks for a decision every few seconds, not hundreds a second.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::request::Parts;

use super::problem::ApiError;
use super::AppState;
use crate::audit::{EventDraft, EventKind};
use crate::console::session::LoginThrottle;

/// The controller's abuse limits (one per process, in [`AppState`]).
#[derive(Debug)]
pub struct Limits {
    auth: LoginThrottle,
    /// Addresses already reported as throttled in the current window (one event each).
    reported: Mutex<HashMap<IpAddr, Instant>>,
    window: Duration,
    decisions: DecisionBudget,
}

impl Limits {
    pub fn from_config(cfg: &crate::config::Config) -> Self {
        let window = Duration::from_secs(cfg.auth.failure_window_secs);
        Self {
            auth: LoginThrottle::new(cfg.auth.max_failures, window),
            reported: Mutex::new(HashMap::new()),
            window,
            decisions: DecisionBudget::new(cfg.api.ws_auth_max_decisions_per_minute),
        }
    }

    /// 429 while `ip` has used up its failed authentications; the first refusal of a window is
    /// audited.
    pub async fn check_auth(&self, st: &AppState, ip: IpAddr) -> Result<(), ApiError> {
        let now = Instant::now();
        let Err(wait) = self.auth.check(&[ip.to_string()], now) else {
            return Ok(());
        };
        let first = {
            let mut r = self
                .reported
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            r.retain(|_, t| now.saturating_duration_since(*t) < self.window);
            r.insert(ip, now).is_none()
        };
        if first {
            audit(st, "auth_throttled", ip, serde_json::json!({})).await;
        }
        Err(ApiError::too_many_requests(
            "too many failed authentications from this address",
            wait,
        ))
    }

    /// Counts and audits one refused credential from `ip`.
    pub async fn auth_failed(&self, st: &AppState, ip: IpAddr, why: &str) {
        self.auth.fail(&[ip.to_string()], Instant::now());
        audit(st, "auth_failed", ip, serde_json::json!({ "cause": why })).await;
    }

    /// Takes one decision from `credential`'s budget; `Err(retry_after)` when it is spent.
    pub fn take_decision(&self, credential: &str) -> Result<(), Duration> {
        self.decisions.take(credential, Instant::now())
    }
}

async fn audit(st: &AppState, reason: &str, ip: IpAddr, mut details: serde_json::Value) {
    if let Some(o) = details.as_object_mut() {
        o.insert("client".into(), ip.to_string().into());
    }
    st.core.events.record(EventDraft {
        kind: EventKind::Auth,
        reason: reason.to_owned(),
        details,
        ..Default::default()
    });
}

/// The client address of a request (the TCP peer; the controller is not behind a proxy).
pub fn client_ip(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip())
}

/// A token bucket per credential: `per_minute` decisions of burst, refilled evenly.
#[derive(Debug)]
pub struct DecisionBudget {
    per_minute: u32,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl DecisionBudget {
    /// `per_minute = 0`: no ceiling.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let cap = f64::from(self.per_minute);
        let rate = cap / 60.0;
        let mut b = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, last) = b.entry(key.to_owned()).or_insert((cap, now));
        *tokens = (*tokens + now.saturating_duration_since(*last).as_secs_f64() * rate).min(cap);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_allows_its_burst_then_refills_evenly() {
        let b = DecisionBudget::new(60);
        let t0 = Instant::now();
        for _ in 0..60 {
            assert!(b.take("term", t0).is_ok());
        }
        let wait = b.take("term", t0).unwrap_err();
        assert!(
            wait <= Duration::from_secs(1) && wait > Duration::from_millis(900),
            "{wait:?}"
        );
        assert!(b.take("other", t0).is_ok(), "budgets are per credential");
        assert!(
            b.take("term", t0 + Duration::from_secs(1)).is_ok(),
            "one a second comes back"
        );
        assert!(b.take("term", t0 + Duration::from_secs(1)).is_err());
        let unlimited = DecisionBudget::new(0);
        for _ in 0..10_000 {
            assert!(unlimited.take("x", t0).is_ok());
        }
    }
}
