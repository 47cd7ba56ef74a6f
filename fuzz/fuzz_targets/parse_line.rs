//! Every connection-log parser (`lumberwatch::parse`, each format of `Format::ALL`) on
//! any text. The first byte picks the format; the rest is split into lines that one
//! parser reads in order, as one source's lines (an AWS header sets later lines' fields).
//!
//! Invariants, beyond "no panic":
//! - an error names the parser's format, is one line, and does not grow with the line
//!   (offending values are excerpts), and leaves no records behind;
//! - a header or skipped line gives no records; a per-line format gives exactly one;
//! - every record writes valid JSON members, its `field()` view agrees with its typed
//!   fields, and its totals are the sums of the sides when not given;
//! - a format that keeps no state gives the same answer for the same line twice.

#![no_main]

use bytes::{BufMut, BytesMut};
use libfuzzer_sys::fuzz_target;
use lumberwatch::parse::{ConnectionRecord, Format, LineParser, Outcome, ParserSpec};

/// The pattern `tests/fixtures/parse/pattern/` is written for.
const PATTERN: &str = r"^(?P<@timestamp>\S+) (?P<event.action>\w+) (?P<network.transport>\w+) (?P<source.ip>[^ ]+):(?P<source.port>\d+) -> (?P<destination.ip>[^ ]+):(?P<destination.port>\d+)(?: bytes=(?P<source.bytes>\d+)/(?P<destination.bytes>\d+))?(?: rule=(?P<rule.name>\S+))?$";

/// Longest error message any line may produce: the longest fixed text (aws-vpc's list
/// of every field it knows, about 540 characters) and a cut excerpt of the line.
const MAX_ERROR_CHARS: usize = 700;

fn parser(format: Format) -> Box<dyn LineParser> {
    let spec = ParserSpec {
        format,
        fields: None,
        pattern: (format == Format::Pattern).then(|| PATTERN.to_string()),
    };
    spec.build()
        .expect("every format builds with its fixture options")
}

/// Formats that read one line into one record and keep nothing between lines.
fn per_line(format: Format) -> bool {
    matches!(
        format,
        Format::Iptables
            | Format::Conntrack
            | Format::Websense
            | Format::Cef
            | Format::AccessLog
            | Format::Leef
            | Format::Pattern
    )
}

fn check_record(record: &ConnectionRecord) {
    let mut buf = BytesMut::new();
    buf.put_slice(b"{\"@timestamp\":null");
    record.write_members(&mut buf);
    buf.put_u8(b'}');
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(&buf) {
        panic!(
            "write_members wrote invalid json ({e}): {}",
            String::from_utf8_lossy(&buf)
        );
    }
    let text = |v: Option<String>| v;
    let field = |name: &str| record.field(name).map(|c| c.into_owned());
    assert_eq!(
        field("source.ip"),
        text(record.source.ip.map(|ip| ip.to_string()))
    );
    assert_eq!(
        field("destination.ip"),
        text(record.destination.ip.map(|ip| ip.to_string()))
    );
    assert_eq!(
        field("source.port"),
        record.source.port.map(|p| p.to_string())
    );
    assert_eq!(
        field("destination.port"),
        record.destination.port.map(|p| p.to_string())
    );
    if record.bytes.is_none() {
        let sides = [record.source.bytes, record.destination.bytes];
        let want = match sides {
            [None, None] => None,
            [a, b] => a.unwrap_or(0).checked_add(b.unwrap_or(0)),
        };
        if let Some(want) = want {
            assert_eq!(record.total_bytes(), Some(want));
        }
    }
}

thread_local! {
    /// One parser per stateless format, built once: building `pattern` compiles a regex.
    static STATELESS: std::cell::RefCell<Vec<Option<Box<dyn LineParser>>>> =
        std::cell::RefCell::new(Format::ALL.iter().map(|_| None).collect());
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let index = usize::from(pick) % Format::ALL.len();
    let (name, format) = Format::ALL[index];
    let text = String::from_utf8_lossy(rest);
    let mut parser = if per_line(format) {
        STATELESS.with(|cache| {
            cache.borrow_mut()[index]
                .take()
                .unwrap_or_else(|| parser(format))
        })
    } else {
        parser(format)
    };
    for line in text.split('\n') {
        let mut out = Vec::new();
        match parser.parse(line, &mut out) {
            Err(e) => {
                assert_eq!(e.format, name, "error of another format");
                let message = e.to_string();
                assert!(
                    !message.contains(['\n', '\r']),
                    "error is not one line: {message:?}"
                );
                assert!(
                    message.chars().count() <= MAX_ERROR_CHARS,
                    "error of {} chars for a line of {}: {message:?}",
                    message.chars().count(),
                    line.len()
                );
                assert!(out.is_empty(), "a failed line left records: {out:?}");
            }
            Ok(Outcome::Header | Outcome::Skipped(_)) => {
                assert!(
                    out.is_empty(),
                    "a header or skipped line gave records: {out:?}"
                );
            }
            Ok(Outcome::Records) => {
                if per_line(format) {
                    assert_eq!(out.len(), 1, "a per-line format gave {} records", out.len());
                }
                out.iter().for_each(check_record);
            }
        }
        if per_line(format) {
            let mut first = Vec::new();
            let mut second = Vec::new();
            let a = parser.parse(line, &mut first);
            let b = parser.parse(line, &mut second);
            assert_eq!(a, b, "the same line parsed twice");
            assert_eq!(first, second, "the same line parsed twice");
        }
    }
    if per_line(format) {
        STATELESS.with(|cache| cache.borrow_mut()[index] = Some(parser));
    }
});
