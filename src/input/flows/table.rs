//! The flow table: packets counted per bidirectional 5-tuple (and VLAN), reported with
//! Packetbeat's semantics. Sans-IO: every call takes the time it is about (unix
//! nanoseconds) and nothing here reads a clock.
//!
//! The first packet's sender is the flow's source, except a TCP SYN-ACK seen first (the
//! capture started mid-handshake), whose receiver is. Every `period` each live flow is
//! reported with its totals so far; a flow idle for `timeout` is reported a last time
//! with `final` and forgotten. Past `max_flows`, the longest idle flows are ended early
//! (reported as final too, so nothing they counted is lost) and counted as evicted.

use std::collections::HashMap;
use std::net::IpAddr;

use super::packet::{ACK, Packet, SYN, TCP};

/// One side of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

/// What one side sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    pub bytes: u64,
    pub packets: u64,
    /// The sender's hardware address, when the link layer has one.
    pub mac: Option<[u8; 6]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    /// The lower endpoint; `b` the higher.
    a: Endpoint,
    b: Endpoint,
    proto: u8,
    vlan: Option<u16>,
}

#[derive(Debug)]
struct Flow {
    source_is_a: bool,
    start: i64,
    last: i64,
    source: Sent,
    destination: Sent,
    /// Bytes and packets (both sides) at the last report.
    reported: (u64, u64),
    reports: u32,
}

/// One report about a flow, with its totals since it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub source: Endpoint,
    pub destination: Endpoint,
    pub proto: u8,
    pub vlan: Option<u16>,
    /// First and last packet, unix nanoseconds.
    pub start: i64,
    pub end: i64,
    pub sent: Sent,
    pub received: Sent,
    /// Bytes and packets (both sides) since the flow's previous report, so that
    /// statistics fed from every report count each packet once.
    pub new_bytes: u64,
    pub new_packets: u64,
    /// The flow's first report.
    pub first: bool,
    /// The flow's last report (`flow.final`).
    pub last: bool,
}

/// How a table behaves.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Nanoseconds between reports of every live flow; 0 reports only at the end.
    pub period: i64,
    /// Nanoseconds of idleness that end a flow.
    pub timeout: i64,
    pub max_flows: usize,
}

pub struct Table {
    flows: HashMap<Key, Flow>,
    limits: Limits,
    next_report: i64,
    /// Flows ended early to make room, reported at the next [`Table::tick`].
    ended: Vec<Report>,
    evicted: u64,
}

impl Table {
    /// An empty table whose first periodic report is due a period after `now`.
    pub fn new(limits: Limits, now: i64) -> Self {
        Table {
            flows: HashMap::new(),
            limits,
            next_report: now.saturating_add(limits.period),
            ended: Vec::new(),
            evicted: 0,
        }
    }

    /// Counts `p`, sent at `at` by the host with hardware address `mac`.
    pub fn observe(&mut self, p: &Packet, mac: Option<[u8; 6]>, at: i64) {
        let src = Endpoint {
            ip: p.src,
            port: p.src_port,
        };
        let dst = Endpoint {
            ip: p.dst,
            port: p.dst_port,
        };
        let from_a = src <= dst;
        let (a, b) = if from_a { (src, dst) } else { (dst, src) };
        let key = Key {
            a,
            b,
            proto: p.proto,
            vlan: p.vlan,
        };
        if !self.flows.contains_key(&key) && self.flows.len() >= self.limits.max_flows.max(1) {
            self.evict();
        }
        let flow = self.flows.entry(key).or_insert_with(|| {
            let reply_first = p.proto == TCP && p.tcp_flags & (SYN | ACK) == SYN | ACK;
            Flow {
                source_is_a: from_a != reply_first,
                start: at,
                last: at,
                source: Sent::default(),
                destination: Sent::default(),
                reported: (0, 0),
                reports: 0,
            }
        });
        let side = if from_a == flow.source_is_a {
            &mut flow.source
        } else {
            &mut flow.destination
        };
        side.bytes = side.bytes.saturating_add(u64::from(p.ip_len));
        side.packets += 1;
        if mac.is_some() {
            side.mac = mac;
        }
        flow.last = flow.last.max(at);
    }

    /// Appends the reports due at `now`: flows ended early, flows idle past the
    /// timeout (final), and, when a period is over, every other live flow.
    pub fn tick(&mut self, now: i64, out: &mut Vec<Report>) {
        out.append(&mut self.ended);
        let period_over = self.limits.period > 0 && now >= self.next_report;
        if period_over {
            self.next_report = now.saturating_add(self.limits.period);
        }
        let timeout = self.limits.timeout;
        self.flows.retain(|key, flow| {
            let idle = now.saturating_sub(flow.last) >= timeout;
            if idle || period_over {
                out.push(report(key, flow, idle));
            }
            !idle
        });
    }

    /// Flows being counted now.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Flows ended early to stay within `max_flows`, since the start.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Ends the longest idle hundredth of the flows (at least one), so that a flood of
    /// new flows costs one scan per hundredth of the table, not one per packet.
    fn evict(&mut self) {
        let n = (self.flows.len() / 100).max(1);
        let mut by_age: Vec<(i64, Key)> = self.flows.iter().map(|(k, f)| (f.last, *k)).collect();
        by_age.select_nth_unstable_by_key(n - 1, |(last, _)| *last);
        for (_, key) in &by_age[..n] {
            if let Some(mut flow) = self.flows.remove(key) {
                self.ended.push(report(key, &mut flow, true));
                self.evicted += 1;
            }
        }
    }
}

fn report(key: &Key, flow: &mut Flow, last: bool) -> Report {
    let (source, destination) = if flow.source_is_a {
        (key.a, key.b)
    } else {
        (key.b, key.a)
    };
    let bytes = flow.source.bytes.saturating_add(flow.destination.bytes);
    let packets = flow.source.packets.saturating_add(flow.destination.packets);
    let r = Report {
        source,
        destination,
        proto: key.proto,
        vlan: key.vlan,
        start: flow.start,
        end: flow.last,
        sent: flow.source,
        received: flow.destination,
        new_bytes: bytes.saturating_sub(flow.reported.0),
        new_packets: packets.saturating_sub(flow.reported.1),
        first: flow.reports == 0,
        last,
    };
    flow.reported = (bytes, packets);
    flow.reports = flow.reports.saturating_add(1);
    r
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
