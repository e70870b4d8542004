//! `wardgate eval identify`: open-set 1:N identification as NIST FRTE reports it.
//!
//! The gallery photos are enrolled as the API enrols them (quality gate on by default), into
//! the door's [`Gallery`]; each probe is searched as the door searches (top two identities) and
//! judged by the door's rule ([`OperatingPoint`]). Mated searches (the person is enrolled) give
//! FNIR and rank-1; non-mated searches (strangers) give FPIR. A probe without a usable face is
//! a miss when mated and a correct rejection when not.
//!
//! Besides the figures at the configured policy the report shows FNIR at FPIR 1 % and 0.1 %,
//! a threshold sweep, the policy's FPIR on sub-galleries of growing size, and — when some
//! identities have several templates — best-template against mean-template matching.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;

use super::metrics::{self, Search};
use super::tail::ImpostorTail;
use super::{embed_photo, Aliases, Labelled, Progress, Refusals};
use crate::gallery::Gallery;
use crate::matching::MatchingConfig;
use crate::matching::{aggregate, OperatingPoint};
use crate::store::StoredTemplate;
use crate::vision::{Engine, FaceEncoder as _};

/// The three photo lists.
#[derive(Debug, Clone)]
pub struct Lists {
    pub gallery: Vec<Labelled>,
    pub probes: Vec<Labelled>,
    pub strangers: Vec<Labelled>,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub quality_gate: bool,
    pub matching: MatchingConfig,
}

/// An embedded photo: canonical identity and unit embedding (`None`: refused).
type Embedded = (String, Option<Vec<f32>>);

#[allow(clippy::too_many_arguments)] // one call site per list; a struct would only rename them
fn embed_list(
    engine: &Engine,
    root: &Path,
    list: &[Labelled],
    label: &str,
    gate: bool,
    aliases: &Aliases,
    refusals: &mut Refusals,
    mut times: Option<&mut Vec<Duration>>,
) -> anyhow::Result<Vec<Embedded>> {
    let mut progress = Progress::new(label, list.len());
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        let start = Instant::now();
        let r = embed_photo(engine, &root.join(&item.path), gate)?;
        if let Some(t) = times.as_deref_mut() {
            t.push(start.elapsed());
        }
        let v = match r {
            Ok(v) => Some(v),
            Err(r) => {
                refusals.add(&r);
                None
            }
        };
        out.push((aliases.canonical(&item.identity).to_owned(), v));
        progress.tick();
    }
    Ok(out)
}

/// How an identity with several templates is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateMode {
    /// Every photo is a template; an identity scores its best template (what the door does).
    Best,
    /// One template per identity: the mean of its photos' embeddings.
    Mean,
}

impl TemplateMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Best => "best template",
            Self::Mean => "mean template",
        }
    }
}

/// Builds the door's gallery from enrolled embeddings (identity, embedding).
pub fn build_gallery(
    model_id: &str,
    dim: usize,
    enrolled: &[(&str, &[f32])],
    mode: TemplateMode,
) -> Gallery {
    let templates: Vec<StoredTemplate> = match mode {
        TemplateMode::Best => enrolled
            .iter()
            .enumerate()
            .map(|(i, (id, v))| StoredTemplate {
                face_id: format!("t{i}"),
                subject_id: (*id).to_owned(),
                vector: v.to_vec(),
            })
            .collect(),
        TemplateMode::Mean => {
            let mut by: BTreeMap<&str, Vec<(&[f32], f32)>> = BTreeMap::new();
            for (id, v) in enrolled {
                by.entry(id).or_default().push((v, 1.0));
            }
            by.into_iter()
                .filter_map(|(id, vs)| {
                    aggregate(&vs).map(|vector| StoredTemplate {
                        face_id: format!("mean-{id}"),
                        subject_id: id.to_owned(),
                        vector,
                    })
                })
                .collect()
        }
    };
    Gallery::build(model_id, dim, templates).0
}

/// The door's search for one probe: the two best identities.
pub fn search(gallery: &Gallery, identity: Option<&str>, probe: Option<&[f32]>) -> Search {
    let Some(p) = probe else {
        return Search::NONE;
    };
    let top = gallery.top_k(p, 2).unwrap_or_default();
    let Some(first) = top.first() else {
        return Search::NONE;
    };
    Search {
        top_score: first.similarity,
        top_is_mate: identity.is_some_and(|id| *first.subject_id == *id),
        second_score: top.get(1).map_or(metrics::NO_FACE, |m| m.similarity),
    }
}

fn pct(x: f64) -> String {
    format!("{:.2} %", x * 100.0)
}

/// Runs the evaluation and returns the printed report.
pub fn run(
    engine: &Engine,
    root: &Path,
    lists: &Lists,
    opts: &Options,
    aliases: &Aliases,
) -> anyhow::Result<String> {
    if lists.gallery.is_empty() || lists.probes.is_empty() || lists.strangers.is_empty() {
        bail!("the gallery, probe and stranger lists must each hold at least one photo");
    }
    let model_id = engine.model_id();
    let dim = engine.config().embedding_dim;
    let (mut r_gallery, mut r_probes, mut r_strangers) = (
        Refusals::default(),
        Refusals::default(),
        Refusals::default(),
    );
    let mut search_times = Vec::new();
    let gallery_e = embed_list(
        engine,
        root,
        &lists.gallery,
        "enrolling gallery",
        opts.quality_gate,
        aliases,
        &mut r_gallery,
        None,
    )?;
    let enrolled: Vec<(&str, &[f32])> = gallery_e
        .iter()
        .filter_map(|(id, v)| v.as_deref().map(|v| (id.as_str(), v)))
        .collect();
    let enrolled_ids: BTreeSet<&str> = enrolled.iter().map(|(id, _)| *id).collect();
    let listed_ids: BTreeSet<&str> = gallery_e.iter().map(|(id, _)| id.as_str()).collect();
    let stranger_ids: BTreeSet<String> = lists
        .strangers
        .iter()
        .map(|s| aliases.canonical(&s.identity).to_owned())
        .collect();
    if let Some(both) = stranger_ids
        .iter()
        .find(|s| listed_ids.contains(s.as_str()))
    {
        bail!(
            "{both:?} is both in the gallery list and a stranger; strangers must never be enrolled"
        );
    }
    let probes_e = embed_list(
        engine,
        root,
        &lists.probes,
        "searching probes",
        false,
        aliases,
        &mut r_probes,
        Some(&mut search_times),
    )?;
    let strangers_e = embed_list(
        engine,
        root,
        &lists.strangers,
        "searching strangers",
        false,
        aliases,
        &mut r_strangers,
        Some(&mut search_times),
    )?;
    // Mated searches are those whose person is enrolled; probes of people whose enrolment was
    // refused are reported and left out (they are neither mated nor strangers the policy knows).
    let mated_e: Vec<&Embedded> = probes_e
        .iter()
        .filter(|(id, _)| enrolled_ids.contains(id.as_str()))
        .collect();
    let orphan = probes_e.len() - mated_e.len();

    let mut out = String::new();
    let w = &mut out;
    let multi = enrolled.len() > enrolled_ids.len();
    writeln!(
        w,
        "gallery: {} identities enrolled from {} photos ({} refused: {r_gallery}); model {model_id}",
        enrolled_ids.len(),
        lists.gallery.len(),
        r_gallery.total()
    )?;
    writeln!(
        w,
        "mated searches: {} ({} without a usable face: {r_probes}; {orphan} probes of people \
         whose enrolment was refused left out)",
        mated_e.len(),
        mated_e.iter().filter(|(_, v)| v.is_none()).count()
    )?;
    writeln!(
        w,
        "non-mated searches: {} of {} strangers ({} without a usable face: {r_strangers})",
        strangers_e.len(),
        stranger_ids.len(),
        r_strangers.total()
    )?;

    writeln!(
        w,
        "time per searched photo, one thread (read, decode, detect, mesh, align, embed): \
         median {}, mean {} over {} photos",
        ms(median(&mut search_times)),
        ms(mean(&search_times)),
        search_times.len()
    )?;

    let modes: &[TemplateMode] = if multi {
        &[TemplateMode::Best, TemplateMode::Mean]
    } else {
        &[TemplateMode::Best]
    };
    for &mode in modes {
        let g = build_gallery(model_id, dim, &enrolled, mode);
        let start = Instant::now();
        let mated: Vec<Search> = mated_e
            .iter()
            .map(|(id, v)| search(&g, Some(id), v.as_deref()))
            .collect();
        let per_search = start.elapsed() / u32::try_from(mated.len().max(1)).unwrap_or(u32::MAX);
        let non_mated: Vec<Search> = strangers_e
            .iter()
            .map(|(_, v)| search(&g, None, v.as_deref()))
            .collect();
        let op = OperatingPoint::for_gallery(&opts.matching, model_id, g.len());
        writeln!(w, "\n== {} ({} templates) ==", mode.as_str(), g.len())?;
        writeln!(
            w,
            "gallery search (top 2 identities): {} per search",
            ms(per_search)
        )?;
        writeln!(w, "rank-1 (no threshold): {}", pct(metrics::rank1(&mated)))?;
        let r = metrics::open_set(&mated, &non_mated, op.threshold, op.margin);
        writeln!(
            w,
            "configured policy: FNIR {} FPIR {} ({} of {} strangers matched) — {}",
            pct(r.fnir),
            pct(r.fpir),
            non_mated
                .iter()
                .filter(|s| s.hit(op.threshold, op.margin))
                .count(),
            non_mated.len(),
            op.explain()
        )?;
        writeln!(
            w,
            "FNIR at fixed FPIR (threshold from the strangers' scores):"
        )?;
        writeln!(w, "  FPIR     margin  threshold  FNIR     FPIR reached")?;
        for fpir in [1e-1, 1e-2, 1e-3] {
            for m in [0.0, op.margin] {
                let r = metrics::fnir_at_fpir(&mated, &non_mated, fpir, m);
                writeln!(
                    w,
                    "  {:<8} {m:.3}   {:.3}      {:<8} {}",
                    pct(fpir),
                    r.threshold,
                    pct(r.fnir),
                    pct(r.fpir)
                )?;
                if op.margin == 0.0 {
                    break;
                }
            }
        }
        writeln!(w, "threshold sweep (margin {:.3}):", op.margin)?;
        writeln!(w, "  threshold  FNIR     FPIR")?;
        for i in 0..=8 {
            #[allow(clippy::cast_precision_loss)]
            let t = 0.45 + 0.05 * i as f32;
            let r = metrics::open_set(&mated, &non_mated, t, op.margin);
            writeln!(w, "  {t:.2}       {:<8} {}", pct(r.fnir), pct(r.fpir))?;
        }
        writeln!(w, "margin sweep at threshold {:.3}:", op.threshold)?;
        for m in [0.0f32, 0.02, 0.05, 0.08, 0.12] {
            let r = metrics::open_set(&mated, &non_mated, op.threshold, m);
            writeln!(
                w,
                "  margin {m:.2}: FNIR {} FPIR {}",
                pct(r.fnir),
                pct(r.fpir)
            )?;
        }
        if mode == TemplateMode::Best {
            // The policy on smaller galleries: the first N identities (name order) enrolled.
            writeln!(
                w,
                "policy by gallery size (first N identities, their probes, all strangers):"
            )?;
            writeln!(w, "  N      threshold  FNIR     FPIR     strangers matched")?;
            let ids: Vec<&str> = enrolled_ids.iter().copied().collect();
            let mut sizes: Vec<usize> = [50, 100, 200, 400, 800, 1600, 3200]
                .into_iter()
                .filter(|&n| n < ids.len())
                .collect();
            sizes.push(ids.len());
            for n in sizes {
                let keep: BTreeSet<&str> = ids[..n].iter().copied().collect();
                let sub: Vec<(&str, &[f32])> = enrolled
                    .iter()
                    .filter(|(id, _)| keep.contains(id))
                    .copied()
                    .collect();
                let g = build_gallery(model_id, dim, &sub, mode);
                let op = OperatingPoint::for_gallery(&opts.matching, model_id, g.len());
                let mated: Vec<Search> = mated_e
                    .iter()
                    .filter(|(id, _)| keep.contains(id.as_str()))
                    .map(|(id, v)| search(&g, Some(id), v.as_deref()))
                    .collect();
                let non_mated: Vec<Search> = strangers_e
                    .iter()
                    .map(|(_, v)| search(&g, None, v.as_deref()))
                    .collect();
                let r = metrics::open_set(&mated, &non_mated, op.threshold, op.margin);
                writeln!(
                    w,
                    "  {n:<6} {:.3}      {:<8} {:<8} {}",
                    op.threshold,
                    pct(r.fnir),
                    pct(r.fpir),
                    non_mated
                        .iter()
                        .filter(|s| s.hit(op.threshold, op.margin))
                        .count()
                )?;
            }
        }
    }

    // The impostor tail over every embedded photo of the run (the calibration's input).
    let all: Vec<(&str, &[f32])> = gallery_e
        .iter()
        .chain(&probes_e)
        .chain(&strangers_e)
        .filter_map(|(id, v)| v.as_deref().map(|v| (id.as_str(), v)))
        .collect();
    let tail = ImpostorTail::of_all_pairs(&all);
    writeln!(
        w,
        "\nimpostor tail, all {} cross-identity pairs of the {} embedded photos (max {:.3}):",
        tail.pairs,
        all.len(),
        tail.max
    )?;
    for far in [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7] {
        #[allow(clippy::cast_precision_loss)]
        if far * (tail.pairs as f64) < 1.0 {
            continue;
        }
        let (t, above) = tail.threshold_at(far);
        writeln!(w, "  FAR {far:.0e}: threshold {t:.3} ({above} pairs above)")?;
    }
    Ok(out)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn mean(v: &[Duration]) -> Duration {
    v.iter().sum::<Duration>() / u32::try_from(v.len().max(1)).unwrap_or(u32::MAX)
}
