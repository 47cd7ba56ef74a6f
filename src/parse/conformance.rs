//! Conformance with other projects' test data: `../shared/conformance/<folder>/` holds
//! lines from their test suites (`NAME.log`) and the connection fields they agree on
//! (`NAME.truth.jsonl`). Every line is parsed with our parser and every agreed field
//! compared; lines they reject must be errors here. The data is read where it lies,
//! never copied into this repository.

use std::net::IpAddr;
use std::path::Path;

use serde_json::Value;

use super::fixture::render;
use super::{ConnectionRecord, Format, ParserSpec, syslog};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/conformance");

/// The folders and the formats that read them.
const FOLDERS: &[(&str, &str)] = &[
    ("access_log", "access-log"),
    ("cef", "cef"),
    ("iptables", "iptables"),
];

#[test]
fn every_conformance_line_gives_the_agreed_fields() {
    if !Path::new(DIR).is_dir() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the conformance data is missing from {DIR}"
        );
        println!("skipped: no conformance data at {DIR}");
        return;
    }
    let mut failures = Vec::new();
    for &(folder, format) in FOLDERS {
        let format = Format::by_name(format).expect("the format is listed");
        let mut truths: Vec<_> = std::fs::read_dir(format!("{DIR}/{folder}"))
            .expect("the conformance folder is readable")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".truth.jsonl"))
            .collect();
        truths.sort();
        assert!(!truths.is_empty(), "no truth files in {folder}");
        for truth in truths {
            let (passed, total) = check_file(&truth, format, &mut failures);
            println!("{}: {passed}/{total} lines pass", truth.display());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Checks one truth file against its log; returns (lines passed, lines).
fn check_file(truth: &Path, format: Format, failures: &mut Vec<String>) -> (usize, usize) {
    let log = truth.to_string_lossy().replace(".truth.jsonl", ".log");
    let log = std::fs::read_to_string(&log).expect("each truth file has its log");
    let log: Vec<&str> = log.lines().collect();
    let truth_text = std::fs::read_to_string(truth).expect("the truth file is readable");
    let spec = ParserSpec {
        format,
        fields: None,
        pattern: None,
    };
    let mut parser = spec.build().expect("the format builds without options");
    let (mut passed, mut total) = (0, 0);
    for entry in truth_text.lines() {
        let entry: Value = serde_json::from_str(entry).expect("a truth line is json");
        let line_no = entry["line_no"].as_u64().expect("line_no") as usize;
        let line = log.get(line_no - 1).copied().unwrap_or_default();
        let at = format!("{}:{line_no}", truth.display());
        total += 1;
        assert_eq!(Some(line), entry["message"].as_str(), "{at}: log vs truth");
        let mut out = Vec::new();
        let result = parser.parse(line, &mut out);
        let problems = match (entry["status"].as_str(), result) {
            (Some("error"), Err(_)) => Vec::new(),
            (Some("error"), Ok(o)) => vec![format!("parsed ({o:?}) but must be an error")],
            (Some("record"), Err(e)) => vec![format!("must parse: {e}")],
            (Some("record"), Ok(_)) => compare(&entry["records"], &out),
            (status, _) => vec![format!("unknown status {status:?}")],
        };
        if problems.is_empty() {
            passed += 1;
        }
        failures.extend(problems.into_iter().map(|p| format!("{at}: {p}")));
    }
    (passed, total)
}

/// Every agreed field of every record, by name.
fn compare(want: &Value, got: &[ConnectionRecord]) -> Vec<String> {
    let want = want.as_array().map(Vec::as_slice).unwrap_or_default();
    if want.len() != got.len() {
        return vec![format!("{} records, want {}", got.len(), want.len())];
    }
    let mut problems = Vec::new();
    for (want, record) in want.iter().zip(got) {
        let rendered = render(record);
        for (name, value) in want.as_object().into_iter().flatten() {
            if let Some(problem) = compare_field(name, value, record, &rendered) {
                problems.push(format!("{name}: {problem}"));
            }
        }
    }
    problems
}

fn compare_field(name: &str, want: &Value, r: &ConnectionRecord, doc: &Value) -> Option<String> {
    let got = match name {
        "source.ip" | "destination.ip" => {
            let ip = |v: Option<&str>| v.and_then(|s| s.parse::<IpAddr>().ok());
            let want_ip = ip(want.as_str());
            let got_ip = r.field(name).and_then(|s| s.parse::<IpAddr>().ok());
            return (want_ip.is_none() || want_ip != got_ip)
                .then(|| format!("got {got_ip:?}, want {want}"));
        }
        "action" => r.action.map(|a| Value::from(a.name())),
        "@timestamp" => {
            let want_t = want
                .as_str()
                .and_then(|s| s.parse::<jiff::Timestamp>().ok());
            return (want_t.is_none() || want_t != r.time)
                .then(|| format!("got {:?}, want {want}", r.time));
        }
        // A yearless syslog time: we do not guess the year, but keep what was written.
        "@timestamp_noyear" => {
            if r.time.is_some() {
                return Some(format!("a time {:?} with a guessed year", r.time));
            }
            r.field("syslog.timestamp").and_then(|written| {
                let month = syslog::MONTHS.iter().position(|m| written.starts_with(m))? + 1;
                let mut rest = written.get(4..)?.split_whitespace();
                let (day, clock) = (rest.next()?.parse::<u8>().ok()?, rest.next()?);
                Some(Value::from(format!("{month:02}-{day:02}T{clock}")))
            })
        }
        dotted => dotted
            .split('.')
            .try_fold(doc, |v, part| v.get(part))
            .cloned(),
    };
    (got.as_ref() != Some(want)).then(|| format!("got {got:?}, want {want}"))
}
