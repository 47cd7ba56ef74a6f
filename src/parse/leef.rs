//! `leef`: IBM QRadar Log Event Extended Format, `LEEF:1.0|Vendor|Product|Version|
//! EventID|attrs` (attributes separated by tabs) and `LEEF:2.0|...|EventID|Delimiter|
//! attrs` (the delimiter a character or its hex code, `^`, `x09`, `0x7C`; tab when
//! empty), possibly behind a syslog header.
//!
//! Every attribute is kept under `leef.attributes.<key>`. `devTime` is read with
//! `devTimeFormat` (a Java date pattern) when given, else as epoch milliseconds or
//! `MMM dd yyyy HH:mm:ss`; a time without a zone is taken as UTC.

use jiff::Timestamp;
use jiff::civil::DateTime;

use super::cef::{action_of, parse_time};
use super::fields::{ip, not_a, number};
use super::kv::{Pair, split_delimited, split_spaced};
use super::syslog;
use super::{ConnectionRecord, Transport, excerpt as quote};

/// One line's record, or why it is not one.
pub(super) fn parse_line(line: &str) -> Result<ConnectionRecord, String> {
    let start = line.find("LEEF:").ok_or("no LEEF: header")?;
    let mut r = ConnectionRecord::default();
    if start > 0 {
        syslog::split(&line[..start]).write_to(&mut r);
    }
    let text = &line[start + 5..];
    let version = text.split('|').next().unwrap_or_default();
    let fields = match version {
        "1.0" | "1" => 5,
        "2.0" | "2" => 6,
        _ => return Err(not_a("version", "1.0 or 2.0", version)),
    };
    let header: Vec<&str> = text.splitn(fields + 1, '|').collect();
    if header.len() <= fields {
        let n = header.len() - 1;
        return Err(format!(
            "the header has {n} of its {fields} '|'-ended fields"
        ));
    }
    r.set("leef.version", version);
    for (name, value) in [
        ("observer.vendor", header[1]),
        ("observer.product", header[2]),
        ("observer.version", header[3]),
        ("event.code", header[4]),
    ] {
        r.set(name, value);
    }
    let attributes = header[fields];
    let pairs = if fields == 6 {
        split_delimited(attributes, delimiter(header[5])?)?
    } else if !attributes.contains('\t') && attributes.contains(' ') {
        // Many LEEF 1.0 senders separate attributes with spaces instead of tabs.
        split_spaced(attributes, false)?
    } else {
        split_delimited(attributes, '\t')?
    };
    for pair in &pairs {
        map_attribute(pair, &mut r)?;
        r.set(format!("leef.attributes.{}", pair.key), pair.value);
    }
    if let Some(time) = pairs.iter().find(|p| p.key == "devTime") {
        let format = pairs.iter().find(|p| p.key == "devTimeFormat");
        r.time = match format {
            Some(f) => Some(java_time(f.value, time.value)?),
            None => parse_time("devTime", time.value)?,
        }
        .or(r.time);
    }
    Ok(r)
}

/// The LEEF 2.0 delimiter field: one character, or its code in hex (`x09`, `0x09`).
fn delimiter(field: &str) -> Result<char, String> {
    let mut chars = field.chars();
    match (chars.next(), chars.next()) {
        (None, _) => return Ok('\t'),
        (Some(c), None) => return Ok(c),
        _ => {}
    }
    let hex = field
        .strip_prefix("0x")
        .or_else(|| field.strip_prefix("x"))
        .or_else(|| field.strip_prefix("X"));
    hex.and_then(|h| u32::from_str_radix(h, 16).ok())
        .and_then(char::from_u32)
        .ok_or_else(|| not_a("delimiter", "a character or hex code", field))
}

fn map_attribute(pair: &Pair<'_>, r: &mut ConnectionRecord) -> Result<(), String> {
    let (key, value) = (pair.key, pair.value);
    if value.is_empty() {
        return Ok(());
    }
    match key {
        "src" => r.source.ip = Some(ip(key, value)?),
        "dst" => r.destination.ip = Some(ip(key, value)?),
        "srcPort" => r.source.port = Some(number(key, value)?),
        "dstPort" => r.destination.port = Some(number(key, value)?),
        "srcBytes" => r.source.bytes = Some(number(key, value)?),
        "dstBytes" => r.destination.bytes = Some(number(key, value)?),
        "srcPackets" => r.source.packets = Some(number(key, value)?),
        "dstPackets" => r.destination.packets = Some(number(key, value)?),
        "totalPackets" => r.packets = Some(number(key, value)?),
        "proto" => r.transport = Transport::from_name(value),
        "action" => r.action = action_of(value),
        "usrName" => r.set("user.name", value),
        "sev" => r.set("event.severity", number::<u8>(key, value)?),
        "srcPostNAT" => r.set("source.nat.ip", ip(key, value)?.to_string()),
        "dstPostNAT" => r.set("destination.nat.ip", ip(key, value)?.to_string()),
        "srcMAC" => r.set("source.mac", value),
        "dstMAC" => r.set("destination.mac", value),
        _ => {}
    }
    Ok(())
}

/// `devTime` read with a Java `SimpleDateFormat` pattern (`MMM dd yyyy HH:mm:ss.SSS z`
/// is not supported: zone names are ambiguous; `Z` and `XXX` offsets are).
fn java_time(pattern: &str, value: &str) -> Result<Timestamp, String> {
    let bad = || format!("devTime does not match devTimeFormat: {}", quote(value));
    let format = strptime_of(pattern)?;
    if format.contains("%z") || format.contains("%:z") {
        Timestamp::strptime(&format, value).map_err(|_| bad())
    } else {
        let civil = DateTime::strptime(&format, value).map_err(|_| bad())?;
        Ok(civil
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|_| bad())?
            .timestamp())
    }
}

/// A Java date pattern as a `strptime` format.
fn strptime_of(pattern: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            for l in chars.by_ref().take_while(|&l| l != '\'') {
                push_literal(&mut out, l);
            }
            continue;
        }
        if !c.is_ascii_alphabetic() {
            push_literal(&mut out, c);
            continue;
        }
        let mut run = 1;
        while chars.next_if_eq(&c).is_some() {
            run += 1;
        }
        out.push_str(match (c, run) {
            ('y', 2) => "%y",
            ('y', _) => "%Y",
            ('M', 1 | 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', _) => "%d",
            ('H', _) => "%H",
            ('h', _) => "%I",
            ('m', _) => "%M",
            ('s', _) => "%S",
            ('S', _) => "%f",
            ('a', _) => "%p",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('Z', _) | ('X', 1 | 2) => "%z",
            ('X', _) => "%:z",
            _ => {
                let letters: String = std::iter::repeat_n(c, run).collect();
                return Err(format!(
                    "devTimeFormat {} has an unsupported field {letters}",
                    quote(pattern)
                ));
            }
        });
    }
    Ok(out)
}

fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push('%');
    }
    out.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::fixture;

    fixture::parser_tests!("leef");

    #[test]
    fn the_delimiter_is_a_character_or_a_hex_code() {
        assert_eq!(delimiter(""), Ok('\t'));
        assert_eq!(delimiter("^"), Ok('^'));
        assert_eq!(delimiter("x09"), Ok('\t'));
        assert_eq!(delimiter("0x7C"), Ok('|'));
        assert!(delimiter("tab").is_err());
        assert!(delimiter("xD800").is_err());
    }

    #[test]
    fn java_date_patterns_become_strptime_formats() {
        assert_eq!(
            strptime_of("yyyy-MM-dd'T'HH:mm:ss.SSSXXX"),
            Ok("%Y-%m-%dT%H:%M:%S.%f%:z".into())
        );
        assert_eq!(
            strptime_of("MMM dd yyyy HH:mm:ss"),
            Ok("%b %d %Y %H:%M:%S".into())
        );
        assert!(strptime_of("MMM dd yyyy HH:mm:ss z").is_err());
    }
}
