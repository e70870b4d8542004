//! The verification and identification metrics, as pure functions over scores.
//!
//! Conventions (docs/metrics.md): a comparison is accepted when its score is *at or above* the
//! threshold; a photo without a usable face scores [`NO_FACE`], which rejects it (a false reject
//! for a genuine pair or mated search, a correct reject otherwise), as NIST FRTE counts failures
//! to acquire.

/// Score of a comparison that could not be made (a photo gave no face).
pub const NO_FACE: f32 = -1.0;

/// Share of `scores` at or above `t`.
pub fn rate_at_or_above(scores: &[f32], t: f32) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let r = scores.iter().filter(|&&s| s >= t).count() as f64 / scores.len() as f64;
    r
}

/// The lowest threshold at which at most `rate` of `negatives` are accepted, and the rate
/// actually reached there. Thresholds are placed just above a negative score, so with `n`
/// negatives rates below `1/n` are all reached by the threshold above the highest one.
pub fn threshold_for_rate(negatives: &[f32], rate: f64) -> (f32, f64) {
    let mut sorted: Vec<f32> = negatives.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let allowed = (rate * sorted.len() as f64).floor() as usize;
    // Accepting exactly the `allowed` highest: the threshold sits just above the next one.
    let t = match sorted.get(allowed) {
        Some(&s) => next_up(s),
        None => sorted.last().copied().unwrap_or(NO_FACE),
    };
    (t, rate_at_or_above(negatives, t))
}

/// The smallest `f32` greater than `x` (for finite `x`).
pub fn next_up(x: f32) -> f32 {
    if x.is_nan() || x == f32::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f32::from_bits(1);
    }
    let b = x.to_bits();
    f32::from_bits(if x > 0.0 { b + 1 } else { b - 1 })
}

/// Verification at a fixed false-accept rate: (TAR, threshold, FAR reached).
pub fn tar_at_far(genuine: &[f32], impostor: &[f32], far: f64) -> (f64, f32, f64) {
    let (t, reached) = threshold_for_rate(impostor, far);
    (rate_at_or_above(genuine, t), t, reached)
}

/// The threshold that classifies the most pairs correctly, and that accuracy.
pub fn best_accuracy(genuine: &[f32], impostor: &[f32]) -> (f32, f64) {
    let mut all: Vec<(f32, bool)> = genuine
        .iter()
        .map(|&s| (s, true))
        .chain(impostor.iter().map(|&s| (s, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = all.len();
    if total == 0 {
        return (0.0, 0.0);
    }
    // Threshold at all[i].0: everything from i up is accepted.
    let mut genuine_below = 0usize;
    let mut impostor_below = 0usize;
    let mut best = (all[0].0, 0usize);
    let mut i = 0;
    while i < total {
        let t = all[i].0;
        let correct = (genuine.len() - genuine_below) + impostor_below;
        if correct > best.1 {
            best = (t, correct);
        }
        while i < total && all[i].0 == t {
            if all[i].1 {
                genuine_below += 1;
            } else {
                impostor_below += 1;
            }
            i += 1;
        }
    }
    // Rejecting everything.
    if impostor.len() > best.1 {
        best = (next_up(all[total - 1].0), impostor.len());
    }
    #[allow(clippy::cast_precision_loss)]
    (best.0, best.1 as f64 / total as f64)
}

/// One fold of the k-fold protocol.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fold {
    /// Threshold chosen on the other folds.
    pub threshold: f32,
    /// Accuracy on this fold at that threshold.
    pub accuracy: f64,
}

/// LFW's protocol: for each fold, the threshold that is best on the other folds is applied to
/// it. `fold_of[i]` is the fold of pair `i`; returns the folds and the mean ± sample std.
pub fn k_fold_accuracy(
    pairs: &[(f32, bool)],
    fold_of: &[usize],
    k: usize,
) -> (Vec<Fold>, f64, f64) {
    let mut folds = Vec::with_capacity(k);
    for f in 0..k {
        let (mut g_train, mut i_train, mut g_test, mut i_test) = (vec![], vec![], vec![], vec![]);
        for (&(s, same), &fo) in pairs.iter().zip(fold_of) {
            match (fo == f, same) {
                (true, true) => g_test.push(s),
                (true, false) => i_test.push(s),
                (false, true) => g_train.push(s),
                (false, false) => i_train.push(s),
            }
        }
        if g_test.len() + i_test.len() == 0 {
            continue;
        }
        let (t, _) = best_accuracy(&g_train, &i_train);
        let correct =
            g_test.iter().filter(|&&s| s >= t).count() + i_test.iter().filter(|&&s| s < t).count();
        #[allow(clippy::cast_precision_loss)]
        folds.push(Fold {
            threshold: t,
            accuracy: correct as f64 / (g_test.len() + i_test.len()) as f64,
        });
    }
    let (mean, std) = mean_std(folds.iter().map(|f| f.accuracy));
    (folds, mean, std)
}

/// Mean and sample standard deviation.
pub fn mean_std(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let v: Vec<f64> = values.collect();
    if v.is_empty() {
        return (0.0, 0.0);
    }
    #[allow(clippy::cast_precision_loss)]
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// Folds for `pairs` without a fold column: genuine and impostor pairs are each cut, in file
/// order, into `k` contiguous runs. LFW's pairs files list fold after fold, so on them this
/// reproduces the published folds' composition.
pub fn stratified_folds(same: &[bool], k: usize) -> Vec<usize> {
    let n_gen = same.iter().filter(|&&s| s).count();
    let n_imp = same.len() - n_gen;
    let (mut gi, mut ii) = (0usize, 0usize);
    same.iter()
        .map(|&s| {
            if s {
                gi += 1;
                (gi - 1) * k / n_gen.max(1)
            } else {
                ii += 1;
                (ii - 1) * k / n_imp.max(1)
            }
        })
        .collect()
}

/// Counts of `scores` in `bins` equal bins over [lo, hi); scores outside go to the end bins.
pub fn histogram(scores: &[f32], lo: f32, hi: f32, bins: usize) -> Vec<usize> {
    let mut h = vec![0; bins];
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    for &s in scores {
        let x = ((s - lo) / (hi - lo) * bins as f32).floor();
        let i = (x.max(0.0) as usize).min(bins - 1);
        h[i] += 1;
    }
    h
}

/// The `q`-quantile (0..=1) of `scores` by the nearest-rank rule.
pub fn quantile(scores: &[f32], q: f64) -> f32 {
    if scores.is_empty() {
        return f32::NAN;
    }
    let mut s = scores.to_vec();
    s.sort_by(f32::total_cmp);
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let i = ((s.len() - 1) as f64 * q).round() as usize;
    s[i]
}

/// The outcome of one open-set search: the rank-1 candidate's score and whether it is the
/// searched person (always false for a non-mated search), and the runner-up identity's score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Search {
    pub top_score: f32,
    pub top_is_mate: bool,
    pub second_score: f32,
}

impl Search {
    /// A search whose photo gave no face: no candidates.
    pub const NONE: Self = Self {
        top_score: NO_FACE,
        top_is_mate: false,
        second_score: NO_FACE,
    };

    /// Whether the rank-1 candidate is returned at threshold `t` with margin `m` over the
    /// runner-up.
    pub fn hit(&self, t: f32, m: f32) -> bool {
        self.top_score >= t && self.top_score - self.second_score >= m
    }
}

/// Open-set rates at one operating point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenSet {
    pub threshold: f32,
    pub margin: f32,
    /// Mated searches whose mate is not returned at rank 1 (wrong person, below threshold, or
    /// no face).
    pub fnir: f64,
    /// Non-mated searches that return anybody.
    pub fpir: f64,
}

/// FNIR and FPIR at threshold `t` and margin `m`.
pub fn open_set(mated: &[Search], non_mated: &[Search], t: f32, m: f32) -> OpenSet {
    #[allow(clippy::cast_precision_loss)]
    let miss = mated
        .iter()
        .filter(|s| !(s.top_is_mate && s.hit(t, m)))
        .count() as f64
        / mated.len().max(1) as f64;
    #[allow(clippy::cast_precision_loss)]
    let fp =
        non_mated.iter().filter(|s| s.hit(t, m)).count() as f64 / non_mated.len().max(1) as f64;
    OpenSet {
        threshold: t,
        margin: m,
        fnir: miss,
        fpir: fp,
    }
}

/// FNIR at the lowest threshold whose FPIR is at most `fpir` (margin `m` applied to both).
pub fn fnir_at_fpir(mated: &[Search], non_mated: &[Search], fpir: f64, m: f32) -> OpenSet {
    // The non-mated searches that pass the margin rule compete on their top score; the others
    // are never returned whatever the threshold.
    let negatives: Vec<f32> = non_mated
        .iter()
        .map(|s| {
            if s.top_score - s.second_score >= m {
                s.top_score
            } else {
                NO_FACE - 1.0
            }
        })
        .collect();
    let (t, _) = threshold_for_rate(&negatives, fpir);
    open_set(mated, non_mated, t.max(NO_FACE + f32::EPSILON), m)
}

/// Share of mated searches whose rank-1 candidate is the mate, whatever the score.
pub fn rank1(mated: &[Search]) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let r = mated.iter().filter(|s| s.top_is_mate).count() as f64 / mated.len().max(1) as f64;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_for_rate_accepts_at_most_the_rate() {
        let neg: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        let (t, r) = threshold_for_rate(&neg, 0.01);
        assert!((r - 0.01).abs() < 1e-9, "{r}");
        assert!(t > 0.989 && t <= 0.990 + 1e-6, "{t}");
        // Below 1/n: nothing accepted.
        let (t, r) = threshold_for_rate(&neg, 1e-4);
        assert_eq!(r, 0.0);
        assert!(t > 0.999);
    }

    #[test]
    fn tar_at_far_counts_genuine_above_the_impostor_threshold() {
        let imp = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];
        let gen = [0.5, 0.85, 0.92, 0.96, 0.99];
        // FAR 0.1: one impostor (0.95) may pass → threshold just above 0.9.
        let (tar, t, far) = tar_at_far(&gen, &imp, 0.1);
        assert!(t > 0.9 && t < 0.92);
        assert!((far - 0.1).abs() < 1e-9);
        assert!((tar - 0.6).abs() < 1e-9, "{tar}");
    }

    #[test]
    fn best_accuracy_finds_the_separating_threshold() {
        let (t, acc) = best_accuracy(&[0.7, 0.8, 0.9], &[0.1, 0.2, 0.65]);
        assert_eq!(acc, 1.0);
        assert!(t > 0.65 && t <= 0.7, "{t}");
        let (_, acc) = best_accuracy(&[0.7, 0.1], &[0.8, 0.2]);
        assert!((acc - 0.5).abs() < 1e-9);
    }

    #[test]
    fn k_fold_uses_the_threshold_of_the_other_folds() {
        // Fold 0 alone would prefer a threshold below 0.5; the others put it at 0.6.
        let pairs = [
            (0.55, true),
            (0.3, false),
            (0.7, true),
            (0.5, false),
            (0.8, true),
            (0.55, false),
        ];
        let fold_of = [0, 0, 1, 1, 2, 2];
        let (folds, mean, _) = k_fold_accuracy(&pairs, &fold_of, 3);
        assert_eq!(folds.len(), 3);
        // Fold 0: trained on folds 1–2 (threshold in (0.55, 0.7]) rejects its genuine 0.55.
        assert!((folds[0].accuracy - 0.5).abs() < 1e-9, "{folds:?}");
        assert!(mean < 1.0);
    }

    #[test]
    fn stratified_folds_cut_each_class_in_order() {
        let same = [true, true, true, true, false, false, true, false];
        // 5 genuine → folds 0,0,1,1,1 (k=2); 3 impostor → 0,0,1.
        assert_eq!(stratified_folds(&same, 2), vec![0, 0, 0, 1, 0, 0, 1, 1]);
    }

    #[test]
    fn open_set_rates_follow_nist_definitions() {
        let mated = [
            Search {
                top_score: 0.9,
                top_is_mate: true,
                second_score: 0.3,
            },
            Search {
                top_score: 0.7,
                top_is_mate: false,
                second_score: 0.6,
            },
            Search {
                top_score: 0.5,
                top_is_mate: true,
                second_score: 0.2,
            },
            Search::NONE,
        ];
        let non_mated = [
            Search {
                top_score: 0.65,
                top_is_mate: false,
                second_score: 0.64,
            },
            Search {
                top_score: 0.4,
                top_is_mate: false,
                second_score: 0.3,
            },
        ];
        assert_eq!(rank1(&mated), 0.5);
        let r = open_set(&mated, &non_mated, 0.6, 0.0);
        assert_eq!((r.fnir, r.fpir), (0.75, 0.5));
        // The margin rule drops the stranger whose two best are close.
        let r = open_set(&mated, &non_mated, 0.6, 0.05);
        assert_eq!((r.fnir, r.fpir), (0.75, 0.0));
        let r = fnir_at_fpir(&mated, &non_mated, 0.0, 0.0);
        assert_eq!(r.fpir, 0.0);
        assert!(r.threshold > 0.65 && r.threshold < 0.9);
        assert_eq!(r.fnir, 0.75);
    }

    #[test]
    fn histogram_and_quantiles() {
        let s = [-1.0, 0.05, 0.15, 0.15, 0.95, 2.0];
        assert_eq!(
            histogram(&s, 0.0, 1.0, 10),
            vec![2, 2, 0, 0, 0, 0, 0, 0, 0, 2]
        );
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), 2.0);
    }
}
