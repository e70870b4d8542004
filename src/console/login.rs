//! `GET/POST /console/login` and `POST /console/logout`: the only console routes that are not
//! the REST API. Every attempt is an audit event (kind `login`).
//!
//! An account with a second factor ([`super::totp`]) logs in in two steps: the right password
//! answers with a code form carrying a single-use token (valid five minutes, kept in memory);
//! posting the code with that token starts the session. A wrong code counts in the same
//! throttle as a wrong password and is audited (`login_code_failed`); the person then starts
//! again from the password.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, Form, State};
use axum::http::{header, Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::session::{random_token, same_secret};
use super::{check_origin, cookie, pages, secure_cookies, SESSION_COOKIE};
use crate::api::AppState;
use crate::audit::EventDraft;

/// Double-submit cookie that ties the login form to the browser that loaded it.
const LOGIN_CSRF_COOKIE: &str = "wg_login_csrf";

/// What happened at the login form, as recorded in the audit log (`reason` of a `login` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    Succeeded,
    /// Unknown name, wrong password or disabled account (the page does not say which).
    Failed,
    /// Refused unchecked: too many failures for this name or address.
    Throttled,
    /// The password was right, the TOTP code was wrong, replayed or late.
    CodeFailed,
    LoggedOut,
}

impl LoginOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginOutcome::Succeeded => "login_succeeded",
            LoginOutcome::Failed => "login_failed",
            LoginOutcome::Throttled => "login_throttled",
            LoginOutcome::CodeFailed => "login_code_failed",
            LoginOutcome::LoggedOut => "logged_out",
        }
    }
}

async fn audit(st: &AppState, outcome: LoginOutcome, user: &str, remote: &SocketAddr) {
    st.core.events.record(EventDraft {
        kind: crate::audit::EventKind::Login,
        reason: outcome.as_str().into(),
        details: serde_json::json!({"user": user, "remote": remote.ip().to_string()}),
        ..Default::default()
    });
}

/// A cookie of the console: HttpOnly, SameSite=Strict, and `Secure` when `secure`
/// ([`super::secure_cookies`]).
fn cookie_header(secure: bool, name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let age = max_age.map_or(String::new(), |s| format!("; Max-Age={s}"));
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn login_page(secure: bool, status: StatusCode, error: Option<&str>, name: &str) -> Response {
    login_form(secure, status, error, name, None)
}

/// The login form; with `pending`, its second step (the TOTP code of that login).
fn login_form(
    secure: bool,
    status: StatusCode,
    error: Option<&str>,
    name: &str,
    pending: Option<&str>,
) -> Response {
    let csrf = random_token();
    let html = pages::render(
        "login.html",
        minijinja::context! {
            error => error, csrf => &csrf, name => name, title => "Log in", pending => pending,
        },
    );
    let mut r = (status, html).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(secure, LOGIN_CSRF_COOKIE, &csrf, Some(3600)),
    );
    r
}

pub async fn form(State(st): State<AppState>, ext: Extensions, headers: HeaderMap) -> Response {
    if let Ok(Some(_)) = super::session_of(&st, &headers) {
        return Redirect::to("/console/live").into_response();
    }
    login_page(secure_cookies(&st, &ext), StatusCode::OK, None, "")
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    /// The second step: the 6-digit TOTP code …
    #[serde(default)]
    code: String,
    /// … and the token of the login whose password was accepted.
    #[serde(default)]
    pending: String,
}

pub async fn submit(
    State(st): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    ext: Extensions,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let secure = secure_cookies(&st, &ext);
    let Ok(Form(f)) = form else {
        return login_page(
            secure,
            StatusCode::BAD_REQUEST,
            Some("The form was not understood: send name and password as a form."),
            "",
        );
    };
    let name = f.name.trim().to_owned();
    let csrf_ok = cookie(&headers, LOGIN_CSRF_COOKIE).is_some_and(|c| same_secret(c, &f.csrf));
    if check_origin(&headers).is_err() || !csrf_ok {
        return login_page(
            secure,
            StatusCode::FORBIDDEN,
            Some("This login form has expired or came from another site: try again."),
            &name,
        );
    }
    if !f.pending.is_empty() {
        return second_step(&st, &remote, secure, &f.pending, &f.code).await;
    }
    if name.is_empty() || f.password.is_empty() {
        return login_page(
            secure,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Enter your name and password."),
            &name,
        );
    }
    let now = Instant::now();
    let keys = throttle_keys(&name, &remote);
    if let Some(r) = throttled(&st, secure, &keys, &name, &remote, now).await {
        return r;
    }
    let user = match st.core.store.user_by_name(&name).await {
        Ok(u) => u,
        Err(e) => {
            log::warn!("login: cannot read console users: {e}");
            return login_page(
                secure,
                StatusCode::SERVICE_UNAVAILABLE,
                Some(
                    "The database is unreachable, so logins cannot be checked. Try again shortly.",
                ),
                &name,
            );
        }
    };
    let phc = user.as_ref().map_or_else(
        || super::password::decoy_hash().to_owned(),
        |u| u.password_hash.clone(),
    );
    let password = f.password;
    let matches = tokio::task::spawn_blocking(move || super::password::verify(&password, &phc))
        .await
        .unwrap_or(false);
    let user = user.filter(|u| matches && u.disabled_ms.is_none());
    let Some(user) = user else {
        st.console.throttle.fail(&keys, now);
        audit(&st, LoginOutcome::Failed, &name, &remote).await;
        return login_page(
            secure,
            StatusCode::UNAUTHORIZED,
            Some("Wrong name or password."),
            &name,
        );
    };
    if user.totp_secret.is_some() {
        // The password is right; the session waits for the code (the throttle is not cleared).
        let token = st
            .console
            .totp
            .start_login(&user.id, &user.name, user.role, now);
        return login_form(secure, StatusCode::OK, None, &user.name, Some(&token));
    }
    start_session(&st, secure, &remote, &keys, &user.id, &user.name, user.role).await
}

/// The throttle keys of a login attempt: the account name and the client address.
fn throttle_keys(name: &str, remote: &SocketAddr) -> [String; 2] {
    [
        format!("user:{}", name.to_lowercase()),
        format!("ip:{}", remote.ip()),
    ]
}

/// The 429 page (audited) when the name or address has used up its failures.
async fn throttled(
    st: &AppState,
    secure: bool,
    keys: &[String],
    name: &str,
    remote: &SocketAddr,
    now: Instant,
) -> Option<Response> {
    let wait = st.console.throttle.check(keys, now).err()?;
    audit(st, LoginOutcome::Throttled, name, remote).await;
    let mut r = login_page(
        secure,
        StatusCode::TOO_MANY_REQUESTS,
        Some(&format!(
            "Too many failed logins. Try again in {} seconds.",
            wait.as_secs().max(1)
        )),
        name,
    );
    if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Some(r)
}

/// The code form's post: the pending login's TOTP code.
async fn second_step(
    st: &AppState,
    remote: &SocketAddr,
    secure: bool,
    pending: &str,
    code: &str,
) -> Response {
    let now = Instant::now();
    let Some(p) = st.console.totp.take_login(pending, now) else {
        return login_page(
            secure,
            StatusCode::UNAUTHORIZED,
            Some("This login has expired: enter your name and password again."),
            "",
        );
    };
    let keys = throttle_keys(&p.name, remote);
    if let Some(r) = throttled(st, secure, &keys, &p.name, remote, now).await {
        return r;
    }
    // Read again: the account may have been disabled, deleted or lost its factor meanwhile.
    let user = match st.core.store.user_by_id(&p.user_id).await {
        Ok(u) => u.filter(|u| u.disabled_ms.is_none()),
        Err(e) => {
            log::warn!("login: cannot read console users: {e}");
            return login_page(
                secure,
                StatusCode::SERVICE_UNAVAILABLE,
                Some(
                    "The database is unreachable, so logins cannot be checked. Try again shortly.",
                ),
                &p.name,
            );
        }
    };
    let ok = user.as_ref().is_some_and(|u| match &u.totp_secret {
        Some(secret) => st
            .console
            .totp
            .check(&u.id, secret, code, super::totp::unix_now()),
        None => true,
    });
    let Some(user) = user.filter(|_| ok) else {
        st.console.throttle.fail(&keys, now);
        audit(st, LoginOutcome::CodeFailed, &p.name, remote).await;
        return login_page(
            secure,
            StatusCode::UNAUTHORIZED,
            Some("Wrong or expired code. Enter your name and password again."),
            &p.name,
        );
    };
    start_session(st, secure, remote, &keys, &user.id, &user.name, user.role).await
}

/// Every factor is checked: the session starts, the name's failure count is cleared.
async fn start_session(
    st: &AppState,
    secure: bool,
    remote: &SocketAddr,
    keys: &[String],
    user_id: &str,
    name: &str,
    role: crate::model::TokenRole,
) -> Response {
    st.console.throttle.clear(&keys[0]);
    let (value, _) = st
        .console
        .sessions
        .create(user_id, name, role, Instant::now());
    if let Err(e) = st
        .core
        .store
        .touch_user_login(user_id, st.core.clock.now_ms())
        .await
    {
        log::debug!("cannot record the login time: {e}");
    }
    audit(st, LoginOutcome::Succeeded, name, remote).await;
    let mut r = Redirect::to("/console/live").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(secure, SESSION_COOKIE, &value, None),
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(secure, LOGIN_CSRF_COOKIE, "", Some(0)),
    );
    r
}

#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(st): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    ext: Extensions,
    headers: HeaderMap,
    form: Result<Form<LogoutForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let csrf = form.map(|Form(f)| f.csrf).unwrap_or_default();
    let session = match super::session_of(&st, &headers) {
        Ok(Some(s)) => s,
        _ => return Redirect::to("/console/login").into_response(),
    };
    if check_origin(&headers).is_err() || !same_secret(&csrf, &session.csrf) {
        return super::csrf_refused().into_response();
    }
    if let Some(v) = cookie(&headers, SESSION_COOKIE) {
        st.console.sessions.end(v);
    }
    audit(&st, LoginOutcome::LoggedOut, &session.name, &remote).await;
    let mut r = Redirect::to("/console/login").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(secure_cookies(&st, &ext), SESSION_COOKIE, "", Some(0)),
    );
    r
}
