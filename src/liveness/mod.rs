//! Liveness at the door's own camera: is the recognised face a live person in front of the
//! camera, not a printed photo or a screen?
//!
//! Why a challenge: measured on live and attack sequences (docs/decisions/0103), no
//! single-frame anti-spoofing model obtainable here separates prints and screens from people,
//! and watching alone cannot either: the 3-D motion of a turning head separates it from a
//! moved print, but a screen replaying a real head turn carries genuine 3-D motion, and a
//! person standing still gives no evidence. So the door *asks* for a random sequence of head
//! movements (which a replay cannot follow) and verifies each as 3-D motion (which a tilted
//! print cannot fake) by the same face.
//!
//! | file | what lives there |
//! |---|---|
//! | [`config`] | `[liveness]`: mode, challenge length, thresholds |
//! | [`geometry`] | planar-vs-3-D motion fit on the upper-face mesh points |
//! | [`check`] | one track's check, frame by frame: challenge steps, passive watch, verdict |
//! | [`nir`] | `strict`: the face must be seen at the same place by the near-infrared camera |
//!
//! The per-frame cost is one homography and one affine fit on 64 points (a few µs); the
//! check adds no model inference, it reads the mesh and embedding the door loop computes
//! anyway. What it adds is the person's time: about a second per step.

pub mod check;
pub mod config;
pub mod geometry;
pub mod nir;

pub use check::{draw, Failure, Hint, LivenessCheck, Observation, Prompt, StepCues, Verdict};
pub use config::{Direction, LivenessConfig, Mode};
pub use geometry::FacePoints;

/// `check-config`'s lines on liveness: the mode in force, what a fixed replay's odds are, and
/// settings that do nothing in that mode.
pub fn describe(cfg: &LivenessConfig, camera: &crate::camera::CameraConfig) -> String {
    let mut out = match cfg.mode {
        Mode::Off => {
            "liveness: off — a printed photo of an enrolled person opens the door\n".into()
        }
        Mode::Passive => "liveness: passive — no prompts; weaker than challenge (a replayed \
                          head turn passes)\n"
            .into(),
        Mode::Challenge | Mode::Strict => format!(
            "liveness: {} — {} step(s) from {} directions: a fixed replay answers at most 1 \
             challenge in {}\n",
            cfg.mode.as_str(),
            cfg.challenge_steps,
            cfg.directions.len(),
            cfg.challenge_space()
        ),
    };
    match (cfg.mode.needs_infrared(), camera.infrared()) {
        (true, Some(ir)) => out.push_str(&format!(
            "liveness: near-infrared cross-check on {} (faces must overlap ≥ {:.2}, frames \
             within {} ms)\n",
            ir.device, cfg.nir_min_iou, cfg.nir_max_skew_ms
        )),
        (false, Some(ir)) => out.push_str(&format!(
            "warning: camera.ir_device = {:?} is not used: only liveness.mode = \"strict\" \
             reads it\n",
            ir.device
        )),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_config_says_the_odds_and_flags_an_unused_infrared_camera() {
        let mut camera = crate::camera::CameraConfig::default();
        let cfg = LivenessConfig::default();
        let text = describe(&cfg, &camera);
        assert!(
            text.contains("challenge") && text.contains("1 challenge in 16"),
            "{text}"
        );
        camera.ir_device = "/dev/video2".into();
        assert!(describe(&cfg, &camera).contains("warning: camera.ir_device"));
        let strict = LivenessConfig {
            mode: Mode::Strict,
            ..cfg
        };
        let text = describe(&strict, &camera);
        assert!(
            text.contains("near-infrared cross-check on /dev/video2"),
            "{text}"
        );
        assert!(!text.contains("warning"), "{text}");
    }
}
