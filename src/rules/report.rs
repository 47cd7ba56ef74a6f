//! Report rules: per-key totals accumulated over the current period by the engine
//! itself (not read from bucket retention, so a day's report does not depend on how
//! long buckets are kept), emitted and reset at each schedule boundary. An observation
//! past the boundary that comes before the check closing the period counts for the
//! period it belongs to, not the one being closed.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::event::{Alert, Detail, Report};
use super::{RuleConfig, Schedule};
use crate::stats::Counts;

/// How many boundaries one tick skips at most when catching up after downtime (over
/// 270 years of daily reports); what is left is reported at the next tick.
const MAX_SKIPPED: usize = 100_000;

/// One key's (or the whole period's) totals.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Totals {
    counts: Counts,
    first_seen: Option<i64>,
    last_seen: Option<i64>,
}

impl Totals {
    fn add(&mut self, counts: &Counts, at: i64) {
        self.counts.add(counts);
        self.first_seen = Some(self.first_seen.map_or(at, |t| t.min(at)));
        self.last_seen = Some(self.last_seen.map_or(at, |t| t.max(at)));
    }

    fn merge(&mut self, other: &Totals) {
        self.counts.add(&other.counts);
        self.first_seen = match (self.first_seen, other.first_seen) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // `None` orders before any time.
        self.last_seen = self.last_seen.max(other.last_seen);
    }
}

/// What one period has counted.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Tally {
    keys: HashMap<String, Totals>,
    /// Everything counted, including keys past `max_keys` (which are in the summary
    /// only: the accumulators are bounded like the statistics).
    all: Totals,
}

impl Tally {
    fn add(&mut self, key: &str, counts: &Counts, at: i64, max_keys: usize) {
        self.all.add(counts, at);
        if let Some(t) = self.keys.get_mut(key) {
            t.add(counts, at);
        } else if self.keys.len() < max_keys {
            let mut t = Totals::default();
            t.add(counts, at);
            self.keys.insert(key.to_string(), t);
        }
    }

    fn absorb(&mut self, other: Tally, max_keys: usize) {
        self.all.merge(&other.all);
        for (key, totals) in other.keys {
            if let Some(t) = self.keys.get_mut(&key) {
                t.merge(&totals);
            } else if self.keys.len() < max_keys {
                self.keys.insert(key, totals);
            }
        }
    }
}

/// Observations of a later period than the current one, counted before the check that
/// closes the current one (a record at 00:00:10 when the check comes at 00:00:25).
#[derive(Debug, Serialize, Deserialize)]
struct Ahead {
    /// The boundary the later period starts at.
    start: i64,
    tally: Tally,
}

/// The current period of one report rule.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Period {
    /// Unix seconds; set at the engine's first start, then at each boundary.
    start: Option<i64>,
    #[serde(flatten)]
    tally: Tally,
    /// Absent from state saved before it existed.
    #[serde(default)]
    ahead: Option<Ahead>,
    /// The first boundary after `start`, once computed (every observation asks).
    #[serde(skip)]
    end: Option<i64>,
}

impl Period {
    fn end(&mut self, schedule: &Schedule, started: i64) -> i64 {
        let start = *self.start.get_or_insert(started);
        *self.end.get_or_insert_with(|| schedule.next_after(start))
    }

    /// Counts an observation of `key` at `at` into the period it belongs to: the
    /// current one, or, past its end, the one ahead, kept apart until the check that
    /// closes the current period.
    pub fn observe(
        &mut self,
        schedule: &Schedule,
        started: i64,
        key: &str,
        counts: &Counts,
        at: i64,
        max_keys: usize,
    ) {
        let end = self.end(schedule, started);
        if at < end {
            self.tally.add(key, counts, at, max_keys);
            return;
        }
        let from = last_boundary(schedule, end, at);
        match &mut self.ahead {
            Some(ahead) if ahead.start == from => ahead.tally.add(key, counts, at, max_keys),
            // Both the period ahead and this observation's, which starts before it, end
            // by the next check: they are reported with the current period.
            Some(ahead) if ahead.start > from => self.tally.add(key, counts, at, max_keys),
            // None ahead yet, or one of an earlier period than this observation's, which
            // by the next check has ended too: it joins the current period.
            _ => {
                let mut tally = Tally::default();
                tally.add(key, counts, at, max_keys);
                let earlier = self.ahead.replace(Ahead { start: from, tally });
                if let Some(earlier) = earlier {
                    self.tally.absorb(earlier.tally, max_keys);
                }
            }
        }
    }

    /// At the first boundary passed since the period started: one event per key (keys
    /// expected but silent with zeros) and a summary, for the period up to the last
    /// boundary passed, so days missed while down make one report, not one per day.
    pub fn tick(
        &mut self,
        rule: &RuleConfig,
        schedule: &Schedule,
        started: i64,
        now: i64,
        max_keys: usize,
        out: &mut Vec<Alert>,
    ) {
        let first_end = self.end(schedule, started);
        if first_end > now {
            return;
        }
        let start = self.start.unwrap_or(started);
        let end = last_boundary(schedule, first_end, now);
        let mut ahead = self.ahead.take();
        if let Some(passed) = ahead.take_if(|a| a.start < end) {
            self.tally.absorb(passed.tally, max_keys);
        }
        let label = schedule.label(start, end);
        let report = |key: Option<String>, t: &Totals, keys: usize| Alert {
            rule: rule.name.clone(),
            at: end,
            key_field: rule.key.clone(),
            detail: Detail::Report(Report {
                key,
                label: label.clone(),
                period_start: start,
                period_end: end,
                counts: t.counts,
                first_seen: t.first_seen,
                last_seen: t.last_seen,
                keys,
            }),
        };
        let mut seen: Vec<(&String, &Totals)> = self.tally.keys.iter().collect();
        seen.sort_by(|a, b| a.0.cmp(b.0));
        let before = out.len();
        out.extend(seen.into_iter().map(|(k, t)| report(Some(k.clone()), t, 1)));
        let silent = Totals::default();
        for key in rule.expected.keys() {
            if !self.tally.keys.contains_key(key) {
                out.push(report(Some(key.clone()), &silent, 1));
            }
        }
        let keys = out.len() - before;
        out.push(report(None, &self.tally.all, keys));
        let (tally, ahead) = match ahead {
            Some(next) if next.start == end => (next.tally, None),
            later => (Tally::default(), later),
        };
        *self = Period {
            start: Some(end),
            tally,
            ahead,
            end: None,
        };
    }
}

/// The last boundary at or before `until`, from the boundary `from`.
fn last_boundary(schedule: &Schedule, from: i64, until: i64) -> i64 {
    let mut last = from;
    for _ in 0..MAX_SKIPPED {
        let next = schedule.next_after(last);
        if next > until {
            break;
        }
        last = next;
    }
    last
}
