//! Door events: every state change and alarm, for the event sink (store + broadcast).
//!
//! Serialised as a flat JSON object with a machine-readable `kind`, e.g.
//! `{"door":"door-1","at":"2026-…Z","kind":"alarm_raised","alarm":"forced_open"}`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::controller::DoorState;

/// Why the door is unlocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnlockReason {
    /// A granted face (the access policy said yes).
    Access,
    /// Request-to-exit pressed.
    Rex,
    /// Technician test pulse.
    Pulse,
    /// Technician hold-unlocked for N minutes.
    Hold,
    /// Fire alarm input active.
    Fire,
    /// Emergency access (break-glass): the key switch, or an admin's command with a reason.
    BreakGlass,
}

/// Who started emergency access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakGlassSource {
    /// The physical key switch (`door.break_glass_line`).
    KeySwitch,
    /// An admin's `break_glass` command (the API or the console); the command's own audit
    /// event carries who and why.
    Command,
}

/// Alarm kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    /// The door has been open longer than `door.held_open_prealarm_secs` (a local warning).
    HeldOpenPrealarm,
    /// The door has been open longer than `door.held_open_alarm_secs`.
    HeldOpen,
    /// The door opened while locked with no unlock and no REX. Latched until acknowledged.
    ForcedOpen,
    /// Emergency access is running, or ran and is not yet acknowledged.
    BreakGlass,
}

/// One door event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DoorEvent {
    /// `door.id`.
    pub door: String,
    /// Wall-clock time the controller saw it.
    #[schemars(with = "String")]
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub event: DoorEventKind,
}

impl DoorEvent {
    /// The machine-readable kind (the `kind` field of the JSON).
    #[must_use]
    pub fn kind(&self) -> &'static str {
        self.event.kind()
    }

    /// Whether this event is an alarm (raised, not cleared or acknowledged).
    #[must_use]
    pub fn is_alarm(&self) -> bool {
        matches!(
            self.event,
            DoorEventKind::AlarmRaised { .. }
                | DoorEventKind::HardwareFault { .. }
                | DoorEventKind::FireAlarmActive
        )
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DoorEventKind {
    /// The summary state changed.
    StateChanged {
        from: DoorState,
        to: DoorState,
    },
    /// The lock position changed (the relay was driven).
    LockChanged {
        unlocked: bool,
        relay_energised: bool,
        /// Why it is unlocked now; absent when it locked.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        reason: Option<UnlockReason>,
    },
    /// The relay was driven to the lock type's safe (released) level.
    SafeState {
        /// `startup` or `shutdown`.
        cause: String,
    },
    DoorOpened,
    DoorClosed,
    RexPressed,
    /// A face or API unlock was refused (lockdown).
    UnlockRefused {
        reason: UnlockReason,
        why: String,
    },
    AlarmRaised {
        alarm: AlarmKind,
    },
    AlarmCleared {
        alarm: AlarmKind,
    },
    AlarmAcknowledged {
        alarm: AlarmKind,
    },
    FireAlarmActive,
    FireAlarmCleared,
    LockdownStarted,
    LockdownReleased,
    HoldStarted {
        minutes: u32,
        #[schemars(with = "String")]
        until: DateTime<Utc>,
    },
    HoldEnded,
    /// Emergency access started: the door stays unlocked until `until`, then relocks by itself.
    BreakGlassStarted {
        source: BreakGlassSource,
        minutes: u32,
        #[schemars(with = "String")]
        until: DateTime<Utc>,
    },
    /// Emergency access ended (its time ran out, the key was turned back, or a lockdown or
    /// hold replaced it), after `seconds`.
    BreakGlassEnded {
        seconds: u64,
    },
    /// A relay write or input failed; the controller keeps retrying.
    HardwareFault {
        message: String,
    },
    /// The hardware works again after a fault.
    HardwareRecovered,
}

impl DoorEventKind {
    /// The machine-readable kind.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            DoorEventKind::StateChanged { .. } => "state_changed",
            DoorEventKind::LockChanged { .. } => "lock_changed",
            DoorEventKind::SafeState { .. } => "safe_state",
            DoorEventKind::DoorOpened => "door_opened",
            DoorEventKind::DoorClosed => "door_closed",
            DoorEventKind::RexPressed => "rex_pressed",
            DoorEventKind::UnlockRefused { .. } => "unlock_refused",
            DoorEventKind::AlarmRaised { .. } => "alarm_raised",
            DoorEventKind::AlarmCleared { .. } => "alarm_cleared",
            DoorEventKind::AlarmAcknowledged { .. } => "alarm_acknowledged",
            DoorEventKind::FireAlarmActive => "fire_alarm_active",
            DoorEventKind::FireAlarmCleared => "fire_alarm_cleared",
            DoorEventKind::LockdownStarted => "lockdown_started",
            DoorEventKind::LockdownReleased => "lockdown_released",
            DoorEventKind::HoldStarted { .. } => "hold_started",
            DoorEventKind::HoldEnded => "hold_ended",
            DoorEventKind::BreakGlassStarted { .. } => "break_glass_started",
            DoorEventKind::BreakGlassEnded { .. } => "break_glass_ended",
            DoorEventKind::HardwareFault { .. } => "hardware_fault",
            DoorEventKind::HardwareRecovered => "hardware_recovered",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_flat_with_their_kind() {
        let ev = DoorEvent {
            door: "d1".into(),
            at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            event: DoorEventKind::AlarmRaised {
                alarm: AlarmKind::ForcedOpen,
            },
        };
        let json = serde_json::to_value(&ev).unwrap();
        assert_eq!(json["kind"], "alarm_raised");
        assert_eq!(json["kind"], ev.kind());
        assert_eq!(json["alarm"], "forced_open");
        assert_eq!(json["door"], "d1");
        let back: DoorEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, ev);

        let ev = DoorEvent {
            event: DoorEventKind::StateChanged {
                from: DoorState::Locked,
                to: DoorState::FireRelease,
            },
            ..ev
        };
        let json = serde_json::to_value(&ev).unwrap();
        assert_eq!(json["from"], "locked");
        assert_eq!(json["to"], "fire_release");
    }
}
