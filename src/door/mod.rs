//! Door hardware: relay and inputs over GPIO, and the door controller state machine.
//!
//! # Layout
//!
//! | file | what lives there |
//! |---|---|
//! | `hardware.rs` | the [`DoorHardware`] trait every backend implements (relay, inputs, indicators) |
//! | `gpiocdev.rs` | Linux GPIO character device backend (any board, lines by offset or name) |
//! | `rppal.rs` | Raspberry Pi 4 and earlier through `rppal` (cargo feature `rppal`) |
//! | `sim.rs` | simulated door for the demo and tests; records every relay change with its time |
//! | `controller.rs` | the actor that owns the hardware and runs the state machine; [`DoorHandle`] |
//! | `events.rs` | [`DoorEvent`]: every state change and alarm, for the event sink |
//! | `command.rs` | REST command types, role rules and [`apply_command`] |
//!
//! The relay is described by what the coil does, not by what the lock does: the relay is
//! *released* (coil unpowered) in the lock type's safe state, which is also what the lock does
//! when the board loses power. See `docs/door-wiring.md`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;

pub mod command;
pub mod controller;
pub mod events;
pub mod gpiocdev;
pub mod hardware;
#[cfg(feature = "rppal")]
pub mod rppal;
pub mod sim;

pub use command::{apply_command, Command, CommandError, DoorRole};
pub use controller::{spawn, AlarmStatus, DoorHandle, DoorPosition, DoorState, DoorStatus, Signal};
pub use events::{AlarmKind, BreakGlassSource, DoorEvent, DoorEventKind, UnlockReason};
pub use hardware::{DoorHardware, HardwareError, Indicator, Input, InputChange, InputLevels};

/// Which hardware the door controller drives.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Simulated relay and inputs (demo, development machines without GPIO).
    Sim,
    /// Linux GPIO character device (`/dev/gpiochipN`): Raspberry Pi 5, Rockchip, any board.
    Gpiocdev,
    /// Raspberry Pi 4 and earlier through `rppal`; needs the `rppal` cargo feature.
    Rppal,
}

/// What the lock does without power; decides which relay level is the safe state.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LockType {
    /// Power to lock (magnetic lock): relay released = unlocked. Required on escape routes.
    FailSafe,
    /// Power to unlock (electric strike): relay released = locked.
    FailSecure,
}

impl LockType {
    /// Whether the relay coil must be energised for the lock to be in `unlocked` position.
    #[must_use]
    pub fn relay_energised(self, unlocked: bool) -> bool {
        match self {
            LockType::FailSafe => !unlocked,
            LockType::FailSecure => unlocked,
        }
    }
}

/// How the door contact switch behaves.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ContactType {
    /// Normally closed: the switch is closed while the door is closed (a cut wire reads "open",
    /// so tampering is noticed). The usual choice.
    Nc,
    /// Normally open: the switch is closed while the door is open.
    No,
}

/// A GPIO line: an offset on `door.chip`, or a line name searched on every chip.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum LineRef {
    Offset(u32),
    Name(String),
}

impl std::fmt::Display for LineRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineRef::Offset(o) => write!(f, "offset {o}"),
            LineRef::Name(n) => write!(f, "line \"{n}\""),
        }
    }
}

/// `[door]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DoorConfig {
    /// The door's id in the API (`/api/v1/doors/{id}`) and in every event.
    pub id: String,
    /// Which hardware drives the door.
    pub backend: Backend,
    /// The GPIO chip that numeric line offsets refer to (gpiocdev backend).
    pub chip: PathBuf,
    /// Relay line: offset on `chip` (BCM number on rppal) or a line name.
    pub relay_line: LineRef,
    /// The relay driver's coil is energised by a low level (many relay modules).
    pub relay_active_low: bool,
    /// Magnetic lock (`fail_safe`) or electric strike (`fail_secure`).
    pub lock_type: LockType,
    /// How long a granted face, REX press or test pulse keeps the door unlocked.
    pub unlock_pulse_ms: u64,
    /// Re-lock as soon as the door closes again, instead of waiting for the pulse to end, so a
    /// second person cannot follow through an already-unlocked door.
    pub relock_on_close: bool,
    /// Seconds an authorised open door may stay open before the pre-alarm (0: no pre-alarm).
    pub held_open_prealarm_secs: u64,
    /// Seconds an authorised open door may stay open before the held-open alarm (0: off).
    pub held_open_alarm_secs: u64,
    /// Longest technician hold-unlocked, minutes.
    pub max_hold_minutes: u32,
    /// Door contact line (none: no door-open detection, so no held/forced alarms).
    pub contact_line: Option<LineRef>,
    /// Door contact switch type.
    pub contact_type: ContactType,
    /// The contact line reads low while its switch is closed (switch to ground, pull-up).
    pub contact_active_low: bool,
    /// Debounce of the contact, ms: a change must be stable this long to count.
    pub contact_debounce_ms: u64,
    /// Request-to-exit button line (none: no REX).
    pub rex_line: Option<LineRef>,
    /// The REX line reads low while pressed.
    pub rex_active_low: bool,
    /// Debounce of the REX button, ms.
    pub rex_debounce_ms: u64,
    /// Fire-alarm input line (none: no fire input; the fire panel must then cut lock power).
    pub fire_line: Option<LineRef>,
    /// The fire line reads low while the alarm is active.
    pub fire_active_low: bool,
    /// Debounce of the fire input, ms.
    pub fire_debounce_ms: u64,
    /// Break-glass key switch line (none: no key switch). Turning the key starts emergency
    /// access for `door.break_glass_minutes`, in lockdown too (the key holder is at the door);
    /// turning it back ends it early.
    pub break_glass_line: Option<LineRef>,
    /// The break-glass line reads low while the key is turned.
    pub break_glass_active_low: bool,
    /// Debounce of the break-glass key switch, ms.
    pub break_glass_debounce_ms: u64,
    /// How long emergency access (break-glass, from the key switch or an admin's command
    /// without `minutes`) keeps the door unlocked before it relocks by itself; an admin's
    /// command may ask for 1 to this many minutes.
    pub break_glass_minutes: u32,
    /// Green LED line (none: no green LED): lit while the door is unlocked.
    pub led_green_line: Option<LineRef>,
    /// Red LED line (none: no red LED): lit after a denial and during lockdown.
    pub led_red_line: Option<LineRef>,
    /// Buzzer line (none: no buzzer): a beep for a prompt or grant, two for a denial.
    pub buzzer_line: Option<LineRef>,
    /// The LED and buzzer drivers switch on at a low level.
    pub indicators_active_low: bool,
    /// How long the red LED stays lit after a denial, ms.
    pub denied_indicator_ms: u64,
}

impl Default for DoorConfig {
    fn default() -> Self {
        Self {
            id: "door-1".into(),
            backend: Backend::Sim,
            chip: PathBuf::from("/dev/gpiochip0"),
            relay_line: LineRef::Offset(17),
            relay_active_low: false,
            lock_type: LockType::FailSafe,
            unlock_pulse_ms: 5000,
            relock_on_close: true,
            held_open_prealarm_secs: 20,
            held_open_alarm_secs: 30,
            max_hold_minutes: 480,
            contact_line: None,
            contact_type: ContactType::Nc,
            contact_active_low: true,
            contact_debounce_ms: 50,
            rex_line: None,
            rex_active_low: true,
            rex_debounce_ms: 50,
            fire_line: None,
            fire_active_low: false,
            fire_debounce_ms: 100,
            break_glass_line: None,
            break_glass_active_low: true,
            break_glass_debounce_ms: 50,
            break_glass_minutes: 15,
            led_green_line: None,
            led_red_line: None,
            buzzer_line: None,
            indicators_active_low: false,
            denied_indicator_ms: 2000,
        }
    }
}

impl DoorConfig {
    /// Checks ranges and consistency; every error names its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: String| {
            Err(ConfigError::Invalid {
                key: format!("door.{key}"),
                message,
            })
        };
        if self.id.is_empty()
            || self.id.len() > 64
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return bad(
                "id",
                "must be 1–64 characters of letters, digits, '-' or '_'".into(),
            );
        }
        if !(100..=600_000).contains(&self.unlock_pulse_ms) {
            return bad(
                "unlock_pulse_ms",
                "must be between 100 and 600000 ms".into(),
            );
        }
        if self.held_open_prealarm_secs > 0
            && self.held_open_alarm_secs > 0
            && self.held_open_prealarm_secs >= self.held_open_alarm_secs
        {
            return bad(
                "held_open_prealarm_secs",
                "must be shorter than door.held_open_alarm_secs".into(),
            );
        }
        if !(1..=1440).contains(&self.max_hold_minutes) {
            return bad("max_hold_minutes", "must be between 1 and 1440".into());
        }
        if !(1..=240).contains(&self.break_glass_minutes) {
            return bad("break_glass_minutes", "must be between 1 and 240".into());
        }
        for (key, ms) in [
            ("contact_debounce_ms", self.contact_debounce_ms),
            ("rex_debounce_ms", self.rex_debounce_ms),
            ("fire_debounce_ms", self.fire_debounce_ms),
            ("break_glass_debounce_ms", self.break_glass_debounce_ms),
        ] {
            if ms > 5000 {
                return bad(key, "must be at most 5000 ms".into());
            }
        }
        if !(100..=60_000).contains(&self.denied_indicator_ms) {
            return bad(
                "denied_indicator_ms",
                "must be between 100 and 60000 ms".into(),
            );
        }
        let mut lines = vec![("relay_line", &self.relay_line)];
        for (key, line) in [
            ("contact_line", &self.contact_line),
            ("rex_line", &self.rex_line),
            ("fire_line", &self.fire_line),
            ("break_glass_line", &self.break_glass_line),
            ("led_green_line", &self.led_green_line),
            ("led_red_line", &self.led_red_line),
            ("buzzer_line", &self.buzzer_line),
        ] {
            if let Some(l) = line {
                lines.push((key, l));
            }
        }
        for (i, (key, line)) in lines.iter().enumerate() {
            if let LineRef::Name(n) = line {
                if n.trim().is_empty() {
                    return bad(key, "a line name must not be empty".into());
                }
            }
            if let Some((other, _)) = lines[..i].iter().find(|(_, l)| l == line) {
                return bad(key, format!("{line} is already used by door.{other}"));
            }
            if self.backend == Backend::Rppal {
                match line {
                    LineRef::Offset(o) if *o <= 53 => {}
                    LineRef::Offset(o) => {
                        return bad(key, format!("BCM GPIO {o} does not exist (0–53)"))
                    }
                    LineRef::Name(_) => {
                        return bad(
                            key,
                            "the rppal backend takes BCM GPIO numbers, not line names".into(),
                        )
                    }
                }
            }
        }
        if self.backend == Backend::Rppal && !cfg!(feature = "rppal") {
            return bad(
                "backend",
                "this build has no rppal support (cargo feature `rppal`); use gpiocdev".into(),
            );
        }
        Ok(())
    }

    /// The configured debounce of `input`.
    #[must_use]
    pub fn debounce(&self, input: Input) -> std::time::Duration {
        std::time::Duration::from_millis(match input {
            Input::Contact => self.contact_debounce_ms,
            Input::Rex => self.rex_debounce_ms,
            Input::Fire => self.fire_debounce_ms,
            Input::BreakGlass => self.break_glass_debounce_ms,
        })
    }

    /// The configured line of `input`, if wired.
    #[must_use]
    pub fn input_line(&self, input: Input) -> Option<&LineRef> {
        match input {
            Input::Contact => self.contact_line.as_ref(),
            Input::Rex => self.rex_line.as_ref(),
            Input::Fire => self.fire_line.as_ref(),
            Input::BreakGlass => self.break_glass_line.as_ref(),
        }
    }

    /// The configured line of `indicator`, if wired.
    #[must_use]
    pub fn indicator_line(&self, indicator: Indicator) -> Option<&LineRef> {
        match indicator {
            Indicator::Green => self.led_green_line.as_ref(),
            Indicator::Red => self.led_red_line.as_ref(),
            Indicator::Buzzer => self.buzzer_line.as_ref(),
        }
    }

    /// Whether `input`'s line is active low.
    #[must_use]
    pub fn input_active_low(&self, input: Input) -> bool {
        match input {
            Input::Contact => self.contact_active_low,
            Input::Rex => self.rex_active_low,
            Input::Fire => self.fire_active_low,
            Input::BreakGlass => self.break_glass_active_low,
        }
    }
}

/// Opens the configured backend. The relay is driven to its released (safe) level as the line is
/// requested, before anything else happens.
pub fn open_hardware(cfg: &DoorConfig) -> Result<Box<dyn DoorHardware>, HardwareError> {
    match cfg.backend {
        Backend::Sim => Ok(Box::new(sim::SimDoor::new(cfg).0)),
        Backend::Gpiocdev => Ok(Box::new(gpiocdev::GpiocdevDoor::open(cfg)?)),
        #[cfg(feature = "rppal")]
        Backend::Rppal => Ok(Box::new(rppal::RppalDoor::open(cfg)?)),
        #[cfg(not(feature = "rppal"))]
        Backend::Rppal => Err(HardwareError::Unsupported(
            "this build has no rppal support (cargo feature `rppal`)".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_door_key_is_documented_with_its_section() {
        let doc = include_str!("../../docs/configuration.md");
        let section = doc
            .split("## `[door]`")
            .nth(1)
            .expect("docs/configuration.md has a [door] section");
        // Options default to None and are not rendered; give them values to list every key.
        let cfg = DoorConfig {
            contact_line: Some(LineRef::Offset(1)),
            rex_line: Some(LineRef::Offset(2)),
            fire_line: Some(LineRef::Offset(3)),
            break_glass_line: Some(LineRef::Offset(7)),
            led_green_line: Some(LineRef::Offset(4)),
            led_red_line: Some(LineRef::Offset(5)),
            buzzer_line: Some(LineRef::Offset(6)),
            ..DoorConfig::default()
        };
        let table: toml::Table = toml::from_str(&toml::to_string(&cfg).unwrap()).unwrap();
        let missing: Vec<String> = table
            .keys()
            .map(|k| format!("`door.{k}`"))
            .filter(|needle| !section.contains(needle.as_str()))
            .collect();
        assert!(missing.is_empty(), "undocumented door keys: {missing:?}");
    }

    #[test]
    fn safe_state_is_relay_released_for_both_lock_types() {
        // fail-safe: released = unlocked; fail-secure: released = locked.
        assert!(!LockType::FailSafe.relay_energised(true));
        assert!(LockType::FailSafe.relay_energised(false));
        assert!(LockType::FailSecure.relay_energised(true));
        assert!(!LockType::FailSecure.relay_energised(false));
    }
}
