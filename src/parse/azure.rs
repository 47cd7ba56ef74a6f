//! What the Azure flow-log formats (`azure-nsg`, `azure-vnet`, and for the MAC
//! `azure-traffic-analytics`) share: the `PT1H.json` blob envelope around the records
//! ([`parse_line`]), comma-separated flow tuples ([`Tuple`]), and the fields written
//! for a resource id and a MAC address. Never reads the blob itself: lines come in.

use std::borrow::Cow;
use std::net::IpAddr;
use std::str::FromStr;

use serde::Deserialize;
use serde_json::Value;

use super::fields::{Position, not_a};
use super::{ConnectionRecord, Direction, Outcome, ParseError, excerpt};

/// Fields written into every record of a blob record (its resource's).
pub(super) type Common = Vec<(Cow<'static, str>, Value)>;

/// Parses one line of a blob into `out`: `each` appends the records of one blob record
/// (one per flow tuple). A line with an error leaves `out` as it was.
pub(super) fn parse_line<'a, R: Deserialize<'a>>(
    format: &'static str,
    line: &'a str,
    out: &mut Vec<ConnectionRecord>,
    mut each: impl FnMut(R, &mut Vec<ConnectionRecord>) -> Result<(), ParseError>,
) -> Result<Outcome, ParseError> {
    let start = out.len();
    let result = for_each_record(format, line, |record| each(record, out));
    if result.is_err() {
        out.truncate(start);
    }
    result.map(|()| Outcome::Records)
}

/// What a blob record says about each of its tuples' records: the `common` fields, the
/// rule the tuple is listed under and the MAC of the NIC it was captured at.
pub(super) fn annotate(
    r: &mut ConnectionRecord,
    common: &[(Cow<'static, str>, Value)],
    rule: Option<&str>,
    mac: Option<&str>,
) {
    r.extra.extend_from_slice(common);
    if let Some(rule) = rule {
        r.set("rule.name", rule);
    }
    if let Some(mac) = mac {
        set_mac(r, mac);
    }
}

/// Calls `each` with every record on one line of a `PT1H.json` blob. Azure writes a blob
/// as `{"records":[`, the records joined by a line break and a comma, then `]}`; so a line
/// holds a whole blob, or one record with a leading `,` or the blob's opening before it
/// and its closing after it. A record that does not parse is an error naming it.
fn for_each_record<'a, R: Deserialize<'a>>(
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
        let field = Position {
            n: i,
            name: self.names.get(i).copied().unwrap_or("?"),
        };
        ParseError::new(
            self.format,
            format!(
                "flow tuple {}: {}",
                excerpt(self.text),
                not_a(field, expected, self.get(i))
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
pub(super) fn resource_fields(id: Option<&str>) -> Common {
    let mut extra = Common::new();
    let Some(id) = id else {
        return extra;
    };
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
    extra
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
fn ecs_mac(mac: &str) -> String {
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

    #[test]
    fn macs_are_written_as_ecs_says() {
        assert_eq!(ecs_mac("000d3af87856"), "00-0D-3A-F8-78-56");
        assert_eq!(ecs_mac("00:0D:3A:F8:78:56"), "00-0D-3A-F8-78-56");
        assert_eq!(ecs_mac("nope"), "nope");
    }
}
