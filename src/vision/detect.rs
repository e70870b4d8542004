//! Face detection with MediaPipe BlazeFace: letterboxing, SSD anchors, box and keypoint
//! decoding, and weighted non-maximum suppression. Results are in frame pixel coordinates.
//!
//! Letterboxing (scale the long side to the model's input, pad the short side) keeps faces
//! undistorted in 4:3 and 16:9 frames; a plain stretch would squash them and hurt both recall
//! and keypoint accuracy.

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::align::Point;

/// Which BlazeFace variant runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorKind {
    /// 128×128, faces within about 2 m of the camera (the default at a door).
    ShortRange,
    /// 192×192, faces up to about 5 m away; slower.
    FullRange,
}

impl DetectorKind {
    pub fn model_file(self) -> &'static str {
        match self {
            Self::ShortRange => "face_detection_short_range.tflite",
            Self::FullRange => "face_detection_full_range.tflite",
        }
    }

    pub fn input_size(self) -> u32 {
        match self {
            Self::ShortRange => 128,
            Self::FullRange => 192,
        }
    }

    /// SSD anchor centres (normalised), in the order of the model's outputs.
    pub fn anchors(self) -> Vec<(f32, f32)> {
        // (stride, anchors per cell) per feature map, from MediaPipe's SSD anchor options.
        let layers: &[(u32, usize)] = match self {
            Self::ShortRange => &[(8, 2), (16, 6)],
            Self::FullRange => &[(4, 1)],
        };
        let size = self.input_size();
        let mut out = Vec::new();
        for &(stride, per_cell) in layers {
            let cells = size / stride;
            #[allow(clippy::cast_precision_loss)]
            for y in 0..cells {
                for x in 0..cells {
                    let c = (
                        (x as f32 + 0.5) / cells as f32,
                        (y as f32 + 0.5) / cells as f32,
                    );
                    out.extend(std::iter::repeat_n(c, per_cell));
                }
            }
        }
        out
    }
}

/// Number of BlazeFace keypoints: the eye on the image's left (the subject's right eye), the
/// other eye, nose tip, mouth centre, and the two ear tragions.
pub const NUM_KEYPOINTS: usize = 6;

/// One detected face, in frame pixel coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Left, top, right, bottom.
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
    /// Detector confidence in [0, 1].
    pub score: f32,
    /// See [`NUM_KEYPOINTS`] for the order.
    pub keypoints: [Point; NUM_KEYPOINTS],
}

impl Detection {
    pub fn width(&self) -> f32 {
        self.x1 - self.x0
    }

    pub fn height(&self) -> f32 {
        self.y1 - self.y0
    }

    pub fn area(&self) -> f32 {
        self.width().max(0.0) * self.height().max(0.0)
    }

    pub fn iou(&self, o: &Self) -> f32 {
        let w = (self.x1.min(o.x1) - self.x0.max(o.x0)).max(0.0);
        let h = (self.y1.min(o.y1) - self.y0.max(o.y0)).max(0.0);
        let inter = w * h;
        let union = self.area() + o.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }
}

/// How the frame was fitted into the model's square input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// Model pixels per frame pixel.
    pub scale: f32,
    pub pad_x: f32,
    pub pad_y: f32,
}

impl Letterbox {
    pub fn for_frame(width: u32, height: u32, size: u32) -> Self {
        #[allow(clippy::cast_precision_loss)]
        let scale = size as f32 / width.max(height) as f32;
        #[allow(clippy::cast_precision_loss)]
        let (w, h) = (
            (width as f32 * scale).round(),
            (height as f32 * scale).round(),
        );
        #[allow(clippy::cast_precision_loss)]
        Self {
            scale,
            pad_x: ((size as f32 - w) / 2.0).floor(),
            pad_y: ((size as f32 - h) / 2.0).floor(),
        }
    }

    /// Model pixel → frame pixel.
    pub fn to_frame(&self, p: Point) -> Point {
        Point::new(
            (p.x - self.pad_x) / self.scale,
            (p.y - self.pad_y) / self.scale,
        )
    }
}

/// Letterboxes `frame` into a `size`×`size` tensor in [-1, 1] (BlazeFace's input range).
pub fn preprocess(frame: &RgbImage, size: u32) -> (Vec<f32>, Letterbox) {
    let lb = Letterbox::for_frame(frame.width(), frame.height(), size);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let (w, h) = (
        ((frame.width() as f32 * lb.scale).round() as u32).clamp(1, size),
        ((frame.height() as f32 * lb.scale).round() as u32).clamp(1, size),
    );
    let mut resized = RgbImage::new(w, h);
    let opts = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    if let Err(e) = Resizer::new().resize(frame, &mut resized, &opts) {
        // Only reachable with zero-sized images, which decoding already refuses.
        log::warn!("resize failed: {e}");
    }
    let n = size as usize;
    // Padding is black, i.e. -1 after normalisation.
    let mut out = vec![-1.0f32; n * n * 3];
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (px, py) = (lb.pad_x as usize, lb.pad_y as usize);
    let raw = resized.as_raw();
    for y in 0..h as usize {
        let src = &raw[y * w as usize * 3..(y + 1) * w as usize * 3];
        let dst = &mut out[((y + py) * n + px) * 3..((y + py) * n + px) * 3 + src.len()];
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = f32::from(s) / 127.5 - 1.0;
        }
    }
    (out, lb)
}

/// Decoding and suppression knobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeParams {
    pub min_score: f32,
    /// Overlap above which two boxes are the same face.
    pub nms_iou: f32,
    /// Faces narrower than this (frame pixels) are dropped.
    pub min_face_px: f32,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Decodes raw outputs (`regressors` 16 values per anchor, `scores` one logit per anchor) into
/// detections in frame coordinates, after weighted NMS.
pub fn decode(
    regressors: &[f32],
    scores: &[f32],
    anchors: &[(f32, f32)],
    input_size: u32,
    lb: &Letterbox,
    params: &DecodeParams,
) -> Vec<Detection> {
    #[allow(clippy::cast_precision_loss)]
    let size = input_size as f32;
    let mut candidates = Vec::new();
    for (i, &(ax, ay)) in anchors.iter().enumerate() {
        let Some(&logit) = scores.get(i) else { break };
        // MediaPipe clips raw scores to ±100 before the sigmoid.
        let score = sigmoid(logit.clamp(-100.0, 100.0));
        if score < params.min_score {
            continue;
        }
        let Some(r) = regressors.get(i * 16..i * 16 + 16) else {
            break;
        };
        let cx = r[0] + ax * size;
        let cy = r[1] + ay * size;
        let (w, h) = (r[2], r[3]);
        let p0 = lb.to_frame(Point::new(cx - w / 2.0, cy - h / 2.0));
        let p1 = lb.to_frame(Point::new(cx + w / 2.0, cy + h / 2.0));
        let mut keypoints = [Point::default(); NUM_KEYPOINTS];
        for (k, kp) in keypoints.iter_mut().enumerate() {
            *kp = lb.to_frame(Point::new(
                r[4 + 2 * k] + ax * size,
                r[5 + 2 * k] + ay * size,
            ));
        }
        let det = Detection {
            x0: p0.x,
            y0: p0.y,
            x1: p1.x,
            y1: p1.y,
            score,
            keypoints,
        };
        if det.width() >= params.min_face_px {
            candidates.push(det);
        }
    }
    weighted_nms(candidates, params.nms_iou)
}

/// MediaPipe's weighted NMS: overlapping candidates are merged into a score-weighted average
/// of their boxes and keypoints (steadier than keeping only the best one), best first.
pub fn weighted_nms(mut candidates: Vec<Detection>, iou: f32) -> Vec<Detection> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while !candidates.is_empty() {
        let best = candidates[0].clone();
        let (overlapping, rest): (Vec<_>, Vec<_>) =
            candidates.into_iter().partition(|c| best.iou(c) > iou);
        candidates = rest;
        let total: f32 = overlapping.iter().map(|c| c.score).sum();
        if overlapping.len() <= 1 || total <= 0.0 {
            out.push(best);
            continue;
        }
        let mut merged = best.clone();
        let wavg = |f: &dyn Fn(&Detection) -> f32| -> f32 {
            overlapping.iter().map(|c| f(c) * c.score).sum::<f32>() / total
        };
        merged.x0 = wavg(&|c| c.x0);
        merged.y0 = wavg(&|c| c.y0);
        merged.x1 = wavg(&|c| c.x1);
        merged.y1 = wavg(&|c| c.y1);
        for k in 0..NUM_KEYPOINTS {
            merged.keypoints[k] =
                Point::new(wavg(&|c| c.keypoints[k].x), wavg(&|c| c.keypoints[k].y));
        }
        out.push(merged);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x0: f32, score: f32) -> Detection {
        Detection {
            x0,
            y0: 0.0,
            x1: x0 + 10.0,
            y1: 10.0,
            score,
            keypoints: [Point::new(x0, 0.0); 6],
        }
    }

    #[test]
    fn anchor_counts_match_the_models() {
        assert_eq!(DetectorKind::ShortRange.anchors().len(), 896);
        assert_eq!(DetectorKind::FullRange.anchors().len(), 2304);
        let a = DetectorKind::ShortRange.anchors();
        assert_eq!(a[0], (0.5 / 16.0, 0.5 / 16.0));
        assert_eq!(a[1], a[0]);
        assert_eq!(a[512], (0.5 / 8.0, 0.5 / 8.0));
    }

    #[test]
    fn letterbox_maps_model_pixels_back_to_the_frame() {
        let lb = Letterbox::for_frame(640, 480, 128);
        assert!((lb.scale - 0.2).abs() < 1e-6);
        assert_eq!((lb.pad_x, lb.pad_y), (0.0, 16.0));
        let p = lb.to_frame(Point::new(64.0, 64.0));
        assert!((p.x - 320.0).abs() < 1e-3 && (p.y - 240.0).abs() < 1e-3);
    }

    #[test]
    fn weighted_nms_merges_overlaps_and_keeps_separate_faces() {
        let out = weighted_nms(vec![det(0.0, 0.9), det(1.0, 0.6), det(100.0, 0.7)], 0.3);
        assert_eq!(out.len(), 2);
        assert!(
            (out[0].x0 - 0.4).abs() < 1e-4,
            "score-weighted: {}",
            out[0].x0
        );
        assert_eq!(out[0].score, 0.9);
        assert_eq!(out[1].x0, 100.0);
    }

    #[test]
    fn decode_applies_threshold_anchor_offsets_and_min_size() {
        let anchors = vec![(0.5, 0.5), (0.25, 0.25)];
        let mut reg = vec![0.0; 32];
        reg[2] = 64.0; // w
        reg[3] = 64.0; // h
        reg[4] = -10.0; // keypoint 0 x offset
        reg[16 + 2] = 4.0; // tiny box on the second anchor
        reg[16 + 3] = 4.0;
        let lb = Letterbox::for_frame(256, 256, 128);
        let params = DecodeParams {
            min_score: 0.5,
            nms_iou: 0.3,
            min_face_px: 20.0,
        };
        let out = decode(&reg, &[3.0, 3.0], &anchors, 128, &lb, &params);
        assert_eq!(out.len(), 1, "small face dropped");
        let d = &out[0];
        assert!((d.x0 - 64.0).abs() < 1e-3 && (d.x1 - 192.0).abs() < 1e-3);
        assert!((d.keypoints[0].x - 108.0).abs() < 1e-3);
        let none = decode(&reg, &[-3.0, -3.0], &anchors, 128, &lb, &params);
        assert!(none.is_empty());
    }
}
