//! `lumberwatch receive`: options, the event writer and the rate line.

use super::*;
use crate::receive::consume::{first_to_last_line, rate_line, write_event_line};

#[test]
fn event_lines_are_single_lines() {
    let mut out = Vec::new();
    write_event_line(&mut out, b"{\"a\":1}").unwrap();
    write_event_line(&mut out, b"{\n  \"b\": \"x\\ny\"\n}").unwrap();
    write_event_line(&mut out, b"not\njson").unwrap();
    assert_eq!(out, b"{\"a\":1}\n{\"b\":\"x\\ny\"}\nnot json\n");
}

#[test]
fn rate_line_reads_like_the_beats() {
    let before = StatsSnapshot {
        events_total: 1000,
        ..StatsSnapshot::default()
    };
    let now = StatsSnapshot {
        events_total: 1_201_000,
        batches_total: 600,
        connections_total: 2,
        ..StatsSnapshot::default()
    };
    assert_eq!(
        rate_line(&before, &now, Duration::from_secs(1)),
        "events=1201000 rate=1.2M/s batches=600 connections=2"
    );
}

#[tokio::test]
async fn serve_writes_events_as_json_lines_to_a_0600_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    // A free port: bind, note it, release it.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut opts = ReceiveOptions::new(addr);
    opts.out = Some(path.to_string_lossy().into_owned());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_until(opts, async {
        let _ = stop_rx.await;
    }));
    let mut tcp = loop {
        match TcpStream::connect(addr).await {
            Ok(tcp) => break tcp,
            Err(_) if !server.is_finished() => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(err) => panic!("receive did not start: {err}"),
        }
    };
    tcp.write_all(&batch(0, &["{\"a\":1}", "{\"b\":2}"]))
        .await
        .unwrap();
    assert_eq!(read_ack(&mut tcp).await, (b'2', 2));
    stop_tx.send(()).unwrap();
    timeout(WAIT, server).await.unwrap().unwrap().unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"a\":1}\n{\"b\":2}\n"
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn exit_after_stops_once_n_events_were_handed_over_and_acks_them() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut opts = ReceiveOptions::new(addr);
    opts.exit_after = Some(3);
    // Never signalled: only --exit-after can end it.
    let server = tokio::spawn(serve_until(opts, std::future::pending()));
    let mut tcp = loop {
        match TcpStream::connect(addr).await {
            Ok(tcp) => break tcp,
            Err(_) if !server.is_finished() => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(err) => panic!("receive did not start: {err}"),
        }
    };
    tcp.write_all(&batch(0, &["{\"a\":1}", "{\"b\":2}"]))
        .await
        .unwrap();
    assert_eq!(read_ack(&mut tcp).await, (b'2', 2));
    assert!(!server.is_finished(), "2 of 3 events must not end it");
    tcp.write_all(&batch(3, &["{\"c\":3}", "{\"d\":4}"]))
        .await
        .unwrap();
    // The batch that reaches the count is still acked before connections close.
    assert_eq!(read_ack(&mut tcp).await, (b'2', 2));
    timeout(WAIT, server).await.unwrap().unwrap().unwrap();
}

#[test]
fn first_to_last_line_gives_seconds_and_rate() {
    assert_eq!(
        first_to_last_line(1_000_000, Duration::from_millis(2500)),
        "first to last event: events=1000000 seconds=2.500 rate=400.0k/s"
    );
}

#[test]
fn options_map_to_the_receiver_config() {
    let mut opts = ReceiveOptions::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    opts.slow_ms = 250;
    opts.drop_after = Some(10);
    opts.partial_ack = Some(40);
    opts.keepalive_ms = 100;
    opts.idle_timeout_secs = 7;
    opts.max_frame_bytes = Some(1024);
    let cfg = opts.receiver_config().unwrap();
    assert_eq!(
        cfg.faults,
        Faults {
            slow_per_batch: Duration::from_millis(250),
            drop_after_events: Some(10),
            partial_ack_percent: Some(40),
        }
    );
    assert_eq!(cfg.keepalive_interval, Duration::from_millis(100));
    assert_eq!(cfg.client_inactivity_timeout, Duration::from_secs(7));
    assert_eq!(cfg.limits.max_frame_bytes, 1024);
    assert!(cfg.tls.is_none() && cfg.validate_json);
    opts.tls = Some(vec![cert_path("server.crt"), cert_path("server.key")]);
    opts.client_auth = Some(ClientAuthArg::Required);
    let err = opts.receiver_config().unwrap_err();
    assert!(
        format!("{err:#}").contains("no client certificate authority"),
        "{err:#}"
    );
    opts.ca = Some(cert_path("ca.crt"));
    assert!(opts.receiver_config().unwrap().tls.is_some());
}

#[test]
fn command_line_parses_into_options() {
    use clap::{CommandFactory, Parser};
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        receive: ReceiveOptions,
    }
    Cli::command().debug_assert();
    let cli = Cli::try_parse_from([
        "receive",
        "--listen",
        "127.0.0.1:0",
        "--tls",
        "s.crt",
        "s.key",
        "--ca",
        "ca.crt",
        "--client-auth",
        "optional",
        "--out",
        "-",
        "--count",
        "--slow-ms",
        "5",
        "--drop-after",
        "100",
        "--partial-ack",
        "50",
        "--keepalive-ms",
        "10",
        "--idle-timeout-secs",
        "3",
        "--max-frame-bytes",
        "4096",
        "--exit-after",
        "1000",
    ])
    .unwrap();
    let o = cli.receive;
    assert_eq!(o.tls, Some(vec!["s.crt".to_owned(), "s.key".to_owned()]));
    assert_eq!(o.client_auth, Some(ClientAuthArg::Optional));
    assert_eq!((o.out.as_deref(), o.count, o.slow_ms), (Some("-"), true, 5));
    assert_eq!(
        (o.drop_after, o.partial_ack, o.keepalive_ms),
        (Some(100), Some(50), 10)
    );
    assert_eq!((o.idle_timeout_secs, o.max_frame_bytes), (3, Some(4096)));
    assert_eq!(o.exit_after, Some(1000));
    assert!(Cli::try_parse_from(["receive", "--exit-after", "0"]).is_err());
    assert!(Cli::try_parse_from(["receive", "--partial-ack", "101"]).is_err());
    assert!(
        Cli::try_parse_from(["receive", "--ca", "ca.crt"]).is_err(),
        "--ca needs --tls"
    );
}
