//! `queue.mem` and `queue.disk`.

use std::path::PathBuf;

use super::section::{Schema, Section};
use super::syslog::{byte_size, choice};
use super::values::parse_duration;
use super::{ConfigError, DiskQueueConfig, Fsync, Problem, QueueFlush, SpooledEvents, WhenFull};

const QUEUE: Schema = Schema {
    keys: &["mem", "disk"],
    not_supported: &[],
    not_yet: &[],
};

const QUEUE_MEM: Schema = Schema {
    keys: &["events", "flush"],
    not_supported: &[],
    not_yet: &[],
};

const QUEUE_MEM_FLUSH: Schema = Schema {
    keys: &["min_events", "timeout"],
    not_supported: &[],
    not_yet: &[],
};

const QUEUE_DISK: Schema = Schema {
    keys: &[
        "path",
        "max_size",
        "segment_size",
        "when_full",
        "fsync",
        "events",
    ],
    not_supported: &[
        ("read_ahead", Some("the reader follows the output's pace")),
        (
            "write_ahead",
            Some("inputs hand events to the writer through queue.mem.events"),
        ),
        (
            "retry_interval",
            Some("a failed write is logged and its events shipped from memory"),
        ),
        (
            "max_retry_interval",
            Some("a failed write is logged and its events shipped from memory"),
        ),
    ],
    not_yet: &[],
};

/// The largest default segment: a segment is deleted whole once all of it is acked.
const MAX_DEFAULT_SEGMENT: u64 = 64 << 20;

pub(super) struct Queues {
    pub mem_events: usize,
    pub flush: QueueFlush,
    pub disk: Option<DiskQueueConfig>,
}

pub(super) fn build(root: &Section<'_>) -> Result<Queues, ConfigError> {
    let queue = root.child("queue", &QUEUE)?;
    let mem = queue.child("mem", &QUEUE_MEM)?;
    let mem_events = mem
        .usize_min("events", 1, "a positive integer")?
        .unwrap_or(3200);
    let flush = mem.child("flush", &QUEUE_MEM_FLUSH)?;
    let defaults = QueueFlush::default();
    let flush = QueueFlush {
        // Filebeat: 0 or 1 means "available at once".
        min_events: flush
            .usize_min("min_events", 0, "a non-negative integer")?
            .map_or(defaults.min_events, |n| n.max(1)),
        timeout: flush.duration("timeout")?.unwrap_or(defaults.timeout),
    };
    let disk = match queue.entry("disk") {
        None => None,
        Some(_) => Some(disk(&queue.child("disk", &QUEUE_DISK)?)?),
    };
    Ok(Queues {
        mem_events,
        flush,
        disk,
    })
}

fn disk(s: &Section<'_>) -> Result<DiskQueueConfig, ConfigError> {
    let defaults = DiskQueueConfig::default();
    let max_size = byte_size(s, "max_size")?.map_or(defaults.max_size, |n| n as u64);
    let segment_size = match byte_size(s, "segment_size")? {
        Some(n) if n as u64 > max_size => {
            let msg = format!("must not be more than max_size ({max_size} bytes)");
            return Err(s.error(
                s.line_of("segment_size"),
                "segment_size",
                Problem::Invalid(msg),
            ));
        }
        Some(n) => n as u64,
        None => (max_size / 10).clamp(1, MAX_DEFAULT_SEGMENT),
    };
    let when_full = match choice(s, "when_full", &["block", "drop_oldest"])?.as_deref() {
        Some("drop_oldest") => WhenFull::DropOldest,
        _ => WhenFull::Block,
    };
    let events = match choice(s, "events", &["unreplayable", "all"])?.as_deref() {
        Some("all") => SpooledEvents::All,
        _ => SpooledEvents::Unreplayable,
    };
    let fsync = match s.string("fsync")? {
        None => defaults.fsync,
        Some(text) => match text.as_str() {
            "always" => Fsync::Always,
            "never" => Fsync::Never,
            other => match parse_duration(other) {
                Some(d) if !d.is_zero() => Fsync::Every(d),
                _ => {
                    let msg =
                        format!("expected always, never or an interval like 1s, got {other:?}");
                    return Err(s.error(s.line_of("fsync"), "fsync", Problem::Invalid(msg)));
                }
            },
        },
    };
    let path = match s.string("path")? {
        Some(p) if p.is_empty() => {
            let problem = Problem::Invalid("must not be empty".into());
            return Err(s.error(s.line_of("path"), "path", problem));
        }
        p => p.map(PathBuf::from),
    };
    Ok(DiskQueueConfig {
        path,
        max_size,
        segment_size,
        when_full,
        fsync,
        events,
    })
}
