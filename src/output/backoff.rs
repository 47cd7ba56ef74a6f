//! Reconnect backoff: exponential with equal jitter, like libbeat's `EqualJitterBackoff`.

use std::time::Duration;

/// A validated backoff schedule: the first delay is about `init`, each failure doubles
/// it up to `max`, and a success starts again from `init`. Half of every delay is
/// random so that many agents restarted together do not reconnect in lock step.
#[derive(Debug, Clone)]
pub struct Backoff {
    init: Duration,
    max: Duration,
    current: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("backoff.init {init:?} must be positive and not above backoff.max {max:?}")]
pub struct BackoffError {
    init: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(init: Duration, max: Duration) -> Result<Self, BackoffError> {
        if init.is_zero() || init > max {
            return Err(BackoffError { init, max });
        }
        Ok(Backoff {
            init,
            max,
            current: init,
        })
    }

    /// The delay before the next attempt; `unit` is a random number in [0, 1).
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let base = self.current;
        self.current = (self.current * 2).min(self.max);
        let half = base / 2;
        half + half.mul_f64(unit.clamp(0.0, 1.0))
    }

    pub fn reset(&mut self) {
        self.current = self.init;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn rejects_init_above_max_or_zero() {
        assert!(Backoff::new(S * 2, S).is_err());
        assert!(Backoff::new(Duration::ZERO, S).is_err());
        assert_eq!(
            Backoff::new(S * 2, S).unwrap_err().to_string(),
            "backoff.init 2s must be positive and not above backoff.max 1s"
        );
    }

    #[test]
    fn doubles_up_to_max_with_equal_jitter() {
        let mut b = Backoff::new(S, S * 60).unwrap();
        let upper: Vec<_> = (0..8).map(|_| b.next_delay(1.0)).collect();
        assert_eq!(upper, [1, 2, 4, 8, 16, 32, 60, 60].map(|s| S * s));
        b.reset();
        assert_eq!(
            b.next_delay(0.0),
            S / 2,
            "jitter never goes below half the delay"
        );
        assert_eq!(b.next_delay(0.5), S * 3 / 2);
    }
}
