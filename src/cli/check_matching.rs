//! What `wardgate check-config` says about matching: the threshold in force and why.
//!
//! The threshold depends on the number of templates, which lives in the database. When the
//! database is reachable the current count is used; otherwise (or in addition) the policy is
//! shown for typical gallery sizes, so the operator sees how it will move.

use std::fmt::Write as _;
use std::time::Duration;

use crate::config::Config;
use crate::matching::OperatingPoint;
use crate::store::Store;

/// Gallery sizes shown besides the current one.
const SIZES: [usize; 4] = [50, 500, 5_000, 50_000];

/// The number of templates of the configured embedder, when the database can be read
/// without side effects (an SQLite file that does not exist yet is not created).
async fn template_count(cfg: &Config) -> Result<usize, String> {
    let url = &cfg.database.url;
    if let Some(rest) = url.strip_prefix("sqlite://") {
        let path = rest.split('?').next().unwrap_or(rest);
        if !std::path::Path::new(path).exists() {
            return Err(format!("no database yet ({path} does not exist)"));
        }
    }
    let connect = Store::connect(&cfg.database);
    let store = tokio::time::timeout(Duration::from_secs(5), connect)
        .await
        .map_err(|_| "the database did not answer within 5 s".to_owned())?
        .map_err(|e| format!("the database is unreachable: {e}"))?;
    store
        .count_templates(&cfg.vision.embedder, cfg.vision.embedding_dim)
        .await
        .map(|n| usize::try_from(n).unwrap_or(0))
        .map_err(|e| format!("templates could not be counted: {e}"))
}

/// Templates of the other embedders this build knows: after a change of `vision.embedder`
/// they are not searched, and their people must be enrolled again.
async fn other_models(cfg: &Config) -> Vec<(&'static str, usize)> {
    let Ok(Ok(store)) =
        tokio::time::timeout(Duration::from_secs(5), Store::connect(&cfg.database)).await
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in crate::vision::engine::EMBEDDERS {
        if e.id == cfg.vision.embedder {
            continue;
        }
        if let Ok(n) = store.count_templates(e.id, e.dim).await {
            if n > 0 {
                out.push((e.id, usize::try_from(n).unwrap_or(0)));
            }
        }
    }
    out
}

/// The lines `check-config` prints about matching.
pub async fn describe(cfg: &Config) -> String {
    let mut out = String::new();
    let model = &cfg.vision.embedder;
    let counted = template_count(cfg).await;
    if counted.is_ok() {
        for (id, n) in other_models(cfg).await {
            let _ = writeln!(
                out,
                "warning: {n} templates of embedder {id} are stored but not searched \
                 (vision.embedder = {model}); enrol those people again, or set vision.embedder \
                 back to {id}"
            );
        }
    }
    match counted {
        Ok(n) => {
            let op = OperatingPoint::for_gallery(&cfg.matching, model, n);
            let _ = writeln!(
                out,
                "matching now ({n} templates enrolled): {}",
                op.explain()
            );
        }
        Err(why) => {
            let _ = writeln!(out, "matching now: unknown, {why}");
        }
    }
    let _ = writeln!(out, "matching by gallery size:");
    for n in SIZES {
        let op = OperatingPoint::for_gallery(&cfg.matching, model, n);
        let _ = writeln!(
            out,
            "  {n:>6} templates: threshold {:.3} ({})",
            op.threshold,
            op.reason.as_str()
        );
    }
    out
}
