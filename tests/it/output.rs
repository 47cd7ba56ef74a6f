//! The Lumberjack client against the embedded receiver over real loopback sockets.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use lumberwatch::receive::Faults;
use lumberwatch::tls::ClientAuth;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

fn assert_exactly_once(got: &[u64], count: u64) {
    let mut sorted = got.to_vec();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (1..=count).collect::<Vec<_>>(),
        "every event exactly once"
    );
}

#[tokio::test]
async fn plain_events_arrive_in_order_and_are_acked() {
    for level in [0, 3] {
        let mut r = receiver(None, Faults::default()).await;
        let mut cfg = logstash(&[r.handle.local_addr().to_string()]);
        cfg.compression_level = level;
        cfg.bulk_max_size = 100;
        let (stats, got) = tokio::join!(ship(&cfg, 1000), collect(&mut r.batches, 1000));
        assert_eq!(
            got,
            (1..=1000).collect::<Vec<_>>(),
            "in order, once, at level {level}"
        );
        assert_eq!(stats.events_acked_total.load(Relaxed), 1000);
        let batches = stats.batches_acked_total.load(Relaxed);
        assert!(
            batches >= 10,
            "bulk_max_size 100 bounds every batch, got {batches} batches"
        );
        assert_eq!(r.handle.stats().snapshot().batches_total, batches);
        assert_eq!(r.handle.stats().snapshot().connections_total, 1);
    }
}

#[tokio::test]
async fn tls_and_mutual_tls_deliver_everything() {
    for (auth, client_cert) in [(ClientAuth::None, false), (ClientAuth::Required, true)] {
        let mut r = receiver(Some(server_tls("server", auth)), Faults::default()).await;
        let mut cfg = logstash(&[format!("localhost:{}", r.handle.local_addr().port())]);
        cfg.ssl = Some(tls_client(client_cert));
        let (_, got) = tokio::join!(ship(&cfg, 5000), collect(&mut r.batches, 5000));
        assert_exactly_once(&got, 5000);
    }
}

/// A refused TLS server must never get a byte of plaintext: nothing is received and
/// the output keeps retrying.
async fn assert_refused(server_cert: &str, auth: ClientAuth, client_cert: bool) {
    let mut r = receiver(Some(server_tls(server_cert, auth)), Faults::default()).await;
    let mut cfg = logstash(&[format!("localhost:{}", r.handle.local_addr().port())]);
    cfg.ssl = Some(tls_client(client_cert));
    let (tx, rx) = lumberwatch::queue::mem::channel(16);
    let output = lumberwatch::output::LogstashOutput::start(&cfg, rx).unwrap();
    tx.send(numbered(1)).await.unwrap();
    let stats = output.stats();
    tokio::time::timeout(Duration::from_secs(10), async {
        while stats.connection_errors_total.load(Relaxed) < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the output keeps failing and retrying");
    assert_eq!(stats.events_acked_total.load(Relaxed), 0);
    assert!(r.batches.try_recv().is_err(), "no event reached the server");
    assert_eq!(r.handle.stats().snapshot().events_total, 0);
}

#[tokio::test]
async fn wrong_ca_expired_certificate_and_missing_client_cert_are_refused() {
    assert_refused("other-server", ClientAuth::None, false).await;
    assert_refused("expired-server", ClientAuth::None, false).await;
    assert_refused("wronghost-server", ClientAuth::None, false).await;
    assert_refused("server", ClientAuth::Required, false).await;
}

#[tokio::test]
async fn keepalives_from_a_slow_receiver_prevent_a_reconnect() {
    let mut r = receiver_with(|c| {
        c.faults.slow_per_batch = Duration::from_millis(1500);
        c.keepalive_interval = Duration::from_millis(100);
    })
    .await;
    let mut cfg = logstash(&[r.handle.local_addr().to_string()]);
    cfg.timeout = Duration::from_millis(500);
    cfg.bulk_max_size = 10;
    cfg.pipelining = 0;
    let (stats, got) = tokio::join!(ship(&cfg, 20), collect(&mut r.batches, 20));
    assert_exactly_once(&got, 20);
    assert_eq!(
        stats.connection_errors_total.load(Relaxed),
        0,
        "3x the timeout per batch, yet no reconnect"
    );
    assert_eq!(stats.connections_total.load(Relaxed), 1);
    assert!(
        stats.keepalives_total.load(Relaxed) >= 10,
        "keep-alives were what kept it alive"
    );
}

#[tokio::test]
async fn partial_ack_resends_exactly_the_rest() {
    let mut r = receiver(
        None,
        Faults {
            partial_ack_percent: Some(50),
            ..Faults::default()
        },
    )
    .await;
    let mut cfg = logstash(&[r.handle.local_addr().to_string()]);
    cfg.bulk_max_size = 100;
    cfg.pipelining = 0;
    let (stats, got) = tokio::join!(ship(&cfg, 300), collect(&mut r.batches, 300));
    assert_exactly_once(&got, 300);
    assert!(stats.events_resent_total.load(Relaxed) > 0);
    assert!(stats.connection_errors_total.load(Relaxed) > 0);
}

#[tokio::test]
async fn receiver_dropping_every_10000_events_loses_nothing_of_200000() {
    let mut r = receiver(
        None,
        Faults {
            drop_after_events: Some(10_000),
            ..Faults::default()
        },
    )
    .await;
    let cfg = logstash(&[r.handle.local_addr().to_string()]);
    let (stats, got) = tokio::join!(ship(&cfg, 200_000), collect(&mut r.batches, 200_000));
    let resent = stats.events_resent_total.load(Relaxed);
    let duplicates = got.len() as u64 - 200_000;
    assert!(
        duplicates <= resent,
        "duplicates ({duplicates}) only from unacked batches ({resent} re-sent)"
    );
    assert!(
        stats.connection_errors_total.load(Relaxed) >= 19,
        "the receiver really dropped us"
    );
    let mut seen = got.clone();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 200_000);
}

#[tokio::test]
async fn loadbalance_with_one_host_down_delivers_everything_to_the_other() {
    let mut up = receiver(None, Faults::default()).await;
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let mut cfg = logstash(&[down, up.handle.local_addr().to_string()]);
    cfg.loadbalance = true;
    let (stats, got) = tokio::join!(ship(&cfg, 20_000), collect(&mut up.batches, 20_000));
    assert_exactly_once(&got, 20_000);
    assert!(
        stats.connection_errors_total.load(Relaxed) > 0,
        "the dead host was tried"
    );
}

#[tokio::test]
async fn failover_moves_to_the_next_host() {
    let mut up = receiver(None, Faults::default()).await;
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let cfg = logstash(&[down.clone(), up.handle.local_addr().to_string(), down]);
    let (_, got) = tokio::join!(ship(&cfg, 5000), collect(&mut up.batches, 5000));
    assert_exactly_once(&got, 5000);
}

/// A server that acks past the batch's last sequence is broken: the client drops the
/// connection and re-sends the batch on the next one.
#[tokio::test]
async fn ack_past_the_window_is_a_protocol_error_and_the_batch_is_resent() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        let mut windows = Vec::new();
        for bad in [true, false] {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = bytes::BytesMut::new();
            let mut dec = lumberwatch::proto::Decoder::new(Default::default());
            let (mut window, mut seen) = (0u32, 0u32);
            loop {
                if let Some(frame) = dec.decode(&mut buf).unwrap() {
                    match frame {
                        lumberwatch::proto::Frame::Window { size, .. } => window = size,
                        _ => seen += 1,
                    }
                    if seen == window && window > 0 {
                        windows.push(window);
                        let mut out = Vec::new();
                        let seq = if bad { window + 5 } else { window };
                        lumberwatch::proto::encode_ack(
                            &mut out,
                            lumberwatch::proto::Version::V2,
                            seq,
                        );
                        sock.write_all(&out).await.unwrap();
                        break;
                    }
                    continue;
                }
                assert!(sock.read_buf(&mut buf).await.unwrap() > 0);
            }
            if bad {
                // The client must hang up on us.
                let mut rest = [0u8; 64];
                assert_eq!(sock.read(&mut rest).await.unwrap_or(0), 0);
            }
        }
        windows
    });
    let stats = ship(&logstash(&[addr]), 7).await;
    assert_eq!(
        server.await.unwrap(),
        vec![7, 7],
        "the whole batch was sent again"
    );
    assert_eq!(stats.connection_errors_total.load(Relaxed), 1);
}

/// Logstash resets clients idle past `client_inactivity_timeout`: that is not a failure
/// (no error, no backoff); the client reconnects when it has events again.
#[tokio::test]
async fn idle_close_by_logstash_reconnects_quietly_when_events_come() {
    let mut r = receiver_with(|c| c.client_inactivity_timeout = Duration::from_millis(300)).await;
    let (tx, rx) = lumberwatch::queue::mem::channel(64);
    let output = lumberwatch::output::LogstashOutput::start(
        &logstash(&[r.handle.local_addr().to_string()]),
        rx,
    )
    .unwrap();
    let stats = output.stats();
    tx.send(numbered(1)).await.unwrap();
    assert_eq!(collect(&mut r.batches, 1).await, vec![1]);
    // Event 2 goes once the client has seen the close (sent earlier, it may be written
    // to the closing connection: an error and a resend, correctly, but not this case).
    tokio::time::timeout(Duration::from_secs(10), async {
        while stats.idle_closes_total.load(Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the receiver closes the idle connection and the client sees it");
    tx.send(numbered(2)).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), r.batches.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got.events.iter().map(number_of).collect::<Vec<_>>(),
        vec![2]
    );
    assert_eq!(stats.connection_errors_total.load(Relaxed), 0);
    assert_eq!(stats.connections_total.load(Relaxed), 2);
    drop(tx);
    tokio::time::timeout(Duration::from_secs(10), output.finished())
        .await
        .unwrap();
}

/// Resumable inputs learn what was shipped from the acks: every event exactly once,
/// in order, even when acks are partial and connections reset.
#[tokio::test]
async fn ack_sink_hears_of_every_event_once_in_order_through_partial_acks() {
    struct Collect(std::sync::Mutex<Vec<u64>>);
    impl lumberwatch::output::AckSink for Collect {
        fn acked(&self, events: &[lumberwatch::event::Event]) {
            self.0
                .lock()
                .unwrap()
                .extend(events.iter().map(|e| number_of(&e.json)));
        }
    }
    let mut r = receiver(
        None,
        Faults {
            partial_ack_percent: Some(30),
            ..Faults::default()
        },
    )
    .await;
    let mut cfg = logstash(&[r.handle.local_addr().to_string()]);
    cfg.bulk_max_size = 50;
    cfg.pipelining = 0;
    let sink = std::sync::Arc::new(Collect(Default::default()));
    let (tx, rx) = lumberwatch::queue::mem::channel(1024);
    let output = lumberwatch::output::LogstashOutput::start_with_acks(
        &cfg,
        rx,
        lumberwatch::config::QueueFlush::default(),
        Some(sink.clone()),
    )
    .unwrap();
    for n in 1..=500 {
        tx.send(numbered(n)).await.unwrap();
    }
    drop(tx);
    let (_, got) = tokio::join!(
        async {
            tokio::time::timeout(Duration::from_secs(60), output.finished())
                .await
                .unwrap()
        },
        collect(&mut r.batches, 500)
    );
    assert_exactly_once(&got, 500);
    assert_eq!(*sink.0.lock().unwrap(), (1..=500).collect::<Vec<_>>());
}
