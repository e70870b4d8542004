//! HTTPS for the API, the WebSockets and the console (rustls).
//!
//! Bearer tokens and face photos must not cross the hospital network in clear, so plain HTTP
//! stays on loopback (`api.listen`, checked by the configuration) and the network is served on
//! `api.tls_listen`. The certificate is the board's own self-signed one unless the site gives
//! one ([`cert`]); clients pin its SHA-256 fingerprint, which `wardgate check-config` prints
//! and `/api/v1/status` and the console's Health page show. Client certificates ([`client`])
//! may stand in for the `sync` and `terminal` tokens. [`serve`] runs the listener.

pub mod cert;
pub mod client;
pub mod serve;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;

use crate::config::ApiConfig;
pub use cert::CertSource;
pub use client::{ClientCert, ClientRoles};

/// What a client needs to know to trust this controller's HTTPS listener.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct TlsInfo {
    /// The HTTPS address (`api.tls_listen`).
    pub listen: String,
    /// SHA-256 of the server certificate (DER), `AB:CD:…`: pin this.
    pub fingerprint_sha256: String,
    /// Where the certificate came from.
    pub source: CertSource,
    /// The PEM file of the certificate (give it to clients as `--cacert`).
    pub cert_file: String,
    /// Whether client certificates from `api.tls_client_ca` are accepted.
    pub client_certificates: bool,
}

/// A ready HTTPS listener configuration.
#[derive(Clone)]
pub struct TlsServer {
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub roles: Arc<ClientRoles>,
    pub info: TlsInfo,
    pub listen: SocketAddr,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Loads or creates the certificate and builds the rustls configuration; `None` without
/// `api.tls_listen`.
pub fn prepare(cfg: &ApiConfig) -> anyhow::Result<Option<TlsServer>> {
    let Some(listen) = cfg.tls_listen else {
        return Ok(None);
    };
    let id = cert::load_identity(cfg)?;
    if id.created {
        log::info!(
            "created this board's self-signed TLS certificate {} (sha256 {})",
            id.cert_path.display(),
            id.fingerprint_sha256()
        );
    }
    let info = TlsInfo {
        listen: listen.to_string(),
        fingerprint_sha256: id.fingerprint_sha256(),
        source: id.source,
        cert_file: id.cert_path.display().to_string(),
        client_certificates: cfg.tls_client_ca.is_some(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match &cfg.tls_client_ca {
        Some(ca) => builder.with_client_cert_verifier(client::verifier(ca)?),
        None => builder.with_no_client_auth(),
    };
    let mut server = builder
        .with_single_cert(id.chain, id.key)
        .with_context(|| format!("{}: the key does not fit the certificate", info.cert_file))?;
    // HTTP/1.1 only: WebSocket upgrades (RFC 6455) need it, and the console gains nothing from h2.
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(TlsServer {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
        roles: Arc::new(ClientRoles::from_config(&cfg.tls_client_roles)?),
        info,
        listen,
    }))
}

/// The lines `wardgate check-config` prints about HTTPS.
pub fn describe(cfg: &ApiConfig) -> String {
    match prepare(cfg) {
        Ok(None) => format!(
            "tls: off (api.tls_listen not set); plain HTTP on {}\n",
            cfg.listen
        ),
        Ok(Some(t)) => format!(
            "tls: https://{} certificate {} ({:?})\ntls: sha256 fingerprint {}\ntls: client certificates {}\n",
            t.info.listen,
            t.info.cert_file,
            t.info.source,
            t.info.fingerprint_sha256,
            if t.info.client_certificates { "accepted (api.tls_client_ca)" } else { "not asked for" },
        ),
        Err(e) => format!("tls: NOT USABLE: {e:#}\n"),
    }
}
