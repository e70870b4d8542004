//! `wardgate check-camera`: what a technician runs at the door to see which cameras exist, what
//! they offer, and whether the configured one actually delivers a picture.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::camera::{list_devices, open_source, SourceKind};
use crate::config::Config;

/// Frames skipped before the snapshot: many webcams deliver dark frames while exposure settles.
const SETTLE_FRAMES: usize = 3;

/// Lists V4L2 devices with formats and sizes, grabs one frame from the configured source and
/// writes it to `png` (an RGB8 PNG).
pub fn check_camera(config: &Config, png: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let cfg = &config.camera;
    let devices = list_devices();
    if devices.is_empty() {
        writeln!(out, "no V4L2 devices found (/dev/video*)")?;
    }
    for d in &devices {
        writeln!(
            out,
            "{}: {} [{}] {}{}",
            d.path.display(),
            d.card,
            d.driver,
            d.bus,
            if d.capture {
                ""
            } else {
                " (not a capture node)"
            }
        )?;
        for name in &d.stable_names {
            writeln!(out, "    stable name: {name}")?;
        }
        for f in &d.formats {
            writeln!(
                out,
                "    {} {}{}: {}",
                f.fourcc,
                f.description,
                if f.supported {
                    ""
                } else {
                    " (not supported by Wardgate)"
                },
                if f.sizes.is_empty() {
                    "-".to_string()
                } else {
                    f.sizes.join(" ")
                }
            )?;
        }
    }
    let what = match cfg.source {
        SourceKind::V4l2 => format!("device {}", cfg.device),
        _ => format!("replay {}", cfg.replay_path.display()),
    };
    writeln!(out, "grabbing a frame from {what} ...")?;
    let mut source = open_source(cfg).with_context(|| format!("cannot open {what}"))?;
    let mut frame = source.next_frame().context("no frame")?;
    if cfg.source == SourceKind::V4l2 {
        for _ in 0..SETTLE_FRAMES {
            frame = source.next_frame().context("no frame")?;
        }
    }
    image::save_buffer(
        png,
        &frame.data,
        frame.width,
        frame.height,
        image::ExtendedColorType::Rgb8,
    )
    .with_context(|| format!("cannot write {}", png.display()))?;
    writeln!(
        out,
        "{}: {}x{} frame written to {} ({} frames dropped)",
        source.describe(),
        frame.width,
        frame.height,
        png.display(),
        source.dropped()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_from_a_replay_directory() {
        let dir = tempfile::tempdir().unwrap();
        let rgb: Vec<u8> = (0..24 * 16 * 3).map(|i| (i % 251) as u8).collect();
        image::save_buffer(
            dir.path().join("a.png"),
            &rgb,
            24,
            16,
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
        let mut config = Config::default();
        config.camera.source = SourceKind::ImageDir;
        config.camera.replay_path = dir.path().to_owned();
        let png = dir.path().join("snap.png");
        let mut out = Vec::new();
        check_camera(&config, &png, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("24x16 frame written"), "{text}");
        let back = image::open(&png).unwrap().into_rgb8();
        assert_eq!(back.into_raw(), rgb);
    }

    #[test]
    fn missing_camera_names_the_device() {
        let mut config = Config::default();
        config.camera.device = "/dev/wardgate-absent".into();
        let mut out = Vec::new();
        let err = check_camera(&config, Path::new("/tmp/x.png"), &mut out).unwrap_err();
        assert!(
            format!("{err:#}").contains("/dev/wardgate-absent"),
            "{err:#}"
        );
    }
}
