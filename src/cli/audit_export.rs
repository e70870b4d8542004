//! `wardgate audit export` and `wardgate audit verify --file`: the audit log taken out of the
//! controller and checked by someone who trusts neither the controller nor the file's carrier.
//!
//! The file is JSON lines: one event per line, exactly as stored (with its `prev_hash` and
//! `hash`), each node's events in chain order, and last a checkpoint signed with this
//! controller's Ed25519 key: per node the first and last seq, the hash the first event links
//! to and the last event's hash, the number of event lines, and the SHA-256 of all event lines.
//! `verify` recomputes every hash and link, then the checkpoint and its signature against the
//! public key it is given (which `check-config` prints): an edited line fails its hash, a
//! removed or reordered one breaks a link or the seq, a cut tail or head disagrees with the
//! signed checkpoint, and a checkpoint signed by another key fails. Each problem names its line.
//!
//! The key is the systemd credential `audit_signing_key` when given, else `events.audit_key_file`
//! (created at the first export, 0600; PKCS#8).

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::model::Event;
use crate::store::Store;

/// The format named in each checkpoint.
const FORMAT: &str = "wardgate-audit-export/1";
/// The systemd credential name of the signing key.
pub const CREDENTIAL: &str = "audit_signing_key";

/// One node's part of the export, as the checkpoint states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRange {
    pub first_seq: i64,
    pub last_seq: i64,
    /// What the first exported event links to (the genesis hash when it is the chain's first).
    pub first_prev_hash: String,
    pub last_hash: String,
    pub events: u64,
}

/// What is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub format: String,
    /// Which controller signed it.
    pub signer: String,
    pub exported_at: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub nodes: BTreeMap<String, NodeRange>,
    pub event_lines: u64,
    /// SHA-256 (hex) over every event line with its newline, in file order.
    pub lines_sha256: String,
}

/// The file's last line.
#[derive(Debug, Serialize, Deserialize)]
struct SignedCheckpoint {
    checkpoint: Checkpoint,
    /// Ed25519 over the checkpoint's JSON as written here (base64).
    signature: String,
    /// The signer's public key (hex), for information: verification uses the key it is given.
    public_key: String,
}

fn key_path(cfg: &Config) -> (PathBuf, bool) {
    if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from) {
        let p = dir.join(CREDENTIAL);
        if p.exists() {
            return (p, true);
        }
    }
    (cfg.events.audit_key_file.clone(), false)
}

/// This controller's signing key, created (0600) when `create` and it does not exist yet.
fn signing_key(cfg: &Config, create: bool) -> anyhow::Result<Option<Ed25519KeyPair>> {
    let (path, credential) = key_path(cfg);
    if !path.exists() {
        if !create || credential {
            return Ok(None);
        }
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| anyhow::anyhow!("generating the audit signing key failed"))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&path)
            .with_context(|| format!("creating the audit signing key {}", path.display()))?;
        f.write_all(pkcs8.as_ref())?;
        f.sync_all()?;
        eprintln!("created the audit signing key {}", path.display());
    }
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let key = Ed25519KeyPair::from_pkcs8(&bytes).map_err(|_| {
        anyhow::anyhow!(
            "{} is not an Ed25519 PKCS#8 key (events.audit_key_file)",
            path.display()
        )
    })?;
    Ok(Some(key))
}

/// The line `check-config` prints about the signing key.
pub fn describe(cfg: &Config) -> String {
    match signing_key(cfg, false) {
        Ok(Some(k)) => format!(
            "audit export signing key (Ed25519): {}\n",
            hex::encode(k.public_key().as_ref())
        ),
        Ok(None) => format!(
            "audit export signing key: none yet ({} is created at the first `wardgate audit export`)\n",
            key_path(cfg).0.display()
        ),
        Err(e) => format!("warning: audit export signing key: {e:#}\n"),
    }
}

fn parse_time(flag: &str, s: &str) -> anyhow::Result<i64> {
    Ok(chrono::DateTime::parse_from_rfc3339(s)
        .with_context(|| format!("{flag} {s:?}: an RFC 3339 time, e.g. 2026-12-01T00:00:00Z"))?
        .timestamp_millis())
}

/// `wardgate audit export`.
pub async fn export(
    cfg: &Config,
    from: Option<&str>,
    to: Option<&str>,
    node: Option<&str>,
    out: &Path,
) -> anyhow::Result<()> {
    let from_ms = from.map(|s| parse_time("--from", s)).transpose()?;
    let to_ms = to.map(|s| parse_time("--to", s)).transpose()?;
    let key = signing_key(cfg, true)?.context("no audit signing key")?;
    let store = Store::connect(&cfg.database).await?;
    let nodes = match node {
        Some(n) => vec![n.to_owned()],
        None => store.event_nodes().await?,
    };
    let tmp = out.with_extension("partial");
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
    );
    let mut sha = Sha256::new();
    let mut ranges = BTreeMap::new();
    let mut lines = 0u64;
    for n in nodes {
        let mut after = 0;
        let mut range: Option<NodeRange> = None;
        loop {
            let page = store.chain_page(&n, after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for e in page.iter().filter(|e| {
                from_ms.is_none_or(|f| e.ts_ms >= f) && to_ms.is_none_or(|t| e.ts_ms < t)
            }) {
                let mut line = serde_json::to_string(e)?;
                line.push('\n');
                sha.update(line.as_bytes());
                file.write_all(line.as_bytes())?;
                lines += 1;
                let r = range.get_or_insert_with(|| NodeRange {
                    first_seq: e.seq,
                    last_seq: e.seq,
                    first_prev_hash: e.prev_hash.clone(),
                    last_hash: e.hash.clone(),
                    events: 0,
                });
                r.last_seq = e.seq;
                r.last_hash = e.hash.clone();
                r.events += 1;
            }
            eprint!("\r{lines} events exported");
        }
        if let Some(r) = range {
            ranges.insert(n, r);
        }
    }
    eprintln!();
    let checkpoint = Checkpoint {
        format: FORMAT.into(),
        signer: cfg.events.node.clone(),
        exported_at: chrono::Utc::now().to_rfc3339(),
        from: from.map(str::to_owned),
        to: to.map(str::to_owned),
        nodes: ranges,
        event_lines: lines,
        lines_sha256: hex::encode(sha.finalize()),
    };
    let signed = serde_json::to_string(&checkpoint)?;
    let signature = key.sign(signed.as_bytes());
    let last = SignedCheckpoint {
        checkpoint,
        signature: base64::engine::general_purpose::STANDARD.encode(signature.as_ref()),
        public_key: hex::encode(key.public_key().as_ref()),
    };
    writeln!(file, "{}", serde_json::to_string(&last)?)?;
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, out)?;
    println!(
        "{lines} events written to {}, signed by {} (public key {})",
        out.display(),
        cfg.events.node,
        last.public_key
    );
    Ok(())
}

/// `wardgate audit verify --file FILE --pubkey KEY`: offline, no database. Returns the number
/// of events checked; an error names the first line at fault.
pub fn verify_file(path: &Path, pubkey_hex: &str) -> anyhow::Result<u64> {
    let pubkey = hex::decode(pubkey_hex.trim())
        .ok()
        .filter(|k| k.len() == 32)
        .context("--pubkey: the 64 hex digits `check-config` prints")?;
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let all: Vec<String> = std::io::BufReader::new(f)
        .lines()
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", path.display()))?;
    let Some((last, events)) = all.split_last() else {
        bail!("{}: empty file", path.display());
    };
    let signed: SignedCheckpoint = serde_json::from_str(last).with_context(|| {
        format!(
            "line {}: not the signed checkpoint (the file was cut short?)",
            all.len()
        )
    })?;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(&signed.signature)
        .context("the checkpoint's signature is not base64")?;
    let body = serde_json::to_string(&signed.checkpoint)?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &pubkey)
        .verify(body.as_bytes(), &sig)
        .map_err(|_| {
            anyhow::anyhow!(
                "line {}: the checkpoint's signature does not verify with this public key \
                 (signed by another controller, or the checkpoint was altered)",
                all.len()
            )
        })?;
    let cp = &signed.checkpoint;
    anyhow::ensure!(cp.format == FORMAT, "unknown export format {:?}", cp.format);
    // Each node's chain, line by line.
    let mut seen: BTreeMap<String, (i64, String, u64)> = BTreeMap::new();
    let mut sha = Sha256::new();
    for (i, line) in events.iter().enumerate() {
        let n = i + 1;
        let e: Event =
            serde_json::from_str(line).with_context(|| format!("line {n}: not an event"))?;
        anyhow::ensure!(
            crate::audit::chain_hash(&e.prev_hash, &e) == e.hash,
            "line {n} (node {}, seq {}): the event's content does not match its hash — it was edited",
            e.node,
            e.seq
        );
        let Some(range) = cp.nodes.get(&e.node) else {
            bail!("line {n}: node {} is not in the signed checkpoint", e.node);
        };
        match seen.get_mut(&e.node) {
            None => {
                anyhow::ensure!(
                    e.seq == range.first_seq && e.prev_hash == range.first_prev_hash,
                    "line {n} (node {}, seq {}): the node's first event should be seq {} — \
                     events before it were removed or moved",
                    e.node,
                    e.seq,
                    range.first_seq
                );
                seen.insert(e.node.clone(), (e.seq, e.hash.clone(), 1));
            }
            Some((seq, hash, count)) => {
                anyhow::ensure!(
                    e.seq == *seq + 1,
                    "line {n} (node {}, seq {}): expected seq {} — an event is missing or the \
                     lines were reordered",
                    e.node,
                    e.seq,
                    *seq + 1
                );
                anyhow::ensure!(
                    e.prev_hash == *hash,
                    "line {n} (node {}, seq {}): does not link to the line before it",
                    e.node,
                    e.seq
                );
                *seq = e.seq;
                hash.clone_from(&e.hash);
                *count += 1;
            }
        }
        sha.update(line.as_bytes());
        sha.update(b"\n");
    }
    for (node, range) in &cp.nodes {
        let Some((seq, hash, count)) = seen.get(node) else {
            bail!("node {node}: the checkpoint lists it but the file holds none of its events");
        };
        anyhow::ensure!(
            *seq == range.last_seq && *hash == range.last_hash && *count == range.events,
            "node {node}: the file ends at seq {seq} but the checkpoint at seq {} — events at \
             the end were removed",
            range.last_seq
        );
    }
    anyhow::ensure!(
        events.len() as u64 == cp.event_lines && hex::encode(sha.finalize()) == cp.lines_sha256,
        "the event lines differ from what the checkpoint signed (lines added, removed or moved)"
    );
    Ok(events.len() as u64)
}
