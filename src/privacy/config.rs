//! `[privacy]`: where the template keys come from, whether enrolment needs consent, and how
//! long templates are kept.

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
    /// Days after a patient's discharge (any status but `active`) until their face templates
    /// are purged; 0 keeps them until another rule or an admin removes them.
    pub discharged_patient_days: u32,
    /// Days after a staff member's deactivation (any status but `active`) until their face
    /// templates are purged; 0: never by this rule.
    pub inactive_staff_days: u32,
    /// Days a person may go unseen at every door (no decision naming them, no new template)
    /// before their templates are purged; 1,095 is BIPA's three years. 0: never by this rule.
    pub max_idle_days: u32,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            key_file: None,
            require_consent: true,
            discharged_patient_days: 30,
            inactive_staff_days: 90,
            max_idle_days: 1095,
        }
    }
}
