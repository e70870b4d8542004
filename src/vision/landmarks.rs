//! The MediaPipe face mesh (468 points with depth) on a detected face: used for the pose check
//! of the quality gate and, optionally, as alignment points.
//!
//! The model expects the face upright in a square region 1.5× the detection box, so the crop
//! is rotated by the eye line first (MediaPipe's own region-of-interest rule); the points come
//! back in frame pixels, depth in the same pixel scale.

use image::RgbImage;

use super::align::{warp, Point, Similarity};
use super::detect::Detection;

/// Side of the landmark model's input.
pub const INPUT_SIZE: u32 = 192;
/// Number of mesh points.
pub const NUM_POINTS: usize = 468;
/// The region around the detection box the model sees, relative to the box's long side.
const ROI_SCALE: f32 = 1.5;

/// Mesh indices of facial features used elsewhere.
pub mod idx {
    /// Outer and inner corner of the eye on the image's left (the subject's right eye).
    pub const EYE_L: [usize; 2] = [33, 133];
    /// Inner and outer corner of the other eye.
    pub const EYE_R: [usize; 2] = [362, 263];
    pub const NOSE_TIP: usize = 1;
    pub const MOUTH_L: usize = 61;
    pub const MOUTH_R: usize = 291;
    pub const FOREHEAD: usize = 10;
    pub const CHIN: usize = 152;
}

/// The mesh of one face.
#[derive(Debug, Clone)]
pub struct Mesh {
    /// Points in frame pixels.
    pub points: Vec<Point>,
    /// Raw model-space points (x, y, z in input pixels), roll already removed by the crop.
    pub model_space: Vec<[f32; 3]>,
    /// Probability that the crop contains a face.
    pub presence: f32,
}

impl Mesh {
    /// Eye centres, nose tip and mouth corners: the five points of the alignment template.
    pub fn five_points(&self) -> [Point; 5] {
        let centre = |[a, b]: [usize; 2]| Point::mid(self.points[a], self.points[b]);
        [
            centre(idx::EYE_L),
            centre(idx::EYE_R),
            self.points[idx::NOSE_TIP],
            self.points[idx::MOUTH_L],
            self.points[idx::MOUTH_R],
        ]
    }

    /// Head yaw (left-right turn) in degrees, from the depth difference of the outer eye
    /// corners; 0 when frontal.
    pub fn yaw_deg(&self) -> f32 {
        let (a, b) = (
            self.model_space[idx::EYE_L[0]],
            self.model_space[idx::EYE_R[1]],
        );
        (b[2] - a[2]).atan2(b[0] - a[0]).to_degrees()
    }

    /// Head pitch (nodding) in degrees, from the depth difference of forehead and chin,
    /// measured against the face's own forehead–chin line; 0 when frontal.
    pub fn pitch_deg(&self) -> f32 {
        let (a, b) = (self.model_space[idx::FOREHEAD], self.model_space[idx::CHIN]);
        (b[2] - a[2]).atan2(b[1] - a[1]).to_degrees()
    }
}

/// The crop transform (model pixels → frame pixels) for a detection.
pub fn roi(det: &Detection) -> Similarity {
    let (e0, e1) = (det.keypoints[0], det.keypoints[1]);
    let theta = (e1.y - e0.y).atan2(e1.x - e0.x);
    #[allow(clippy::cast_precision_loss)]
    let half = INPUT_SIZE as f32 / 2.0;
    let size = det.width().max(det.height()) * ROI_SCALE;
    let s = size / (2.0 * half);
    let (a, b) = (s * theta.cos(), s * theta.sin());
    let (cx, cy) = ((det.x0 + det.x1) / 2.0, (det.y0 + det.y1) / 2.0);
    Similarity {
        a,
        b,
        tx: cx - (a * half - b * half),
        ty: cy - (b * half + a * half),
    }
}

/// The model input for a detection: the rotated crop in [0, 1], and its transform.
pub fn preprocess(frame: &RgbImage, det: &Detection) -> (Vec<f32>, Similarity) {
    let t = roi(det);
    let crop = warp(frame, &t, INPUT_SIZE, INPUT_SIZE);
    let input = crop
        .as_raw()
        .iter()
        .map(|&v| f32::from(v) / 255.0)
        .collect();
    (input, t)
}

/// Reads the model's outputs (1404 coordinates and a presence logit, in either order).
pub fn decode(outputs: &[Vec<f32>], t: &Similarity) -> Option<Mesh> {
    let coords = outputs.iter().find(|o| o.len() == NUM_POINTS * 3)?;
    let flag = outputs.iter().find(|o| o.len() == 1)?;
    let mut points = Vec::with_capacity(NUM_POINTS);
    let mut model_space = Vec::with_capacity(NUM_POINTS);
    for p in coords.chunks_exact(3) {
        model_space.push([p[0], p[1], p[2]]);
        points.push(t.apply(Point::new(p[0], p[1])));
    }
    Some(Mesh {
        points,
        model_space,
        presence: 1.0 / (1.0 + (-flag[0]).exp()),
    })
}
