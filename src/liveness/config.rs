//! `[liveness]`: how the door's own camera checks that a face is a live person.

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;

/// What the door asks of a recognised face before it decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// No liveness check: a printed photo of an enrolled person opens the door. Only for
    /// doors whose camera cannot be reached by a picture (or for bench tests).
    Off,
    /// Watch only: a head that turns by itself shows 3-D motion and passes; a still face
    /// gives no evidence and is denied `liveness_timeout`. Weaker than `challenge`: a screen
    /// replaying a real head turn passes. For doors without a display.
    Passive,
    /// Ask: a random sequence of head movements shown on the door display, each verified as
    /// 3-D motion in the asked direction by the same face.
    #[default]
    Challenge,
    /// `challenge`, and the face must also be seen by the near-infrared camera
    /// (`camera.ir_device`) at the same place in the same moment: screens show no face in
    /// near infrared. For high-security doors with a binocular RGB+IR module.
    Strict,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Passive => "passive",
            Mode::Challenge => "challenge",
            Mode::Strict => "strict",
        }
    }

    /// Whether the door asks for head movements (`challenge` and `strict`).
    pub fn challenges(self) -> bool {
        matches!(self, Mode::Challenge | Mode::Strict)
    }

    /// Whether the face must also be found in the near-infrared frame (`strict`).
    pub fn needs_infrared(self) -> bool {
        self == Mode::Strict
    }
}

/// A head movement the challenge can ask for, from the person's point of view ("turn your
/// head to the left" is the person's left).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Left,
    Right,
    Up,
    Down,
}

impl Direction {
    pub const ALL: [Direction; 4] = [
        Direction::Left,
        Direction::Right,
        Direction::Up,
        Direction::Down,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Left => "left",
            Direction::Right => "right",
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }

    /// How far a pose change (degrees of mesh yaw and pitch) goes in this direction.
    ///
    /// The mesh's depth grows away from the camera, so when the person turns to their left the
    /// eye on the image's right (their left eye) moves away and the yaw grows; when they look
    /// up, the chin comes forward and the pitch falls.
    pub fn along(self, d_yaw: f32, d_pitch: f32) -> f32 {
        match self {
            Direction::Left => d_yaw,
            Direction::Right => -d_yaw,
            Direction::Up => -d_pitch,
            Direction::Down => d_pitch,
        }
    }
}

/// The default of `liveness.min_eye_distance_px` (docs/decisions/0103-liveness-challenge.md).
pub const MIN_EYE_DISTANCE_PX: f32 = 40.0;

/// `[liveness]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LivenessConfig {
    /// `off`, `passive`, `challenge` (default) or `strict` (challenge + near infrared).
    pub mode: Mode,
    /// Head movements asked per presentation (`challenge`), 1 to 4.
    pub challenge_steps: u32,
    /// The movements the challenge draws from; fewer directions make a replay's odds worse.
    pub directions: Vec<Direction>,
    /// Milliseconds the person has for one step before `liveness_timeout`.
    pub step_timeout_ms: u64,
    /// Least head turn (mesh yaw or pitch, degrees) in the asked direction for a step.
    pub min_turn_deg: f32,
    /// How close (degrees of yaw and pitch) to the pose at identification the head must come
    /// back for a step to start. People do not come back to exactly the same pose: measured
    /// on natural turns, the start of a turn lies up to 4–8° from the pose the person was
    /// identified in (docs/decisions/0105).
    pub centre_tolerance_deg: f32,
    /// Least planar/rigid residual ratio (see `liveness::geometry`) for the motion to count
    /// as 3-D; a flat picture gives about 1.
    pub min_gain: f32,
    /// Least homography residual, in inter-ocular distances, for the gain to be judged at
    /// all: below it the motion is within the mesh's jitter (or a perfectly flat picture).
    pub min_planar_residual: f32,
    /// Least cosine similarity between the turned face's embedding and the embedding that
    /// identified the track: the person who answers is the person who was recognised.
    /// Measured on MobileFaceNet's part of the template (`vision::fusion::primary_cosine`).
    pub min_identity_similarity: f32,
    /// Least inter-ocular distance (outer eye corners, frame pixels) of a face whose motion is
    /// judged: on smaller faces the mesh's landmark noise is a large share of the residuals,
    /// and a moved picture can pass for 3-D motion. Smaller faces are not judged ("come
    /// closer"); the step times out if the person stays that far.
    pub min_eye_distance_px: f32,
    /// Frames in a step that show the asked turn as flat motion before `liveness_failed`.
    pub flat_frames_to_fail: u32,
    /// `passive`: milliseconds a recognised face has to show 3-D motion by itself.
    pub passive_window_ms: u64,
    /// `passive`: least head turn between two frames, degrees, for the pair to be judged.
    pub passive_min_turn_deg: f32,
    /// `strict`: least overlap (intersection over union, in frame-relative coordinates) of
    /// the colour frame's face box with a face box of the infrared frame for the two to be
    /// the same face. Below 1 because the two lenses of a binocular module sit a few
    /// centimetres apart (parallax).
    pub nir_min_iou: f32,
    /// `strict`: an infrared frame taken more than this many milliseconds from the colour
    /// frame is not compared with it (it may show another moment).
    pub nir_max_skew_ms: u64,
    /// `strict`: infrared frames that must show the face before the check can pass.
    pub nir_confirm_frames: u32,
    /// `strict`: consecutive infrared frames without the face that veto the presentation as
    /// a screen (`spoof_suspected`).
    pub nir_veto_frames: u32,
    /// Terminals (`/ws/auth`, `POST /api/v1/decisions`) must send a passed `liveness`
    /// attestation, else `liveness_failed`.
    pub require_terminal_attestation: bool,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Challenge,
            challenge_steps: 2,
            directions: Direction::ALL.to_vec(),
            step_timeout_ms: 5000,
            // docs/decisions/0103-liveness-challenge.md
            min_turn_deg: 12.0,
            centre_tolerance_deg: 6.0,
            min_gain: 1.6,
            min_planar_residual: 0.012,
            min_identity_similarity: 0.35,
            min_eye_distance_px: MIN_EYE_DISTANCE_PX,
            flat_frames_to_fail: 3,
            passive_window_ms: 4000,
            passive_min_turn_deg: 8.0,
            nir_min_iou: 0.4,
            nir_max_skew_ms: 100,
            nir_confirm_frames: 2,
            nir_veto_frames: 3,
            require_terminal_attestation: false,
        }
    }
}

impl LivenessConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: &str| {
            Err(ConfigError::Invalid {
                key: key.into(),
                message: message.into(),
            })
        };
        if !(1..=4).contains(&self.challenge_steps) {
            return bad("liveness.challenge_steps", "must be 1 to 4");
        }
        let mut dirs = self.directions.clone();
        dirs.sort_by_key(|d| d.as_str());
        dirs.dedup();
        if dirs.len() != self.directions.len() || dirs.len() < 2 {
            return bad(
                "liveness.directions",
                "must list at least two different directions of left, right, up, down",
            );
        }
        if !(500..=30_000).contains(&self.step_timeout_ms) {
            return bad("liveness.step_timeout_ms", "must be 500 to 30000");
        }
        if !(5.0..=40.0).contains(&self.min_turn_deg) {
            return bad("liveness.min_turn_deg", "must be 5 to 40 degrees");
        }
        if !(1.0..=20.0).contains(&self.centre_tolerance_deg) {
            return bad("liveness.centre_tolerance_deg", "must be 1 to 20 degrees");
        }
        if !(1.0..=10.0).contains(&self.min_gain) {
            return bad("liveness.min_gain", "must be 1 to 10");
        }
        if !(0.0..=0.2).contains(&self.min_planar_residual) {
            return bad("liveness.min_planar_residual", "must be 0 to 0.2");
        }
        if !(-1.0..=1.0).contains(&self.min_identity_similarity) {
            return bad(
                "liveness.min_identity_similarity",
                "must be a cosine similarity in [-1, 1]",
            );
        }
        if !(10.0..=400.0).contains(&self.min_eye_distance_px) {
            return bad("liveness.min_eye_distance_px", "must be 10 to 400 pixels");
        }
        if !(1..=30).contains(&self.flat_frames_to_fail) {
            return bad("liveness.flat_frames_to_fail", "must be 1 to 30");
        }
        if !(500..=30_000).contains(&self.passive_window_ms) {
            return bad("liveness.passive_window_ms", "must be 500 to 30000");
        }
        if !(2.0..=40.0).contains(&self.passive_min_turn_deg) {
            return bad("liveness.passive_min_turn_deg", "must be 2 to 40 degrees");
        }
        if !(self.nir_min_iou > 0.0 && self.nir_min_iou <= 1.0) {
            return bad("liveness.nir_min_iou", "must be above 0 and at most 1");
        }
        if !(10..=1000).contains(&self.nir_max_skew_ms) {
            return bad("liveness.nir_max_skew_ms", "must be 10 to 1000");
        }
        if !(1..=30).contains(&self.nir_confirm_frames) {
            return bad("liveness.nir_confirm_frames", "must be 1 to 30");
        }
        if !(1..=30).contains(&self.nir_veto_frames) {
            return bad("liveness.nir_veto_frames", "must be 1 to 30");
        }
        Ok(())
    }

    /// How many different challenges the settings can draw: a fixed replay answers one of
    /// them, so its odds of passing are at most 1 in this (less, since it must also time its
    /// movements).
    pub fn challenge_space(&self) -> u64 {
        (self.directions.len() as u64).pow(self.challenge_steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_give_sixteen_challenges() {
        let c = LivenessConfig::default();
        c.validate().unwrap();
        assert_eq!(c.mode, Mode::Challenge);
        assert_eq!(c.challenge_space(), 16);
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut c = LivenessConfig {
            directions: vec![Direction::Left, Direction::Left],
            ..LivenessConfig::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("liveness.directions"), "{e}");
        c.directions = vec![Direction::Left, Direction::Right];
        c.challenge_steps = 0;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("liveness.challenge_steps"), "{e}");
        c.challenge_steps = 3;
        assert_eq!(c.challenge_space(), 8);
    }

    #[test]
    fn directions_map_onto_pose_changes() {
        assert!(Direction::Left.along(15.0, 0.0) > 0.0);
        assert!(Direction::Right.along(15.0, 0.0) < 0.0);
        assert!(Direction::Up.along(0.0, -15.0) > 0.0);
        assert!(Direction::Down.along(0.0, -15.0) < 0.0);
    }
}
