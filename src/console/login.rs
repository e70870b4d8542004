//! `GET/POST /console/login` and `POST /console/logout`: the only console routes that are not
//! the REST API. Every attempt is an audit event (kind `login`).

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, Form, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::session::{random_token, same_secret};
use super::{check_origin, cookie, pages, SESSION_COOKIE};
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
    LoggedOut,
}

impl LoginOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginOutcome::Succeeded => "login_succeeded",
            LoginOutcome::Failed => "login_failed",
            LoginOutcome::Throttled => "login_throttled",
            LoginOutcome::LoggedOut => "logged_out",
        }
    }
}

async fn audit(st: &AppState, outcome: LoginOutcome, user: &str, remote: &SocketAddr) {
    st.events
        .emit(EventDraft {
            kind: crate::audit::EventKind::Login,
            reason: outcome.as_str().into(),
            details: serde_json::json!({"user": user, "remote": remote.ip().to_string()}),
            ..Default::default()
        })
        .await;
}

fn cookie_header(st: &AppState, name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
    let secure = if st.console.cfg.secure_cookie {
        "; Secure"
    } else {
        ""
    };
    let age = max_age.map_or(String::new(), |s| format!("; Max-Age={s}"));
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn login_page(st: &AppState, status: StatusCode, error: Option<&str>, name: &str) -> Response {
    let csrf = random_token();
    let html = pages::render(
        "login.html",
        minijinja::context! { error => error, csrf => &csrf, name => name, title => "Log in" },
    );
    let mut r = (status, html).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(st, LOGIN_CSRF_COOKIE, &csrf, Some(3600)),
    );
    r
}

pub async fn form(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if let Ok(Some(_)) = super::session_of(&st, &headers) {
        return Redirect::to("/console/live").into_response();
    }
    login_page(&st, StatusCode::OK, None, "")
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

pub async fn submit(
    State(st): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        return login_page(
            &st,
            StatusCode::BAD_REQUEST,
            Some("The form was not understood: send name and password as a form."),
            "",
        );
    };
    let name = f.name.trim().to_owned();
    let csrf_ok = cookie(&headers, LOGIN_CSRF_COOKIE).is_some_and(|c| same_secret(c, &f.csrf));
    if check_origin(&headers).is_err() || !csrf_ok {
        return login_page(
            &st,
            StatusCode::FORBIDDEN,
            Some("This login form has expired or came from another site: try again."),
            &name,
        );
    }
    if name.is_empty() || f.password.is_empty() {
        return login_page(
            &st,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Enter your name and password."),
            &name,
        );
    }
    let now = Instant::now();
    let keys = [
        format!("user:{}", name.to_lowercase()),
        format!("ip:{}", remote.ip()),
    ];
    if let Err(wait) = st.console.throttle.check(&keys, now) {
        audit(&st, LoginOutcome::Throttled, &name, &remote).await;
        let mut r = login_page(
            &st,
            StatusCode::TOO_MANY_REQUESTS,
            Some(&format!(
                "Too many failed logins. Try again in {} seconds.",
                wait.as_secs().max(1)
            )),
            &name,
        );
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let user = match st.store.user_by_name(&name).await {
        Ok(u) => u,
        Err(e) => {
            log::warn!("login: cannot read console users: {e}");
            return login_page(
                &st,
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
            &st,
            StatusCode::UNAUTHORIZED,
            Some("Wrong name or password."),
            &name,
        );
    };
    st.console.throttle.clear(&keys[0]);
    let (value, _) = st
        .console
        .sessions
        .create(&user.id, &user.name, user.role, now);
    if let Err(e) = st
        .store
        .touch_user_login(&user.id, crate::model::now_ms())
        .await
    {
        log::debug!("cannot record the login time: {e}");
    }
    audit(&st, LoginOutcome::Succeeded, &user.name, &remote).await;
    let mut r = Redirect::to("/console/live").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(&st, SESSION_COOKIE, &value, None),
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(&st, LOGIN_CSRF_COOKIE, "", Some(0)),
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
        cookie_header(&st, SESSION_COOKIE, "", Some(0)),
    );
    r
}
