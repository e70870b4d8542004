//! The 150×150 face chip dlib's ResNet descriptor was trained on, reproduced pixel for pixel.
//!
//! dlib's descriptor is only as good as its input matches `get_face_chip_details(shape, 150,
//! 0.25)` followed by `extract_image_chip`: measured on the fixtures, a naive warp with the
//! fitted similarity moves descriptors by up to 0.1 (dlib's same-person threshold is 0.6), and
//! skipping dlib's image pyramid for large faces moves them by up to 0.41. So this module
//! follows dlib's arithmetic, including its quirks (`models/dlib-resnet.md` has the derivation):
//!
//! 1. the five template points are dlib's own constants, in chip pixels
//!    `(0.25 + m) / 1.5 · 150`;
//! 2. a least-squares similarity maps them onto the face's points; dlib keeps only its angle
//!    and a rectangle `150·s − 1` pixels across centred on the image of the chip centre, and
//!    maps chip pixel corners (0, 0), (149, 0), (0, 149) onto that rectangle's corners;
//! 3. when half that rectangle is still larger than the chip (`s > 1.9933`), the image is cropped
//!    around the face and reduced with `pyramid_down<2>` (5-tap [1 4 6 4 1], integer sums) until
//!    one more level would be smaller than the chip, and the chip is sampled from that level;
//! 4. samples are bilinear in double precision, truncated to u8; a sample whose 2×2
//!    neighbourhood leaves the image is black.
//!
//! The face's points come from the face mesh, not dlib's 5-point shape predictor: mesh points
//! 263/362 (outer/inner corner of the eye on the image's right), 33/133 (the other eye) and 2
//! (below the nose, dlib's "nose bottom").

use image::{Rgb, RgbImage};

use super::align::{self, Point};
use super::landmarks::Mesh;

/// Side of the chip.
pub const CHIP_SIZE: u32 = 150;
const PADDING: f64 = 0.25;

/// dlib's five-point template (`shape_predictor_5_face_landmarks` order) in [0, 1] units.
const TEMPLATE_5: [(f64, f64); 5] = [
    (0.859_567_459_599_2, 0.213_498_153_801_4),
    (0.646_060_476_410_4, 0.228_967_438_767_7),
    (0.120_575_062_078_9, 0.213_727_452_684_8),
    (0.334_085_061_371_2, 0.229_064_240_324_2),
    (0.490_112_313_567_9, 0.627_797_531_647_5),
];

/// Mesh indices giving dlib's five points, in its order.
pub const MESH_POINTS: [usize; 5] = [263, 362, 33, 133, 2];

/// dlib's five points of a face mesh.
pub fn five_points(mesh: &Mesh) -> [Point; 5] {
    MESH_POINTS.map(|i| mesh.points[i])
}

/// Axis-aligned rectangle with dlib's `drectangle` conventions (both ends counted in the area).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rect {
    l: f64,
    t: f64,
    r: f64,
    b: f64,
}

impl Rect {
    fn area(&self) -> f64 {
        (self.r - self.l + 1.0) * (self.b - self.t + 1.0)
    }

    /// `pyramid_down<2>::rect_down`: each corner `p → p/2 − (1.25, 0.75)`.
    fn down(&self) -> Self {
        Self {
            l: self.l / 2.0 - 1.25,
            t: self.t / 2.0 - 0.75,
            r: self.r / 2.0 - 1.25,
            b: self.b / 2.0 - 0.75,
        }
    }

    fn shifted(&self, dx: f64, dy: f64) -> Self {
        Self {
            l: self.l - dx,
            t: self.t - dy,
            r: self.r - dx,
            b: self.b - dy,
        }
    }

    /// Top-left, top-right, bottom-left and bottom-right corners rotated by `angle` about
    /// the centre.
    fn rotated_corners(&self, angle: f64) -> [(f64, f64); 4] {
        let (cx, cy) = ((self.l + self.r) / 2.0, (self.t + self.b) / 2.0);
        let (s, c) = angle.sin_cos();
        [
            (self.l, self.t),
            (self.r, self.t),
            (self.l, self.b),
            (self.r, self.b),
        ]
        .map(|(x, y)| {
            let (dx, dy) = (x - cx, y - cy);
            (c * dx - s * dy + cx, s * dx + c * dy + cy)
        })
    }
}

/// `get_face_chip_details(parts, 150, 0.25)`: the chip's rectangle in image pixels and its
/// angle; `None` when the points are degenerate.
fn chip_details(parts: &[Point; 5]) -> Option<(Rect, f64)> {
    let size = f64::from(CHIP_SIZE);
    let src = TEMPLATE_5.map(|(x, y)| {
        (
            (PADDING + x) / (1.0 + 2.0 * PADDING) * size,
            (PADDING + y) / (1.0 + 2.0 * PADDING) * size,
        )
    });
    let dst = parts.map(|p| (f64::from(p.x), f64::from(p.y)));
    // dlib's find_similarity_transform: least squares, no reflection.
    let (a, b, tx, ty) = align::fit_similarity(&src, &dst)?;
    let scale = a.hypot(b);
    if !(scale.is_finite() && scale > 1e-6) {
        return None;
    }
    let (cx, cy) = (
        a * size / 2.0 - b * size / 2.0 + tx,
        b * size / 2.0 + a * size / 2.0 + ty,
    );
    let half = (size * scale - 1.0) / 2.0;
    Some((
        Rect {
            l: cx - half,
            t: cy - half,
            r: cx + half,
            b: cy + half,
        },
        b.atan2(a),
    ))
}

/// dlib's `pyramid_down<2>` for RGB: [1 4 6 4 1] along rows keeping every other column, then
/// along columns keeping every other row, integer sums floor-divided by 256.
fn pyramid_down(img: &RgbImage) -> RgbImage {
    const TAPS: [u32; 5] = [1, 4, 6, 4, 1];
    let (w, h) = img.dimensions();
    let (ow, oh) = (w.saturating_sub(3) / 2, h.saturating_sub(3) / 2);
    let src = img.as_raw();
    let w = w as usize;
    // Horizontal pass: every row, every other column.
    let mut tmp = vec![0u32; h as usize * ow as usize * 3];
    for y in 0..h as usize {
        for c in 0..ow as usize {
            for ch in 0..3 {
                let mut s = 0;
                for (j, k) in TAPS.iter().enumerate() {
                    s += k * u32::from(src[(y * w + 2 * c + j) * 3 + ch]);
                }
                tmp[(y * ow as usize + c) * 3 + ch] = s;
            }
        }
    }
    let mut out = RgbImage::new(ow, oh);
    let row = ow as usize * 3;
    for r in 0..oh as usize {
        let dst = &mut out.as_mut()[r * row..(r + 1) * row];
        for (i, v) in dst.iter_mut().enumerate() {
            let s: u32 = TAPS
                .iter()
                .enumerate()
                .map(|(j, k)| k * tmp[(2 * r + j) * row + i])
                .sum();
            #[allow(clippy::cast_possible_truncation)]
            {
                *v = (s / 256) as u8;
            }
        }
    }
    out
}

/// Bilinear sample of the chip from `img` along chip → image map `(x, y) ↦ o + x·ex + y·ey`.
fn sample(img: &RgbImage, o: (f64, f64), ex: (f64, f64), ey: (f64, f64)) -> RgbImage {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    RgbImage::from_fn(CHIP_SIZE, CHIP_SIZE, |x, y| {
        let (x, y) = (f64::from(x), f64::from(y));
        let px = o.0 + x * ex.0 + y * ey.0;
        let py = o.1 + x * ex.1 + y * ey.1;
        let (fl, ft) = (px.floor(), py.floor());
        #[allow(clippy::cast_possible_truncation)]
        let (l, t) = (fl as i64, ft as i64);
        if l < 0 || t < 0 || l + 1 >= w || t + 1 >= h {
            return Rgb([0, 0, 0]);
        }
        let (fx, fy) = (px - fl, py - ft);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let at = |xx: i64, yy: i64| img.get_pixel(xx as u32, yy as u32).0;
        let (p00, p10, p01, p11) = (at(l, t), at(l + 1, t), at(l, t + 1), at(l + 1, t + 1));
        let mut out = [0u8; 3];
        for c in 0..3 {
            let v = (1.0 - fy) * ((1.0 - fx) * f64::from(p00[c]) + fx * f64::from(p10[c]))
                + fy * ((1.0 - fx) * f64::from(p01[c]) + fx * f64::from(p11[c]));
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            {
                out[c] = v.clamp(0.0, 255.0) as u8;
            }
        }
        Rgb(out)
    })
}

/// The 150×150 chip of the face whose dlib five points are `parts`; `None` when the points
/// are degenerate or the face lies wholly outside the image.
pub fn extract(img: &RgbImage, parts: &[Point; 5]) -> Option<RgbImage> {
    let (rect, angle) = chip_details(parts)?;
    let size = f64::from(CHIP_SIZE);
    // Pyramid depth and the margin dlib keeps around its crop.
    let (mut depth, mut grow, mut r) = (0u32, 2.0f64, rect.down());
    while r.area() > size * size {
        r = r.down();
        depth += 1;
        grow = grow * 2.0 + 2.0;
        if depth > 16 {
            return None;
        }
    }
    let corners = rect.rotated_corners(angle);
    let (w, h) = (f64::from(img.width()), f64::from(img.height()));
    let min_x = corners.iter().map(|c| c.0).fold(f64::INFINITY, f64::min);
    let max_x = corners
        .iter()
        .map(|c| c.0)
        .fold(f64::NEG_INFINITY, f64::max);
    let min_y = corners.iter().map(|c| c.1).fold(f64::INFINITY, f64::min);
    let max_y = corners
        .iter()
        .map(|c| c.1)
        .fold(f64::NEG_INFINITY, f64::max);
    // drectangle → rectangle rounds (std::lround); all values are ≥ 0 after clipping.
    let bl = (min_x - grow).max(0.0).round();
    let bt = (min_y - grow).max(0.0).round();
    let br = (max_x + grow).min(w - 1.0).round();
    let bb = (max_y + grow).min(h - 1.0).round();
    if br < bl || bb < bt {
        return None;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let mut src = image::imageops::crop_imm(
        img,
        bl as u32,
        bt as u32,
        (br - bl) as u32 + 1,
        (bb - bt) as u32 + 1,
    )
    .to_image();
    let mut rect = rect.shifted(bl, bt);
    for _ in 0..depth {
        src = pyramid_down(&src);
        rect = rect.down();
    }
    let [tl, tr, blc, _] = rect.rotated_corners(angle);
    let n = size - 1.0;
    Some(sample(
        &src,
        tl,
        ((tr.0 - tl.0) / n, (tr.1 - tl.1) / n),
        ((blc.0 - tl.0) / n, (blc.1 - tl.1) / n),
    ))
}

/// The model input: the chip's raw 0–255 RGB values as float (the model subtracts dlib's mean
/// and scales by 1/256 itself).
pub fn to_input(chip: &RgbImage) -> Vec<f32> {
    chip.as_raw().iter().map(|&v| f32::from(v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template_px() -> [Point; 5] {
        TEMPLATE_5.map(|(x, y)| {
            #[allow(clippy::cast_possible_truncation)]
            Point::new(
                ((0.25 + x) / 1.5 * 150.0) as f32,
                ((0.25 + y) / 1.5 * 150.0) as f32,
            )
        })
    }

    #[test]
    fn points_on_the_template_give_the_image_shifted_by_half_a_pixel() {
        // Face points on the template: scale 1, angle 0. dlib's rectangle is centred on
        // tform(75, 75) = (75, 75) and spans 149 px, so chip pixel u samples image u + 0.5
        // (its quirk); on a ramp that is the mean of two pixels, truncated: the pixel itself.
        let img = RgbImage::from_fn(150, 150, |x, y| {
            #[allow(clippy::cast_possible_truncation)]
            Rgb([x as u8, y as u8, 100])
        });
        let chip = extract(&img, &template_px()).unwrap();
        for (x, y, p) in chip.enumerate_pixels() {
            if x < 149 && y < 149 {
                assert_eq!(p.0, img.get_pixel(x, y).0, "at ({x}, {y})");
            } else {
                // No 2×2 neighbourhood inside the image: black.
                assert_eq!(p.0, [0, 0, 0], "at ({x}, {y})");
            }
        }
    }

    #[test]
    fn a_twice_as_large_face_is_taken_from_the_pyramid() {
        // The same face at 2.5× in a larger image: dlib reduces it once with pyramid_down and
        // samples that level; the chip still shows the same picture (up to the blur).
        let small = RgbImage::from_fn(150, 150, |x, y| {
            let v = if (x / 15 + y / 15) % 2 == 0 { 220 } else { 30 };
            Rgb([v, v, v])
        });
        let big = image::imageops::resize(&small, 375, 375, image::imageops::FilterType::Triangle);
        let parts = template_px().map(|p| Point::new(p.x * 2.5, p.y * 2.5));
        let (rect, _) = chip_details(&parts).unwrap();
        assert!(rect.down().area() > 150.0 * 150.0, "pyramid path");
        let chip = extract(&big, &parts).unwrap();
        let mad: f64 = chip
            .as_raw()
            .iter()
            .zip(small.as_raw())
            .map(|(a, b)| f64::from(a.abs_diff(*b)))
            .sum::<f64>()
            / chip.as_raw().len() as f64;
        assert!(mad < 25.0, "mean abs diff {mad}");
    }

    #[test]
    fn pyramid_down_follows_dlibs_filter() {
        // Constant image stays constant (taps sum to 16 per pass, 256 in all); size shrinks
        // to ((h − 3)/2, (w − 3)/2).
        let img = RgbImage::from_pixel(11, 9, Rgb([100, 7, 255]));
        let d = pyramid_down(&img);
        assert_eq!(d.dimensions(), (4, 3));
        assert!(d.pixels().all(|p| p.0 == [100, 7, 255]));
        // One bright pixel at (2, 2) spreads as the outer product of the taps / 256.
        let mut img = RgbImage::new(7, 7);
        img.put_pixel(2, 2, Rgb([255, 255, 255]));
        let d = pyramid_down(&img);
        assert_eq!(d.get_pixel(0, 0).0[0], (36 * 255 / 256) as u8);
    }

    #[test]
    fn chips_match_the_reference_that_matches_dlib() {
        // Golden chips from the Python reference (tests/fixtures/dlib-chip/make-golden.py),
        // itself bit-exact against dlib's get_face_chip: the direct path and the pyramid
        // path at one and two levels.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dlib-chip");
        let src = image::open(dir.join("source.png")).unwrap().to_rgb8();
        let cases = std::fs::read_to_string(dir.join("cases.csv")).unwrap();
        let mut n = 0;
        for line in cases.lines().skip(1) {
            let v: Vec<f32> = line.split(',').map(|x| x.parse().unwrap()).collect();
            let parts: [Point; 5] = std::array::from_fn(|i| Point::new(v[1 + 2 * i], v[2 + 2 * i]));
            let want = image::open(dir.join(format!("chip-{}.png", v[0])))
                .unwrap()
                .to_rgb8();
            let got = extract(&src, &parts).unwrap();
            let off: Vec<u8> = got
                .as_raw()
                .iter()
                .zip(want.as_raw())
                .map(|(a, b)| a.abs_diff(*b))
                .collect();
            let max = off.iter().copied().max().unwrap();
            let wrong = off.iter().filter(|&&d| d > 0).count();
            // Truncation of a value within float noise of an integer may flip by one.
            assert!(
                max <= 1 && wrong * 1000 <= off.len(),
                "case {}: max {max}, {wrong} differ",
                v[0]
            );
            n += 1;
        }
        assert_eq!(n, 3);
    }

    #[test]
    fn degenerate_points_give_no_chip() {
        let img = RgbImage::new(50, 50);
        assert!(extract(&img, &[Point::new(10.0, 10.0); 5]).is_none());
    }
}
