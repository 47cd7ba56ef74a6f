//! The rules engine: its own statistics (one table per key field and filter the rules
//! need), each rule's state, and the alerts a tick gives.
//!
//! Sans-IO: time is an argument everywhere, nothing here reads a clock, sleeps or
//! writes a file. The caller feeds observations, ticks every check interval, ships
//! what a tick returns, and saves [`Engine::snapshot`] where it keeps state.

use std::collections::HashMap;

use serde::Deserialize;
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
}

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

/// The persisted state, as [`Engine::snapshot`] writes it.
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
        let mut groups: Vec<(Filter, HashMap<String, i64>)> = Vec::new();
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
                    let longest = groups[i].1.entry(config.key.clone()).or_insert(0);
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
        let bucket = stats.bucket_secs.max(1);
        let groups = groups
            .into_iter()
            .map(|(filter, keys)| {
                let mut keys: Vec<(String, i64)> = keys.into_iter().collect();
                keys.sort();
                let specs = keys.into_iter().map(|(key, window)| TableSpec {
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
                    let table = rule
                        .group
                        .and_then(|g| self.groups.get(g))
                        .and_then(|g| g.stats.table(&rule.config.key));
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
        let groups: Vec<Value> = self
            .groups
            .iter()
            .map(|g| serde_json::json!({"filter": g.filter, "stats": g.stats.snapshot()}))
            .collect();
        let rules: Vec<Value> = self
            .rules
            .iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.config.name,
                    "action": r.config.action(),
                    "episodes": r.episodes,
                    "period": r.period,
                })
            })
            .collect();
        serde_json::json!({
            "version": SNAPSHOT_VERSION,
            "started": self.started,
            "groups": groups,
            "rules": rules,
        })
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
