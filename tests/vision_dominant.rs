//! Photos with more than one face, with the real models: the dominant face is the one enrolled
//! or identified (checked by whose embedding comes out), and two equally prominent faces are
//! refused naming both boxes. The scenes are composed from fixture photos of two different
//! people, so which face was used is known.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use image::imageops::{self, FilterType};
use image::{ImageFormat, RgbImage};
use wardgate::config::MatchingConfig;
use wardgate::matching::OperatingPoint;
use wardgate::vision::{embed, photo, Engine, FaceEncoder, VisionConfig};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn faces() -> PathBuf {
    root().join("tests/fixtures/faces")
}

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        Engine::load(&VisionConfig {
            model_dir: root().join("models"),
            ..VisionConfig::default()
        })
        .expect("models load")
    })
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(faces().join(rel)).unwrap()
}

fn decode(rel: &str) -> RgbImage {
    photo::decode(&read(rel), &photo::PhotoLimits::default()).unwrap()
}

fn jpeg(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), ImageFormat::Jpeg)
        .unwrap();
    out
}

const A: &str = "people/S001/S001-01-t10_01.jpg";
const B: &str = "people/S006/S006-01-t10_01.jpg";

fn scaled(rel: &str, w: u32, h: u32) -> RgbImage {
    imageops::resize(&decode(rel), w, h, FilterType::Triangle)
}

/// `big` fills the centre of a wide canvas; `small` (at `small_scale` of its size) sits in the
/// top-right corner.
fn scene(big: &str, small: &str, small_scale: f32) -> RgbImage {
    let a = decode(big);
    let (w, h) = a.dimensions();
    let mut canvas = RgbImage::from_pixel(w * 2, h, image::Rgb([90, 90, 90]));
    imageops::overlay(&mut canvas, &a, i64::from(w / 2), 0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (sw, sh) = (
        (w as f32 * small_scale) as u32,
        (h as f32 * small_scale) as u32,
    );
    let b = scaled(small, sw, sh);
    imageops::overlay(&mut canvas, &b, i64::from(2 * w - sw), 0);
    canvas
}

fn alone(rel: &str) -> Vec<f32> {
    engine().encode_image(&read(rel)).unwrap()
}

#[test]
fn the_large_centred_face_is_enrolled_and_the_background_face_ignored() {
    let e = engine();
    for (big, small) in [(A, B), (B, A)] {
        let img = scene(big, small, 0.55);
        assert_eq!(
            e.detect(&img).unwrap().len(),
            2,
            "the scene must show both faces"
        );
        let v = e.encode_image(&jpeg(&img)).expect("dominant face enrolled");
        let own = embed::cosine(&v, &alone(big));
        let other = embed::cosine(&v, &alone(small));
        // Below the threshold of a door with this one template: the background face is not
        // who was enrolled.
        let single = OperatingPoint::for_gallery(&MatchingConfig::default(), e.model_id(), 1);
        assert!(
            own > 0.85 && other < single.threshold,
            "{big} in front of {small}: similarity to itself {own:.3}, to the background {other:.3}"
        );
    }
}

#[test]
fn identify_uses_the_same_choice() {
    // `analyze_photo` (identify, the eval tools) and `encode_image` (enrolment) pick alike.
    let e = engine();
    let img = jpeg(&scene(B, A, 0.5));
    let probe = e.analyze_photo(&img).unwrap();
    assert!(embed::cosine(&probe.embedding, &alone(B)) > 0.85);
}

#[test]
fn two_equally_prominent_faces_are_refused_naming_both_boxes() {
    let e = engine();
    let a = decode(A);
    let (w, h) = a.dimensions();
    let b = scaled(B, w, h);
    let mut both = RgbImage::new(w * 2, h);
    imageops::overlay(&mut both, &a, 0, 0);
    imageops::overlay(&mut both, &b, i64::from(w), 0);
    let err = e.encode_image(&jpeg(&both)).unwrap_err();
    assert_eq!(err.code, "several_faces", "{err}");
    // Both boxes, one in each half of the image.
    let boxes: Vec<&str> = err.detail.matches('[').collect();
    assert_eq!(boxes.len(), 2, "{}", err.detail);
    let dets = e.detect(&both).unwrap();
    for d in &dets {
        assert!(
            err.detail
                .contains(&wardgate::vision::dominant::describe_box(d)),
            "{} does not name {d:?}",
            err.detail
        );
    }
}

#[test]
fn chirac3_gives_chirac_or_a_refusal_never_the_other_person() {
    // chirac3 shows Chirac beside another man: whatever is picked must be Chirac.
    let e = engine();
    let reference = alone("people/Jacques_Chirac/chirac1.jpg");
    match e.analyze_photo(&read("people/Jacques_Chirac/chirac3.jpg")) {
        Ok(s) => {
            let sim = embed::cosine(&s.embedding, &reference);
            assert!(sim > 0.6, "chirac3's dominant face is not Chirac: {sim:.3}");
        }
        Err(r) => assert_eq!(r.code, "several_faces", "{r}"),
    }
}
