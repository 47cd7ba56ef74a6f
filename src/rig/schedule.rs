//! The poller's schedule, sans-IO: each cycle drawn from a seeded RNG as offsets from
//! the cycle's start. A cycle (20 minutes in the users' story) moves a random volume
//! between 50 and 100 MB in requests every `interval`, and stops at random up to 5
//! times, each stop lasting 30 s to 3 min, after which the poller restarts (a new
//! connection). No clock and no sockets: the driver maps offsets to time.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// The users' story: 20-minute cycles of 50–100 MB (decimal), up to 5 restarts each.
pub const CYCLE: Duration = Duration::from_secs(20 * 60);
pub const MIN_CYCLE_BYTES: u64 = 50_000_000;
pub const MAX_CYCLE_BYTES: u64 = 100_000_000;
pub const MAX_RESTARTS: usize = 5;
const MIN_PAUSE: Duration = Duration::from_secs(30);
const MAX_PAUSE: Duration = Duration::from_secs(180);

/// One thing the poller does, at an offset from its cycle's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Fetch `bytes` from the target.
    Poll { at: Duration, bytes: u64 },
    /// Stop (drop the connection) and restart at `until`, where the next poll is.
    Stop { at: Duration, until: Duration },
}

impl Step {
    pub fn at(&self) -> Duration {
        match *self {
            Step::Poll { at, .. } | Step::Stop { at, .. } => at,
        }
    }
}

/// One cycle's plan: its volume and its steps in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    pub bytes: u64,
    pub steps: Vec<Step>,
}

impl Cycle {
    pub fn requests(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s, Step::Poll { .. }))
            .count()
    }

    pub fn restarts(&self) -> usize {
        self.steps.len() - self.requests()
    }
}

/// Draws cycle after cycle from one seed: the same seed and interval give the same
/// cycles (with the same build of `rand`).
#[derive(Debug)]
pub struct Schedule {
    rng: StdRng,
    interval: Duration,
}

impl Schedule {
    /// `interval` is the time between polls (`POLL_INTERVAL`); it must not be zero.
    pub fn new(seed: u64, interval: Duration) -> Schedule {
        assert!(
            !interval.is_zero(),
            "the poll interval is checked to be positive"
        );
        Schedule {
            rng: StdRng::seed_from_u64(seed),
            interval,
        }
    }

    /// The next cycle. Polls sit on slots `k * interval` within the cycle; the first
    /// slot always polls, and every stop ends on a slot that polls.
    pub fn next_cycle(&mut self) -> Cycle {
        let rng = &mut self.rng;
        let bytes = rng.random_range(MIN_CYCLE_BYTES..=MAX_CYCLE_BYTES);
        let slots = CYCLE.as_nanos().div_ceil(self.interval.as_nanos()).max(1) as usize;
        let wanted = rng
            .random_range(0..=MAX_RESTARTS)
            .min(slots.saturating_sub(2));
        let mut stop_slots: Vec<usize> = Vec::with_capacity(wanted);
        while stop_slots.len() < wanted {
            let s = rng.random_range(1..slots - 1);
            if !stop_slots.contains(&s) {
                stop_slots.push(s);
            }
        }
        stop_slots.sort_unstable();
        // (stop slot, restart slot): stops inside an earlier pause are dropped.
        let mut pauses: Vec<(usize, usize)> = Vec::with_capacity(wanted);
        for s in stop_slots {
            if pauses.last().is_some_and(|&(_, resume)| s <= resume) {
                continue;
            }
            let pause = rng.random_range(MIN_PAUSE..=MAX_PAUSE);
            let pause_slots = pause.as_nanos().div_ceil(self.interval.as_nanos()).max(1) as usize;
            pauses.push((s, (s + pause_slots).min(slots - 1)));
        }
        let paused = |k: usize| pauses.iter().any(|&(s, r)| (s..r).contains(&k));
        let poll_slots: Vec<usize> = (0..slots).filter(|&k| !paused(k)).collect();
        let weights: Vec<u64> = poll_slots.iter().map(|_| rng.random_range(1..=4)).collect();
        let shares = split(bytes, &weights);
        let at = |k: usize| self.interval * k as u32;
        let mut steps: Vec<Step> = poll_slots
            .iter()
            .zip(shares)
            .map(|(&k, bytes)| Step::Poll { at: at(k), bytes })
            .chain(pauses.iter().map(|&(s, r)| Step::Stop {
                at: at(s),
                until: at(r),
            }))
            .collect();
        steps.sort_by_key(Step::at);
        Cycle { bytes, steps }
    }
}

/// `total` split in proportion to `weights`, the rounding remainder spread one byte
/// each over the first shares, so that the shares add up to `total` exactly.
fn split(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    let mut shares: Vec<u64> = weights
        .iter()
        .map(|&w| (u128::from(total) * u128::from(w) / sum) as u64)
        .collect();
    let short = total - shares.iter().sum::<u64>();
    for share in shares.iter_mut().take(short as usize) {
        *share += 1;
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVALS: [Duration; 6] = [
        Duration::from_millis(100),
        Duration::from_secs(1),
        Duration::from_secs(10),
        Duration::from_secs(60),
        Duration::from_secs(7 * 60),
        Duration::from_secs(25 * 60),
    ];

    /// Every property a cycle must have, whatever the seed and interval.
    fn check(cycle: &Cycle, interval: Duration) {
        assert!(
            (MIN_CYCLE_BYTES..=MAX_CYCLE_BYTES).contains(&cycle.bytes),
            "{} bytes",
            cycle.bytes
        );
        assert!(cycle.restarts() <= MAX_RESTARTS, "{cycle:?}");
        assert_eq!(cycle.steps.first().map(Step::at), Some(Duration::ZERO));
        assert!(matches!(cycle.steps[0], Step::Poll { .. }));
        let mut total = 0;
        for (i, step) in cycle.steps.iter().enumerate() {
            assert!(step.at() < CYCLE, "{step:?} inside the cycle");
            assert_eq!(step.at().as_nanos() % interval.as_nanos(), 0, "on a slot");
            if i > 0 {
                assert!(step.at() > cycle.steps[i - 1].at(), "in time order");
            }
            match *step {
                Step::Poll { bytes, .. } => total += bytes,
                Step::Stop { at, until } => {
                    assert!(until - at >= interval, "a stop lasts a slot at least");
                    assert!(until - at <= MAX_PAUSE + interval);
                    let next = cycle.steps.get(i + 1).copied();
                    assert!(
                        matches!(next, Some(Step::Poll { at, .. }) if at == until),
                        "the poller restarts with a poll at {until:?}: {next:?}"
                    );
                }
            }
        }
        assert_eq!(
            total, cycle.bytes,
            "the polls move exactly the cycle's volume"
        );
    }

    #[test]
    fn cycles_move_50_to_100_mb_with_at_most_5_restarts_for_any_seed_and_interval() {
        for interval in INTERVALS {
            for seed in 0..40 {
                let mut schedule = Schedule::new(seed, interval);
                for _ in 0..3 {
                    check(&schedule.next_cycle(), interval);
                }
            }
        }
    }

    #[test]
    fn the_story_interval_gives_120_slots_and_every_restart_count_occurs() {
        let interval = Duration::from_secs(10);
        let mut seen = [false; MAX_RESTARTS + 1];
        let mut schedule = Schedule::new(7, interval);
        for _ in 0..300 {
            let cycle = schedule.next_cycle();
            check(&cycle, interval);
            seen[cycle.restarts()] = true;
            let paused: Duration = cycle
                .steps
                .iter()
                .map(|s| match *s {
                    Step::Stop { at, until } => until - at,
                    Step::Poll { .. } => Duration::ZERO,
                })
                .sum();
            assert_eq!(
                cycle.requests() as u32,
                120 - (paused.as_secs() / 10) as u32,
                "a poll on every slot outside the pauses"
            );
        }
        assert_eq!(seen, [true; MAX_RESTARTS + 1], "0 to 5 restarts all drawn");
    }

    #[test]
    fn the_same_seed_gives_the_same_cycles_and_another_seed_others() {
        let interval = Duration::from_secs(10);
        let draw = |seed| {
            let mut s = Schedule::new(seed, interval);
            (s.next_cycle(), s.next_cycle())
        };
        assert_eq!(draw(42), draw(42));
        assert_ne!(draw(42), draw(43));
        let (first, second) = draw(42);
        assert_ne!(first, second, "cycles differ from one another");
    }

    #[test]
    fn an_interval_longer_than_the_cycle_polls_once_and_never_stops() {
        let interval = Duration::from_secs(25 * 60);
        let cycle = Schedule::new(1, interval).next_cycle();
        assert_eq!(
            cycle.steps,
            vec![Step::Poll {
                at: Duration::ZERO,
                bytes: cycle.bytes
            }]
        );
    }

    #[test]
    fn shares_add_up_exactly_and_follow_the_weights() {
        assert_eq!(split(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(split(100, &[1, 3]), vec![25, 75]);
        assert_eq!(split(MAX_CYCLE_BYTES, &[4]), vec![MAX_CYCLE_BYTES]);
        let weights: Vec<u64> = (1..=4).cycle().take(12_000).collect();
        assert_eq!(
            split(MIN_CYCLE_BYTES, &weights).iter().sum::<u64>(),
            MIN_CYCLE_BYTES
        );
    }
}
