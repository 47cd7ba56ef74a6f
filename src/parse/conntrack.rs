//! `conntrack`: the connection tracking table as `conntrack -E` (events) and
//! `conntrack -L` (listing) print it, with or without `-o timestamp`, `-o extended` and
//! `-o id`:
//!
//! ```text
//! [1700000000.123456]    [NEW] tcp      6 120 SYN_SENT src=A dst=B sport=1 dport=2 [UNREPLIED] src=B dst=A sport=2 dport=1
//! ipv4     2 udp      17 29 src=A dst=B sport=1 dport=53 packets=1 bytes=60 src=B dst=A sport=53 dport=1 packets=1 bytes=90 mark=0 use=1
//! ```
//!
//! The first tuple is the original direction (source to destination), the second the
//! reply; each side's counters are what that side sent. A reply tuple that does not
//! mirror the original shows NAT.

use std::net::IpAddr;

use super::fields::{ip, not_a, number};
use super::{ConnectionRecord, Endpoint, FlowState, Transport, excerpt as quote};

/// One direction's tuple and counters, as a line or a netlink event
/// (`input::conntrack`) gives them.
#[derive(Debug, Default)]
pub(crate) struct Tuple {
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
    pub icmp_id: Option<u16>,
}

/// One line's record, or why it is not one.
pub(crate) fn parse_line(line: &str) -> Result<ConnectionRecord, String> {
    let mut r = ConnectionRecord::default();
    let mut words = line.split_whitespace().peekable();
    if let Some(stamp) = words.peek().and_then(|w| bracketed(w))
        && stamp.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    {
        r.time = Some(unix_time(stamp)?);
        words.next();
    }
    if let Some(word) = words.peek()
        && let Some(event) = bracketed(word)
    {
        r.state = Some(match event {
            "NEW" => FlowState::Begin,
            "UPDATE" => FlowState::Continuing,
            "DESTROY" => FlowState::End,
            _ => return Err(format!("unknown event {}", quote(word))),
        });
        r.set("conntrack.event", event.to_ascii_lowercase());
        words.next();
    }
    if matches!(words.peek(), Some(&("ipv4" | "ipv6"))) {
        words.next();
        words.next();
    }
    let name = words.next().ok_or("no protocol")?;
    let proto = words.next().unwrap_or_default();
    let proto: u8 = proto
        .parse()
        .map_err(|_| format!("protocol {} has no number: {}", quote(name), quote(proto)))?;
    r.transport = Some(Transport::from_number(proto));
    let (mut original, mut reply) = (Tuple::default(), Tuple::default());
    let mut in_reply = false;
    let mut after_tuples = false;
    let mut flags = Vec::new();
    while let Some(word) = words.next() {
        if let Some(flag) = bracketed(word) {
            flags.push(flag);
            continue;
        }
        if word.starts_with('[') {
            // `[start=Tue Jan 14 10:22:37 2025]`: a bracket holding spaces.
            words.by_ref().find(|w| w.ends_with(']'));
            continue;
        }
        let Some((key, value)) = word.split_once('=') else {
            if is_state(word) && r.field("conntrack.state").is_none() {
                r.set("conntrack.state", word);
            } else if let (Ok(secs), None) = (word.parse::<u32>(), r.field("conntrack.timeout")) {
                r.set("conntrack.timeout", secs);
            } else {
                return Err(format!("unexpected word {}", quote(word)));
            }
            continue;
        };
        if key == "src" && original.src.is_some() {
            in_reply = true;
        }
        let t = if in_reply { &mut reply } else { &mut original };
        match key {
            "src" => t.src = Some(ip(key, value)?),
            "dst" => t.dst = Some(ip(key, value)?),
            "sport" => t.sport = Some(number(key, value)?),
            "dport" => t.dport = Some(number(key, value)?),
            "packets" => t.packets = Some(number(key, value)?),
            "bytes" => t.bytes = Some(number(key, value)?),
            "type" | "code" if !in_reply => {
                r.set(format!("conntrack.icmp.{key}"), number::<u8>(key, value)?)
            }
            "id" if !after_tuples && is_icmp(r.transport) && t.icmp_id.is_none() => {
                t.icmp_id = Some(number(key, value)?)
            }
            "type" | "code" => {}
            "id" => r.set("conntrack.id", number::<u32>(key, value)?),
            "delta-time" => {
                let secs: u64 = number(key, value)?;
                r.set("event.duration", secs.saturating_mul(1_000_000_000));
            }
            "mark" | "use" | "zone" => {
                after_tuples = true;
                r.set(format!("conntrack.{key}"), number::<u32>(key, value)?);
            }
            "secctx" | "helper" | "labels" => {
                after_tuples = true;
                r.set(format!("conntrack.{key}"), value);
            }
            _ => {}
        }
    }
    if original.src.is_none() || original.dst.is_none() {
        return Err("no src= and dst= of the original direction".into());
    }
    connection(&original, &reply, &mut r);
    if !flags.is_empty() {
        r.set("conntrack.flags", flags);
    }
    Ok(r)
}

/// The record's two sides from the tuples: the original direction goes from source to
/// destination, and each side's counters are what that side sent; its ICMP id; NAT.
pub(crate) fn connection(original: &Tuple, reply: &Tuple, r: &mut ConnectionRecord) {
    if let Some(id) = original.icmp_id {
        r.set("conntrack.icmp.id", id);
    }
    nat(original, reply, r);
    r.source = Endpoint {
        ip: original.src,
        port: original.sport,
        bytes: original.bytes,
        packets: original.packets,
    };
    r.destination = Endpoint {
        ip: original.dst,
        port: original.dport,
        bytes: reply.bytes,
        packets: reply.packets,
    };
}

/// The reply goes to where the source was translated to, and comes from where the
/// destination was translated to.
fn nat(original: &Tuple, reply: &Tuple, r: &mut ConnectionRecord) {
    if let Some(ip) = reply.src.filter(|ip| Some(*ip) != original.dst) {
        r.set("destination.nat.ip", ip.to_string());
    }
    if let Some(port) = reply.sport.filter(|p| Some(*p) != original.dport) {
        r.set("destination.nat.port", port);
    }
    if let Some(ip) = reply.dst.filter(|ip| Some(*ip) != original.src) {
        r.set("source.nat.ip", ip.to_string());
    }
    if let Some(port) = reply.dport.filter(|p| Some(*p) != original.sport) {
        r.set("source.nat.port", port);
    }
}

/// The inside of a one-word `[...]`.
fn bracketed(word: &str) -> Option<&str> {
    word.strip_prefix('[')?.strip_suffix(']')
}

/// A protocol state as conntrack prints it: `ESTABLISHED`, `SYN_SENT`, `COOKIE_ECHOED`.
fn is_state(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
}

fn is_icmp(t: Option<Transport>) -> bool {
    matches!(t, Some(Transport::Icmp | Transport::Ipv6Icmp))
}

/// `1700000000.123456`: seconds with up to nine decimals.
pub(super) fn unix_time(stamp: &str) -> Result<jiff::Timestamp, String> {
    let bad = || not_a("timestamp", "unix seconds", stamp);
    let (secs, frac) = stamp.split_once('.').unwrap_or((stamp, ""));
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    let nanos = format!("{frac:0<9}").parse::<i32>().map_err(|_| bad())?;
    jiff::Timestamp::new(secs, nanos).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::fixture;

    fixture::parser_tests!("conntrack");

    #[test]
    fn events_map_to_flow_states_and_a_listing_has_none() {
        let tail = "tcp 6 120 SYN_SENT src=10.0.0.1 dst=10.0.0.2 sport=5 dport=6";
        for (event, state) in [
            ("[NEW] ", Some(FlowState::Begin)),
            ("[UPDATE] ", Some(FlowState::Continuing)),
            ("[DESTROY] ", Some(FlowState::End)),
            ("", None),
        ] {
            assert_eq!(parse_line(&format!("{event}{tail}")).unwrap().state, state);
        }
    }

    #[test]
    fn each_side_gets_the_counters_of_its_own_tuple() {
        let r = parse_line(
            "[DESTROY] udp 17 src=10.0.0.1 dst=10.0.0.2 sport=5 dport=53 packets=3 bytes=231 \
             src=10.0.0.2 dst=10.0.0.1 sport=53 dport=5 packets=1 bytes=80 [ASSURED] mark=0",
        )
        .unwrap();
        assert_eq!((r.source.packets, r.source.bytes), (Some(3), Some(231)));
        assert_eq!(
            (r.destination.packets, r.destination.bytes),
            (Some(1), Some(80))
        );
        assert_eq!(r.total_bytes(), Some(311));
        assert_eq!(r.field("destination.nat.ip"), None);
    }
}
