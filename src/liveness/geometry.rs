//! Is the motion between two views of a face that of a flat picture or of a 3-D head?
//!
//! A flat picture (a print, a phone screen) seen by a pinhole camera from two positions maps
//! onto itself by a plane homography, however it is moved, tilted or brought closer. A head
//! that turns does not: the nose moves across the cheeks (parallax), which no homography
//! explains, while an affine camera applied to the mesh's 3-D points explains it well. So
//! between a reference view A and a later view B of the same track we fit both models to the
//! upper-face mesh points and compare their residuals:
//!
//! * `planar_residual`: RMS error of the best homography A → B (8 degrees of freedom);
//! * `rigid_residual`: RMS error of the best affine projection of A's 3-D points (x, y and the
//!   mesh depth) onto B (2×4 matrix, also 8 degrees of freedom);
//! * `gain` = planar / rigid: ≈ 1 for a flat picture (both fit), ≥ 2 for a turning head.
//!
//! Both residuals are in units of the inter-ocular distance, so they do not depend on how far
//! away the person stands. The mesh jitters by about 0.5 % of that distance from frame to
//! frame; a gain computed on less motion than that is noise, hence the separate floor on the
//! planar residual ([`super::LivenessConfig::min_planar_residual`]).
//!
//! Only points above the mouth are used: a person who talks or smiles moves the lower face
//! non-rigidly, which would look like 3-D motion to the rigid test and like parallax to the
//! planar one.

use crate::vision::landmarks::{idx, Mesh};

/// Mesh indices of the upper face: forehead, brows, eyes, nose, cheekbones, temples.
pub const UPPER_FACE: [usize; 64] = [
    10, 151, 9, 8, 168, 6, 197, 195, 5, 1, // midline: forehead → nose tip
    33, 133, 159, 145, 160, 144, 158, 153, // the image-left eye
    263, 362, 386, 374, 387, 373, 385, 380, // the other eye
    70, 63, 105, 66, 107, 46, 300, 293, 334, 296, 336, 276, // brows
    234, 454, 93, 323, 116, 345, 117, 346, 123, 352, 50, 280, // cheeks
    127, 356, 162, 389, 54, 284, 103, 332, // temples
    129, 358, 98, 327, 48, 278, // nose sides
];

/// The points of one view of a face the geometry needs (never an image).
#[derive(Debug, Clone, PartialEq)]
pub struct FacePoints {
    /// Upper-face points in frame pixels, with the mesh depth scaled to frame pixels.
    pub points: Vec<[f64; 3]>,
    /// Inter-ocular distance in frame pixels (outer eye corners): the unit of the residuals.
    pub eye_distance: f64,
    /// Head yaw and pitch from the mesh, degrees (0 frontal).
    pub yaw_deg: f32,
    pub pitch_deg: f32,
}

impl FacePoints {
    /// The points of `mesh`; `None` for a degenerate mesh (collapsed eyes).
    pub fn from_mesh(mesh: &Mesh) -> Option<Self> {
        let (l, r) = (idx::EYE_L[0], idx::EYE_R[1]);
        let p = &mesh.points;
        let m = &mesh.model_space;
        if p.len() <= 467 || m.len() <= 467 {
            return None;
        }
        let eye = f64::from((p[r].x - p[l].x).hypot(p[r].y - p[l].y));
        let eye_model = f64::from((m[r][0] - m[l][0]).hypot(m[r][1] - m[l][1]));
        if !(eye > 1.0 && eye_model > 1e-3) {
            return None;
        }
        // Depth comes in the landmark model's input pixels; bring it to frame pixels.
        let scale = eye / eye_model;
        let points = UPPER_FACE
            .iter()
            .map(|&i| {
                [
                    f64::from(p[i].x),
                    f64::from(p[i].y),
                    f64::from(m[i][2]) * scale,
                ]
            })
            .collect();
        Some(Self {
            points,
            eye_distance: eye,
            yaw_deg: mesh.yaw_deg(),
            pitch_deg: mesh.pitch_deg(),
        })
    }
}

/// The two fits between two views, and their ratio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotionFit {
    /// RMS error of the best homography, in inter-ocular distances.
    pub planar_residual: f64,
    /// RMS error of the best affine projection of the 3-D points, in inter-ocular distances.
    pub rigid_residual: f64,
    /// `planar_residual / rigid_residual` (with a small floor on the denominator).
    pub gain: f64,
}

/// Fits both motion models from view `a` to view `b`; `None` when the views cannot be
/// compared (different point sets, a singular fit).
pub fn fit(a: &FacePoints, b: &FacePoints) -> Option<MotionFit> {
    if a.points.len() != b.points.len() || a.points.len() < 12 {
        return None;
    }
    let unit = 0.5 * (a.eye_distance + b.eye_distance);
    let src: Vec<[f64; 2]> = a.points.iter().map(|p| [p[0], p[1]]).collect();
    let dst: Vec<[f64; 2]> = b.points.iter().map(|p| [p[0], p[1]]).collect();
    let planar = homography_rms(&src, &dst)? / unit;
    let rigid = affine3d_rms(&a.points, &dst)? / unit;
    // Mesh jitter bounds how well anything can fit; below it the ratio is meaningless.
    let gain = planar / rigid.max(1e-3);
    Some(MotionFit {
        planar_residual: planar,
        rigid_residual: rigid,
        gain,
    })
}

/// Translates and scales points so their centroid is 0 and mean distance √2 (Hartley), which
/// keeps the normal equations well conditioned; returns the points and (cx, cy, s).
fn normalise(pts: &[[f64; 2]]) -> (Vec<[f64; 2]>, [f64; 3]) {
    #[allow(clippy::cast_precision_loss)]
    let n = pts.len() as f64;
    let cx = pts.iter().map(|p| p[0]).sum::<f64>() / n;
    let cy = pts.iter().map(|p| p[1]).sum::<f64>() / n;
    let mean = pts
        .iter()
        .map(|p| (p[0] - cx).hypot(p[1] - cy))
        .sum::<f64>()
        / n;
    let s = if mean > 1e-12 {
        std::f64::consts::SQRT_2 / mean
    } else {
        1.0
    };
    (
        pts.iter()
            .map(|p| [(p[0] - cx) * s, (p[1] - cy) * s])
            .collect(),
        [cx, cy, s],
    )
}

/// RMS reprojection error (in the input units) of the least-squares homography `src → dst`.
///
/// The linear fit (h₃₃ = 1, on normalised coordinates) is refined by a few Gauss–Newton
/// steps on the geometric error, so a flat picture's residual is the mesh jitter and not an
/// artefact of the algebraic cost.
fn homography_rms(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Option<f64> {
    let (s, _) = normalise(src);
    let (d, td) = normalise(dst);
    // Linear estimate: for each point two rows of A h = b with h = (h11..h32), h33 = 1.
    let mut ata = [[0.0; 8]; 8];
    let mut atb = [0.0; 8];
    for (p, q) in s.iter().zip(&d) {
        let (x, y, u, v) = (p[0], p[1], q[0], q[1]);
        let rows = [
            ([x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y], u),
            ([0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y], v),
        ];
        accumulate(&mut ata, &mut atb, &rows);
    }
    let mut h = solve::<8>(ata, atb)?;
    // Gauss–Newton on the geometric error.
    for _ in 0..5 {
        let mut jtj = [[0.0; 8]; 8];
        let mut jtr = [0.0; 8];
        for (p, q) in s.iter().zip(&d) {
            let (x, y) = (p[0], p[1]);
            let w = h[6] * x + h[7] * y + 1.0;
            if w.abs() < 1e-9 {
                return None;
            }
            let u = (h[0] * x + h[1] * y + h[2]) / w;
            let v = (h[3] * x + h[4] * y + h[5]) / w;
            let ju = [x / w, y / w, 1.0 / w, 0.0, 0.0, 0.0, -u * x / w, -u * y / w];
            let jv = [0.0, 0.0, 0.0, x / w, y / w, 1.0 / w, -v * x / w, -v * y / w];
            accumulate(&mut jtj, &mut jtr, &[(ju, q[0] - u), (jv, q[1] - v)]);
        }
        let step = solve::<8>(jtj, jtr)?;
        for (hi, si) in h.iter_mut().zip(step) {
            *hi += si;
        }
    }
    let mut sq = 0.0;
    for (p, q) in s.iter().zip(&d) {
        let (x, y) = (p[0], p[1]);
        let w = h[6] * x + h[7] * y + 1.0;
        let u = (h[0] * x + h[1] * y + h[2]) / w;
        let v = (h[3] * x + h[4] * y + h[5]) / w;
        sq += (u - q[0]).powi(2) + (v - q[1]).powi(2);
    }
    #[allow(clippy::cast_precision_loss)]
    let rms = (sq / src.len() as f64).sqrt();
    // Back to destination pixels.
    Some(rms / td[2]).filter(|r| r.is_finite())
}

/// RMS error (input units) of the least-squares affine camera `[x y z 1] → [u v]`.
fn affine3d_rms(src: &[[f64; 3]], dst: &[[f64; 2]]) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)]
    let n = src.len() as f64;
    let mean = |k: usize| src.iter().map(|p| p[k]).sum::<f64>() / n;
    let (mx, my, mz) = (mean(0), mean(1), mean(2));
    let spread = src
        .iter()
        .map(|p| (p[0] - mx).hypot(p[1] - my))
        .sum::<f64>()
        / n;
    let s = if spread > 1e-12 { 1.0 / spread } else { 1.0 };
    let rows: Vec<[f64; 4]> = src
        .iter()
        .map(|p| [(p[0] - mx) * s, (p[1] - my) * s, (p[2] - mz) * s, 1.0])
        .collect();
    let mut ata = [[0.0; 4]; 4];
    for r in &rows {
        for i in 0..4 {
            for j in 0..4 {
                ata[i][j] += r[i] * r[j];
            }
        }
    }
    let mut sq = 0.0;
    for k in 0..2 {
        let mut atb = [0.0; 4];
        for (r, q) in rows.iter().zip(dst) {
            for i in 0..4 {
                atb[i] += r[i] * q[k];
            }
        }
        // A face seen exactly frontally has depth that is nearly a function of x and y; a
        // little ridge keeps the system solvable without changing a well-posed fit.
        let mut reg = ata;
        reg[2][2] += 1e-9;
        let m = solve::<4>(reg, atb)?;
        for (r, q) in rows.iter().zip(dst) {
            let pred = m[0] * r[0] + m[1] * r[1] + m[2] * r[2] + m[3];
            sq += (pred - q[k]).powi(2);
        }
    }
    let rms = (sq / n).sqrt();
    rms.is_finite().then_some(rms)
}

fn accumulate<const N: usize>(
    ata: &mut [[f64; N]; N],
    atb: &mut [f64; N],
    rows: &[([f64; N], f64)],
) {
    for (row, rhs) in rows {
        for i in 0..N {
            atb[i] += row[i] * rhs;
            for j in 0..N {
                ata[i][j] += row[i] * row[j];
            }
        }
    }
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting; `None` when singular.
fn solve<const N: usize>(mut a: [[f64; N]; N], mut b: [f64; N]) -> Option<[f64; N]> {
    for col in 0..N {
        let pivot = (col..N).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let pivot_row = a[col];
        for row in col + 1..N {
            let f = a[row][col] / pivot_row[col];
            for (x, p) in a[row][col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; N];
    for row in (0..N).rev() {
        let tail: f64 = (row + 1..N).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - tail) / a[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A synthetic face: points on an ellipsoid-like surface (depth grows towards the nose),
    /// `n` points, inter-ocular distance ≈ 60 px.
    pub fn head(n: usize) -> Vec<[f64; 3]> {
        (0..n)
            .map(|i| {
                #[allow(clippy::cast_precision_loss)]
                let t = i as f64 * 2.399_963; // golden angle: spread over the disc
                #[allow(clippy::cast_precision_loss)]
                let r = (i as f64 / n as f64).sqrt() * 45.0;
                let (x, y) = (r * t.cos(), r * t.sin() * 0.8);
                let z = -(45.0f64.powi(2) - r * r).max(0.0).sqrt() * 0.6;
                [x, y, z]
            })
            .collect()
    }

    /// Projects 3-D points with a pinhole camera at distance `dist` after rotating by yaw and
    /// pitch (radians), centred at (320, 240), focal 600 px.
    pub fn view(pts: &[[f64; 3]], yaw: f64, pitch: f64, dist: f64, jitter: f64) -> FacePoints {
        let (cy, sy, cp, sp) = (yaw.cos(), yaw.sin(), pitch.cos(), pitch.sin());
        let mut seed = 0x2545_f491_u64;
        let mut noise = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            #[allow(clippy::cast_precision_loss)]
            let u = (seed % 10_000) as f64 / 10_000.0 - 0.5;
            u * 2.0 * jitter
        };
        let points: Vec<[f64; 3]> = pts
            .iter()
            .map(|p| {
                let (x, z) = (p[0] * cy + p[2] * sy, -p[0] * sy + p[2] * cy);
                let (y, z) = (p[1] * cp - z * sp, p[1] * sp + z * cp);
                let f = 600.0 / (dist + z);
                [320.0 + x * f + noise(), 240.0 + y * f + noise(), z * f]
            })
            .collect();
        FacePoints {
            points,
            eye_distance: 60.0 * 600.0 / dist,
            yaw_deg: yaw.to_degrees() as f32,
            pitch_deg: pitch.to_degrees() as f32,
        }
    }

    /// The same head, but printed: every point flattened onto the z = 0 plane (the mesh still
    /// reports a face-shaped depth, as it does on a photo), then the print moved rigidly.
    pub fn print_view(
        pts: &[[f64; 3]],
        yaw: f64,
        pitch: f64,
        dist: f64,
        jitter: f64,
    ) -> FacePoints {
        let flat: Vec<[f64; 3]> = pts.iter().map(|p| [p[0], p[1], 0.0]).collect();
        let mut v = view(&flat, yaw, pitch, dist, jitter);
        // The landmark model infers a frontal face's depth from the picture.
        for (q, p) in v.points.iter_mut().zip(pts) {
            q[2] = p[2] * 600.0 / dist;
        }
        v
    }

    #[test]
    fn a_turning_head_is_3d_and_a_tilted_print_is_flat() {
        let h = head(64);
        let a = view(&h, 0.0, 0.0, 600.0, 0.2);
        let turned = view(&h, 0.35, 0.0, 600.0, 0.2);
        let live = fit(&a, &turned).unwrap();
        let pa = print_view(&h, 0.0, 0.0, 600.0, 0.2);
        let tilted = print_view(&h, 0.35, 0.0, 600.0, 0.2);
        let print = fit(&pa, &tilted).unwrap();
        assert!(live.gain > 2.0, "live {live:?}");
        assert!(print.gain < 1.3, "print {print:?}");
        assert!(live.planar_residual > 0.02, "{live:?}");
        // A nod is 3-D too.
        let nod = fit(&a, &view(&h, 0.0, 0.3, 600.0, 0.2)).unwrap();
        assert!(nod.gain > 2.0, "{nod:?}");
    }

    #[test]
    fn a_print_brought_closer_and_moved_stays_flat() {
        let h = head(64);
        let a = print_view(&h, 0.0, 0.0, 700.0, 0.2);
        let b = print_view(&h, 0.15, -0.2, 450.0, 0.2);
        let f = fit(&a, &b).unwrap();
        assert!(f.gain < 1.3, "{f:?}");
    }

    #[test]
    fn a_still_face_has_no_motion_to_judge() {
        let h = head(64);
        let a = view(&h, 0.0, 0.0, 600.0, 0.3);
        let b = view(&h, 0.0, 0.0, 600.0, 0.3);
        let f = fit(&a, &b).unwrap();
        assert!(f.planar_residual < 0.01, "{f:?}");
    }

    #[test]
    fn mismatched_views_are_refused() {
        let h = head(64);
        let a = view(&h, 0.0, 0.0, 600.0, 0.0);
        let mut b = a.clone();
        b.points.pop();
        assert!(fit(&a, &b).is_none());
        assert_eq!(solve::<2>([[1.0, 2.0], [2.0, 4.0]], [1.0, 2.0]), None);
        assert_eq!(
            solve::<2>([[2.0, 0.0], [0.0, 4.0]], [2.0, 8.0]),
            Some([1.0, 2.0])
        );
    }
}
