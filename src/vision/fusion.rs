//! Score-level fusion of MobileFaceNet and dlib's ResNet descriptor in one template.
//!
//! The two embedders make different mistakes (different training data, alignment and
//! architecture), so a weighted sum of their cosine similarities separates people better than
//! either alone (docs/decisions/0203-fused-embedder.md has the measurements). The fusion is
//! done in the template itself: each embedder's vector is L2-normalised, scaled by the square
//! root of its weight and the two are concatenated. The template is then of unit length and
//! the cosine of two templates is exactly
//!
//! `w · cos(MobileFaceNet) + (1 − w) · cos(dlib)`,
//!
//! so the gallery, the store, the API and the open-set calibration treat the fused embedder as
//! one model with one model id, and a template of one model can never be compared with a
//! template of another.

use super::embed::{cosine, l2_normalise};

/// Model id of the fused embedder.
pub const FUSED_ID: &str = "mobilefacenet+dlib";
/// MobileFaceNet's output length.
pub const MFN_DIM: usize = 192;
/// dlib's descriptor length.
pub const DLIB_DIM: usize = 128;
/// Length of a fused template.
pub const FUSED_DIM: usize = MFN_DIM + DLIB_DIM;
/// Weight of MobileFaceNet's cosine in the fused score; dlib's is `1 − MFN_WEIGHT`.
pub const MFN_WEIGHT: f32 = 0.4;

/// The fused template of a unit-length MobileFaceNet embedding and a raw dlib descriptor.
pub fn fuse(mfn: &[f32], dlib: &[f32]) -> Vec<f32> {
    fuse_weighted(mfn, dlib, MFN_WEIGHT)
}

/// As [`fuse`] with MobileFaceNet's weight `w`.
pub fn fuse_weighted(mfn: &[f32], dlib: &[f32], w: f32) -> Vec<f32> {
    let mut m = mfn.to_vec();
    l2_normalise(&mut m);
    let mut d = dlib.to_vec();
    l2_normalise(&mut d);
    let (a, b) = (w.sqrt(), (1.0 - w).sqrt());
    m.iter()
        .map(|x| x * a)
        .chain(d.iter().map(|x| x * b))
        .collect()
}

/// The two embedders' cosine similarities of two fused templates, recovered from the parts;
/// `None` when the templates are not fused templates.
pub fn part_cosines(x: &[f32], y: &[f32]) -> Option<(f32, f32)> {
    if x.len() != FUSED_DIM || y.len() != FUSED_DIM {
        return None;
    }
    let part = |v: &[f32]| {
        let mut v = v.to_vec();
        l2_normalise(&mut v);
        v
    };
    let (xm, xd) = x.split_at(MFN_DIM);
    let (ym, yd) = y.split_at(MFN_DIM);
    Some((cosine(&part(xm), &part(ym)), cosine(&part(xd), &part(yd))))
}

/// The cosine similarity of the MobileFaceNet parts of two templates (of the templates
/// themselves when they are not fused). Liveness compares a turned face with the frontal face
/// that identified the track with this score, because its `min_identity_similarity` was
/// measured on MobileFaceNet (docs/decisions/0103-liveness-challenge.md); dlib's part
/// scores a turned face differently.
pub fn primary_cosine(x: &[f32], y: &[f32]) -> f32 {
    part_cosines(x, y).map_or_else(|| cosine(x, y), |(m, _)| m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: u32, n: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..n)
            .map(|i| {
                ((i as u32 + 1)
                    .wrapping_mul(seed * 2 + 1)
                    .wrapping_mul(2_654_435_761)
                    % 1000) as f32
                    - 500.0
            })
            .collect();
        l2_normalise(&mut v);
        v
    }

    #[test]
    fn the_fused_cosine_is_the_weighted_sum_of_the_parts() {
        let (m1, m2) = (unit(1, MFN_DIM), unit(2, MFN_DIM));
        // dlib descriptors are not unit length (norm ~1.4): fusion normalises them.
        let d1: Vec<f32> = unit(3, DLIB_DIM).iter().map(|x| x * 1.4).collect();
        let d2: Vec<f32> = unit(4, DLIB_DIM).iter().map(|x| x * 1.3).collect();
        let (f1, f2) = (fuse(&m1, &d1), fuse(&m2, &d2));
        assert_eq!(f1.len(), FUSED_DIM);
        assert!((cosine(&f1, &f1) - 1.0).abs() < 1e-5);
        let (cm, cd) = (
            cosine(&m1, &m2),
            cosine(&unit(3, DLIB_DIM), &unit(4, DLIB_DIM)),
        );
        let want = MFN_WEIGHT * cm + (1.0 - MFN_WEIGHT) * cd;
        assert!((cosine(&f1, &f2) - want).abs() < 1e-5);
        let (pm, pd) = part_cosines(&f1, &f2).unwrap();
        assert!((pm - cm).abs() < 1e-5 && (pd - cd).abs() < 1e-5);
        assert!(part_cosines(&m1, &m2).is_none());
        assert!((primary_cosine(&f1, &f2) - cm).abs() < 1e-5);
        assert!((primary_cosine(&m1, &m2) - cm).abs() < 1e-6);
    }

    #[test]
    fn a_weight_of_one_is_mobilefacenet_alone() {
        let (m1, m2) = (unit(5, MFN_DIM), unit(6, MFN_DIM));
        let d = unit(7, DLIB_DIM);
        let (f1, f2) = (fuse_weighted(&m1, &d, 1.0), fuse_weighted(&m2, &d, 1.0));
        assert!((cosine(&f1, &f2) - cosine(&m1, &m2)).abs() < 1e-6);
    }
}
