//! `lumberwatch.rules` and `lumberwatch.rules_check_interval`.

use std::time::Duration;

use jiff::tz::TimeZone;

use super::*;
use crate::rules::{Condition, Measure, RuleKind, Schedule, Watch};

/// MINIMAL plus `lumberwatch.rules:` (line 4) with `body` indented 2: the first rule
/// starts on line 5.
fn with_rules(body: &str) -> String {
    let body: String = body.lines().map(|l| format!("  {l}\n")).collect();
    format!("{MINIMAL}lumberwatch.rules:\n{body}")
}

fn watch_of(kind: &RuleKind) -> Watch {
    match kind {
        RuleKind::Flatline(w) | RuleKind::Rate(w) => *w,
        RuleKind::Report(_) => panic!("a report has no watch"),
    }
}

#[test]
fn no_rules_by_default_evaluated_every_30s() {
    let config = ok(MINIMAL);
    assert!(config.rules.is_empty());
    assert_eq!(config.rules_check_interval, Duration::from_secs(30));
    let config = ok(&format!("{MINIMAL}lumberwatch.rules_check_interval: 10s\n"));
    assert_eq!(config.rules_check_interval, Duration::from_secs(10));
}

#[test]
fn the_websense_rules_are_read() {
    let config = ok(&with_rules(
        "- name: proxy-silent-6h
  type: flatline
  window: 6h
  expected: [10.10.10.0/30, 10.10.10.3, 192.168.1.1, 192.168.1.2]
  filter:
    inputs: [syslog-514, syslog-3000]
    ports: [514, 3000]
    transports: [tcp, UDP]
- name: proxy-under-20mb-per-hour
  type: rate
  window: 1h
  threshold: 20MB
  realert: 3h
- name: denied-burst
  type: rate
  key: destination.port
  window: 5m
  threshold: 100 connections
  condition: above
  filter: {actions: [deny]}
- name: daily-bytes
  type: report
  schedule: {at: \"00:30\", timezone: Europe/Paris}
- name: six-hourly
  type: report
  schedule: {every: 6h}",
    ));
    let r = &config.rules;
    assert_eq!(r.len(), 5);
    assert_eq!(r[0].key, "source.ip");
    assert_eq!(
        r[0].expected.keys(),
        [
            "10.10.10.1",
            "10.10.10.2",
            "10.10.10.3",
            "192.168.1.1",
            "192.168.1.2"
        ]
    );
    assert_eq!(r[0].filter.inputs, ["syslog-514", "syslog-3000"]);
    assert_eq!(r[0].filter.ports, [514, 3000]);
    assert_eq!(r[0].filter.transports, ["tcp", "udp"]);
    assert_eq!(
        watch_of(&r[0].kind),
        Watch {
            measure: Measure::Events,
            window_secs: 6 * 3600,
            threshold: None,
            condition: Condition::Below,
            realert_secs: 6 * 3600,
        }
    );
    assert!(matches!(r[0].kind, RuleKind::Flatline(_)));
    let w = watch_of(&r[1].kind);
    assert_eq!(
        (w.measure, w.threshold, w.realert_secs),
        (Measure::Bytes, Some(20_000_000), 3 * 3600)
    );
    let w = watch_of(&r[2].kind);
    assert_eq!(r[2].key, "destination.port");
    assert_eq!(
        (w.measure, w.threshold, w.condition),
        (Measure::Connections, Some(100), Condition::Above)
    );
    assert_eq!(r[2].filter.actions, ["deny"]);
    assert_eq!(
        r[3].kind,
        RuleKind::Report(Schedule::Daily {
            hour: 0,
            minute: 30,
            zone: TimeZone::get("Europe/Paris").unwrap()
        })
    );
    assert_eq!(
        r[4].kind,
        RuleKind::Report(Schedule::Every { secs: 6 * 3600 })
    );
}

#[test]
fn threshold_units_decide_the_measure() {
    let read = |threshold: &str, measure: &str| {
        let measure = if measure.is_empty() {
            String::new()
        } else {
            format!("\n  measure: {measure}")
        };
        let text = with_rules(&format!(
            "- name: r\n  type: rate\n  window: 1h\n  threshold: {threshold}{measure}"
        ));
        let w = watch_of(&ok(&text).rules[0].kind);
        (w.threshold.unwrap_or(0), w.measure)
    };
    assert_eq!(read("20MB", ""), (20_000_000, Measure::Bytes));
    assert_eq!(read("1.5GiB", ""), (1_610_612_736, Measure::Bytes));
    assert_eq!(read("100B", "bytes"), (100, Measure::Bytes));
    assert_eq!(read("100", ""), (100, Measure::Events));
    assert_eq!(read("100 events", ""), (100, Measure::Events));
    assert_eq!(read("1 packet", ""), (1, Measure::Packets));
    assert_eq!(read("100", "connections"), (100, Measure::Connections));
    let report = ok(&with_rules("- name: d\n  type: report"));
    assert_eq!(
        report.rules[0].kind,
        RuleKind::Report(Schedule::midnight_utc())
    );
}

#[test]
fn rule_errors_name_the_line_and_key() {
    let cases = [
        (
            "- name: a\n  type: rate\n  window: 1h\n  threshold: 100\n  measure: bits",
            "config.yml:9: lumberwatch.rules.0.measure: unknown measure \"bits\"; one of events, bytes, packets, connections",
        ),
        (
            "- name: a\n  type: rate\n  window: 1h\n  measure: bytes\n  threshold: 100",
            "config.yml:9: lumberwatch.rules.0.threshold: \"100\" needs a unit with measure: bytes, e.g. 20MB, 1.5GiB or 100B",
        ),
        (
            "- name: a\n  type: rate\n  window: 1h\n  threshold: 20MB\n  measure: events",
            "config.yml:8: lumberwatch.rules.0.threshold: \"20MB\" is a size but the measure is events",
        ),
        (
            "- name: a\n  type: rate\n  window: 1h\n  threshold: 2.5 events",
            "config.yml:8: lumberwatch.rules.0.threshold: \"2.5 events\": a count must be a whole number",
        ),
        (
            "- name: a\n  type: rate\n  window: 1h\n  threshold: 20 parsecs",
            "config.yml:8: lumberwatch.rules.0.threshold: \"20 parsecs\" is not a threshold; give a count (100, 100 events) or a size (20MB, 1.5GiB)",
        ),
        (
            "- name: a\n  type: rate\n  window: 1h",
            "config.yml:5: lumberwatch.rules.0.threshold: required for rate rules, e.g. 20MB or 100 events",
        ),
        (
            "- name: a\n  type: report\n  schedule: {at: \"25:00\"}",
            "config.yml:7: lumberwatch.rules.0.schedule.at: expected a time of day HH:MM, got \"25:00\"",
        ),
        (
            "- name: a\n  type: report\n  schedule:\n    at: \"00:00\"\n    timezone: Mars/Olympus",
            "config.yml:9: lumberwatch.rules.0.schedule.timezone: unknown time zone \"Mars/Olympus\"; use an IANA name such as Europe/Paris, or UTC",
        ),
        (
            "- name: a\n  type: report\n  schedule:\n    every: 6h\n    at: \"00:00\"",
            "config.yml:9: lumberwatch.rules.0.schedule.at: conflicts with lumberwatch.rules.0.schedule.every on line 8; set only one of them",
        ),
        (
            "- name: a\n  type: report\n  schedule: weekly",
            "config.yml:7: lumberwatch.rules.0.schedule: expected daily, or a mapping with at (and timezone) or every, got \"weekly\"",
        ),
        (
            "- name: a\n  type: report\n  window: 1h",
            "config.yml:7: lumberwatch.rules.0.window: not used by report rules (a report has every measure)",
        ),
        (
            "- name: a\n  type: flatline\n  window: 6h\n- name: a\n  type: flatline\n  window: 1h",
            "config.yml:8: lumberwatch.rules.1.name: set twice (first on line 5)",
        ),
        (
            "- name: a\n  type: flatline\n  window: 30s",
            "config.yml:7: lumberwatch.rules.0.window: must be whole seconds, at least the statistics bucket (1m) and at most 8784h",
        ),
        (
            "- name: a\n  type: flatline",
            "config.yml:5: lumberwatch.rules.0.window: required for flatline and rate rules, e.g. 6h",
        ),
        (
            "- name: a\n  type: flatline\n  window: 6h\n  condition: above",
            "config.yml:8: lumberwatch.rules.0.condition: a flatline is always below its threshold; use type: rate for above",
        ),
        (
            "- name: a\n  type: rate\n  window: 1h\n  threshold: 0\n",
            "config.yml:8: lumberwatch.rules.0.threshold: must be above 0: nothing is below 0 (a flatline without threshold fires on no traffic at all)",
        ),
        (
            "- name: a\n  type: spike",
            "config.yml:6: lumberwatch.rules.0.type: unknown rule type \"spike\"; one of flatline, rate, report",
        ),
        (
            "- type: flatline\n  window: 6h",
            "config.yml:5: lumberwatch.rules.0.name: required; a name unique among the rules",
        ),
        (
            "- name: a\n  type: flatline\n  window: 6h\n  expected:\n    - 10.10.10.1\n    - 10.10.10.1/24",
            "config.yml:10: lumberwatch.rules.0.expected: \"10.10.10.1/24\" has host bits set; the block is 10.10.10.0/24",
        ),
        (
            "- name: a\n  type: flatline\n  window: 6h\n  filter: {ports: [http]}",
            "config.yml:8: lumberwatch.rules.0.filter.ports: \"http\" is not a port (1 to 65535)",
        ),
        (
            "- name: a\n  type: flatline\n  window: 6h\n  filter: {transports: [carrier-pigeon]}",
            "config.yml:8: lumberwatch.rules.0.filter.transports: \"carrier-pigeon\" is not a transport (tcp, udp, icmp, ...)",
        ),
        (
            "- name: a\n  type: flatline\n  windw: 6h",
            "config.yml:7: lumberwatch.rules.0.windw: unknown key (did you mean window?)",
        ),
        (
            "- flatline",
            "config.yml:5: lumberwatch.rules.0: expected a mapping of rule settings, got \"flatline\"",
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(err(&with_rules(body)), expected, "{body}");
    }
}

#[test]
fn the_rule_list_and_check_interval_are_checked() {
    assert_eq!(
        err(&format!("{MINIMAL}lumberwatch.rules: {{a: 1}}\n")),
        "config.yml:4: lumberwatch.rules: expected a list of rules, got a mapping"
    );
    assert_eq!(
        err(&format!("{MINIMAL}lumberwatch.rules_check_interval: 0s\n")),
        "config.yml:4: lumberwatch.rules_check_interval: must be at least 1s"
    );
    let text = format!(
        "{MINIMAL}lumberwatch.stats.bucket: 5m\nlumberwatch.rules:\n  - {{name: a, type: flatline, window: 2m}}\n"
    );
    assert_eq!(
        err(&text),
        "config.yml:6: lumberwatch.rules.0.window: must be whole seconds, at least the statistics bucket (5m) and at most 8784h"
    );
}
