//! The rules engine and its statistics at 100,000 keys and 10 rules (issue 6).
//!
//! Traffic: connection records from 100,000 source addresses, in turn, ten million an
//! hour of simulated time (each address every 36 s), relayed by 8 syslog senders
//! (`log.source.ip`), 40 % to port 443, 5 % denied; 100 addresses are denied always,
//! 200 send 1.5 MB a record, 100 only 60 bytes, so that a few rules fire.
//!
//! - Printed first, once: after an hour of traffic (10 million records) the engine's
//!   heap per key (a counting allocator) and the first tick (it opens the episodes).
//!   Then the state file of an engine at 100,000 keys after the same hour per key: its
//!   size, the serialised snapshot's heap, how long [`Engine::snapshot_json`] holds the
//!   engine, [`StatsFile::save_json`] (atomic, fsynced) into a directory under
//!   `target/`, loading it back and [`Engine::restore`] into a fresh engine; medians of
//!   3, one snapshot alive at a time.
//! - `rules/tick`: one [`Engine::tick`] over the 100,000 keys and 10 rules, once the
//!   first tick has opened its episodes: what every check interval costs.
//! - `rules/ingest`: [`Engine::on_observation`] alone, in records/s per core, the
//!   simulated clock going on from the hour above.
//! - `rules/feed`: the agent's path, [`StatsFeed::observe`] (the agent's statistics and
//!   the engine, each behind its mutex, at the real clock), and the same two calls
//!   without the mutexes: the difference is what the locks cost.
//!
//! `cargo bench --bench rules -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use lumberwatch::config::{self, Config};
use lumberwatch::input::parsing::{StatsFeed, unix_now};
use lumberwatch::parse::{Action, ConnectionRecord, Endpoint, Transport};
use lumberwatch::registry::StatsFile;
use lumberwatch::rules::Engine;
use lumberwatch::stats::{Counts, Observation, Stats};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

/// The 10 rules: flatlines over 6 h and 24 h, rates below and above with filters on
/// ports, transports, actions and the input, a daily report; keyed on `source.ip`,
/// `destination.port` and `log.source.ip`. Six filters, so seven tables of statistics.
const CONFIG: &str = r#"
lumberwatch.inputs:
  - type: stdin
output.logstash.hosts: ["localhost"]
lumberwatch.stats.keys: [source.ip, log.source.ip]
lumberwatch.rules:
  - {name: silent-6h, type: flatline, window: 6h}
  - name: syslog-silent-24h
    type: flatline
    window: 24h
    filter: {ports: [514], transports: [udp]}
  - name: relay-silent-6h
    type: flatline
    key: log.source.ip
    window: 6h
    expected: [192.168.1.0/28]
    filter: {inputs: [firewalls]}
  - {name: under-20kb-per-hour, type: rate, window: 1h, threshold: 20KB, realert: 3h}
  - name: web-over-50mb-per-hour
    type: rate
    window: 1h
    threshold: 50MB
    condition: above
    filter: {ports: [443, 8443], transports: [tcp]}
  - name: denied-burst-per-port
    type: rate
    key: destination.port
    window: 5m
    threshold: 100 connections
    condition: above
    filter: {actions: [deny]}
  - name: denied-per-source
    type: rate
    window: 15m
    threshold: 20 connections
    condition: above
    filter: {actions: [deny]}
  - name: dns-over-1000-packets
    type: rate
    window: 1h
    threshold: 1000 packets
    condition: above
    filter: {ports: [53], transports: [udp]}
  - name: relay-under-1000-events
    type: rate
    key: log.source.ip
    window: 1h
    threshold: 1000
    filter: {inputs: [firewalls]}
  - {name: daily-bytes, type: report, schedule: daily}
"#;

const KEYS: u64 = 100_000;
/// Records per key and hour of simulated time.
const PER_KEY_HOUR: u64 = 100;
/// Records per hour of simulated time at [`KEYS`] keys.
const PER_HOUR: u64 = KEYS * PER_KEY_HOUR;
/// Keys of the engine whose state file is timed (see the module doc).
const STATE_KEYS: u64 = 100_000;
/// Records per iteration of the throughput benches: 36 s of simulated time, so a run
/// adds minutes of buckets, not hours.
const BATCH: u64 = 100_000;
/// 2026-03-01T00:00:00Z.
const T0: i64 = 1_772_323_200;
/// The input id the records come from (`filter.inputs`).
const INPUT: &str = "firewalls";
const RELAYS: [&str; 8] = [
    "192.168.1.1",
    "192.168.1.2",
    "192.168.1.3",
    "192.168.1.4",
    "192.168.1.5",
    "192.168.1.6",
    "192.168.1.7",
    "192.168.1.8",
];
/// Destination ports, weighted: 443 40 %, 80 and 53 15 %, 514 10 %, others 5 %.
const PORTS: [u16; 20] = [
    443, 443, 443, 443, 443, 443, 443, 443, 80, 80, 80, 53, 53, 53, 514, 514, 22, 3000, 8443, 123,
];

fn config() -> Config {
    config::parse(CONFIG, "rules-bench.yml").expect("the bench's config is valid")
}

/// The `i`-th record of the stream over `keys` keys: source address `i % keys`, the
/// rest mixed from `i`.
fn record(i: u64, keys: u64) -> ConnectionRecord {
    let key = i % keys;
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    let port = PORTS[(h % PORTS.len() as u64) as usize];
    let transport = match port {
        53 | 123 | 514 => Transport::Udp,
        _ => Transport::Tcp,
    };
    let denied = key.is_multiple_of(1000) || (h >> 8).is_multiple_of(20);
    let bytes = match key % 1000 {
        500 => 60,
        1 | 501 => 1_500_000,
        _ => 60 + (h >> 16) % 1500,
    };
    ConnectionRecord {
        source: Endpoint {
            ip: Some(std::net::Ipv4Addr::from(0x0a00_0000 + key as u32).into()),
            port: Some(40000 + (i % 20000) as u16),
            ..Endpoint::default()
        },
        destination: Endpoint {
            port: Some(port),
            ..Endpoint::default()
        },
        transport: Some(transport),
        action: Some(if denied { Action::Deny } else { Action::Allow }),
        bytes: Some(bytes),
        packets: Some(bytes / 1000 + 1),
        ..ConnectionRecord::default()
    }
}

fn relay(i: u64, keys: u64) -> &'static str {
    RELAYS[(i % keys % RELAYS.len() as u64) as usize]
}

/// When record `i` of the stream over `keys` keys happens on the simulated clock.
fn clock(i: u64, keys: u64) -> i64 {
    T0 + (i * 3600 / (keys * PER_KEY_HOUR)) as i64
}

/// Feeds records `from..to` of the stream over `keys` keys to `engine`, each at its
/// time, as the input with id [`INPUT`] relayed by its syslog sender.
fn ingest(engine: &mut Engine, keys: u64, from: u64, to: u64) {
    for i in from..to {
        let r = record(i, keys);
        let context = [("log.source.ip", relay(i, keys)), ("input.id", INPUT)];
        let obs = Observation {
            record: Some(&r),
            context: &context,
            counts: Counts::of_record(&r),
        };
        let at = clock(i, keys);
        engine.on_observation(&obs, at, at);
    }
}

/// The median of `times`, in milliseconds.
fn median(mut times: Vec<Duration>) -> String {
    times.sort();
    ms(times[times.len() / 2])
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// The one-shot figures, then `rules/tick` and `rules/ingest` on the same engine.
fn engine(c: &mut Criterion) {
    let config = config();
    let before = counting_alloc::live();
    let mut engine = Engine::new(&config.rules, &config.stats);
    let started = Instant::now();
    ingest(&mut engine, KEYS, 0, PER_HOUR);
    let took = started.elapsed();
    let held = counting_alloc::live() - before;
    eprintln!(
        "rules ingest: {PER_HOUR} records over {KEYS} keys, an hour of simulated time, in {:.1} s ({:.0} records/s)",
        took.as_secs_f64(),
        PER_HOUR as f64 / took.as_secs_f64()
    );
    eprintln!(
        "rules memory: {held} bytes = {} bytes per key (10 rules, 7 tables of 1-minute buckets, the report's totals)",
        held / KEYS as isize
    );
    // The next check interval after the hour.
    let now = clock(PER_HOUR, KEYS) + 30;
    let started = Instant::now();
    let alerts = engine.tick(now);
    eprintln!(
        "rules first tick: {} alerts, {} episodes open, in {}",
        alerts.len(),
        engine.open_episodes(),
        ms(started.elapsed())
    );
    drop(alerts);
    state_file(&config);

    let mut group = c.benchmark_group("rules");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    group.bench_function("tick", |b| b.iter(|| black_box(engine.tick(now))));
    group.throughput(Throughput::Elements(BATCH));
    let mut next = PER_HOUR;
    group.bench_function("ingest", |b| {
        b.iter(|| {
            ingest(&mut engine, KEYS, next, next + BATCH);
            next += BATCH;
        })
    });
    group.finish();
}

/// The state file of an engine at [`STATE_KEYS`] keys after the same hour of traffic
/// per key: one snapshot alive at a time, each figure the median of 3 rounds.
fn state_file(config: &Config) {
    let mut engine = Engine::new(&config.rules, &config.stats);
    let records = STATE_KEYS * PER_KEY_HOUR;
    ingest(&mut engine, STATE_KEYS, 0, records);
    engine.tick(clock(records, STATE_KEYS) + 30);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a temp dir under target/");
    let file = StatsFile::rules(dir.path());
    let mut value_bytes = 0;
    let (mut snapshot, mut save, mut load, mut restore) = (vec![], vec![], vec![], vec![]);
    for _ in 0..3 {
        let before = counting_alloc::live();
        let started = Instant::now();
        let json = engine.snapshot_json();
        snapshot.push(started.elapsed());
        value_bytes = counting_alloc::live() - before;
        let started = Instant::now();
        file.save_json(&json).expect("the state file is written");
        drop(json);
        save.push(started.elapsed());
        let started = Instant::now();
        let value = file.load().expect("the state file reads back");
        load.push(started.elapsed());
        let value = value.expect("the state file was saved");
        let started = Instant::now();
        let mut fresh = Engine::new(&config.rules, &config.stats);
        fresh
            .restore(value)
            .expect("the engine restores its own snapshot");
        restore.push(started.elapsed());
        assert_eq!(fresh.open_episodes(), engine.open_episodes());
    }
    let size = std::fs::metadata(file.path()).map_or(0, |m| m.len());
    let per_key = |bytes: u64| bytes / STATE_KEYS;
    eprintln!(
        "rules state at {STATE_KEYS} keys: file {size} bytes ({} per key), serialised snapshot {value_bytes} bytes on the heap ({} per key)",
        per_key(size),
        per_key(value_bytes.unsigned_abs() as u64)
    );
    eprintln!(
        "rules state at {STATE_KEYS} keys: snapshot {} (engine locked), save {}, load {}, restore {} (medians of 3)",
        median(snapshot),
        median(save),
        median(load),
        median(restore)
    );
}

/// `rules/feed`: the agent's path against the same calls without its mutexes.
fn feed(c: &mut Criterion) {
    let config = config();
    let stats = Arc::new(Mutex::new(Stats::new(config.stats.tables())));
    let engine = Arc::new(Mutex::new(Engine::new(&config.rules, &config.stats)));
    let feed = StatsFeed::new(stats.clone())
        .with_rules(Some(engine.clone()))
        .for_input(Some(INPUT));
    let observe = |from: u64, to: u64| {
        for i in from..to {
            let r = record(i, KEYS);
            let context = [("log.source.ip", relay(i, KEYS))];
            let obs = Observation {
                record: Some(&r),
                context: &context,
                counts: Counts::of_record(&r),
            };
            feed.observe(&obs, None);
        }
    };
    // Every key known before the clock starts.
    observe(0, KEYS);

    let mut group = c.benchmark_group("rules/feed");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(BATCH));
    let mut next = KEYS;
    group.bench_function("observe", |b| {
        b.iter(|| {
            observe(next, next + BATCH);
            next += BATCH;
        })
    });
    let mut stats = stats.lock().expect("no bench thread panicked");
    let mut engine = engine.lock().expect("no bench thread panicked");
    group.bench_function("unlocked", |b| {
        b.iter(|| {
            for i in next..next + BATCH {
                let r = record(i, KEYS);
                let context = [("log.source.ip", relay(i, KEYS)), ("input.id", INPUT)];
                let obs = Observation {
                    record: Some(&r),
                    context: &context,
                    counts: Counts::of_record(&r),
                };
                let now = unix_now();
                stats.observe(&obs, now, now);
                engine.on_observation(&obs, now, now);
            }
            next += BATCH;
        })
    });
    group.finish();
}

criterion_group!(benches, engine, feed);
criterion_main!(benches);
