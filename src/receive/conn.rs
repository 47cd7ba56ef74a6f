//! One accepted connection: TLS handshake, then frames in, batches out, acks back.
//! Every way a connection can end is an [`End`], logged in exactly one line.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde::de::IgnoredAny;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::{Instant, MissedTickBehavior, timeout};

use super::{ReceivedBatch, Shared};
use crate::proto::{Decoder, Frame, Version, encode_ack};

/// Reads go into a buffer with at least this much room, so one read can take in
/// thousands of small events; the events are zero-copy slices of it.
const READ_CHUNK: usize = 256 << 10;
/// What one buffered event costs beyond its payload (its `Bytes` and sequence number),
/// counted against the per-batch budget so that millions of empty events cannot pile up.
const EVENT_OVERHEAD: usize = std::mem::size_of::<Bytes>() + 4;
/// No more than this is reserved up front for a batch's events, whatever the window says.
const MAX_PREALLOCATED_EVENTS: usize = 16 << 10;

/// How a connection ended.
enum End {
    /// The peer closed it or the socket failed: nothing left to reset.
    Closed(String),
    /// Reset on purpose (idle client, fault knob, pipeline gone).
    Reset(String),
    /// Reset because the peer sent something unacceptable; counted as a bad frame.
    Bad(String),
}

pub(super) async fn handle(tcp: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    shared
        .stats
        .connections_total
        .fetch_add(1, Ordering::Relaxed);
    // Acks are 6 bytes and the client waits for them: never hold them back.
    let _ = tcp.set_nodelay(true);
    let mut session = Session::new(peer, &shared);
    let Some(acceptor) = &shared.acceptor else {
        tracing::info!(%peer, tls = "none", "connection accepted");
        let mut tcp = tcp;
        let end = session.run(&mut tcp).await;
        session.finish(&tcp, end);
        return;
    };
    let limit = shared.config.handshake_timeout;
    let mut tls = match timeout(limit, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(err)) => {
            tracing::warn!(%peer, error = %err, "tls handshake failed");
            return;
        }
        Err(_) => {
            tracing::warn!(%peer, timeout = ?limit, "tls handshake timed out");
            return;
        }
    };
    tracing::info!(%peer, tls = %crate::tls::describe(tls.get_ref().1), "connection accepted");
    let end = session.run(&mut tls).await;
    session.finish(tls.get_ref().0, end);
}

/// The batch being received: `W n` seen, fewer than `n` events so far.
struct Batch {
    version: Version,
    window: usize,
    events: Vec<Bytes>,
    payload_bytes: usize,
}

struct Session<'a> {
    peer: SocketAddr,
    shared: &'a Shared,
    decoder: Decoder,
    buf: BytesMut,
    batch: Option<Batch>,
    /// Sequence numbers of the current batch's events, reused from batch to batch.
    seqs: Vec<u32>,
    ack: Vec<u8>,
    /// Events received on this connection (what `drop_after_events` counts).
    received: u64,
    /// Events handed to the pipeline from this connection.
    delivered: u64,
}

impl<'a> Session<'a> {
    fn new(peer: SocketAddr, shared: &'a Shared) -> Self {
        Session {
            peer,
            shared,
            decoder: Decoder::new(shared.config.limits),
            buf: BytesMut::new(),
            batch: None,
            seqs: Vec::new(),
            ack: Vec::with_capacity(6),
            received: 0,
            delivered: 0,
        }
    }

    async fn run<S: AsyncRead + AsyncWrite + Unpin>(&mut self, io: &mut S) -> End {
        let idle = self.shared.config.client_inactivity_timeout;
        loop {
            loop {
                let frame = match self.decoder.decode(&mut self.buf) {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(err) => return End::Bad(err.to_string()),
                };
                if let Err(end) = self.on_frame(frame, io).await {
                    return end;
                }
            }
            if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
                self.buf.reserve(READ_CHUNK);
            }
            match timeout(idle, io.read_buf(&mut self.buf)).await {
                Ok(Ok(0)) => return End::Closed(self.eof_reason()),
                Ok(Ok(_)) => {}
                Ok(Err(err)) => return End::Closed(format!("read failed: {err}")),
                Err(_) => {
                    return End::Reset(format!(
                        "nothing received for {idle:?} (client_inactivity_timeout)"
                    ));
                }
            }
        }
    }

    fn eof_reason(&self) -> String {
        match &self.batch {
            Some(b) => format!(
                "peer closed the connection inside a batch ({} of {} events received)",
                b.events.len(),
                b.window
            ),
            None if !self.buf.is_empty() => format!(
                "peer closed the connection inside a frame ({} bytes buffered)",
                self.buf.len()
            ),
            None => "peer closed the connection".to_owned(),
        }
    }

    async fn on_frame<S: AsyncWrite + Unpin>(
        &mut self,
        frame: Frame,
        io: &mut S,
    ) -> Result<(), End> {
        match frame {
            Frame::Window { version, size } => {
                if let Some(b) = &self.batch
                    && !b.events.is_empty()
                {
                    return Err(End::Bad(format!(
                        "window frame inside an unfinished batch ({} of {} events received)",
                        b.events.len(),
                        b.window
                    )));
                }
                if size == 0 {
                    self.batch = None;
                    return self.write_ack(io, version, 0).await;
                }
                let window = size as usize;
                self.batch = Some(Batch {
                    version,
                    window,
                    events: Vec::with_capacity(window.min(MAX_PREALLOCATED_EVENTS)),
                    payload_bytes: 0,
                });
                self.seqs.clear();
                Ok(())
            }
            Frame::Json { seq, payload, .. } => {
                self.expect_window(seq)?;
                self.push(seq, payload, io).await
            }
            Frame::Data { seq, fields, .. } => {
                self.expect_window(seq)?;
                let object: serde_json::Map<String, serde_json::Value> = fields
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect();
                let json = serde_json::to_vec(&object)
                    .map_err(|err| End::Bad(format!("event {seq} cannot become json: {err}")))?;
                self.push(seq, Bytes::from(json), io).await
            }
            Frame::Ack { seq, .. } => Err(End::Bad(format!(
                "client sent an ack frame (seq {seq}); only servers ack"
            ))),
        }
    }

    fn expect_window(&self, seq: u32) -> Result<(), End> {
        if self.batch.is_none() {
            return Err(End::Bad(format!(
                "event {seq} arrived without a window frame before it"
            )));
        }
        Ok(())
    }

    async fn push<S: AsyncWrite + Unpin>(
        &mut self,
        seq: u32,
        payload: Bytes,
        io: &mut S,
    ) -> Result<(), End> {
        let faults = &self.shared.config.faults;
        let budget = self.shared.config.limits.max_inflated_bytes;
        let Some(batch) = self.batch.as_mut() else {
            return Err(End::Bad(format!(
                "event {seq} arrived without a window frame before it"
            )));
        };
        self.received += 1;
        if let Some(limit) = faults.drop_after_events
            && self.received >= limit
        {
            return Err(End::Reset(format!(
                "fault drop_after_events: {limit} events received, batch in progress discarded"
            )));
        }
        batch.payload_bytes += payload.len();
        let held = batch.payload_bytes + (batch.events.len() + 1) * EVENT_OVERHEAD;
        if held > budget {
            return Err(End::Bad(format!(
                "batch holds {} events in over {budget} bytes (max_inflated_bytes) before its window of {} is complete",
                batch.events.len() + 1,
                batch.window
            )));
        }
        batch.events.push(payload);
        self.seqs.push(seq);
        if batch.events.len() < batch.window {
            return Ok(());
        }
        match self.batch.take() {
            Some(batch) => self.complete(batch, io).await,
            None => Ok(()),
        }
    }

    /// The window is full: hand the batch to the pipeline, then ack its highest sequence.
    async fn complete<S: AsyncWrite + Unpin>(
        &mut self,
        mut batch: Batch,
        io: &mut S,
    ) -> Result<(), End> {
        let partial = self.shared.config.faults.partial_ack_percent;
        if let Some(percent) = partial {
            let n = batch.events.len() as u64;
            let keep = (n * u64::from(percent.min(100))).div_ceil(100) as usize;
            batch.events.truncate(keep);
            batch.payload_bytes = batch.events.iter().map(Bytes::len).sum();
        }
        if self.shared.config.validate_json
            && let Some((at, err)) = first_invalid_json(&batch.events).await
        {
            let seq = self.seqs.get(at).copied().unwrap_or(0);
            return Err(End::Bad(format!("event {seq} is not valid json: {err}")));
        }
        let count = batch.events.len();
        let ack_seq = self.seqs[..count].iter().copied().max().unwrap_or(0);
        if count > 0 {
            let received = ReceivedBatch {
                peer: self.peer,
                events: batch.events,
                written: None,
            };
            self.hand_over(io, batch.version, received).await?;
            let stats = &self.shared.stats;
            stats.batches_total.fetch_add(1, Ordering::Relaxed);
            stats
                .events_total
                .fetch_add(count as u64, Ordering::Relaxed);
            stats
                .bytes_total
                .fetch_add(batch.payload_bytes as u64, Ordering::Relaxed);
            self.delivered += count as u64;
        }
        self.write_ack(io, batch.version, ack_seq).await?;
        if partial.is_some() {
            return Err(End::Reset(format!(
                "fault partial_ack_percent: acked {ack_seq} after {count} of {} events",
                self.seqs.len()
            )));
        }
        Ok(())
    }

    /// `out.send(batch)`, with `A 0` every keep-alive interval while the pipeline is
    /// full or the slow fault holds the batch back.
    async fn hand_over<S: AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        version: Version,
        batch: ReceivedBatch,
    ) -> Result<(), End> {
        let shared = self.shared;
        let slow = shared.config.faults.slow_per_batch;
        let closed = || End::Reset("the pipeline is closed".to_owned());
        let (batch, written) = if shared.config.ack_after_write {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let batch = ReceivedBatch {
                written: Some(tx),
                ..batch
            };
            (batch, Some(rx))
        } else {
            (batch, None)
        };
        let batch = if slow.is_zero() && written.is_none() {
            match shared.out.try_send(batch) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(_)) => return Err(closed()),
                Err(TrySendError::Full(batch)) => batch,
            }
        } else {
            batch
        };
        let deliver = async move {
            if !slow.is_zero() {
                tokio::time::sleep(slow).await;
            }
            shared.out.send(batch).await.map_err(drop)?;
            match written {
                Some(written) => written.await.map_err(drop),
                None => Ok(()),
            }
        };
        tokio::pin!(deliver);
        let period = shared
            .config
            .keepalive_interval
            .max(Duration::from_millis(1));
        let mut keepalive = tokio::time::interval_at(Instant::now() + period, period);
        keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                sent = &mut deliver => return sent.map_err(|_| closed()),
                _ = keepalive.tick() => self.write_ack(io, version, 0).await?,
            }
        }
    }

    async fn write_ack<S: AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        version: Version,
        seq: u32,
    ) -> Result<(), End> {
        self.ack.clear();
        encode_ack(&mut self.ack, version, seq);
        let limit = self.shared.config.client_inactivity_timeout;
        let write = async {
            io.write_all(&self.ack).await?;
            io.flush().await
        };
        match timeout(limit, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(End::Closed(format!("cannot write ack {seq}: {err}"))),
            Err(_) => Err(End::Reset(format!(
                "ack {seq} not taken by the peer within {limit:?}"
            ))),
        }
    }

    /// Resets the socket if the end calls for it and logs the one closing line.
    fn finish(&self, tcp: &TcpStream, end: End) {
        let (peer, events) = (self.peer, self.delivered);
        let stats = &self.shared.stats;
        match end {
            End::Closed(reason) => tracing::info!(%peer, events, %reason, "connection closed"),
            End::Reset(reason) => {
                stats.resets_total.fetch_add(1, Ordering::Relaxed);
                reset(tcp);
                tracing::info!(%peer, events, %reason, "connection reset");
            }
            End::Bad(error) => {
                stats.bad_frames_total.fetch_add(1, Ordering::Relaxed);
                stats.resets_total.fetch_add(1, Ordering::Relaxed);
                reset(tcp);
                tracing::warn!(%peer, events, %error, "bad input, connection reset");
            }
        }
    }
}

/// With `SO_LINGER` 0 the close that follows sends RST instead of FIN, as Logstash does.
fn reset(tcp: &TcpStream) {
    if let Err(err) = tcp.set_zero_linger() {
        tracing::debug!(error = %err, "cannot set SO_LINGER 0; closing normally");
    }
}

/// Parses every event of a batch as JSON, as Logstash does before it acks, half of a big
/// batch on the blocking pool so that parsing uses both cores. Returns the index and
/// error of the first event that is not JSON.
async fn first_invalid_json(events: &[Bytes]) -> Option<(usize, serde_json::Error)> {
    fn check(events: &[Bytes], base: usize) -> Option<(usize, serde_json::Error)> {
        events.iter().enumerate().find_map(|(i, e)| {
            serde_json::from_slice::<IgnoredAny>(e)
                .err()
                .map(|err| (base + i, err))
        })
    }
    const PARALLEL_FROM: usize = 256;
    if events.len() < PARALLEL_FROM {
        return check(events, 0);
    }
    let mid = events.len() / 2;
    let second: Vec<Bytes> = events[mid..].to_vec();
    let other = tokio::task::spawn_blocking(move || check(&second, mid));
    let first = check(&events[..mid], 0);
    // The second half's result is needed even when the first half failed: the task
    // must finish before its events are dropped anyway.
    let second = other.await.unwrap_or(None);
    first.or(second)
}
