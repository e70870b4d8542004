//! State machine tests on a paused clock: every transition and alarm, with exact times.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{sleep, Instant};

use super::*;
use crate::door::sim::{SimControl, SimDoor};
use crate::door::{ContactType, LineRef};

const MS: Duration = Duration::from_millis(1);

fn wired(lock_type: LockType) -> DoorConfig {
    DoorConfig {
        lock_type,
        contact_line: Some(LineRef::Offset(1)),
        rex_line: Some(LineRef::Offset(2)),
        fire_line: Some(LineRef::Offset(3)),
        ..DoorConfig::default()
    }
}

struct Rig {
    cfg: DoorConfig,
    door: DoorHandle,
    sim: SimControl,
    events: mpsc::UnboundedReceiver<DoorEvent>,
    t0: Instant,
}

impl Rig {
    async fn start(cfg: DoorConfig) -> Rig {
        Self::start_with(cfg, |_| {}).await
    }

    /// Starts with the simulated inputs prepared by `prepare` (e.g. fire already active).
    async fn start_with(cfg: DoorConfig, prepare: impl FnOnce(&SimControl)) -> Rig {
        let (hw, sim) = SimDoor::new(&cfg);
        prepare(&sim);
        let (door, events) = spawn(cfg.clone(), Box::new(hw));
        let mut rig = Rig {
            cfg,
            door,
            sim,
            events,
            t0: Instant::now(),
        };
        rig.door.state().await.unwrap();
        // Whatever `prepare` queued as input changes was read as the initial level already.
        sleep(200 * MS).await;
        rig.drain();
        rig.t0 = Instant::now();
        rig
    }

    fn drain(&mut self) -> Vec<DoorEventKind> {
        let mut out = Vec::new();
        while let Ok(ev) = self.events.try_recv() {
            assert_eq!(ev.door, self.cfg.id);
            out.push(ev.event);
        }
        out
    }

    fn kinds(&mut self) -> Vec<&'static str> {
        self.drain().iter().map(DoorEventKind::kind).collect()
    }

    async fn status(&self) -> DoorStatus {
        self.door.state().await.unwrap()
    }

    /// Changes the door leaf and waits past the contact debounce.
    async fn door_open(&self, open: bool) {
        self.sim.set_door_open(&self.cfg, open);
        sleep(Duration::from_millis(self.cfg.contact_debounce_ms) + MS).await;
    }

    async fn press_rex(&self) {
        let wait = Duration::from_millis(self.cfg.rex_debounce_ms) + MS;
        self.sim.set_input(Input::Rex, true);
        sleep(wait).await;
        self.sim.set_input(Input::Rex, false);
        sleep(wait).await;
    }

    async fn fire(&self, on: bool) {
        self.sim.set_input(Input::Fire, on);
        sleep(Duration::from_millis(self.cfg.fire_debounce_ms) + MS).await;
    }

    /// The lock position the relay gives now.
    fn unlocked(&self) -> bool {
        self.sim.relay_energised() == self.cfg.lock_type.relay_energised(true)
    }

    /// Relay changes since `t0`, as (ms after t0, unlocked).
    fn lock_log(&self) -> Vec<(u128, bool)> {
        self.sim
            .relay_log()
            .into_iter()
            .filter(|c| c.at >= self.t0)
            .map(|c| {
                (
                    (c.at - self.t0).as_millis(),
                    c.energised == self.cfg.lock_type.relay_energised(true),
                )
            })
            .collect()
    }
}

fn states(events: &[DoorEventKind]) -> Vec<(DoorState, DoorState)> {
    events
        .iter()
        .filter_map(|e| match e {
            DoorEventKind::StateChanged { from, to } => Some((*from, *to)),
            _ => None,
        })
        .collect()
}

fn alarm_events(events: &[DoorEventKind]) -> Vec<(&'static str, AlarmKind)> {
    events
        .iter()
        .filter_map(|e| match e {
            DoorEventKind::AlarmRaised { alarm }
            | DoorEventKind::AlarmCleared { alarm }
            | DoorEventKind::AlarmAcknowledged { alarm } => Some((e.kind(), *alarm)),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn startup_drives_the_safe_state_before_locking() {
    for lock_type in [LockType::FailSafe, LockType::FailSecure] {
        let cfg = wired(lock_type);
        let (hw, sim) = SimDoor::new(&cfg);
        let (door, mut events) = spawn(cfg, Box::new(hw));
        let st = door.state().await.unwrap();
        assert_eq!(st.state, DoorState::Locked);
        assert!(st.locked);
        assert_eq!(st.door, DoorPosition::Closed);
        let log: Vec<bool> = sim.relay_log().iter().map(|c| c.energised).collect();
        let mut kinds = Vec::new();
        while let Ok(ev) = events.try_recv() {
            kinds.push(ev.kind());
        }
        match lock_type {
            // Released (= unlocked for a maglock) first, then energised to lock.
            LockType::FailSafe => {
                assert_eq!(log, [false, true]);
                assert_eq!(
                    kinds,
                    [
                        "safe_state",
                        "lock_changed",
                        "lock_changed",
                        "state_changed"
                    ]
                );
            }
            // Released is already locked for a strike.
            LockType::FailSecure => {
                assert_eq!(log, [false]);
                assert_eq!(kinds, ["safe_state", "lock_changed"]);
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn access_pulse_unlocks_for_exactly_the_pulse_length() {
    for lock_type in [LockType::FailSafe, LockType::FailSecure] {
        let mut rig = Rig::start(wired(lock_type)).await;
        let st = rig.door.unlock_for_access("decision 42").await.unwrap();
        assert_eq!(st.state, DoorState::Unlocked);
        assert_eq!(st.unlock_reason, Some(UnlockReason::Access));
        assert!(st.unlocked_until.is_some());
        assert!(rig.unlocked());
        sleep(4999 * MS).await;
        assert!(rig.unlocked(), "still unlocked 1 ms before the pulse ends");
        sleep(2 * MS).await;
        assert!(!rig.unlocked());
        assert_eq!(rig.lock_log(), [(0, true), (5000, false)]);
        let ev = rig.drain();
        assert_eq!(
            states(&ev),
            [
                (DoorState::Locked, DoorState::Unlocked),
                (DoorState::Unlocked, DoorState::Locked)
            ]
        );
        assert!(ev.contains(&DoorEventKind::LockChanged {
            unlocked: true,
            relay_energised: lock_type.relay_energised(true),
            reason: Some(UnlockReason::Access),
        }));
    }
}

#[tokio::test(start_paused = true)]
async fn locked_unlocked_open_closed_relocks_on_close() {
    let mut rig = Rig::start(wired(LockType::FailSecure)).await;
    rig.door.unlock_for_access("granted").await.unwrap();
    sleep(1000 * MS).await;
    rig.door_open(true).await; // stable at 1050 ms
    assert_eq!(rig.status().await.state, DoorState::Open);
    sleep(1000 * MS).await;
    rig.door_open(false).await; // stable at 2101 ms
    let st = rig.status().await;
    assert_eq!(st.state, DoorState::Locked);
    assert!(st.locked, "relocked on close, before the pulse ended");
    assert_eq!(rig.lock_log(), [(0, true), (2101, false)]);
    let ev = rig.drain();
    assert_eq!(
        states(&ev),
        [
            (DoorState::Locked, DoorState::Unlocked),
            (DoorState::Unlocked, DoorState::Open),
            (DoorState::Open, DoorState::Locked),
        ]
    );
    assert!(ev.contains(&DoorEventKind::DoorOpened));
    assert!(ev.contains(&DoorEventKind::DoorClosed));
    assert!(
        alarm_events(&ev).is_empty(),
        "an authorised opening raises nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn without_relock_on_close_the_door_stays_unlocked_until_the_pulse_ends() {
    let cfg = DoorConfig {
        relock_on_close: false,
        ..wired(LockType::FailSafe)
    };
    let mut rig = Rig::start(cfg).await;
    rig.door.unlock_for_access("granted").await.unwrap();
    rig.door_open(true).await;
    rig.door_open(false).await;
    assert_eq!(rig.status().await.state, DoorState::Unlocked);
    sleep(5000 * MS).await;
    assert_eq!(rig.status().await.state, DoorState::Locked);
    assert_eq!(rig.lock_log(), [(0, true), (5000, false)]);
    let ev = rig.drain();
    assert_eq!(
        states(&ev),
        [
            (DoorState::Locked, DoorState::Unlocked),
            (DoorState::Unlocked, DoorState::Open),
            (DoorState::Open, DoorState::Unlocked),
            (DoorState::Unlocked, DoorState::Locked),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn held_open_prealarm_then_alarm_then_cleared_on_close() {
    let mut rig = Rig::start(wired(LockType::FailSafe)).await;
    rig.door.unlock_for_access("granted").await.unwrap();
    rig.door_open(true).await; // open since 50 ms
    rig.drain();
    sleep(Duration::from_millis(20_050 - 51 - 1)).await; // 1 ms before the pre-alarm
    assert!(alarm_events(&rig.drain()).is_empty());
    assert!(
        !rig.unlocked(),
        "the pulse ended, the lock re-engaged behind the open door"
    );
    sleep(2 * MS).await;
    assert_eq!(
        alarm_events(&rig.drain()),
        [("alarm_raised", AlarmKind::HeldOpenPrealarm)]
    );
    sleep(Duration::from_millis(9_998)).await; // 1 ms before the alarm
    assert!(alarm_events(&rig.drain()).is_empty());
    sleep(2 * MS).await;
    assert_eq!(
        alarm_events(&rig.drain()),
        [
            ("alarm_cleared", AlarmKind::HeldOpenPrealarm),
            ("alarm_raised", AlarmKind::HeldOpen)
        ]
    );
    let st = rig.status().await;
    assert_eq!(st.alarms.len(), 1);
    assert_eq!(st.alarms[0].alarm, AlarmKind::HeldOpen);
    assert!(st.alarms[0].active && !st.alarms[0].acknowledged);

    // Acknowledged while still open: it stays listed, acknowledged, until the door closes.
    rig.door.ack_alarm(None).await.unwrap();
    let st = rig.status().await;
    assert!(st.alarms[0].acknowledged);
    rig.door_open(false).await;
    assert!(rig.status().await.alarms.is_empty());
    assert_eq!(
        alarm_events(&rig.drain()),
        [
            ("alarm_acknowledged", AlarmKind::HeldOpen),
            ("alarm_cleared", AlarmKind::HeldOpen)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn forced_open_is_latched_until_acknowledged() {
    let mut rig = Rig::start(wired(LockType::FailSecure)).await;
    rig.door_open(true).await;
    let st = rig.status().await;
    assert_eq!(st.state, DoorState::Open);
    assert!(st.locked);
    assert_eq!(st.alarms[0].alarm, AlarmKind::ForcedOpen);
    rig.door_open(false).await;
    let st = rig.status().await;
    assert_eq!(st.state, DoorState::Locked);
    assert_eq!(st.alarms.len(), 1, "still latched after the door closed");
    assert!(!st.alarms[0].active && !st.alarms[0].acknowledged);
    // No held-open alarm for a forced door: that is what the forced alarm is for.
    sleep(Duration::from_secs(60)).await;
    rig.door.ack_alarm(Some(AlarmKind::HeldOpen)).await.unwrap();
    assert_eq!(rig.status().await.alarms.len(), 1, "acking another kind");
    rig.door
        .ack_alarm(Some(AlarmKind::ForcedOpen))
        .await
        .unwrap();
    assert!(rig.status().await.alarms.is_empty());
    assert_eq!(
        alarm_events(&rig.drain()),
        [
            ("alarm_raised", AlarmKind::ForcedOpen),
            ("alarm_acknowledged", AlarmKind::ForcedOpen),
            ("alarm_cleared", AlarmKind::ForcedOpen)
        ]
    );
    assert!(rig.lock_log().is_empty(), "the relay never moved");
}

#[tokio::test(start_paused = true)]
async fn rex_unlocks_for_the_pulse_and_the_exit_is_not_forced() {
    let mut rig = Rig::start(wired(LockType::FailSafe)).await;
    rig.sim.set_input(Input::Rex, true);
    sleep(51 * MS).await; // debounced press at 50 ms
    let st = rig.status().await;
    assert_eq!(st.unlock_reason, Some(UnlockReason::Rex));
    assert!(st.rex_pressed);
    rig.sim.set_input(Input::Rex, false);
    sleep(100 * MS).await;
    rig.door_open(true).await;
    rig.door_open(false).await;
    let ev = rig.drain();
    assert!(alarm_events(&ev).is_empty());
    assert!(ev.contains(&DoorEventKind::RexPressed));
    // Pressed at 0 (stable at 50), opened at 151 (201), closed at 202 (252): relock on close.
    assert_eq!(rig.lock_log(), [(50, true), (252, false)]);
}

#[tokio::test(start_paused = true)]
async fn lockdown_refuses_face_and_api_unlocks_but_honours_rex() {
    let mut rig = Rig::start(wired(LockType::FailSecure)).await;
    let st = rig.door.lockdown().await.unwrap();
    assert_eq!(st.state, DoorState::Lockdown);
    for err in [
        rig.door.unlock_for_access("granted").await.unwrap_err(),
        rig.door.pulse().await.unwrap_err(),
        rig.door.hold(10).await.unwrap_err(),
    ] {
        assert!(matches!(err, CommandError::Lockdown { .. }), "{err}");
        assert!(err.to_string().contains("lockdown"));
    }
    assert!(!rig.unlocked());
    let ev = rig.drain();
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, DoorEventKind::UnlockRefused { .. }))
            .count(),
        3
    );
    assert!(ev.contains(&DoorEventKind::LockdownStarted));

    rig.press_rex().await;
    let st = rig.status().await;
    assert!(!st.locked, "REX unlocks during lockdown");
    assert_eq!(st.unlock_reason, Some(UnlockReason::Rex));
    rig.door_open(true).await;
    rig.door_open(false).await;
    let st = rig.status().await;
    assert_eq!(st.state, DoorState::Lockdown);
    assert!(st.alarms.is_empty());

    rig.door.release_lockdown().await.unwrap();
    let st = rig.door.pulse().await.unwrap();
    assert_eq!(st.state, DoorState::Unlocked);
    assert!(rig.drain().contains(&DoorEventKind::LockdownReleased));
}

#[tokio::test(start_paused = true)]
async fn lockdown_cancels_a_running_unlock_or_hold_at_once() {
    let rig = Rig::start(wired(LockType::FailSafe)).await;
    rig.door.unlock_for_access("granted").await.unwrap();
    sleep(1000 * MS).await;
    let st = rig.door.lockdown().await.unwrap();
    assert!(st.locked);
    rig.door.release_lockdown().await.unwrap();
    rig.door.hold(30).await.unwrap();
    sleep(1000 * MS).await;
    assert!(rig.door.lockdown().await.unwrap().locked);
    assert_eq!(
        rig.lock_log(),
        [(0, true), (1000, false), (1000, true), (2000, false)]
    );
}

#[tokio::test(start_paused = true)]
async fn fire_alarm_unlocks_and_nothing_relocks_until_it_clears() {
    for lock_type in [LockType::FailSafe, LockType::FailSecure] {
        let mut rig = Rig::start(wired(lock_type)).await;
        rig.fire(true).await; // stable at 100 ms
        let st = rig.status().await;
        assert_eq!(st.state, DoorState::FireRelease);
        assert!(!st.locked && st.fire_alarm);
        assert_eq!(st.unlock_reason, Some(UnlockReason::Fire));

        // Lockdown is accepted as a mode but cannot lock the door.
        let st = rig.door.lockdown().await.unwrap();
        assert!(st.lockdown && !st.locked);
        assert_eq!(st.state, DoorState::FireRelease);
        // People stream out: opening is not forced, staying open is not held-open.
        rig.door_open(true).await;
        sleep(Duration::from_secs(120)).await;
        assert!(rig.status().await.alarms.is_empty());
        rig.door_open(false).await;
        // An REX pulse ending, or a hold of 0, do not relock either.
        rig.press_rex().await;
        sleep(Duration::from_secs(10)).await;
        rig.door.hold(0).await.unwrap_err(); // refused: lockdown is on
        assert!(rig.unlocked());

        rig.fire(false).await;
        let st = rig.status().await;
        assert!(st.locked);
        assert_eq!(
            st.state,
            DoorState::Lockdown,
            "lockdown applies once the fire clears"
        );
        assert_eq!(rig.lock_log(), [(100, true), (rig.lock_log()[1].0, false)]);
        let ev = rig.drain();
        assert!(ev.contains(&DoorEventKind::FireAlarmActive));
        assert!(ev.contains(&DoorEventKind::FireAlarmCleared));
        assert!(alarm_events(&ev).is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn fire_alarm_at_startup_keeps_the_door_unlocked() {
    let cfg = wired(LockType::FailSafe);
    let rig = Rig::start_with(cfg, |sim| sim.set_input(Input::Fire, true)).await;
    let st = rig.status().await;
    assert_eq!(st.state, DoorState::FireRelease);
    assert!(!st.locked);
    // Fail-safe: released is unlocked, so the relay was never energised.
    let log: Vec<bool> = rig.sim.relay_log().iter().map(|c| c.energised).collect();
    assert_eq!(log, [false]);
}

#[tokio::test(start_paused = true)]
async fn hold_unlocks_for_minutes_without_held_open_alarms() {
    let mut rig = Rig::start(wired(LockType::FailSecure)).await;
    let st = rig.door.hold(2).await.unwrap();
    assert_eq!(st.unlock_reason, Some(UnlockReason::Hold));
    rig.door_open(true).await;
    sleep(Duration::from_secs(60)).await;
    assert!(rig.status().await.alarms.is_empty());
    // A face during the hold does not shorten it.
    rig.door.unlock_for_access("granted").await.unwrap();
    rig.door_open(false).await; // no relock on close during a hold
    assert!(rig.unlocked());
    sleep(Duration::from_millis(120_000 - 60_102 - 1)).await;
    assert!(rig.unlocked(), "1 ms before the hold ends");
    sleep(2 * MS).await;
    assert!(!rig.unlocked());
    assert_eq!(rig.lock_log(), [(0, true), (120_000, false)]);
    let ev = rig.drain();
    assert!(ev
        .iter()
        .any(|e| matches!(e, DoorEventKind::HoldStarted { minutes: 2, .. })));
    assert!(ev.contains(&DoorEventKind::HoldEnded));

    // Hold 0 ends a hold early; too long is refused naming the limit.
    rig.door.hold(10).await.unwrap();
    sleep(1000 * MS).await;
    assert!(rig.door.hold(0).await.unwrap().locked);
    let err = rig.door.hold(481).await.unwrap_err();
    assert_eq!(err, CommandError::InvalidHold { got: 481, max: 480 });
}

#[tokio::test(start_paused = true)]
async fn door_left_open_after_a_hold_raises_held_open() {
    let mut rig = Rig::start(wired(LockType::FailSafe)).await;
    rig.door.hold(1).await.unwrap();
    rig.door_open(true).await;
    sleep(Duration::from_secs(60)).await; // hold ends at 60 s
    rig.drain();
    sleep(Duration::from_secs(30)).await;
    let ev = rig.drain();
    assert!(alarm_events(&ev).contains(&("alarm_raised", AlarmKind::HeldOpen)));
}

#[tokio::test(start_paused = true)]
async fn contact_bounces_shorter_than_the_debounce_are_ignored() {
    let mut rig = Rig::start(wired(LockType::FailSecure)).await;
    for _ in 0..5 {
        rig.sim.set_door_open(&rig.cfg, true);
        sleep(20 * MS).await;
        rig.sim.set_door_open(&rig.cfg, false);
        sleep(20 * MS).await;
    }
    sleep(200 * MS).await;
    let ev = rig.drain();
    assert!(ev.is_empty(), "{ev:?}");
    assert_eq!(rig.status().await.door, DoorPosition::Closed);
}

#[tokio::test(start_paused = true)]
async fn normally_open_contact_reads_the_other_way_round() {
    let cfg = DoorConfig {
        contact_type: ContactType::No,
        ..wired(LockType::FailSecure)
    };
    let rig = Rig::start(cfg).await;
    assert_eq!(rig.status().await.door, DoorPosition::Closed);
    rig.sim.set_input(Input::Contact, true);
    sleep(51 * MS).await;
    assert_eq!(rig.status().await.door, DoorPosition::Open);
}

#[tokio::test(start_paused = true)]
async fn unwired_inputs_mean_unknown_door_and_no_alarms() {
    let rig = Rig::start(DoorConfig::default()).await;
    let st = rig.status().await;
    assert_eq!(st.door, DoorPosition::Unknown);
    assert!(!st.fire_alarm && !st.rex_pressed);
    rig.door.pulse().await.unwrap();
    sleep(Duration::from_secs(60)).await;
    assert!(rig.status().await.alarms.is_empty());
    assert_eq!(rig.lock_log(), [(0, true), (5000, false)]);
}

#[tokio::test(start_paused = true)]
async fn relay_faults_are_reported_and_retried() {
    let mut rig = Rig::start(wired(LockType::FailSecure)).await;
    rig.sim.fail_relay_writes(true);
    let st = rig.door.pulse().await.unwrap();
    assert!(st.locked, "the write failed, so the status says locked");
    assert!(st.fault.as_deref().unwrap().contains("relay"), "{st:?}");
    assert_eq!(rig.kinds(), ["hardware_fault"]);
    sleep(500 * MS).await;
    rig.sim.fail_relay_writes(false);
    sleep(501 * MS).await; // retried 1 s after the failure
    let st = rig.status().await;
    assert!(!st.locked && st.fault.is_none());
    assert_eq!(rig.lock_log(), [(1000, true)]);
    assert_eq!(
        rig.kinds(),
        ["hardware_recovered", "lock_changed", "state_changed"]
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_drives_the_safe_state_and_stops() {
    let mut rig = Rig::start(wired(LockType::FailSafe)).await;
    assert!(rig.sim.relay_energised(), "a locked maglock is powered");
    rig.door.shutdown().await;
    assert!(!rig.sim.relay_energised());
    let ev = rig.drain();
    assert_eq!(
        ev[0],
        DoorEventKind::SafeState {
            cause: "shutdown".into()
        }
    );
    assert_eq!(rig.door.state().await.unwrap_err(), CommandError::Stopped);
    assert!(rig.events.recv().await.is_none(), "event channel closed");
}

#[tokio::test(start_paused = true)]
async fn dropping_every_handle_also_drives_the_safe_state() {
    let cfg = wired(LockType::FailSafe);
    let (hw, sim) = SimDoor::new(&cfg);
    let (door, mut events) = spawn(cfg, Box::new(hw));
    door.state().await.unwrap();
    assert!(sim.relay_energised());
    drop(door);
    while events.recv().await.is_some() {}
    assert!(!sim.relay_energised());
}

#[tokio::test(start_paused = true)]
async fn the_configured_sim_backend_runs_without_faults() {
    let cfg = DoorConfig {
        backend: crate::door::Backend::Sim,
        ..wired(LockType::FailSafe)
    };
    let hw = crate::door::open_hardware(&cfg).unwrap();
    let (door, mut events) = spawn(cfg, hw);
    sleep(Duration::from_secs(1)).await;
    let st = door.pulse().await.unwrap();
    assert!(st.fault.is_none(), "{st:?}");
    assert!(!st.locked);
    while let Ok(ev) = events.try_recv() {
        assert_ne!(ev.kind(), "hardware_fault", "{ev:?}");
    }
}

/// Indicator transitions after `t0`, in ms since `t0`.
fn indicator_log(rig: &Rig, which: Indicator) -> Vec<(u64, bool)> {
    rig.sim
        .indicator_log()
        .into_iter()
        .filter(|c| c.which == which && c.at >= rig.t0)
        .map(|c| ((c.at - rig.t0).as_millis() as u64, c.on))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn indicators_follow_grants_denials_prompts_and_lockdown() {
    let mut rig = Rig::start(wired(LockType::FailSecure)).await;
    assert!(!rig.sim.indicator_on(Indicator::Green), "dark at start");
    // A denial: red for denied_indicator_ms (2000), two 150 ms beeps 300 ms apart.
    rig.door.signal(Signal::Denied);
    sleep(3000 * MS).await;
    assert_eq!(
        indicator_log(&rig, Indicator::Red),
        [(0, true), (2000, false)]
    );
    assert_eq!(
        indicator_log(&rig, Indicator::Buzzer),
        [(0, true), (150, false), (300, true), (450, false)]
    );
    // A prompt: one short beep, nothing lit.
    rig.t0 = Instant::now();
    rig.door.signal(Signal::Prompt);
    sleep(500 * MS).await;
    assert_eq!(
        indicator_log(&rig, Indicator::Buzzer),
        [(0, true), (100, false)]
    );
    assert!(indicator_log(&rig, Indicator::Red).is_empty());
    // A grant: green for exactly the unlock, one beep; a grant clears a lit red at once.
    rig.door.signal(Signal::Denied);
    sleep(500 * MS).await;
    rig.t0 = Instant::now();
    rig.door.unlock_for_access("decision 7").await.unwrap();
    sleep(6000 * MS).await;
    assert_eq!(
        indicator_log(&rig, Indicator::Green),
        [(0, true), (5000, false)]
    );
    assert_eq!(indicator_log(&rig, Indicator::Red), [(0, false)]);
    assert_eq!(
        indicator_log(&rig, Indicator::Buzzer),
        [(0, true), (200, false)]
    );
    // Lockdown keeps red lit until released; shutdown darkens everything.
    rig.t0 = Instant::now();
    rig.door.lockdown().await.unwrap();
    sleep(10_000 * MS).await;
    assert!(rig.sim.indicator_on(Indicator::Red), "red through lockdown");
    rig.door.release_lockdown().await.unwrap();
    assert_eq!(
        indicator_log(&rig, Indicator::Red),
        [(0, true), (10_000, false)]
    );
    rig.door.signal(Signal::Denied);
    sleep(50 * MS).await;
    rig.door.shutdown().await;
    for which in Indicator::ALL {
        assert!(!rig.sim.indicator_on(which), "{which:?} lit after shutdown");
    }
}

fn with_key_switch(lock_type: LockType) -> DoorConfig {
    DoorConfig {
        break_glass_line: Some(LineRef::Offset(7)),
        ..wired(lock_type)
    }
}

#[tokio::test(start_paused = true)]
async fn break_glass_unlocks_alarms_and_relocks_by_itself() {
    for lock_type in [LockType::FailSafe, LockType::FailSecure] {
        let mut rig = Rig::start(with_key_switch(lock_type)).await;
        let st = rig.door.break_glass(None).await.unwrap();
        assert_eq!(st.unlock_reason, Some(UnlockReason::BreakGlass));
        assert!(!st.locked);
        assert!(st
            .alarms
            .iter()
            .any(|a| a.alarm == AlarmKind::BreakGlass && a.active && !a.acknowledged));
        // The door stands open for the emergency: no held-open alarm, no relock on close, and
        // a face or REX inside it does not shorten it.
        rig.door_open(true).await;
        sleep(Duration::from_secs(600)).await;
        rig.door.unlock_for_access("granted").await.unwrap();
        rig.press_rex().await;
        rig.door_open(false).await;
        let alarms: Vec<AlarmKind> = rig.status().await.alarms.iter().map(|a| a.alarm).collect();
        assert_eq!(alarms, [AlarmKind::BreakGlass]);
        assert!(rig.unlocked());
        // Relocks at exactly door.break_glass_minutes (15).
        let now = (Instant::now() - rig.t0).as_millis() as u64;
        sleep(Duration::from_millis(900_000 - now - 1)).await;
        assert!(rig.unlocked(), "1 ms before the end");
        sleep(2 * MS).await;
        assert!(!rig.unlocked());
        assert_eq!(rig.lock_log(), [(0, true), (900_000, false)]);
        let ev = rig.drain();
        assert!(ev.iter().any(|e| matches!(
            e,
            DoorEventKind::BreakGlassStarted {
                source: BreakGlassSource::Command,
                minutes: 15,
                ..
            }
        )));
        assert!(ev.contains(&DoorEventKind::BreakGlassEnded { seconds: 900 }));
        // The alarm stays latched until acknowledged, then leaves.
        let st = rig.status().await;
        assert!(st
            .alarms
            .iter()
            .any(|a| a.alarm == AlarmKind::BreakGlass && !a.active));
        let st = rig
            .door
            .ack_alarm(Some(AlarmKind::BreakGlass))
            .await
            .unwrap();
        assert!(st.alarms.is_empty());
        // Bounded: 1..=15 minutes.
        for bad in [0, 16] {
            assert_eq!(
                rig.door.break_glass(Some(bad)).await.unwrap_err(),
                CommandError::InvalidBreakGlass { got: bad, max: 15 }
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_key_switch_works_in_lockdown_the_command_does_not() {
    let mut rig = Rig::start(with_key_switch(LockType::FailSafe)).await;
    rig.door.lockdown().await.unwrap();
    let err = rig.door.break_glass(Some(5)).await.unwrap_err();
    assert!(matches!(err, CommandError::Lockdown { .. }), "{err}");
    assert!(!rig.unlocked());
    // Turning the key unlocks, lockdown or not; turning it back ends it early.
    rig.sim.set_input(Input::BreakGlass, true);
    sleep(Duration::from_millis(rig.cfg.break_glass_debounce_ms) + MS).await;
    let st = rig.status().await;
    assert_eq!(st.unlock_reason, Some(UnlockReason::BreakGlass));
    sleep(Duration::from_secs(90)).await;
    rig.sim.set_input(Input::BreakGlass, false);
    sleep(Duration::from_millis(rig.cfg.break_glass_debounce_ms) + MS).await;
    let st = rig.status().await;
    assert!(st.locked);
    assert_eq!(st.state, DoorState::Lockdown);
    let ev = rig.drain();
    assert!(ev.iter().any(|e| matches!(
        e,
        DoorEventKind::BreakGlassStarted {
            source: BreakGlassSource::KeySwitch,
            ..
        }
    )));
    assert!(ev.contains(&DoorEventKind::BreakGlassEnded { seconds: 90 }));
}

#[tokio::test(start_paused = true)]
async fn break_glass_ending_never_relocks_a_door_the_fire_alarm_holds() {
    let mut rig = Rig::start(with_key_switch(LockType::FailSecure)).await;
    rig.door.break_glass(Some(1)).await.unwrap();
    rig.fire(true).await;
    sleep(Duration::from_secs(61)).await;
    let st = rig.status().await;
    assert!(!st.locked, "the fire alarm still holds the door unlocked");
    assert_eq!(st.state, DoorState::FireRelease);
    assert!(rig
        .drain()
        .iter()
        .any(|e| matches!(e, DoorEventKind::BreakGlassEnded { .. })));
    rig.fire(false).await;
    assert!(rig.status().await.locked);
    // And a fire alarm that starts and clears during break-glass leaves it running.
    rig.door.break_glass(Some(2)).await.unwrap();
    rig.fire(true).await;
    rig.fire(false).await;
    let st = rig.status().await;
    assert!(!st.locked);
    assert_eq!(st.unlock_reason, Some(UnlockReason::BreakGlass));
}

#[tokio::test(start_paused = true)]
async fn a_key_turned_while_the_controller_was_down_is_honoured_at_start() {
    let cfg = with_key_switch(LockType::FailSafe);
    let rig = Rig::start_with(cfg, |sim| sim.set_input(Input::BreakGlass, true)).await;
    let st = rig.status().await;
    assert_eq!(st.unlock_reason, Some(UnlockReason::BreakGlass));
    assert!(!st.locked);
}
