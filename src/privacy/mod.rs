//! Biometric privacy: what protects the face templates the door holds.
//!
//! Face templates are special-category data (GDPR Art. 9, BIPA): whoever reads the database
//! must not learn a face from it. So every template is sealed before it reaches the store
//! ([`keys`]): XChaCha20-Poly1305 with a fresh random nonce per record and the template's
//! identity (template id, subject id, model id, dimension) as associated data, so a blob copied
//! onto another person or model does not open. Each row names the id of the key that sealed it;
//! the keys themselves never enter the database.
//!
//! Consent ([`consent`]): with `privacy.require_consent` the store refuses to enrol a person
//! without a standing consent record, on every path; withdrawal purges their templates.
//!
//! Retention ([`retention`]): a daily job purges the templates of people discharged or
//! deactivated past their period, or unseen for `privacy.max_idle_days`, and prunes events past
//! `events.retention_days`, leaving a checkpoint the rest of each chain verifies from.
//!
//! The in-memory gallery is decrypted once when it is loaded and by the change feed; nothing
//! decrypted is written anywhere. docs/privacy.md is the page for a compliance office;
//! docs/decisions/0007-template-encryption.md says why this shape.

mod config;
pub mod consent;
pub mod keys;
pub mod retention;

pub use config::PrivacyConfig;
pub use keys::{KeyError, KeySource, TemplateKeys, TemplateRef};
