//! The CLI's writes reach a running service through the change feed: a token made with
//! `wardgate token create` while `wardgate run` is up works within 1 s, and one revoked with
//! `wardgate token revoke` is refused within 1 s — on SQLite (one door) and on MariaDB.

mod common;
mod fleet;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Db, TestDb};
use fleet::{Controller, Tokens};
use reqwest::Method;

const WITHIN: Duration = Duration::from_secs(1);

/// Runs `wardgate token …` against `db_url`; returns (stdout, stderr).
fn token_cli(db_url: &str, dir: &std::path::Path, args: &[&str]) -> (String, String) {
    let config = dir.join("cli.toml");
    std::fs::write(&config, "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wardgate"))
        .arg("--config")
        .arg(&config)
        .arg("token")
        .args(args)
        .env("WARDGATE_DATABASE__URL", db_url)
        .env("WARDGATE_EVENTS__NODE", "ctl-a")
        .output()
        .unwrap();
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "wardgate token {args:?}: {se}");
    (so, se)
}

/// Polls `GET /api/v1/tokens` with `token` until it answers `want`; returns the wait.
async fn until_status(c: &Controller, token: &str, want: u16, since: Instant) -> Duration {
    loop {
        let (s, _) = c.call(Method::GET, "/api/v1/tokens", token, None).await;
        if s == want {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < WITHIN,
            "still {s}, not {want}, {:?} after the CLI returned",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn token_cli_reaches_running_service(db: Db) {
    let Some(tdb) = TestDb::new(db).await else {
        return;
    };
    let store = tdb.store().await;
    let tokens = Tokens::install(&store).await;
    let mut c = Controller::start("ctl-a", &tdb.url, tdb.dir.path(), &[]);
    c.wait_ready().await;
    assert_eq!(
        c.call(Method::GET, "/api/v1/tokens", &tokens.admin, None)
            .await
            .0,
        200
    );

    let (stdout, stderr) = token_cli(
        &tdb.url,
        tdb.dir.path(),
        &["create", "--role", "admin", "--label", "night shift"],
    );
    let t = Instant::now();
    let new = stdout.trim().to_owned();
    let id = stderr
        .split_whitespace()
        .nth(3)
        .expect("`created admin token ID …` on stderr")
        .to_owned();
    let took = until_status(&c, &new, 200, t).await;
    eprintln!("{db:?}: token created by the CLI accepted after {took:?}");

    token_cli(&tdb.url, tdb.dir.path(), &["revoke", &id]);
    let t = Instant::now();
    let took = until_status(&c, &new, 401, t).await;
    eprintln!("{db:?}: token revoked by the CLI refused after {took:?}");
    // The other tokens are untouched.
    assert_eq!(
        c.call(Method::GET, "/api/v1/tokens", &tokens.admin, None)
            .await
            .0,
        200
    );
    c.stop();
    tdb.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_cli_reaches_running_service_sqlite() {
    token_cli_reaches_running_service(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_cli_reaches_running_service_mysql() {
    token_cli_reaches_running_service(Db::MySql).await;
}
