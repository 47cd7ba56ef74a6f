//! `pattern`: any line format, from a regular expression whose named captures are the
//! record's dotted field names: `(?P<source.ip>\S+) (?P<destination.port>\d+)`.
//!
//! The connection fields are typed and checked (`source.ip`, `source.port`,
//! `source.bytes`, `source.packets`, the same for `destination`, `network.transport`,
//! `network.bytes`, `network.packets`, `event.action` as allow/deny words, `@timestamp`
//! as RFC 3339 or unix seconds); any other name is kept as a string field. Group names
//! cannot hold `@`, so `@timestamp` may be written `(?P<@timestamp>...)` (rewritten
//! here) or `(?P<timestamp>...)`.

use regex::Regex;

use super::cef::action_of;
use super::conntrack::unix_time;
use super::fields::{ip, not_a, number};
use super::{
    ConnectionRecord, Endpoint, LineParser, Outcome, ParseError, Transport, excerpt as quote,
};

const FORMAT: &str = "pattern";

/// Top-level names the input owns (as in the record); a capture may not be one.
const RESERVED: &[&str] = &[
    "message", "log", "host", "agent", "input", "ecs", "tags", "fields",
];

/// What a named capture is read as.
#[derive(Debug, Clone)]
enum Field {
    Ip(Side),
    Port(Side),
    Bytes(Side),
    Packets(Side),
    Transport,
    NetworkBytes,
    NetworkPackets,
    Action,
    Time,
    Extra(String),
}

#[derive(Debug, Clone, Copy)]
enum Side {
    Source,
    Destination,
}

/// The `pattern` parser: a compiled expression and what each capture is.
#[derive(Debug)]
pub struct Pattern {
    regex: Regex,
    fields: Vec<(usize, Field)>,
}

impl Pattern {
    pub fn new(pattern: &str) -> Result<Pattern, ParseError> {
        let error = |reason: String| ParseError::new(FORMAT, reason);
        let rewritten = pattern
            .replace("(?P<@timestamp>", "(?P<timestamp>")
            .replace("(?<@timestamp>", "(?<timestamp>");
        let regex = Regex::new(&rewritten).map_err(|e| {
            let first = e.to_string().lines().last().unwrap_or_default().to_string();
            error(format!("the pattern does not compile: {first}"))
        })?;
        let mut fields = Vec::new();
        for (i, name) in regex.capture_names().enumerate() {
            let Some(name) = name else { continue };
            let top = name.split('.').next().unwrap_or_default();
            if RESERVED.contains(&top) {
                return Err(error(format!("capture {name} is a field the input sets")));
            }
            fields.push((i, field_of(name)));
        }
        if fields.is_empty() {
            return Err(error("the pattern has no named capture".into()));
        }
        Ok(Pattern { regex, fields })
    }
}

fn field_of(name: &str) -> Field {
    let side = |s: &str| match s {
        "source" => Some(Side::Source),
        "destination" => Some(Side::Destination),
        _ => None,
    };
    let (head, tail) = name.split_once('.').unwrap_or((name, ""));
    match (side(head), tail, name) {
        (Some(s), "ip", _) => Field::Ip(s),
        (Some(s), "port", _) => Field::Port(s),
        (Some(s), "bytes", _) => Field::Bytes(s),
        (Some(s), "packets", _) => Field::Packets(s),
        (_, _, "network.transport") => Field::Transport,
        (_, _, "network.bytes") => Field::NetworkBytes,
        (_, _, "network.packets") => Field::NetworkPackets,
        (_, _, "event.action") => Field::Action,
        (_, _, "timestamp") => Field::Time,
        _ => Field::Extra(name.to_string()),
    }
}

impl LineParser for Pattern {
    fn parse(
        &mut self,
        line: &str,
        out: &mut Vec<ConnectionRecord>,
    ) -> Result<Outcome, ParseError> {
        let error = |reason: String| ParseError::new(FORMAT, reason);
        let caps = self.regex.captures(line).ok_or_else(|| {
            error(format!(
                "the line does not match the pattern: {}",
                quote(line)
            ))
        })?;
        let mut r = ConnectionRecord::default();
        for (i, field) in &self.fields {
            if let Some(m) = caps.get(*i) {
                read(field, m.as_str(), &mut r).map_err(error)?;
            }
        }
        out.push(r);
        Ok(Outcome::Records)
    }
}

fn read(field: &Field, value: &str, r: &mut ConnectionRecord) -> Result<(), String> {
    let name = |side: Side, what: &str| match side {
        Side::Source => format!("source.{what}"),
        Side::Destination => format!("destination.{what}"),
    };
    match field {
        Field::Ip(s) => end(r, *s).ip = Some(ip(name(*s, "ip"), value)?),
        Field::Port(s) => end(r, *s).port = Some(number(name(*s, "port"), value)?),
        Field::Bytes(s) => end(r, *s).bytes = Some(number(name(*s, "bytes"), value)?),
        Field::Packets(s) => end(r, *s).packets = Some(number(name(*s, "packets"), value)?),
        Field::NetworkBytes => r.bytes = Some(number("network.bytes", value)?),
        Field::NetworkPackets => r.packets = Some(number("network.packets", value)?),
        Field::Transport => {
            r.transport = Some(
                Transport::from_name(value)
                    .ok_or_else(|| not_a("network.transport", "a protocol", value))?,
            )
        }
        Field::Action => {
            r.action = Some(
                action_of(value)
                    .ok_or_else(|| not_a("event.action", "an allow or deny word", value))?,
            )
        }
        Field::Time => {
            let time = match value.parse::<jiff::Timestamp>() {
                Ok(t) => t,
                Err(_) => unix_time(value)
                    .map_err(|_| not_a("@timestamp", "rfc 3339 or unix seconds", value))?,
            };
            r.time = Some(time);
        }
        Field::Extra(name) => r.set(name.clone(), value),
    }
    Ok(())
}

fn end(r: &mut ConnectionRecord, side: Side) -> &mut Endpoint {
    match side {
        Side::Source => &mut r.source,
        Side::Destination => &mut r.destination,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::fixture;
    use proptest::prelude::*;

    /// The pattern the fixtures are written for.
    const FIXTURE: &str = r"^(?P<@timestamp>\S+) (?P<event.action>\w+) (?P<network.transport>\w+) (?P<source.ip>[^ ]+):(?P<source.port>\d+) -> (?P<destination.ip>[^ ]+):(?P<destination.port>\d+)(?: bytes=(?P<source.bytes>\d+)/(?P<destination.bytes>\d+))?(?: rule=(?P<rule.name>\S+))?$";

    fixture::parser_tests!(FORMAT, Box::new(Pattern::new(FIXTURE).unwrap()));

    #[test]
    fn capture_names_may_hold_dots() {
        let re = Regex::new(r"(?P<source.ip>\S+) (?<url.original>\S+)").unwrap();
        let names: Vec<_> = re.capture_names().flatten().collect();
        assert_eq!(names, ["source.ip", "url.original"]);
    }

    #[test]
    fn a_pattern_without_named_captures_or_with_reserved_names_is_refused() {
        let message = |p: &str| Pattern::new(p).unwrap_err().to_string();
        assert_eq!(
            message(r"(\S+) (\d+)"),
            "pattern: the pattern has no named capture"
        );
        assert_eq!(
            message(r"(?P<message>.*)"),
            "pattern: capture message is a field the input sets"
        );
        assert!(message(r"(?P<source.ip>").starts_with("pattern: the pattern does not compile"));
    }

    #[test]
    fn build_requires_a_pattern_here_and_refuses_one_elsewhere() {
        use crate::parse::{Format, ParserSpec};
        let spec = |format, pattern: Option<&str>| ParserSpec {
            format,
            fields: None,
            pattern: pattern.map(str::to_string),
        };
        let error = |s: ParserSpec| s.build().err().map(|e| e.to_string());
        assert_eq!(
            error(spec(Format::Pattern, None)).as_deref(),
            Some("pattern: the `pattern` option is required")
        );
        assert_eq!(error(spec(Format::Pattern, Some(FIXTURE))), None);
        assert_eq!(
            error(spec(Format::Cef, Some(FIXTURE))).as_deref(),
            Some("cef: the `pattern` option does not apply to this format")
        );
    }

    proptest! {
        #[test]
        fn never_panics_on_any_pattern(pattern in "\\PC{0,40}", line in "\\PC{0,40}") {
            if let Ok(mut p) = Pattern::new(&pattern) {
                let _ = p.parse(&line, &mut Vec::new());
            }
        }
    }
}
