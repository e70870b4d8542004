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
    let engine = Engine::load(&VisionConfig {
        model_dir: root.join("models"),
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
