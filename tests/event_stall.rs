//! The event store stalls (every write sleeps 10 s): terminals keep getting prompt decisions,
//! the camera door loop keeps deciding and feeding the watchdog's heartbeat, and once the store
//! is back every event reaches it exactly once with the chain intact.
//!
//! Enough decisions are made during the stall (over 5,000) to overflow every in-memory queue on
//! the way to the store, so the test also covers the path where events are read back from the
//! local journal.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{face, perturbed, Db, TestDb};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use wardgate::events::{EventBackend, EventSink};
use wardgate::model::{Event, TokenRole};
use wardgate::pipeline::{DoorLoop, LoopParts, PipelineConfig};
use wardgate::store::{Store, StoreError};

const STALL: Duration = Duration::from_secs(10);

/// The real store behind a switch: while `stalled`, every write first sleeps 10 s.
#[derive(Clone)]
struct Stalling {
    store: Store,
    stalled: Arc<AtomicBool>,
}

impl EventBackend for Stalling {
    async fn append(&self, events: &[Event]) -> Result<(), StoreError> {
        if self.stalled.load(Ordering::SeqCst) {
            tokio::time::sleep(STALL).await;
        }
        self.store.append_events(events).await
    }
    async fn last(&self, node: &str) -> Result<Option<Event>, StoreError> {
        self.store.last_event(node).await
    }
}

fn faces() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/faces/people")
}

const CLIENTS: usize = 16;
const PER_CLIENT: usize = 320;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_event_store_blocks_no_decision_and_loses_no_event() {
    let engine = Arc::new(
        wardgate::vision::Engine::load(&wardgate::vision::VisionConfig {
            model_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"),
            ..Default::default()
        })
        .expect("models load (run scripts/setup-litert.sh)"),
    );
    let tdb = TestDb::new(Db::Sqlite).await.unwrap();
    let cfg = tdb.config();
    let node = cfg.events.node.clone();
    let mut wiring = wardgate::app::prepare(cfg.clone(), None).await.unwrap();
    let stalled = Arc::new(AtomicBool::new(false));
    wiring.parts.events = EventSink::start(
        Stalling {
            store: wiring.parts.store.clone(),
            stalled: Arc::clone(&stalled),
        },
        &node,
        &cfg.events.spool_dir.join("stalling"),
        Duration::from_secs(1),
        1024,
    )
    .await
    .unwrap();
    // The door's own events go to the stalling sink too: one chain for this node.
    wiring.start_door().await.unwrap();
    let state = wiring.into_state();
    let (terminal, _) = state
        .core
        .tokens
        .create(&state.core.store, "terminal", TokenRole::Terminal)
        .await
        .unwrap();

    // The camera's doctor (enrolled from one photo) at door-1, a nurse for the terminals at ward.
    let st = &state;
    let doctor = engine
        .analyze_photo(&std::fs::read(faces().join("Barack_Obama/obama1.jpg")).unwrap())
        .unwrap();
    let (doc, _) = st
        .core
        .store
        .register_subject_with_face(
            "E1",
            "Dr O",
            wardgate::model::Role::Doctor,
            st.core.catalog.model_id(),
            &doctor.embedding,
        )
        .await
        .unwrap();
    let (nurse, _) = st
        .core
        .store
        .register_subject_with_face(
            "E2",
            "N",
            wardgate::model::Role::Nurse,
            st.core.catalog.model_id(),
            &face(5),
        )
        .await
        .unwrap();
    st.core
        .store
        .create_door("ward", "Ward", wardgate::model::DoorMode::Staff)
        .await
        .unwrap();
    for (who, door) in [(&doc.id, "door-1"), (&nurse.id, "ward")] {
        st.core
            .store
            .grant(
                who,
                &wardgate::model::GrantTarget::Door(door.into()),
                None,
                None,
                "admin",
            )
            .await
            .unwrap();
    }
    st.core.catalog.reload_all(&st.core.store).await.unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(wardgate::app::serve(state.clone(), listener, async move {
        let _ = stop_rx.await;
    }));

    stalled.store(true, Ordering::SeqCst);
    let stall_started = Instant::now();

    // The camera: the doctor and a stranger in turn, every frame a new presentation.
    let photos = tempfile::tempdir().unwrap();
    for i in 0..4 {
        let (who, file) = if i % 2 == 0 {
            ("Barack_Obama", format!("obama{}.jpg", 2 + i / 2))
        } else {
            ("Jacques_Chirac", format!("chirac{}.jpg", 1 + i / 2))
        };
        std::fs::copy(
            faces().join(who).join(file),
            photos.path().join(format!("{i:03}.jpg")),
        )
        .unwrap();
    }
    let cam = wardgate::camera::CameraConfig {
        source: wardgate::camera::SourceKind::ImageDir,
        replay_path: photos.path().to_owned(),
        fps: 10,
        replay_loop: true,
        ..Default::default()
    };
    let capture = wardgate::camera::spawn_capture(
        Box::new(move || wardgate::camera::open_source(&cam)),
        (Duration::from_millis(100), Duration::from_secs(1)),
    );
    let beats = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let beats_in = Arc::clone(&beats);
    let door_loop = DoorLoop::spawn(
        PipelineConfig {
            min_consecutive: 1,
            unknown_after_frames: 1,
            cooldown_secs: 0,
            ..Default::default()
        },
        LoopParts {
            analyser: engine.clone(),
            core: Arc::clone(&state.core),
            frames: capture.frames(),
            runtime: tokio::runtime::Handle::current(),
            two_person_timeout: Duration::from_secs(30),
            stats: Arc::clone(&state.pipeline_stats),
            live: None,
            heartbeat: Box::new(move || beats_in.lock().unwrap().push(Instant::now())),
            // The camera decides on still photos here, as fast as it can.
            liveness: wardgate::liveness::LivenessConfig {
                mode: wardgate::liveness::Mode::Off,
                ..Default::default()
            },
            challenge_seed: None,
            infrared: None,
        },
    )
    .unwrap();

    // The terminals: 16 sockets, 320 decisions each, every reply timed.
    let mut clients = Vec::new();
    for k in 0..CLIENTS {
        let mut req = format!("ws://{addr}/ws/auth")
            .into_client_request()
            .unwrap();
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {terminal}").parse().unwrap(),
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        clients.push(tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            for j in 0..PER_CLIENT {
                let msg = json!({"type": "authenticate", "request_id": format!("c{k}-{j}"), "door": "ward", "staff": {"embedding": perturbed(5, 0.3, (k * PER_CLIENT + j) as u64)}});
                let asked = Instant::now();
                ws.send(Message::Text(msg.to_string().into())).await.unwrap();
                let reply = loop {
                    if let Message::Text(t) = ws.next().await.unwrap().unwrap() {
                        break serde_json::from_str::<serde_json::Value>(&t).unwrap();
                    }
                };
                slowest = slowest.max(asked.elapsed());
                assert_eq!(reply["reason"], "granted", "{reply}");
                assert!(!reply["decision_id"].as_str().unwrap().is_empty());
            }
            slowest
        }));
    }
    let mut slowest = Duration::ZERO;
    for c in clients {
        slowest = slowest.max(c.await.unwrap());
    }
    let terminals_done = stall_started.elapsed();
    // Keep the camera running through at least one whole stalled write.
    tokio::time::sleep((STALL + Duration::from_secs(2)).saturating_sub(terminals_done)).await;
    let stall = stall_started.elapsed();
    tokio::task::spawn_blocking(move || {
        door_loop.stop();
        capture.stop();
    })
    .await
    .unwrap();

    // While the store stalled: prompt terminal replies, a steady heartbeat, camera decisions.
    assert!(
        slowest < Duration::from_secs(2),
        "a terminal waited {slowest:?} for a decision"
    );
    let beats = beats.lock().unwrap().clone();
    let gaps = beats.windows(2).map(|w| w[1] - w[0]);
    let longest = gaps.max().unwrap_or(Duration::MAX);
    assert!(
        longest < Duration::from_secs(2),
        "the door loop's heartbeat stopped for {longest:?}"
    );

    // The store comes back: every event arrives, once, in a chain that verifies.
    stalled.store(false, Ordering::SeqCst);
    let report = tokio::time::timeout(Duration::from_secs(60), state.core.events.flush())
        .await
        .expect("flush within a minute")
        .unwrap();
    assert_eq!(report.spooled, 0);
    let sealed = state.core.events.durable_seq();
    let mut chain = Vec::new();
    loop {
        let page = state
            .core
            .store
            .chain_page(&node, chain.last().map_or(0, |e: &Event| e.seq), 1000)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        chain.extend(page);
    }
    assert_eq!(
        chain.len() as i64,
        sealed,
        "every sealed event is stored once"
    );
    assert_eq!(wardgate::audit::verify(&chain), Ok(sealed as u64));
    let decisions = |channel: &str| {
        chain
            .iter()
            .filter(|e| {
                e.kind == wardgate::model::EventKind::Decision && e.details["channel"] == channel
            })
            .count()
    };
    assert_eq!(decisions("ws"), CLIENTS * PER_CLIENT);
    let camera = decisions("camera");
    assert!(
        camera >= 10,
        "only {camera} camera decisions in {stall:?} of stalled store"
    );
    assert!(
        chain
            .iter()
            .any(|e| e.details["channel"] == "camera" && e.reason == "granted"),
        "the doctor was let in during the stall"
    );
    let _ = stop_tx.send(());
    server.await.unwrap().unwrap();
    tdb.cleanup().await;
}
