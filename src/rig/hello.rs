//! `lumberwatch rig hello`: the users' hello-world target. HTTP/1.1 with keep-alive:
//! `/` answers "Hello World!", `/bytes/N` answers N bytes (at most 100 MiB) so that a
//! poller moves real volume. A request it cannot parse gets a 400 and its connection
//! is closed; the server goes on. With `--access-log` every answered request is a line
//! of Apache's combined format. On SIGINT/SIGTERM it prints what it served.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use super::access_log::AccessLog;
use super::http::{HELLO, MAX_BODY_BYTES, Route, route};
use crate::http::{self, Incoming, respond};

/// A connection with no complete request for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The body of `/bytes/N` is this pattern repeated, written a chunk at a time.
const CHUNK_BYTES: usize = 64 << 10;
const TEXT: &str = "text/plain";

#[derive(Debug, Clone, clap::Args)]
pub struct HelloOptions {
    /// Address to listen on (port 0 picks a free one, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Append a line per request to this file, in Apache's combined format.
    #[arg(long)]
    pub access_log: Option<PathBuf>,
}

/// What the server has answered, over all connections.
#[derive(Debug, Default)]
pub(crate) struct Served {
    requests: AtomicU64,
    body_bytes: AtomicU64,
    bad_requests: AtomicU64,
}

impl Served {
    fn line(&self) -> String {
        format!(
            "served requests={} bytes={} bad_requests={}",
            self.requests.load(Ordering::Relaxed),
            self.body_bytes.load(Ordering::Relaxed),
            self.bad_requests.load(Ordering::Relaxed)
        )
    }
}

pub async fn run(opts: HelloOptions) -> anyhow::Result<()> {
    let listener = TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let addr = listener.local_addr()?;
    println!("listening on {addr} (GET / and /bytes/N, N at most {MAX_BODY_BYTES})");
    let log = match &opts.access_log {
        Some(path) => Some(Arc::new(AccessLog::open(path)?)),
        None => None,
    };
    let served = Arc::new(Served::default());
    let accepting = serve(listener, served.clone(), log);
    tokio::select! {
        result = accepting => result?,
        () = crate::signal::shutdown() => {}
    }
    println!("{}", served.line());
    Ok(())
}

/// Accepts connections until the listener fails; each is served on its own task.
pub(crate) async fn serve(
    listener: TcpListener,
    served: Arc<Served>,
    log: Option<Arc<AccessLog>>,
) -> anyhow::Result<()> {
    let body = Arc::new(body_chunk());
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of descriptors or a connection reset before accept: not fatal.
            Err(e) if is_transient(&e) => {
                eprintln!("rig hello: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(e) => return Err(e).context("accepting connections"),
        };
        let (served, body, log) = (served.clone(), body.clone(), log.clone());
        tokio::spawn(async move {
            let log = log.as_deref().map(|log| (log, peer));
            match connection(stream, &served, &body, log).await {
                // A client that hangs up mid-download (the poller's stops) is normal.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) => eprintln!("rig hello: {peer}: {e}"),
                Ok(()) => {}
            }
        });
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || e.raw_os_error() == Some(libc::EMFILE)
        || e.raw_os_error() == Some(libc::ENFILE)
}

fn body_chunk() -> Vec<u8> {
    b"lumberwatch rig "
        .iter()
        .copied()
        .cycle()
        .take(CHUNK_BYTES)
        .collect()
}

/// One connection: requests in turn until the peer closes, asks to close, is idle too
/// long, or sends something that is not a request. Each answer is logged to `log`.
async fn connection(
    mut stream: TcpStream,
    served: &Served,
    body: &[u8],
    log: Option<(&AccessLog, SocketAddr)>,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        let request = match http::read_request(&mut stream, &mut buf, IDLE_TIMEOUT).await? {
            Incoming::Request(request) => request,
            Incoming::Closed => return Ok(()),
            Incoming::Bad(e) => {
                served.bad_requests.fetch_add(1, Ordering::Relaxed);
                return http::refuse(&mut stream, &e).await;
            }
        };
        served.requests.fetch_add(1, Ordering::Relaxed);
        let close = !request.keep_alive;
        let with_body = request.method != "HEAD";
        // The status and the body's length, for the access log.
        let (status, length) = match (request.method.as_str(), route(&request)) {
            ("GET" | "HEAD", Route::Hello) => {
                respond(&mut stream, 200, TEXT, HELLO.as_bytes(), with_body, close).await?;
                if with_body {
                    served
                        .body_bytes
                        .fetch_add(HELLO.len() as u64, Ordering::Relaxed);
                }
                (200, HELLO.len())
            }
            ("GET" | "HEAD", Route::Bytes(n)) => {
                let head = http::response_head(200, "application/octet-stream", n, close);
                stream.write_all(head.as_bytes()).await?;
                if with_body {
                    write_body(&mut stream, n, body, served).await?;
                }
                (
                    200,
                    usize::try_from(n).expect("n is at most MAX_BODY_BYTES"),
                )
            }
            ("GET" | "HEAD", Route::BadSize) => {
                let text = format!("N must be a number of bytes up to {MAX_BODY_BYTES}\n");
                respond(&mut stream, 400, TEXT, text.as_bytes(), with_body, close).await?;
                (400, text.len())
            }
            ("GET" | "HEAD", Route::NotFound) => {
                let text = b"not found\n";
                respond(&mut stream, 404, TEXT, text, with_body, close).await?;
                (404, text.len())
            }
            _ => {
                let text = b"GET or HEAD\n";
                respond(&mut stream, 405, TEXT, text, with_body, close).await?;
                (405, text.len())
            }
        };
        if let Some((log, peer)) = log {
            let sent = if with_body { length as u64 } else { 0 };
            log.record(peer.ip(), &request, status, sent);
        }
        if close {
            return stream.shutdown().await;
        }
    }
}

/// `n` bytes of the pattern, counted as served chunk by chunk as the socket takes them.
async fn write_body(
    stream: &mut TcpStream,
    n: u64,
    chunk: &[u8],
    served: &Served,
) -> std::io::Result<()> {
    let mut left = n;
    while left > 0 {
        let take = left.min(chunk.len() as u64) as usize;
        stream.write_all(&chunk[..take]).await?;
        served.body_bytes.fetch_add(take as u64, Ordering::Relaxed);
        left -= take as u64;
    }
    Ok(())
}
