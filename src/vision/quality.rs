//! The enrollment quality gate: a template is only as good as the photo it came from, and a bad
//! template causes false rejects for that person at every door. Each check reports its measured
//! value and its limit, so a refused sample says what to fix.

use image::RgbImage;
use serde::{Deserialize, Serialize};

/// Limits of the quality gate (`[vision]` keys `quality_*`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QualityLimits {
    pub min_face_px: f32,
    pub min_sharpness: f32,
    pub max_yaw_deg: f32,
    pub max_pitch_deg: f32,
    pub min_brightness: f32,
    pub max_brightness: f32,
}

/// What was measured on one face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QualityReport {
    /// Width of the detection box in the photo, pixels.
    pub face_px: f32,
    /// Variance of the Laplacian of the aligned crop's luma: low means blurred.
    pub sharpness: f32,
    pub yaw_deg: f32,
    pub pitch_deg: f32,
    /// Mean luma (0–255) of the central part of the aligned crop.
    pub brightness: f32,
}

fn luma(img: &RgbImage) -> Vec<f32> {
    img.pixels()
        .map(|p| 0.299 * f32::from(p.0[0]) + 0.587 * f32::from(p.0[1]) + 0.114 * f32::from(p.0[2]))
        .collect()
}

/// Variance of the 4-neighbour Laplacian over the central region of the aligned face (the
/// border may contain black fill from the warp, whose edge would read as sharpness).
pub fn sharpness(aligned: &RgbImage) -> f32 {
    let (w, h) = (aligned.width() as usize, aligned.height() as usize);
    let y = luma(aligned);
    let (x0, x1, y0, y1) = (w / 4, w - w / 4, h / 4, h - h / 4);
    let mut vals = Vec::with_capacity((x1 - x0) * (y1 - y0));
    for r in y0..y1 {
        for c in x0..x1 {
            let i = r * w + c;
            vals.push(y[i - 1] + y[i + 1] + y[i - w] + y[i + w] - 4.0 * y[i]);
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let n = vals.len().max(1) as f32;
    let mean = vals.iter().sum::<f32>() / n;
    vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n
}

/// Mean luma of the central half of the aligned face.
pub fn brightness(aligned: &RgbImage) -> f32 {
    let (w, h) = (aligned.width() as usize, aligned.height() as usize);
    let y = luma(aligned);
    let mut sum = 0.0;
    let mut n = 0u32;
    for r in h / 4..h - h / 4 {
        for c in w / 4..w - w / 4 {
            sum += y[r * w + c];
            n += 1;
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let n = n.max(1) as f32;
    sum / n
}

/// The first failed check, as `(check, explanation)`.
pub fn check(r: &QualityReport, l: &QualityLimits) -> Result<(), (&'static str, String)> {
    if r.face_px < l.min_face_px {
        return Err((
            "face_size",
            format!(
                "the face is {:.0} px wide, at least {:.0} px is needed",
                r.face_px, l.min_face_px
            ),
        ));
    }
    if r.yaw_deg.abs() > l.max_yaw_deg {
        return Err((
            "pose",
            format!(
                "the head is turned {:.0}° sideways, at most {:.0}° is accepted",
                r.yaw_deg.abs(),
                l.max_yaw_deg
            ),
        ));
    }
    if r.pitch_deg.abs() > l.max_pitch_deg {
        return Err((
            "pose",
            format!(
                "the head is tilted {:.0}° up or down, at most {:.0}° is accepted",
                r.pitch_deg.abs(),
                l.max_pitch_deg
            ),
        ));
    }
    if r.brightness < l.min_brightness {
        return Err((
            "exposure",
            format!(
                "the face is too dark: brightness {:.0}, at least {:.0}",
                r.brightness, l.min_brightness
            ),
        ));
    }
    if r.brightness > l.max_brightness {
        return Err((
            "exposure",
            format!(
                "the face is overexposed: brightness {:.0}, at most {:.0}",
                r.brightness, l.max_brightness
            ),
        ));
    }
    if r.sharpness < l.min_sharpness {
        return Err((
            "blur",
            format!(
                "the face is blurred: sharpness {:.0}, at least {:.0}",
                r.sharpness, l.min_sharpness
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_lowers_sharpness() {
        let sharp = RgbImage::from_fn(112, 112, |x, y| {
            image::Rgb([if (x / 4 + y / 4) % 2 == 0 { 30 } else { 220 }; 3])
        });
        let blurred = image::imageops::blur(&sharp, 3.0);
        assert!(sharpness(&sharp) > 10.0 * sharpness(&blurred));
    }

    #[test]
    fn brightness_is_mean_luma() {
        let img = RgbImage::from_pixel(112, 112, image::Rgb([100, 100, 100]));
        assert!((brightness(&img) - 100.0).abs() < 0.01);
    }

    #[test]
    fn check_names_the_failed_check_and_the_amount() {
        let l = QualityLimits {
            min_face_px: 80.0,
            min_sharpness: 20.0,
            max_yaw_deg: 25.0,
            max_pitch_deg: 25.0,
            min_brightness: 40.0,
            max_brightness: 220.0,
        };
        let good = QualityReport {
            face_px: 150.0,
            sharpness: 100.0,
            yaw_deg: 3.0,
            pitch_deg: -5.0,
            brightness: 120.0,
        };
        assert!(check(&good, &l).is_ok());
        let (what, msg) = check(
            &QualityReport {
                yaw_deg: -40.0,
                ..good
            },
            &l,
        )
        .unwrap_err();
        assert_eq!(what, "pose");
        assert!(msg.contains("40°"), "{msg}");
        assert_eq!(
            check(
                &QualityReport {
                    face_px: 50.0,
                    ..good
                },
                &l
            )
            .unwrap_err()
            .0,
            "face_size"
        );
        assert_eq!(
            check(
                &QualityReport {
                    sharpness: 5.0,
                    ..good
                },
                &l
            )
            .unwrap_err()
            .0,
            "blur"
        );
        assert_eq!(
            check(
                &QualityReport {
                    brightness: 250.0,
                    ..good
                },
                &l
            )
            .unwrap_err()
            .0,
            "exposure"
        );
    }
}
