//! Door commands of the REST API (`POST /api/v1/doors/{id}/commands`) and their role rules.
//!
//! The API handler stays thin: parse a [`Command`], check [`authorize`] with the caller's role,
//! call [`apply_command`], and map a [`CommandError`] with [`CommandError::http_status`]. The
//! response body on success is the [`DoorStatus`] after the command, so a client sees at once
//! whether a pulse really unlocked the door (it does not during a fire alarm's precedence or a
//! lockdown).

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::controller::{DoorHandle, DoorStatus};
use super::events::AlarmKind;

/// A command, as JSON: `{"command":"pulse"}`, `{"command":"hold","minutes":15}`,
/// `{"command":"lockdown"}`, `{"command":"release_lockdown"}`,
/// `{"command":"ack_alarm"}` or `{"command":"ack_alarm","alarm":"forced_open"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Test pulse: unlock for `door.unlock_pulse_ms`.
    Pulse,
    /// Hold unlocked for `minutes` (1..=`door.max_hold_minutes`); 0 ends a running hold.
    Hold {
        minutes: u32,
    },
    /// Emergency access: unlocked for `minutes` (1..=`door.break_glass_minutes`, default all of
    /// it), the `break_glass` alarm raised until acknowledged, then relocked by itself. Admin
    /// only; `reason` (why, for the audit log) is required. Refused during lockdown.
    BreakGlass {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        minutes: Option<u32>,
        reason: String,
    },
    /// Refuse face and API unlocks (REX and fire still unlock).
    Lockdown,
    ReleaseLockdown,
    /// Acknowledge one alarm kind, or all alarms when `alarm` is absent.
    AckAlarm {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alarm: Option<AlarmKind>,
    },
}

/// The roles that matter for door commands (the API maps its own roles onto these).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DoorRole {
    /// May read door state only.
    Viewer,
    /// Maintenance staff: `pulse`, `hold`, `ack_alarm`.
    Technician,
    /// Security administration: everything, including `lockdown` and `release_lockdown`.
    Admin,
}

impl std::fmt::Display for DoorRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DoorRole::Viewer => "viewer",
            DoorRole::Technician => "technician",
            DoorRole::Admin => "admin",
        })
    }
}

impl Command {
    /// The command's name as in the JSON.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Command::Pulse => "pulse",
            Command::Hold { .. } => "hold",
            Command::BreakGlass { .. } => "break_glass",
            Command::Lockdown => "lockdown",
            Command::ReleaseLockdown => "release_lockdown",
            Command::AckAlarm { .. } => "ack_alarm",
        }
    }

    /// The least role allowed to send it. Lockdown is admin-only because it denies entry to
    /// every enrolled person; the technician commands only ever open the door briefly.
    #[must_use]
    pub fn required_role(&self) -> DoorRole {
        match self {
            Command::Pulse | Command::Hold { .. } | Command::AckAlarm { .. } => {
                DoorRole::Technician
            }
            Command::Lockdown | Command::ReleaseLockdown | Command::BreakGlass { .. } => {
                DoorRole::Admin
            }
        }
    }
}

/// Checks `role` against the command's required role.
pub fn authorize(command: &Command, role: DoorRole) -> Result<(), CommandError> {
    let required = command.required_role();
    if role >= required {
        Ok(())
    } else {
        Err(CommandError::Forbidden {
            command: command.name(),
            required,
        })
    }
}

/// Why a door command did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error(
        "door {door} is in lockdown: face and API unlocks are refused until an admin releases it"
    )]
    Lockdown { door: String },
    #[error("hold minutes must be between 0 and {max} (door.max_hold_minutes), got {got}")]
    InvalidHold { got: u32, max: u32 },
    #[error(
        "break-glass minutes must be between 1 and {max} (door.break_glass_minutes), got {got}"
    )]
    InvalidBreakGlass { got: u32, max: u32 },
    #[error("`reason`: {0}")]
    InvalidReason(String),
    #[error("command `{command}` needs the {required} role")]
    Forbidden {
        command: &'static str,
        required: DoorRole,
    },
    #[error("the door controller is not running")]
    Stopped,
}

impl CommandError {
    /// The HTTP status the API answers with.
    #[must_use]
    pub fn http_status(&self) -> StatusCode {
        match self {
            CommandError::Lockdown { .. } => StatusCode::CONFLICT,
            CommandError::InvalidHold { .. }
            | CommandError::InvalidBreakGlass { .. }
            | CommandError::InvalidReason(_) => StatusCode::UNPROCESSABLE_ENTITY,
            CommandError::Forbidden { .. } => StatusCode::FORBIDDEN,
            CommandError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A stable machine-readable code (for problem+json `type`).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            CommandError::Lockdown { .. } => "door_lockdown",
            CommandError::InvalidHold { .. } => "invalid_hold_minutes",
            CommandError::InvalidBreakGlass { .. } => "invalid_break_glass_minutes",
            CommandError::InvalidReason(_) => "invalid_field",
            CommandError::Forbidden { .. } => "forbidden",
            CommandError::Stopped => "door_unavailable",
        }
    }
}

/// Runs `command` on the door and returns its status afterwards. Role checks are the caller's
/// ([`authorize`]), so this also serves the CLI and internal callers.
pub async fn apply_command(
    door: &DoorHandle,
    command: Command,
) -> Result<DoorStatus, CommandError> {
    match command {
        Command::Pulse => door.pulse().await,
        Command::Hold { minutes } => door.hold(minutes).await,
        Command::BreakGlass { minutes, reason } => {
            check_reason(&reason)?;
            door.break_glass(minutes).await
        }
        Command::Lockdown => door.lockdown().await,
        Command::ReleaseLockdown => door.release_lockdown().await,
        Command::AckAlarm { alarm } => door.ack_alarm(alarm).await,
    }
}

/// Longest break-glass reason, in characters.
pub const MAX_REASON: usize = 255;

/// A break-glass reason: printable, not blank, at most [`MAX_REASON`] characters (what the
/// OpenAPI document states for `reason`).
fn check_reason(reason: &str) -> Result<(), CommandError> {
    if reason.chars().any(char::is_control) {
        return Err(CommandError::InvalidReason(
            "must not contain control characters".into(),
        ));
    }
    if reason.trim().is_empty() || reason.chars().count() > MAX_REASON {
        return Err(CommandError::InvalidReason(format!(
            "say why, in 1 to {MAX_REASON} characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::door::{sim::SimDoor, spawn, DoorConfig, DoorState};

    #[test]
    fn commands_parse_from_json_and_reject_unknown_ones() {
        let c: Command = serde_json::from_str(r#"{"command":"hold","minutes":15}"#).unwrap();
        assert_eq!(c, Command::Hold { minutes: 15 });
        let c: Command = serde_json::from_str(r#"{"command":"ack_alarm"}"#).unwrap();
        assert_eq!(c, Command::AckAlarm { alarm: None });
        let c: Command =
            serde_json::from_str(r#"{"command":"ack_alarm","alarm":"forced_open"}"#).unwrap();
        assert_eq!(
            c,
            Command::AckAlarm {
                alarm: Some(AlarmKind::ForcedOpen)
            }
        );
        let err = serde_json::from_str::<Command>(r#"{"command":"open_sesame"}"#).unwrap_err();
        assert!(err.to_string().contains("open_sesame"), "{err}");
        let err = serde_json::from_str::<Command>(r#"{"command":"hold"}"#).unwrap_err();
        assert!(err.to_string().contains("minutes"), "{err}");
    }

    #[test]
    fn technicians_may_not_lock_down_admins_may_do_everything() {
        let all = [
            Command::Pulse,
            Command::Hold { minutes: 1 },
            Command::Lockdown,
            Command::ReleaseLockdown,
            Command::AckAlarm { alarm: None },
        ];
        for c in &all {
            assert!(authorize(c, DoorRole::Admin).is_ok());
            assert!(authorize(c, DoorRole::Viewer).is_err());
        }
        assert!(authorize(&Command::Pulse, DoorRole::Technician).is_ok());
        assert!(authorize(&Command::Hold { minutes: 5 }, DoorRole::Technician).is_ok());
        assert!(authorize(&Command::AckAlarm { alarm: None }, DoorRole::Technician).is_ok());
        let err = authorize(&Command::Lockdown, DoorRole::Technician).unwrap_err();
        assert_eq!(err.http_status(), StatusCode::FORBIDDEN);
        assert!(err.to_string().contains("admin"), "{err}");
        assert!(authorize(&Command::ReleaseLockdown, DoorRole::Technician).is_err());
    }

    #[test]
    fn request_and_response_types_have_json_schemas_for_openapi() {
        let cmd = serde_json::to_value(schemars::schema_for!(Command)).unwrap();
        let text = cmd.to_string();
        for name in [
            "pulse",
            "hold",
            "lockdown",
            "release_lockdown",
            "ack_alarm",
            "minutes",
        ] {
            assert!(text.contains(name), "{name} missing from {text}");
        }
        let status = serde_json::to_value(schemars::schema_for!(DoorStatus)).unwrap();
        assert!(status["properties"]["alarms"].is_object(), "{status}");
        assert_eq!(status["properties"]["unlocked_until"]["type"][0], "string");
    }

    #[tokio::test(start_paused = true)]
    async fn apply_command_returns_the_status_after_the_command() {
        let cfg = DoorConfig::default();
        let (hw, _sim) = SimDoor::new(&cfg);
        let (door, _events) = spawn(cfg, Box::new(hw));
        let st = apply_command(&door, Command::Pulse).await.unwrap();
        assert_eq!(st.state, DoorState::Unlocked);
        let st = apply_command(&door, Command::Lockdown).await.unwrap();
        assert_eq!(st.state, DoorState::Lockdown);
        let err = apply_command(&door, Command::Pulse).await.unwrap_err();
        assert_eq!(err.http_status(), StatusCode::CONFLICT);
        let err = apply_command(&door, Command::Hold { minutes: 100_000 })
            .await
            .unwrap_err();
        assert_eq!(err.http_status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(err.to_string().contains("door.max_hold_minutes"), "{err}");
        door.shutdown().await;
        assert_eq!(
            apply_command(&door, Command::Pulse).await.unwrap_err(),
            CommandError::Stopped
        );
    }
}
