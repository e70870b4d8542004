//! Console accounts: the rules for names, roles and passwords, shared by `wardgate user …` and
//! `/api/v1/users`, and the CLI commands.

use std::io::{BufRead, IsTerminal, Write};

use crate::api::ApiError;
use crate::model::TokenRole;
use crate::store::{ConsoleUser, Store};

/// The roles a person can log in with (sync and terminal are for machines).
pub const USER_ROLES: [TokenRole; 2] = [TokenRole::Technician, TokenRole::Admin];

/// Checks a login name: 1–64 of `[A-Za-z0-9._@-]`.
pub fn check_name(name: &str) -> Result<String, ApiError> {
    let n = name.trim();
    let ok = !n.is_empty()
        && n.len() <= 64
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
    if ok {
        Ok(n.to_owned())
    } else {
        Err(ApiError::invalid(
            "name",
            "must be 1 to 64 characters of A-Z a-z 0-9 . _ @ -",
        ))
    }
}

/// Parses a console role: `technician` or `admin`.
pub fn parse_role(role: &str) -> Result<TokenRole, ApiError> {
    TokenRole::parse(role)
        .filter(|r| USER_ROLES.contains(r))
        .ok_or_else(|| ApiError::invalid("role", "must be technician or admin"))
}

/// Validates and creates an account (the password is hashed off the async threads).
pub async fn create(
    store: &Store,
    name: &str,
    role: TokenRole,
    password: String,
) -> Result<ConsoleUser, ApiError> {
    let name = check_name(name)?;
    if !USER_ROLES.contains(&role) {
        return Err(ApiError::invalid("role", "must be technician or admin"));
    }
    super::password::check_new_password(&password).map_err(|m| ApiError::invalid("password", m))?;
    let phc = tokio::task::spawn_blocking(move || super::password::hash(&password))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))?;
    Ok(store.create_user(&name, role, &phc).await?)
}

/// Reads a new password: from a terminal, asked twice without echo; otherwise the first line
/// of standard input (for provisioning scripts: `echo "$PW" | wardgate user add …`).
pub fn read_password(prompt: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_owned());
    }
    let first = read_hidden(prompt)?;
    let second = read_hidden("Repeat it: ")?;
    anyhow::ensure!(
        first == second,
        "the two passwords differ; nothing was changed"
    );
    Ok(first)
}

fn read_hidden(prompt: &str) -> anyhow::Result<String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let stdin = std::io::stdin();
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let saved = tcgetattr(&stdin)?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet)?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    tcsetattr(&stdin, SetArg::TCSANOW, &saved)?;
    eprintln!();
    read?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// `wardgate user …`
#[derive(Debug, clap::Subcommand)]
pub enum UserCmd {
    /// Create a console account; the password is read from the terminal (twice, hidden) or
    /// from the first line of standard input.
    Add {
        /// technician or admin
        #[arg(long)]
        role: String,
        /// Login name: 1 to 64 of A-Z a-z 0-9 . _ @ -
        name: String,
    },
    /// List console accounts (never their password hashes).
    List,
    /// Set a new password (read like `add`).
    Passwd { name: String },
    /// Delete a console account.
    Remove { name: String },
    /// Give the account a second login factor (RFC 6238 TOTP): prints the `otpauth://` URI to
    /// import into an authenticator app, and asks for a code at every login from now on. A new
    /// secret replaces the old one.
    Totp {
        /// Remove the second factor instead (the account logs in with its password alone).
        #[arg(long)]
        disable: bool,
        name: String,
    },
}

/// Runs a `wardgate user …` command.
pub async fn run(cfg: crate::config::Config, cmd: UserCmd) -> anyhow::Result<()> {
    let store = Store::connect(&cfg.database).await?;
    store.migrate().await?;
    let api = |e: ApiError| anyhow::anyhow!("{}", e.detail);
    match cmd {
        UserCmd::Add { role, name } => {
            let role = parse_role(&role)
                .map_err(|_| anyhow::anyhow!("--role {role:?}: expected technician or admin"))?;
            let name = check_name(&name).map_err(api)?;
            let password = read_password(&format!("Password for {name}: "))?;
            let u = create(&store, &name, role, password).await.map_err(api)?;
            println!("created {} account {} ({})", u.role.as_str(), u.name, u.id);
        }
        UserCmd::List => {
            for u in store.list_users().await? {
                let last = u
                    .last_login_ms
                    .map_or_else(|| "never".to_owned(), crate::api::problem::fmt_time);
                println!(
                    "{}  {:<10} {:<24} last login {last}",
                    u.id,
                    u.role.as_str(),
                    u.name
                );
            }
        }
        UserCmd::Passwd { name } => {
            let password = read_password(&format!("New password for {name}: "))?;
            super::password::check_new_password(&password)
                .map_err(|m| anyhow::anyhow!("password {m}"))?;
            let phc = super::password::hash(&password)?;
            store.set_user_password(&name, &phc).await?;
            println!("password of {name} changed");
        }
        UserCmd::Remove { name } => {
            let u = store
                .user_by_name(&name)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no console user named {name:?}"))?;
            store.delete_user(&u.id).await?;
            println!("removed {name}");
        }
        UserCmd::Totp { disable, name } => {
            let u = store
                .user_by_name(&name)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no console user named {name:?}"))?;
            if disable {
                store.set_user_totp(&u.id, None).await?;
                println!("second factor of {name} removed: the password alone logs in");
            } else {
                let secret = super::totp::new_secret();
                store.set_user_totp(&u.id, Some(&secret)).await?;
                eprintln!(
                    "{name} now needs a code from an authenticator app at every login. Import this \
                     URI into the app (it is the secret: keep it from others):"
                );
                println!(
                    "{}",
                    super::totp::otpauth_uri(&cfg.events.node, &u.name, &secret)
                );
            }
        }
    }
    Ok(())
}
