//! The error every section's validation returns, naming the key.
//!
//! A leaf of its own so that a core module validating its `[section]` does not import the
//! configuration root ([`crate::config::Config`]), which gathers the sections of every layer,
//! edges included, and would close an import loop.

use std::path::PathBuf;

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("invalid value for `{key}`: {message}")]
    Invalid { key: String, message: String },
}
