//! Frame → relay latency of the camera door loop, over many presentations: the real models on
//! one inference thread, the real door loop (`LoopCore`: tracks, policy, audit event into a
//! SQLite store) and the door controller on simulated hardware.
//!
//! One presentation: an empty frame (the previous person has left), then frames of the enrolled
//! doctor in front of the camera with a smaller stranger behind, until a decision. Each frame is
//! stamped on CLOCK_MONOTONIC just before the loop receives it, as the capture thread does; the
//! figure is that stamp → the door controller's acknowledgement of the relay command, for the
//! frame that completes the decision. Beside it: the raw model invokes that frame needs
//! (detector + mesh + embedder, median of the same run), and the overhead of the loop over them.
//!
//! `cargo bench --bench door_latency [-- PRESENTATIONS]` (default 500; fixtures in
//! tests/fixtures/faces, or WARDGATE_FACES=DIR). Figures: BENCHMARKS.md "Door loop latency".

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Db, TestApp};
use image::RgbImage;
use serde_json::json;
use wardgate::camera::{monotonic_now, Frame};
use wardgate::pipeline::act::Actor;
use wardgate::pipeline::stage_stats::percentile_ms;
use wardgate::pipeline::{FaceAnalyser, LoopCore, PipelineConfig, Stage};
use wardgate::vision::runtime::Model;
use wardgate::vision::{Engine, VisionConfig};

fn faces_dir() -> PathBuf {
    std::env::var_os("WARDGATE_FACES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/faces"),
        PathBuf::from,
    )
}

/// 640×480: `front` large in the middle, `back` smaller at the top right.
fn two_people(front: &Path, back: &Path) -> RgbImage {
    use image::imageops::{overlay, resize, FilterType};
    let load = |p: &Path, h: u32| {
        let img = image::open(p).unwrap().to_rgb8();
        let w = img.width() * h / img.height();
        resize(&img, w, h, FilterType::Triangle)
    };
    let mut frame = RgbImage::from_pixel(640, 480, image::Rgb([90, 90, 90]));
    let b = load(back, 260);
    overlay(&mut frame, &b, i64::from(640 - b.width()), 0);
    let f = load(front, 440);
    overlay(&mut frame, &f, i64::from((640 - f.width()) / 2) - 60, 40);
    frame
}

fn frame(img: &RgbImage, sequence: u64) -> Frame {
    let mut f = Frame::new(
        img.width(),
        img.height(),
        img.as_raw().clone(),
        Duration::ZERO,
        sequence,
    )
    .unwrap();
    f.timestamp = monotonic_now();
    f
}

fn median_ms(mut v: Vec<Duration>) -> f64 {
    v.sort_unstable();
    v[v.len() / 2].as_secs_f64() * 1e3
}

/// Median raw invoke of one model with a constant input.
fn raw_invoke(dir: &Path, file: &str, n: usize) -> f64 {
    let mut model = Model::load(&dir.join(format!("{file}.tflite"))).unwrap();
    let len: usize = model.input_shapes()[0].iter().product();
    let input = vec![0.1f32; len];
    for _ in 0..5 {
        model.run(&[&input]).unwrap();
    }
    let times = (0..n)
        .map(|_| {
            let t = Instant::now();
            model.run(&[&input]).unwrap();
            t.elapsed()
        })
        .collect();
    median_ms(times)
}

fn main() {
    let presentations: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(500);
    let mut vision = VisionConfig {
        model_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"),
        ..VisionConfig::default()
    };
    // Another embedder than the default, to compare the two on the same machine.
    if let Ok(id) = std::env::var("WARDGATE_BENCH_EMBEDDER") {
        vision.embedding_dim = wardgate::vision::engine::embedder_spec(&id)
            .expect("WARDGATE_BENCH_EMBEDDER names a known embedder")
            .dim;
        vision.embedder = id;
    }
    let engine = Arc::new(Engine::load(&vision).expect("models load; run scripts/setup-litert.sh"));
    let people = faces_dir().join("people");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(async {
        // The controller's embedder is the bench's: templates and the gallery are of one model.
        let (id, dim) = (vision.embedder.clone(), vision.embedding_dim);
        let a = TestApp::spawn_at(
            Db::Sqlite,
            |cfg| {
                cfg.vision.embedder = id;
                cfg.vision.embedding_dim = dim;
            },
            true,
            wardgate::clock::system(),
        )
        .await
        .unwrap();
        let sample = engine
            .analyze_photo(&std::fs::read(people.join("Barack_Obama/obama1.jpg")).unwrap())
            .unwrap();
        let (_, r) = a
            .post("/register_face", &a.sync, json!({"name": "Dr Obama", "role": "doctor", "external_id": "E44", "embedding": sample.embedding}))
            .await;
        a.post("/api/v1/grants", &a.sync, json!({"staff_id": r["subject_id"], "door_id": "door-1"}))
            .await;
        a
    });
    let scenes: Vec<RgbImage> = (2..=4)
        .map(|i| {
            two_people(
                &people.join(format!("Barack_Obama/obama{i}.jpg")),
                &people.join(format!("Jacques_Chirac/chirac{i}.jpg")),
            )
        })
        .collect();
    let empty = RgbImage::from_pixel(640, 480, image::Rgb([90, 90, 90]));
    let cfg = PipelineConfig {
        min_consecutive: 2,
        cooldown_secs: 0,
        ..PipelineConfig::default()
    };
    let actor = Actor::of(&app.state.core, Arc::clone(&app.state.pipeline_stats)).unwrap();
    let analyser: Arc<dyn FaceAnalyser> = engine.clone();
    // Frame → relay of the pipeline itself: the challenge waits for the person, which is
    // measured by `wardgate eval liveness`, not here.
    let liveness = wardgate::liveness::LivenessConfig {
        mode: wardgate::liveness::Mode::Off,
        ..Default::default()
    };
    let mut core = LoopCore::new(cfg, liveness, analyser, actor, Duration::from_secs(30));
    let mut seq = 0;
    let mut latencies_us = Vec::with_capacity(presentations);
    let mut frames_per = Vec::with_capacity(presentations);
    let started = Instant::now();
    for p in 0..presentations {
        // The previous person leaves: a frame without faces, then an idle turn past the track
        // grace period, so the next presentation starts a new track (frames themselves carry
        // real capture times, which the latency is measured from).
        rt.block_on(core.on_frame(&frame(&empty, seq)));
        seq += 1;
        rt.block_on(core.on_idle(monotonic_now() + Duration::from_secs(5)));
        let mut n = 0;
        loop {
            n += 1;
            assert!(n <= 10, "presentation {p}: no decision in 10 frames");
            let report = rt.block_on(core.on_frame(&frame(&scenes[p % scenes.len()], seq)));
            seq += 1;
            if let Some(acted) = report.decisions.first() {
                assert!(acted.decision.granted, "{acted:?}");
                let relay = acted.relay_at.expect("granted means unlocked");
                let us = relay.saturating_sub(acted.frame_at).as_micros();
                latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                break;
            }
        }
        frames_per.push(n);
    }
    let wall = started.elapsed();
    latencies_us.sort_unstable();
    let pct = |p| percentile_ms(&latencies_us, p).unwrap();
    let stats = app.state.pipeline_stats.snapshot();
    let stage = |s: Stage| stats.stage(s).and_then(|x| x.p50_ms).unwrap_or(0.0);
    // The invokes one analysed frame costs: detector, mesh, and every embedder invoke of the
    // template (a batch-of-one embedder runs twice with the flip-test).
    let spec = wardgate::vision::engine::embedder_spec(&vision.embedder).unwrap();
    let stem = |file: &'static str| file.trim_end_matches(".tflite");
    let mut embedders = vec![spec.net];
    let mut raw = vec![
        (
            "face_detection_short_range",
            raw_invoke(&vision.model_dir, "face_detection_short_range", 200),
        ),
        (
            "face_landmark",
            raw_invoke(&vision.model_dir, "face_landmark", 200),
        ),
    ];
    match spec.fusion.map(|f| f.partner) {
        Some(wardgate::vision::fusion::Partner::Crop(net)) => embedders.push(net),
        Some(wardgate::vision::fusion::Partner::Dlib) => raw.push((
            "dlib_resnet_v1",
            raw_invoke(&vision.model_dir, "dlib_resnet_v1", 100),
        )),
        None => {}
    }
    for net in embedders {
        let times = if vision.flip_test_for(net) && net.batch() == 1 {
            2.0
        } else {
            1.0
        };
        let name = stem(net.file());
        raw.push((name, times * raw_invoke(&vision.model_dir, name, 100)));
    }
    let raw_sum: f64 = raw.iter().map(|r| r.1).sum();
    let model_stages = stage(Stage::Detect) + stage(Stage::Landmarks) + stage(Stage::Embed);
    println!(
        "door loop latency: {presentations} presentations ({} frames, {:.1} s), frames per presentation: {}",
        seq,
        wall.as_secs_f64(),
        frames_per.iter().max().unwrap()
    );
    println!(
        "frame → relay (deciding frame): p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        pct(50.0),
        pct(95.0),
        pct(99.0),
        f64::from(*latencies_us.last().unwrap()) / 1e3
    );
    println!("stage p50 (window of the last {} samples):", stats.window);
    for s in &stats.stages {
        if let (Some(p50), Some(p95)) = (s.p50_ms, s.p95_ms) {
            println!(
                "  {:<15} p50 {p50:7.3} ms  p95 {p95:7.3} ms  (n={})",
                s.stage.as_str(),
                s.count
            );
        }
    }
    for (name, ms) in raw {
        println!("raw invoke {name:<28} median {ms:.3} ms");
    }
    println!(
        "raw model sum {raw_sum:.2} ms; detect+landmarks+embed stages p50 {model_stages:.2} ms \
         (overhead {:+.1} %); frame → relay p50 over raw {:+.1} %",
        (model_stages / raw_sum - 1.0) * 100.0,
        (pct(50.0) / raw_sum - 1.0) * 100.0
    );
    rt.block_on(app.stop());
}
