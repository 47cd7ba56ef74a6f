//! Flatline and rate episodes: when they open, repeat and close.

use super::*;

const FLATLINE_6H: &str = "- name: silent-6h\n  type: flatline\n  window: 6h\n";

#[test]
fn flatline_fires_once_after_six_silent_hours() {
    let mut e = engine(FLATLINE_6H);
    send(&mut e, "10.10.10.1", 100, T0);
    // Until just before the default realert (the window) would repeat it.
    let alerts = run(&mut e, T0, T0 + 12 * H - 30);
    assert_eq!(episodes(&alerts), [firing("10.10.10.1", T0 + 6 * H)]);
    assert_eq!(
        alerts[0].message(),
        "no traffic from 10.10.10.1 for 6h (last seen 2026-03-01T00:00:00Z)"
    );
    assert_eq!(e.open_episodes(), 1);
}

#[test]
fn flatline_resolves_when_traffic_returns() {
    let mut e = engine(FLATLINE_6H);
    send(&mut e, "10.10.10.2", 100, T0);
    assert_eq!(run(&mut e, T0, T0 + 7 * H).len(), 1);
    send(&mut e, "10.10.10.2", 100, T0 + 7 * H + 12 * M);
    let alerts = run(&mut e, T0 + 7 * H + 12 * M, T0 + 8 * H);
    assert_eq!(
        episodes(&alerts),
        [resolved("10.10.10.2", T0 + 7 * H + 12 * M)]
    );
    assert_eq!(
        alerts[0].message(),
        "traffic from 10.10.10.2 resumed after 7h12m"
    );
    assert_eq!(e.open_episodes(), 0);
}

#[test]
fn a_source_that_keeps_sending_never_alerts() {
    let mut e = engine(FLATLINE_6H);
    let mut alerts = Vec::new();
    for minute in 0..(24 * 60) {
        let now = T0 + minute * M;
        send(&mut e, "10.10.10.1", 100, now);
        alerts.extend(e.tick(now));
    }
    assert!(alerts.is_empty(), "{alerts:?}");
}

#[test]
fn an_expected_source_that_never_sends_alerts_after_the_window() {
    let mut e = engine(
        "- name: proxies\n  type: flatline\n  window: 6h\n  expected: [10.10.10.0/30, 10.0.0.0/8]\n",
    );
    let mut alerts = e.tick(T0);
    for minute in 0..(7 * 60) {
        send(&mut e, "10.10.10.1", 100, T0 + minute * M);
        alerts.extend(e.tick(T0 + minute * M));
    }
    // A stray address in no expected block is not the rule's business.
    send(&mut e, "192.168.9.9", 100, T0);
    alerts.extend(run(&mut e, T0 + 7 * H, T0 + 7 * H));
    assert_eq!(episodes(&alerts), [firing("10.10.10.2", T0 + 6 * H)]);
    assert_eq!(
        alerts[0].message(),
        "no traffic from 10.10.10.2 for 6h (never seen)"
    );
}

#[test]
fn realert_repeats_an_open_episode_at_most_every_realert() {
    let mut e = engine(
        "- name: r\n  type: flatline\n  window: 6h\n  realert: 2h\n- name: once\n  type: flatline\n  window: 6h\n  realert: 0\n- name: default\n  type: flatline\n  window: 6h\n",
    );
    send(&mut e, "10.10.10.1", 100, T0);
    let alerts = run(&mut e, T0, T0 + 13 * H);
    let times = |rule: &str| -> Vec<i64> {
        alerts
            .iter()
            .filter(|a| a.rule == rule)
            .map(|a| a.at - T0)
            .collect()
    };
    assert_eq!(times("r"), [6 * H, 8 * H, 10 * H, 12 * H]);
    assert_eq!(times("once"), [6 * H]);
    assert_eq!(times("default"), [6 * H, 12 * H]);
    let repeat = alerts.iter().find(|a| a.rule == "r" && a.at == T0 + 8 * H);
    assert_eq!(
        repeat.map(Alert::message).as_deref(),
        Some("no traffic from 10.10.10.1 for 8h (last seen 2026-03-01T00:00:00Z)")
    );
}

/// 1 MB a minute (60 MB/h) for two hours, 100 kB a minute (6 MB/h) for two hours,
/// then 1 MB a minute again.
fn slow_down(e: &mut Engine, ip: &str, from: i64) -> Vec<Alert> {
    let mut alerts = Vec::new();
    for minute in 0..(6 * 60) {
        let now = from + minute * M;
        let bytes = if (120..240).contains(&minute) {
            100_000
        } else {
            1_000_000
        };
        send(e, ip, bytes, now);
        alerts.extend(e.tick(now));
        alerts.extend(e.tick(now + 30));
    }
    alerts
}

#[test]
fn rate_below_20mb_per_hour_fires_and_resolves() {
    let mut e = engine(
        "- name: slow\n  type: rate\n  window: 1h\n  threshold: 20MB\n  expected: [10.10.10.1]\n",
    );
    let alerts = slow_down(&mut e, "10.10.10.1", T0);
    let found = episodes(&alerts);
    assert_eq!(found.len(), 3, "{found:?}");
    // The 1 h sum goes under 20 MB once fewer than 16 fast minutes are left in it, is
    // repeated an hour later (realert defaults to the window), and is back over once 16
    // fast minutes are in it again.
    let (fire, resolve) = (found[0].2 - T0, found[2].2 - T0);
    let states: Vec<State> = found.iter().map(|f| f.1).collect();
    assert_eq!(states, [State::Firing, State::Firing, State::Resolved]);
    assert_eq!(found[1].2 - found[0].2, H);
    assert!((2 * H + 44 * M..=2 * H + 46 * M).contains(&fire), "{fire}");
    assert!(
        (4 * H + 14 * M..=4 * H + 16 * M).contains(&resolve),
        "{resolve}"
    );
    assert!(
        alerts[0].message().starts_with("10.10.10.1 sent 19."),
        "{}",
        alerts[0].message()
    );
    assert!(
        alerts[0]
            .message()
            .ends_with(" MB in the last 1h, below 20 MB"),
        "{}",
        alerts[0].message()
    );
    assert!(
        alerts[2]
            .message()
            .contains("in the last 1h, back at or above 20 MB after 1h30m"),
        "{}",
        alerts[2].message()
    );
}

#[test]
fn rate_above_fires() {
    let mut e = engine(
        "- name: burst\n  type: rate\n  window: 5m\n  threshold: 100 events\n  condition: above\n",
    );
    let mut alerts = Vec::new();
    for i in 0..200 {
        send(&mut e, "10.10.10.3", 10, T0 + i);
    }
    alerts.extend(run(&mut e, T0 + 200, T0 + 20 * M));
    assert_eq!(
        episodes(&alerts),
        [
            firing("10.10.10.3", T0 + 200),
            resolved("10.10.10.3", T0 + 7 * M + 20)
        ]
    );
    assert_eq!(
        alerts[0].message(),
        "10.10.10.3 sent 200 events in the last 5m, above 100 events"
    );
}

#[test]
fn a_new_source_does_not_raise_a_below_rate_alarm() {
    let mut e = engine("- name: slow\n  type: rate\n  window: 1h\n  threshold: 20MB\n");
    e.tick(T0);
    let mut alerts = Vec::new();
    for minute in 0..120 {
        let now = T0 + H + minute * M;
        send(&mut e, "10.10.10.9", 1000, now);
        alerts.extend(e.tick(now));
    }
    // Known for a full hour at T0+2h: only then can its hour be too quiet.
    assert_eq!(episodes(&alerts), [firing("10.10.10.9", T0 + 2 * H)]);
}

#[test]
fn flatline_with_a_threshold_counts_the_measure() {
    let mut e = engine(
        "- name: trickle\n  type: flatline\n  window: 1h\n  threshold: 10 packets\n  expected: [10.10.10.1]\n",
    );
    let mut alerts = e.tick(T0);
    for minute in 1..120 {
        if minute % 20 == 10 {
            send(&mut e, "10.10.10.1", 1, T0 + minute * M);
        }
        alerts.extend(e.tick(T0 + minute * M));
    }
    assert_eq!(episodes(&alerts), [firing("10.10.10.1", T0 + H)]);
    assert_eq!(
        alerts[0].message(),
        "10.10.10.1 sent 3 packets in the last 1h, below 10 packets"
    );
}

#[test]
fn filters_count_only_matching_inputs_ports_transports_and_actions() {
    let filters = [
        "inputs: [syslog]",
        "ports: [514]",
        "transports: [TCP]",
        "actions: [allow]",
    ];
    for filter in filters {
        let yaml = format!(
            "- name: f\n  type: flatline\n  window: 1h\n  filter: {{{filter}}}\n  expected: [10.10.10.1]\n"
        );
        // Traffic that misses the filter in one respect does not count ...
        let mut e = engine(&yaml);
        let mut other = record("10.10.10.1", 10);
        match filter.split(':').next() {
            Some("inputs") => {}
            Some("ports") => other.destination.port = Some(3000),
            Some("transports") => other.transport = Some(Transport::Udp),
            _ => other.action = Some(Action::Deny),
        }
        let input = if filter.starts_with("inputs") {
            "file"
        } else {
            "syslog"
        };
        for minute in 0..90 {
            feed(&mut e, &other, input, T0 + minute * M);
        }
        let alerts = run(&mut e, T0, T0 + 90 * M);
        assert_eq!(
            episodes(&alerts),
            [firing("10.10.10.1", T0 + H)],
            "{filter}"
        );
        // ... and traffic that matches does.
        let mut e = engine(&yaml);
        for minute in 0..90 {
            send(&mut e, "10.10.10.1", 10, T0 + minute * M);
        }
        assert!(run(&mut e, T0, T0 + 90 * M).is_empty(), "{filter}");
    }
}
