//! A flow report as a connection record (for the statistics) and as Packetbeat's flow
//! event: `type: flow`, `flow.{id,final}`, `event.{action,start,end,duration}`,
//! `source.*`/`destination.*` with bytes, packets and MAC, `network.*` with the
//! Community ID.

use std::fmt::Write as _;

use sha1::{Digest, Sha1};

use super::community_id::{base64, community_id};
use super::packet::{ICMP, ICMPV6};
use super::table::Report;
use crate::event::{Event, EventTemplate};
use crate::parse::{ConnectionRecord, Endpoint, FlowState, Transport};

/// The record of a report: totals since the flow started, `Begin` on a flow's first
/// report and `End` on its last.
pub fn record(r: &Report) -> ConnectionRecord {
    let icmp = matches!(r.proto, ICMP | ICMPV6);
    let side = |ip, port, sent: &super::table::Sent| Endpoint {
        ip: Some(ip),
        port: (!icmp).then_some(port),
        bytes: (sent.packets > 0).then_some(sent.bytes),
        packets: (sent.packets > 0).then_some(sent.packets),
    };
    let mut record = ConnectionRecord {
        source: side(r.source.ip, r.source.port, &r.sent),
        destination: side(r.destination.ip, r.destination.port, &r.received),
        transport: Some(Transport::from_number(r.proto)),
        state: Some(match (r.first, r.last) {
            (_, true) => FlowState::End,
            (true, false) => FlowState::Begin,
            (false, false) => FlowState::Continuing,
        }),
        ..ConnectionRecord::default()
    };
    record.set("type", "flow");
    record.set("event.kind", "event");
    record.set("event.action", "network_flow");
    record.set("event.start", timestamp(r.start));
    record.set("event.end", timestamp(r.end));
    record.set("event.duration", r.end.saturating_sub(r.start));
    record.set("flow.id", flow_id(r));
    record.set("flow.final", r.last);
    let (sport, dport) = (r.source.port, r.destination.port);
    let cid = community_id(r.source.ip, sport, r.destination.ip, dport, r.proto);
    record.set("network.community_id", cid);
    if let Some(vlan) = r.vlan {
        record.set("network.vlan.id", vlan.to_string());
    }
    for (name, mac) in [
        ("source.mac", r.sent.mac),
        ("destination.mac", r.received.mac),
    ] {
        if let Some(mac) = mac {
            record.set(name, mac_text(mac));
        }
    }
    record
}

/// The event of a report, stamped now.
pub fn event(template: &mut EventTemplate, r: &Report, record: &ConnectionRecord) -> Event {
    let mut message = String::new();
    let transport = Transport::from_number(r.proto).name();
    write!(
        message,
        "{transport} flow {} -> {}: {} bytes in {} packets",
        endpoint(r.source.ip, r.source.port, r.proto),
        endpoint(r.destination.ip, r.destination.port, r.proto),
        r.sent.bytes.saturating_add(r.received.bytes),
        r.sent.packets.saturating_add(r.received.packets),
    )
    .expect("writing to a string cannot fail");
    if r.last {
        message.push_str(" (final)");
    }
    template.event(&message, |b| record.write_members(b))
}

fn endpoint(ip: std::net::IpAddr, port: u16, proto: u8) -> String {
    match (ip, matches!(proto, ICMP | ICMPV6)) {
        (ip, true) => ip.to_string(),
        (std::net::IpAddr::V6(v6), false) => format!("[{v6}]:{port}"),
        (ip, false) => format!("{ip}:{port}"),
    }
}

/// RFC 3339 with nanoseconds, UTC.
pub fn timestamp(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ns))
        .map_or_else(|_| String::new(), |t| t.to_string())
}

/// `flow.id`: the same for every report of one flow and different for the next flow
/// of the same tuple (it includes the start): 20 URL-safe base64 characters of a
/// SHA-1 of the tuple, VLAN and start.
fn flow_id(r: &Report) -> String {
    let mut hash = Sha1::new();
    for end in [r.source, r.destination] {
        match end.ip {
            std::net::IpAddr::V4(v4) => hash.update(v4.octets()),
            std::net::IpAddr::V6(v6) => hash.update(v6.octets()),
        }
        hash.update(end.port.to_be_bytes());
    }
    hash.update([r.proto]);
    hash.update(r.vlan.unwrap_or(u16::MAX).to_be_bytes());
    hash.update(r.start.to_be_bytes());
    let digest = hash.finalize();
    let mut id = String::with_capacity(20);
    base64(&digest[..15], &mut id);
    id.replace('+', "-").replace('/', "_")
}

/// ECS's MAC spelling: upper-case hex in pairs joined by hyphens.
fn mac_text(mac: [u8; 6]) -> String {
    let mut text = String::with_capacity(17);
    for (i, b) in mac.iter().enumerate() {
        if i > 0 {
            text.push('-');
        }
        write!(text, "{b:02X}").expect("writing to a string cannot fail");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AgentInfo, EventShape};
    use crate::input::flows::packet::TCP;
    use crate::input::flows::table::{Endpoint as End, Sent};
    use serde_json::{Value, json};

    fn report(first: bool, last: bool) -> Report {
        Report {
            source: End {
                ip: [10, 10, 10, 1].into(),
                port: 51000,
            },
            destination: End {
                ip: [10, 10, 10, 9].into(),
                port: 514,
            },
            proto: TCP,
            vlan: Some(42),
            start: 1_700_000_000_000_000_000,
            end: 1_700_000_001_500_000_000,
            sent: Sent {
                bytes: 1100,
                packets: 2,
                mac: Some([0x02, 0, 0, 0, 0, 0xab]),
            },
            received: Sent::default(),
            new_bytes: 100,
            new_packets: 1,
            first,
            last,
        }
    }

    fn event_json(r: &Report) -> Value {
        let shape = EventShape {
            input_type: "flows".into(),
            ..EventShape::default()
        };
        let mut template = EventTemplate::new(&AgentInfo::new("lumberwatch", None), &shape);
        serde_json::from_slice(&event(&mut template, r, &record(r)).json).unwrap()
    }

    #[test]
    fn a_report_is_a_packetbeat_flow_event() {
        let v = event_json(&report(true, true));
        assert_eq!(v["type"], "flow");
        assert_eq!(v["input"]["type"], "flows");
        assert_eq!(v["event"]["kind"], "event");
        assert_eq!(v["event"]["action"], "network_flow");
        assert_eq!(v["event"]["category"], json!(["network"]));
        assert_eq!(v["event"]["type"], json!(["connection", "end"]));
        assert_eq!(v["event"]["start"], "2023-11-14T22:13:20Z");
        assert_eq!(v["event"]["end"], "2023-11-14T22:13:21.5Z");
        assert_eq!(v["event"]["duration"], 1_500_000_000i64);
        assert_eq!(v["flow"]["final"], true);
        assert_eq!(v["flow"]["id"].as_str().unwrap().len(), 20);
        assert_eq!(
            v["source"],
            json!({"ip": "10.10.10.1", "port": 51000, "bytes": 1100, "packets": 2, "mac": "02-00-00-00-00-AB"})
        );
        assert_eq!(v["destination"], json!({"ip": "10.10.10.9", "port": 514}));
        assert_eq!(v["network"]["transport"], "tcp");
        assert_eq!(v["network"]["type"], "ipv4");
        assert_eq!(v["network"]["bytes"], 1100);
        assert_eq!(v["network"]["packets"], 2);
        assert_eq!(v["network"]["vlan"]["id"], "42");
        assert!(
            v["network"]["community_id"]
                .as_str()
                .unwrap()
                .starts_with("1:")
        );
        assert_eq!(
            v["message"],
            "tcp flow 10.10.10.1:51000 -> 10.10.10.9:514: 1100 bytes in 2 packets (final)"
        );
    }

    #[test]
    fn every_report_of_a_flow_has_its_id_and_states_follow_its_life() {
        let (first, middle, last) = (
            report(true, false),
            report(false, false),
            report(false, true),
        );
        let ids: Vec<Value> = [&first, &middle, &last]
            .iter()
            .map(|r| event_json(r)["flow"]["id"].clone())
            .collect();
        assert!(ids.iter().all(|id| *id == ids[0]));
        let later = Report {
            start: first.start + 1,
            ..first.clone()
        };
        assert_ne!(event_json(&later)["flow"]["id"], ids[0]);
        assert_eq!(record(&first).state, Some(FlowState::Begin));
        assert_eq!(record(&middle).state, Some(FlowState::Continuing));
        assert_eq!(event_json(&middle)["event"]["type"], json!(["connection"]));
    }
}
