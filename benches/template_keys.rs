//! What sealing templates at rest costs (docs/decisions/0007-template-encryption.md):
//! - sealing and opening one 512-dimension template (criterion);
//! - loading a 100,000-template gallery from SQLite at start, sealed against the same rows in the
//!   clear (as a version before sealing stored them), in one run;
//! - enrolling one template (`Store::add_face`: seal + one transaction), median of 200.
//!
//! Run: `cargo bench --bench template_keys` (`-- N` for another gallery size).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use rand::{Rng, SeedableRng};
use wardgate::model::{Role, SubjectStatus};
use wardgate::privacy::{TemplateKeys, TemplateRef};
use wardgate::store::{DatabaseConfig, Store};

const DIM: usize = 512;
const MODEL: &str = "edgeface_xs";

fn vector(rng: &mut impl Rng) -> Vec<f32> {
    (0..DIM).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

fn seal_open(c: &mut Criterion) {
    let keys = TemplateKeys::ephemeral();
    let plain = wardgate::store::encode_vector(&vector(&mut rand::rngs::StdRng::seed_from_u64(1)));
    let t = TemplateRef {
        face_id: "0190f3b2-5c1e-7000-8000-000000000001",
        subject_id: "0190f3b2-5c1e-7000-8000-000000000002",
        model_id: MODEL,
        dim: DIM,
    };
    let (id, blob) = keys.seal(t, &plain);
    let mut g = c.benchmark_group("template");
    g.bench_function("seal_512", |b| {
        b.iter(|| keys.seal(t, std::hint::black_box(&plain)))
    });
    g.bench_function("open_512", |b| {
        b.iter(|| keys.open(&id, t, std::hint::black_box(&blob)).unwrap())
    });
    g.finish();
}

async fn store_at(dir: &std::path::Path, name: &str) -> Store {
    let cfg = DatabaseConfig {
        url: format!("sqlite://{}", dir.join(name).display()),
        ..DatabaseConfig::default()
    };
    let s = Store::connect(&cfg).await.unwrap();
    s.migrate().await.unwrap();
    s.with_template_keys(Arc::new(TemplateKeys::ephemeral()))
}

/// `n` templates of `n / 2` people; `sealed` through the store, else in the clear by SQL.
async fn fill(store: &Store, url: &str, n: usize, sealed: bool) {
    use sqlx::Connection;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    for p in 0..n / 2 {
        let s = store
            .create_subject(
                &format!("P{p}"),
                "Bench Person",
                Role::Nurse,
                SubjectStatus::Active,
                "admin",
            )
            .await
            .unwrap();
        let vs = vec![vector(&mut rng), vector(&mut rng)];
        if sealed {
            store.add_faces(&s.id, MODEL, &vs).await.unwrap();
        } else {
            for (i, v) in vs.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO faces (id, subject_id, model_id, dim, vector, created_ms) VALUES (?, ?, ?, ?, ?, 0)",
                )
                .bind(format!("{}-{i}", s.id))
                .bind(s.id.clone())
                .bind(MODEL)
                .bind(DIM as i64)
                .bind(wardgate::store::encode_vector(v))
                .execute(&mut conn)
                .await
                .unwrap();
            }
        }
        if p % 5_000 == 0 {
            eprint!(".");
        }
    }
    eprintln!();
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn gallery_load(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let sealed = store_at(dir.path(), "sealed.db").await;
    let clear = store_at(dir.path(), "clear.db").await;
    eprintln!("filling two databases with {n} templates each");
    fill(
        &sealed,
        &format!("sqlite://{}", dir.path().join("sealed.db").display()),
        n,
        true,
    )
    .await;
    fill(
        &clear,
        &format!("sqlite://{}", dir.path().join("clear.db").display()),
        n,
        false,
    )
    .await;
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..5 {
        for (i, s) in [&clear, &sealed].into_iter().enumerate() {
            let t0 = Instant::now();
            let g = s.load_gallery(MODEL, DIM).await.unwrap();
            times[i].push(t0.elapsed());
            assert_eq!(g.len(), n);
        }
    }
    let [c, s] = times.map(median);
    println!(
        "gallery load, {n} templates of {DIM} (median of 5): in the clear {c:.2?}, sealed {s:.2?} (+{:.2?}, {:.2} µs per template)",
        s.saturating_sub(c),
        s.saturating_sub(c).as_secs_f64() * 1e6 / n as f64
    );
    let person = sealed
        .create_subject(
            "ENROL",
            "Enrol Bench",
            Role::Nurse,
            SubjectStatus::Active,
            "admin",
        )
        .await
        .unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut enrol = Vec::new();
    for _ in 0..200 {
        let v = vector(&mut rng);
        let t0 = Instant::now();
        sealed.add_face(&person.id, MODEL, &v).await.unwrap();
        enrol.push(t0.elapsed());
    }
    println!(
        "enrolment (add_face: seal + one transaction on SQLite), median of 200: {:.2?}",
        median(enrol)
    );
}

fn main() {
    let n = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(100_000);
    let mut c = Criterion::default().configure_from_args();
    seal_open(&mut c);
    c.final_summary();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(gallery_load(n));
}
