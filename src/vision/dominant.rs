//! Which face of a photo is *the* face: the dominant one, or a refusal naming the two that tie.
//!
//! Enrolment photos, `identify` probes and photos sent to the API often show somebody else in
//! the background (news photos, a colleague behind the shoulder). Refusing all of them throws
//! away good photos (5.7 % of LFW); taking the largest blindly enrols the wrong person when two
//! people stand side by side. The rule here is the one a person applies: the biggest face near
//! the centre is the subject, provided every other face is *clearly* less prominent; when two
//! faces are about equally prominent the photo is refused and both boxes are named, so the
//! operator can crop it.
//!
//! Prominence is the face width, discounted by how far the face centre lies from the image
//! centre (a face in a corner counts half). Width rather than area because the detector's box
//! height follows its width. The door loop's "closest person" uses the same measure.

use super::detect::Detection;
use super::ImageRejection;

/// A runner-up face at or above this fraction of the winner's prominence ties with it.
///
/// At 0.8 a background face must be a fifth smaller (or as much further off-centre) than the
/// subject's; two people of similar size side by side, both off-centre, always tie.
pub const TIE_RATIO: f32 = 0.8;

/// How much a face in the very corner is discounted, relative to one in the centre.
const CORNER_DISCOUNT: f32 = 0.5;

/// The width of `det`, discounted by its distance from the centre of a `w`×`h` image.
pub fn prominence(det: &Detection, w: u32, h: u32) -> f32 {
    #[allow(clippy::cast_precision_loss)]
    let (hw, hh) = (w.max(1) as f32 / 2.0, h.max(1) as f32 / 2.0);
    let cx = (det.x0 + det.x1) / 2.0;
    let cy = (det.y0 + det.y1) / 2.0;
    let dx = ((cx - hw) / hw).clamp(-1.0, 1.0);
    let dy = ((cy - hh) / hh).clamp(-1.0, 1.0);
    // 0 in the centre, 1 in a corner.
    let off = (dx.hypot(dy) / std::f32::consts::SQRT_2).min(1.0);
    det.width().max(0.0) * (1.0 - CORNER_DISCOUNT * off)
}

/// A face box for messages: `x0,y0–x1,y1` in image pixels.
pub fn describe_box(det: &Detection) -> String {
    format!("[{:.0},{:.0}–{:.0},{:.0}]", det.x0, det.y0, det.x1, det.y1)
}

/// Picks the dominant face of a `w`×`h` photo from its detections (any order).
///
/// `Ok(None)` when there is no face; `Err` with code `several_faces` and both boxes in the
/// detail when the two most prominent faces tie.
pub fn dominant_face(
    faces: Vec<Detection>,
    w: u32,
    h: u32,
) -> Result<Option<Detection>, ImageRejection> {
    let mut ranked: Vec<(f32, Detection)> = faces
        .into_iter()
        .map(|d| (prominence(&d, w, h), d))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut it = ranked.into_iter();
    let Some((best_p, best)) = it.next() else {
        return Ok(None);
    };
    if let Some((second_p, second)) = it.next() {
        if second_p >= TIE_RATIO * best_p {
            return Err(ImageRejection {
                code: "several_faces",
                detail: format!(
                    "two faces are about equally prominent, {} ({:.0} px wide) and {} ({:.0} px \
                     wide); crop the photo to the person to use",
                    describe_box(&best),
                    best.width(),
                    describe_box(&second),
                    second.width()
                ),
            });
        }
    }
    Ok(Some(best))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::align::Point;

    fn face(cx: f32, cy: f32, size: f32) -> Detection {
        Detection {
            x0: cx - size / 2.0,
            y0: cy - size / 2.0,
            x1: cx + size / 2.0,
            y1: cy + size / 2.0,
            score: 0.9,
            keypoints: [Point { x: cx, y: cy }; 6],
        }
    }

    #[test]
    fn no_face_is_none_and_one_face_wins() {
        assert_eq!(dominant_face(vec![], 640, 480).unwrap(), None);
        let f = face(100.0, 100.0, 50.0);
        assert_eq!(dominant_face(vec![f.clone()], 640, 480).unwrap(), Some(f));
    }

    #[test]
    fn a_clearly_smaller_background_face_is_ignored() {
        let subject = face(320.0, 240.0, 120.0);
        let behind = face(500.0, 150.0, 80.0);
        let got = dominant_face(vec![behind, subject.clone()], 640, 480).unwrap();
        assert_eq!(got, Some(subject));
    }

    #[test]
    fn an_equally_large_face_off_centre_loses_to_the_centred_one() {
        // Same size, but one in the centre and one near the corner.
        let centred = face(320.0, 240.0, 100.0);
        let corner = face(600.0, 40.0, 100.0);
        let got = dominant_face(vec![corner, centred.clone()], 640, 480).unwrap();
        assert_eq!(got, Some(centred));
    }

    #[test]
    fn two_people_side_by_side_are_refused_naming_both_boxes() {
        let left = face(160.0, 240.0, 100.0);
        let right = face(480.0, 240.0, 95.0);
        let err = dominant_face(vec![left, right], 640, 480).unwrap_err();
        assert_eq!(err.code, "several_faces");
        assert!(err.detail.contains("[110,190–210,290]"), "{}", err.detail);
        assert!(err.detail.contains("[432,192–528,288]"), "{}", err.detail);
    }

    #[test]
    fn prominence_discounts_distance_from_the_centre() {
        let c = prominence(&face(320.0, 240.0, 100.0), 640, 480);
        let corner = prominence(&face(640.0, 480.0, 100.0), 640, 480);
        assert!((c - 100.0).abs() < 1e-3);
        assert!((corner - 50.0).abs() < 1e-3);
    }
}
