//! The decision service on a simulated door and an in-memory event store.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::door::sim::{SimControl, SimDoor};
use crate::door::{DoorConfig, DoorState};
use crate::model::{Door, DoorMode, Grant, GrantTarget, Millis, Role};
use crate::test_support::{subject, Memory};

fn door(id: &str, mode: DoorMode) -> Door {
    Door {
        id: id.into(),
        name: id.into(),
        mode,
        created_ms: 0,
        updated_ms: 0,
    }
}

fn grant(staff: &str, target: GrantTarget) -> Grant {
    Grant {
        id: format!("g-{staff}-{}", target.id()),
        staff_id: staff.into(),
        target,
        valid_from: None,
        valid_until: None,
        source: "admin".into(),
        created_ms: 0,
        revoked_ms: None,
    }
}

/// `door-1` (the simulated door, mode staff) and `room` (staff_with_patient); the doctor may
/// pass both (the room with patient `pat`).
fn directory() -> Directory {
    Directory::new(
        vec![
            subject("doc", Role::Doctor),
            subject("pat", Role::Patient),
            subject("porter", Role::Other),
        ],
        vec![
            door("door-1", DoorMode::Staff),
            door("room", DoorMode::StaffWithPatient),
        ],
        vec![
            grant("doc", GrantTarget::Door("door-1".into())),
            grant("doc", GrantTarget::Patient("pat".into())),
        ],
    )
}

struct Rig {
    decider: Decider,
    door: DoorHandle,
    sim: SimControl,
    _dir: tempfile::TempDir,
}

async fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let events = EventSink::start(
        Memory::default(),
        "n1",
        dir.path(),
        Duration::from_secs(3600),
        16,
    )
    .await
    .unwrap();
    let cfg = DoorConfig::default();
    let (hw, sim) = SimDoor::new(&cfg);
    let (door, _door_events) = crate::door::spawn(cfg, Box::new(hw));
    door.state().await.unwrap();
    let catalog = Arc::new(Catalog::new("m", 4, 0.5));
    Rig {
        decider: Decider::new(catalog, Some(door.clone()), events),
        door,
        sim,
        _dir: dir,
    }
}

const NOW: Millis = 1_000_000;

fn doctor_at(channel: Channel, door_id: &str) -> Presentation {
    Presentation::new(channel, door_id, Face::identified("doc", 0.83), NOW)
}

#[tokio::test]
async fn every_channel_records_the_same_event_shape() {
    let r = rig().await;
    let dir = directory();
    let mut shapes = Vec::new();
    for channel in [
        Channel::Camera,
        Channel::Terminal,
        Channel::DecisionsApi,
        Channel::DoorApi,
    ] {
        let out = r.decider.decide_in(&dir, doctor_at(channel, "room")).await;
        let e = out.event.unwrap();
        assert_eq!(e.kind, crate::model::EventKind::Decision);
        assert_eq!(e.reason, "patient_required");
        assert_eq!(e.details["channel"], channel.as_str());
        let keys: Vec<String> = e.details.as_object().unwrap().keys().cloned().collect();
        shapes.push(keys);
    }
    let bad = r
        .decider
        .bad_request(
            Channel::Terminal,
            "room",
            Some("q1"),
            Some("t1"),
            Some("staff.embedding"),
        )
        .await
        .unwrap();
    assert_eq!(bad.details["field"], "staff.embedding");
    shapes.push(bad.details.as_object().unwrap().keys().cloned().collect());
    for s in &shapes {
        assert_eq!(s, &shapes[0], "detail keys differ between channels");
    }
    for key in [
        "channel",
        "request_id",
        "token_id",
        "door",
        "staff_similarity",
        "patient_similarity",
        "liveness_score",
        "liveness",
        "patient_liveness",
        "field",
    ] {
        assert!(shapes[0].iter().any(|k| k == key), "{key} missing");
    }
}

#[tokio::test]
async fn a_grant_unlocks_the_driven_door_and_names_the_similarity() {
    let r = rig().await;
    let out = r
        .decider
        .decide_in(&directory(), doctor_at(Channel::Camera, "door-1"))
        .await;
    assert!(out.decision.granted);
    assert!(matches!(&out.unlock, Unlock::Done(st) if st.state == DoorState::Unlocked));
    assert!(
        !r.sim.relay_energised(),
        "fail-safe lock: relay released = unlocked"
    );
    let e = out.event.unwrap();
    assert_eq!(e.subject_id.as_deref(), Some("doc"));
    assert_eq!(e.details["staff_similarity"].as_f64().unwrap() as f32, 0.83);
    // A grant at another controller's door is decided, not executed here.
    let dir = Directory::new(
        vec![subject("doc", Role::Doctor)],
        vec![door("elsewhere", DoorMode::Staff)],
        vec![grant("doc", GrantTarget::Door("elsewhere".into()))],
    );
    let out = r
        .decider
        .decide_in(&dir, doctor_at(Channel::Terminal, "elsewhere"))
        .await;
    assert!(out.decision.granted);
    assert_eq!(out.unlock, Unlock::NotRequested);
}

#[tokio::test]
async fn two_person_decision_names_both_people_and_both_similarities() {
    let r = rig().await;
    let mut req = doctor_at(Channel::Camera, "room");
    req.patient = Patient::Presented(Face::identified("pat", 0.71).into());
    let out = r.decider.decide_in(&directory(), req).await;
    assert_eq!(out.decision.reason, Reason::Granted);
    let e = out.event.unwrap();
    assert_eq!(
        (e.subject_id.as_deref(), e.patient_id.as_deref()),
        (Some("doc"), Some("pat"))
    );
    assert_eq!(e.details["staff_similarity"].as_f64().unwrap() as f32, 0.83);
    assert_eq!(
        e.details["patient_similarity"].as_f64().unwrap() as f32,
        0.71
    );
    let (staff, patient) = (out.staff.unwrap(), out.patient.unwrap());
    assert_eq!((staff.0.id.as_str(), staff.1), ("doc", 0.83));
    assert_eq!((patient.0.id.as_str(), patient.1), ("pat", 0.71));
}

#[tokio::test]
async fn a_staff_member_alone_until_the_timeout_is_denied_patient_timeout() {
    let r = rig().await;
    let mut req = doctor_at(Channel::Camera, "room");
    req.patient = Patient::TimedOut;
    let out = r.decider.decide_in(&directory(), req).await;
    assert_eq!(out.decision.reason, Reason::PatientTimeout);
    assert_eq!(out.unlock, Unlock::NotRequested);
    assert_eq!(out.event.unwrap().reason, "patient_timeout");
    // The timeout is only a reason where a patient was required.
    let mut req = doctor_at(Channel::Camera, "door-1");
    req.patient = Patient::TimedOut;
    assert!(
        r.decider
            .decide_in(&directory(), req)
            .await
            .decision
            .granted
    );
    // An unknown second face is `unknown_patient`, with its similarity recorded.
    let mut req = doctor_at(Channel::Camera, "room");
    req.patient = Patient::Presented(Face::unknown(Some(0.2)).into());
    let out = r.decider.decide_in(&directory(), req).await;
    assert_eq!(out.decision.reason, Reason::UnknownPatient);
    assert_eq!(
        out.event.unwrap().details["patient_similarity"]
            .as_f64()
            .unwrap() as f32,
        0.2
    );
}

#[tokio::test]
async fn a_failed_liveness_check_is_denied_for_it_and_opens_nothing() {
    let r = rig().await;
    let mut req = doctor_at(Channel::Camera, "door-1");
    req.staff.face_mut().liveness = Some(Liveness {
        score: Some(0.9),
        ..Liveness::failed(
            Reason::SpoofSuspected,
            serde_json::json!({"method": "test", "veto": "outline"}),
        )
    });
    let out = r.decider.decide_in(&directory(), req).await;
    assert_eq!(out.decision.reason, Reason::SpoofSuspected);
    assert_eq!(out.unlock, Unlock::NotRequested);
    assert!(r.sim.relay_energised(), "still locked");
    assert_eq!(
        out.event.unwrap().details["liveness_score"]
            .as_f64()
            .unwrap() as f32,
        0.9
    );
    // The check's own words reach the event, and its reason is the denial.
    let mut req = doctor_at(Channel::Camera, "door-1");
    req.staff.face_mut().liveness = Some(Liveness::failed(
        Reason::LivenessTimeout,
        serde_json::json!({"method": "challenge", "challenge": ["left", "up"]}),
    ));
    let out = r.decider.decide_in(&directory(), req).await;
    assert_eq!(out.decision.reason, Reason::LivenessTimeout);
    assert_eq!(out.event.unwrap().details["liveness"]["challenge"][1], "up");
    // An unknown face is unknown, whatever its liveness.
    let mut req = Presentation::new(Channel::Camera, "door-1", Face::unknown(Some(0.3)), NOW);
    req.staff.face_mut().liveness = Some(Liveness::failed(
        Reason::LivenessFailed,
        serde_json::Value::Null,
    ));
    let out = r.decider.decide_in(&directory(), req).await;
    assert_eq!(out.decision.reason, Reason::UnknownStaff);
}

#[tokio::test]
async fn door_errors_are_recorded_with_their_real_cause() {
    let r = rig().await;
    let dir = directory();
    let decide = || {
        r.decider
            .decide_in(&dir, doctor_at(Channel::Terminal, "door-1"))
    };

    r.door.lockdown().await.unwrap();
    let out = decide().await;
    assert_eq!(out.decision.reason, Reason::Lockdown);
    assert_eq!(out.unlock, Unlock::Refused(Reason::Lockdown));
    assert_eq!(out.event.unwrap().granted, Some(false));
    r.door.release_lockdown().await.unwrap();

    r.sim.fail_relay_writes(true);
    let out = decide().await;
    assert_eq!(out.decision.reason, Reason::DoorFault);
    assert!(r.sim.relay_energised(), "the relay never moved");
    r.sim.fail_relay_writes(false);

    r.door.shutdown().await;
    let out = decide().await;
    assert_eq!(out.decision.reason, Reason::ControllerUnavailable);
    assert_eq!(out.event.unwrap().reason, "controller_unavailable");
}

#[test]
fn unlock_answers_map_to_reasons() {
    assert_eq!(
        unlock_refusal(&Err(CommandError::Lockdown { door: "d".into() })),
        Some(Reason::Lockdown)
    );
    assert_eq!(
        unlock_refusal(&Err(CommandError::Stopped)),
        Some(Reason::ControllerUnavailable)
    );
}

#[tokio::test]
async fn door_commands_are_recorded_once_with_their_outcome() {
    let r = rig().await;
    let mut live = r.decider.events().subscribe();
    let st = r
        .decider
        .door_command(&r.door, Command::Pulse, "tok", "technician")
        .await
        .unwrap();
    assert_eq!(st.state, DoorState::Unlocked);
    let e = live.recv().await.unwrap();
    assert_eq!(
        (e.kind.as_str(), e.reason.as_str(), e.granted),
        ("door", "pulse", Some(true))
    );
    assert_eq!(e.details["channel"], "door_api");
    assert_eq!(e.details["token_id"], "tok");
    r.door.lockdown().await.unwrap();
    let err = r
        .decider
        .door_command(&r.door, Command::Pulse, "tok", "technician")
        .await
        .unwrap_err();
    assert!(matches!(err, CommandError::Lockdown { .. }));
    let e = live.recv().await.unwrap();
    assert_eq!((e.reason.as_str(), e.granted), ("lockdown", Some(false)));
}

#[tokio::test]
async fn acknowledged_channels_return_after_the_event_is_on_disk() {
    let r = rig().await;
    let out = r
        .decider
        .decide_in(&directory(), doctor_at(Channel::Terminal, "door-1"))
        .await;
    let e = out.event.unwrap();
    assert!(r.decider.events().durable_seq() >= e.seq);
}
