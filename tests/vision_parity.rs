//! Parity of Wardgate's embedding with the Python LiteRT interpreter on the same aligned crops
//! (cosine ≥ 0.999): catches wrong normalisation, channel order or batch handling. Needs
//! `scripts/setup-litert.sh --python` (which .ci/run calls).

use std::path::{Path, PathBuf};
use std::process::Command;

use wardgate::vision::{embed, photo, Engine, VisionConfig};

#[test]
fn embeddings_match_the_python_interpreter() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("vendor/python/ai_edge_litert").is_dir(),
        "the Python LiteRT reference is missing: run scripts/setup-litert.sh --python"
    );
    let faces = std::env::var_os("WARDGATE_FACES")
        .map_or_else(|| root.join("tests/fixtures/faces"), PathBuf::from);
    // MobileFaceNet (the Python side's default model); EdgeFace has its own test below.
    let engine = Engine::load(&VisionConfig {
        model_dir: root.join("models"),
        embedder: "mobilefacenet".into(),
        embedding_dim: 192,
        ..VisionConfig::default()
    })
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut crops = Vec::new();
    let mut ours = Vec::new();
    for (i, rel) in [
        "people/S001/S001-01-t10_01.jpg",
        "people/Barack_Obama/obama2.jpg",
        "people/S006/S006-02-t10_01.jpg",
    ]
    .iter()
    .enumerate()
    {
        let frame = photo::decode(
            &std::fs::read(faces.join(rel)).unwrap(),
            &photo::PhotoLimits::default(),
        )
        .unwrap();
        let det = engine.single_face(&frame).unwrap();
        let mesh = engine.mesh(&frame, &det).unwrap();
        let aligned = engine
            .align(&frame, &det, Some(&mesh), engine.config().align)
            .unwrap();
        let path = tmp.path().join(format!("crop{i}.png"));
        aligned.save(&path).unwrap();
        ours.push(engine.embed_with(&aligned, false).unwrap());
        crops.push(path);
    }
    let out = Command::new("python3")
        .arg(root.join("scripts/embed_parity.py"))
        .arg(root.join("models"))
        .args(&crops)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: std::collections::HashMap<String, Vec<f32>> =
        serde_json::from_slice(&out.stdout).unwrap();
    for (path, mine) in crops.iter().zip(&ours) {
        let reference = &theirs[path.to_str().unwrap()];
        assert_eq!(reference.len(), 192);
        let c = embed::cosine(mine, reference);
        assert!(c >= 0.999, "{}: cosine {c}", path.display());
    }
}

/// The committed EdgeFace crops: 112×112 faces aligned by Wardgate's own path from fixture
/// photos (regenerate with `WARDGATE_WRITE_EDGEFACE_CROPS=1`, then rerun
/// `models/convert-edgeface.py --write-reference`).
const EDGEFACE_CROPS: [(&str, &str); 3] = [
    ("crop-0.png", "people/S001/S001-01-t10_01.jpg"),
    ("crop-1.png", "people/Barack_Obama/obama2.jpg"),
    ("crop-2.png", "people/S006/S006-02-t10_01.jpg"),
];

/// EdgeFace through the firmware (Rust, LiteRT) and through the Python interpreter, both
/// against the float PyTorch model the TFLite files were converted from
/// (`tests/fixtures/edgeface-parity/reference.json`, written by
/// `models/convert-edgeface.py --write-reference`): catches a wrong normalisation, channel
/// order or a conversion that drifted from its source.
#[test]
fn edgeface_matches_its_pytorch_reference() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/fixtures/edgeface-parity");
    if std::env::var_os("WARDGATE_WRITE_EDGEFACE_CROPS").is_some() {
        let engine = Engine::load(&VisionConfig {
            model_dir: root.join("models"),
            ..VisionConfig::default()
        })
        .unwrap();
        for (name, rel) in EDGEFACE_CROPS {
            let frame = photo::decode(
                &std::fs::read(root.join("tests/fixtures/faces").join(rel)).unwrap(),
                &photo::PhotoLimits::default(),
            )
            .unwrap();
            let det = engine.single_face(&frame).unwrap();
            let mesh = engine.mesh(&frame, &det).unwrap();
            let aligned = engine
                .align(&frame, &det, Some(&mesh), engine.config().align)
                .unwrap();
            aligned.save(dir.join(name)).unwrap();
        }
    }
    let reference: std::collections::HashMap<String, std::collections::HashMap<String, Vec<f32>>> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap()).unwrap();
    for (id, file) in [
        ("edgeface_xs", "edgeface_xs.tflite"),
        ("edgeface_xxs", "edgeface_xxs.tflite"),
    ] {
        let engine = Engine::load(&VisionConfig {
            model_dir: root.join("models"),
            embedder: id.into(),
            embedding_dim: 512,
            ..VisionConfig::default()
        })
        .unwrap();
        let crops: Vec<PathBuf> = EDGEFACE_CROPS.iter().map(|(n, _)| dir.join(n)).collect();
        let out = Command::new("python3")
            .arg(root.join("scripts/embed_parity.py"))
            .arg(root.join("models"))
            .args(["--model", file])
            .args(&crops)
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "python failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let python: std::collections::HashMap<String, Vec<f32>> =
            serde_json::from_slice(&out.stdout).unwrap();
        for ((name, _), path) in EDGEFACE_CROPS.iter().zip(&crops) {
            let crop = image::open(path).unwrap().to_rgb8();
            let mine = engine.embed_with(&crop, false).unwrap();
            let torch = &reference[file][*name];
            assert_eq!(torch.len(), 512);
            let c = embed::cosine(&mine, torch);
            assert!(c >= 0.9999, "{file} {name}: Rust vs PyTorch cosine {c}");
            let c = embed::cosine(&python[path.to_str().unwrap()], torch);
            assert!(
                c >= 0.9999,
                "{file} {name}: Python LiteRT vs PyTorch cosine {c}"
            );
        }
    }
}
