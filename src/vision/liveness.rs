//! Passive anti-spoofing with FaceAntiSpoofing.tflite (a deep-tree-network classifier trained
//! on print and screen-replay attacks).
//!
//! The model sees the face region scaled to 256×256 in [0, 1] and returns, per tree leaf, a
//! spoof response and a routing mask; the score is Σ |response| · mask. Higher means more
//! likely an attack. It costs about a hundred milliseconds on one core, so the door runs it
//! once per presentation, not per frame.

use image::RgbImage;

use super::align::{warp, Similarity};
use super::detect::Detection;

pub const INPUT_SIZE: u32 = 256;

/// How much context around the detection box the model sees (relative to the box's long
/// side); see docs/decisions/0102-liveness.md.
pub const CONTEXT: f32 = 1.0;

/// The square face crop in [0, 1].
pub fn preprocess(frame: &RgbImage, det: &Detection, context: f32) -> Vec<f32> {
    let size = det.width().max(det.height()) * context;
    #[allow(clippy::cast_precision_loss)]
    let s = size / INPUT_SIZE as f32;
    let (cx, cy) = ((det.x0 + det.x1) / 2.0, (det.y0 + det.y1) / 2.0);
    let t = Similarity {
        a: s,
        b: 0.0,
        tx: cx - size / 2.0,
        ty: cy - size / 2.0,
    };
    let crop = warp(frame, &t, INPUT_SIZE, INPUT_SIZE);
    crop.as_raw()
        .iter()
        .map(|&v| f32::from(v) / 255.0)
        .collect()
}

/// Σ |class response| · leaf mask over the eight leaves.
pub fn score(responses: &[f32], leaf_mask: &[f32]) -> f32 {
    responses
        .iter()
        .zip(leaf_mask)
        .map(|(r, m)| r.abs() * m)
        .sum()
}

#[cfg(test)]
mod tests {
    #[test]
    fn score_weights_responses_by_the_routing_mask() {
        let r = [0.5, -0.2, 0.9, 0.0, 0.0, 0.0, 0.0, 0.0];
        let m = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        assert!((super::score(&r, &m) - 0.2).abs() < 1e-6);
    }
}
