//! The impostor score tail of a photo set: every cross-identity pair, counted in fine bins.
//!
//! A pairs list has a few hundred impostor pairs, which cannot resolve a false-accept rate
//! below about 1e-3; a door with thousands enrolled needs the threshold at 1e-6 and below
//! (FPIR ≈ N × FAR). All pairs of a few thousand photos give millions of impostor scores; a
//! histogram of width 0.001 keeps them in constant memory and its upper tail gives the
//! threshold for each FAR. `matching::calibration` holds the table measured this way.

use crate::gallery::dot;

/// Histogram bin width.
pub const BIN: f32 = 0.001;
const BINS: usize = 2001; // [-1, 1] inclusive

/// Counts of impostor scores in bins of [`BIN`] over [-1, 1].
#[derive(Debug, Clone)]
pub struct ImpostorTail {
    counts: Vec<u64>,
    pub pairs: u64,
    pub max: f32,
}

impl Default for ImpostorTail {
    fn default() -> Self {
        Self {
            counts: vec![0; BINS],
            pairs: 0,
            max: f32::NEG_INFINITY,
        }
    }
}

impl ImpostorTail {
    /// All pairs of `items` (identity, unit embedding) whose identities differ.
    pub fn of_all_pairs<I: PartialEq>(items: &[(I, &[f32])]) -> Self {
        let mut t = Self::default();
        for (i, (a_id, a)) in items.iter().enumerate() {
            for (b_id, b) in &items[i + 1..] {
                if a_id != b_id {
                    t.add(dot(a, b));
                }
            }
        }
        t
    }

    pub fn add(&mut self, s: f32) {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let i = (((s.clamp(-1.0, 1.0) + 1.0) / BIN).floor() as usize).min(BINS - 1);
        self.counts[i] += 1;
        self.pairs += 1;
        self.max = self.max.max(s);
    }

    /// The lowest bin edge at which at most `far` of the pairs score at or above it, and the
    /// number of pairs above it. Resolution: [`BIN`].
    pub fn threshold_at(&self, far: f64) -> (f32, u64) {
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let allowed = (far * self.pairs as f64).floor() as u64;
        let mut above = 0u64;
        for i in (0..BINS).rev() {
            if above + self.counts[i] > allowed {
                #[allow(clippy::cast_precision_loss)]
                let edge = (i + 1) as f32 * BIN - 1.0;
                return (edge, above);
            }
            above += self.counts[i];
        }
        (-1.0, above)
    }

    /// Pairs scoring at or above `t` (to bin resolution).
    pub fn count_at_or_above(&self, t: f32) -> u64 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let from = (((t.clamp(-1.0, 1.0) + 1.0) / BIN).round() as usize).min(BINS);
        self.counts[from..].iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_leaves_at_most_the_rate_above() {
        let mut t = ImpostorTail::default();
        for i in 0..1000 {
            t.add(i as f32 / 1000.0 * 0.9); // 0 .. 0.9
        }
        let (th, above) = t.threshold_at(0.01);
        assert!(above <= 10, "{above}");
        assert!((th - 0.891).abs() < 0.003, "{th}");
        assert_eq!(t.count_at_or_above(th), above);
        assert_eq!(t.threshold_at(0.0).1, 0);
    }

    #[test]
    fn all_pairs_skip_same_identity() {
        let a = [1.0f32, 0.0];
        let b = [0.0f32, 1.0];
        let items: Vec<(&str, &[f32])> = vec![("x", &a), ("x", &a), ("y", &b)];
        let t = ImpostorTail::of_all_pairs(&items);
        assert_eq!(t.pairs, 2);
        assert!(t.max.abs() < 1e-6);
    }
}
