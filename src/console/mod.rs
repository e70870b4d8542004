//! The technician and admin web console: accounts, sessions, pages and the Live view.
//!
//! Pages are rendered on the server from templates embedded in the binary (`web/templates/`)
//! with one small script and one stylesheet (`web/assets/`); there is no build step. A page
//! holds no data of its own: its script reads everything through the same `/api/v1` the REST
//! clients use, authenticated by the session cookie. A session becomes the very [`Caller`]
//! a bearer token would (see [`session_caller`]), so every role check of the REST API applies
//! to the console unchanged; the console has no actions of its own besides login and logout.
//!
//! | file | what lives there |
//! |---|---|
//! | [`config`] | `[console]`: idle timeout, login throttle, cookie, live frame rate |
//! | [`password`] | argon2id hashing and checks of new passwords |
//! | [`session`] | in-memory sessions with idle timeout; failed-login throttle |
//! | [`login`] | the login (password, then the TOTP code when enrolled) and logout forms, their audit events |
//! | [`totp`] | RFC 6238 second factor: codes, secrets, `otpauth://` URIs, pending logins, replay guard |
//! | [`pages`] | templates, embedded assets, the page routes |
//! | [`live`] | camera frames (MJPEG) and the door loop's latest face boxes and timings |
//! | [`users`] | the `wardgate user …` commands |

pub mod config;
pub mod live;
pub mod login;
pub mod pages;
pub mod password;
pub mod session;
pub mod totp;
pub mod users;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::http::{header, request::Parts, Method, StatusCode};

pub use config::ConsoleConfig;

use crate::api::{ApiError, AppState, Caller};
use live::LiveView;
use session::{LoginThrottle, Session, Sessions};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "wg_session";
/// Header carrying the session's anti-CSRF token on state-changing API requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The console's state: sessions, the login throttle and the camera view. One per controller,
/// in [`AppState`].
#[derive(Debug)]
pub struct Console {
    pub cfg: ConsoleConfig,
    pub sessions: Sessions,
    pub throttle: LoginThrottle,
    /// Logins waiting for their TOTP code, enrolments waiting for confirmation, used steps.
    pub totp: totp::TotpState,
    live: RwLock<Option<Arc<LiveView>>>,
    started: Instant,
}

impl Console {
    pub fn new(cfg: &ConsoleConfig) -> Self {
        Self {
            cfg: cfg.clone(),
            sessions: Sessions::new(Duration::from_secs(cfg.idle_timeout_mins * 60)),
            throttle: LoginThrottle::new(
                cfg.max_failed_logins,
                Duration::from_secs(cfg.login_window_secs),
            ),
            totp: totp::TotpState::default(),
            live: RwLock::new(None),
            started: Instant::now(),
        }
    }

    /// Installs the camera view once the capture runs (`wardgate run`).
    pub fn set_live(&self, live: Arc<LiveView>) {
        *self
            .live
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(live);
    }

    /// The camera view; `None` on a controller without a camera loop.
    pub fn live(&self) -> Option<Arc<LiveView>> {
        self.live
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Time since this controller started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

/// Request extension marking a request that arrived over TLS. The HTTPS listener adds it to
/// every request it serves (`axum::Extension(OverTls)` as a layer on that listener's router);
/// plain HTTP requests never carry it, and a client cannot add an extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverTls;

/// Whether the console's cookies get `Secure` (sent back over HTTPS only): on every request
/// that came over TLS, and on all requests with `console.secure_cookie` (for a TLS-terminating
/// proxy in front, which this process cannot see). Over plain HTTP the browser would drop a
/// `Secure` cookie, so it is not set by default.
pub fn secure_cookies(state: &AppState, ext: &axum::http::Extensions) -> bool {
    state.console.cfg.secure_cookie || ext.get::<OverTls>().is_some()
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(parts: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    parts
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Refuses a request whose `Origin` is another site than the one it was sent to. Browsers
/// send `Origin` on every cross-site request (and on same-origin POSTs and WebSockets), so a
/// cookie-authenticated request from a foreign page never passes, whatever its method.
pub fn check_origin(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin.split_once("://").map_or("", |(_, h)| h);
    if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "cross-origin request from {origin} refused"
        )))
    }
}

/// The session behind the request's cookie; `Ok(None)` without a session cookie.
pub fn session_of(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<Option<Session>, ApiError> {
    let Some(value) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    state
        .console
        .sessions
        .get(value, Instant::now())
        .map(Some)
        .ok_or_else(|| ApiError::unauthorized("console session expired or unknown: log in again"))
}

/// The API caller behind a console session cookie, for the role extractor in `api::auth`:
/// the same roles, the same checks. Requests that change state must also carry the session's
/// anti-CSRF token in `X-CSRF-Token` and come from this site.
pub fn session_caller(parts: &Parts, state: &AppState) -> Result<Option<Caller>, ApiError> {
    let Some(s) = session_of(state, &parts.headers)? else {
        return Ok(None);
    };
    check_origin(&parts.headers)?;
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !session::same_secret(sent, &s.csrf) {
            return Err(csrf_refused());
        }
    }
    Ok(Some(Caller {
        token_id: format!("user:{}", s.name),
        role: s.role,
    }))
}

/// 403 for a state-changing request without the session's anti-CSRF token.
pub fn csrf_refused() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf",
        "missing or wrong anti-CSRF token (X-CSRF-Token header or csrf form field): reload the page",
    )
}
