//! The door loop: camera frames → face tracks → decisions → door + events.
//!
//! Runs on its own OS thread (inference is CPU-bound and must not stall the async API), always
//! on the newest frame (the capture hands over only the latest one). Faces are followed as
//! tracks; the closest person's track must recognise the same subject in `min_consecutive`
//! frames before anything happens — one lucky frame opens nothing — and then pass its
//! liveness check (`[liveness]`: by default a random head-movement challenge shown on the door
//! display, see `src/liveness/`). At `staff_with_patient` doors
//! staff and patient may stand in view together or come one after the other within the
//! two-person window. After a decision the same person is ignored for `cooldown_secs`, so
//! someone standing at the door is not decided 15 times a second.
//!
//! | file | what lives there |
//! |---|---|
//! | [`tracks`] | [`tracks::Track`]s: per-face history (box, mesh, embedding, match, quality) |
//! | [`analyser`] | the [`analyser::FaceAnalyser`] seam in front of `vision::Engine` |
//! | [`door_loop`] | [`door_loop::LoopCore`]: the rules, one frame at a time, on camera time |
//! | [`act`] | the one decide → unlock → record step |
//! | [`stage_stats`] | rolling p50/p95/p99 per stage for `GET /api/v1/status` |

pub mod act;
pub mod analyser;
pub mod door_loop;
pub mod stage_stats;
pub mod tracks;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::camera::{monotonic_now, wait_for_frame, FrameWatch};
use crate::config_error::ConfigError;

pub use analyser::FaceAnalyser;
pub use door_loop::{FrameReport, LoopCore};
pub use stage_stats::{PipelineStats, Stage, StageStats};

/// `[pipeline]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Run the camera door loop in `wardgate run` (off: API, terminals and door inputs only).
    pub enabled: bool,
    /// Consecutive frames that must recognise the same subject before deciding.
    pub min_consecutive: u32,
    /// Consecutive frames with an unrecognised face before an `unknown_staff` denial is recorded.
    pub unknown_after_frames: u32,
    /// Seconds during which a decided person (or an unknown face) is not decided again.
    pub cooldown_secs: u64,
    /// Least overlap (IoU) of a face's box with a track's last box to continue that track.
    pub track_iou: f32,
    /// Milliseconds a track survives without its face (a missed detection, a turned head).
    pub track_grace_ms: u64,
    /// Analysed frames of a track (the newest included) whose embeddings are averaged,
    /// weighted by quality, before the gallery search; 1 searches each frame on its own.
    pub aggregate_frames: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_consecutive: 2,
            unknown_after_frames: 5,
            cooldown_secs: 5,
            track_iou: 0.3,
            track_grace_ms: 500,
            aggregate_frames: 5,
        }
    }
}

impl PipelineConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: &str| {
            Err(ConfigError::Invalid {
                key: key.into(),
                message: message.into(),
            })
        };
        if self.min_consecutive == 0 || self.min_consecutive > 100 {
            return bad("pipeline.min_consecutive", "must be between 1 and 100");
        }
        if self.unknown_after_frames == 0 || self.unknown_after_frames > 1000 {
            return bad(
                "pipeline.unknown_after_frames",
                "must be between 1 and 1000",
            );
        }
        if self.cooldown_secs > 3600 {
            return bad("pipeline.cooldown_secs", "must be at most 3600");
        }
        if !(self.track_iou > 0.0 && self.track_iou <= 1.0) {
            return bad("pipeline.track_iou", "must be above 0 and at most 1");
        }
        if self.track_grace_ms > 10_000 {
            return bad("pipeline.track_grace_ms", "must be at most 10000");
        }
        if !(1..=tracks::HISTORY).contains(&self.aggregate_frames) {
            return bad("pipeline.aggregate_frames", "must be 1 to 64");
        }
        Ok(())
    }
}

/// What the loop needs from the rest of the firmware.
pub struct LoopParts {
    pub analyser: Arc<dyn FaceAnalyser>,
    /// The core: catalog, the one decision service, the door (required), the presentation
    /// board the loop shows its prompts on, the clock.
    pub core: Arc<crate::controller::Controller>,
    pub frames: FrameWatch,
    pub runtime: tokio::runtime::Handle,
    pub two_person_timeout: Duration,
    /// Where the loop records its stage timings (the API reports them).
    pub stats: Arc<StageStats>,
    /// The console's Live view, told after every frame what the tracks hold (boxes, identity).
    pub live: Option<Arc<crate::console::live::LiveView>>,
    /// Called once per loop turn (per frame or per idle wait): the watchdog's heartbeat.
    pub heartbeat: Box<dyn Fn() + Send>,
    /// `[liveness]`: what a recognised face must show before the door decides.
    pub liveness: crate::liveness::LivenessConfig,
    /// Tests only: a seed for the challenge draws (`None`: the OS CSPRNG, as in service).
    pub challenge_seed: Option<u64>,
    /// `liveness.mode = "strict"`: the near-infrared camera's last frames.
    pub infrared: Option<Arc<crate::camera::FrameHistory>>,
}

/// A running door loop; dropping it does not stop it, [`DoorLoop::stop`] does.
pub struct DoorLoop {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DoorLoop {
    /// Starts the loop on its own thread; refused when the core drives no door.
    pub fn spawn(cfg: PipelineConfig, parts: LoopParts) -> std::io::Result<Self> {
        if parts.core.door.is_none() {
            return Err(std::io::Error::other(
                "the camera door loop needs a door (start the door controller first)",
            ));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("wardgate-door-loop".into())
            .spawn(move || run(cfg, parts, &flag))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(cfg: PipelineConfig, mut p: LoopParts, stop: &AtomicBool) {
    let Some(actor) = act::Actor::of(&p.core, Arc::clone(&p.stats)) else {
        return;
    };
    let door_id = actor.door_id.clone();
    let mut core = LoopCore::new(
        cfg,
        p.liveness.clone(),
        Arc::clone(&p.analyser),
        actor,
        p.two_person_timeout,
    )
    .with_prompts(p.core.board.clone());
    if let Some(seed) = p.challenge_seed {
        core = core.with_challenge_seed(seed);
    }
    if let Some(ir) = p.infrared.clone() {
        core = core.with_infrared(ir);
    }
    log::info!("door loop started for door {door_id}");
    while !stop.load(Ordering::SeqCst) {
        (p.heartbeat)();
        match wait_for_frame(&mut p.frames, Duration::from_millis(150)) {
            Some(frame) => {
                let report = p.runtime.block_on(core.on_frame(&frame));
                if let Some(live) = &p.live {
                    show_live(live, &frame, &core, report.closest_track, &p);
                }
            }
            None => {
                p.runtime.block_on(core.on_idle(monotonic_now()));
            }
        }
    }
    log::info!("door loop stopped");
}

/// Tells the console's Live view what the tracks hold after `frame`.
fn show_live(
    live: &crate::console::live::LiveView,
    frame: &crate::camera::Frame,
    core: &LoopCore,
    acting: Option<u64>,
    p: &LoopParts,
) {
    let stats = p.stats.snapshot();
    let p50 = |stage: Stage| stats.stage(stage).and_then(|s| s.p50_ms).unwrap_or(0.0);
    let timings = crate::console::live::StageMillis {
        detect: p50(Stage::Detect),
        landmarks: p50(Stage::Landmarks),
        align: p50(Stage::Align),
        embed: p50(Stage::Embed),
        total: p50(Stage::Decode)
            + p50(Stage::Detect)
            + p50(Stage::Landmarks)
            + p50(Stage::Align)
            + p50(Stage::Embed)
            + p50(Stage::Match),
    };
    let snap = p.core.catalog.snapshot();
    crate::console::live::observe_tracks(
        live,
        frame,
        core.tracker(),
        acting,
        timings,
        core.same_face(),
        |id| snap.directory.subject(id).map(|s| s.name.clone()),
    );
}

#[cfg(test)]
mod door_loop_tests;
