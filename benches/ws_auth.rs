//! `/ws/auth` decisions per second over loopback with 64 concurrent terminals, against a
//! server holding 1,000 enrolled subjects (SQLite store, every decision audited).
//! Run: `cargo bench --bench ws_auth`

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{face, perturbed, Db, TestApp};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const CLIENTS: usize = 64;

fn decisions(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(async {
        let a = TestApp::spawn(Db::Sqlite).await.unwrap();
        a.post("/api/v1/doors", &a.admin, json!({"id": "ward", "name": "W", "mode": "staff"})).await;
        for i in 0..1000u64 {
            let (_, r) = a
                .post("/register_face", &a.sync, json!({"name": format!("S{i}"), "role": "nurse", "external_id": format!("E{i}"), "embedding": face(i)}))
                .await;
            if i % 2 == 0 {
                a.post("/api/v1/grants", &a.sync, json!({"staff_id": r["subject_id"], "door_id": "ward"})).await;
            }
        }
        a
    });
    // Pre-serialised requests: the benchmark measures the server, not the client's JSON.
    let messages: Vec<String> = (0..256u64)
        .map(|i| {
            json!({"type": "authenticate", "request_id": format!("b{i}"), "door": "ward", "staff": {"embedding": perturbed(i % 1000, 0.3, i)}})
                .to_string()
        })
        .collect();
    let mut group = c.benchmark_group("ws_auth");
    group.throughput(Throughput::Elements(1));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function(format!("decisions_{CLIENTS}_clients"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut sockets = Vec::with_capacity(CLIENTS);
                for _ in 0..CLIENTS {
                    let mut req = format!("ws://{}/ws/auth", app.addr)
                        .into_client_request()
                        .unwrap();
                    req.headers_mut().insert(
                        "authorization",
                        format!("Bearer {}", app.terminal).parse().unwrap(),
                    );
                    sockets.push(tokio_tungstenite::connect_async(req).await.unwrap().0);
                }
                let per = (iters as usize).div_ceil(CLIENTS);
                let start = Instant::now();
                let tasks: Vec<_> = sockets
                    .into_iter()
                    .enumerate()
                    .map(|(k, mut ws)| {
                        let msgs = messages.clone();
                        tokio::spawn(async move {
                            for j in 0..per {
                                ws.send(Message::Text(
                                    msgs[(k * 7 + j) % msgs.len()].clone().into(),
                                ))
                                .await
                                .unwrap();
                                loop {
                                    if let Message::Text(_) = ws.next().await.unwrap().unwrap() {
                                        break;
                                    }
                                }
                            }
                            ws.close(None).await.ok();
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
                // Scale to exactly `iters` decisions.
                start
                    .elapsed()
                    .mul_f64(iters as f64 / (per * CLIENTS) as f64)
            })
        })
    });
    group.finish();
}

criterion_group!(benches, decisions);
criterion_main!(benches);
