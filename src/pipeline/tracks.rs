//! Face tracks: the same physical face followed from frame to frame.
//!
//! Why tracks: a decision must rest on one person seen in several frames, not on "some face
//! matched in each of the last two frames". With two people in view, matching frames by identity
//! alone lets a second face ride on the first one's match; with tracks, every face accumulates
//! its own results (box, mesh, embedding, similarity, quality, liveness) and the door acts on
//! the track of the closest person. Liveness checks that follow a head over time (see
//! `src/liveness/`) read the per-frame mesh of a track.
//!
//! Association is greedy on overlap: each new detection joins the live track whose last box
//! overlaps it most (IoU ≥ `pipeline.track_iou`), or whose last centre lies within half a face
//! width of it (a fast head movement at a low frame rate); otherwise it starts a new track. A
//! track missing from frames for longer than `pipeline.track_grace_ms` has left.

use std::collections::VecDeque;
use std::time::Duration;

use crate::access::decider::FrameTimings;
use crate::gallery::Match;
use crate::vision::detect::Detection;
use crate::vision::landmarks::Mesh;
use crate::vision::quality::QualityReport;

/// Per-frame results a track keeps (the newest last); older ones are dropped. 64 frames are
/// about four seconds at 15 fps: enough for a head-movement challenge.
pub const HISTORY: usize = 64;

/// Most frames whose timings a decision's details carry per track (the newest): enough to see
/// a slow frame among those that confirmed the face, while an event stays small when
/// `pipeline.unknown_after_frames` is large.
pub const TIMED_FRAMES: usize = 16;

/// How a track's face was analysed in one frame (only the faces that can act are analysed).
#[derive(Debug, Clone)]
pub struct FaceAnalysis {
    /// The 468-point mesh: frame coordinates and model-space `[x, y, z]`.
    pub mesh: Mesh,
    /// L2-normalised embedding. Biometric data: never log it.
    pub embedding: Vec<f32>,
    pub quality: QualityReport,
    /// The best gallery match, above the threshold or not.
    pub best: Option<Match>,
    /// Whether `best` is at or above `matching.threshold`.
    pub accepted: bool,
    /// How long this frame's stages took for this face.
    pub timings: FrameTimings,
}

impl FaceAnalysis {
    /// The subject this frame recognised, if accepted.
    pub fn subject_id(&self) -> Option<&str> {
        self.best
            .as_ref()
            .filter(|_| self.accepted)
            .map(|m| &*m.subject_id)
    }

    pub fn similarity(&self) -> Option<f32> {
        self.best.as_ref().map(|m| m.similarity)
    }
}

/// One frame of one track.
#[derive(Debug, Clone)]
pub struct Observation {
    /// Capture time of the frame on CLOCK_MONOTONIC ([`crate::camera::Frame::timestamp`]).
    pub at: Duration,
    /// The frame's sequence number.
    pub sequence: u64,
    /// Where the face was, in frame pixels.
    pub detection: Detection,
    /// `None` when the face was detected but not analysed in this frame (a background face).
    pub analysis: Option<FaceAnalysis>,
}

/// The consecutive analysed frames that recognised the same identity (`None` = unrecognised).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Streak {
    pub who: Option<Option<String>>,
    pub frames: u32,
}

impl Streak {
    fn see(&mut self, who: Option<&str>) {
        let who = who.map(str::to_owned);
        if self.who.as_ref() == Some(&who) {
            self.frames += 1;
        } else {
            self.who = Some(who);
            self.frames = 1;
        }
    }
}

/// A face followed over frames.
#[derive(Debug, Clone)]
pub struct Track {
    /// Unique within a loop run, increasing.
    pub id: u64,
    pub first_seen: Duration,
    pub last_seen: Duration,
    /// Newest last, at most [`HISTORY`].
    pub history: VecDeque<Observation>,
    /// Who the analysed frames of this track have been recognising.
    pub streak: Streak,
    /// The liveness check of the identity the track holds (`src/liveness/`), started when
    /// the identity is confirmed.
    pub liveness: Option<crate::liveness::LivenessCheck>,
    /// The embedding that confirmed the identity: the answers to a challenge must come from
    /// the same face. Biometric data: never log it.
    pub identity_embedding: Option<Vec<f32>>,
}

impl Track {
    fn new(id: u64, obs: Observation) -> Self {
        let mut history = VecDeque::with_capacity(HISTORY);
        let at = obs.at;
        history.push_back(obs);
        Self {
            id,
            first_seen: at,
            last_seen: at,
            history,
            streak: Streak::default(),
            liveness: None,
            identity_embedding: None,
        }
    }

    /// The newest observation.
    pub fn latest(&self) -> &Observation {
        // A track is created with one observation and never emptied.
        self.history.back().expect("a track has an observation")
    }

    /// The newest observation that was analysed.
    pub fn latest_analysis(&self) -> Option<&FaceAnalysis> {
        self.history.iter().rev().find_map(|o| o.analysis.as_ref())
    }

    /// The stage timings of the analysed frames behind the current streak (the frames that
    /// recognised the identity the track acts on), oldest first, at most [`TIMED_FRAMES`].
    pub fn presentation_timings(&self) -> Vec<FrameTimings> {
        let n = (self.streak.frames as usize).min(TIMED_FRAMES);
        let mut v: Vec<FrameTimings> = self
            .history
            .iter()
            .rev()
            .filter_map(|o| o.analysis.as_ref().map(|a| a.timings))
            .take(n)
            .collect();
        v.reverse();
        v
    }

    /// Stores this frame's analysis on the newest observation and extends the streak.
    pub fn analysed(&mut self, analysis: FaceAnalysis) {
        self.streak.see(analysis.subject_id());
        if let Some(obs) = self.history.back_mut() {
            obs.analysis = Some(analysis);
        }
    }

    fn push(&mut self, obs: Observation) {
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.last_seen = obs.at;
        self.history.push_back(obs);
    }
}

/// Matching and expiry settings.
#[derive(Debug, Clone, Copy)]
pub struct TrackerConfig {
    /// Least IoU for a detection to continue a track.
    pub min_iou: f32,
    /// How long a track survives without a detection.
    pub grace: Duration,
}

/// The live tracks of one camera.
#[derive(Debug)]
pub struct Tracker {
    cfg: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
}

impl Tracker {
    pub fn new(cfg: TrackerConfig) -> Self {
        Self {
            cfg,
            tracks: Vec::new(),
            next_id: 1,
        }
    }

    /// Forgets tracks unseen for longer than the grace period.
    pub fn expire(&mut self, now: Duration) {
        let grace = self.cfg.grace;
        self.tracks
            .retain(|t| now.saturating_sub(t.last_seen) <= grace);
    }

    /// Associates one frame's detections with tracks; returns the track id of each detection,
    /// in the detections' order.
    pub fn update(&mut self, at: Duration, sequence: u64, detections: Vec<Detection>) -> Vec<u64> {
        self.expire(at);
        let mut pairs = Vec::new();
        for (ti, t) in self.tracks.iter().enumerate() {
            let last = &t.latest().detection;
            for (di, d) in detections.iter().enumerate() {
                let iou = iou(last, d);
                let near = centre_distance(last, d) <= 0.5 * last.width().max(d.width());
                if iou >= self.cfg.min_iou || near {
                    pairs.push((iou, ti, di));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut track_of: Vec<Option<usize>> = vec![None; detections.len()];
        let mut taken = vec![false; self.tracks.len()];
        for (_, ti, di) in pairs {
            if !taken[ti] && track_of[di].is_none() {
                taken[ti] = true;
                track_of[di] = Some(ti);
            }
        }
        let mut ids = Vec::with_capacity(detections.len());
        for (detection, ti) in detections.into_iter().zip(track_of) {
            let obs = Observation {
                at,
                sequence,
                detection,
                analysis: None,
            };
            match ti {
                Some(ti) => {
                    self.tracks[ti].push(obs);
                    ids.push(self.tracks[ti].id);
                }
                None => {
                    let id = self.next_id;
                    self.next_id += 1;
                    self.tracks.push(Track::new(id, obs));
                    ids.push(id);
                }
            }
        }
        ids
    }

    pub fn get(&self, id: u64) -> Option<&Track> {
        self.tracks.iter().find(|t| t.id == id)
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut Track> {
        self.tracks.iter_mut().find(|t| t.id == id)
    }

    /// The live tracks, oldest first.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    pub fn tracks_mut(&mut self) -> impl Iterator<Item = &mut Track> {
        self.tracks.iter_mut()
    }
}

/// Intersection over union of two boxes.
pub fn iou(a: &Detection, b: &Detection) -> f32 {
    let w = (a.x1.min(b.x1) - a.x0.max(b.x0)).max(0.0);
    let h = (a.y1.min(b.y1) - a.y0.max(b.y0)).max(0.0);
    let inter = w * h;
    let union = a.area() + b.area() - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

fn centre(d: &Detection) -> (f32, f32) {
    (0.5 * (d.x0 + d.x1), 0.5 * (d.y0 + d.y1))
}

fn centre_distance(a: &Detection, b: &Detection) -> f32 {
    let (ax, ay) = centre(a);
    let (bx, by) = centre(b);
    (ax - bx).hypot(ay - by)
}

/// How likely a face is the person at the door: its width, discounted by up to half for
/// its distance from the frame centre (0 at the centre, full discount at a corner). The closest
/// person has the largest face; of two similar faces, the one in front of the camera wins.
pub fn closeness(d: &Detection, frame_width: u32, frame_height: u32) -> f32 {
    #[allow(clippy::cast_precision_loss)]
    let (w, h) = (frame_width as f32, frame_height as f32);
    let (cx, cy) = centre(d);
    let half_diag = (0.5 * w).hypot(0.5 * h).max(1.0);
    let off = ((cx - 0.5 * w).hypot(cy - 0.5 * h) / half_diag).min(1.0);
    d.width() * (1.0 - 0.5 * off)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::test_detection;

    fn tracker() -> Tracker {
        Tracker::new(TrackerConfig {
            min_iou: 0.3,
            grace: Duration::from_millis(500),
        })
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn moving_faces_keep_their_tracks_and_a_newcomer_gets_a_new_one() {
        let mut t = tracker();
        let a = t.update(
            Duration::ZERO,
            0,
            vec![
                test_detection(100.0, 100.0, 200.0),
                test_detection(400.0, 50.0, 80.0),
            ],
        );
        assert_eq!(a, vec![1, 2]);
        // Both move a little (and come back in the other order); a third face appears.
        let b = t.update(
            66 * MS,
            1,
            vec![
                test_detection(410.0, 55.0, 80.0),
                test_detection(900.0, 300.0, 60.0),
                test_detection(120.0, 110.0, 205.0),
            ],
        );
        assert_eq!(b, vec![2, 3, 1]);
        assert_eq!(t.get(1).unwrap().history.len(), 2);
        assert_eq!(t.get(1).unwrap().first_seen, Duration::ZERO);
        assert_eq!(t.get(1).unwrap().last_seen, 66 * MS);
    }

    #[test]
    fn a_missed_frame_within_the_grace_keeps_the_track_and_a_longer_gap_ends_it() {
        let mut t = tracker();
        t.update(Duration::ZERO, 0, vec![test_detection(100.0, 100.0, 200.0)]);
        t.update(300 * MS, 1, vec![]);
        assert_eq!(
            t.update(450 * MS, 2, vec![test_detection(105.0, 100.0, 200.0)]),
            vec![1]
        );
        t.update(1_000 * MS, 3, vec![]);
        assert!(t.tracks().is_empty(), "unseen for 550 ms > 500 ms grace");
        assert_eq!(
            t.update(1_010 * MS, 4, vec![test_detection(105.0, 100.0, 200.0)]),
            vec![2]
        );
    }

    #[test]
    fn a_fast_move_without_overlap_follows_the_centre() {
        let mut t = tracker();
        t.update(Duration::ZERO, 0, vec![test_detection(100.0, 100.0, 100.0)]);
        // 45 px to the right: IoU ≈ 0.38 — then 35 px right and 35 px down: IoU ≈ 0.27, below
        // `min_iou`, but the centre moved 49.5 px, within half a face width.
        assert_eq!(
            t.update(66 * MS, 1, vec![test_detection(145.0, 100.0, 100.0)]),
            vec![1]
        );
        assert_eq!(
            t.update(133 * MS, 2, vec![test_detection(180.0, 135.0, 100.0)]),
            vec![1]
        );
        // A face 300 px away is someone else.
        assert_eq!(
            t.update(200 * MS, 3, vec![test_detection(505.0, 100.0, 100.0)]),
            vec![2]
        );
    }

    #[test]
    fn closeness_prefers_large_then_central_faces() {
        let big_edge = test_detection(0.0, 0.0, 200.0);
        let small_centre = test_detection(270.0, 190.0, 100.0);
        let big_centre = test_detection(220.0, 140.0, 200.0);
        let c = |d: &Detection| closeness(d, 640, 480);
        assert!(c(&big_centre) > c(&big_edge));
        assert!(c(&big_edge) > c(&small_centre));
        assert!((c(&big_centre) - 200.0).abs() < 1.0);
        assert!((iou(&big_centre, &big_centre) - 1.0).abs() < 1e-6);
        assert_eq!(iou(&big_edge, &test_detection(400.0, 300.0, 50.0)), 0.0);
    }

    #[test]
    fn the_streak_counts_consecutive_analysed_frames_of_one_identity() {
        let mut s = Streak::default();
        s.see(Some("doc"));
        s.see(Some("doc"));
        assert_eq!((s.who.clone(), s.frames), (Some(Some("doc".into())), 2));
        s.see(None);
        assert_eq!((s.who.clone(), s.frames), (Some(None), 1));
    }
}
