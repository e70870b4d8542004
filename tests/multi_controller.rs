//! Three `wardgate run` controllers on one MariaDB database, as a hospital runs them: a change
//! made through any one of them reaches the others' doors through the change feed.
//!
//! - enrol and grant on A → granted at C within 2 s;
//! - revoke on B → denied at A within 2 s;
//! - a grants sync (`PUT /api/v1/sync/grants`) to C reaches A and B;
//! - 60 further grants and revocations, each written through one controller and awaited at the
//!   next: the propagation times' p50/p95 are printed (BENCHMARKS.md quotes them), each must be
//!   within 2 s;
//! - afterwards every controller's audit chain verifies and no event is stored twice.

mod common;
mod fleet;

use std::time::{Duration, Instant};

use common::{face, perturbed, Db, TestDb};
use fleet::{percentiles, Controller, Tokens};

use reqwest::Method;
use serde_json::json;

const WITHIN: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_controllers_on_one_mariadb_database() {
    let Some(db) = TestDb::new(Db::MySql).await else {
        return;
    };
    let store = db.store().await;
    let tokens = Tokens::install(&store).await;
    let mut ctl: Vec<Controller> = ["ctl-a", "ctl-b", "ctl-c"]
        .iter()
        .map(|n| Controller::start(n, &db.url, db.dir.path(), &[]))
        .collect();
    for c in &mut ctl {
        c.wait_ready().await;
    }
    let (a, b, c) = (&ctl[0], &ctl[1], &ctl[2]);
    let probe = perturbed(1, 0.3, 9);

    // Enrol and grant on A.
    let (s, door) = a
        .post(
            "/api/v1/doors",
            &tokens.admin,
            json!({"id": "ward-3", "name": "Ward 3", "mode": "staff"}),
        )
        .await;
    assert_eq!(s, 201, "{door}");
    let (s, doc) = a
        .post(
            "/api/v1/subjects",
            &tokens.admin,
            json!({"external_id": "E100", "name": "Dr Grey", "role": "doctor"}),
        )
        .await;
    assert_eq!(s, 201, "{doc}");
    let doc_id = doc["id"].as_str().unwrap().to_owned();
    let (s, f) = a
        .post(
            &format!("/api/v1/subjects/{doc_id}/faces"),
            &tokens.admin,
            json!({"embedding": face(1)}),
        )
        .await;
    assert_eq!(s, 201, "{f}");
    // The writer reads its own writes at once.
    assert_eq!(a.decide(&tokens, "ward-3", &probe).await, "not_permitted");
    let (s, g) = a
        .post(
            "/api/v1/grants",
            &tokens.admin,
            json!({"staff_id": doc_id, "door_id": "ward-3"}),
        )
        .await;
    assert_eq!(s, 201, "{g}");
    let t0 = Instant::now();
    assert_eq!(a.decide(&tokens, "ward-3", &probe).await, "granted");
    let took = c
        .until_reason(&tokens, "ward-3", &probe, "granted", t0, WITHIN)
        .await;
    eprintln!("enrol + grant on A → granted at C after {took:?}");

    // Revoke on B.
    let gid = g["id"].as_str().unwrap();
    b.until_reason(&tokens, "ward-3", &probe, "granted", t0, WITHIN)
        .await;
    let (s, r) = b
        .call(
            Method::DELETE,
            &format!("/api/v1/grants/{gid}"),
            &tokens.admin,
            None,
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let t1 = Instant::now();
    let took = a
        .until_reason(&tokens, "ward-3", &probe, "not_permitted", t1, WITHIN)
        .await;
    eprintln!("revoke on B → denied at A after {took:?}");

    // A hospital-system sync to C reaches A and B.
    let (s, out) = c
        .call(
            Method::PUT,
            "/api/v1/sync/grants",
            &tokens.sync,
            Some(json!({"source": "his", "grants": [{"staff": "E100", "door": "ward-3"}]})),
        )
        .await;
    assert_eq!((s, out["added"].as_u64()), (200, Some(1)), "{out}");
    let t2 = Instant::now();
    for x in [a, b] {
        let took = x
            .until_reason(&tokens, "ward-3", &probe, "granted", t2, WITHIN)
            .await;
        eprintln!("sync on C → granted at {} after {took:?}", x.name);
    }
    // Back to no grant: the sync source withdraws it.
    let (s, out) = c
        .call(
            Method::PUT,
            "/api/v1/sync/grants",
            &tokens.sync,
            Some(json!({"source": "his", "grants": []})),
        )
        .await;
    assert_eq!((s, out["removed"].as_u64()), (200, Some(1)), "{out}");
    let t3 = Instant::now();
    for x in &ctl {
        x.until_reason(&tokens, "ward-3", &probe, "not_permitted", t3, WITHIN)
            .await;
    }

    // Propagation times: grant, revoke, grant, … each through controller i % 3, awaited at
    // controller (i + 1) % 3.
    let mut times = Vec::new();
    let mut grant: Option<String> = None;
    for i in 0..60 {
        let (w, r) = (&ctl[i % 3], &ctl[(i + 1) % 3]);
        let want = match grant.take() {
            None => {
                let (s, g) = w
                    .post(
                        "/api/v1/grants",
                        &tokens.admin,
                        json!({"staff_id": doc_id, "door_id": "ward-3"}),
                    )
                    .await;
                assert_eq!(s, 201, "{g}");
                grant = Some(g["id"].as_str().unwrap().to_owned());
                "granted"
            }
            Some(id) => {
                let (s, r) = w
                    .call(
                        Method::DELETE,
                        &format!("/api/v1/grants/{id}"),
                        &tokens.admin,
                        None,
                    )
                    .await;
                assert_eq!(s, 200, "{r}");
                "not_permitted"
            }
        };
        let t = Instant::now();
        times.push(
            r.until_reason(&tokens, "ward-3", &probe, want, t, WITHIN)
                .await,
        );
    }
    let (p50, p95) = percentiles(times.clone());
    eprintln!(
        "propagation between controllers on one MariaDB, {} changes: p50 {p50:?}, p95 {p95:?}, max {:?}",
        times.len(),
        times.iter().max().unwrap()
    );

    let decided: Vec<u64> = ctl.iter().map(Controller::decided).collect();
    for c in ctl {
        c.stop();
    }
    // Every controller's chain verifies; no event stored twice (`(node, seq)` is unique, so a
    // duplicate would have been refused, and the chain has no gap).
    for (node, want) in ["ctl-a", "ctl-b", "ctl-c"].into_iter().zip(decided) {
        let (_, decisions) = fleet::verify_chain(&store, node).await;
        assert_eq!(
            decisions, want,
            "{node}: decision events stored vs answered"
        );
    }
    db.cleanup().await;
}
