//! The web console against a real server: accounts (argon2id, in SQLite and MariaDB), login
//! with a session cookie, throttling and audit of failed logins, CSRF, the session as an API
//! caller with the same role checks as a bearer token, logout, accounts API and status.

mod common;

use common::{Db, TestApp};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::json;
use wardgate::model::TokenRole;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `name=value` of cookie `name` among the response's `Set-Cookie` headers, with its attributes.
fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

fn value(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

fn csrf_in(html: &str, marker: &str) -> String {
    let i = html.find(marker).expect("csrf in page") + marker.len();
    html[i..].split('"').next().unwrap().to_owned()
}

struct Browser {
    http: reqwest::Client,
    base: String,
    session: Option<String>,
}

impl Browser {
    fn new(a: &TestApp) -> Self {
        Self {
            http: client(),
            base: a.base.clone(),
            session: None,
        }
    }

    /// Loads the login form and posts it; returns the response.
    async fn login(&mut self, name: &str, password: &str) -> reqwest::Response {
        let form = self
            .http
            .get(format!("{}/console/login", self.base))
            .send()
            .await
            .unwrap();
        let login_cookie = value(&set_cookie(&form, "wg_login_csrf").unwrap());
        let html = form.text().await.unwrap();
        let csrf = csrf_in(&html, "name=\"csrf\" value=\"");
        let resp = self
            .http
            .post(format!("{}/console/login", self.base))
            .header(COOKIE, login_cookie)
            .form(&[("name", name), ("password", password), ("csrf", &csrf)])
            .send()
            .await
            .unwrap();
        if let Some(c) = set_cookie(&resp, "wg_session") {
            self.session = Some(value(&c));
        }
        resp
    }

    /// Posts the code form that a login of an account with a second factor answered with.
    async fn second_step(&mut self, code_form: reqwest::Response, code: &str) -> reqwest::Response {
        let login_cookie = value(&set_cookie(&code_form, "wg_login_csrf").unwrap());
        let html = code_form.text().await.unwrap();
        let csrf = csrf_in(&html, "name=\"csrf\" value=\"");
        let pending = csrf_in(&html, "name=\"pending\" value=\"");
        self.post_code(&login_cookie, &csrf, &pending, code).await
    }

    async fn post_code(
        &mut self,
        login_cookie: &str,
        csrf: &str,
        pending: &str,
        code: &str,
    ) -> reqwest::Response {
        let resp = self
            .http
            .post(format!("{}/console/login", self.base))
            .header(COOKIE, login_cookie)
            .form(&[("pending", pending), ("code", code), ("csrf", csrf)])
            .send()
            .await
            .unwrap();
        if let Some(c) = set_cookie(&resp, "wg_session") {
            self.session = Some(value(&c));
        }
        resp
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        if let Some(s) = &self.session {
            rb = rb.header(COOKIE, s);
        }
        rb
    }

    /// The anti-CSRF token of the session, from a page.
    async fn csrf(&self) -> String {
        let html = self
            .req(reqwest::Method::GET, "/console/health")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        csrf_in(&html, "name=\"csrf-token\" content=\"")
    }
}

async fn add_user(a: &TestApp, name: &str, role: TokenRole, pw: &str) {
    wardgate::console::users::create(&a.state.core.store, name, role, pw.into())
        .await
        .unwrap();
}

async fn login_events(a: &TestApp, reason: &str) -> Vec<serde_json::Value> {
    a.state.core.events.flush().await.unwrap();
    let (_, ev) = a
        .get("/api/v1/events?kind=login&limit=100", &a.technician)
        .await;
    ev["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == reason)
        .cloned()
        .collect()
}

async fn login_and_roles(db: Db) {
    let Some(a) = TestApp::spawn_with_door(db).await else {
        return;
    };
    add_user(&a, "tess", TokenRole::Technician, "tess-password-1").await;
    let mut b = Browser::new(&a);

    // Without a session: pages send to the login form, the API says 401.
    let r = b
        .req(reqwest::Method::GET, "/console/live")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/console/login");

    // Wrong password: 401, no session, an audit event naming the account.
    let r = b.login("tess", "wrong-password").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(b.session.is_none());
    assert!(r.text().await.unwrap().contains("Wrong name or password"));
    let failed = login_events(&a, "login_failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["details"]["user"], "tess");
    assert!(
        !failed[0]["details"].to_string().contains("wrong-password"),
        "passwords are never recorded"
    );

    // Right password: a session cookie, HttpOnly and SameSite=Strict, and the Live page.
    let r = b.login("tess", "tess-password-1").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/console/live");
    let c = set_cookie(&r, "wg_session").unwrap();
    assert!(
        c.contains("HttpOnly") && c.contains("SameSite=Strict"),
        "{c}"
    );
    assert!(!c.contains("Secure"), "not over plain HTTP by default: {c}");
    assert_eq!(login_events(&a, "login_succeeded").await.len(), 1);
    let page = b
        .req(reqwest::Method::GET, "/console/live")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));

    // The session is a technician caller: reads pass, admin actions are refused, as for a token.
    let r = b
        .req(reqwest::Method::GET, "/api/v1/events")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = b
        .req(reqwest::Method::GET, "/api/v1/users")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let csrf = b.csrf().await;
    let r = b
        .req(reqwest::Method::POST, "/api/v1/grants")
        .header("x-csrf-token", &csrf)
        .json(&json!({"staff_id": "x", "door_id": "door-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let page = b
        .req(reqwest::Method::GET, "/console/people")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::FORBIDDEN);

    // CSRF: without the token (or with another) a door command is refused; with it, it runs
    // and is recorded under the person's name.
    for token in [None, Some("forged")] {
        let mut rb = b
            .req(reqwest::Method::POST, "/api/v1/doors/door-1/commands")
            .json(&json!({"command": "pulse"}));
        if let Some(t) = token {
            rb = rb.header("x-csrf-token", t);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let p: serde_json::Value = r.json().await.unwrap();
        assert_eq!(p["type"], "https://wardgate.invalid/problems/csrf", "{p}");
    }
    // A cross-site request is refused even with the token.
    let r = b
        .req(reqwest::Method::POST, "/api/v1/doors/door-1/commands")
        .header("x-csrf-token", &csrf)
        .header("origin", "https://evil.example")
        .json(&json!({"command": "pulse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = b
        .req(reqwest::Method::POST, "/api/v1/doors/door-1/commands")
        .header("x-csrf-token", &csrf)
        .json(&json!({"command": "pulse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    a.state.core.events.flush().await.unwrap();
    let (_, ev) = a
        .get("/api/v1/events?kind=door&limit=10", &a.technician)
        .await;
    let cmd = ev["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["details"]["command"] == "pulse")
        .expect("door command audited");
    assert_eq!(cmd["details"]["token_id"], "user:tess");
    assert_eq!(cmd["details"]["role"], "technician");

    // A technician may not lock the door down, through the console as through the API.
    let r = b
        .req(reqwest::Method::POST, "/api/v1/doors/door-1/commands")
        .header("x-csrf-token", &csrf)
        .json(&json!({"command": "lockdown"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Logout needs the token too; then the session is gone.
    let r = b
        .req(reqwest::Method::POST, "/console/logout")
        .form(&[("csrf", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = b
        .req(reqwest::Method::POST, "/console/logout")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = b
        .req(reqwest::Method::GET, "/api/v1/events")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(login_events(&a, "logged_out").await.len(), 1);
    a.stop().await;
}

#[tokio::test]
async fn login_session_csrf_and_roles_sqlite() {
    login_and_roles(Db::Sqlite).await;
}

#[tokio::test]
async fn login_session_csrf_and_roles_mysql() {
    login_and_roles(Db::MySql).await;
}

#[tokio::test]
async fn failed_logins_are_throttled_per_account_and_address() {
    let a = TestApp::spawn_with(Db::Sqlite, |c| c.console.max_failed_logins = 3)
        .await
        .unwrap();
    add_user(&a, "ann", TokenRole::Admin, "ann-password-12").await;
    let mut b = Browser::new(&a);
    for _ in 0..3 {
        assert_eq!(b.login("ann", "bad-password").await.status(), 401);
    }
    // Now even the right password is refused, unchecked, until the window has passed.
    let r = b.login("ann", "ann-password-12").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 0 && wait <= 300, "{wait}");
    assert!(b.session.is_none());
    assert_eq!(login_events(&a, "login_failed").await.len(), 3);
    assert_eq!(login_events(&a, "login_throttled").await.len(), 1);
    // An unknown account counts as a failure like a wrong password (no name probing).
    let r = b.login("nobody", "whatever-pass").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "same address");
    a.stop().await;
}

#[tokio::test]
async fn accounts_api_is_admin_only_and_deleting_ends_sessions() {
    let a = TestApp::spawn(Db::Sqlite).await.unwrap();
    for (body, field) in [
        (
            json!({"name": "bo b", "role": "technician", "password": "long-enough-1"}),
            "name",
        ),
        (
            json!({"name": "bob", "role": "sync", "password": "long-enough-1"}),
            "role",
        ),
        (
            json!({"name": "bob", "role": "technician", "password": "short"}),
            "password",
        ),
    ] {
        let (s, p) = a.post("/api/v1/users", &a.admin, body).await;
        assert_eq!((s, p["field"].as_str()), (422, Some(field)), "{p}");
    }
    let (s, _) = a
        .post(
            "/api/v1/users",
            &a.technician,
            json!({"name": "bob", "role": "admin", "password": "long-enough-1"}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, u) = a
        .post(
            "/api/v1/users",
            &a.admin,
            json!({"name": "bob", "role": "technician", "password": "long-enough-1"}),
        )
        .await;
    assert_eq!(s, 201, "{u}");
    assert!(u.get("password").is_none() && u.get("password_hash").is_none());
    let (s, p) = a
        .post(
            "/api/v1/users",
            &a.admin,
            json!({"name": "bob", "role": "admin", "password": "long-enough-2"}),
        )
        .await;
    assert_eq!((s, p["field"].as_str()), (409, Some("name")));
    let stored = a
        .state
        .core
        .store
        .user_by_name("bob")
        .await
        .unwrap()
        .unwrap();
    assert!(stored.password_hash.starts_with("$argon2id$"));

    let mut b = Browser::new(&a);
    assert_eq!(b.login("bob", "long-enough-1").await.status(), 303);
    let r = b
        .req(reqwest::Method::GET, "/api/v1/events")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (s, _) = a
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/users/{}", u["id"].as_str().unwrap()),
            Some(&a.admin),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let r = b
        .req(reqwest::Method::GET, "/api/v1/events")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a deleted account's session ends at once");
    a.stop().await;
}

#[tokio::test]
async fn status_reports_database_models_and_audit_chain() {
    let a = TestApp::spawn(Db::Sqlite).await.unwrap();
    let (s, st) = a.get("/api/v1/status", &a.technician).await;
    assert_eq!(s, 200, "{st}");
    assert_eq!(st["database"]["backend"], "sqlite");
    assert_eq!(st["database"]["reachable"], true);
    assert_eq!(st["database"]["spool_backlog"], 0);
    // The feed was read at start-up (and is polled every change_poll_ms since): a small lag.
    let lag = st["database"]["change_lag_ms"]
        .as_i64()
        .expect("change_lag_ms");
    assert!((0..30_000).contains(&lag), "change lag {lag} ms");
    assert!(
        st["tls"].is_null(),
        "served over plain HTTP only: tls is null, {}",
        st["tls"]
    );
    assert_eq!(st["audit"]["chain"], "intact");
    assert_eq!(st["camera"], serde_json::Value::Null, "no camera loop here");
    assert_eq!(st["version"], env!("CARGO_PKG_VERSION"));
    // The operating point in force, from the catalog the door decides with, and why.
    let op = a.state.core.catalog.operating_point();
    let m = &st["matching"];
    assert_eq!(m["threshold"].as_f64().unwrap() as f32, op.threshold, "{m}");
    assert_eq!(m["reason"], op.reason.as_str(), "{m}");
    assert_eq!(m["templates"], op.templates, "{m}");
    assert_eq!(m["model_id"], a.state.core.catalog.model_id(), "{m}");
    assert_eq!(m["explanation"], op.explain(), "{m}");
    let (s, _) = a.get("/api/v1/status", &a.sync).await;
    assert_eq!(s, 403);
    let (s, p) = a.get("/api/v1/live/overlay", &a.technician).await;
    assert_eq!(s, 503, "{p}");
    a.stop().await;
}

#[tokio::test]
async fn totp_second_factor_is_enrolled_asked_for_audited_and_throttled() {
    use wardgate::console::totp;
    let a = TestApp::spawn_with(Db::Sqlite, |c| c.console.max_failed_logins = 3)
        .await
        .unwrap();
    add_user(&a, "ann", TokenRole::Admin, "ann-password-12").await;
    add_user(&a, "tess", TokenRole::Technician, "tess-password-1").await;
    let mut b = Browser::new(&a);
    assert_eq!(b.login("ann", "ann-password-12").await.status(), 303);
    let csrf = b.csrf().await;

    // A bearer token has no console account to protect; a technician may not enrol here.
    let (s, p) = a
        .call(
            reqwest::Method::POST,
            "/api/v1/users/me/totp",
            Some(&a.admin),
            None,
        )
        .await;
    assert_eq!(s, 409, "{p}");
    let mut t = Browser::new(&a);
    assert_eq!(t.login("tess", "tess-password-1").await.status(), 303);
    let tcsrf = t.csrf().await;
    let r = t
        .req(reqwest::Method::POST, "/api/v1/users/me/totp")
        .header("x-csrf-token", tcsrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Set up: a secret and its otpauth:// URI, not in force until a code confirms it.
    let r = b
        .req(reqwest::Method::POST, "/api/v1/users/me/totp")
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let en: serde_json::Value = r.json().await.unwrap();
    let secret = en["secret"].as_str().unwrap().to_owned();
    let uri = en["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Wardgate:ann"), "{uri}");
    assert!(
        uri.contains(&format!("secret={secret}")) && uri.contains("period=30"),
        "{uri}"
    );
    let key = totp::base32_decode(&secret).unwrap();
    let put = |code: String| {
        b.req(reqwest::Method::PUT, "/api/v1/users/me/totp")
            .header("x-csrf-token", &csrf)
            .json(&json!({ "code": code }))
            .send()
    };
    let r = put("12345".into()).await.unwrap();
    assert_eq!(r.status(), 422);
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["field"], "code", "{p}");
    let now = totp::unix_now();
    let confirmed = totp::code_at(&key, now);
    let r = put(confirmed.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    let u: serde_json::Value = r.json().await.unwrap();
    assert_eq!(u["totp"], true, "{u}");
    let stored = a
        .state
        .core
        .store
        .user_by_name("ann")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.totp_secret.as_deref(), Some(secret.as_str()));

    // The password alone no longer logs in: it answers with the code form, without a session.
    let mut c = Browser::new(&a);
    let form = c.login("ann", "ann-password-12").await;
    assert_eq!(form.status(), 200);
    assert!(c.session.is_none());
    let login_cookie = value(&set_cookie(&form, "wg_login_csrf").unwrap());
    let html = form.text().await.unwrap();
    assert!(html.contains("one-time-code"), "{html}");
    let pending = csrf_in(&html, "name=\"pending\" value=\"");
    let form_csrf = csrf_in(&html, "name=\"csrf\" value=\"");

    // A wrong code: refused, audited, and the form token is spent.
    let wrong = format!(
        "{:06}",
        (confirmed.parse::<u32>().unwrap() + 500_000) % 1_000_000
    );
    let r = c
        .post_code(&login_cookie, &form_csrf, &pending, &wrong)
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("Wrong or expired code"));
    assert!(c.session.is_none());
    let r = c
        .post_code(
            &login_cookie,
            &form_csrf,
            &pending,
            &totp::code_at(&key, now),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "single-use form token"
    );
    assert!(c.session.is_none());
    let failed = login_events(&a, "login_code_failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["details"]["user"], "ann");
    assert!(!failed[0]["details"].to_string().contains(&wrong));

    // The code already used to confirm is not accepted again (replay).
    let form = c.login("ann", "ann-password-12").await;
    let r = c.second_step(form, &confirmed).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "replayed code");

    // The next step's code (accepted one step early) logs in.
    let form = c.login("ann", "ann-password-12").await;
    let r = c
        .second_step(form, &totp::code_at(&key, totp::unix_now() + 30))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/console/live");
    assert!(c.session.is_some());

    // Wrong codes count in the login throttle like wrong passwords: this address has now
    // failed 3 times (the account's count was cleared by the login).
    let mut d = Browser::new(&a);
    let form = d.login("ann", "ann-password-12").await;
    assert_eq!(form.status(), 200);
    assert_eq!(d.second_step(form, &wrong).await.status(), 401);
    let r = d.login("ann", "ann-password-12").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(login_events(&a, "login_code_failed").await.len(), 3);

    // Turning it off: the password alone logs in again (after the throttle window).
    let r = b
        .req(reqwest::Method::DELETE, "/api/v1/users/me/totp")
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let stored = a
        .state
        .core
        .store
        .user_by_name("ann")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.totp_secret, None);
    a.stop().await;
}

#[tokio::test]
async fn cookies_are_secure_over_tls_or_with_console_secure_cookie() {
    use tower::ServiceExt as _;
    let get_form = |router: axum::Router| async move {
        let resp = router
            .oneshot(
                axum::http::Request::get("/console/login")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        resp.headers()["set-cookie"].to_str().unwrap().to_owned()
    };
    let a = TestApp::spawn(Db::Sqlite).await.unwrap();
    let plain = get_form(wardgate::api::router(a.state.clone())).await;
    assert!(
        plain.starts_with("wg_login_csrf=") && !plain.contains("Secure"),
        "{plain}"
    );
    // What the HTTPS listener adds to each request it serves.
    let tls = get_form(
        wardgate::api::router(a.state.clone()).layer(axum::Extension(wardgate::console::OverTls)),
    )
    .await;
    assert!(tls.contains("; Secure"), "{tls}");
    a.stop().await;
    let b = TestApp::spawn_with(Db::Sqlite, |c| c.console.secure_cookie = true)
        .await
        .unwrap();
    let forced = get_form(wardgate::api::router(b.state.clone())).await;
    assert!(forced.contains("; Secure"), "{forced}");
    b.stop().await;
}
