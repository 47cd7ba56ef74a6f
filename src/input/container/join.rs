//! Joining partial lines (Docker splits lines over 16 KiB; CRI tags them `P`) into whole
//! messages, bounded by `max_bytes`.

use std::collections::BTreeMap;

use super::{ContainerLine, Stream, StreamFilter};

/// A whole log message: one line, or partial lines of one stream joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerMessage {
    pub stream: Stream,
    /// Time of the first fragment, as Filebeat reports it.
    pub time: String,
    pub text: String,
    /// File offset of the first fragment (`log.offset`).
    pub offset: u64,
    /// The text was cut at `max_bytes`; the rest of the line was discarded
    /// (Filebeat's `log.flags: [truncated]`).
    pub truncated: bool,
    /// Docker `attrs` of the first fragment.
    pub attrs: BTreeMap<String, String>,
}

/// Joins partial lines into whole messages, one buffer per stream (stdout and stderr
/// interleave freely in one file), and drops lines of streams the filter rejects.
///
/// Memory is bounded: a message's text never grows past `max_bytes`; once cut, further
/// fragments of the same line are discarded until its final fragment arrives.
#[derive(Debug)]
pub struct Joiner {
    max_bytes: usize,
    filter: StreamFilter,
    stdout: Option<ContainerMessage>,
    stderr: Option<ContainerMessage>,
}

impl Joiner {
    pub fn new(max_bytes: usize, filter: StreamFilter) -> Self {
        Joiner {
            max_bytes,
            filter,
            stdout: None,
            stderr: None,
        }
    }

    fn pending_mut(&mut self, stream: Stream) -> &mut Option<ContainerMessage> {
        match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        }
    }

    /// Takes the next line of the file (`offset` is where it starts in the file).
    /// Returns a message when this line completes one; `None` when the line is partial
    /// or of a filtered-out stream.
    pub fn push(&mut self, line: ContainerLine, offset: u64) -> Option<ContainerMessage> {
        if !self.filter.accepts(line.stream) {
            return None;
        }
        let max_bytes = self.max_bytes;
        let pending = self.pending_mut(line.stream);
        match pending {
            Some(message) => append_bounded(message, &line.text, max_bytes),
            None => {
                let mut message = ContainerMessage {
                    stream: line.stream,
                    time: line.time,
                    text: String::new(),
                    offset,
                    truncated: false,
                    attrs: line.attrs,
                };
                append_bounded(&mut message, &line.text, max_bytes);
                *pending = Some(message);
            }
        }
        if line.partial { None } else { pending.take() }
    }

    /// Offset of the oldest fragment still waiting for the rest of its line: the
    /// registry must not advance past it, or a restart would lose that line's start.
    pub fn pending_offset(&self) -> Option<u64> {
        [&self.stdout, &self.stderr]
            .iter()
            .filter_map(|p| p.as_ref().map(|m| m.offset))
            .min()
    }

    /// Hands out whatever is still waiting (the file ended, was rotated away or the
    /// input is stopping), oldest first, so a trailing partial line is not lost.
    pub fn flush(&mut self) -> Vec<ContainerMessage> {
        let mut out: Vec<ContainerMessage> = [self.stdout.take(), self.stderr.take()]
            .into_iter()
            .flatten()
            .collect();
        out.sort_by_key(|m| m.offset);
        out
    }
}

fn append_bounded(message: &mut ContainerMessage, text: &str, max_bytes: usize) {
    if message.truncated {
        return;
    }
    let room = max_bytes.saturating_sub(message.text.len());
    if text.len() <= room {
        message.text.push_str(text);
    } else {
        message
            .text
            .push_str(&text[..text.floor_char_boundary(room)]);
        message.truncated = true;
    }
}
