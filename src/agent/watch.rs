//! The per-source statistics and the rules at run time: restored from `path.data` at
//! start, fed by the inputs, the rules evaluated every check interval, their alerts and
//! reports written to the disk queue (so an outage of Logstash, or a crash, loses none of
//! them), and the state saved periodically and at shutdown.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tracing::{info, warn};

use crate::config::Config;
use crate::event::{AgentInfo, Event, EventShape, EventTemplate};
use crate::input::Outlet;
use crate::input::parsing::{StatsFeed, unix_now};
use crate::queue::DiskWriter;
use crate::registry::{RegistryError, StatsFile};
use crate::rules::{Alert, AlertTemplates, Detail, Engine, State};
use crate::stats::Stats;

/// The statistics (and rules, when configured) of one run.
pub(super) struct Watch {
    stats: Arc<Mutex<Stats>>,
    stats_file: StatsFile,
    rules: Option<Rules>,
}

struct Rules {
    engine: Arc<Mutex<Engine>>,
    file: StatsFile,
    interval: Duration,
    counts: Arc<RuleCounts>,
}

/// What each rule put out since the start, by rule name: every configured rule, from 0.
#[derive(Debug)]
pub(super) struct RuleCounts(Mutex<BTreeMap<String, RuleCount>>);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct RuleCount {
    /// Episodes opened (again, with `realert`).
    pub fired: u64,
    pub resolved: u64,
    pub reports: u64,
}

impl RuleCounts {
    pub fn new<'a>(rules: impl IntoIterator<Item = &'a str>) -> Self {
        let counts = rules
            .into_iter()
            .map(|name| (name.to_string(), RuleCount::default()))
            .collect();
        RuleCounts(Mutex::new(counts))
    }

    fn count(&self, alert: &Alert) {
        let mut counts = locked(&self.0);
        let count = counts.entry(alert.rule.clone()).or_default();
        match &alert.detail {
            Detail::Episode(e) if e.state == State::Firing => count.fired += 1,
            Detail::Episode(_) => count.resolved += 1,
            Detail::Report(_) => count.reports += 1,
        }
    }

    /// Every rule's counts, by name.
    pub fn snapshot(&self) -> Vec<(String, RuleCount)> {
        locked(&self.0)
            .iter()
            .map(|(name, count)| (name.clone(), *count))
            .collect()
    }
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Poisoned only by a panic in the middle of plain counter updates: still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Watch {
    /// The statistics and rules, restored from `path.data`; `None` when no input feeds
    /// statistics and no rule is configured, so that nothing is written for nothing.
    pub fn open(config: &Config) -> anyhow::Result<Option<Watch>> {
        let feeds = config.inputs.iter().any(|i| i.feeds_stats());
        if !feeds && config.rules.is_empty() {
            return Ok(None);
        }
        let mut stats = Stats::new(config.stats.tables());
        let stats_file = StatsFile::new(&config.path_data);
        if let Some(snapshot) = stats_file.load()? {
            let tables = stats
                .restore(snapshot)
                .map_err(|e| mismatch(&stats_file, &e))?;
            info!(tables, path = %stats_file.path().display(), "statistics restored");
        }
        let rules = if config.rules.is_empty() {
            None
        } else {
            let mut engine = Engine::new(&config.rules, &config.stats);
            let file = StatsFile::rules(&config.path_data);
            if let Some(snapshot) = file.load()? {
                engine.restore(snapshot).map_err(|e| mismatch(&file, &e))?;
                info!(path = %file.path().display(), open_episodes = engine.open_episodes(), "rule state restored");
            }
            let names = config.rules.iter().map(|r| r.name.as_str());
            Some(Rules {
                engine: Arc::new(Mutex::new(engine)),
                file,
                interval: config.rules_check_interval,
                counts: Arc::new(RuleCounts::new(names)),
            })
        };
        Ok(Some(Watch {
            stats: Arc::new(Mutex::new(stats)),
            stats_file,
            rules,
        }))
    }

    /// What the inputs feed.
    pub fn feed(&self) -> StatsFeed {
        StatsFeed::new(self.stats.clone()).with_rules(self.rules.as_ref().map(|r| r.engine.clone()))
    }

    pub fn has_rules(&self) -> bool {
        self.rules.is_some()
    }

    /// What each rule has put out, when there are rules.
    pub fn rule_counts(&self) -> Option<Arc<RuleCounts>> {
        self.rules.as_ref().map(|r| r.counts.clone())
    }

    /// Writes the statistics and the rule state (expired buckets dropped first).
    pub fn save(&self) -> Result<(), RegistryError> {
        // Serialised under the lock, straight from the structures (no JSON tree), and
        // written after it is released.
        let stats = {
            let mut stats = locked(&self.stats);
            stats.expire(unix_now());
            serde_json::to_vec(&*stats).expect("statistics are plain data")
        };
        self.stats_file.save_json(&stats)?;
        if let Some(rules) = &self.rules {
            let snapshot = locked(&rules.engine).snapshot_json();
            rules.file.save_json(&snapshot)?;
        }
        Ok(())
    }

    /// Saves every `every` until aborted.
    pub async fn run_flusher(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
        tick.tick().await;
        loop {
            tick.tick().await;
            save_in_background(&self).await;
        }
    }

    /// Evaluates the rules every check interval (at once first), writing their alerts
    /// and reports to the disk queue (which ships them), until aborted. Should the disk
    /// fail, they go to the output's queue through `outlet` instead.
    pub async fn run_rules(self: Arc<Self>, agent: AgentInfo, disk: DiskWriter, outlet: Outlet) {
        let Some(rules) = &self.rules else {
            return;
        };
        let shape = EventShape {
            input_type: "rules".into(),
            ..EventShape::default()
        };
        let mut templates = AlertTemplates::new(&EventTemplate::new(&agent, &shape));
        let mut tick = tokio::time::interval(rules.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let alerts = locked(&rules.engine).tick(unix_now());
            if alerts.is_empty() {
                continue;
            }
            let events: Vec<Event> = alerts
                .iter()
                .map(|a| {
                    log_alert(a);
                    rules.counts.count(a);
                    a.to_event(&mut templates)
                })
                .collect();
            let (events, written) = disk.append_in_background(events).await;
            // The state moves on only once its alerts are durable: a crash in between
            // repeats an alert rather than losing one.
            save_in_background(&self).await;
            match written {
                Ok(n) => outlet.counted(n as u64),
                Err(e) => {
                    // Not durable, but not lost while we run: shipped from memory.
                    warn!(error = %e, "alerts not written to the disk queue: shipping them from memory");
                    for event in events {
                        if outlet.send(event).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }
}

async fn save_in_background(watch: &Arc<Watch>) {
    let saver = watch.clone();
    match tokio::task::spawn_blocking(move || saver.save()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(error = %e, "statistics or rule state not written"),
        Err(e) => warn!(error = %e, "state writer task failed"),
    }
}

fn mismatch(file: &StatsFile, e: &serde_json::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "state file {} does not match this lumberwatch ({e}); move it aside to start over",
        file.path().display()
    )
}

/// One log line per alert or report, as it leaves the engine.
fn log_alert(a: &crate::rules::Alert) {
    match &a.detail {
        Detail::Episode(_) => info!(rule = %a.rule, "alert: {}", a.message()),
        Detail::Report(_) => info!(rule = %a.rule, "report: {}", a.message()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Condition, Episode, Measure, Report};

    fn episode(rule: &str, state: State) -> Alert {
        let watch = crate::rules::Watch {
            measure: Measure::Events,
            window_secs: 60,
            threshold: None,
            condition: Condition::Below,
            realert_secs: 0,
        };
        Alert {
            rule: rule.into(),
            at: 0,
            key_field: "source.ip".into(),
            detail: Detail::Episode(Episode {
                key: "10.0.0.1".into(),
                action: "flatline",
                state,
                watch,
                observed: 0,
                last_seen: None,
                lasted_secs: 60,
            }),
        }
    }

    #[test]
    fn rule_counts_start_at_zero_for_every_rule_and_count_by_kind() {
        let counts = RuleCounts::new(["quiet", "daily"]);
        let zero = RuleCount::default();
        assert_eq!(
            counts.snapshot(),
            vec![("daily".into(), zero), ("quiet".into(), zero)]
        );
        counts.count(&episode("quiet", State::Firing));
        counts.count(&episode("quiet", State::Firing));
        counts.count(&episode("quiet", State::Resolved));
        counts.count(&Alert {
            rule: "daily".into(),
            at: 0,
            key_field: "source.ip".into(),
            detail: Detail::Report(Report {
                key: None,
                label: "daily report 2026-03-01".into(),
                period_start: 0,
                period_end: 86_400,
                counts: crate::stats::Counts::default(),
                first_seen: None,
                last_seen: None,
                keys: 0,
            }),
        });
        let quiet = RuleCount {
            fired: 2,
            resolved: 1,
            reports: 0,
        };
        let daily = RuleCount { reports: 1, ..zero };
        assert_eq!(
            counts.snapshot(),
            vec![("daily".into(), daily), ("quiet".into(), quiet)]
        );
    }
}
