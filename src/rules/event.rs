//! What the engine says: typed alerts and reports, and how each becomes an ECS event
//! (design §5) with a message a person can act on.

use bytes::{BufMut, BytesMut};
use serde_json::{Map, Value, json};

use super::{Condition, Watch, human};
use crate::event::{Event, EventTemplate};
use crate::stats::Counts;

/// Tags of the engine's events, so Logstash can route them.
pub const ALERT_TAG: &str = "lumberwatch-alert";
pub const REPORT_TAG: &str = "lumberwatch-report";

/// One event of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// `rule.name`.
    pub rule: String,
    /// `@timestamp`, unix seconds: when the condition was met (a silence reaching its
    /// window, a report period ending), which after a restart can be before now.
    pub at: i64,
    /// The rule's key field (`source.ip`).
    pub key_field: String,
    pub detail: Detail,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Detail {
    Episode(Episode),
    Report(Report),
}

/// A flatline or rate episode opening (again) or closing.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    pub key: String,
    /// `flatline` or `rate`.
    pub action: &'static str,
    pub state: State,
    pub watch: Watch,
    /// The measure over the window when evaluated.
    pub observed: u64,
    /// The key's latest observation, if it was ever seen.
    pub last_seen: Option<i64>,
    /// How long the condition has held (firing) or held (resolved), in seconds.
    pub lasted_secs: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Firing,
    Resolved,
}

/// A report rule's totals for one period: per key, or the summary (`key: None`).
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub key: Option<String>,
    /// `daily report 2026-03-01`.
    pub label: String,
    pub period_start: i64,
    pub period_end: i64,
    pub counts: Counts,
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    /// Summary: how many keys were reported.
    pub keys: usize,
}

/// The templates the engine's events are built with: the agent's base template, tagged
/// once for alerts and once for reports.
#[derive(Debug, Clone)]
pub struct AlertTemplates {
    alert: EventTemplate,
    report: EventTemplate,
}

impl AlertTemplates {
    pub fn new(base: &EventTemplate) -> AlertTemplates {
        AlertTemplates {
            alert: base.with_tag(ALERT_TAG),
            report: base.with_tag(REPORT_TAG),
        }
    }
}

/// Top-level names the template or the alert itself writes: a key field under one of
/// them goes to `labels` instead (`host.name` → `labels.host_name`).
const TAKEN: &[&str] = &[
    "@timestamp",
    "@metadata",
    "message",
    "host",
    "agent",
    "input",
    "ecs",
    "tags",
    "fields",
    "event",
    "rule",
    "lumberwatch",
    "labels",
];

impl Alert {
    /// The message people read: "no traffic from 10.10.10.1 for 6h (last seen
    /// 2026-03-01T04:12:09Z)".
    pub fn message(&self) -> String {
        match &self.detail {
            Detail::Episode(e) => episode_message(e),
            Detail::Report(r) => {
                let who = match &r.key {
                    Some(key) => key.clone(),
                    None => format!("{} keys", human::count(r.keys as u64)),
                };
                format!(
                    "{}: {who} sent {} in {}",
                    r.label,
                    human::bytes(r.counts.bytes),
                    human::amount(super::Measure::Events, r.counts.events)
                )
            }
        }
    }

    /// The alert as an ECS event (`event.kind: alert` or `metric`).
    pub fn to_event(&self, templates: &mut AlertTemplates) -> Event {
        let mut doc = Map::new();
        let (template, key) = match &self.detail {
            Detail::Episode(e) => {
                let mut alert = json!({
                    "state": match e.state { State::Firing => "firing", State::Resolved => "resolved" },
                    "window": human::duration(e.watch.window_secs),
                    "condition": e.watch.condition.name(),
                    "observed": e.observed,
                    "unit": e.watch.measure.name(),
                });
                if let Some(t) = e.watch.threshold {
                    alert["threshold"] = json!(t);
                }
                if let Some(seen) = e.last_seen {
                    alert["last_seen"] = json!(human::timestamp(seen));
                }
                doc.insert(
                    "event".into(),
                    json!({"kind": "alert", "action": e.action, "dataset": "lumberwatch.alert"}),
                );
                doc.insert("lumberwatch".into(), json!({ "alert": alert }));
                (&mut templates.alert, Some(&e.key))
            }
            Detail::Report(r) => {
                let mut report = json!({
                    "period": {
                        "start": human::timestamp(r.period_start),
                        "end": human::timestamp(r.period_end),
                    },
                    "events": r.counts.events,
                    "bytes": r.counts.bytes,
                    "packets": r.counts.packets,
                    "connections": r.counts.connections,
                    "summary": r.key.is_none(),
                });
                if r.key.is_none() {
                    report["keys"] = json!(r.keys);
                }
                if let Some(t) = r.first_seen {
                    report["first_seen"] = json!(human::timestamp(t));
                }
                if let Some(t) = r.last_seen {
                    report["last_seen"] = json!(human::timestamp(t));
                }
                doc.insert(
                    "event".into(),
                    json!({"kind": "metric", "action": "report", "dataset": "lumberwatch.report"}),
                );
                doc.insert("lumberwatch".into(), json!({ "report": report }));
                (&mut templates.report, r.key.as_ref())
            }
        };
        doc.insert("rule".into(), json!({ "name": self.rule }));
        if let Some(key) = key {
            let top = self.key_field.split('.').next().unwrap_or_default();
            if TAKEN.contains(&top) {
                let label = self.key_field.replace('.', "_");
                doc.insert("labels".into(), json!({ label: key }));
            } else {
                insert_dotted(&mut doc, &self.key_field, json!(key));
            }
        }
        let message = self.message();
        template.event_at(
            &human::timestamp(self.at),
            &message,
            |buf: &mut BytesMut| {
                for (name, value) in &doc {
                    buf.put_u8(b',');
                    serde_json::to_writer(buf.writer(), name)
                        .expect("writing json to memory cannot fail");
                    buf.put_u8(b':');
                    serde_json::to_writer(buf.writer(), value)
                        .expect("writing json to memory cannot fail");
                }
            },
        )
    }
}

fn episode_message(e: &Episode) -> String {
    let key = &e.key;
    let window = human::duration(e.watch.window_secs);
    let amount = |n| human::amount(e.watch.measure, n);
    let condition = e.watch.condition.name();
    match (e.state, e.watch.threshold) {
        (State::Firing, None) => {
            let seen = e.last_seen.map_or("never seen".to_string(), |t| {
                format!("last seen {}", human::time(t))
            });
            format!(
                "no traffic from {key} for {} ({seen})",
                human::duration(e.lasted_secs)
            )
        }
        (State::Resolved, None) => format!(
            "traffic from {key} resumed after {}",
            human::duration(e.lasted_secs)
        ),
        (State::Firing, Some(t)) => format!(
            "{key} sent {} in the last {window}, {condition} {}",
            amount(e.observed),
            amount(t)
        ),
        (State::Resolved, Some(t)) => {
            let back = match e.watch.condition {
                Condition::Below => "back at or above",
                Condition::Above => "back at or below",
            };
            format!(
                "{key} sent {} in the last {window}, {back} {} after {}",
                amount(e.observed),
                amount(t),
                human::duration(e.lasted_secs)
            )
        }
    }
}

/// Sets `a.b.c` in `doc`, making the objects on the way.
fn insert_dotted(doc: &mut Map<String, Value>, name: &str, value: Value) {
    match name.split_once('.') {
        None => {
            doc.insert(name.to_string(), value);
        }
        Some((head, rest)) => {
            let slot = doc
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(inner) = slot {
                insert_dotted(inner, rest, value);
            }
        }
    }
}
