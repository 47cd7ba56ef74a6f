//! Test support: every parser's fixture files under `tests/fixtures/parse/<format>/`,
//! checked the same way, and the never-panics properties, as [`parser_tests!`] writes
//! them into each format's tests.
//!
//! - `valid.log` with `valid.jsonl`: per line, what the line gives. An object is its one
//!   record as written into an event (with `@timestamp`); an array is its records when
//!   it gives any other number (an Azure blob line); a string is a line that gives no
//!   record: `"header"`, `"skipped: <reason>"`.
//! - `malformed.log` with `malformed.txt`: per line, the whole error message.
//!
//! One parser reads each file's lines in order, as one source's lines, so a header line
//! sets the fields of the lines after it.

use bytes::{BufMut, BytesMut};
use serde_json::Value;

use super::{ConnectionRecord, Format, LineParser, Outcome, ParseError, ParserSpec};

fn read(format: &str, file: &str) -> Vec<String> {
    let path = format!(
        "{}/tests/fixtures/parse/{format}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines().map(str::to_string).collect()
}

/// The lines of a format's `valid.log`.
pub(crate) fn valid_lines(format: &str) -> Vec<String> {
    read(format, "valid.log")
}

/// A record as JSON, the way the input writes it into an event (`@timestamp` added).
pub(crate) fn render(record: &ConnectionRecord) -> Value {
    let mut buf = BytesMut::new();
    let time = record.time.map(|t| t.to_string());
    buf.extend_from_slice(format!("{{\"@timestamp\":{}", serde_json::json!(time)).as_bytes());
    record.write_members(&mut buf);
    buf.put_u8(b'}');
    serde_json::from_slice(&buf).expect("write_members writes valid json")
}

/// A new parser of `format` built without options, as an input without any builds it.
pub(crate) fn parser(format: &str) -> Box<dyn LineParser> {
    let spec = ParserSpec {
        format: Format::by_name(format).expect("the fixtures are named for a format"),
        fields: None,
        pattern: None,
    };
    spec.build().expect("the format builds without options")
}

/// What one line gave, with its records.
pub(crate) fn parse(
    parser: &mut dyn LineParser,
    line: &str,
) -> Result<(Outcome, Vec<ConnectionRecord>), ParseError> {
    let mut out = Vec::new();
    parser.parse(line, &mut out).map(|outcome| (outcome, out))
}

/// The one record a line gives; any other outcome fails the test.
pub(crate) fn one(parser: &mut dyn LineParser, line: &str) -> Result<ConnectionRecord, ParseError> {
    let (outcome, mut records) = parse(parser, line)?;
    assert_eq!(outcome, Outcome::Records, "{line}");
    assert_eq!(records.len(), 1, "{line}");
    Ok(records.remove(0))
}

/// Every record `lines` give, read in order by one parser; an error fails the test.
pub(crate) fn records(parser: &mut dyn LineParser, lines: &[String]) -> Vec<ConnectionRecord> {
    let mut out = Vec::new();
    for line in lines {
        if let Err(e) = parser.parse(line, &mut out) {
            panic!("{e}\n{line}");
        }
    }
    out
}

/// A line's outcome as `valid.jsonl` writes it.
fn given(outcome: Outcome, records: &[ConnectionRecord]) -> Value {
    match (outcome, records) {
        (Outcome::Records, [record]) => render(record),
        (Outcome::Records, records) => records.iter().map(render).collect(),
        (Outcome::Header, []) => "header".into(),
        (Outcome::Skipped(reason), []) => format!("skipped: {reason}").into(),
        (outcome, records) => panic!("{outcome:?} with records {records:?}"),
    }
}

/// Parses every line of `valid.log` and compares what it gives with `valid.jsonl`
/// exactly.
pub(crate) fn check_valid(format: &str, parser: &mut dyn LineParser) {
    let lines = valid_lines(format);
    let expected = read(format, "valid.jsonl");
    assert_eq!(
        lines.len(),
        expected.len(),
        "{format}: valid.log vs valid.jsonl"
    );
    for (n, (line, want)) in lines.iter().zip(&expected).enumerate() {
        let want: Value = serde_json::from_str(want).expect("valid.jsonl line is json");
        let (outcome, records) = parse(parser, line)
            .unwrap_or_else(|e| panic!("{format} valid.log:{}: {e}\n{line}", n + 1));
        let got = given(outcome, &records);
        assert!(
            got == want,
            "{format} valid.log:{}\nline: {line}\ngot:  {got}\nwant: {want}",
            n + 1
        );
    }
}

/// Parses every line of `malformed.log` and compares its error message with
/// `malformed.txt` exactly; a failed line leaves no records behind.
pub(crate) fn check_malformed(format: &str, parser: &mut dyn LineParser) {
    let lines = read(format, "malformed.log");
    let expected = read(format, "malformed.txt");
    assert_eq!(
        lines.len(),
        expected.len(),
        "{format}: malformed.log vs .txt"
    );
    for (n, (line, want)) in lines.iter().zip(&expected).enumerate() {
        let mut out = Vec::new();
        match parser.parse(line, &mut out) {
            Err(e) => {
                assert_eq!(e.format, format, "{format} malformed.log:{}", n + 1);
                assert_eq!(e.to_string(), *want, "{format} malformed.log:{}", n + 1);
                assert!(out.is_empty(), "{format} malformed.log:{}: {out:?}", n + 1);
            }
            Ok(o) => panic!("{format} malformed.log:{}: {o:?} {out:?}", n + 1),
        }
    }
}

/// `line` with `cut` characters from character `at` (modulo its length) replaced by
/// `insert`.
pub(crate) fn mutate(line: &str, at: usize, cut: usize, insert: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let at = at % (chars.len() + 1);
    let end = (at + cut).min(chars.len());
    let mut s: String = chars[..at].iter().collect();
    s.push_str(insert);
    s.extend(&chars[end..]);
    s
}

/// The tests every format has, for `$format` read by parsers from `$parser` (a boxed
/// parser, a new one per test case; by default the format's, built without options):
/// - its `valid` and `malformed` fixtures, checked exactly;
/// - it never panics on any text, nor on its valid lines mutated: the lines up to a
///   picked one, each with the same characters cut and `insert` (a regex; any
///   characters when not given) put in, read in order by one parser.
macro_rules! parser_tests {
    ($format:expr) => {
        $crate::parse::fixture::parser_tests!($format, insert = "\\PC{0,6}");
    };
    ($format:expr, insert = $insert:expr) => {
        $crate::parse::fixture::parser_tests!(
            $format,
            $crate::parse::fixture::parser($format),
            $insert
        );
    };
    ($format:expr, $parser:expr) => {
        $crate::parse::fixture::parser_tests!($format, $parser, "\\PC{0,6}");
    };
    ($format:expr, $parser:expr, $insert:expr) => {
        #[test]
        fn valid_fixture_lines_give_exact_records() {
            $crate::parse::fixture::check_valid($format, &mut *$parser);
        }

        #[test]
        fn malformed_fixture_lines_give_exact_errors() {
            $crate::parse::fixture::check_malformed($format, &mut *$parser);
        }

        ::proptest::proptest! {
            #[test]
            fn never_panics_on_any_text(line in "\\PC{0,300}") {
                let _ = $crate::parse::fixture::parse(&mut *$parser, &line);
            }

            #[test]
            fn never_panics_on_mutated_valid_lines(
                last in ::proptest::prelude::any::<::proptest::sample::Index>(),
                at in ::proptest::prelude::any::<usize>(),
                cut in 0usize..12,
                insert in $insert,
            ) {
                let lines = $crate::parse::fixture::valid_lines($format);
                let mut parser = $parser;
                for line in &lines[..=last.index(lines.len())] {
                    let line = $crate::parse::fixture::mutate(line, at, cut, &insert);
                    let _ = $crate::parse::fixture::parse(&mut *parser, &line);
                }
            }
        }
    };
}

pub(crate) use parser_tests;
