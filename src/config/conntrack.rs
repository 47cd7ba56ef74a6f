//! `type: conntrack`: which conntrack events (`events`), which connections (`filter`,
//! applied in user space), the socket's receive `buffer`, and whether to turn the
//! kernel's byte and packet `accounting` on; validated into [`ConntrackConfig`].

use std::net::IpAddr;

use super::section::{ADDRESS_FILTER, PIPELINE_NOT_YET, Schema, Section};
use super::syslog::{byte_size, choice};
use super::{ConfigError, Problem};
use crate::input::conntrack::msg::EventKind;
use crate::parse::{ConnectionRecord, Transport};
use crate::rules::Cidr;

pub(super) const CONNTRACK: Schema = Schema {
    keys: &[
        "type",
        "id",
        "enabled",
        "tags",
        "fields",
        "fields_under_root",
        "events",
        "filter",
        "buffer",
        "accounting",
    ],
    not_supported: &[(
        "parser",
        Some("conntrack events are connection records already"),
    )],
    not_yet: PIPELINE_NOT_YET,
};

/// The kernel queues this much of events for us before it drops them (`ENOBUFS`).
const DEFAULT_BUFFER: usize = 8 << 20;

/// `type: conntrack`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConntrackConfig {
    /// `events` (default `[new, destroy]`; `update` too if listed).
    pub events: Vec<EventKind>,
    /// `filter`: the connections shipped (default all).
    pub filter: ConntrackFilter,
    /// `buffer` (default 8 MiB): the socket's receive buffer in bytes.
    pub buffer: usize,
    /// `accounting: enable` sets `net.netfilter.nf_conntrack_acct` to 1 at start
    /// (default `keep`: leave it as it is, and warn when it is off).
    pub enable_accounting: bool,
}

/// `filter`: a connection passes when it matches every list that is set: its
/// transport is one of `transports`, either port is one of `ports`, either address is
/// in one of `hosts`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConntrackFilter {
    pub transports: Vec<Transport>,
    pub ports: Vec<u16>,
    pub hosts: Vec<Cidr>,
}

impl ConntrackFilter {
    pub fn allows(&self, r: &ConnectionRecord) -> bool {
        let transport =
            self.transports.is_empty() || r.transport.is_some_and(|t| self.transports.contains(&t));
        let port = self.ports.is_empty()
            || [r.source.port, r.destination.port]
                .into_iter()
                .flatten()
                .any(|p| self.ports.contains(&p));
        let host = self.hosts.is_empty()
            || [r.source.ip, r.destination.ip]
                .into_iter()
                .flatten()
                .any(|ip| self.hosts.iter().any(|c| c.contains(ip)));
        transport && port && host
    }
}

pub(super) fn conntrack(s: &Section<'_>) -> Result<ConntrackConfig, ConfigError> {
    let events = match s.strings("events")? {
        None => vec![EventKind::New, EventKind::Destroy],
        Some(items) => {
            let mut events = Vec::new();
            for item in items {
                let kind = match item.text.as_str() {
                    "new" => EventKind::New,
                    "update" => EventKind::Update,
                    "destroy" => EventKind::Destroy,
                    other => {
                        let msg = format!("expected new, update or destroy, got {other:?}");
                        return Err(s.error(Some(item.line), "events", Problem::Invalid(msg)));
                    }
                };
                if !events.contains(&kind) {
                    events.push(kind);
                }
            }
            if events.is_empty() {
                let msg = "must list at least one of new, update, destroy";
                return Err(s.error(s.line_of("events"), "events", Problem::Invalid(msg.into())));
            }
            events
        }
    };
    let enable_accounting =
        choice(s, "accounting", &["keep", "enable"])?.as_deref() == Some("enable");
    Ok(ConntrackConfig {
        events,
        filter: filter(s)?,
        buffer: byte_size(s, "buffer")?.unwrap_or(DEFAULT_BUFFER),
        enable_accounting,
    })
}

fn filter(s: &Section<'_>) -> Result<ConntrackFilter, ConfigError> {
    if s.entry("filter").is_none() {
        return Ok(ConntrackFilter::default());
    }
    let f = s.child("filter", &ADDRESS_FILTER)?;
    let mut filter = ConntrackFilter::default();
    for item in f.strings("transports")?.unwrap_or_default() {
        let t = Transport::from_name(&item.text).ok_or_else(|| {
            let msg = format!(
                "unknown transport {:?}; use tcp, udp, icmp, ipv6-icmp or a protocol number",
                item.text
            );
            f.error(Some(item.line), "transports", Problem::Invalid(msg))
        })?;
        filter.transports.push(t);
    }
    for item in f.strings("ports")?.unwrap_or_default() {
        let port = item.text.trim().parse::<u16>().ok().filter(|p| *p > 0);
        let port = port.ok_or_else(|| {
            let msg = format!("{:?} is not a port (1 to 65535)", item.text);
            f.error(Some(item.line), "ports", Problem::Invalid(msg))
        })?;
        filter.ports.push(port);
    }
    for item in f.strings("hosts")?.unwrap_or_default() {
        let text = item.text.trim();
        let cidr = match text.parse::<IpAddr>() {
            Ok(ip) => Cidr::parse(&format!("{ip}/{}", if ip.is_ipv4() { 32 } else { 128 })),
            Err(_) => Cidr::parse(text),
        };
        let cidr = cidr.map_err(|msg| f.error(Some(item.line), "hosts", Problem::Invalid(msg)))?;
        filter.hosts.push(cidr);
    }
    Ok(filter)
}
