//! `GET /api/v1/status`: what a technician needs to judge the controller's health — camera,
//! inference, database, disk, temperature, uptime, models and the audit chain — for the
//! console's Health page and for remote monitoring.
//!
//! Sections that other parts of the firmware fill in (`pipeline` stage histograms, `tls`) are
//! optional: absent, the page says "not available".

use std::path::Path;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::Json;
use schemars::JsonSchema;
use serde::Serialize;

use super::auth::{Auth, TechnicianRole};
use super::{ApiResult, AppState};
use crate::console::live::{CameraStatus, StageMillis};

/// The whole report.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StatusReport {
    pub version: String,
    pub uptime_secs: u64,
    /// This controller's name in the audit log (`events.node`).
    pub node: String,
    /// The door this controller drives, if any.
    pub door_id: Option<String>,
    /// `None` on a controller without a camera loop.
    pub camera: Option<CameraStatus>,
    /// The door loop's last analysed frame; `None` without a camera loop.
    pub inference: Option<InferenceStatus>,
    pub database: DatabaseStatus,
    /// The file system holding the event spool; `None` where it cannot be read.
    pub disk: Option<DiskStatus>,
    /// Highest reading of `/sys/class/thermal/thermal_zone*/temp`, °C; `None` without sensors.
    pub cpu_temperature_c: Option<f64>,
    pub models: ModelsStatus,
    pub audit: AuditStatus,
    /// Per-stage latency histograms (p50/p95/p99) of the door loop over its last samples;
    /// every stage is listed, with no samples while no camera loop runs.
    pub pipeline: Option<crate::pipeline::PipelineStats>,
    /// The matching rule in force for the current gallery, and why.
    pub matching: MatchingStatus,
    /// The HTTPS listener and its certificate fingerprint (to pin); `None`: plain HTTP only.
    pub tls: Option<crate::tls::TlsInfo>,
}

/// The operating point the door decides with now: it follows the gallery size
/// (`matching.target_fpir`, docs/decisions/0201-operating-point.md).
#[derive(Debug, Serialize, JsonSchema)]
pub struct MatchingStatus {
    #[serde(flatten)]
    pub operating_point: crate::matching::OperatingPoint,
    /// The same in words, as `wardgate check-config` prints it.
    pub explanation: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct InferenceStatus {
    /// Per-stage time of the last analysed frame.
    pub last_ms: StageMillis,
    /// Frames analysed per second over the last few seconds.
    pub fps: f64,
    /// Capture-to-analysis latency of the last frame, ms.
    pub latency_ms: Option<f64>,
    /// Milliseconds since the last analysed frame.
    pub age_ms: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DatabaseStatus {
    /// `sqlite` or `mysql`.
    pub backend: String,
    pub reachable: bool,
    /// Round trip of `SELECT 1`, ms (when reachable).
    pub ping_ms: Option<f64>,
    /// Events waiting in the disk spool for the database; `None` when the sink did not answer.
    pub spool_backlog: Option<u64>,
    /// Milliseconds since the change feed was last read and applied without error: how far
    /// this controller's catalog and token cache may lag behind the database. Healthy, below
    /// `database.change_poll_ms` plus one read; it grows while the database is unreachable.
    /// `None` before the first read.
    pub change_lag_ms: Option<i64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DiskStatus {
    pub path: String,
    pub total_bytes: u64,
    pub free_bytes: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ModelsStatus {
    /// Whether the vision models are loaded (they are checked against the manifest at load).
    pub loaded: bool,
    /// The embedder's model id, stored with every template.
    pub embedder: Option<String>,
    /// `models/SHA256SUMS`: every model file and its expected digest.
    pub files: Vec<ModelFile>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ModelFile {
    pub file: String,
    pub sha256: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AuditStatus {
    /// `intact`, `broken` or `unavailable` (database unreachable).
    pub chain: String,
    /// Events of this node checked from the start of its chain (from its retention
    /// checkpoint when old events were pruned).
    pub checked: u64,
    /// What is wrong, for a broken chain.
    pub error: Option<String>,
    /// True when the check stopped at its limit before the end of the chain.
    pub partial: bool,
}

/// Most events checked per request: a full check of a big log belongs to `wardgate audit verify`.
const AUDIT_CHECK_LIMIT: u64 = 200_000;

async fn check_chain(st: &AppState) -> AuditStatus {
    let node = &st.cfg.events.node;
    let unavailable = |e: crate::store::StoreError, checked| {
        log::warn!("status: audit chain not readable: {e}");
        AuditStatus {
            chain: "unavailable".into(),
            checked,
            error: Some("the database is unreachable".into()),
            partial: true,
        }
    };
    // A pruned chain verifies from its checkpoint, and the checkpoints must be the ones the
    // audit log recorded.
    let (mut v, mut after) = match st.core.store.chain_verifier(node).await {
        Ok(start) => start,
        Err(e) => return unavailable(e, 0),
    };
    match st.core.store.corroborate_checkpoints().await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return AuditStatus {
                chain: "broken".into(),
                checked: 0,
                error: Some(e),
                partial: false,
            }
        }
        Err(e) => return unavailable(e, 0),
    }
    loop {
        let page = match st.core.store.chain_page(node, after, 1000).await {
            Ok(p) => p,
            Err(e) => return unavailable(e, v.checked),
        };
        if page.is_empty() {
            break;
        }
        after = page.last().map_or(after, |e| e.seq);
        if let Some(err) = page.iter().find_map(|e| v.push(e).err()) {
            return AuditStatus {
                chain: "broken".into(),
                checked: v.checked,
                error: Some(err.to_string()),
                partial: false,
            };
        }
        if v.checked >= AUDIT_CHECK_LIMIT {
            return AuditStatus {
                chain: "intact".into(),
                checked: v.checked,
                error: None,
                partial: true,
            };
        }
    }
    AuditStatus {
        chain: "intact".into(),
        checked: v.checked,
        error: None,
        partial: false,
    }
}

/// The hottest thermal zone under `root` (`/sys/class/thermal`), °C.
pub fn cpu_temperature(root: &Path) -> Option<f64> {
    let mut best: Option<f64> = None;
    for entry in std::fs::read_dir(root).ok()?.flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .starts_with("thermal_zone")
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path().join("temp")) else {
            continue;
        };
        if let Ok(milli) = text.trim().parse::<i64>() {
            #[allow(clippy::cast_precision_loss)]
            let c = milli as f64 / 1000.0;
            best = Some(best.map_or(c, |b| b.max(c)));
        }
    }
    best
}

fn disk(path: &Path) -> Option<DiskStatus> {
    let s = nix::sys::statvfs::statvfs(path).ok()?;
    let frag = s.fragment_size();
    Some(DiskStatus {
        path: path.display().to_string(),
        total_bytes: s.blocks().saturating_mul(frag),
        free_bytes: s.blocks_available().saturating_mul(frag),
    })
}

pub async fn get(
    State(st): State<AppState>,
    Auth(_caller, _): Auth<TechnicianRole>,
) -> ApiResult<Json<StatusReport>> {
    let started = Instant::now();
    let ping = tokio::time::timeout(Duration::from_secs(2), st.core.store.ping()).await;
    let reachable = matches!(ping, Ok(Ok(())));
    let ping_ms = reachable.then(|| (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0);
    let spool_backlog =
        match tokio::time::timeout(Duration::from_secs(1), st.core.events.flush()).await {
            Ok(Some(r)) => u64::try_from(r.spooled).ok(),
            _ => None,
        };
    let live = st.console.live();
    let inference = live.as_ref().map(|l| {
        let o = l.overlay();
        InferenceStatus {
            last_ms: o.timings_ms,
            fps: o.inference_fps,
            latency_ms: o.latency_ms,
            age_ms: o.age_ms,
        }
    });
    let files = crate::vision::runtime::read_manifest(&st.cfg.vision.model_dir)
        .map(|m| {
            let mut v: Vec<ModelFile> = m
                .into_iter()
                .map(|(file, sha256)| ModelFile { file, sha256 })
                .collect();
            v.sort_by(|a, b| a.file.cmp(&b.file));
            v
        })
        .unwrap_or_default();
    let audit = check_chain(&st).await;
    Ok(Json(StatusReport {
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_secs: st.console.uptime().as_secs(),
        node: st.cfg.events.node.clone(),
        door_id: st.core.door.as_ref().map(|d| d.id().to_owned()),
        camera: live.as_ref().map(|l| l.camera_status()),
        inference,
        database: DatabaseStatus {
            backend: match st.core.store.backend() {
                crate::store::Backend::Sqlite => "sqlite",
                crate::store::Backend::MySql => "mysql",
            }
            .into(),
            reachable,
            ping_ms,
            spool_backlog,
            change_lag_ms: st
                .core
                .changes
                .lag()
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        },
        disk: disk(&st.cfg.events.spool_dir),
        cpu_temperature_c: cpu_temperature(Path::new("/sys/class/thermal")),
        models: ModelsStatus {
            loaded: st.core.encoder.is_some(),
            embedder: st.core.encoder.as_ref().map(|e| e.model_id().to_owned()),
            files,
        },
        audit,
        pipeline: Some(st.pipeline_stats.snapshot()),
        matching: {
            let op = st.core.catalog.operating_point();
            MatchingStatus {
                explanation: op.explain(),
                operating_point: (*op).clone(),
            }
        },
        tls: st.tls.as_deref().cloned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperature_is_the_hottest_zone_and_absent_without_sensors() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(cpu_temperature(dir.path()), None);
        assert_eq!(cpu_temperature(&dir.path().join("missing")), None);
        for (zone, temp) in [("thermal_zone0", "41500\n"), ("thermal_zone1", "55250\n")] {
            std::fs::create_dir(dir.path().join(zone)).unwrap();
            std::fs::write(dir.path().join(zone).join("temp"), temp).unwrap();
        }
        std::fs::create_dir(dir.path().join("cooling_device0")).unwrap();
        assert_eq!(cpu_temperature(dir.path()), Some(55.25));
    }
}
