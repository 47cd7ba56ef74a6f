//! `type: conntrack`: the kernel's connection tracking events over netlink, as
//! connection records. A NEW event begins a connection, a DESTROY ends it with what
//! each side sent (when accounting is on); the original direction is the source.
//!
//! `sys` owns the socket (all of the `unsafe`), `msg` decodes the kernel's messages and
//! `record` maps them to records and to the line `conntrack -E` would print, which is
//! the event's `message`. Nothing is hidden: events the kernel dropped (`ENOBUFS`) and
//! events we dropped (a full queue: the socket must keep being drained) are counted and
//! logged; accounting being off is said once at start.

pub mod msg;
mod record;
mod sys;

use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::config::ConntrackConfig;
use crate::event::EventTemplate;
use crate::input::Outlet;
use crate::input::parsing::timestamp;
use crate::queue::mem::TrySendError;
use crate::stats::{Counts, Observation};
use msg::{EventKind, Message};
use sys::{EventSocket, Received};

pub use sys::OpenError;

/// Room for any conntrack event (they are well under 1 KiB).
const DATAGRAM_BYTES: usize = 64 << 10;
/// Kernel drops are logged at most this often (and counted always).
const OVERRUN_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// What the conntrack inputs took in and dropped, since the start.
#[derive(Debug, Default)]
pub struct ConntrackCounters {
    /// Events decoded.
    pub events: AtomicU64,
    /// Events in the queue.
    pub queued: AtomicU64,
    /// Events left out by `filter`.
    pub filtered: AtomicU64,
    /// Events dropped because the queue was full.
    pub queue_full: AtomicU64,
    /// Times the kernel dropped events (`ENOBUFS`: our receive buffer was full).
    pub overruns: AtomicU64,
    /// Messages that did not decode, or datagrams cut by our buffer.
    pub bad_messages: AtomicU64,
}

impl ConntrackCounters {
    pub fn counters(&self) -> [(&'static str, u64); 6] {
        [
            ("conntrack_events_total", self.events.load(Relaxed)),
            ("conntrack_queued_total", self.queued.load(Relaxed)),
            ("conntrack_filtered_total", self.filtered.load(Relaxed)),
            (
                "conntrack_dropped_queue_full_total",
                self.queue_full.load(Relaxed),
            ),
            (
                "conntrack_kernel_overruns_total",
                self.overruns.load(Relaxed),
            ),
            (
                "conntrack_bad_messages_total",
                self.bad_messages.load(Relaxed),
            ),
        ]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConntrackError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("reading conntrack events failed: {0}")]
    Receive(io::Error),
}

/// Runs a conntrack input until the queue closes. Returns how many events it queued.
/// The socket and the sysctls are those of the calling thread's network namespace.
pub async fn run(
    cfg: &ConntrackConfig,
    template: EventTemplate,
    outlet: Outlet,
) -> Result<u64, ConntrackError> {
    let groups = cfg.events.iter().fold(0, |g, kind| {
        g | match kind {
            EventKind::New => sys::GROUP_NEW,
            EventKind::Update => sys::GROUP_UPDATE,
            EventKind::Destroy => sys::GROUP_DESTROY,
        }
    });
    let socket = EventSocket::open(groups, cfg.buffer)?;
    let events: Vec<_> = cfg.events.iter().map(|k| k.name()).collect();
    let buffer = socket.receive_buffer().unwrap_or(0);
    tracing::info!(events = %events.join(","), receive_buffer = buffer, "conntrack events subscribed");
    if cfg.events.contains(&EventKind::Destroy) {
        check_accounting(cfg.enable_accounting);
    }
    let counters = outlet.context().conntrack.clone();
    let mut intake = Intake {
        cfg,
        template,
        counters: &counters,
        last_overrun_log: None,
        outlet: &outlet,
        queued: 0,
    };
    let mut buf = vec![0u8; DATAGRAM_BYTES];
    loop {
        let received = tokio::select! {
            () = outlet.closed() => break,
            received = socket.recv(&mut buf) => received.map_err(ConntrackError::Receive)?,
        };
        match received {
            Received::Overrun => intake.overrun(),
            Received::Datagram(n) if n > buf.len() => {
                counters.bad_messages.fetch_add(1, Relaxed);
                tracing::warn!(
                    bytes = n,
                    "conntrack datagram larger than the buffer, skipped"
                );
            }
            Received::Datagram(n) => {
                if intake.datagram(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    Ok(intake.queued)
}

/// Says once, at start, that DESTROY events will carry no counters, and how to change
/// that; with `accounting: enable`, changes it.
fn check_accounting(enable: bool) {
    let sysctl = "net.netfilter.nf_conntrack_acct";
    match sys::accounting() {
        Ok(true) => {}
        Ok(false) if enable => match sys::enable_accounting() {
            Ok(()) => tracing::info!(sysctl, "conntrack accounting enabled (set to 1)"),
            Err(error) => tracing::warn!(
                sysctl,
                %error,
                "conntrack accounting is off and could not be enabled: destroy events carry no byte or packet counters"
            ),
        },
        Ok(false) => tracing::warn!(
            sysctl,
            "conntrack accounting is off: destroy events carry no byte or packet counters; enable it with `sysctl -w net.netfilter.nf_conntrack_acct=1` or `accounting: enable` in the input"
        ),
        Err(error) => tracing::warn!(
            path = sys::ACCOUNTING_SYSCTL,
            %error,
            "cannot read whether conntrack accounting is on; destroy events may carry no byte or packet counters"
        ),
    }
}

/// The queue closed under the input.
struct Closed;

/// Turns datagrams into events, counting everything.
struct Intake<'a> {
    cfg: &'a ConntrackConfig,
    template: EventTemplate,
    counters: &'a ConntrackCounters,
    last_overrun_log: Option<Instant>,
    outlet: &'a Outlet,
    /// Events this input queued.
    queued: u64,
}

impl Intake<'_> {
    fn datagram(&mut self, bytes: &[u8]) -> Result<(), Closed> {
        for message in msg::messages(bytes) {
            match message {
                Ok(Message::Event(e)) => self.event(&e)?,
                Ok(Message::Error(_) | Message::Other) => {}
                Err(error) => {
                    if self.counters.bad_messages.fetch_add(1, Relaxed) == 0 {
                        tracing::warn!(%error, "conntrack message did not decode; further ones are only counted");
                    }
                }
            }
        }
        Ok(())
    }

    fn event(&mut self, e: &msg::ConntrackEvent) -> Result<(), Closed> {
        self.counters.events.fetch_add(1, Relaxed);
        let r = record::record(e);
        if !self.cfg.filter.allows(&r) {
            self.counters.filtered.fetch_add(1, Relaxed);
            return Ok(());
        }
        if let Some(feed) = &self.outlet.context().stats {
            let obs = Observation {
                record: Some(&r),
                context: &[],
                counts: Counts::of_record(&r),
            };
            feed.observe(&obs, r.time);
        }
        let line = record::line(e);
        let members = |b: &mut bytes::BytesMut| r.write_members(b);
        let event = match r.time {
            Some(t) => self.template.event_at(&timestamp(t), &line, members),
            None => self.template.event(&line, members),
        };
        match self.outlet.try_send(event) {
            Ok(()) => {
                self.counters.queued.fetch_add(1, Relaxed);
                self.queued += 1;
                Ok(())
            }
            Err(TrySendError::Full(_)) => {
                if self.counters.queue_full.fetch_add(1, Relaxed) == 0 {
                    tracing::warn!(
                        "queue full: dropped a conntrack event; further drops are only counted"
                    );
                }
                Ok(())
            }
            Err(TrySendError::Closed(_)) => Err(Closed),
        }
    }

    fn overrun(&mut self) {
        let total = self.counters.overruns.fetch_add(1, Relaxed) + 1;
        let due = self
            .last_overrun_log
            .is_none_or(|at| at.elapsed() >= OVERRUN_LOG_INTERVAL);
        if due {
            self.last_overrun_log = Some(Instant::now());
            tracing::warn!(
                overruns = total,
                buffer = self.cfg.buffer,
                "the kernel dropped conntrack events: our receive buffer was full (raise `buffer`)"
            );
        }
    }
}
