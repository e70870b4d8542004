//! SQLite URLs as a user writes them: `sqlite://var/wardgate.db` creates the file.
//!
//! sqlx opens an SQLite URL read-write but refuses to create a missing file unless the URL says
//! `?mode=rwc`, and a missing folder or an unwritable path surfaces as SQLite's bare
//! `(code: 14) unable to open database file`. Here the URL gets `mode=rwc` unless it names a mode
//! itself, and the path is checked first so that the error names the path and what to do.

use std::path::{Path, PathBuf};

use super::StoreError;

/// Where an `sqlite:` URL keeps its data: `Some(file)`, or `None` for an in-memory database.
pub(super) fn file_of(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:").unwrap_or(url);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let in_memory =
        path.is_empty() || path == ":memory:" || query.is_some_and(|q| q.contains("mode=memory"));
    (!in_memory).then(|| PathBuf::from(path))
}

/// The URL to hand to sqlx for `url` (an `sqlite:` URL), or a one-line error about its path.
pub(super) fn prepare(url: &str) -> Result<String, StoreError> {
    let rest = url.strip_prefix("sqlite:").unwrap_or(url);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let in_memory =
        path.is_empty() || path == ":memory:" || query.is_some_and(|q| q.contains("mode=memory"));
    if !in_memory {
        check_path(
            Path::new(path),
            query.is_some_and(|q| q.contains("mode=ro")),
        )?;
    }
    Ok(match query {
        _ if in_memory => url.to_string(),
        Some(q) if q.split('&').any(|kv| kv.starts_with("mode=")) => url.to_string(),
        Some(_) => format!("{url}&mode=rwc"),
        None => format!("{url}?mode=rwc"),
    })
}

fn check_path(path: &Path, read_only: bool) -> Result<(), StoreError> {
    let shown = path.display();
    let fail = |message: String| Err(StoreError::invalid("database.url", message));
    if path.is_dir() {
        return fail(format!(
            "{shown} is a folder; name the database file inside it, e.g. {}",
            path.join("wardgate.db").display()
        ));
    }
    let parent: PathBuf = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return fail(format!(
            "the folder {} for the SQLite database {shown} does not exist: create it (mkdir -p {}) or point database.url elsewhere",
            parent.display(),
            parent.display()
        ));
    }
    if read_only {
        if !path.exists() {
            return fail(format!(
                "{shown} does not exist and mode=ro cannot create it"
            ));
        }
        return Ok(());
    }
    let writable = |p: &Path| nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok();
    if path.exists() {
        if !writable(path) {
            return fail(format!("{shown} is not writable by this user: fix its owner or mode, or point database.url elsewhere"));
        }
    } else if !writable(&parent) {
        return fail(format!(
            "cannot create {shown}: the folder {} is not writable by this user (fix its owner or mode, or point database.url elsewhere)",
            parent.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::prepare;

    #[test]
    fn a_plain_path_gets_create_mode() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        assert_eq!(prepare(&url).unwrap(), format!("{url}?mode=rwc"));
        let url = format!(
            "sqlite://{}?cache=shared",
            dir.path().join("w.db").display()
        );
        assert_eq!(prepare(&url).unwrap(), format!("{url}&mode=rwc"));
    }

    #[test]
    fn an_explicit_mode_and_memory_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rw", dir.path().join("w.db").display());
        assert_eq!(prepare(&url).unwrap(), url);
        assert_eq!(prepare("sqlite::memory:").unwrap(), "sqlite::memory:");
    }

    #[test]
    fn a_missing_folder_is_named_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such");
        let err = prepare(&format!("sqlite://{}/w.db", missing.display()))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&missing.display().to_string()), "{err}");
        assert!(err.contains("mkdir -p"), "{err}");
        assert_eq!(err.lines().count(), 1);
    }

    #[tokio::test]
    async fn connect_creates_the_file_of_a_plain_url_and_names_a_missing_folder() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("var-wardgate.db");
        let mut cfg = crate::store::DatabaseConfig {
            url: format!("sqlite://{}", file.display()),
            ..Default::default()
        };
        let store = crate::store::Store::connect(&cfg).await.unwrap();
        store.migrate().await.unwrap();
        assert!(file.is_file());
        cfg.url = format!("sqlite://{}/missing/w.db", dir.path().display());
        let err = crate::store::Store::connect(&cfg)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("missing") && err.contains("does not exist"),
            "{err}"
        );
    }

    #[test]
    fn a_folder_instead_of_a_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = prepare(&format!("sqlite://{}", dir.path().display()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is a folder"), "{err}");
    }
}
