//! `azure-vnet`: Azure virtual network flow logs (the successors of NSG flow logs), as
//! Network Watcher writes them to `PT1H.json` blobs; one record per flow tuple. The
//! blob envelope and tuple reading are [`super::azure`]'s.
//!
//! Tuple: `ts,src,dst,sport,dport,protocol,I|O,B|C|E|D,encryption,packets_s2d,bytes_s2d,
//! packets_d2s,bytes_d2s`, the time in Unix milliseconds and the protocol an IANA number.
//! There is no decision field: state `D` is a denied flow (no state of its own), the
//! others are allowed. Counts may be empty or zero on `B` and `D`; they are kept as given.
//!
//! Fields written besides the core ones:
//! - `rule.name` (the flow group's rule; `unspecified` when encryption denied it);
//! - `azure.vnet_flow.acl_id` (the NSG or Virtual Network Manager that evaluated it),
//!   `azure.vnet_flow.encryption` (`X`, `NX`, `NX_HW_NOT_SUPPORTED`, ...),
//!   `azure.vnet_flow.flow_log_id` (the flow log resource);
//! - `azure.resource.*` and `azure.subscription_id` from the target resource id (the
//!   virtual network, subnet or NIC logged), as for NSG flow logs;
//! - the record's `macAddress` as `destination.mac` (inbound) or `source.mac` (outbound).

use std::borrow::Cow;

use serde::Deserialize;

use super::azure::{Tuple, annotate, parse_line, resource_fields};
use super::{
    Action, ConnectionRecord, Endpoint, FlowState, LineParser, Outcome, ParseError, Transport,
};

const FORMAT: &str = "azure-vnet";

const FIELDS: &[&str] = &[
    "time",
    "source ip",
    "destination ip",
    "source port",
    "destination port",
    "protocol",
    "direction",
    "state",
    "encryption",
    "packets sent",
    "bytes sent",
    "packets received",
    "bytes received",
];

pub struct AzureVnet;

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, rename = "macAddress")]
    mac_address: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "flowLogResourceID")]
    flow_log_id: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "targetResourceID")]
    target_id: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "flowRecords")]
    flow_records: FlowRecords<'a>,
}

#[derive(Deserialize)]
struct FlowRecords<'a> {
    #[serde(borrow, default)]
    flows: Vec<AclFlows<'a>>,
}

#[derive(Deserialize)]
struct AclFlows<'a> {
    #[serde(borrow, rename = "aclID")]
    acl_id: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "flowGroups", default)]
    flow_groups: Vec<FlowGroup<'a>>,
}

#[derive(Deserialize)]
struct FlowGroup<'a> {
    #[serde(borrow)]
    rule: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "flowTuples", default)]
    flow_tuples: Vec<Cow<'a, str>>,
}

impl LineParser for AzureVnet {
    fn parse(
        &mut self,
        line: &str,
        out: &mut Vec<ConnectionRecord>,
    ) -> Result<Outcome, ParseError> {
        parse_line(FORMAT, line, out, |record: Record, out| {
            let mut common = resource_fields(record.target_id.as_deref());
            if let Some(id) = &record.flow_log_id {
                common.push(("azure.vnet_flow.flow_log_id".into(), id.as_ref().into()));
            }
            for acl in &record.flow_records.flows {
                for group in &acl.flow_groups {
                    for tuple in &group.flow_tuples {
                        let mut r = tuple_record(tuple)?;
                        if let Some(acl) = &acl.acl_id {
                            r.set("azure.vnet_flow.acl_id", acl.as_ref());
                        }
                        let mac = record.mac_address.as_deref();
                        annotate(&mut r, &common, group.rule.as_deref(), mac);
                        out.push(r);
                    }
                }
            }
            Ok(())
        })
    }
}

fn tuple_record(text: &str) -> Result<ConnectionRecord, ParseError> {
    let t = Tuple::split(FORMAT, text, FIELDS);
    if t.len() != FIELDS.len() {
        return Err(t.count_error("13"));
    }
    let (state, action) = match t.get(7) {
        "B" => (Some(FlowState::Begin), Action::Allow),
        "C" => (Some(FlowState::Continuing), Action::Allow),
        "E" => (Some(FlowState::End), Action::Allow),
        "D" => (None, Action::Deny),
        _ => return Err(t.error(7, "b, c, e or d")),
    };
    let transport =
        Transport::from_name(t.get(5)).ok_or_else(|| t.error(5, "an iana protocol number"))?;
    let mut r = ConnectionRecord {
        time: Some(t.unix_time(0, true)?),
        source: Endpoint {
            ip: Some(t.ip(1)?),
            port: Some(t.port(3)?),
            packets: t.count(9)?,
            bytes: t.count(10)?,
        },
        destination: Endpoint {
            ip: Some(t.ip(2)?),
            port: Some(t.port(4)?),
            packets: t.count(11)?,
            bytes: t.count(12)?,
        },
        transport: Some(transport),
        direction: Some(t.direction(6)?),
        action: Some(action),
        state,
        message: Some(text.to_string()),
        ..ConnectionRecord::default()
    };
    match t.get(8) {
        "" => return Err(t.error(8, "an encryption status")),
        encryption => r.set("azure.vnet_flow.encryption", encryption),
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{Direction, fixture};

    fixture::parser_tests!(FORMAT, insert = "[,\\]\\[{}\"0-9A-Z:.]{0,4}");

    /// The documentation's sample blob on one line, then a blob over three lines.
    fn valid_lines() -> Vec<String> {
        fixture::valid_lines(FORMAT)
    }

    fn ms(n: i64) -> Option<jiff::Timestamp> {
        Some(jiff::Timestamp::from_millisecond(n).unwrap())
    }

    #[test]
    fn the_documented_sample_gives_one_record_per_tuple() {
        let records = fixture::records(&mut AzureVnet, &valid_lines()[..1]);
        assert_eq!(records.len(), 19);
        let end = &records[1];
        assert_eq!(
            end.message.as_deref(),
            Some("1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX,3,767,2,1580")
        );
        assert_eq!(end.time, ms(1663146003606));
        assert_eq!(end.source.ip, Some("10.0.0.6".parse().unwrap()));
        assert_eq!(end.destination.ip, Some("52.239.184.180".parse().unwrap()));
        assert_eq!(
            (end.source.port, end.destination.port),
            (Some(23956), Some(443))
        );
        assert_eq!((end.source.packets, end.source.bytes), (Some(3), Some(767)));
        assert_eq!(
            (end.destination.packets, end.destination.bytes),
            (Some(2), Some(1580))
        );
        assert_eq!(end.transport, Some(Transport::Tcp));
        assert_eq!(end.direction, Some(Direction::Egress));
        assert_eq!(end.state, Some(FlowState::End));
        assert_eq!(end.action, Some(Action::Allow));
        assert_eq!(
            end.field("rule.name").as_deref(),
            Some("DefaultRule_AllowInternetOutBound")
        );
        assert_eq!(
            end.field("azure.vnet_flow.acl_id").as_deref(),
            Some("00000000-1234-abcd-ef00-c1c2c3c4c5c6")
        );
        assert_eq!(
            end.field("azure.vnet_flow.encryption").as_deref(),
            Some("NX")
        );
        assert_eq!(
            end.field("source.mac").as_deref(),
            Some("00-22-48-71-C2-05")
        );
        assert_eq!(end.field("azure.resource.name").as_deref(), Some("myVNet"));
        assert_eq!(
            end.field("azure.resource.group").as_deref(),
            Some("myResourceGroup")
        );
        assert!(
            end.field("azure.vnet_flow.flow_log_id")
                .unwrap()
                .ends_with("/FLOWLOGS/VNETFLOWLOG")
        );
    }

    #[test]
    fn state_d_is_a_denied_inbound_flow_without_a_state() {
        let records = fixture::records(&mut AzureVnet, &valid_lines()[..1]);
        let denied: Vec<_> = records
            .iter()
            .filter(|r| r.action == Some(Action::Deny))
            .collect();
        assert_eq!(denied.len(), 9);
        let d = denied[0];
        assert_eq!(d.state, None);
        assert_eq!(d.time, ms(1663145998065));
        assert_eq!(d.source.ip, Some("101.33.218.153".parse().unwrap()));
        assert_eq!(d.destination.port, Some(22));
        assert_eq!(d.direction, Some(Direction::Ingress));
        assert_eq!(
            d.field("destination.mac").as_deref(),
            Some("00-22-48-71-C2-05")
        );
        assert_eq!(
            d.field("rule.name").as_deref(),
            Some("BlockHighRiskTCPPortsFromInternet")
        );
        assert_eq!(denied[8].field("rule.name").as_deref(), Some("Internet"));
    }

    #[test]
    fn blob_lines_with_empty_begin_counts_and_second_timestamps_parse() {
        let records = fixture::records(&mut AzureVnet, &valid_lines()[1..]);
        assert_eq!(records.len(), 4);
        let b = &records[0];
        assert_eq!(b.state, Some(FlowState::Begin));
        assert_eq!((b.source.bytes, b.destination.packets), (None, None));
        // The documentation's bandwidth example writes seconds.
        assert_eq!(
            b.time,
            Some(jiff::Timestamp::from_second(1493763938).unwrap())
        );
        let c = &records[1];
        assert_eq!(
            (c.source.packets, c.source.bytes),
            (Some(1021), Some(588096))
        );
        assert_eq!(
            (c.destination.packets, c.destination.bytes),
            (Some(8005), Some(4610880))
        );
        assert_eq!(records[3].transport, Some(Transport::Udp));
        assert_eq!(
            records[3].field("azure.vnet_flow.encryption").as_deref(),
            Some("X")
        );
    }
}
