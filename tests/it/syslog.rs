//! The syslog input in this process over real sockets on 127.0.0.1, its events read
//! straight off the queue: senders on several loopback addresses, both TCP framings,
//! TLS, garbage and oversized frames, a full queue, rate limits and shutdown. Every
//! count is exact; every wait polls a condition under a deadline.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::tz::TimeZone;
use lumberwatch::config::{RateLimitConfig, SyslogConfig, SyslogTcpConfig, SyslogUdpConfig};
use lumberwatch::event::{AgentInfo, EventShape, EventTemplate};
use lumberwatch::input::Outlet;
use lumberwatch::input::syslog::{
    DropReason, Format, Framing, Listeners, PeerCounters, SyslogStats, Transport,
};
use lumberwatch::tls::ClientAuth;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use crate::support::{server_tls, tls_client};

const LIMIT: Duration = Duration::from_secs(10);

fn config(framing: Framing, max_message_size: usize) -> SyslogConfig {
    SyslogConfig {
        format: Format::Auto,
        timezone: TimeZone::UTC,
        udp: Some(SyslogUdpConfig {
            hosts: vec!["127.0.0.1:0".into()],
            max_message_size,
            read_buffer: Some(1 << 20),
        }),
        tcp: Some(SyslogTcpConfig {
            hosts: vec!["127.0.0.1:0".into()],
            max_message_size,
            max_connections: None,
            timeout: Duration::from_secs(30),
            framing,
            line_delimiter: "\n".into(),
            ssl: None,
        }),
        rate_limit: None,
    }
}

/// A running input: where it listens, its counters, and the queue its events go to.
struct Input {
    udp: SocketAddr,
    tcp: SocketAddr,
    stats: Arc<SyslogStats>,
    queue: lumberwatch::queue::mem::Receiver,
    task: JoinHandle<Result<u64, lumberwatch::input::syslog::SyslogError>>,
}

async fn start(cfg: &SyslogConfig, queue_size: usize) -> Input {
    let stats = Arc::new(SyslogStats::default());
    let listeners = Listeners::bind(cfg, stats.clone()).await.expect("binds");
    let find = |t: Transport| {
        listeners
            .addresses()
            .into_iter()
            .find(|(transport, _)| *transport == t)
            .map(|(_, a)| a)
    };
    let (udp, tcp) = (find(Transport::Udp), find(Transport::Tcp));
    let shape = EventShape {
        input_type: "syslog".into(),
        ..EventShape::default()
    };
    let template = EventTemplate::new(&AgentInfo::new("lumberwatch", None), &shape);
    let (tx, queue) = lumberwatch::queue::mem::channel(queue_size);
    let task = tokio::spawn(listeners.serve(None, template, Outlet::new(tx, Arc::default())));
    Input {
        udp: udp.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
        tcp: tcp.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
        stats,
        queue,
        task,
    }
}

impl Input {
    /// The next `n` events, as JSON.
    async fn events(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::new();
        while out.len() < n {
            let event = tokio::time::timeout(LIMIT, self.queue.recv())
                .await
                .unwrap_or_else(|_| panic!("{} of {n} events within {LIMIT:?}", out.len()))
                .expect("the input is running");
            out.push(serde_json::from_slice(&event.json).expect("events are JSON"));
        }
        out
    }

    fn peer(&self, ip: &str) -> PeerCounters {
        self.stats.snapshot().peer(ip.parse().expect("an ip"))
    }

    /// Waits until `ip` has had `n` messages queued or dropped.
    async fn wait_handled(&self, ip: &str, n: u64) -> PeerCounters {
        let deadline = Instant::now() + LIMIT;
        loop {
            let c = self.peer(ip);
            if c.events + c.dropped_total() >= n {
                return c;
            }
            assert!(
                Instant::now() < deadline,
                "{ip}: {n} messages handled, got {c:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn udp_from(ip: &str, to: SocketAddr, datagrams: &[&[u8]]) {
    let socket = UdpSocket::bind((ip.parse::<IpAddr>().expect("an ip"), 0))
        .await
        .expect("bind the sender");
    for d in datagrams {
        socket.send_to(d, to).await.expect("send");
    }
}

async fn tcp_from(ip: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(ip.parse().expect("an ip"), 0))
        .expect("bind the sender");
    socket.connect(to).await.expect("connect")
}

/// Waits until the server closes `stream` (end of stream or a reset), reading past
/// whatever it says first (a TLS alert).
async fn closed_by_server(stream: &mut TcpStream) {
    let mut buf = [0u8; 64];
    let closed = async {
        while let Ok(n) = stream.read(&mut buf).await
            && n > 0
        {}
    };
    tokio::time::timeout(LIMIT, closed)
        .await
        .expect("the server closes the connection");
}

fn source_ip(event: &Value) -> String {
    let address: SocketAddr = event["log"]["source"]["address"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("log.source.address in {event}"));
    assert_eq!(
        event["related"]["ip"][0],
        address.ip().to_string(),
        "{event}"
    );
    address.ip().to_string()
}

/// (source ip, transport, message) of each event, sorted.
fn arrivals(events: &[Value]) -> Vec<(String, String, String)> {
    let mut got: Vec<_> = events
        .iter()
        .map(|e| {
            let transport = e["network"]["transport"]
                .as_str()
                .unwrap_or("?")
                .to_string();
            let message = e["message"].as_str().unwrap_or("?").to_string();
            (source_ip(e), transport, message)
        })
        .collect();
    got.sort();
    got
}

fn want(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    let mut want: Vec<_> = list
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    want.sort();
    want
}

#[tokio::test]
async fn messages_from_several_peers_carry_their_source_address() {
    let mut input = start(&config(Framing::Rfc6587, 1000), 64).await;
    udp_from(
        "127.0.0.2",
        input.udp,
        &[
            b"<13>Oct 11 22:14:15 h1 app: one\n",
            b"<13>Oct 11 22:14:15 h1 app: two\nstill two",
        ],
    )
    .await;
    let mut lines = tcp_from("127.0.0.3", input.tcp).await;
    lines
        .write_all(b"<14>Oct 11 22:14:15 h2 app[7]: three\r\n<14>Oct 11 22:14:15 h2 app[7]: four\n")
        .await
        .expect("write");
    let mut octets = tcp_from("127.0.0.4", input.tcp).await;
    let five = "<165>1 2003-10-11T22:14:15.003Z h3 app - - - five\nlines";
    let six = "<165>1 2003-10-11T22:14:15.003Z h3 app - - - six";
    octets
        .write_all(format!("{} {five}{} {six}", five.len(), six.len()).as_bytes())
        .await
        .expect("write");

    let events = input.events(6).await;
    assert_eq!(
        arrivals(&events),
        want(&[
            ("127.0.0.2", "udp", "one"),
            ("127.0.0.2", "udp", "two\nstill two"),
            ("127.0.0.3", "tcp", "three"),
            ("127.0.0.3", "tcp", "four"),
            ("127.0.0.4", "tcp", "five\nlines"),
            ("127.0.0.4", "tcp", "six"),
        ])
    );
    let octet_bytes = (five.len() + six.len()) as u64;
    let five = events
        .iter()
        .find(|e| e["message"] == "five\nlines")
        .expect("five");
    assert_eq!(five["@timestamp"], "2003-10-11T22:14:15.003Z");
    assert_eq!(five["log"]["syslog"]["hostname"], "h3");
    assert_eq!(five["log"]["syslog"]["version"], "1");
    let three = events
        .iter()
        .find(|e| e["message"] == "three")
        .expect("three");
    assert_eq!(three["log"]["syslog"]["procid"], "7");

    let c = input.wait_handled("127.0.0.4", 2).await;
    assert_eq!((c.events, c.bytes, c.dropped_total()), (2, octet_bytes, 0));
    assert_eq!(input.peer("127.0.0.2").events, 2);
    assert_eq!(input.stats.snapshot().total.events, 6);
}

#[tokio::test]
async fn garbage_and_oversized_frames_are_counted_drops_and_others_keep_being_served() {
    let mut input = start(&config(Framing::Rfc6587, 1000), 64).await;

    let mut garbage = tcp_from("127.0.0.5", input.tcp).await;
    garbage
        .write_all(b"12x\x00\xff garbage")
        .await
        .expect("write");
    closed_by_server(&mut garbage).await;
    let mut huge = tcp_from("127.0.0.6", input.tcp).await;
    huge.write_all(b"5000 <13>").await.expect("write");
    closed_by_server(&mut huge).await;

    let mut long = tcp_from("127.0.0.7", input.tcp).await;
    let line = format!("<13>{}\n<13>after\n", "x".repeat(1496));
    long.write_all(line.as_bytes()).await.expect("write");
    udp_from(
        "127.0.0.8",
        input.udp,
        &[b"\x00\x01\xfe\xff<<>>", &[b'y'; 1500]],
    )
    .await;

    let events = input.events(4).await;
    assert_eq!(
        arrivals(&events),
        want(&[
            ("127.0.0.7", "tcp", &"x".repeat(996)),
            ("127.0.0.7", "tcp", "after"),
            ("127.0.0.8", "udp", "\u{0}\u{1}\u{fffd}\u{fffd}<<>>"),
            ("127.0.0.8", "udp", &"y".repeat(1000)),
        ])
    );
    let cut: Vec<&Value> = events
        .iter()
        .filter(|e| e["log"]["flags"] == serde_json::json!(["truncated"]))
        .collect();
    assert_eq!(cut.len(), 2, "{events:?}");

    let drops = |ip: &str| {
        let c = input.peer(ip);
        DropReason::ALL.map(|r| c.dropped(r))
    };
    // rate_limited, too_big, queue_full, bad_frame
    assert_eq!(drops("127.0.0.5"), [0, 0, 0, 1]);
    assert_eq!(drops("127.0.0.6"), [0, 1, 0, 0]);
    assert_eq!(drops("127.0.0.7"), [0, 1, 0, 0]);
    assert_eq!(drops("127.0.0.8"), [0, 1, 0, 0]);

    let mut later = tcp_from("127.0.0.9", input.tcp).await;
    later
        .write_all(b"<13>Oct 11 22:14:15 h a: still served\n")
        .await
        .expect("write");
    let events = input.events(1).await;
    assert_eq!(
        arrivals(&events),
        want(&[("127.0.0.9", "tcp", "still served")])
    );
}

#[tokio::test]
async fn a_full_queue_drops_udp_counted_and_makes_tcp_wait() {
    let mut input = start(&config(Framing::Delimiter, 1000), 2).await;
    let datagrams: Vec<Vec<u8>> = (0..5)
        .map(|n| format!("<13>udp {n}").into_bytes())
        .collect();
    let refs: Vec<&[u8]> = datagrams.iter().map(Vec::as_slice).collect();
    udp_from("127.0.0.2", input.udp, &refs).await;
    let c = input.wait_handled("127.0.0.2", 5).await;
    assert_eq!((c.events, c.dropped(DropReason::QueueFull)), (2, 3));

    let mut tcp = tcp_from("127.0.0.3", input.tcp).await;
    let text: String = (0..10).map(|n| format!("<13>tcp {n}\n")).collect();
    tcp.write_all(text.as_bytes()).await.expect("write");
    let events = input.events(12).await;
    let messages: Vec<&str> = events
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    let mut expected = vec!["udp 0".to_string(), "udp 1".to_string()];
    expected.extend((0..10).map(|n| format!("tcp {n}")));
    assert_eq!(messages, expected, "tcp waited for room, in order");
    let c = input.peer("127.0.0.3");
    assert_eq!((c.events, c.dropped_total()), (10, 0));
}

#[tokio::test]
async fn each_peer_has_its_own_rate_limit_and_its_own_drop_count() {
    let mut cfg = config(Framing::Delimiter, 1000);
    cfg.rate_limit = Some(RateLimitConfig {
        events_per_sec: 1,
        burst: 3,
    });
    let mut input = start(&cfg, 64).await;
    let text: String = (0..10).map(|n| format!("<13>m{n}\n")).collect();
    for ip in ["127.0.0.2", "127.0.0.3"] {
        let mut tcp = tcp_from(ip, input.tcp).await;
        tcp.write_all(text.as_bytes()).await.expect("write");
        let c = input.wait_handled(ip, 10).await;
        assert_eq!(
            (c.events, c.dropped(DropReason::RateLimited)),
            (3, 7),
            "{ip}"
        );
    }
    let events = input.events(6).await;
    assert_eq!(
        arrivals(&events),
        want(&[
            ("127.0.0.2", "tcp", "m0"),
            ("127.0.0.2", "tcp", "m1"),
            ("127.0.0.2", "tcp", "m2"),
            ("127.0.0.3", "tcp", "m0"),
            ("127.0.0.3", "tcp", "m1"),
            ("127.0.0.3", "tcp", "m2"),
        ])
    );
}

#[tokio::test]
async fn tls_serves_verified_clients_and_counts_failed_handshakes() {
    let mut cfg = config(Framing::Delimiter, 1000);
    cfg.udp = None;
    if let Some(tcp) = &mut cfg.tcp {
        tcp.ssl = Some(server_tls("server", ClientAuth::None));
    }
    let mut input = start(&cfg, 64).await;
    let client = lumberwatch::tls::client_config(&tls_client(false)).expect("client config");
    let connector = tokio_rustls::TlsConnector::from(client);
    let name = lumberwatch::tls::server_name("127.0.0.1").expect("name");

    let mut plain = tcp_from("127.0.0.3", input.tcp).await;
    plain.write_all(b"<13>not tls\n").await.expect("write");
    closed_by_server(&mut plain).await;

    let tcp = tcp_from("127.0.0.2", input.tcp).await;
    let mut tls = connector.connect(name, tcp).await.expect("handshake");
    tls.write_all(b"<13>Oct 11 22:14:15 h a: secret one\n<13>Oct 11 22:14:15 h a: secret two\n")
        .await
        .expect("write");
    tls.flush().await.expect("flush");
    let events = input.events(2).await;
    assert_eq!(
        arrivals(&events),
        want(&[
            ("127.0.0.2", "tcp", "secret one"),
            ("127.0.0.2", "tcp", "secret two"),
        ])
    );
    let c = input.wait_handled("127.0.0.3", 1).await;
    assert_eq!((c.events, c.dropped(DropReason::BadFrame)), (0, 1));
}

#[tokio::test]
async fn a_closed_queue_ends_every_listener_and_frees_the_ports() {
    let input = start(&config(Framing::Delimiter, 1000), 4).await;
    let (udp, tcp) = (input.udp, input.tcp);
    let mut idle = tcp_from("127.0.0.2", tcp).await;
    drop(input.queue);
    let queued = tokio::time::timeout(LIMIT, input.task)
        .await
        .expect("serve returns once the queue is closed")
        .expect("serve task")
        .expect("serve ends without error");
    assert_eq!(queued, 0);
    closed_by_server(&mut idle).await;
    std::net::TcpListener::bind(tcp).expect("the tcp port is free again");
    std::net::UdpSocket::bind(udp).expect("the udp port is free again");
}

#[tokio::test]
async fn max_connections_holds_further_clients_until_a_slot_frees_and_idle_ones_are_closed() {
    let mut cfg = config(Framing::Delimiter, 1000);
    if let Some(tcp) = &mut cfg.tcp {
        tcp.max_connections = Some(1);
    }
    let mut input = start(&cfg, 64).await;
    let mut first = tcp_from("127.0.0.2", input.tcp).await;
    first.write_all(b"<13>a1\n").await.expect("write");
    assert_eq!(input.events(1).await[0]["message"], "a1");
    // Accepted by the kernel, but not served while the only slot is taken.
    let mut second = tcp_from("127.0.0.3", input.tcp).await;
    second.write_all(b"<13>b1\n").await.expect("write");
    first.write_all(b"<13>a2\n").await.expect("write");
    assert_eq!(input.events(1).await[0]["message"], "a2", "b1 waits");
    drop(first);
    assert_eq!(input.events(1).await[0]["message"], "b1");

    let mut cfg = config(Framing::Delimiter, 1000);
    if let Some(tcp) = &mut cfg.tcp {
        tcp.timeout = Duration::from_millis(200);
    }
    let input = start(&cfg, 64).await;
    let mut idle = tcp_from("127.0.0.4", input.tcp).await;
    closed_by_server(&mut idle).await;
}

/// Deterministic noise (xorshift64), so a failure can be replayed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Writes `bytes` in 64 KiB pieces until done or the server closes the connection; says
/// whether it was all written.
async fn spew(mut stream: TcpStream, bytes: Vec<u8>) -> bool {
    for piece in bytes.chunks(64 << 10) {
        if stream.write_all(piece).await.is_err() {
            return false;
        }
    }
    stream.flush().await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_spewing_clients_do_not_keep_a_well_behaved_clients_messages_from_arriving() {
    const GOOD: usize = 2_000;
    const MAX: usize = 64 << 10;
    let mut input = start(&config(Framing::Rfc6587, MAX), 256).await;
    let tcp = input.tcp;

    // Random bytes that start like an octet count and then break it: closed, bad_frame.
    let mut random = b"7".to_vec();
    random.extend(noise(1, 32 << 20));
    random[1] = b'x';
    let random = tokio::spawn(async move { spew(tcp_from("127.0.0.11", tcp).await, random).await });
    // A count of 9,999,999,999 bytes: refused before a byte of it is buffered.
    let huge = tokio::spawn(async move {
        let mut frame = b"9999999999 <13>".to_vec();
        frame.extend(vec![b'h'; 32 << 20]);
        spew(tcp_from("127.0.0.12", tcp).await, frame).await
    });
    // 16 MiB without a newline, then a real message: cut at the limit, the rest skipped,
    // the message after it read.
    let flood = tokio::spawn(async move {
        let mut line = b"<13>".to_vec();
        line.extend(vec![b'f'; 16 << 20]);
        line.extend_from_slice(b"\n<13>after the flood\n");
        spew(tcp_from("127.0.0.13", tcp).await, line).await
    });
    // Random bytes with newlines, never starting with a digit: many odd messages, each
    // within the limit, and the connection stays open to the end.
    let mut lines = noise(2, 2 << 20);
    for (i, b) in lines.iter_mut().enumerate() {
        if i % 997 == 0 {
            *b = b'\n';
        } else if *b == b'\n' || (i % 997 == 1 && b.is_ascii_digit()) {
            *b = b'<';
        }
    }
    lines[0] = b'<';
    let noisy = tokio::spawn(async move { spew(tcp_from("127.0.0.14", tcp).await, lines).await });
    let good = tokio::spawn(async move {
        let mut stream = tcp_from("127.0.0.2", tcp).await;
        for batch in (0..GOOD).collect::<Vec<_>>().chunks(100) {
            let text: String = batch
                .iter()
                .map(|n| format!("<13>Oct 11 22:14:15 h app: good {n}\n"))
                .collect();
            stream
                .write_all(text.as_bytes())
                .await
                .expect("the good client writes");
        }
        stream
    });

    let mut good_messages = Vec::new();
    let mut after_flood = Vec::new();
    let mut flood_cut = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let clients = [&random, &huge, &flood, &noisy];
    // Drained until every client is done: a full queue would stall the noisy reader.
    while good_messages.len() < GOOD
        || after_flood.is_empty()
        || !clients.iter().all(|c| c.is_finished())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {GOOD} good messages, {} after the flood and clients done {:?} within 60s",
            good_messages.len(),
            after_flood.len(),
            clients.map(|c| c.is_finished())
        );
        let Ok(event) = tokio::time::timeout(Duration::from_millis(100), input.queue.recv()).await
        else {
            continue;
        };
        let event = event.expect("the input is running");
        let event: Value = serde_json::from_slice(&event.json).expect("events are JSON");
        let message = event["message"].as_str().unwrap_or_default().to_string();
        match source_ip(&event).as_str() {
            "127.0.0.2" => good_messages.push(message),
            "127.0.0.13" if message == "after the flood" => after_flood.push(message),
            "127.0.0.13" => flood_cut.push((message.len(), event["log"]["flags"].clone())),
            "127.0.0.11" | "127.0.0.12" => panic!("a message from a closed stream: {event}"),
            _ => {}
        }
    }
    let want: Vec<String> = (0..GOOD).map(|n| format!("good {n}")).collect();
    assert_eq!(good_messages, want, "every good message, once, in order");
    assert_eq!(flood_cut, [(MAX - 4, serde_json::json!(["truncated"]))]);

    let _good_stream = good.await.expect("good client");
    assert!(
        !random.await.expect("random client"),
        "the random stream was cut off"
    );
    assert!(
        !huge.await.expect("huge client"),
        "the huge frame was refused"
    );
    assert!(
        flood.await.expect("flood client"),
        "the flood was read to its end"
    );
    assert!(
        noisy.await.expect("noisy client"),
        "the noise was read to its end"
    );
    assert_eq!(input.peer("127.0.0.11").dropped(DropReason::BadFrame), 1);
    assert_eq!(input.peer("127.0.0.12").dropped(DropReason::TooBig), 1);
    assert_eq!(input.peer("127.0.0.13").dropped(DropReason::TooBig), 1);
    assert_eq!(input.peer("127.0.0.2").dropped_total(), 0);
    assert_eq!(input.peer("127.0.0.2").events, GOOD as u64);
}
