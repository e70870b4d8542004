//! `[camera]` configuration keys (documented in docs/configuration.md).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;

/// Where frames come from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A V4L2 camera (`camera.device`).
    #[default]
    V4l2,
    /// A directory of photos, replayed in name order (`camera.replay_path`).
    ImageDir,
    /// A YUV4MPEG2 (`.y4m`) video file.
    Y4m,
    /// A file of concatenated JPEG frames (`.mjpeg`, what `ffmpeg -f mjpeg` writes).
    Mjpeg,
    /// Clips labelled by the head movement they show (`camera.replay_path` holds `neutral/`,
    /// `left/`, `right/`, `up/`, `down/`), played in answer to the door's liveness challenge
    /// (`camera.scripted_follow`), or in a fixed order as a replay attacker would.
    Scripted,
}

/// Which pixel format to ask the camera for.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum PixelFormatChoice {
    /// MJPEG when the camera offers it (less USB bandwidth, so full fps at higher resolutions),
    /// else YUYV, else NV12, else RGB24, else GREY.
    #[default]
    Auto,
    Mjpeg,
    Yuyv,
    Nv12,
    Rgb24,
    /// 8-bit luminance, what near-infrared cameras (`camera.ir_device`) deliver.
    Grey,
}

/// `[camera]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CameraConfig {
    /// Frame source kind.
    pub source: SourceKind,
    /// V4L2 device: a path (`/dev/video0`) or a stable name from `/dev/v4l/by-id/` (which
    /// survives re-enumeration after a USB replug, unlike `videoN`).
    pub device: String,
    /// Requested frame width; the driver may pick the nearest size it supports.
    pub width: u32,
    /// Requested frame height.
    pub height: u32,
    /// Requested frame rate (camera) or replay rate (replay sources).
    pub fps: u32,
    /// Pixel format to negotiate.
    pub pixel_format: PixelFormatChoice,
    /// mmap buffers queued in the driver; more absorbs jitter, fewer keeps latency low.
    pub buffers: u32,
    /// A capture that delivers nothing for this long counts as lost and is reopened.
    pub timeout_ms: u64,
    /// First delay before reopening a lost camera; doubles up to `reconnect_max_ms`.
    pub reconnect_initial_ms: u64,
    /// Longest delay between reopen attempts.
    pub reconnect_max_ms: u64,
    /// Directory or file for the replay sources.
    pub replay_path: PathBuf,
    /// Replay sources start again at the beginning when they reach the end.
    pub replay_loop: bool,
    /// `scripted`: answer the door's challenge with the clip of the asked movement (a live
    /// person); `false` plays `scripted_sequence` whatever is asked (a replay attack).
    pub scripted_follow: bool,
    /// `scripted` with `scripted_follow = false`: the movements played, in order, repeated.
    pub scripted_sequence: Vec<String>,
    /// The near-infrared half of a binocular RGB+IR module (a V4L2 device, like
    /// `camera.device`), for `liveness.mode = "strict"`; empty: none. It is opened with the
    /// colour camera's size, rate and format choice (the driver picks the nearest it offers;
    /// `GREY` is accepted) and must look at the same scene through a lens beside the colour one.
    pub ir_device: String,
}

impl Default for CameraConfig {
    fn default() -> Self {
        Self {
            source: SourceKind::V4l2,
            device: "/dev/video0".into(),
            width: 640,
            height: 480,
            fps: 15,
            pixel_format: PixelFormatChoice::Auto,
            buffers: 4,
            timeout_ms: 2000,
            reconnect_initial_ms: 250,
            reconnect_max_ms: 5000,
            replay_path: PathBuf::new(),
            replay_loop: true,
            scripted_follow: true,
            scripted_sequence: vec!["neutral".into(), "left".into(), "right".into()],
            ir_device: String::new(),
        }
    }
}

impl CameraConfig {
    /// The settings the infrared camera is opened with, when `camera.ir_device` names one.
    pub fn infrared(&self) -> Option<CameraConfig> {
        let device = self.ir_device.trim();
        (!device.is_empty()).then(|| CameraConfig {
            source: SourceKind::V4l2,
            device: device.to_owned(),
            ..self.clone()
        })
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: String| {
            Err(ConfigError::Invalid {
                key: format!("camera.{key}"),
                message,
            })
        };
        if self.width == 0 || self.width > 8192 || self.width % 2 != 0 {
            return bad(
                "width",
                format!("{} must be even and in 2..=8192", self.width),
            );
        }
        if self.height == 0 || self.height > 8192 || self.height % 2 != 0 {
            return bad(
                "height",
                format!("{} must be even and in 2..=8192", self.height),
            );
        }
        if !(1..=240).contains(&self.fps) {
            return bad("fps", format!("{} must be in 1..=240", self.fps));
        }
        if !(2..=32).contains(&self.buffers) {
            return bad("buffers", format!("{} must be in 2..=32", self.buffers));
        }
        if self.timeout_ms < 100 {
            return bad("timeout_ms", "must be at least 100".into());
        }
        if self.reconnect_initial_ms < 10 {
            return bad("reconnect_initial_ms", "must be at least 10".into());
        }
        if self.reconnect_max_ms < self.reconnect_initial_ms {
            return bad(
                "reconnect_max_ms",
                "must not be below camera.reconnect_initial_ms".into(),
            );
        }
        match self.source {
            SourceKind::V4l2 if self.device.trim().is_empty() => {
                bad("device", "must name a V4L2 device".into())
            }
            SourceKind::ImageDir | SourceKind::Y4m | SourceKind::Mjpeg | SourceKind::Scripted
                if self.replay_path.as_os_str().is_empty() =>
            {
                bad(
                    "replay_path",
                    "a replay source needs camera.replay_path".into(),
                )
            }
            SourceKind::Scripted
                if self.scripted_sequence.is_empty()
                    || self.scripted_sequence.iter().any(|m| {
                        !matches!(m.as_str(), "neutral" | "left" | "right" | "up" | "down")
                    }) =>
            {
                bad(
                    "scripted_sequence",
                    "must list movements of neutral, left, right, up, down".into(),
                )
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        CameraConfig::default().validate().unwrap();
    }

    #[test]
    fn bad_values_name_the_key() {
        let cases: Vec<(CameraConfig, &str)> = vec![
            (
                CameraConfig {
                    width: 641,
                    ..Default::default()
                },
                "camera.width",
            ),
            (
                CameraConfig {
                    fps: 0,
                    ..Default::default()
                },
                "camera.fps",
            ),
            (
                CameraConfig {
                    reconnect_max_ms: 100,
                    ..Default::default()
                },
                "camera.reconnect_max_ms",
            ),
            (
                CameraConfig {
                    source: SourceKind::ImageDir,
                    ..Default::default()
                },
                "camera.replay_path",
            ),
        ];
        for (cfg, key) in cases {
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(key), "{err} should name {key}");
        }
    }

    #[test]
    fn parses_from_toml() {
        let cfg: CameraConfig = toml::from_str(
            "source = \"image_dir\"\nreplay_path = \"faces\"\npixel_format = \"yuyv\"\nfps = 5\n",
        )
        .unwrap();
        assert_eq!(cfg.source, SourceKind::ImageDir);
        assert_eq!(cfg.pixel_format, PixelFormatChoice::Yuyv);
        assert_eq!(cfg.fps, 5);
        assert!(toml::from_str::<CameraConfig>("pixel_format = \"h264\"").is_err());
    }
}
