//! `type: conntrack`: events, filter, buffer, accounting, and one-line errors.

use super::*;
use crate::config::{ConntrackConfig, InputKind};
use crate::input::conntrack::msg::EventKind;
use crate::parse::{ConnectionRecord, Endpoint, Transport};

/// One conntrack input whose settings are `body` (indented 4, under `- type: conntrack`).
fn conntrack_input(body: &str) -> String {
    let body: String = body.lines().map(|l| format!("    {l}\n")).collect();
    format!("lumberwatch.inputs:\n  - type: conntrack\n{body}output.logstash.hosts: [a]\n")
}

fn conntrack_of(text: &str) -> ConntrackConfig {
    let config = ok(text);
    assert!(config.inputs[0].feeds_stats());
    match &config.inputs[0].kind {
        InputKind::Conntrack(c) => c.clone(),
        other => panic!("not a conntrack input: {other:?}"),
    }
}

#[test]
fn defaults_are_new_and_destroy_everything_and_accounting_left_alone() {
    let c = conntrack_of(&conntrack_input("id: ct"));
    assert_eq!(c.events, [EventKind::New, EventKind::Destroy]);
    assert_eq!(c.filter, Default::default());
    assert_eq!(c.buffer, 8 << 20);
    assert!(!c.enable_accounting);
}

#[test]
fn events_filter_buffer_and_accounting_are_read() {
    let c = conntrack_of(&conntrack_input(
        "events: [destroy, update]\nbuffer: 16MiB\naccounting: enable\nfilter:\n  transports: [tcp, udp]\n  ports: [514, 3000]\n  hosts: [10.10.10.0/24, \"fd00::9\"]",
    ));
    assert_eq!(c.events, [EventKind::Destroy, EventKind::Update]);
    assert_eq!(c.buffer, 16 << 20);
    assert!(c.enable_accounting);
    assert_eq!(c.filter.transports, [Transport::Tcp, Transport::Udp]);
    assert_eq!(c.filter.ports, [514, 3000]);
    let record = |src: &str, dst: &str, dport: u16, t: Transport| ConnectionRecord {
        source: Endpoint {
            ip: src.parse().ok(),
            port: Some(40000),
            ..Endpoint::default()
        },
        destination: Endpoint {
            ip: dst.parse().ok(),
            port: Some(dport),
            ..Endpoint::default()
        },
        transport: Some(t),
        ..ConnectionRecord::default()
    };
    let f = &c.filter;
    assert!(f.allows(&record("10.10.10.1", "192.168.1.1", 514, Transport::Tcp)));
    assert!(f.allows(&record("192.168.1.1", "fd00::9", 3000, Transport::Udp)));
    assert!(!f.allows(&record("10.10.10.1", "192.168.1.1", 22, Transport::Tcp)));
    assert!(!f.allows(&record("10.10.10.1", "192.168.1.1", 514, Transport::Icmp)));
    assert!(!f.allows(&record("10.10.11.1", "192.168.1.1", 514, Transport::Tcp)));
}

#[test]
fn mistakes_are_one_line_errors_with_line_and_key() {
    assert_eq!(
        err(&conntrack_input("events: [new, closed]")),
        "config.yml:3: lumberwatch.inputs.0.events: expected new, update or destroy, got \"closed\""
    );
    assert_eq!(
        err(&conntrack_input("filter:\n  ports: [514, 70000]")),
        "config.yml:4: lumberwatch.inputs.0.filter.ports: \"70000\" is not a port (1 to 65535)"
    );
    assert_eq!(
        err(&conntrack_input("filter:\n  transports: [tcp, sctpx]")),
        "config.yml:4: lumberwatch.inputs.0.filter.transports: unknown transport \"sctpx\"; use tcp, udp, icmp, ipv6-icmp or a protocol number"
    );
    assert_eq!(
        err(&conntrack_input("filter:\n  hosts: [10.10.10.1/24]")),
        "config.yml:4: lumberwatch.inputs.0.filter.hosts: \"10.10.10.1/24\" has host bits set; the block is 10.10.10.0/24"
    );
    assert_eq!(
        err(&conntrack_input("accounting: on")),
        "config.yml:3: lumberwatch.inputs.0.accounting: expected one of keep, enable, got \"on\""
    );
    let e = err(&conntrack_input("parser: conntrack"));
    assert!(
        e.starts_with("config.yml:3: lumberwatch.inputs.0.parser: "),
        "{e}"
    );
    assert!(e.contains("connection records already"), "{e}");
}
