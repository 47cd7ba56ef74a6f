//! The rules engine: its own statistics (one table per key field and filter the rules
//! need), each rule's state, and the alerts a tick gives.
//!
//! Sans-IO: time is an argument everywhere, nothing here reads a clock, sleeps or
//! writes a file. The caller feeds observations, ticks every check interval, ships
//! what a tick returns, and saves [`Engine::snapshot`] where it keeps state.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::episode::{Episodes, Evaluation};
use super::event::Alert;
use super::report::Period;
use super::{Filter, RuleConfig, RuleKind};
use crate::config::StatsConfig;
use crate::stats::{Observation, Stats, TableSpec};

/// The version of [`Engine::snapshot`]'s layout.
const SNAPSHOT_VERSION: u32 = 1;

pub struct Engine {
    rules: Vec<Rule>,
    /// One statistics set per distinct filter of the flatline and rate rules.
    groups: Vec<Group>,
    /// The engine's first start (unix seconds), kept across restarts: an expected key
    /// never seen has been silent since then.
    started: Option<i64>,
    /// Bound on each report rule's per-key accumulators.
    max_keys: usize,
    /// The statistics' `bucket`: the finest resolution of any window.
    bucket_secs: u32,
}

/// Buckets per window: a window is summed over at most this many buckets (plus one), so
/// a 24 h rule costs what a 1 h rule does, at most 1/60 of the window coarser at its
/// old end.
const BUCKETS_PER_WINDOW: i64 = 60;

/// The bucket width of a rule's table: the statistics' bucket, or a 60th of the window
/// when that is wider (rounded to a whole number of base buckets).
fn bucket_for(window_secs: i64, base: u32) -> u32 {
    let base_secs = i64::from(base.max(1));
    let wanted = window_secs / BUCKETS_PER_WINDOW;
    let multiple = (wanted / base_secs).max(1);
    u32::try_from(multiple * base_secs).unwrap_or(u32::MAX)
}

/// Per (key field, bucket width): the longest window a rule asks of that table.
type WindowsByTable = HashMap<(String, u32), i64>;

struct Group {
    filter: Filter,
    stats: Stats,
}

struct Rule {
    config: RuleConfig,
    /// Index into `groups` (flatline and rate rules).
    group: Option<usize>,
    episodes: Episodes,
    period: Period,
}

/// The persisted state, as [`Engine::snapshot`] writes it (borrowed from the engine).
#[derive(Serialize)]
struct SavedRef<'a> {
    version: u32,
    started: Option<i64>,
    groups: Vec<SavedGroupRef<'a>>,
    rules: Vec<SavedRuleRef<'a>>,
}

#[derive(Serialize)]
struct SavedGroupRef<'a> {
    filter: &'a Filter,
    stats: &'a Stats,
}

#[derive(Serialize)]
struct SavedRuleRef<'a> {
    name: &'a str,
    action: &'static str,
    episodes: &'a Episodes,
    period: &'a Period,
}

/// The persisted state, as read back.
#[derive(Deserialize)]
struct Saved {
    version: u32,
    started: Option<i64>,
    groups: Vec<SavedGroup>,
    rules: Vec<SavedRule>,
}

#[derive(Deserialize)]
struct SavedGroup {
    filter: Filter,
    stats: Value,
}

#[derive(Deserialize)]
struct SavedRule {
    name: String,
    action: String,
    episodes: Episodes,
    period: Period,
}

impl Engine {
    /// An engine for `rules` (validated by the config), with buckets as wide as the
    /// statistics' `bucket` and at most `max_keys` keys per table.
    pub fn new(rules: &[RuleConfig], stats: &StatsConfig) -> Engine {
        let base = stats.bucket_secs.max(1);
        let mut groups: Vec<(Filter, WindowsByTable)> = Vec::new();
        let mut built = Vec::with_capacity(rules.len());
        for config in rules {
            let group = match &config.kind {
                RuleKind::Flatline(w) | RuleKind::Rate(w) => {
                    let i = match groups.iter().position(|(f, _)| *f == config.filter) {
                        Some(i) => i,
                        None => {
                            groups.push((config.filter.clone(), HashMap::new()));
                            groups.len() - 1
                        }
                    };
                    let table = (config.key.clone(), bucket_for(w.window_secs, base));
                    let longest = groups[i].1.entry(table).or_insert(0);
                    *longest = (*longest).max(w.window_secs);
                    Some(i)
                }
                RuleKind::Report(_) => None,
            };
            built.push(Rule {
                config: config.clone(),
                group,
                episodes: Episodes::default(),
                period: Period::default(),
            });
        }
        let groups = groups
            .into_iter()
            .map(|(filter, keys)| {
                let mut keys: Vec<((String, u32), i64)> = keys.into_iter().collect();
                keys.sort();
                let specs = keys.into_iter().map(|((key, bucket), window)| TableSpec {
                    key,
                    bucket_secs: bucket,
                    // The longest window and the bucket it starts in.
                    retention_secs: u32::try_from(window)
                        .unwrap_or(u32::MAX)
                        .saturating_add(bucket),
                    max_keys: stats.max_keys,
                });
                Group {
                    filter,
                    stats: Stats::new(specs),
                }
            })
            .collect();
        Engine {
            rules: built,
            groups,
            started: None,
            max_keys: stats.max_keys,
            bucket_secs: base,
        }
    }

    /// The first call after a fresh start (no state restored) marks the engine's first
    /// start.
    fn started(&mut self, now: i64) -> i64 {
        *self.started.get_or_insert(now)
    }

    /// Counts `obs`, which happened at `at` (unix seconds; a time after `now` counts at
    /// `now`), for every rule whose filter it passes. Context names the rules may
    /// filter or key on: `input.id` (the input's id), `log.source.ip`.
    pub fn on_observation(&mut self, obs: &Observation<'_>, at: i64, now: i64) {
        let started = self.started(now);
        let at = at.min(now);
        for group in &mut self.groups {
            if group.filter.matches(obs) {
                group.stats.observe(obs, at, now);
            }
        }
        for rule in &mut self.rules {
            let RuleKind::Report(schedule) = &rule.config.kind else {
                continue;
            };
            if let Some(key) = obs.field(&rule.config.key)
                && rule.config.expected.watches(&key)
                && rule.config.filter.matches(obs)
            {
                let max_keys = self.max_keys;
                rule.period
                    .observe(schedule, started, &key, &obs.counts, at, max_keys);
            }
        }
    }

    /// Evaluates every rule at `now`; call it every check interval. Returns the alerts
    /// and reports to ship, in rule order.
    pub fn tick(&mut self, now: i64) -> Vec<Alert> {
        let started = self.started(now);
        for group in &mut self.groups {
            group.stats.expire(now);
        }
        let mut out = Vec::new();
        for rule in &mut self.rules {
            match &rule.config.kind {
                RuleKind::Flatline(watch) | RuleKind::Rate(watch) => {
                    let table = rule.group.and_then(|g| self.groups.get(g)).and_then(|g| {
                        let bucket = bucket_for(watch.window_secs, self.bucket_secs);
                        g.stats.table_with(&rule.config.key, bucket)
                    });
                    let ev = Evaluation {
                        rule: &rule.config,
                        watch,
                        table,
                        started,
                        now,
                    };
                    rule.episodes.evaluate(&ev, &mut out);
                }
                RuleKind::Report(schedule) => {
                    let max_keys = self.max_keys;
                    rule.period
                        .tick(&rule.config, schedule, started, now, max_keys, &mut out);
                }
            }
        }
        out
    }

    /// How many episodes are open, over all rules (for the metrics line).
    pub fn open_episodes(&self) -> usize {
        self.rules.iter().map(|r| r.episodes.len()).sum()
    }

    /// Everything the engine knows, for the state file: statistics, open episodes,
    /// report periods, the first start.
    pub fn snapshot(&self) -> Value {
        serde_json::to_value(self.saved()).expect("the engine's state is plain data")
    }

    /// [`Engine::snapshot`] as JSON text, serialised straight from the engine's state
    /// (no intermediate tree: at 100,000 keys the tree is ten times the text).
    pub fn snapshot_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.saved()).expect("the engine's state is plain data")
    }

    fn saved(&self) -> SavedRef<'_> {
        SavedRef {
            version: SNAPSHOT_VERSION,
            started: self.started,
            groups: self
                .groups
                .iter()
                .map(|g| SavedGroupRef {
                    filter: &g.filter,
                    stats: &g.stats,
                })
                .collect(),
            rules: self
                .rules
                .iter()
                .map(|r| SavedRuleRef {
                    name: &r.config.name,
                    action: r.config.action(),
                    episodes: &r.episodes,
                    period: &r.period,
                })
                .collect(),
        }
    }

    /// Restores a snapshot into this freshly configured engine: a rule's state comes
    /// back if a rule of the same name and type still exists, statistics if the same
    /// filter and table are still asked for; the rest starts afresh.
    pub fn restore(&mut self, snapshot: Value) -> Result<(), serde_json::Error> {
        let saved: Saved = serde_json::from_value(snapshot)?;
        if saved.version != SNAPSHOT_VERSION {
            return Err(serde::de::Error::custom(format!(
                "rules state version {} is not {SNAPSHOT_VERSION}",
                saved.version
            )));
        }
        self.started = saved.started.or(self.started);
        for group in saved.groups {
            if let Some(slot) = self.groups.iter_mut().find(|g| g.filter == group.filter) {
                slot.stats.restore(group.stats)?;
            }
        }
        for state in saved.rules {
            if let Some(rule) = self
                .rules
                .iter_mut()
                .find(|r| r.config.name == state.name && r.config.action() == state.action)
            {
                rule.episodes = state.episodes;
                rule.period = state.period;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod bucket_tests {
    use super::*;

    #[test]
    fn long_windows_get_wider_buckets_so_every_window_holds_about_sixty() {
        assert_eq!(bucket_for(3600, 60), 60);
        assert_eq!(bucket_for(6 * 3600, 60), 360);
        assert_eq!(bucket_for(24 * 3600, 60), 1440);
        assert_eq!(
            bucket_for(300, 60),
            60,
            "never finer than the statistics' bucket"
        );
        assert_eq!(bucket_for(100, 7), 7);
        assert_eq!(bucket_for(3600, 7), 56, "a whole number of base buckets");
    }
}
