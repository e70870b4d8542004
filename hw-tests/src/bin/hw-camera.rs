//! Hardware tests of Wardgate's capture layer against real V4L2 drivers (vivid, v4l2loopback).
//!
//! `hw-camera vivid | unplug | loopback | nir` — run by hw-tests/run inside the QEMU guest, or
//! on a board with the devices named by `WARDGATE_HW_VIVID` / `WARDGATE_HW_LOOPBACK` /
//! `WARDGATE_HW_LOOPBACK_IR`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use wardgate::camera::{
    self, spawn_capture, wait_for_frame, CameraConfig, CaptureState, Frame, FrameSource,
    PixelFormatChoice, SourceOpener, V4l2Source,
};
use wardgate_hw_tests::checks::Checks;
use wardgate_hw_tests::{env_path, kmod};

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let mut checks = Checks::new();
    match mode.as_str() {
        "vivid" => vivid(&mut checks),
        "unplug" => unplug(&mut checks),
        "loopback" => loopback(&mut checks),
        "nir" => nir(&mut checks),
        _ => {
            eprintln!("usage: hw-camera vivid|unplug|loopback|nir");
            std::process::exit(2);
        }
    }
    checks.finish();
}

fn vivid_config(format: PixelFormatChoice) -> Result<CameraConfig> {
    Ok(CameraConfig {
        device: env_path("WARDGATE_HW_VIVID")?.display().to_string(),
        width: 640,
        height: 480,
        fps: 25,
        pixel_format: format,
        // TCG is slow: allow a long first frame, but a stalled stream still fails.
        timeout_ms: 5000,
        reconnect_initial_ms: 100,
        reconnect_max_ms: 1000,
        ..Default::default()
    })
}

fn artifacts() -> Option<PathBuf> {
    std::env::var_os("WARDGATE_HW_ARTIFACTS").map(PathBuf::from)
}

fn save_png(frame: &Frame, name: &str) {
    if let Some(dir) = artifacts() {
        let _ = std::fs::create_dir_all(&dir);
        let _ = image::save_buffer(
            dir.join(name),
            &frame.data,
            frame.width,
            frame.height,
            image::ExtendedColorType::Rgb8,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// vivid: negotiation, frame size, timestamps, rate

fn vivid(checks: &mut Checks) {
    checks.run("vivid is listed with YUYV 640x480", || {
        let path = env_path("WARDGATE_HW_VIVID")?;
        let devices = camera::list_devices();
        let d = devices
            .iter()
            .find(|d| d.path == path)
            .with_context(|| format!("{} not listed: {devices:?}", path.display()))?;
        ensure!(d.capture, "not a capture node");
        let yuyv = d
            .formats
            .iter()
            .find(|f| f.fourcc == "YUYV")
            .context("no YUYV format")?;
        println!("  {} [{}]: {} formats", d.card, d.driver, d.formats.len());
        ensure!(yuyv.supported, "YUYV not marked supported");
        Ok(())
    });

    checks.run("capture 120 YUYV frames at 25 fps", || {
        let cfg = vivid_config(PixelFormatChoice::Yuyv)?;
        let mut src = V4l2Source::open(&cfg)?;
        let conv = src.converter().clone();
        ensure!(
            (conv.width, conv.height) == (640, 480),
            "negotiated {}x{}",
            conv.width,
            conv.height
        );
        ensure!(
            conv.format == camera::PixelFormat::Yuyv,
            "negotiated {:?}",
            conv.format
        );
        // Let the stream settle (first frames after STREAMON come early under TCG).
        for _ in 0..10 {
            src.next_frame()?;
        }
        let n = 120;
        let mut stamps = Vec::with_capacity(n);
        let mut sequences = Vec::with_capacity(n);
        let mut last: Option<Frame> = None;
        for i in 0..n {
            let f = src.next_frame()?;
            ensure!(
                f.width == 640 && f.height == 480 && f.data.len() == 640 * 480 * 3,
                "frame {i} is {}x{} with {} bytes",
                f.width,
                f.height,
                f.data.len()
            );
            if let Some(prev) = &last {
                ensure!(
                    f.timestamp > prev.timestamp,
                    "timestamp of frame {i} did not increase: {:?} then {:?}",
                    prev.timestamp,
                    f.timestamp
                );
            }
            stamps.push(f.timestamp);
            sequences.push(f.sequence);
            last = Some(f);
        }
        let last = last.context("no frame")?;
        save_png(&last, "vivid-yuyv.png");
        // vivid's test pattern is colourful: a flat frame would mean conversion is broken.
        let distinct: std::collections::HashSet<[u8; 3]> = (0..640)
            .step_by(16)
            .filter_map(|x| last.pixel(x, 240))
            .collect();
        ensure!(distinct.len() >= 4, "frame looks flat: {distinct:?}");
        // The driver's rate is judged from its own sequence numbers and timestamps:
        // frames it produced per second of its clock, whether or not this reader kept
        // up. How many a slow reader receives is a speed, measured in benchmarks, not
        // here (an emulated guest under load converts YUYV well below 25 fps).
        let span = stamps[n - 1] - stamps[0];
        let produced = sequences[n - 1].saturating_sub(sequences[0]);
        let fps = produced as f64 / span.as_secs_f64();
        let received = (n - 1) as f64 / span.as_secs_f64();
        println!(
            "  {n} frames in {:.2} s: driver {fps:.2} fps ({produced} sequence steps), \
             received {received:.2} fps, {} dropped by the driver",
            span.as_secs_f64(),
            src.dropped()
        );
        ensure!(
            produced >= (n - 1) as u64,
            "driver sequence advanced {produced} over {n} frames"
        );
        ensure!(
            (fps - 25.0).abs() <= 25.0 * 0.2,
            "driver produced {fps:.2} fps, requested 25 (±20 %)"
        );
        Ok(())
    });

    checks.run("capture NV12 and RGB24", || {
        for (choice, name) in [
            (PixelFormatChoice::Nv12, "nv12"),
            (PixelFormatChoice::Rgb24, "rgb24"),
        ] {
            let mut src = V4l2Source::open(&vivid_config(choice)?)?;
            let mut f = src.next_frame()?;
            for _ in 0..5 {
                f = src.next_frame()?;
            }
            ensure!(
                f.data.len() == 640 * 480 * 3,
                "{name}: {} bytes",
                f.data.len()
            );
            save_png(&f, &format!("vivid-{name}.png"));
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// unplug: the driver goes away while streaming and comes back

const VIVID_DRIVER: &str = "/sys/bus/platform/drivers/vivid";

fn vivid_platform_device() -> Result<String> {
    for e in std::fs::read_dir(VIVID_DRIVER).context("vivid driver not loaded")? {
        let name = e?.file_name().to_string_lossy().into_owned();
        if name.starts_with("vivid.") {
            return Ok(name);
        }
    }
    bail!("no vivid device bound in {VIVID_DRIVER}")
}

fn sysfs_write(path: &str, value: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("open {path}"))?;
    f.write_all(value.as_bytes())
        .with_context(|| format!("write {value} to {path}"))
}

/// Waits until the capture reports the wanted state class.
fn wait_state(cap: &camera::Capture, want_lost: bool, timeout: Duration) -> Result<CaptureState> {
    let start = Instant::now();
    loop {
        let s = cap.state();
        let lost = matches!(s, CaptureState::Lost { .. });
        let streaming = matches!(s, CaptureState::Streaming { .. });
        if (want_lost && lost) || (!want_lost && streaming) {
            return Ok(s);
        }
        if matches!(s, CaptureState::Ended | CaptureState::Stopped) {
            bail!("capture ended: {s:?}");
        }
        if start.elapsed() > timeout {
            bail!(
                "no {} within {timeout:?}; state {s:?}",
                if want_lost { "loss report" } else { "resume" }
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for `n` frames newer than `after`.
fn wait_frames(
    rx: &mut camera::FrameWatch,
    after: u64,
    n: usize,
    timeout: Duration,
) -> Result<u64> {
    let start = Instant::now();
    let mut got = 0;
    let mut last = after;
    while got < n {
        let left = timeout
            .checked_sub(start.elapsed())
            .with_context(|| format!("only {got} of {n} frames within {timeout:?}"))?;
        let f = wait_for_frame(rx, left)
            .with_context(|| format!("only {got} of {n} frames within {timeout:?}"))?;
        if f.sequence > last || (after == u64::MAX && got == 0) {
            last = f.sequence;
            got += 1;
        }
    }
    Ok(last)
}

fn unplug(checks: &mut Checks) {
    let cfg = match vivid_config(PixelFormatChoice::Yuyv) {
        Ok(c) => c,
        Err(e) => {
            checks.run("config", || Err(e));
            return;
        }
    };
    let opener_cfg = cfg.clone();
    let opener: SourceOpener = Box::new(move || {
        V4l2Source::open(&opener_cfg).map(|s| Box::new(s) as Box<dyn FrameSource>)
    });
    let cap = spawn_capture(
        opener,
        (
            Duration::from_millis(cfg.reconnect_initial_ms),
            Duration::from_millis(cfg.reconnect_max_ms),
        ),
    );
    let mut rx = cap.frames();
    let mut last = u64::MAX;

    checks.run("streams before the unplug", || {
        last = wait_frames(&mut rx, u64::MAX, 20, Duration::from_secs(60))?;
        Ok(())
    });

    checks.run("unbind: loss reported, resumes after bind", || {
        let dev = vivid_platform_device()?;
        sysfs_write(&format!("{VIVID_DRIVER}/unbind"), &dev)?;
        let s = wait_state(&cap, true, Duration::from_secs(30))?;
        println!("  reported: {s:?}");
        // Nothing new arrives while the camera is away.
        std::thread::sleep(Duration::from_secs(1));
        let stale = rx.borrow_and_update().as_ref().map(|f| f.sequence);
        std::thread::sleep(Duration::from_secs(1));
        ensure!(
            !rx.has_changed().unwrap_or(true),
            "frames kept arriving after the unplug (last {stale:?})"
        );
        sysfs_write(&format!("{VIVID_DRIVER}/bind"), &dev)?;
        wait_state(&cap, false, Duration::from_secs(60))?;
        last = wait_frames(&mut rx, stale.unwrap_or(last), 20, Duration::from_secs(60))?;
        let st = cap.stats();
        println!("  after resume: {st:?}");
        ensure!(st.losses >= 1 && st.reconnects >= 1, "{st:?}");
        Ok(())
    });

    checks.run("module unload/reload: resumes on its own", || {
        let dev = vivid_platform_device()?;
        // The open stream pins the module; unbinding first makes the capture close it.
        sysfs_write(&format!("{VIVID_DRIVER}/unbind"), &dev)?;
        wait_state(&cap, true, Duration::from_secs(30))?;
        let start = Instant::now();
        loop {
            match kmod::unload("vivid") {
                Ok(()) => break,
                Err(e) if start.elapsed() > Duration::from_secs(20) => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
        std::thread::sleep(Duration::from_secs(2));
        ensure!(
            matches!(cap.state(), CaptureState::Lost { .. }),
            "state {:?} while the driver is unloaded",
            cap.state()
        );
        kmod::load("vivid", &["n_devs=1", "node_types=0x1"])?;
        wait_state(&cap, false, Duration::from_secs(60))?;
        let before = cap.stats().reconnects;
        last = wait_frames(&mut rx, last, 20, Duration::from_secs(60))?;
        ensure!(before >= 2, "reconnects {before}");
        println!("  after reload: {:?}", cap.stats());
        Ok(())
    });
    cap.stop();
}

// ---------------------------------------------------------------------------------------------
// loopback: real face photos fed as MJPEG and YUYV

const W: u32 = 640;
const H: u32 = 480;

/// The photos to feed: the first `n` people photos, fitted into 640×480 on black.
fn face_frames(n: usize) -> Result<Vec<Vec<u8>>> {
    let faces = env_path("WARDGATE_HW_FACES")?.join("people");
    let mut files: Vec<PathBuf> = walk(&faces)?
        .into_iter()
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("png"))
        })
        .filter(|p| !p.to_string_lossy().contains("exif-rotation"))
        .collect();
    files.sort();
    ensure!(
        files.len() >= n,
        "only {} photos in {}",
        files.len(),
        faces.display()
    );
    files
        .iter()
        .take(n)
        .map(|p| {
            let img = image::open(p).with_context(|| p.display().to_string())?;
            let fitted = img
                .resize(W, H, image::imageops::FilterType::Triangle)
                .into_rgb8();
            let mut canvas = image::RgbImage::new(W, H);
            let x = (W - fitted.width()) / 2;
            let y = (H - fitted.height()) / 2;
            image::imageops::replace(&mut canvas, &fitted, i64::from(x), i64::from(y));
            Ok(canvas.into_raw())
        })
        .collect()
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| dir.display().to_string())? {
        let p = e?.path();
        if p.is_dir() {
            out.extend(walk(&p)?);
        } else {
            out.push(p);
        }
    }
    Ok(out)
}

/// RGB → YUYV, BT.601 limited range. Deliberately a plain independent implementation (not the
/// crate Wardgate converts with), done once per photo.
fn rgb_to_yuyv(rgb: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rgb.len() / 3 * 2);
    for px in rgb.chunks_exact(6) {
        let yuv = |r: f32, g: f32, b: f32| {
            (
                16.0 + 0.257 * r + 0.504 * g + 0.098 * b,
                128.0 - 0.148 * r - 0.291 * g + 0.439 * b,
                128.0 + 0.439 * r - 0.368 * g - 0.071 * b,
            )
        };
        let f = |i: usize| f32::from(px[i]);
        let (y0, u0, v0) = yuv(f(0), f(1), f(2));
        let (y1, u1, v1) = yuv(f(3), f(4), f(5));
        let c = |v: f32| v.round().clamp(0.0, 255.0) as u8;
        out.extend_from_slice(&[c(y0), c((u0 + u1) / 2.0), c(y1), c((v0 + v1) / 2.0)]);
    }
    out
}

fn to_jpeg(rgb: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode(
        rgb,
        W,
        H,
        image::ExtendedColorType::Rgb8,
    )?;
    Ok(out)
}

/// Mean absolute error per channel value, on every 4th pixel of every 4th row.
fn mae(a: &[u8], b: &[u8]) -> f64 {
    let (w, h) = (W as usize, H as usize);
    let mut sum = 0u64;
    let mut n = 0u64;
    for y in (0..h).step_by(4) {
        for x in (0..w).step_by(4) {
            let i = (y * w + x) * 3;
            for c in 0..3 {
                sum += u64::from(a[i + c].abs_diff(b[i + c]));
                n += 1;
            }
        }
    }
    sum as f64 / n as f64
}

/// Detector check on the captured frames: Wardgate's face detector (`vision::Engine`, the real
/// LiteRT BlazeFace model) must find a face in at least 95 % of them. Every fed photo shows one
/// face, so a miss means capture or conversion damaged the picture in a way the pixel check
/// alone would not show (colour swap, wrong chroma order).
fn detector_check(frames: &[Frame]) -> Result<()> {
    let cfg = wardgate::vision::VisionConfig::default();
    let engine = wardgate::vision::Engine::load(&cfg).context("load the vision models")?;
    let mut with_face = 0;
    for f in frames {
        let img = image::RgbImage::from_raw(f.width, f.height, f.data.to_vec())
            .context("frame is not RGB8")?;
        if !engine.detect(&img)?.is_empty() {
            with_face += 1;
        }
    }
    println!("  detector: a face in {with_face}/{} frames", frames.len());
    ensure!(
        with_face * 100 >= frames.len() * 95,
        "a face in only {with_face}/{} frames",
        frames.len()
    );
    Ok(())
}

/// Feeds `payloads` round-robin into the loopback device (each one `repeat` times) until
/// `stop`, at about 7 fps.
///
/// Why not faster: v4l2loopback lets the writer overwrite a buffer the reader has dequeued (a real
/// camera driver never does), so a writer that laps a slow reader tears frames. Under TCG on a
/// busy host an MJPEG decode can outlast two 66 ms write periods (seen: 4 of 40 torn frames);
/// at 150 ms the reader waits for the writer instead.
fn feeder(
    path: PathBuf,
    fourcc: [u8; 4],
    payloads: Vec<Vec<u8>>,
    repeat: usize,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    use v4l::video::Output;
    let dev = v4l::Device::with_path(&path).with_context(|| path.display().to_string())?;
    let mut fmt = v4l::Format::new(W, H, v4l::FourCC::new(&fourcc));
    if &fourcc == b"MJPG" {
        fmt.size = W * H * 2;
    }
    let got = Output::set_format(&dev, &fmt).context("S_FMT on the loopback output")?;
    ensure!(got.fourcc.repr == fourcc, "loopback chose {}", got.fourcc);
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .with_context(|| path.display().to_string())?;
    let mut i = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let p = &payloads[(i / repeat) % payloads.len()];
        out.write_all(p).context("write frame to loopback")?;
        i += 1;
        std::thread::sleep(Duration::from_millis(150));
    }
    Ok(())
}

fn loopback(checks: &mut Checks) {
    let photos = match face_frames(6) {
        Ok(p) => p,
        Err(e) => {
            checks.run("load face photos", || Err(e));
            return;
        }
    };
    for (fourcc, choice, name) in [
        (*b"MJPG", PixelFormatChoice::Mjpeg, "mjpeg"),
        (*b"YUYV", PixelFormatChoice::Yuyv, "yuyv"),
    ] {
        checks.run(&format!("loopback {name}: captured frames match the fed photos"), || {
            let path = env_path("WARDGATE_HW_LOOPBACK")?;
            let payloads: Vec<Vec<u8>> = match name {
                "mjpeg" => photos.iter().map(|p| to_jpeg(p)).collect::<Result<_>>()?,
                _ => photos.iter().map(|p| rgb_to_yuyv(p)).collect(),
            };
            let stop = Arc::new(AtomicBool::new(false));
            let feed = {
                let (path, stop) = (path.clone(), Arc::clone(&stop));
                std::thread::spawn(move || feeder(path, fourcc, payloads, 3, stop))
            };
            let result = (|| -> Result<()> {
                // The capture side appears once the feeder has configured and written a frame.
                std::thread::sleep(Duration::from_secs(2));
                let cfg = CameraConfig {
                    device: path.display().to_string(),
                    width: W,
                    height: H,
                    fps: 15,
                    pixel_format: choice,
                    timeout_ms: 5000,
                    ..Default::default()
                };
                let mut src = V4l2Source::open(&cfg)?;
                println!("  capturing from {}", src.describe());
                let n = 40;
                let mut frames = Vec::with_capacity(n);
                for _ in 0..n {
                    frames.push(src.next_frame()?);
                }
                let mut matched = 0;
                let mut seen = std::collections::HashSet::new();
                let mut worst: f64 = 0.0;
                for f in &frames {
                    ensure!(f.width == W && f.height == H, "frame {}x{}", f.width, f.height);
                    let (best, err) = photos
                        .iter()
                        .enumerate()
                        .map(|(i, p)| (i, mae(&f.data, p)))
                        .min_by(|a, b| a.1.total_cmp(&b.1))
                        .context("no photos")?;
                    worst = worst.max(err);
                    if err < 8.0 {
                        matched += 1;
                        seen.insert(best);
                    }
                }
                save_png(&frames[n - 1], &format!("loopback-{name}.png"));
                println!(
                    "  {matched}/{n} frames within MAE 8 of a fed photo (worst {worst:.2}), {} distinct photos seen",
                    seen.len()
                );
                ensure!(matched * 100 >= n * 95, "only {matched}/{n} frames match");
                ensure!(seen.len() >= 3, "stream looks stuck: {} distinct photos", seen.len());
                detector_check(&frames)?;
                Ok(())
            })();
            stop.store(true, Ordering::SeqCst);
            let fed = feed.join().map_err(|_| anyhow::anyhow!("feeder panicked"))?;
            result.and(fed)
        });
    }
}

// nir: strict liveness's near-infrared cross-check on two loopback devices

/// What the infrared device is fed.
const IR_FACE: u8 = 0;
const IR_SCREEN: u8 = 1;

/// The skew allowed here between the colour and infrared frames of one moment: 4 periods of the
/// feeder. The guest's one emulated CPU runs two captures, the feeder and the detector, so the
/// two frames may be dequeued a few hundred milliseconds apart; the shipped limit itself is a
/// unit test's (`liveness::nir`).
const GUEST_NIR_SKEW_MS: u64 = 600;

/// A synthetic near-infrared view of `rgb`: its luminance with the flatter, brighter look of
/// active illumination, as 8-bit `GREY`.
fn infrared_of(rgb: &[u8]) -> Vec<u8> {
    rgb.chunks_exact(3)
        .map(|p| {
            let l = 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
            (l * 0.8 + 40.0).round().clamp(0.0, 255.0) as u8
        })
        .collect()
}

/// Opens a loopback output device for `fourcc` frames of W×H.
fn loopback_output(path: &Path, fourcc: [u8; 4], size: u32) -> Result<std::fs::File> {
    use v4l::video::Output;
    let dev = v4l::Device::with_path(path).with_context(|| path.display().to_string())?;
    let mut fmt = v4l::Format::new(W, H, v4l::FourCC::new(&fourcc));
    fmt.size = size;
    let got = Output::set_format(&dev, &fmt).context("S_FMT on the loopback output")?;
    ensure!(got.fourcc.repr == fourcc, "loopback chose {}", got.fourcc);
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| path.display().to_string())
}

/// A binocular module: every 150 ms one colour frame (MJPEG) and, right after it, the
/// infrared frame of the same moment (GREY): the face's, or a screen's (dark), as `ir` says.
fn binocular_feeder(
    colour: PathBuf,
    infrared: PathBuf,
    jpeg: Vec<u8>,
    ir_face: Vec<u8>,
    ir: Arc<std::sync::atomic::AtomicU8>,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    let mut out_c = loopback_output(&colour, *b"MJPG", W * H * 2)?;
    let mut out_ir = loopback_output(&infrared, *b"GREY", W * H)?;
    let screen = vec![14u8; (W * H) as usize];
    while !stop.load(Ordering::SeqCst) {
        out_c.write_all(&jpeg).context("write colour frame")?;
        let frame = if ir.load(Ordering::SeqCst) == IR_FACE {
            &ir_face
        } else {
            &screen
        };
        out_ir.write_all(frame).context("write infrared frame")?;
        std::thread::sleep(Duration::from_millis(150));
    }
    Ok(())
}

/// Colour frames captured through Wardgate's V4L2 source, each judged against the infrared
/// frame of its moment (Wardgate's second capture, as `liveness.mode = "strict"` runs it) by
/// the cross-check the door loop uses, with the real face detector.
fn cross_check_frames(
    engine: &wardgate::vision::Engine,
    colour: &mut camera::FrameWatch,
    infrared: &camera::FrameHistory,
    n: usize,
) -> Result<wardgate::liveness::nir::Cues> {
    use wardgate::liveness::{nir, LivenessConfig};
    let cfg = LivenessConfig {
        nir_max_skew_ms: GUEST_NIR_SKEW_MS,
        ..LivenessConfig::default()
    };
    let mut check = nir::CrossCheck::new(&cfg);
    let mut judged = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    while judged < n {
        ensure!(
            Instant::now() < deadline,
            "only {judged} of {n} colour frames judged"
        );
        let Some(f) = wait_for_frame(colour, Duration::from_secs(5)) else {
            bail!("no colour frame within 5 s");
        };
        // The infrared frame of that moment arrives right after the colour one. It is taken
        // before the colour frame is analysed: on a slow guest one detection can outlast the
        // infrared history, as a real door loop's would if it fell that far behind.
        std::thread::sleep(Duration::from_millis(30));
        let Some(ir) = infrared.nearest(f.timestamp) else {
            continue;
        };
        let img = image::RgbImage::from_raw(f.width, f.height, f.data.to_vec())
            .context("frame is not RGB8")?;
        let Some(face) = engine
            .detect(&img)?
            .into_iter()
            .max_by(|a, b| a.area().total_cmp(&b.area()))
        else {
            bail!("no face in the colour frame");
        };
        match nir::examine(&ir, f.timestamp, (&face, (f.width, f.height)), &cfg, |i| {
            engine.detect(i)
        })? {
            Some(finding) => {
                check.record(finding);
                judged += 1;
            }
            None => check.unmatched(),
        }
    }
    Ok(check.cues())
}

fn nir(checks: &mut Checks) {
    use wardgate::liveness::nir::State;
    let photo = match face_frames(1) {
        Ok(mut p) => p.remove(0),
        Err(e) => {
            checks.run("load a face photo", || Err(e));
            return;
        }
    };
    checks.run(
        "nir: a face in both cameras confirms, a blank infrared frame vetoes",
        || {
            let colour_path = env_path("WARDGATE_HW_LOOPBACK")?;
            let ir_path = env_path("WARDGATE_HW_LOOPBACK_IR")?;
            let which = Arc::new(std::sync::atomic::AtomicU8::new(IR_FACE));
            let stop = Arc::new(AtomicBool::new(false));
            let feed = {
                let (c, i, w, s) = (
                    colour_path.clone(),
                    ir_path.clone(),
                    Arc::clone(&which),
                    Arc::clone(&stop),
                );
                let (jpeg, ir_face) = (to_jpeg(&photo)?, infrared_of(&photo));
                std::thread::spawn(move || binocular_feeder(c, i, jpeg, ir_face, w, s))
            };
            let result = (|| -> Result<()> {
                std::thread::sleep(Duration::from_secs(2));
                let colour_cfg = CameraConfig {
                    device: colour_path.display().to_string(),
                    width: W,
                    height: H,
                    fps: 15,
                    timeout_ms: 5000,
                    ir_device: ir_path.display().to_string(),
                    ..Default::default()
                };
                let ir_cfg = colour_cfg.infrared().context("camera.ir_device is set")?;
                let colour_cap = camera::spawn_from_config(&colour_cfg);
                let ir_cap = camera::spawn_from_config(&ir_cfg);
                let history = camera::FrameHistory::follow(ir_cap.frames())?;
                let engine =
                    wardgate::vision::Engine::load(&wardgate::vision::VisionConfig::default())
                        .context("load the vision models")?;
                let mut colour = colour_cap.frames();
                // Wait until both streams flow.
                let deadline = Instant::now() + Duration::from_secs(30);
                while history.nearest(Duration::ZERO).is_none() {
                    ensure!(
                        Instant::now() < deadline,
                        "no infrared frame: {:?}",
                        ir_cap.state()
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
                println!("  colour: {:?}", colour_cap.state());
                println!("  infrared: {:?}", ir_cap.state());
                if let Some(f) = history.nearest(Duration::ZERO) {
                    save_png(&f, "nir-face.png");
                }
                let live = cross_check_frames(&engine, &mut colour, &history, 4)?;
                println!("  face in both: {live:?}");
                ensure!(live.state == State::Confirmed, "not confirmed: {live:?}");
                ensure!(
                    live.with_face == live.frames,
                    "a face frame missed: {live:?}"
                );

                which.store(IR_SCREEN, Ordering::SeqCst);
                // Long past `GUEST_NIR_SKEW_MS`, so no colour frame judged next can pair with
                // an infrared frame from before the switch.
                std::thread::sleep(Duration::from_secs(5));
                let screen = cross_check_frames(&engine, &mut colour, &history, 4)?;
                println!("  blank infrared: {screen:?}");
                ensure!(screen.state == State::Vetoed, "not vetoed: {screen:?}");
                ensure!(screen.with_face == 0, "a face in a blank frame: {screen:?}");
                colour_cap.stop();
                ir_cap.stop();
                Ok(())
            })();
            stop.store(true, Ordering::SeqCst);
            let fed = feed
                .join()
                .map_err(|_| anyhow::anyhow!("feeder panicked"))?;
            result.and(fed)
        },
    );
}
