//! Turning untrusted JPEG/PNG bytes into an upright RGB image, or a clear refusal.
//!
//! Photos arrive from the API and the CLI: they may be anything. Limits are enforced before
//! and during decoding (the decoder's allocation limit), so a small file claiming a huge
//! resolution cannot exhaust memory. EXIF orientation is applied because phones store portrait
//! photos sideways and a sideways face is not detected.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use super::ImageRejection;

/// Bounds on accepted photos.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhotoLimits {
    pub max_bytes: usize,
    /// Longest accepted side, pixels.
    pub max_side: u32,
    /// Shortest accepted side, pixels (smaller cannot hold an enrollable face).
    pub min_side: u32,
}

impl Default for PhotoLimits {
    fn default() -> Self {
        Self {
            max_bytes: 8 * 1024 * 1024,
            max_side: 4096,
            min_side: 64,
        }
    }
}

fn reject(code: &'static str, detail: impl Into<String>) -> ImageRejection {
    ImageRejection {
        code,
        detail: detail.into(),
    }
}

/// Decodes a JPEG or PNG into upright RGB.
pub fn decode(bytes: &[u8], limits: &PhotoLimits) -> Result<RgbImage, ImageRejection> {
    if bytes.is_empty() {
        return Err(reject("not_an_image", "the image is empty"));
    }
    if bytes.len() > limits.max_bytes {
        return Err(reject(
            "too_large",
            format!(
                "the image has {} bytes, at most {} are accepted",
                bytes.len(),
                limits.max_bytes
            ),
        ));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| reject("not_an_image", format!("unreadable: {e}")))?;
    match reader.format() {
        Some(ImageFormat::Jpeg | ImageFormat::Png) => {}
        Some(other) => {
            return Err(reject(
                "unsupported_format",
                format!("{other:?} images are not accepted; send JPEG or PNG"),
            ))
        }
        None => return Err(reject("not_an_image", "the data is neither JPEG nor PNG")),
    }
    let mut lim = image::Limits::default();
    lim.max_image_width = Some(limits.max_side);
    lim.max_image_height = Some(limits.max_side);
    // RGBA at the largest size, plus decoder scratch.
    lim.max_alloc = Some(u64::from(limits.max_side) * u64::from(limits.max_side) * 4 * 2);
    reader.limits(lim);
    let mut decoder = reader.into_decoder().map_err(|e| classify(&e))?;
    let (w, h) = decoder.dimensions();
    if w.max(h) > limits.max_side {
        return Err(reject(
            "too_large",
            format!(
                "the image is {w}×{h} pixels, at most {0}×{0} are accepted",
                limits.max_side
            ),
        ));
    }
    if w.min(h) < limits.min_side {
        return Err(reject(
            "too_small",
            format!(
                "the image is {w}×{h} pixels, at least {0} on each side is needed",
                limits.min_side
            ),
        ));
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| classify(&e))?;
    img.apply_orientation(orientation);
    Ok(img.into_rgb8())
}

fn classify(e: &image::ImageError) -> ImageRejection {
    use image::error::{ImageError, LimitErrorKind};
    match e {
        ImageError::Limits(l) if matches!(l.kind(), LimitErrorKind::DimensionError) => reject(
            "too_large",
            format!("the image's dimensions exceed the limit: {e}"),
        ),
        ImageError::Limits(_) => reject(
            "too_large",
            format!("decoding would need too much memory: {e}"),
        ),
        ImageError::Unsupported(_) => reject("unsupported_format", format!("{e}")),
        ImageError::IoError(_) => reject(
            "corrupt_image",
            format!("the image is truncated or damaged: {e}"),
        ),
        _ => reject(
            "corrupt_image",
            format!("the image could not be decoded: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_pixel(w, h, image::Rgb([10, 20, 30]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn decodes_png() {
        let img = decode(&png(80, 70), &PhotoLimits::default()).unwrap();
        assert_eq!(img.dimensions(), (80, 70));
        assert_eq!(img.get_pixel(3, 3).0, [10, 20, 30]);
    }

    #[test]
    fn refuses_non_images_with_a_code() {
        let e = decode(b"hello, this is text", &PhotoLimits::default()).unwrap_err();
        assert_eq!(e.code, "not_an_image");
        assert_eq!(
            decode(b"", &PhotoLimits::default()).unwrap_err().code,
            "not_an_image"
        );
    }

    #[test]
    fn refuses_too_many_bytes_and_pixels() {
        let limits = PhotoLimits {
            max_bytes: 100,
            ..PhotoLimits::default()
        };
        assert_eq!(decode(&png(80, 80), &limits).unwrap_err().code, "too_large");
        let limits = PhotoLimits {
            max_side: 100,
            ..PhotoLimits::default()
        };
        let e = decode(&png(200, 80), &limits).unwrap_err();
        assert_eq!(e.code, "too_large", "{e}");
        assert_eq!(
            decode(&png(80, 20), &PhotoLimits::default())
                .unwrap_err()
                .code,
            "too_small"
        );
    }

    #[test]
    fn refuses_truncated_png() {
        let bytes = png(120, 120);
        let e = decode(&bytes[..bytes.len() / 2], &PhotoLimits::default()).unwrap_err();
        assert_eq!(e.code, "corrupt_image", "{e}");
    }
}
