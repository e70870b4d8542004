//! The Live page's data: the camera picture as MJPEG and what the door loop saw in it.
//!
//! Frames are taken from the capture's latest-frame handoff (the same one the door loop reads,
//! so watching costs the door nothing but one JPEG encode per streamed frame), encoded in
//! memory and sent; they are never written anywhere. The door loop reports each analysed
//! frame here ([`observe_tracks`]); the page draws those face boxes over the picture.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Serialize;

use crate::camera::{CaptureState, CaptureStats, Frame, FrameWatch};
use crate::vision::engine::StageTimings;

/// A face the door loop found in a frame, in that frame's pixel coordinates.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct FaceBox {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
    /// Detector confidence in [0, 1].
    pub score: f32,
    /// The door loop's track this face belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track: Option<u64>,
    /// Whether this is the closest person's track, the one the door acts on.
    pub acting: bool,
    /// The enrolled person the track was recognised as (display name), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Best gallery similarity of the track's newest analysed frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
    /// The track's passive anti-spoofing score, once computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness: Option<String>,
}

/// Per-stage inference time of the last analysed frame, milliseconds.
#[derive(Debug, Clone, Default, Serialize, JsonSchema, PartialEq)]
pub struct StageMillis {
    pub detect: f64,
    pub landmarks: f64,
    pub align: f64,
    pub embed: f64,
    pub total: f64,
}

impl From<&StageTimings> for StageMillis {
    fn from(t: &StageTimings) -> Self {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        Self {
            detect: ms(t.detect),
            landmarks: ms(t.landmarks),
            align: ms(t.align),
            embed: ms(t.embed),
            total: ms(t.total()),
        }
    }
}

/// What the door loop made of the newest analysed frame (`GET /api/v1/live/overlay`).
#[derive(Debug, Clone, Default, Serialize, JsonSchema, PartialEq)]
pub struct LiveOverlay {
    /// Capture sequence number of the analysed frame (0: nothing analysed yet).
    pub sequence: u64,
    /// Size of the analysed frame, for scaling the boxes.
    pub width: u32,
    pub height: u32,
    pub faces: Vec<FaceBox>,
    /// Why no face was usable, or which quality check the face fails, in the quality gate's
    /// words (`no_face`, `several_faces`, `face_size`, `sharpness`, `yaw`, `pitch`,
    /// `exposure`, …); `None` for a face that would pass enrolment.
    pub feedback: Option<String>,
    /// Human-readable detail of `feedback`.
    pub feedback_detail: Option<String>,
    pub timings_ms: StageMillis,
    /// Frames the door loop analysed per second, over the last few seconds.
    pub inference_fps: f64,
    /// Milliseconds from the frame's capture to the end of its analysis.
    pub latency_ms: Option<f64>,
    /// Milliseconds since this analysis (the page dims stale boxes).
    pub age_ms: u64,
}

/// The camera as the console sees it.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct CameraStatus {
    /// `v4l2`, `replay_dir`, …
    pub source: String,
    /// The V4L2 device, or the replay path.
    pub device: String,
    /// `starting`, `streaming`, `lost`, `ended` or `stopped`.
    pub state: String,
    /// The error of a lost source.
    pub error: Option<String>,
    /// Size of the newest frame (0 before the first).
    pub width: u32,
    pub height: u32,
    /// Pixel format negotiated (or requested, `auto`).
    pub format: String,
    pub fps: f64,
    pub delivered: u64,
    pub dropped: u64,
    pub reconnects: u64,
}

#[derive(Debug, Default)]
struct Analysed {
    overlay: LiveOverlay,
    at: Option<Instant>,
    recent: std::collections::VecDeque<Instant>,
}

/// The camera's frames, counters and the door loop's latest findings; one per controller.
pub struct LiveView {
    frames: FrameWatch,
    state: tokio::sync::watch::Receiver<CaptureState>,
    stats: Arc<Mutex<CaptureStats>>,
    source: String,
    device: String,
    format: String,
    analysed: RwLock<Analysed>,
    /// The quality gate's limits, for the acting track's feedback (enrolment guidance).
    quality_limits: Option<crate::vision::quality::QualityLimits>,
    /// The acting track's best frames for enrolment at the door. Biometric data: kept in
    /// memory for the moment it is current, never logged, never served.
    door_samples: Mutex<Option<DoorSamples>>,
}

/// Enrolment at the door: the best frames (by quality) of the acting track that pass the
/// enrolment quality gate and show the same face as its newest frame.
#[derive(Debug, Clone)]
pub struct DoorSamples {
    pub track: u64,
    /// When the door loop last updated them.
    pub at: Instant,
    /// (L2-normalised embedding, quality weight), best first, at most [`DOOR_FRAMES`].
    pub samples: Vec<(Vec<f32>, f32)>,
}

/// Most frames of one track a door enrolment averages.
pub const DOOR_FRAMES: usize = 5;

impl std::fmt::Debug for LiveView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveView")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl LiveView {
    pub fn new(capture: &crate::camera::Capture, cfg: &crate::camera::CameraConfig) -> Self {
        let device = match cfg.source {
            crate::camera::SourceKind::V4l2 => cfg.device.clone(),
            _ => cfg.replay_path.display().to_string(),
        };
        Self {
            frames: capture.frames(),
            state: capture.state_watch(),
            stats: capture.stats_handle(),
            source: serde_json::to_value(cfg.source)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            device,
            format: serde_json::to_value(cfg.pixel_format)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "auto".into()),
            analysed: RwLock::new(Analysed::default()),
            quality_limits: None,
            door_samples: Mutex::new(None),
        }
    }

    /// The limits the Live page's quality feedback is judged by (the engine's).
    pub fn with_quality_limits(mut self, limits: crate::vision::quality::QualityLimits) -> Self {
        self.quality_limits = Some(limits);
        self
    }

    /// The acting track's best frames, if the door loop updated them within `fresh`.
    pub fn door_samples(&self, fresh: Duration) -> Option<DoorSamples> {
        let s = self
            .door_samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.as_ref().filter(|d| d.at.elapsed() <= fresh).cloned()
    }

    /// A new receiver of the newest frame.
    pub fn frames(&self) -> FrameWatch {
        self.frames.clone()
    }

    pub fn camera_status(&self) -> CameraStatus {
        let stats = self.stats.lock().map(|s| s.clone()).unwrap_or_default();
        let (state, error) = match &*self.state.borrow() {
            CaptureState::Starting => ("starting", None),
            CaptureState::Streaming { .. } => ("streaming", None),
            CaptureState::Lost { error, .. } => ("lost", Some(error.clone())),
            CaptureState::Ended => ("ended", None),
            CaptureState::Stopped => ("stopped", None),
        };
        let (width, height) = self
            .frames
            .borrow()
            .as_ref()
            .map_or((0, 0), |f| (f.width, f.height));
        CameraStatus {
            source: self.source.clone(),
            device: self.device.clone(),
            state: state.into(),
            error,
            width,
            height,
            format: self.format.clone(),
            fps: (stats.fps * 10.0).round() / 10.0,
            delivered: stats.delivered,
            dropped: stats.dropped,
            reconnects: stats.reconnects,
        }
    }

    /// The door loop's findings on its newest analysed frame.
    pub fn overlay(&self) -> LiveOverlay {
        let a = self
            .analysed
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut o = a.overlay.clone();
        o.age_ms = a.at.map_or(0, |t| {
            u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
        });
        o
    }

    fn record(&self, mut overlay: LiveOverlay, frame: &Frame) {
        let now = Instant::now();
        if frame.timestamp > Duration::ZERO {
            // Frames are stamped on CLOCK_MONOTONIC.
            if let Some(lat) = crate::camera::monotonic_now().checked_sub(frame.timestamp) {
                overlay.latency_ms = Some((lat.as_secs_f64() * 10_000.0).round() / 10.0);
            }
        }
        let mut a = self
            .analysed
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        a.recent.push_back(now);
        while a
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(3))
        {
            a.recent.pop_front();
        }
        let span = a
            .recent
            .front()
            .map_or(0.0, |t| now.duration_since(*t).as_secs_f64());
        overlay.inference_fps = if span > 0.0 {
            (((a.recent.len() - 1) as f64 / span) * 10.0).round() / 10.0
        } else {
            0.0
        };
        a.overlay = overlay;
        a.at = Some(now);
    }
}

/// What the door loop's tracker holds after one frame: every face seen in it with its track,
/// who the track was recognised as and its scores; the quality feedback is the acting
/// (closest) track's. `name` maps a subject id to its display name.
pub fn observe_tracks(
    live: &LiveView,
    frame: &Frame,
    tracker: &crate::pipeline::tracks::Tracker,
    acting: Option<u64>,
    timings: StageMillis,
    same_face: f32,
    name: impl Fn(&str) -> Option<String>,
) {
    let samples = acting
        .and_then(|id| tracker.get(id))
        .zip(live.quality_limits.as_ref())
        .and_then(|(t, limits)| door_samples(t, limits, same_face));
    *live
        .door_samples
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = samples;
    let mut o = LiveOverlay {
        sequence: frame.sequence,
        width: frame.width,
        height: frame.height,
        timings_ms: timings,
        ..LiveOverlay::default()
    };
    for t in tracker.tracks() {
        let seen = t.latest();
        if seen.sequence != frame.sequence {
            continue;
        }
        let d = &seen.detection;
        let analysis = t.latest_analysis();
        o.faces.push(FaceBox {
            x0: d.x0,
            y0: d.y0,
            x1: d.x1,
            y1: d.y1,
            score: d.score,
            track: Some(t.id),
            acting: acting == Some(t.id),
            name: analysis.and_then(|a| a.subject_id()).and_then(&name),
            similarity: analysis.and_then(|a| a.similarity()),
            liveness: t
                .liveness
                .as_ref()
                .map(crate::liveness::LivenessCheck::status),
        });
        if acting == Some(t.id) {
            if let (Some(a), Some(limits)) = (analysis, live.quality_limits.as_ref()) {
                if let Err((check, detail)) = crate::vision::quality::check(&a.quality, limits) {
                    o.feedback = Some(check.to_owned());
                    o.feedback_detail = Some(detail);
                }
            }
        }
    }
    if o.faces.is_empty() {
        o.feedback = Some("no_face".into());
    }
    live.record(o, frame);
}

/// The frames of `track` that pass the enrolment gate and show the same face as its newest
/// analysed frame (cosine ≥ `same_face`), best first, at most [`DOOR_FRAMES`].
fn door_samples(
    track: &crate::pipeline::tracks::Track,
    limits: &crate::vision::quality::QualityLimits,
    same_face: f32,
) -> Option<DoorSamples> {
    let newest = track.latest_analysis()?;
    let mut samples: Vec<(Vec<f32>, f32)> = track
        .history
        .iter()
        .filter_map(|o| o.analysis.as_ref())
        .filter(|a| crate::vision::quality::check(&a.quality, limits).is_ok())
        .filter(|a| crate::vision::embed::cosine(&a.embedding, &newest.embedding) >= same_face)
        .map(|a| {
            (
                a.embedding.clone(),
                crate::matching::quality_weight(&a.quality, limits),
            )
        })
        .collect();
    samples.sort_by(|a, b| b.1.total_cmp(&a.1));
    samples.truncate(DOOR_FRAMES);
    Some(DoorSamples {
        track: track.id,
        at: Instant::now(),
        samples,
    })
}

/// Encodes a frame as JPEG (quality 70: a few tens of KB at 640×480).
pub fn encode_jpeg(frame: &Frame) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(64 * 1024);
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 70);
    enc.encode(
        &frame.data,
        frame.width,
        frame.height,
        image::ExtendedColorType::Rgb8,
    )
    .ok()?;
    Some(out)
}
