//! The little HTTP/1.1 lumberwatch speaks, shared by `rig hello`, `rig poll` and the
//! stats endpoint: `head` parses and writes heads (sans-IO); this module reads one
//! request at a time from a connection, under an idle limit, and writes whole responses.
//! GET and HEAD only, no request bodies, bounded heads: nothing here buffers more than
//! [`MAX_HEAD_BYTES`] for a peer.

mod head;

use std::io;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub use head::{
    HeadError, MAX_HEAD_BYTES, Request, Response, parse_request, parse_response, response_head,
};

/// What came next on a connection.
#[derive(Debug)]
pub enum Incoming {
    Request(Request),
    /// Bytes that are not a request this server takes: answer 400 and close.
    Bad(HeadError),
    /// The peer closed, or sent no complete request within the idle limit.
    Closed,
}

/// The next request on `stream`. `buf` keeps what was read past it (a pipelined request)
/// for the next call.
pub async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    idle: Duration,
) -> io::Result<Incoming> {
    loop {
        match parse_request(buf) {
            Ok(Some((request, len))) => {
                buf.advance(len);
                return Ok(Incoming::Request(request));
            }
            Ok(None) => {}
            Err(e) => return Ok(Incoming::Bad(e)),
        }
        match tokio::time::timeout(idle, stream.read_buf(buf)).await {
            Ok(Ok(0)) | Err(_) => return Ok(Incoming::Closed),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
        }
    }
}

/// Writes a response with `body` (only its head when `with_body` is false: a HEAD
/// request).
pub async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    content_type: &str,
    body: &[u8],
    with_body: bool,
    close: bool,
) -> io::Result<()> {
    let head = response_head(status, content_type, body.len() as u64, close);
    stream.write_all(head.as_bytes()).await?;
    if with_body {
        stream.write_all(body).await?;
    }
    Ok(())
}

/// Answers a request that could not be parsed with 400 and its reason, and closes.
pub async fn refuse<S: AsyncWrite + Unpin>(stream: &mut S, error: &HeadError) -> io::Result<()> {
    let text = format!("bad request: {error}\n");
    respond(stream, 400, "text/plain", text.as_bytes(), true, true).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_are_read_one_at_a_time_and_garbage_is_told_apart() {
        let (mut client, mut server) = tokio::io::duplex(1024);
        client
            .write_all(
                b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\nnoise\r\n\r\n",
            )
            .await
            .expect("write");
        drop(client);
        let mut buf = BytesMut::new();
        let idle = Duration::from_secs(5);
        let mut next = async || {
            read_request(&mut server, &mut buf, idle)
                .await
                .expect("read")
        };
        assert!(matches!(next().await, Incoming::Request(r) if r.path() == "/a" && r.keep_alive));
        assert!(matches!(next().await, Incoming::Request(r) if r.path() == "/b" && !r.keep_alive));
        assert!(matches!(
            next().await,
            Incoming::Bad(HeadError::StartLine(_))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_is_closed_after_the_idle_limit() {
        let (_client, mut server) = tokio::io::duplex(1024);
        let mut buf = BytesMut::new();
        let read = read_request(&mut server, &mut buf, Duration::from_secs(3));
        assert!(matches!(read.await.expect("read"), Incoming::Closed));
    }
}
