//! Frame conversion cost per camera format: what one captured frame costs before vision sees
//! it. `cargo bench --bench camera`; results in BENCHMARKS.md ("Camera").

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wardgate::camera::{Converter, PixelFormat};

/// A textured RGB test picture (gradients plus deterministic noise), so JPEG decoding works on
/// realistic entropy rather than a flat image that decodes unrealistically fast.
fn picture(w: u32, h: u32) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    let mut out = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let n = (state & 0x1f) as u8;
            out.push(((x * 255 / w) as u8).saturating_add(n));
            out.push(((y * 255 / h) as u8).saturating_add(n));
            out.push((((x + y) * 255 / (w + h)) as u8).saturating_add(n));
        }
    }
    out
}

fn yuyv_from(rgb: &[u8]) -> Vec<u8> {
    rgb.chunks_exact(6)
        .flat_map(|p| {
            let y = |r: u8, g: u8, b: u8| {
                (16.0 + 0.257 * f32::from(r) + 0.504 * f32::from(g) + 0.098 * f32::from(b)) as u8
            };
            [y(p[0], p[1], p[2]), 128, y(p[3], p[4], p[5]), 128]
        })
        .collect()
}

fn nv12_from(rgb: &[u8], w: u32, h: u32) -> Vec<u8> {
    let mut out: Vec<u8> = rgb
        .chunks_exact(3)
        .map(|p| (16 + (u32::from(p[0]) + u32::from(p[1]) + u32::from(p[2])) / 4) as u8)
        .collect();
    out.resize((w * h + w * h / 2) as usize, 128);
    out
}

fn jpeg_from(rgb: &[u8], w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode(rgb, w, h, image::ExtendedColorType::Rgb8)
        .expect("encode test JPEG");
    out
}

fn conversion(c: &mut Criterion) {
    let mut group = c.benchmark_group("camera_to_rgb");
    for (w, h) in [(640u32, 480u32), (1280, 720)] {
        let rgb = picture(w, h);
        let inputs = [
            (PixelFormat::Yuyv, yuyv_from(&rgb)),
            (PixelFormat::Nv12, nv12_from(&rgb, w, h)),
            (PixelFormat::Mjpeg, jpeg_from(&rgb, w, h)),
        ];
        group.throughput(Throughput::Elements(1));
        for (format, data) in &inputs {
            let conv = Converter::new(*format, w, h, 0);
            let mut out = vec![0u8; (w * h * 3) as usize];
            group.bench_with_input(
                BenchmarkId::new(format.name(), format!("{w}x{h}")),
                data,
                |b, data| b.iter(|| conv.convert(data, &mut out).expect("convert")),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, conversion);
criterion_main!(benches);
