//! `wardgate eval pairs`: 1:1 verification over a labelled pairs list.
//!
//! Each photo is embedded once through [`Engine::analyze_photo`] (what `identify` and the door
//! run on a photo), pairs are scored by cosine similarity, and the report gives the k-fold
//! accuracy (LFW protocol), TAR at fixed FARs, the score distributions, and the impostor tail
//! of all cross-identity pairs of the photos, which resolves FARs far below what the listed
//! impostor pairs can.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context as _};

use super::metrics::{self, NO_FACE};
use super::tail::ImpostorTail;
use super::{embed_photo, Aliases, Progress, Refusals};
use crate::vision::fusion::{self, Fusion};
use crate::vision::{embed, Engine};

/// One pair of the list.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub a: String,
    pub b: String,
    pub same: bool,
    pub fold: Option<usize>,
}

/// Reads `image_a,image_b,same_identity[,fold]` with a header line.
pub fn read_pairs(file: &Path) -> anyhow::Result<Vec<Pair>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    parse_pairs(&text).with_context(|| format!("in {}", file.display()))
}

fn parse_pairs(text: &str) -> anyhow::Result<Vec<Pair>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let same = match f.get(2) {
            Some(&"1") => true,
            Some(&"0") => false,
            _ => bail!(
                "line {}: expected image_a,image_b,same_identity (1 or 0)[,fold]",
                n + 1
            ),
        };
        let fold = match f.get(3) {
            None | Some(&"") => None,
            Some(x) => Some(
                x.parse()
                    .with_context(|| format!("line {}: fold {x:?} is not a number", n + 1))?,
            ),
        };
        out.push(Pair {
            a: f[0].to_owned(),
            b: f[1].to_owned(),
            same,
            fold,
        });
    }
    if out.is_empty() {
        bail!("no pairs");
    }
    Ok(out)
}

/// The identity of a photo from its path: the name of its folder (`people/<id>/x.jpg`).
pub fn identity_of(path: &str) -> &str {
    let p = Path::new(path);
    p.parent()
        .and_then(Path::file_name)
        .and_then(|s| s.to_str())
        .unwrap_or(path)
}

/// Runs the evaluation and returns the printed report.
pub fn run(
    engine: &Engine,
    pairs_csv: &Path,
    root: &Path,
    k: usize,
    aliases: &Aliases,
) -> anyhow::Result<String> {
    if k < 2 {
        bail!("--folds must be at least 2");
    }
    let pairs = read_pairs(pairs_csv)?;
    let mut photos: Vec<&str> = pairs
        .iter()
        .flat_map(|p| [p.a.as_str(), p.b.as_str()])
        .collect();
    photos.sort_unstable();
    photos.dedup();
    let mut emb: BTreeMap<&str, Vec<f32>> = BTreeMap::new();
    let mut refusals = Refusals::default();
    let mut progress = Progress::new("embedding", photos.len());
    for &p in &photos {
        match embed_photo(engine, &root.join(p), false)? {
            Ok(v) => {
                emb.insert(p, v);
            }
            Err(r) => refusals.add(&r),
        }
        progress.tick();
    }
    let scored = score(&pairs, &emb);
    let same: Vec<bool> = pairs.iter().map(|p| p.same).collect();
    let fold_of: Vec<usize> = if pairs.iter().all(|p| p.fold.is_some()) {
        pairs.iter().map(|p| p.fold.unwrap_or(0) % k).collect()
    } else {
        metrics::stratified_folds(&same, k)
    };
    let genuine: Vec<f32> = scored.iter().filter(|p| p.1).map(|p| p.0).collect();
    let impostor: Vec<f32> = scored.iter().filter(|p| !p.1).map(|p| p.0).collect();

    let mut out = String::new();
    let w = &mut out;
    writeln!(
        w,
        "photos: {} ({} embedded, {} refused: {refusals})",
        photos.len(),
        emb.len(),
        refusals.total()
    )?;
    writeln!(
        w,
        "pairs: {} genuine, {} impostor (a pair with a refused photo scores {NO_FACE})",
        genuine.len(),
        impostor.len()
    )?;
    let (folds, mean, std) = metrics::k_fold_accuracy(&scored, &fold_of, k);
    writeln!(
        w,
        "{k}-fold accuracy: {:.2} % ± {:.2}",
        mean * 100.0,
        std * 100.0
    )?;
    let fold_line: Vec<String> = folds
        .iter()
        .map(|f| format!("{:.2} %@{:.3}", f.accuracy * 100.0, f.threshold))
        .collect();
    writeln!(w, "  folds (accuracy@threshold): {}", fold_line.join(", "))?;
    let (t, acc) = metrics::best_accuracy(&genuine, &impostor);
    writeln!(w, "best single threshold: {t:.3} ({:.2} %)", acc * 100.0)?;
    for far in [1e-3, 1e-4] {
        let (tar, t, reached) = metrics::tar_at_far(&genuine, &impostor, far);
        writeln!(
            w,
            "TAR at FAR {far:.0e} (listed impostors): {:.2} % at threshold {t:.3} (FAR reached {reached:.1e}{})",
            tar * 100.0,
            if far * (impostor.len() as f64) < 1.0 {
                format!("; {} impostor pairs cannot resolve this FAR", impostor.len())
            } else {
                String::new()
            }
        )?;
    }

    let tail = all_pairs_tail(&emb, aliases);
    writeln!(
        w,
        "impostor tail, all {} cross-identity pairs of the {} embedded photos (max {:.3}):",
        tail.pairs,
        emb.len(),
        tail.max
    )?;
    writeln!(w, "  FAR      threshold  impostors≥  TAR(listed genuine)")?;
    for far in [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7] {
        #[allow(clippy::cast_precision_loss)]
        if far * (tail.pairs as f64) < 1.0 {
            writeln!(w, "  {far:.0e}    (needs more than {} pairs)", tail.pairs)?;
            continue;
        }
        let (t, above) = tail.threshold_at(far);
        writeln!(
            w,
            "  {far:.0e}    {t:.3}      {above:>9}  {:.2} %",
            metrics::rate_at_or_above(&genuine, t) * 100.0
        )?;
    }

    if let Some(f) = engine.fusion() {
        fusion_sweep(w, f, &pairs, &emb, &fold_of, k, aliases)?;
    }

    writeln!(w, "similarity distributions (listed pairs):")?;
    for (name, s) in [("genuine", &genuine), ("impostor", &impostor)] {
        writeln!(
            w,
            "  {name:8} p01 {:.3} p05 {:.3} p25 {:.3} p50 {:.3} p75 {:.3} p95 {:.3} p99 {:.3}",
            metrics::quantile(s, 0.01),
            metrics::quantile(s, 0.05),
            metrics::quantile(s, 0.25),
            metrics::quantile(s, 0.5),
            metrics::quantile(s, 0.75),
            metrics::quantile(s, 0.95),
            metrics::quantile(s, 0.99)
        )?;
    }
    let (lo, hi, bins) = (-0.2f32, 1.0f32, 12usize);
    let hg = metrics::histogram(&genuine, lo, hi, bins);
    let hi_ = metrics::histogram(&impostor, lo, hi, bins);
    writeln!(w, "  bin             genuine  impostor")?;
    for i in 0..bins {
        #[allow(clippy::cast_precision_loss)]
        let a = lo + (hi - lo) * i as f32 / bins as f32;
        #[allow(clippy::cast_precision_loss)]
        let b = lo + (hi - lo) * (i + 1) as f32 / bins as f32;
        let label = if i == 0 {
            format!("< {b:.1}")
        } else {
            format!("{a:.1} – {b:.1}")
        };
        writeln!(w, "  {label:14} {:>8}  {:>8}", hg[i], hi_[i])?;
    }
    Ok(out)
}

/// Each pair's cosine similarity ([`NO_FACE`] when a photo of it was refused) and whether it
/// is a genuine pair.
fn score(pairs: &[Pair], emb: &BTreeMap<&str, Vec<f32>>) -> Vec<(f32, bool)> {
    pairs
        .iter()
        .map(|p| {
            let s = match (emb.get(p.a.as_str()), emb.get(p.b.as_str())) {
                (Some(x), Some(y)) => embed::cosine(x, y),
                _ => NO_FACE,
            };
            (s, p.same)
        })
        .collect()
}

/// The impostor tail of all cross-identity pairs of the embedded photos.
fn all_pairs_tail(emb: &BTreeMap<&str, Vec<f32>>, aliases: &Aliases) -> ImpostorTail {
    let items: Vec<(&str, &[f32])> = emb
        .iter()
        .map(|(p, v)| (aliases.canonical(identity_of(p)), v.as_slice()))
        .collect();
    ImpostorTail::of_all_pairs(&items)
}

/// For fused templates: each embedder alone and the fused score at other weights, from the
/// same embeddings (the parts are recovered from the templates), so the shipped weight can be
/// checked on a site's own photos without re-embedding.
fn fusion_sweep(
    w: &mut String,
    f: Fusion,
    pairs: &[Pair],
    emb: &BTreeMap<&str, Vec<f32>>,
    fold_of: &[usize],
    k: usize,
    aliases: &Aliases,
) -> anyhow::Result<()> {
    writeln!(
        w,
        "fusion ({a} weight; shipped {}; 0 = {b} alone, 1 = {a} alone):",
        f.weight,
        a = f.primary.name(),
        b = f.partner.name()
    )?;
    writeln!(
        w,
        "  weight  {k}-fold accuracy   TAR@FAR 1e-3 / 1e-4 / 1e-5 (all cross-identity pairs)"
    )?;
    let parts: BTreeMap<&str, (Vec<f32>, Vec<f32>)> = emb
        .iter()
        .filter_map(|(p, v)| {
            let (m, d) = f.split(v)?;
            Some((*p, (m.to_vec(), d.to_vec())))
        })
        .collect();
    for weight in [0.0f32, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0] {
        let re: BTreeMap<&str, Vec<f32>> = parts
            .iter()
            .map(|(p, (m, d))| (*p, fusion::fuse_weighted(m, d, weight)))
            .collect();
        let scored = score(pairs, &re);
        let genuine: Vec<f32> = scored.iter().filter(|p| p.1).map(|p| p.0).collect();
        let (_, mean, std) = metrics::k_fold_accuracy(&scored, fold_of, k);
        let tail = all_pairs_tail(&re, aliases);
        let tars: Vec<String> = [1e-3, 1e-4, 1e-5]
            .iter()
            .map(|&far| {
                let (t, _) = tail.threshold_at(far);
                format!(
                    "{:.2} % ({t:.3})",
                    metrics::rate_at_or_above(&genuine, t) * 100.0
                )
            })
            .collect();
        writeln!(
            w,
            "  {weight:.1}     {:.2} % ± {:.2}    {}",
            mean * 100.0,
            std * 100.0,
            tars.join(" / ")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_parse_with_and_without_folds() {
        let p = parse_pairs("image_a,image_b,same_identity\npeople/A/1.jpg,people/A/2.jpg,1\npeople/A/1.jpg,people/B/1.jpg,0\n").unwrap();
        assert_eq!(p.len(), 2);
        assert!(p[0].same && !p[1].same && p[0].fold.is_none());
        let p = parse_pairs("a,b,s,f\nx,y,1,3\n").unwrap();
        assert_eq!(p[0].fold, Some(3));
        assert!(parse_pairs("a,b,s\nx,y,yes\n").is_err());
        assert!(parse_pairs("a,b,s\n").is_err());
        assert_eq!(
            identity_of("people/Jacques_Chirac/chirac1.jpg"),
            "Jacques_Chirac"
        );
    }
}
