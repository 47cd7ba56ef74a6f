//! `azure-nsg`: Azure network security group flow logs, versions 1 and 2, as Network
//! Watcher writes them to `PT1H.json` blobs; one record per flow tuple.
//!
//! The blob envelope, tuple reading and resource and MAC fields are [`super::azure`]'s.
//!
//! Fields written besides the core ones:
//! - `rule.name`: the rule the tuple is listed under;
//! - `azure.resource.id` (the NSG's resource id as logged), `azure.resource.name`,
//!   `azure.resource.group`, `azure.subscription_id` taken from it (the names Elastic's
//!   `azure_network_watcher_nsg` integration uses);
//! - `destination.mac` for an inbound tuple, `source.mac` for an outbound one: the MAC
//!   is that of the NIC the flow was captured at, which is the destination of inbound
//!   and the source of outbound traffic; written as ECS says (`00-0D-3A-F8-78-56`).

use std::borrow::Cow;

use serde::Deserialize;

use super::azure::{Tuple, annotate, parse_line, resource_fields};
use super::{
    Action, ConnectionRecord, Endpoint, FlowState, LineParser, Outcome, ParseError, Transport,
};

const FORMAT: &str = "azure-nsg";

/// The fields of a version 2 tuple; version 1 has the first eight.
const FIELDS: &[&str] = &[
    "time",
    "source ip",
    "destination ip",
    "source port",
    "destination port",
    "protocol",
    "direction",
    "decision",
    "state",
    "packets sent",
    "bytes sent",
    "packets received",
    "bytes received",
];
const V1_FIELDS: usize = 8;

pub struct AzureNsg;

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(
        borrow,
        rename = "resourceId",
        alias = "resourceid",
        alias = "resourceID"
    )]
    resource_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    properties: Properties<'a>,
}

#[derive(Deserialize)]
struct Properties<'a> {
    #[serde(borrow, default)]
    flows: Vec<RuleFlows<'a>>,
}

#[derive(Deserialize)]
struct RuleFlows<'a> {
    #[serde(borrow)]
    rule: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    flows: Vec<NicFlows<'a>>,
}

#[derive(Deserialize)]
struct NicFlows<'a> {
    #[serde(borrow)]
    mac: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "flowTuples", default)]
    flow_tuples: Vec<Cow<'a, str>>,
}

impl LineParser for AzureNsg {
    fn parse(
        &mut self,
        line: &str,
        out: &mut Vec<ConnectionRecord>,
    ) -> Result<Outcome, ParseError> {
        parse_line(FORMAT, line, out, |record: Record, out| {
            let common = resource_fields(record.resource_id.as_deref());
            for group in &record.properties.flows {
                for nic in &group.flows {
                    for tuple in &nic.flow_tuples {
                        let mut r = tuple_record(tuple)?;
                        annotate(&mut r, &common, group.rule.as_deref(), nic.mac.as_deref());
                        out.push(r);
                    }
                }
            }
            Ok(())
        })
    }
}

/// One tuple: `ts,src,dst,sport,dport,T|U,I|O,A|D` (version 1), then
/// `,B|C|E,pkts_s2d,bytes_s2d,pkts_d2s,bytes_d2s` (version 2, counts empty on `B`).
fn tuple_record(text: &str) -> Result<ConnectionRecord, ParseError> {
    let t = Tuple::split(FORMAT, text, FIELDS);
    if t.len() != V1_FIELDS && t.len() != FIELDS.len() {
        return Err(t.count_error("8 (version 1) or 13 (version 2)"));
    }
    let mut r = ConnectionRecord {
        time: Some(t.unix_time(0, false)?),
        source: Endpoint {
            ip: Some(t.ip(1)?),
            port: Some(t.port(3)?),
            ..Endpoint::default()
        },
        destination: Endpoint {
            ip: Some(t.ip(2)?),
            port: Some(t.port(4)?),
            ..Endpoint::default()
        },
        transport: Some(Transport::from_name(t.get(5)).ok_or_else(|| t.error(5, "t or u"))?),
        direction: Some(t.direction(6)?),
        action: Some(match t.get(7) {
            "A" => Action::Allow,
            "D" => Action::Deny,
            _ => return Err(t.error(7, "a (allowed) or d (denied)")),
        }),
        message: Some(text.to_string()),
        ..ConnectionRecord::default()
    };
    if t.len() == FIELDS.len() {
        r.state = Some(match t.get(8) {
            "B" => FlowState::Begin,
            "C" => FlowState::Continuing,
            "E" => FlowState::End,
            _ => return Err(t.error(8, "b, c or e")),
        });
        r.source.packets = t.count(9)?;
        r.source.bytes = t.count(10)?;
        r.destination.packets = t.count(11)?;
        r.destination.bytes = t.count(12)?;
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{Direction, fixture};

    fixture::parser_tests!(FORMAT, insert = "[,\\]\\[{}\"0-9A-Z:.]{0,4}");

    /// A version 1 blob on one line, then a version 2 blob over three lines.
    fn valid_lines() -> Vec<String> {
        fixture::valid_lines(FORMAT)
    }

    fn parse(line: &str) -> Result<Vec<ConnectionRecord>, ParseError> {
        fixture::parse(&mut AzureNsg, line).map(|(_, records)| records)
    }

    fn ts(s: i64) -> Option<jiff::Timestamp> {
        Some(jiff::Timestamp::from_second(s).unwrap())
    }

    #[test]
    fn v1_blob_on_one_line_gives_one_record_per_tuple() {
        let records = fixture::records(&mut AzureNsg, &valid_lines()[..1]);
        assert_eq!(records.len(), 5);
        let r = &records[0];
        assert_eq!(r.time, ts(1487282421));
        assert_eq!(r.source.ip, Some("192.0.2.95".parse().unwrap()));
        assert_eq!(r.source.port, Some(51529));
        assert_eq!(r.destination.ip, Some("10.1.0.4".parse().unwrap()));
        assert_eq!(r.destination.port, Some(5358));
        assert_eq!(r.transport, Some(Transport::Tcp));
        assert_eq!(r.direction, Some(Direction::Ingress));
        assert_eq!(r.action, Some(Action::Deny));
        assert_eq!(r.state, None);
        assert_eq!(r.total_bytes(), None);
        assert_eq!(
            r.message.as_deref(),
            Some("1487282421,192.0.2.95,10.1.0.4,51529,5358,T,I,D")
        );
        assert_eq!(
            r.field("rule.name").as_deref(),
            Some("DefaultRule_DenyAllInBound")
        );
        assert_eq!(
            r.field("destination.mac").as_deref(),
            Some("00-0D-3A-F8-80-1A")
        );
        assert_eq!(r.field("source.mac"), None);
        assert_eq!(
            r.field("azure.resource.name").as_deref(),
            Some("FABRIKAMVM1-NSG")
        );
        assert_eq!(
            r.field("azure.resource.group").as_deref(),
            Some("FABRIKAMRG")
        );
        assert_eq!(
            r.field("azure.subscription_id").as_deref(),
            Some("aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e")
        );
        assert!(
            r.field("azure.resource.id")
                .unwrap()
                .ends_with("/FABRIKAMVM1-NSG")
        );
        let last = &records[4];
        assert_eq!(last.transport, Some(Transport::Udp));
        assert_eq!(last.action, Some(Action::Allow));
        assert_eq!(
            last.field("rule.name").as_deref(),
            Some("UserRule_default-allow-dns")
        );
    }

    #[test]
    fn v2_tuples_split_bytes_by_direction() {
        let records = fixture::records(&mut AzureNsg, &valid_lines()[1..]);
        assert_eq!(records.len(), 7);
        let c = records
            .iter()
            .find(|r| r.state == Some(FlowState::Continuing))
            .unwrap();
        assert_eq!(c.time, ts(1542110379));
        assert_eq!(c.source.ip, Some("10.5.16.4".parse().unwrap()));
        assert_eq!(c.destination.ip, Some("203.0.113.115".parse().unwrap()));
        assert_eq!(
            (c.source.port, c.destination.port),
            (Some(44931), Some(443))
        );
        assert_eq!((c.source.packets, c.source.bytes), (Some(30), Some(16978)));
        assert_eq!(
            (c.destination.packets, c.destination.bytes),
            (Some(24), Some(14008))
        );
        assert_eq!(c.total_bytes(), Some(16978 + 14008));
        assert_eq!(c.direction, Some(Direction::Egress));
        assert_eq!(c.action, Some(Action::Allow));
        assert_eq!(c.field("source.mac").as_deref(), Some("00-0D-3A-F8-78-56"));
        assert_eq!(
            c.field("rule.name").as_deref(),
            Some("DefaultRule_AllowInternetOutBound")
        );
    }

    #[test]
    fn v2_begin_tuples_have_no_counts() {
        let records = fixture::records(&mut AzureNsg, &valid_lines()[1..]);
        let b = &records[0];
        assert_eq!(b.state, Some(FlowState::Begin));
        assert_eq!(b.action, Some(Action::Deny));
        assert_eq!(b.transport, Some(Transport::Udp));
        assert_eq!(b.source.bytes, None);
        assert_eq!(b.destination.packets, None);
        assert_eq!(
            b.message.as_deref(),
            Some("1542110402,192.0.2.190,10.5.16.4,28746,443,U,I,D,B,,,,")
        );
        let end = records
            .iter()
            .filter(|r| r.state == Some(FlowState::End))
            .count();
        assert_eq!(end, 2);
    }

    #[test]
    fn each_line_shape_of_a_blob_is_accepted() {
        // First line with the blob's opening, middle line with a leading comma, last line
        // with the closing; the fixture has all three.
        let lines = &valid_lines()[1..];
        assert!(lines[0].starts_with("{\"records\":["));
        assert!(lines[1].starts_with(','));
        assert!(lines[2].ends_with("]}"));
        for line in lines {
            assert!(!parse(line).unwrap().is_empty(), "{line}");
        }
        for leftover in [
            "]}",
            "]",
            "}",
            "",
            "  ",
            "{\"records\":[]}",
            "{\"records\":[",
        ] {
            assert_eq!(parse(leftover).unwrap(), vec![], "{leftover:?}");
        }
    }

    #[test]
    fn a_record_without_flows_gives_no_records() {
        let line = r#"{"time":"2018-11-13T12:00:35.3899262Z","resourceId":"/X","properties":{"Version":2,"flows":[]}}"#;
        assert_eq!(AzureNsg.parse(line, &mut Vec::new()), Ok(Outcome::Records));
        assert_eq!(parse(line).unwrap(), vec![]);
    }
}
