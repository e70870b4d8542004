//! Door hardware through the Linux GPIO character device (`/dev/gpiochipN`, uAPI v2).
//!
//! Works on any board whose GPIO driver is in the kernel (Raspberry Pi 5, Rockchip, i.MX, …) and
//! on `gpio-sim`, which is what the hardware tests use. Lines are given as an offset on
//! `door.chip` or by name (searched on every chip), so a device-tree `gpio-line-names` entry such
//! as `DOOR_RELAY` keeps the configuration board-independent.
//!
//! The kernel applies the active level (`as_active_low`), so values here are logical. Each input
//! is its own request with edge detection on both edges; a small thread per input waits for edges
//! and forwards them to the controller. The threads wake every [`POLL`] to notice shutdown.
//!
//! When the process dies, the kernel releases the lines. What level a released output keeps is
//! up to the chip driver (see `docs/door-wiring.md`): gpio-sim returns it to its pull, the
//! BCM2835/2711 pin controller turns it back into an input, others keep driving the last value.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ::gpiocdev::line::{EdgeDetection, EdgeKind, Offset, Value};
use ::gpiocdev::Request;
use tokio::sync::mpsc;

use super::hardware::{DoorHardware, HardwareError, Indicator, Input, InputChange, InputLevels};
use super::{DoorConfig, LineRef};

/// How often an input thread checks whether the door is shutting down.
const POLL: Duration = Duration::from_millis(100);

/// The kernel's consumer label, visible in `gpioinfo`.
const CONSUMER: &str = "wardgate-door";

struct InputLine {
    input: Input,
    request: Arc<Request>,
}

/// Relay and inputs on GPIO character devices.
pub struct GpiocdevDoor {
    relay: Request,
    inputs: Vec<InputLine>,
    /// Wired indicator outputs, requested dark.
    indicators: Vec<(Indicator, Request)>,
    rx: Option<mpsc::UnboundedReceiver<InputChange>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

fn gpio_err(what: String) -> impl FnOnce(::gpiocdev::Error) -> HardwareError {
    move |e| HardwareError::Gpio {
        what,
        message: e.to_string(),
    }
}

/// Finds the chip and offset of a configured line.
fn resolve(cfg: &DoorConfig, line: &LineRef) -> Result<(PathBuf, Offset), HardwareError> {
    match line {
        LineRef::Offset(o) => Ok((cfg.chip.clone(), *o)),
        LineRef::Name(name) => ::gpiocdev::find_named_line(name)
            .map(|found| (found.chip, found.info.offset))
            .ok_or_else(|| HardwareError::LineNotFound(name.clone())),
    }
}

/// Requests an output line (the relay, an indicator) at its inactive level.
fn request_output(
    cfg: &DoorConfig,
    line: &LineRef,
    label: &str,
    active_low: bool,
) -> Result<Request, HardwareError> {
    let (chip, offset) = resolve(cfg, line)?;
    let what = format!("{label} {line} on {}", chip.display());
    let mut builder = Request::builder();
    builder
        .on_chip(&chip)
        .with_consumer(CONSUMER)
        .with_line(offset)
        // Inactive from the first instant: the request sets the level atomically.
        .as_output(Value::Inactive);
    if active_low {
        builder.as_active_low();
    }
    builder.request().map_err(gpio_err(what))
}

impl GpiocdevDoor {
    /// Requests the relay (at its released level) and every configured input.
    pub fn open(cfg: &DoorConfig) -> Result<Self, HardwareError> {
        let relay = request_output(cfg, &cfg.relay_line, "relay", cfg.relay_active_low)?;

        let mut inputs = Vec::new();
        for input in Input::ALL {
            let Some(line) = cfg.input_line(input) else {
                continue;
            };
            let (chip, offset) = resolve(cfg, line)?;
            let what = format!("{} input {} on {}", input.name(), line, chip.display());
            let mut builder = Request::builder();
            builder
                .on_chip(&chip)
                .with_consumer(CONSUMER)
                .with_line(offset)
                .as_input()
                .with_edge_detection(EdgeDetection::BothEdges);
            if cfg.input_active_low(input) {
                builder.as_active_low();
            }
            let request = builder.request().map_err(gpio_err(what))?;
            inputs.push(InputLine {
                input,
                request: Arc::new(request),
            });
        }

        let mut indicators = Vec::new();
        for which in Indicator::ALL {
            let Some(line) = cfg.indicator_line(which) else {
                continue;
            };
            let request = request_output(cfg, line, which.name(), cfg.indicators_active_low)?;
            indicators.push((which, request));
        }

        let (tx, rx) = mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for line in &inputs {
            let (input, request, tx, stop) = (
                line.input,
                Arc::clone(&line.request),
                tx.clone(),
                Arc::clone(&stop),
            );
            let thread = std::thread::Builder::new()
                .name(format!("door-{}", input.name()))
                .spawn(move || watch_input(input, &request, &tx, &stop))
                .map_err(|e| HardwareError::Gpio {
                    what: format!("{} input thread", input.name()),
                    message: e.to_string(),
                })?;
            threads.push(thread);
        }
        Ok(Self {
            relay,
            inputs,
            indicators,
            rx: Some(rx),
            stop,
            threads,
        })
    }
}

/// Forwards edges of one input until shutdown or until the controller is gone.
fn watch_input(
    input: Input,
    request: &Request,
    tx: &mpsc::UnboundedSender<InputChange>,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::Relaxed) && !tx.is_closed() {
        match request.wait_edge_event(POLL) {
            Ok(false) => {}
            Ok(true) => match request.read_edge_event() {
                Ok(ev) => {
                    let asserted = ev.kind == EdgeKind::Rising;
                    if tx.send(InputChange { input, asserted }).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    log::error!(target: "wardgate::door", "{} input: {e}", input.name());
                    return;
                }
            },
            Err(e) => {
                log::error!(target: "wardgate::door", "{} input: {e}", input.name());
                return;
            }
        }
    }
}

impl DoorHardware for GpiocdevDoor {
    fn set_relay(&mut self, energised: bool) -> Result<(), HardwareError> {
        let value = if energised {
            Value::Active
        } else {
            Value::Inactive
        };
        self.relay
            .set_lone_value(value)
            .map_err(gpio_err("relay".into()))
    }

    fn set_indicator(&mut self, which: Indicator, on: bool) -> Result<(), HardwareError> {
        let Some((_, request)) = self.indicators.iter().find(|(w, _)| *w == which) else {
            return Ok(());
        };
        let value = if on { Value::Active } else { Value::Inactive };
        request
            .set_lone_value(value)
            .map_err(gpio_err(which.name().into()))
    }

    fn read_inputs(&mut self) -> Result<InputLevels, HardwareError> {
        let mut levels = InputLevels::default();
        for line in &self.inputs {
            let v = line
                .request
                .lone_value()
                .map_err(gpio_err(format!("{} input", line.input.name())))?;
            levels.set(line.input, v == Value::Active);
        }
        Ok(levels)
    }

    fn input_changes(&mut self) -> Result<mpsc::UnboundedReceiver<InputChange>, HardwareError> {
        self.rx.take().ok_or(HardwareError::InputsTaken)
    }
}

impl Drop for GpiocdevDoor {
    /// Releases the relay coil before giving the line back to the kernel, so that even an
    /// unwinding panic leaves the lock in its safe state on drivers that keep the last level.
    fn drop(&mut self) {
        let _ = self.relay.set_lone_value(Value::Inactive);
        for (_, request) in &self.indicators {
            let _ = request.set_lone_value(Value::Inactive);
        }
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
