//! Decoder of the kernel's conntrack event messages (ctnetlink over `NETLINK_NETFILTER`):
//! a datagram holds netlink messages, each an `nlmsghdr`, an `nfgenmsg` and nested
//! attributes. Pure: bytes in, [`ConntrackEvent`]s out; no sockets, no clock.
//!
//! Lengths are checked before every read, so any bytes give events or a
//! [`DecodeError`], never a panic. Attributes we do not know are skipped, as the kernel
//! adds new ones over time.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `NFNL_SUBSYS_CTNETLINK`: the high byte of a conntrack message's type.
const SUBSYS_CTNETLINK: u16 = 1;
/// `IPCTNL_MSG_CT_NEW` (new and update events) and `IPCTNL_MSG_CT_DELETE` (destroy).
const MSG_CT_NEW: u16 = 0;
const MSG_CT_DELETE: u16 = 2;
/// `NLMSG_ERROR`; `NLMSG_NOOP`, `NLMSG_DONE` and `NLMSG_OVERRUN` carry nothing for us.
const NLMSG_ERROR: u16 = 2;
/// `NLM_F_CREATE`: on an `IPCTNL_MSG_CT_NEW`, a new entry rather than an update.
const NLM_F_CREATE: u16 = 0x400;

const NLMSG_HDRLEN: usize = 16;
const NFGENMSG_LEN: usize = 4;
/// `NLA_F_NESTED | NLA_F_NET_BYTEORDER`: flags in an attribute's type, not part of it.
const NLA_TYPE_MASK: u16 = 0x3fff;

/// `enum ctattr_type`.
mod cta {
    pub const TUPLE_ORIG: u16 = 1;
    pub const TUPLE_REPLY: u16 = 2;
    pub const STATUS: u16 = 3;
    pub const PROTOINFO: u16 = 4;
    pub const TIMEOUT: u16 = 7;
    pub const MARK: u16 = 8;
    pub const COUNTERS_ORIG: u16 = 9;
    pub const COUNTERS_REPLY: u16 = 10;
    pub const ID: u16 = 12;
    pub const ZONE: u16 = 18;
    pub const TIMESTAMP: u16 = 20;
    /// In a tuple: `CTA_TUPLE_IP`, `CTA_TUPLE_PROTO`.
    pub const TUPLE_IP: u16 = 1;
    pub const TUPLE_PROTO: u16 = 2;
    /// In `CTA_TUPLE_IP`.
    pub const IP_V4_SRC: u16 = 1;
    pub const IP_V4_DST: u16 = 2;
    pub const IP_V6_SRC: u16 = 3;
    pub const IP_V6_DST: u16 = 4;
    /// In `CTA_TUPLE_PROTO`.
    pub const PROTO_NUM: u16 = 1;
    pub const PROTO_SRC_PORT: u16 = 2;
    pub const PROTO_DST_PORT: u16 = 3;
    pub const PROTO_ICMP_ID: u16 = 4;
    pub const PROTO_ICMP_TYPE: u16 = 5;
    pub const PROTO_ICMP_CODE: u16 = 6;
    pub const PROTO_ICMPV6_ID: u16 = 7;
    pub const PROTO_ICMPV6_TYPE: u16 = 8;
    pub const PROTO_ICMPV6_CODE: u16 = 9;
    /// In `CTA_PROTOINFO`: `CTA_PROTOINFO_TCP`, and in it `CTA_PROTOINFO_TCP_STATE`.
    pub const PROTOINFO_TCP: u16 = 1;
    pub const PROTOINFO_TCP_STATE: u16 = 1;
    /// In `CTA_COUNTERS_*`: 64-bit counters, and the 32-bit ones of old kernels.
    pub const COUNTERS_PACKETS: u16 = 1;
    pub const COUNTERS_BYTES: u16 = 2;
    pub const COUNTERS32_PACKETS: u16 = 3;
    pub const COUNTERS32_BYTES: u16 = 4;
    /// In `CTA_TIMESTAMP`: nanoseconds since the epoch.
    pub const TIMESTAMP_START: u16 = 1;
    pub const TIMESTAMP_STOP: u16 = 2;
}

/// Which multicast group the event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    New,
    Update,
    Destroy,
}

impl EventKind {
    /// As `conntrack -E` prints it, and as the `events` setting names it.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::New => "new",
            EventKind::Update => "update",
            EventKind::Destroy => "destroy",
        }
    }
}

/// One direction of a connection as the kernel tracks it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tuple {
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    /// The IP protocol number.
    pub proto: Option<u8>,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    pub icmp_id: Option<u16>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
}

/// What one direction sent; present only with `nf_conntrack_acct` on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
}

/// One conntrack event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConntrackEvent {
    pub kind: EventKind,
    pub original: Tuple,
    pub reply: Tuple,
    pub original_counters: Option<Counters>,
    pub reply_counters: Option<Counters>,
    /// `CTA_STATUS`: the `IPS_*` bits.
    pub status: Option<u32>,
    pub id: Option<u32>,
    pub mark: Option<u32>,
    pub zone: Option<u16>,
    /// Seconds left before the entry expires.
    pub timeout: Option<u32>,
    /// `enum tcp_conntrack`.
    pub tcp_state: Option<u8>,
    /// `CTA_TIMESTAMP` (with `nf_conntrack_timestamp` on), nanoseconds since the epoch.
    pub start_ns: Option<u64>,
    pub stop_ns: Option<u64>,
}

impl ConntrackEvent {
    /// An event of `kind` that says nothing else yet.
    pub fn new(kind: EventKind) -> Self {
        ConntrackEvent {
            kind,
            original: Tuple::default(),
            reply: Tuple::default(),
            original_counters: None,
            reply_counters: None,
            status: None,
            id: None,
            mark: None,
            zone: None,
            timeout: None,
            tcp_state: None,
            start_ns: None,
            stop_ns: None,
        }
    }
}

/// `IPS_SEEN_REPLY` and `IPS_ASSURED`.
pub const IPS_SEEN_REPLY: u32 = 1 << 1;
pub const IPS_ASSURED: u32 = 1 << 2;

/// One netlink message of a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "decoded one at a time and used at once: a box would only add an allocation per event"
)]
pub enum Message {
    Event(ConntrackEvent),
    /// `NLMSG_ERROR` with this (negative) errno; 0 is an acknowledgement.
    Error(i32),
    /// Any other message (not conntrack, or nothing to read in it).
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("netlink message header cut short: {0} bytes left, a header is 16")]
    ShortHeader(usize),
    #[error("netlink message length {declared} is not within the {left} bytes left")]
    BadLength { declared: usize, left: usize },
    #[error("conntrack message of {0} bytes has no room for its 4-byte nfgenmsg")]
    NoGenHeader(usize),
    #[error("attribute {kind} declares {declared} bytes, {left} are left")]
    BadAttribute {
        kind: u16,
        declared: usize,
        left: usize,
    },
    #[error("attribute {kind} has {len} bytes, expected {expected}")]
    BadValue {
        kind: u16,
        len: usize,
        expected: usize,
    },
}

/// The messages of one datagram, in order. A message whose header is broken ends the
/// datagram (nothing after it can be found); one whose attributes are broken is an
/// error of its own and the next one is read.
pub struct Messages<'a> {
    rest: &'a [u8],
}

pub fn messages(datagram: &[u8]) -> Messages<'_> {
    Messages { rest: datagram }
}

impl Iterator for Messages<'_> {
    type Item = Result<Message, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let left = self.rest.len();
        if left < NLMSG_HDRLEN {
            self.rest = &[];
            return Some(Err(DecodeError::ShortHeader(left)));
        }
        let declared = u32::from_ne_bytes(array(&self.rest[0..4])) as usize;
        if declared < NLMSG_HDRLEN || declared > left {
            self.rest = &[];
            return Some(Err(DecodeError::BadLength { declared, left }));
        }
        let kind = u16::from_ne_bytes(array(&self.rest[4..6]));
        let flags = u16::from_ne_bytes(array(&self.rest[6..8]));
        let body = &self.rest[NLMSG_HDRLEN..declared];
        self.rest = &self.rest[align(declared).min(left)..];
        Some(message(kind, flags, body))
    }
}

fn message(kind: u16, flags: u16, body: &[u8]) -> Result<Message, DecodeError> {
    if kind == NLMSG_ERROR {
        return match body.get(..4) {
            Some(errno) => Ok(Message::Error(i32::from_ne_bytes(array(errno)))),
            None => Err(DecodeError::BadValue {
                kind,
                len: body.len(),
                expected: 4,
            }),
        };
    }
    if kind >> 8 != SUBSYS_CTNETLINK {
        return Ok(Message::Other);
    }
    let event = match kind & 0xff {
        MSG_CT_NEW if flags & NLM_F_CREATE != 0 => EventKind::New,
        MSG_CT_NEW => EventKind::Update,
        MSG_CT_DELETE => EventKind::Destroy,
        _ => return Ok(Message::Other),
    };
    let attributes = body
        .get(NFGENMSG_LEN..)
        .ok_or(DecodeError::NoGenHeader(body.len()))?;
    let mut e = ConntrackEvent::new(event);
    for attr in Attributes::new(attributes) {
        let (kind, value) = attr?;
        match kind {
            cta::TUPLE_ORIG => e.original = tuple(value)?,
            cta::TUPLE_REPLY => e.reply = tuple(value)?,
            cta::COUNTERS_ORIG => e.original_counters = Some(counters(value)?),
            cta::COUNTERS_REPLY => e.reply_counters = Some(counters(value)?),
            cta::STATUS => e.status = Some(be32(kind, value)?),
            cta::ID => e.id = Some(be32(kind, value)?),
            cta::MARK => e.mark = Some(be32(kind, value)?),
            cta::TIMEOUT => e.timeout = Some(be32(kind, value)?),
            cta::ZONE => e.zone = Some(be16(kind, value)?),
            cta::PROTOINFO => e.tcp_state = tcp_state(value)?,
            cta::TIMESTAMP => {
                for attr in Attributes::new(value) {
                    let (kind, value) = attr?;
                    match kind {
                        cta::TIMESTAMP_START => e.start_ns = Some(be64(kind, value)?),
                        cta::TIMESTAMP_STOP => e.stop_ns = Some(be64(kind, value)?),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(Message::Event(e))
}

fn tuple(nested: &[u8]) -> Result<Tuple, DecodeError> {
    let mut t = Tuple::default();
    for attr in Attributes::new(nested) {
        let (kind, value) = attr?;
        match kind {
            cta::TUPLE_IP => {
                for attr in Attributes::new(value) {
                    let (kind, value) = attr?;
                    match kind {
                        cta::IP_V4_SRC => t.src = Some(v4(kind, value)?),
                        cta::IP_V4_DST => t.dst = Some(v4(kind, value)?),
                        cta::IP_V6_SRC => t.src = Some(v6(kind, value)?),
                        cta::IP_V6_DST => t.dst = Some(v6(kind, value)?),
                        _ => {}
                    }
                }
            }
            cta::TUPLE_PROTO => {
                for attr in Attributes::new(value) {
                    let (kind, value) = attr?;
                    match kind {
                        cta::PROTO_NUM => t.proto = Some(u8_of(kind, value)?),
                        cta::PROTO_SRC_PORT => t.sport = Some(be16(kind, value)?),
                        cta::PROTO_DST_PORT => t.dport = Some(be16(kind, value)?),
                        cta::PROTO_ICMP_ID | cta::PROTO_ICMPV6_ID => {
                            t.icmp_id = Some(be16(kind, value)?)
                        }
                        cta::PROTO_ICMP_TYPE | cta::PROTO_ICMPV6_TYPE => {
                            t.icmp_type = Some(u8_of(kind, value)?)
                        }
                        cta::PROTO_ICMP_CODE | cta::PROTO_ICMPV6_CODE => {
                            t.icmp_code = Some(u8_of(kind, value)?)
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(t)
}

fn counters(nested: &[u8]) -> Result<Counters, DecodeError> {
    let mut c = Counters::default();
    for attr in Attributes::new(nested) {
        let (kind, value) = attr?;
        match kind {
            cta::COUNTERS_PACKETS => c.packets = be64(kind, value)?,
            cta::COUNTERS_BYTES => c.bytes = be64(kind, value)?,
            cta::COUNTERS32_PACKETS => c.packets = be32(kind, value)?.into(),
            cta::COUNTERS32_BYTES => c.bytes = be32(kind, value)?.into(),
            _ => {}
        }
    }
    Ok(c)
}

fn tcp_state(protoinfo: &[u8]) -> Result<Option<u8>, DecodeError> {
    for attr in Attributes::new(protoinfo) {
        let (kind, value) = attr?;
        if kind == cta::PROTOINFO_TCP {
            for attr in Attributes::new(value) {
                let (kind, value) = attr?;
                if kind == cta::PROTOINFO_TCP_STATE {
                    return u8_of(kind, value).map(Some);
                }
            }
        }
    }
    Ok(None)
}

/// The attributes of one level: `(type without flags, value)`.
struct Attributes<'a> {
    rest: &'a [u8],
}

impl<'a> Attributes<'a> {
    fn new(rest: &'a [u8]) -> Self {
        Attributes { rest }
    }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<(u16, &'a [u8]), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        // Fewer than 4 bytes left is the padding of the last attribute.
        if self.rest.len() < 4 {
            return None;
        }
        let declared = usize::from(u16::from_ne_bytes(array(&self.rest[0..2])));
        let kind = u16::from_ne_bytes(array(&self.rest[2..4])) & NLA_TYPE_MASK;
        let left = self.rest.len();
        if declared < 4 || declared > left {
            self.rest = &[];
            return Some(Err(DecodeError::BadAttribute {
                kind,
                declared,
                left,
            }));
        }
        let value = &self.rest[4..declared];
        self.rest = &self.rest[align(declared).min(left)..];
        Some(Ok((kind, value)))
    }
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// The first `N` bytes of a slice that the caller checked holds them.
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    bytes[..N]
        .try_into()
        .expect("the caller checked the slice holds N bytes")
}

fn fixed<const N: usize>(kind: u16, value: &[u8]) -> Result<[u8; N], DecodeError> {
    value.try_into().map_err(|_| DecodeError::BadValue {
        kind,
        len: value.len(),
        expected: N,
    })
}

fn u8_of(kind: u16, value: &[u8]) -> Result<u8, DecodeError> {
    fixed::<1>(kind, value).map(|[b]| b)
}

fn be16(kind: u16, value: &[u8]) -> Result<u16, DecodeError> {
    fixed(kind, value).map(u16::from_be_bytes)
}

fn be32(kind: u16, value: &[u8]) -> Result<u32, DecodeError> {
    fixed(kind, value).map(u32::from_be_bytes)
}

fn be64(kind: u16, value: &[u8]) -> Result<u64, DecodeError> {
    fixed(kind, value).map(u64::from_be_bytes)
}

fn v4(kind: u16, value: &[u8]) -> Result<IpAddr, DecodeError> {
    fixed::<4>(kind, value).map(|b| IpAddr::V4(Ipv4Addr::from(b)))
}

fn v6(kind: u16, value: &[u8]) -> Result<IpAddr, DecodeError> {
    fixed::<16>(kind, value).map(|b| IpAddr::V6(Ipv6Addr::from(b)))
}

#[cfg(test)]
#[path = "msg_tests.rs"]
mod tests;
