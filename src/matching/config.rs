//! `[matching]`: the open-set operating point's settings.

use serde::{Deserialize, Serialize};

/// `[matching]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MatchingConfig {
    /// Cosine similarity at or above which a probe matches an enrolled subject.
    pub threshold: f32,
    /// How many candidates the gallery returns for diagnostics (`top_k` ≥ 1).
    pub top_k: usize,
    /// Share of never-enrolled people the door may match to somebody (FPIR). Converted into a
    /// threshold for the current number of templates (`crate::matching`); `threshold` is then
    /// the floor. 0 keeps `threshold` fixed whatever the gallery size.
    pub target_fpir: f64,
    /// Least lead of the best identity's similarity over the second-best identity's.
    pub margin: f32,
}

impl Default for MatchingConfig {
    fn default() -> Self {
        Self {
            // Chosen from the labelled fixture set (BENCHMARKS.md, "Vision"): the highest impostor
            // pair scored 0.578; at 0.60 no impostor is accepted.
            threshold: 0.60,
            top_k: 3,
            // docs/decisions/0201-operating-point.md: measured on lfw-dev.
            target_fpir: 0.001,
            margin: 0.0,
        }
    }
}
