//! Bearer tokens and roles.
//!
//! Tokens are 256 random bits (`wg_` + base64url); the store keeps only a hash (SHA-256, or
//! HMAC-SHA-256 with `auth.token_pepper_file`), so a stolen database opens no door API. Valid
//! tokens are cached in memory: a terminal can still authenticate while the database is down.

use std::collections::HashMap;
use std::sync::RwLock;

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::problem::ApiError;
use super::AppState;
use crate::model::{now_ms, Millis, TokenRole};
use crate::store::{Store, StoreResult};

/// Hashes tokens and checks them against the cached set.
#[derive(Debug)]
pub struct TokenAuth {
    pepper: Option<Vec<u8>>,
    /// hash → (token id, role); revoked tokens are not in it.
    valid: RwLock<HashMap<String, (String, TokenRole)>>,
    /// token id → last time `last_used` was written, to write it at most once a minute.
    touched: RwLock<HashMap<String, Millis>>,
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: String,
    pub role: TokenRole,
}

impl Caller {
    /// Admin always passes; otherwise the role must be one of `roles`.
    pub fn require(&self, roles: &[TokenRole]) -> Result<(), ApiError> {
        if self.role == TokenRole::Admin || roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "role `{}` may not do this",
                self.role.as_str()
            )))
        }
    }
}

impl TokenAuth {
    pub fn new(pepper: Option<Vec<u8>>) -> Self {
        Self {
            pepper,
            valid: RwLock::new(HashMap::new()),
            touched: RwLock::new(HashMap::new()),
        }
    }

    /// Reads the pepper file named by the config, if any.
    pub fn from_config(cfg: &crate::config::AuthConfig) -> std::io::Result<Self> {
        let pepper = match &cfg.token_pepper_file {
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

    pub fn check(&self, token: &str) -> Option<Caller> {
        let h = self.hash(token);
        self.valid
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&h)
            .map(|(id, role)| Caller {
                token_id: id.clone(),
                role: *role,
            })
    }

    /// Whether `last_used` should be written now for this token (at most once a minute).
    fn should_touch(&self, token_id: &str, now: Millis) -> bool {
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
    ) -> StoreResult<(String, crate::model::ApiToken)> {
        let token = Self::generate();
        let rec = store.create_token(label, role, &self.hash(&token)).await?;
        self.reload(store).await?;
        Ok((token, rec))
    }
}

/// The bearer token of a request: `Authorization: Bearer …`, or for WebSocket upgrades (which
/// browsers cannot give headers) the `access_token` query parameter.
fn bearer(parts: &Parts) -> Option<String> {
    if let Some(v) = parts.headers.get(header::AUTHORIZATION) {
        let v = v.to_str().ok()?;
        let (scheme, tok) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| tok.trim().to_owned());
    }
    let is_upgrade = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_upgrade {
        return parts.uri.query().and_then(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == "access_token")
                .map(|(_, v)| v.to_owned())
        });
    }
    None
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = bearer(parts) else {
            // A console session is the same caller with the same role checks (plus CSRF).
            if let Some(caller) = crate::console::session_caller(parts, state)? {
                return Ok(caller);
            }
            // A verified client certificate listed in `api.tls_client_roles` (HTTPS only).
            if let Some(cert) = parts.extensions.get::<crate::tls::ClientCert>() {
                if let Some(role) = cert.role {
                    return Ok(Caller {
                        token_id: format!("cert:{}", cert.name),
                        role,
                    });
                }
            }
            return Err(ApiError::unauthorized(
                "missing bearer token (Authorization: Bearer …), console session or client certificate",
            ));
        };
        // A client that keeps presenting bad tokens is held back before its next one is looked at.
        let ip = super::limits::client_ip(parts);
        state.limits.check_auth(state, ip).await?;
        let Some(caller) = state.auth.check(&token) else {
            state.limits.auth_failed(state, ip, "unknown_token").await;
            return Err(ApiError::unauthorized("unknown or revoked token"));
        };
        let now = now_ms();
        if state.auth.should_touch(&caller.token_id, now) {
            let store = state.store.clone();
            let id = caller.token_id.clone();
            tokio::spawn(async move {
                if let Err(e) = store.touch_token(&id, now).await {
                    log::debug!("cannot record token use: {e}");
                }
            });
        }
        Ok(caller)
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
    fn admin_passes_every_role_check() {
        let admin = Caller {
            token_id: "t".into(),
            role: TokenRole::Admin,
        };
        assert!(admin.require(&[TokenRole::Sync]).is_ok());
        let tech = Caller {
            token_id: "t".into(),
            role: TokenRole::Technician,
        };
        assert!(tech.require(&[TokenRole::Sync]).is_err());
        assert!(tech
            .require(&[TokenRole::Sync, TokenRole::Technician])
            .is_ok());
    }
}

/// A set of roles allowed on an endpoint (admin is always allowed).
pub trait Roles: Send + Sync + 'static {
    const ALLOWED: &'static [TokenRole];
}

/// Admin only.
#[derive(Debug)]
pub struct AdminOnly;
/// Hospital systems (and admin).
#[derive(Debug)]
pub struct SyncRole;
/// Read access for hospital systems and technicians.
#[derive(Debug)]
pub struct SyncOrTechnician;
/// Technicians (and admin).
#[derive(Debug)]
pub struct TechnicianRole;
/// Remote terminals (and admin).
#[derive(Debug)]
pub struct TerminalRole;
/// The door's display screen, and technicians watching what it shows (and admin).
#[derive(Debug)]
pub struct DisplayOrTechnician;

impl Roles for AdminOnly {
    const ALLOWED: &'static [TokenRole] = &[];
}
impl Roles for SyncRole {
    const ALLOWED: &'static [TokenRole] = &[TokenRole::Sync];
}
impl Roles for SyncOrTechnician {
    const ALLOWED: &'static [TokenRole] = &[TokenRole::Sync, TokenRole::Technician];
}
impl Roles for TechnicianRole {
    const ALLOWED: &'static [TokenRole] = &[TokenRole::Technician];
}
impl Roles for TerminalRole {
    const ALLOWED: &'static [TokenRole] = &[TokenRole::Terminal];
}
impl Roles for DisplayOrTechnician {
    const ALLOWED: &'static [TokenRole] = &[TokenRole::Display, TokenRole::Technician];
}

/// A caller already checked against `R`. As an extractor it runs before the body is read, so a
/// caller without the role gets 401/403 and never learns how its body would have been judged.
#[derive(Debug)]
pub struct Auth<R>(pub Caller, pub std::marker::PhantomData<R>);

impl<R: Roles> FromRequestParts<AppState> for Auth<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require(R::ALLOWED)?;
        Ok(Auth(caller, std::marker::PhantomData))
    }
}
