use super::*;
use crate::parse::{Endpoint, FlowState};

const H: i64 = 3600;
/// 2026-03-01T00:00:00Z.
const T0: i64 = 1_772_323_200;

fn record(src: &str, bytes: u64) -> ConnectionRecord {
    ConnectionRecord {
        source: Endpoint {
            ip: Some(src.parse().unwrap()),
            ..Default::default()
        },
        destination: Endpoint {
            port: Some(514),
            ..Default::default()
        },
        bytes: Some(bytes),
        packets: Some(2),
        ..Default::default()
    }
}

fn observe(stats: &mut Stats, r: &ConnectionRecord, at: i64) {
    let obs = Observation {
        record: Some(r),
        context: &[],
        counts: Counts::of_record(r),
    };
    stats.observe(&obs, at, at);
}

#[test]
fn windows_sum_what_each_source_sent() {
    let mut stats = Stats::new([TableSpec::new("source.ip")]);
    for minute in 0..120 {
        observe(&mut stats, &record("10.10.10.1", 1000), T0 + minute * 60);
        if minute < 30 {
            observe(&mut stats, &record("10.10.10.2", 10), T0 + minute * 60);
        }
    }
    let t = stats.table("source.ip").unwrap();
    let now = T0 + 2 * H - 1;
    assert_eq!(t.window("10.10.10.1", H, now).bytes, 60 * 1000);
    assert_eq!(t.window("10.10.10.1", H, now).events, 60);
    assert_eq!(t.window("10.10.10.1", H, now).packets, 120);
    assert_eq!(t.window("10.10.10.1", H, now).connections, 60);
    assert_eq!(t.window("10.10.10.2", H, now), Counts::default());
    assert_eq!(t.window("10.10.10.2", 2 * H, now).bytes, 300);
    let k = t.get("10.10.10.2").unwrap();
    assert_eq!((k.first_seen, k.last_seen), (T0, T0 + 29 * 60));
    assert_eq!(k.totals.events, 30);
    assert!(t.get("10.10.10.3").is_none());
}

#[test]
fn any_field_can_be_the_key_and_context_fills_what_the_record_lacks() {
    let mut stats = Stats::new([
        TableSpec::new("destination.port"),
        TableSpec::new("log.source.ip"),
        TableSpec::new("source.ip"),
    ]);
    // A syslog message from a peer that did not parse: no record, only context.
    let ctx = [
        ("log.source.ip", "192.168.1.1"),
        ("source.ip", "192.168.1.1"),
    ];
    let counts = Counts {
        events: 1,
        bytes: 120,
        ..Counts::default()
    };
    let obs = Observation {
        record: None,
        context: &ctx,
        counts,
    };
    stats.observe(&obs, T0, T0);
    let r = record("10.1.1.1", 50);
    let obs = Observation {
        record: Some(&r),
        context: &ctx,
        counts: Counts::of_record(&r),
    };
    stats.observe(&obs, T0, T0);
    let window = |field: &str, key: &str| stats.table(field).unwrap().window(key, H, T0);
    assert_eq!(window("destination.port", "514").bytes, 50);
    assert_eq!(window("log.source.ip", "192.168.1.1").bytes, 170);
    assert_eq!(window("source.ip", "192.168.1.1").bytes, 120);
    assert_eq!(window("source.ip", "10.1.1.1").bytes, 50);
}

#[test]
fn continuing_and_ending_flows_are_not_new_connections() {
    let mut r = record("10.0.0.1", 10);
    let mut stats = Stats::new([TableSpec::new("source.ip")]);
    for state in [
        Some(FlowState::Begin),
        Some(FlowState::Continuing),
        Some(FlowState::End),
        None,
    ] {
        r.state = state;
        observe(&mut stats, &r, T0);
    }
    let c = stats.table("source.ip").unwrap().window("10.0.0.1", 60, T0);
    assert_eq!((c.events, c.connections), (4, 2));
}

#[test]
fn late_and_future_observations_are_placed_sensibly() {
    let mut stats = Stats::new([TableSpec::new("source.ip")]);
    let r = record("10.0.0.1", 1);
    observe(&mut stats, &r, T0 + H);
    // A record from 10 minutes earlier arrives after a later one.
    let obs = Observation {
        record: Some(&r),
        context: &[],
        counts: Counts::of_record(&r),
    };
    stats.observe(&obs, T0 + H - 600, T0 + H);
    // One from two days ago: in the totals, in no window.
    stats.observe(&obs, T0 - 48 * H, T0 + H);
    // One stamped in the future counts now.
    stats.observe(&obs, T0 + 10 * H, T0 + H);
    let t = stats.table("source.ip").unwrap();
    assert_eq!(t.window("10.0.0.1", 300, T0 + H).events, 2);
    assert_eq!(t.window("10.0.0.1", 900, T0 + H).events, 3);
    assert_eq!(t.get("10.0.0.1").unwrap().totals.events, 4);
    assert_eq!(t.get("10.0.0.1").unwrap().last_seen, T0 + H);
    assert_eq!(t.get("10.0.0.1").unwrap().first_seen, T0 - 48 * H);
    assert_eq!(t.late(), 1);
}

#[test]
fn buckets_past_the_retention_are_dropped() {
    let mut spec = TableSpec::new("source.ip");
    spec.retention_secs = 2 * H as u32;
    let mut stats = Stats::new([spec]);
    for minute in 0..180 {
        observe(&mut stats, &record("10.0.0.1", 1), T0 + minute * 60);
    }
    let t = stats.table("source.ip").unwrap();
    assert_eq!(t.get("10.0.0.1").unwrap().buckets(), 121);
    stats.expire(T0 + 10 * H);
    let t = stats.table("source.ip").unwrap();
    assert_eq!(t.get("10.0.0.1").unwrap().buckets(), 0);
    // The key and its totals stay: a long silence is still known.
    assert_eq!(t.get("10.0.0.1").unwrap().totals.events, 180);
}

#[test]
fn keys_over_the_limit_evict_the_longest_silent_and_are_counted() {
    let mut spec = TableSpec::new("source.ip");
    spec.max_keys = 200;
    let mut stats = Stats::new([spec]);
    for i in 0..1000u32 {
        let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
        observe(&mut stats, &record(&ip, 1), T0 + i64::from(i));
    }
    let t = stats.table("source.ip").unwrap();
    assert!(t.len() <= 200, "{} keys", t.len());
    assert_eq!(t.evicted() + t.len() as u64, 1000);
    // The newest keys are the ones kept.
    assert!(t.get("10.0.3.231").is_some());
    assert!(t.get("10.0.0.1").is_none());
}

#[test]
fn a_snapshot_restores_into_the_same_spec_only() {
    let mut stats = Stats::new([
        TableSpec::new("source.ip"),
        TableSpec::new("destination.port"),
    ]);
    observe(&mut stats, &record("10.0.0.1", 5), T0);
    let snapshot = stats.snapshot();
    let text = serde_json::to_string(&snapshot).unwrap();
    let mut changed = TableSpec::new("destination.port");
    changed.bucket_secs = 300;
    let mut fresh = Stats::new([TableSpec::new("source.ip"), changed]);
    let restored = fresh.restore(serde_json::from_str(&text).unwrap()).unwrap();
    assert_eq!(restored, 1);
    assert_eq!(
        fresh
            .table("source.ip")
            .unwrap()
            .window("10.0.0.1", 60, T0)
            .bytes,
        5
    );
    assert!(fresh.table("destination.port").unwrap().is_empty());
    assert!(fresh.restore(serde_json::json!({"tables": 3})).is_err());
}

#[test]
fn the_same_table_asked_twice_is_kept_once() {
    let stats = Stats::new([TableSpec::new("source.ip"), TableSpec::new("source.ip")]);
    assert_eq!(stats.tables().len(), 1);
}
