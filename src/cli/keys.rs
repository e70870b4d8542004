//! `wardgate keys`: the template keys — make one, see which rows each key sealed, rotate.
//!
//! Rotation while the service runs: put the new key on the first line of the key file (the
//! old one on the next), restart every controller on the database so each can open both, run
//! `wardgate keys rotate`, and once it reports nothing remaining, remove the old line.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use crate::audit::{EventDraft, EventKind};
use crate::config::Config;
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// Write a new key file holding one random key (mode 0600). Refuses to overwrite a file.
    Generate {
        /// Where to write it, e.g. /etc/wardgate/credentials/template_keys.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Which keys are in use, where they were read from, and the stored templates per key id.
    Status,
    /// Re-seal every template that is not under the first key, in batches, while the service
    /// runs (decisions go on; the galleries do not change). Resumable: a run that was stopped
    /// continues where it was. Audited as `keys_rotated`.
    Rotate {
        /// Templates per transaction.
        #[arg(long, default_value_t = 200)]
        batch: usize,
        /// Milliseconds to wait between batches, to leave a busy shared database room for
        /// the doors' own writes.
        #[arg(long, default_value_t = 0)]
        pause_ms: u64,
    },
}

/// Runs a `wardgate keys` command.
pub async fn run(cfg: Config, cmd: KeysCmd) -> anyhow::Result<()> {
    match cmd {
        KeysCmd::Generate { out } => {
            anyhow::ensure!(
                !out.exists(),
                "{} exists; choose another file (a key file is never overwritten)",
                out.display()
            );
            crate::privacy::keys::create_key_file(&out)?;
            let keys = crate::privacy::TemplateKeys::read_file(
                &out,
                crate::privacy::KeySource::File(out.clone()),
            )?;
            println!(
                "wrote {} (key id {}); docs/privacy.md, \"Keys\", says how to install it",
                out.display(),
                keys.primary_id()
            );
            Ok(())
        }
        KeysCmd::Status => {
            let store = Store::open(&cfg.database, &cfg.privacy)
                .await
                .context("opening the store with the template keys")?;
            let keys = store.template_keys()?;
            println!("template keys: {}", keys.source());
            for (i, id) in keys.ids().enumerate() {
                let role = if i == 0 { "seals and opens" } else { "opens" };
                println!("  key id {id}  ({role})");
            }
            println!("stored templates per key id:");
            let counts = store.template_key_counts().await?;
            if counts.is_empty() {
                println!("  (none)");
            }
            for c in counts {
                let id = c.key_id.as_deref().unwrap_or("(in the clear)");
                let note = if c.key_id.as_deref() == Some(keys.primary_id()) {
                    ""
                } else {
                    "  ← not under the first key: `wardgate keys rotate`"
                };
                println!("  {id}: {}{note}", c.templates);
            }
            Ok(())
        }
        KeysCmd::Rotate { batch, pause_ms } => {
            let store = Store::open(&cfg.database, &cfg.privacy)
                .await
                .context("opening the store with the template keys")?;
            let primary = store.template_keys()?.primary_id().to_owned();
            let report = store
                .rotate_templates(batch, |done, left| {
                    eprintln!("re-sealed {done}, {left} to go");
                    let _ = std::io::stderr().flush();
                    if pause_ms > 0 {
                        std::thread::sleep(std::time::Duration::from_millis(pause_ms));
                    }
                    ControlFlow::Continue(())
                })
                .await?;
            let node = format!("{}-cli", cfg.events.node);
            store
                .record_direct(
                    &node,
                    EventDraft {
                        kind: EventKind::Admin,
                        reason: "keys_rotated".into(),
                        details: serde_json::json!({
                            "key_id": primary,
                            "resealed": report.resealed,
                            "remaining": report.remaining,
                            "by": "cli",
                            "user": std::env::var("USER").unwrap_or_default(),
                        }),
                        ..Default::default()
                    },
                )
                .await
                .context("recording the rotation in the audit log")?;
            println!(
                "re-sealed {} templates under key id {primary}; {} remain under other keys",
                report.resealed, report.remaining
            );
            Ok(())
        }
    }
}
