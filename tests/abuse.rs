//! Abuse limits: a client presenting bad tokens is answered 429 with `Retry-After` after
//! `auth.max_failures` and every refusal is audited; one credential's decisions over
//! `/ws/auth` and `POST /api/v1/decisions` stop at `api.ws_auth_max_decisions_per_minute`.

mod common;

use common::{face, Db, TestApp};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn bad_tokens_from_one_address_are_held_back_with_retry_after_and_audited() {
    let a = TestApp::spawn_with(Db::Sqlite, |c| {
        c.auth.max_failures = 4;
        c.auth.failure_window_secs = 60;
    })
    .await
    .unwrap();
    for i in 0..4 {
        let (s, p) = a.get("/api/v1/doors", &format!("wg_guess{i}")).await;
        assert_eq!(s, 401, "attempt {i}: {p}");
    }
    let r = a
        .http
        .get(a.url("/api/v1/doors"))
        .bearer_auth("wg_guess4")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], 429);
    // The address is held back, whatever token it sends next; no token is looked at.
    assert_eq!(a.get("/api/v1/doors", &a.admin).await.0, 429);
    // Without a bearer token nothing is counted: the public endpoints stay up.
    assert_eq!(
        a.call(reqwest::Method::GET, "/healthz", None, None).await.0,
        200
    );

    a.state.core.events.flush().await;
    let (events, _) = a
        .state
        .core
        .store
        .list_events(&wardgate::store::EventFilter {
            kind: Some("auth".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let reasons: Vec<&str> = events.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(
        reasons.iter().filter(|r| **r == "auth_failed").count(),
        4,
        "{reasons:?}"
    );
    assert_eq!(
        reasons.iter().filter(|r| **r == "auth_throttled").count(),
        1,
        "one throttle event per window, not one per request: {reasons:?}"
    );
    let e = events.iter().find(|e| e.reason == "auth_failed").unwrap();
    assert_eq!(e.details["client"], "127.0.0.1");
    assert!(
        !e.details.to_string().contains("wg_guess"),
        "the presented token is never recorded"
    );
    a.stop().await;
}

#[tokio::test]
async fn one_terminal_token_cannot_ask_for_more_decisions_than_its_ceiling() {
    let a = TestApp::spawn_with(Db::Sqlite, |c| c.api.ws_auth_max_decisions_per_minute = 5)
        .await
        .unwrap();
    let mut req = format!("ws://{}/ws/auth", a.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", a.terminal).parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let msg = |i: usize| json!({"type": "authenticate", "request_id": format!("r{i}"), "door": "ward", "staff": {"embedding": face(1)}});
    let mut replies = Vec::new();
    for i in 0..6 {
        ws.send(Message::Text(msg(i).to_string().into()))
            .await
            .unwrap();
        let reply = loop {
            match ws.next().await.unwrap().unwrap() {
                Message::Text(t) => break serde_json::from_str::<Value>(&t).unwrap(),
                _ => continue,
            }
        };
        replies.push(reply);
    }
    for r in &replies[..5] {
        assert_eq!(r["type"], "decision", "{r}");
    }
    assert_eq!(replies[5]["type"], "error", "{}", replies[5]);
    assert_eq!(replies[5]["code"], "rate_limited", "{}", replies[5]);
    assert_eq!(replies[5]["request_id"], "r5");
    // The same budget over HTTP: 429 with Retry-After.
    let r = a
        .http
        .post(a.url("/api/v1/decisions"))
        .bearer_auth(&a.terminal)
        .json(&msg(6))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // Another credential has its own budget.
    let (s, d) = a.post("/api/v1/decisions", &a.admin, msg(7)).await;
    assert_eq!((s, d["type"].as_str()), (200, Some("decision")), "{d}");
    a.stop().await;
}
