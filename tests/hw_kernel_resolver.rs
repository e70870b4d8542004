//! The hardware harness picks its guest kernel from what apt offers (`hw-tests/lib/resolve-kernel.sh`).
//! These tests feed it canned `apt-cache madison` output: it must choose the newest version at
//! which all five packages of one kernel build are offered, and refuse an inconsistent set with
//! one line that names what is missing.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

struct Outcome {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn resolve(madison: &str) -> Outcome {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("hw-tests/lib/resolve-kernel.sh");
    let mut child = Command::new("bash")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(madison.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Outcome {
        ok: out.status.success(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

const SEC: &str = "http://deb.debian.org/debian-security bookworm-security/main amd64 Packages";
const MAIN: &str = "http://deb.debian.org/debian bookworm/main amd64 Packages";

fn line(pkg: &str, ver: &str, origin: &str) -> String {
    format!("{pkg} | {ver} | {origin}\n")
}

/// The five packages of one build, all at `ver`.
fn build(abi: &str, ver: &str, origin: &str) -> String {
    [
        format!("linux-image-{abi}-amd64-unsigned"),
        format!("linux-headers-{abi}-amd64"),
        format!("linux-headers-{abi}-common"),
        "linux-kbuild-6.1".to_string(),
        "linux-source-6.1".to_string(),
    ]
    .iter()
    .map(|p| line(p, ver, origin))
    .collect()
}

#[test]
fn picks_the_newest_consistent_build_and_lists_older_ones() {
    // What bookworm offered on 2026-12-01: 6.1.0-57 at 6.1.192-3 in security, 6.1.0-50 at
    // 6.1.176-1 in the point release, and the superseded image 6.1.0-56 whose kbuild is gone.
    let mut m = build("6.1.0-57", "6.1.192-3", SEC);
    m += &build("6.1.0-50", "6.1.176-1", MAIN);
    m += &line("linux-image-6.1.0-56-amd64-unsigned", "6.1.192-2", SEC);
    m += &line("linux-headers-6.1.0-56-amd64", "6.1.192-2", SEC);
    m += &line("linux-headers-6.1.0-56-common", "6.1.192-2", SEC);
    m += &line("linux-source-6.1", "6.1.192-2", SEC);
    let out = resolve(&m);
    assert!(out.ok, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, ["6.1.0-57 6.1.192-3", "6.1.0-50 6.1.176-1"]);
}

#[test]
fn refuses_an_inconsistent_set_naming_what_is_missing() {
    // The failure that stopped new machines: image and headers at -2, kbuild only at -3.
    let mut m = line("linux-image-6.1.0-56-amd64-unsigned", "6.1.192-2", SEC);
    m += &line("linux-headers-6.1.0-56-amd64", "6.1.192-2", SEC);
    m += &line("linux-headers-6.1.0-56-common", "6.1.192-2", SEC);
    m += &line("linux-kbuild-6.1", "6.1.192-3", SEC);
    m += &line("linux-source-6.1", "6.1.192-2", SEC);
    let out = resolve(&m);
    assert!(!out.ok);
    assert!(out.stdout.is_empty(), "printed a choice: {}", out.stdout);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("linux-image-6.1.0-56-amd64-unsigned=6.1.192-2")
            && out.stderr.contains("linux-kbuild-6.1=6.1.192-2")
            && !out.stderr.contains("linux-source-6.1="),
        "{}",
        out.stderr
    );
}

#[test]
fn an_incomplete_newest_build_falls_back_to_an_older_complete_one() {
    let mut m = build("6.1.0-55", "6.1.190-1", SEC);
    // The newest image is published before its source package reaches the mirror.
    m += &line("linux-image-6.1.0-58-amd64-unsigned", "6.1.195-1", SEC);
    m += &line("linux-headers-6.1.0-58-amd64", "6.1.195-1", SEC);
    m += &line("linux-headers-6.1.0-58-common", "6.1.195-1", SEC);
    m += &line("linux-kbuild-6.1", "6.1.195-1", SEC);
    let out = resolve(&m);
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "6.1.0-55 6.1.190-1");
}

#[test]
fn versions_compare_numerically_not_as_text() {
    let mut m = build("6.1.0-60", "6.1.192-9", SEC);
    m += &build("6.1.0-61", "6.1.192-10", SEC);
    let out = resolve(&m);
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(out.stdout.lines().next(), Some("6.1.0-61 6.1.192-10"));
}

#[test]
fn no_image_at_all_is_an_error() {
    let out = resolve(&line("linux-kbuild-6.1", "6.1.192-3", SEC));
    assert!(!out.ok);
    assert!(out.stderr.contains("no linux-image-6.1.0-*-amd64-unsigned"));
}
