//! The week's traffic and the agent's runs, and what follows from them: which records the
//! agent observed (what is sent while it is down is lost to it) and, from those alone,
//! every alert and report the rules must give. Written from the rules' documented
//! meaning (design §6, `Watch`, `Table::window`), by brute force over every check, not
//! from the engine's code.

use std::collections::BTreeMap;
use std::ops::Range;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::config::Config;
use crate::rules::{Condition, RuleKind, Schedule, Watch};
use crate::stats::Counts;

const DAY: i64 = 24 * 3600;

/// One record a source sent.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    pub at: i64,
    pub ip: &'static str,
    pub bytes: u64,
}

impl Sent {
    /// What the record counts for: one event, packet and connection, and its bytes.
    pub fn counts(&self) -> Counts {
        Counts {
            events: 1,
            bytes: self.bytes,
            packets: 1,
            connections: 1,
        }
    }
}

/// A source's normal traffic: a record every 1 to 5 minutes, each within 25% of
/// `mean_bytes`.
pub struct Source {
    pub ip: &'static str,
    pub mean_bytes: u64,
}

/// What a source does instead of its normal traffic.
pub enum Change {
    Silent,
    /// Records at the normal pace, each of `bytes`.
    Slow {
        bytes: u64,
    },
    /// A record of normal size every `every_secs`, on top of the normal traffic.
    Burst {
        every_secs: usize,
    },
}

pub struct Incident {
    pub ip: &'static str,
    pub during: Range<i64>,
    pub change: Change,
}

pub struct Model {
    /// Every record sent, in time order.
    pub sent: Vec<Sent>,
    /// When the agent runs: at a run's end it stops (state saved), at the next run's
    /// start it starts again (state restored, rules checked at once, then every
    /// `interval`).
    pub runs: Vec<Range<i64>>,
    pub interval: i64,
}

/// An episode alert: given by the check at `tick`, stamped `at`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EpisodeAlert {
    pub tick: i64,
    pub rule: String,
    pub key: String,
    pub state: &'static str,
    pub at: i64,
}

/// One line of a report, given by the check at `tick`: a key's totals for `period`, or
/// the summary (`key: None`, `keys` lines).
#[derive(Debug, Clone, PartialEq)]
pub struct ReportLine {
    pub tick: i64,
    pub at: i64,
    pub rule: String,
    pub period: Range<i64>,
    pub key: Option<String>,
    pub counts: Counts,
    pub keys: usize,
}

impl ReportLine {
    pub fn order(&self) -> (i64, &str, i64, Option<&str>) {
        (
            self.tick,
            &self.rule,
            self.period.start,
            self.key.as_deref(),
        )
    }
}

impl Model {
    /// Traffic from `runs[0].start` to `end`, the same for the same `seed`.
    pub fn new(
        seed: u64,
        sources: &[Source],
        incidents: &[Incident],
        end: i64,
        runs: Vec<Range<i64>>,
        interval: i64,
    ) -> Model {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut sent = Vec::new();
        for source in sources {
            let mine: Vec<&Incident> = incidents.iter().filter(|i| i.ip == source.ip).collect();
            let change = |t: i64| {
                mine.iter()
                    .find(|i| i.during.contains(&t))
                    .map(|i| &i.change)
            };
            let normal = |rng: &mut StdRng| source.mean_bytes * rng.random_range(75..=125) / 100;
            let mut t = runs[0].start + rng.random_range(0..300);
            while t < end {
                let bytes = match change(t) {
                    Some(Change::Silent) => None,
                    Some(Change::Slow { bytes }) => Some(*bytes),
                    _ => Some(normal(&mut rng)),
                };
                if let Some(bytes) = bytes {
                    let ip = source.ip;
                    sent.push(Sent { at: t, ip, bytes });
                }
                t += rng.random_range(60..=300);
            }
            for incident in &mine {
                if let Change::Burst { every_secs } = incident.change {
                    for t in incident.during.clone().step_by(every_secs) {
                        let (ip, bytes) = (source.ip, normal(&mut rng));
                        sent.push(Sent { at: t, ip, bytes });
                    }
                }
            }
        }
        sent.sort_by_key(|s| s.at);
        Model {
            sent,
            runs,
            interval,
        }
    }

    /// Whether the agent was running at `t`.
    pub fn up(&self, t: i64) -> bool {
        self.runs.iter().any(|r| r.contains(&t))
    }

    /// What the agent observed: everything sent while it ran, in time order.
    pub fn observed(&self) -> impl Iterator<Item = &Sent> {
        self.sent.iter().filter(|s| self.up(s.at))
    }

    /// When the rules are checked during `run`.
    pub fn checks(&self, run: &Range<i64>) -> impl Iterator<Item = i64> + use<> {
        let step = usize::try_from(self.interval).expect("the check interval is positive");
        run.clone().step_by(step)
    }

    fn all_checks(&self) -> Vec<i64> {
        self.runs.iter().flat_map(|r| self.checks(r)).collect()
    }

    /// Every flatline and rate alert: at each check, whether each watched key's condition
    /// holds over the records observed before it; a change opens or closes an episode
    /// (`realert: 0`, so an open episode says nothing more).
    pub fn episodes(&self, config: &Config) -> Vec<EpisodeAlert> {
        let started = self.runs[0].start;
        let bucket = i64::from(config.stats.bucket_secs);
        let mut by_key: BTreeMap<&str, Vec<Sent>> = BTreeMap::new();
        for s in self.observed() {
            by_key.entry(s.ip).or_default().push(*s);
        }
        let checks = self.all_checks();
        let mut out = Vec::new();
        for rule in &config.rules {
            let (RuleKind::Flatline(watch) | RuleKind::Rate(watch)) = &rule.kind else {
                continue;
            };
            for (key, records) in &by_key {
                if !rule.expected.watches(key) {
                    continue;
                }
                let mut open = false;
                for &tick in &checks {
                    let seen = &records[..records.partition_point(|r| r.at < tick)];
                    let Some((holds, since)) = condition(watch, seen, started, tick, bucket) else {
                        continue;
                    };
                    if holds != open {
                        open = holds;
                        out.push(EpisodeAlert {
                            tick,
                            rule: rule.name.clone(),
                            key: key.to_string(),
                            state: if holds { "firing" } else { "resolved" },
                            at: if holds { since } else { tick },
                        });
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// Every daily report line: at the first check past one or more midnights, the
    /// totals observed from the period's start to the last midnight passed, per key
    /// (expected keys that sent nothing with zeros) and in all.
    pub fn reports(&self, config: &Config) -> Vec<ReportLine> {
        let mut out = Vec::new();
        for rule in &config.rules {
            let RuleKind::Report(schedule) = &rule.kind else {
                continue;
            };
            assert_eq!(
                *schedule,
                Schedule::midnight_utc(),
                "the model knows midnight"
            );
            let mut start = self.runs[0].start;
            for tick in self.all_checks() {
                let end = tick.div_euclid(DAY) * DAY;
                if end <= start {
                    continue;
                }
                let mut keys: BTreeMap<String, Counts> = rule
                    .expected
                    .keys()
                    .iter()
                    .map(|k| (k.clone(), Counts::default()))
                    .collect();
                let mut all = Counts::default();
                let period = self
                    .observed()
                    .filter(|s| (start..end).contains(&s.at) && rule.expected.watches(s.ip));
                for s in period {
                    keys.entry(s.ip.to_string()).or_default().add(&s.counts());
                    all.add(&s.counts());
                }
                let line = |key: Option<String>, counts: Counts, keys: usize| ReportLine {
                    tick,
                    at: end,
                    rule: rule.name.clone(),
                    period: start..end,
                    key,
                    counts,
                    keys,
                };
                let n = keys.len();
                out.extend(keys.into_iter().map(|(k, c)| line(Some(k), c, 1)));
                out.push(line(None, all, n));
                start = end;
            }
        }
        out.sort_by(|a, b| a.order().cmp(&b.order()));
        out
    }
}

/// Whether `watch` holds at `tick` given the key's records `seen` before it, and since
/// when: a silence since the last record (or the first start) plus the window, a rate at
/// the check. `None` while a below-rate cannot tell yet: every below rule here lists its
/// keys, which are known from the first start.
fn condition(
    watch: &Watch,
    seen: &[Sent],
    started: i64,
    tick: i64,
    bucket: i64,
) -> Option<(bool, i64)> {
    let window = watch.window_secs;
    let Some(threshold) = watch.threshold else {
        let last = seen.last().map_or(started, |s| s.at);
        return Some((tick - last >= window, last + window));
    };
    if watch.condition == Condition::Below && tick - started < window {
        return None;
    }
    // The window's sum starts with the bucket its first second falls in.
    let from = (tick - window + 1).div_euclid(bucket) * bucket;
    let mut sum = Counts::default();
    for s in seen.iter().rev().take_while(|s| s.at >= from) {
        sum.add(&s.counts());
    }
    let observed = watch.measure.of(&sum);
    let holds = match watch.condition {
        Condition::Below => observed < threshold,
        Condition::Above => observed > threshold,
    };
    Some((holds, tick))
}
