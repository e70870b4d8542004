//! Per-stage timing of the vision path on a 640×480 frame with one face (a fixture photo
//! placed on a grey 4:3 canvas and JPEG-encoded in memory), plus the raw model invokes for the
//! overhead comparison with `scripts/litert_invoke_bench.py`. Figures: BENCHMARKS.md "Vision".
//!
//! `cargo bench --bench vision` (fixtures in tests/fixtures/faces, or WARDGATE_FACES=DIR).

use std::hint::black_box;
use std::io::Cursor;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use image::{ImageFormat, RgbImage};
use wardgate::vision::engine::{embedder_spec, EMBEDDERS};
use wardgate::vision::{dlib_chip, photo, runtime::Model, AlignPoints, Engine, VisionConfig};

fn faces_dir() -> PathBuf {
    std::env::var_os("WARDGATE_FACES")
        .map_or_else(|| PathBuf::from("tests/fixtures/faces"), PathBuf::from)
}

/// A 640×480 JPEG with one face.
fn frame_jpeg() -> Vec<u8> {
    let src =
        std::fs::read(faces_dir().join("people/S001/S001-01-t10_01.jpg")).expect("fixture photo");
    let face = photo::decode(&src, &photo::PhotoLimits::default()).expect("decodes");
    let face = image::imageops::resize(&face, 384, 480, image::imageops::FilterType::Triangle);
    let mut canvas = RgbImage::from_pixel(640, 480, image::Rgb([128, 128, 128]));
    image::imageops::overlay(&mut canvas, &face, 128, 0);
    let mut out = Vec::new();
    canvas
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Jpeg)
        .expect("encodes");
    out
}

/// The configuration benched: the default, or `WARDGATE_BENCH_EMBEDDER`'s embedder.
fn bench_config() -> VisionConfig {
    let mut cfg = VisionConfig::default();
    if let Ok(id) = std::env::var("WARDGATE_BENCH_EMBEDDER") {
        let spec = embedder_spec(&id).expect("WARDGATE_BENCH_EMBEDDER names a known embedder");
        cfg.embedder = id;
        cfg.embedding_dim = spec.dim;
    }
    cfg
}

/// The per-frame door path (detect → mesh → align → embed) of every embedder this build
/// knows, in one run, so that their ratios are measured under the same conditions.
fn frame_by_embedder(c: &mut Criterion) {
    let frame = photo::decode(&frame_jpeg(), &photo::PhotoLimits::default()).unwrap();
    let mut g = c.benchmark_group("frame_by_embedder");
    g.sample_size(30)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for spec in EMBEDDERS {
        let cfg = VisionConfig {
            embedder: spec.id.into(),
            embedding_dim: spec.dim,
            ..VisionConfig::default()
        };
        let engine = Engine::load(&cfg).expect("models load");
        g.bench_function(spec.id, |b| {
            b.iter(|| {
                let faces = engine.detect(black_box(&frame)).unwrap();
                let mesh = engine.mesh(&frame, &faces[0]).unwrap();
                let a = engine
                    .align(&frame, &faces[0], Some(&mesh), cfg.align)
                    .unwrap();
                engine.embed_face(&frame, &mesh, &a).unwrap()
            });
        });
    }
    g.finish();
}

fn stages(c: &mut Criterion) {
    let cfg = bench_config();
    let engine = Engine::load(&cfg).expect("models load; run scripts/setup-litert.sh");
    let jpeg = frame_jpeg();
    let limits = photo::PhotoLimits::default();
    let frame = photo::decode(&jpeg, &limits).unwrap();
    let det = engine.single_face(&frame).expect("one face");
    let mesh = engine.mesh(&frame, &det).unwrap();
    let aligned = engine.align(&frame, &det, Some(&mesh), cfg.align).unwrap();

    let mut g = c.benchmark_group("vision");
    g.sample_size(30)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function("decode_jpeg_640x480", |b| {
        b.iter(|| photo::decode(black_box(&jpeg), &limits).unwrap())
    });
    g.bench_function("detect_short_range", |b| {
        b.iter(|| engine.detect(black_box(&frame)).unwrap())
    });
    g.bench_function("landmarks_mesh", |b| {
        b.iter(|| engine.mesh(black_box(&frame), &det).unwrap())
    });
    g.bench_function("align_mesh_112", |b| {
        b.iter(|| {
            engine
                .align(black_box(&frame), &det, Some(&mesh), AlignPoints::Mesh)
                .unwrap()
        });
    });
    g.bench_function("align_detector_112", |b| {
        b.iter(|| {
            engine
                .align(black_box(&frame), &det, Some(&mesh), AlignPoints::Detector)
                .unwrap()
        });
    });
    g.bench_function("embed_flip_test", |b| {
        b.iter(|| engine.embed_with(black_box(&aligned), true).unwrap())
    });
    g.bench_function("embed_single", |b| {
        b.iter(|| engine.embed_with(black_box(&aligned), false).unwrap())
    });
    g.bench_function("dlib_chip_150", |b| {
        let parts = dlib_chip::five_points(&mesh);
        b.iter(|| dlib_chip::extract(black_box(&frame), &parts).unwrap())
    });
    // The whole template of the configured embedder (fused: MobileFaceNet flip-test + dlib).
    g.bench_function("embed_face_template", |b| {
        b.iter(|| {
            engine
                .embed_face(black_box(&frame), &mesh, &aligned)
                .unwrap()
        })
    });
    // The challenge's per-frame work on the challenged track: the upper-face points of the
    // mesh, then both motion fits against the step's reference view (here the same face turned
    // a little: x shifted by a fifth of the depth, as a yaw of ≈ 11° moves it).
    g.bench_function("challenge_motion_fit", |b| {
        use wardgate::liveness::geometry::{fit, FacePoints};
        let reference = FacePoints::from_mesh(&mesh).expect("a usable mesh");
        let mut turned = reference.clone();
        for p in &mut turned.points {
            p[0] += 0.2 * p[2];
        }
        b.iter(|| {
            let now = FacePoints::from_mesh(black_box(&mesh)).unwrap();
            let f = fit(&reference, black_box(&turned)).unwrap();
            (now.yaw_deg, f.gain)
        });
    });
    // `strict` liveness, per analysed frame of a challenged track: the infrared frame of the
    // same moment (here the frame's luminance) searched for the face at the colour face's place.
    g.bench_function("nir_cross_check", |b| {
        use wardgate::liveness::{nir, LivenessConfig};
        let grey: Vec<u8> = frame
            .pixels()
            .flat_map(|p| {
                let y = ((u16::from(p[0]) * 77 + u16::from(p[1]) * 150 + u16::from(p[2]) * 29) >> 8)
                    as u8;
                [y, y, y]
            })
            .collect();
        let at = Duration::from_secs(1);
        let ir = wardgate::camera::Frame::new(640, 480, grey, at, 1).unwrap();
        let live = LivenessConfig::default();
        b.iter(|| {
            let f = nir::examine(black_box(&ir), at, (&det, (640, 480)), &live, |i| {
                engine.detect(i)
            })
            .unwrap();
            assert!(matches!(f, Some(nir::Finding::Face { .. })));
        });
    });
    // The per-frame door path: detect → mesh → align → embed (all embedders of the template).
    g.bench_function("frame_detect_mesh_align_embed", |b| {
        b.iter(|| {
            let faces = engine.detect(black_box(&frame)).unwrap();
            let mesh = engine.mesh(&frame, &faces[0]).unwrap();
            let a = engine
                .align(&frame, &faces[0], Some(&mesh), cfg.align)
                .unwrap();
            engine.embed_face(&frame, &mesh, &a).unwrap()
        });
    });
    // What `wardgate identify` does per photo before the gallery search.
    g.bench_function("identify_photo_end_to_end", |b| {
        b.iter(|| engine.analyze_photo(black_box(&jpeg)).unwrap())
    });
    g.finish();

    // Raw invokes through the runtime wrapper, random-free constant inputs.
    let mut g = c.benchmark_group("raw_invoke");
    g.sample_size(30)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for file in [
        "face_detection_short_range",
        "face_landmark",
        "MobileFaceNet",
        "edgeface_xs",
        "edgeface_xxs",
        "dlib_resnet_v1",
    ] {
        let mut model = Model::load(&cfg.model_dir.join(format!("{file}.tflite"))).unwrap();
        let n: usize = model.input_shapes()[0].iter().product();
        let input = vec![0.1f32; n];
        g.bench_function(file, |b| {
            b.iter(|| model.run(&[black_box(&input)]).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, frame_by_embedder, stages);
criterion_main!(benches);
