//! The impostor score tail of each embedder: the similarity that a given share of impostor
//! comparisons reaches, measured once on labelled photos (docs/decisions/0201-operating-point.md).
//!
//! Between measured points the threshold is interpolated linearly in log10(FAR); below the
//! smallest measured FAR it is extrapolated along the last segment (the tail of cosine
//! similarities of unrelated faces falls off about exponentially), capped at [`MAX_THRESHOLD`].

/// Highest threshold the policy ever asks for; above it genuine matches become rare.
pub const MAX_THRESHOLD: f32 = 0.95;

/// A measured impostor tail: `(FAR, threshold)` with FAR decreasing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    pub model_id: &'static str,
    /// Where the numbers come from, for `check-config` and the status endpoint.
    pub source: &'static str,
    pub points: &'static [(f64, f32)],
    /// The floor of the calibrated threshold while `matching.threshold` is left at its default.
    /// That default (0.60) was chosen on MobileFaceNet's scale, where it is FAR ≈ 1e-5; an
    /// embedder whose impostors score much lower (EdgeFace) would never leave it, so it states
    /// its own threshold at FAR 1e-5 instead. `None`: the default floor applies.
    pub floor: Option<f32>,
}

/// MobileFaceNet with the shipped pipeline (mesh alignment, flip-test): all 19,374,944
/// cross-identity pairs of the 6,232 embedded `lfw-dev` photos, from `wardgate eval identify`
/// on the lists of `wardgate eval lists` (BENCHMARKS.md, "Recognition at scale"). 1e-6 rests
/// on 19 pairs; below it the last segment is extrapolated (0.075 per decade).
pub const MOBILEFACENET: Calibration = Calibration {
    model_id: "mobilefacenet",
    source: "lfw-dev, all cross-identity pairs (docs/decisions/0201-operating-point.md)",
    points: &[
        (1e-2, 0.367),
        (1e-3, 0.468),
        (1e-4, 0.546),
        (1e-5, 0.611),
        (1e-6, 0.686),
    ],
    floor: None,
};

/// MobileFaceNet fused with dlib's ResNet descriptor (weight 0.4, `vision::fusion`), measured
/// the same way on the same 19,374,944 pairs of `lfw-dev` (docs/decisions/0203-fused-embedder.md).
/// 1e-6 rests on 19 pairs; below it the last segment is extrapolated (0.038 per decade).
pub const FUSED: Calibration = Calibration {
    model_id: "mobilefacenet+dlib",
    source: "lfw-dev, all cross-identity pairs (docs/decisions/0203-fused-embedder.md)",
    points: &[
        (1e-2, 0.684),
        (1e-3, 0.733),
        (1e-4, 0.771),
        (1e-5, 0.802),
        (1e-6, 0.840),
    ],
    floor: None,
};

/// EdgeFace-XS with the shipped pipeline (mesh alignment, one invoke: no flip-test, see
/// `vision.flip_test`): all 19,374,944
/// cross-identity pairs of the 6,232 embedded `lfw-dev` photos, from `wardgate eval identify`
/// on the lists of `wardgate eval lists` (BENCHMARKS.md, "Recognition at scale";
/// docs/decisions/0204-edgeface.md). 1e-6 rests on 19 pairs; below it the last segment is
/// extrapolated (0.111 per decade). Its impostors score far lower than MobileFaceNet's, so its
/// floor is its own FAR-1e-5 threshold, not the default `matching.threshold` 0.60 (which is
/// FAR ≈ 1e-7 here and would miss a third of genuine searches).
pub const EDGEFACE_XS: Calibration = Calibration {
    model_id: "edgeface_xs",
    source: "lfw-dev, all cross-identity pairs (docs/decisions/0204-edgeface.md)",
    points: &[
        (1e-2, 0.193),
        (1e-3, 0.263),
        (1e-4, 0.328),
        (1e-5, 0.389),
        (1e-6, 0.500),
    ],
    floor: Some(0.389),
};

/// EdgeFace-XXS, measured the same way on the same 19,374,944 pairs; its own floor as for XS.
/// 1e-6 rests on 19 pairs (0.095 per decade beyond it).
pub const EDGEFACE_XXS: Calibration = Calibration {
    model_id: "edgeface_xxs",
    source: "lfw-dev, all cross-identity pairs (docs/decisions/0204-edgeface.md)",
    points: &[
        (1e-2, 0.210),
        (1e-3, 0.283),
        (1e-4, 0.350),
        (1e-5, 0.410),
        (1e-6, 0.505),
    ],
    floor: Some(0.410),
};

/// EdgeFace-XS fused with dlib's descriptor (0.5/0.5, `vision::fusion::XS_DLIB`), measured the
/// same way on the same 19,374,944 pairs (docs/decisions/0204-edgeface.md). Without it the
/// default floor 0.60 lies at FAR ≈ 1e-3 on this scale (an `eval identify` matched 438 of 2,022
/// strangers), so its floor is its own FAR-1e-5 threshold. 0.061 per decade beyond 1e-6.
pub const EDGEFACE_XS_DLIB: Calibration = Calibration {
    model_id: "edgeface_xs+dlib",
    source: "lfw-dev, all cross-identity pairs (docs/decisions/0204-edgeface.md)",
    points: &[
        (1e-2, 0.538),
        (1e-3, 0.583),
        (1e-4, 0.622),
        (1e-5, 0.658),
        (1e-6, 0.719),
    ],
    floor: Some(0.658),
};

/// EdgeFace-XS fused with MobileFaceNet (0.8/0.2, `vision::fusion::XS_MFN`), measured the same
/// way; its own floor as for XS (0.115 per decade beyond 1e-6).
pub const EDGEFACE_XS_MFN: Calibration = Calibration {
    model_id: "edgeface_xs+mobilefacenet",
    source: "lfw-dev, all cross-identity pairs (docs/decisions/0204-edgeface.md)",
    points: &[
        (1e-2, 0.207),
        (1e-3, 0.286),
        (1e-4, 0.354),
        (1e-5, 0.415),
        (1e-6, 0.530),
    ],
    floor: Some(0.415),
};

/// The calibrations this build knows: one per embedder of `vision::engine::EMBEDDERS`.
pub const ALL: &[Calibration] = &[
    MOBILEFACENET,
    FUSED,
    EDGEFACE_XS,
    EDGEFACE_XXS,
    EDGEFACE_XS_DLIB,
    EDGEFACE_XS_MFN,
];

/// Least cosine similarity of two embeddings of `model_id` for them to count as the same face
/// within one track (averaged together): the embedder's impostor score at FAR 1e-2, or 0.5
/// for an embedder without a calibration. Frames of one person a moment apart score far
/// above it; a second person stepping into the track, below.
pub fn same_face_threshold(model_id: &str) -> f32 {
    for_model(model_id).map_or(0.5, |c| c.threshold_for_far(1e-2))
}

/// The calibration of `model_id`, if measured.
pub fn for_model(model_id: &str) -> Option<&'static Calibration> {
    ALL.iter().find(|c| c.model_id == model_id)
}

impl Calibration {
    /// The threshold at which about `far` of impostor comparisons score at or above it.
    pub fn threshold_for_far(&self, far: f64) -> f32 {
        let pts = self.points;
        let Some(&(first_far, first_t)) = pts.first() else {
            return MAX_THRESHOLD;
        };
        if far.is_nan() || far <= 0.0 {
            return MAX_THRESHOLD;
        }
        if far >= first_far || pts.len() == 1 {
            return first_t.min(MAX_THRESHOLD);
        }
        let x = far.log10();
        let seg = pts
            .windows(2)
            .find(|w| far >= w[1].0)
            .unwrap_or(&pts[pts.len() - 2..]);
        let (x0, t0) = (seg[0].0.log10(), f64::from(seg[0].1));
        let (x1, t1) = (seg[1].0.log10(), f64::from(seg[1].1));
        let t = t0 + (x - x0) * (t1 - t0) / (x1 - x0);
        #[allow(clippy::cast_possible_truncation)]
        let t = t as f32;
        t.min(MAX_THRESHOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An embedder without a measured tail would run at the default floor, which is a different
    /// FAR on every embedder's scale (on `edgeface_xs+dlib`, FPIR 21.7 % at 796 enrolled).
    #[test]
    fn every_embedder_this_build_knows_is_calibrated() {
        for e in crate::vision::engine::EMBEDDERS {
            let c = for_model(e.id).unwrap_or_else(|| panic!("{} has no calibration", e.id));
            assert!(c
                .points
                .windows(2)
                .all(|w| w[0].0 > w[1].0 && w[0].1 < w[1].1));
        }
    }

    const C: Calibration = Calibration {
        model_id: "m",
        source: "test",
        points: &[(1e-2, 0.3), (1e-3, 0.4), (1e-4, 0.5)],
        floor: None,
    };

    #[test]
    fn interpolates_in_log_far_and_extrapolates_the_tail() {
        assert!((C.threshold_for_far(1e-3) - 0.4).abs() < 1e-6);
        assert!((C.threshold_for_far(10f64.powf(-3.5)) - 0.45).abs() < 1e-5);
        // Beyond the last point, along the last segment.
        assert!((C.threshold_for_far(1e-6) - 0.7).abs() < 1e-5);
        // Above the first point: the first threshold.
        assert!((C.threshold_for_far(0.5) - 0.3).abs() < 1e-6);
        assert_eq!(C.threshold_for_far(1e-40), MAX_THRESHOLD);
        assert_eq!(C.threshold_for_far(0.0), MAX_THRESHOLD);
    }

    #[test]
    fn the_shipped_table_is_monotone() {
        for c in ALL {
            for w in c.points.windows(2) {
                assert!(w[0].0 > w[1].0 && w[0].1 < w[1].1, "{}: {w:?}", c.model_id);
            }
        }
        assert!(for_model("mobilefacenet").is_some());
        assert!(for_model("nope").is_none());
    }
}
