//! Score-level fusion of two embedders in one template.
//!
//! Two embedders with different training data and architecture make different mistakes, so a
//! weighted sum of their cosine similarities can separate people better than either alone
//! (docs/decisions/0203-fused-embedder.md and 0204-edgeface.md have the measurements). The
//! fusion is done in the template itself: each embedder's vector is L2-normalised, scaled by
//! the square root of its weight and the two are concatenated. The template is then of unit
//! length and the cosine of two templates is exactly
//!
//! `w · cos(primary) + (1 − w) · cos(partner)`,
//!
//! so the gallery, the store, the API and the open-set calibration treat a fused embedder as
//! one model with one model id, and a template of one model can never be compared with a
//! template of another.

use super::embed::{cosine, l2_normalise, CropNet};

/// dlib's descriptor length.
pub const DLIB_DIM: usize = 128;

/// The second embedder of a fused template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partner {
    /// dlib's ResNet descriptor on its own 150×150 chip (`vision::dlib_chip`).
    Dlib,
    /// Another embedder of the same aligned 112×112 crop.
    Crop(CropNet),
}

impl Partner {
    pub const fn dim(self) -> usize {
        match self {
            Self::Dlib => DLIB_DIM,
            Self::Crop(net) => net.dim(),
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::Dlib => "dlib",
            Self::Crop(net) => net.name(),
        }
    }
}

/// What a fused template is made of: the primary embedder's part first, then the partner's;
/// `weight` is the primary's share of the fused cosine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fusion {
    pub primary: CropNet,
    pub partner: Partner,
    pub weight: f32,
}

/// MobileFaceNet + dlib (`mobilefacenet+dlib`, decision 0203): 0.4 / 0.6.
pub const MFN_DLIB: Fusion = Fusion {
    primary: CropNet::MobileFaceNet,
    partner: Partner::Dlib,
    weight: 0.4,
};

/// EdgeFace-XS + dlib (`edgeface_xs+dlib`, decision 0204): 0.5 / 0.5, the best TAR at FAR
/// 1e-4 and 1e-5 of `wardgate eval pairs`' weight sweep on lfw-dev (0.3–0.9 lie within 0.1
/// points of accuracy of each other).
pub const XS_DLIB: Fusion = Fusion {
    primary: CropNet::EdgeFaceXs,
    partner: Partner::Dlib,
    weight: 0.5,
};

/// EdgeFace-XS + MobileFaceNet (`edgeface_xs+mobilefacenet`, decision 0204): 0.8 / 0.2, the
/// best accuracy and TAR at FAR 1e-4 of the weight sweep on lfw-dev; at 0.5 MobileFaceNet's
/// heavier impostor tail costs 0.4 points of TAR at FAR 1e-4.
pub const XS_MFN: Fusion = Fusion {
    primary: CropNet::EdgeFaceXs,
    partner: Partner::Crop(CropNet::MobileFaceNet),
    weight: 0.8,
};

/// The fusions this build knows; their template lengths differ, so a template's length says
/// which one made it.
pub const ALL: [Fusion; 3] = [MFN_DLIB, XS_DLIB, XS_MFN];

impl Fusion {
    /// Length of a fused template.
    pub const fn dim(&self) -> usize {
        self.primary.dim() + self.partner.dim()
    }

    /// The fused template of a primary embedding and a partner embedding (neither needs to
    /// be unit length).
    pub fn fuse(&self, primary: &[f32], partner: &[f32]) -> Vec<f32> {
        fuse_weighted(primary, partner, self.weight)
    }

    /// The two parts of a fused template (each scaled by its weight's root); `None` when the
    /// length is not this fusion's.
    pub fn split<'a>(&self, v: &'a [f32]) -> Option<(&'a [f32], &'a [f32])> {
        (v.len() == self.dim()).then(|| v.split_at(self.primary.dim()))
    }

    /// The two embedders' cosine similarities of two fused templates, recovered from the
    /// parts; `None` when the templates are not of this fusion.
    pub fn part_cosines(&self, x: &[f32], y: &[f32]) -> Option<(f32, f32)> {
        let part = |v: &[f32]| {
            let mut v = v.to_vec();
            l2_normalise(&mut v);
            v
        };
        let (xa, xb) = self.split(x)?;
        let (ya, yb) = self.split(y)?;
        Some((cosine(&part(xa), &part(ya)), cosine(&part(xb), &part(yb))))
    }
}

/// The fused template of `a` and `b` with `a`'s weight `w`.
pub fn fuse_weighted(a: &[f32], b: &[f32], w: f32) -> Vec<f32> {
    let mut m = a.to_vec();
    l2_normalise(&mut m);
    let mut d = b.to_vec();
    l2_normalise(&mut d);
    let (ka, kb) = (w.sqrt(), (1.0 - w).sqrt());
    m.iter()
        .map(|x| x * ka)
        .chain(d.iter().map(|x| x * kb))
        .collect()
}

/// The cosine similarity of the primary parts of two templates (of the templates themselves
/// when they are not fused). Liveness compares a turned face with the frontal face that
/// identified the track with this score (docs/decisions/0103-liveness-challenge.md): a turned
/// face scores differently on dlib's part, and the primary embedder is the one every
/// embedder choice shares with its single-model variant.
pub fn primary_cosine(x: &[f32], y: &[f32]) -> f32 {
    ALL.iter()
        .find_map(|f| f.part_cosines(x, y))
        .map_or_else(|| cosine(x, y), |(m, _)| m)
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
        let f = MFN_DLIB;
        let mfn = CropNet::MobileFaceNet.dim();
        let (m1, m2) = (unit(1, mfn), unit(2, mfn));
        // dlib descriptors are not unit length (norm ~1.4): fusion normalises them.
        let d1: Vec<f32> = unit(3, DLIB_DIM).iter().map(|x| x * 1.4).collect();
        let d2: Vec<f32> = unit(4, DLIB_DIM).iter().map(|x| x * 1.3).collect();
        let (f1, f2) = (f.fuse(&m1, &d1), f.fuse(&m2, &d2));
        assert_eq!(f1.len(), mfn + DLIB_DIM);
        assert!((cosine(&f1, &f1) - 1.0).abs() < 1e-5);
        let (cm, cd) = (
            cosine(&m1, &m2),
            cosine(&unit(3, DLIB_DIM), &unit(4, DLIB_DIM)),
        );
        let want = f.weight * cm + (1.0 - f.weight) * cd;
        assert!((cosine(&f1, &f2) - want).abs() < 1e-5);
        let (pm, pd) = f.part_cosines(&f1, &f2).unwrap();
        assert!((pm - cm).abs() < 1e-5 && (pd - cd).abs() < 1e-5);
        assert!(f.part_cosines(&m1, &m2).is_none());
        assert!((primary_cosine(&f1, &f2) - cm).abs() < 1e-5);
        assert!((primary_cosine(&m1, &m2) - cm).abs() < 1e-6);
    }

    #[test]
    fn a_weight_of_one_is_mobilefacenet_alone() {
        let (m1, m2) = (unit(5, 192), unit(6, 192));
        let d = unit(7, DLIB_DIM);
        let (f1, f2) = (fuse_weighted(&m1, &d, 1.0), fuse_weighted(&m2, &d, 1.0));
        assert!((cosine(&f1, &f2) - cosine(&m1, &m2)).abs() < 1e-6);
    }

    #[test]
    fn each_fusion_has_its_own_length_and_primary_cosine_finds_it() {
        let dims: std::collections::BTreeSet<usize> = ALL.iter().map(Fusion::dim).collect();
        assert_eq!(dims.len(), ALL.len());
        for n in [192, 512] {
            assert!(!dims.contains(&n), "a fused length equals a single model's");
        }
        let xs = CropNet::EdgeFaceXs.dim();
        let (a, b) = (unit(8, xs), unit(9, xs));
        let m = unit(10, 192);
        let (f1, f2) = (XS_MFN.fuse(&a, &m), XS_MFN.fuse(&b, &m));
        assert!((primary_cosine(&f1, &f2) - cosine(&a, &b)).abs() < 1e-5);
    }
}
