//! What a syslog input took in and dropped, per peer IP and in total. Shared by the
//! input's listeners behind an `Arc`; readers take a [`SyslogStats::snapshot`].
//!
//! Memory is bounded: at most [`MAX_PEERS`] peers are counted one by one (a UDP port
//! can be sent spoofed sources); messages from further peers count in the totals only.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

use jiff::Timestamp;

/// Peers counted one by one; past this, only the totals grow.
pub const MAX_PEERS: usize = 65_536;

/// Why a message (or the rest of one) did not make it into the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// Over the peer's `rate_limit`.
    RateLimited,
    /// Over `max_message_size`: a line or datagram was cut (the rest is what was
    /// dropped), or an octet-counted frame declared more (the frame and the connection).
    TooBig,
    /// A UDP message found the queue full (TCP readers wait instead).
    QueueFull,
    /// A TCP stream that cannot be framed (a malformed octet count, a stream cut inside
    /// a frame, a failed TLS handshake): the connection is closed.
    BadFrame,
}

impl DropReason {
    pub const ALL: [DropReason; 4] = [
        DropReason::RateLimited,
        DropReason::TooBig,
        DropReason::QueueFull,
        DropReason::BadFrame,
    ];

    /// The label of the `dropped{reason=...}` counter.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::RateLimited => "rate_limited",
            DropReason::TooBig => "too_big",
            DropReason::QueueFull => "queue_full",
            DropReason::BadFrame => "bad_frame",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The counters of one peer, or of all of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerCounters {
    /// Messages queued.
    pub events: u64,
    /// Bytes of the messages queued (without framing).
    pub bytes: u64,
    dropped: [u64; 4],
    /// When the last message was queued.
    pub last_seen: Option<Timestamp>,
}

impl PeerCounters {
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }

    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }
}

/// A point-in-time copy of [`SyslogStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyslogSnapshot {
    pub total: PeerCounters,
    pub peers: BTreeMap<IpAddr, PeerCounters>,
}

impl SyslogSnapshot {
    /// The counters of `ip` (all zero for a peer never seen).
    pub fn peer(&self, ip: IpAddr) -> PeerCounters {
        self.peers.get(&ip).copied().unwrap_or_default()
    }
}

#[derive(Debug, Default)]
pub struct SyslogStats {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    total: PeerCounters,
    peers: HashMap<IpAddr, PeerCounters>,
}

impl Inner {
    /// The peer's counters, if it is counted one by one.
    fn peer(&mut self, ip: IpAddr) -> Option<&mut PeerCounters> {
        if self.peers.len() >= MAX_PEERS && !self.peers.contains_key(&ip) {
            return None;
        }
        Some(self.peers.entry(ip).or_default())
    }
}

impl SyslogStats {
    /// The totals as named counters (for the metrics line).
    pub fn counters(&self) -> [(&'static str, u64); 6] {
        let t = self.lock().total;
        [
            ("syslog_events_total", t.events),
            ("syslog_bytes_total", t.bytes),
            (
                "syslog_dropped_rate_limited_total",
                t.dropped(DropReason::RateLimited),
            ),
            (
                "syslog_dropped_too_big_total",
                t.dropped(DropReason::TooBig),
            ),
            (
                "syslog_dropped_queue_full_total",
                t.dropped(DropReason::QueueFull),
            ),
            (
                "syslog_dropped_bad_frame_total",
                t.dropped(DropReason::BadFrame),
            ),
        ]
    }

    pub fn snapshot(&self) -> SyslogSnapshot {
        let inner = self.lock();
        SyslogSnapshot {
            total: inner.total,
            peers: inner.peers.iter().map(|(ip, c)| (*ip, *c)).collect(),
        }
    }

    pub(super) fn accepted(&self, ip: IpAddr, bytes: usize, at: Timestamp) {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        let mut inner = self.lock();
        add_accepted(&mut inner.total, bytes, at);
        if let Some(c) = inner.peer(ip) {
            add_accepted(c, bytes, at);
        }
    }

    /// Counts a drop; true the first time this peer has a drop for this reason (so
    /// the input can say so once instead of on every message).
    pub(super) fn dropped(&self, ip: IpAddr, reason: DropReason) -> bool {
        let mut inner = self.lock();
        inner.total.dropped[reason.index()] += 1;
        match inner.peer(ip) {
            Some(c) => {
                c.dropped[reason.index()] += 1;
                c.dropped[reason.index()] == 1
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere while counting leaves counters that are still counters.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn add_accepted(c: &mut PeerCounters, bytes: u64, at: Timestamp) {
    c.events += 1;
    c.bytes = c.bytes.saturating_add(bytes);
    c.last_seen = Some(c.last_seen.map_or(at, |seen| seen.max(at)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_peer_and_in_total() {
        let stats = SyslogStats::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t = Timestamp::from_second(1_700_000_000).unwrap();
        stats.accepted(a, 10, t);
        stats.accepted(a, 5, t);
        stats.accepted(b, 7, t);
        assert!(stats.dropped(b, DropReason::RateLimited));
        assert!(!stats.dropped(b, DropReason::RateLimited));
        assert!(stats.dropped(b, DropReason::TooBig));
        let s = stats.snapshot();
        assert_eq!((s.peer(a).events, s.peer(a).bytes), (2, 15));
        assert_eq!(s.peer(a).dropped_total(), 0);
        assert_eq!(s.peer(b).dropped(DropReason::RateLimited), 2);
        assert_eq!(s.peer(b).last_seen, Some(t));
        assert_eq!(
            (s.total.events, s.total.bytes, s.total.dropped_total()),
            (3, 22, 3)
        );
        assert_eq!(s.peer("10.9.9.9".parse().unwrap()), PeerCounters::default());
    }

    #[test]
    fn peers_past_the_limit_count_in_the_totals_only() {
        let stats = SyslogStats::default();
        let t = Timestamp::UNIX_EPOCH;
        for n in 0..=MAX_PEERS as u32 {
            stats.accepted(IpAddr::from(n.to_be_bytes()), 1, t);
        }
        let s = stats.snapshot();
        assert_eq!(s.peers.len(), MAX_PEERS);
        assert_eq!(s.total.events, MAX_PEERS as u64 + 1);
    }
}
