//! Vision: detection, alignment, embedding and liveness on TFLite models.
//!
//! The core service only needs to know which embedder produced a template and its dimension,
//! so that templates of two models are never compared; the inference path lives in submodules.

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// `[vision]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct VisionConfig {
    /// Model id of the embedder; stored with every template. Templates of another id are ignored.
    pub embedder: String,
    /// Dimension of the embedder's output; embeddings of another length are rejected.
    pub embedding_dim: usize,
}

impl Default for VisionConfig {
    fn default() -> Self {
        Self {
            embedder: "mobilefacenet".into(),
            embedding_dim: 192,
        }
    }
}

impl VisionConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.embedding_dim == 0 || self.embedding_dim > 4096 {
            return Err(ConfigError::Invalid {
                key: "vision.embedding_dim".into(),
                message: "must be between 1 and 4096".into(),
            });
        }
        if self.embedder.is_empty() || self.embedder.len() > 64 {
            return Err(ConfigError::Invalid {
                key: "vision.embedder".into(),
                message: "must be 1 to 64 characters".into(),
            });
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
    /// Detects exactly one face, checks enrollment quality, aligns and embeds it.
    fn encode_image(&self, image: &[u8]) -> Result<Vec<f32>, ImageRejection>;
}
