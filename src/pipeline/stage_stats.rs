//! Rolling per-stage timings of the door loop: p50/p95/p99 of the last [`WINDOW`] samples of
//! each stage, shared as an `Arc` between the loop (which records) and the API (which reports
//! them in `GET /api/v1/status`).
//!
//! Why a window of raw samples rather than a bucketed histogram: a window of a few hundred
//! frames is what a technician means by "now" (the last minute at 15 fps), exact percentiles
//! of so few samples cost a sort of 1,024 integers per snapshot, and recording is a push under
//! a std mutex held for well under a microsecond, so the loop never waits on a reader.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

/// Samples kept per stage.
pub const WINDOW: usize = 1024;

/// A timed step of the door loop, in pipeline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Camera buffer → RGB image the models read.
    Decode,
    /// Face detection over the whole frame.
    Detect,
    /// The 468-point face mesh of one analysed face.
    Landmarks,
    /// The 112×112 aligned crop of one analysed face.
    Align,
    /// The embedding of one analysed face.
    Embed,
    /// The anti-spoofing score of one track (once per track).
    Liveness,
    /// The gallery search of one embedding.
    Match,
    /// The access policy, once per decision.
    Decide,
    /// The relay command: from asking the door controller to its acknowledgement.
    Unlock,
    /// Camera frame timestamp → relay command acknowledged, for the frame that completes a
    /// granted decision.
    FrameToRelay,
}

impl Stage {
    pub const ALL: [Stage; 10] = [
        Stage::Decode,
        Stage::Detect,
        Stage::Landmarks,
        Stage::Align,
        Stage::Embed,
        Stage::Liveness,
        Stage::Match,
        Stage::Decide,
        Stage::Unlock,
        Stage::FrameToRelay,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Decode => "decode",
            Stage::Detect => "detect",
            Stage::Landmarks => "landmarks",
            Stage::Align => "align",
            Stage::Embed => "embed",
            Stage::Liveness => "liveness",
            Stage::Match => "match",
            Stage::Decide => "decide",
            Stage::Unlock => "unlock",
            Stage::FrameToRelay => "frame_to_relay",
        }
    }

    fn index(self) -> usize {
        Stage::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// One stage's figures over the window.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct StageSummary {
    pub stage: Stage,
    /// Samples recorded since start-up.
    pub count: u64,
    /// Samples the percentiles are computed from (the newest, at most `window`).
    pub samples: usize,
    /// Milliseconds; `null` while the stage has no samples.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// A point-in-time copy of every stage's figures.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PipelineStats {
    /// Samples kept per stage.
    pub window: usize,
    /// Every stage, in pipeline order.
    pub stages: Vec<StageSummary>,
}

impl PipelineStats {
    /// The summary of one stage.
    pub fn stage(&self, stage: Stage) -> Option<&StageSummary> {
        self.stages.iter().find(|s| s.stage == stage)
    }

    /// One line for the debug log: `detect p50/p95/p99 1.02/1.30/2.11 ms, …`.
    pub fn log_line(&self) -> String {
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
        self.stages
            .iter()
            .filter(|s| s.samples > 0)
            .map(|s| {
                format!(
                    "{} {}/{}/{} ms",
                    s.stage.as_str(),
                    ms(s.p50_ms),
                    ms(s.p95_ms),
                    ms(s.p99_ms)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Debug, Default)]
struct Ring {
    /// Microseconds, newest last.
    samples: VecDeque<u32>,
    count: u64,
}

/// The recorder; share it as `Arc<StageStats>`.
#[derive(Debug)]
pub struct StageStats {
    window: usize,
    rings: Mutex<Vec<Ring>>,
}

impl Default for StageStats {
    fn default() -> Self {
        Self::with_window(WINDOW)
    }
}

impl StageStats {
    pub fn new() -> Self {
        Self::default()
    }

    /// A recorder keeping `window` samples per stage (at least one).
    pub fn with_window(window: usize) -> Self {
        Self {
            window: window.max(1),
            rings: Mutex::new(Stage::ALL.iter().map(|_| Ring::default()).collect()),
        }
    }

    /// Records one sample.
    pub fn record(&self, stage: Stage, took: Duration) {
        let us = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
        let mut rings = self
            .rings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ring = &mut rings[stage.index()];
        if ring.samples.len() == self.window {
            ring.samples.pop_front();
        }
        ring.samples.push_back(us);
        ring.count += 1;
    }

    /// The current figures. Copies the samples under the lock and sorts outside it.
    pub fn snapshot(&self) -> PipelineStats {
        let copies: Vec<(Vec<u32>, u64)> = {
            let rings = self
                .rings
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            rings
                .iter()
                .map(|r| (r.samples.iter().copied().collect(), r.count))
                .collect()
        };
        let stages = Stage::ALL
            .iter()
            .zip(copies)
            .map(|(&stage, (mut v, count))| {
                v.sort_unstable();
                StageSummary {
                    stage,
                    count,
                    samples: v.len(),
                    p50_ms: percentile_ms(&v, 50.0),
                    p95_ms: percentile_ms(&v, 95.0),
                    p99_ms: percentile_ms(&v, 99.0),
                }
            })
            .collect();
        PipelineStats {
            window: self.window,
            stages,
        }
    }
}

/// Nearest-rank percentile of sorted microsecond samples, in milliseconds.
pub fn percentile_ms(sorted_us: &[u32], p: f64) -> Option<f64> {
    if sorted_us.is_empty() {
        return None;
    }
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    let i = rank.clamp(1, sorted_us.len()) - 1;
    Some(f64::from(sorted_us[i]) / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_over_the_window() {
        let s = StageStats::with_window(100);
        // 1..=200 ms: only the newest 100 (101..=200) count.
        for ms in 1..=200u64 {
            s.record(Stage::Detect, Duration::from_millis(ms));
        }
        let snap = s.snapshot();
        let d = snap.stage(Stage::Detect).unwrap();
        assert_eq!((d.count, d.samples), (200, 100));
        assert_eq!(d.p50_ms, Some(150.0));
        assert_eq!(d.p95_ms, Some(195.0));
        assert_eq!(d.p99_ms, Some(199.0));
        let e = snap.stage(Stage::Embed).unwrap();
        assert_eq!((e.count, e.p50_ms), (0, None));
        assert!(snap
            .log_line()
            .starts_with("detect 150.00/195.00/199.00 ms"));
    }

    #[test]
    fn snapshot_serialises_every_stage_by_name() {
        let s = StageStats::new();
        s.record(Stage::FrameToRelay, Duration::from_micros(12_345));
        let v = serde_json::to_value(s.snapshot()).unwrap();
        assert_eq!(v["window"], WINDOW);
        let stages = v["stages"].as_array().unwrap();
        assert_eq!(stages.len(), Stage::ALL.len());
        let f = stages
            .iter()
            .find(|x| x["stage"] == "frame_to_relay")
            .unwrap();
        assert_eq!(f["p99_ms"], 12.345);
        for (st, js) in Stage::ALL.iter().zip(stages) {
            assert_eq!(js["stage"], st.as_str());
        }
    }
}
