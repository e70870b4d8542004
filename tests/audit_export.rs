//! `wardgate audit export` → `wardgate audit verify --file --pubkey`, offline: the round trip
//! passes with the key `check-config` prints, and each tampering is detected and named — an
//! edited line, a removed one, two swapped, a cut tail, and a checkpoint checked against
//! another controller's key.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Db, TestDb};
use wardgate::audit::{EventDraft, EventKind};
use wardgate::cli::audit_export::verify_file;

fn cli(tdb: &TestDb, key: &Path, args: &[&str]) -> std::process::Output {
    let config = tdb.dir.path().join("cli.toml");
    std::fs::write(&config, "").unwrap();
    Command::new(env!("CARGO_BIN_EXE_wardgate"))
        .arg("--config")
        .arg(&config)
        .args(args)
        .env("WARDGATE_DATABASE__URL", &tdb.url)
        .env("WARDGATE_EVENTS__AUDIT_KEY_FILE", key)
        .env("WARDGATE_EVENTS__NODE", "ctl-a")
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .unwrap()
}

fn pubkey_of(out: &std::process::Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    err.lines()
        .find_map(|l| l.strip_prefix("audit export signing key (Ed25519): "))
        .unwrap_or_else(|| panic!("check-config printed no public key: {err}"))
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_verifies_offline_and_every_tampering_is_named() {
    let tdb = TestDb::new(Db::Sqlite).await.unwrap();
    let store = tdb.store().await;
    for node in ["ctl-a", "ctl-b"] {
        for i in 0..6 {
            store
                .record_direct(
                    node,
                    EventDraft {
                        kind: EventKind::Door,
                        door_id: Some("icu".into()),
                        reason: format!("event_{i}"),
                        details: serde_json::json!({"n": i}),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
        }
    }
    let key = tdb.dir.path().join("audit.pk8");
    let file = tdb.dir.path().join("export.jsonl");
    let out = cli(
        &tdb,
        &key,
        &["audit", "export", "--out", file.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let pubkey = pubkey_of(&cli(&tdb, &key, &["check-config"]));

    // The round trip, through the CLI.
    let out = cli(
        &tdb,
        &key,
        &[
            "audit",
            "verify",
            "--file",
            file.to_str().unwrap(),
            "--pubkey",
            &pubkey,
        ],
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("12 events"),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let lines: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 13, "12 events and the checkpoint");
    let tampered = |name: &str, ls: Vec<String>| {
        let p = tdb.dir.path().join(name);
        std::fs::write(&p, ls.join("\n") + "\n").unwrap();
        format!("{:#}", verify_file(&p, &pubkey).unwrap_err())
    };

    // Edited: the reason of the third line.
    let mut edited = lines.clone();
    edited[2] = edited[2].replace("event_2", "event_X");
    let err = tampered("edited", edited);
    assert!(err.contains("line 3") && err.contains("edited"), "{err}");
    // Removed: the fourth line.
    let mut removed = lines.clone();
    removed.remove(3);
    let err = tampered("removed", removed);
    assert!(err.contains("line 4") && err.contains("missing"), "{err}");
    // Reordered: lines 2 and 3 swapped.
    let mut swapped = lines.clone();
    swapped.swap(1, 2);
    let err = tampered("swapped", swapped);
    assert!(err.contains("line 2"), "{err}");
    // Cut: the last event before the checkpoint.
    let mut cut = lines.clone();
    cut.remove(11);
    let err = tampered("cut", cut);
    assert!(err.contains("removed"), "{err}");
    // Another controller's key.
    let other = tdb.dir.path().join("other.pk8");
    let other_key = pubkey_of(&{
        let _ = cli(
            &tdb,
            &other,
            &[
                "audit",
                "export",
                "--out",
                tdb.dir.path().join("o.jsonl").to_str().unwrap(),
            ],
        );
        cli(&tdb, &other, &["check-config"])
    });
    assert_ne!(other_key, pubkey);
    let err = format!("{:#}", verify_file(&file, &other_key).unwrap_err());
    assert!(
        err.contains("line 13") && err.contains("signature"),
        "{err}"
    );
    // The checkpoint itself altered (claims fewer events).
    let mut forged = lines.clone();
    forged[12] = forged[12].replace("\"event_lines\":12", "\"event_lines\":11");
    let err = tampered("forged", forged);
    assert!(err.contains("signature"), "{err}");
    // The untouched file still verifies.
    assert_eq!(verify_file(&file, &pubkey).unwrap(), 12);
    tdb.cleanup().await;
}
