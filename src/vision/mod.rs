//! Vision: detection, alignment and embedding on TFLite models.
//!
//! The core service only needs to know which embedder produced a template and its dimension,
//! so that templates of two models are never compared; the inference path lives in submodules:
//!
//! | module | stage |
//! |---|---|
//! | [`runtime`] | LiteRT: load (sha256-checked), shapes, run — the only FFI-facing code |
//! | [`photo`] | JPEG/PNG bytes → upright RGB, with size limits and clear refusals |
//! | [`detect`] | BlazeFace: letterbox, anchors, decoding, weighted NMS |
//! | [`dominant`] | which face of a photo is the subject; refusal when two tie |
//! | [`landmarks`] | 468-point face mesh: pose, optional alignment points |
//! | [`align`] | similarity transform to the 112×112 template, bilinear warp |
//! | [`embed`] | the crop embedders (EdgeFace, MobileFaceNet): files, batches, normalisation, L2 |
//! | [`dlib_chip`] | dlib's 150×150 face chip, reproduced exactly, for its ResNet descriptor |
//! | [`fusion`] | two embedders fused into one unit-length template (`edgeface_xs+dlib`, …) |
//! | [`quality`] | the enrollment gate: size, blur, pose, exposure |
//! | [`engine`] | all of the above behind [`FaceEncoder`], shareable between threads |

pub mod align;
pub mod detect;
pub mod dlib_chip;
pub mod dominant;
pub mod embed;
pub mod engine;
pub mod fusion;
pub mod landmarks;
pub mod photo;
pub mod quality;
pub mod runtime;

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;
pub use align::AlignPoints;
pub use detect::{Detection, DetectorKind};
pub use engine::{Engine, FaceSample, StageTimings};

/// The embedder of a new installation (`vision.embedder`): EdgeFace-XS alone, chosen by
/// measurement (docs/decisions/0204-edgeface.md).
pub const DEFAULT_EMBEDDER: &str = engine::EDGEFACE_XS;

/// `[vision]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct VisionConfig {
    /// Model id of the embedder; stored with every template. Templates of another id are ignored.
    /// `edgeface_xs` (default, 512-d), `edgeface_xxs` (512-d, cheaper), `edgeface_xs+dlib`
    /// (640-d), `edgeface_xs+mobilefacenet` (704-d), `mobilefacenet+dlib` (320-d, the default
    /// before decision 0204), `mobilefacenet` (192-d). EdgeFace was trained on research-licensed
    /// data: models/MODELS.md says what a site must check.
    pub embedder: String,
    /// Dimension of the embedder's output; embeddings of another length are rejected.
    pub embedding_dim: usize,
    /// Directory with the `.tflite` files and their `SHA256SUMS` manifest; relative paths are
    /// resolved against the working directory (the unit sets it).
    pub model_dir: PathBuf,
    /// `short_range` (faces within ~2 m, 128² input) or `full_range` (~5 m, 192² input).
    pub detector: DetectorKind,
    /// Detector confidence below which a candidate is not a face.
    pub min_detection_score: f32,
    /// Faces narrower than this many frame pixels are ignored (too far away to recognise).
    pub min_face_px: f32,
    /// Which points drive alignment: `detector` (BlazeFace's 4), `mesh` (face mesh's 5), `eyes`.
    pub align: AlignPoints,
    /// Embed each face together with its mirror image and average. Unset (the default), it is on
    /// where it is free — a model whose batch is two (MobileFaceNet) — and off where it would
    /// cost a second invoke for no measured gain (EdgeFace, decision 0204); see
    /// [`VisionConfig::flip_test_for`].
    pub flip_test: Option<bool>,
    /// Largest accepted photo, bytes.
    pub max_photo_bytes: usize,
    /// Longest accepted photo side, pixels.
    pub max_photo_side: u32,
    /// Enrollment: narrowest accepted face, photo pixels.
    pub quality_min_face_px: f32,
    /// Enrollment: lowest accepted sharpness (variance of the Laplacian of the aligned face).
    pub quality_min_sharpness: f32,
    /// Enrollment: largest accepted head turn, degrees.
    pub quality_max_yaw_deg: f32,
    /// Enrollment: largest accepted head tilt up/down, degrees.
    pub quality_max_pitch_deg: f32,
    /// Enrollment: lowest accepted 95th-percentile luma (0–255) of the face; below it the
    /// photo is under-exposed. Not the mean, which would depend on skin tone.
    pub quality_min_highlight: f32,
    /// Enrollment: highest accepted fraction of burnt-out (luma ≥ 250) face pixels.
    pub quality_max_clipped: f32,
}

impl VisionConfig {
    /// Whether faces are embedded with their mirror image by `net`: as configured, else only
    /// where it costs no second invoke.
    pub fn flip_test_for(&self, net: embed::CropNet) -> bool {
        self.flip_test.unwrap_or(net.batch() == 2)
    }
}

impl Default for VisionConfig {
    fn default() -> Self {
        Self {
            embedder: DEFAULT_EMBEDDER.into(),
            embedding_dim: engine::embedder_spec(DEFAULT_EMBEDDER).map_or(0, |e| e.dim),
            model_dir: PathBuf::from("models"),
            detector: DetectorKind::ShortRange,
            min_detection_score: 0.5,
            min_face_px: 40.0,
            align: AlignPoints::Mesh,
            flip_test: None,
            max_photo_bytes: 8 * 1024 * 1024,
            max_photo_side: 4096,
            quality_min_face_px: 80.0,
            quality_min_sharpness: 15.0,
            quality_max_yaw_deg: 30.0,
            quality_max_pitch_deg: 35.0,
            quality_min_highlight: 40.0,
            quality_max_clipped: 0.25,
        }
    }
}

fn invalid(key: &str, message: &str) -> ConfigError {
    ConfigError::Invalid {
        key: format!("vision.{key}"),
        message: message.into(),
    }
}

impl VisionConfig {
    /// The enrolment quality limits these settings give.
    pub fn quality_limits(&self) -> quality::QualityLimits {
        quality::QualityLimits {
            min_face_px: self.quality_min_face_px,
            min_sharpness: self.quality_min_sharpness,
            max_yaw_deg: self.quality_max_yaw_deg,
            max_pitch_deg: self.quality_max_pitch_deg,
            min_highlight: self.quality_min_highlight,
            max_clipped: self.quality_max_clipped,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.embedding_dim == 0 || self.embedding_dim > 4096 {
            return Err(invalid("embedding_dim", "must be between 1 and 4096"));
        }
        if self.embedder.is_empty() || self.embedder.len() > 64 {
            return Err(invalid("embedder", "must be 1 to 64 characters"));
        }
        if !(0.0..1.0).contains(&self.min_detection_score) {
            return Err(invalid("min_detection_score", "must be in [0, 1)"));
        }
        if !(1.0..).contains(&self.min_face_px) {
            return Err(invalid("min_face_px", "must be at least 1"));
        }
        if self.max_photo_bytes < 1024 {
            return Err(invalid("max_photo_bytes", "must be at least 1024"));
        }
        if !(64..=16384).contains(&self.max_photo_side) {
            return Err(invalid("max_photo_side", "must be between 64 and 16384"));
        }
        if !(1.0..).contains(&self.quality_min_face_px) {
            return Err(invalid("quality_min_face_px", "must be at least 1"));
        }
        if !(0.0..).contains(&self.quality_min_sharpness) {
            return Err(invalid("quality_min_sharpness", "must not be negative"));
        }
        for (key, v) in [
            ("quality_max_yaw_deg", self.quality_max_yaw_deg),
            ("quality_max_pitch_deg", self.quality_max_pitch_deg),
        ] {
            if !(0.0..=90.0).contains(&v) {
                return Err(invalid(key, "must be between 0 and 90 degrees"));
            }
        }
        if !(0.0..=255.0).contains(&self.quality_min_highlight) {
            return Err(invalid(
                "quality_min_highlight",
                "must be between 0 and 255",
            ));
        }
        if !(0.0..=1.0).contains(&self.quality_max_clipped) {
            return Err(invalid(
                "quality_max_clipped",
                "must be a fraction between 0 and 1",
            ));
        }
        Ok(())
    }
}

/// Why an image could not give an embedding; `code` is machine-readable (`not_an_image`,
/// `no_face`, `several_faces`, `too_large`, `quality`, …) and `detail` says by how much.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct ImageRejection {
    pub code: &'static str,
    pub detail: String,
}

/// Turns a photo (JPEG/PNG bytes) into an L2-normalised embedding of `model_id()`.
///
/// The API depends on this trait, not on the inference runtime, so the core service runs and is
/// tested without models and the vision path can be swapped per board.
pub trait FaceEncoder: Send + Sync {
    /// The embedder's model id, stored with every template.
    fn model_id(&self) -> &str;
    /// Finds the dominant face (refusing two equally prominent ones), checks enrollment quality, aligns and embeds it.
    fn encode_image(&self, image: &[u8]) -> Result<Vec<f32>, ImageRejection>;
}

/// Loads the models of `cfg` (sha256-checked) and returns the encoder the API uses.
pub fn load_encoder(cfg: &VisionConfig) -> anyhow::Result<Arc<dyn FaceEncoder>> {
    Ok(Arc::new(Engine::load(cfg)?))
}

#[cfg(test)]
mod flip_test_tests {
    use super::embed::CropNet;
    use super::VisionConfig;

    /// Unset, the flip-test runs only where it is free (a batch of two); set, it is forced.
    #[test]
    fn flip_test_is_on_only_where_it_costs_no_second_invoke() {
        let unset = VisionConfig::default();
        assert!(unset.flip_test_for(CropNet::MobileFaceNet));
        assert!(!unset.flip_test_for(CropNet::EdgeFaceXs));
        assert!(!unset.flip_test_for(CropNet::EdgeFaceXxs));
        let forced = VisionConfig {
            flip_test: Some(true),
            ..VisionConfig::default()
        };
        assert!(forced.flip_test_for(CropNet::EdgeFaceXs));
        let off = VisionConfig {
            flip_test: Some(false),
            ..VisionConfig::default()
        };
        assert!(!off.flip_test_for(CropNet::MobileFaceNet));
    }
}
