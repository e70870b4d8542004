//! Who is calling: a bearer token (checked by the core's [`crate::tokens`]), a console
//! session or a client certificate, and the role checks handlers declare.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};

use super::problem::ApiError;
use super::AppState;
use crate::model::TokenRole;

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

impl From<crate::tokens::Holder> for Caller {
    fn from(h: crate::tokens::Holder) -> Self {
        Self {
            token_id: h.token_id,
            role: h.role,
        }
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
        let core = &state.core;
        let Some(caller) = core.tokens.check_or_lookup(&core.store, &token).await else {
            state.limits.auth_failed(state, ip, "unknown_token").await;
            return Err(ApiError::unauthorized("unknown or revoked token"));
        };
        let caller = Caller::from(caller);
        let now = core.clock.now_ms();
        if core.tokens.should_touch(&caller.token_id, now) {
            let store = core.store.clone();
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
