//! The syslog header parsers (`lumberwatch::input::syslog::header::parse`: RFC 3164, and
//! RFC 5424 through `Format::Rfc5424` and `Format::Auto`) on any text. The first byte
//! picks the format and the zone, the next eight the `now` that decides a BSD year.
//!
//! Invariants, beyond "no panic" (parsing never fails by design):
//! - a text without a valid `<PRI>` is a message with nothing but the text;
//! - the priority is 0..=191 and its facility and severity have names;
//! - every part borrowed from the text (message, host, app, procid, msgid, SD ids and
//!   names) lies inside the text;
//! - RFC 3164 alone never gives a version or structured data;
//! - a BSD timestamp is never more than a day ahead of `now`.

#![no_main]

use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use libfuzzer_sys::fuzz_target;
use lumberwatch::input::syslog::Format;
use lumberwatch::input::syslog::header::{ParseOptions, facility_name, parse, severity_name};

/// `part` is borrowed from `text` (an empty part may be any empty string).
fn inside(text: &str, part: &str) -> bool {
    if part.is_empty() {
        return true;
    }
    let (t, p) = (text.as_ptr() as usize, part.as_ptr() as usize);
    p >= t && p + part.len() <= t + text.len()
}

fuzz_target!(|data: &[u8]| {
    let [pick, n0, n1, n2, n3, n4, n5, n6, n7, rest @ ..] = data else {
        return;
    };
    let format = [Format::Rfc3164, Format::Rfc5424, Format::Auto][usize::from(pick % 3)];
    let hours = i8::try_from(i16::from(pick / 3) % 25 - 12).expect("-12..=12 fits in i8");
    let timezone = TimeZone::fixed(Offset::constant(hours));
    // Any second from 1970 to about 2100.
    let secs = u64::from_le_bytes([*n0, *n1, *n2, *n3, *n4, *n5, *n6, *n7]) % 4_102_444_800;
    let now = Timestamp::from_second(secs as i64).expect("1970..2100 is in range");
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let options = ParseOptions { format, timezone };
    let m = parse(text, &options, now);

    match m.priority {
        None => {
            assert_eq!(m.msg, text, "no <PRI>: the message is the whole text");
            assert!(m.timestamp.is_none() && m.hostname.is_none() && m.appname.is_none());
            assert!(m.version.is_none() && m.structured_data.is_empty());
        }
        Some(p) => {
            assert!(p <= 191, "priority {p}");
            let (f, s) = (
                m.facility().expect("with a priority"),
                m.severity().expect("with a priority"),
            );
            assert!(facility_name(f).is_some(), "facility {f} has no name");
            assert!(severity_name(s).is_some(), "severity {s} has no name");
        }
    }
    assert!(inside(text, m.msg), "the message is not part of the text");
    for part in [m.hostname, m.appname, m.procid, m.msgid]
        .into_iter()
        .flatten()
    {
        assert!(inside(text, part), "{part:?} is not part of the text");
    }
    for sd in &m.structured_data {
        assert!(
            inside(text, sd.id),
            "SD id {:?} is not part of the text",
            sd.id
        );
        for (name, _) in &sd.params {
            assert!(
                inside(text, name),
                "SD name {name:?} is not part of the text"
            );
        }
    }
    if format == Format::Rfc3164 {
        assert!(m.version.is_none() && m.structured_data.is_empty(), "{m:?}");
    }
    if format == Format::Rfc3164 && m.priority.is_some() {
        // Only a BSD timestamp (`Mmm dd hh:mm:ss`, no year) is placed relative to now.
        let after_pri = &text[text.find('>').map_or(0, |i| i + 1)..];
        let bsd = after_pri.len() >= 3
            && after_pri.as_bytes()[..3]
                .iter()
                .all(u8::is_ascii_alphabetic);
        if let (true, Some(t)) = (bsd, m.timestamp) {
            assert!(
                t.duration_since(now) <= SignedDuration::from_hours(24),
                "BSD timestamp {t} more than a day after now {now}: {text:?}"
            );
        }
    }
    assert_eq!(parse(text, &options, now), m, "the same text parsed twice");
});
