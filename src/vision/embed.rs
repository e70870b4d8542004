//! Embedding input and output handling for MobileFaceNet (112×112 RGB → 192-d).
//!
//! The model has a fixed batch of two. A single face therefore costs the same as two, which is
//! why a lone face is embedded together with its mirror image (the flip-test: the sum of both
//! embeddings is less sensitive to small asymmetries of pose and lighting), and two different
//! faces (enrollment of several photos, pair scoring) share one invoke.

use image::RgbImage;

/// Side of the embedder's input.
pub const INPUT_SIZE: u32 = 112;

/// Appends `img` normalised as the model was trained: `(x − 127.5) / 128`.
pub fn push_normalised(img: &RgbImage, out: &mut Vec<f32>) {
    out.extend(img.as_raw().iter().map(|&v| (f32::from(v) - 127.5) / 128.0));
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
        push_normalised(&img, &mut v);
        assert_eq!(v, vec![-127.5 / 128.0, 0.5 / 128.0, 127.5 / 128.0]);
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
