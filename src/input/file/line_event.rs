//! How a file's line becomes an event's own fields: its text (UTF-8, checked fast), its
//! `log.offset` and `log.file.path` member. Shared by the harvester and by
//! [`LineEvents`], which builds the same events without reading or queueing, for
//! `bench limits`.

use super::lines::LineSplitter;
use crate::event::{Event, EventTemplate};

/// The events a harvester makes of a file's lines when the input has no parser,
/// multiline or line filter: the same bytes, without the reading and the queue, so
/// that `bench limits` can measure what building them costs on its own.
pub struct LineEvents {
    template: EventTemplate,
    path_json: String,
    lines: LineSplitter,
}

impl LineEvents {
    /// For the file at `path`, read from offset 0, lines cut at `max_bytes`.
    pub fn new(template: EventTemplate, path: &std::path::Path, max_bytes: usize) -> Self {
        LineEvents {
            template,
            path_json: path_json(path),
            lines: LineSplitter::new(0, max_bytes),
        }
    }

    /// Feeds the file's next bytes; appends the events of the lines they complete.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<Event>) {
        // As a harvester does: the lines of one read share the time they were read at.
        self.template.hold_time(std::time::SystemTime::now());
        while let Some(line) = self.lines.next_line(&mut data) {
            let (path_json, start, truncated) = (&self.path_json, line.start, line.truncated);
            out.push(self.template.event_from_line(line.text, |b| {
                write_log_member(b, path_json, start, false, truncated);
            }));
        }
    }
}

/// A line's bytes as text: as they are when they are UTF-8 (nearly always, and checked
/// fast), else with invalid sequences replaced.
pub(super) fn utf8(line: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(line) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(line),
    }
}

/// `log.file.path` as it is written into every event: a JSON string.
pub(super) fn path_json(path: &std::path::Path) -> String {
    serde_json::to_string(&path.to_string_lossy()).expect("a string always serialises")
}

/// Writes an event's `,"log":{"offset":..,"file":{"path":..}}` member (with its `flags`),
/// `path_json` being the path already serialised as a JSON string.
pub(super) fn write_log_member(
    b: &mut bytes::BytesMut,
    path_json: &str,
    start: u64,
    multiline: bool,
    truncated: bool,
) {
    b.extend_from_slice(b",\"log\":{\"offset\":");
    b.extend_from_slice(itoa::Buffer::new().format(start).as_bytes());
    b.extend_from_slice(b",\"file\":{\"path\":");
    b.extend_from_slice(path_json.as_bytes());
    b.extend_from_slice(b"}");
    match (multiline, truncated) {
        (false, false) => {}
        (false, true) => b.extend_from_slice(b",\"flags\":[\"truncated\"]"),
        (true, false) => b.extend_from_slice(b",\"flags\":[\"multiline\"]"),
        (true, true) => b.extend_from_slice(b",\"flags\":[\"multiline\",\"truncated\"]"),
    }
    b.extend_from_slice(b"}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_member_is_the_json_filebeat_writes() {
        let mut b = bytes::BytesMut::new();
        write_log_member(
            &mut b,
            &path_json(std::path::Path::new("/var/log/a \"b\".log")),
            42,
            true,
            true,
        );
        // `,"log":{..}` is a member: inside braces it is a document.
        let doc = [&b"{"[..], &b[1..], b"}"].concat();
        let v: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(v["log"]["offset"], 42);
        assert_eq!(v["log"]["file"]["path"], "/var/log/a \"b\".log");
        assert_eq!(
            v["log"]["flags"],
            serde_json::json!(["multiline", "truncated"])
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_and_valid_text_borrowed() {
        assert!(matches!(
            utf8(b"plain"),
            std::borrow::Cow::Borrowed("plain")
        ));
        assert_eq!(utf8(b"a\xffb"), "a\u{fffd}b");
    }
}
