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
use crate::rules::Engine;
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

/// The agent's statistics, fed from one input with the real clock.
#[derive(Clone)]
pub struct StatsFeed {
    stats: Arc<Mutex<Stats>>,
    /// The rules engine, which keeps windows of its own, fed the same observations.
    rules: Option<Arc<Mutex<Engine>>>,
    /// The input's `id`, added to every observation's context as `input.id` (rules
    /// filter on it).
    input: Option<Arc<str>>,
}

impl StatsFeed {
    pub fn new(stats: Arc<Mutex<Stats>>) -> Self {
        StatsFeed {
            stats,
            rules: None,
            input: None,
        }
    }

    /// The same feed, also feeding `rules`.
    pub fn with_rules(mut self, rules: Option<Arc<Mutex<Engine>>>) -> Self {
        self.rules = rules;
        self
    }

    /// The same statistics, fed by the input with this `id`.
    pub fn for_input(&self, id: Option<&str>) -> Self {
        StatsFeed {
            stats: self.stats.clone(),
            rules: self.rules.clone(),
            input: id.map(Arc::from),
        }
    }

    /// Counts `obs` at `time` (or now when the source gave no time).
    pub fn observe(&self, obs: &Observation<'_>, time: Option<jiff::Timestamp>) {
        let now = unix_now();
        let at = time.map_or(now, |t| t.as_second());
        let mut context = [("", ""); 4];
        let mut obs = *obs;
        if let Some(id) = self.input.as_deref()
            && obs.context.len() < context.len()
        {
            context[..obs.context.len()].copy_from_slice(obs.context);
            context[obs.context.len()] = ("input.id", id);
            obs.context = &context[..=obs.context.len()];
        }
        // A poisoned lock only means another input panicked mid-update of a counter:
        // the counters are still usable.
        self.stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .observe(&obs, at, now);
        if let Some(rules) = &self.rules {
            rules
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .on_observation(&obs, at, now);
        }
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
    /// members (`log.offset`, ...) into each; `at` is the `@timestamp` (RFC 3339)
    /// the source gave the line (a container runtime, a syslog header), used for
    /// records without a time of their own.
    pub fn events(
        &mut self,
        template: &mut EventTemplate,
        line: &str,
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
                            context: &[],
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

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::event::{AgentInfo, EventShape};
    use crate::parse::{Endpoint, Format};
    use crate::stats::TableSpec;

    /// A format for the stage's own tests: `a b` gives a record per word (source ip
    /// 10.0.0.N for word N-long, time set for words starting with `t`), `#...` is a
    /// header, `NODATA` is skipped, `bad` fails.
    struct Words;

    impl LineParser for Words {
        fn parse(
            &mut self,
            line: &str,
            out: &mut Vec<ConnectionRecord>,
        ) -> Result<Outcome, ParseError> {
            match line {
                "bad" => return Err(ParseError::new("words", "no good")),
                "NODATA" => return Ok(Outcome::Skipped("nodata")),
                l if l.starts_with('#') => return Ok(Outcome::Header),
                _ => {}
            }
            for word in line.split(' ') {
                out.push(ConnectionRecord {
                    source: Endpoint {
                        ip: Some(format!("10.0.0.{}", word.len()).parse().unwrap()),
                        ..Endpoint::default()
                    },
                    bytes: Some(100),
                    time: word
                        .starts_with('t')
                        .then(|| jiff::Timestamp::from_second(1_772_323_200).unwrap()),
                    message: Some(word.to_string()),
                    ..ConnectionRecord::default()
                });
            }
            Ok(Outcome::Records)
        }
    }

    fn stage() -> (LineParsing, EventTemplate, Arc<Mutex<Stats>>) {
        let template =
            EventTemplate::new(&AgentInfo::new("lumberwatch", None), &EventShape::default());
        let stats = Arc::new(Mutex::new(Stats::new([TableSpec::new("source.ip")])));
        let spec_free = LineParsing {
            parser: Box::new(Words),
            records: Vec::new(),
            failure: template.with_tag(PARSE_FAILURE_TAG),
            counters: Arc::default(),
            stats: Some(StatsFeed::new(stats.clone())),
        };
        (spec_free, template, stats)
    }

    fn run(p: &mut LineParsing, t: &mut EventTemplate, line: &str, at: Option<&str>) -> Vec<Value> {
        let mut out = Vec::new();
        let extra = |b: &mut BytesMut| b.extend_from_slice(br#","log":{"offset":7}"#);
        p.events(t, line, at, &extra, &mut out);
        assert!(
            out.iter().all(|e| e.origin.is_none()),
            "origins are the input's to set"
        );
        out.iter()
            .map(|e| serde_json::from_slice(&e.json).unwrap())
            .collect()
    }

    #[test]
    fn each_record_becomes_an_event_with_its_fields_time_and_the_inputs_members() {
        let (mut p, mut t, stats) = stage();
        let events = run(&mut p, &mut t, "ab tcd", None);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["message"], "ab");
        assert_eq!(events[0]["source"]["ip"], "10.0.0.2");
        assert_eq!(events[0]["log"]["offset"], 7);
        assert_eq!(events[1]["message"], "tcd");
        assert_eq!(events[1]["@timestamp"], "2026-03-01T00:00:00.000Z");
        assert_eq!(events[1]["network"]["bytes"], 100);
        // A record without a time takes the source's time when it gave one.
        let events = run(&mut p, &mut t, "x", Some("2026-01-01T00:00:00.000Z"));
        assert_eq!(events[0]["@timestamp"], "2026-01-01T00:00:00.000Z");
        let stats = stats.lock().unwrap();
        let table = stats.table("source.ip").unwrap();
        assert_eq!(table.get("10.0.0.2").unwrap().totals.bytes, 100);
        assert_eq!(table.get("10.0.0.3").unwrap().last_seen, 1_772_323_200);
        assert_eq!(
            p.counters.snapshot()[..2],
            [("parse_lines_total", 2), ("parse_records_total", 3)]
        );
    }

    #[test]
    fn a_line_that_does_not_parse_is_shipped_tagged_with_the_reason() {
        let (mut p, mut t, _) = stage();
        let events = run(&mut p, &mut t, "bad", None);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["message"], "bad");
        assert_eq!(events[0]["tags"], json!([PARSE_FAILURE_TAG]));
        assert_eq!(events[0]["error"]["message"], "words: no good");
        assert_eq!(events[0]["log"]["offset"], 7);
        assert!(events[0].get("source").is_none());
        assert_eq!(p.counters.failed.load(Relaxed), 1);
    }

    #[test]
    fn skipped_lines_ship_plain_and_headers_not_at_all() {
        let (mut p, mut t, stats) = stage();
        let events = run(&mut p, &mut t, "NODATA", None);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["message"], "NODATA");
        assert!(events[0].get("tags").is_none());
        assert!(run(&mut p, &mut t, "# version srcaddr", None).is_empty());
        assert_eq!(p.counters.skipped.load(Relaxed), 1);
        assert_eq!(p.counters.headers.load(Relaxed), 1);
        assert!(stats.lock().unwrap().table("source.ip").unwrap().is_empty());
    }

    #[test]
    fn a_spec_with_an_option_its_format_does_not_take_is_refused() {
        let template =
            EventTemplate::new(&AgentInfo::new("lumberwatch", None), &EventShape::default());
        let spec = ParserSpec {
            format: Format::by_name("iptables").expect("iptables is a format"),
            fields: None,
            pattern: Some("(?P<x>.)".into()),
        };
        let e = LineParsing::new(&spec, &template, Arc::default(), None).err();
        assert!(
            e.is_some_and(|e| e.to_string().contains("pattern")),
            "refused"
        );
    }

    #[test]
    fn observations_carry_the_inputs_id_for_keys_and_filters() {
        let stats = Arc::new(Mutex::new(Stats::new([TableSpec::new("input.id")])));
        let feed = StatsFeed::new(stats.clone()).for_input(Some("vpc"));
        let ctx = [("log.source.ip", "10.0.0.1")];
        let obs = Observation {
            record: None,
            context: &ctx,
            counts: Counts {
                events: 1,
                bytes: 9,
                ..Counts::default()
            },
        };
        feed.observe(&obs, None);
        StatsFeed::new(stats.clone()).observe(&obs, None);
        let stats = stats.lock().unwrap();
        let table = stats.table("input.id").unwrap();
        assert_eq!(table.len(), 1, "an input without an id has no input.id");
        assert_eq!(table.get("vpc").unwrap().totals.bytes, 9);
    }
}
