//! `wardgate`: the door controller and its maintenance commands.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use wardgate::config::{Config, DEFAULT_CONFIG_PATH};
use wardgate::model::TokenRole;
use wardgate::store::Store;

#[derive(Parser, Debug)]
#[command(
    name = "wardgate",
    version,
    about = "Face-recognition door controller for hospitals",
    long_about = "Wardgate recognises faces at a door, applies the access policy (staff door grants; \
doctor + patient two-person check for patient rooms), drives the door relay and records every \
decision in a tamper-evident audit log. Configuration: a TOML file (--config) plus \
WARDGATE_<SECTION>__<KEY> environment overrides; see docs/configuration.md."
)]
struct Cli {
    /// Configuration file [env: WARDGATE_CONFIG] [default: /etc/wardgate/wardgate.toml; defaults
    /// apply when that file is absent]
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// More log output (-v debug, -vv trace)
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the door controller: API, event log, and (when configured) camera and door.
    Run,
    /// Apply database migrations and exit.
    Migrate,
    /// Validate the configuration and print the effective values (secrets redacted).
    CheckConfig,
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        action: TokenCmd,
    },
    /// Manage console accounts (people who log in to the web console).
    User {
        #[command(subcommand)]
        action: wardgate::console::users::UserCmd,
    },
    /// Consent to face recognition: record, show, withdraw (withdrawal purges the person's
    /// templates on every controller).
    Consent {
        #[command(subcommand)]
        action: wardgate::cli::consent::ConsentCmd,
    },
    /// Face template keys: generate one, show rows per key id, re-seal under a new key
    /// (docs/privacy.md).
    Keys {
        #[command(subcommand)]
        action: wardgate::cli::keys::KeysCmd,
    },
    /// Privacy jobs: `purge` runs the retention job now, or lists what it would purge
    /// (`--dry-run`).
    Privacy {
        #[command(subcommand)]
        action: wardgate::cli::privacy::PrivacyCmd,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        action: AuditCmd,
    },
    /// Enroll face photos (JPEG/PNG) as templates of an existing subject.
    Enroll {
        /// The subject's external id (staff number or MRN).
        #[arg(long)]
        subject: String,
        #[arg(required = true, value_name = "PHOTO")]
        photos: Vec<PathBuf>,
    },
    /// Identify the person in each photo: best match, similarity and per-stage timings.
    Identify {
        #[arg(required = true, value_name = "PHOTO")]
        photos: Vec<PathBuf>,
    },
    /// Measure recognition accuracy on labelled photos with the door's own models, gallery and
    /// matching rule (docs/metrics.md explains the figures).
    Eval {
        #[command(subcommand)]
        action: wardgate::eval::EvalCmd,
    },
    /// List V4L2 cameras with their formats and sizes, and grab one frame to a PNG.
    CheckCamera {
        /// Where to write the frame.
        #[arg(long, default_value = "wardgate-camera.png")]
        out: PathBuf,
    },
    /// Measure the gallery search on synthetic templates (no database needed).
    Bench {
        /// Templates in the gallery.
        #[arg(long, default_value_t = 100_000)]
        templates: usize,
        /// Searches to time.
        #[arg(long, default_value_t = 200)]
        queries: usize,
    },
}

#[derive(Subcommand, Debug)]
enum TokenCmd {
    /// Create a token and print it once (only its hash is stored). Running controllers on the
    /// same database accept it within `database.change_poll_ms`.
    Create {
        /// admin, sync, terminal, technician or display (the door-display screen: the presentation stream only)
        #[arg(long)]
        role: String,
        /// What the token is for (shown in listings).
        #[arg(long)]
        label: String,
    },
    /// List tokens (never the tokens themselves).
    List,
    /// Revoke a token by id. Running controllers on the same database refuse it within
    /// `database.change_poll_ms`.
    Revoke { id: String },
}

#[derive(Subcommand, Debug)]
enum AuditCmd {
    /// Verify the hash chain of every node (or one) in the database; with --file, verify an
    /// export offline instead (no database needed), naming the first line at fault.
    Verify {
        #[arg(long)]
        node: Option<String>,
        /// An export written by `wardgate audit export`.
        #[arg(long, value_name = "FILE", requires = "pubkey")]
        file: Option<PathBuf>,
        /// The exporting controller's public key (hex), as its `check-config` prints it.
        #[arg(long, value_name = "KEY")]
        pubkey: Option<String>,
    },
    /// Write the audit log (every node, or one) within --from..--to to a JSON-lines file,
    /// each event with its chain hashes, closed by a checkpoint signed with this controller's
    /// Ed25519 key.
    Export {
        /// RFC 3339, inclusive (default: the beginning).
        #[arg(long)]
        from: Option<String>,
        /// RFC 3339, exclusive (default: now).
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        node: Option<String>,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let (path, required) = match (&cli.config, std::env::var_os("WARDGATE_CONFIG")) {
        (Some(p), _) => (p.clone(), true),
        (None, Some(p)) => (PathBuf::from(p), true),
        (None, None) => (PathBuf::from(DEFAULT_CONFIG_PATH), false),
    };
    Ok(Config::load(&path, required, std::env::vars())?)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    wardgate::logging::init(cli.verbose);
    match real_main(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wardgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main(cli: Cli) -> anyhow::Result<()> {
    let cfg = load_config(&cli)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        match cli.command {
            Command::Run => wardgate::app::run(cfg).await,
            Command::Migrate => {
                let store = Store::connect(&cfg.database).await?;
                store.migrate().await?;
                println!("migrations applied ({:?})", store.backend());
                Ok(())
            }
            Command::CheckConfig => {
                print!("{}", cfg.to_redacted_toml());
                eprint!("{}", wardgate::cli::check_matching::describe(&cfg).await);
                eprint!(
                    "{}",
                    wardgate::liveness::describe(&cfg.liveness, &cfg.camera)
                );
                if cfg.audio.enabled {
                    for f in cfg.audio.missing() {
                        eprintln!("warning: audio prompt {} is missing", f.display());
                    }
                }
                eprint!("{}", wardgate::tls::describe(&cfg.api));
                eprint!("{}", wardgate::cli::audit_export::describe(&cfg));
                eprintln!("configuration is valid");
                Ok(())
            }
            Command::Token { action } => token(cfg, action).await,
            Command::Consent { action } => wardgate::cli::consent::run(cfg, action).await,
            Command::Keys { action } => wardgate::cli::keys::run(cfg, action).await,
            Command::Privacy { action } => wardgate::cli::privacy::run(cfg, action).await,
            Command::User { action } => wardgate::console::users::run(cfg, action).await,
            Command::Audit {
                action:
                    AuditCmd::Verify {
                        file: Some(file),
                        pubkey,
                        ..
                    },
            } => {
                let n = wardgate::cli::audit_export::verify_file(
                    &file,
                    pubkey.as_deref().unwrap_or_default(),
                )?;
                println!(
                    "{}: {n} events, chains and signed checkpoint intact",
                    file.display()
                );
                Ok(())
            }
            Command::Audit {
                action: AuditCmd::Verify { node, .. },
            } => audit_verify(cfg, node).await,
            Command::Audit {
                action:
                    AuditCmd::Export {
                        from,
                        to,
                        node,
                        out,
                    },
            } => {
                wardgate::cli::audit_export::export(
                    &cfg,
                    from.as_deref(),
                    to.as_deref(),
                    node.as_deref(),
                    &out,
                )
                .await
            }
            Command::Enroll { subject, photos } => {
                wardgate::cli::photos::enroll(cfg, &subject, &photos).await
            }
            Command::Identify { photos } => wardgate::cli::photos::identify(cfg, &photos).await,
            Command::Eval { action } => wardgate::eval::run(&cfg, action),
            Command::CheckCamera { out } => {
                wardgate::cli::check_camera(&cfg, &out, &mut std::io::stdout())
            }
            Command::Bench { templates, queries } => {
                bench(cfg.vision.embedding_dim, templates, queries);
                Ok(())
            }
        }
    })
}

async fn token(cfg: Config, action: TokenCmd) -> anyhow::Result<()> {
    let store = Store::connect(&cfg.database)
        .await?
        .with_writer(&cfg.events.node);
    store.migrate().await?;
    let auth =
        wardgate::tokens::TokenAuth::with_pepper_file(cfg.auth.token_pepper_file.as_deref())?;
    match action {
        TokenCmd::Create { role, label } => {
            let role = TokenRole::parse(&role).with_context(|| {
                format!("--role {role:?}: expected admin, sync, terminal, technician or display")
            })?;
            let label = label.trim();
            anyhow::ensure!(
                !label.is_empty() && label.len() <= 128,
                "--label must be 1 to 128 characters"
            );
            let (token, rec) = auth.create(&store, label, role).await?;
            eprintln!(
                "created {} token {} ({}); it is shown only once:",
                role.as_str(),
                rec.id,
                rec.label
            );
            println!("{token}");
        }
        TokenCmd::List => {
            for t in store.list_tokens().await? {
                println!(
                    "{}  {:<10} {:<24} {}",
                    t.id,
                    t.role.as_str(),
                    t.label,
                    if t.revoked_ms.is_some() {
                        "revoked"
                    } else {
                        "active"
                    }
                );
            }
        }
        TokenCmd::Revoke { id } => {
            store.revoke_token(&id).await?;
            println!("revoked {id}");
        }
    }
    Ok(())
}

async fn audit_verify(cfg: Config, node: Option<String>) -> anyhow::Result<()> {
    let store = Store::connect(&cfg.database).await?;
    let nodes = match node {
        Some(n) => vec![n],
        None => store.event_nodes().await?,
    };
    let mut broken = 0;
    for n in nodes {
        // A chain whose old events were pruned verifies from its checkpoint.
        let c = store.verify_chain(&n).await?;
        match c.broken {
            None if c.pruned_through > 0 => println!(
                "node {n}: {} events, chain intact from its checkpoint (seq 1 to {} pruned by \
                 retention)",
                c.checked, c.pruned_through
            ),
            None => println!("node {n}: {} events, chain intact", c.checked),
            Some(e) => {
                broken += 1;
                println!("node {n}: BROKEN after {} good events: {e}", c.checked);
            }
        }
    }
    // A checkpoint moved to hide deleted events no longer matches the audit log's record.
    match store.corroborate_checkpoints().await? {
        Ok(0) => {}
        Ok(n) => println!("{n} checkpoint(s) match the events_pruned record"),
        Err(e) => {
            broken += 1;
            println!("checkpoints: BROKEN: {e}");
        }
    }
    anyhow::ensure!(broken == 0, "{broken} chain(s) broken");
    Ok(())
}

fn bench(dim: usize, templates: usize, queries: usize) {
    use rand::{Rng, SeedableRng};
    use wardgate::store::StoredTemplate;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let vec = |rng: &mut rand::rngs::StdRng| {
        (0..dim)
            .map(|_| rng.gen_range(-1.0f32..1.0))
            .collect::<Vec<_>>()
    };
    let t: Vec<StoredTemplate> = (0..templates)
        .map(|i| StoredTemplate {
            face_id: format!("f{i}"),
            subject_id: format!("s{}", i / 2),
            vector: vec(&mut rng),
        })
        .collect();
    let started = std::time::Instant::now();
    let (g, _) = wardgate::gallery::Gallery::build("bench", dim, t);
    eprintln!(
        "built gallery of {} templates × {dim} in {:?}",
        g.len(),
        started.elapsed()
    );
    let probes: Vec<Vec<f32>> = (0..queries).map(|_| vec(&mut rng)).collect();
    type Search = fn(
        &wardgate::gallery::Gallery,
        &[f32],
    )
        -> Result<Option<wardgate::gallery::Match>, wardgate::gallery::VectorError>;
    let variants: [(&str, Search); 2] = [
        ("slices", wardgate::gallery::Gallery::search),
        ("ndarray", wardgate::gallery::Gallery::search_ndarray),
    ];
    for (name, f) in variants {
        let started = std::time::Instant::now();
        for p in &probes {
            std::hint::black_box(f(&g, p).ok());
        }
        let per = started.elapsed() / u32::try_from(queries.max(1)).unwrap_or(u32::MAX);
        println!("{name:<8} {templates} templates: {per:?} per search");
    }
}
