//! The embedded Logstash-compatible receiver: the server side of [`crate::proto`], built
//! to behave like Logstash's beats input (acks after hand-over, keep-alive `A 0`s while
//! the pipeline is busy, a TCP reset and no ack on any malformed input or idle client).
//!
//! It owns the listening socket, one task per connection and the counters. It hands whole
//! batches to a bounded channel (the "pipeline") and never interprets events beyond
//! checking that they are JSON. Fault knobs ([`Faults`]) make it misbehave on purpose for
//! tests and benchmarks. It must never buffer more than [`Limits`] allow per connection.

mod conn;
mod consume;

#[cfg(test)]
mod tests;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::proto::Limits;

pub use consume::{ClientAuthArg, ReceiveOptions, serve, serve_until};

/// One complete batch as handed to the pipeline: every event's JSON, in sequence order.
#[derive(Debug)]
pub struct ReceivedBatch {
    pub peer: SocketAddr,
    /// The JSON payload of each event; v1 `D` frames arrive as a JSON object of their
    /// key/value pairs.
    pub events: Vec<Bytes>,
    /// With `ack_after_write`: the consumer says here when the events are written; the
    /// batch is acked only then.
    pub written: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Deliberate misbehaviour, for testing clients against a difficult Logstash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Wait this long before handing each batch over (keep-alives are sent meanwhile).
    pub slow_per_batch: Duration,
    /// Reset a connection as soon as it has received this many events, discarding the
    /// batch in progress (neither delivered nor acked).
    pub drop_after_events: Option<u64>,
    /// Deliver and ack only the first `ceil(n * P / 100)` events of each batch, then
    /// reset the connection: the client must re-send the rest.
    pub partial_ack_percent: Option<u8>,
}

/// How the receiver listens and what it tolerates. Defaults are Logstash's.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    pub listen: SocketAddr,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Frame size limits; `max_inflated_bytes` also bounds one batch's buffered payloads.
    pub limits: Limits,
    /// Reset a connection that sends nothing for this long.
    pub client_inactivity_timeout: Duration,
    pub handshake_timeout: Duration,
    /// How often `A 0` is sent while a batch is being handed over.
    pub keepalive_interval: Duration,
    /// Parse every event as JSON and reset the connection on the first that is not.
    pub validate_json: bool,
    /// Ack a batch only once the consumer has written it (`ReceivedBatch::written`).
    pub ack_after_write: bool,
    pub faults: Faults,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5044)),
            tls: None,
            limits: Limits::default(),
            client_inactivity_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(5),
            validate_json: true,
            ack_after_write: false,
            faults: Faults::default(),
        }
    }
}

/// Counters over the receiver's lifetime. `events_total`, `bytes_total` (payload bytes)
/// and `batches_total` count what was handed to the pipeline.
#[derive(Debug, Default)]
pub struct ReceiverStats {
    pub connections_total: AtomicU64,
    pub events_total: AtomicU64,
    pub bytes_total: AtomicU64,
    pub batches_total: AtomicU64,
    pub bad_frames_total: AtomicU64,
    pub resets_total: AtomicU64,
}

/// A point-in-time copy of [`ReceiverStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub connections_total: u64,
    pub events_total: u64,
    pub bytes_total: u64,
    pub batches_total: u64,
    pub bad_frames_total: u64,
    pub resets_total: u64,
}

impl ReceiverStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            connections_total: get(&self.connections_total),
            events_total: get(&self.events_total),
            bytes_total: get(&self.bytes_total),
            batches_total: get(&self.batches_total),
            bad_frames_total: get(&self.bad_frames_total),
            resets_total: get(&self.resets_total),
        }
    }
}

/// What every connection task shares.
struct Shared {
    config: ReceiverConfig,
    acceptor: Option<TlsAcceptor>,
    out: mpsc::Sender<ReceivedBatch>,
    stats: Arc<ReceiverStats>,
}

/// A bound, not yet serving, receiver.
pub struct Receiver {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Receiver {
    /// Binds `config.listen`. Batches go to `out`; a full channel is a slow pipeline.
    pub async fn bind(
        config: ReceiverConfig,
        out: mpsc::Sender<ReceivedBatch>,
    ) -> io::Result<Receiver> {
        let listener = TcpListener::bind(config.listen).await?;
        let local_addr = listener.local_addr()?;
        let acceptor = config.tls.clone().map(TlsAcceptor::from);
        Ok(Receiver {
            listener,
            local_addr,
            shared: Arc::new(Shared {
                config,
                acceptor,
                out,
                stats: Arc::default(),
            }),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn stats(&self) -> Arc<ReceiverStats> {
        self.shared.stats.clone()
    }

    /// Serves until the returned handle is stopped or dropped.
    pub fn spawn(self) -> ReceiverHandle {
        let local_addr = self.local_addr;
        let stats = self.stats();
        ReceiverHandle {
            task: tokio::spawn(self.run()),
            local_addr,
            stats,
        }
    }

    /// Accepts connections forever. Dropping this future closes the listener and every
    /// connection it accepted.
    pub async fn run(self) {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        connections.spawn(conn::handle(tcp, peer, self.shared.clone()));
                    }
                    Err(err) => {
                        // EMFILE and friends: back off instead of spinning on the error.
                        tracing::warn!(listen = %self.local_addr, error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    }
}

/// A running receiver. Dropping it, like [`ReceiverHandle::stop`], closes the listener
/// and every connection it accepted (their tasks are aborted, their sockets closed).
pub struct ReceiverHandle {
    task: JoinHandle<()>,
    local_addr: SocketAddr,
    stats: Arc<ReceiverStats>,
}

impl ReceiverHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn stats(&self) -> Arc<ReceiverStats> {
        self.stats.clone()
    }

    /// Stops accepting, closes every connection, and returns once the port is free.
    pub async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for ReceiverHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
