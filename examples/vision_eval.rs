//! Scores every pair of the labelled face set for each alignment variant, with and without the
//! flip-test. The figures in BENCHMARKS.md ("Vision") and docs/decisions/0101 come from this
//! program.
//!
//! `cargo run --release --example vision_eval -- [FACES_DIR]` (default `tests/fixtures/faces`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use wardgate::vision::{embed, photo, AlignPoints, Engine, VisionConfig};

fn main() -> anyhow::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "tests/fixtures/faces".into()),
    );
    let engine = Engine::load(&VisionConfig::default())?;
    let pairs_csv = std::fs::read_to_string(dir.join("pairs.csv"))?;
    let pairs: Vec<(String, String, bool)> = pairs_csv
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f.len() == 3).then(|| (f[0].to_owned(), f[1].to_owned(), f[2] == "1"))
        })
        .collect();
    let images: BTreeSet<&String> = pairs.iter().flat_map(|(a, b, _)| [a, b]).collect();
    let variants = [
        ("detector", AlignPoints::Detector, false),
        ("detector+flip", AlignPoints::Detector, true),
        ("mesh", AlignPoints::Mesh, false),
        ("mesh+flip", AlignPoints::Mesh, true),
        ("eyes", AlignPoints::Eyes, false),
        ("eyes+flip", AlignPoints::Eyes, true),
    ];
    let mut emb: BTreeMap<(&str, &String), Vec<f32>> = BTreeMap::new();
    let mut failures = Vec::new();
    for img in &images {
        let bytes = std::fs::read(dir.join(img))?;
        let frame = match photo::decode(&bytes, &photo::PhotoLimits::default()) {
            Ok(f) => f,
            Err(e) => {
                failures.push(format!("{img}: {e}"));
                continue;
            }
        };
        let det = match engine.single_face(&frame) {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("{img}: {e}"));
                continue;
            }
        };
        let mesh = engine.mesh(&frame, &det)?;
        for (name, how, flip) in variants {
            let aligned = engine
                .align(&frame, &det, Some(&mesh), how)
                .expect("aligned");
            emb.insert((name, img), engine.embed_with(&aligned, flip)?);
        }
    }
    println!(
        "images: {} scored, {} failed to acquire",
        images.len() - failures.len(),
        failures.len()
    );
    for f in &failures {
        println!("  FTA {f}");
    }
    for (name, _, _) in variants {
        let mut genuine = Vec::new();
        let mut impostor = Vec::new();
        for (a, b, same) in &pairs {
            // A photo without a usable face scores -1: it is rejected, which counts as a false
            // reject for a genuine pair and a correct reject for an impostor pair.
            let s = match (emb.get(&(name, a)), emb.get(&(name, b))) {
                (Some(x), Some(y)) => embed::cosine(x, y),
                _ => -1.0,
            };
            if *same {
                genuine.push(s)
            } else {
                impostor.push(s)
            }
        }
        report(name, &genuine, &impostor);
        if name == "mesh+flip" {
            for (a, b, same) in &pairs {
                let s = match (emb.get(&(name, a)), emb.get(&(name, b))) {
                    (Some(x), Some(y)) => embed::cosine(x, y),
                    _ => -1.0,
                };
                if (*same && s < 0.6) || (!*same && s > 0.45) {
                    println!(
                        "    {} {s:.3} {a} {b}",
                        if *same { "genuine " } else { "impostor" }
                    );
                }
            }
        }
    }
    Ok(())
}

fn report(name: &str, genuine: &[f32], impostor: &[f32]) {
    let mut cands: Vec<f32> = genuine.iter().chain(impostor).copied().collect();
    cands.sort_by(f32::total_cmp);
    let total = (genuine.len() + impostor.len()) as f32;
    let mut best = (0.0f32, 0.0f32);
    for &t in &cands {
        let correct = genuine.iter().filter(|&&s| s >= t).count()
            + impostor.iter().filter(|&&s| s < t).count();
        let acc = correct as f32 / total;
        if acc > best.0 {
            best = (acc, t);
        }
    }
    // AUC: probability a genuine pair outscores an impostor pair.
    let mut wins = 0.0f64;
    for g in genuine {
        for i in impostor {
            wins += if g > i {
                1.0
            } else if g == i {
                0.5
            } else {
                0.0
            };
        }
    }
    let auc = wins / (genuine.len() * impostor.len()) as f64;
    let gmin = genuine.iter().copied().fold(f32::INFINITY, f32::min);
    let imax = impostor.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    println!(
        "{name:14} acc {:.4} @ {:.3}  AUC {auc:.4}  genuine mean {:.3} min {gmin:.3}  impostor mean {:.3} max {imax:.3}",
        best.0, best.1, mean(genuine), mean(impostor)
    );
    let mut sorted_g = genuine.to_vec();
    sorted_g.sort_by(f32::total_cmp);
    let q = |p: f32| sorted_g[((sorted_g.len() - 1) as f32 * p) as usize];
    println!(
        "{:14} genuine quantiles p05 {:.3} p10 {:.3} p25 {:.3} p50 {:.3}",
        "",
        q(0.05),
        q(0.10),
        q(0.25),
        q(0.5)
    );
    for t in [0.40f32, 0.45, 0.50, 0.55, 0.60] {
        let fr = genuine.iter().filter(|&&s| s < t).count();
        let fa = impostor.iter().filter(|&&s| s >= t).count();
        println!(
            "{:14} t={t:.2}: false rejects {fr}/{} false accepts {fa}/{}",
            "",
            genuine.len(),
            impostor.len()
        );
    }
}
