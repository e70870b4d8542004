//! Client certificates (mTLS): a hospital system or terminal may authenticate with a
//! certificate issued by `api.tls_client_ca` instead of a bearer token. The certificate's
//! subject CN or one of its DNS names must be listed in `api.tls_client_roles`, which gives it
//! its role (`sync` or `terminal` only: people use accounts, and admin stays a token).

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context as _;
use rustls::server::WebPkiClientVerifier;

use crate::model::TokenRole;

/// A verified client certificate, attached to every request of its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// The name that matched `api.tls_client_roles` (or the subject CN when none did).
    pub name: String,
    /// The role the configuration gives that name; `None`: the certificate is valid but grants
    /// nothing, and the request needs a token like any other.
    pub role: Option<TokenRole>,
    /// SHA-256 of the certificate, for the audit trail.
    pub fingerprint_sha256: String,
}

/// `api.tls_client_roles`, parsed.
#[derive(Debug, Clone, Default)]
pub struct ClientRoles(BTreeMap<String, TokenRole>);

impl ClientRoles {
    pub fn from_config(map: &BTreeMap<String, String>) -> anyhow::Result<Self> {
        map.iter()
            .map(|(name, role)| {
                let role = TokenRole::parse(role)
                    .filter(|r| matches!(r, TokenRole::Sync | TokenRole::Terminal))
                    .with_context(|| {
                        format!("api.tls_client_roles.{name}: `{role}` is not sync or terminal")
                    })?;
                Ok((name.clone(), role))
            })
            .collect::<anyhow::Result<_>>()
            .map(Self)
    }

    /// Who a verified certificate (DER) is: its first name with a configured role.
    pub fn identify(&self, der: &[u8]) -> Option<ClientCert> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let mut names: Vec<String> = cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
            .collect();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            names.extend(san.value.general_names.iter().filter_map(|n| match n {
                x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
                _ => None,
            }));
        }
        let fingerprint_sha256 = super::cert::fingerprint_sha256(der);
        let matched = names
            .iter()
            .find_map(|n| self.0.get(n).map(|r| (n.clone(), *r)));
        Some(match matched {
            Some((name, role)) => ClientCert {
                name,
                role: Some(role),
                fingerprint_sha256,
            },
            None => ClientCert {
                name: names.into_iter().next().unwrap_or_default(),
                role: None,
                fingerprint_sha256,
            },
        })
    }
}

/// The verifier for `api.tls_client_ca`: a certificate is asked for but optional, so browsers
/// and token clients connect as before; one that is presented must chain to the CA.
pub fn verifier(
    ca_file: &std::path::Path,
) -> anyhow::Result<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
    let mut roots = rustls::RootCertStore::empty();
    let certs = super::cert::read_certs(ca_file).context("api.tls_client_ca")?;
    for c in certs {
        roots
            .add(c)
            .with_context(|| format!("{}: not a usable CA certificate", ca_file.display()))?;
    }
    WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .allow_unauthenticated()
    .build()
    .context("building the client-certificate verifier")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_with(cn: &str, dns: &[&str]) -> Vec<u8> {
        let mut p =
            rcgen::CertificateParams::new(dns.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        let key = rcgen::KeyPair::generate().unwrap();
        p.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn a_listed_name_gives_its_role_and_others_give_none() {
        let roles = ClientRoles::from_config(&BTreeMap::from([
            ("his.hospital.example".to_owned(), "sync".to_owned()),
            ("terminal-7".to_owned(), "terminal".to_owned()),
        ]))
        .unwrap();
        let his = roles
            .identify(&cert_with("HIS", &["his.hospital.example"]))
            .unwrap();
        assert_eq!(his.role, Some(TokenRole::Sync));
        assert_eq!(his.name, "his.hospital.example");
        let term = roles.identify(&cert_with("terminal-7", &[])).unwrap();
        assert_eq!(term.role, Some(TokenRole::Terminal));
        let other = roles
            .identify(&cert_with("laptop", &["laptop.example"]))
            .unwrap();
        assert_eq!(other.role, None);
        assert_eq!(other.name, "laptop");
        assert!(roles.identify(b"garbage").is_none());
    }

    #[test]
    fn only_sync_and_terminal_can_be_given_by_certificate() {
        let err = ClientRoles::from_config(&BTreeMap::from([("x".to_owned(), "admin".to_owned())]))
            .unwrap_err();
        assert!(err.to_string().contains("api.tls_client_roles.x"), "{err}");
    }
}
