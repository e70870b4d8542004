//! The console's pages: templates and assets embedded in the binary, and their routes.

use std::sync::OnceLock;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::api::AppState;
use crate::model::TokenRole;

/// A page of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsolePage {
    Live,
    Door,
    Events,
    Enrolment,
    People,
    Health,
}

impl ConsolePage {
    pub const ALL: [ConsolePage; 6] = [
        ConsolePage::Live,
        ConsolePage::Door,
        ConsolePage::Events,
        ConsolePage::Enrolment,
        ConsolePage::People,
        ConsolePage::Health,
    ];

    /// The path segment under `/console/`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsolePage::Live => "live",
            ConsolePage::Door => "door",
            ConsolePage::Events => "events",
            ConsolePage::Enrolment => "enrolment",
            ConsolePage::People => "people",
            ConsolePage::Health => "health",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ConsolePage::Live => "Live",
            ConsolePage::Door => "Door",
            ConsolePage::Events => "Events",
            ConsolePage::Enrolment => "Enrolment",
            ConsolePage::People => "People and access",
            ConsolePage::Health => "Health",
        }
    }

    /// Pages only an admin may open. Their APIs refuse technicians too; the page check only
    /// spares a technician a page of errors.
    pub fn admin_only(self) -> bool {
        matches!(self, ConsolePage::People | ConsolePage::Enrolment)
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../web/templates/base.html")),
    ("login.html", include_str!("../../web/templates/login.html")),
    (
        "message.html",
        include_str!("../../web/templates/message.html"),
    ),
    ("live.html", include_str!("../../web/templates/live.html")),
    ("door.html", include_str!("../../web/templates/door.html")),
    (
        "events.html",
        include_str!("../../web/templates/events.html"),
    ),
    (
        "enrolment.html",
        include_str!("../../web/templates/enrolment.html"),
    ),
    (
        "people.html",
        include_str!("../../web/templates/people.html"),
    ),
    (
        "health.html",
        include_str!("../../web/templates/health.html"),
    ),
    (
        "door-display.html",
        include_str!("../../web/templates/door-display.html"),
    ),
];

/// Embedded static files: (name, content type, bytes).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("../../web/assets/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/assets/console.js"),
    ),
    (
        "door-display.css",
        "text/css; charset=utf-8",
        include_str!("../../web/assets/door-display.css"),
    ),
    (
        "door-display.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/assets/door-display.js"),
    ),
];

/// Scripts and styles only from this origin: no inline code, so injected markup cannot run.
const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

fn env() -> &'static minijinja::Environment<'static> {
    static ENV: OnceLock<minijinja::Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = minijinja::Environment::new();
        for (name, src) in TEMPLATES {
            if let Err(e) = env.add_template(name, src) {
                log::error!("console template {name}: {e}");
            }
        }
        env
    })
}

/// Renders a template (HTML-escaped) with the console's security headers.
pub fn render(name: &str, ctx: minijinja::Value) -> Response {
    let body = env()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| {
            log::error!("console template {name}: {e:#}");
            "<!doctype html><title>Error</title><p>This page cannot be shown.</p>".into()
        });
    (
        [
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "same-origin"),
        ],
        Html(body),
    )
        .into_response()
}

fn nav(role: TokenRole) -> Vec<minijinja::Value> {
    ConsolePage::ALL
        .into_iter()
        .filter(|p| role == TokenRole::Admin || !p.admin_only())
        .map(|p| minijinja::context! { id => p.as_str(), title => p.title() })
        .collect()
}

async fn page(
    State(st): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let session = match super::session_of(&st, &headers) {
        Ok(Some(s)) => s,
        _ => return Redirect::to("/console/login").into_response(),
    };
    let Some(p) = ConsolePage::parse(&name) else {
        let mut r = render(
            "message.html",
            minijinja::context! {
                title => "Not found", message => "There is no such console page.",
                user => &session.name, role => session.role.as_str(), csrf => &session.csrf,
                nav => nav(session.role),
            },
        );
        *r.status_mut() = StatusCode::NOT_FOUND;
        return r;
    };
    if p.admin_only() && session.role != TokenRole::Admin {
        let mut r = render(
            "message.html",
            minijinja::context! {
                title => p.title(),
                message => format!("{} is for admins only; you are logged in as a {}.", p.title(), session.role.as_str()),
                user => &session.name, role => session.role.as_str(), csrf => &session.csrf,
                nav => nav(session.role),
            },
        );
        *r.status_mut() = StatusCode::FORBIDDEN;
        return r;
    }
    let door_id = st.core.door.as_ref().map(|d| d.id().to_owned());
    render(
        &format!("{}.html", p.as_str()),
        minijinja::context! {
            page => p.as_str(), title => p.title(),
            user => &session.name, role => session.role.as_str(), csrf => &session.csrf,
            nav => nav(session.role), door_id => door_id,
            idle_mins => st.console.cfg.idle_timeout_mins,
        },
    )
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, ct, body)) => (
            [
                (header::CONTENT_TYPE, *ct),
                (header::CACHE_CONTROL, "public, max-age=3600"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *body,
        )
            .into_response(),
        None => crate::api::ApiError::not_found("asset").into_response(),
    }
}

/// `GET /door-display`: the page for the screen beside the door. It holds no data and needs
/// no login; what it shows comes over `/ws/presentation`, which takes a `display` token
/// (given once in the address as `#token=…`) or a technician's console session.
async fn door_display() -> Response {
    render("door-display.html", minijinja::context! {})
}

async fn home() -> Redirect {
    Redirect::to("/console/live")
}

/// The console's routes (merged into the API router).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/console", get(home))
        .route("/console/", get(home))
        .route(
            "/console/login",
            get(super::login::form).post(super::login::submit),
        )
        .route("/console/logout", post(super::login::logout))
        .route("/console/assets/{name}", get(asset))
        .route("/door-display", get(door_display))
        .route("/console/{page}", get(page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_has_a_template_and_parses() {
        for p in ConsolePage::ALL {
            assert_eq!(ConsolePage::parse(p.as_str()), Some(p));
            let name = format!("{}.html", p.as_str());
            assert!(
                env().get_template(&name).is_ok(),
                "template {name} missing or invalid"
            );
        }
        assert!(env().get_template("login.html").is_ok());
        assert!(env().get_template("message.html").is_ok());
    }

    #[test]
    fn templates_escape_what_they_show() {
        let html = env()
            .get_template("login.html")
            .unwrap()
            .render(minijinja::context! { error => "<script>x</script>", csrf => "c", name => "\"><b>", title => "Log in" })
            .unwrap();
        assert!(!html.contains("<script>x</script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("\"><b>"));
    }
}
