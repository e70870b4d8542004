//! The gpio-sim chip the guest creates for door tests (README: "GPIO").
//!
//! A test drives an *input* line as if a switch were wired to it by writing `pull-up` or
//! `pull-down` to `sim_gpioN/pull`, and reads what Wardgate drives on an *output* line from
//! `sim_gpioN/value` — the sysfs side of gpio-sim, independent of the character device that
//! Wardgate itself uses.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

/// Line names of the chip, in offset order (hw-tests/run `HW_GPIO_LINES`).
pub const LINES: [&str; 8] = [
    "relay",
    "door_contact",
    "rex_button",
    "fire_alarm",
    "buzzer",
    "led_green",
    "led_red",
    "break_glass",
];

/// Label of the simulated chip (`gpiodetect` shows it; gpiocdev can find the chip by it).
pub const LABEL: &str = "wardgate-sim";

/// The simulated chip: its character device and its sysfs control directory.
#[derive(Debug, Clone)]
pub struct SimChip {
    /// `/dev/gpiochipN`, what the code under test opens.
    pub chardev: PathBuf,
    /// `/sys/devices/platform/gpio-sim.X/gpiochipN`, where the test plays the outside world.
    pub sysfs: PathBuf,
}

impl SimChip {
    /// The chip created by the guest init.
    pub fn from_env() -> Result<Self> {
        Ok(Self {
            chardev: crate::env_path("WARDGATE_HW_GPIO_CHIP")?,
            sysfs: crate::env_path("WARDGATE_HW_GPIO_SYSFS")?,
        })
    }

    /// Offset of a named line.
    pub fn offset(name: &str) -> Result<u32> {
        LINES
            .iter()
            .position(|l| *l == name)
            .map(|p| u32::try_from(p).unwrap_or(u32::MAX))
            .with_context(|| format!("no gpio-sim line named {name:?} (lines: {LINES:?})"))
    }

    /// Drives an input line from outside: `high` = pull-up, else pull-down.
    pub fn set_input(&self, offset: u32, high: bool) -> Result<()> {
        let path = self.sysfs.join(format!("sim_gpio{offset}/pull"));
        let v = if high { "pull-up" } else { "pull-down" };
        std::fs::write(&path, v).with_context(|| format!("cannot write {}", path.display()))
    }

    /// The level the code under test drives on an output line (or the pull of an unrequested one).
    pub fn output(&self, offset: u32) -> Result<bool> {
        let path = self.sysfs.join(format!("sim_gpio{offset}/value"));
        let s = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        match s.trim() {
            "1" => Ok(true),
            "0" => Ok(false),
            other => bail!("unexpected {} content {other:?}", path.display()),
        }
    }
}
