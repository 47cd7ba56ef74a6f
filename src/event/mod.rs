//! The unit that flows from inputs through the queue to the output, and how inputs
//! build it: Filebeat-shaped JSON, serialised once, straight into its final bytes.

mod escape;

use escape::write_json_ascii;
pub use escape::write_json_str;

use std::time::SystemTime;

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Map, Value, json};

/// One event, already serialised as the JSON document that goes on the wire.
/// Inputs serialise once, at the edge; the output frames these bytes as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub json: Bytes,
    /// Where the event was read from, for inputs that can resume (files): when the
    /// event is acked, this range of the source counts as shipped.
    pub origin: Option<Origin>,
}

/// A byte range of a resumable source (a file), identified by the input's own id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Origin {
    pub source: u64,
    pub start: u64,
    pub end: u64,
    /// How many events share this range (one line that became several records, like
    /// the flow tuples of an Azure record): the range counts as shipped only when all
    /// of them are acked, whatever order the acks come in.
    pub parts: u32,
}

impl Origin {
    /// The range of one event.
    pub fn whole(source: u64, start: u64, end: u64) -> Self {
        Origin {
            source,
            start,
            end,
            parts: 1,
        }
    }
}

impl Event {
    pub fn from_json(json: impl Into<Bytes>) -> Self {
        Event {
            json: json.into(),
            origin: None,
        }
    }
}

/// Who is shipping: the same for every event of one agent.
#[derive(Debug, Clone)]
pub struct AgentInfo {
    /// `@metadata.beat` (`lumberwatch`, or `filebeat` for a drop-in).
    pub beat: String,
    /// `agent.name` (config `name`, default the host name).
    pub name: String,
    pub hostname: String,
    /// `agent.ephemeral_id`: new at every start.
    pub ephemeral_id: String,
}

impl AgentInfo {
    pub fn new(beat: &str, name: Option<&str>) -> Self {
        let hostname = hostname::get()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into());
        let ephemeral_id = format!(
            "{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        AgentInfo {
            beat: beat.to_string(),
            name: name.unwrap_or(&hostname).to_string(),
            hostname,
            ephemeral_id,
        }
    }
}

/// What an input adds to each of its events besides the message.
#[derive(Debug, Clone, Default)]
pub struct EventShape {
    /// `input.type`.
    pub input_type: String,
    pub tags: Vec<String>,
    pub fields: Map<String, Value>,
    pub fields_under_root: bool,
}

/// Builds the events of one input. Everything that is the same for every event is
/// serialised once, here; per event only the timestamp, the message and the
/// per-line fields are written.
#[derive(Debug, Clone)]
pub struct EventTemplate {
    /// `,"@metadata":{...},"input":...` up to (not including) the closing brace.
    tail: Vec<u8>,
    /// The last `@timestamp` written and the millisecond it is for: formatting a time
    /// costs more than the rest of a small event, and at speed most events share one.
    clock: (u128, String),
    /// Whether the source set the time [`EventTemplate::event`] stamps (the moment a
    /// file's bytes were read: every line of one read shares it, already in `clock`);
    /// else each event reads the clock.
    held: bool,
    /// The rest of the current chunk, where the next event is written.
    chunk: BytesMut,
}

pub const ECS_VERSION: &str = "8.0.0";

/// The tag of events whose line did not parse (container lines, connection logs):
/// they are shipped as they are, never dropped.
pub const PARSE_FAILURE_TAG: &str = "lumberwatch_parse_failure";

impl EventTemplate {
    pub fn new(agent: &AgentInfo, shape: &EventShape) -> Self {
        let version = env!("CARGO_PKG_VERSION");
        let mut doc = Map::new();
        doc.insert(
            "@metadata".into(),
            json!({"beat": agent.beat, "type": "_doc", "version": version}),
        );
        doc.insert("input".into(), json!({"type": shape.input_type}));
        doc.insert("ecs".into(), json!({"version": ECS_VERSION}));
        doc.insert("host".into(), json!({"name": agent.hostname}));
        doc.insert(
            "agent".into(),
            json!({"type": "lumberwatch", "version": version, "name": agent.name,
                   "hostname": agent.hostname, "ephemeral_id": agent.ephemeral_id}),
        );
        if !shape.tags.is_empty() {
            doc.insert("tags".into(), json!(shape.tags));
        }
        if shape.fields_under_root {
            doc.extend(shape.fields.clone());
        } else if !shape.fields.is_empty() {
            doc.insert("fields".into(), Value::Object(shape.fields.clone()));
        }
        EventTemplate::from_doc(doc)
    }

    /// The template whose static part is `doc`.
    fn from_doc(doc: Map<String, Value>) -> Self {
        let mut tail =
            serde_json::to_vec(&Value::Object(doc)).expect("a json map always serialises");
        // `{"a":..}` -> `,"a":..`: the per-event part is written in front of it.
        tail.pop();
        tail[0] = b',';
        EventTemplate {
            tail,
            clock: (0, String::new()),
            held: false,
            chunk: BytesMut::new(),
        }
    }

    /// An event with `message`, the current time, and `extra` writing further
    /// members (each starting with a comma) such as `,"log":{"offset":12}`.
    pub fn event(&mut self, message: &str, extra: impl FnOnce(&mut BytesMut)) -> Event {
        self.event_now(message.len(), |b| write_json_str(b, message), extra)
    }

    /// [`EventTemplate::event`] for a line as read: checked as UTF-8 while it is escaped
    /// (ASCII, nearly always), else with invalid sequences replaced.
    pub fn event_from_line(&mut self, line: &[u8], extra: impl FnOnce(&mut BytesMut)) -> Event {
        let message = |b: &mut BytesMut| {
            if !write_json_ascii(b, line) {
                write_json_str(b, &String::from_utf8_lossy(line));
            }
        };
        self.event_now(line.len(), message, extra)
    }

    /// An event stamped with the held time or the clock's, its message written by
    /// `message` (about `len` bytes).
    fn event_now(
        &mut self,
        len: usize,
        message: impl FnOnce(&mut BytesMut),
        extra: impl FnOnce(&mut BytesMut),
    ) -> Event {
        if !self.held {
            self.set_clock(SystemTime::now());
        }
        let timestamp = std::mem::take(&mut self.clock.1);
        let event = self.build(&timestamp, len, message, extra);
        self.clock.1 = timestamp;
        event
    }

    /// Stamps the events made from now on with `now` instead of reading the clock for
    /// each: a file input sets it at every read, so the lines of one read share the
    /// time they were read at.
    pub fn hold_time(&mut self, now: SystemTime) {
        self.held = true;
        self.set_clock(now);
    }

    /// Makes `now` the time events are stamped with, formatting it only when its
    /// millisecond differs from the last one's.
    fn set_clock(&mut self, now: SystemTime) {
        let ms = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        if ms != self.clock.0 || self.clock.1.is_empty() {
            self.clock = (ms, humantime::format_rfc3339_millis(now).to_string());
        }
    }

    /// Lets go of the chunk events are carved from (an idle source should not hold one:
    /// a hundred quiet files would keep 25 MiB). Events already made keep their part.
    pub fn release_chunk(&mut self) {
        self.chunk = BytesMut::new();
    }

    /// [`EventTemplate::event`] with a given `@timestamp` (RFC 3339, written as is):
    /// for sources that say when a line was logged (container runtimes).
    pub fn event_at(
        &mut self,
        timestamp: &str,
        message: &str,
        extra: impl FnOnce(&mut BytesMut),
    ) -> Event {
        self.build(
            timestamp,
            message.len(),
            |b| write_json_str(b, message),
            extra,
        )
    }

    fn build(
        &mut self,
        timestamp: &str,
        len: usize,
        message: impl FnOnce(&mut BytesMut),
        extra: impl FnOnce(&mut BytesMut),
    ) -> Event {
        // Events are carved out of shared chunks: one allocation per ~64 KiB of events
        // instead of one per event, freed when the last event of the chunk is acked.
        let estimate = 64 + len + self.tail.len();
        if self.chunk.capacity() < estimate {
            self.chunk = BytesMut::with_capacity(CHUNK_BYTES.max(estimate * 2));
        }
        let buf = &mut self.chunk;
        buf.extend_from_slice(b"{\"@timestamp\":\"");
        buf.extend_from_slice(timestamp.as_bytes());
        buf.extend_from_slice(b"\",\"message\":");
        message(buf);
        extra(buf);
        buf.extend_from_slice(&self.tail);
        buf.put_u8(b'}');
        Event {
            json: buf.split().freeze(),
            origin: None,
        }
    }

    /// The same template with `tag` added to the event's `tags` (for events that must
    /// be told apart, such as lines that failed to parse).
    pub fn with_tag(&self, tag: &str) -> EventTemplate {
        let mut whole = self.tail.clone();
        whole[0] = b'{';
        whole.push(b'}');
        let mut doc: Map<String, Value> =
            serde_json::from_slice(&whole).expect("the tail is a json map without its braces");
        match doc.get_mut("tags") {
            Some(Value::Array(tags)) => tags.push(json!(tag)),
            Some(other) => *other = json!([other.take(), tag]),
            None => {
                doc.insert("tags".into(), json!([tag]));
            }
        }
        EventTemplate::from_doc(doc)
    }
}

/// Size of the chunks events are written into.
const CHUNK_BYTES: usize = 64 << 10;

#[cfg(test)]
mod tests {
    use super::*;

    fn agent() -> AgentInfo {
        AgentInfo {
            beat: "filebeat".into(),
            name: "web-1".into(),
            hostname: "web-1".into(),
            ephemeral_id: "e".into(),
        }
    }

    #[test]
    fn a_line_as_read_makes_the_event_its_text_makes() {
        let mut template = EventTemplate::new(&agent(), &EventShape::default());
        template.hold_time(SystemTime::UNIX_EPOCH);
        for line in [
            &b"plain \"quoted\" line"[..],
            "caf\u{e9} \u{65e5}".as_bytes(),
            b"bad \xff\xfe byte",
            b"",
        ] {
            let text = String::from_utf8_lossy(line);
            let from_line = template.event_from_line(line, |b| b.extend_from_slice(b",\"n\":1"));
            let from_text = template.event(&text, |b| b.extend_from_slice(b",\"n\":1"));
            assert_eq!(from_line, from_text, "{text:?}");
            let v: Value = serde_json::from_slice(&from_line.json).unwrap();
            assert_eq!(v["message"], json!(text));
        }
    }

    #[test]
    fn events_are_filebeat_shaped_json() {
        let mut fields = Map::new();
        fields.insert("env".into(), json!("prod"));
        let shape = EventShape {
            input_type: "stdin".into(),
            tags: vec!["a".into()],
            fields,
            fields_under_root: false,
        };
        let e = EventTemplate::new(&agent(), &shape).event("he said \"hi\"\n", |b| {
            b.extend_from_slice(br#","log":{"offset":7}"#)
        });
        let v: Value = serde_json::from_slice(&e.json).unwrap();
        assert_eq!(v["message"], "he said \"hi\"\n");
        assert_eq!(v["@metadata"]["beat"], "filebeat");
        assert_eq!(v["@metadata"]["type"], "_doc");
        assert_eq!(v["input"]["type"], "stdin");
        assert_eq!(v["host"]["name"], "web-1");
        assert_eq!(v["agent"]["type"], "lumberwatch");
        assert_eq!(v["ecs"]["version"], ECS_VERSION);
        assert_eq!(v["log"]["offset"], 7);
        assert_eq!(v["tags"], json!(["a"]));
        assert_eq!(v["fields"]["env"], "prod");
        let ts = v["@timestamp"].as_str().unwrap();
        assert!(humantime::parse_rfc3339(ts).is_ok(), "{ts}");
    }

    #[test]
    fn a_tagged_template_adds_its_tag_and_keeps_the_rest() {
        let shape = EventShape {
            input_type: "container".into(),
            tags: vec!["a".into()],
            ..Default::default()
        };
        let template = EventTemplate::new(&agent(), &shape);
        let mut tagged = template.with_tag("parse_failure");
        let e = tagged.event_at("2026-03-01T04:12:09.123Z", "x", |_| {});
        let v: Value = serde_json::from_slice(&e.json).unwrap();
        assert_eq!(v["tags"], json!(["a", "parse_failure"]));
        assert_eq!(v["input"]["type"], "container");
        assert_eq!(v["@timestamp"], "2026-03-01T04:12:09.123Z");
        let untagged = EventTemplate::new(&agent(), &EventShape::default()).with_tag("t");
        let v: Value = serde_json::from_slice(&untagged.clone().event("y", |_| {}).json).unwrap();
        assert_eq!(v["tags"], json!(["t"]));
    }

    #[test]
    fn fields_under_root_are_merged_into_the_event() {
        let mut fields = Map::new();
        fields.insert("env".into(), json!("prod"));
        let shape = EventShape {
            input_type: "generator".into(),
            fields,
            fields_under_root: true,
            ..Default::default()
        };
        let e = EventTemplate::new(&agent(), &shape).event("x", |_| {});
        let v: Value = serde_json::from_slice(&e.json).unwrap();
        assert_eq!(v["env"], "prod");
        assert!(v.get("fields").is_none());
        assert!(v.get("tags").is_none());
    }
}
