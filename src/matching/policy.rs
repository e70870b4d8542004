//! The operating point in force for a gallery, and why.

use schemars::JsonSchema;
use serde::Serialize;

use super::calibration;
use crate::matching::MatchingConfig;

/// How the threshold in force was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdReason {
    /// `matching.target_fpir` converted through the embedder's calibration for the number of
    /// templates enrolled.
    TargetFpir,
    /// The converted threshold was below `matching.threshold`, which is the floor.
    Floor,
    /// `matching.target_fpir = 0`: `matching.threshold` applies whatever the gallery size.
    Fixed,
    /// The embedder has no calibration in this build: `matching.threshold` applies.
    Uncalibrated,
}

impl ThresholdReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TargetFpir => "target_fpir",
            Self::Floor => "floor",
            Self::Fixed => "fixed",
            Self::Uncalibrated => "uncalibrated",
        }
    }
}

/// The matching rule for the current gallery: a probe matches its best identity when the
/// similarity is at least `threshold` and beats the second-best identity by at least `margin`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct OperatingPoint {
    /// Cosine similarity at or above which the best identity is accepted.
    pub threshold: f32,
    /// Least lead of the best identity over the second-best one.
    pub margin: f32,
    pub reason: ThresholdReason,
    /// `matching.target_fpir`: the share of never-enrolled people the door may match.
    pub target_fpir: f64,
    /// The false-accept rate per comparison the threshold was derived for
    /// (`target_fpir / templates`); absent when the threshold is fixed.
    pub comparison_far: Option<f64>,
    /// Templates in the gallery (each one a chance for a stranger to match).
    pub templates: usize,
    /// Embedder whose calibration was used.
    pub model_id: String,
    /// Where the calibration was measured.
    pub calibration: Option<String>,
}

impl OperatingPoint {
    /// The operating point of `cfg` for a gallery of `templates` templates of `model_id`.
    pub fn for_gallery(cfg: &MatchingConfig, model_id: &str, templates: usize) -> Self {
        let cal = calibration::for_model(model_id);
        let mut op = Self {
            threshold: cfg.threshold,
            margin: cfg.margin,
            reason: ThresholdReason::Fixed,
            target_fpir: cfg.target_fpir,
            comparison_far: None,
            templates,
            model_id: model_id.to_owned(),
            calibration: None,
        };
        if cfg.target_fpir <= 0.0 {
            return op;
        }
        let Some(cal) = cal else {
            op.reason = ThresholdReason::Uncalibrated;
            return op;
        };
        #[allow(clippy::cast_precision_loss)]
        let far = cfg.target_fpir / templates.max(1) as f64;
        let t = cal.threshold_for_far(far);
        op.comparison_far = Some(far);
        op.calibration = Some(cal.source.to_owned());
        // The default `matching.threshold` is on MobileFaceNet's scale; an embedder whose
        // impostors score far lower has its own floor at the same FAR (see `Calibration`).
        let default_floor = MatchingConfig::default().threshold;
        if let Some(own) = cal.floor {
            if (cfg.threshold - default_floor).abs() < f32::EPSILON {
                op.threshold = own;
            }
        }
        if t > op.threshold {
            op.threshold = t;
            op.reason = ThresholdReason::TargetFpir;
        } else {
            op.reason = ThresholdReason::Floor;
        }
        op
    }

    /// Whether a best identity scoring `best` is a match, given the best score of any other
    /// identity (`None` when the gallery holds only one).
    pub fn accepts(&self, best: f32, second: Option<f32>) -> bool {
        best >= self.threshold && second.is_none_or(|s| best - s >= self.margin)
    }

    /// One line for `check-config` and the logs.
    pub fn explain(&self) -> String {
        let margin = format!(
            "the best identity must lead the second-best by {:.3}",
            self.margin
        );
        match self.reason {
            ThresholdReason::Fixed => format!(
                "threshold {:.3} (matching.threshold; matching.target_fpir = 0 fixes it); {margin}",
                self.threshold
            ),
            ThresholdReason::Uncalibrated => format!(
                "threshold {:.3} (matching.threshold: {} has no impostor calibration in this \
                 build, so matching.target_fpir cannot be converted); {margin}",
                self.threshold, self.model_id
            ),
            ThresholdReason::TargetFpir | ThresholdReason::Floor => {
                let far = self.comparison_far.unwrap_or_default();
                let derived = format!(
                    "matching.target_fpir {} over {} templates is a FAR of {far:.1e} per \
                     comparison",
                    self.target_fpir, self.templates
                );
                let source = self.calibration.as_deref().unwrap_or("");
                if self.reason == ThresholdReason::TargetFpir {
                    format!(
                        "threshold {:.3}: {derived}, reached at {:.3} on the {} calibration \
                         ({source}); {margin}",
                        self.threshold, self.threshold, self.model_id
                    )
                } else {
                    format!(
                        "threshold {:.3} (the floor: matching.threshold, or at its default the \
                         embedder's own floor): {derived}, which the {} calibration ({source}) \
                         puts below the floor; {margin}",
                        self.threshold, self.model_id
                    )
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(target_fpir: f64) -> MatchingConfig {
        MatchingConfig {
            target_fpir,
            ..MatchingConfig::default()
        }
    }

    #[test]
    fn the_threshold_rises_with_the_gallery() {
        let small = OperatingPoint::for_gallery(&cfg(1e-3), "mobilefacenet", 50);
        let large = OperatingPoint::for_gallery(&cfg(1e-3), "mobilefacenet", 5000);
        assert!(large.threshold > small.threshold, "{small:?} {large:?}");
        assert_eq!(large.reason, ThresholdReason::TargetFpir);
        assert_eq!(large.comparison_far, Some(2e-7));
        assert!(
            large.explain().contains("5000 templates"),
            "{}",
            large.explain()
        );
    }

    #[test]
    fn the_floor_and_fixed_and_uncalibrated_cases_say_so() {
        let loose = MatchingConfig {
            target_fpir: 0.05,
            threshold: 0.9,
            ..MatchingConfig::default()
        };
        let op = OperatingPoint::for_gallery(&loose, "mobilefacenet", 10);
        assert_eq!((op.threshold, op.reason), (0.9, ThresholdReason::Floor));
        assert!(op.explain().contains("floor"));
        let op = OperatingPoint::for_gallery(&cfg(0.0), "mobilefacenet", 5000);
        assert_eq!(op.reason, ThresholdReason::Fixed);
        assert_eq!(op.threshold, MatchingConfig::default().threshold);
        let op = OperatingPoint::for_gallery(&cfg(1e-3), "other-model", 5000);
        assert_eq!(op.reason, ThresholdReason::Uncalibrated);
        assert!(op.explain().contains("other-model"));
        assert_eq!(ThresholdReason::TargetFpir.as_str(), "target_fpir");
    }

    #[test]
    fn an_embedder_with_its_own_scale_uses_its_own_floor_unless_one_is_set() {
        let cal = calibration::for_model("edgeface_xs").unwrap();
        let own = cal.floor.unwrap();
        let op = OperatingPoint::for_gallery(&cfg(1e-3), "edgeface_xs", 10);
        assert_eq!((op.threshold, op.reason), (own, ThresholdReason::Floor));
        let large = OperatingPoint::for_gallery(&cfg(1e-3), "edgeface_xs", 5000);
        assert!(large.threshold > own && large.threshold < 0.6, "{large:?}");
        let set = MatchingConfig {
            threshold: 0.5,
            ..cfg(1e-3)
        };
        let op = OperatingPoint::for_gallery(&set, "edgeface_xs", 10);
        assert_eq!((op.threshold, op.reason), (0.5, ThresholdReason::Floor));
    }

    #[test]
    fn the_margin_rule_drops_ambiguous_matches() {
        let op = OperatingPoint {
            threshold: 0.6,
            margin: 0.05,
            ..OperatingPoint::for_gallery(&cfg(0.0), "m", 1)
        };
        assert!(op.accepts(0.7, None));
        assert!(op.accepts(0.7, Some(0.6)));
        assert!(!op.accepts(0.7, Some(0.68)));
        assert!(!op.accepts(0.59, None));
    }
}
