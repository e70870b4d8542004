//! The door controller: one tokio task that owns the door hardware and runs the state machine.
//!
//! Everything else talks to it through a [`DoorHandle`] (commands) and hears from it through the
//! event channel returned by [`spawn`]. Owning the lines in a single task is what makes the
//! safety rules simple to state and to test: there is exactly one place that drives the relay,
//! and it computes the lock position from scratch after every input, command and timer:
//!
//! ```text
//! unlocked  =  fire alarm active  ||  an unlock (face / REX / test pulse / hold / break-glass)
//!              is running
//! ```
//!
//! Lockdown only decides which unlocks may start (REX, the break-glass key switch and fire always
//! may), so nothing can keep the door locked while the fire input is active. Break-glass is an
//! unlock like a hold, with an alarm that stays latched until acknowledged; its end relocks only
//! what it unlocked, never a door the fire alarm holds open.
//!
//! Timers (unlock end, held-open pre-alarm and alarm, input debounce, relay retry) are deadlines
//! on `tokio::time::Instant`, so the unit tests run on a paused clock and check exact times.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, Instant};

use super::command::CommandError;
use super::events::{AlarmKind, BreakGlassSource, DoorEvent, DoorEventKind, UnlockReason};
use super::hardware::{DoorHardware, Indicator, Input, InputChange};
use super::{ContactType, DoorConfig, LockType};

/// How long to wait before driving the relay again after a failed write.
const RELAY_RETRY: Duration = Duration::from_secs(1);

/// The door's summary state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DoorState {
    /// Closed and locked.
    Locked,
    /// Closed and locked, in lockdown (face and API unlocks refused).
    Lockdown,
    /// Closed and unlocked (pulse, REX or hold running).
    Unlocked,
    /// The door leaf is open (authorised or forced; see the alarms).
    Open,
    /// Fire alarm active: unlocked and held unlocked until the alarm clears.
    FireRelease,
}

/// Door leaf position from the contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DoorPosition {
    Open,
    Closed,
    /// No door contact wired (`door.contact_line` unset).
    Unknown,
}

/// One active (or latched) alarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AlarmStatus {
    pub alarm: AlarmKind,
    #[schemars(with = "String")]
    pub raised_at: DateTime<Utc>,
    pub acknowledged: bool,
    /// Whether the condition still holds (a forced-open alarm stays latched after the door
    /// closes until someone acknowledges it).
    pub active: bool,
}

/// The door as `GET /api/v1/doors/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DoorStatus {
    pub id: String,
    pub state: DoorState,
    /// Lock position as last driven (true: locked).
    pub locked: bool,
    pub door: DoorPosition,
    /// Relay coil as last driven; `None` until the first write succeeded.
    pub relay_energised: Option<bool>,
    pub lock_type: LockType,
    /// Why it is unlocked, when it is.
    pub unlock_reason: Option<UnlockReason>,
    /// When the running unlock (pulse or hold) ends.
    #[schemars(with = "Option<String>")]
    pub unlocked_until: Option<DateTime<Utc>>,
    pub lockdown: bool,
    pub fire_alarm: bool,
    pub rex_pressed: bool,
    pub alarms: Vec<AlarmStatus>,
    /// The last hardware fault, while it lasts.
    pub fault: Option<String>,
}

/// What the door tells the person in front of it on its indicators (beside the display).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// The door asks for something (a liveness challenge step): one short beep.
    Prompt,
    /// The door refused a face: red LED for `door.denied_indicator_ms`, two beeps.
    Denied,
}

/// Buzzer pulses: (start offset, length) in ms.
const PROMPT_BEEPS: &[(u64, u64)] = &[(0, 100)];
const GRANT_BEEPS: &[(u64, u64)] = &[(0, 200)];
const DENIED_BEEPS: &[(u64, u64)] = &[(0, 150), (300, 150)];

/// What a caller asks the controller to do.
#[derive(Debug)]
enum Op {
    Unlock(UnlockReason, String),
    Signal(Signal),
    Hold(u32),
    BreakGlass(Option<u32>),
    Lockdown(bool),
    Ack(Option<AlarmKind>),
    Status,
}

#[derive(Debug)]
enum Request {
    Op(Op, oneshot::Sender<Result<DoorStatus, CommandError>>),
    Shutdown(oneshot::Sender<()>),
}

/// A cheap, cloneable handle to the door controller task.
#[derive(Clone, Debug)]
pub struct DoorHandle {
    id: String,
    tx: mpsc::Sender<Request>,
}

impl DoorHandle {
    /// The door's id (`door.id`).
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    async fn op(&self, op: Op) -> Result<DoorStatus, CommandError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Op(op, reply))
            .await
            .map_err(|_| CommandError::Stopped)?;
        rx.await.map_err(|_| CommandError::Stopped)?
    }

    /// Shows `signal` on the indicators. Never waits: a full command queue drops the signal
    /// (it is a courtesy to the person, the decision does not depend on it).
    pub fn signal(&self, signal: Signal) {
        let (reply, _) = oneshot::channel();
        let _ = self.tx.try_send(Request::Op(Op::Signal(signal), reply));
    }

    /// Unlocks for one pulse because the access policy granted a face. `reason` is a short,
    /// non-biometric note for the log (e.g. the decision id). Refused during lockdown.
    pub async fn unlock_for_access(&self, reason: &str) -> Result<DoorStatus, CommandError> {
        self.op(Op::Unlock(UnlockReason::Access, reason.to_owned()))
            .await
    }

    /// Technician test pulse (same length as an access pulse). Refused during lockdown.
    pub async fn pulse(&self) -> Result<DoorStatus, CommandError> {
        self.op(Op::Unlock(UnlockReason::Pulse, "test pulse".into()))
            .await
    }

    /// Holds the door unlocked for `minutes` (≤ `door.max_hold_minutes`); `0` ends a running hold
    /// early. Refused during lockdown.
    pub async fn hold(&self, minutes: u32) -> Result<DoorStatus, CommandError> {
        self.op(Op::Hold(minutes)).await
    }

    /// Emergency access (break-glass) for `minutes` (1..=`door.break_glass_minutes`, default
    /// all of it): unlocked, with the `break_glass` alarm raised until acknowledged; relocks by
    /// itself. Refused during lockdown (the key switch is not).
    pub async fn break_glass(&self, minutes: Option<u32>) -> Result<DoorStatus, CommandError> {
        self.op(Op::BreakGlass(minutes)).await
    }

    /// Lockdown: locks now (cancelling face/API unlocks and holds) and refuses further face and
    /// API unlocks. REX and the fire alarm still unlock.
    pub async fn lockdown(&self) -> Result<DoorStatus, CommandError> {
        self.op(Op::Lockdown(true)).await
    }

    /// Ends lockdown.
    pub async fn release_lockdown(&self) -> Result<DoorStatus, CommandError> {
        self.op(Op::Lockdown(false)).await
    }

    /// Acknowledges `alarm`, or every alarm when `None`.
    pub async fn ack_alarm(&self, alarm: Option<AlarmKind>) -> Result<DoorStatus, CommandError> {
        self.op(Op::Ack(alarm)).await
    }

    /// The door's current state and alarms.
    pub async fn state(&self) -> Result<DoorStatus, CommandError> {
        self.op(Op::Status).await
    }

    /// Drives the relay to the safe (released) level, stops the controller and releases the lines.
    /// Returns once that is done; later commands fail with [`CommandError::Stopped`].
    pub async fn shutdown(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Request::Shutdown(reply)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Starts the controller task for `hw`. Must be called inside a tokio runtime.
///
/// The task first drives the relay to the safe (released) level, reads the inputs, then settles
/// into the state they call for (locked, or unlocked when the fire alarm is active). Every state
/// change and alarm is sent on the returned channel, which never blocks the door; when every
/// handle is dropped the task drives the safe state and ends, closing the channel.
pub fn spawn(
    cfg: DoorConfig,
    hw: Box<dyn DoorHardware>,
) -> (DoorHandle, mpsc::UnboundedReceiver<DoorEvent>) {
    let (events, events_rx) = mpsc::unbounded_channel();
    let (tx, rx) = mpsc::channel(32);
    let handle = DoorHandle {
        id: cfg.id.clone(),
        tx,
    };
    let machine = Machine::new(cfg, hw, events);
    tokio::spawn(run(machine, rx));
    (handle, events_rx)
}

async fn run(mut m: Machine, mut rx: mpsc::Receiver<Request>) {
    let mut inputs = match m.hw.input_changes() {
        Ok(r) => Some(r),
        Err(e) => {
            m.report_fault(&format!("door inputs unavailable: {e}"));
            None
        }
    };
    m.start(Instant::now());
    loop {
        let deadline = m.next_deadline();
        tokio::select! {
            biased;
            change = async {
                match inputs.as_mut() {
                    Some(r) => r.recv().await,
                    None => std::future::pending().await,
                }
            } => match change {
                Some(c) => m.on_input(Instant::now(), c),
                None => {
                    inputs = None;
                    m.report_fault("door input stream ended");
                }
            },
            () = async {
                match deadline {
                    Some(d) => sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => {}
            req = rx.recv() => match req {
                Some(Request::Op(op, reply)) => {
                    let now = Instant::now();
                    let result = m.on_op(now, op);
                    m.tick(now);
                    let _ = reply.send(result.map(|()| m.status(now)));
                }
                Some(Request::Shutdown(reply)) => {
                    m.drive_safe("shutdown");
                    drop(m);
                    let _ = reply.send(());
                    return;
                }
                None => {
                    m.drive_safe("shutdown");
                    return;
                }
            },
        }
        m.tick(Instant::now());
    }
}

/// A running unlock.
#[derive(Debug, Clone, Copy)]
struct Unlock {
    reason: UnlockReason,
    until: Instant,
    /// The door opened during this unlock (for `relock_on_close`).
    opened: bool,
}

/// The state machine. Synchronous: the actor loop feeds it inputs, commands and the clock.
struct Machine {
    cfg: DoorConfig,
    hw: Box<dyn DoorHardware>,
    events: mpsc::UnboundedSender<DoorEvent>,
    /// Debounced inputs.
    door_open: Option<bool>,
    rex: bool,
    fire: bool,
    break_glass_key: bool,
    /// When the running break-glass started (for how long it lasted).
    break_glass_since: Option<Instant>,
    /// Raw level waiting to become stable, per input, with the time it will.
    pending: [Option<(bool, Instant)>; 4],
    unlock: Option<Unlock>,
    lockdown: bool,
    /// Relay level as last written successfully.
    relay: Option<bool>,
    retry_at: Option<Instant>,
    fault: Option<String>,
    /// Since when an authorised open door counts towards the held-open alarm.
    held_since: Option<Instant>,
    alarms: Vec<AlarmStatus>,
    state: DoorState,
    /// The red LED stays lit until then (a denial).
    red_until: Option<Instant>,
    /// Buzzer pulses still to sound or sounding: (start, end).
    beeps: Vec<(Instant, Instant)>,
    /// Indicator levels as last written successfully.
    lit: [Option<bool>; 3],
    /// The time of the last tick, for the next deadline of a running pattern.
    clock: Instant,
}

impl Machine {
    fn new(
        cfg: DoorConfig,
        hw: Box<dyn DoorHardware>,
        events: mpsc::UnboundedSender<DoorEvent>,
    ) -> Self {
        Self {
            cfg,
            hw,
            events,
            door_open: None,
            rex: false,
            fire: false,
            break_glass_key: false,
            break_glass_since: None,
            pending: [None; 4],
            unlock: None,
            lockdown: false,
            relay: None,
            retry_at: None,
            fault: None,
            held_since: None,
            alarms: Vec::new(),
            state: DoorState::Locked,
            red_until: None,
            beeps: Vec::new(),
            lit: [None; 3],
            clock: Instant::now(),
        }
    }

    fn beep(&mut self, now: Instant, pattern: &[(u64, u64)]) {
        self.beeps.extend(pattern.iter().map(|&(at, len)| {
            let start = now + Duration::from_millis(at);
            (start, start + Duration::from_millis(len))
        }));
    }

    /// Drives the indicators to what the door's state calls for: green while unlocked, red
    /// after a denial or in lockdown, the buzzer during a pulse. Only changes are written.
    fn indicate(&mut self, now: Instant) {
        let want = [
            self.unlocked_now(),
            self.lockdown || self.red_until.is_some_and(|t| t > now),
            self.beeps.iter().any(|&(s, e)| s <= now && now < e),
        ];
        for which in Indicator::ALL {
            let on = want[which.index()];
            if self.lit[which.index()] == Some(on) {
                continue;
            }
            match self.hw.set_indicator(which, on) {
                Ok(()) => self.lit[which.index()] = Some(on),
                // An LED is not worth a door fault; the next change tries again.
                Err(e) => log::warn!(target: "wardgate::door", "door {}: {e}", self.cfg.id),
            }
        }
    }

    fn emit(&self, event: DoorEventKind) {
        log::info!(target: "wardgate::door", "door {}: {}", self.cfg.id, event.kind());
        // The receiver may be gone during shutdown; the door must keep working regardless.
        let _ = self.events.send(DoorEvent {
            door: self.cfg.id.clone(),
            at: Utc::now(),
            event,
        });
    }

    fn report_fault(&mut self, message: &str) {
        if self.fault.as_deref() != Some(message) {
            log::error!(target: "wardgate::door", "door {}: {message}", self.cfg.id);
            self.fault = Some(message.to_owned());
            self.emit(DoorEventKind::HardwareFault {
                message: message.to_owned(),
            });
        }
    }

    fn contact_means_open(&self, asserted: bool) -> bool {
        match self.cfg.contact_type {
            ContactType::Nc => !asserted,
            ContactType::No => asserted,
        }
    }

    /// Start-up: safe state first, then the inputs, then whatever they call for.
    fn start(&mut self, now: Instant) {
        self.drive_safe("startup");
        self.state = self.summary();
        match self.hw.read_inputs() {
            Ok(levels) => {
                self.door_open = levels.contact.map(|a| self.contact_means_open(a));
                self.rex = levels.rex.unwrap_or(false);
                self.fire = levels.fire.unwrap_or(false);
                self.break_glass_key = levels.break_glass.unwrap_or(false);
            }
            Err(e) => self.report_fault(&format!("cannot read door inputs: {e}")),
        }
        if self.fire {
            self.emit(DoorEventKind::FireAlarmActive);
        }
        if self.door_open == Some(true) && !self.fire {
            // Open at start-up: history unknown, so no forced alarm, but it must not stay open.
            self.held_since = Some(now);
        }
        if self.break_glass_key {
            // The key was turned while the controller was down: the emergency is still on.
            self.start_break_glass(
                now,
                self.cfg.break_glass_minutes,
                BreakGlassSource::KeySwitch,
            );
        }
        self.tick(now);
    }

    /// Drives the relay to its released level: the lock's power-off state (indicators dark).
    fn drive_safe(&mut self, cause: &str) {
        for which in Indicator::ALL {
            if self.hw.set_indicator(which, false).is_ok() {
                self.lit[which.index()] = Some(false);
            }
        }
        let before = self.relay;
        match self.hw.set_relay(false) {
            Ok(()) => {
                self.relay = Some(false);
                self.emit(DoorEventKind::SafeState {
                    cause: cause.to_owned(),
                });
                if before != Some(false) {
                    self.emit(DoorEventKind::LockChanged {
                        unlocked: !self.cfg.lock_type.relay_energised(false),
                        relay_energised: false,
                        reason: None,
                    });
                }
            }
            Err(e) => self.report_fault(&format!("cannot drive the safe state ({cause}): {e}")),
        }
    }

    fn on_input(&mut self, now: Instant, change: InputChange) {
        let debounce = self.cfg.debounce(change.input);
        if debounce.is_zero() {
            self.pending[change.input.index()] = None;
            self.apply_input(now, change.input, change.asserted);
        } else {
            self.pending[change.input.index()] = Some((change.asserted, now + debounce));
        }
    }

    /// A debounced input change.
    fn apply_input(&mut self, now: Instant, input: Input, asserted: bool) {
        match input {
            Input::Contact => {
                let open = self.contact_means_open(asserted);
                if self.door_open == Some(open) {
                    return;
                }
                self.door_open = Some(open);
                if open {
                    self.door_opened(now);
                } else {
                    self.door_closed();
                }
            }
            Input::Rex => {
                if asserted && !self.rex {
                    self.emit(DoorEventKind::RexPressed);
                    // REX always works, lockdown or not: people must be able to leave.
                    self.grant(now, UnlockReason::Rex);
                }
                self.rex = asserted;
            }
            Input::Fire => {
                if asserted == self.fire {
                    return;
                }
                self.fire = asserted;
                if asserted {
                    self.emit(DoorEventKind::FireAlarmActive);
                    // People are expected to stream through: no held-open alarm during a fire.
                    self.held_since = None;
                    self.clear_held_alarms();
                } else {
                    self.emit(DoorEventKind::FireAlarmCleared);
                    if self.door_open == Some(true) && !self.long_unlock() {
                        self.held_since = Some(now);
                    }
                }
            }
            Input::BreakGlass => {
                if asserted == self.break_glass_key {
                    return;
                }
                self.break_glass_key = asserted;
                if asserted {
                    // Like REX, the key works in lockdown: its holder is at the door.
                    let minutes = self.cfg.break_glass_minutes;
                    self.start_break_glass(now, minutes, BreakGlassSource::KeySwitch);
                } else if self.breaking_glass() {
                    self.end_unlock(now);
                }
            }
        }
    }

    fn holding(&self) -> bool {
        matches!(self.unlock, Some(u) if u.reason == UnlockReason::Hold)
    }

    fn breaking_glass(&self) -> bool {
        matches!(self.unlock, Some(u) if u.reason == UnlockReason::BreakGlass)
    }

    /// A hold or break-glass: the door is meant to stand open, so no held-open alarm, no
    /// relock on close, and a pulse inside it changes nothing.
    fn long_unlock(&self) -> bool {
        self.holding() || self.breaking_glass()
    }

    fn start_break_glass(&mut self, now: Instant, minutes: u32, source: BreakGlassSource) {
        if self.holding() {
            self.end_unlock(now);
        }
        let length = Duration::from_secs(u64::from(minutes) * 60);
        if !self.breaking_glass() {
            self.break_glass_since = Some(now);
        }
        self.unlock = Some(Unlock {
            reason: UnlockReason::BreakGlass,
            until: now + length,
            opened: self.door_open == Some(true),
        });
        self.held_since = None;
        self.clear_held_alarms();
        self.raise(AlarmKind::BreakGlass);
        self.emit(DoorEventKind::BreakGlassStarted {
            source,
            minutes,
            until: Utc::now() + length,
        });
    }

    fn door_opened(&mut self, now: Instant) {
        self.emit(DoorEventKind::DoorOpened);
        if self.fire {
            return;
        }
        let long = self.long_unlock();
        if let Some(u) = self.unlock.as_mut() {
            u.opened = true;
            if !long {
                self.held_since = Some(now);
            }
        } else {
            // Opened while locked, no unlock, no REX, no fire: forced.
            self.raise(AlarmKind::ForcedOpen);
        }
    }

    fn door_closed(&mut self) {
        self.emit(DoorEventKind::DoorClosed);
        self.held_since = None;
        self.clear_held_alarms();
        if let Some(a) = self
            .alarms
            .iter_mut()
            .find(|a| a.alarm == AlarmKind::ForcedOpen)
        {
            a.active = false;
        }
        self.drop_finished_alarms();
        if let Some(u) = self.unlock {
            if self.cfg.relock_on_close && u.opened && !self.long_unlock() {
                self.unlock = None;
            }
        }
    }

    fn raise(&mut self, alarm: AlarmKind) {
        if let Some(a) = self.alarms.iter_mut().find(|a| a.alarm == alarm) {
            // Forced open again while still latched: it is a new incident, ask again.
            a.active = true;
            a.acknowledged = false;
            a.raised_at = Utc::now();
        } else {
            self.alarms.push(AlarmStatus {
                alarm,
                raised_at: Utc::now(),
                acknowledged: false,
                active: true,
            });
        }
        log::warn!(target: "wardgate::door", "door {}: alarm {alarm:?}", self.cfg.id);
        self.emit(DoorEventKind::AlarmRaised { alarm });
    }

    fn remove_alarm(&mut self, alarm: AlarmKind) {
        let before = self.alarms.len();
        self.alarms.retain(|a| a.alarm != alarm);
        if self.alarms.len() != before {
            self.emit(DoorEventKind::AlarmCleared { alarm });
        }
    }

    fn has_alarm(&self, alarm: AlarmKind) -> bool {
        self.alarms.iter().any(|a| a.alarm == alarm)
    }

    fn clear_held_alarms(&mut self) {
        self.remove_alarm(AlarmKind::HeldOpenPrealarm);
        self.remove_alarm(AlarmKind::HeldOpen);
    }

    /// Latched alarms leave once acknowledged and no longer active.
    fn drop_finished_alarms(&mut self) {
        let done: Vec<AlarmKind> = self
            .alarms
            .iter()
            .filter(|a| a.acknowledged && !a.active)
            .map(|a| a.alarm)
            .collect();
        for alarm in done {
            self.remove_alarm(alarm);
        }
    }

    /// Starts (or extends) an unlock pulse.
    fn grant(&mut self, now: Instant, reason: UnlockReason) {
        let until = now + Duration::from_millis(self.cfg.unlock_pulse_ms);
        let long = self.long_unlock();
        match self.unlock.as_mut() {
            // A pulse inside a longer hold or break-glass changes nothing.
            Some(u) if long && u.until >= until => {}
            Some(u) => {
                u.reason = reason;
                u.until = u.until.max(until);
                u.opened = false;
            }
            None => {
                self.unlock = Some(Unlock {
                    reason,
                    until,
                    opened: false,
                });
            }
        }
    }

    fn on_op(&mut self, now: Instant, op: Op) -> Result<(), CommandError> {
        match op {
            Op::Status => Ok(()),
            Op::Unlock(reason, note) => {
                if self.lockdown {
                    self.emit(DoorEventKind::UnlockRefused {
                        reason,
                        why: "lockdown".into(),
                    });
                    return Err(CommandError::Lockdown {
                        door: self.cfg.id.clone(),
                    });
                }
                log::info!(target: "wardgate::door", "door {}: unlock ({reason:?}): {note}", self.cfg.id);
                self.grant(now, reason);
                if reason == UnlockReason::Access {
                    self.red_until = None;
                    self.beep(now, GRANT_BEEPS);
                }
                Ok(())
            }
            Op::Signal(Signal::Prompt) => {
                self.beep(now, PROMPT_BEEPS);
                Ok(())
            }
            Op::Signal(Signal::Denied) => {
                self.red_until = Some(now + Duration::from_millis(self.cfg.denied_indicator_ms));
                self.beep(now, DENIED_BEEPS);
                Ok(())
            }
            Op::Hold(minutes) => {
                if minutes > self.cfg.max_hold_minutes {
                    return Err(CommandError::InvalidHold {
                        got: minutes,
                        max: self.cfg.max_hold_minutes,
                    });
                }
                if self.lockdown {
                    self.emit(DoorEventKind::UnlockRefused {
                        reason: UnlockReason::Hold,
                        why: "lockdown".into(),
                    });
                    return Err(CommandError::Lockdown {
                        door: self.cfg.id.clone(),
                    });
                }
                if minutes == 0 {
                    if self.holding() {
                        self.end_unlock(now);
                    }
                    return Ok(());
                }
                if self.breaking_glass() {
                    self.end_unlock(now);
                }
                let length = Duration::from_secs(u64::from(minutes) * 60);
                self.unlock = Some(Unlock {
                    reason: UnlockReason::Hold,
                    until: now + length,
                    opened: self.door_open == Some(true),
                });
                self.held_since = None;
                self.clear_held_alarms();
                self.emit(DoorEventKind::HoldStarted {
                    minutes,
                    until: Utc::now() + length,
                });
                Ok(())
            }
            Op::BreakGlass(minutes) => {
                let max = self.cfg.break_glass_minutes;
                let minutes = minutes.unwrap_or(max);
                if !(1..=max).contains(&minutes) {
                    return Err(CommandError::InvalidBreakGlass { got: minutes, max });
                }
                if self.lockdown {
                    self.emit(DoorEventKind::UnlockRefused {
                        reason: UnlockReason::BreakGlass,
                        why: "lockdown".into(),
                    });
                    return Err(CommandError::Lockdown {
                        door: self.cfg.id.clone(),
                    });
                }
                self.start_break_glass(now, minutes, BreakGlassSource::Command);
                Ok(())
            }
            Op::Lockdown(on) => {
                if on && !self.lockdown {
                    self.lockdown = true;
                    self.emit(DoorEventKind::LockdownStarted);
                    // Lock now, except a REX exit in progress.
                    if matches!(self.unlock, Some(u) if u.reason != UnlockReason::Rex) {
                        self.end_unlock(now);
                    }
                } else if !on && self.lockdown {
                    self.lockdown = false;
                    self.emit(DoorEventKind::LockdownReleased);
                }
                Ok(())
            }
            Op::Ack(which) => {
                let mut acked = Vec::new();
                for a in &mut self.alarms {
                    if !a.acknowledged && which.is_none_or(|w| w == a.alarm) {
                        a.acknowledged = true;
                        acked.push(a.alarm);
                    }
                }
                for alarm in acked {
                    self.emit(DoorEventKind::AlarmAcknowledged { alarm });
                }
                self.drop_finished_alarms();
                Ok(())
            }
        }
    }

    /// Ends the running unlock (timer, lockdown, hold 0, the key turned back).
    fn end_unlock(&mut self, now: Instant) {
        if let Some(u) = self.unlock.take() {
            if u.reason == UnlockReason::Hold {
                self.emit(DoorEventKind::HoldEnded);
            }
            if u.reason == UnlockReason::BreakGlass {
                let since = self.break_glass_since.take().unwrap_or(now);
                self.emit(DoorEventKind::BreakGlassEnded {
                    seconds: now.saturating_duration_since(since).as_secs(),
                });
                // Latched until someone acknowledges it, like a forced door.
                if let Some(a) = self
                    .alarms
                    .iter_mut()
                    .find(|a| a.alarm == AlarmKind::BreakGlass)
                {
                    a.active = false;
                }
                self.drop_finished_alarms();
            }
            if matches!(u.reason, UnlockReason::Hold | UnlockReason::BreakGlass)
                && self.door_open == Some(true)
                && !self.fire
            {
                self.held_since = Some(now);
            }
        }
    }

    fn held_deadlines(&self) -> (Option<Instant>, Option<Instant>) {
        let Some(since) = self.held_since else {
            return (None, None);
        };
        let pre = (self.cfg.held_open_prealarm_secs > 0
            && !self.has_alarm(AlarmKind::HeldOpenPrealarm)
            && !self.has_alarm(AlarmKind::HeldOpen))
        .then(|| since + Duration::from_secs(self.cfg.held_open_prealarm_secs));
        let full = (self.cfg.held_open_alarm_secs > 0 && !self.has_alarm(AlarmKind::HeldOpen))
            .then(|| since + Duration::from_secs(self.cfg.held_open_alarm_secs));
        (pre, full)
    }

    fn next_deadline(&self) -> Option<Instant> {
        let (pre, full) = self.held_deadlines();
        self.pending
            .iter()
            .flatten()
            .map(|(_, at)| *at)
            .chain(self.unlock.map(|u| u.until))
            .chain(self.retry_at)
            .chain(pre)
            .chain(full)
            .chain(self.red_until)
            .chain(
                self.beeps
                    .iter()
                    .map(|&(s, e)| if s > self.clock { s } else { e }),
            )
            .min()
    }

    /// Handles everything due at `now`, then drives the relay and reports the state.
    fn tick(&mut self, now: Instant) {
        self.clock = now;
        if self.red_until.is_some_and(|t| t <= now) {
            self.red_until = None;
        }
        for input in Input::ALL {
            if let Some((asserted, at)) = self.pending[input.index()] {
                if at <= now {
                    self.pending[input.index()] = None;
                    self.apply_input(now, input, asserted);
                }
            }
        }
        if matches!(self.unlock, Some(u) if u.until <= now) {
            self.end_unlock(now);
        }
        let (pre, full) = self.held_deadlines();
        if full.is_some_and(|t| t <= now) {
            self.remove_alarm(AlarmKind::HeldOpenPrealarm);
            self.raise(AlarmKind::HeldOpen);
        } else if pre.is_some_and(|t| t <= now) {
            self.raise(AlarmKind::HeldOpenPrealarm);
        }
        self.settle(now);
    }

    /// Drives the relay to the position the inputs and unlocks call for, and reports changes.
    fn settle(&mut self, now: Instant) {
        let unlocked = self.fire || self.unlock.is_some();
        let energised = self.cfg.lock_type.relay_energised(unlocked);
        if self.relay == Some(energised) {
            self.retry_at = None;
        } else if self.retry_at.is_none_or(|t| t <= now) {
            match self.hw.set_relay(energised) {
                Ok(()) => {
                    self.relay = Some(energised);
                    self.retry_at = None;
                    if self.fault.take().is_some() {
                        self.emit(DoorEventKind::HardwareRecovered);
                    }
                    self.emit(DoorEventKind::LockChanged {
                        unlocked,
                        relay_energised: energised,
                        reason: self.unlock_reason(),
                    });
                }
                Err(e) => {
                    self.retry_at = Some(now + RELAY_RETRY);
                    self.report_fault(&format!("cannot drive the door relay: {e}"));
                }
            }
        }
        let state = self.summary();
        if state != self.state {
            self.emit(DoorEventKind::StateChanged {
                from: self.state,
                to: state,
            });
            self.state = state;
        }
        self.indicate(now);
        self.beeps.retain(|&(_, e)| e > now);
    }

    /// Whether the lock is unlocked as last driven.
    fn unlocked_now(&self) -> bool {
        self.relay
            .is_some_and(|e| e == self.cfg.lock_type.relay_energised(true))
    }

    fn unlock_reason(&self) -> Option<UnlockReason> {
        if self.fire {
            Some(UnlockReason::Fire)
        } else {
            self.unlock.map(|u| u.reason)
        }
    }

    fn summary(&self) -> DoorState {
        if self.fire {
            DoorState::FireRelease
        } else if self.door_open == Some(true) {
            DoorState::Open
        } else if self.unlocked_now() {
            DoorState::Unlocked
        } else if self.lockdown {
            DoorState::Lockdown
        } else {
            DoorState::Locked
        }
    }

    fn status(&self, now: Instant) -> DoorStatus {
        let wall = |at: Instant| {
            let left = at.saturating_duration_since(now);
            Utc::now() + chrono::Duration::from_std(left).unwrap_or_default()
        };
        DoorStatus {
            id: self.cfg.id.clone(),
            state: self.state,
            locked: !self.unlocked_now(),
            door: match self.door_open {
                Some(true) => DoorPosition::Open,
                Some(false) => DoorPosition::Closed,
                None => DoorPosition::Unknown,
            },
            relay_energised: self.relay,
            lock_type: self.cfg.lock_type,
            unlock_reason: self.unlocked_now().then(|| self.unlock_reason()).flatten(),
            unlocked_until: self.unlock.map(|u| wall(u.until)),
            lockdown: self.lockdown,
            fire_alarm: self.fire,
            rex_pressed: self.rex,
            alarms: self.alarms.clone(),
            fault: self.fault.clone(),
        }
    }
}

#[cfg(test)]
#[path = "controller_tests.rs"]
mod tests;
