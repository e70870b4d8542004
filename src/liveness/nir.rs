//! The near-infrared cross-check of `liveness.mode = "strict"`: the face the colour camera sees
//! must also be seen, at the same place and size, by the infrared half of a binocular module in
//! the same moment.
//!
//! Why it works: under the module's 850/940 nm illumination skin reflects and a face shows as
//! one, but an LCD or OLED screen emits no near infrared and its polariser passes little of the
//! illuminator's light back, so a replayed face on a phone or tablet is a dark rectangle in the
//! infrared frame. (A printed photo does show in near infrared; the challenge, which a tilted
//! print cannot answer, covers prints.) Commercial readers with binocular modules make the same
//! check; it adds one face detection per analysed frame of the challenged track.
//!
//! Where "the same place" is judged: in coordinates relative to each frame's size, so the two
//! sensors may differ in resolution, with an overlap (`liveness.nir_min_iou`) below 1 for the
//! parallax between the two lenses. A face elsewhere in the infrared frame (the attacker holding
//! the phone) is not the presented face.

use std::time::Duration;

use serde::Serialize;

use crate::vision::detect::Detection;

use super::config::LivenessConfig;

/// What one infrared frame says about the presented face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Finding {
    /// A face overlaps the colour frame's face by `iou` (≥ `liveness.nir_min_iou`).
    Face { iou: f32 },
    /// No face there; `best_iou` is the largest overlap of any infrared face (0 with none).
    NoFace { best_iou: f32 },
}

/// The box of `d` as fractions of its frame's width and height (keypoints left as they are:
/// only the box is compared).
fn relative(d: &Detection, width: u32, height: u32) -> Detection {
    let (w, h) = (width.max(1) as f32, height.max(1) as f32);
    Detection {
        x0: d.x0 / w,
        y0: d.y0 / h,
        x1: d.x1 / w,
        y1: d.y1 / h,
        ..d.clone()
    }
}

/// Judges one infrared frame (`ir`, of `ir_size`) against the colour frame's face `colour`
/// (of `colour_size`).
pub fn judge(
    colour: &Detection,
    colour_size: (u32, u32),
    ir: &[Detection],
    ir_size: (u32, u32),
    min_iou: f32,
) -> Finding {
    let presented = relative(colour, colour_size.0, colour_size.1);
    let best_iou = ir
        .iter()
        .map(|d| presented.iou(&relative(d, ir_size.0, ir_size.1)))
        .fold(0.0_f32, f32::max);
    if best_iou >= min_iou {
        Finding::Face { iou: best_iou }
    } else {
        Finding::NoFace { best_iou }
    }
}

/// Whether an infrared frame taken at `ir_at` shows the moment of the colour frame at
/// `colour_at` (both CLOCK_MONOTONIC, as V4L2 stamps them).
pub fn same_moment(colour_at: Duration, ir_at: Duration, cfg: &LivenessConfig) -> bool {
    colour_at.abs_diff(ir_at) <= Duration::from_millis(cfg.nir_max_skew_ms)
}

/// What the infrared frame `ir` says about the face `presented` of a colour frame of `size`
/// taken at `colour_at`; `Ok(None)` when `ir` shows another moment. `detect` is the door's face
/// detector (the same model finds faces in near infrared: a face there is a face).
pub fn examine(
    ir: &crate::camera::Frame,
    colour_at: Duration,
    (presented, size): (&Detection, (u32, u32)),
    cfg: &LivenessConfig,
    detect: impl FnOnce(&image::RgbImage) -> anyhow::Result<Vec<Detection>>,
) -> anyhow::Result<Option<Finding>> {
    if !same_moment(colour_at, ir.timestamp, cfg) {
        return Ok(None);
    }
    let img = image::RgbImage::from_raw(ir.width, ir.height, ir.data.to_vec())
        .ok_or_else(|| anyhow::anyhow!("the infrared frame is not RGB8"))?;
    let faces = detect(&img)?;
    Ok(Some(judge(
        presented,
        size,
        &faces,
        (ir.width, ir.height),
        cfg.nir_min_iou,
    )))
}

/// Where the cross-check of one presentation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Not enough infrared frames with the face yet.
    Pending,
    /// `liveness.nir_confirm_frames` infrared frames showed the face.
    Confirmed,
    /// `liveness.nir_veto_frames` consecutive infrared frames did not: a screen.
    Vetoed,
}

/// The cross-check's counts for one presentation, recorded with the decision.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Cues {
    pub state: State,
    /// Infrared frames compared with a colour frame of the same moment.
    pub frames: u32,
    /// Of those, frames that showed the face.
    pub with_face: u32,
    /// Colour frames that had no infrared frame of the same moment (camera late or lost).
    pub unmatched: u32,
    /// The smallest overlap among the frames that showed the face, and the largest among
    /// those that did not (0 when there were none).
    pub min_face_iou: f32,
    pub max_no_face_iou: f32,
}

/// The cross-check of one presentation, fed one finding per analysed frame.
#[derive(Debug, Clone)]
pub struct CrossCheck {
    confirm_frames: u32,
    veto_frames: u32,
    run_without_face: u32,
    cues: Cues,
}

impl CrossCheck {
    pub fn new(cfg: &LivenessConfig) -> Self {
        Self {
            confirm_frames: cfg.nir_confirm_frames,
            veto_frames: cfg.nir_veto_frames,
            run_without_face: 0,
            cues: Cues {
                state: State::Pending,
                frames: 0,
                with_face: 0,
                unmatched: 0,
                min_face_iou: 0.0,
                max_no_face_iou: 0.0,
            },
        }
    }

    pub fn state(&self) -> State {
        self.cues.state
    }

    pub fn cues(&self) -> Cues {
        self.cues
    }

    /// A colour frame came without an infrared frame of the same moment.
    pub fn unmatched(&mut self) {
        self.cues.unmatched += 1;
    }

    /// One infrared frame's finding. A veto is final; a confirmed check is still vetoed by a
    /// run of frames without the face (the face was swapped for a screen mid-presentation).
    pub fn record(&mut self, finding: Finding) {
        if self.cues.state == State::Vetoed {
            return;
        }
        self.cues.frames += 1;
        match finding {
            Finding::Face { iou } => {
                self.cues.min_face_iou = if self.cues.with_face == 0 {
                    iou
                } else {
                    self.cues.min_face_iou.min(iou)
                };
                self.cues.with_face += 1;
                self.run_without_face = 0;
                if self.cues.with_face >= self.confirm_frames {
                    self.cues.state = State::Confirmed;
                }
            }
            Finding::NoFace { best_iou } => {
                self.cues.max_no_face_iou = self.cues.max_no_face_iou.max(best_iou);
                self.run_without_face += 1;
                if self.run_without_face >= self.veto_frames {
                    self.cues.state = State::Vetoed;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::test_detection;

    fn cfg() -> LivenessConfig {
        LivenessConfig::default()
    }

    #[test]
    fn the_same_face_in_a_frame_of_another_size_is_found() {
        let colour = test_detection(220.0, 120.0, 200.0);
        // The infrared sensor at half the resolution, the face shifted a little (parallax).
        let ir = test_detection(115.0, 60.0, 100.0);
        let f = judge(&colour, (640, 480), &[ir], (320, 240), 0.4);
        let Finding::Face { iou } = f else {
            panic!("{f:?}")
        };
        assert!(iou > 0.8 && iou < 1.0, "{iou}");
    }

    #[test]
    fn no_face_or_a_face_elsewhere_is_no_face_here() {
        let colour = test_detection(220.0, 120.0, 200.0);
        assert_eq!(
            judge(&colour, (640, 480), &[], (640, 480), 0.4),
            Finding::NoFace { best_iou: 0.0 }
        );
        // The attacker's own face beside the phone: a face, but not the presented one.
        let beside = test_detection(470.0, 100.0, 150.0);
        assert!(matches!(
            judge(&colour, (640, 480), &[beside], (640, 480), 0.4),
            Finding::NoFace { best_iou } if best_iou < 0.1
        ));
        // A box of a quarter of the size at the same centre overlaps 1/4: not the same face.
        let small = test_detection(270.0, 170.0, 100.0);
        assert!(matches!(
            judge(&colour, (640, 480), &[small], (640, 480), 0.4),
            Finding::NoFace { .. }
        ));
    }

    #[test]
    fn frames_confirm_a_run_without_the_face_vetoes_and_the_veto_is_final() {
        let c = cfg();
        let mut x = CrossCheck::new(&c);
        x.record(Finding::Face { iou: 0.9 });
        assert_eq!(x.state(), State::Pending);
        x.record(Finding::NoFace { best_iou: 0.1 });
        x.record(Finding::Face { iou: 0.7 });
        assert_eq!(x.state(), State::Confirmed);
        assert_eq!(x.cues().min_face_iou, 0.7);
        // Swapped for a screen: three frames without the face veto even a confirmed check.
        for _ in 0..c.nir_veto_frames {
            x.record(Finding::NoFace { best_iou: 0.2 });
        }
        assert_eq!(x.state(), State::Vetoed);
        x.record(Finding::Face { iou: 0.9 });
        assert_eq!(x.state(), State::Vetoed);
        let cues = x.cues();
        assert_eq!((cues.frames, cues.with_face), (6, 2));
        assert_eq!(cues.max_no_face_iou, 0.2);
    }

    #[test]
    fn a_single_missed_detection_does_not_veto() {
        let mut x = CrossCheck::new(&cfg());
        for _ in 0..5 {
            x.record(Finding::NoFace { best_iou: 0.0 });
            x.record(Finding::Face { iou: 0.8 });
        }
        assert_eq!(x.state(), State::Confirmed);
    }

    #[test]
    fn frames_further_apart_than_the_skew_are_not_compared() {
        let c = cfg();
        let t = Duration::from_secs(10);
        assert!(same_moment(t, t + Duration::from_millis(100), &c));
        assert!(same_moment(t + Duration::from_millis(100), t, &c));
        assert!(!same_moment(t, t + Duration::from_millis(101), &c));
    }
}
