//! Test support: the parsers' fixture files under `tests/fixtures/parse/<format>/` and
//! line mutations for the never-panics properties.
//!
//! Each format has `valid.log` with `valid.jsonl` (per line, the record as written into
//! an event, with `@timestamp`) and `malformed.log` with `malformed.txt` (per line, the
//! whole error message).

use bytes::{BufMut, BytesMut};
use serde_json::Value;

use super::{ConnectionRecord, LineParser};

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

/// Parses every fixture line of `format` and compares the records and errors exactly.
pub(crate) fn check(format: &str, parser: &mut dyn LineParser) {
    let lines = valid_lines(format);
    let expected = read(format, "valid.jsonl");
    assert_eq!(
        lines.len(),
        expected.len(),
        "{format}: valid.log vs valid.jsonl"
    );
    for (n, (line, want)) in lines.iter().zip(&expected).enumerate() {
        let want: Value = serde_json::from_str(want).expect("valid.jsonl line is json");
        let mut out = Vec::new();
        let result = parser.parse(line, &mut out);
        assert!(
            result.is_ok(),
            "{format} valid.log:{}: {result:?}\n{line}",
            n + 1
        );
        assert_eq!(out.len(), 1, "{format} valid.log:{}", n + 1);
        let got = render(&out[0]);
        assert!(
            got == want,
            "{format} valid.log:{}\nline: {line}\ngot:  {got}\nwant: {want}",
            n + 1
        );
    }
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
            Err(e) => assert_eq!(e.to_string(), *want, "{format} malformed.log:{}", n + 1),
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
