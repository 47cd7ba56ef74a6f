//! Connection-log parsers and the statistics they feed.
//!
//! - `parse/<format>`: each parser over the valid lines of its fixtures
//!   (`tests/fixtures/parse/<format>/`), repeated to about 256 KiB, in bytes/s per core.
//! - `stats/ingest`: one million connection records over 100,000 source addresses,
//!   in records/s per core, through the same path the inputs use (`Observation` →
//!   `Stats::observe`). Before it runs, the bench prints the memory the statistics
//!   hold per key after 10 million records (a counting allocator), once.
//!
//! `cargo bench --bench parse -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lumberwatch::parse::{ConnectionRecord, Endpoint, Format, Outcome, ParserSpec};
use lumberwatch::stats::{Counts, Observation, Stats, TableSpec};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

/// Options a format needs to be built at all.
fn spec(format: Format) -> ParserSpec {
    let pattern = (format.name() == "pattern").then(|| {
        r"^(?P<source.ip>\S+) \S+ \S+ \[[^\]]+\] .*? (?P<destination.bytes>\d+)".to_string()
    });
    ParserSpec {
        format,
        fields: None,
        pattern,
    }
}

/// The fixture lines of `format` that parse into records, repeated to ~256 KiB.
fn corpus(format: Format) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/parse")
        .join(match format.name() {
            "pattern" => "access-log",
            name => name,
        });
    let mut parser = spec(format).build().expect("bench specs build");
    let mut good = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    for path in paths {
        let is_input = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("log" | "json" | "jsonl")
        ) && !path.to_string_lossy().contains("malformed")
            && !path.to_string_lossy().ends_with("valid.jsonl");
        if !is_input {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for line in text.lines() {
            let mut out = Vec::new();
            if matches!(parser.parse(line, &mut out), Ok(Outcome::Records)) && !out.is_empty() {
                good.push(line.to_string());
            }
        }
    }
    let size: usize = good.iter().map(|l| l.len() + 1).sum();
    if size == 0 {
        return good;
    }
    let copies = (256 << 10) / size + 1;
    good.iter()
        .cycle()
        .take(good.len() * copies)
        .cloned()
        .collect()
}

fn parsers(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    for &(name, format) in Format::ALL {
        let lines = corpus(format);
        if lines.is_empty() {
            eprintln!("parse/{name}: no fixture lines parse, skipped");
            continue;
        }
        let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        let mut parser = spec(format).build().expect("bench specs build");
        let mut out = Vec::new();
        group.bench_function(name, |b| {
            b.iter(|| {
                for line in &lines {
                    out.clear();
                    black_box(parser.parse(black_box(line), &mut out)).ok();
                }
            })
        });
    }
    group.finish();
}

const KEYS: u32 = 100_000;
/// 2026-03-01T00:00:00Z.
const T0: i64 = 1_772_323_200;

fn record(i: u32) -> ConnectionRecord {
    ConnectionRecord {
        source: Endpoint {
            ip: Some(std::net::Ipv4Addr::from(0x0a00_0000 + i % KEYS).into()),
            port: Some(40000 + (i % 20000) as u16),
            ..Endpoint::default()
        },
        destination: Endpoint {
            port: Some(514),
            ..Endpoint::default()
        },
        bytes: Some(u64::from(i % 1500) + 60),
        packets: Some(1),
        ..ConnectionRecord::default()
    }
}

/// Feeds `n` records over the keys, spread over an hour of simulated time.
fn ingest(stats: &mut Stats, records: &[ConnectionRecord], n: usize) {
    for i in 0..n {
        let r = &records[i % records.len()];
        let at = T0 + (i as i64 * 3600) / n as i64;
        let obs = Observation {
            record: Some(r),
            context: &[],
            counts: Counts::of_record(r),
        };
        stats.observe(&obs, at, at);
    }
}

fn statistics(c: &mut Criterion) {
    let records: Vec<ConnectionRecord> = (0..KEYS * 2).map(record).collect();
    let before = counting_alloc::live();
    let mut stats = Stats::new([TableSpec::new("source.ip")]);
    ingest(&mut stats, &records, 10_000_000);
    let held = counting_alloc::live() - before;
    let keys = stats.table("source.ip").map_or(0, |t| t.len());
    eprintln!(
        "stats memory: {} bytes for {keys} keys after 10,000,000 records over an hour = {} bytes per key (1-minute buckets)",
        held,
        held / keys.max(1) as isize
    );
    drop(stats);

    let mut group = c.benchmark_group("stats");
    const N: usize = 1_000_000;
    group.throughput(Throughput::Elements(N as u64));
    group.sample_size(10);
    let mut stats = Stats::new([TableSpec::new("source.ip")]);
    group.bench_function("ingest", |b| b.iter(|| ingest(&mut stats, &records, N)));
    group.finish();
}

criterion_group!(benches, parsers, statistics);
criterion_main!(benches);
