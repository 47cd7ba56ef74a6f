//! Connection faults between the Lumberjack client and Logstash, one test each, over
//! real loopback sockets: the embedded receiver, or a small faulty server where the
//! fault needs one. Each proves that no event is lost (every sequence number arrives),
//! counts the duplicates, and checks that the output held no more events than its
//! connections may have in flight. (A slow receiver's keep-alives, partial acks, a
//! receiver dropping connections, one load-balanced host down and failover are in
//! `output.rs`.)

mod peers;

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use lumberwatch::config::BackoffConfig;
use lumberwatch::tls::ClientAuth;
use tokio::time::Instant;

use crate::support::{logstash, server_tls, tls_client};
use peers::*;

const MS: Duration = Duration::from_millis(1);

/// Logstash down for ten (simulated) minutes with the default backoff, 1 s doubling to
/// 60 s: the client keeps trying, never more often than every `max / 2` once capped and
/// never less often than every `max`, and when Logstash is back every event goes.
/// The clock is paused: a refused loopback connect completes within the syscall, so
/// no real wait is skipped over.
#[tokio::test(start_paused = true)]
async fn ten_minutes_down_then_back_delivers_everything_with_retries_capped_at_backoff_max() {
    let (down, addr) = down_port();
    let mut cfg = logstash(&[addr.to_string()]);
    cfg.backoff = BackoffConfig {
        init: Duration::from_secs(1),
        max: Duration::from_secs(60),
    };
    let count = 5000;
    let shipping = Shipping::start(&cfg, count);
    let stats = shipping.stats.clone();

    let outage = Duration::from_secs(600);
    let started = Instant::now();
    let mut attempts = vec![started];
    let mut failures = 0;
    while started.elapsed() < outage {
        tokio::time::sleep(10 * MS).await;
        let now = stats.connection_errors_total.load(Relaxed);
        if now > failures {
            assert_eq!(now, failures + 1, "one attempt at a time");
            failures = now;
            attempts.push(Instant::now());
        }
    }
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    // gaps[k] is the k-th delay: 1 s doubling, capped from the 7th (base 64 s -> 60 s).
    let capped = &gaps[7..];
    let (lo, hi) = (
        Duration::from_secs(30) - 20 * MS,
        Duration::from_secs(60) + 20 * MS,
    );
    assert!(
        capped.iter().all(|g| (lo..=hi).contains(g)),
        "once capped every retry comes 30..60 s after the last: {gaps:?}"
    );
    assert!(
        (15..=26).contains(&failures),
        "{failures} attempts in 600 s: capped at 60 s (doubling on would make at most 12)"
    );
    assert_eq!(stats.events_acked_total.load(Relaxed), 0);

    let mut got = Collector::new();
    let receiver = serve(addr, None, got.tx.clone()).await;
    drop(down);
    let stats = shipping.finished(Duration::from_secs(120)).await;
    got.exactly_once(count, "nothing was ever sent").await;
    assert_eq!(
        stats.connection_errors_total.load(Relaxed),
        failures,
        "no failure once Logstash was back"
    );
    assert_eq!(receiver.stats().snapshot().connections_total, 1);
    assert_bounded(&stats, &cfg, 1);
}

/// The receiver stopped (every connection closed) and started again on the same port
/// 20 times while the client ships: nothing lost, and each restart re-sends at most the
/// connection's in-flight window (`pipelining × bulk_max_size` events): the batches
/// handed over whose ack the restart cut off.
#[tokio::test]
async fn receiver_restarted_20_times_mid_stream_loses_nothing() {
    let mut got = Collector::new();
    let mut receiver = serve("127.0.0.1:0".parse().unwrap(), None, got.tx.clone()).await;
    let addr = receiver.local_addr();
    let mut cfg = logstash(&[addr.to_string()]);
    cfg.bulk_max_size = 512;
    cfg.backoff.max = 50 * MS;
    let (count, restarts) = (40_000u64, 20);
    let shipping = Shipping::start(&cfg, count);
    for restart in 1..=restarts {
        let at = count as usize * restart / (restarts + 1);
        got.wait_distinct(at, Duration::from_secs(30)).await;
        receiver.stop().await;
        assert!(
            got.distinct() < count as usize,
            "restart {restart} mid-stream"
        );
        receiver = serve(addr, None, got.tx.clone()).await;
    }
    let stats = shipping.finished(Duration::from_secs(60)).await;
    got.wait_distinct(count as usize, Duration::from_secs(10))
        .await;
    let duplicates = got.duplicates_of_complete(count);
    let window = (cfg.pipelining.max(1) * cfg.bulk_max_size) as u64;
    println!(
        "receiver restarted {restarts} times: {duplicates} duplicates ({:.0} per restart, \
         window {window}), {} re-sent",
        duplicates as f64 / restarts as f64,
        stats.events_resent_total.load(Relaxed)
    );
    assert!(
        duplicates <= restarts as u64 * window,
        "{duplicates} duplicates: at most one window per restart"
    );
    assert!(duplicates <= stats.events_resent_total.load(Relaxed));
    assert!(stats.connections_total.load(Relaxed) > restarts as u64);
    assert_bounded(&stats, &cfg, 1);
}

/// The first connection goes to a peer that accepts and then neither reads, acks nor
/// closes: the client gives up on it after `timeout`, reconnects (to a healthy
/// receiver behind the same address) and re-sends what it had sent.
#[tokio::test]
async fn half_open_connection_is_dropped_after_timeout_and_everything_resent() {
    let mut got = Collector::new();
    let receiver = serve("127.0.0.1:0".parse().unwrap(), None, got.tx.clone()).await;
    let front = Front::start(vec![Peer::Silent], Peer::Relay(receiver.local_addr())).await;
    let mut cfg = logstash(&[front.addr.to_string()]);
    cfg.timeout = 500 * MS;
    cfg.bulk_max_size = 256;
    let count = 5000;
    let stats = Shipping::start(&cfg, count)
        .finished(Duration::from_secs(30))
        .await;
    got.exactly_once(count, "the silent peer took nothing")
        .await;
    let conns = front.accepted();
    let noticed = conns[1].at - conns[0].at;
    assert!(
        noticed >= cfg.timeout && noticed < cfg.timeout + Duration::from_secs(2),
        "the half-open connection was given up after the 500ms timeout, not {noticed:?}"
    );
    assert_eq!(stats.connection_errors_total.load(Relaxed), 1);
    assert!(stats.events_resent_total.load(Relaxed) > 0);
    assert_bounded(&stats, &cfg, 1);
}

/// Failing over from a host that accepts TCP but never answers the TLS handshake: the
/// connect ends at `timeout` with one clear line, and the other host gets everything.
/// Which host comes first is random; the other one refuses its first connection, so
/// the silent host is tried whatever the order.
#[tokio::test]
async fn tls_handshake_that_never_completes_times_out_and_fails_over() {
    let (logs, _guard) = Logs::capture();
    let mut got = Collector::new();
    let receiver = serve(
        "127.0.0.1:0".parse().unwrap(),
        Some(server_tls("server", ClientAuth::None)),
        got.tx.clone(),
    )
    .await;
    let silent = Front::start(vec![], Peer::Silent).await;
    let healthy = Front::start(vec![Peer::Close], Peer::Relay(receiver.local_addr())).await;
    let name = |a: SocketAddr| format!("localhost:{}", a.port());
    let mut cfg = logstash(&[name(silent.addr), name(healthy.addr)]);
    cfg.ssl = Some(tls_client(false));
    cfg.timeout = 500 * MS;
    let count = 3000;
    let stats = Shipping::start(&cfg, count)
        .finished(Duration::from_secs(30))
        .await;
    got.exactly_once(count, "each event once").await;

    let logs = logs.text();
    let line = format!(
        "tls handshake with {} ({}) did not complete within 500ms",
        name(silent.addr),
        silent.addr
    );
    assert!(logs.contains(&line), "{line:?} not in:\n{logs}");
    let tried = silent.accepted()[0].at;
    let next = healthy
        .accepted()
        .iter()
        .map(|c| c.at)
        .find(|&at| at > tried)
        .expect("the healthy host was tried after the silent one");
    assert!(
        next - tried >= cfg.timeout && next - tried < cfg.timeout + Duration::from_secs(2),
        "gave up on the handshake after 500ms, not {:?}",
        next - tried
    );
    assert!((2..=3).contains(&stats.connection_errors_total.load(Relaxed)));
    assert_bounded(&stats, &cfg, 1);
}

/// `localhost:PORT` with a listener on only one of the addresses the name resolves to:
/// the connect tries each address in turn, like Go's dialer. Where `localhost` has a
/// single address (no `::1` line in /etc/hosts), the walk over several addresses is
/// proved by the unit tests of `output::conn`; this test then says so and checks the
/// name path alone.
#[tokio::test]
async fn a_name_with_several_addresses_connects_to_the_one_that_listens() {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host("localhost:0")
        .await
        .map(|a| a.collect())
        .unwrap_or_default();
    let families_ok = addrs
        .iter()
        .all(|a| std::net::TcpListener::bind(SocketAddr::new(a.ip(), 0)).is_ok());
    let mut got = Collector::new();
    // Listen on the last address only, and hold the others' port closed.
    let (receiver, _held) = match addrs.split_last() {
        Some((last, others)) if !others.is_empty() && families_ok => {
            let receiver = serve(SocketAddr::new(last.ip(), 0), None, got.tx.clone()).await;
            let port = receiver.local_addr().port();
            let held: Vec<socket2::Socket> = others
                .iter()
                .map(|a| refuse_at(SocketAddr::new(a.ip(), port)))
                .collect();
            println!("localhost is {addrs:?}: listening on {last} only");
            (receiver, held)
        }
        _ => {
            println!(
                "localhost resolves to {addrs:?} here ({}): a name with several addresses \
                 needs an /etc/hosts line this test may not add; the several-address walk \
                 is proved by output::conn's unit tests, this checks the name alone",
                if families_ok {
                    "one address"
                } else {
                    "an address family is off"
                }
            );
            let receiver = serve("127.0.0.1:0".parse().unwrap(), None, got.tx.clone()).await;
            (receiver, Vec::new())
        }
    };
    let mut cfg = logstash(&[format!("localhost:{}", receiver.local_addr().port())]);
    cfg.timeout = Duration::from_secs(2);
    let count = 2000;
    let stats = Shipping::start(&cfg, count)
        .finished(Duration::from_secs(30))
        .await;
    got.exactly_once(count, "each event once").await;
    assert_eq!(
        stats.connection_errors_total.load(Relaxed),
        0,
        "the refused address was passed over within the same connect"
    );
}

/// A port on `addr` that refuses connections, held until dropped.
fn refuse_at(addr: SocketAddr) -> socket2::Socket {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )
    .unwrap();
    socket.set_reuse_address(true).unwrap();
    socket.bind(&addr.into()).unwrap();
    socket
}

/// Two hosts load-balanced, one black-holed (it reads every batch and never acks): the
/// black hole's batches come back after `timeout` and go to the other host, which gets
/// every event exactly once.
#[tokio::test]
async fn loadbalance_with_a_black_holed_host_resends_its_batches_to_the_other() {
    let mut got = Collector::new();
    let receiver = serve("127.0.0.1:0".parse().unwrap(), None, got.tx.clone()).await;
    let hole = Front::start(vec![], Peer::Swallow).await;
    let mut cfg = logstash(&[hole.addr.to_string(), receiver.local_addr().to_string()]);
    cfg.loadbalance = true;
    cfg.timeout = 500 * MS;
    cfg.bulk_max_size = 256;
    let count = 20_000;
    let shipping = Shipping::start(&cfg, count);
    eventually(
        "the black hole took a batch",
        Duration::from_secs(10),
        || hole.accepted().iter().any(|c| c.bytes_in > 0),
    )
    .await;
    let stats = shipping.finished(Duration::from_secs(30)).await;
    got.exactly_once(
        count,
        "what the black hole took arrived once, from the other host",
    )
    .await;
    assert!(stats.events_resent_total.load(Relaxed) > 0);
    assert!(stats.connection_errors_total.load(Relaxed) >= 1);
    assert_bounded(&stats, &cfg, 2);
}

/// Deterministic bytes that are no Lumberjack frame: the first is no version.
fn garbage(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    let mut bytes: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    bytes[0] = 0xde;
    bytes
}

/// A `C` frame of under 1 KiB that inflates to 600 KB of keep-alive acks.
fn zip_bomb() -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..100_000 {
        z.write_all(b"2A\0\0\0\0").unwrap();
    }
    let body = z.finish().unwrap();
    assert!(body.len() <= 1024, "the bomb passes the frame size check");
    let mut frame = b"2C".to_vec();
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// A server answering a batch with garbage, a frame a client never gets, frames that
/// declare 4 GiB, an ack past the batch, or a zip bomb: each time the client logs one
/// clear line, hangs up, never buffers what was declared, and re-sends the batch on the
/// next connection; when the server behaves, every event arrives once.
#[tokio::test]
async fn hostile_server_answers_are_errors_never_panics_and_lose_nothing() {
    let (logs, _guard) = Logs::capture();
    let mut got = Collector::new();
    let receiver = serve("127.0.0.1:0".parse().unwrap(), None, got.tx.clone()).await;
    let answers: Vec<(Vec<u8>, &str)> = vec![
        (garbage(4096), "bad protocol version byte 0xde"),
        (
            b"2W\0\0\0\x05".to_vec(),
            "unexpected window frame from the server",
        ),
        (
            b"2J\0\0\0\x01\xff\xff\xff\xff".to_vec(),
            "J frame declares 4294967295 bytes, over the limit of 1024 bytes",
        ),
        (
            b"2C\xff\xff\xff\xff".to_vec(),
            "C frame declares 4294967295 bytes, over the limit of 1024 bytes",
        ),
        (
            b"2A\xff\xff\xff\xff".to_vec(),
            "ack 4294967295 is past the batch's last sequence",
        ),
        (
            zip_bomb(),
            "compressed frame inflates past the limit of 4096 bytes",
        ),
    ];
    let plan = answers
        .iter()
        .map(|(a, _)| Peer::Answer(a.clone()))
        .collect();
    let front = Front::start(plan, Peer::Relay(receiver.local_addr())).await;
    let mut cfg = logstash(&[front.addr.to_string()]);
    cfg.backoff.max = 50 * MS;
    let count = 3000;
    let stats = Shipping::start(&cfg, count)
        .finished(Duration::from_secs(30))
        .await;
    got.exactly_once(count, "hostile peers took nothing").await;

    let logs = logs.text();
    for (_, error) in &answers {
        assert!(logs.contains(error), "{error:?} not logged:\n{logs}");
    }
    assert!(!logs.contains("panicked"), "{logs}");
    let conns = front.accepted();
    for (n, conn) in conns.iter().take(answers.len()).enumerate() {
        assert!(
            conn.client_closed.is_some(),
            "the client hung up on answer {n}"
        );
    }
    assert_eq!(
        stats.connection_errors_total.load(Relaxed),
        answers.len() as u64
    );
    assert!(stats.events_resent_total.load(Relaxed) >= answers.len() as u64);
    assert_bounded(&stats, &cfg, 1);
}
