//! One embedding from several: the quality-weighted mean of unit embeddings.
//!
//! The door sees a person over many frames and enrolment may take several photos; averaging
//! their normalised embeddings cancels per-frame noise (pose, blur, expression), and weighting
//! by quality keeps a blurred or turned frame from pulling the mean away from the good ones.
//! The mean is re-normalised so it compares with templates like any single embedding.

use crate::vision::quality::{QualityLimits, QualityReport};

/// The weighted mean of `samples` (embedding, weight ≥ 0), L2-normalised. `None` when there is
/// nothing to average: no samples, lengths differ, all weights zero, a non-finite value, or
/// the embeddings cancel out.
pub fn aggregate(samples: &[(&[f32], f32)]) -> Option<Vec<f32>> {
    let dim = samples.first()?.0.len();
    let mut sum = vec![0.0f64; dim];
    let mut total = 0.0f64;
    for (v, w) in samples {
        if v.len() != dim || !w.is_finite() || *w < 0.0 {
            return None;
        }
        let norm = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        if !norm.is_finite() || norm < 1e-12 {
            return None;
        }
        let w = f64::from(*w);
        for (s, x) in sum.iter_mut().zip(v.iter()) {
            *s += w * f64::from(*x) / norm;
        }
        total += w;
    }
    if total <= 0.0 {
        return None;
    }
    let norm = sum.iter().map(|x| x * x).sum::<f64>().sqrt();
    if !norm.is_finite() || norm < 1e-9 {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)]
    Some(sum.iter().map(|x| (x / norm) as f32).collect())
}

/// The weight of one frame or photo in [`aggregate`], in (0, 1]: full for a face that passes
/// the enrolment limits comfortably, less for one that is small, blurred or turned. Never
/// zero, so a track of only poor frames still gives an embedding.
pub fn quality_weight(q: &QualityReport, limits: &QualityLimits) -> f32 {
    let ratio = |x: f32, need: f32| {
        if need <= 0.0 {
            1.0
        } else {
            (x / need).clamp(0.0, 1.0)
        }
    };
    let size = ratio(q.face_px, limits.min_face_px);
    let sharp = ratio(q.sharpness, limits.min_sharpness);
    let turned = |deg: f32, max: f32| {
        if max <= 0.0 {
            1.0
        } else {
            (1.0 - deg.abs() / (2.0 * max)).clamp(0.0, 1.0)
        }
    };
    let pose = turned(q.yaw_deg, limits.max_yaw_deg) * turned(q.pitch_deg, limits.max_pitch_deg);
    (size * sharp * pose).max(0.05)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(face_px: f32, sharpness: f32, yaw: f32) -> QualityReport {
        QualityReport {
            face_px,
            sharpness,
            yaw_deg: yaw,
            pitch_deg: 0.0,
            highlight: 200.0,
            clipped: 0.0,
        }
    }

    fn limits() -> QualityLimits {
        QualityLimits {
            min_face_px: 80.0,
            min_sharpness: 15.0,
            max_yaw_deg: 30.0,
            max_pitch_deg: 35.0,
            min_highlight: 40.0,
            max_clipped: 0.25,
        }
    }

    #[test]
    fn equal_weights_give_the_normalised_mean_of_unit_vectors() {
        // Lengths differ: each is normalised first, so the longer one does not dominate.
        let a = [3.0f32, 0.0];
        let b = [0.0f32, 0.5];
        let m = aggregate(&[(&a, 1.0), (&b, 1.0)]).unwrap();
        let h = std::f32::consts::FRAC_1_SQRT_2;
        assert!((m[0] - h).abs() < 1e-6 && (m[1] - h).abs() < 1e-6, "{m:?}");
    }

    #[test]
    fn weights_pull_towards_the_better_sample() {
        let a = [1.0f32, 0.0];
        let b = [0.0f32, 1.0];
        let m = aggregate(&[(&a, 3.0), (&b, 1.0)]).unwrap();
        assert!(m[0] > m[1]);
        assert!(((m[0] * m[0] + m[1] * m[1]) - 1.0).abs() < 1e-5);
        assert!((m[1] / m[0] - 1.0 / 3.0).abs() < 1e-5);
        // A zero-weight sample does not count at all.
        let m = aggregate(&[(&a, 1.0), (&b, 0.0)]).unwrap();
        assert_eq!(m, vec![1.0, 0.0]);
    }

    #[test]
    fn nothing_to_average_is_none() {
        let a = [1.0f32, 0.0];
        let opposite = [-1.0f32, 0.0];
        assert_eq!(aggregate(&[]), None);
        assert_eq!(aggregate(&[(&a, 0.0)]), None);
        assert_eq!(aggregate(&[(&a, 1.0), (&[1.0, 0.0, 0.0], 1.0)]), None);
        assert_eq!(aggregate(&[(&a, 1.0), (&opposite, 1.0)]), None);
        assert_eq!(aggregate(&[(&[0.0, 0.0], 1.0)]), None);
        assert_eq!(aggregate(&[(&a, f32::NAN)]), None);
    }

    #[test]
    fn quality_weight_prefers_large_sharp_frontal_faces() {
        let l = limits();
        let good = quality_weight(&q(120.0, 40.0, 0.0), &l);
        assert!((good - 1.0).abs() < 1e-6);
        assert!(quality_weight(&q(40.0, 40.0, 0.0), &l) < 0.6);
        assert!(quality_weight(&q(120.0, 5.0, 0.0), &l) < 0.4);
        assert!(quality_weight(&q(120.0, 40.0, 30.0), &l) < 0.6);
        assert!(quality_weight(&q(1.0, 0.0, 90.0), &l) > 0.0);
    }
}
