//! The load side of `bench syslog-udp`: RFC 3164 datagrams of an exact size, sent from
//! one thread per source address at a paced rate, for a bounded time. Loopback only.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// A token bucket: `rate` tokens a second, never more than `burst` saved up. A sender
/// that falls behind (descheduled on a busy machine) loses the time instead of catching
/// up in one large burst, so its achieved rate shows it.
#[derive(Debug)]
pub(super) struct Pacer {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Duration,
}

impl Pacer {
    /// Starts with one token at time zero.
    pub fn new(rate: u64, burst: u64) -> Self {
        Pacer {
            rate: rate as f64,
            burst: burst.max(1) as f64,
            tokens: 1.0,
            last: Duration::ZERO,
        }
    }

    /// Takes every whole token there is at `now` (time since the start).
    pub fn take(&mut self, now: Duration) -> u64 {
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        let whole = self.tokens.floor();
        self.tokens -= whole;
        whole as u64
    }

    /// How long from the last `take` until the next token.
    pub fn until_next(&self) -> Duration {
        Duration::from_secs_f64(((1.0 - self.tokens) / self.rate).max(0.0))
    }
}

/// One RFC 3164 message of exactly `bytes` bytes (at least its header's length): a
/// header with `timestamp` (`Mmm dd hh:mm:ss`), then `x`s.
pub(super) fn message(bytes: usize, timestamp: &str) -> Vec<u8> {
    let mut m = format!("<134>{timestamp} bench-host lumberwatch-bench[4242]: ").into_bytes();
    if m.len() < bytes {
        m.resize(bytes, b'x');
    }
    m
}

/// What one sender did.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Sent {
    /// Datagrams the kernel took from us.
    pub datagrams: u64,
    /// Sends that failed (`ENOBUFS` and the like): not sent, not counted above.
    pub errors: u64,
    /// CPU seconds of the sending thread.
    pub cpu_secs: f64,
}

/// How much sending time a sender may make up at once after falling behind: enough to
/// ride out a few milliseconds off the CPU on a busy machine, short enough that the
/// catch-up burst stays small next to a step.
const BURST: Duration = Duration::from_millis(5);

/// Sends `message` from `from` to `to` at `rate` a second for `duration` (at most
/// `rate × duration` datagrams), paced by a token bucket holding [`BURST`]'s worth.
pub(super) fn send(
    from: Ipv4Addr,
    to: SocketAddr,
    rate: u64,
    duration: Duration,
    message: &[u8],
) -> io::Result<Sent> {
    let socket = UdpSocket::bind((from, 0))?;
    socket.connect(to)?;
    let limit = rate.saturating_mul(duration.as_secs());
    let burst = (rate as f64 * BURST.as_secs_f64()) as u64;
    let mut pacer = Pacer::new(rate, burst);
    let mut sent = Sent::default();
    let start = Instant::now();
    while sent.datagrams < limit {
        let now = start.elapsed();
        if now >= duration {
            break;
        }
        let due = pacer.take(now).min(limit - sent.datagrams);
        for _ in 0..due {
            match socket.send(message) {
                Ok(_) => sent.datagrams += 1,
                Err(_) => sent.errors += 1,
            }
        }
        std::thread::sleep(pacer.until_next());
    }
    sent.cpu_secs = thread_cpu_secs();
    Ok(sent)
}

/// CPU seconds (user + system) of the calling thread.
fn thread_cpu_secs() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own and pass by pointer.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn pacer_gives_the_rate_over_time() {
        let mut p = Pacer::new(10_000, 10);
        let mut taken = p.take(Duration::ZERO);
        for ms in 1..=1000 {
            taken += p.take(MS * ms);
        }
        assert_eq!(taken, 10_001);
    }

    #[test]
    fn pacer_drops_time_beyond_its_burst() {
        let mut p = Pacer::new(10_000, 10);
        assert_eq!(p.take(Duration::ZERO), 1);
        assert_eq!(p.take(MS * 500), 10, "half a second late: one burst only");
        assert_eq!(p.take(MS * 500), 0);
        assert_eq!(p.until_next(), Duration::from_micros(100));
    }

    #[test]
    fn messages_have_the_asked_size_and_a_bsd_header() {
        let m = message(200, "Nov 23 14:37:00");
        assert_eq!(m.len(), 200);
        assert!(m.starts_with(b"<134>Nov 23 14:37:00 bench-host lumberwatch-bench[4242]: x"));
        assert!(
            message(10, "Nov 23 14:37:00").len() > 10,
            "never cuts the header"
        );
    }
}
