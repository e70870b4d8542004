//! Alignment: a least-squares similarity transform from detected facial points to the canonical
//! 112×112 template the embedder was trained on, and the bilinear warp that applies it.
//!
//! Why a similarity (rotation + uniform scale + shift) and not a full affine: the face must not
//! be sheared or squashed, only brought to the pose and size the embedder expects; with four or
//! five points the least-squares fit also averages out keypoint noise.

use image::RgbImage;

/// A point in pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

impl Point {
    pub const fn new(x: f32, y: f32) -> Self {
        Self { x, y }
    }

    pub fn mid(a: Self, b: Self) -> Self {
        Self::new((a.x + b.x) / 2.0, (a.y + b.y) / 2.0)
    }

    pub fn dist(a: Self, b: Self) -> f32 {
        (a.x - b.x).hypot(a.y - b.y)
    }
}

/// Side of the aligned crop.
pub const ALIGNED_SIZE: u32 = 112;

/// The 112×112 five-point template (InsightFace/ArcFace convention, which MobileFaceNet_TF
/// was trained with): eye on the image's left, eye on the right, nose tip, mouth corner left,
/// mouth corner right.
pub const TEMPLATE_5: [Point; 5] = [
    Point::new(38.2946, 51.6963),
    Point::new(73.5318, 51.5014),
    Point::new(56.0252, 71.7366),
    Point::new(41.5493, 92.3655),
    Point::new(70.7299, 92.2041),
];

/// The mouth centre of the template (BlazeFace gives one mouth point, not two corners).
pub const TEMPLATE_MOUTH_CENTRE: Point = Point::new(56.1396, 92.2848);

/// `x' = a·x − b·y + tx`, `y' = b·x + a·y + ty`: rotation by atan2(b, a), scale hypot(a, b).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

/// The least-squares similarity `(a, b, tx, ty)` (see [`Similarity`]) mapping `src[i]` onto
/// `dst[i]`, in double precision: the closed form of Umeyama's method for 2-D without
/// reflection. `None` with fewer than two points or when the source points coincide.
/// [`Similarity::estimate`] and dlib's chip geometry (`dlib_chip`) both fit with it.
pub fn fit_similarity(src: &[(f64, f64)], dst: &[(f64, f64)]) -> Option<(f64, f64, f64, f64)> {
    if src.len() != dst.len() || src.len() < 2 {
        return None;
    }
    #[allow(clippy::cast_precision_loss)]
    let n = src.len() as f64;
    let mean = |ps: &[(f64, f64)]| {
        let (sx, sy) = ps.iter().fold((0.0, 0.0), |(x, y), p| (x + p.0, y + p.1));
        (sx / n, sy / n)
    };
    let (psx, psy) = mean(src);
    let (pdx, pdy) = mean(dst);
    let (mut num_a, mut num_b, mut den) = (0.0f64, 0.0f64, 0.0f64);
    for (p, q) in src.iter().zip(dst) {
        let (x, y) = (p.0 - psx, p.1 - psy);
        let (u, v) = (q.0 - pdx, q.1 - pdy);
        num_a += x * u + y * v;
        num_b += x * v - y * u;
        den += x * x + y * y;
    }
    if den <= 1e-9 {
        return None;
    }
    let a = num_a / den;
    let b = num_b / den;
    Some((a, b, pdx - (a * psx - b * psy), pdy - (b * psx + a * psy)))
}

impl Similarity {
    pub fn apply(&self, p: Point) -> Point {
        Point::new(
            self.a * p.x - self.b * p.y + self.tx,
            self.b * p.x + self.a * p.y + self.ty,
        )
    }

    /// The inverse transform; `None` when the scale is zero (all points coincide).
    pub fn inverse(&self) -> Option<Self> {
        let n = self.a * self.a + self.b * self.b;
        if n <= f32::EPSILON {
            return None;
        }
        let (a, b) = (self.a / n, -self.b / n);
        Some(Self {
            a,
            b,
            tx: -(a * self.tx - b * self.ty),
            ty: -(b * self.tx + a * self.ty),
        })
    }

    pub fn scale(&self) -> f32 {
        self.a.hypot(self.b)
    }

    /// Least-squares similarity mapping `src[i]` onto `dst[i]` (closed form of Umeyama's method
    /// for 2-D without reflection). `None` with fewer than two points or degenerate input.
    pub fn estimate(src: &[Point], dst: &[Point]) -> Option<Self> {
        let wide = |ps: &[Point]| -> Vec<(f64, f64)> {
            ps.iter()
                .map(|p| (f64::from(p.x), f64::from(p.y)))
                .collect()
        };
        let (a, b, tx, ty) = fit_similarity(&wide(src), &wide(dst))?;
        #[allow(clippy::cast_possible_truncation)]
        Some(Self {
            a: a as f32,
            b: b as f32,
            tx: tx as f32,
            ty: ty as f32,
        })
    }
}

/// Samples `src` at `(x, y)` (pixel centres at integer + 0.5) with bilinear interpolation;
/// outside the image the colour is black, like a camera's dark border.
#[inline]
fn sample(src: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let (w, h) = (src.width() as i64, src.height() as i64);
    let fx = x - 0.5;
    let fy = y - 0.5;
    let x0 = fx.floor();
    let y0 = fy.floor();
    let (dx, dy) = (fx - x0, fy - y0);
    #[allow(clippy::cast_possible_truncation)]
    let (x0, y0) = (x0 as i64, y0 as i64);
    let raw = src.as_raw();
    let px = |xi: i64, yi: i64| -> [f32; 3] {
        if xi < 0 || yi < 0 || xi >= w || yi >= h {
            return [0.0; 3];
        }
        #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
        let i = ((yi * w + xi) * 3) as usize;
        [
            f32::from(raw[i]),
            f32::from(raw[i + 1]),
            f32::from(raw[i + 2]),
        ]
    };
    let p00 = px(x0, y0);
    let p10 = px(x0 + 1, y0);
    let p01 = px(x0, y0 + 1);
    let p11 = px(x0 + 1, y0 + 1);
    let mut out = [0.0; 3];
    for c in 0..3 {
        let top = p00[c] + (p10[c] - p00[c]) * dx;
        let bottom = p01[c] + (p11[c] - p01[c]) * dx;
        out[c] = top + (bottom - top) * dy;
    }
    out
}

/// Warps `src` into a `width`×`height` image where output pixel `(x, y)` comes from
/// `dst_to_src.apply((x + 0.5, y + 0.5))` in the source.
///
/// Runs on every analysed face twice per frame (mesh crop, aligned crop), so the common case —
/// all four neighbours inside the image — reads the buffer directly, without per-pixel bounds
/// closures; the arithmetic is exactly that of [`sample`], so both paths give the same bytes.
pub fn warp(src: &RgbImage, dst_to_src: &Similarity, width: u32, height: u32) -> RgbImage {
    let (sw, sh) = (src.width() as usize, src.height() as usize);
    #[allow(clippy::cast_precision_loss)]
    let (max_x, max_y) = (sw as f32 - 1.0, sh as f32 - 1.0);
    let raw = src.as_raw();
    let stride = sw * 3;
    let row_len = width as usize * 3;
    let mut out = vec![0u8; row_len * height as usize];
    for (y, row) in out.chunks_exact_mut(row_len.max(1)).enumerate() {
        for (x, px) in row.chunks_exact_mut(3).enumerate() {
            #[allow(clippy::cast_precision_loss)]
            let p = dst_to_src.apply(Point::new(x as f32 + 0.5, y as f32 + 0.5));
            let (fx, fy) = (p.x - 0.5, p.y - 0.5);
            let (x0, y0) = (fx.floor(), fy.floor());
            let v = if x0 >= 0.0 && y0 >= 0.0 && x0 < max_x && y0 < max_y {
                let (dx, dy) = (fx - x0, fy - y0);
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let i = y0 as usize * stride + x0 as usize * 3;
                let (top_row, bottom_row) = (&raw[i..i + 6], &raw[i + stride..i + stride + 6]);
                let mut v = [0.0; 3];
                for c in 0..3 {
                    let (p00, p10) = (f32::from(top_row[c]), f32::from(top_row[c + 3]));
                    let (p01, p11) = (f32::from(bottom_row[c]), f32::from(bottom_row[c + 3]));
                    let top = p00 + (p10 - p00) * dx;
                    let bottom = p01 + (p11 - p01) * dx;
                    v[c] = top + (bottom - top) * dy;
                }
                v
            } else {
                sample(src, p.x, p.y)
            };
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            for (dst, value) in px.iter_mut().zip(v) {
                *dst = (value + 0.5).clamp(0.0, 255.0) as u8;
            }
        }
    }
    RgbImage::from_raw(width, height, out).expect("buffer sized for width × height")
}

/// The straightforward warp, kept as the reference the fast one is tested against.
#[cfg(test)]
fn warp_reference(src: &RgbImage, dst_to_src: &Similarity, width: u32, height: u32) -> RgbImage {
    let mut out = RgbImage::new(width, height);
    for (x, y, px) in out.enumerate_pixels_mut() {
        #[allow(clippy::cast_precision_loss)]
        let p = dst_to_src.apply(Point::new(x as f32 + 0.5, y as f32 + 0.5));
        let v = sample(src, p.x, p.y);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        for (dst, value) in px.0.iter_mut().zip(v) {
            *dst = (value + 0.5).clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Which facial points drive the alignment (see docs/decisions/0101-alignment.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlignPoints {
    /// BlazeFace's eyes, nose tip and mouth centre (4 points, no extra model).
    Detector,
    /// Eye centres, nose tip and mouth corners from the face-mesh model (5 points).
    Mesh,
    /// Only the two eyes (rotation and scale from the inter-ocular line).
    Eyes,
}

/// Aligns the face with the given points onto the template and returns the 112×112 crop.
/// `points` and `template` pair up index by index. `None` for degenerate points.
pub fn align(src: &RgbImage, points: &[Point], template: &[Point]) -> Option<RgbImage> {
    let to_template = Similarity::estimate(points, template)?;
    let back = to_template.inverse()?;
    Some(warp(src, &back, ALIGNED_SIZE, ALIGNED_SIZE))
}

/// Mirrors an image left to right (the flip-test's second view).
pub fn mirror(img: &RgbImage) -> RgbImage {
    image::imageops::flip_horizontal(img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_recovers_a_known_similarity() {
        let truth = Similarity {
            a: 0.8,
            b: 0.3,
            tx: 12.0,
            ty: -4.0,
        };
        let src = [
            Point::new(10.0, 20.0),
            Point::new(50.0, 22.0),
            Point::new(30.0, 40.0),
            Point::new(31.0, 60.0),
        ];
        let dst: Vec<Point> = src.iter().map(|&p| truth.apply(p)).collect();
        let est = Similarity::estimate(&src, &dst).unwrap();
        for (p, q) in src.iter().zip(&dst) {
            let r = est.apply(*p);
            assert!(
                (r.x - q.x).abs() < 1e-3 && (r.y - q.y).abs() < 1e-3,
                "{r:?} vs {q:?}"
            );
        }
    }

    #[test]
    fn inverse_round_trips() {
        let t = Similarity {
            a: 1.7,
            b: -0.4,
            tx: 3.0,
            ty: 9.0,
        };
        let inv = t.inverse().unwrap();
        let p = Point::new(17.0, -5.0);
        let q = inv.apply(t.apply(p));
        assert!((q.x - p.x).abs() < 1e-4 && (q.y - p.y).abs() < 1e-4);
    }

    #[test]
    fn degenerate_points_give_none() {
        let p = [Point::new(1.0, 1.0), Point::new(1.0, 1.0)];
        assert!(Similarity::estimate(&p, &TEMPLATE_5[..2]).is_none());
        assert!(Similarity::estimate(&p[..1], &TEMPLATE_5[..1]).is_none());
    }

    #[test]
    fn fast_warp_gives_the_reference_bytes_inside_and_across_the_border() {
        let src = RgbImage::from_fn(97, 61, |x, y| {
            #[allow(clippy::cast_possible_truncation)]
            image::Rgb([(x * 7 + y) as u8, (y * 13) as u8, ((x ^ y) * 5) as u8])
        });
        for t in [
            Similarity {
                a: 1.0,
                b: 0.0,
                tx: 0.0,
                ty: 0.0,
            },
            // Rotated, scaled and shifted so part of the output falls outside the source.
            Similarity {
                a: 0.43,
                b: 0.21,
                tx: 30.3,
                ty: -12.7,
            },
            Similarity {
                a: -0.9,
                b: 0.35,
                tx: 120.0,
                ty: 10.0,
            },
        ] {
            assert_eq!(
                warp(&src, &t, 112, 112),
                warp_reference(&src, &t, 112, 112),
                "{t:?}"
            );
        }
    }

    #[test]
    fn warp_with_identity_copies_pixels() {
        let img = RgbImage::from_fn(8, 6, |x, y| image::Rgb([(x * 30) as u8, (y * 40) as u8, 7]));
        let id = Similarity {
            a: 1.0,
            b: 0.0,
            tx: 0.0,
            ty: 0.0,
        };
        assert_eq!(warp(&img, &id, 8, 6), img);
    }

    #[test]
    fn warp_interpolates_halfway_and_blackens_outside() {
        let img = RgbImage::from_fn(2, 1, |x, _| image::Rgb([if x == 0 { 0 } else { 200 }; 3]));
        // Sample at the midpoint between the two pixel centres.
        let shift = Similarity {
            a: 1.0,
            b: 0.0,
            tx: 0.5,
            ty: 0.0,
        };
        let out = warp(&img, &shift, 1, 1);
        assert_eq!(out.get_pixel(0, 0).0[0], 100);
        let far = Similarity {
            a: 1.0,
            b: 0.0,
            tx: 50.0,
            ty: 50.0,
        };
        assert_eq!(warp(&img, &far, 1, 1).get_pixel(0, 0).0, [0, 0, 0]);
    }
}
