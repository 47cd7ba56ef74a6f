//! A conntrack event as a connection record, with the same fields the `conntrack`
//! line parser gives for the line `conntrack -E` prints about it; and that line, which
//! becomes the event's `message`. Pure.

use std::fmt::Write as _;

use super::msg::{ConntrackEvent, EventKind, IPS_ASSURED, IPS_SEEN_REPLY, Tuple};
use crate::parse::conntrack::{self as text, connection};
use crate::parse::{ConnectionRecord, FlowState, Transport};

/// `enum tcp_conntrack` as `conntrack` prints it (libnetfilter_conntrack's names).
const TCP_STATES: [&str; 10] = [
    "NONE",
    "SYN_SENT",
    "SYN_RECV",
    "ESTABLISHED",
    "FIN_WAIT",
    "CLOSE_WAIT",
    "LAST_ACK",
    "TIME_WAIT",
    "CLOSE",
    "LISTEN",
];

/// The connection record of `e`: the original direction is the source, each side's
/// counters are what it sent; NEW begins the connection, DESTROY ends it.
pub fn record(e: &ConntrackEvent) -> ConnectionRecord {
    let mut r = ConnectionRecord {
        state: Some(match e.kind {
            EventKind::New => FlowState::Begin,
            EventKind::Update => FlowState::Continuing,
            EventKind::Destroy => FlowState::End,
        }),
        transport: e.original.proto.map(Transport::from_number),
        time: time(e),
        ..ConnectionRecord::default()
    };
    r.set("conntrack.event", e.kind.name());
    if let Some(secs) = e.timeout {
        r.set("conntrack.timeout", secs);
    }
    if let Some(state) = tcp_state(e) {
        r.set("conntrack.state", state);
    }
    if let Some(t) = e.original.icmp_type {
        r.set("conntrack.icmp.type", t);
    }
    if let Some(c) = e.original.icmp_code {
        r.set("conntrack.icmp.code", c);
    }
    if let Some(mark) = e.mark {
        r.set("conntrack.mark", mark);
    }
    if let Some(zone) = e.zone {
        r.set("conntrack.zone", zone);
    }
    if let Some(id) = e.id {
        r.set("conntrack.id", id);
    }
    if let (EventKind::Destroy, Some(start), Some(stop)) = (e.kind, e.start_ns, e.stop_ns) {
        r.set("event.duration", stop.saturating_sub(start));
    }
    let flags = flags(e);
    let (original, reply) = (
        side(&e.original, e.original_counters),
        side(&e.reply, e.reply_counters),
    );
    connection(&original, &reply, &mut r);
    if !flags.is_empty() {
        r.set("conntrack.flags", flags);
    }
    r
}

/// The line `conntrack -E -o id` (with `-o timestamp` when the kernel stamps
/// connections) prints for `e`.
pub fn line(e: &ConntrackEvent) -> String {
    let mut l = String::with_capacity(256);
    if let Some(t) = time(e) {
        let _ = write!(l, "[{}.{:06}] ", t.as_second(), t.subsec_microsecond());
    }
    let _ = write!(l, "[{}] ", e.kind.name().to_ascii_uppercase());
    let proto = e.original.proto.unwrap_or(0);
    let name = match Transport::from_number(proto) {
        Transport::Other(_) => "unknown".into(),
        t => t.name(),
    };
    let _ = write!(l, "{name:<8} {proto} ");
    if let Some(secs) = e.timeout {
        let _ = write!(l, "{secs} ");
    }
    if let Some(state) = tcp_state(e) {
        let _ = write!(l, "{state} ");
    }
    tuple(&mut l, &e.original, e.original_counters);
    let flags = flags(e);
    if flags.contains(&"UNREPLIED") {
        l.push_str("[UNREPLIED] ");
    }
    tuple(&mut l, &e.reply, e.reply_counters);
    if flags.contains(&"ASSURED") {
        l.push_str("[ASSURED] ");
    }
    for (key, value) in [("mark", e.mark), ("zone", e.zone.map(u32::from))] {
        if let Some(v) = value {
            let _ = write!(l, "{key}={v} ");
        }
    }
    if let (EventKind::Destroy, Some(start), Some(stop)) = (e.kind, e.start_ns, e.stop_ns) {
        let _ = write!(
            l,
            "delta-time={} ",
            stop.saturating_sub(start) / 1_000_000_000
        );
    }
    if let Some(id) = e.id {
        let _ = write!(l, "id={id} ");
    }
    l.truncate(l.trim_end().len());
    l
}

fn tuple(l: &mut String, t: &Tuple, counters: Option<super::msg::Counters>) {
    if let (Some(src), Some(dst)) = (t.src, t.dst) {
        let _ = write!(l, "src={src} dst={dst} ");
    }
    let icmp = [("type", t.icmp_type), ("code", t.icmp_code)];
    for (key, value) in icmp {
        if let Some(v) = value {
            let _ = write!(l, "{key}={v} ");
        }
    }
    if let Some(id) = t.icmp_id {
        let _ = write!(l, "id={id} ");
    }
    for (key, value) in [("sport", t.sport), ("dport", t.dport)] {
        if let Some(v) = value {
            let _ = write!(l, "{key}={v} ");
        }
    }
    if let Some(c) = counters {
        let _ = write!(l, "packets={} bytes={} ", c.packets, c.bytes);
    }
}

/// `UNREPLIED` (no reply seen) and `ASSURED`, as `conntrack` shows the status bits.
fn flags(e: &ConntrackEvent) -> Vec<&'static str> {
    let Some(status) = e.status else {
        return Vec::new();
    };
    let mut flags = Vec::new();
    if status & IPS_SEEN_REPLY == 0 {
        flags.push("UNREPLIED");
    }
    if status & IPS_ASSURED != 0 {
        flags.push("ASSURED");
    }
    flags
}

fn tcp_state(e: &ConntrackEvent) -> Option<&'static str> {
    let state = e.tcp_state?;
    (e.original.proto == Some(6)).then(|| TCP_STATES.get(usize::from(state)).copied())?
}

/// When the connection began (NEW) or ended (DESTROY), when the kernel stamps them.
fn time(e: &ConntrackEvent) -> Option<jiff::Timestamp> {
    let ns = match e.kind {
        EventKind::Destroy => e.stop_ns,
        _ => e.start_ns,
    }?;
    jiff::Timestamp::from_nanosecond(i128::from(ns)).ok()
}

fn side(t: &Tuple, counters: Option<super::msg::Counters>) -> text::Tuple {
    text::Tuple {
        src: t.src,
        dst: t.dst,
        sport: t.sport,
        dport: t.dport,
        packets: counters.map(|c| c.packets),
        bytes: counters.map(|c| c.bytes),
        icmp_id: t.icmp_id,
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use serde_json::Value;

    use super::*;
    use crate::input::conntrack::msg::Counters;

    fn members(r: &ConnectionRecord) -> Value {
        let mut b = BytesMut::from(&b"{\"m\":0"[..]);
        r.write_members(&mut b);
        b.extend_from_slice(b"}");
        serde_json::from_slice(&b).unwrap()
    }

    fn destroyed_udp() -> ConntrackEvent {
        let (a, b) = ("10.10.10.1".parse().ok(), "10.10.10.9".parse().ok());
        let mut e = ConntrackEvent::new(EventKind::Destroy);
        e.original = Tuple {
            src: a,
            dst: b,
            proto: Some(17),
            sport: Some(40000),
            dport: Some(514),
            ..Tuple::default()
        };
        e.reply = Tuple {
            src: b,
            dst: a,
            proto: Some(17),
            sport: Some(514),
            dport: Some(40000),
            ..Tuple::default()
        };
        e.original_counters = Some(Counters {
            packets: 3,
            bytes: 231,
        });
        e.reply_counters = Some(Counters {
            packets: 1,
            bytes: 80,
        });
        e.status = Some(IPS_SEEN_REPLY | IPS_ASSURED);
        e.mark = Some(0);
        e.id = Some(77);
        e
    }

    #[test]
    fn a_destroy_ends_the_connection_with_each_sides_counters() {
        let r = record(&destroyed_udp());
        assert_eq!(r.state, Some(FlowState::End));
        assert_eq!(r.transport, Some(Transport::Udp));
        assert_eq!(r.source.ip, "10.10.10.1".parse().ok());
        assert_eq!(
            (r.source.port, r.destination.port),
            (Some(40000), Some(514))
        );
        assert_eq!((r.source.bytes, r.source.packets), (Some(231), Some(3)));
        assert_eq!(
            (r.destination.bytes, r.destination.packets),
            (Some(80), Some(1))
        );
        assert_eq!(r.total_bytes(), Some(311));
        let v = members(&r);
        assert_eq!(v["conntrack"]["event"], "destroy");
        assert_eq!(v["conntrack"]["flags"], serde_json::json!(["ASSURED"]));
        assert_eq!(v["event"]["type"], serde_json::json!(["connection", "end"]));
    }

    #[test]
    fn without_accounting_a_destroy_has_no_counters() {
        let mut e = destroyed_udp();
        (e.original_counters, e.reply_counters) = (None, None);
        let r = record(&e);
        assert_eq!(r.total_bytes(), None);
        assert_eq!(r.total_packets(), None);
    }

    /// The record of an event and the record the line parser reads from the event's
    /// `message` are the same: one mapping, whichever way conntrack reaches us.
    fn same_as_the_line_parser(e: &ConntrackEvent) {
        let l = line(e);
        let parsed = text::parse_line(&l).unwrap_or_else(|err| panic!("{l}: {err}"));
        assert_eq!(members(&record(e)), members(&parsed), "{l}");
        assert_eq!(record(e).time, parsed.time, "{l}");
    }

    #[test]
    fn the_message_is_the_line_conntrack_prints_and_parses_to_the_same_record() {
        let e = destroyed_udp();
        assert_eq!(
            line(&e),
            "[DESTROY] udp      17 src=10.10.10.1 dst=10.10.10.9 sport=40000 dport=514 \
             packets=3 bytes=231 src=10.10.10.9 dst=10.10.10.1 sport=514 dport=40000 \
             packets=1 bytes=80 [ASSURED] mark=0 id=77"
        );
        same_as_the_line_parser(&e);

        let mut new = ConntrackEvent::new(EventKind::New);
        new.original = e.original;
        new.reply = e.reply;
        new.original.proto = Some(6);
        new.reply.src = "192.168.1.5".parse().ok();
        new.reply.sport = Some(8514);
        new.timeout = Some(120);
        new.tcp_state = Some(1);
        new.status = Some(0);
        new.start_ns = Some(1_700_000_000_123_456_000);
        new.zone = Some(3);
        assert!(line(&new).starts_with("[1700000000.123456] [NEW] tcp      6 120 SYN_SENT "));
        same_as_the_line_parser(&new);
        let v = members(&record(&new));
        assert_eq!(v["destination"]["nat"]["ip"], "192.168.1.5");
        assert_eq!(v["conntrack"]["flags"], serde_json::json!(["UNREPLIED"]));

        let mut ping = ConntrackEvent::new(EventKind::Destroy);
        ping.original = Tuple {
            src: "fd00::1".parse().ok(),
            dst: "fd00::9".parse().ok(),
            proto: Some(58),
            icmp_id: Some(9),
            icmp_type: Some(128),
            icmp_code: Some(0),
            ..Tuple::default()
        };
        ping.reply = Tuple {
            src: ping.original.dst,
            dst: ping.original.src,
            icmp_type: Some(129),
            ..ping.original
        };
        ping.start_ns = Some(2_000_000_000);
        ping.stop_ns = Some(5_000_000_000);
        ping.id = Some(4);
        same_as_the_line_parser(&ping);
        assert_eq!(
            members(&record(&ping))["event"]["duration"],
            3_000_000_000u64
        );
    }
}
