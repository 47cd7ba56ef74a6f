//! Syslog headers, pure: RFC 3164 (BSD, `<PRI>Mmm dd hh:mm:ss host tag[pid]: msg`, also
//! with an ISO timestamp or without the host) and RFC 5424 (in `rfc5424`) into a
//! [`Message`] that borrows from the text.
//!
//! Parsing never fails: a text without a valid `<PRI>` is a message with nothing but its
//! text, and what cannot be read after the `<PRI>` stays in the message. It never reads
//! a clock: a BSD timestamp has no year, and the year is the one that puts it nearest to
//! the `now` passed in without being more than a day ahead of it.

use std::borrow::Cow;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::rfc5424;

/// Which header the input expects (`format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// BSD syslog (Filebeat's default).
    #[default]
    Rfc3164,
    /// RFC 5424 only: anything else after the `<PRI>` is the message.
    Rfc5424,
    /// RFC 5424 when the header is one, BSD syslog otherwise.
    Auto,
}

/// How to read headers: the format and the zone of timestamps that have none.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseOptions {
    pub format: Format,
    pub timezone: TimeZone,
}

/// One syslog message. Absent parts are `None` (RFC 5424's `-` is absent too).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message<'a> {
    /// `<PRI>`, 0 to 191; `None` when the text has no valid one.
    pub priority: Option<u8>,
    /// RFC 5424's VERSION.
    pub version: Option<u16>,
    pub timestamp: Option<Timestamp>,
    pub hostname: Option<&'a str>,
    /// RFC 5424's APP-NAME, or the BSD tag.
    pub appname: Option<&'a str>,
    pub procid: Option<&'a str>,
    pub msgid: Option<&'a str>,
    pub structured_data: Vec<SdElement<'a>>,
    /// The MSG part (the whole text without a valid `<PRI>`), a leading BOM removed.
    pub msg: &'a str,
}

/// One `[id name="value" ...]` element of RFC 5424 structured data, values unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdElement<'a> {
    pub id: &'a str,
    pub params: Vec<(&'a str, Cow<'a, str>)>,
}

impl Message<'_> {
    pub fn facility(&self) -> Option<u8> {
        self.priority.map(|p| p >> 3)
    }

    pub fn severity(&self) -> Option<u8> {
        self.priority.map(|p| p & 7)
    }
}

/// Filebeat's names of the facilities.
const FACILITIES: [&str; 24] = [
    "kernel",
    "user-level",
    "mail",
    "system",
    "security/authorization",
    "syslogd",
    "line printer",
    "network news",
    "UUCP",
    "clock",
    "security/authorization",
    "FTP",
    "NTP",
    "log audit",
    "log alert",
    "clock",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

/// Filebeat's names of the severities.
const SEVERITIES: [&str; 8] = [
    "Emergency",
    "Alert",
    "Critical",
    "Error",
    "Warning",
    "Notice",
    "Informational",
    "Debug",
];

pub fn facility_name(code: u8) -> Option<&'static str> {
    FACILITIES.get(usize::from(code)).copied()
}

pub fn severity_name(code: u8) -> Option<&'static str> {
    SEVERITIES.get(usize::from(code)).copied()
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Reads `text` as one syslog message; `now` decides the year of a BSD timestamp.
pub fn parse<'a>(text: &'a str, options: &ParseOptions, now: Timestamp) -> Message<'a> {
    let Some((priority, rest)) = priority(text) else {
        return Message {
            msg: text,
            ..Message::default()
        };
    };
    let tz = &options.timezone;
    let mut message = match options.format {
        Format::Rfc3164 => rfc3164(rest, tz, now),
        Format::Rfc5424 => rfc5424::parse(rest, tz).unwrap_or(Message {
            msg: strip_bom(rest),
            ..Message::default()
        }),
        Format::Auto => rfc5424::parse(rest, tz).unwrap_or_else(|| rfc3164(rest, tz, now)),
    };
    message.priority = Some(priority);
    message
}

/// `<0>` to `<191>` at the start of `text`, and what follows it.
fn priority(text: &str) -> Option<(u8, &str)> {
    let rest = text.strip_prefix('<')?;
    let end = rest.find('>')?;
    let digits = &rest[..end];
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u8 = digits.parse().ok().filter(|&p| p <= 191)?;
    Some((value, &rest[end + 1..]))
}

pub(super) fn strip_bom(msg: &str) -> &str {
    msg.strip_prefix('\u{feff}').unwrap_or(msg)
}

/// BSD syslog after the `<PRI>`: TIMESTAMP, then HOSTNAME unless the next word is a tag,
/// then an optional `tag[pid]:`. Without a timestamp, the rest is all message.
fn rfc3164<'a>(rest: &'a str, tz: &TimeZone, now: Timestamp) -> Message<'a> {
    let Some((timestamp, after)) = bsd_timestamp(rest, tz, now).or_else(|| iso_prefix(rest, tz))
    else {
        return Message {
            msg: rest,
            ..Message::default()
        };
    };
    let mut message = Message {
        timestamp: Some(timestamp),
        ..Message::default()
    };
    let Some(after) = after.strip_prefix(' ') else {
        message.msg = after;
        return message;
    };
    let body = match tag(after) {
        Some(_) => after,
        None => {
            let (host, body) = after.split_once(' ').unwrap_or((after, ""));
            message.hostname = Some(host).filter(|h| !h.is_empty());
            body
        }
    };
    match tag(body) {
        Some((app, pid, msg)) => {
            message.appname = Some(app);
            message.procid = pid;
            message.msg = msg;
        }
        None => message.msg = body,
    }
    message
}

/// `tag: msg` or `tag[pid]: msg` (the colon may be left out after `[pid]`): the tag,
/// the pid and the message. A colon must be followed by a space or the end, so that
/// `http://...` is not a tag.
fn tag(s: &str) -> Option<(&str, Option<&str>, &str)> {
    let end = s.find([':', '[', ' '])?;
    let name = &s[..end];
    if name.is_empty() || name.len() > 128 {
        return None;
    }
    let (pid, after) = match s.as_bytes()[end] {
        b':' => (None, &s[end..]),
        b'[' => {
            let close = s[end..].find(']')? + end;
            let pid = &s[end + 1..close];
            (Some(pid).filter(|p| !p.is_empty()), &s[close + 1..])
        }
        _ => return None,
    };
    let msg = match after.strip_prefix(':') {
        Some("") => "",
        Some(m) => m.strip_prefix(' ')?,
        None if after.is_empty() => after,
        None => after.strip_prefix(' ')?,
    };
    Some((name, pid, msg))
}

/// `Mmm dd hh:mm:ss` (day padded with a space or a zero, or not at all; optional
/// fraction of a second) in `tz`, and what follows.
fn bsd_timestamp<'a>(s: &'a str, tz: &TimeZone, now: Timestamp) -> Option<(Timestamp, &'a str)> {
    let month = MONTHS.iter().position(|m| s.starts_with(m))?;
    let rest = s.get(3..)?.strip_prefix(' ')?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let day_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    if !(1..=2).contains(&day_len) {
        return None;
    }
    let day: i8 = rest[..day_len].parse().ok()?;
    let rest = rest[day_len..].strip_prefix(' ')?;
    let (time, rest) = clock(rest)?;
    let month = i8::try_from(month + 1).ok()?;
    Some((nearest(month, day, time, tz, now)?, rest))
}

/// `hh:mm:ss[.fraction]` and what follows.
fn clock(s: &str) -> Option<(Time, &str)> {
    let b = s.as_bytes();
    let two = |i: usize| -> Option<i8> {
        let (x, y) = (*b.get(i)?, *b.get(i + 1)?);
        (x.is_ascii_digit() && y.is_ascii_digit()).then(|| ((x - b'0') * 10 + (y - b'0')) as i8)
    };
    if b.get(2) != Some(&b':') || b.get(5) != Some(&b':') {
        return None;
    }
    let (h, m, sec) = (two(0)?, two(3)?, two(6)?);
    let mut rest = &s[8..];
    let mut nanos = 0i32;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 9 {
            return None;
        }
        let digits: i32 = frac[..n].parse().ok()?;
        nanos = digits * 10i32.pow(9 - n as u32);
        rest = &frac[n..];
    }
    Some((Time::new(h, m, sec, nanos).ok()?, rest))
}

/// The time of `month day time` in `tz` in the year that puts it nearest to `now`
/// without being more than a day ahead of it (a sender's clock may run a little fast;
/// a message from late December read in early January is from last year).
fn nearest(month: i8, day: i8, time: Time, tz: &TimeZone, now: Timestamp) -> Option<Timestamp> {
    let year = now.to_zoned(tz.clone()).year();
    let latest = now.checked_add(SignedDuration::from_hours(24)).ok()?;
    [year + 1, year, year - 1].into_iter().find_map(|y| {
        let date = Date::new(y, month, day).ok()?;
        let at = tz
            .to_ambiguous_zoned(date.to_datetime(time))
            .compatible()
            .ok()?;
        Some(at.timestamp()).filter(|t| *t <= latest)
    })
}

/// An ISO 8601 / RFC 3339 timestamp up to the next space (rsyslog's high-precision
/// format in a BSD header); one without an offset is in `tz`.
fn iso_prefix<'a>(s: &'a str, tz: &TimeZone) -> Option<(Timestamp, &'a str)> {
    let end = s.find(' ').unwrap_or(s.len());
    Some((iso(&s[..end], tz)?, &s[end..]))
}

/// A date and a time with `T` between them, with or without an offset.
pub(super) fn iso(word: &str, tz: &TimeZone) -> Option<Timestamp> {
    let b = word.as_bytes();
    if b.len() < 19 || !b[..4].iter().all(u8::is_ascii_digit) || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if let Ok(t) = word.parse::<Timestamp>() {
        return Some(t);
    }
    let civil: DateTime = word.parse().ok()?;
    tz.to_ambiguous_zoned(civil)
        .compatible()
        .ok()
        .map(|z| z.timestamp())
}
