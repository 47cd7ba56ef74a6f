//! Outputs: the Lumberjack client that ships to Logstash, and a console output.
//!
//! The Logstash output owns connections (TCP or TLS), batching with a slow-start
//! window, compression, pipelining, ack tracking, timeouts, reconnect with backoff,
//! and several hosts with load balancing or failover. Delivery is at-least-once:
//! an event leaves our hands only when an ack covers it. It never parses what it
//! ships: events arrive serialised.

mod backoff;
mod conn;
mod console;
mod encode;
pub use encode::encode_ahead;
mod probe;
mod source;
mod window;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::queue::mem;
use tokio::task::JoinSet;

pub use backoff::{Backoff, BackoffError};
pub use conn::{ConnectError, Host};
pub use console::run_console;
pub use probe::test_output;
pub use window::Window;

use crate::config::{LogstashConfig, QueueFlush};
use crate::event::Event;
use source::BatchSource;
use worker::Worker;

/// Counters with stable names (exported as `lumberwatch_output_<name>`).
#[derive(Debug, Default)]
pub struct OutputStats {
    pub events_acked_total: AtomicU64,
    pub events_sent_total: AtomicU64,
    pub events_resent_total: AtomicU64,
    pub batches_sent_total: AtomicU64,
    pub batches_acked_total: AtomicU64,
    pub bytes_sent_total: AtomicU64,
    pub connections_total: AtomicU64,
    pub connection_errors_total: AtomicU64,
    pub keepalives_total: AtomicU64,
    /// Connections Logstash closed while idle (`client_inactivity_timeout`): not errors.
    pub idle_closes_total: AtomicU64,
    /// The most events ever held at once: taken from the queue and not yet acked, in
    /// flight, being encoded or given back. What bounds the output's memory: at most
    /// connections × max(pipelining, 1) × bulk_max_size. A gauge's high-water mark, not
    /// in [`OutputStats::snapshot`].
    pub events_outstanding_max: AtomicU64,
    /// How long the last fully acked batch waited from its write to its last ack, and
    /// the sum of that over every acked batch (both in microseconds; the mean is the sum
    /// over `batches_acked_total`). Not in [`OutputStats::snapshot`].
    pub ack_latency_last_micros: AtomicU64,
    pub ack_latency_micros_total: AtomicU64,
}

impl OutputStats {
    pub fn acked(&self) -> u64 {
        self.events_acked_total.load(Relaxed)
    }

    /// A batch fully acked `latency` after it was written.
    fn batch_acked(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.ack_latency_last_micros.store(micros, Relaxed);
        self.ack_latency_micros_total.fetch_add(micros, Relaxed);
        self.batches_acked_total.fetch_add(1, Relaxed);
    }

    /// The last batch's ack latency and the mean over all acked batches (zero before
    /// the first ack).
    pub fn ack_latency(&self) -> (Duration, Duration) {
        let last = Duration::from_micros(self.ack_latency_last_micros.load(Relaxed));
        let total = self.ack_latency_micros_total.load(Relaxed);
        let batches = self.batches_acked_total.load(Relaxed).max(1);
        (last, Duration::from_micros(total / batches))
    }

    /// `(name, value)` pairs, for the periodic metrics line and the stats endpoint.
    pub fn snapshot(&self) -> [(&'static str, u64); 10] {
        [
            ("events_acked_total", self.events_acked_total.load(Relaxed)),
            ("events_sent_total", self.events_sent_total.load(Relaxed)),
            (
                "events_resent_total",
                self.events_resent_total.load(Relaxed),
            ),
            ("batches_sent_total", self.batches_sent_total.load(Relaxed)),
            (
                "batches_acked_total",
                self.batches_acked_total.load(Relaxed),
            ),
            ("bytes_sent_total", self.bytes_sent_total.load(Relaxed)),
            ("connections_total", self.connections_total.load(Relaxed)),
            (
                "connection_errors_total",
                self.connection_errors_total.load(Relaxed),
            ),
            ("keepalives_total", self.keepalives_total.load(Relaxed)),
            ("idle_closes_total", self.idle_closes_total.load(Relaxed)),
        ]
    }
}

#[derive(Debug, Clone)]
struct Settings {
    timeout: Duration,
    pipelining: usize,
    compression_level: u32,
    ttl: Option<Duration>,
    escape_html: bool,
}

/// Told about every event an ack covered, so that resumable inputs can record what is
/// shipped. Called from the output's tasks: must be quick and must not block.
pub trait AckSink: Send + Sync {
    fn acked(&self, events: &[Event]);
}

/// Several sinks told about the same acks (the file registry and the disk spool: each
/// looks only at the origins that are its own).
pub struct AckSinks(pub Vec<Arc<dyn AckSink>>);

impl AckSink for AckSinks {
    fn acked(&self, events: &[Event]) {
        for sink in &self.0 {
            sink.acked(events);
        }
    }
}

/// What every worker of one output shares.
struct Shared {
    source: BatchSource,
    stats: Arc<OutputStats>,
    settings: Settings,
    tls: Option<Arc<rustls::ClientConfig>>,
    acks: Option<Arc<dyn AckSink>>,
}

impl Shared {
    fn acked(&self, events: &[Event]) {
        if let Some(acks) = &self.acks {
            acks.acked(events);
        }
        self.stats
            .events_acked_total
            .fetch_add(events.len() as u64, Relaxed);
        self.source.acked(events.len());
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("output.logstash.hosts is empty")]
    NoHosts,
    #[error("output.logstash.hosts: {0}")]
    Host(#[from] ConnectError),
    #[error("output.logstash: {0}")]
    Backoff(#[from] BackoffError),
    #[error("output.logstash.ssl: {0}")]
    Tls(#[from] crate::tls::TlsError),
}

/// A running Logstash output.
pub struct LogstashOutput {
    stats: Arc<OutputStats>,
    workers: JoinSet<()>,
}

impl LogstashOutput {
    /// Starts the workers: `worker` connections per host with `loadbalance`, else
    /// `worker` connections that each fail over across all hosts starting at a random one.
    pub fn start(cfg: &LogstashConfig, queue: mem::Receiver) -> Result<Self, OutputError> {
        Self::start_with_acks(cfg, queue, QueueFlush::default(), None)
    }

    /// [`LogstashOutput::start`] with the queue's flush settings, telling `acks` about
    /// every acked event.
    pub fn start_with_acks(
        cfg: &LogstashConfig,
        queue: mem::Receiver,
        flush: QueueFlush,
        acks: Option<Arc<dyn AckSink>>,
    ) -> Result<Self, OutputError> {
        let hosts = cfg
            .hosts
            .iter()
            .map(|h| Host::parse(h))
            .collect::<Result<Vec<_>, _>>()?;
        if hosts.is_empty() {
            return Err(OutputError::NoHosts);
        }
        let backoff = Backoff::new(cfg.backoff.init, cfg.backoff.max)?;
        let tls = match &cfg.ssl {
            Some(ssl) => {
                // Fail now, not at the first connect, on a host that cannot be an SNI name.
                for host in &hosts {
                    crate::tls::server_name(host.hostname())?;
                }
                Some(crate::tls::client_config(ssl)?)
            }
            None => {
                tracing::warn!(hosts = ?cfg.hosts, "output.logstash sends without TLS (set output.logstash.ssl to encrypt)");
                None
            }
        };
        let stats = Arc::new(OutputStats::default());
        let shared = Arc::new(Shared {
            source: BatchSource::new(queue, flush, stats.clone()),
            stats: stats.clone(),
            settings: Settings {
                timeout: cfg.timeout,
                pipelining: cfg.pipelining,
                compression_level: cfg.compression_level,
                ttl: cfg.ttl,
                escape_html: cfg.escape_html,
            },
            tls,
            acks,
        });
        let worker = |hosts: Vec<Host>, next_host: usize| Worker {
            shared: shared.clone(),
            hosts,
            next_host,
            window: Window::new(cfg.bulk_max_size, cfg.slow_start),
            backoff: backoff.clone(),
        };
        let mut workers = JoinSet::new();
        for _ in 0..cfg.worker.max(1) {
            if cfg.loadbalance {
                for host in &hosts {
                    workers.spawn(worker(vec![host.clone()], 0).run());
                }
            } else {
                let start = rand::random_range(0..hosts.len());
                workers.spawn(worker(hosts.clone(), start).run());
            }
        }
        Ok(LogstashOutput { stats, workers })
    }

    pub fn stats(&self) -> Arc<OutputStats> {
        self.stats.clone()
    }

    /// Resolves once the queue is closed and every event taken from it is acked.
    pub async fn finished(mut self) {
        while self.workers.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_latency_is_the_last_batch_and_the_mean_of_all() {
        let stats = OutputStats::default();
        assert_eq!(stats.ack_latency(), (Duration::ZERO, Duration::ZERO));
        stats.batch_acked(Duration::from_millis(10));
        stats.batch_acked(Duration::from_millis(30));
        assert_eq!(
            stats.ack_latency(),
            (Duration::from_millis(30), Duration::from_millis(20))
        );
        assert_eq!(stats.batches_acked_total.load(Relaxed), 2);
    }
}
