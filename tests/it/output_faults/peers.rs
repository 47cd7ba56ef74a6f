//! The other end of the fault tests: a collector shared by receivers that come and go,
//! small hand-written faulty servers, the output run in the background, and the log
//! lines it wrote.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lumberwatch::config::LogstashConfig;
use lumberwatch::output::{LogstashOutput, OutputStats, encode_ahead};
use lumberwatch::receive::{ReceivedBatch, Receiver, ReceiverConfig, ReceiverHandle};
use lumberwatch::tls::ServerTls;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::support::{number_of, numbered};

/// Every event number any receiver handed over, duplicates included, from however many
/// receivers (one after another or side by side) share its sender.
pub struct Collector {
    pub tx: mpsc::Sender<ReceivedBatch>,
    all: Arc<Mutex<Vec<u64>>>,
    distinct: watch::Receiver<usize>,
    task: JoinHandle<()>,
}

impl Collector {
    pub fn new() -> Self {
        let (tx, mut rx) = mpsc::channel::<ReceivedBatch>(1024);
        let all = Arc::new(Mutex::new(Vec::new()));
        let (count, distinct) = watch::channel(0);
        let task = tokio::spawn({
            let all = all.clone();
            async move {
                let mut seen = HashSet::new();
                while let Some(batch) = rx.recv().await {
                    let mut all = all.lock().unwrap();
                    for event in &batch.events {
                        let n = number_of(event);
                        seen.insert(n);
                        all.push(n);
                    }
                    count.send_replace(seen.len());
                }
            }
        });
        Collector {
            tx,
            all,
            distinct,
            task,
        }
    }

    pub fn distinct(&self) -> usize {
        *self.distinct.borrow()
    }

    /// Waits until `n` distinct events arrived.
    pub async fn wait_distinct(&mut self, n: usize, limit: Duration) {
        let arrived = tokio::time::timeout(limit, self.distinct.wait_for(|&d| d >= n))
            .await
            .is_ok_and(|r| r.is_ok());
        assert!(
            arrived,
            "{} distinct events of {n} after {limit:?}",
            self.distinct()
        );
    }

    /// Asserts events 1..=count all arrived; returns how many arrived more than once.
    pub fn duplicates_of_complete(&self, count: u64) -> u64 {
        let all = self.all.lock().unwrap().clone();
        let mut seen = all.clone();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len() as u64, count, "every event arrived");
        assert_eq!(seen.first(), Some(&1));
        assert_eq!(seen.last(), Some(&count), "no event outside 1..={count}");
        all.len() as u64 - count
    }

    /// Waits for events 1..=count and asserts each arrived exactly once.
    pub async fn exactly_once(&mut self, count: u64, why: &str) {
        self.wait_distinct(count as usize, Duration::from_secs(10))
            .await;
        assert_eq!(self.duplicates_of_complete(count), 0, "{why}");
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The embedded receiver on `listen`, handing its batches to `out`.
pub async fn serve(
    listen: SocketAddr,
    tls: Option<ServerTls>,
    out: mpsc::Sender<ReceivedBatch>,
) -> ReceiverHandle {
    let config = ReceiverConfig {
        listen,
        tls: tls.map(|t| lumberwatch::tls::server_config(&t).unwrap()),
        ..ReceiverConfig::default()
    };
    Receiver::bind(config, out).await.unwrap().spawn()
}

/// What a [`Front`] does with one accepted connection.
#[derive(Clone)]
pub enum Peer {
    /// Never reads, writes or closes: a half-open peer, or a TLS server that never answers.
    Silent,
    /// Reads and discards everything and never answers: a black hole.
    Swallow,
    /// Closes at once.
    Close,
    /// Waits for the client's first bytes, answers with these, then reads until the
    /// client hangs up.
    Answer(Vec<u8>),
    /// Relays both ways to a real receiver.
    Relay(SocketAddr),
}

/// One connection a [`Front`] accepted.
#[derive(Debug, Clone, Copy)]
pub struct Accepted {
    pub at: Instant,
    /// When the client hung up (seen only by peers that read).
    pub client_closed: Option<Instant>,
    pub bytes_in: u64,
}

/// A server on a free loopback port that treats its `n`th connection as `plan[n]`, and
/// every connection after the plan as `then`.
pub struct Front {
    pub addr: SocketAddr,
    conns: Arc<Mutex<Vec<Accepted>>>,
    task: JoinHandle<()>,
}

impl Front {
    pub async fn start(plan: Vec<Peer>, then: Peer) -> Front {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns = Arc::new(Mutex::new(Vec::<Accepted>::new()));
        let log = conns.clone();
        let task = tokio::spawn(async move {
            // Dropped with this task: every connection it holds is closed then.
            let mut peers = JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let index = {
                    let mut log = log.lock().unwrap();
                    log.push(Accepted {
                        at: Instant::now(),
                        client_closed: None,
                        bytes_in: 0,
                    });
                    log.len() - 1
                };
                let peer = plan.get(index).unwrap_or(&then).clone();
                peers.spawn(behave(tcp, peer, log.clone(), index));
            }
        });
        Front { addr, conns, task }
    }

    pub fn accepted(&self) -> Vec<Accepted> {
        self.conns.lock().unwrap().clone()
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn behave(mut tcp: TcpStream, peer: Peer, log: Arc<Mutex<Vec<Accepted>>>, index: usize) {
    match peer {
        Peer::Silent => std::future::pending().await,
        Peer::Swallow => read_until_closed(&mut tcp, &log, index).await,
        Peer::Close => drop(tcp),
        Peer::Answer(bytes) => {
            let mut first = [0u8; 1];
            if tcp.read_exact(&mut first).await.is_ok() && tcp.write_all(&bytes).await.is_ok() {
                read_until_closed(&mut tcp, &log, index).await;
            }
        }
        Peer::Relay(target) => {
            if let Ok(mut upstream) = TcpStream::connect(target).await {
                let _ = tokio::io::copy_bidirectional(&mut tcp, &mut upstream).await;
            }
        }
    }
}

async fn read_until_closed(tcp: &mut TcpStream, log: &Mutex<Vec<Accepted>>, index: usize) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => {
                log.lock().unwrap()[index].client_closed = Some(Instant::now());
                return;
            }
            Ok(n) => log.lock().unwrap()[index].bytes_in += n as u64,
        }
    }
}

/// The output shipping events `1..=count`, fed from a task, running in the background.
pub struct Shipping {
    output: LogstashOutput,
    pub stats: Arc<OutputStats>,
    feeder: JoinHandle<()>,
}

impl Shipping {
    pub fn start(cfg: &LogstashConfig, count: u64) -> Shipping {
        let (tx, rx) = lumberwatch::queue::mem::channel(1024);
        let output = LogstashOutput::start(cfg, rx).unwrap();
        let feeder = tokio::spawn(async move {
            for n in 1..=count {
                tx.send(numbered(n)).await.unwrap();
            }
        });
        Shipping {
            stats: output.stats(),
            output,
            feeder,
        }
    }

    /// Waits (bounded) until every event was fed in and acked.
    pub async fn finished(self, limit: Duration) -> Arc<OutputStats> {
        tokio::time::timeout(limit, self.output.finished())
            .await
            .unwrap_or_else(|_| panic!("every event acked within {limit:?}"));
        self.feeder.await.unwrap();
        self.stats
    }
}

/// Asserts the output never held more events than its connections may have in flight
/// or being compressed: `connections × (max(pipelining, 1) + encode_ahead) × bulk_max_size`.
pub fn assert_bounded(stats: &OutputStats, cfg: &LogstashConfig, connections: usize) {
    let per_connection = cfg.pipelining.max(1) + encode_ahead(cfg.compression_level);
    let bound = connections * per_connection * cfg.bulk_max_size;
    let max = stats.events_outstanding_max.load(Relaxed);
    assert!(
        max > 0 && max <= bound as u64,
        "held at most {max} events at once, bound {bound}"
    );
}

/// Polls `ready` every few milliseconds until it holds, for at most `limit`.
pub async fn eventually(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The output's log lines, captured for the test's own thread (`#[tokio::test]` runs
/// every task of the test there).
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

/// A loopback port that refuses connections (bound, not listening) and that a receiver
/// can later listen on (both sides use `SO_REUSEADDR`): "Logstash is down".
pub fn down_port() -> (socket2::Socket, SocketAddr) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_reuse_address(true).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    (socket, addr)
}
