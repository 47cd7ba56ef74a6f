//! `iptables`: the packet lines netfilter's `LOG` target and nftables' `log` statement
//! write to the kernel log (`IN=eth0 OUT= MAC=... SRC=... DST=... LEN=60 ... PROTO=TCP
//! SPT=51000 DPT=514 ...`), behind any syslog header and the rule's log prefix
//! (`[UFW BLOCK]`, `SFW2-INext-DROP-DEFLT`, `Shorewall:net2fw:DROP:`).
//!
//! One line is one packet: `LEN` is what the source sent. The action is read from the
//! prefix when it names one, and is left unknown otherwise: a `LOG` rule does not say
//! what the next rule did.

use super::fields::{ip, not_a, number};
use super::syslog;
use super::{Action, ConnectionRecord, Direction, Transport};

/// One line's record, or why it is not one.
pub(super) fn parse_line(line: &str) -> Result<ConnectionRecord, String> {
    let header = syslog::split(line);
    let mut record = ConnectionRecord::default();
    header.write_to(&mut record);
    let rest = header.rest.trim_start();
    let rest = rest.strip_prefix("kernel:").unwrap_or(rest).trim_start();
    let rest = strip_uptime(rest);
    let start = find_fields(rest).ok_or("no IN= field: not a netfilter log line")?;
    let prefix = rest[..start].trim().trim_end_matches(':');
    if !prefix.is_empty() {
        record.action = action_of_prefix(prefix);
        record.set("rule.name", prefix);
    }
    read_fields(&rest[start..], &mut record)?;
    Ok(record)
}

/// Drops the kernel's `[12345.678901]` uptime stamp.
fn strip_uptime(s: &str) -> &str {
    if let Some(inner) = s.strip_prefix('[')
        && let Some((stamp, rest)) = inner.split_once(']')
        && stamp
            .trim()
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.')
    {
        return rest.trim_start();
    }
    s
}

/// Where `IN=` starts: at the start or after a space, `:` or `]` of a log prefix.
fn find_fields(s: &str) -> Option<usize> {
    s.match_indices("IN=")
        .map(|(i, _)| i)
        .find(|&i| i == 0 || matches!(s.as_bytes().get(i - 1), Some(b' ' | b':' | b']')))
}

/// What a log prefix says was done, by its words (`DROP`, `ACC`, `[UFW BLOCK]`).
fn action_of_prefix(prefix: &str) -> Option<Action> {
    prefix
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find_map(|word| match word.to_ascii_uppercase().as_str() {
            "DROP" | "DROPPED" | "REJECT" | "REJECTED" | "BLOCK" | "BLOCKED" | "DENY"
            | "DENIED" => Some(Action::Deny),
            "ACCEPT" | "ACCEPTED" | "ACC" | "ALLOW" | "ALLOWED" | "PASS" => Some(Action::Allow),
            _ => None,
        })
}

/// Reads the `KEY=value` fields and flag words after the prefix.
fn read_fields(fields: &str, r: &mut ConnectionRecord) -> Result<(), String> {
    let (mut input, mut output) = ("", "");
    let mut seen_len = false;
    let mut fragment = Vec::new();
    let mut tcp_flags = Vec::new();
    let mut words = fields.split(' ').filter(|w| !w.is_empty());
    while let Some(word) = words.next() {
        if word.starts_with('[') {
            // The header of the packet an ICMP error quotes: not this packet's fields.
            if !word.ends_with(']') {
                words.by_ref().find(|w| w.ends_with(']'));
            }
            continue;
        }
        let Some((key, value)) = word.split_once('=') else {
            match word {
                "DF" | "MF" | "CE" => fragment.push(word),
                "CWR" | "ECE" | "URG" | "ACK" | "PSH" | "RST" | "SYN" | "FIN" => {
                    tcp_flags.push(word)
                }
                _ => {}
            }
            continue;
        };
        match key {
            "IN" => input = value,
            "OUT" => output = value,
            "MAC" => mac(value, r),
            "SRC" => r.source.ip = Some(ip(key, value)?),
            "DST" => r.destination.ip = Some(ip(key, value)?),
            // The second LEN of a UDP line is the UDP length.
            "LEN" if !seen_len => {
                seen_len = true;
                r.source.bytes = Some(number(key, value)?);
                r.source.packets = Some(1);
            }
            "PROTO" => r.transport = Some(transport(value)?),
            "SPT" => r.source.port = Some(number(key, value)?),
            "DPT" => r.destination.port = Some(number(key, value)?),
            "TYPE" => r.set("iptables.icmp.type", number::<u8>(key, value)?),
            "CODE" => r.set("iptables.icmp.code", number::<u8>(key, value)?),
            "TTL" => r.set("iptables.ttl", number::<u8>(key, value)?),
            "HOPLIMIT" => r.set("iptables.hop_limit", number::<u8>(key, value)?),
            // After PROTO=ICMP, ID is the echo identifier, not the IP header's.
            "ID" if matches!(r.transport, Some(Transport::Icmp | Transport::Ipv6Icmp)) => {
                r.set("iptables.icmp.id", number::<u16>(key, value)?)
            }
            "ID" => r.set("iptables.id", number::<u32>(key, value)?),
            "WINDOW" => r.set("iptables.tcp.window", number::<u32>(key, value)?),
            "FLOWLBL" => r.set("iptables.flow_label", number::<u32>(key, value)?),
            "TOS" => r.set("iptables.tos", value),
            "TC" => r.set("iptables.traffic_class", value),
            "PREC" => r.set("iptables.precedence_bits", value),
            "RES" => r.set("iptables.tcp.reserved_bits", value),
            "MARK" => r.set("iptables.mark", value),
            "UID" => r.set("user.id", value),
            _ => {}
        }
    }
    if r.source.ip.is_none() {
        return Err("no SRC= field".into());
    }
    if r.destination.ip.is_none() {
        return Err("no DST= field".into());
    }
    if !input.is_empty() {
        r.set("observer.ingress.interface.name", input);
    }
    if !output.is_empty() {
        r.set("observer.egress.interface.name", output);
    }
    r.direction = match (input.is_empty(), output.is_empty()) {
        (false, true) => Some(Direction::Ingress),
        (true, false) => Some(Direction::Egress),
        _ => None,
    };
    if !fragment.is_empty() {
        r.set("iptables.fragment_flags", fragment);
    }
    if !tcp_flags.is_empty() {
        r.set("iptables.tcp.flags", tcp_flags);
    }
    Ok(())
}

/// `PROTO` as the kernel writes it: a name it knows or the protocol number.
fn transport(value: &str) -> Result<Transport, String> {
    let number = match value {
        "UDPLITE" => 136,
        "AH" => 51,
        "ESP" => 50,
        _ => {
            return Transport::from_name(value).ok_or_else(|| not_a("PROTO", "a protocol", value));
        }
    };
    Ok(Transport::from_number(number))
}

/// `MAC=` is the Ethernet header: destination, source, ethertype (14 octets).
fn mac(value: &str, r: &mut ConnectionRecord) {
    let octets: Vec<&str> = value.split(':').collect();
    if octets.len() != 14 || !octets.iter().all(|o| o.len() == 2) {
        if !value.is_empty() {
            r.set("iptables.mac", value);
        }
        return;
    }
    let ecs = |o: &[&str]| o.join("-").to_ascii_uppercase();
    r.set("destination.mac", ecs(&octets[..6]));
    r.set("source.mac", ecs(&octets[6..12]));
    r.set("iptables.ether_type", octets[12..].concat());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::fixture;

    fixture::parser_tests!("iptables");

    #[test]
    fn the_log_prefix_decides_the_action() {
        let fields = "IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=60 PROTO=TCP SPT=1 DPT=2";
        for (prefix, action) in [
            ("[UFW BLOCK] ", Some(Action::Deny)),
            ("[UFW ALLOW] ", Some(Action::Allow)),
            ("Shorewall:net2fw:REJECT:", Some(Action::Deny)),
            ("SFW2-INext-ACC-TCP ", Some(Action::Allow)),
            ("[UFW AUDIT] ", None),
            ("", None),
        ] {
            let r = parse_line(&format!("{prefix}{fields}")).unwrap();
            assert_eq!(r.action, action, "{prefix}");
        }
    }

    #[test]
    fn a_udp_line_counts_the_ip_length_not_the_udp_length() {
        let r = parse_line(
            "IN= OUT=eth0 SRC=10.0.0.1 DST=10.0.0.2 LEN=80 PROTO=UDP SPT=1 DPT=2 LEN=60",
        )
        .unwrap();
        assert_eq!(r.source.bytes, Some(80));
        assert_eq!(r.direction, Some(Direction::Egress));
    }

    #[test]
    fn an_icmp_error_keeps_its_own_addresses_not_the_quoted_ones() {
        let r = parse_line(
            "IN=eth0 OUT= SRC=10.0.0.9 DST=10.0.0.1 LEN=88 PROTO=ICMP TYPE=3 CODE=3 \
             [SRC=10.0.0.1 DST=10.0.0.9 LEN=60 PROTO=UDP SPT=5 DPT=53 LEN=40 ]",
        )
        .unwrap();
        assert_eq!(r.source.ip, Some("10.0.0.9".parse().unwrap()));
        assert_eq!(r.source.bytes, Some(88));
        assert_eq!(r.field("iptables.icmp.type").as_deref(), Some("3"));
        assert_eq!(r.destination.port, None);
    }
}
