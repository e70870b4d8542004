//! Camera pixel formats → RGB8, using SIMD crates: yuvutils-rs for YUYV and NV12 (AVX2/SSE/NEON
//! dispatch at run time) and zune-jpeg for MJPEG. No per-pixel loop of ours on the hot path;
//! `benches/camera.rs` measures each format.

use yuvutils_rs::{
    yuv_nv12_to_rgb, yuyv422_to_rgb, YuvBiPlanarImage, YuvConversionMode, YuvPackedImage, YuvRange,
    YuvStandardMatrix,
};
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use super::frame::rgb_len;
use super::CameraError;

/// Pixel formats Wardgate can capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// Packed 4:2:2 (`YUYV`), what every UVC webcam offers uncompressed.
    Yuyv,
    /// Semi-planar 4:2:0 (`NV12`), common on CSI camera pipelines.
    Nv12,
    /// Motion JPEG (`MJPG`): needs far less USB bandwidth at 720p and above.
    Mjpeg,
    /// Packed RGB (`RGB3`), offered by test drivers and some ISPs; copied as is.
    Rgb24,
    /// 8-bit luminance (`GREY`), what near-infrared cameras deliver; each value becomes a
    /// grey RGB pixel.
    Grey,
}

impl PixelFormat {
    /// The V4L2 four-character code.
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            PixelFormat::Yuyv => *b"YUYV",
            PixelFormat::Nv12 => *b"NV12",
            PixelFormat::Mjpeg => *b"MJPG",
            PixelFormat::Rgb24 => *b"RGB3",
            PixelFormat::Grey => *b"GREY",
        }
    }

    /// Recognises a four-character code (`JPEG` is treated as MJPEG, as drivers use both).
    pub fn from_fourcc(code: [u8; 4]) -> Option<Self> {
        match &code {
            b"YUYV" => Some(PixelFormat::Yuyv),
            b"NV12" => Some(PixelFormat::Nv12),
            b"MJPG" | b"JPEG" => Some(PixelFormat::Mjpeg),
            b"RGB3" => Some(PixelFormat::Rgb24),
            b"GREY" => Some(PixelFormat::Grey),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PixelFormat::Yuyv => "YUYV",
            PixelFormat::Nv12 => "NV12",
            PixelFormat::Mjpeg => "MJPEG",
            PixelFormat::Rgb24 => "RGB24",
            PixelFormat::Grey => "GREY",
        }
    }
}

/// Converts frames of one negotiated format and size to RGB8.
#[derive(Debug, Clone)]
pub struct Converter {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    /// Bytes per line of the (first) plane as the driver reports it; 0 means tightly packed.
    pub stride: u32,
}

impl Converter {
    pub fn new(format: PixelFormat, width: u32, height: u32, stride: u32) -> Self {
        Self {
            format,
            width,
            height,
            stride,
        }
    }

    fn err(&self, message: impl Into<String>) -> CameraError {
        CameraError::Convert {
            format: self.format.name().into(),
            message: message.into(),
        }
    }

    /// The `row`-byte lines of a packed single-plane buffer, honouring the driver's stride.
    fn lines<'a>(
        &self,
        src: &'a [u8],
        row: usize,
    ) -> Result<impl Iterator<Item = &'a [u8]>, CameraError> {
        let (w, h) = (self.width, self.height);
        let stride = if self.stride == 0 {
            row
        } else {
            self.stride as usize
        };
        if stride < row || src.len() < stride * (h as usize - 1) + row {
            return Err(self.err(format!("{w}x{h} buffer too short: {}", src.len())));
        }
        Ok(src.chunks(stride).map(move |l| &l[..row]))
    }

    /// Converts one captured buffer into `out`, which must hold exactly `width * height * 3`
    /// bytes (the caller owns the buffer so it can be reused frame after frame).
    ///
    /// YUV input is taken as BT.601 limited range, which is what UVC webcams and vivid deliver
    /// by default.
    pub fn convert(&self, src: &[u8], out: &mut [u8]) -> Result<(), CameraError> {
        let (w, h) = (self.width, self.height);
        if out.len() != rgb_len(w, h) {
            return Err(self.err(format!(
                "output buffer of {} bytes for {w}x{h} RGB8",
                out.len()
            )));
        }
        match self.format {
            PixelFormat::Yuyv => {
                let stride = if self.stride == 0 { w * 2 } else { self.stride };
                let need = stride as usize * h as usize;
                if src.len() < need {
                    return Err(self.err(format!(
                        "{w}x{h} needs {need} bytes, buffer has {}",
                        src.len()
                    )));
                }
                let packed = YuvPackedImage {
                    yuy: &src[..need],
                    yuy_stride: stride,
                    width: w,
                    height: h,
                };
                yuyv422_to_rgb(
                    &packed,
                    out,
                    w * 3,
                    YuvRange::Limited,
                    YuvStandardMatrix::Bt601,
                )
                .map_err(|e| self.err(e.to_string()))
            }
            PixelFormat::Nv12 => {
                let stride = if self.stride == 0 { w } else { self.stride };
                let y_len = stride as usize * h as usize;
                let uv_len = stride as usize * h.div_ceil(2) as usize;
                if src.len() < y_len + uv_len {
                    return Err(self.err(format!(
                        "{w}x{h} needs {} bytes, buffer has {}",
                        y_len + uv_len,
                        src.len()
                    )));
                }
                let image = YuvBiPlanarImage {
                    y_plane: &src[..y_len],
                    y_stride: stride,
                    uv_plane: &src[y_len..y_len + uv_len],
                    uv_stride: stride,
                    width: w,
                    height: h,
                };
                yuv_nv12_to_rgb(
                    &image,
                    out,
                    w * 3,
                    YuvRange::Limited,
                    YuvStandardMatrix::Bt601,
                    YuvConversionMode::Balanced,
                )
                .map_err(|e| self.err(e.to_string()))
            }
            PixelFormat::Rgb24 => {
                let row = w as usize * 3;
                for (dst, line) in out.chunks_exact_mut(row).zip(self.lines(src, row)?) {
                    dst.copy_from_slice(line);
                }
                Ok(())
            }
            PixelFormat::Grey => {
                let row = w as usize;
                for (dst, line) in out.chunks_exact_mut(row * 3).zip(self.lines(src, row)?) {
                    for (px, &y) in dst.chunks_exact_mut(3).zip(line) {
                        px.fill(y);
                    }
                }
                Ok(())
            }
            PixelFormat::Mjpeg => decode_jpeg_into(src, w, h, out).map_err(|m| self.err(m)),
        }
    }
}

/// Decodes a JPEG of known size into RGB8. A frame of another size is an error rather than a
/// silent resize: it means the driver changed mode under us.
pub(crate) fn decode_jpeg_into(
    src: &[u8],
    width: u32,
    height: u32,
    out: &mut [u8],
) -> Result<(), String> {
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::RGB)
        .set_max_width(8192)
        .set_max_height(8192);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(src), options);
    decoder
        .decode_headers()
        .map_err(|e| format!("bad JPEG header: {e:?}"))?;
    let (dw, dh) = decoder
        .dimensions()
        .ok_or_else(|| "JPEG without dimensions".to_string())?;
    if (dw, dh) != (width as usize, height as usize) {
        return Err(format!("JPEG is {dw}x{dh}, expected {width}x{height}"));
    }
    decoder
        .decode_into(out)
        .map_err(|e| format!("bad JPEG data: {e:?}"))
}

/// Decodes a JPEG of any size into (width, height, RGB8).
pub(crate) fn decode_jpeg(src: &[u8]) -> Result<(u32, u32, Vec<u8>), String> {
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::RGB)
        .set_max_width(8192)
        .set_max_height(8192);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(src), options);
    let data = decoder
        .decode()
        .map_err(|e| format!("bad JPEG data: {e:?}"))?;
    let (w, h) = decoder
        .dimensions()
        .ok_or_else(|| "JPEG without dimensions".to_string())?;
    let w = u32::try_from(w).map_err(|_| "JPEG too wide".to_string())?;
    let h = u32::try_from(h).map_err(|_| "JPEG too tall".to_string())?;
    Ok((w, h, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// YUYV of flat colours: BT.601 limited-range grey (Y=126, U=V=128) and pure red.
    #[test]
    fn yuyv_known_colours() {
        let c = Converter::new(PixelFormat::Yuyv, 4, 2, 0);
        let mut out = vec![0; 24];
        // Row 0: grey; row 1: red (Y=81, U=90, V=240).
        let src = [
            126, 128, 126, 128, 126, 128, 126, 128, 81, 90, 81, 240, 81, 90, 81, 240,
        ];
        c.convert(&src, &mut out).unwrap();
        for px in out[..12].chunks(3) {
            for &v in px {
                assert!((v as i32 - 128).abs() <= 3, "grey came out {px:?}");
            }
        }
        for px in out[12..].chunks(3) {
            assert!(
                px[0] > 240 && px[1] < 15 && px[2] < 15,
                "red came out {px:?}"
            );
        }
    }

    #[test]
    fn nv12_known_colours() {
        let c = Converter::new(PixelFormat::Nv12, 2, 2, 0);
        // Y plane all 81, one UV pair (90, 240): red.
        let src = [81, 81, 81, 81, 90, 240];
        let mut out = vec![0; 12];
        c.convert(&src, &mut out).unwrap();
        for px in out.chunks(3) {
            assert!(
                px[0] > 240 && px[1] < 15 && px[2] < 15,
                "red came out {px:?}"
            );
        }
    }

    #[test]
    fn short_buffers_are_errors_not_panics() {
        let mut out = vec![0; 640 * 480 * 3];
        for f in [
            PixelFormat::Yuyv,
            PixelFormat::Nv12,
            PixelFormat::Rgb24,
            PixelFormat::Grey,
            PixelFormat::Mjpeg,
        ] {
            let err = Converter::new(f, 640, 480, 0)
                .convert(&[0; 100], &mut out)
                .unwrap_err();
            assert!(err.to_string().contains(f.name()), "{err}");
        }
        let err = Converter::new(PixelFormat::Yuyv, 640, 480, 0)
            .convert(&[0; 640 * 480 * 2], &mut out[..10])
            .unwrap_err();
        assert!(err.to_string().contains("output buffer"), "{err}");
    }

    #[test]
    fn rgb24_honours_stride() {
        let c = Converter::new(PixelFormat::Rgb24, 1, 2, 4);
        let mut out = vec![0; 6];
        c.convert(&[1, 2, 3, 99, 4, 5, 6], &mut out).unwrap();
        assert_eq!(out, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn grey_becomes_grey_rgb_and_honours_stride() {
        let c = Converter::new(PixelFormat::Grey, 2, 2, 3);
        let mut out = vec![0; 12];
        c.convert(&[10, 200, 99, 0, 255], &mut out).unwrap();
        assert_eq!(out, [10, 10, 10, 200, 200, 200, 0, 0, 0, 255, 255, 255]);
        assert_eq!(PixelFormat::from_fourcc(*b"GREY"), Some(PixelFormat::Grey));
    }

    #[test]
    fn mjpeg_round_trip_and_size_check() {
        let (w, h) = (64u32, 48u32);
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let x = (i % w) as u8;
                [x * 4, 100, 200 - x]
            })
            .collect();
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
            .encode(&rgb, w, h, image::ExtendedColorType::Rgb8)
            .unwrap();
        let mut out = vec![0; rgb_len(w, h)];
        Converter::new(PixelFormat::Mjpeg, w, h, 0)
            .convert(&jpeg, &mut out)
            .unwrap();
        let mae: f64 = out
            .iter()
            .zip(&rgb)
            .map(|(a, b)| (*a as f64 - *b as f64).abs())
            .sum::<f64>()
            / rgb.len() as f64;
        assert!(mae < 4.0, "JPEG round trip MAE {mae}");
        let err = Converter::new(PixelFormat::Mjpeg, 32, 48, 0)
            .convert(&jpeg, &mut out[..rgb_len(32, 48)])
            .unwrap_err();
        assert!(err.to_string().contains("expected 32x48"), "{err}");
    }

    #[test]
    fn fourcc_round_trip() {
        for f in [
            PixelFormat::Yuyv,
            PixelFormat::Nv12,
            PixelFormat::Mjpeg,
            PixelFormat::Rgb24,
        ] {
            assert_eq!(PixelFormat::from_fourcc(f.fourcc()), Some(f));
        }
        assert_eq!(PixelFormat::from_fourcc(*b"JPEG"), Some(PixelFormat::Mjpeg));
        assert_eq!(PixelFormat::from_fourcc(*b"H264"), None);
    }
}
