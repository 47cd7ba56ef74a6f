//! `/metrics`: the Prometheus text exposition format (0.0.4). Every name starts with
//! `lumberwatch_`, counters end in `_total`, each family has its `# HELP` and `# TYPE`
//! once, with all its samples after them. Per-input counters carry `input` (the input's
//! id), drops a `reason`, rule counters `rule`.

use std::fmt::{Display, Write as _};

use super::Sample;

const COUNTER: &str = "counter";
const GAUGE: &str = "gauge";

struct Family {
    name: String,
    kind: &'static str,
    samples: Vec<String>,
}

#[derive(Default)]
struct Exposition {
    families: Vec<Family>,
}

impl Exposition {
    fn add(
        &mut self,
        name: &str,
        kind: &'static str,
        labels: &[(&str, &str)],
        value: impl Display,
    ) {
        let family = match self.families.iter_mut().position(|f| f.name == name) {
            Some(at) => &mut self.families[at],
            None => {
                self.families.push(Family {
                    name: name.to_string(),
                    kind,
                    samples: Vec::new(),
                });
                self.families.last_mut().expect("just pushed")
            }
        };
        let mut sample = name.to_string();
        if !labels.is_empty() {
            let pairs: Vec<String> = (labels.iter())
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(sample, "{{{}}}", pairs.join(","));
        }
        let _ = write!(sample, " {value}");
        family.samples.push(sample);
    }

    fn render(&self) -> String {
        let mut text = String::new();
        for family in &self.families {
            let name = family.name.as_str();
            let _ = writeln!(text, "# HELP {name} {}", help(name));
            let _ = writeln!(text, "# TYPE {name} {}", family.kind);
            for sample in &family.samples {
                text.push_str(sample);
                text.push('\n');
            }
        }
        text
    }
}

/// A label value as the format wants it: backslash, quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `group` and a counter's name in its snapshot → the family's name and the `reason`
/// label, if the counter is one of a group's drops.
fn family_of<'a>(group: &str, name: &'a str) -> (String, Option<&'a str>) {
    let short = name
        .strip_prefix(group)
        .and_then(|n| n.strip_prefix(['_', '.']))
        .unwrap_or(name);
    if let Some(reason) = (short.strip_prefix("dropped_")).and_then(|r| r.strip_suffix("_total")) {
        return (format!("lumberwatch_{group}_dropped_total"), Some(reason));
    }
    let short = short.strip_suffix("_total").unwrap_or(short);
    (format!("lumberwatch_{group}_{short}_total"), None)
}

pub(super) fn render(s: &Sample) -> String {
    let mut out = Exposition::default();
    for (name, value) in &s.output {
        out.add(&format!("lumberwatch_output_{name}"), COUNTER, &[], value);
    }
    out.add(
        "lumberwatch_output_events_outstanding_max",
        GAUGE,
        &[],
        s.outstanding_max,
    );
    let (last, _) = s.ack_latency;
    out.add(
        "lumberwatch_output_ack_latency_last_seconds",
        GAUGE,
        &[],
        last.as_secs_f64(),
    );
    // The mean is the sum over the count: a summary without quantiles.
    let batches = s.output("batches_acked_total");
    let sum = s.ack_latency.1.as_secs_f64() * batches as f64;
    let name = "lumberwatch_output_ack_latency_seconds";
    out.families.push(Family {
        name: name.into(),
        kind: "summary",
        samples: vec![
            format!("{name}_sum {sum}"),
            format!("{name}_count {batches}"),
        ],
    });
    out.add("lumberwatch_events_queued_total", COUNTER, &[], s.queued);
    out.add("lumberwatch_queue_events", GAUGE, &[], s.queue_len);
    out.add("lumberwatch_queue_max_events", GAUGE, &[], s.queue_max);
    for input in &s.inputs {
        for (group, counters) in &input.groups {
            for (name, value) in counters {
                let (family, reason) = family_of(group, name);
                let mut labels = vec![("input", input.label.as_str())];
                labels.extend(reason.map(|r| ("reason", r)));
                out.add(&family, COUNTER, &labels, value);
            }
        }
    }
    if let Some(disk) = &s.disk {
        for (name, value) in &disk.counters {
            out.add(&family_of("disk", name).0, COUNTER, &[], value);
        }
        out.add("lumberwatch_disk_bytes", GAUGE, &[], disk.bytes);
        out.add("lumberwatch_disk_unacked_events", GAUGE, &[], disk.unacked);
    }
    for (rule, c) in &s.rules {
        let alerts = "lumberwatch_rule_alerts_total";
        out.add(
            alerts,
            COUNTER,
            &[("rule", rule), ("state", "fired")],
            c.fired,
        );
        out.add(
            alerts,
            COUNTER,
            &[("rule", rule), ("state", "resolved")],
            c.resolved,
        );
        out.add(
            "lumberwatch_rule_reports_total",
            COUNTER,
            &[("rule", rule)],
            c.reports,
        );
    }
    if let Some(files) = s.registry_files {
        out.add("lumberwatch_registry_files", GAUGE, &[], files);
    }
    if let Some(lag) = s.registry_lag_bytes {
        out.add("lumberwatch_registry_lag_bytes", GAUGE, &[], lag);
    }
    out.add(
        "lumberwatch_uptime_seconds",
        GAUGE,
        &[],
        s.agent.uptime.as_secs_f64(),
    );
    out.render()
}

/// What a family counts. A name missing here is a bug the tests catch.
pub(super) fn help(name: &str) -> &'static str {
    let rest = name.strip_prefix("lumberwatch_").unwrap_or(name);
    match rest {
        "output_events_acked_total" => "Events Logstash acknowledged.",
        "output_events_sent_total" => "Events written to Logstash, re-sends included.",
        "output_events_resent_total" => {
            "Events given back by a failed connection to be sent again."
        }
        "output_batches_sent_total" => "Batches written to Logstash.",
        "output_batches_acked_total" => "Batches Logstash acknowledged in full.",
        "output_bytes_sent_total" => "Bytes written to Logstash (frames, compressed).",
        "output_connections_total" => "Connections to Logstash established.",
        "output_connection_errors_total" => "Connections to Logstash that failed or broke.",
        "output_keepalives_total" => "Keep-alive acks (ack 0) received while Logstash worked.",
        "output_idle_closes_total" => "Idle connections Logstash closed (not errors).",
        "output_events_outstanding_max" => "The most events ever held by the output at once.",
        "output_ack_latency_last_seconds" => "From write to full ack, for the last acked batch.",
        "output_ack_latency_seconds" => "From write to full ack, per batch.",
        "events_queued_total" => "Events the inputs and the rules handed over.",
        "queue_events" => "Events in the in-memory queue now.",
        "queue_max_events" => "Size of the in-memory queue (queue.mem.events).",
        "parse_lines_total" => "Lines parsed into records (or valid without any).",
        "parse_records_total" => "Connection records parsed.",
        "parse_failures_total" => "Lines shipped tagged as parse failures.",
        "parse_skipped_total" => "Valid lines without a connection (NODATA, SKIPDATA).",
        "parse_headers_total" => "Header lines (not shipped).",
        "syslog_events_total" => "Syslog messages accepted.",
        "syslog_bytes_total" => "Bytes of syslog messages accepted.",
        "syslog_dropped_total" => "Syslog messages dropped, by reason.",
        "conntrack_events_total" => "Conntrack events decoded.",
        "conntrack_queued_total" => "Conntrack events queued.",
        "conntrack_filtered_total" => "Conntrack events left out by the filter.",
        "conntrack_dropped_total" => "Conntrack events dropped, by reason.",
        "conntrack_kernel_overruns_total" => "Times the kernel dropped conntrack events (ENOBUFS).",
        "conntrack_bad_messages_total" => "Netlink messages that did not decode.",
        "flows_packets_total" => "Packets read from the capture ring.",
        "flows_packets_skipped_total" => "Packets that gave no flow.",
        "flows_kernel_drops_total" => "Packets the kernel dropped (ring full).",
        "flows_evicted_total" => "Flows ended early to stay within max_flows.",
        "flows_events_total" => "Flow events queued.",
        "flows_events_dropped_total" => "Flow events dropped on a full queue.",
        "disk_written_total" => "Events written to the disk queue.",
        "disk_written_bytes_total" => "Bytes written to the disk queue.",
        "disk_dropped_oldest_total" => "Events removed unread to make room (drop_oldest).",
        "disk_too_big_total" => "Events too large for the disk queue.",
        "disk_corrupt_bytes_total" => "Bytes of corrupt records skipped.",
        "disk_fsyncs_total" => "fsyncs of the disk queue.",
        "disk_bytes" => "Bytes the disk queue's segment files take.",
        "disk_unacked_events" => "Events in the disk queue not acked yet.",
        "rule_alerts_total" => "Alerts a rule fired or resolved.",
        "rule_reports_total" => "Reports a rule put out.",
        "registry_files" => "Files the registry keeps offsets for.",
        "registry_lag_bytes" => "Bytes in tracked files not acked yet.",
        "uptime_seconds" => "Seconds since the agent started.",
        _ => "A lumberwatch metric.",
    }
}
