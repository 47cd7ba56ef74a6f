//! The parsing core of the `container` input: one line of a container log file (Docker
//! `json-file` or CRI) into a [`ContainerLine`], partial lines joined into whole
//! messages by a [`Joiner`], and container identity from a log path or from Docker's
//! `config.v2.json`.
//!
//! Everything here is a pure function of its input except [`read_docker_metadata`].
//! It must never panic on what it reads and never drop a line silently: a malformed
//! line is a [`ContainerLineError`] that the caller ships as a plain event tagged as a
//! parse failure.

mod decode;
mod join;
mod path;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use decode::{Decoded, Decoder, timestamp};
pub use join::{ContainerMessage, Joiner};
pub use path::{
    ContainerLogPath, ContainerMeta, DOCKER_CONFIG_MAX_BYTES, docker_config_path, docker_metadata,
    parse_log_path, read_docker_metadata,
};

use serde::Deserialize;

/// Which output stream of the container a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// The name Docker and CRI write, and Filebeat puts in `stream`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn from_name(name: &str) -> Option<Stream> {
        match name {
            "stdout" => Some(Stream::Stdout),
            "stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }
}

/// `format:` of the container input, as in Filebeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Decide per line: a line starting with `{` is Docker json-file, anything else CRI.
    #[default]
    Auto,
    Docker,
    Cri,
}

/// `stream:` of the container input, as in Filebeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamFilter {
    #[default]
    All,
    Stdout,
    Stderr,
}

impl StreamFilter {
    pub fn accepts(self, stream: Stream) -> bool {
        match self {
            StreamFilter::All => true,
            StreamFilter::Stdout => stream == Stream::Stdout,
            StreamFilter::Stderr => stream == Stream::Stderr,
        }
    }
}

/// One line of a container log file, decoded but not yet joined with its siblings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerLine {
    pub stream: Stream,
    /// The timestamp exactly as the runtime wrote it (RFC 3339, usually nanoseconds).
    pub time: String,
    /// The log text without its line terminator.
    pub text: String,
    /// The runtime split a longer line here (Docker at 16 KiB, CRI tag `P`); the rest
    /// follows in later lines of the same stream.
    pub partial: bool,
    /// Docker's `attrs` (labels/env the daemon was told to log); empty for CRI.
    pub attrs: BTreeMap<String, String>,
}

/// Why a line is not a container log line. Values are clipped so a hostile line
/// cannot make an error message as large as itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainerLineError {
    #[error("empty line")]
    Empty,
    #[error("docker json-file line is not valid json: {0}")]
    Json(String),
    #[error("docker json-file line has no \"{0}\" field")]
    MissingField(&'static str),
    #[error("stream {0:?} is neither stdout nor stderr")]
    BadStream(String),
    #[error("timestamp {0:?} is not rfc 3339")]
    BadTime(String),
    #[error(
        "cri line has {0} of the 3 space-separated fields before the message (time stream tag)"
    )]
    CriTooFewFields(usize),
    #[error("cri tag {0:?} is neither F (full) nor P (partial)")]
    BadTag(String),
}

/// Longest value quoted in an error, in bytes.
const ERROR_VALUE_MAX_BYTES: usize = 64;

fn clip(value: &str) -> String {
    if value.len() <= ERROR_VALUE_MAX_BYTES {
        value.to_string()
    } else {
        let end = value.floor_char_boundary(ERROR_VALUE_MAX_BYTES);
        format!("{}...", &value[..end])
    }
}

/// Parses one line (with or without its `\n`) in the given format. Invalid UTF-8 is
/// replaced with U+FFFD first, as Filebeat's `encoding: utf-8` does.
pub fn parse_line(line: &[u8], format: Format) -> Result<ContainerLine, ContainerLineError> {
    let line = String::from_utf8_lossy(line);
    parse_line_str(&line, format)
}

/// [`parse_line`] for text that is already UTF-8.
pub fn parse_line_str(line: &str, format: Format) -> Result<ContainerLine, ContainerLineError> {
    match format {
        Format::Docker => parse_docker(line),
        Format::Cri => parse_cri(line),
        Format::Auto => match detect_format(line) {
            Format::Docker => parse_docker(line),
            _ => parse_cri(line),
        },
    }
}

/// Filebeat's rule: Docker json-file lines are JSON objects, CRI lines start with a
/// timestamp, so the first byte decides.
pub fn detect_format(line: &str) -> Format {
    if line.trim_start().starts_with('{') {
        Format::Docker
    } else {
        Format::Cri
    }
}

fn strip_terminator(text: &str) -> &str {
    let text = text.strip_suffix('\n').unwrap_or(text);
    text.strip_suffix('\r').unwrap_or(text)
}

#[derive(Deserialize)]
struct DockerJsonLine {
    log: Option<String>,
    stream: Option<String>,
    time: Option<String>,
    attrs: Option<BTreeMap<String, String>>,
}

/// Parses a line written by Docker's `json-file` driver:
/// `{"log":"text\n","stream":"stdout","time":"2026-03-01T04:12:09.123456789Z"}`.
/// A `log` value without a trailing `\n` is a partial line.
pub fn parse_docker(line: &str) -> Result<ContainerLine, ContainerLineError> {
    let line = strip_terminator(line);
    if line.trim().is_empty() {
        return Err(ContainerLineError::Empty);
    }
    let raw: DockerJsonLine =
        serde_json::from_str(line).map_err(|e| ContainerLineError::Json(clip(&e.to_string())))?;
    let log = raw.log.ok_or(ContainerLineError::MissingField("log"))?;
    let stream_name = raw
        .stream
        .ok_or(ContainerLineError::MissingField("stream"))?;
    let time = raw.time.ok_or(ContainerLineError::MissingField("time"))?;
    let stream = Stream::from_name(&stream_name)
        .ok_or_else(|| ContainerLineError::BadStream(clip(&stream_name)))?;
    if !is_rfc3339(&time) {
        return Err(ContainerLineError::BadTime(clip(&time)));
    }
    let partial = !log.ends_with('\n');
    let text = if partial {
        log
    } else {
        strip_terminator(&log).to_string()
    };
    Ok(ContainerLine {
        stream,
        time,
        text,
        partial,
        attrs: raw.attrs.unwrap_or_default(),
    })
}

/// Parses a line in the CRI logging format:
/// `2026-03-01T04:12:09.123456789Z stdout F message text`. The tag is `F` (full) or `P`
/// (partial), optionally followed by `:`-separated tags that are ignored. The message
/// may be empty (`... stdout F ` or, trailing space trimmed, `... stdout F`).
pub fn parse_cri(line: &str) -> Result<ContainerLine, ContainerLineError> {
    let line = strip_terminator(line);
    if line.is_empty() {
        return Err(ContainerLineError::Empty);
    }
    let mut fields = line.splitn(4, ' ');
    let time = fields.next().unwrap_or("");
    let (Some(stream_name), Some(tag)) = (fields.next(), fields.next()) else {
        let found = line.splitn(3, ' ').count();
        return Err(ContainerLineError::CriTooFewFields(found));
    };
    let text = fields.next().unwrap_or("");
    if !is_rfc3339(time) {
        return Err(ContainerLineError::BadTime(clip(time)));
    }
    let stream = Stream::from_name(stream_name)
        .ok_or_else(|| ContainerLineError::BadStream(clip(stream_name)))?;
    let partial = match tag.split(':').next() {
        Some("F") => false,
        Some("P") => true,
        _ => return Err(ContainerLineError::BadTag(clip(tag))),
    };
    Ok(ContainerLine {
        stream,
        time: time.to_string(),
        text: text.to_string(),
        partial,
        attrs: BTreeMap::new(),
    })
}

/// Shape check for RFC 3339 as Go's `time.RFC3339Nano` writes it:
/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`. Ranges are checked loosely (no calendar).
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(range)?;
        part.iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let date_time_ok = (|| {
        digits(0..4)?;
        let month = digits(5..7)?;
        let day = digits(8..10)?;
        let hour = digits(11..13)?;
        let minute = digits(14..16)?;
        let second = digits(17..19)?;
        let separators = b[4] == b'-'
            && b[7] == b'-'
            && matches!(b[10], b'T' | b't')
            && b[13] == b':'
            && b[16] == b':';
        Some(
            separators
                && (1..=12).contains(&month)
                && (1..=31).contains(&day)
                && hour <= 23
                && minute <= 59
                && second <= 60,
        )
    })();
    if date_time_ok != Some(true) {
        return false;
    }
    let mut rest = &b[19..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
                && (h1 - b'0') * 10 + (h2 - b'0') <= 23
                && (m1 - b'0') * 10 + (m2 - b'0') <= 59
        }
        _ => false,
    }
}
