//! Door hardware on Raspberry Pi 4 and earlier through `rppal` (cargo feature `rppal`).
//!
//! `rppal` drives the pins through the memory-mapped GPIO registers (`/dev/gpiomem`) and takes
//! edge interrupts from the character device. Lines are BCM GPIO numbers. Unlike gpiocdev, the
//! kernel does not own memory-mapped pins: after SIGKILL a pin keeps its mode and last level (see
//! `docs/door-wiring.md`); on a normal drop `rppal` restores the pin's previous mode
//! (`reset_on_drop`), and [`RppalDoor`] releases the relay first.

use std::time::Duration;

use ::rppal::gpio::{Gpio, InputPin, Level, OutputPin, Trigger};
use tokio::sync::mpsc;

use super::hardware::{DoorHardware, HardwareError, Indicator, Input, InputChange, InputLevels};
use super::{DoorConfig, LineRef};

/// Relay and inputs on a Raspberry Pi's BCM GPIO pins.
pub struct RppalDoor {
    relay: OutputPin,
    relay_active_low: bool,
    inputs: Vec<(Input, InputPin, bool)>,
    indicators: Vec<(Indicator, OutputPin)>,
    indicators_active_low: bool,
    rx: Option<mpsc::UnboundedReceiver<InputChange>>,
}

fn bcm(line: &LineRef) -> Result<u8, HardwareError> {
    match line {
        LineRef::Offset(o) => u8::try_from(*o)
            .map_err(|_| HardwareError::Unsupported(format!("BCM GPIO {o} does not exist"))),
        LineRef::Name(n) => Err(HardwareError::Unsupported(format!(
            "the rppal backend takes BCM GPIO numbers, not line names (\"{n}\")"
        ))),
    }
}

fn rppal_err(what: String) -> impl FnOnce(::rppal::gpio::Error) -> HardwareError {
    move |e| HardwareError::Gpio {
        what,
        message: e.to_string(),
    }
}

fn level(active: bool, active_low: bool) -> Level {
    if active != active_low {
        Level::High
    } else {
        Level::Low
    }
}

impl RppalDoor {
    /// Claims the relay pin at its released level and every configured input.
    pub fn open(cfg: &DoorConfig) -> Result<Self, HardwareError> {
        let gpio = Gpio::new().map_err(rppal_err("GPIO".into()))?;
        let pin = bcm(&cfg.relay_line)?;
        let what = format!("relay BCM GPIO {pin}");
        let relay_pin = gpio.get(pin).map_err(rppal_err(what))?;
        let mut relay = if cfg.relay_active_low {
            relay_pin.into_output_high()
        } else {
            relay_pin.into_output_low()
        };
        relay.set_reset_on_drop(true);

        let (tx, rx) = mpsc::unbounded_channel();
        let mut inputs = Vec::new();
        for input in Input::ALL {
            let Some(line) = cfg.input_line(input) else {
                continue;
            };
            let pin = bcm(line)?;
            let what = format!("{} input BCM GPIO {pin}", input.name());
            let mut p = gpio.get(pin).map_err(rppal_err(what.clone()))?.into_input();
            let active_low = cfg.input_active_low(input);
            let tx = tx.clone();
            p.set_async_interrupt(Trigger::Both, None::<Duration>, move |ev| {
                let high = ev.trigger == Trigger::RisingEdge;
                let _ = tx.send(InputChange {
                    input,
                    asserted: high != active_low,
                });
            })
            .map_err(rppal_err(what))?;
            inputs.push((input, p, active_low));
        }
        let mut indicators = Vec::new();
        for which in Indicator::ALL {
            let Some(line) = cfg.indicator_line(which) else {
                continue;
            };
            let pin = bcm(line)?;
            let what = format!("{} BCM GPIO {pin}", which.name());
            let p = gpio.get(pin).map_err(rppal_err(what))?;
            let mut out = if cfg.indicators_active_low {
                p.into_output_high()
            } else {
                p.into_output_low()
            };
            out.set_reset_on_drop(true);
            indicators.push((which, out));
        }
        Ok(Self {
            relay,
            relay_active_low: cfg.relay_active_low,
            inputs,
            indicators,
            indicators_active_low: cfg.indicators_active_low,
            rx: Some(rx),
        })
    }
}

impl DoorHardware for RppalDoor {
    fn set_relay(&mut self, energised: bool) -> Result<(), HardwareError> {
        self.relay.write(level(energised, self.relay_active_low));
        Ok(())
    }

    fn set_indicator(&mut self, which: Indicator, on: bool) -> Result<(), HardwareError> {
        let low = self.indicators_active_low;
        if let Some((_, pin)) = self.indicators.iter_mut().find(|(w, _)| *w == which) {
            pin.write(level(on, low));
        }
        Ok(())
    }

    fn read_inputs(&mut self) -> Result<InputLevels, HardwareError> {
        let mut levels = InputLevels::default();
        for (input, pin, active_low) in &self.inputs {
            levels.set(*input, (pin.read() == Level::High) != *active_low);
        }
        Ok(levels)
    }

    fn input_changes(&mut self) -> Result<mpsc::UnboundedReceiver<InputChange>, HardwareError> {
        self.rx.take().ok_or(HardwareError::InputsTaken)
    }
}

impl Drop for RppalDoor {
    fn drop(&mut self) {
        self.relay.write(level(false, self.relay_active_low));
    }
}
