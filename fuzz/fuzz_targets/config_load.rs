//! The config loader (`lumberwatch::config::parse_with_env`, what `load` and
//! `test config` run) on any text, with one environment variable set.
//!
//! Invariants, beyond "no panic":
//! - an error is one non-empty line that starts with the file name, and the line it
//!   names (if any) is a line of the text;
//! - loading is deterministic: the same text gives the same config or the same error.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lumberwatch::config::{ConfigError, parse_with_env};

const ORIGIN: &str = "fuzz.yml";

fn env(name: &str) -> Option<std::ffi::OsString> {
    match name {
        "SET" => Some("a, [b".into()),
        "PORT" => Some("5044".into()),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let first = parse_with_env(text, ORIGIN, &env);
    if let Err(e) = &first {
        let message = e.to_string();
        assert!(!message.is_empty());
        assert!(
            !message.contains(['\n', '\r']),
            "error is not one line: {message:?}"
        );
        assert!(
            message.starts_with(&format!("{ORIGIN}:")),
            "error does not start with the file name: {message:?}"
        );
        if let Some(line) = e.line() {
            let lines = text.split('\n').count();
            assert!(
                (1..=lines).contains(&line),
                "error names line {line} of {lines}: {message:?}"
            );
        }
        assert!(!matches!(e, ConfigError::Read { .. }));
    }
    let second = parse_with_env(text, ORIGIN, &env);
    match (&first, &second) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "the same text loaded twice"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "the same text loaded twice"),
        _ => panic!("the same text loaded twice: {first:?} vs {second:?}"),
    }
});
