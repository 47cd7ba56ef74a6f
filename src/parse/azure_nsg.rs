//! `azure-nsg`: Azure network security group flow logs, versions 1 and 2, as Network
//! Watcher writes them to `PT1H.json` blobs; one record per flow tuple.
//!
//! Also owns what the Azure flow-log formats share: the blob envelope around the records
//! ([`for_each_record`]), comma-separated flow tuples ([`Tuple`]) and the names written
//! for a resource id and a MAC address. Never reads the blob itself: lines come in.
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
use std::net::IpAddr;
use std::str::FromStr;

use serde::Deserialize;
use serde_json::Value;

use super::{
    Action, ConnectionRecord, Direction, Endpoint, FlowState, LineParser, Outcome, ParseError,
    Transport, excerpt,
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
        let start = out.len();
        let result = for_each_record(FORMAT, line, |record: Record| {
            let mut common = Vec::new();
            if let Some(id) = &record.resource_id {
                set_resource(&mut common, id);
            }
            for group in &record.properties.flows {
                for nic in &group.flows {
                    for tuple in &nic.flow_tuples {
                        let mut r = tuple_record(tuple)?;
                        r.extra.extend_from_slice(&common);
                        if let Some(rule) = &group.rule {
                            r.set("rule.name", rule.as_ref());
                        }
                        if let Some(mac) = &nic.mac {
                            set_mac(&mut r, mac);
                        }
                        out.push(r);
                    }
                }
            }
            Ok(())
        });
        if result.is_err() {
            out.truncate(start);
        }
        result.map(|()| Outcome::Records)
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

/// Calls `each` with every record on one line of a `PT1H.json` blob. Azure writes a blob
/// as `{"records":[`, the records joined by a line break and a comma, then `]}`; so a line
/// holds a whole blob, or one record with a leading `,` or the blob's opening before it
/// and its closing after it. A record that does not parse is an error naming it.
pub(super) fn for_each_record<'a, R: Deserialize<'a>>(
    format: &'static str,
    line: &'a str,
    mut each: impl FnMut(R) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    let mut rest = strip_blob_start(line.trim());
    let mut n = 0;
    loop {
        rest = rest.trim_start();
        if is_blob_end(rest) {
            return Ok(());
        }
        match rest.strip_prefix(',') {
            Some(after) => rest = after.trim_start(),
            None if n > 0 => {
                return Err(ParseError::new(
                    format,
                    format!("expected ',' after record {n}, found {}", excerpt(rest)),
                ));
            }
            None => {}
        }
        n += 1;
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<R>();
        match stream.next() {
            Some(Ok(record)) => {
                rest = rest.get(stream.byte_offset()..).unwrap_or_default();
                each(record)?;
            }
            Some(Err(e)) => {
                return Err(ParseError::new(format, format!("record {n}: {e}")));
            }
            None => {
                return Err(ParseError::new(format, format!("record {n} is missing")));
            }
        }
    }
}

/// `{"records":[` (with any spacing) cut off the front, if it is there.
fn strip_blob_start(line: &str) -> &str {
    line.strip_prefix('{')
        .and_then(|r| r.trim_start().strip_prefix("\"records\""))
        .and_then(|r| r.trim_start().strip_prefix(':'))
        .and_then(|r| r.trim_start().strip_prefix('['))
        .unwrap_or(line)
}

/// Nothing, or what is left of the blob's closing `]}`.
fn is_blob_end(rest: &str) -> bool {
    let r = rest.strip_prefix(']').map_or(rest, str::trim_start);
    r.strip_prefix('}').unwrap_or(r).trim().is_empty()
}

/// The most fields a flow tuple of any Azure format has.
const MAX_TUPLE_FIELDS: usize = 13;

/// A comma-separated flow tuple, its fields read by position with errors that name the
/// tuple, the field's number (from 1) and name, and the value.
pub(super) struct Tuple<'a> {
    format: &'static str,
    text: &'a str,
    names: &'static [&'static str],
    fields: [&'a str; MAX_TUPLE_FIELDS],
    len: usize,
}

impl<'a> Tuple<'a> {
    pub(super) fn split(
        format: &'static str,
        text: &'a str,
        names: &'static [&'static str],
    ) -> Self {
        let mut fields = [""; MAX_TUPLE_FIELDS];
        let mut len = 0;
        for (i, field) in text.split(',').enumerate() {
            if let Some(slot) = fields.get_mut(i) {
                *slot = field.trim();
            }
            len = i + 1;
        }
        Tuple {
            format,
            text,
            names,
            fields,
            len,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn get(&self, i: usize) -> &'a str {
        self.fields.get(i).copied().unwrap_or_default()
    }

    pub(super) fn count_error(&self, expected: &str) -> ParseError {
        ParseError::new(
            self.format,
            format!(
                "flow tuple {} has {} fields, expected {expected}",
                excerpt(self.text),
                self.len
            ),
        )
    }

    pub(super) fn error(&self, i: usize, expected: &str) -> ParseError {
        ParseError::new(
            self.format,
            format!(
                "flow tuple {}: field {} ({}) is not {expected}: {}",
                excerpt(self.text),
                i + 1,
                self.names.get(i).copied().unwrap_or("?"),
                excerpt(self.get(i))
            ),
        )
    }

    pub(super) fn number<T: FromStr>(&self, i: usize) -> Result<T, ParseError> {
        self.get(i)
            .parse()
            .map_err(|_| self.error(i, "a number in range"))
    }

    pub(super) fn ip(&self, i: usize) -> Result<IpAddr, ParseError> {
        self.get(i)
            .parse()
            .map_err(|_| self.error(i, "an ip address"))
    }

    pub(super) fn port(&self, i: usize) -> Result<u16, ParseError> {
        self.get(i).parse().map_err(|_| self.error(i, "a port"))
    }

    /// A packet or byte count; empty is unknown (a `B` tuple has none).
    pub(super) fn count(&self, i: usize) -> Result<Option<u64>, ParseError> {
        match self.get(i) {
            "" => Ok(None),
            _ => self.number(i).map(Some),
        }
    }

    /// Unix time in seconds; with `millis`, in milliseconds unless the number is too
    /// small to be (below 10^11, i.e. before March 1973 in milliseconds).
    pub(super) fn unix_time(&self, i: usize, millis: bool) -> Result<jiff::Timestamp, ParseError> {
        let n: i64 = self.number(i)?;
        let t = if millis && n.unsigned_abs() >= 100_000_000_000 {
            jiff::Timestamp::from_millisecond(n)
        } else {
            jiff::Timestamp::from_second(n)
        };
        t.map_err(|_| self.error(i, "a time in range"))
    }

    /// `I`/`O`: into or out of the NIC (or NSG) the flow was logged at.
    pub(super) fn direction(&self, i: usize) -> Result<Direction, ParseError> {
        match self.get(i) {
            "I" => Ok(Direction::Ingress),
            "O" => Ok(Direction::Egress),
            _ => Err(self.error(i, "i (inbound) or o (outbound)")),
        }
    }
}

/// `azure.resource.id` and what can be read from it: `/SUBSCRIPTIONS/<id>/RESOURCEGROUPS/
/// <group>/PROVIDERS/<namespace>/<type>/<name>`.
pub(super) fn set_resource(extra: &mut Vec<(Cow<'static, str>, Value)>, id: &str) {
    extra.push(("azure.resource.id".into(), id.into()));
    let mut parts = id.split('/').filter(|p| !p.is_empty());
    let mut has_provider = false;
    while let Some(part) = parts.next() {
        if part.eq_ignore_ascii_case("subscriptions") {
            if let Some(sub) = parts.next() {
                extra.push(("azure.subscription_id".into(), sub.into()));
            }
        } else if part.eq_ignore_ascii_case("resourcegroups") {
            if let Some(group) = parts.next() {
                extra.push(("azure.resource.group".into(), group.into()));
            }
        } else if part.eq_ignore_ascii_case("providers") {
            has_provider = true;
        }
    }
    if has_provider && let Some(name) = id.rsplit('/').find(|p| !p.is_empty()) {
        extra.push(("azure.resource.name".into(), name.into()));
    }
}

/// The MAC of the NIC a flow was captured at: the destination's for inbound flows, the
/// source's for outbound ones.
pub(super) fn set_mac(r: &mut ConnectionRecord, mac: &str) {
    let name = match r.direction {
        Some(Direction::Ingress) => "destination.mac",
        _ => "source.mac",
    };
    r.set(name, ecs_mac(mac));
}

/// `000D3AF87856` or `00:0d:3a:f8:78:56` as ECS writes MACs: `00-0D-3A-F8-78-56`.
/// Anything that is not six octets is kept as it is.
pub(super) fn ecs_mac(mac: &str) -> String {
    let hex: Vec<u8> = mac.bytes().filter(|b| !matches!(b, b'-' | b':')).collect();
    if hex.len() != 12 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return mac.to_string();
    }
    let mut s = String::with_capacity(17);
    for (i, pair) in hex.chunks(2).enumerate() {
        if i > 0 {
            s.push('-');
        }
        for b in pair {
            s.push(b.to_ascii_uppercase() as char);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const V1: &str = include_str!("../../tests/fixtures/parse/azure-nsg/v1.json");
    const V2: &str = include_str!("../../tests/fixtures/parse/azure-nsg/v2-lines.json");
    const MALFORMED: &str = include_str!("../../tests/fixtures/parse/azure-nsg/malformed.json");

    fn parse(line: &str) -> Result<Vec<ConnectionRecord>, ParseError> {
        let mut out = Vec::new();
        AzureNsg.parse(line, &mut out).map(|_| out)
    }

    fn parse_all(text: &str) -> Vec<ConnectionRecord> {
        text.lines().flat_map(|l| parse(l).unwrap()).collect()
    }

    fn ts(s: i64) -> Option<jiff::Timestamp> {
        Some(jiff::Timestamp::from_second(s).unwrap())
    }

    #[test]
    fn v1_blob_on_one_line_gives_one_record_per_tuple() {
        let records = parse_all(V1);
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
        let records = parse_all(V2);
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
        let records = parse_all(V2);
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
        let lines: Vec<&str> = V2.lines().collect();
        assert!(lines[0].starts_with("{\"records\":["));
        assert!(lines[1].starts_with(','));
        assert!(lines[2].ends_with("]}"));
        for line in &lines {
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

    #[test]
    fn malformed_lines_are_errors_that_say_what_and_where() {
        let expected = [
            "record 1: EOF while parsing",
            "has 9 fields, expected 8 (version 1) or 13 (version 2)",
            "field 2 (source ip) is not an ip address: \"10.0.0.999\"",
            "field 5 (destination port) is not a port: \"70000\"",
            "field 11 (bytes sent) is not a number in range: \"184467440737095516160\"",
            "field 7 (direction) is not i (inbound) or o (outbound): \"X\"",
            "field 1 (time) is not a number in range: \"soon\"",
            "record 1: missing field `properties`",
            "expected ',' after record 1",
        ];
        let lines: Vec<&str> = MALFORMED.lines().collect();
        assert_eq!(lines.len(), expected.len());
        for (line, want) in lines.iter().zip(expected) {
            let mut out = Vec::new();
            let err = AzureNsg.parse(line, &mut out).unwrap_err();
            assert_eq!(err.format, "azure-nsg");
            assert!(
                err.reason.contains(want),
                "{:?} does not contain {want:?}",
                err.reason
            );
            assert!(!err.reason.contains('\n'));
            assert!(out.is_empty(), "a failed line leaves no records behind");
        }
    }

    #[test]
    fn macs_are_written_as_ecs_says() {
        assert_eq!(ecs_mac("000d3af87856"), "00-0D-3A-F8-78-56");
        assert_eq!(ecs_mac("00:0D:3A:F8:78:56"), "00-0D-3A-F8-78-56");
        assert_eq!(ecs_mac("nope"), "nope");
    }

    fn mutated(line: &str, at: usize, cut: usize, insert: &str) -> String {
        let mut s: Vec<char> = line.chars().collect();
        let at = at % (s.len() + 1);
        let end = (at + cut % 8).min(s.len());
        s.splice(at..end, insert.chars());
        s.into_iter().collect()
    }

    proptest! {
        #[test]
        fn never_panics_on_any_line(line in "\\PC{0,300}") {
            let _ = AzureNsg.parse(&line, &mut Vec::new());
        }

        #[test]
        fn never_panics_on_mutated_blob_lines(
            which in 0usize..3, at in any::<usize>(), cut in any::<usize>(), insert in "[,\\]\\[{}\"0-9A-Z:.]{0,4}"
        ) {
            let line = V2.lines().nth(which).unwrap_or_default();
            let _ = AzureNsg.parse(&mutated(line, at, cut, &insert), &mut Vec::new());
        }
    }
}
