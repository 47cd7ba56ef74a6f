//! `aws-vpc`: AWS VPC flow log records, space-separated, in the default (version 2)
//! format or a custom field list: from the `fields` option, or from a header line naming
//! the fields (as in files delivered to S3), which sets the list for the lines after it.
//!
//! `-` is an absent value. A record covers one direction of a flow, so `packets` and
//! `bytes` were sent by `srcaddr` (`source.packets`, `source.bytes`). `@timestamp` is
//! `start`; `start` and `end` are also `event.start`/`event.end`. `NODATA` and `SKIPDATA`
//! records are skipped. The other fields go under `aws.vpcflow.*` with `-` made `_`,
//! the names Filebeat's aws module uses (`aws.vpcflow.interface_id`, `...tcp_flags`).

use super::fields::{Position, ip, not_a, number, parse, port};
use super::{
    Action, ConnectionRecord, Direction, LineParser, Outcome, ParseError, Transport, excerpt,
};

const FORMAT: &str = "aws-vpc";

/// What a field is read into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    SrcAddr,
    DstAddr,
    SrcPort,
    DstPort,
    Protocol,
    Packets,
    Bytes,
    Start,
    End,
    Action,
    LogStatus,
    FlowDirection,
    /// Kept under the name given, checked to be an IP address.
    ExtraIp(&'static str),
    /// Kept under the name given.
    Extra(&'static str),
}

/// Every field AWS defines, in the order of its documentation, with where it goes.
const FIELDS: &[(&str, Role)] = &[
    ("version", Role::Extra("aws.vpcflow.version")),
    ("account-id", Role::Extra("aws.vpcflow.account_id")),
    ("interface-id", Role::Extra("aws.vpcflow.interface_id")),
    ("srcaddr", Role::SrcAddr),
    ("dstaddr", Role::DstAddr),
    ("srcport", Role::SrcPort),
    ("dstport", Role::DstPort),
    ("protocol", Role::Protocol),
    ("packets", Role::Packets),
    ("bytes", Role::Bytes),
    ("start", Role::Start),
    ("end", Role::End),
    ("action", Role::Action),
    ("log-status", Role::LogStatus),
    ("vpc-id", Role::Extra("aws.vpcflow.vpc_id")),
    ("subnet-id", Role::Extra("aws.vpcflow.subnet_id")),
    ("instance-id", Role::Extra("aws.vpcflow.instance_id")),
    ("tcp-flags", Role::Extra("aws.vpcflow.tcp_flags")),
    ("type", Role::Extra("aws.vpcflow.type")),
    ("pkt-srcaddr", Role::ExtraIp("aws.vpcflow.pkt_srcaddr")),
    ("pkt-dstaddr", Role::ExtraIp("aws.vpcflow.pkt_dstaddr")),
    ("region", Role::Extra("aws.vpcflow.region")),
    ("az-id", Role::Extra("aws.vpcflow.az_id")),
    (
        "sublocation-type",
        Role::Extra("aws.vpcflow.sublocation_type"),
    ),
    ("sublocation-id", Role::Extra("aws.vpcflow.sublocation_id")),
    (
        "pkt-src-aws-service",
        Role::Extra("aws.vpcflow.pkt_src_aws_service"),
    ),
    (
        "pkt-dst-aws-service",
        Role::Extra("aws.vpcflow.pkt_dst_aws_service"),
    ),
    ("flow-direction", Role::FlowDirection),
    ("traffic-path", Role::Extra("aws.vpcflow.traffic_path")),
    (
        "ecs-cluster-arn",
        Role::Extra("aws.vpcflow.ecs_cluster_arn"),
    ),
    (
        "ecs-cluster-name",
        Role::Extra("aws.vpcflow.ecs_cluster_name"),
    ),
    (
        "ecs-container-instance-arn",
        Role::Extra("aws.vpcflow.ecs_container_instance_arn"),
    ),
    (
        "ecs-container-instance-id",
        Role::Extra("aws.vpcflow.ecs_container_instance_id"),
    ),
    (
        "ecs-container-id",
        Role::Extra("aws.vpcflow.ecs_container_id"),
    ),
    (
        "ecs-second-container-id",
        Role::Extra("aws.vpcflow.ecs_second_container_id"),
    ),
    (
        "ecs-service-name",
        Role::Extra("aws.vpcflow.ecs_service_name"),
    ),
    (
        "ecs-task-definition-arn",
        Role::Extra("aws.vpcflow.ecs_task_definition_arn"),
    ),
    ("ecs-task-arn", Role::Extra("aws.vpcflow.ecs_task_arn")),
    ("ecs-task-id", Role::Extra("aws.vpcflow.ecs_task_id")),
    ("reject-reason", Role::Extra("aws.vpcflow.reject_reason")),
    ("resource-id", Role::Extra("aws.vpcflow.resource_id")),
    (
        "encryption-status",
        Role::Extra("aws.vpcflow.encryption_status"),
    ),
];

/// The default format: the version 2 fields, the first fourteen.
const DEFAULT_FIELDS: usize = 14;

/// The parser for one source: the field list in force.
pub struct AwsVpc {
    /// Indexes into [`FIELDS`], in the order of the record's fields.
    fields: Vec<usize>,
}

impl AwsVpc {
    /// A parser for the given field list (names as AWS spells them, `${...}` allowed,
    /// several to a string), or for the default format.
    pub fn new(fields: Option<&[String]>) -> Result<AwsVpc, ParseError> {
        let fields = match fields {
            None => (0..DEFAULT_FIELDS).collect(),
            Some(list) => {
                let fields = field_list(list.iter().flat_map(|s| s.split_ascii_whitespace()))?;
                if fields.is_empty() {
                    return Err(ParseError::new(FORMAT, "fields is empty"));
                }
                fields
            }
        };
        Ok(AwsVpc { fields })
    }
}

/// The field names' indexes into [`FIELDS`]; an unknown or repeated name is an error.
fn field_list<'a>(names: impl Iterator<Item = &'a str>) -> Result<Vec<usize>, ParseError> {
    let mut fields = Vec::new();
    for token in names {
        let Some(i) = field_index(token) else {
            let valid: Vec<&str> = FIELDS.iter().map(|(name, _)| *name).collect();
            return Err(ParseError::new(
                FORMAT,
                format!(
                    "unknown field {}; valid fields: {}",
                    excerpt(token),
                    valid.join(" ")
                ),
            ));
        };
        if fields.contains(&i) {
            return Err(ParseError::new(
                FORMAT,
                format!("field {} is named twice", excerpt(token)),
            ));
        }
        fields.push(i);
    }
    Ok(fields)
}

/// A field's index by name, bare or as `${name}`.
fn field_index(token: &str) -> Option<usize> {
    let name = token
        .strip_prefix("${")
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(token);
    FIELDS.iter().position(|(n, _)| *n == name)
}

impl LineParser for AwsVpc {
    fn parse(
        &mut self,
        line: &str,
        out: &mut Vec<ConnectionRecord>,
    ) -> Result<Outcome, ParseError> {
        let Some(first) = line.split_ascii_whitespace().next() else {
            return Err(ParseError::new(FORMAT, "empty line"));
        };
        // No value of any field is a field name, so a line starting with one is a header.
        if field_index(first).is_some() {
            self.fields = field_list(line.split_ascii_whitespace())?;
            return Ok(Outcome::Header);
        }
        self.read(line, out)
            .map_err(|reason| ParseError::new(FORMAT, reason))
    }
}

impl AwsVpc {
    /// Reads a record in the field list in force.
    fn read(&self, line: &str, out: &mut Vec<ConnectionRecord>) -> Result<Outcome, String> {
        let found = line.split_ascii_whitespace().count();
        if found != self.fields.len() {
            return Err(format!(
                "expected {} fields ({}), found {found}",
                self.fields.len(),
                self.names()
            ));
        }
        let at = |n: usize| Position {
            n,
            name: FIELDS
                .get(self.fields.get(n).copied().unwrap_or_default())
                .map_or("?", |f| f.0),
        };
        // NODATA and SKIPDATA records have `-` for most fields: look before reading them.
        let status = self
            .fields
            .iter()
            .position(|&i| FIELDS.get(i).map(|f| f.1) == Some(Role::LogStatus));
        if let Some(n) = status {
            match line.split_ascii_whitespace().nth(n) {
                Some("NODATA") => return Ok(Outcome::Skipped("nodata")),
                Some("SKIPDATA") => return Ok(Outcome::Skipped("skipdata")),
                Some("OK" | "-") => {}
                Some(other) => return Err(not_a(at(n), "ok, nodata or skipdata", other)),
                None => {}
            }
        }
        let mut r = ConnectionRecord::default();
        for (n, (&i, value)) in self
            .fields
            .iter()
            .zip(line.split_ascii_whitespace())
            .enumerate()
        {
            if value == "-" {
                continue;
            }
            let f = at(n);
            match FIELDS.get(i).map(|f| f.1) {
                Some(Role::SrcAddr) => r.source.ip = Some(ip(f, value)?),
                Some(Role::DstAddr) => r.destination.ip = Some(ip(f, value)?),
                Some(Role::SrcPort) => r.source.port = Some(port(f, value)?),
                Some(Role::DstPort) => r.destination.port = Some(port(f, value)?),
                Some(Role::Protocol) => {
                    let number: u8 = parse(f, value, "an iana protocol number")?;
                    r.transport = Some(Transport::from_number(number));
                }
                Some(Role::Packets) => r.source.packets = Some(number(f, value)?),
                Some(Role::Bytes) => r.source.bytes = Some(number(f, value)?),
                Some(Role::Start) => {
                    let t = unix_seconds(f, value)?;
                    r.time = Some(t);
                    r.set("event.start", t.to_string());
                }
                Some(Role::End) => r.set("event.end", unix_seconds(f, value)?.to_string()),
                Some(Role::Action) => {
                    r.action = Some(match value {
                        "ACCEPT" => Action::Allow,
                        "REJECT" => Action::Deny,
                        _ => return Err(not_a(f, "accept or reject", value)),
                    });
                    r.set("aws.vpcflow.action", value);
                }
                Some(Role::LogStatus) => r.set("aws.vpcflow.log_status", value),
                Some(Role::FlowDirection) => {
                    r.direction = Some(match value {
                        "ingress" => Direction::Ingress,
                        "egress" => Direction::Egress,
                        _ => return Err(not_a(f, "ingress or egress", value)),
                    });
                }
                Some(Role::ExtraIp(name)) => r.set(name, ip(f, value)?.to_string()),
                Some(Role::Extra(name)) => r.set(name, value),
                None => {}
            }
        }
        out.push(r);
        Ok(Outcome::Records)
    }

    fn names(&self) -> String {
        let names: Vec<&str> = self
            .fields
            .iter()
            .filter_map(|&i| FIELDS.get(i).map(|f| f.0))
            .collect();
        names.join(" ")
    }
}

/// `start` and `end`: Unix seconds.
fn unix_seconds(f: Position, value: &str) -> Result<jiff::Timestamp, String> {
    let seconds: i64 = parse(f, value, "unix seconds")?;
    jiff::Timestamp::from_second(seconds).map_err(|_| not_a(f, "a time in range", value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::fixture;

    // valid.log: five lines in the default format (the third NODATA, the fourth
    // SKIPDATA), then a header naming custom fields and two lines in them.
    fixture::parser_tests!(FORMAT, insert = "[ 0-9a-z.:${}-]{0,4}");

    fn parse_with(
        p: &mut AwsVpc,
        line: &str,
    ) -> Result<(Outcome, Vec<ConnectionRecord>), ParseError> {
        fixture::parse(p, line)
    }

    fn default_parser() -> AwsVpc {
        AwsVpc::new(None).unwrap()
    }

    fn ts(s: i64) -> Option<jiff::Timestamp> {
        Some(jiff::Timestamp::from_second(s).unwrap())
    }

    #[test]
    fn default_format_records_are_read_by_position() {
        let mut p = default_parser();
        let lines = fixture::valid_lines(FORMAT);
        let (outcome, records) = parse_with(&mut p, &lines[0]).unwrap();
        assert_eq!(outcome, Outcome::Records);
        let r = &records[0];
        assert_eq!(r.source.ip, Some("172.31.16.139".parse().unwrap()));
        assert_eq!(r.destination.ip, Some("172.31.16.21".parse().unwrap()));
        assert_eq!((r.source.port, r.destination.port), (Some(20641), Some(22)));
        assert_eq!(r.transport, Some(Transport::Tcp));
        assert_eq!((r.source.packets, r.source.bytes), (Some(20), Some(4249)));
        assert_eq!(r.destination.bytes, None);
        assert_eq!(r.total_bytes(), Some(4249));
        assert_eq!(r.time, ts(1418530010));
        assert_eq!(
            r.field("event.end").as_deref(),
            Some("2014-12-14T04:07:50Z")
        );
        assert_eq!(r.action, Some(Action::Allow));
        assert_eq!(
            r.field("aws.vpcflow.account_id").as_deref(),
            Some("123456789010")
        );
        assert_eq!(
            r.field("aws.vpcflow.interface_id").as_deref(),
            Some("eni-1235b8ca123456789")
        );
        assert_eq!(r.field("aws.vpcflow.version").as_deref(), Some("2"));
        assert_eq!(r.field("aws.vpcflow.log_status").as_deref(), Some("OK"));
        assert_eq!(r.direction, None);

        let (_, rejected) = parse_with(&mut p, &lines[1]).unwrap();
        assert_eq!(rejected[0].action, Some(Action::Deny));
        assert_eq!(rejected[0].destination.port, Some(3389));

        let (_, v6) = parse_with(&mut p, &lines[4]).unwrap();
        assert_eq!(
            v6[0].source.ip,
            Some("2001:db8:1234:a100:8d6e:3477:df66:f105".parse().unwrap())
        );
        assert_eq!(v6[0].transport, Some(Transport::Ipv6Icmp));
        assert_eq!(v6[0].source.port, Some(0));
    }

    #[test]
    fn nodata_and_skipdata_records_are_skipped() {
        let mut p = default_parser();
        let lines = fixture::valid_lines(FORMAT);
        assert_eq!(
            parse_with(&mut p, &lines[2]).unwrap(),
            (Outcome::Skipped("nodata"), vec![])
        );
        assert_eq!(
            parse_with(&mut p, &lines[3]).unwrap(),
            (Outcome::Skipped("skipdata"), vec![])
        );
    }

    #[test]
    fn a_header_line_sets_the_fields_of_the_lines_after_it() {
        let mut p = default_parser();
        let lines = fixture::valid_lines(FORMAT);
        let mut lines = lines[5..].iter();
        assert_eq!(
            parse_with(&mut p, lines.next().unwrap()).unwrap(),
            (Outcome::Header, vec![])
        );
        let (_, records) = parse_with(&mut p, lines.next().unwrap()).unwrap();
        let r = &records[0];
        assert_eq!(r.source.ip, Some("10.40.1.175".parse().unwrap()));
        assert_eq!(r.destination.ip, Some("10.40.2.236".parse().unwrap()));
        assert_eq!(r.direction, Some(Direction::Ingress));
        assert_eq!(r.action, Some(Action::Allow));
        assert_eq!(r.field("aws.vpcflow.tcp_flags").as_deref(), Some("3"));
        assert_eq!(
            r.field("aws.vpcflow.pkt_srcaddr").as_deref(),
            Some("10.20.33.164")
        );
        assert_eq!(
            r.field("aws.vpcflow.pkt_dstaddr").as_deref(),
            Some("10.40.2.236")
        );
        assert_eq!(
            r.field("aws.vpcflow.vpc_id").as_deref(),
            Some("vpc-abcdefab012345678")
        );
        assert_eq!(
            r.field("aws.vpcflow.subnet_id").as_deref(),
            Some("subnet-aaaaaaaa012345678")
        );
        assert_eq!(
            r.field("aws.vpcflow.instance_id").as_deref(),
            Some("i-01234567890123456")
        );
        assert_eq!(r.field("aws.vpcflow.type").as_deref(), Some("IPv4"));
        assert_eq!(r.field("aws.vpcflow.region").as_deref(), Some("us-east-1"));
        assert_eq!(r.field("aws.vpcflow.az_id").as_deref(), Some("use1-az1"));
        assert_eq!(r.field("aws.vpcflow.traffic_path"), None, "`-` is absent");
        let (_, records) = parse_with(&mut p, lines.next().unwrap()).unwrap();
        let r = &records[0];
        assert_eq!(r.direction, Some(Direction::Egress));
        assert_eq!(r.field("aws.vpcflow.traffic_path").as_deref(), Some("8"));
        assert_eq!(
            r.field("aws.vpcflow.pkt_dst_aws_service").as_deref(),
            Some("S3")
        );
        assert_eq!(r.time, ts(1620140661));
    }

    #[test]
    fn configured_fields_accept_aws_console_spelling() {
        let fields = vec![
            "${version} ${interface-id}".to_string(),
            "srcaddr".into(),
            "${dstaddr}".into(),
        ];
        let mut p = AwsVpc::new(Some(&fields)).unwrap();
        let (_, records) = parse_with(&mut p, "5 eni-0123 10.0.0.1 10.0.0.2").unwrap();
        assert_eq!(records[0].destination.ip, Some("10.0.0.2".parse().unwrap()));
        assert_eq!(
            records[0].field("aws.vpcflow.interface_id").as_deref(),
            Some("eni-0123")
        );
    }

    #[test]
    fn unknown_configured_fields_are_named_with_the_valid_ones() {
        let err = AwsVpc::new(Some(&["version".into(), "src-addr".into()]))
            .err()
            .unwrap();
        assert!(
            err.reason
                .starts_with("unknown field \"src-addr\"; valid fields: version account-id"),
            "{}",
            err.reason
        );
        assert!(err.reason.ends_with("encryption-status"));
        let err = AwsVpc::new(Some(&["srcaddr srcaddr".into()]))
            .err()
            .unwrap();
        assert_eq!(err.reason, "field \"srcaddr\" is named twice");
        assert!(AwsVpc::new(Some(&[])).is_err());
    }

    #[test]
    fn build_takes_fields_for_aws_vpc_and_refuses_them_for_azure() {
        use crate::parse::{Format, ParserSpec};
        let spec = |format, fields: Option<Vec<String>>| ParserSpec {
            format,
            fields,
            pattern: None,
        };
        let fields = Some(vec!["srcaddr dstaddr".to_string()]);
        let mut p = spec(Format::AwsVpc, fields.clone()).build().unwrap();
        let mut out = Vec::new();
        p.parse("10.0.0.1 10.0.0.2", &mut out).unwrap();
        assert_eq!(out[0].source.ip, Some("10.0.0.1".parse().unwrap()));
        let err = spec(Format::AwsVpc, Some(vec!["srcip".into()]))
            .build()
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .starts_with("aws-vpc: unknown field \"srcip\"")
        );
        let err = spec(Format::AzureNsg, fields).build().err().unwrap();
        assert_eq!(
            err.to_string(),
            "azure-nsg: the `fields` option does not apply to this format"
        );
        let mut nsg = ParserSpec {
            pattern: Some("x".into()),
            ..spec(Format::AzureVnet, None)
        };
        assert!(nsg.build().is_err());
        nsg.pattern = None;
        assert!(nsg.build().is_ok());
    }
}
