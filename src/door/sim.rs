//! Simulated door hardware for the demo and the tests.
//!
//! [`SimDoor`] is handed to the controller; [`SimControl`] stays with the test (or the demo UI)
//! to press buttons, open the door and read back every relay change with the time it happened.
//! Times are `tokio::time::Instant`, so tests with a paused clock measure exact pulse lengths.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::hardware::{DoorHardware, HardwareError, Indicator, Input, InputChange, InputLevels};
use super::DoorConfig;

/// One relay write as the simulated hardware saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayChange {
    pub at: Instant,
    pub energised: bool,
}

/// One indicator write as the simulated hardware saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndicatorChange {
    pub at: Instant,
    pub which: Indicator,
    pub on: bool,
}

#[derive(Debug)]
struct Shared {
    energised: bool,
    log: Vec<RelayChange>,
    indicators: Vec<IndicatorChange>,
    levels: InputLevels,
    fail_relay: bool,
}

/// The controller's side of the simulated door.
pub struct SimDoor {
    shared: Arc<Mutex<Shared>>,
    rx: Option<mpsc::UnboundedReceiver<InputChange>>,
    /// Keeps the input stream open while the door exists, even when nobody holds a
    /// [`SimControl`] (the demo): a closed stream would be reported as a hardware fault.
    _keep_open: mpsc::UnboundedSender<InputChange>,
}

/// The outside world's side: drive inputs, inspect the relay.
#[derive(Clone)]
pub struct SimControl {
    shared: Arc<Mutex<Shared>>,
    tx: mpsc::UnboundedSender<InputChange>,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panic while holding this lock can only come from a test assertion; keep going.
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SimDoor {
    /// A simulated door with the inputs `cfg` wires, all idle (door closed, nothing pressed).
    #[must_use]
    pub fn new(cfg: &DoorConfig) -> (SimDoor, SimControl) {
        let mut levels = InputLevels::default();
        if cfg.contact_line.is_some() {
            // Door closed: an NC contact is closed (asserted), an NO contact open.
            levels.contact = Some(cfg.contact_type == super::ContactType::Nc);
        }
        if cfg.rex_line.is_some() {
            levels.rex = Some(false);
        }
        if cfg.fire_line.is_some() {
            levels.fire = Some(false);
        }
        if cfg.break_glass_line.is_some() {
            levels.break_glass = Some(false);
        }
        let shared = Arc::new(Mutex::new(Shared {
            energised: false,
            log: Vec::new(),
            indicators: Vec::new(),
            levels,
            fail_relay: false,
        }));
        let (tx, rx) = mpsc::unbounded_channel();
        (
            SimDoor {
                shared: Arc::clone(&shared),
                rx: Some(rx),
                _keep_open: tx.clone(),
            },
            SimControl { shared, tx },
        )
    }
}

impl DoorHardware for SimDoor {
    fn set_relay(&mut self, energised: bool) -> Result<(), HardwareError> {
        let mut s = lock(&self.shared);
        if s.fail_relay {
            return Err(HardwareError::Gpio {
                what: "simulated relay".into(),
                message: "write failed (injected fault)".into(),
            });
        }
        s.energised = energised;
        s.log.push(RelayChange {
            at: Instant::now(),
            energised,
        });
        Ok(())
    }

    fn set_indicator(&mut self, which: Indicator, on: bool) -> Result<(), HardwareError> {
        lock(&self.shared).indicators.push(IndicatorChange {
            at: Instant::now(),
            which,
            on,
        });
        Ok(())
    }

    fn read_inputs(&mut self) -> Result<InputLevels, HardwareError> {
        Ok(lock(&self.shared).levels)
    }

    fn input_changes(&mut self) -> Result<mpsc::UnboundedReceiver<InputChange>, HardwareError> {
        self.rx.take().ok_or(HardwareError::InputsTaken)
    }
}

impl SimControl {
    /// Sets an input's raw logical level (as the wire would), e.g. a bounce sequence.
    pub fn set_input(&self, input: Input, asserted: bool) {
        lock(&self.shared).levels.set(input, asserted);
        // The controller may already be gone; the level is still recorded.
        let _ = self.tx.send(InputChange { input, asserted });
    }

    /// Opens or closes the door, whatever the contact type.
    pub fn set_door_open(&self, cfg: &DoorConfig, open: bool) {
        let closed_switch = match cfg.contact_type {
            super::ContactType::Nc => !open,
            super::ContactType::No => open,
        };
        self.set_input(Input::Contact, closed_switch);
    }

    /// Whether the relay coil is energised now.
    #[must_use]
    pub fn relay_energised(&self) -> bool {
        lock(&self.shared).energised
    }

    /// Every relay write so far, oldest first.
    #[must_use]
    pub fn relay_log(&self) -> Vec<RelayChange> {
        lock(&self.shared).log.clone()
    }

    /// Every indicator write so far, oldest first.
    #[must_use]
    pub fn indicator_log(&self) -> Vec<IndicatorChange> {
        lock(&self.shared).indicators.clone()
    }

    /// Whether `which` is lit now.
    #[must_use]
    pub fn indicator_on(&self, which: Indicator) -> bool {
        lock(&self.shared)
            .indicators
            .iter()
            .rev()
            .find(|c| c.which == which)
            .is_some_and(|c| c.on)
    }

    /// Makes relay writes fail (or succeed again), to test fault handling.
    pub fn fail_relay_writes(&self, fail: bool) {
        lock(&self.shared).fail_relay = fail;
    }
}
