//! The endpoint's formats from a made-up sample, and its server over a real socket.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicU64;

use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::*;
use crate::output::OutputStats;

/// A sample with every kind of counter: inputs of each group, drops, the disk queue,
/// rules (one with a quote in its name) and the registry.
fn full_sample() -> Sample {
    let output = OutputStats::default();
    output.events_acked_total.store(90, Relaxed);
    output.events_sent_total.store(100, Relaxed);
    output.events_resent_total.store(4, Relaxed);
    output.batches_acked_total.store(3, Relaxed);
    let syslog = vec![
        ("syslog_events_total", 7),
        ("syslog_bytes_total", 700),
        ("syslog_dropped_rate_limited_total", 2),
        ("syslog_dropped_queue_full_total", 1),
    ];
    Sample {
        agent: AgentSample {
            beat: "lumberwatch".into(),
            ephemeral_id: "abc".into(),
            uptime: Duration::from_secs(5),
        },
        output: output.snapshot().to_vec(),
        outstanding_max: 500,
        ack_latency: (Duration::from_millis(30), Duration::from_millis(20)),
        output_type: "logstash",
        queued: 120,
        queue_len: 10,
        queue_max: 3200,
        inputs: vec![
            InputSample {
                label: "edge".into(),
                kind: "syslog",
                groups: vec![
                    (
                        "parse",
                        vec![("parse_lines_total", 7), ("parse_failures_total", 1)],
                    ),
                    ("syslog", syslog),
                ],
            },
            InputSample {
                label: "conntrack-1".into(),
                kind: "conntrack",
                groups: vec![(
                    "conntrack",
                    vec![
                        ("conntrack_events_total", 3),
                        ("conntrack_dropped_queue_full_total", 0),
                    ],
                )],
            },
            InputSample {
                label: "flows-2".into(),
                kind: "flows",
                groups: vec![("flows", vec![("flows_packets_total", 9)])],
            },
        ],
        disk: Some(DiskSample {
            counters: vec![("disk.written", 20), ("disk.written_bytes", 2000)],
            bytes: 4096,
            unacked: 2,
        }),
        rules: vec![
            (
                "quiet \"edge\"".into(),
                RuleCount {
                    fired: 2,
                    resolved: 1,
                    reports: 0,
                },
            ),
            (
                "daily".into(),
                RuleCount {
                    fired: 0,
                    resolved: 0,
                    reports: 1,
                },
            ),
        ],
        registry_files: Some(4),
        registry_lag_bytes: Some(1234),
    }
}

/// `name{labels} value` or `name value`: the name, the labels text and the value.
fn sample_line(line: &str) -> Option<(&str, &str, f64)> {
    let (series, value) = line.rsplit_once(' ')?;
    let value = value.parse::<f64>().ok()?;
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => (name, rest.strip_suffix('}')?),
        None => (series, ""),
    };
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':');
    name_ok.then_some((name, labels, value))
}

#[test]
fn prometheus_text_has_help_and_type_once_per_family_and_parses() {
    let text = prometheus::render(&full_sample());
    let mut typed = BTreeSet::new();
    let mut helped = BTreeSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("a help text");
            assert_ne!(help, prometheus::help("unknown"), "{name} has no help text");
            assert!(helped.insert(name.to_string()), "HELP twice for {name}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("a type");
            assert!(["counter", "gauge", "summary"].contains(&kind), "{line}");
            assert!(name.starts_with("lumberwatch_"), "{line}");
            if kind == "counter" {
                assert!(name.ends_with("_total"), "{line}");
            }
            assert!(typed.insert(name.to_string()), "TYPE twice for {name}");
        } else {
            let parsed = sample_line(line).unwrap_or_else(|| panic!("not a sample: {line:?}"));
            let family = parsed.0.trim_end_matches("_sum").trim_end_matches("_count");
            assert!(typed.contains(family), "{line} before its TYPE");
            samples.push(line.to_string());
        }
    }
    assert_eq!(typed, helped);
    for expected in [
        "lumberwatch_output_events_acked_total 90",
        "lumberwatch_output_ack_latency_last_seconds 0.03",
        "lumberwatch_output_ack_latency_seconds_count 3",
        "lumberwatch_events_queued_total 120",
        "lumberwatch_parse_lines_total{input=\"edge\"} 7",
        "lumberwatch_syslog_events_total{input=\"edge\"} 7",
        "lumberwatch_syslog_dropped_total{input=\"edge\",reason=\"rate_limited\"} 2",
        "lumberwatch_syslog_dropped_total{input=\"edge\",reason=\"queue_full\"} 1",
        "lumberwatch_conntrack_dropped_total{input=\"conntrack-1\",reason=\"queue_full\"} 0",
        "lumberwatch_flows_packets_total{input=\"flows-2\"} 9",
        "lumberwatch_disk_written_total 20",
        "lumberwatch_disk_written_bytes_total 2000",
        "lumberwatch_disk_unacked_events 2",
        "lumberwatch_rule_alerts_total{rule=\"quiet \\\"edge\\\"\",state=\"fired\"} 2",
        "lumberwatch_rule_reports_total{rule=\"daily\"} 1",
        "lumberwatch_registry_files 4",
        "lumberwatch_registry_lag_bytes 1234",
    ] {
        assert!(
            samples.iter().any(|s| s == expected),
            "{expected} missing:\n{text}"
        );
    }
    let sum = samples
        .iter()
        .find_map(|s| s.strip_prefix("lumberwatch_output_ack_latency_seconds_sum "))
        .and_then(|v| v.parse::<f64>().ok())
        .expect("a latency sum");
    assert!((sum - 0.06).abs() < 1e-9, "{sum}");
}

#[test]
fn stats_json_has_the_beats_keys_and_lumberwatch_details() {
    let stats = beats::stats(&full_sample());
    let at = |path: &str| {
        stats
            .pointer(path)
            .cloned()
            .unwrap_or_else(|| panic!("no {path} in {stats:#}"))
    };
    assert_eq!(at("/libbeat/output/type"), "logstash");
    assert_eq!(at("/libbeat/output/events/acked"), 90);
    assert_eq!(at("/libbeat/output/events/total"), 100);
    assert_eq!(at("/libbeat/output/events/failed"), 4);
    assert_eq!(at("/libbeat/output/events/active"), 6);
    assert_eq!(at("/libbeat/pipeline/queue/max_events"), 3200);
    assert_eq!(at("/libbeat/pipeline/queue/filled/events"), 10);
    assert_eq!(at("/libbeat/pipeline/events/active"), 30);
    assert_eq!(at("/filebeat/events/added"), 120);
    assert_eq!(at("/filebeat/events/done"), 90);
    assert_eq!(at("/registrar/states/current"), 4);
    assert_eq!(at("/lumberwatch/registry/lag_bytes"), 1234);
    assert_eq!(at("/beat/info/uptime/ms"), 5000);
    assert_eq!(at("/lumberwatch/output/events_outstanding_max"), 500);
    assert_eq!(at("/lumberwatch/output/ack_latency/last_ms"), 30.0);
    assert_eq!(at("/lumberwatch/output/ack_latency/avg_ms"), 20.0);
    assert_eq!(at("/lumberwatch/output/connections_total"), 0);
    assert_eq!(at("/lumberwatch/inputs/edge/type"), "syslog");
    assert_eq!(
        at("/lumberwatch/inputs/edge/syslog/dropped_rate_limited_total"),
        2
    );
    assert_eq!(at("/lumberwatch/inputs/edge/parse/failures_total"), 1);
    assert_eq!(at("/lumberwatch/inputs/flows-2/flows/packets_total"), 9);
    assert_eq!(at("/lumberwatch/disk/written_bytes"), 2000);
    assert_eq!(at("/lumberwatch/disk/unacked"), 2);
    assert_eq!(at("/lumberwatch/rules/daily/reports"), 1);
    assert_eq!(at("/lumberwatch/rules/quiet \"edge\"/fired"), 2);
}

/// An endpoint over a real socket with made-up counters: 90 events acked.
async fn start() -> (SocketAddr, Arc<OutputStats>) {
    let output = Arc::new(OutputStats::default());
    output.events_acked_total.store(90, Relaxed);
    let counters = Counters {
        output: output.clone(),
        output_type: "console",
        inputs: Vec::new(),
        disk: None,
        queued: Arc::new(AtomicU64::new(90)),
        rules: None,
        registry: None,
    };
    let endpoint = Endpoint {
        counters,
        agent: AgentInfo::new("lumberwatch", Some("test")),
        started: Instant::now(),
        queue_max: 10,
        queue_len: Box::new(|| 0),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(serve(listener, Arc::new(endpoint)));
    (addr, output)
}

/// Writes `request` on a new connection and reads until the server closes it.
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut text = String::new();
    let read = stream.read_to_string(&mut text);
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the server closes the connection")
        .expect("read");
    text
}

fn status(response: &str) -> &str {
    response.split(' ').nth(1).unwrap_or("")
}

fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

#[tokio::test]
async fn the_server_answers_routes_methods_and_garbage_and_keeps_serving() {
    let (addr, output) = start().await;
    let close = "Connection: close\r\n\r\n";
    let info = exchange(addr, format!("GET / HTTP/1.1\r\n{close}").as_bytes()).await;
    assert_eq!(status(&info), "200", "{info}");
    let info: Value = serde_json::from_str(body(&info)).expect("JSON");
    assert_eq!(info["name"], "test");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));

    let stats = exchange(
        addr,
        format!("GET /stats?pretty HTTP/1.1\r\n{close}").as_bytes(),
    )
    .await;
    let stats: Value = serde_json::from_str(body(&stats)).expect("JSON");
    assert_eq!(stats["libbeat"]["output"]["events"]["acked"], 90);

    for (request, expected) in [
        (format!("POST /stats HTTP/1.1\r\n{close}"), "405"),
        (format!("GET /nothing HTTP/1.1\r\n{close}"), "404"),
        ("\x16\x03\x01\x00\x05hello\r\n\r\n".to_string(), "400"),
        (
            "GET / HTTP/1.1\r\nContent-Length: 9\r\n\r\n".to_string(),
            "400",
        ),
        (
            format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_HEAD)),
            "400",
        ),
    ] {
        let response = exchange(addr, request.as_bytes()).await;
        assert_eq!(status(&response), expected, "{request:?}: {response}");
    }

    output.events_acked_total.store(91, Relaxed);
    let head = exchange(
        addr,
        format!("HEAD /metrics HTTP/1.1\r\n{close}").as_bytes(),
    )
    .await;
    assert_eq!(status(&head), "200");
    assert_eq!(body(&head), "", "HEAD has no body");
    let metrics = exchange(addr, format!("GET /metrics HTTP/1.1\r\n{close}").as_bytes()).await;
    assert!(body(&metrics).contains("\nlumberwatch_output_events_acked_total 91\n"));
}

const MAX_HEAD: usize = crate::http::MAX_HEAD_BYTES;

#[tokio::test]
async fn connections_past_the_limit_get_503_and_the_held_ones_still_work() {
    let (addr, _) = start().await;
    let mut held = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        // A first request proves the connection holds a slot.
        stream
            .write_all(b"GET / HTTP/1.1\r\n\r\n")
            .await
            .expect("write");
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.expect("a response");
        assert_eq!(&head, b"HTTP/1.1 200");
        held.push(stream);
    }
    let busy = exchange(addr, b"GET / HTTP/1.1\r\n\r\n").await;
    assert_eq!(status(&busy), "503", "{busy}");
    held.clear();
    let ok = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let response = exchange(addr, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").await;
            if status(&response) == "200" {
                return response;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("a slot frees once its connection closes");
    assert!(ok.contains("ephemeral_id"));
}

#[test]
fn registry_lag_is_what_tracked_files_hold_past_their_acked_offsets() {
    use crate::registry::{FileKey, FileState};
    let dir = tempfile::tempdir().unwrap();
    let state = |path: &std::path::Path, offset| FileState {
        path: path.to_path_buf(),
        offset,
        updated_secs: 0,
        input: None,
    };
    let (a, b, gone) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("gone"),
    );
    std::fs::write(&a, vec![b'x'; 100]).unwrap();
    std::fs::write(&b, vec![b'x'; 10]).unwrap();
    let key = |p: &std::path::Path| FileKey::of(&std::fs::metadata(p).unwrap());
    let mut files = std::collections::HashMap::new();
    files.insert(key(&a), state(&a, 40));
    files.insert(key(&b), state(&b, 10));
    // An entry whose path now holds another file (rotated) counts nothing.
    files.insert(FileKey::Fingerprint([7; 32]), state(&a, 0));
    files.insert(
        FileKey::Inode {
            device: 0,
            inode: 1,
        },
        state(&gone, 0),
    );
    assert_eq!(super::registry_lag(&files), 60);
}
