//! The file inputs' settings: `filestream`, its `log` alias and `container`, with
//! Filebeat's names (`prospector.scanner.*`, `close.on_state_change.*`, `parsers`,
//! `file_identity`), validated into [`FilestreamConfig`].

use std::time::Duration;

use super::section::{Schema, Section, wrong_type};
use super::yaml::Value;
use super::{
    ConfigError, ContainerOptions, FilestreamConfig, MultilineConfig, MultilineMatch, Problem,
};
use crate::input::container::{Format, StreamFilter};

pub(super) const FILESTREAM: Schema = Schema {
    keys: &[
        "type",
        "id",
        "enabled",
        "tags",
        "fields",
        "fields_under_root",
        "parser",
        "paths",
        "prospector",
        "exclude_files",
        "include_lines",
        "exclude_lines",
        "close",
        "ignore_older",
        "harvester_limit",
        "message_max_bytes",
        "parsers",
        "file_identity",
        "clean_removed",
        "encoding",
    ],
    not_supported: &[],
    not_yet: FILESTREAM_NOT_YET,
};

/// `type: container`: filestream's settings (the same machinery reads the files) and
/// the container ones; `parsers` are not there yet (partial lines are joined without).
pub(super) const CONTAINER: Schema = Schema {
    keys: &[
        "type",
        "id",
        "enabled",
        "tags",
        "fields",
        "fields_under_root",
        "parser",
        "paths",
        "stream",
        "format",
        "prospector",
        "exclude_files",
        "include_lines",
        "exclude_lines",
        "close",
        "ignore_older",
        "harvester_limit",
        "message_max_bytes",
        "file_identity",
        "clean_removed",
        "encoding",
    ],
    not_supported: &[],
    not_yet: CONTAINER_NOT_YET,
};

const CONTAINER_NOT_YET: &[&str] = &[
    "parsers",
    "multiline",
    "json",
    "processors",
    "pipeline",
    "keep_null",
    "index",
    "publisher_pipeline",
    "clean_inactive",
    "backoff",
    "rotation",
    "take_over",
    "ignore_inactive",
    "delete",
    "compression",
    "buffer_size",
];

/// One item of filestream's `parsers` list.
const PARSER: Schema = Schema {
    keys: &["multiline"],
    not_supported: &[],
    not_yet: &["ndjson", "container", "syslog", "include_message"],
};

const MULTILINE: Schema = Schema {
    keys: &["type", "pattern", "negate", "match", "max_lines", "timeout"],
    not_supported: &[],
    not_yet: &["flush_pattern", "count_lines", "skip_newline"],
};

const FILESTREAM_NOT_YET: &[&str] = &[
    "processors",
    "pipeline",
    "keep_null",
    "index",
    "publisher_pipeline",
    "clean_inactive",
    "backoff",
    "rotation",
    "take_over",
    "ignore_inactive",
    "delete",
    "compression",
    "buffer_size",
    "allow_deprecated_id_duplication",
];

/// The `log` input: Filebeat's older names for the same settings are accepted too.
pub(super) const LOG: Schema = Schema {
    keys: &[
        "type",
        "id",
        "enabled",
        "tags",
        "fields",
        "fields_under_root",
        "parser",
        "paths",
        "prospector",
        "exclude_files",
        "include_lines",
        "exclude_lines",
        "close",
        "ignore_older",
        "harvester_limit",
        "message_max_bytes",
        "scan_frequency",
        "close_inactive",
        "max_bytes",
        "clean_removed",
    ],
    not_supported: &[],
    not_yet: &[
        "processors",
        "pipeline",
        "keep_null",
        "index",
        "publisher_pipeline",
        "encoding",
        "multiline",
        "json",
        "recursive_glob",
        "symlinks",
        "close_renamed",
        "close_removed",
        "close_eof",
        "close_timeout",
        "clean_inactive",
        "tail_files",
        "backoff",
        "max_backoff",
        "backoff_factor",
    ],
};

const PROSPECTOR: Schema = Schema {
    keys: &["scanner"],
    not_supported: &[],
    not_yet: &[],
};

const SCANNER: Schema = Schema {
    keys: &["check_interval", "fingerprint"],
    not_supported: &[],
    not_yet: &[
        "exclude_files",
        "include_files",
        "symlinks",
        "recursive_glob",
        "resend_on_touch",
    ],
};

const FINGERPRINT: Schema = Schema {
    keys: &["enabled", "offset", "length"],
    not_supported: &[],
    not_yet: &[],
};

const FILE_IDENTITY: Schema = Schema {
    keys: &["native", "fingerprint"],
    not_supported: &[],
    not_yet: &["path", "inode_marker"],
};

const CLOSE: Schema = Schema {
    keys: &["on_state_change"],
    not_supported: &[],
    not_yet: &["reader"],
};

const ON_STATE_CHANGE: Schema = Schema {
    keys: &["inactive"],
    not_supported: &[],
    not_yet: &["renamed", "removed", "check_interval"],
};

/// Filebeat input types (and lumberwatch's planned ones) that we do not have yet.
pub(super) fn filestream(s: &Section<'_>, kind: &str) -> Result<FilestreamConfig, ConfigError> {
    let mut cfg = FilestreamConfig::new(Vec::new());
    cfg.input_type = kind.to_string();
    let mut paths = s.strings("paths")?.unwrap_or_default();
    if kind == "container" {
        cfg.container = Some(container(s)?);
        if s.entry("paths").is_none() {
            paths = vec![super::section::Item {
                text: crate::config::CONTAINER_DEFAULT_PATHS.into(),
                line: s.line().unwrap_or(0),
            }];
        }
    }
    if paths.iter().all(|p| p.text.is_empty()) {
        let msg = "required; list the files to read, e.g. paths: [/var/log/*.log]";
        return Err(s.error(
            s.line_of("paths").or(s.line()),
            "paths",
            Problem::Invalid(msg.into()),
        ));
    }
    for p in &paths {
        if let Err(e) = glob::Pattern::new(&p.text) {
            let msg = format!("invalid glob {:?}: {}", p.text, e.msg);
            return Err(s.error(Some(p.line), "paths", Problem::Invalid(msg)));
        }
    }
    cfg.paths = paths.into_iter().map(|p| p.text).collect();
    cfg.exclude_files = regexes(s, "exclude_files")?;
    cfg.include_lines = regexes(s, "include_lines")?;
    cfg.exclude_lines = regexes(s, "exclude_lines")?;

    let scanner = s
        .child("prospector", &PROSPECTOR)?
        .child("scanner", &SCANNER)?;
    let inactive = s
        .child("close", &CLOSE)?
        .child("on_state_change", &ON_STATE_CHANGE)?;
    let positive = |section: &Section<'_>, key: &str| -> Result<Option<Duration>, ConfigError> {
        match section.duration(key)? {
            Some(d) if d.is_zero() => Err(section.error(
                section.line_of(key),
                key,
                Problem::Invalid("must be longer than 0s".into()),
            )),
            d => Ok(d),
        }
    };
    if let Some(d) = positive(&scanner, "check_interval")? {
        cfg.check_interval = d;
    }
    if let Some(d) = positive(&inactive, "inactive")? {
        cfg.close_inactive = d;
    }
    if kind == "log" {
        if let Some(d) = positive(s, "scan_frequency")? {
            cfg.check_interval = d;
        }
        if let Some(d) = positive(s, "close_inactive")? {
            cfg.close_inactive = d;
        }
        if let Some(n) = s.usize_min("max_bytes", 1, "a positive number of bytes")? {
            cfg.message_max_bytes = n;
        }
    }
    // Filebeat's 0 means "not set".
    cfg.ignore_older = s.duration("ignore_older")?.filter(|d| !d.is_zero());
    cfg.harvester_limit = s
        .usize_min(
            "harvester_limit",
            0,
            "a non-negative integer (0 = unlimited)",
        )?
        .unwrap_or(0);
    if let Some(n) = s.usize_min("message_max_bytes", 1, "a positive number of bytes")? {
        cfg.message_max_bytes = n;
    }
    cfg.clean_removed = s.bool("clean_removed")?.unwrap_or(true);
    // Lines are read as UTF-8 with invalid bytes replaced: Filebeat's `plain` and
    // `utf-8` (the defaults). Other encodings need a transcoder we do not have yet.
    if let Some(encoding) = s.string("encoding")?
        && !matches!(
            encoding.to_ascii_lowercase().as_str(),
            "plain" | "utf-8" | "utf8" | "ascii"
        )
    {
        return Err(s.error(
            s.line_of("encoding"),
            "encoding",
            Problem::Invalid(format!(
                "{encoding:?} is not supported yet: lumberwatch reads utf-8 (invalid bytes replaced), which also covers plain and ascii"
            )),
        ));
    }
    if kind == "filestream" {
        cfg.multiline = parsers(s)?;
    }
    if kind != "log" {
        cfg.fingerprint = fingerprint(s, &scanner)?;
    }
    Ok(cfg)
}

/// `stream` and `format` of `type: container`.
fn container(s: &Section<'_>) -> Result<ContainerOptions, ConfigError> {
    let choice = |key: &str, allowed: &[&str]| -> Result<Option<String>, ConfigError> {
        match s.string(key)? {
            Some(v) if !allowed.contains(&v.as_str()) => {
                let msg = format!("expected one of {}, got {v:?}", allowed.join(", "));
                Err(s.error(s.line_of(key), key, Problem::Invalid(msg)))
            }
            v => Ok(v),
        }
    };
    let stream = match choice("stream", &["all", "stdout", "stderr"])?.as_deref() {
        Some("stdout") => StreamFilter::Stdout,
        Some("stderr") => StreamFilter::Stderr,
        _ => StreamFilter::All,
    };
    let format = match choice("format", &["auto", "docker", "cri"])?.as_deref() {
        Some("docker") => Format::Docker,
        Some("cri") => Format::Cri,
        _ => Format::Auto,
    };
    Ok(ContainerOptions { stream, format })
}

/// `file_identity` and `prospector.scanner.fingerprint`, as in Filebeat 8.x: the
/// fingerprint identity needs the scanner to compute fingerprints.
fn fingerprint(
    s: &Section<'_>,
    scanner: &Section<'_>,
) -> Result<Option<crate::config::FingerprintConfig>, ConfigError> {
    let fp = scanner.child("fingerprint", &FINGERPRINT)?;
    let enabled = fp.bool("enabled")?.unwrap_or(false);
    let offset = fp
        .u64_min("offset", 0, "a non-negative number of bytes")?
        .unwrap_or(0);
    let length = fp
        .u64_min("length", 64, "a number of bytes, at least 64")?
        .unwrap_or(1024);
    let identity = s.child("file_identity", &FILE_IDENTITY)?;
    // `file_identity.fingerprint: ~` is how it is chosen: a null value counts.
    let chosen: Vec<(&str, usize)> = match s.entry("file_identity").map(|e| &e.value.value) {
        Some(Value::Map(entries)) => entries.iter().map(|e| (e.key.as_str(), e.line)).collect(),
        _ => Vec::new(),
    };
    let (kind, line) = match chosen.as_slice() {
        [] => return Ok(None),
        [one] => *one,
        [_, (_, line), ..] => {
            let msg = "set only one of native and fingerprint";
            return Err(identity.error(Some(*line), "", Problem::Invalid(msg.into())));
        }
    };
    if kind != "fingerprint" {
        return Ok(None);
    }
    if !enabled {
        let msg = "needs prospector.scanner.fingerprint.enabled: true";
        return Err(identity.error(Some(line), "fingerprint", Problem::Invalid(msg.into())));
    }
    Ok(Some(crate::config::FingerprintConfig { offset, length }))
}

/// `parsers`: a list of one-key mappings; `multiline` (`type: pattern`) is the one we have.
fn parsers(s: &Section<'_>) -> Result<Option<MultilineConfig>, ConfigError> {
    let Some(entry) = s.entry("parsers") else {
        return Ok(None);
    };
    let Value::Seq(items) = &entry.value.value else {
        let problem = wrong_type("a list of parsers", &entry.value);
        return Err(s.error(Some(entry.value.line), "parsers", problem));
    };
    let mut multiline: Option<(MultilineConfig, usize)> = None;
    for (i, item) in items.iter().enumerate() {
        let key = format!("parsers.{i}");
        let parser = s.nested(&key, item, &PARSER)?;
        let Some(line) = parser.line_of("multiline") else {
            let msg = "expected a parser, e.g. multiline: {type: pattern, pattern: '^\\[', negate: true, match: after}";
            return Err(s.error(Some(item.line), &key, Problem::Invalid(msg.into())));
        };
        if let Some((_, first_line)) = &multiline {
            let msg = format!(
                "a second multiline parser (the first is on line {first_line}); only one is supported"
            );
            return Err(s.error(
                Some(line),
                &format!("{key}.multiline"),
                Problem::Invalid(msg),
            ));
        }
        let m = parser.child("multiline", &MULTILINE)?;
        multiline = Some((multiline_parser(&m)?, line));
    }
    Ok(multiline.map(|(m, _)| m))
}

fn multiline_parser(m: &Section<'_>) -> Result<MultilineConfig, ConfigError> {
    let invalid = |key: &str, msg: &str| {
        m.error(
            m.line_of(key).or(m.line()),
            key,
            Problem::Invalid(msg.to_string()),
        )
    };
    match m.string("type")?.as_deref() {
        None | Some("pattern") => {}
        Some(t @ ("count" | "while_pattern")) => {
            return Err(invalid(
                "type",
                &format!("type {t} is not supported yet (supported: pattern)"),
            ));
        }
        Some(t) => {
            return Err(invalid(
                "type",
                &format!("unknown multiline type {t:?} (supported: pattern)"),
            ));
        }
    }
    let Some(pattern) = m.string("pattern")? else {
        return Err(invalid(
            "pattern",
            "required; a regular expression such as '^\\[' or '^[[:space:]]'",
        ));
    };
    if let Err(e) = regex::Regex::new(&pattern) {
        let first = e
            .to_string()
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string();
        return Err(invalid(
            "pattern",
            &format!("invalid regular expression {pattern:?}: {first}"),
        ));
    }
    let match_ = match m.string("match")?.as_deref() {
        Some("after") => MultilineMatch::After,
        Some("before") => MultilineMatch::Before,
        Some(other) => {
            return Err(invalid(
                "match",
                &format!("expected after or before, got {other:?}"),
            ));
        }
        None => {
            return Err(invalid(
                "match",
                "required; set match: after or match: before",
            ));
        }
    };
    Ok(MultilineConfig {
        pattern,
        negate: m.bool("negate")?.unwrap_or(false),
        match_,
        max_lines: m
            .usize_min("max_lines", 1, "a positive number of lines")?
            .unwrap_or(500),
        timeout: match m.duration("timeout")? {
            Some(d) if d.is_zero() => return Err(invalid("timeout", "must be longer than 0s")),
            d => d.unwrap_or(std::time::Duration::from_secs(5)),
        },
    })
}

/// A list of regular expressions, each checked here so a bad one fails at load.
fn regexes(s: &Section<'_>, key: &str) -> Result<Vec<String>, ConfigError> {
    let items = s.strings(key)?.unwrap_or_default();
    for item in &items {
        if let Err(e) = regex::Regex::new(&item.text) {
            let first = e
                .to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .to_string();
            let msg = format!("invalid regular expression {:?}: {first}", item.text);
            return Err(s.error(Some(item.line), key, Problem::Invalid(msg)));
        }
    }
    Ok(items.into_iter().map(|i| i.text).collect())
}
