//! Camera capture: the [`FrameSource`] trait, the V4L2 source, replay sources, conversion to
//! RGB and the latest-frame handoff to the vision thread.
//!
//! # Layout
//!
//! | file | what lives there |
//! |---|---|
//! | `config.rs` | `[camera]` keys and their validation |
//! | `frame.rs` | [`Frame`]: the RGB8 image every source hands out |
//! | `convert.rs` | YUYV / NV12 / MJPEG / RGB24 → RGB8 with SIMD crates (yuvutils-rs, zune-jpeg) |
//! | `v4l2.rs` | V4L2 capture with mmap streaming and format negotiation |
//! | `replay.rs` | image directory and Y4M / MJPEG file sources for the demo and tests |
//! | `scripted.rs` | labelled movement clips played in answer to the liveness challenge |
//! | `capture.rs` | the capture thread: reconnect with backoff, stats, latest-frame handoff |
//! | `history.rs` | the last few frames by time, to pair frames of two cameras |
//!
//! Why a latest-frame handoff instead of a queue: a door only cares about who stands in front
//! of it *now*. When inference is slower than the camera, a queue would grow and every decision
//! would be made on an older picture; the watch slot drops what inference had no time for.

mod capture;
mod config;
mod convert;
mod frame;
mod history;
mod replay;
mod scripted;
mod v4l2;

pub use capture::{
    spawn_capture, wait_for_frame, Capture, CaptureState, CaptureStats, FrameWatch, SourceOpener,
};
pub use config::{CameraConfig, PixelFormatChoice, SourceKind};
pub use convert::{Converter, PixelFormat};
pub use frame::{monotonic_now, Frame};
pub use history::FrameHistory;
pub use replay::{image_files, load_photo_rgb, ImageDirSource, MjpegFileSource, Y4mSource};
pub use scripted::{Script, ScriptedSource};
pub use v4l2::{list_devices, resolve_device, DeviceInfo, V4l2Source};

use std::time::Duration;

/// A camera problem. `Disconnected` is special: the capture thread treats it as "the device
/// went away" and keeps trying to reopen it instead of giving up.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    #[error("camera device {device} is unavailable: {reason}")]
    Disconnected { device: String, reason: String },
    #[error("no frame from {device} within {timeout:?}")]
    Timeout { device: String, timeout: Duration },
    #[error("camera {device}: {message}")]
    Device { device: String, message: String },
    #[error("cannot convert a {format} frame: {message}")]
    Convert { format: String, message: String },
    #[error("replay source {path}: {message}")]
    Replay { path: String, message: String },
    #[error("replay source {path} has ended")]
    EndOfStream { path: String },
}

impl CameraError {
    /// Whether reopening the source may help (unplug, timeouts), as opposed to bad input.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CameraError::Disconnected { .. } | CameraError::Timeout { .. }
        )
    }
}

/// Something that produces frames: a camera, a directory of photos, a video file.
///
/// `next_frame` blocks until a frame is ready (sources pace themselves: a camera by its
/// hardware, replay by its configured fps). Implementations are driven by one capture thread.
pub trait FrameSource: Send {
    /// The next frame, converted to RGB8.
    fn next_frame(&mut self) -> Result<Frame, CameraError>;
    /// Human-readable description for logs and `check-camera` (device, format, size).
    fn describe(&self) -> String;
    /// Frames the source knows it lost (driver sequence gaps); replay sources lose none.
    fn dropped(&self) -> u64 {
        0
    }
}

/// Starts capturing from the configured source on its own thread: the usual way in.
pub fn spawn_from_config(cfg: &CameraConfig) -> Capture {
    let opener_cfg = cfg.clone();
    spawn_capture(
        Box::new(move || open_source(&opener_cfg)),
        (
            Duration::from_millis(cfg.reconnect_initial_ms),
            Duration::from_millis(cfg.reconnect_max_ms),
        ),
    )
}

/// Opens the source the configuration names; the capture thread calls it again to reconnect.
pub fn open_source(cfg: &CameraConfig) -> Result<Box<dyn FrameSource>, CameraError> {
    open_source_with(cfg, &crate::presentation::PromptBoard::new())
}

/// [`open_source`] for a door loop publishing its prompts on `prompts` (which a `scripted`
/// source answers).
pub fn open_source_with(
    cfg: &CameraConfig,
    prompts: &crate::presentation::PromptBoard,
) -> Result<Box<dyn FrameSource>, CameraError> {
    match cfg.source {
        SourceKind::Scripted => {
            let script = if cfg.scripted_follow {
                Script::Follow(prompts.clone())
            } else {
                Script::Fixed(cfg.scripted_sequence.clone())
            };
            Ok(Box::new(ScriptedSource::open(
                &cfg.replay_path,
                cfg.fps,
                script,
            )?))
        }
        SourceKind::V4l2 => Ok(Box::new(V4l2Source::open(cfg)?)),
        SourceKind::ImageDir => Ok(Box::new(ImageDirSource::open(
            &cfg.replay_path,
            cfg.fps,
            cfg.replay_loop,
        )?)),
        SourceKind::Y4m => Ok(Box::new(Y4mSource::open(
            &cfg.replay_path,
            cfg.fps,
            cfg.replay_loop,
        )?)),
        SourceKind::Mjpeg => Ok(Box::new(MjpegFileSource::open(
            &cfg.replay_path,
            cfg.fps,
            cfg.replay_loop,
        )?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_replay_is_captured_and_ends() {
        let dir = tempfile::tempdir().unwrap();
        let rgb = vec![90u8; 10 * 6 * 3];
        image::save_buffer(
            dir.path().join("only.png"),
            &rgb,
            10,
            6,
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
        let cfg = CameraConfig {
            source: SourceKind::ImageDir,
            replay_path: dir.path().to_owned(),
            replay_loop: false,
            fps: 50,
            ..Default::default()
        };
        let cap = spawn_from_config(&cfg);
        let mut rx = cap.frames();
        let f = wait_for_frame(&mut rx, Duration::from_secs(5)).expect("a frame");
        assert_eq!((f.width, f.height, f.data[0]), (10, 6, 90));
        let mut state = cap.state_watch();
        let ended = (0..100).any(|_| {
            if *state.borrow_and_update() == CaptureState::Ended {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
            false
        });
        assert!(ended, "state {:?}", cap.state());
    }
}
