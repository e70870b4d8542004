//! Configuration: one TOML file plus `WARDGATE_<SECTION>__<KEY>` environment overrides.
//!
//! Every key has a default, so an empty file (or no file at all, when running the demo) is a
//! valid configuration. Each section lives next to the code that uses it (`camera::CameraConfig`,
//! `door::DoorConfig`, …) and is only aggregated here, so a module owns its own knobs.
//! The reference of every key with its default is `docs/configuration.md`; a unit test keeps that
//! file and [`Config::default`] in step.
//!
//! Why env overrides with a double underscore: section and key names contain single
//! underscores (`embedding_dim`), so `__` is the only unambiguous separator.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::config_error::ConfigError;
pub use crate::matching::MatchingConfig;
pub use crate::store::{redact_url, DatabaseConfig};

/// Where the configuration is read from when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/wardgate/wardgate.toml";

/// The prefix of environment overrides.
pub const ENV_PREFIX: &str = "WARDGATE_";

/// The whole effective configuration.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub database: DatabaseConfig,
    pub api: ApiConfig,
    pub auth: AuthConfig,
    pub vision: crate::vision::VisionConfig,
    pub matching: MatchingConfig,
    pub access: crate::access::AccessConfig,
    pub events: EventsConfig,
    pub camera: crate::camera::CameraConfig,
    pub door: crate::door::DoorConfig,
    pub pipeline: crate::pipeline::PipelineConfig,
    pub liveness: crate::liveness::LivenessConfig,
    pub audio: crate::audio::AudioConfig,
    pub console: crate::console::ConsoleConfig,
    pub privacy: crate::privacy::PrivacyConfig,
}

/// `[api]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Address the REST/WebSocket API and the web UI listen on.
    pub listen: SocketAddr,
    /// Largest accepted request body, bytes (a base64 photo must fit).
    pub max_body_bytes: usize,
    /// Largest accepted WebSocket message on `/ws/auth`, bytes; larger closes with 1008.
    pub ws_max_message_bytes: usize,
    /// Largest page size of list endpoints.
    pub max_page_size: u32,
    /// Plain HTTP on an address other than loopback carries bearer tokens and face photos in
    /// clear over the hospital network, so `api.listen` must be a loopback address unless this is
    /// `true` (a board behind a TLS-terminating proxy on the same host, a lab bench).
    pub allow_plain_http: bool,
    /// Address of the HTTPS listener (API, WebSockets and console over TLS), e.g.
    /// `0.0.0.0:8443`; absent: no HTTPS.
    pub tls_listen: Option<SocketAddr>,
    /// PEM certificate chain for HTTPS (e.g. issued by the hospital CA). With `tls_key_file`;
    /// absent: systemd credentials `tls.crt`/`tls.key` when given, else a per-board self-signed
    /// certificate in `tls_dir`, created at first start.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// Where the self-signed certificate (`cert.pem`) and its key (`key.pem`, mode 0600) are
    /// kept; they are created once and reused, so a pinned fingerprint stays valid.
    pub tls_dir: PathBuf,
    /// Extra names (DNS names or IP addresses) the self-signed certificate is made for, besides
    /// the host name, `localhost`, 127.0.0.1 and ::1.
    pub tls_names: Vec<String>,
    /// PEM file of the CA(s) whose client certificates are accepted (mTLS). Absent: no client
    /// certificates are asked for.
    pub tls_client_ca: Option<PathBuf>,
    /// Client-certificate name (subject CN, or a DNS subject alternative name) → role, for
    /// clients that authenticate with a certificate instead of a bearer token. Only `sync` and
    /// `terminal` may be given this way.
    pub tls_client_roles: std::collections::BTreeMap<String, String>,
    /// Decisions one token (or client certificate) may ask for per minute over `/ws/auth` and
    /// `POST /api/v1/decisions`; more are refused (`rate_limited`, 429) until the budget refills.
    /// 0: no ceiling.
    pub ws_auth_max_decisions_per_minute: u32,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 8 * 1024 * 1024,
            ws_max_message_bytes: 256 * 1024,
            max_page_size: 500,
            allow_plain_http: false,
            tls_listen: None,
            tls_cert_file: None,
            tls_key_file: None,
            tls_dir: PathBuf::from("var/tls"),
            tls_names: Vec::new(),
            tls_client_ca: None,
            tls_client_roles: std::collections::BTreeMap::new(),
            ws_auth_max_decisions_per_minute: 600,
        }
    }
}

/// `[auth]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// File holding the token pepper (HMAC key for stored token hashes). Empty: tokens are hashed
    /// with SHA-256 only, which is still safe because tokens carry 256 random bits.
    pub token_pepper_file: Option<PathBuf>,
    /// Bootstrap admin token, read once from this file at start-up and stored hashed when no
    /// admin token exists yet (systemd `LoadCredential=`). Useful for unattended provisioning.
    pub bootstrap_admin_token_file: Option<PathBuf>,
    /// Failed authentications (unknown or revoked bearer token) one client address may make in
    /// `failure_window_secs` before it is answered 429 with `Retry-After`. Guessing a 256-bit
    /// token is hopeless anyway; the limit keeps a misconfigured or hostile client from flooding
    /// the controller and the audit log.
    pub max_failures: u32,
    /// The sliding window of `max_failures`, seconds.
    pub failure_window_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_pepper_file: None,
            bootstrap_admin_token_file: None,
            max_failures: 10,
            failure_window_secs: 60,
        }
    }
}

/// `[events]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// Name of this controller in the audit log; each node keeps its own hash chain, so give
    /// every controller sharing one MySQL database a different name.
    pub node: String,
    /// Directory where events are spooled while the database is unreachable.
    pub spool_dir: PathBuf,
    /// Seconds between attempts to flush the spool back into the database.
    pub flush_interval_secs: u64,
    /// Capacity of the live broadcast feeding `/ws/events`; slow subscribers skip ahead.
    pub broadcast_capacity: usize,
    /// This controller's Ed25519 key (PKCS#8) that signs `wardgate audit export` files; created
    /// at the first export (0600). The systemd credential `audit_signing_key` takes its place
    /// when given. `check-config` prints its public key, which `audit verify --pubkey` takes.
    pub audit_key_file: PathBuf,
    /// Days events are kept; older ones are pruned by the daily retention job, leaving a
    /// checkpoint from which the rest of each chain still verifies (docs/privacy.md,
    /// "Retention"). 0 (the default) keeps every event; HIPAA asks for six years (2,190 days).
    pub retention_days: u32,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            node: "door-controller".into(),
            spool_dir: PathBuf::from("var/spool"),
            flush_interval_secs: 5,
            broadcast_capacity: 1024,
            audit_key_file: PathBuf::from("var/audit-ed25519.pk8"),
            retention_days: 0,
        }
    }
}

/// Keys this firmware no longer reads, with what replaced them. A configuration that still
/// sets one gets an error naming the replacement instead of serde's "unknown field".
const RETIRED_KEYS: &[(&str, &str, &str)] = &[
    (
        "pipeline",
        "require_liveness",
        "was replaced by `liveness.mode` (\"off\", \"passive\", \"challenge\" or \"strict\", \
         default \"challenge\"); remove the key and set [liveness] mode instead",
    ),
    (
        "vision",
        "liveness_threshold",
        "was retired with the anti-spoofing model, which scored prints, screens and live faces \
         alike; liveness is set by `liveness.mode` (\"off\", \"passive\", \"challenge\" or \
         \"strict\"): remove the key",
    ),
];

/// Refuses the first [`RETIRED_KEYS`] entry that `doc` (file and overrides) still sets.
fn refuse_retired_keys(doc: &toml::Table) -> Result<(), ConfigError> {
    for (section, key, message) in RETIRED_KEYS {
        let set = doc
            .get(*section)
            .and_then(toml::Value::as_table)
            .is_some_and(|t| t.contains_key(*key));
        if set {
            return Err(ConfigError::Invalid {
                key: format!("{section}.{key}"),
                message: (*message).to_owned(),
            });
        }
    }
    Ok(())
}

impl Config {
    /// Loads `path` (a missing file is an error only if `required`), applies environment
    /// overrides from `env`, and validates.
    pub fn load(
        path: &Path,
        required: bool,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => String::new(),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let mut doc: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        apply_env(&mut doc, env)?;
        Self::from_table(doc, path)
    }

    /// Parses a TOML string with no overrides (tests, examples).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let path = Path::new("<string>");
        let doc: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Self::from_table(doc, path)
    }

    /// The configuration `doc` describes (`path` names it in errors), validated.
    fn from_table(doc: toml::Table, path: &Path) -> Result<Self, ConfigError> {
        refuse_retired_keys(&doc)?;
        let cfg: Config =
            Config::deserialize(toml::Value::Table(doc)).map_err(|e| ConfigError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values that types alone cannot (ranges, schemes, consistency).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: &str| {
            Err(ConfigError::Invalid {
                key: key.into(),
                message: message.into(),
            })
        };
        let url = &self.database.url;
        if !(url.starts_with("sqlite:") || url.starts_with("mysql:") || url.starts_with("mariadb:"))
        {
            return bad(
                "database.url",
                "must start with sqlite:, mysql: or mariadb:",
            );
        }
        if self.database.max_connections == 0 {
            return bad("database.max_connections", "must be at least 1");
        }
        if !(10..=1000).contains(&self.database.change_poll_ms) {
            return bad(
                "database.change_poll_ms",
                "must be 10 to 1000 (milliseconds)",
            );
        }
        if !(self.matching.threshold.is_finite()
            && self.matching.threshold > -1.0
            && self.matching.threshold <= 1.0)
        {
            return bad(
                "matching.threshold",
                "must be a cosine similarity in (-1, 1]",
            );
        }
        if !(0.0..=0.1).contains(&self.matching.target_fpir) {
            return bad(
                "matching.target_fpir",
                "must be between 0 (fixed threshold) and 0.1",
            );
        }
        if !(0.0..=0.5).contains(&self.matching.margin) {
            return bad("matching.margin", "must be between 0 and 0.5");
        }
        if self.matching.top_k == 0 {
            return bad("matching.top_k", "must be at least 1");
        }
        if self.api.max_body_bytes < 1024 {
            return bad("api.max_body_bytes", "must be at least 1024");
        }
        if self.api.ws_max_message_bytes < 1024 {
            return bad("api.ws_max_message_bytes", "must be at least 1024");
        }
        if self.api.max_page_size == 0 {
            return bad("api.max_page_size", "must be at least 1");
        }
        if !self.api.listen.ip().is_loopback() && !self.api.allow_plain_http {
            return bad(
                "api.listen",
                "plain HTTP must listen on a loopback address (127.0.0.1, ::1); serve the network over HTTPS with api.tls_listen, or set api.allow_plain_http = true",
            );
        }
        if self.api.tls_cert_file.is_some() != self.api.tls_key_file.is_some() {
            return bad(
                "api.tls_cert_file",
                "api.tls_cert_file and api.tls_key_file go together: give both or neither",
            );
        }
        if self.api.tls_listen.is_some_and(|t| t == self.api.listen) {
            return bad("api.tls_listen", "must differ from api.listen");
        }
        for (name, role) in &self.api.tls_client_roles {
            if name.trim().is_empty() {
                return bad(
                    "api.tls_client_roles",
                    "certificate names must not be empty",
                );
            }
            if !matches!(role.as_str(), "sync" | "terminal") {
                return bad(
                    "api.tls_client_roles",
                    "client certificates may only be given the roles sync or terminal",
                );
            }
        }
        if !self.api.tls_client_roles.is_empty() && self.api.tls_client_ca.is_none() {
            return bad(
                "api.tls_client_roles",
                "needs api.tls_client_ca (the CA that issues the client certificates)",
            );
        }
        if self.auth.max_failures == 0 {
            return bad("auth.max_failures", "must be at least 1");
        }
        if !(1..=86_400).contains(&self.auth.failure_window_secs) {
            return bad("auth.failure_window_secs", "must be 1 to 86400 (seconds)");
        }
        if self.events.node.is_empty() || self.events.node.len() > 64 {
            return bad("events.node", "must be 1 to 64 characters");
        }
        if self.events.broadcast_capacity == 0 {
            return bad("events.broadcast_capacity", "must be at least 1");
        }
        self.vision.validate()?;
        self.access.validate()?;
        self.camera.validate()?;
        self.door.validate()?;
        self.pipeline.validate()?;
        self.liveness.validate()?;
        if self.liveness.mode.needs_infrared() && self.camera.infrared().is_none() {
            return bad(
                "camera.ir_device",
                "liveness.mode = \"strict\" needs the near-infrared camera: name its V4L2 device \
                 here, or choose liveness.mode = \"challenge\"",
            );
        }
        self.audio.validate()?;
        self.console.validate()?;
        Ok(())
    }

    /// The effective configuration as TOML with secrets redacted (`check-config`).
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database.url = redact_url(&shown.database.url);
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// Applies `WARDGATE_SECTION__KEY=value` overrides. Values are parsed as TOML scalars or arrays
/// (`8`, `0.6`, `true`, `[1, 2]`) and fall back to a plain string, so
/// `WARDGATE_DATABASE__URL=mysql://…` needs no quoting.
fn apply_env(
    doc: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    for (var, raw) in env {
        let Some(path) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let parts: Vec<String> = path.split("__").map(str::to_lowercase).collect();
        if parts.len() < 2 || parts.iter().any(String::is_empty) {
            // WARDGATE_CONFIG and friends are not overrides.
            continue;
        }
        let value = parse_env_value(&raw);
        let mut table = &mut *doc;
        for section in &parts[..parts.len() - 1] {
            let entry = table
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            table = match entry {
                toml::Value::Table(t) => t,
                _ => {
                    return Err(ConfigError::Env {
                        var,
                        message: format!("`{section}` is not a section"),
                    })
                }
            };
        }
        table.insert(parts[parts.len() - 1].clone(), value);
    }
    Ok(())
}

fn parse_env_value(raw: &str) -> toml::Value {
    let probe = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&probe) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn missing_optional_file_gives_defaults() {
        let cfg = Config::load(Path::new("/nonexistent/wardgate.toml"), false, env(&[])).unwrap();
        assert_eq!(cfg, Config::default());
        assert_eq!(cfg.vision.embedding_dim, 512);
    }

    #[test]
    fn missing_required_file_is_an_error() {
        let err = Config::load(Path::new("/nonexistent/wardgate.toml"), true, env(&[]));
        assert!(matches!(err, Err(ConfigError::Read { .. })));
    }

    #[test]
    fn env_overrides_file_values_and_types() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.toml");
        std::fs::write(
            &path,
            "[matching]\nthreshold = 0.4\n[api]\nlisten = \"127.0.0.1:9000\"\n",
        )
        .unwrap();
        let cfg = Config::load(
            &path,
            true,
            env(&[
                ("WARDGATE_MATCHING__THRESHOLD", "0.61"),
                ("WARDGATE_DATABASE__URL", "mysql://u:secret@db:3306/w"),
                ("WARDGATE_CONFIG", "/ignored"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert!((cfg.matching.threshold - 0.61).abs() < 1e-6);
        assert_eq!(cfg.api.listen.port(), 9000);
        assert_eq!(cfg.database.url, "mysql://u:secret@db:3306/w");
        let shown = cfg.to_redacted_toml();
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("mysql://u:***@db:3306/w"));
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let err = Config::from_toml("[matching]\nthreshhold = 0.5\n").unwrap_err();
        assert!(err.to_string().contains("threshhold"), "{err}");
        let err = Config::from_toml("[matching]\nthreshold = 1.5\n").unwrap_err();
        assert!(err.to_string().contains("matching.threshold"), "{err}");
        let err = Config::from_toml("[database]\nurl = \"postgres://x\"\n").unwrap_err();
        assert!(err.to_string().contains("database.url"), "{err}");
        let err = Config::from_toml("[api]\nlisten = \"0.0.0.0:8080\"\n").unwrap_err();
        assert!(err.to_string().contains("api.tls_listen"), "{err}");
        let open = Config::from_toml("[api]\nlisten = \"0.0.0.0:8080\"\nallow_plain_http = true\n");
        assert!(open.is_ok(), "{open:?}");
        let err = Config::from_toml("[api.tls_client_roles]\nhis = \"admin\"\n").unwrap_err();
        assert!(err.to_string().contains("api.tls_client_roles"), "{err}");
        let err = Config::from_toml("[api]\ntls_cert_file = \"/x.pem\"\n").unwrap_err();
        assert!(err.to_string().contains("api.tls_key_file"), "{err}");
        let err = Config::load(
            Path::new("/nonexistent"),
            false,
            env(&[("WARDGATE_VISION__EMBEDDING_DIM", "zero")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("embedding_dim"), "{err}");
    }

    #[test]
    fn the_old_liveness_switch_names_its_replacement() {
        let err = Config::from_toml("[pipeline]\nrequire_liveness = true\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("pipeline.require_liveness"), "{text}");
        assert!(text.contains("liveness.mode"), "{text}");
        let err = Config::from_toml("[vision]\nliveness_threshold = 0.2\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("vision.liveness_threshold"), "{text}");
        assert!(text.contains("liveness.mode"), "{text}");
        // An environment override is refused the same way as the file.
        let err = Config::load(
            Path::new("/nonexistent/wardgate.toml"),
            false,
            env(&[("WARDGATE_VISION__LIVENESS_THRESHOLD", "0.2")]),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("vision.liveness_threshold"),
            "{err}"
        );
        let cfg = Config::from_toml("[liveness]\nmode = \"passive\"\n").unwrap();
        assert_eq!(cfg.liveness.mode, crate::liveness::Mode::Passive);
        let err = Config::from_toml("[liveness]\nmode = \"maybe\"\n").unwrap_err();
        assert!(err.to_string().contains("maybe"), "{err}");
    }

    #[test]
    fn strict_liveness_needs_the_infrared_camera() {
        let err = Config::from_toml("[liveness]\nmode = \"strict\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("camera.ir_device"), "{text}");
        let cfg = Config::from_toml(
            "[liveness]\nmode = \"strict\"\n[camera]\nir_device = \"/dev/video2\"\n",
        )
        .unwrap();
        assert!(cfg.liveness.mode.needs_infrared());
        assert_eq!(cfg.camera.infrared().unwrap().device, "/dev/video2");
        assert_eq!(
            cfg.camera.infrared().unwrap().source,
            crate::camera::SourceKind::V4l2
        );
    }

    #[test]
    fn every_key_is_documented() {
        let doc = include_str!("../docs/configuration.md");
        let rendered = toml::to_string(&Config::default()).unwrap();
        let table: toml::Table = toml::from_str(&rendered).unwrap();
        let mut missing = Vec::new();
        for (section, value) in &table {
            if let toml::Value::Table(keys) = value {
                for key in keys.keys() {
                    let needle = format!("`{section}.{key}`");
                    if !doc.contains(&needle) {
                        missing.push(needle);
                    }
                }
            }
        }
        // Option keys that default to None are not rendered; they are listed explicitly.
        for key in [
            "`auth.token_pepper_file`",
            "`auth.bootstrap_admin_token_file`",
            "`api.tls_listen`",
            "`api.tls_cert_file`",
            "`api.tls_key_file`",
            "`api.tls_client_ca`",
            "`vision.flip_test`",
            "`privacy.key_file`",
        ] {
            if !doc.contains(key) {
                missing.push(key.to_owned());
            }
        }
        assert!(missing.is_empty(), "undocumented keys: {missing:?}");
    }

    // `[door]` as the whole file parses it (the door module validates its own section).
    #[test]
    fn lines_parse_as_offsets_or_names() {
        let cfg = Config::from_toml(
            "[door]\nbackend = \"gpiocdev\"\nrelay_line = \"DOOR_RELAY\"\ncontact_line = 4\n",
        )
        .unwrap();
        assert_eq!(
            cfg.door.relay_line,
            crate::door::LineRef::Name("DOOR_RELAY".into())
        );
        assert_eq!(cfg.door.contact_line, Some(crate::door::LineRef::Offset(4)));
        assert_eq!(cfg.door.rex_line, None);
    }

    #[test]
    fn bad_values_name_the_key() {
        for (toml, key) in [
            ("unlock_pulse_ms = 5", "door.unlock_pulse_ms"),
            ("contact_line = 17", "door.contact_line"),
            ("rex_line = \"\"", "door.rex_line"),
            ("id = \"a b\"", "door.id"),
            (
                "held_open_prealarm_secs = 40",
                "door.held_open_prealarm_secs",
            ),
            ("max_hold_minutes = 0", "door.max_hold_minutes"),
            ("fire_debounce_ms = 9000", "door.fire_debounce_ms"),
            ("buzzer_line = 17", "door.buzzer_line"),
            ("denied_indicator_ms = 5", "door.denied_indicator_ms"),
            ("lock_type = \"fail_open\"", "lock_type"),
            ("relay_lin = 3", "relay_lin"),
        ] {
            let err = Config::from_toml(&format!("[door]\n{toml}\n")).unwrap_err();
            assert!(err.to_string().contains(key), "{toml}: {err}");
        }
    }

    #[test]
    fn rppal_backend_needs_bcm_numbers() {
        let err = Config::from_toml("[door]\nbackend = \"rppal\"\nrelay_line = \"RELAY\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("door.relay_line") || err.contains("door.backend"),
            "{err}"
        );
    }
}
