//! `[database]`: where the store lives, and how its URL is shown without the password.

use serde::{Deserialize, Serialize};

/// `[database]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (embedded default; the file is created) or `mysql://user:pass@host:3306/db`; a MySQL
    /// URL may list several hosts (`mysql://u:p@db1,db2:3307,db3/db`), tried in order, with
    /// failover to the next that answers when the one in use stops.
    pub url: String,
    /// Upper bound of pooled connections.
    pub max_connections: u32,
    /// Seconds to wait for a connection before the store reports itself unavailable.
    pub connect_timeout_secs: u64,
    /// Milliseconds between two reads of the change feed: how soon a write made elsewhere
    /// (another controller, the CLI) reaches this controller's caches. 10 to 1000.
    pub change_poll_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://wardgate.db".into(),
            max_connections: 8,
            connect_timeout_secs: 5,
            change_poll_ms: 250,
        }
    }
}

/// Hides the password of a `scheme://user:password@host/…` URL.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}
