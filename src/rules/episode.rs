//! Flatline and rate episodes: per key, whether the rule's condition holds now, and
//! the alerts that opening, repeating and closing an episode give.
//!
//! An episode opens once (one `firing`), repeats at most every `realert`, and closes
//! with one `resolved`. Open episodes are part of the persisted state, so a restart
//! neither repeats an alert early nor forgets to resolve one.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::event::{Alert, Detail, Episode, State};
use super::{Condition, RuleConfig, Watch};
use crate::stats::{KeyStats, Table};

/// The open episodes of one rule, by key.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Episodes {
    open: HashMap<String, Open>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Open {
    /// When the condition was met: the first alert's `@timestamp`.
    opened: i64,
    /// When the latest alert was emitted (the realert clock).
    last_fired: i64,
    /// Since when the key has been quiet (last seen, or the engine's first start for
    /// an expected key never seen): what a flatline's resolve measures from.
    quiet_from: i64,
}

/// What one evaluation of one key found.
struct Finding {
    holds: bool,
    /// When it started to hold (a silence reaching its window), else now.
    at: i64,
    observed: u64,
    quiet_from: i64,
}

/// One rule being evaluated at `now`.
pub(super) struct Evaluation<'a> {
    pub rule: &'a RuleConfig,
    pub watch: &'a Watch,
    pub table: Option<&'a Table>,
    /// The engine's first start: since when an expected key is known.
    pub started: i64,
    pub now: i64,
}

impl Episodes {
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Evaluates every key the rule watches: seen keys it watches, then listed keys
    /// never seen. Episodes of keys no longer watched (evicted, rule changed) are
    /// dropped without an alert.
    pub fn evaluate(&mut self, ev: &Evaluation<'_>, out: &mut Vec<Alert>) {
        let expected = &ev.rule.expected;
        if let Some(table) = ev.table {
            for (key, stats) in table.keys() {
                if expected.watches(key) {
                    let is_expected = !expected.is_empty();
                    self.key(ev, key, Some(stats), is_expected, out);
                }
            }
        }
        for key in expected.keys() {
            if ev.table.and_then(|t| t.get(key)).is_none() {
                self.key(ev, key, None, true, out);
            }
        }
        self.open.retain(|key, _| {
            let seen = ev.table.is_some_and(|t| t.get(key).is_some());
            (seen && expected.watches(key)) || expected.lists(key)
        });
    }

    fn key(
        &mut self,
        ev: &Evaluation<'_>,
        key: &str,
        stats: Option<&KeyStats>,
        expected: bool,
        out: &mut Vec<Alert>,
    ) {
        let Some(found) = find(ev, key, stats, expected) else {
            return;
        };
        let watch = ev.watch;
        let (state, at, lasted) = match (found.holds, self.open.get_mut(key)) {
            (true, None) => {
                let open = Open {
                    opened: found.at,
                    last_fired: ev.now,
                    quiet_from: found.quiet_from,
                };
                self.open.insert(key.to_string(), open);
                (State::Firing, found.at, lasted(watch, &open, found.at))
            }
            (true, Some(open))
                if watch.realert_secs > 0 && ev.now - open.last_fired >= watch.realert_secs =>
            {
                open.last_fired = ev.now;
                (State::Firing, ev.now, lasted(watch, open, ev.now))
            }
            (false, Some(open)) => {
                let open = *open;
                self.open.remove(key);
                let end = match watch.threshold {
                    None => stats.map_or(ev.now, |s| s.last_seen),
                    Some(_) => ev.now,
                };
                (State::Resolved, ev.now, lasted(watch, &open, end))
            }
            _ => return,
        };
        out.push(Alert {
            rule: ev.rule.name.clone(),
            at,
            key_field: ev.rule.key.clone(),
            detail: Detail::Episode(Episode {
                key: key.to_string(),
                action: ev.rule.action(),
                state,
                watch: *watch,
                observed: found.observed,
                last_seen: stats.map(|s| s.last_seen),
                lasted_secs: lasted,
            }),
        });
    }
}

/// How long an episode has lasted at `end`: a flatline's silence counts from the last
/// observation, a rate episode from when it opened.
fn lasted(watch: &Watch, open: &Open, end: i64) -> i64 {
    match watch.threshold {
        None => end - open.quiet_from,
        Some(_) => end - open.opened,
    }
}

/// Whether the condition holds for `key`; `None` while it cannot be told yet (a
/// below-rate on a key known for less than a window).
fn find(
    ev: &Evaluation<'_>,
    key: &str,
    stats: Option<&KeyStats>,
    expected: bool,
) -> Option<Finding> {
    let watch = ev.watch;
    let window = watch.window_secs;
    let observed = || {
        ev.table
            .map_or(0, |t| watch.measure.of(&t.window(key, window, ev.now)))
    };
    let quiet_from = stats.map_or(ev.started, |s| s.last_seen);
    if watch.threshold.is_none() {
        // Nothing at all: exact, from the last observation rather than bucket sums, and
        // stamped when the silence reached the window even if that was while down.
        let silent = ev.now - quiet_from >= window;
        return Some(Finding {
            holds: silent,
            at: if silent { quiet_from + window } else { ev.now },
            observed: if silent { 0 } else { observed() },
            quiet_from,
        });
    }
    let known_since = match (stats, expected) {
        (Some(s), true) => s.first_seen.min(ev.started),
        (Some(s), false) => s.first_seen,
        (None, _) => ev.started,
    };
    if watch.condition == Condition::Below && ev.now - known_since < window {
        return None;
    }
    let observed = observed();
    Some(Finding {
        holds: watch.holds(observed),
        at: ev.now,
        observed,
        quiet_from,
    })
}
