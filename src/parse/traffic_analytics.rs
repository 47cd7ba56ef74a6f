//! `azure-traffic-analytics`: Azure Network Watcher traffic analytics rows exported as
//! JSON lines, one aggregated flow per row, in either schema: `AzureNetworkAnalytics_CL`
//! (NSG flow logs; columns suffixed by type: `SrcIP_s`, `DestPort_d`, `FlowStartTime_t`)
//! or `NTANetAnalytics` (VNet flow logs: `SrcIp`, `DestPort`, `FlowStartTime`). The
//! Microsoft documents spell some columns two ways (`SrcIP`/`SrcIp`, `NSGRule`/`NsgRule`);
//! both are looked up. Rows of other subtypes (topology, status messages) are skipped.
//!
//! A row aggregates the flows with the same source, destination, port, rule, direction
//! and protocol, so it has a first and last time (`event.start`, `event.end`; `@timestamp`
//! is the start) and flow counts (`azure.traffic_analytics.allowed_in_flows`, ...). Bytes
//! and packets: `OutboundBytes_d`/`BytesSrcToDest` were sent by the source,
//! `InboundBytes_d`/`BytesDestToSrc` by the destination. `FlowDirection` `I`/`O` is
//! into/out of the NIC the flow was logged at, so `ingress`/`egress`, as for NSG logs.
//!
//! Other fields: `rule.name` (`NSGRule_s`, `NsgRule`, or `AclRule`), `network.protocol`
//! (`L7Protocol`, lowercased), the MAC as for NSG flow logs, and the row's descriptive
//! columns under `azure.traffic_analytics.*` in snake case (`flow_type`, `nsg_list`,
//! `src_subnet`, `dest_region`, ...).

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::azure::set_mac;
use super::{
    Action, ConnectionRecord, Direction, Endpoint, LineParser, Outcome, ParseError, Transport,
    excerpt,
};

const FORMAT: &str = "azure-traffic-analytics";

/// Each column's names in the classic schema, then in `NTANetAnalytics`.
const SUBTYPE: &[&str] = &["SubType_s", "SubType"];
const SRC_IP: &[&str] = &["SrcIP_s", "SrcIP", "SrcIp"];
const DEST_IP: &[&str] = &["DestIP_s", "DestIP", "DestIp"];
const SRC_PUBLIC_IPS: &[&str] = &["SrcPublicIPs_s", "SrcPublicIPs", "SrcPublicIps"];
const DEST_PUBLIC_IPS: &[&str] = &["DestPublicIPs_s", "DestPublicIPs", "DestPublicIps"];
const SRC_PORTS: &[&str] = &["SrcPorts"];
const DEST_PORT: &[&str] = &["DestPort_d", "DestPort"];
const PROTOCOL: &[&str] = &["L4Protocol_s", "L4Protocol"];
const STATUS: &[&str] = &["FlowStatus_s", "FlowStatus"];
const DIRECTION: &[&str] = &["FlowDirection_s", "FlowDirection"];
const START: &[&str] = &["FlowStartTime_t", "FlowStartTime"];
const END: &[&str] = &["FlowEndTime_t", "FlowEndTime"];
const GENERATED: &[&str] = &["TimeGenerated"];
const SRC_BYTES: &[&str] = &["OutboundBytes_d", "BytesSrcToDest"];
const DEST_BYTES: &[&str] = &["InboundBytes_d", "BytesDestToSrc"];
const SRC_PACKETS: &[&str] = &["OutboundPackets_d", "PacketsSrcToDest"];
const DEST_PACKETS: &[&str] = &["InboundPackets_d", "PacketsDestToSrc"];
const RULE: &[&str] = &["NSGRule_s", "NSGRule", "NsgRule", "AclRule"];
const L7_PROTOCOL: &[&str] = &["L7Protocol_s", "L7Protocol"];
const MAC: &[&str] = &["MACAddress_s", "MACAddress", "MacAddress"];

/// Descriptive columns kept as they are.
const TEXT: &[(&[&str], &str)] = &[
    (
        &["FlowType_s", "FlowType"],
        "azure.traffic_analytics.flow_type",
    ),
    (
        &["NSGList_s", "NSGList", "NsgList"],
        "azure.traffic_analytics.nsg_list",
    ),
    (&["AclGroup"], "azure.traffic_analytics.acl_group"),
    (
        &["FlowEncryption"],
        "azure.traffic_analytics.flow_encryption",
    ),
    (
        &["Subscription1_g", "SrcSubscription"],
        "azure.traffic_analytics.src_subscription",
    ),
    (
        &["Subscription2_g", "DestSubscription"],
        "azure.traffic_analytics.dest_subscription",
    ),
    (
        &["Region1_s", "SrcRegion"],
        "azure.traffic_analytics.src_region",
    ),
    (
        &["Region2_s", "DestRegion"],
        "azure.traffic_analytics.dest_region",
    ),
    (
        &["Subnet1_s", "SrcSubnet"],
        "azure.traffic_analytics.src_subnet",
    ),
    (
        &["Subnet2_s", "DestSubnet"],
        "azure.traffic_analytics.dest_subnet",
    ),
    (
        &["VM1_s", "SrcVm", "SrcVM"],
        "azure.traffic_analytics.src_vm",
    ),
    (
        &["VM2_s", "DestVm", "DestVM"],
        "azure.traffic_analytics.dest_vm",
    ),
    (&["Country_s", "Country"], "azure.traffic_analytics.country"),
    (
        &["TargetResourceId"],
        "azure.traffic_analytics.target_resource_id",
    ),
    (
        &["FlowLogResourceId"],
        "azure.traffic_analytics.flow_log_resource_id",
    ),
    (SRC_PUBLIC_IPS, "azure.traffic_analytics.src_public_ips"),
    (DEST_PUBLIC_IPS, "azure.traffic_analytics.dest_public_ips"),
];

/// Flow counts.
const COUNTS: &[(&[&str], &str)] = &[
    (
        &["AllowedInFlows_d", "AllowedInFlows"],
        "azure.traffic_analytics.allowed_in_flows",
    ),
    (
        &["DeniedInFlows_d", "DeniedInFlows"],
        "azure.traffic_analytics.denied_in_flows",
    ),
    (
        &["AllowedOutFlows_d", "AllowedOutFlows"],
        "azure.traffic_analytics.allowed_out_flows",
    ),
    (
        &["DeniedOutFlows_d", "DeniedOutFlows"],
        "azure.traffic_analytics.denied_out_flows",
    ),
    (
        &["CompletedFlows_d", "CompletedFlows"],
        "azure.traffic_analytics.completed_flows",
    ),
    (&["FlowCount_d"], "azure.traffic_analytics.flow_count"),
];

pub struct TrafficAnalytics;

impl LineParser for TrafficAnalytics {
    fn parse(
        &mut self,
        line: &str,
        out: &mut Vec<ConnectionRecord>,
    ) -> Result<Outcome, ParseError> {
        let map = match serde_json::from_str(line) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return Err(ParseError::new(FORMAT, "a row is a json object")),
            Err(e) => return Err(ParseError::new(FORMAT, format!("not json: {e}"))),
        };
        let row = Row(&map);
        if let Some((_, subtype)) = row.text(SUBTYPE)?
            && !subtype.eq_ignore_ascii_case("FlowLog")
        {
            return Ok(Outcome::Skipped("not-flowlog"));
        }
        out.push(record(&row)?);
        Ok(Outcome::Records)
    }
}

fn record(row: &Row) -> Result<ConnectionRecord, ParseError> {
    let src_ip = match row.ip(SRC_IP)? {
        Some(ip) => Some(ip),
        None => row
            .text(SRC_PUBLIC_IPS)?
            .and_then(|(_, s)| single_public_ip(s)),
    };
    let dest_ip = match row.ip(DEST_IP)? {
        Some(ip) => Some(ip),
        None => row
            .text(DEST_PUBLIC_IPS)?
            .and_then(|(_, s)| single_public_ip(s)),
    };
    let status = row.text(STATUS)?;
    let direction = row.text(DIRECTION)?;
    if src_ip.is_none() && dest_ip.is_none() && status.is_none() && direction.is_none() {
        return Err(ParseError::new(
            FORMAT,
            "no flow columns: none of SrcIP_s, SrcIp, DestIP_s, DestIp, FlowStatus_s, \
             FlowStatus, FlowDirection_s, FlowDirection",
        ));
    }
    let start = row.time(START)?;
    let mut r = ConnectionRecord {
        time: match start {
            Some(t) => Some(t),
            None => match row.time(END)? {
                Some(t) => Some(t),
                None => row.time(GENERATED)?,
            },
        },
        source: Endpoint {
            ip: src_ip,
            port: None,
            bytes: row.count(SRC_BYTES)?,
            packets: row.count(SRC_PACKETS)?,
        },
        destination: Endpoint {
            ip: dest_ip,
            port: row.port(DEST_PORT)?,
            bytes: row.count(DEST_BYTES)?,
            packets: row.count(DEST_PACKETS)?,
        },
        ..ConnectionRecord::default()
    };
    if let Some((name, p)) = row.text(PROTOCOL)? {
        r.transport = Some(Transport::from_name(p).ok_or_else(|| row.bad(name, p, "t or u"))?);
    }
    if let Some((name, s)) = status {
        r.action = Some(match s.to_ascii_lowercase().as_str() {
            "a" | "allowed" | "allow" => Action::Allow,
            "d" | "denied" | "deny" => Action::Deny,
            _ => return Err(row.bad(name, s, "a (allowed) or d (denied)")),
        });
    }
    if let Some((name, d)) = direction {
        r.direction = Some(match d.to_ascii_lowercase().as_str() {
            "i" | "inbound" => Direction::Ingress,
            "o" | "outbound" => Direction::Egress,
            _ => return Err(row.bad(name, d, "i (inbound) or o (outbound)")),
        });
    }
    if let Some((name, ports)) = row.text(SRC_PORTS)? {
        match ports.split('|').count() {
            1 => r.source.port = Some(ports.parse().map_err(|_| row.bad(name, ports, "a port"))?),
            _ => r.set("azure.traffic_analytics.src_ports", ports),
        }
    }
    if let Some(t) = start {
        r.set("event.start", t.to_string());
    }
    if let Some(t) = row.time(END)? {
        r.set("event.end", t.to_string());
    }
    if let Some((_, rule)) = row.text(RULE)? {
        r.set("rule.name", rule);
    }
    if let Some((_, p)) = row.text(L7_PROTOCOL)? {
        r.set("network.protocol", p.to_ascii_lowercase());
    }
    if let Some((_, mac)) = row.text(MAC)? {
        set_mac(&mut r, mac);
    }
    for (names, field) in TEXT {
        if let Some((_, value)) = row.text(names)? {
            r.set(*field, value);
        }
    }
    for (names, field) in COUNTS {
        if let Some(n) = row.count(names)? {
            r.set(*field, n);
        }
    }
    Ok(r)
}

/// The address of a `SrcPublicIPs` value naming one address (`ip|started|ended|...`);
/// a value naming several does not say which was this flow's.
fn single_public_ip(value: &str) -> Option<IpAddr> {
    let mut entries = value.split_whitespace();
    let only = entries.next()?;
    match entries.next() {
        Some(_) => None,
        None => only.split('|').next()?.parse().ok(),
    }
}

/// One exported row; a column is found by any of its names, and null or an empty
/// string is no value.
struct Row<'a>(&'a Map<String, Value>);

impl Row<'_> {
    fn get(&self, names: &[&'static str]) -> Option<(&'static str, &Value)> {
        names.iter().find_map(|&name| match self.0.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(v) => Some((name, v)),
        })
    }

    fn bad(&self, name: &str, value: &str, expected: &str) -> ParseError {
        ParseError::new(
            FORMAT,
            format!("column {name} is not {expected}: {}", excerpt(value)),
        )
    }

    fn text(&self, names: &[&'static str]) -> Result<Option<(&'static str, &str)>, ParseError> {
        match self.get(names) {
            None => Ok(None),
            Some((name, Value::String(s))) => Ok(Some((name, s.trim()))),
            Some((name, other)) => Err(self.bad(name, &other.to_string(), "a string")),
        }
    }

    fn ip(&self, names: &[&'static str]) -> Result<Option<IpAddr>, ParseError> {
        match self.text(names)? {
            None => Ok(None),
            Some((name, s)) => s
                .parse()
                .map(Some)
                .map_err(|_| self.bad(name, s, "an ip address")),
        }
    }

    fn time(&self, names: &[&'static str]) -> Result<Option<jiff::Timestamp>, ParseError> {
        match self.text(names)? {
            None => Ok(None),
            Some((name, s)) => s
                .parse()
                .map(Some)
                .map_err(|_| self.bad(name, s, "an rfc 3339 time")),
        }
    }

    /// A whole number, written as a JSON number (`_d` columns are doubles: `443.0`)
    /// or as a string.
    fn count(&self, names: &[&'static str]) -> Result<Option<u64>, ParseError> {
        let Some((name, value)) = self.get(names) else {
            return Ok(None);
        };
        let n = match value {
            Value::Number(n) => n.as_u64().or_else(|| n.as_f64().and_then(whole)),
            Value::String(s) => {
                let s = s.trim();
                s.parse().ok().or_else(|| s.parse().ok().and_then(whole))
            }
            _ => None,
        };
        n.map(Some)
            .ok_or_else(|| self.bad(name, &value.to_string(), "a whole number in range"))
    }

    fn port(&self, names: &[&'static str]) -> Result<Option<u16>, ParseError> {
        match self.count(names)? {
            None => Ok(None),
            Some(n) => u16::try_from(n).map(Some).map_err(|_| {
                let name = self.get(names).map_or("?", |(name, _)| name);
                self.bad(name, &n.to_string(), "a port")
            }),
        }
    }
}

/// `f` as a u64 if it is one exactly.
fn whole(f: f64) -> Option<u64> {
    // 2^64 as f64; every whole f64 below it fits.
    const LIMIT: f64 = 18_446_744_073_709_551_616.0;
    (f.fract() == 0.0 && (0.0..LIMIT).contains(&f)).then_some(f as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::fixture;

    // valid.log: three rows in the AzureNetworkAnalytics_CL schema (the last a topology
    // row), then three in NTANetAnalytics (the last a status row).
    fixture::parser_tests!(FORMAT, insert = "[,{}\"0-9.:eE|-]{0,4}");

    fn parse(line: &str) -> Result<(Outcome, Vec<ConnectionRecord>), ParseError> {
        fixture::parse(&mut TrafficAnalytics, line)
    }

    fn one(line: &str) -> ConnectionRecord {
        fixture::one(&mut TrafficAnalytics, line).unwrap()
    }

    fn at(s: &str) -> Option<jiff::Timestamp> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn classic_rows_split_bytes_by_side_and_keep_flow_counts() {
        let lines = fixture::valid_lines(FORMAT);
        let r = one(&lines[0]);
        assert_eq!(r.source.ip, Some("10.0.0.4".parse().unwrap()));
        assert_eq!(r.destination.ip, Some("10.0.1.5".parse().unwrap()));
        assert_eq!(r.destination.port, Some(1433));
        assert_eq!(r.source.port, None);
        assert_eq!(r.transport, Some(Transport::Tcp));
        assert_eq!(r.action, Some(Action::Allow));
        assert_eq!(r.direction, Some(Direction::Egress));
        assert_eq!(r.time, at("2024-03-05T10:02:11Z"));
        assert_eq!((r.source.bytes, r.source.packets), (Some(52000), Some(310)));
        assert_eq!(
            (r.destination.bytes, r.destination.packets),
            (Some(880000), Some(640))
        );
        assert_eq!(r.field("rule.name").as_deref(), Some("UserRule_AllowSql"));
        assert_eq!(
            r.field("event.end").as_deref(),
            Some("2024-03-05T10:48:40Z")
        );
        assert_eq!(r.field("network.protocol").as_deref(), Some("mssql"));
        assert_eq!(r.field("source.mac").as_deref(), Some("00-0D-3A-F8-78-56"));
        assert_eq!(
            r.field("azure.traffic_analytics.allowed_out_flows")
                .as_deref(),
            Some("12")
        );
        assert_eq!(
            r.field("azure.traffic_analytics.flow_type").as_deref(),
            Some("IntraVNet")
        );
        assert_eq!(
            r.field("azure.traffic_analytics.nsg_list").as_deref(),
            Some("aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/fabrikamrg/fabrikamvm1-nsg")
        );
    }

    #[test]
    fn a_denied_inbound_row_from_one_public_ip_takes_that_ip() {
        let lines = fixture::valid_lines(FORMAT);
        let r = one(&lines[1]);
        assert_eq!(r.source.ip, Some("203.0.113.50".parse().unwrap()));
        assert_eq!(r.destination.ip, Some("10.0.0.4".parse().unwrap()));
        assert_eq!(r.destination.port, Some(3389));
        assert_eq!(r.action, Some(Action::Deny));
        assert_eq!(r.direction, Some(Direction::Ingress));
        assert_eq!(r.transport, Some(Transport::Udp));
        assert_eq!(
            r.field("destination.mac").as_deref(),
            Some("00-0D-3A-F8-78-56")
        );
        assert_eq!(
            r.field("azure.traffic_analytics.denied_in_flows")
                .as_deref(),
            Some("3")
        );
        assert_eq!(r.total_bytes(), None);
    }

    #[test]
    fn topology_rows_are_skipped() {
        let lines = fixture::valid_lines(FORMAT);
        let (outcome, records) = parse(&lines[2]).unwrap();
        assert_eq!(outcome, Outcome::Skipped("not-flowlog"));
        assert!(records.is_empty());
    }

    #[test]
    fn ntanetanalytics_rows_use_the_new_column_names() {
        let lines = fixture::valid_lines(FORMAT);
        let r = one(&lines[3]);
        assert_eq!(r.source.ip, Some("10.1.0.4".parse().unwrap()));
        assert_eq!(r.source.port, Some(50432));
        assert_eq!(r.destination.ip, Some("52.239.184.180".parse().unwrap()));
        assert_eq!(r.destination.port, Some(443));
        assert_eq!(r.action, Some(Action::Allow));
        assert_eq!(r.direction, Some(Direction::Egress));
        assert_eq!(r.time, at("2024-06-01T08:00:05.1234567Z"));
        assert_eq!(
            (r.source.bytes, r.destination.bytes),
            (Some(4410), Some(12093))
        );
        assert_eq!(
            (r.source.packets, r.destination.packets),
            (Some(21), Some(19))
        );
        assert_eq!(
            r.field("rule.name").as_deref(),
            Some("DefaultRule_AllowInternetOutBound")
        );
        assert_eq!(
            r.field("azure.traffic_analytics.flow_encryption")
                .as_deref(),
            Some("Unencrypted")
        );
        assert_eq!(
            r.field("azure.traffic_analytics.completed_flows")
                .as_deref(),
            Some("2")
        );

        let denied = one(&lines[4]);
        assert_eq!(denied.action, Some(Action::Deny));
        assert_eq!(denied.direction, Some(Direction::Ingress));
        assert_eq!(denied.source.port, None);
        assert_eq!(
            denied.field("azure.traffic_analytics.src_ports").as_deref(),
            Some("51000|51002")
        );
        assert_eq!(
            denied.field("rule.name").as_deref(),
            Some("DenyRdpFromInternet")
        );
        assert_eq!(
            denied.time,
            at("2024-06-01T08:10:00Z"),
            "TimeGenerated when no flow times"
        );

        let (outcome, _) = parse(&lines[5]).unwrap();
        assert_eq!(outcome, Outcome::Skipped("not-flowlog"));
    }
}
