//! `[privacy]`: where the template keys come from.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[privacy]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// File holding the template keys (one 64-hex-digit key per line, the first seals new
    /// templates, the others only open older ones; `wardgate keys generate` writes one). Must
    /// be readable by the service alone (mode 0600 or 0400): a file that group or others can
    /// read is refused. Used when the systemd credential `template_keys` is absent. Absent too:
    /// on SQLite a key file is created at first start beside the database
    /// (`<database>.template-keys`); on MySQL the service refuses to start, because controllers
    /// sharing a database must share its key (docs/privacy.md, "Keys").
    pub key_file: Option<PathBuf>,
    /// Refuse to enrol a person's face (409 `consent_required`, on every enrolment path)
    /// unless a consent record stands for them.
    pub require_consent: bool,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            key_file: None,
            require_consent: true,
        }
    }
}
