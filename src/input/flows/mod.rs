//! `type: flows`: packets captured on an interface (or all of them), counted per flow
//! and reported as Packetbeat's flow events, every flow report also counted in the
//! per-source statistics.
//!
//! The pure parts are `bpf` (the kernel filter from the config), `ring` (a ring block
//! to packets), `packet` (a packet's head to its tuple and length), `table` (flows on
//! a passed-in clock), `community_id` and `report` (a report to its record and event);
//! `sys` owns the socket and the ring, and is the only code with `unsafe`. Payloads are
//! never kept: the kernel hands over the first 128 bytes of a packet at most.
//!
//! A capture cannot wait: a full queue drops the flow event (counted), never the
//! capture, and the statistics are fed either way. What the kernel dropped because the
//! ring was full and what we dropped are counted and logged, never hidden.

pub mod bpf;
mod community_id;
pub mod packet;
mod report;
mod ring;
mod sys;
pub mod table;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

use crate::config::FlowsConfig;
use crate::event::EventTemplate;
use crate::input::Outlet;
use crate::queue::mem::TrySendError;
use crate::stats::{Counts, Observation};
use table::{Limits, Report, Table};

pub use sys::CaptureError;

#[derive(Debug, thiserror::Error)]
pub enum FlowsError {
    #[error("flows on {interface}: {error}")]
    Capture {
        interface: String,
        error: CaptureError,
    },
    #[error("flows filter: {0}")]
    Filter(#[from] bpf::TooLong),
    #[error("flows on {interface}: waiting for packets failed: {error}")]
    Wait {
        interface: String,
        error: std::io::Error,
    },
}

/// What a flows input counted since it started.
#[derive(Debug, Default)]
pub struct FlowCounters {
    /// Packets read from the ring.
    pub packets: AtomicU64,
    /// Packets that gave no flow: not IP, cut short, later fragments.
    pub packets_skipped: AtomicU64,
    /// Packets that passed the filter but found the kernel's ring full.
    pub kernel_drops: AtomicU64,
    /// Flows ended early to stay within `max_flows`.
    pub flows_evicted: AtomicU64,
    /// Flow events queued, and dropped because the queue was full.
    pub events: AtomicU64,
    pub events_dropped: AtomicU64,
}

impl FlowCounters {
    /// The counters by name (for the metrics line).
    pub fn counters(&self) -> [(&'static str, u64); 6] {
        [
            ("flows_packets_total", self.packets.load(Relaxed)),
            (
                "flows_packets_skipped_total",
                self.packets_skipped.load(Relaxed),
            ),
            ("flows_kernel_drops_total", self.kernel_drops.load(Relaxed)),
            ("flows_evicted_total", self.flows_evicted.load(Relaxed)),
            ("flows_events_total", self.events.load(Relaxed)),
            (
                "flows_events_dropped_total",
                self.events_dropped.load(Relaxed),
            ),
        ]
    }
}

/// How often drops are logged at most.
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(30);

/// Runs a flows input until the queue closes. Returns how many events it queued.
pub async fn run(
    cfg: &FlowsConfig,
    template: EventTemplate,
    outlet: Outlet,
) -> Result<u64, FlowsError> {
    let counters = outlet.context().flows.clone();
    run_counting(cfg, template, outlet, counters).await
}

/// [`run`], counting into `counters`.
pub async fn run_counting(
    cfg: &FlowsConfig,
    mut template: EventTemplate,
    outlet: Outlet,
    counters: Arc<FlowCounters>,
) -> Result<u64, FlowsError> {
    let interface = cfg.interface.clone().unwrap_or_else(|| "any".into());
    let program = bpf::program(&cfg.filter)?;
    let capture = sys::Capture::open(cfg.interface.as_deref(), &program, cfg.buffer_size)
        .and_then(|c| {
            c.into_async().map_err(|error| CaptureError::Setup {
                step: "register it with the runtime",
                error,
            })
        })
        .map_err(|error| FlowsError::Capture {
            interface: interface.clone(),
            error,
        })?;
    let mut capture = capture;
    // Logged however the input ends, aborted at shutdown included.
    let _summary = Summary {
        interface: interface.clone(),
        counters: counters.clone(),
    };
    tracing::info!(
        interface = %interface,
        filter_instructions = program.len(),
        period = ?cfg.period,
        timeout = ?cfg.timeout,
        "flows capturing"
    );
    let limits = Limits {
        period: nanos(cfg.period),
        timeout: nanos(cfg.timeout),
        max_flows: cfg.max_flows,
    };
    let mut table = Table::new(limits, now());
    let mut ticker = tokio::time::interval(tick_interval(cfg));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reports = Vec::new();
    let mut last_drop_log: Option<Instant> = None;
    let mut logged = (0u64, 0u64);
    loop {
        tokio::select! {
            () = outlet.closed() => break,
            ready = capture.readable_mut() => {
                let mut guard = ready.map_err(|error| FlowsError::Wait { interface: interface.clone(), error })?;
                guard.get_inner_mut().drain(|block| {
                    for frame in ring::frames(block) {
                        counters.packets.fetch_add(1, Relaxed);
                        match packet::parse(frame.protocol, frame.data, frame.len, frame.vlan) {
                            Ok(p) => {
                                let at = i64::from(frame.sec) * 1_000_000_000 + i64::from(frame.nsec);
                                table.observe(&p, frame.mac, at);
                            }
                            Err(_) => {
                                counters.packets_skipped.fetch_add(1, Relaxed);
                            }
                        }
                    }
                });
                guard.clear_ready();
            }
            _ = ticker.tick() => {
                match capture.get_ref().kernel_counts() {
                    Ok(k) => {
                        counters.kernel_drops.fetch_add(k.drops, Relaxed);
                    }
                    Err(error) => tracing::warn!(%error, interface = %interface, "cannot read the capture's kernel counters"),
                }
                table.tick(now(), &mut reports);
                counters.flows_evicted.store(table.evicted(), Relaxed);
                for r in reports.drain(..) {
                    if !emit(&r, &mut template, &outlet, &counters) {
                        return Ok(counters.events.load(Relaxed));
                    }
                }
                let drops = (counters.kernel_drops.load(Relaxed), counters.events_dropped.load(Relaxed));
                let due = last_drop_log.is_none_or(|at| at.elapsed() >= DROP_LOG_INTERVAL);
                if drops != logged && due {
                    tracing::warn!(
                        interface = %interface,
                        kernel_drops = drops.0 - logged.0,
                        queue_full_drops = drops.1 - logged.1,
                        flows = table.len(),
                        "flows dropped packets (kernel ring full: raise buffer_size) or flow events (queue full)"
                    );
                    logged = drops;
                    last_drop_log = Some(Instant::now());
                }
            }
        }
    }
    Ok(counters.events.load(Relaxed))
}

/// Logs what a flows input counted when it ends.
struct Summary {
    interface: String,
    counters: Arc<FlowCounters>,
}

impl Drop for Summary {
    fn drop(&mut self) {
        let c = &self.counters;
        tracing::info!(
            interface = %self.interface,
            packets = c.packets.load(Relaxed),
            skipped = c.packets_skipped.load(Relaxed),
            kernel_drops = c.kernel_drops.load(Relaxed),
            flows_evicted = c.flows_evicted.load(Relaxed),
            events = c.events.load(Relaxed),
            events_dropped = c.events_dropped.load(Relaxed),
            "flows stopped"
        );
    }
}

/// Feeds the statistics with what is new in `r` and queues its event if there is
/// room. False when the queue has closed.
fn emit(
    r: &Report,
    template: &mut EventTemplate,
    outlet: &Outlet,
    counters: &FlowCounters,
) -> bool {
    let record = report::record(r);
    if let Some(feed) = &outlet.context().stats {
        let obs = Observation {
            record: Some(&record),
            context: &[],
            counts: Counts {
                events: 1,
                bytes: r.new_bytes,
                packets: r.new_packets,
                connections: u64::from(r.first),
            },
        };
        let at = jiff::Timestamp::from_nanosecond(i128::from(r.end)).ok();
        feed.observe(&obs, at);
    }
    match outlet.try_send(report::event(template, r, &record)) {
        Ok(()) => {
            counters.events.fetch_add(1, Relaxed);
            true
        }
        Err(TrySendError::Full(_)) => {
            counters.events_dropped.fetch_add(1, Relaxed);
            true
        }
        Err(TrySendError::Closed(_)) => false,
    }
}

/// Reports and timeouts are checked this often: every second, or at half the period
/// or timeout when they are shorter.
fn tick_interval(cfg: &FlowsConfig) -> Duration {
    let mut tick = Duration::from_secs(1).min(cfg.timeout / 2);
    if !cfg.period.is_zero() {
        tick = tick.min(cfg.period / 2);
    }
    tick.max(Duration::from_millis(10))
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, nanos)
}
