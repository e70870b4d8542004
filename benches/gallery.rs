//! Gallery 1:N search at 1k, 10k and 100k templates: plain slices vs ndarray.
//! Run: `cargo bench --bench gallery`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use wardgate::gallery::Gallery;
use wardgate::store::StoredTemplate;

const DIM: usize = 192;

fn gallery(n: usize) -> Gallery {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let t = (0..n)
        .map(|i| StoredTemplate {
            face_id: format!("f{i}"),
            subject_id: format!("s{}", i / 3),
            vector: (0..DIM).map(|_| rng.gen_range(-1.0f32..1.0)).collect(),
        })
        .collect();
    Gallery::build("bench", DIM, t).0
}

fn search(c: &mut Criterion) {
    let mut group = c.benchmark_group("gallery_search");
    let probe: Vec<f32> = (0..DIM).map(|i| (i as f32 * 0.37).sin()).collect();
    for n in [1_000, 10_000, 100_000] {
        let g = gallery(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("slices", n), &g, |b, g| {
            b.iter(|| g.search(std::hint::black_box(&probe)).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("ndarray", n), &g, |b, g| {
            b.iter(|| g.search_ndarray(std::hint::black_box(&probe)).unwrap())
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(4));
    targets = search
}
criterion_main!(benches);
