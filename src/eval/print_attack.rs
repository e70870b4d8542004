//! Synthetic print attacks: a photo on a flat sheet, seen by a pinhole camera while it is
//! tilted (rotated about its vertical or horizontal axis) — what an attacker holding a print
//! does to mimic a head turn. Written as a scripted clip set (`neutral/`, `left/`, …) so the
//! `scripted` camera source plays the tilt the challenge asks for.

use std::path::Path;

use anyhow::Context as _;
use image::{Rgb, RgbImage};

use crate::liveness::Direction;

/// Degrees of tilt at the end of each clip, and frames per clip.
const MAX_TILT_DEG: f64 = 35.0;
const FRAMES: u32 = 8;

/// The photo `src` on a plane rotated by `yaw` and `pitch` (radians) about its centre, seen
/// from a distance of one image width; also brought closer by `zoom`. Bilinear sampling;
/// outside the sheet is grey.
pub fn tilt(src: &RgbImage, yaw: f64, pitch: f64, zoom: f64) -> RgbImage {
    let (w, h) = src.dimensions();
    let (cx, cy) = (f64::from(w) / 2.0, f64::from(h) / 2.0);
    let f = f64::from(w.max(h));
    // Plane point (X, Y, 0) → camera (R·P) + (0, 0, f); R = Ry(yaw)·Rx(pitch).
    let (sy, cyw, sp, cp) = (yaw.sin(), yaw.cos(), pitch.sin(), pitch.cos());
    // Columns of R for X and Y.
    let rx = [cyw, 0.0, -sy];
    let ry = [sy * sp, cp, cyw * sp];
    let mut out = RgbImage::from_pixel(w, h, Rgb([128, 128, 128]));
    for v in 0..h {
        for u in 0..w {
            // Ray through (u, v): direction d = ((u-cx)/(f·zoom), (v-cy)/(f·zoom), 1).
            let du = (f64::from(u) - cx) / (f * zoom);
            let dv = (f64::from(v) - cy) / (f * zoom);
            // Solve X·rx + Y·ry + (0,0,f) = t·(du, dv, 1) for X, Y, t (3×3, Cramer).
            let m = [
                [rx[0], ry[0], -du],
                [rx[1], ry[1], -dv],
                [rx[2], ry[2], -1.0],
            ];
            let b = [0.0, 0.0, -f];
            let det = det3(m);
            if det.abs() < 1e-12 {
                continue;
            }
            let x = det3([
                [b[0], m[0][1], m[0][2]],
                [b[1], m[1][1], m[1][2]],
                [b[2], m[2][1], m[2][2]],
            ]) / det;
            let y = det3([
                [m[0][0], b[0], m[0][2]],
                [m[1][0], b[1], m[1][2]],
                [m[2][0], b[2], m[2][2]],
            ]) / det;
            let (sx, sy2) = (x + cx, y + cy);
            if let Some(px) = sample(src, sx, sy2) {
                out.put_pixel(u, v, px);
            }
        }
    }
    out
}

fn det3(m: [[f64; 3]; 3]) -> f64 {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

fn sample(img: &RgbImage, x: f64, y: f64) -> Option<Rgb<u8>> {
    let (w, h) = img.dimensions();
    if x < 0.0 || y < 0.0 || x > f64::from(w - 1) || y > f64::from(h - 1) {
        return None;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - f64::from(x0), y - f64::from(y0));
    let mut px = [0u8; 3];
    for (c, out) in px.iter_mut().enumerate() {
        let p = |xx, yy| f64::from(img.get_pixel(xx, yy)[c]);
        let top = p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx;
        let bottom = p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        {
            *out = (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8;
        }
    }
    Some(Rgb(px))
}

/// The tilt (yaw, pitch signs) that imitates a head movement in `d`: the sheet turns the way
/// the head would.
fn tilt_for(d: Direction) -> (f64, f64) {
    match d {
        Direction::Left => (-1.0, 0.0),
        Direction::Right => (1.0, 0.0),
        Direction::Up => (0.0, 1.0),
        Direction::Down => (0.0, -1.0),
    }
}

/// Writes `neutral/` (the print held still, then brought a little closer) and one tilt clip
/// per direction under `dir`.
pub fn write_tilt_clips(photo: &RgbImage, dir: &Path) -> anyhow::Result<()> {
    let save = |sub: &str, i: u32, img: &RgbImage| -> anyhow::Result<()> {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d)?;
        img.save(d.join(format!("{i:03}.png")))
            .with_context(|| format!("writing {}", d.display()))
    };
    for i in 0..4 {
        save(
            "neutral",
            i,
            &tilt(photo, 0.0, 0.0, 1.0 + 0.02 * f64::from(i)),
        )?;
    }
    for d in Direction::ALL {
        let (sy, sp) = tilt_for(d);
        for i in 0..FRAMES {
            let a = (MAX_TILT_DEG * f64::from(i + 1) / f64::from(FRAMES)).to_radians();
            save(d.as_str(), i, &tilt(photo, sy * a, sp * a, 1.0))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_tilt_is_the_photo_and_a_tilt_foreshortens_it() {
        let mut img = RgbImage::from_pixel(40, 20, Rgb([0, 0, 0]));
        for y in 0..20 {
            for x in 10..30 {
                img.put_pixel(x, y, Rgb([255, 255, 255]));
            }
        }
        let same = tilt(&img, 0.0, 0.0, 1.0);
        assert_eq!(same.get_pixel(20, 10), &Rgb([255, 255, 255]));
        assert_eq!(same.get_pixel(5, 10), &Rgb([0, 0, 0]));
        let turned = tilt(&img, 1.2, 0.0, 1.0);
        let white = |im: &RgbImage| (0..40).filter(|&x| im.get_pixel(x, 10)[0] > 200).count();
        assert!(
            white(&turned) < white(&same),
            "{} vs {}",
            white(&turned),
            white(&same)
        );
        let dir = tempfile::tempdir().unwrap();
        write_tilt_clips(&img, dir.path()).unwrap();
        for m in ["neutral", "left", "right", "up", "down"] {
            assert!(dir.path().join(m).join("000.png").is_file(), "{m}");
        }
    }
}
