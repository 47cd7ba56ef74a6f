//! The TCP listener, plain or TLS: at most `max_connections` at once (further clients
//! wait in the kernel's backlog), one task per connection, each closed after `timeout`
//! without data. A full queue makes a connection wait before reading on, so back-pressure
//! reaches the sender through TCP; nothing is dropped for it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use jiff::Timestamp;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::framing::{Frame, FrameError, Framer, Framing};
use super::intake::Intake;
use super::stats::DropReason;
use crate::input::{Outlet, QueueClosed};

/// How long a TLS client has to finish its handshake (Logstash's default).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 16 << 10;

/// The settings of one TCP listener's connections.
pub(super) struct TcpOptions {
    pub framing: Framing,
    pub delimiter: Bytes,
    pub max_message_size: usize,
    pub idle_timeout: Duration,
    pub max_connections: Option<usize>,
    pub tls: Option<TlsAcceptor>,
}

/// Accepts connections until dropped; dropping it closes every connection.
pub(super) async fn serve(
    listener: TcpListener,
    options: Arc<TcpOptions>,
    intake: impl Fn() -> Intake,
    outlet: Outlet,
) {
    let slots = options.max_connections.map(|n| Arc::new(Semaphore::new(n)));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = accept(&listener, slots.as_ref()) => match accepted {
                Ok((tcp, peer, permit)) => {
                    let conn = connection(tcp, peer, options.clone(), intake(), outlet.clone());
                    connections.spawn(async move {
                        conn.await;
                        drop(permit);
                    });
                }
                Err(error) => {
                    // EMFILE and friends: back off instead of spinning on the error.
                    tracing::warn!(%error, "syslog tcp accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Waits for a free slot, then for a client.
async fn accept(
    listener: &TcpListener,
    slots: Option<&Arc<Semaphore>>,
) -> std::io::Result<(TcpStream, SocketAddr, Option<OwnedSemaphorePermit>)> {
    let permit = match slots {
        Some(slots) => Some(
            slots
                .clone()
                .acquire_owned()
                .await
                .expect("the connection semaphore is never closed"),
        ),
        None => None,
    };
    let (tcp, peer) = listener.accept().await?;
    Ok((tcp, peer, permit))
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    options: Arc<TcpOptions>,
    mut intake: Intake,
    outlet: Outlet,
) {
    tracing::debug!(%peer, "syslog connection opened");
    let result = match &options.tls {
        None => read(tcp, peer, &options, &mut intake, &outlet).await,
        Some(acceptor) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
        {
            Ok(Ok(tls)) => read(tls, peer, &options, &mut intake, &outlet).await,
            Ok(Err(error)) => {
                tracing::debug!(%peer, %error, "syslog tls handshake failed");
                intake.dropped(peer, DropReason::BadFrame);
                Ok(())
            }
            Err(_) => {
                tracing::debug!(%peer, "syslog tls handshake timed out");
                Ok(())
            }
        },
    };
    if result.is_err() {
        tracing::debug!(%peer, "syslog connection closed: the queue is closed");
    } else {
        tracing::debug!(%peer, "syslog connection closed");
    }
}

/// Reads and frames until the peer closes, goes idle or breaks the framing.
async fn read<S: AsyncRead + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    options: &TcpOptions,
    intake: &mut Intake,
    outlet: &Outlet,
) -> Result<(), QueueClosed> {
    let mut framer = Framer::new(
        options.framing,
        &options.delimiter,
        options.max_message_size,
    );
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        buf.reserve(READ_CHUNK);
        let read = tokio::time::timeout(options.idle_timeout, stream.read_buf(&mut buf)).await;
        let at = Timestamp::now();
        let n = match read {
            Ok(Ok(n)) => n,
            Ok(Err(error)) => {
                tracing::debug!(%peer, %error, "syslog connection read failed");
                return Ok(());
            }
            Err(_) => {
                tracing::debug!(%peer, timeout = ?options.idle_timeout, "syslog connection idle: closing it");
                return Ok(());
            }
        };
        if n == 0 {
            return match framer.finish(&mut buf) {
                Ok(Some(frame)) => deliver(intake, outlet, frame, peer, at).await,
                Ok(None) => Ok(()),
                Err(error) => {
                    tracing::debug!(%peer, %error, "syslog stream ended inside a frame");
                    intake.dropped(peer, DropReason::BadFrame);
                    Ok(())
                }
            };
        }
        loop {
            match framer.decode(&mut buf) {
                Ok(Some(frame)) => deliver(intake, outlet, frame, peer, at).await?,
                Ok(None) => break,
                Err(error) => {
                    let reason = match error {
                        FrameError::TooBig { .. } => DropReason::TooBig,
                        _ => DropReason::BadFrame,
                    };
                    tracing::debug!(%peer, %error, "closing syslog connection");
                    intake.dropped(peer, reason);
                    return Ok(());
                }
            }
        }
    }
}

async fn deliver(
    intake: &mut Intake,
    outlet: &Outlet,
    frame: Frame,
    peer: SocketAddr,
    at: Timestamp,
) -> Result<(), QueueClosed> {
    let mut events = Vec::new();
    intake.admit(&frame.data, frame.truncated, peer, at, &mut events);
    if events.is_empty() {
        return Ok(());
    }
    for event in events {
        outlet.send(event).await?;
    }
    intake.accepted(peer, frame.data.len(), at);
    Ok(())
}
