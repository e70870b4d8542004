//! API tokens: hashing and the in-memory set of valid tokens every request is checked against.
//!
//! Tokens are 256 random bits (`wg_` + base64url); the store keeps only a hash (SHA-256, or
//! HMAC-SHA-256 with `auth.token_pepper_file`), so a stolen database opens no door API. Valid
//! tokens are cached in memory, so a terminal still authenticates while the database is down;
//! the change feed keeps the cache fresh.
//!
//! A token the cache does not know yet — made a moment ago by the CLI or another controller,
//! before the feed's next read — is looked up in the store once before it is refused
//! ([`TokenAuth::check_or_lookup`]). The look-up is bounded (a few at a time, each within a
//! short time-out), it only ever *adds* a valid token, and the caller counts a token the store
//! does not hold either as a failed authentication, so it is no way around the failure limit.
//! A revocation still reaches the cache through the feed within its interval.

use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::model::{ApiToken, Millis, TokenRole};
use crate::store::{Store, StoreResult};

/// Look-ups of unknown tokens in the store running at once; more are refused at once (the
/// cache is what serves; the store only covers the feed's last interval).
const MAX_LOOKUPS: usize = 4;

/// Longest a look-up of an unknown token waits for the store.
const LOOKUP_TIMEOUT: Duration = Duration::from_millis(500);

/// The holder of a valid token: which token (its id, never the token) and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub token_id: String,
    pub role: TokenRole,
}

/// Hashes tokens and checks them against the cached set.
#[derive(Debug)]
pub struct TokenAuth {
    pepper: Option<Vec<u8>>,
    /// hash → (token id, role); revoked tokens are not in it.
    valid: RwLock<HashMap<String, (String, TokenRole)>>,
    /// token id → last time `last_used` was written, to write it at most once a minute.
    touched: RwLock<HashMap<String, Millis>>,
    lookups: tokio::sync::Semaphore,
}

impl TokenAuth {
    pub fn new(pepper: Option<Vec<u8>>) -> Self {
        Self {
            pepper,
            valid: RwLock::new(HashMap::new()),
            touched: RwLock::new(HashMap::new()),
            lookups: tokio::sync::Semaphore::new(MAX_LOOKUPS),
        }
    }

    /// Reads the pepper from `file` (`auth.token_pepper_file`), if one is named.
    pub fn with_pepper_file(file: Option<&Path>) -> std::io::Result<Self> {
        let pepper = match file {
            Some(p) => Some(std::fs::read(p)?.trim_ascii().to_vec()),
            None => None,
        };
        Ok(Self::new(pepper))
    }

    /// A new random token (shown once, never stored).
    pub fn generate() -> String {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        format!(
            "wg_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        )
    }

    pub fn hash(&self, token: &str) -> String {
        match &self.pepper {
            Some(key) => {
                let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key size");
                mac.update(token.as_bytes());
                hex::encode(mac.finalize().into_bytes())
            }
            None => hex::encode(Sha256::digest(token.as_bytes())),
        }
    }

    /// Reloads the valid set from the store.
    pub async fn reload(&self, store: &Store) -> StoreResult<()> {
        let tokens = store.list_tokens().await?;
        let map = tokens
            .into_iter()
            .filter(|t| t.revoked_ms.is_none())
            .map(|t| (t.hash, (t.id, t.role)))
            .collect();
        *self
            .valid
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = map;
        Ok(())
    }

    /// The holder of `token` if the cache holds it as valid.
    pub fn check(&self, token: &str) -> Option<Holder> {
        self.cached(&self.hash(token))
    }

    fn cached(&self, hash: &str) -> Option<Holder> {
        self.valid
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(hash)
            .map(|(id, role)| Holder {
                token_id: id.clone(),
                role: *role,
            })
    }

    /// [`check`](Self::check), and for a token the cache does not hold, one bounded look-up in
    /// the store: a valid token found there is added to the cache and accepted. `None`: not a
    /// valid token as far as this controller can tell (unknown, revoked, or the store could not
    /// say in time).
    pub async fn check_or_lookup(&self, store: &Store, token: &str) -> Option<Holder> {
        let hash = self.hash(token);
        if let Some(h) = self.cached(&hash) {
            return Some(h);
        }
        let _slot = self.lookups.try_acquire().ok()?;
        let found = tokio::time::timeout(LOOKUP_TIMEOUT, store.token_by_hash(&hash)).await;
        match found {
            Ok(Ok(Some(ApiToken {
                id,
                role,
                revoked_ms: None,
                ..
            }))) => {
                self.valid
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(hash, (id.clone(), role));
                Some(Holder { token_id: id, role })
            }
            Ok(Ok(_)) => None,
            Ok(Err(e)) => {
                log::debug!("token look-up failed: {e}");
                None
            }
            Err(_) => None,
        }
    }

    /// Whether `last_used` should be written now for this token (at most once a minute).
    pub fn should_touch(&self, token_id: &str, now: Millis) -> bool {
        let mut t = self
            .touched
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match t.get(token_id) {
            Some(last) if now - last < 60_000 => false,
            _ => {
                t.insert(token_id.to_owned(), now);
                true
            }
        }
    }

    /// Creates and stores a token; returns (the token, its record).
    pub async fn create(
        &self,
        store: &Store,
        label: &str,
        role: TokenRole,
    ) -> StoreResult<(String, ApiToken)> {
        let token = Self::generate();
        let rec = store.create_token(label, role, &self.hash(&token)).await?;
        self.reload(store).await?;
        Ok((token, rec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashes_depend_on_pepper() {
        let a = TokenAuth::generate();
        let b = TokenAuth::generate();
        assert_ne!(a, b);
        assert!(a.starts_with("wg_") && a.len() == 46);
        let plain = TokenAuth::new(None);
        let peppered = TokenAuth::new(Some(b"pepper".to_vec()));
        assert_eq!(plain.hash(&a).len(), 64);
        assert_ne!(plain.hash(&a), peppered.hash(&a));
        assert_eq!(peppered.hash(&a), peppered.hash(&a));
    }

    #[test]
    fn use_is_written_at_most_once_a_minute() {
        let auth = TokenAuth::new(None);
        assert!(auth.should_touch("t1", 1_000));
        assert!(!auth.should_touch("t1", 60_999));
        assert!(auth.should_touch("t1", 61_000));
        assert!(auth.should_touch("t2", 1_000), "per token");
    }

    #[tokio::test]
    async fn a_token_the_cache_misses_is_found_in_the_store_and_a_revoked_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::store::DatabaseConfig {
            url: format!("sqlite://{}", dir.path().join("t.db").display()),
            ..Default::default()
        };
        let store = Store::connect(&cfg).await.unwrap();
        store.migrate().await.unwrap();
        // One process made the token; this cache was loaded before it existed.
        let auth = TokenAuth::new(None);
        auth.reload(&store).await.unwrap();
        let maker = TokenAuth::new(None);
        let (token, rec) = maker
            .create(&store, "cli", TokenRole::Terminal)
            .await
            .unwrap();
        assert_eq!(auth.check(&token), None, "the cache has not seen it");
        let holder = auth.check_or_lookup(&store, &token).await.unwrap();
        assert_eq!(holder.token_id, rec.id);
        assert_eq!(holder.role, TokenRole::Terminal);
        assert_eq!(auth.check(&token), Some(holder), "cached from now on");
        // Unknown and revoked tokens stay refused.
        assert_eq!(auth.check_or_lookup(&store, "wg_nope").await, None);
        let (other, rec2) = maker.create(&store, "x", TokenRole::Admin).await.unwrap();
        store.revoke_token(&rec2.id).await.unwrap();
        assert_eq!(auth.check_or_lookup(&store, &other).await, None);
        // The feed's reload drops a token revoked after it was looked up.
        store.revoke_token(&rec.id).await.unwrap();
        auth.reload(&store).await.unwrap();
        assert_eq!(auth.check(&token), None);
    }
}
