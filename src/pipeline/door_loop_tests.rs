//! The door loop's rules with a scripted face analyser on a paused clock: real policy, real
//! catalog and gallery search, real event sink and door controller on simulated hardware; no
//! models. Frames are stamped with the paused clock, which the tests advance by hand.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use image::RgbImage;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::act::Actor;
use super::analyser::{AnalysedFace, FaceAnalyser};
use super::door_loop::LoopCore;
use super::stage_stats::{Stage, StageStats};
use super::PipelineConfig;
use crate::access::directory::Directory;
use crate::camera::Frame;
use crate::catalog::{Catalog, Snapshot};
use crate::door::sim::{SimControl, SimDoor};
use crate::door::DoorConfig;
use crate::events::EventSink;
use crate::gallery::Gallery;
use crate::model::{Door, DoorMode, Event, Grant, GrantTarget, Role};
use crate::store::StoredTemplate;
use crate::test_support::test_detection;
use crate::test_support::{subject, Memory};
use crate::vision::detect::Detection;
use crate::vision::landmarks::Mesh;
use crate::vision::quality::QualityReport;

const DIM: usize = 4;
const W: u32 = 640;
const H: u32 = 480;
const FRAME: Duration = Duration::from_millis(66);

fn unit(i: usize) -> Vec<f32> {
    let mut v = vec![0.0; DIM];
    v[i] = 1.0;
    v
}

/// Enrolled: the doctor (axis 0) and the patient (axis 1). Axis 2 is a stranger's face.
fn doctor() -> Vec<f32> {
    unit(0)
}
fn patient() -> Vec<f32> {
    unit(1)
}
fn stranger() -> Vec<f32> {
    unit(2)
}

/// One face in a scripted frame: where, and what it embeds to.
#[derive(Clone)]
struct Face(Detection, Vec<f32>);

/// Big and central: the person at the door.
fn front(emb: Vec<f32>) -> Face {
    Face(test_detection(220.0, 120.0, 200.0), emb)
}
/// Smaller, to the side: someone behind.
fn behind(emb: Vec<f32>) -> Face {
    Face(test_detection(480.0, 60.0, 110.0), emb)
}
/// Larger than `beside`, central.
fn large(emb: Vec<f32>) -> Face {
    Face(test_detection(200.0, 100.0, 230.0), emb)
}
/// Close to the camera too, but smaller and off centre.
fn beside(emb: Vec<f32>) -> Face {
    Face(test_detection(450.0, 130.0, 170.0), emb)
}

/// Answers `detect` with the next scripted frame and `analyse` with that frame's embeddings.
#[derive(Default)]
struct Scripted {
    next: Mutex<VecDeque<Vec<Face>>>,
    current: Mutex<Vec<Face>>,
    analysed: Mutex<usize>,
}

impl Scripted {
    fn push(&self, faces: Vec<Face>) {
        self.next.lock().unwrap().push_back(faces);
    }
}

impl FaceAnalyser for Scripted {
    fn detect(&self, _frame: &RgbImage) -> anyhow::Result<Vec<Detection>> {
        let faces = self.next.lock().unwrap().pop_front().unwrap_or_default();
        let dets = faces.iter().map(|f| f.0.clone()).collect();
        *self.current.lock().unwrap() = faces;
        Ok(dets)
    }

    fn analyse(&self, _frame: &RgbImage, face: &Detection) -> anyhow::Result<Option<AnalysedFace>> {
        *self.analysed.lock().unwrap() += 1;
        let cur = self.current.lock().unwrap();
        let f = cur
            .iter()
            .find(|f| &f.0 == face)
            .expect("the loop analyses only faces of this frame");
        Ok(Some(AnalysedFace {
            mesh: Mesh {
                points: Vec::new(),
                model_space: Vec::new(),
                presence: 1.0,
            },
            embedding: f.1.clone(),
            quality: QualityReport {
                face_px: face.width(),
                sharpness: 100.0,
                yaw_deg: 0.0,
                pitch_deg: 0.0,
                highlight: 200.0,
                clipped: 0.0,
            },
            landmarks_time: Duration::from_millis(1),
            align_time: Duration::from_millis(1),
            embed_time: Duration::from_millis(8),
        }))
    }
}

fn grant(id: &str, target: GrantTarget) -> Grant {
    Grant {
        id: id.into(),
        staff_id: "doc".into(),
        target,
        valid_from: None,
        valid_until: None,
        source: "admin".into(),
        created_ms: 0,
        revoked_ms: None,
    }
}

struct Rig {
    core: LoopCore,
    script: Arc<Scripted>,
    sim: SimControl,
    door_cfg: DoorConfig,
    events: broadcast::Receiver<Event>,
    stats: Arc<StageStats>,
    t0: Instant,
    seq: u64,
    pixels: Arc<[u8]>,
    relay_writes_at_start: usize,
    _spool: tempfile::TempDir,
}

impl Rig {
    async fn new(mode: DoorMode, cfg: PipelineConfig) -> Rig {
        let catalog = Arc::new(Catalog::new("scripted", DIM, 0.5));
        let directory = Directory::new(
            vec![subject("doc", Role::Doctor), subject("pat", Role::Patient)],
            vec![Door {
                id: "door-1".into(),
                name: "Ward 3".into(),
                mode,
                created_ms: 0,
                updated_ms: 0,
            }],
            vec![
                grant("g1", GrantTarget::Door("door-1".into())),
                grant("g2", GrantTarget::Patient("pat".into())),
            ],
        );
        let templates = [("doc", doctor()), ("pat", patient())]
            .into_iter()
            .map(|(id, vector)| StoredTemplate {
                face_id: format!("face-{id}"),
                subject_id: id.into(),
                vector,
            })
            .collect();
        let (gallery, skipped) = Gallery::build("scripted", DIM, templates);
        assert_eq!(skipped, 0);
        catalog.install_for_tests(Snapshot {
            directory: Arc::new(directory),
            gallery: Arc::new(gallery),
            operating_point: catalog.operating_point(),
        });
        let spool = tempfile::tempdir().unwrap();
        let sink = EventSink::start(
            Memory::default(),
            "test-node",
            spool.path(),
            Duration::from_secs(5),
            256,
        )
        .await
        .unwrap();
        let door_cfg = DoorConfig {
            id: "door-1".into(),
            ..DoorConfig::default()
        };
        let (hw, sim) = SimDoor::new(&door_cfg);
        let (door, _door_events) = crate::door::spawn(door_cfg.clone(), Box::new(hw));
        door.state().await.unwrap();
        // The controller drives the safe level, then settles locked: not unlocks.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let relay_writes_at_start = sim.relay_log().len();
        let stats = Arc::new(StageStats::new());
        let script = Arc::new(Scripted::default());
        let actor = Actor {
            decider: crate::access::decider::Decider::new(
                Arc::clone(&catalog),
                Some(door),
                sink.clone(),
            ),
            catalog: Arc::clone(&catalog),
            door_id: "door-1".into(),
            clock: crate::clock::system(),
            stats: Arc::clone(&stats),
        };
        let analyser: Arc<dyn FaceAnalyser> = script.clone();
        // These tests are about the track rules; the liveness challenge has its own below.
        let liveness = crate::liveness::LivenessConfig {
            mode: crate::liveness::Mode::Off,
            ..Default::default()
        };
        let core = LoopCore::new(cfg, liveness, analyser, actor, Duration::from_secs(30));
        Rig {
            core,
            script,
            sim,
            door_cfg,
            events: sink.subscribe(),
            stats,
            t0: Instant::now(),
            seq: 0,
            pixels: Arc::from(vec![0u8; (W * H * 3) as usize]),
            relay_writes_at_start,
            _spool: spool,
        }
    }

    fn now(&self) -> Duration {
        self.t0.elapsed()
    }

    /// Shows `faces` in one frame, then lets one frame interval pass on the paused clock.
    async fn frame(&mut self, faces: Vec<Face>) {
        self.script.push(faces);
        let frame = Frame {
            width: W,
            height: H,
            data: Arc::clone(&self.pixels),
            timestamp: self.now(),
            sequence: self.seq,
        };
        self.seq += 1;
        self.core.on_frame(&frame).await;
        tokio::time::advance(FRAME).await;
    }

    async fn frames(&mut self, n: usize, faces: &[Face]) {
        for _ in 0..n {
            self.frame(faces.to_vec()).await;
        }
    }

    /// Nobody in view for `d`, with idle loop turns every 150 ms.
    async fn idle(&mut self, d: Duration) {
        let end = self.now() + d;
        while self.now() < end {
            let now = self.now();
            self.core.on_idle(now).await;
            tokio::time::advance(Duration::from_millis(150)).await;
        }
    }

    /// Decision events recorded so far (and not returned before).
    fn decisions(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            if e.kind == crate::model::EventKind::Decision {
                out.push(e);
            }
        }
        out
    }

    fn unlocks(&self) -> usize {
        let unlocked = self.door_cfg.lock_type.relay_energised(true);
        self.sim.relay_log()[self.relay_writes_at_start..]
            .iter()
            .filter(|c| c.energised == unlocked)
            .count()
    }
}

fn cfg() -> PipelineConfig {
    PipelineConfig {
        min_consecutive: 2,
        unknown_after_frames: 3,
        cooldown_secs: 5,
        ..PipelineConfig::default()
    }
}

fn summary(e: &Event) -> (Option<bool>, &str, Option<&str>, Option<&str>) {
    (
        e.granted,
        e.reason.as_str(),
        e.subject_id.as_deref(),
        e.patient_id.as_deref(),
    )
}

#[tokio::test(start_paused = true)]
async fn doctor_and_patient_in_the_same_frames_are_granted_naming_both() {
    let mut r = Rig::new(DoorMode::StaffWithPatient, cfg()).await;
    r.frames(4, &[front(doctor()), behind(patient())]).await;
    let d = r.decisions();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        summary(&d[0]),
        (Some(true), "granted", Some("doc"), Some("pat"))
    );
    assert_eq!(d[0].details["staff_similarity"], 1.0);
    assert_eq!(d[0].details["patient_similarity"], 1.0);
    assert_ne!(d[0].details["staff_track"], d[0].details["patient_track"]);
    // Both faces' confirming frames: the staff member's first, then the patient's.
    let tracks: Vec<_> = d[0].details["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .map(|f| f["track"].clone())
        .collect();
    assert_eq!(
        tracks,
        [
            d[0].details["staff_track"].clone(),
            d[0].details["staff_track"].clone(),
            d[0].details["patient_track"].clone(),
            d[0].details["patient_track"].clone()
        ]
    );
    assert_eq!(r.unlocks(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_patient_40_s_after_the_doctor_with_a_30_s_window_times_out_without_unlocking() {
    let mut r = Rig::new(DoorMode::StaffWithPatient, cfg()).await;
    r.frames(3, &[front(doctor())]).await;
    assert!(r.decisions().is_empty(), "the doctor alone waits");
    r.idle(Duration::from_secs(29)).await;
    assert!(r.decisions().is_empty(), "still inside the 30 s window");
    r.idle(Duration::from_secs(11)).await;
    let d = r.decisions();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        summary(&d[0]),
        (Some(false), "patient_timeout", Some("doc"), None)
    );
    assert_eq!(d[0].details["staff_similarity"], 1.0);
    // The patient arrives 40 s after the doctor: alone, denied.
    assert!(r.now() >= Duration::from_secs(40));
    r.frames(3, &[front(patient())]).await;
    let d = r.decisions();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        summary(&d[0]),
        (Some(false), "unknown_staff", None, Some("pat"))
    );
    assert_eq!(r.unlocks(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_patient_within_the_window_completes_the_doctors_session() {
    let mut r = Rig::new(DoorMode::StaffWithPatient, cfg()).await;
    r.frames(3, &[front(doctor())]).await;
    r.idle(Duration::from_secs(20)).await;
    r.frames(3, &[front(patient())]).await;
    let d = r.decisions();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        summary(&d[0]),
        (Some(true), "granted", Some("doc"), Some("pat"))
    );
    assert_eq!(d[0].details["staff_similarity"], 1.0, "not a placeholder");
    assert_eq!(r.unlocks(), 1);
    // The session was consumed: nothing times out later.
    r.idle(Duration::from_secs(40)).await;
    assert!(r.decisions().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_enrolled_doctor_beside_a_larger_stranger_opens_nothing() {
    let mut r = Rig::new(DoorMode::Staff, cfg()).await;
    r.frames(10, &[large(stranger()), beside(doctor())]).await;
    let d = r.decisions();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(summary(&d[0]), (Some(false), "unknown_staff", None, None));
    assert_eq!(r.unlocks(), 0, "the doctor's face does not open the door");
    // Only the closest face was analysed: one per frame.
    assert_eq!(*r.script.analysed.lock().unwrap(), 10);
}

#[tokio::test(start_paused = true)]
async fn the_doctor_in_front_with_a_stranger_behind_is_granted() {
    let mut r = Rig::new(DoorMode::Staff, cfg()).await;
    r.frames(4, &[front(doctor()), behind(stranger())]).await;
    let d = r.decisions();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(summary(&d[0]), (Some(true), "granted", Some("doc"), None));
    // `liveness.mode = "off"` in this rig: nothing checked, nothing recorded.
    assert!(d[0].details["liveness"].is_null(), "{}", d[0].details);
    // The two frames that confirmed the doctor, with the analyser's stage times, on the
    // doctor's track; the stranger behind was never analysed.
    let frames = d[0].details["frames"].as_array().expect("frames");
    assert_eq!(frames.len(), 2, "{frames:?}");
    for f in frames {
        assert_eq!(f["track"], d[0].details["staff_track"]);
        assert_eq!(f["mesh_ms"], 1.0);
        assert_eq!(f["align_ms"], 1.0);
        assert_eq!(f["embed_ms"], 8.0);
        assert!(f["detect_ms"].as_f64().unwrap() >= 0.0);
        assert!(f["match_ms"].as_f64().unwrap() >= 0.0);
        assert!(f.get("embedding").is_none());
    }
    assert!(frames[0]["frame"].as_u64() < frames[1]["frame"].as_u64());
    assert_eq!(r.unlocks(), 1);
    let snap = r.stats.snapshot();
    for stage in [
        Stage::Decode,
        Stage::Detect,
        Stage::Embed,
        Stage::Match,
        Stage::Unlock,
    ] {
        assert!(snap.stage(stage).unwrap().count > 0, "{stage:?} recorded");
    }
    assert_eq!(
        snap.stage(Stage::Liveness).map_or(0, |s| s.count),
        0,
        "liveness off: no liveness work"
    );
}

#[tokio::test(start_paused = true)]
async fn one_lucky_frame_opens_nothing() {
    let mut r = Rig::new(DoorMode::Staff, cfg()).await;
    // Each frame sees the doctor on a new track (the face jumps across the image).
    for i in 0..6u8 {
        let x = 100.0 * f32::from(i);
        r.frame(vec![Face(test_detection(x, 100.0, 80.0), doctor())])
            .await;
    }
    assert!(r.decisions().is_empty());
    assert_eq!(r.unlocks(), 0);
}

#[tokio::test(start_paused = true)]
async fn cooldown_decides_a_person_once_until_it_ends() {
    let mut r = Rig::new(DoorMode::Staff, cfg()).await;
    // 3 s in view with a 5 s cooldown: one decision.
    r.frames(45, &[front(doctor())]).await;
    assert_eq!(r.decisions().len(), 1);
    // Leaves and comes back within the cooldown: still one.
    r.idle(Duration::from_secs(1)).await;
    r.frames(5, &[front(doctor())]).await;
    assert!(r.decisions().is_empty());
    // Past the cooldown: decided again.
    r.idle(Duration::from_secs(2)).await;
    r.frames(5, &[front(doctor())]).await;
    let d = r.decisions();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(summary(&d[0]), (Some(true), "granted", Some("doc"), None));
    assert_eq!(r.unlocks(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_stranger_is_recorded_only_after_unknown_after_frames() {
    let mut r = Rig::new(DoorMode::Staff, cfg()).await;
    r.frames(2, &[front(stranger())]).await;
    assert!(r.decisions().is_empty());
    r.frame(vec![front(stranger())]).await;
    let d = r.decisions();
    assert_eq!(d.len(), 1);
    assert_eq!(summary(&d[0]), (Some(false), "unknown_staff", None, None));
}

/// The doctor seen through noise: each frame alone scores 0.48 against the template (below the
/// rig's threshold of 0.5), the noise alternates from frame to frame, so the mean of two frames
/// scores 0.54; the two frames are still the same face to each other (cosine 0.6).
fn noisy_doctor(frame: usize) -> Vec<f32> {
    let x = 0.2f32.sqrt();
    let y = (1.0f32 - 0.48 * 0.48 - 0.2).sqrt();
    let sign = if frame % 2 == 0 { 1.0 } else { -1.0 };
    vec![0.48, sign * x, 0.0, y]
}

#[tokio::test(start_paused = true)]
async fn a_track_is_recognised_on_the_mean_of_its_frames() {
    let mut r = Rig::new(DoorMode::Staff, cfg()).await;
    for i in 0..4 {
        r.frame(vec![front(noisy_doctor(i))]).await;
    }
    let d = r.decisions();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(summary(&d[0]), (Some(true), "granted", Some("doc"), None));

    // Frame by frame the same person is a stranger.
    let single = PipelineConfig {
        aggregate_frames: 1,
        ..cfg()
    };
    let mut r = Rig::new(DoorMode::Staff, single).await;
    for i in 0..4 {
        r.frame(vec![front(noisy_doctor(i))]).await;
    }
    let d = r.decisions();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(summary(&d[0]), (Some(false), "unknown_staff", None, None));
}

#[tokio::test(start_paused = true)]
async fn a_second_person_in_the_track_is_not_averaged_with_the_first() {
    let slow_unknown = PipelineConfig {
        unknown_after_frames: 10,
        ..cfg()
    };
    let mut r = Rig::new(DoorMode::Staff, slow_unknown).await;
    // A stranger, then (same place, same track) the doctor: the doctor's frames are searched
    // without the stranger's, so the first two of them decide. (Averaged with the stranger's
    // four, the first would score 0.24 and the second 0.55: a third frame would be needed.)
    r.frames(4, &[front(stranger())]).await;
    assert!(r.decisions().is_empty());
    r.frames(2, &[front(doctor())]).await;
    let d = r.decisions();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(summary(&d[0]), (Some(true), "granted", Some("doc"), None));
}

#[test]
fn track_settings_are_validated_with_their_key_names() {
    let bad = |c: PipelineConfig| c.validate().unwrap_err().to_string();
    assert!(bad(PipelineConfig {
        track_iou: 0.0,
        ..cfg()
    })
    .contains("pipeline.track_iou"));
    assert!(bad(PipelineConfig {
        track_iou: 1.5,
        ..cfg()
    })
    .contains("pipeline.track_iou"));
    assert!(bad(PipelineConfig {
        track_grace_ms: 60_000,
        ..cfg()
    })
    .contains("pipeline.track_grace_ms"));
    assert!(bad(PipelineConfig {
        aggregate_frames: 0,
        ..cfg()
    })
    .contains("pipeline.aggregate_frames"));
    assert!(cfg().validate().is_ok());
}
