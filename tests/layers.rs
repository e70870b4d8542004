//! The layer rule of `src/lib.rs`: edges import the core, the core never imports an edge.
//!
//! Read from the sources themselves: every `crate::<module>` path in a file of a core or leaf
//! module (tests inside those files included) must name a module of its own layer or one
//! below. Every top-level module must be placed in a layer here, so a new module is a
//! decision, not an accident.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Depend on nothing but each other: shared vocabulary and small mechanisms.
const LEAF: &[&str] = &["audit", "clock", "config_error", "model", "tasks"];

/// The door's state and the devices it owns: what every channel decides through.
const CORE: &[&str] = &[
    "access",
    "camera",
    "catalog",
    "change_feed",
    "controller",
    "credentials",
    "door",
    "events",
    "gallery",
    "liveness",
    "matching",
    "presentation",
    "privacy",
    "store",
    "test_support",
    "tokens",
    "vision",
];

/// Translate a protocol or a person into the core's types: HTTP, the console, the camera
/// loop, the speaker, HTTPS, the command-line tools, the evaluation harness.
const EDGE: &[&str] = &["api", "audio", "cli", "console", "eval", "pipeline", "tls"];

/// Puts it together: the whole configuration (which gathers every layer's section), start-up
/// and shutdown, systemd, logging.
const WIRING: &[&str] = &["app", "config", "logging", "service"];

fn layer(module: &str) -> Option<usize> {
    [LEAF, CORE, EDGE, WIRING]
        .iter()
        .position(|l| l.contains(&module))
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The `.rs` files of top-level module `m` (`src/m.rs` and everything under `src/m/`).
fn files_of(m: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let file = src().join(format!("{m}.rs"));
    if file.exists() {
        out.push(file);
    }
    let mut dirs = vec![src().join(m)];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out
}

/// The top-level modules a file names as `crate::<m>`, with the line of the first mention.
fn mentions(text: &str) -> BTreeMap<String, usize> {
    let mut found = BTreeMap::new();
    for (no, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.entry(name).or_insert(no + 1);
            }
            rest = after;
        }
    }
    found
}

fn top_level_modules() -> Vec<String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    lib.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            l.strip_prefix("mod ")?.strip_suffix(';').map(str::to_owned)
        })
        .collect()
}

#[test]
fn every_module_has_a_layer() {
    let mods = top_level_modules();
    assert!(mods.len() > 20, "src/lib.rs lists its modules: {mods:?}");
    let unplaced: Vec<_> = mods.iter().filter(|m| layer(m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "place these modules in a layer in tests/layers.rs (and the map in src/lib.rs): {unplaced:?}"
    );
}

#[test]
fn the_core_never_imports_an_edge() {
    let mut broken = Vec::new();
    for m in top_level_modules() {
        let Some(own) = layer(&m) else { continue };
        if own >= 2 {
            continue; // edges and wiring may import anything below them
        }
        for file in files_of(&m) {
            let text = std::fs::read_to_string(&file).unwrap();
            for (dep, line) in mentions(&text) {
                match layer(&dep) {
                    Some(l) if l <= own => {}
                    Some(_) => broken.push(format!(
                        "{}:{line}: {m} ({}) imports crate::{dep}",
                        file.strip_prefix(src()).unwrap().display(),
                        ["leaf", "core"][own]
                    )),
                    None => {}
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "the core (and its leaves) must not import edges or wiring:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_check_sees_an_import_written_inline() {
    // The parser itself: a path used inline, a `use` line, and a comment that only mentions one.
    let found = mentions(
        "use crate::store::Store;\nlet x = crate::api::AppState::new(); // crate::console\n",
    );
    assert_eq!(found.keys().collect::<Vec<_>>(), ["api", "store"]);
    assert_eq!(found["api"], 2);
}
