//! The seam between the door loop and the models: what the loop asks of a face analyser.
//!
//! Why a trait: the loop's rules (tracks, who acts, two people, timeouts, cooldown) must be
//! unit-tested frame by frame on a paused clock, without 100 MB of models and without waiting
//! for inference. [`crate::vision::Engine`] implements it with the real models; the loop tests
//! script it. The split into `detect` (every frame, whole image) and `analyse` (per face the
//! loop chose) is what lets the loop analyse only the faces that can act.

use std::time::{Duration, Instant};

use image::RgbImage;

use crate::vision::detect::Detection;
use crate::vision::landmarks::Mesh;
use crate::vision::quality::{self, QualityLimits, QualityReport};
use crate::vision::Engine;

/// What one face yields: the mesh, the embedding and the measured quality, with stage times.
#[derive(Debug, Clone)]
pub struct AnalysedFace {
    pub mesh: Mesh,
    /// L2-normalised embedding. Biometric data: never log it.
    pub embedding: Vec<f32>,
    pub quality: QualityReport,
    pub landmarks_time: Duration,
    pub align_time: Duration,
    pub embed_time: Duration,
}

/// Detection and per-face analysis, as the door loop uses them. (Liveness needs no model of
/// its own: it reads the mesh and embedding of each analysed frame, see `src/liveness/`.)
pub trait FaceAnalyser: Send + Sync {
    /// Every face in the frame of at least `vision.min_face_px`, in frame pixels.
    fn detect(&self, frame: &RgbImage) -> anyhow::Result<Vec<Detection>>;

    /// Mesh, aligned embedding and quality of one detected face; `Ok(None)` when the face
    /// cannot be aligned (degenerate keypoints).
    fn analyse(&self, frame: &RgbImage, face: &Detection) -> anyhow::Result<Option<AnalysedFace>>;

    /// The quality limits that weigh a track's frames when they are aggregated.
    fn quality_limits(&self) -> QualityLimits {
        crate::vision::VisionConfig::default().quality_limits()
    }
}

impl FaceAnalyser for Engine {
    fn detect(&self, frame: &RgbImage) -> anyhow::Result<Vec<Detection>> {
        Engine::detect(self, frame)
    }

    fn quality_limits(&self) -> QualityLimits {
        Engine::quality_limits(self)
    }

    fn analyse(&self, frame: &RgbImage, face: &Detection) -> anyhow::Result<Option<AnalysedFace>> {
        let start = Instant::now();
        let mesh = self.mesh(frame, face)?;
        let landmarks_time = start.elapsed();
        let start = Instant::now();
        let Some(aligned) = self.align(frame, face, Some(&mesh), self.config().align) else {
            return Ok(None);
        };
        let align_time = start.elapsed();
        let start = Instant::now();
        let Some(embedding) = self.embed_face(frame, &mesh, &aligned)? else {
            return Ok(None);
        };
        let embed_time = start.elapsed();
        let (highlight, clipped) = quality::exposure(&aligned);
        let quality = QualityReport {
            face_px: face.width(),
            sharpness: quality::sharpness(&aligned),
            yaw_deg: mesh.yaw_deg(),
            pitch_deg: mesh.pitch_deg(),
            highlight,
            clipped,
        };
        Ok(Some(AnalysedFace {
            mesh,
            embedding,
            quality,
            landmarks_time,
            align_time,
            embed_time,
        }))
    }
}
