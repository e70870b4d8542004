//! The hardware seam of the door: one relay output, up to four inputs and up to three
//! indicator outputs (green and red LEDs, buzzer).
//!
//! Backends translate electrical levels into logical ones (the configured active level is applied
//! here, once), so the controller only ever sees "coil energised" and "input asserted". Debouncing
//! is done by the controller, not by the backends, so it behaves the same on every board and can
//! be tested with a paused clock.

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// A door input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// Door contact (reed switch): whether the door leaf is open.
    Contact,
    /// Request-to-exit button or sensor on the secure side.
    Rex,
    /// Fire-alarm panel output.
    Fire,
    /// Break-glass key switch: turning it starts emergency access (`door.break_glass_minutes`).
    BreakGlass,
}

impl Input {
    pub const ALL: [Input; 4] = [Input::Contact, Input::Rex, Input::Fire, Input::BreakGlass];

    /// Index into per-input arrays.
    #[must_use]
    pub fn index(self) -> usize {
        match self {
            Input::Contact => 0,
            Input::Rex => 1,
            Input::Fire => 2,
            Input::BreakGlass => 3,
        }
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Input::Contact => "contact",
            Input::Rex => "rex",
            Input::Fire => "fire",
            Input::BreakGlass => "break_glass",
        }
    }
}

/// An indicator output beside the reader: what the person at the door sees and hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    /// Green LED: lit while the door is unlocked.
    Green,
    /// Red LED: lit for `door.denied_indicator_ms` after a denial, and during lockdown.
    Red,
    /// Buzzer: a short beep for a prompt or a grant, two for a denial.
    Buzzer,
}

impl Indicator {
    pub const ALL: [Indicator; 3] = [Indicator::Green, Indicator::Red, Indicator::Buzzer];

    /// Index into per-indicator arrays.
    #[must_use]
    pub fn index(self) -> usize {
        match self {
            Indicator::Green => 0,
            Indicator::Red => 1,
            Indicator::Buzzer => 2,
        }
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Indicator::Green => "led_green",
            Indicator::Red => "led_red",
            Indicator::Buzzer => "buzzer",
        }
    }
}

/// Logical input levels: `Some(true)` = the line is at its active level (switch closed / button
/// pressed / fire alarm on); `None` = the input is not wired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InputLevels {
    pub contact: Option<bool>,
    pub rex: Option<bool>,
    pub fire: Option<bool>,
    pub break_glass: Option<bool>,
}

impl InputLevels {
    #[must_use]
    pub fn get(&self, input: Input) -> Option<bool> {
        match input {
            Input::Contact => self.contact,
            Input::Rex => self.rex,
            Input::Fire => self.fire,
            Input::BreakGlass => self.break_glass,
        }
    }

    pub fn set(&mut self, input: Input, asserted: bool) {
        let slot = match input {
            Input::Contact => &mut self.contact,
            Input::Rex => &mut self.rex,
            Input::Fire => &mut self.fire,
            Input::BreakGlass => &mut self.break_glass,
        };
        *slot = Some(asserted);
    }
}

/// A raw (not yet debounced) change of one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputChange {
    pub input: Input,
    pub asserted: bool,
}

/// A hardware failure, naming the line or device.
#[derive(Debug, thiserror::Error)]
pub enum HardwareError {
    #[error("GPIO line {0} not found on any chip")]
    LineNotFound(String),
    #[error("{what}: {message}")]
    Gpio { what: String, message: String },
    #[error("{0}")]
    Unsupported(String),
    #[error("input changes were already taken")]
    InputsTaken,
}

/// The door's hardware. Owned by exactly one controller task.
///
/// Implementations must request the relay line at its *released* level, so the relay never
/// glitches to energised while the process starts.
pub trait DoorHardware: Send + 'static {
    /// Energises (`true`) or releases (`false`) the relay coil.
    fn set_relay(&mut self, energised: bool) -> Result<(), HardwareError>;

    /// Reads the current logical level of every wired input.
    fn read_inputs(&mut self) -> Result<InputLevels, HardwareError>;

    /// Lights (`true`) or darkens an indicator. A backend without that line wired does
    /// nothing: indicators are optional, the door works without them.
    fn set_indicator(&mut self, which: Indicator, on: bool) -> Result<(), HardwareError>;

    /// The stream of raw input changes. Called once by the controller; a closed stream means the
    /// backend lost its inputs (reported as a hardware fault).
    fn input_changes(&mut self) -> Result<mpsc::UnboundedReceiver<InputChange>, HardwareError>;
}
