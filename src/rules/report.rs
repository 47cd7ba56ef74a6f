//! Report rules: per-key totals accumulated over the current period by the engine
//! itself (not read from bucket retention, so a day's report does not depend on how
//! long buckets are kept), emitted and reset at each schedule boundary.

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
}

/// The current period of one report rule.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Period {
    /// Unix seconds; set at the engine's first start, then at each boundary.
    start: Option<i64>,
    keys: HashMap<String, Totals>,
    /// Everything counted, including keys past `max_keys` (which are in the summary
    /// only: the accumulators are bounded like the statistics).
    all: Totals,
}

impl Period {
    /// Counts an observation of `key` at `at` into the current period.
    pub fn observe(&mut self, key: &str, counts: &Counts, at: i64, max_keys: usize) {
        self.all.add(counts, at);
        if let Some(t) = self.keys.get_mut(key) {
            t.add(counts, at);
        } else if self.keys.len() < max_keys {
            let mut t = Totals::default();
            t.add(counts, at);
            self.keys.insert(key.to_string(), t);
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
        out: &mut Vec<Alert>,
    ) {
        let start = *self.start.get_or_insert(started);
        let mut end = schedule.next_after(start);
        if end > now {
            return;
        }
        for _ in 0..MAX_SKIPPED {
            let next = schedule.next_after(end);
            if next > now {
                break;
            }
            end = next;
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
        let mut seen: Vec<(&String, &Totals)> = self.keys.iter().collect();
        seen.sort_by(|a, b| a.0.cmp(b.0));
        let before = out.len();
        out.extend(seen.into_iter().map(|(k, t)| report(Some(k.clone()), t, 1)));
        let silent = Totals::default();
        for key in rule.expected.keys() {
            if !self.keys.contains_key(key) {
                out.push(report(Some(key.clone()), &silent, 1));
            }
        }
        let keys = out.len() - before;
        out.push(report(None, &self.all, keys));
        *self = Period {
            start: Some(end),
            ..Period::default()
        };
    }
}
