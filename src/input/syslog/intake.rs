//! From the bytes of one message to an event, the same for every listener: the peer's
//! rate limit, the header, the event, and the counters.
//!
//! Two points are meant for later stages to hook into: [`Intake::event`], where a
//! message becomes its event (a `parser:` would read `message.msg` there), and
//! [`Intake::accepted`], which every message passes exactly once when it is in the
//! queue, with its peer, its size and the time it arrived (per-source statistics).

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use jiff::Timestamp;
use serde_json::{Map, Value};

use super::header::{self, Message, ParseOptions, facility_name, severity_name};
use super::stats::{DropReason, SyslogStats};
use crate::config::RateLimitConfig;
use crate::event::{Event, EventTemplate};
use crate::input::parsing::{LineParsing, StatsFeed};
use crate::stats::{Counts, Observation};

/// `network.transport` of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What every listener of one input shares.
pub(super) struct Shared {
    pub stats: Arc<SyslogStats>,
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    options: ParseOptions,
}

impl Shared {
    pub fn new(
        options: ParseOptions,
        rate_limit: Option<RateLimitConfig>,
        stats: Arc<SyslogStats>,
    ) -> Self {
        let limiter = rate_limit.map(|r| {
            let rate = NonZeroU32::new(r.events_per_sec).unwrap_or(NonZeroU32::MIN);
            let burst = NonZeroU32::new(r.burst).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Shared {
            stats,
            limiter,
            options,
        }
    }

    /// Forgets the rate-limit state of peers whose bucket is full again (it would be
    /// the same if they came back), so spoofed sources cannot grow it without bound.
    pub fn forget_idle_peers(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// One listener's or connection's way of turning messages into events.
pub(super) struct Intake {
    shared: Arc<Shared>,
    template: EventTemplate,
    transport: Transport,
    /// `parser:`: the MSG part becomes one event per connection record.
    parsing: Option<LineParsing>,
    /// The per-source statistics, fed with every accepted message's sender.
    feed: Option<StatsFeed>,
}

impl Intake {
    pub fn new(shared: Arc<Shared>, template: EventTemplate, transport: Transport) -> Self {
        Intake {
            shared,
            template,
            transport,
            parsing: None,
            feed: None,
        }
    }

    /// The same intake parsing messages with `parsing` and feeding `feed`.
    pub fn with(mut self, parsing: Option<LineParsing>, feed: Option<StatsFeed>) -> Self {
        self.parsing = parsing;
        self.feed = feed;
        self
    }

    /// The events of one message from `peer` (one, or with a parser one per record),
    /// appended to `out`; none when it is dropped (over the peer's rate, counted) or
    /// empty. `truncated`: the message was cut at `max_message_size` (counted as a
    /// drop of the rest, and flagged on the event).
    pub fn admit(
        &mut self,
        raw: &[u8],
        truncated: bool,
        peer: SocketAddr,
        now: Timestamp,
        out: &mut Vec<Event>,
    ) {
        if let Some(limiter) = &self.shared.limiter
            && limiter.check_key(&peer.ip()).is_err()
        {
            self.dropped(peer, DropReason::RateLimited);
            return;
        }
        if truncated {
            self.dropped(peer, DropReason::TooBig);
        }
        let end = raw
            .iter()
            .rposition(|b| !matches!(b, b'\n' | b'\r' | b'\0'))
            .map_or(0, |i| i + 1);
        if end == 0 {
            return;
        }
        let text = String::from_utf8_lossy(&raw[..end]);
        let message = header::parse(&text, &self.shared.options, now);
        self.event(&message, peer, truncated, out);
    }

    /// The one place a message becomes its events: `message` is the MSG part,
    /// `@timestamp` the header's time (else now), `log.syslog.*` the header,
    /// `log.source.address` and `related.ip` the peer; with a parser, the MSG part's
    /// records' fields (and times) too.
    fn event(
        &mut self,
        message: &Message<'_>,
        peer: SocketAddr,
        truncated: bool,
        out: &mut Vec<Event>,
    ) {
        let transport = self.transport.as_str();
        let members = |b: &mut BytesMut| {
            write!(b, ",\"log\":{{\"source\":{{\"address\":\"{peer}\"}}")
                .expect("writing to memory cannot fail");
            if message.priority.is_some() {
                write_syslog(b, message);
            }
            if truncated {
                b.extend_from_slice(b",\"flags\":[\"truncated\"]");
            }
            write!(
                b,
                "}},\"related\":{{\"ip\":[\"{}\"]}},\"network\":{{\"transport\":\"{transport}\"}}",
                peer.ip()
            )
            .expect("writing to memory cannot fail");
        };
        let at = message.timestamp.map(crate::input::parsing::timestamp);
        match (self.parsing.as_mut(), &at) {
            (Some(p), _) => p.events(
                &mut self.template,
                message.msg,
                at.as_deref(),
                &members,
                out,
            ),
            (None, Some(at)) => out.push(self.template.event_at(at, message.msg, members)),
            (None, None) => out.push(self.template.event(message.msg, members)),
        }
    }

    /// Every message that is in the queue passes here once: from `peer`, `bytes` long
    /// (without framing), arrived `at`. The sender is counted in the statistics as
    /// `log.source.ip`, and as `source.ip` too when no parser says what the source is.
    pub fn accepted(&self, peer: SocketAddr, bytes: usize, at: Timestamp) {
        self.shared.stats.accepted(peer.ip(), bytes, at);
        if let Some(feed) = &self.feed {
            let ip = peer.ip().to_string();
            let both = [("log.source.ip", ip.as_str()), ("source.ip", ip.as_str())];
            let context = if self.parsing.is_some() {
                &both[..1]
            } else {
                &both[..]
            };
            let obs = Observation {
                record: None,
                context,
                counts: Counts {
                    events: 1,
                    bytes: bytes as u64,
                    ..Counts::default()
                },
            };
            feed.observe(&obs, Some(at));
        }
    }

    /// Counts a drop; the first of each reason from a peer is logged.
    pub fn dropped(&self, peer: SocketAddr, reason: DropReason) {
        if self.shared.stats.dropped(peer.ip(), reason) {
            tracing::warn!(
                peer = %peer.ip(),
                reason = reason.as_str(),
                transport = self.transport.as_str(),
                "dropped a syslog message; further drops from this peer for this reason are only counted"
            );
        }
    }
}

/// `,"syslog":{...}`: the header's fields that are present.
fn write_syslog(b: &mut BytesMut, m: &Message<'_>) {
    let (Some(priority), Some(facility), Some(severity)) = (m.priority, m.facility(), m.severity())
    else {
        return;
    };
    write!(
        b,
        ",\"syslog\":{{\"priority\":{priority},\"facility\":{{\"code\":{facility}"
    )
    .expect("writing to memory cannot fail");
    if let Some(name) = facility_name(facility) {
        write!(b, ",\"name\":\"{name}\"").expect("writing to memory cannot fail");
    }
    write!(b, "}},\"severity\":{{\"code\":{severity}").expect("writing to memory cannot fail");
    if let Some(name) = severity_name(severity) {
        write!(b, ",\"name\":\"{name}\"").expect("writing to memory cannot fail");
    }
    b.extend_from_slice(b"}");
    let fields = [
        ("hostname", m.hostname),
        ("appname", m.appname),
        ("procid", m.procid),
        ("msgid", m.msgid),
    ];
    for (key, value) in fields {
        if let Some(value) = value {
            write!(b, ",\"{key}\":").expect("writing to memory cannot fail");
            json(b, &value);
        }
    }
    if let Some(version) = m.version {
        write!(b, ",\"version\":\"{version}\"").expect("writing to memory cannot fail");
    }
    if !m.structured_data.is_empty() {
        let mut sd = Map::new();
        for element in &m.structured_data {
            let params = sd
                .entry(element.id)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(params) = params {
                for (name, value) in &element.params {
                    params.insert((*name).to_string(), Value::from(value.as_ref()));
                }
            }
        }
        b.extend_from_slice(b",\"structured_data\":");
        json(b, &sd);
    }
    b.extend_from_slice(b"}");
}

fn json(b: &mut BytesMut, value: &impl serde::Serialize) {
    serde_json::to_writer(b.writer(), value).expect("writing json to memory cannot fail");
}
