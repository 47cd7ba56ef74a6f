//! Loading the YAML configuration file into the typed [`Config`].
//!
//! The layout is Filebeat's (DESIGN §7): a Filebeat user can point lumberwatch at their
//! `filebeat.yml` and get either the same behaviour or one clear error per key we do not
//! support. Loading happens in three steps, each in its own module:
//!
//! 1. `yaml`: the text is parsed into a small tree that remembers the line of every key and
//!    value (anchors and `<<` merges resolved, duplicate keys rejected);
//! 2. `normalize`: `${VAR}` / `${VAR:default}` / `${VAR:?message}` are expanded in values
//!    (`env`), and dotted keys are split, so `output.logstash.hosts: [..]`,
//!    `output: {logstash: {hosts: [..]}}` and any mix of the two are the same tree;
//! 3. `settings`, `inputs`, `output`, `rules`: the tree is walked by hand into [`Config`],
//!    with a schema per section (`section`), so every error names the file, the line and
//!    the key.
//!
//! Merging follows go-ucfg, the library Filebeat loads its config with: two spellings of the
//! same section (`output.logstash:` and `output.logstash.ssl.enabled:`) merge, but setting
//! the same value twice is an error that names both lines. Filebeat's YAML parser silently
//! keeps the last of two identical keys in one mapping; we reject that too, because a
//! setting that is silently overridden is how a config stops meaning what it says.
//!
//! Other go-ucfg/Filebeat rules kept here: a null value (`ssl:` with nothing after it) is
//! the same as leaving the key out; inputs and outputs with `enabled: false` are skipped
//! without being checked; a quoted `"10"` is still a number and a single string is a
//! one-element list; a value that is exactly one `${VAR}` may hold a list (`a, b` or
//! `[a, b]`). [`load`] stops at the first problem, outer sections before inner ones;
//! [`check`] goes on past every key it leaves out and reports them all (`test config`).
//!
//! Relative paths (`path.data`, `ssl.certificate_authorities`, ...) are kept as written:
//! like Filebeat, they are relative to the working directory, not to the config file.
//!
//! This module never opens sockets or certificate files and never logs; it only reads the
//! config file (in [`load`]) and the environment.

mod conntrack;
mod env;
mod files;
mod flows;
mod inputs;
mod normalize;
mod output;
mod parser;
mod queue;
mod rules;
mod section;
mod settings;
mod syslog;
pub mod types;
mod values;
mod yaml;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

pub use conntrack::{ConntrackConfig, ConntrackFilter};
pub use types::*;

/// Why a config file could not be loaded. `Display` is one line naming the file, the line
/// and the key, e.g. `config.yml:12: output.logstash.bulk_max_size: expected a positive
/// integer, got "lots"`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid YAML (or not a YAML shape a config can have).
    #[error("{origin}:{line}: invalid YAML: {message}")]
    Yaml {
        origin: String,
        line: usize,
        message: String,
    },
    /// The YAML is fine but a setting is not.
    #[error("{at}: {problem}")]
    Invalid { at: Location, problem: Problem },
}

impl ConfigError {
    /// The 1-based line the error points at, when it points at one.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Yaml { line, .. } => Some(*line),
            ConfigError::Invalid { at, .. } => at.line,
        }
    }

    /// The dotted key the error is about (`output.logstash.hosts`, `filebeat.inputs.0.type`).
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { at, .. } => Some(&at.key),
            _ => None,
        }
    }
}

/// Where in the config file a problem is: file, line (when there is one) and dotted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub origin: String,
    pub line: Option<usize>,
    pub key: String,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: ", self.origin, line)?,
            None => write!(f, "{}: ", self.origin)?,
        }
        // A key YAML let hold a newline or other control characters is shown escaped, so
        // the error stays one line.
        if self.key.chars().any(char::is_control) {
            write!(f, "{:?}", self.key)
        } else {
            f.write_str(&self.key)
        }
    }
}

/// What is wrong with the setting at a [`Location`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("unknown key{}", match suggestion {
        Some(s) => format!(" (did you mean {s}?)"),
        None => String::new(),
    })]
    UnknownKey { suggestion: Option<String> },
    /// A Filebeat setting lumberwatch deliberately does not implement.
    #[error("not supported by lumberwatch{}", hint.map(|h| format!(" ({h})")).unwrap_or_default())]
    NotSupported { hint: Option<&'static str> },
    /// A Filebeat setting lumberwatch does not implement yet.
    #[error("not supported yet")]
    NotSupportedYet,
    #[error(
        "input type {0} is not supported yet (supported: filestream, log, container, syslog, stdin, generator)"
    )]
    InputTypeNotSupportedYet(String),
    #[error(
        "unknown input type {0:?} (supported: filestream, log, container, syslog, stdin, generator)"
    )]
    UnknownInputType(String),
    #[error("only output.logstash and output.console are supported")]
    OutputNotSupported,
    #[error("expected {expected}, got {got}")]
    WrongType { expected: String, got: String },
    /// The same key set twice, in one mapping or through dotted and nested spellings.
    #[error("set twice (first on line {first_line})")]
    Duplicate { first_line: usize },
    /// Two settings that mean the same thing (or exclude each other) are both set.
    #[error("conflicts with {other} on line {other_line}; set only one of them")]
    Conflict { other: String, other_line: usize },
    #[error("{}environment variable {name} is not set{}",
        message.as_ref().map(|m| format!("{m}: ")).unwrap_or_default(),
        if message.is_some() { "" } else { " and has no default" })]
    EnvVarUnset {
        name: String,
        message: Option<String>,
    },
    #[error("{0}")]
    Invalid(String),
}

/// The line after [`check`]'s problems: how many, by kind, e.g. `9 problems in
/// filebeat.yml (7 not supported yet, 2 not supported)`.
pub fn summary(problems: &[ConfigError], origin: &str) -> String {
    let mut kinds: Vec<(&str, usize)> = Vec::new();
    for error in problems {
        let kind = match error {
            ConfigError::Invalid { problem, .. } => match problem {
                Problem::NotSupportedYet | Problem::InputTypeNotSupportedYet(_) => {
                    "not supported yet"
                }
                Problem::NotSupported { .. } | Problem::OutputNotSupported => "not supported",
                Problem::UnknownKey { .. } | Problem::UnknownInputType(_) => "unknown",
                _ => "invalid",
            },
            ConfigError::Read { .. } | ConfigError::Yaml { .. } => "invalid",
        };
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((kind, 1)),
        }
    }
    kinds.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let n = problems.len();
    let plural = if n == 1 { "" } else { "s" };
    format!("{n} problem{plural} in {origin} ({})", kinds.join(", "))
}

/// Reads and parses the config file at `path`; messages name it as given.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, &path.display().to_string())
}

/// Parses config text, expanding `${VAR}` from the process environment. `origin` is the
/// file name used in error messages.
pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
    parse_with_env(text, origin, &|name| std::env::var_os(name))
}

/// [`parse`] with the environment given as a lookup function (tests, `-E` style overrides).
pub fn parse_with_env(
    text: &str,
    origin: &str,
    env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<Config, ConfigError> {
    let raw = yaml::parse(text, origin)?;
    let tree = normalize::normalize(raw, origin, env)?;
    settings::build(&tree, origin, &section::Problems::first())
}

/// Like [`load`], but goes on past every key that is unknown, not supported or not
/// supported yet (and every input of a type lumberwatch does not have yet), leaving it
/// out: the config when there is no problem, otherwise every problem found, in line
/// order. A problem that stops the walk (a value of the wrong type, invalid YAML) is
/// the last one found. For `test config` on a `filebeat.yml`.
pub fn check(path: &Path) -> Result<Config, Vec<ConfigError>> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        vec![ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }]
    })?;
    check_with_env(&text, &path.display().to_string(), &|name| {
        std::env::var_os(name)
    })
}

/// [`check`] on config text, with the environment given as a lookup function.
pub fn check_with_env(
    text: &str,
    origin: &str,
    env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<Config, Vec<ConfigError>> {
    let raw = yaml::parse(text, origin).map_err(|e| vec![e])?;
    let tree = normalize::normalize(raw, origin, env).map_err(|e| vec![e])?;
    let problems = section::Problems::all();
    let built = settings::build(&tree, origin, &problems);
    let mut found = problems.into_vec();
    match built {
        Ok(config) if found.is_empty() => return Ok(config),
        Ok(_) => {}
        Err(stop) => found.push(stop),
    }
    // Sections are walked outer before inner; a reader goes down the file.
    found.sort_by_key(|e| e.line().unwrap_or(usize::MAX));
    Err(found)
}
