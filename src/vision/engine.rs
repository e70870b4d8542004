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
use super::embed::{self, CropNet};
use super::fusion::{self, Fusion, Partner};
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
    /// The embedder of the aligned crop; alone, or the first part of a fused template.
    pub net: CropNet,
    /// The second embedder fused in, if any (see [`fusion`]).
    pub fusion: Option<Fusion>,
}

impl EmbedderSpec {
    const fn single(id: &'static str, net: CropNet) -> Self {
        Self {
            id,
            dim: net.dim(),
            net,
            fusion: None,
        }
    }

    const fn fused(id: &'static str, f: Fusion) -> Self {
        Self {
            id,
            dim: f.dim(),
            net: f.primary,
            fusion: Some(f),
        }
    }
}

/// Model id of EdgeFace-XS alone.
pub const EDGEFACE_XS: &str = "edgeface_xs";

/// Embedder model ids this build knows. Every id is stored with its templates, so switching
/// `vision.embedder` leaves the old templates unsearched (and `check-config` warns about them)
/// instead of comparing vectors of two models.
pub const EMBEDDERS: &[EmbedderSpec] = &[
    EmbedderSpec::single(EDGEFACE_XS, CropNet::EdgeFaceXs),
    EmbedderSpec::single("edgeface_xxs", CropNet::EdgeFaceXxs),
    EmbedderSpec::fused("edgeface_xs+dlib", fusion::XS_DLIB),
    EmbedderSpec::fused("edgeface_xs+mobilefacenet", fusion::XS_MFN),
    EmbedderSpec::single("mobilefacenet", CropNet::MobileFaceNet),
    EmbedderSpec::fused("mobilefacenet+dlib", fusion::MFN_DLIB),
];

/// The embedder of `id`, if this build knows it.
pub fn embedder_spec(id: &str) -> Option<&'static EmbedderSpec> {
    EMBEDDERS.iter().find(|e| e.id == id)
}

const DLIB_FILE: &str = "dlib_resnet_v1.tflite";

/// A crop embedder with its loaded model.
struct CropModel {
    net: CropNet,
    model: Mutex<Model>,
}

/// The second embedder of a fused template, loaded.
enum PartnerModel {
    Dlib(Mutex<Model>),
    Crop(CropModel),
}

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
    embedder: CropModel,
    /// The fused embedder's second part and how the two are combined.
    partner: Option<(Fusion, PartnerModel)>,
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
        let Some(spec) = embedder_spec(&cfg.embedder) else {
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
        let (id, dim) = (spec.id, spec.dim);
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
        let load_crop = |net: CropNet| -> anyhow::Result<CropModel> {
            let m = load(net.file())?;
            let e = embed::INPUT_SIZE as usize;
            m.expect_input(0, &[net.batch(), e, e, 3])?;
            m.expect_output(0, &[net.batch(), net.dim()])?;
            Ok(CropModel {
                net,
                model: Mutex::new(m),
            })
        };
        let kind = cfg.detector;
        let n = kind.input_size() as usize;
        let detector = load(kind.model_file())?;
        detector.expect_input(0, &[1, n, n, 3])?;
        let mesh = load("face_landmark.tflite")?;
        let m = landmarks::INPUT_SIZE as usize;
        mesh.expect_input(0, &[1, m, m, 3])?;
        let embedder = load_crop(spec.net)?;
        let partner = match spec.fusion {
            None => None,
            Some(f) => Some((
                f,
                match f.partner {
                    Partner::Dlib => {
                        let m = load(DLIB_FILE)?;
                        let c = dlib_chip::CHIP_SIZE as usize;
                        m.expect_input(0, &[1, c, c, 3])?;
                        m.expect_output(0, &[1, fusion::DLIB_DIM])?;
                        PartnerModel::Dlib(Mutex::new(m))
                    }
                    Partner::Crop(net) => PartnerModel::Crop(load_crop(net)?),
                },
            )),
        };
        Ok(Self {
            cfg: cfg.clone(),
            model_id: id.to_owned(),
            detector_kind: kind,
            anchors: kind.anchors(),
            detector: Mutex::new(detector),
            mesh: Mutex::new(mesh),
            embedder,
            partner,
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

    /// The template of a face: the primary embedder on the aligned 112×112 crop (with the
    /// flip-test when configured) and, for a fused embedder, the partner — dlib's descriptor on
    /// its own 150×150 chip, or a second crop embedder on the same crop — combined by
    /// [`Fusion::fuse`]. `Ok(None)` when the dlib chip cannot be cut (degenerate points).
    pub fn embed_face(
        &self,
        frame: &RgbImage,
        mesh: &Mesh,
        aligned: &RgbImage,
    ) -> anyhow::Result<Option<Vec<f32>>> {
        let primary = self.embed(aligned)?;
        let Some((fusion, partner)) = &self.partner else {
            return Ok(Some(primary));
        };
        let second = match partner {
            PartnerModel::Dlib(dlib) => {
                let Some(chip) = dlib_chip::extract(frame, &dlib_chip::five_points(mesh)) else {
                    return Ok(None);
                };
                let out = lock(dlib).run(&[&dlib_chip::to_input(&chip)])?;
                let Some(d) = out
                    .into_iter()
                    .next()
                    .filter(|o| o.len() == fusion::DLIB_DIM)
                else {
                    bail!("dlib descriptor output has an unexpected size");
                };
                d
            }
            PartnerModel::Crop(m) => crop_embed(m, aligned, self.cfg.flip_test_for(m.net))?,
        };
        Ok(Some(fusion.fuse(&primary, &second)))
    }

    /// The fusion of the configured embedder, if it is fused (see [`fusion`]).
    pub fn fusion(&self) -> Option<Fusion> {
        self.partner.as_ref().map(|(f, _)| *f)
    }

    /// Whether templates carry more than one embedder (see [`fusion`]).
    pub fn is_fused(&self) -> bool {
        self.partner.is_some()
    }

    /// The crop embedder whose embedding [`Self::embed`] returns (alone, or the first part of
    /// a fused template).
    pub fn primary_net(&self) -> CropNet {
        self.embedder.net
    }

    /// Embeds two aligned faces with the primary embedder (one invoke for a batch of two, two
    /// for a batch of one); each result is L2-normalised.
    pub fn embed_two(&self, a: &RgbImage, b: &RgbImage) -> anyhow::Result<(Vec<f32>, Vec<f32>)> {
        crop_embed_two(&self.embedder, a, b)
    }

    /// Embeds one aligned face with the primary embedder: with the flip-test (face + mirror,
    /// summed) where [`VisionConfig::flip_test_for`] says so, else the face alone.
    pub fn embed(&self, aligned: &RgbImage) -> anyhow::Result<Vec<f32>> {
        self.embed_with(aligned, self.cfg.flip_test_for(self.embedder.net))
    }

    pub fn embed_with(&self, aligned: &RgbImage, flip_test: bool) -> anyhow::Result<Vec<f32>> {
        crop_embed(&self.embedder, aligned, flip_test)
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

/// Runs a crop embedder on `faces` (as many as its batch) and returns each row,
/// L2-normalised.
fn crop_run(m: &CropModel, faces: &[&RgbImage]) -> anyhow::Result<Vec<Vec<f32>>> {
    let (batch, dim) = (m.net.batch(), m.net.dim());
    debug_assert_eq!(faces.len(), batch);
    let e = embed::INPUT_SIZE as usize;
    let mut input = Vec::with_capacity(batch * e * e * 3);
    for f in faces {
        m.net.push_normalised(f, &mut input);
    }
    let out = lock(&m.model).run(&[&input])?;
    let Some(raw) = out.first().filter(|o| o.len() == batch * dim) else {
        bail!("{} output has an unexpected size", m.net.name());
    };
    Ok(raw
        .chunks_exact(dim)
        .map(|row| {
            let mut v = row.to_vec();
            embed::l2_normalise(&mut v);
            v
        })
        .collect())
}

/// Two faces through a crop embedder: one invoke when its batch is two, else two invokes.
fn crop_embed_two(
    m: &CropModel,
    a: &RgbImage,
    b: &RgbImage,
) -> anyhow::Result<(Vec<f32>, Vec<f32>)> {
    if m.net.batch() == 2 {
        let mut rows = crop_run(m, &[a, b])?.into_iter();
        let (Some(ea), Some(eb)) = (rows.next(), rows.next()) else {
            bail!("{} returned fewer than two rows", m.net.name());
        };
        Ok((ea, eb))
    } else {
        let ea = crop_run(m, &[a])?.swap_remove(0);
        let eb = crop_run(m, &[b])?.swap_remove(0);
        Ok((ea, eb))
    }
}

/// One aligned face through a crop embedder, with the flip-test (the normalised sum of the
/// face's and its mirror image's embeddings) when asked. Without it, a batch-of-two model gets
/// the face in both slots and its second row is discarded.
fn crop_embed(m: &CropModel, aligned: &RgbImage, flip_test: bool) -> anyhow::Result<Vec<f32>> {
    if flip_test {
        let (mut a, b) = crop_embed_two(m, aligned, &align::mirror(aligned))?;
        a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
        embed::l2_normalise(&mut a);
        Ok(a)
    } else if m.net.batch() == 2 {
        Ok(crop_run(m, &[aligned, aligned])?.swap_remove(0))
    } else {
        Ok(crop_run(m, &[aligned])?.swap_remove(0))
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
