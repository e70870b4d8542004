//! V4L2 capture with the `v4l` crate: format negotiation, mmap streaming, capture timeouts,
//! and errors classified so that an unplugged camera is reported as `Disconnected` (and reopened
//! by the capture thread) rather than as a fatal failure.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use v4l::buffer::{Flags as BufFlags, Type};
use v4l::capability::Flags as CapFlags;
use v4l::framesize::FrameSizeEnum;
use v4l::io::mmap::Stream as MmapStream;
use v4l::io::traits::CaptureStream;
use v4l::video::capture::Parameters;
use v4l::video::Capture as _;
use v4l::{Device, Format, FourCC, Fraction};

use super::convert::{Converter, PixelFormat};
use super::frame::{rgb_len, BufferPool};
use super::{monotonic_now, CameraConfig, CameraError, Frame, FrameSource, PixelFormatChoice};

/// Where stable camera names live; they survive re-enumeration after a USB replug.
const BY_ID_DIR: &str = "/dev/v4l/by-id";
const BY_PATH_DIR: &str = "/dev/v4l/by-path";

/// Turns `camera.device` into a path: absolute paths as they are, anything else as a name in
/// `/dev/v4l/by-id/` (or `/dev/v4l/by-path/`).
pub fn resolve_device(device: &str) -> PathBuf {
    let p = Path::new(device);
    if p.is_absolute() {
        return p.to_owned();
    }
    let by_id = Path::new(BY_ID_DIR).join(device);
    if by_id.exists() {
        return by_id;
    }
    let by_path = Path::new(BY_PATH_DIR).join(device);
    if by_path.exists() {
        return by_path;
    }
    by_id
}

/// errno values meaning "the device is not there (any more)".
fn is_gone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc_errno::ENODEV | libc_errno::ENXIO | libc_errno::ENOENT | libc_errno::EIO)
    ) || e.kind() == io::ErrorKind::NotFound
}

/// The few errno values we classify (the crate's `nix` re-exports them portably).
mod libc_errno {
    pub const ENOENT: i32 = nix::errno::Errno::ENOENT as i32;
    pub const EIO: i32 = nix::errno::Errno::EIO as i32;
    pub const ENXIO: i32 = nix::errno::Errno::ENXIO as i32;
    pub const ENODEV: i32 = nix::errno::Errno::ENODEV as i32;
}

fn classify(device: &str, what: &str, e: &io::Error, timeout: Duration) -> CameraError {
    if e.kind() == io::ErrorKind::TimedOut {
        CameraError::Timeout {
            device: device.into(),
            timeout,
        }
    } else if is_gone(e) {
        CameraError::Disconnected {
            device: device.into(),
            reason: format!("{what}: {e}"),
        }
    } else {
        CameraError::Device {
            device: device.into(),
            message: format!("{what}: {e}"),
        }
    }
}

/// Picks the format to ask for among what the device offers.
fn choose_format(
    offered: &[PixelFormat],
    choice: PixelFormatChoice,
) -> Result<PixelFormat, String> {
    let wanted: &[PixelFormat] = match choice {
        PixelFormatChoice::Auto => &[
            PixelFormat::Mjpeg,
            PixelFormat::Yuyv,
            PixelFormat::Nv12,
            PixelFormat::Rgb24,
            PixelFormat::Grey,
        ],
        PixelFormatChoice::Mjpeg => &[PixelFormat::Mjpeg],
        PixelFormatChoice::Yuyv => &[PixelFormat::Yuyv],
        PixelFormatChoice::Nv12 => &[PixelFormat::Nv12],
        PixelFormatChoice::Rgb24 => &[PixelFormat::Rgb24],
        PixelFormatChoice::Grey => &[PixelFormat::Grey],
    };
    wanted
        .iter()
        .copied()
        .find(|f| offered.contains(f))
        .ok_or_else(|| {
            let names: Vec<&str> = offered.iter().map(|f| f.name()).collect();
            format!(
                "offers none of the wanted formats {:?} (supported here: {names:?})",
                wanted.iter().map(|f| f.name()).collect::<Vec<_>>()
            )
        })
}

/// A V4L2 camera streaming through mmap buffers.
pub struct V4l2Source {
    // Field order matters: the stream (and its mappings) must go before the device.
    stream: MmapStream<'static>,
    _dev: Device,
    name: String,
    converter: Converter,
    timeout: Duration,
    last_driver_seq: Option<u32>,
    dropped: u64,
    pool: BufferPool,
}

impl V4l2Source {
    /// Opens the configured device and negotiates size, rate and pixel format.
    pub fn open(cfg: &CameraConfig) -> Result<Self, CameraError> {
        let path = resolve_device(&cfg.device);
        let name = path.display().to_string();
        let timeout = Duration::from_millis(cfg.timeout_ms);
        let cls = |what: &str, e: io::Error| classify(&name, what, &e, timeout);
        let dev = Device::with_path(&path).map_err(|e| cls("open", e))?;
        let caps = dev.query_caps().map_err(|e| cls("query capabilities", e))?;
        if !caps.capabilities.contains(CapFlags::VIDEO_CAPTURE)
            || !caps.capabilities.contains(CapFlags::STREAMING)
        {
            return Err(CameraError::Device {
                device: name,
                message: format!(
                    "{} ({}) is not a streaming video capture node (a metadata node?)",
                    caps.card, caps.driver
                ),
            });
        }
        let offered: Vec<PixelFormat> = dev
            .enum_formats()
            .map_err(|e| cls("list formats", e))?
            .iter()
            .filter_map(|d| PixelFormat::from_fourcc(d.fourcc.repr))
            .collect();
        let format =
            choose_format(&offered, cfg.pixel_format).map_err(|m| CameraError::Device {
                device: name.clone(),
                message: m,
            })?;
        let want = Format::new(cfg.width, cfg.height, FourCC::new(&format.fourcc()));
        let got = dev.set_format(&want).map_err(|e| cls("set format", e))?;
        if got.fourcc.repr != format.fourcc()
            && PixelFormat::from_fourcc(got.fourcc.repr) != Some(format)
        {
            return Err(CameraError::Device {
                device: name,
                message: format!("driver refused {} and chose {}", format.name(), got.fourcc),
            });
        }
        if (got.width, got.height) != (cfg.width, cfg.height) {
            log::warn!(
                "camera {name}: asked for {}x{}, driver chose {}x{}",
                cfg.width,
                cfg.height,
                got.width,
                got.height
            );
        }
        match dev.set_params(&Parameters::new(Fraction::new(1, cfg.fps))) {
            Ok(p) if p.interval.numerator != 0 => {
                let fps = f64::from(p.interval.denominator) / f64::from(p.interval.numerator);
                if (fps - f64::from(cfg.fps)).abs() > 0.5 {
                    log::warn!(
                        "camera {name}: asked for {} fps, driver chose {fps:.1}",
                        cfg.fps
                    );
                }
            }
            Ok(_) => {}
            Err(e) => log::warn!("camera {name}: cannot set the frame rate: {e}"),
        }
        let mut stream = MmapStream::with_buffers(&dev, Type::VideoCapture, cfg.buffers)
            .map_err(|e| cls("allocate mmap buffers", e))?;
        stream.set_timeout(timeout);
        let converter = Converter::new(format, got.width, got.height, got.stride);
        Ok(Self {
            stream,
            _dev: dev,
            name: format!(
                "{name} ({}, {}x{} {})",
                caps.card,
                got.width,
                got.height,
                format.name()
            ),
            converter,
            timeout,
            last_driver_seq: None,
            dropped: 0,
            pool: BufferPool::default(),
        })
    }

    /// The negotiated format and size.
    pub fn converter(&self) -> &Converter {
        &self.converter
    }
}

impl FrameSource for V4l2Source {
    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        loop {
            let (buf, meta) = match CaptureStream::next(&mut self.stream) {
                Ok(x) => x,
                Err(e) => return Err(classify(&self.name, "capture", &e, self.timeout)),
            };
            if let Some(last) = self.last_driver_seq {
                let gap = meta.sequence.wrapping_sub(last).saturating_sub(1);
                self.dropped += u64::from(gap);
            }
            self.last_driver_seq = Some(meta.sequence);
            if meta.flags.contains(BufFlags::ERROR) {
                self.dropped += 1;
                continue;
            }
            let used = match meta.bytesused as usize {
                0 => buf.len(),
                n => n.min(buf.len()),
            };
            let ts = Duration::from_secs(u64::try_from(meta.timestamp.sec).unwrap_or(0))
                + Duration::from_micros(u64::try_from(meta.timestamp.usec).unwrap_or(0));
            let timestamp = if ts.is_zero() { monotonic_now() } else { ts };
            let (w, h) = (self.converter.width, self.converter.height);
            let mut rgb = self.pool.take(rgb_len(w, h));
            let Some(out) = Arc::get_mut(&mut rgb) else {
                return Err(CameraError::Convert {
                    format: self.converter.format.name().into(),
                    message: "frame buffer still shared".into(),
                });
            };
            match self.converter.convert(&buf[..used], out) {
                Ok(()) => {}
                Err(e) if self.converter.format == PixelFormat::Mjpeg => {
                    // A corrupt JPEG happens on marginal USB links; skip it, count it.
                    log::debug!("camera {}: {e}", self.name);
                    self.dropped += 1;
                    continue;
                }
                Err(e) => return Err(e),
            }
            self.pool.keep(&rgb);
            return Ok(Frame {
                width: w,
                height: h,
                data: rgb,
                timestamp,
                sequence: u64::from(meta.sequence),
            });
        }
    }

    fn describe(&self) -> String {
        self.name.clone()
    }

    fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// One capture device as `check-camera` reports it.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    pub path: PathBuf,
    /// Names under `/dev/v4l/by-id/` pointing at this node (use these in `camera.device`).
    pub stable_names: Vec<String>,
    pub card: String,
    pub driver: String,
    pub bus: String,
    pub capture: bool,
    /// (fourcc, description, sizes, whether Wardgate can convert it).
    pub formats: Vec<FormatInfo>,
}

/// A pixel format and the frame sizes a device offers for it.
#[derive(Debug, Clone)]
pub struct FormatInfo {
    pub fourcc: String,
    pub description: String,
    pub sizes: Vec<String>,
    pub supported: bool,
}

/// Every `/dev/video*` node with its capabilities and formats.
pub fn list_devices() -> Vec<DeviceInfo> {
    let mut stable: Vec<(PathBuf, String)> = Vec::new();
    if let Ok(rd) = std::fs::read_dir(BY_ID_DIR) {
        for e in rd.flatten() {
            if let Ok(target) = std::fs::canonicalize(e.path()) {
                stable.push((target, e.file_name().to_string_lossy().into_owned()));
            }
        }
    }
    let mut nodes = v4l::context::enum_devices();
    nodes.sort_by_key(|n| n.index());
    nodes
        .iter()
        .filter_map(|node| {
            let path = node.path().to_owned();
            let dev = Device::with_path(&path).ok()?;
            let caps = dev.query_caps().ok()?;
            let capture = caps.capabilities.contains(CapFlags::VIDEO_CAPTURE);
            let formats = if capture {
                dev.enum_formats()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|d| FormatInfo {
                        fourcc: d.fourcc.to_string(),
                        description: d.description.clone(),
                        sizes: dev
                            .enum_framesizes(d.fourcc)
                            .unwrap_or_default()
                            .into_iter()
                            .map(|s| match s.size {
                                FrameSizeEnum::Discrete(x) => format!("{}x{}", x.width, x.height),
                                FrameSizeEnum::Stepwise(x) => format!(
                                    "{}x{}..{}x{}",
                                    x.min_width, x.min_height, x.max_width, x.max_height
                                ),
                            })
                            .collect(),
                        supported: PixelFormat::from_fourcc(d.fourcc.repr).is_some(),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let canon = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            Some(DeviceInfo {
                stable_names: stable
                    .iter()
                    .filter(|(t, _)| *t == canon)
                    .map(|(_, n)| n.clone())
                    .collect(),
                path,
                card: caps.card,
                driver: caps.driver,
                bus: caps.bus,
                capture,
                formats,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_prefers_mjpeg_then_yuyv() {
        use PixelFormat::*;
        assert_eq!(
            choose_format(&[Yuyv, Mjpeg], PixelFormatChoice::Auto),
            Ok(Mjpeg)
        );
        assert_eq!(
            choose_format(&[Rgb24, Nv12, Yuyv], PixelFormatChoice::Auto),
            Ok(Yuyv)
        );
        assert_eq!(choose_format(&[Nv12], PixelFormatChoice::Auto), Ok(Nv12));
        let err = choose_format(&[Yuyv], PixelFormatChoice::Mjpeg).unwrap_err();
        assert!(err.contains("YUYV"), "{err}");
    }

    #[test]
    fn missing_device_is_disconnected_not_fatal() {
        let cfg = CameraConfig {
            device: "/dev/wardgate-no-such-video".into(),
            ..Default::default()
        };
        let err = V4l2Source::open(&cfg).err().expect("no such device");
        assert!(err.is_transient(), "{err}");
        assert!(err.to_string().contains("wardgate-no-such-video"), "{err}");
    }

    #[test]
    fn stable_names_resolve_under_by_id() {
        assert_eq!(resolve_device("/dev/video3"), PathBuf::from("/dev/video3"));
        assert_eq!(
            resolve_device("usb-Cam_123-video-index0"),
            PathBuf::from("/dev/v4l/by-id/usb-Cam_123-video-index0")
        );
    }

    #[test]
    fn a_non_video_node_is_a_clear_error() {
        let cfg = CameraConfig {
            device: "/dev/null".into(),
            ..Default::default()
        };
        let err = V4l2Source::open(&cfg)
            .err()
            .expect("/dev/null is no camera");
        assert!(err.to_string().contains("/dev/null"), "{err}");
    }
}
