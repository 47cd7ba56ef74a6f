//! Alerts and reports as the events Logstash receives.

use serde_json::{Value, json};

use super::*;
use crate::event::{AgentInfo, EventShape, EventTemplate};

fn templates() -> AlertTemplates {
    let shape = EventShape {
        input_type: "lumberwatch".into(),
        tags: vec!["dc-east".into()],
        ..EventShape::default()
    };
    AlertTemplates::new(&EventTemplate::new(
        &AgentInfo::new("lumberwatch", Some("agent-1")),
        &shape,
    ))
}

fn json_of(alert: &Alert) -> Value {
    serde_json::from_slice(&alert.to_event(&mut templates()).json).unwrap()
}

#[test]
fn a_flatline_alert_is_an_ecs_alert_event() {
    let mut e = engine("- name: silent-6h\n  type: flatline\n  window: 6h\n");
    send(&mut e, "10.10.10.1", 100, T0 + 4 * H + 12 * M + 9);
    let alerts = run(&mut e, T0 + 10 * H, T0 + 11 * H);
    let v = json_of(&alerts[0]);
    assert_eq!(v["@timestamp"], "2026-03-01T10:12:09.000Z");
    assert_eq!(
        v["message"],
        "no traffic from 10.10.10.1 for 6h (last seen 2026-03-01T04:12:09Z)"
    );
    assert_eq!(
        v["event"],
        json!({"kind": "alert", "action": "flatline", "dataset": "lumberwatch.alert"})
    );
    assert_eq!(v["rule"], json!({"name": "silent-6h"}));
    assert_eq!(v["source"], json!({"ip": "10.10.10.1"}));
    assert_eq!(
        v["lumberwatch"]["alert"],
        json!({
            "state": "firing",
            "window": "6h",
            "condition": "below",
            "observed": 0,
            "unit": "events",
            "last_seen": "2026-03-01T04:12:09.000Z",
        })
    );
    assert_eq!(v["tags"], json!(["dc-east", ALERT_TAG]));
    assert_eq!(v["agent"]["name"], "agent-1");
}

#[test]
fn a_rate_alert_carries_its_threshold_and_unit() {
    let mut e = engine(
        "- name: slow\n  type: rate\n  window: 1h\n  threshold: 20MB\n  key: log.source.ip\n  expected: [10.10.10.1]\n",
    );
    let context = [("log.source.ip", "10.10.10.1")];
    let obs = Observation {
        record: None,
        context: &context,
        counts: Counts {
            events: 1,
            bytes: 12_300_000,
            ..Counts::default()
        },
    };
    e.tick(T0);
    e.on_observation(&obs, T0 + 30 * M, T0 + 30 * M);
    let alerts = e.tick(T0 + H + 29 * M);
    let v = json_of(&alerts[0]);
    assert_eq!(
        v["message"],
        "10.10.10.1 sent 12.3 MB in the last 1h, below 20 MB"
    );
    assert_eq!(v["log"]["source"]["ip"], "10.10.10.1");
    assert_eq!(v["lumberwatch"]["alert"]["threshold"], 20_000_000);
    assert_eq!(v["lumberwatch"]["alert"]["observed"], 12_300_000);
    assert_eq!(v["lumberwatch"]["alert"]["unit"], "bytes");
    assert_eq!(v["event"]["action"], "rate");
}

#[test]
fn reports_are_metric_events_and_keys_under_taken_names_become_labels() {
    let mut e = engine("- name: daily\n  type: report\n  key: host.name\n  schedule: daily\n");
    e.tick(T0);
    let context = [("host.name", "web-1")];
    let obs = Observation {
        record: None,
        context: &context,
        counts: Counts {
            events: 2,
            bytes: 300,
            packets: 3,
            connections: 1,
        },
    };
    e.on_observation(&obs, T0 + H, T0 + H);
    let alerts = e.tick(T0 + 24 * H);
    let v = json_of(&alerts[0]);
    assert_eq!(v["@timestamp"], "2026-03-02T00:00:00.000Z");
    assert_eq!(
        v["event"],
        json!({"kind": "metric", "action": "report", "dataset": "lumberwatch.report"})
    );
    assert_eq!(v["labels"], json!({"host_name": "web-1"}));
    assert_eq!(v["host"]["name"], AgentInfo::new("x", None).hostname);
    assert_eq!(
        v["lumberwatch"]["report"],
        json!({
            "period": {"start": "2026-03-01T00:00:00.000Z", "end": "2026-03-02T00:00:00.000Z"},
            "events": 2, "bytes": 300, "packets": 3, "connections": 1, "summary": false,
            "first_seen": "2026-03-01T01:00:00.000Z", "last_seen": "2026-03-01T01:00:00.000Z",
        })
    );
    assert_eq!(v["tags"], json!(["dc-east", REPORT_TAG]));
    let summary = json_of(&alerts[1]);
    assert_eq!(summary["lumberwatch"]["report"]["keys"], 1);
    assert_eq!(summary["lumberwatch"]["report"]["summary"], true);
    assert!(summary.get("labels").is_none());
    assert_eq!(
        summary["message"],
        "daily report 2026-03-01: 1 keys sent 300 bytes in 2 events"
    );
}
