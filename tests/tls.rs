//! HTTPS: the board's self-signed certificate, pinned by a client with `curl --cacert`; the
//! same router (REST, WebSocket upgrades) over TLS; client certificates standing in for the
//! `sync` role; and plain HTTP kept off the network.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Db, TestDb};
use wardgate::model::TokenRole;

struct Https {
    port: u16,
    admin: String,
    state: wardgate::api::AppState,
    tls_dir: std::path::PathBuf,
    _db: TestDb,
    stop: tokio::sync::oneshot::Sender<()>,
}

async fn https(tweak: impl FnOnce(&mut wardgate::config::Config, &Path)) -> Https {
    let db = TestDb::new(Db::Sqlite).await.unwrap();
    let mut cfg = db.config();
    let tls_dir = db.dir.path().join("tls");
    cfg.api.tls_dir = tls_dir.clone();
    cfg.api.tls_listen = Some("127.0.0.1:0".parse().unwrap());
    tweak(&mut cfg, db.dir.path());
    let tls = wardgate::tls::prepare(&cfg.api).unwrap().unwrap();
    let mut state = wardgate::app::build_state(cfg, None).await.unwrap();
    state.tls = Some(std::sync::Arc::new(tls.info.clone()));
    let (admin, _) = state
        .core
        .tokens
        .create(&state.core.store, "admin", TokenRole::Admin)
        .await
        .unwrap();
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let secure = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = secure.local_addr().unwrap().port();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let st = state.clone();
    tokio::spawn(async move {
        wardgate::app::serve_with_tls(st, plain, Some((secure, tls)), async move {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Https {
        port,
        admin,
        state,
        tls_dir,
        _db: db,
        stop,
    }
}

/// Runs curl (off the async threads); returns (exit code, stdout).
async fn curl(args: Vec<String>) -> (i32, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10"])
            .args(&args)
            .output()
            .expect("curl (scripts/setup-deps.sh installs it)");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    })
    .await
    .unwrap()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_pinning_the_board_certificate_gets_the_api_and_websockets_over_https() {
    let h = https(|_, _| {}).await;
    let cert = h.tls_dir.join("cert.pem");
    let url = format!("https://localhost:{}/api/v1/events?limit=5", h.port);
    let auth = format!("Authorization: Bearer {}", h.admin);
    let (code, body) = curl(s(&[
        "--cacert",
        cert.to_str().unwrap(),
        "-H",
        &auth,
        "-w",
        "\n%{http_code}",
        &url,
    ]))
    .await;
    assert_eq!(code, 0, "curl with the pinned certificate: {body}");
    let (json, status) = body.rsplit_once('\n').unwrap();
    assert_eq!(status, "200", "{body}");
    let page: serde_json::Value = serde_json::from_str(json).unwrap();
    assert!(page["items"].is_array(), "{page}");

    // Without the certificate, curl does not trust the board (exit 60, peer certificate; 77
    // where the system has no CA bundle at all).
    let (code, _) = curl(s(&["-H", &auth, &url])).await;
    assert!(
        code == 60 || code == 77,
        "an unpinned client must not trust a self-signed certificate (curl exit {code})"
    );

    // The fingerprint the status reports is the SHA-256 of the certificate being served.
    let status_url = format!("https://localhost:{}/api/v1/status", h.port);
    let (code, body) = curl(s(&[
        "--cacert",
        cert.to_str().unwrap(),
        "-H",
        &auth,
        &status_url,
    ]))
    .await;
    assert_eq!(code, 0, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    let pem = std::fs::read(&cert).unwrap();
    let der =
        <rustls_pki_types::CertificateDer as rustls_pki_types::pem::PemObject>::from_pem_slice(
            &pem,
        )
        .unwrap();
    assert_eq!(
        status["tls"]["fingerprint_sha256"],
        wardgate::tls::cert::fingerprint_sha256(der.as_ref()),
        "{status}"
    );
    assert_eq!(status["tls"]["source"], "self_signed");

    // A WebSocket upgrade goes through the TLS listener too (101 Switching Protocols).
    let ws_url = format!(
        "https://localhost:{}/ws/events?access_token={}",
        h.port, h.admin
    );
    let (_, out) = curl(s(&[
        "--cacert",
        cert.to_str().unwrap(),
        "--http1.1",
        "--max-time",
        "2",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        "Connection: Upgrade",
        "-H",
        "Upgrade: websocket",
        "-H",
        "Sec-WebSocket-Version: 13",
        "-H",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        &ws_url,
    ]))
    .await;
    assert_eq!(out, "101", "WebSocket upgrade over TLS");
    let _ = h.stop.send(());
    h.state.core.store.close().await;
}

/// A CA and a client certificate it signs for `cn`.
fn client_pki(
    dir: &Path,
    cn: &str,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Ward test CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let mut leaf = rcgen::CertificateParams::new(vec![format!("{cn}")]).unwrap();
    leaf.distinguished_name.push(rcgen::DnType::CommonName, cn);
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).unwrap();
    let (ca_path, cert_path, key_path) = (
        dir.join(format!("{cn}-ca.pem")),
        dir.join(format!("{cn}.pem")),
        dir.join(format!("{cn}.key")),
    );
    std::fs::write(&ca_path, ca_cert.pem()).unwrap();
    std::fs::write(&cert_path, leaf_cert.pem()).unwrap();
    std::fs::write(&key_path, leaf_key.serialize_pem()).unwrap();
    (ca_path, cert_path, key_path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_from_the_hospital_ca_authenticates_as_its_configured_role() {
    let pki = tempfile::tempdir().unwrap();
    let (ca, his_cert, his_key) = client_pki(pki.path(), "his.hospital.example");
    let (_, rogue_cert, rogue_key) = client_pki(pki.path(), "rogue.example");
    let ca2 = ca.clone();
    let h = https(move |cfg, _| {
        cfg.api.tls_client_ca = Some(ca2);
        cfg.api
            .tls_client_roles
            .insert("his.hospital.example".into(), "sync".into());
    })
    .await;
    let server = h.tls_dir.join("cert.pem");
    let base = format!("https://localhost:{}", h.port);
    let with_cert = |path: &str, body: Option<&str>| {
        let mut a = s(&[
            "--cacert",
            server.to_str().unwrap(),
            "--cert",
            his_cert.to_str().unwrap(),
            "--key",
            his_key.to_str().unwrap(),
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ]);
        if let Some(b) = body {
            a.extend(s(&["-H", "Content-Type: application/json", "-d", b]));
        }
        a.push(format!("{base}{path}"));
        a
    };
    // The sync role may read subjects, and may not create doors (admin only).
    assert_eq!(
        curl(with_cert("/api/v1/subjects", None)).await.1,
        "200",
        "sync by certificate reads subjects"
    );
    assert_eq!(
        curl(with_cert(
            "/api/v1/doors",
            Some(r#"{"id":"ward-9","name":"Ward 9"}"#)
        ))
        .await
        .1,
        "403",
        "a certificate for sync is not admin"
    );
    // No certificate, no token: 401.
    let (_, out) = curl(s(&[
        "--cacert",
        server.to_str().unwrap(),
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{base}/api/v1/subjects"),
    ]))
    .await;
    assert_eq!(out, "401");
    // A certificate from another CA does not even complete the handshake.
    let (code, _) = curl(s(&[
        "--cacert",
        server.to_str().unwrap(),
        "--cert",
        rogue_cert.to_str().unwrap(),
        "--key",
        rogue_key.to_str().unwrap(),
        &format!("{base}/api/v1/subjects"),
    ]))
    .await;
    assert_ne!(
        code, 0,
        "a client certificate from an unknown CA is refused"
    );
    let _ = h.stop.send(());
    h.state.core.store.close().await;
}

#[test]
fn plain_http_on_the_network_is_refused_and_check_config_prints_the_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("w.toml");
    std::fs::write(&config, "").unwrap();
    let run = |env: &[(&str, String)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wardgate"));
        c.arg("--config").arg(&config).arg("check-config");
        c.env(
            "WARDGATE_DATABASE__URL",
            format!("sqlite://{}/c.db?mode=rwc", dir.path().display()),
        );
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let out = run(&[("WARDGATE_API__LISTEN", "0.0.0.0:8080".into())]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("api.listen") && err.contains("api.tls_listen"),
        "{err}"
    );

    let tls_dir = dir.path().join("tls");
    let out = run(&[
        ("WARDGATE_API__TLS_LISTEN", "0.0.0.0:8443".into()),
        ("WARDGATE_API__TLS_DIR", tls_dir.display().to_string()),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let pem =
        std::fs::read(tls_dir.join("cert.pem")).expect("check-config creates the certificate");
    let der =
        <rustls_pki_types::CertificateDer as rustls_pki_types::pem::PemObject>::from_pem_slice(
            &pem,
        )
        .unwrap();
    let fp = wardgate::tls::cert::fingerprint_sha256(der.as_ref());
    assert!(err.contains(&format!("sha256 fingerprint {fp}")), "{err}");
}
