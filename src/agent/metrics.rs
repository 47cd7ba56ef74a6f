//! What the agent says about itself while it runs: its counters (`Counters`, which the
//! stats endpoint serves too), the Beats' periodic "non-zero metrics" line, and a
//! warning when acks stop coming while events wait (a silent stall, the failure users
//! find worst).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::time::Instant;
use tracing::{info, warn};

use super::watch::RuleCounts;
use crate::config::{InputConfig, InputKind};
use crate::input::InputContext;
use crate::output::OutputStats;
use crate::queue::DiskCounters;
use crate::registry::Registry;

/// Every counter of a run: the one source of the metrics line and the stats endpoint.
#[derive(Clone)]
pub(super) struct Counters {
    pub output: Arc<OutputStats>,
    /// `logstash` or `console`.
    pub output_type: &'static str,
    pub inputs: Vec<InputCounters>,
    pub disk: Option<Arc<crate::queue::DiskQueue>>,
    /// Events the inputs and the rules handed over.
    pub queued: Arc<AtomicU64>,
    pub rules: Option<Arc<RuleCounts>>,
    pub registry: Option<Arc<Registry>>,
}

/// One input's counters (each input counts into its own).
#[derive(Clone)]
pub(super) struct InputCounters {
    /// The input's `id`, else its type and place in the config (`stdin-0`).
    pub label: String,
    /// Its `type`.
    pub kind: &'static str,
    pub context: InputContext,
    /// Whether it has a `parser` (and so parse counters).
    pub parses: bool,
}

impl InputCounters {
    pub fn new(index: usize, input: &InputConfig, context: InputContext) -> Self {
        let kind = match &input.kind {
            InputKind::Stdin => "stdin",
            InputKind::Generator { .. } => "generator",
            InputKind::Filestream(_) => "filestream",
            InputKind::Syslog(_) => "syslog",
            InputKind::Conntrack(_) => "conntrack",
            InputKind::Flows(_) => "flows",
        };
        let label = (input.common.id.clone()).unwrap_or_else(|| format!("{kind}-{index}"));
        InputCounters {
            label,
            kind,
            context,
            parses: input.common.parser.is_some(),
        }
    }

    /// Its counters by group (`parse`, `syslog`, `conntrack`, `flows`): only those its
    /// type has.
    pub fn groups(&self) -> Vec<(&'static str, Vec<(&'static str, u64)>)> {
        let c = &self.context;
        let mut groups = Vec::new();
        if self.parses {
            groups.push(("parse", c.parse.snapshot().to_vec()));
        }
        match self.kind {
            "syslog" => groups.push(("syslog", c.syslog.counters().to_vec())),
            "conntrack" => groups.push(("conntrack", c.conntrack.counters().to_vec())),
            "flows" => groups.push(("flows", c.flows.counters().to_vec())),
            _ => {}
        }
        groups
    }
}

impl Counters {
    /// The totals by name, in a fixed order (for the metrics line).
    fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let mut all = self.output.snapshot().to_vec();
        for input in &self.inputs {
            for (name, value) in input.groups().into_iter().flat_map(|(_, g)| g) {
                match all.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, total)) => *total += value,
                    None => all.push((name, value)),
                }
            }
        }
        if let Some(disk) = &self.disk {
            all.extend(DiskCounters::snapshot(&disk.counters));
        }
        all
    }
}

/// The Beats' "Non-zero metrics in the last 30s" line: deltas since the last one.
pub(super) async fn log_metrics(counters: Counters, period: Duration) {
    let mut last = counters.snapshot();
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = counters.snapshot();
        let deltas: Vec<String> = now
            .iter()
            .zip(last.iter())
            .filter(|((_, a), (_, b))| a != b)
            .map(|((name, a), (_, b))| format!("{name}={}", a - b))
            .collect();
        if !deltas.is_empty() {
            info!(period = ?period, "non-zero metrics in the last period: {}", deltas.join(" "));
        }
        last = now;
    }
}

/// Tells a stall (events waiting, no ack for `after`) from a quiet agent (nothing
/// waiting), once per stall, and its end. Pure: time is passed in.
#[derive(Debug)]
pub(super) struct StallDetector {
    after: Duration,
    acked: u64,
    /// Since when nothing has been acked while events waited.
    since: Option<Instant>,
    warned: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Stall {
    Began { waiting: u64, for_: Duration },
    Ended { after: Duration },
}

impl StallDetector {
    pub fn new(after: Duration) -> Self {
        StallDetector {
            after,
            acked: 0,
            since: None,
            warned: false,
        }
    }

    pub fn observe(&mut self, now: Instant, queued: u64, acked: u64) -> Option<Stall> {
        let waiting = queued.saturating_sub(acked);
        let progressed = acked != self.acked;
        self.acked = acked;
        if progressed || waiting == 0 {
            let since = self.since.take();
            if std::mem::take(&mut self.warned) {
                return since.map(|s| Stall::Ended { after: now - s });
            }
            if waiting > 0 {
                self.since = Some(now);
            }
            return None;
        }
        let since = *self.since.get_or_insert(now);
        if !self.warned && now - since >= self.after {
            self.warned = true;
            return Some(Stall::Began {
                waiting,
                for_: now - since,
            });
        }
        None
    }
}

/// Checks for stalls every second (or `after / 4`, if shorter) until aborted.
pub(super) async fn watch_stalls(
    output: Arc<OutputStats>,
    queued: Arc<AtomicU64>,
    after: Duration,
    hosts: String,
) {
    let mut detector = StallDetector::new(after);
    let mut tick =
        tokio::time::interval((after / 4).clamp(Duration::from_millis(10), Duration::from_secs(1)));
    loop {
        tick.tick().await;
        match detector.observe(Instant::now(), queued.load(Relaxed), output.acked()) {
            Some(Stall::Began { waiting, for_ }) => warn!(
                waiting,
                hosts = %hosts,
                "no events acked for {}s while {waiting} wait: the output is stalled (is Logstash up, reachable and its pipeline not blocked?)",
                for_.as_secs()
            ),
            Some(Stall::Ended { after }) => {
                info!(hosts = %hosts, "acks resumed after a stall of {}s", after.as_secs())
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_is_told_once_and_its_end_once() {
        let t0 = Instant::now();
        let s = |n| t0 + Duration::from_secs(n);
        let mut d = StallDetector::new(Duration::from_secs(60));
        assert_eq!(d.observe(s(0), 100, 0), None);
        assert_eq!(d.observe(s(59), 100, 0), None, "not yet a minute");
        assert_eq!(
            d.observe(s(60), 120, 0),
            Some(Stall::Began {
                waiting: 120,
                for_: Duration::from_secs(60)
            })
        );
        assert_eq!(d.observe(s(90), 150, 0), None, "told once");
        assert_eq!(
            d.observe(s(95), 150, 10),
            Some(Stall::Ended {
                after: Duration::from_secs(95)
            })
        );
        assert_eq!(d.observe(s(96), 150, 20), None);
    }

    #[test]
    fn an_idle_agent_or_one_that_keeps_acking_never_stalls() {
        let t0 = Instant::now();
        let mut d = StallDetector::new(Duration::from_secs(10));
        for i in 0..100 {
            // Idle: nothing waits, however long.
            assert_eq!(d.observe(t0 + Duration::from_secs(i), 5, 5), None);
        }
        let mut d = StallDetector::new(Duration::from_secs(10));
        for i in 0..100 {
            // Busy and slow, but every check sees progress.
            assert_eq!(d.observe(t0 + Duration::from_secs(i), 1000 + i, i), None);
        }
    }

    #[test]
    fn the_clock_starts_when_events_begin_to_wait() {
        let t0 = Instant::now();
        let s = |n| t0 + Duration::from_secs(n);
        let mut d = StallDetector::new(Duration::from_secs(10));
        assert_eq!(d.observe(s(0), 0, 0), None);
        assert_eq!(d.observe(s(100), 0, 0), None, "idle for long");
        assert_eq!(d.observe(s(101), 5, 0), None, "events wait from now on");
        assert_eq!(d.observe(s(110), 5, 0), None);
        assert!(matches!(d.observe(s(111), 5, 0), Some(Stall::Began { .. })));
    }
}
