//! Codec micro-benchmarks: encoding and decoding one batch of 2048 Filebeat-shaped
//! events (plain and zlib at the levels people run), and building one event.
//!
//! Byte throughput is always counted in event JSON bytes, whatever goes on the wire,
//! so MB/s compares across rows. Figures, not assertions: compare runs on one machine
//! (results and the flate2 backend choice are in docs/PERFORMANCE.md).
//!
//! `cargo bench --bench codec -- --warm-up-time 1 --measurement-time 3`

use std::fmt::Write;
use std::hint::black_box;

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use lumberwatch::event::{AgentInfo, EventShape, EventTemplate};
use lumberwatch::proto::{BatchEncoder, Decoder, Limits};

const BATCH: usize = 2048;

fn template() -> EventTemplate {
    let agent = AgentInfo {
        beat: "filebeat".into(),
        name: "web-1".into(),
        hostname: "web-1".into(),
        ephemeral_id: "6b8f5a7c2d1e4f3a9b0c8d7e6f5a4b3c".into(),
    };
    let shape = EventShape {
        input_type: "filestream".into(),
        ..Default::default()
    };
    EventTemplate::new(&agent, &shape)
}

/// Nginx access-log lines that differ the way real ones do (client, path, status,
/// size, latency, user agent), from a fixed seed so every run sees the same bytes.
fn messages(n: usize) -> Vec<String> {
    const PATHS: [&str; 6] = [
        "/api/v2/cart/items",
        "/api/v2/search?q=running+shoes&page=2",
        "/static/js/app.3f9c2e1b.js",
        "/checkout/payment",
        "/api/v2/users/me/orders?limit=20",
        "/healthz",
    ];
    const AGENTS: [&str; 4] = [
        "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5) Mobile/15E148",
        "curl/8.5.0",
        "Go-http-client/1.1",
    ];
    const STATUS: [u16; 5] = [200, 200, 200, 304, 404];
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        // xorshift64: cheap, deterministic, good enough to vary log lines.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|i| {
            let r = next();
            format!(
                "10.{}.{}.{} - - [23/Nov/2025:13:{:02}:{:02} +0000] \"GET {} HTTP/1.1\" {} {} \"-\" \"{}\" rt={}.{:03}",
                r % 256,
                (r >> 8) % 256,
                (r >> 16) % 256,
                (i / 60) % 60,
                i % 60,
                PATHS[(r >> 24) as usize % PATHS.len()],
                STATUS[(r >> 32) as usize % STATUS.len()],
                (r >> 40) % 50_000,
                AGENTS[(r >> 48) as usize % AGENTS.len()],
                (r >> 52) % 3,
                (r >> 54) % 1000,
            )
        })
        .collect()
}

/// One batch of events as the output sees them: serialised JSON documents.
fn batch() -> Vec<Vec<u8>> {
    let mut template = template();
    let mut offset = 0u64;
    messages(BATCH)
        .iter()
        .map(|m| {
            let event = template.event(m, |b| {
                write!(
                    b,
                    r#","log":{{"offset":{offset},"file":{{"path":"/var/log/nginx/access.log"}}}}"#
                )
                .expect("writing to memory cannot fail");
            });
            offset += m.len() as u64 + 1;
            event.json.to_vec()
        })
        .collect()
}

fn encode(events: &[Vec<u8>], level: u32) -> Vec<u8> {
    let mut out = Vec::new();
    BatchEncoder::new(level).encode(&mut out, events.iter().map(Vec::as_slice));
    out
}

fn codec(c: &mut Criterion) {
    let events = batch();
    let json_bytes: usize = events.iter().map(Vec::len).sum();
    let throughput = Throughput::ElementsAndBytes {
        elements: events.len() as u64,
        bytes: json_bytes as u64,
    };
    eprintln!(
        "batch: {} events, {json_bytes} bytes of JSON ({} per event), {} bytes at zlib level 3",
        events.len(),
        json_bytes / events.len(),
        encode(&events, 3).len(),
    );

    let mut group = c.benchmark_group("encode");
    group.throughput(throughput.clone());
    for (name, level) in [("plain", 0), ("zlib-1", 1), ("zlib-3", 3), ("zlib-6", 6)] {
        // Encoder and output buffer live across batches, as in the output worker.
        let mut encoder = BatchEncoder::new(level);
        let mut out = Vec::new();
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                encoder.encode(&mut out, events.iter().map(Vec::as_slice));
                black_box(out.len())
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("decode");
    group.throughput(throughput);
    for (name, level) in [("plain", 0), ("zlib-3", 3)] {
        let wire = encode(&events, level);
        let mut decoder = Decoder::new(Limits::default());
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || BytesMut::from(&wire[..]),
                |buf| {
                    let mut frames = 0usize;
                    while let Some(frame) = decoder.decode(buf).expect("the batch decodes") {
                        black_box(frame);
                        frames += 1;
                    }
                    assert_eq!(frames, BATCH + 1, "a window frame and every event");
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();

    let mut template = template();
    let messages = messages(BATCH);
    let mut group = c.benchmark_group("event");
    group.throughput(Throughput::ElementsAndBytes {
        elements: 1,
        bytes: (json_bytes / events.len()) as u64,
    });
    let mut next = messages.iter().cycle();
    group.bench_function("template", |b| {
        b.iter(|| {
            let message = next.next().expect("cycling a non-empty list never ends");
            template.event(message, |json| {
                json.extend_from_slice(
                    br#","log":{"offset":4242,"file":{"path":"/var/log/nginx/access.log"}}"#,
                )
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = codec
}
criterion_main!(benches);
