//! The connection record: what every connection-log format is turned into, and how it
//! is written into an event with ECS names.

use std::borrow::Cow;
use std::net::IpAddr;

use bytes::{BufMut, BytesMut};
use serde_json::{Map, Value, json};

/// One side of a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: Option<IpAddr>,
    pub port: Option<u16>,
    /// Bytes sent by this side.
    pub bytes: Option<u64>,
    /// Packets sent by this side.
    pub packets: Option<u64>,
}

/// `network.transport`, by IANA protocol number where it has a common name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Tcp,
    Udp,
    Icmp,
    Ipv6Icmp,
    Other(u8),
}

impl Transport {
    pub fn from_number(n: u8) -> Transport {
        match n {
            6 => Transport::Tcp,
            17 => Transport::Udp,
            1 => Transport::Icmp,
            58 => Transport::Ipv6Icmp,
            n => Transport::Other(n),
        }
    }

    /// A protocol by name as logs spell it (`TCP`, `udp`, `ICMPv6`, `T`/`U` as in Azure
    /// flow tuples) or by number.
    pub fn from_name(name: &str) -> Option<Transport> {
        let t = match name.to_ascii_lowercase().as_str() {
            "tcp" | "t" => Transport::Tcp,
            "udp" | "u" => Transport::Udp,
            "icmp" => Transport::Icmp,
            "icmpv6" | "ipv6-icmp" | "icmp6" => Transport::Ipv6Icmp,
            other => return other.parse().ok().map(Transport::from_number),
        };
        Some(t)
    }

    pub fn number(self) -> u8 {
        match self {
            Transport::Tcp => 6,
            Transport::Udp => 17,
            Transport::Icmp => 1,
            Transport::Ipv6Icmp => 58,
            Transport::Other(n) => n,
        }
    }

    /// The ECS name: `tcp`, `udp`, `icmp`, `ipv6-icmp`, or the number for others.
    pub fn name(self) -> Cow<'static, str> {
        match self {
            Transport::Tcp => "tcp".into(),
            Transport::Udp => "udp".into(),
            Transport::Icmp => "icmp".into(),
            Transport::Ipv6Icmp => "ipv6-icmp".into(),
            Transport::Other(n) => n.to_string().into(),
        }
    }
}

/// Whether the connection was let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Allow,
    Deny,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        }
    }
}

/// `network.direction` with ECS values: `ingress`/`egress` from a host's (NIC's) point
/// of view, `inbound`/`outbound`/`internal`/`external` from a perimeter's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ingress,
    Egress,
    Inbound,
    Outbound,
    Internal,
    External,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Internal => "internal",
            Direction::External => "external",
        }
    }
}

/// Where a record stands in its connection's life (Azure flow states B/C/E, conntrack
/// NEW/UPDATE/DESTROY). Only a `Begin` (or a record without a state) counts as a new
/// connection in the statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowState {
    Begin,
    Continuing,
    End,
}

/// A connection (or one report about it) as the parsers see it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectionRecord {
    /// When the connection happened, as the log says; becomes `@timestamp`.
    pub time: Option<jiff::Timestamp>,
    pub source: Endpoint,
    pub destination: Endpoint,
    pub transport: Option<Transport>,
    /// `network.bytes`; when `None`, the sum of both sides' bytes if either is known.
    pub bytes: Option<u64>,
    /// `network.packets`; as `bytes`.
    pub packets: Option<u64>,
    pub action: Option<Action>,
    pub direction: Option<Direction>,
    pub state: Option<FlowState>,
    /// For records carved out of a bigger line (one flow tuple of an Azure record): the
    /// event's `message`, instead of the whole line.
    pub message: Option<String>,
    /// Further fields in dotted ECS names (`rule.name`, `http.response.status_code`,
    /// `cef.extensions.deviceAction`), written after the core fields. Names under
    /// `message`, `log`, `host`, `agent`, `input`, `ecs`, `tags`, `fields` and
    /// `@metadata` are reserved for the input and are not written.
    pub extra: Vec<(Cow<'static, str>, Value)>,
}

/// Top-level names an input owns; a record never writes them.
const RESERVED: &[&str] = &[
    "@timestamp",
    "@metadata",
    "message",
    "log",
    "host",
    "agent",
    "input",
    "ecs",
    "tags",
    "fields",
];

impl ConnectionRecord {
    /// `network.bytes` as written: given, or the sum of what each side sent.
    pub fn total_bytes(&self) -> Option<u64> {
        self.bytes
            .or_else(|| sum(self.source.bytes, self.destination.bytes))
    }

    /// `network.packets` as written.
    pub fn total_packets(&self) -> Option<u64> {
        self.packets
            .or_else(|| sum(self.source.packets, self.destination.packets))
    }

    /// Adds a further field (dotted ECS name).
    pub fn set(&mut self, name: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
        self.extra.push((name.into(), value.into()));
    }

    /// A field's value as text, by its dotted name: the core fields and the extras.
    /// This is what statistics and rules key on (`source.ip`, `destination.port`,
    /// `event.action`, `rule.name`, ...).
    pub fn field(&self, name: &str) -> Option<Cow<'_, str>> {
        let text = |v: Option<String>| v.map(Cow::Owned);
        match name {
            "source.ip" => text(self.source.ip.map(|ip| ip.to_string())),
            "source.port" => text(self.source.port.map(|p| p.to_string())),
            "destination.ip" => text(self.destination.ip.map(|ip| ip.to_string())),
            "destination.port" => text(self.destination.port.map(|p| p.to_string())),
            "network.transport" => self.transport.map(Transport::name),
            "event.action" => self.action.map(|a| Cow::Borrowed(a.name())),
            "network.direction" => self.direction.map(|d| Cow::Borrowed(d.name())),
            _ => self
                .extra
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| match v {
                    Value::String(s) => Some(Cow::Borrowed(s.as_str())),
                    Value::Number(n) => Some(Cow::Owned(n.to_string())),
                    Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
                    _ => None,
                }),
        }
    }

    /// The record's fields as JSON object members, each preceded by a comma, for
    /// [`crate::event::EventTemplate::event`]'s `extra`. Extras that name a core field
    /// override it; reserved top-level names are skipped.
    pub fn write_members(&self, buf: &mut BytesMut) {
        let mut doc = Map::new();
        let mut put = |name: &str, value: Value| insert_dotted(&mut doc, name, value);
        for (side, end) in [("source", &self.source), ("destination", &self.destination)] {
            if let Some(ip) = end.ip {
                put(&format!("{side}.ip"), json!(ip.to_string()));
            }
            if let Some(port) = end.port {
                put(&format!("{side}.port"), json!(port));
            }
            if let Some(bytes) = end.bytes {
                put(&format!("{side}.bytes"), json!(bytes));
            }
            if let Some(packets) = end.packets {
                put(&format!("{side}.packets"), json!(packets));
            }
        }
        if let Some(t) = self.transport {
            put("network.transport", json!(t.name()));
            put("network.iana_number", json!(t.number().to_string()));
        }
        if let Some(ip) = self.source.ip.or(self.destination.ip) {
            put(
                "network.type",
                json!(if ip.is_ipv4() { "ipv4" } else { "ipv6" }),
            );
        }
        if let Some(b) = self.total_bytes() {
            put("network.bytes", json!(b));
        }
        if let Some(p) = self.total_packets() {
            put("network.packets", json!(p));
        }
        if let Some(d) = self.direction {
            put("network.direction", json!(d.name()));
        }
        put("event.category", json!(["network"]));
        let mut types = vec!["connection"];
        match self.state {
            Some(FlowState::Begin) => types.push("start"),
            Some(FlowState::End) => types.push("end"),
            _ => {}
        }
        if let Some(a) = self.action {
            put("event.action", json!(a.name()));
            put(
                "event.outcome",
                json!(if a == Action::Allow {
                    "success"
                } else {
                    "failure"
                }),
            );
            types.push(if a == Action::Allow {
                "allowed"
            } else {
                "denied"
            });
        }
        put("event.type", json!(types));
        for (name, value) in &self.extra {
            put(name, value.clone());
        }
        for (key, value) in doc {
            if RESERVED.contains(&key.as_str()) {
                continue;
            }
            buf.put_u8(b',');
            serde_json::to_writer(buf.writer(), &key).expect("writing json to memory cannot fail");
            buf.put_u8(b':');
            serde_json::to_writer(buf.writer(), &value)
                .expect("writing json to memory cannot fail");
        }
    }
}

fn sum(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
    }
}

/// Sets `a.b.c` in `doc`, creating (or replacing non-object values with) the objects
/// on the way.
fn insert_dotted(doc: &mut Map<String, Value>, name: &str, value: Value) {
    let mut parts = name.split('.').peekable();
    let mut map = doc;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            map.insert(part.to_string(), value);
            return;
        }
        let slot = map
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        map = slot
            .as_object_mut()
            .expect("the slot was just made an object");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(r: &ConnectionRecord) -> Value {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"{\"message\":\"m\"");
        r.write_members(&mut buf);
        buf.put_u8(b'}');
        serde_json::from_slice(&buf).unwrap()
    }

    #[test]
    fn a_record_is_written_with_ecs_names() {
        let mut r = ConnectionRecord {
            source: Endpoint {
                ip: Some("10.10.10.1".parse().unwrap()),
                port: Some(51000),
                bytes: Some(100),
                packets: Some(2),
            },
            destination: Endpoint {
                ip: Some("192.168.1.1".parse().unwrap()),
                port: Some(514),
                bytes: Some(20),
                packets: None,
            },
            transport: Some(Transport::Tcp),
            action: Some(Action::Deny),
            direction: Some(Direction::Ingress),
            state: Some(FlowState::Begin),
            ..Default::default()
        };
        r.set("rule.name", "DenyAll");
        r.set("log.level", "ignored: reserved");
        let v = members(&r);
        assert_eq!(v["message"], "m");
        assert_eq!(
            v["source"],
            json!({"ip": "10.10.10.1", "port": 51000, "bytes": 100, "packets": 2})
        );
        assert_eq!(v["destination"]["port"], 514);
        assert_eq!(v["network"]["transport"], "tcp");
        assert_eq!(v["network"]["iana_number"], "6");
        assert_eq!(v["network"]["type"], "ipv4");
        assert_eq!(v["network"]["bytes"], 120);
        assert_eq!(v["network"]["packets"], 2);
        assert_eq!(v["network"]["direction"], "ingress");
        assert_eq!(v["event"]["action"], "deny");
        assert_eq!(v["event"]["outcome"], "failure");
        assert_eq!(v["event"]["type"], json!(["connection", "start", "denied"]));
        assert_eq!(v["rule"]["name"], "DenyAll");
        assert!(v.get("log").is_none());
        assert_eq!(r.field("source.ip").as_deref(), Some("10.10.10.1"));
        assert_eq!(r.field("destination.port").as_deref(), Some("514"));
        assert_eq!(r.field("rule.name").as_deref(), Some("DenyAll"));
        assert_eq!(r.field("network.transport").as_deref(), Some("tcp"));
        assert_eq!(r.field("nope"), None);
    }

    #[test]
    fn an_extra_overrides_a_core_field_and_totals_can_be_given() {
        let mut r = ConnectionRecord {
            bytes: Some(7),
            transport: Some(Transport::from_number(47)),
            ..Default::default()
        };
        r.set("network.transport", "gre");
        let v = members(&r);
        assert_eq!(v["network"]["transport"], "gre");
        assert_eq!(v["network"]["bytes"], 7);
        assert!(v.get("source").is_none());
        assert_eq!(v["event"]["type"], json!(["connection"]));
    }

    #[test]
    fn transports_by_name_and_number() {
        assert_eq!(Transport::from_name("TCP"), Some(Transport::Tcp));
        assert_eq!(Transport::from_name("U"), Some(Transport::Udp));
        assert_eq!(Transport::from_name("ICMPv6"), Some(Transport::Ipv6Icmp));
        assert_eq!(Transport::from_name("6"), Some(Transport::Tcp));
        assert_eq!(Transport::from_name("132"), Some(Transport::Other(132)));
        assert_eq!(Transport::from_name("bogus"), None);
        assert_eq!(Transport::Other(132).name(), "132");
    }
}
