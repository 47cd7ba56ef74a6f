//! `cef`: ArcSight Common Event Format, `CEF:0|Vendor|Product|Version|SignatureID|Name|
//! Severity|Extension`, possibly behind a syslog header.
//!
//! The header escapes `\|` and `\\`; extension values escape `\=`, `\\`, `\n` and `\r`
//! and run up to the next `key=`, so they may hold spaces. Every extension is kept
//! under `cef.extensions.<key as written>`; the connection fields are read from both
//! the short and the full key names. Times without a zone are taken as UTC (as
//! Filebeat's `decode_cef` does by default); times without a year are not guessed.

use std::borrow::Cow;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use super::fields::{ip, not_a, number};
use super::kv::split_spaced;
use super::syslog;
use super::{Action, ConnectionRecord, Direction, Transport};

const HEADER: [&str; 7] = [
    "cef.version",
    "cef.device.vendor",
    "cef.device.product",
    "cef.device.version",
    "cef.device.event_class_id",
    "cef.name",
    "cef.severity",
];

/// One line's record, or why it is not one.
pub(super) fn parse_line(line: &str) -> Result<ConnectionRecord, String> {
    let start = line.find("CEF:").ok_or("no CEF: header")?;
    let mut r = ConnectionRecord::default();
    if start > 0 {
        syslog::split(&line[..start]).write_to(&mut r);
    }
    let (header, extension) = split_header(&line[start + 4..])?;
    if header[0].is_empty() || !header[0].bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_a("version", "a number", &header[0]));
    }
    for (name, value) in HEADER.iter().zip(&header) {
        r.set(*name, value.as_str());
    }
    for (name, value) in [
        ("observer.vendor", &header[1]),
        ("observer.product", &header[2]),
        ("observer.version", &header[3]),
        ("event.code", &header[4]),
    ] {
        if !value.is_empty() {
            r.set(name, value.as_str());
        }
    }
    if let Ok(severity) = header[6].parse::<u8>() {
        r.set("event.severity", severity);
    }
    for pair in split_spaced(extension, false)? {
        let value = unescape_value(pair.value);
        if !value.is_empty() {
            map_extension(pair.key, &value, &mut r)?;
        }
        r.set(format!("cef.extensions.{}", pair.key), value.into_owned());
    }
    Ok(r)
}

/// The seven header fields (unescaped) and the extension text after them.
fn split_header(text: &str) -> Result<([String; 7], &str), String> {
    let mut fields: [String; 7] = Default::default();
    let mut n = 0;
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e @ ('|' | '\\'))) => fields[n].push(e),
                Some((_, e)) => {
                    fields[n].push('\\');
                    fields[n].push(e);
                }
                None => fields[n].push('\\'),
            },
            '|' if n == 6 => return Ok((fields, &text[i + 1..])),
            '|' => n += 1,
            c => fields[n].push(c),
        }
    }
    Err(format!("the header has {n} of its 7 '|'-ended fields"))
}

/// `\=`, `\\`, `\n`, `\r`; any other backslash is kept as written.
fn unescape_value(value: &str) -> Cow<'_, str> {
    if !value.contains('\\') {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('=') => out.push('='),
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// The connection fields an extension key stands for, by short or full name.
fn map_extension(key: &str, value: &str, r: &mut ConnectionRecord) -> Result<(), String> {
    match key {
        "src" | "sourceAddress" => r.source.ip = Some(ip(key, value)?),
        "dst" | "destinationAddress" => r.destination.ip = Some(ip(key, value)?),
        "spt" | "sourcePort" => r.source.port = Some(number(key, value)?),
        "dpt" | "destinationPort" => r.destination.port = Some(number(key, value)?),
        "in" | "bytesIn" => r.source.bytes = Some(number(key, value)?),
        "out" | "bytesOut" => r.destination.bytes = Some(number(key, value)?),
        "proto" | "transportProtocol" => r.transport = Transport::from_name(value),
        "act" | "deviceAction" => r.action = action_of(value),
        "deviceDirection" => {
            r.direction = match value {
                "0" => Some(Direction::Inbound),
                "1" => Some(Direction::Outbound),
                _ => None,
            }
        }
        "rt" | "deviceReceiptTime" => r.time = parse_time(key, value)?.or(r.time),
        "start" | "startTime" => {
            if let Some(t) = parse_time(key, value)? {
                r.set("event.start", t.to_string());
            }
        }
        "end" | "endTime" => {
            if let Some(t) = parse_time(key, value)? {
                r.set("event.end", t.to_string());
            }
        }
        "shost" | "sourceHostName" => r.set("source.domain", value),
        "dhost" | "destinationHostName" => r.set("destination.domain", value),
        "suser" | "sourceUserName" => r.set("source.user.name", value),
        "duser" | "destinationUserName" => r.set("destination.user.name", value),
        "smac" | "sourceMacAddress" => r.set("source.mac", value),
        "dmac" | "destinationMacAddress" => r.set("destination.mac", value),
        "app" | "applicationProtocol" => r.set("network.protocol", value.to_lowercase()),
        "request" | "requestUrl" => r.set("url.original", value),
        "requestMethod" => r.set("http.request.method", value),
        "deviceInboundInterface" => r.set("observer.ingress.interface.name", value),
        "deviceOutboundInterface" => r.set("observer.egress.interface.name", value),
        _ => {}
    }
    Ok(())
}

/// What a device action word says was done (`Accept`, `blocked`, `Drop`).
pub(super) fn action_of(value: &str) -> Option<Action> {
    match value.to_ascii_lowercase().as_str() {
        "accept" | "accepted" | "allow" | "allowed" | "permit" | "permitted" | "pass"
        | "passed" => Some(Action::Allow),
        "deny" | "denied" | "drop" | "dropped" | "block" | "blocked" | "reject" | "rejected" => {
            Some(Action::Deny)
        }
        _ => None,
    }
}

/// A CEF time: milliseconds since the epoch, or `MMM dd yyyy HH:mm:ss[.SSS][ zone]`.
/// `MMM dd HH:mm:ss` (no year) is valid but gives no time.
pub(super) fn parse_time(key: &str, value: &str) -> Result<Option<Timestamp>, String> {
    let bad = || not_a(key, "a time", value);
    if value.bytes().all(|b| b.is_ascii_digit()) {
        let ms: i64 = value.parse().map_err(|_| bad())?;
        return Timestamp::from_millisecond(ms).map(Some).map_err(|_| bad());
    }
    let words: Vec<&str> = value.split_whitespace().collect();
    let (civil, zone) = match words.as_slice() {
        [m, d, y, t] if y.len() == 4 => (format!("{m} {d} {y} {t}"), None),
        [m, d, y, t, z] if y.len() == 4 => (format!("{m} {d} {y} {t}"), Some(*z)),
        [_, _, t] | [_, _, t, _] if t.contains(':') => return Ok(None),
        _ => return Err(bad()),
    };
    let civil = DateTime::strptime("%b %d %Y %H:%M:%S%.f", &civil).map_err(|_| bad())?;
    let tz = match zone {
        None | Some("UTC" | "GMT" | "Z") => TimeZone::UTC,
        Some(z) if z.starts_with(['+', '-']) => jiff::fmt::strtime::parse("%z", z)
            .ok()
            .and_then(|t| t.offset())
            .map(TimeZone::fixed)
            .ok_or_else(bad)?,
        Some(z) => TimeZone::get(z).map_err(|_| bad())?,
    };
    let zoned = civil.to_zoned(tz).map_err(|_| bad())?;
    Ok(Some(zoned.timestamp()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::fixture;

    fixture::parser_tests!("cef");

    #[test]
    fn escapes_are_undone_in_header_and_extension() {
        let r = parse_line(r"CEF:0|a\|b|c\\d|1|2|n|3|msg=x\=y\\z\nw cs1=C:\path").unwrap();
        assert_eq!(r.field("cef.device.vendor").as_deref(), Some("a|b"));
        assert_eq!(r.field("cef.device.product").as_deref(), Some(r"c\d"));
        assert_eq!(r.field("cef.extensions.msg").as_deref(), Some("x=y\\z\nw"));
        assert_eq!(r.field("cef.extensions.cs1").as_deref(), Some(r"C:\path"));
    }

    #[test]
    fn times_are_epoch_milliseconds_or_dates_with_an_optional_zone() {
        let t = |v: &str| parse_time("rt", v).unwrap().map(|t| t.to_string());
        assert_eq!(t("1543270652000").as_deref(), Some("2018-11-26T22:17:32Z"));
        assert_eq!(
            t("Nov 26 2018 22:17:32").as_deref(),
            Some("2018-11-26T22:17:32Z")
        );
        assert_eq!(
            t("Nov 26 2018 23:17:32.250 +0100").as_deref(),
            Some("2018-11-26T22:17:32.25Z")
        );
        assert_eq!(t("Nov 26 22:17:32"), None);
        assert!(parse_time("rt", "yesterday").is_err());
        assert!(parse_time("rt", "99999999999999999999").is_err());
    }
}
