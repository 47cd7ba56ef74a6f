//! What a rule is, once the config has been validated: the typed values the engine
//! evaluates. Parsing and its error messages live in `config::rules`.

use crate::stats::Counts;

use super::{Expected, Filter, Schedule};

/// One entry of `lumberwatch.rules`.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleConfig {
    /// `name`: unique among the rules; `rule.name` of its events and the key of its state.
    pub name: String,
    /// `key` (default `source.ip`): the field whose values the rule is evaluated for.
    pub key: String,
    /// `expected`: the keys the rule is about. Empty means every key seen.
    pub expected: Expected,
    /// `filter`: which observations count.
    pub filter: Filter,
    pub kind: RuleKind,
}

impl RuleConfig {
    /// The key field a rule uses when none is configured.
    pub const DEFAULT_KEY: &'static str = "source.ip";

    /// `flatline`, `rate` or `report`: the `event.action` of the rule's events.
    pub fn action(&self) -> &'static str {
        match self.kind {
            RuleKind::Flatline(_) => "flatline",
            RuleKind::Rate(_) => "rate",
            RuleKind::Report(_) => "report",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// The measure over `window` fell below a threshold (default: no traffic at all).
    Flatline(Watch),
    /// The measure over a sliding `window` is below or above a threshold.
    Rate(Watch),
    /// Per-key totals at every schedule boundary.
    Report(Schedule),
}

/// What a flatline or rate rule watches, and when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watch {
    pub measure: Measure,
    /// The sliding window, in seconds.
    pub window_secs: i64,
    /// In the measure's unit. `None` (flatline only): fires when there was no
    /// observation at all in the window.
    pub threshold: Option<u64>,
    pub condition: Condition,
    /// A still-open episode fires again at most this often; 0 = never again.
    pub realert_secs: i64,
}

impl Watch {
    /// Whether `observed` over the window meets the rule's condition.
    pub fn holds(&self, observed: u64) -> bool {
        match (self.condition, self.threshold) {
            (_, None) => observed == 0,
            (Condition::Below, Some(t)) => observed < t,
            (Condition::Above, Some(t)) => observed > t,
        }
    }
}

/// What a rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Events,
    Bytes,
    Packets,
    Connections,
}

impl Measure {
    pub const ALL: [Measure; 4] = [
        Measure::Events,
        Measure::Bytes,
        Measure::Packets,
        Measure::Connections,
    ];

    /// `events`, `bytes`, `packets`, `connections`: the config spelling and the
    /// `lumberwatch.alert.unit` of events.
    pub fn name(self) -> &'static str {
        match self {
            Measure::Events => "events",
            Measure::Bytes => "bytes",
            Measure::Packets => "packets",
            Measure::Connections => "connections",
        }
    }

    pub fn by_name(name: &str) -> Option<Measure> {
        Measure::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn of(self, c: &Counts) -> u64 {
        match self {
            Measure::Events => c.events,
            Measure::Bytes => c.bytes,
            Measure::Packets => c.packets,
            Measure::Connections => c.connections,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Below,
    Above,
}

impl Condition {
    pub fn name(self) -> &'static str {
        match self {
            Condition::Below => "below",
            Condition::Above => "above",
        }
    }
}
