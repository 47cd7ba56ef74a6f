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

#[test]
fn records_after_midnight_before_the_check_that_closes_the_day_count_for_the_new_day() {
    let yaml = "- name: daily\n  type: report\n  schedule: daily\n";
    // The agent checks at 25 s past each minute.
    let mut e = engine(yaml);
    assert!(e.tick(T0 + 25).is_empty());
    send(&mut e, "10.10.10.1", 100, T0 + 24 * H - 1);
    send(&mut e, "10.10.10.1", 20, T0 + 24 * H + 10);
    // What is counted ahead survives a restart.
    let mut e = restarted(&e, yaml);
    let alerts = e.tick(T0 + 24 * H + 25);
    let day = reports(&alerts)[0];
    assert_eq!((day.period_start, day.period_end), (T0 + 25, T0 + 24 * H));
    assert_eq!(day.counts.bytes, 100);
    assert_eq!(day.last_seen, Some(T0 + 24 * H - 1));
    send(&mut e, "10.10.10.1", 3, T0 + 48 * H - 5);
    let alerts = e.tick(T0 + 48 * H + 25);
    let next = reports(&alerts)[0];
    assert_eq!(next.period_start, T0 + 24 * H);
    assert_eq!(next.counts.bytes, 23);
    assert_eq!(next.first_seen, Some(T0 + 24 * H + 10));
}

#[test]
fn after_days_down_records_before_the_first_check_go_to_their_period() {
    let yaml = "- name: daily\n  type: report\n  schedule: daily\n";
    let mut before = engine(yaml);
    before.tick(T0 + H);
    send(&mut before, "10.10.10.1", 500, T0 + 2 * H);
    // State saved before periods were counted ahead restores as it did.
    let mut saved = before.snapshot();
    let period = saved["rules"][0]["period"].as_object_mut().unwrap();
    assert!(period.remove("ahead").is_some());
    let mut e = engine(yaml);
    e.restore(saved).unwrap();
    // Up again on day 4; a flow log of days 2 and 3 read late, mixed with today's.
    let up = T0 + 73 * H;
    feed_late(&mut e, "10.10.10.2", 7, T0 + 50 * H, up);
    feed_late(&mut e, "10.10.10.1", 1, up + 5, up + 5);
    feed_late(&mut e, "10.10.10.2", 9, T0 + 26 * H, up + 6);
    let alerts = e.tick(up + 30);
    let found = reports(&alerts);
    assert_eq!(found.len(), 3, "{alerts:#?}");
    assert_eq!(
        (found[0].period_start, found[0].period_end),
        (T0 + H, T0 + 72 * H)
    );
    assert_eq!(found[0].counts.bytes, 500);
    assert_eq!(found[1].counts.bytes, 16);
    assert_eq!(found[1].first_seen, Some(T0 + 26 * H));
    assert_eq!(found[2].counts.bytes, 516);
    let next = e.tick(T0 + 96 * H);
    assert_eq!(reports(&next)[0].period_start, T0 + 72 * H);
    assert_eq!(reports(&next)[0].counts.bytes, 1);
}

/// `ip` sent `bytes` at `at`, observed at `now`.
fn feed_late(e: &mut Engine, ip: &str, bytes: u64, at: i64, now: i64) {
    let r = record(ip, bytes);
    let context = [("input.id", "flows")];
    let obs = Observation {
        record: Some(&r),
        context: &context,
        counts: Counts::of_record(&r),
    };
    e.on_observation(&obs, at, now);
}
