//! The UDP listener: one datagram is one message (lines in it are not split, as in
//! Filebeat). The socket is always drained: a full queue drops the message, counted,
//! rather than leaving datagrams to pile up in (and overflow) the kernel's buffer.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use jiff::Timestamp;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use super::intake::Intake;
use super::stats::DropReason;
use crate::input::Outlet;
use crate::queue::mem::TrySendError;

/// The largest UDP payload there is: a limit at or above it never cuts a datagram.
const MAX_DATAGRAM: usize = 65_535;

/// Binds `addr`, with `SO_RCVBUF` at `read_buffer` bytes when set (the kernel may
/// double or cap it; see `net.core.rmem_max`).
pub(super) fn bind(addr: SocketAddr, read_buffer: Option<usize>) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Some(size) = read_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Receives until the queue closes. A datagram over `max` bytes is cut to `max`.
pub(super) async fn serve(socket: UdpSocket, mut intake: Intake, outlet: Outlet, max: usize) {
    let mut buf = vec![0u8; max.min(MAX_DATAGRAM) + 1];
    let mut events = Vec::new();
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(error) => {
                // Not expected on an unconnected socket; do not spin if it persists.
                tracing::warn!(%error, "syslog udp receive failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let at = Timestamp::now();
        let kept = n.min(max);
        intake.admit(&buf[..kept], n > max, peer, at, &mut events);
        if events.is_empty() {
            continue;
        }
        // All of a message's events, or (queue full) the rest of them dropped, counted once.
        let mut outcome = Ok(());
        for event in events.drain(..) {
            if outcome.is_ok() {
                outcome = outlet.try_send(event);
            }
        }
        match outcome {
            Ok(()) => intake.accepted(peer, kept, at),
            Err(TrySendError::Full(_)) => intake.dropped(peer, DropReason::QueueFull),
            Err(TrySendError::Closed(_)) => return,
        }
    }
}
