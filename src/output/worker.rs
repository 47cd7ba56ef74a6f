//! One connection's life: connect, send batches with pipelining, track acks, and on
//! any failure give the unacked events back, back off and reconnect.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf};
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tracing::{info, warn};

use super::conn::{Connected, Host, Stream, connect};
use super::encode::{Encoders, Pending, encode_ahead};
use super::{Backoff, Shared, Window};
use crate::event::Event;
use crate::proto::{Decoder, Frame, Limits};

/// How long a connection with nothing in flight keeps its encoders' buffers.
const IDLE_RELEASE: Duration = Duration::from_secs(5);

/// Why a session with a host ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("ack {seq} is past the batch's last sequence {last}")]
    AckPastWindow { seq: u32, last: usize },
    #[error("unexpected {0} from the server (only acks are expected)")]
    UnexpectedFrame(&'static str),
    #[error("bad frame from the server: {0}")]
    Proto(#[from] crate::proto::ProtoError),
    #[error("no ack for {0:?}")]
    AckTimeout(Duration),
    #[error("write did not complete within {0:?}")]
    WriteTimeout(Duration),
    #[error("encoding a batch failed: {0}")]
    Encode(String),
    #[error("connection closed by the server")]
    Closed,
    #[error("{}", crate::tls::explain(.0))]
    Io(#[from] std::io::Error),
}

enum End {
    /// Nothing left to send or wait for.
    Finished,
    /// `ttl` elapsed: reconnect at once.
    Ttl,
}

struct InFlight {
    events: Vec<Event>,
    acked: usize,
    /// When its write began: the ack latency is measured from here.
    written: Instant,
}

pub struct Worker {
    pub shared: Arc<Shared>,
    /// One host (loadbalance) or all of them, tried in turn (failover).
    pub hosts: Vec<Host>,
    pub next_host: usize,
    pub window: Window,
    pub backoff: Backoff,
}

impl Worker {
    pub async fn run(mut self) {
        let finished = self.shared.source.finished().clone();
        let settings = &self.shared.settings;
        let mut encoders = Encoders::new(settings.compression_level, settings.escape_html);
        loop {
            let host = self.hosts[self.next_host].clone();
            let connecting = connect(
                &host,
                self.shared.tls.as_ref(),
                self.shared.settings.timeout,
            );
            let outcome = match tokio::select! {
                c = connecting => c,
                () = finished.cancelled() => return,
            } {
                Err(e) => Err(Failure {
                    error: e.to_string(),
                    unacked: 0,
                    idle_close: false,
                }),
                Ok(conn) => {
                    let tls = conn.tls.as_deref().unwrap_or("plaintext");
                    info!(host = %host.name, addr = %conn.addr, tls, "connected to logstash");
                    self.shared.stats.connections_total.fetch_add(1, Relaxed);
                    // The session watches `finished` itself, so that it can close cleanly.
                    self.session(conn, &mut encoders).await
                }
            };
            match outcome {
                Ok(End::Finished) => return,
                Ok(End::Ttl) => {
                    info!(host = %host.name, "connection ttl reached, reconnecting");
                    continue;
                }
                Err(Failure {
                    idle_close: true,
                    error,
                    ..
                }) => {
                    // Logstash closes idle clients (client_inactivity_timeout): not a
                    // failure. Reconnect when there is something to send again.
                    info!(host = %host.name, reason = %error, "logstash closed the idle connection");
                    self.shared.stats.idle_closes_total.fetch_add(1, Relaxed);
                    let next = tokio::select! {
                        batch = self.shared.source.next_batch(self.window.size()) => batch,
                        () = finished.cancelled() => return,
                    };
                    match next {
                        Some(batch) => self.shared.source.give_back(std::iter::once(batch)),
                        None => return,
                    }
                }
                Err(Failure { error, unacked, .. }) => {
                    self.shared
                        .stats
                        .connection_errors_total
                        .fetch_add(1, Relaxed);
                    self.window.on_error();
                    self.next_host = (self.next_host + 1) % self.hosts.len();
                    let delay = self.backoff.next_delay(rand::random::<f64>());
                    if unacked > 0 {
                        warn!(host = %host.name, %error, unacked, retry_in = ?delay, "logstash connection failed, re-sending unacked events");
                    } else {
                        warn!(host = %host.name, %error, retry_in = ?delay, "logstash connection failed");
                    }
                    tokio::select! {
                        () = sleep(delay) => {}
                        () = finished.cancelled() => return,
                    }
                }
            }
        }
    }

    async fn session(&mut self, conn: Connected, encoders: &mut Encoders) -> Result<End, Failure> {
        let settings = self.shared.settings.clone();
        let (mut rd, mut wr) = tokio::io::split(conn.stream);
        let mut inflight: VecDeque<InFlight> = VecDeque::new();
        // Taken from the queue, being encoded; written in order once ready.
        let mut encoding: VecDeque<Pending> = VecDeque::new();
        let mut rbuf = BytesMut::with_capacity(256);
        // A server sends only 6-byte acks; anything bigger is not a Logstash.
        let mut decoder = Decoder::new(Limits {
            max_frame_bytes: 1024,
            max_inflated_bytes: 4096,
            max_pairs: 16,
        });
        let depth = settings.pipelining.max(1);
        // Compressed batches are taken ahead of the pipelining window, so that both
        // cores compress while earlier batches wait for their acks.
        let ahead = encode_ahead(settings.compression_level);
        let opened = Instant::now();
        let mut acked_any = false;
        let ttl_at = settings.ttl.map(|ttl| opened + ttl);
        let mut deadline = Instant::now() + settings.timeout;
        let mut queue_done = false;
        let finished = self.shared.source.finished().clone();
        // When the encoders' buffers go, once nothing has been in flight for a while.
        let mut release_at: Option<Instant> = None;

        let result: Result<End, SessionError> = loop {
            let ttl_due = ttl_at.is_some_and(|at| Instant::now() >= at);
            if inflight.is_empty() && encoding.is_empty() && (queue_done || ttl_due) {
                break Ok(if ttl_due && !queue_done {
                    End::Ttl
                } else {
                    End::Finished
                });
            }
            let can_take = encoding.len() < ahead.max(1)
                && inflight.len() + encoding.len() < depth + ahead
                && !queue_done
                && !ttl_due;
            tokio::select! {
                () = finished.cancelled(), if inflight.is_empty() && encoding.is_empty() => break Ok(End::Finished),
                batch = self.shared.source.next_batch(self.window.size()), if can_take => {
                    match batch {
                        Some(events) => {
                            release_at = None;
                            encoding.push_back(encoders.start(events));
                        }
                        None => queue_done = true,
                    }
                }
                ready = async { encoding.front_mut().expect("branch enabled only when non-empty").ready().await }, if !encoding.is_empty() && inflight.len() < depth => {
                    if let Err(e) = ready {
                        break Err(SessionError::Encode(e.to_string()));
                    }
                    let Some((events, Some(frames))) = encoding.pop_front().map(Pending::into_parts) else {
                        unreachable!("the front batch was just made ready");
                    };
                    if inflight.is_empty() {
                        deadline = Instant::now() + settings.timeout;
                    }
                    let n = events.len() as u64;
                    inflight.push_back(InFlight { events, acked: 0, written: Instant::now() });
                    let written = timeout(settings.timeout, wr.write_all(&frames.bytes)).await;
                    let bytes = frames.bytes.len() as u64;
                    encoders.recycle(frames);
                    match written {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => break Err(e.into()),
                        Err(_) => break Err(SessionError::WriteTimeout(settings.timeout)),
                    }
                    let stats = &self.shared.stats;
                    stats.events_sent_total.fetch_add(n, Relaxed);
                    stats.batches_sent_total.fetch_add(1, Relaxed);
                    stats.bytes_sent_total.fetch_add(bytes, Relaxed);
                }
                frame = next_frame(&mut rd, &mut rbuf, &mut decoder) => {
                    // No `?` in this loop: every error must reach the give-back below.
                    let seq = match frame {
                        Err(e) => break Err(e),
                        Ok(Frame::Ack { seq, .. }) => seq,
                        Ok(Frame::Window { .. }) => break Err(SessionError::UnexpectedFrame("window frame")),
                        Ok(Frame::Json { .. } | Frame::Data { .. }) => break Err(SessionError::UnexpectedFrame("event frame")),
                    };
                    let Some(oldest) = inflight.front_mut() else {
                        break Err(SessionError::UnexpectedFrame("ack with no batch in flight"));
                    };
                    deadline = Instant::now() + settings.timeout;
                    let seq_n = seq as usize;
                    if seq_n > oldest.events.len() {
                        break Err(SessionError::AckPastWindow { seq, last: oldest.events.len() });
                    }
                    if seq == 0 {
                        self.shared.stats.keepalives_total.fetch_add(1, Relaxed);
                        continue;
                    }
                    // An ack below what is already acked is stale: it acknowledges nothing new.
                    let progress = seq_n.saturating_sub(oldest.acked);
                    if progress > 0 {
                        self.shared.acked(&oldest.events[oldest.acked..seq_n]);
                        oldest.acked = seq_n;
                        acked_any = true;
                        self.backoff.reset();
                    }
                    if seq_n == oldest.events.len() {
                        let latency = oldest.written.elapsed();
                        let done = inflight.pop_front().map_or(0, |b| b.events.len());
                        self.window.on_success(done);
                        self.shared.stats.batch_acked(latency);
                        if inflight.is_empty() && encoding.is_empty() {
                            release_at = Some(Instant::now() + IDLE_RELEASE);
                        }
                    }
                }
                () = sleep_until(deadline), if !inflight.is_empty() => break Err(SessionError::AckTimeout(settings.timeout)),
                () = sleep_until(ttl_at.unwrap_or(deadline)), if ttl_at.is_some() && !ttl_due => {}
                () = sleep_until(release_at.unwrap_or(deadline)), if release_at.is_some() => {
                    encoders.release();
                    release_at = None;
                }
            }
        };
        let error = match result {
            Ok(end) => {
                // A clean close (TLS close_notify, then FIN) so the server logs no error.
                let _ = timeout(settings.timeout, wr.shutdown()).await;
                return Ok(end);
            }
            Err(error) => error,
        };
        // Everything not acked goes back, in order: what was sent, then what was encoding.
        let mut unsent: Vec<Vec<Event>> = inflight
            .into_iter()
            .map(|mut b| b.events.split_off(b.acked))
            .collect();
        unsent.extend(encoding.into_iter().map(|p| p.into_parts().0));
        let unacked: usize = unsent.iter().map(Vec::len).sum();
        // A connection refused at once (say a client certificate rejected on the first
        // read under TLS 1.3) is a failure that needs backoff, not an idle close.
        let idle_close = unacked == 0
            && (acked_any || opened.elapsed() >= Duration::from_secs(1))
            && matches!(error, SessionError::Closed | SessionError::Io(_));
        if unacked > 0 {
            self.shared
                .stats
                .events_resent_total
                .fetch_add(unacked as u64, Relaxed);
            self.shared.source.give_back(unsent.into_iter());
        }
        Err(Failure {
            error: error.to_string(),
            unacked,
            idle_close,
        })
    }
}

/// A session that ended badly: why, and how many events it gave back.
struct Failure {
    error: String,
    unacked: usize,
    /// The server closed a connection with nothing in flight.
    idle_close: bool,
}

/// Reads until one whole frame is decoded. Cancel-safe: bytes read are kept in `buf`.
async fn next_frame(
    rd: &mut ReadHalf<Box<dyn Stream>>,
    buf: &mut BytesMut,
    decoder: &mut Decoder,
) -> Result<Frame, SessionError> {
    loop {
        if let Some(frame) = decoder.decode(buf)? {
            return Ok(frame);
        }
        if rd.read_buf(buf).await? == 0 {
            return Err(SessionError::Closed);
        }
    }
}
