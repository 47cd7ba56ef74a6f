//! The `parser:` stage of a line input: a line becomes one event per connection record
//! (the record's ECS fields added, its time as `@timestamp`), and every record is
//! counted in the per-source statistics.
//!
//! A line that does not parse is shipped as it is, tagged `lumberwatch_parse_failure`
//! with `error.message`, and counted: never dropped. A valid line without a connection
//! (AWS `NODATA`) is shipped plain and counted as skipped; a header line only configures
//! the parser and is not shipped.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::BytesMut;

use crate::event::{Event, EventTemplate, PARSE_FAILURE_TAG};
use crate::parse::{ConnectionRecord, LineParser, Outcome, ParseError, ParserSpec};
use crate::stats::{Counts, Observation, Stats};

/// What the parsers of all inputs did, since the start.
#[derive(Debug, Default)]
pub struct ParseCounters {
    /// Lines that gave records (or were valid without any).
    pub parsed: AtomicU64,
    pub records: AtomicU64,
    /// Lines shipped tagged as parse failures.
    pub failed: AtomicU64,
    /// Valid lines without a connection (AWS `NODATA`/`SKIPDATA`).
    pub skipped: AtomicU64,
    /// Header lines, not shipped.
    pub headers: AtomicU64,
}

impl ParseCounters {
    pub fn snapshot(&self) -> [(&'static str, u64); 5] {
        [
            ("parse_lines_total", self.parsed.load(Relaxed)),
            ("parse_records_total", self.records.load(Relaxed)),
            ("parse_failures_total", self.failed.load(Relaxed)),
            ("parse_skipped_total", self.skipped.load(Relaxed)),
            ("parse_headers_total", self.headers.load(Relaxed)),
        ]
    }
}

/// The agent's statistics, fed from inputs with the real clock.
#[derive(Clone)]
pub struct StatsFeed {
    stats: Arc<Mutex<Stats>>,
}

impl StatsFeed {
    pub fn new(stats: Arc<Mutex<Stats>>) -> Self {
        StatsFeed { stats }
    }

    /// Counts `obs` at `time` (or now when the source gave no time).
    pub fn observe(&self, obs: &Observation<'_>, time: Option<jiff::Timestamp>) {
        let now = unix_now();
        let at = time.map_or(now, |t| t.as_second());
        // A poisoned lock only means another input panicked mid-update of a counter:
        // the counters are still usable.
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.observe(obs, at, now);
    }
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// One source's parser and what it needs to turn lines into events.
pub struct LineParsing {
    parser: Box<dyn LineParser>,
    records: Vec<ConnectionRecord>,
    failure: EventTemplate,
    counters: Arc<ParseCounters>,
    stats: Option<StatsFeed>,
}

impl LineParsing {
    pub fn new(
        spec: &ParserSpec,
        template: &EventTemplate,
        counters: Arc<ParseCounters>,
        stats: Option<StatsFeed>,
    ) -> Result<Self, ParseError> {
        Ok(LineParsing {
            parser: spec.build()?,
            records: Vec::new(),
            failure: template.with_tag(PARSE_FAILURE_TAG),
            counters,
            stats,
        })
    }

    /// Appends the events of `line` to `out`: one per record, the line itself when it
    /// has none or does not parse, nothing for a header. `extra` writes the input's own
    /// members (`log.offset`, ...) into each; `context` names fields of the input that
    /// the statistics may key on (`log.source.ip`); `at` is the `@timestamp` (RFC 3339)
    /// the source gave the line (a container runtime, a syslog header), used for
    /// records without a time of their own.
    pub fn events(
        &mut self,
        template: &mut EventTemplate,
        line: &str,
        context: &[(&str, &str)],
        at: Option<&str>,
        extra: &dyn Fn(&mut BytesMut),
        out: &mut Vec<Event>,
    ) {
        let plain = |template: &mut EventTemplate, write: &dyn Fn(&mut BytesMut)| match at {
            Some(ts) => template.event_at(ts, line, write),
            None => template.event(line, write),
        };
        self.records.clear();
        match self.parser.parse(line, &mut self.records) {
            Ok(Outcome::Records) => {
                self.counters.parsed.fetch_add(1, Relaxed);
                self.counters
                    .records
                    .fetch_add(self.records.len() as u64, Relaxed);
                for r in &self.records {
                    if let Some(stats) = &self.stats {
                        let obs = Observation {
                            record: Some(r),
                            context,
                            counts: Counts::of_record(r),
                        };
                        stats.observe(&obs, r.time);
                    }
                    let message = r.message.as_deref().unwrap_or(line);
                    let write = |b: &mut BytesMut| {
                        extra(b);
                        r.write_members(b);
                    };
                    out.push(match (r.time, at) {
                        (Some(t), _) => template.event_at(&timestamp(t), message, write),
                        (None, Some(ts)) => template.event_at(ts, message, write),
                        (None, None) => template.event(message, write),
                    });
                }
                if self.records.is_empty() {
                    out.push(plain(template, extra));
                }
            }
            Ok(Outcome::Skipped(_)) => {
                self.counters.skipped.fetch_add(1, Relaxed);
                out.push(plain(template, extra));
            }
            Ok(Outcome::Header) => {
                self.counters.headers.fetch_add(1, Relaxed);
            }
            Err(e) => {
                self.counters.failed.fetch_add(1, Relaxed);
                let reason = e.to_string();
                out.push(plain(&mut self.failure, &|b: &mut BytesMut| {
                    extra(b);
                    b.extend_from_slice(b",\"error\":{\"message\":");
                    serde_json::to_writer(bytes::BufMut::writer(&mut *b), &reason)
                        .expect("writing json to memory cannot fail");
                    b.extend_from_slice(b"}");
                }));
            }
        }
    }
}

/// `@timestamp` as Filebeat writes it: UTC, milliseconds.
pub fn timestamp(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
