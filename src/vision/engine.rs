//! The vision pipeline behind [`FaceEncoder`]: photo → detect → mesh → align → embed, plus
//! whole-frame detection for the door loop.
//!
//! Each model sits behind its own `Mutex`, so several API requests (or the door loop and an
//! enrollment) run different stages at the same time while one model never runs twice at once.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use image::RgbImage;
use serde::Serialize;

use super::align::{self, AlignPoints, Point, TEMPLATE_5, TEMPLATE_MOUTH_CENTRE};
use super::detect::{self, DecodeParams, Detection, DetectorKind};
use super::dlib_chip;
use super::dominant;
use super::embed;
use super::fusion;
use super::landmarks::{self, Mesh};
use super::photo::{self, PhotoLimits};
use super::quality::{self, QualityLimits, QualityReport};
use super::runtime::Model;
use super::{FaceEncoder, ImageRejection, VisionConfig};

/// An embedder this build knows: its model id (stored with every template) and what it runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmbedderSpec {
    pub id: &'static str,
    /// Length of the template.
    pub dim: usize,
    /// Whether dlib's ResNet descriptor is fused in (see [`fusion`]).
    pub dlib: bool,
}

/// Embedder model ids this build knows.
pub const EMBEDDERS: &[EmbedderSpec] = &[
    EmbedderSpec {
        id: "mobilefacenet",
        dim: fusion::MFN_DIM,
        dlib: false,
    },
    EmbedderSpec {
        id: fusion::FUSED_ID,
        dim: fusion::FUSED_DIM,
        dlib: true,
    },
];

const MFN_FILE: &str = "MobileFaceNet.tflite";
const DLIB_FILE: &str = "dlib_resnet_v1.tflite";

/// Where the time of one photo went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StageTimings {
    pub decode: Duration,
    pub detect: Duration,
    pub landmarks: Duration,
    pub align: Duration,
    pub embed: Duration,
}

impl StageTimings {
    pub fn total(&self) -> Duration {
        self.decode + self.detect + self.landmarks + self.align + self.embed
    }
}

/// Everything learned from one photo of one face.
#[derive(Debug, Clone)]
pub struct FaceSample {
    pub embedding: Vec<f32>,
    pub detection: Detection,
    pub quality: QualityReport,
    pub timings: StageTimings,
}

/// The loaded models and settings.
pub struct Engine {
    cfg: VisionConfig,
    model_id: String,
    detector_kind: DetectorKind,
    anchors: Vec<(f32, f32)>,
    detector: Mutex<Model>,
    mesh: Mutex<Model>,
    embedder: Mutex<Model>,
    /// dlib's descriptor, loaded only for the fused embedder.
    dlib: Option<Mutex<Model>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("model_id", &self.model_id)
            .finish_non_exhaustive()
    }
}

fn lock(m: &Mutex<Model>) -> MutexGuard<'_, Model> {
    // A panic inside a run leaves the buffers in a consistent state (they are fully rewritten
    // by the next run), so a poisoned lock is safe to reuse.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn internal(e: &anyhow::Error) -> ImageRejection {
    log::error!("vision pipeline failed: {e:#}");
    ImageRejection {
        code: "internal",
        detail: "the vision pipeline failed; see the log".into(),
    }
}

/// The face's points do not span a face (alignment or dlib's chip cannot be fitted).
fn degenerate() -> ImageRejection {
    ImageRejection {
        code: "no_face",
        detail: "the face's keypoints are degenerate".into(),
    }
}

impl Engine {
    /// Loads and checks all models of `cfg`.
    pub fn load(cfg: &VisionConfig) -> anyhow::Result<Self> {
        cfg.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
        let Some(&EmbedderSpec { id, dim, dlib }) = EMBEDDERS.iter().find(|e| e.id == cfg.embedder)
        else {
            bail!(
                "vision.embedder = {:?} is unknown; this build knows: {}",
                cfg.embedder,
                EMBEDDERS
                    .iter()
                    .map(|e| e.id)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        if dim != cfg.embedding_dim {
            bail!(
                "vision.embedding_dim = {} but {id} produces {dim}-d embeddings",
                cfg.embedding_dim
            );
        }
        let dir = &cfg.model_dir;
        let load = |f: &str| {
            Model::load(&dir.join(f)).with_context(|| format!("loading {f} from {}", dir.display()))
        };
        let kind = cfg.detector;
        let n = kind.input_size() as usize;
        let detector = load(kind.model_file())?;
        detector.expect_input(0, &[1, n, n, 3])?;
        let mesh = load("face_landmark.tflite")?;
        let m = landmarks::INPUT_SIZE as usize;
        mesh.expect_input(0, &[1, m, m, 3])?;
        let embedder = load(MFN_FILE)?;
        let e = embed::INPUT_SIZE as usize;
        embedder.expect_input(0, &[2, e, e, 3])?;
        embedder.expect_output(0, &[2, fusion::MFN_DIM])?;
        let dlib = if dlib {
            let m = load(DLIB_FILE)?;
            let c = dlib_chip::CHIP_SIZE as usize;
            m.expect_input(0, &[1, c, c, 3])?;
            m.expect_output(0, &[1, fusion::DLIB_DIM])?;
            Some(Mutex::new(m))
        } else {
            None
        };
        Ok(Self {
            cfg: cfg.clone(),
            model_id: id.to_owned(),
            detector_kind: kind,
            anchors: kind.anchors(),
            detector: Mutex::new(detector),
            mesh: Mutex::new(mesh),
            embedder: Mutex::new(embedder),
            dlib,
        })
    }

    pub fn config(&self) -> &VisionConfig {
        &self.cfg
    }

    /// All faces in a frame, best first, in frame pixel coordinates.
    pub fn detect(&self, frame: &RgbImage) -> anyhow::Result<Vec<Detection>> {
        let size = self.detector_kind.input_size();
        let (input, lb) = detect::preprocess(frame, size);
        let outputs = lock(&self.detector).run(&[&input])?;
        let n = self.anchors.len();
        let reg = outputs.iter().find(|o| o.len() == n * 16);
        let scores = outputs.iter().find(|o| o.len() == n);
        let (Some(reg), Some(scores)) = (reg, scores) else {
            bail!("detector outputs have unexpected sizes");
        };
        let params = DecodeParams {
            min_score: self.cfg.min_detection_score,
            nms_iou: 0.3,
            min_face_px: self.cfg.min_face_px,
        };
        Ok(detect::decode(
            reg,
            scores,
            &self.anchors,
            size,
            &lb,
            &params,
        ))
    }

    /// The face mesh of a detected face.
    pub fn mesh(&self, frame: &RgbImage, det: &Detection) -> anyhow::Result<Mesh> {
        let (input, t) = landmarks::preprocess(frame, det);
        let outputs = lock(&self.mesh).run(&[&input])?;
        landmarks::decode(&outputs, &t).context("face mesh outputs have unexpected sizes")
    }

    /// The 112×112 aligned crop of a face, with the configured alignment points. `mesh` is only
    /// needed for [`AlignPoints::Mesh`].
    pub fn align(
        &self,
        frame: &RgbImage,
        det: &Detection,
        mesh: Option<&Mesh>,
        how: AlignPoints,
    ) -> Option<RgbImage> {
        let k = &det.keypoints;
        match (how, mesh) {
            (AlignPoints::Mesh, Some(mesh)) => {
                align::align(frame, &mesh.five_points(), &TEMPLATE_5)
            }
            (AlignPoints::Eyes, _) => align::align(frame, &k[..2], &TEMPLATE_5[..2]),
            _ => align::align(
                frame,
                &[k[0], k[1], k[2], k[3]],
                &[
                    TEMPLATE_5[0],
                    TEMPLATE_5[1],
                    TEMPLATE_5[2],
                    TEMPLATE_MOUTH_CENTRE,
                ],
            ),
        }
    }

    /// The template of a face: MobileFaceNet on the aligned 112×112 crop (with the flip-test
    /// when configured) and, for the fused embedder, dlib's descriptor on its own 150×150 chip,
    /// combined by [`fusion::fuse`]. `Ok(None)` when the dlib chip cannot be cut (degenerate
    /// points).
    pub fn embed_face(
        &self,
        frame: &RgbImage,
        mesh: &Mesh,
        aligned: &RgbImage,
    ) -> anyhow::Result<Option<Vec<f32>>> {
        let mfn = self.embed(aligned)?;
        let Some(dlib) = &self.dlib else {
            return Ok(Some(mfn));
        };
        let Some(chip) = dlib_chip::extract(frame, &dlib_chip::five_points(mesh)) else {
            return Ok(None);
        };
        let out = lock(dlib).run(&[&dlib_chip::to_input(&chip)])?;
        let Some(d) = out.first().filter(|o| o.len() == fusion::DLIB_DIM) else {
            bail!("dlib descriptor output has an unexpected size");
        };
        Ok(Some(fusion::fuse(&mfn, d)))
    }

    /// Whether templates carry more than one embedder (see [`fusion`]).
    pub fn is_fused(&self) -> bool {
        self.dlib.is_some()
    }

    /// Embeds two aligned faces with MobileFaceNet in one invoke; each result is L2-normalised.
    pub fn embed_two(&self, a: &RgbImage, b: &RgbImage) -> anyhow::Result<(Vec<f32>, Vec<f32>)> {
        let mut input = Vec::with_capacity(2 * 112 * 112 * 3);
        embed::push_normalised(a, &mut input);
        embed::push_normalised(b, &mut input);
        let out = lock(&self.embedder).run(&[&input])?;
        let dim = fusion::MFN_DIM;
        let Some(raw) = out.first().filter(|o| o.len() == 2 * dim) else {
            bail!("embedder output has an unexpected size");
        };
        let (mut ea, mut eb) = (raw[..dim].to_vec(), raw[dim..].to_vec());
        embed::l2_normalise(&mut ea);
        embed::l2_normalise(&mut eb);
        Ok((ea, eb))
    }

    /// Embeds one aligned face: with the flip-test (face + mirror, summed) when configured,
    /// else the face alone (the second batch slot is a copy and its result is discarded).
    pub fn embed(&self, aligned: &RgbImage) -> anyhow::Result<Vec<f32>> {
        self.embed_with(aligned, self.cfg.flip_test)
    }

    pub fn embed_with(&self, aligned: &RgbImage, flip_test: bool) -> anyhow::Result<Vec<f32>> {
        if flip_test {
            let (mut a, b) = self.embed_two(aligned, &align::mirror(aligned))?;
            a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
            embed::l2_normalise(&mut a);
            Ok(a)
        } else {
            Ok(self.embed_two(aligned, aligned)?.0)
        }
    }

    /// Finds the subject's face in a photo: the dominant one (see [`dominant`]). Faces
    /// clearly less prominent than it (background people) are ignored; two about equally
    /// prominent faces are refused as `several_faces`, naming both boxes, because whose face to
    /// enrol or identify would be a guess.
    pub fn single_face(&self, frame: &RgbImage) -> Result<Detection, ImageRejection> {
        let faces = self.detect(frame).map_err(|e| internal(&e))?;
        dominant::dominant_face(faces, frame.width(), frame.height())?.ok_or_else(|| {
            ImageRejection {
                code: "no_face",
                detail: format!(
                    "no face of at least {:.0} px was found in the {}×{} image",
                    self.cfg.min_face_px,
                    frame.width(),
                    frame.height()
                ),
            }
        })
    }

    /// The whole path for one photo, without the quality gate (which [`FaceEncoder`] applies):
    /// the caller sees the measured quality and the stage timings.
    pub fn analyze_photo(&self, bytes: &[u8]) -> Result<FaceSample, ImageRejection> {
        let mut t = StageTimings::default();
        let start = Instant::now();
        let limits = PhotoLimits {
            max_bytes: self.cfg.max_photo_bytes,
            max_side: self.cfg.max_photo_side,
            ..PhotoLimits::default()
        };
        let frame = photo::decode(bytes, &limits)?;
        t.decode = start.elapsed();
        self.analyze_frame(&frame, t)
    }

    /// As [`Self::analyze_photo`] on an already decoded image.
    pub fn analyze_frame(
        &self,
        frame: &RgbImage,
        mut t: StageTimings,
    ) -> Result<FaceSample, ImageRejection> {
        let start = Instant::now();
        let det = self.single_face(frame)?;
        t.detect = start.elapsed();
        let start = Instant::now();
        let mesh = self.mesh(frame, &det).map_err(|e| internal(&e))?;
        t.landmarks = start.elapsed();
        let start = Instant::now();
        let aligned = self
            .align(frame, &det, Some(&mesh), self.cfg.align)
            .ok_or_else(degenerate)?;
        t.align = start.elapsed();
        let start = Instant::now();
        let embedding = self
            .embed_face(frame, &mesh, &aligned)
            .map_err(|e| internal(&e))?
            .ok_or_else(degenerate)?;
        t.embed = start.elapsed();
        let (highlight, clipped) = quality::exposure(&aligned);
        let quality = QualityReport {
            face_px: det.width(),
            sharpness: quality::sharpness(&aligned),
            yaw_deg: mesh.yaw_deg(),
            pitch_deg: mesh.pitch_deg(),
            highlight,
            clipped,
        };
        Ok(FaceSample {
            embedding,
            detection: det,
            quality,
            timings: t,
        })
    }

    pub fn quality_limits(&self) -> QualityLimits {
        self.cfg.quality_limits()
    }

    /// [`Self::analyze_photo`] plus the enrollment quality gate.
    pub fn enroll_sample(&self, bytes: &[u8]) -> Result<FaceSample, ImageRejection> {
        let sample = self.analyze_photo(bytes)?;
        quality::check(&sample.quality, &self.quality_limits()).map_err(|(check, detail)| {
            ImageRejection {
                code: "quality",
                detail: format!("{check}: {detail}"),
            }
        })?;
        Ok(sample)
    }
}

impl FaceEncoder for Engine {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn encode_image(&self, image: &[u8]) -> Result<Vec<f32>, ImageRejection> {
        self.enroll_sample(image).map(|s| s.embedding)
    }
}

/// Points of a detection as used for alignment, for tools that compare variants.
pub fn detector_points(det: &Detection) -> [Point; 4] {
    [
        det.keypoints[0],
        det.keypoints[1],
        det.keypoints[2],
        det.keypoints[3],
    ]
}
