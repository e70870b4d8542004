//! The server certificate: given as files (a hospital CA-issued certificate), handed over as
//! systemd credentials (`tls.crt`, `tls.key`), or a per-board self-signed one created once in
//! `api.tls_dir` and reused, so the fingerprint a client pinned stays valid across restarts.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::config::ApiConfig;

/// Where the certificate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CertSource {
    /// `api.tls_cert_file` / `api.tls_key_file`.
    Files,
    /// systemd credentials `tls.crt` and `tls.key` (`LoadCredential=`).
    Credentials,
    /// The board's own self-signed certificate in `api.tls_dir`.
    SelfSigned,
}

/// A certificate chain with its key, ready for rustls.
#[derive(Debug)]
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub source: CertSource,
    /// The PEM file of the leaf certificate (what a client pins or trusts).
    pub cert_path: PathBuf,
    /// Whether this start created the self-signed certificate.
    pub created: bool,
}

impl Identity {
    /// SHA-256 of the leaf certificate's DER, as `AB:CD:…` (the form `openssl x509 -fingerprint
    /// -sha256` prints, so a technician can compare the two by eye).
    pub fn fingerprint_sha256(&self) -> String {
        fingerprint_sha256(self.chain.first().map_or(&[][..], |c| c.as_ref()))
    }
}

/// `AB:CD:…` SHA-256 of a DER blob.
pub fn fingerprint_sha256(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Loads (or, the first time, creates) the server identity the configuration asks for.
pub fn load_identity(cfg: &ApiConfig) -> anyhow::Result<Identity> {
    if let (Some(cert), Some(key)) = (&cfg.tls_cert_file, &cfg.tls_key_file) {
        return from_files(cert, key, CertSource::Files)
            .context("api.tls_cert_file / api.tls_key_file");
    }
    if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from) {
        let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
        if cert.exists() && key.exists() {
            return from_files(&cert, &key, CertSource::Credentials)
                .context("systemd credentials tls.crt / tls.key");
        }
    }
    self_signed(&cfg.tls_dir, &subject_names(cfg)).with_context(|| {
        format!(
            "self-signed certificate in api.tls_dir {}",
            cfg.tls_dir.display()
        )
    })
}

/// Every certificate of a PEM file (a chain, or a CA bundle); at least one.
pub(crate) fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: not a PEM certificate file", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{}: no CERTIFICATE block in the file",
        path.display()
    );
    Ok(certs)
}

fn from_files(cert: &Path, key: &Path, source: CertSource) -> anyhow::Result<Identity> {
    let chain = read_certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| {
        format!(
            "{}: no PEM private key (PKCS#8, PKCS#1 or SEC1)",
            key.display()
        )
    })?;
    Ok(Identity {
        chain,
        key,
        source,
        cert_path: cert.to_owned(),
        created: false,
    })
}

/// The names the self-signed certificate is made for: the host name, localhost, the loopback
/// addresses, a concrete `tls_listen` address and `tls_names`.
fn subject_names(cfg: &ApiConfig) -> Vec<String> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".into(), "::1".into()];
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() {
            names.push(host.to_owned());
        }
    }
    if let Some(addr) = cfg.tls_listen.filter(|a| !a.ip().is_unspecified()) {
        names.push(addr.ip().to_string());
    }
    names.extend(cfg.tls_names.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

fn self_signed(dir: &Path, names: &[String]) -> anyhow::Result<Identity> {
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if cert_path.exists() && key_path.exists() {
        return from_files(&cert_path, &key_path, CertSource::SelfSigned);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut params = rcgen::CertificateParams::new(names.to_vec())
        .context("the certificate names (api.tls_names)")?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(
        rcgen::DnType::CommonName,
        names.get(3).cloned().unwrap_or_else(|| "wardgate".into()),
    );
    dn.push(rcgen::DnType::OrganizationName, "Wardgate door controller");
    params.distinguished_name = dn;
    // From today for ten years: a door controller outlives most certificate lifetimes, and a
    // pinned self-signed certificate gains nothing from expiring; a CA-issued one replaces it.
    let today = chrono::Utc::now().date_naive();
    let (y, m, d) = (
        chrono::Datelike::year(&today),
        chrono::Datelike::month(&today) as u8,
        chrono::Datelike::day(&today).min(28) as u8,
    );
    params.not_before = rcgen::date_time_ymd(y, m, d);
    params.not_after = rcgen::date_time_ymd(y + 10, m, d);
    let key = rcgen::KeyPair::generate().context("generating the key")?;
    let cert = params
        .self_signed(&key)
        .context("signing the certificate")?;
    write_private(&key_path, key.serialize_pem().as_bytes())?;
    write_atomic(&cert_path, cert.pem().as_bytes(), 0o644)?;
    let mut id = from_files(&cert_path, &key_path, CertSource::SelfSigned)?;
    id.created = true;
    Ok(id)
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomic(path, bytes, 0o600)
}

/// Writes through a temporary file and a rename, so a crash never leaves half a key.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_self_signed_certificate_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ApiConfig {
            tls_dir: dir.path().join("tls"),
            tls_names: vec!["door-3.ward.example".into()],
            ..ApiConfig::default()
        };
        let first = load_identity(&cfg).unwrap();
        assert!(first.created);
        assert_eq!(first.source, CertSource::SelfSigned);
        let fp = first.fingerprint_sha256();
        assert_eq!(fp.len(), 32 * 3 - 1, "{fp}");
        let again = load_identity(&cfg).unwrap();
        assert!(!again.created);
        assert_eq!(
            again.fingerprint_sha256(),
            fp,
            "a pinned fingerprint stays valid"
        );
        let mode = std::fs::metadata(dir.path().join("tls/key.pem"))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        let pem = std::fs::read_to_string(dir.path().join("tls/cert.pem")).unwrap();
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        let (_, x509) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
        let sans: Vec<String> = x509
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
                _ => None,
            })
            .collect();
        assert!(
            sans.iter().any(|n| n.contains("door-3.ward.example")),
            "{sans:?}"
        );
        assert!(sans.iter().any(|n| n.contains("localhost")), "{sans:?}");
    }

    #[test]
    fn a_certificate_file_without_its_key_is_refused_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.pem");
        std::fs::write(&cert, "not a certificate").unwrap();
        let cfg = ApiConfig {
            tls_cert_file: Some(cert.clone()),
            tls_key_file: Some(dir.path().join("missing.pem")),
            ..ApiConfig::default()
        };
        let err = format!("{:#}", load_identity(&cfg).unwrap_err());
        assert!(err.contains("c.pem"), "{err}");
    }
}
