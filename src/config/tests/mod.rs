//! Tests for config loading, one file per concern. Every error test asserts the whole
//! one-line message, so the file, line and key in it are checked too.

mod check;
mod conntrack;
mod env;
mod examples;
mod garbage;
mod inputs;
mod layout;
mod output;
mod parser;
mod rules;
mod settings;
mod syslog;
mod wrong_types;

use std::ffi::OsString;

use super::{Config, ConfigError, parse_with_env};

/// The smallest valid config; tests append to it or replace parts of it.
pub(super) const MINIMAL: &str =
    "lumberwatch.inputs:\n  - type: stdin\noutput.logstash.hosts: [\"localhost\"]\n";

pub(super) fn no_env(_: &str) -> Option<OsString> {
    None
}

/// Parses with an empty environment; panics with the message on error.
pub(super) fn ok(text: &str) -> Config {
    ok_env(text, &[])
}

pub(super) fn ok_env(text: &str, vars: &[(&str, &str)]) -> Config {
    match try_env(text, vars) {
        Ok(config) => config,
        Err(e) => panic!("expected the config to load, got: {e}\n--- config ---\n{text}"),
    }
}

/// The error message for a config that must not load, with an empty environment.
pub(super) fn err(text: &str) -> String {
    err_env(text, &[])
}

pub(super) fn err_env(text: &str, vars: &[(&str, &str)]) -> String {
    match try_env(text, vars) {
        Ok(config) => panic!("expected an error, got {config:?}\n--- config ---\n{text}"),
        Err(e) => e.to_string(),
    }
}

pub(super) fn try_env(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let lookup = |name: &str| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| OsString::from(*v))
    };
    parse_with_env(text, "config.yml", &lookup)
}

/// MINIMAL's input plus an `output.logstash` section made of `lines` (indented 2).
pub(super) fn logstash(lines: &str) -> String {
    let body: String = lines.lines().map(|l| format!("  {l}\n")).collect();
    format!(
        "lumberwatch.inputs:\n  - type: stdin\noutput.logstash:\n  hosts: [\"localhost\"]\n{body}"
    )
}

pub(super) fn logstash_of(config: &Config) -> &super::LogstashConfig {
    match &config.output {
        super::OutputConfig::Logstash(ls) => ls,
        other => panic!("expected output.logstash, got {other:?}"),
    }
}
