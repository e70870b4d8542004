//! Template keys: where they come from, their ids, and sealing and opening a template.
//!
//! - **Cipher.** XChaCha20-Poly1305 (RustCrypto `chacha20poly1305`). The Raspberry Pi 4's
//!   Cortex-A72 has no AES instructions, where a constant-time software AES is several times
//!   slower than ChaCha20; and the 192-bit nonce may be drawn at random for every record by
//!   every controller on a shared database with no counter to coordinate and no birthday limit
//!   in sight.
//! - **Associated data.** Template id, subject id, model id and dimension, each
//!   length-prefixed: a sealed blob copied onto another row, another person or another model
//!   does not open.
//! - **Blob.** `0x01` (format) ‖ nonce (24 B) ‖ ciphertext ‖ tag (16 B).
//! - **Key id.** The first 16 hex digits of SHA-256 over a label and the key: a row names the
//!   key that sealed it without the database holding anything that helps to find the key, and
//!   a wrong key file shows up as an id the rows do not use — one start-up error naming both.
//! - **Sources, in order.** The systemd credential `template_keys` (`LoadCredentialEncrypted=`
//!   can seal it to the board's TPM2), `privacy.key_file`, and on SQLite alone a file created at
//!   first start beside the database. An in-memory SQLite database gets a key that lives as
//!   long as the process, like its data.
//!
//! A key file holds one key per line (64 hex digits; `#` starts a comment): the first seals,
//! the rest only open. Rotation is: put a new key first, restart every controller, run
//! `wardgate keys rotate`, then drop the old line.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The systemd credential name (`LoadCredential=template_keys:…` in the unit).
pub const CREDENTIAL: &str = "template_keys";

const FORMAT: u8 = 1;
const NONCE: usize = 24;
const TAG: usize = 16;
const AAD_LABEL: &[u8] = b"wardgate-template-v1";
const ID_LABEL: &[u8] = b"wardgate template key id v1\0";

/// Which template a blob belongs to: the associated data it is sealed with.
#[derive(Debug, Clone, Copy)]
pub struct TemplateRef<'a> {
    pub face_id: &'a str,
    pub subject_id: &'a str,
    pub model_id: &'a str,
    pub dim: usize,
}

impl TemplateRef<'_> {
    fn aad(&self) -> Vec<u8> {
        let dim = u32::try_from(self.dim).unwrap_or(u32::MAX).to_le_bytes();
        let mut out = Vec::with_capacity(96);
        for part in [
            AAD_LABEL,
            self.face_id.as_bytes(),
            self.subject_id.as_bytes(),
            self.model_id.as_bytes(),
            &dim[..],
        ] {
            out.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_le_bytes());
            out.extend_from_slice(part);
        }
        out
    }
}

/// Where the keys in use were read from (shown at start and by `wardgate keys status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `$CREDENTIALS_DIRECTORY/template_keys`.
    Credential(PathBuf),
    /// `privacy.key_file`.
    File(PathBuf),
    /// Created at first start beside the SQLite database.
    Generated(PathBuf),
    /// An in-memory database's key, gone with the process.
    Ephemeral,
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Credential(p) => write!(f, "systemd credential {}", p.display()),
            KeySource::File(p) => write!(f, "privacy.key_file {}", p.display()),
            KeySource::Generated(p) => write!(f, "{} (created beside the database)", p.display()),
            KeySource::Ephemeral => f.write_str("a key of this process (in-memory database)"),
        }
    }
}

/// What stops the templates from being sealed or opened. Each message names what to do.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("template keys {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "template keys {}: mode {mode:04o} lets group or others read it; `chmod 600 {}` (and chown it to the service's user)",
        path.display(), path.display()
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("template keys {}, line {line}: {message}", path.display())]
    Format {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("template keys {}: no key in the file (`wardgate keys generate` writes one)", path.display())]
    Empty { path: PathBuf },
    #[error(
        "no template key: on MySQL every controller sharing the database must hold the same key — \
         install it as the systemd credential `template_keys` or set privacy.key_file \
         (`wardgate keys generate --out FILE` makes one; docs/privacy.md, \"Keys\")"
    )]
    Missing,
    #[error(
        "{rows} stored face template(s) are sealed with key id {key_id}, which the template keys in use \
         ({origin}: {have}) do not hold; nothing was changed — install the key file that holds {key_id} \
         (`wardgate keys status` prints the ids a file holds)"
    )]
    UnknownKey {
        key_id: String,
        rows: i64,
        have: String,
        origin: String,
    },
    #[error(
        "face template {face_id} does not open with key id {key_id}: the row was altered or copied \
         from another record"
    )]
    Open { face_id: String, key_id: String },
}

struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

/// The keys of this controller: the first seals, every one opens what it sealed.
pub struct TemplateKeys {
    keys: Vec<Key>,
    source: KeySource,
}

impl fmt::Debug for TemplateKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Ids only: the key bytes never reach a log.
        f.debug_struct("TemplateKeys")
            .field("ids", &self.ids().collect::<Vec<_>>())
            .field("source", &self.source)
            .finish()
    }
}

/// The id of a key (see the module documentation).
pub fn key_id(key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(ID_LABEL);
    h.update(key);
    hex::encode(&h.finalize()[..8])
}

/// A new random key as one key-file line.
pub fn generate_line() -> String {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    hex::encode(key)
}

impl TemplateKeys {
    /// Keys from a key file's text (see the module documentation for the format).
    pub fn parse(text: &str, path: &Path, source: KeySource) -> Result<Self, KeyError> {
        let mut keys: Vec<Key> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let fail = |message: &str| KeyError::Format {
                path: path.to_path_buf(),
                line: i + 1,
                message: message.to_owned(),
            };
            let bytes =
                hex::decode(line).map_err(|_| fail("not hexadecimal (a key is 64 hex digits)"))?;
            let key: [u8; 32] = bytes
                .try_into()
                .map_err(|_| fail("a key is 64 hex digits (32 bytes)"))?;
            let id = key_id(&key);
            if keys.iter().any(|k| k.id == id) {
                return Err(fail("the same key twice"));
            }
            keys.push(Key {
                id,
                cipher: XChaCha20Poly1305::new(&key.into()),
            });
        }
        if keys.is_empty() {
            return Err(KeyError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(Self { keys, source })
    }

    /// One random key held in memory only (an in-memory database, unit tests).
    pub fn ephemeral() -> Self {
        let line = generate_line();
        Self::parse(&line, Path::new("(memory)"), KeySource::Ephemeral)
            .unwrap_or_else(|_| unreachable!("a generated key parses"))
    }

    /// Reads a key file, refusing one that group or others may read.
    pub fn read_file(path: &Path, source: KeySource) -> Result<Self, KeyError> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(path).map_err(|e| KeyError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 && !matches!(source, KeySource::Credential(_)) {
                return Err(KeyError::Permissions {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        Self::parse(&text, path, source)
    }

    /// The keys this controller uses, from the first source that has them (module
    /// documentation). `sqlite_file` is the SQLite database's file (`None` on MySQL);
    /// `in_memory` an SQLite database without one.
    pub fn resolve(
        key_file: Option<&Path>,
        credentials_dir: Option<&Path>,
        sqlite_file: Option<&Path>,
        in_memory: bool,
    ) -> Result<Self, KeyError> {
        if let Some(dir) = credentials_dir {
            let p = dir.join(CREDENTIAL);
            if p.exists() {
                return Self::read_file(&p, KeySource::Credential(p.clone()));
            }
        }
        if let Some(p) = key_file {
            return Self::read_file(p, KeySource::File(p.to_path_buf()));
        }
        if in_memory {
            return Ok(Self::ephemeral());
        }
        let Some(db) = sqlite_file else {
            return Err(KeyError::Missing);
        };
        let mut name = db.as_os_str().to_owned();
        name.push(".template-keys");
        let p = PathBuf::from(name);
        if !p.exists() {
            create_key_file(&p)?;
            log::warn!(
                "created the template key file {} beside the database: back it up with the \
                 database, for without it no stored face opens",
                p.display()
            );
        }
        Self::read_file(&p, KeySource::Generated(p.clone()))
    }

    /// The id of the key that seals new templates.
    pub fn primary_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Every key id held, the sealing one first.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    pub fn has(&self, id: &str) -> bool {
        self.keys.iter().any(|k| k.id == id)
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// Seals `plain` for template `t` under the primary key: (key id, blob).
    pub fn seal(&self, t: TemplateRef<'_>, plain: &[u8]) -> (String, Vec<u8>) {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = t.aad();
        let ct = key
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .unwrap_or_else(|_| unreachable!("XChaCha20-Poly1305 sealing does not fail"));
        let mut blob = Vec::with_capacity(1 + NONCE + ct.len());
        blob.push(FORMAT);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ct);
        (key.id.clone(), blob)
    }

    /// Opens a blob sealed under `key_id` for template `t`.
    pub fn open(&self, key_id: &str, t: TemplateRef<'_>, blob: &[u8]) -> Result<Vec<u8>, KeyError> {
        let fail = || KeyError::Open {
            face_id: t.face_id.to_owned(),
            key_id: key_id.to_owned(),
        };
        let key = self.keys.iter().find(|k| k.id == key_id).ok_or_else(fail)?;
        if blob.len() < 1 + NONCE + TAG || blob[0] != FORMAT {
            return Err(fail());
        }
        let aad = t.aad();
        key.cipher
            .decrypt(
                XNonce::from_slice(&blob[1..=NONCE]),
                Payload {
                    msg: &blob[1 + NONCE..],
                    aad: &aad,
                },
            )
            .map_err(|_| fail())
    }
}

/// Writes a new key file with one key, readable by its owner only, atomically (a crash leaves
/// either no file or a whole one).
pub fn create_key_file(path: &Path) -> Result<(), KeyError> {
    let io = |e| KeyError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let line = generate_line();
    let bytes: [u8; 32] = hex::decode(&line)
        .ok()
        .and_then(|b| b.try_into().ok())
        .unwrap_or_else(|| unreachable!("a generated key is 32 bytes"));
    // A left-over temporary file keeps its old mode: start afresh.
    let _ = std::fs::remove_file(&tmp);
    let mut f = opts.open(&tmp).map_err(io)?;
    writeln!(
        f,
        "# Wardgate template key {}: the first key seals new templates, later lines only open old ones.\n{line}",
        key_id(&bytes)
    )
    .map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t<'a>(face: &'a str, subject: &'a str) -> TemplateRef<'a> {
        TemplateRef {
            face_id: face,
            subject_id: subject,
            model_id: "edgeface_xs",
            dim: 512,
        }
    }

    #[test]
    fn seals_and_opens_and_binds_the_template() {
        let keys = TemplateKeys::ephemeral();
        let plain = b"0123456789abcdef".to_vec();
        let (id, blob) = keys.seal(t("f1", "s1"), &plain);
        assert_eq!(id, keys.primary_id());
        assert!(!blob.windows(plain.len()).any(|w| w == plain));
        assert_eq!(keys.open(&id, t("f1", "s1"), &blob).unwrap(), plain);
        // Same key, another subject / template / model: refused.
        assert!(keys.open(&id, t("f1", "s2"), &blob).is_err());
        assert!(keys.open(&id, t("f2", "s1"), &blob).is_err());
        let mut other_model = t("f1", "s1");
        other_model.model_id = "mobilefacenet";
        assert!(keys.open(&id, other_model, &blob).is_err());
        // A flipped bit: refused.
        let mut bad = blob.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(keys.open(&id, t("f1", "s1"), &bad).is_err());
        // Two seals of the same template differ (fresh nonce).
        assert_ne!(keys.seal(t("f1", "s1"), &plain).1, blob);
    }

    #[test]
    fn key_files_parse_with_old_keys_and_refuse_bad_lines() {
        let (a, b) = (generate_line(), generate_line());
        let p = Path::new("k");
        let keys = TemplateKeys::parse(
            &format!("# new\n{a}\n\n{b} # old\n"),
            p,
            KeySource::Ephemeral,
        )
        .unwrap();
        let ids: Vec<_> = keys.ids().map(str::to_owned).collect();
        assert_eq!(ids.len(), 2);
        assert_eq!(keys.primary_id(), ids[0]);
        // What the second (old) key sealed, a keyring holding it opens.
        let old = TemplateKeys::parse(&b, p, KeySource::Ephemeral).unwrap();
        let (id, blob) = old.seal(t("f", "s"), b"x");
        assert_eq!(keys.open(&id, t("f", "s"), &blob).unwrap(), b"x");
        for bad in ["abc", &a[..62], &format!("{a}\n{a}"), "# only a comment"] {
            assert!(
                TemplateKeys::parse(bad, p, KeySource::Ephemeral).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_readable_key_file_is_refused_and_a_generated_one_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.db");
        let keys = TemplateKeys::resolve(None, None, Some(&db), false).unwrap();
        let file = dir.path().join("w.db.template-keys");
        assert_eq!(keys.source(), &KeySource::Generated(file.clone()));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // The second start reads the same key.
        let again = TemplateKeys::resolve(None, None, Some(&db), false).unwrap();
        assert_eq!(again.primary_id(), keys.primary_id());
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = TemplateKeys::resolve(Some(&file), None, None, false).unwrap_err();
        assert!(matches!(err, KeyError::Permissions { .. }), "{err}");
        assert!(matches!(
            TemplateKeys::resolve(None, None, None, false).unwrap_err(),
            KeyError::Missing
        ));
        // A credential comes first.
        std::fs::write(dir.path().join(CREDENTIAL), generate_line()).unwrap();
        let cred = TemplateKeys::resolve(Some(&file), Some(dir.path()), Some(&db), false).unwrap();
        assert!(matches!(cred.source(), KeySource::Credential(_)));
        assert_ne!(cred.primary_id(), keys.primary_id());
    }
}
