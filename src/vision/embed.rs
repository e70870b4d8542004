//! The face embedders that read the 112×112 aligned crop: their files, input batches,
//! normalisations and output lengths, and the vector helpers every template goes through.
//!
//! - MobileFaceNet (192-d) has a fixed batch of two. A single face therefore costs the same
//!   as two, which is why a lone face is embedded together with its mirror image (the
//!   flip-test: the sum of both embeddings is less sensitive to small asymmetries of pose and
//!   lighting), and two different faces share one invoke.
//! - EdgeFace xs and xxs (512-d, Idiap, converted by `models/convert-edgeface.py`) have a batch
//!   of one, so the flip-test costs them a second invoke.

use image::RgbImage;

/// Side of the embedders' input (the aligned crop).
pub const INPUT_SIZE: u32 = 112;

/// A face embedder that reads the aligned 112×112 crop (InsightFace five-point template).
/// Typed so that a file name, a batch size and a normalisation can never be paired with the
/// wrong network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CropNet {
    /// MobileFaceNet from sirius-ai/MobileFaceNet_TF (models/MODELS.md).
    MobileFaceNet,
    /// EdgeFace-XS (Idiap), the authors' int8-weight checkpoint dequantised to float.
    EdgeFaceXs,
    /// EdgeFace-XXS (Idiap), likewise; about half the cost of XS.
    EdgeFaceXxs,
}

impl CropNet {
    /// The model file in `vision.model_dir`.
    pub const fn file(self) -> &'static str {
        match self {
            Self::MobileFaceNet => "MobileFaceNet.tflite",
            Self::EdgeFaceXs => "edgeface_xs.tflite",
            Self::EdgeFaceXxs => "edgeface_xxs.tflite",
        }
    }

    /// Name in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Self::MobileFaceNet => "MobileFaceNet",
            Self::EdgeFaceXs => "EdgeFace-XS",
            Self::EdgeFaceXxs => "EdgeFace-XXS",
        }
    }

    /// Length of the output embedding.
    pub const fn dim(self) -> usize {
        match self {
            Self::MobileFaceNet => 192,
            Self::EdgeFaceXs | Self::EdgeFaceXxs => 512,
        }
    }

    /// The model's fixed input batch.
    pub const fn batch(self) -> usize {
        match self {
            Self::MobileFaceNet => 2,
            Self::EdgeFaceXs | Self::EdgeFaceXxs => 1,
        }
    }

    /// Appends `img` normalised as the network was trained: MobileFaceNet_TF `(x − 127.5) /
    /// 128`; EdgeFace (arcface_torch's convention) `(x / 255 − 0.5) / 0.5`.
    pub fn push_normalised(self, img: &RgbImage, out: &mut Vec<f32>) {
        match self {
            Self::MobileFaceNet => {
                out.extend(img.as_raw().iter().map(|&v| (f32::from(v) - 127.5) / 128.0));
            }
            Self::EdgeFaceXs | Self::EdgeFaceXxs => {
                out.extend(
                    img.as_raw()
                        .iter()
                        .map(|&v| (f32::from(v) / 255.0 - 0.5) / 0.5),
                );
            }
        }
    }
}

/// Scales `v` to unit length; a zero vector stays zero (and then matches nothing).
pub fn l2_normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 1e-10 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// Cosine similarity of two L2-normalised vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_matches_the_training_convention() {
        let img = RgbImage::from_fn(1, 1, |_, _| image::Rgb([0, 128, 255]));
        let mut v = Vec::new();
        CropNet::MobileFaceNet.push_normalised(&img, &mut v);
        assert_eq!(v, vec![-127.5 / 128.0, 0.5 / 128.0, 127.5 / 128.0]);
        let mut v = Vec::new();
        CropNet::EdgeFaceXs.push_normalised(&img, &mut v);
        assert!((v[0] + 1.0).abs() < 1e-6 && (v[1] - 1.0 / 255.0).abs() < 1e-6);
        assert!((v[2] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn l2_normalise_gives_unit_length_and_keeps_zero() {
        let mut v = vec![3.0, 4.0];
        l2_normalise(&mut v);
        assert!((cosine(&v, &v) - 1.0).abs() < 1e-6);
        assert_eq!(v, vec![0.6, 0.8]);
        let mut z = vec![0.0; 3];
        l2_normalise(&mut z);
        assert_eq!(z, vec![0.0; 3]);
    }
}
