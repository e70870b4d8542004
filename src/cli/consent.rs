//! `wardgate consent`: record, show and withdraw a person's consent from the command line
//! (the same store calls as the API; audited under the node `<events.node>-cli`).

use anyhow::Context;
use clap::Subcommand;

use crate::audit::{EventDraft, EventKind};
use crate::config::Config;
use crate::privacy::consent::{ConsentInput, ConsentMethod, ConsentScope};
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum ConsentCmd {
    /// Record that a person consented to face recognition (replaces an earlier record).
    Record {
        /// The person's external id (staff number or MRN).
        #[arg(long)]
        subject: String,
        /// written (a signed form) or electronic.
        #[arg(long)]
        method: String,
        /// The form or text agreed to, with its version, e.g. "FR-01 v3".
        #[arg(long)]
        document: String,
        /// Who took the consent; default cli:$USER.
        #[arg(long)]
        by: Option<String>,
    },
    /// Show a person's consent record.
    Show {
        #[arg(long)]
        subject: String,
    },
    /// Withdraw a person's consent: their templates are purged at once (every controller on
    /// the database drops them within `database.change_poll_ms`).
    Withdraw {
        #[arg(long)]
        subject: String,
    },
}

fn user() -> String {
    format!("cli:{}", std::env::var("USER").unwrap_or_default())
}

/// Runs a `wardgate consent` command.
pub async fn run(cfg: Config, cmd: ConsentCmd) -> anyhow::Result<()> {
    let store = Store::open(&cfg.database, &cfg.privacy)
        .await?
        .with_writer(&cfg.events.node);
    let subject_id = |ext: &str| {
        let store = store.clone();
        let ext = ext.to_owned();
        async move {
            store
                .subject_by_external_id(&ext)
                .await?
                .map(|s| s.id)
                .with_context(|| format!("no subject with external id {ext:?}"))
        }
    };
    let (reason, id, details) = match cmd {
        ConsentCmd::Record {
            subject,
            method,
            document,
            by,
        } => {
            let id = subject_id(&subject).await?;
            let method = ConsentMethod::parse(&method)
                .with_context(|| format!("--method {method:?}: written or electronic"))?;
            let c = store
                .record_consent(
                    &id,
                    &ConsentInput {
                        scope: ConsentScope::FaceRecognition,
                        method,
                        document,
                        recorded_by: by.unwrap_or_else(user),
                    },
                )
                .await?;
            println!("{}", serde_json::to_string_pretty(&c)?);
            (
                "consent_recorded",
                id,
                serde_json::json!({"method": c.method, "scope": c.scope, "document": c.document}),
            )
        }
        ConsentCmd::Show { subject } => {
            let id = subject_id(&subject).await?;
            match store.consent(&id).await? {
                Some(c) => println!("{}", serde_json::to_string_pretty(&c)?),
                None => anyhow::bail!("no consent is on record for {subject}"),
            }
            return Ok(());
        }
        ConsentCmd::Withdraw { subject } => {
            let id = subject_id(&subject).await?;
            let (_, purged) = store
                .withdraw_consent(&id, &user())
                .await
                .with_context(|| format!("no standing consent for {subject}"))?;
            println!("consent of {subject} withdrawn; {purged} templates purged");
            (
                "consent_withdrawn",
                id,
                serde_json::json!({"templates_purged": purged}),
            )
        }
    };
    let mut details = details;
    if let Some(o) = details.as_object_mut() {
        o.insert("subject_id".into(), id.clone().into());
        o.insert("by".into(), user().into());
    }
    store
        .record_direct(
            &format!("{}-cli", cfg.events.node),
            EventDraft {
                kind: EventKind::Admin,
                subject_id: Some(id),
                reason: reason.into(),
                details,
                ..Default::default()
            },
        )
        .await
        .context("recording it in the audit log")?;
    Ok(())
}
