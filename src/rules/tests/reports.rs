//! Report rules: per-key totals at each boundary, expected keys with zeros, catch-up.

use super::*;

fn reports(alerts: &[Alert]) -> Vec<&Report> {
    alerts
        .iter()
        .filter_map(|a| match &a.detail {
            Detail::Report(r) => Some(r),
            Detail::Episode(_) => None,
        })
        .collect()
}

#[test]
fn daily_report_at_midnight_in_the_configured_zone_includes_silent_expected_keys() {
    let mut e = engine(
        "- name: daily\n  type: report\n  schedule: {at: \"00:00\", timezone: Europe/Paris}\n  expected: [10.10.10.1, 10.10.10.2, 10.10.10.3]\n",
    );
    // Midnight in Paris on 2026-03-01 is 23:00Z the day before.
    let midnight = T0 - H;
    assert!(e.tick(midnight).is_empty());
    for i in 0..4312 {
        send(&mut e, "10.10.10.1", 278_293, midnight + 60 + i * 10);
    }
    for i in 0..10 {
        send(&mut e, "10.10.10.2", 1000, midnight + 2 * H + i);
    }
    send(&mut e, "192.168.1.5", 5, midnight + 3 * H);
    assert!(e.tick(midnight + 24 * H - 1).is_empty());
    let alerts = e.tick(midnight + 24 * H);
    let found = reports(&alerts);
    assert_eq!(found.len(), 4, "{alerts:#?}");
    assert!(alerts.iter().all(|a| a.at == midnight + 24 * H));
    let keys: Vec<Option<&str>> = found.iter().map(|r| r.key.as_deref()).collect();
    assert_eq!(
        keys,
        [
            Some("10.10.10.1"),
            Some("10.10.10.2"),
            Some("10.10.10.3"),
            None
        ]
    );
    assert_eq!(
        alerts[0].message(),
        "daily report 2026-03-01: 10.10.10.1 sent 1.2 GB in 4,312 events"
    );
    let one = found[0];
    assert_eq!(one.counts.bytes, 4312 * 278_293);
    assert_eq!(one.counts.packets, 4312);
    assert_eq!(one.first_seen, Some(midnight + 60));
    assert_eq!(one.last_seen, Some(midnight + 60 + 4311 * 10));
    assert_eq!(
        (one.period_start, one.period_end),
        (midnight, midnight + 24 * H)
    );
    assert_eq!(found[2].counts, Counts::default());
    assert_eq!(found[2].first_seen, None);
    assert_eq!(
        alerts[2].message(),
        "daily report 2026-03-01: 10.10.10.3 sent 0 bytes in 0 events"
    );
    assert_eq!(found[3].keys, 3);
    assert_eq!(found[3].counts.events, 4322);
    assert_eq!(
        alerts[3].message(),
        "daily report 2026-03-01: 3 keys sent 1.2 GB in 4,322 events"
    );
    // The next period starts empty.
    let next = e.tick(midnight + 48 * H);
    assert_eq!(reports(&next)[0].counts, Counts::default());
    assert_eq!(reports(&next)[0].period_start, midnight + 24 * H);
}

#[test]
fn a_missed_report_boundary_is_reported_once() {
    let yaml = "- name: daily\n  type: report\n  schedule: daily\n";
    let mut before = engine(yaml);
    before.tick(T0 + H);
    send(&mut before, "10.10.10.1", 500, T0 + 2 * H);
    let saved = serde_json::to_string(&before.snapshot()).unwrap();
    let mut after = engine(yaml);
    after
        .restore(serde_json::from_str(&saved).unwrap())
        .unwrap();
    let alerts = after.tick(T0 + 72 * H + H);
    let found = reports(&alerts);
    assert_eq!(found.len(), 2, "{alerts:#?}");
    assert_eq!(
        (found[0].period_start, found[0].period_end),
        (T0 + H, T0 + 72 * H)
    );
    assert_eq!(found[0].counts.bytes, 500);
    assert_eq!(alerts[0].at, T0 + 72 * H);
    assert_eq!(
        alerts[0].message(),
        "daily report 2026-03-01 to 2026-03-03: 10.10.10.1 sent 500 bytes in 1 event"
    );
    assert!(run(&mut after, T0 + 73 * H, T0 + 96 * H - 30).is_empty());
    let next = after.tick(T0 + 96 * H);
    assert_eq!(
        reports(&next).len(),
        1,
        "only the summary: nothing was sent"
    );
    assert_eq!(reports(&next)[0].period_start, T0 + 72 * H);
}

#[test]
fn every_6h_reports_at_aligned_boundaries_and_filters_apply() {
    let mut e = engine(
        "- name: six\n  type: report\n  schedule: {every: 6h}\n  key: destination.port\n  filter: {actions: [deny]}\n",
    );
    e.tick(T0 + H);
    let mut denied = record("10.0.0.1", 40);
    denied.action = Some(Action::Deny);
    feed(&mut e, &denied, "flows", T0 + 2 * H);
    send(&mut e, "10.0.0.2", 1000, T0 + 2 * H);
    let alerts = run(&mut e, T0 + 2 * H, T0 + 6 * H);
    let found = reports(&alerts);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].key.as_deref(), Some("514"));
    assert_eq!(found[0].counts.bytes, 40);
    assert_eq!(alerts[0].at, T0 + 6 * H);
    assert_eq!(
        alerts[0].message(),
        "report 2026-03-01T01:00:00Z to 2026-03-01T06:00:00Z: 514 sent 40 bytes in 1 event"
    );
}
