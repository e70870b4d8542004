//! What local durability costs per decision: an event recorded without waiting, against one
//! recorded and waited for until it is in the fsynced journal (what `/ws/auth` does before it
//! replies), from one emitter and from 64 concurrent ones (group commit). The store behind the
//! sink is an in-memory no-op, so only sealing, the journal and its `fdatasync` are measured.
//! The journal lives in `target/` (the disk the firmware's spool would be on), not in tmpfs.
//! Run: `cargo bench --bench event_journal`

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wardgate::audit::{EventDraft, EventKind};
use wardgate::events::{EventBackend, EventSink};
use wardgate::model::Event;
use wardgate::store::StoreError;

#[derive(Clone)]
struct Discard;

impl EventBackend for Discard {
    async fn append(&self, _events: &[Event]) -> Result<(), StoreError> {
        Ok(())
    }
    async fn last(&self, _node: &str) -> Result<Option<Event>, StoreError> {
        Ok(None)
    }
}

fn draft(i: u64) -> EventDraft {
    EventDraft {
        kind: EventKind::Decision,
        door_id: Some("ward".into()),
        subject_id: Some("0a1b2c3d4e5f".into()),
        granted: Some(true),
        reason: "granted".into(),
        details: serde_json::json!({"channel": "ws", "request_id": format!("b{i}"),
            "token_id": "tok", "door": null, "staff_similarity": 0.93,
            "patient_similarity": null, "liveness_score": null, "field": null}),
        ..Default::default()
    }
}

fn journal(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let sink = rt.block_on(async {
        EventSink::start(
            Discard,
            "bench",
            dir.path(),
            Duration::from_secs(3600),
            1024,
        )
        .await
        .unwrap()
    });
    let mut group = c.benchmark_group("event_journal");
    group.throughput(Throughput::Elements(1));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("record_no_wait", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            sink.record(draft(i))
        });
    });
    rt.block_on(sink.flush());
    group.bench_function("durable_1_emitter", |b| {
        b.to_async(&rt).iter(|| sink.record_durable(draft(0)));
    });
    for emitters in [8usize, 64] {
        group.bench_function(format!("durable_{emitters}_emitters"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let per = (iters as usize).div_ceil(emitters);
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..emitters)
                        .map(|_| {
                            let s = sink.clone();
                            tokio::spawn(async move {
                                for j in 0..per {
                                    s.record_durable(draft(j as u64)).await;
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                    start
                        .elapsed()
                        .mul_f64(iters as f64 / (per * emitters) as f64)
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, journal);
criterion_main!(benches);
