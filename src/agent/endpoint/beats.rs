//! `/` and `/stats` in the Beats' shapes, so that what reads a Filebeat's endpoint
//! (Metricbeat's beat module, dashboards, scripts) finds the same keys: `libbeat.output`,
//! `libbeat.pipeline`, `filebeat.events`, `registrar`; what only lumberwatch counts is
//! under `lumberwatch`.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::Sample;
use crate::event::AgentInfo;

/// `/`: which agent this is.
pub(super) fn info(agent: &AgentInfo, uptime: Duration) -> Value {
    json!({
        "beat": agent.beat,
        "name": agent.name,
        "hostname": agent.hostname,
        "ephemeral_id": agent.ephemeral_id,
        "version": env!("CARGO_PKG_VERSION"),
        "binary_arch": std::env::consts::ARCH,
        "uptime": {"ms": millis(uptime)},
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Counters as an object, each name without its group's prefix
/// (`syslog_events_total` → `events_total` under `syslog`).
fn object(group: &str, counters: &[(&'static str, u64)]) -> Map<String, Value> {
    counters
        .iter()
        .map(|(name, value)| {
            let short = name
                .strip_prefix(group)
                .and_then(|n| n.strip_prefix(['_', '.']))
                .unwrap_or(name);
            (short.to_string(), Value::from(*value))
        })
        .collect()
}

/// `/stats`.
pub(super) fn stats(s: &Sample) -> Value {
    let acked = s.output("events_acked_total");
    let sent = s.output("events_sent_total");
    let failed = s.output("events_resent_total");
    // Every event sent is acked, given back (and sent again) or still in flight.
    let active = sent.saturating_sub(acked + failed);
    let pending = s.queued.saturating_sub(acked);
    let (last, mean) = s.ack_latency;

    let mut output = object("output", &s.output);
    output.insert("events_outstanding_max".into(), s.outstanding_max.into());
    output.insert(
        "ack_latency".into(),
        json!({"last_ms": last.as_secs_f64() * 1e3, "avg_ms": mean.as_secs_f64() * 1e3}),
    );
    let inputs: Map<String, Value> = (s.inputs.iter())
        .map(|input| {
            let mut counters = Map::new();
            counters.insert("type".into(), input.kind.into());
            for (group, values) in &input.groups {
                counters.insert((*group).into(), object(group, values).into());
            }
            (input.label.clone(), counters.into())
        })
        .collect();
    let rules: Map<String, Value> = (s.rules.iter())
        .map(|(name, c)| {
            let counts = json!({"fired": c.fired, "resolved": c.resolved, "reports": c.reports});
            (name.clone(), counts)
        })
        .collect();
    let mut lumberwatch = json!({
        "events": {"queued": s.queued},
        "output": output,
        "inputs": inputs,
        "rules": rules,
    });
    if let Some(disk) = &s.disk {
        let mut counters = object("disk", &disk.counters);
        counters.insert("bytes".into(), disk.bytes.into());
        counters.insert("unacked".into(), disk.unacked.into());
        lumberwatch["disk"] = counters.into();
    }

    let mut stats = json!({
        "beat": {
            "info": {
                "ephemeral_id": s.agent.ephemeral_id,
                "name": s.agent.beat,
                "version": env!("CARGO_PKG_VERSION"),
                "uptime": {"ms": millis(s.agent.uptime)},
            },
        },
        "libbeat": {
            "output": {
                "type": s.output_type,
                "events": {
                    "acked": acked,
                    "active": active,
                    "batches": s.output("batches_sent_total"),
                    "failed": failed,
                    "dropped": 0,
                    "total": sent,
                },
                "write": {
                    "bytes": s.output("bytes_sent_total"),
                    "errors": s.output("connection_errors_total"),
                },
            },
            "pipeline": {
                "events": {
                    "active": pending,
                    "published": s.queued,
                    "total": s.queued,
                },
                "queue": {
                    "acked": acked,
                    "max_events": s.queue_max,
                    "filled": {"events": s.queue_len},
                },
            },
        },
        "filebeat": {
            "events": {"active": pending, "added": s.queued, "done": acked},
        },
        "lumberwatch": lumberwatch,
    });
    if let Some(files) = s.registry_files {
        stats["registrar"] = json!({"states": {"current": files}});
    }
    if let Some(lag) = s.registry_lag_bytes {
        stats["lumberwatch"]["registry"] = json!({"lag_bytes": lag});
    }
    stats
}
