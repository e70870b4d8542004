//! Replay sources for the demo and tests: a directory of photos, a Y4M video, an MJPEG file.
//! Each paces itself to the configured fps so downstream code sees camera-like timing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use yuvutils_rs::{yuv420_to_rgb, YuvPlanarImage, YuvRange, YuvStandardMatrix};

use super::convert::decode_jpeg;
use super::frame::rgb_len;
use super::{monotonic_now, CameraError, Frame, FrameSource};

fn replay_err(path: &Path, message: impl Into<String>) -> CameraError {
    CameraError::Replay {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Sleeps until frame `n` is due at `fps`, so replay runs at a steady rate.
pub(super) struct Pacer {
    start: Instant,
    period: Duration,
    n: u32,
}

impl Pacer {
    pub(super) fn new(fps: u32) -> Self {
        Self {
            start: Instant::now(),
            period: Duration::from_secs(1) / fps.max(1),
            n: 0,
        }
    }

    pub(super) fn wait(&mut self) {
        let due = self.start + self.period * self.n;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        } else if now - due > self.period * 4 {
            // Far behind (the host was suspended, a debugger stopped us): restart the schedule
            // instead of bursting frames to catch up.
            self.start = now;
            self.n = 0;
        }
        self.n += 1;
    }
}

/// A decoded photo: width, height, RGB8.
type Decoded = (u32, u32, Arc<[u8]>);

/// A directory of JPEG/PNG photos replayed in file-name order (EXIF orientation applied).
/// Frames may differ in size from one photo to the next.
pub struct ImageDirSource {
    dir: PathBuf,
    files: Vec<PathBuf>,
    decoded: Vec<Option<Decoded>>,
    next: usize,
    looping: bool,
    pacer: Pacer,
}

impl ImageDirSource {
    pub fn open(dir: &Path, fps: u32, looping: bool) -> Result<Self, CameraError> {
        let files = image_files(dir)?;
        if files.is_empty() {
            return Err(replay_err(dir, "contains no .jpg, .jpeg or .png file"));
        }
        Ok(Self {
            dir: dir.to_owned(),
            decoded: vec![None; files.len()],
            files,
            next: 0,
            looping,
            pacer: Pacer::new(fps),
        })
    }

    /// Number of photos in the directory.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// The `.jpg`, `.jpeg` and `.png` files directly in `dir`, in name order.
pub fn image_files(dir: &Path) -> Result<Vec<PathBuf>, CameraError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| replay_err(dir, e.to_string()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Decodes a photo to RGB8 with its EXIF orientation applied.
pub fn load_photo_rgb(path: &Path) -> Result<(u32, u32, Vec<u8>), CameraError> {
    use image::ImageDecoder;
    let reader = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| replay_err(path, e.to_string()))?;
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| replay_err(path, e.to_string()))?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img =
        image::DynamicImage::from_decoder(decoder).map_err(|e| replay_err(path, e.to_string()))?;
    img.apply_orientation(orientation);
    let rgb = img.into_rgb8();
    let (w, h) = rgb.dimensions();
    Ok((w, h, rgb.into_raw()))
}

impl FrameSource for ImageDirSource {
    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        if self.next >= self.files.len() {
            if !self.looping {
                return Err(CameraError::EndOfStream {
                    path: self.dir.display().to_string(),
                });
            }
            self.next = 0;
        }
        let i = self.next;
        self.next += 1;
        if self.decoded[i].is_none() {
            let (w, h, data) = load_photo_rgb(&self.files[i])?;
            self.decoded[i] = Some((w, h, data.into()));
        }
        let Some((w, h, data)) = self.decoded[i].clone() else {
            return Err(replay_err(&self.files[i], "not decoded"));
        };
        self.pacer.wait();
        Ok(Frame {
            width: w,
            height: h,
            data,
            timestamp: monotonic_now(),
            sequence: i as u64,
        })
    }

    fn describe(&self) -> String {
        format!(
            "photos in {} ({} files)",
            self.dir.display(),
            self.files.len()
        )
    }
}

/// A YUV4MPEG2 file (`ffmpeg -pix_fmt yuv420p -f yuv4mpegpipe`), 4:2:0 chroma only.
pub struct Y4mSource {
    path: PathBuf,
    data: Vec<u8>,
    width: u32,
    height: u32,
    first_frame: usize,
    pos: usize,
    looping: bool,
    pacer: Pacer,
    index: u64,
}

impl Y4mSource {
    pub fn open(path: &Path, fps: u32, looping: bool) -> Result<Self, CameraError> {
        let data = std::fs::read(path).map_err(|e| replay_err(path, e.to_string()))?;
        let nl = data
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| replay_err(path, "no Y4M header line"))?;
        let header =
            std::str::from_utf8(&data[..nl]).map_err(|_| replay_err(path, "bad header"))?;
        let mut parts = header.split(' ');
        if parts.next() != Some("YUV4MPEG2") {
            return Err(replay_err(path, "not a YUV4MPEG2 file"));
        }
        let (mut width, mut height) = (0u32, 0u32);
        for p in parts {
            let (tag, val) = p.split_at(p.len().min(1));
            match tag {
                "W" => width = val.parse().map_err(|_| replay_err(path, "bad width"))?,
                "H" => height = val.parse().map_err(|_| replay_err(path, "bad height"))?,
                "C" if !val.starts_with("420") => {
                    return Err(replay_err(
                        path,
                        format!("colour space C{val} unsupported (use 4:2:0, -pix_fmt yuv420p)"),
                    ))
                }
                _ => {}
            }
        }
        if width == 0 || height == 0 || width % 2 != 0 || height % 2 != 0 {
            return Err(replay_err(path, format!("bad frame size {width}x{height}")));
        }
        let s = Self {
            path: path.to_owned(),
            data,
            width,
            height,
            first_frame: nl + 1,
            pos: nl + 1,
            looping,
            pacer: Pacer::new(fps),
            index: 0,
        };
        if s.frame_at(s.first_frame)?.is_none() {
            return Err(replay_err(path, "contains no frame"));
        }
        Ok(s)
    }

    /// The planar frame at `pos`: (data range, next position); `None` at the end of file.
    fn frame_at(&self, pos: usize) -> Result<Option<(usize, usize)>, CameraError> {
        if pos >= self.data.len() {
            return Ok(None);
        }
        let rest = &self.data[pos..];
        if !rest.starts_with(b"FRAME") {
            return Err(replay_err(
                &self.path,
                format!("no FRAME marker at byte {pos}"),
            ));
        }
        let nl = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| replay_err(&self.path, "truncated FRAME header"))?;
        let start = pos + nl + 1;
        let (w, h) = (self.width as usize, self.height as usize);
        let len = w * h + 2 * (w / 2) * (h / 2);
        if start + len > self.data.len() {
            return Err(replay_err(&self.path, "truncated last frame"));
        }
        Ok(Some((start, start + len)))
    }
}

impl FrameSource for Y4mSource {
    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        let (start, end) = match self.frame_at(self.pos)? {
            Some(r) => r,
            None if self.looping => {
                self.pos = self.first_frame;
                self.frame_at(self.pos)?
                    .ok_or_else(|| replay_err(&self.path, "contains no frame"))?
            }
            None => {
                return Err(CameraError::EndOfStream {
                    path: self.path.display().to_string(),
                })
            }
        };
        self.pos = end;
        let (w, h) = (self.width, self.height);
        let y_len = (w * h) as usize;
        let c_len = ((w / 2) * (h / 2)) as usize;
        let buf = &self.data[start..end];
        let planar = YuvPlanarImage {
            y_plane: &buf[..y_len],
            y_stride: w,
            u_plane: &buf[y_len..y_len + c_len],
            u_stride: w / 2,
            v_plane: &buf[y_len + c_len..],
            v_stride: w / 2,
            width: w,
            height: h,
        };
        let mut rgb = vec![0u8; rgb_len(w, h)];
        yuv420_to_rgb(
            &planar,
            &mut rgb,
            w * 3,
            YuvRange::Limited,
            YuvStandardMatrix::Bt601,
        )
        .map_err(|e| replay_err(&self.path, e.to_string()))?;
        self.pacer.wait();
        self.index += 1;
        Frame::new(w, h, rgb, monotonic_now(), self.index - 1)
    }

    fn describe(&self) -> String {
        format!(
            "Y4M {} ({}x{})",
            self.path.display(),
            self.width,
            self.height
        )
    }
}

/// A file of concatenated JPEG frames (`ffmpeg -f mjpeg`, or `cat *.jpg`).
pub struct MjpegFileSource {
    path: PathBuf,
    data: Vec<u8>,
    frames: Vec<(usize, usize)>,
    next: usize,
    looping: bool,
    pacer: Pacer,
}

/// Splits concatenated JPEGs by walking their marker segments, so an FFD9 inside a segment
/// (an EXIF thumbnail) does not end a frame early.
pub(crate) fn split_jpegs(data: &[u8]) -> Result<Vec<(usize, usize)>, String> {
    let mut frames = Vec::new();
    let mut i = 0;
    while i + 1 < data.len() {
        if data[i] != 0xFF || data[i + 1] != 0xD8 {
            return Err(format!("expected a JPEG start (FFD8) at byte {i}"));
        }
        let start = i;
        i += 2;
        // Header segments up to and including SOS.
        loop {
            while i < data.len() && data[i] == 0xFF && data.get(i + 1) == Some(&0xFF) {
                i += 1;
            }
            if i + 3 >= data.len() || data[i] != 0xFF {
                return Err(format!(
                    "truncated JPEG header in frame starting at {start}"
                ));
            }
            let marker = data[i + 1];
            let len = usize::from(u16::from_be_bytes([data[i + 2], data[i + 3]]));
            i += 2 + len;
            if marker == 0xDA {
                break;
            }
        }
        // Entropy-coded data: FF00 is a stuffed byte, FFD0–FFD7 are restart markers.
        loop {
            if i + 1 >= data.len() {
                return Err(format!("JPEG starting at {start} has no end marker"));
            }
            if data[i] == 0xFF {
                match data[i + 1] {
                    0x00 | 0xD0..=0xD7 | 0xFF => i += 1,
                    0xD9 => {
                        i += 2;
                        break;
                    }
                    _ => {
                        // Another segment (progressive scans): skip it by its length.
                        if i + 3 >= data.len() {
                            return Err(format!("truncated JPEG at {start}"));
                        }
                        let len = usize::from(u16::from_be_bytes([data[i + 2], data[i + 3]]));
                        i += 2 + len;
                        continue;
                    }
                }
            }
            i += 1;
        }
        frames.push((start, i));
    }
    Ok(frames)
}

impl MjpegFileSource {
    pub fn open(path: &Path, fps: u32, looping: bool) -> Result<Self, CameraError> {
        let data = std::fs::read(path).map_err(|e| replay_err(path, e.to_string()))?;
        let frames = split_jpegs(&data).map_err(|m| replay_err(path, m))?;
        if frames.is_empty() {
            return Err(replay_err(path, "contains no JPEG frame"));
        }
        Ok(Self {
            path: path.to_owned(),
            data,
            frames,
            next: 0,
            looping,
            pacer: Pacer::new(fps),
        })
    }

    /// Number of JPEG frames in the file.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

impl FrameSource for MjpegFileSource {
    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        if self.next >= self.frames.len() {
            if !self.looping {
                return Err(CameraError::EndOfStream {
                    path: self.path.display().to_string(),
                });
            }
            self.next = 0;
        }
        let (s, e) = self.frames[self.next];
        self.next += 1;
        let (w, h, rgb) = decode_jpeg(&self.data[s..e])
            .map_err(|m| replay_err(&self.path, format!("frame {}: {m}", self.next - 1)))?;
        self.pacer.wait();
        Frame::new(w, h, rgb, monotonic_now(), (self.next - 1) as u64)
    }

    fn describe(&self) -> String {
        format!(
            "MJPEG {} ({} frames)",
            self.path.display(),
            self.frames.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(w: u32, h: u32, shade: u8) -> Vec<u8> {
        let rgb = vec![shade; rgb_len(w, h)];
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
            .encode(&rgb, w, h, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    #[test]
    fn image_dir_is_sorted_paced_and_loops() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.jpg"), jpeg(16, 8, 200)).unwrap();
        std::fs::write(dir.path().join("a.jpg"), jpeg(8, 8, 20)).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let mut src = ImageDirSource::open(dir.path(), 50, true).unwrap();
        assert_eq!(src.len(), 2);
        let start = Instant::now();
        let sizes: Vec<(u32, u32)> = (0..5)
            .map(|_| {
                let f = src.next_frame().unwrap();
                (f.width, f.height)
            })
            .collect();
        assert_eq!(sizes, [(8, 8), (16, 8), (8, 8), (16, 8), (8, 8)]);
        // 5 frames at 50 fps: the 5th is due 80 ms after the first.
        assert!(start.elapsed() >= Duration::from_millis(75));
        let mut once = ImageDirSource::open(dir.path(), 50, false).unwrap();
        once.next_frame().unwrap();
        once.next_frame().unwrap();
        assert!(matches!(
            once.next_frame(),
            Err(CameraError::EndOfStream { .. })
        ));
    }

    #[test]
    fn empty_or_missing_dir_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = ImageDirSource::open(dir.path(), 10, true).err().unwrap();
        assert!(err.to_string().contains("no .jpg"), "{err}");
        let err = ImageDirSource::open(Path::new("/nonexistent/faces"), 10, true)
            .err()
            .unwrap();
        assert!(err.to_string().contains("/nonexistent/faces"), "{err}");
    }

    #[test]
    fn mjpeg_file_splits_frames() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clip.mjpeg");
        let mut data = jpeg(32, 16, 10);
        data.extend(jpeg(32, 16, 240));
        std::fs::write(&path, &data).unwrap();
        let mut src = MjpegFileSource::open(&path, 100, false).unwrap();
        assert_eq!(src.len(), 2);
        let a = src.next_frame().unwrap();
        let b = src.next_frame().unwrap();
        assert!(a.data[0] < 30 && b.data[0] > 220);
        assert!(matches!(
            src.next_frame(),
            Err(CameraError::EndOfStream { .. })
        ));
        std::fs::write(&path, &data[..data.len() - 10]).unwrap();
        let err = MjpegFileSource::open(&path, 10, true).err().unwrap();
        assert!(err.to_string().contains("clip.mjpeg"), "{err}");
    }

    #[test]
    fn y4m_decodes_and_rejects_422() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clip.y4m");
        let (w, h) = (4usize, 2usize);
        let mut data = b"YUV4MPEG2 W4 H2 F25:1 Ip A1:1 C420jpeg\n".to_vec();
        for y in [81u8, 235] {
            data.extend(b"FRAME\n");
            data.extend(vec![y; w * h]);
            let (u, v) = if y == 81 { (90, 240) } else { (128, 128) };
            data.extend(vec![u; w * h / 4]);
            data.extend(vec![v; w * h / 4]);
        }
        std::fs::write(&path, &data).unwrap();
        let mut src = Y4mSource::open(&path, 100, true).unwrap();
        let red = src.next_frame().unwrap();
        assert!(
            red.data[0] > 240 && red.data[1] < 15,
            "{:?}",
            &red.data[..3]
        );
        let white = src.next_frame().unwrap();
        assert!(white.data.iter().all(|&v| v > 245));
        // Loops back to the first frame.
        assert!(src.next_frame().unwrap().data[0] > 240);
        std::fs::write(&path, b"YUV4MPEG2 W4 H2 C422\nFRAME\n").unwrap();
        let err = Y4mSource::open(&path, 10, true).err().unwrap();
        assert!(err.to_string().contains("C422"), "{err}");
    }
}
