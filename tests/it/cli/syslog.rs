//! `run` with a syslog input: messages sent from several loopback addresses over UDP,
//! TCP (newline and octet-counted) and mutual TLS reach a `receive` child with their
//! sender in `log.source.address`. Ports are picked by the agent (`host: 127.0.0.1:0`)
//! and read from its "syslog listening" log lines.

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;

use lumberwatch::config::SslConfig;
use socket2::{Domain, Socket, Type};

use super::*;

/// `run -c` with a syslog input made of `input` (indented under `- type: syslog`).
fn run_syslog(dir: &Path, receiver: &ReceiverProc, input: &str) -> Proc {
    let input: String = input.lines().map(|l| format!("    {l}\n")).collect();
    let host = format!("127.0.0.1:{}", receiver.port());
    let config = write_config(
        dir,
        &format!(
            "lumberwatch.inputs:\n  - type: syslog\n{input}{}{QUIET}",
            logstash_output(&host, "")
        ),
    );
    let path = config.display().to_string();
    Proc::spawn(
        "run",
        lumberwatch(dir, &["run", "-c", &path]),
        Stdio::null(),
    )
}

/// The address of each "syslog listening" line, by transport, once there are `n`.
fn listening(run: &Proc, n: usize) -> Vec<(String, SocketAddr)> {
    poll(
        &format!("{n} syslog listeners logged"),
        COMMAND_LIMIT,
        || {
            let found: Vec<(String, SocketAddr)> = run
                .stderr()
                .lines()
                .filter(|l| l.contains("syslog listening"))
                .filter_map(|l| {
                    let transport = if l.contains("udp") { "udp" } else { "tcp" };
                    let addr = l
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("address="))?
                        .parse()
                        .ok()?;
                    Some((transport.to_string(), addr))
                })
                .collect();
            (found.len() >= n).then_some(found)
        },
        || run.describe(),
    )
}

fn address_of(listeners: &[(String, SocketAddr)], transport: &str) -> SocketAddr {
    listeners
        .iter()
        .find(|(t, _)| t == transport)
        .map(|(_, a)| *a)
        .unwrap_or_else(|| panic!("no {transport} listener in {listeners:?}"))
}

/// A TCP connection to `to` from the loopback address `from`.
fn tcp_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    let local: SocketAddr = format!("{from}:0").parse().expect("an address");
    socket.bind(&local.into()).expect("bind the sender");
    socket.connect(&to.into()).expect("connect");
    socket.into()
}

/// (ip of log.source.address, network.transport, message) of each event, sorted.
fn arrivals(events: &[Value]) -> Vec<(String, String, String)> {
    let mut got: Vec<(String, String, String)> = events
        .iter()
        .map(|e| {
            let address: SocketAddr = e["log"]["source"]["address"]
                .as_str()
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("log.source.address in {e}"));
            assert_eq!(e["input"]["type"], "syslog", "{e}");
            (
                address.ip().to_string(),
                e["network"]["transport"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string(),
                e["message"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    got.sort();
    got
}

fn sorted(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = list
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    v.sort();
    v
}

/// SIGTERM, and a clean exit.
fn stop(mut run: Proc) {
    run.signal(libc::SIGTERM);
    let status = run.wait(COMMAND_LIMIT);
    assert!(
        status.success(),
        "run exits 0 on SIGTERM: {status}\n{}",
        run.describe()
    );
}

#[test]
fn run_ships_syslog_from_several_peers_over_udp_and_tcp() {
    let dir = tempdir();
    let mut receiver = ReceiverProc::start(
        dir.path(),
        "127.0.0.1:0",
        &dir.path().join("events.jsonl"),
        &[],
    );
    let run = run_syslog(
        dir.path(),
        &receiver,
        "format: auto\ntimezone: UTC\nprotocol.udp.host: \"127.0.0.1:0\"\n\
         protocol.tcp:\n  host: \"127.0.0.1:0\"\n  framing: rfc6587",
    );
    let listeners = listening(&run, 2);
    let (udp, tcp) = (address_of(&listeners, "udp"), address_of(&listeners, "tcp"));

    let sender = UdpSocket::bind("127.0.0.2:0").expect("bind the udp sender");
    for text in [
        "<13>Oct 11 22:14:15 proxy-a websense: one",
        "<13>Oct 11 22:14:15 proxy-a websense: two",
    ] {
        sender.send_to(text.as_bytes(), udp).expect("send");
    }
    let mut lines = tcp_from("127.0.0.3", tcp);
    lines
        .write_all(b"<14>Oct 11 22:14:15 proxy-b app[1]: three\n<14>Oct 11 22:14:15 proxy-b app[1]: four\n")
        .expect("write");
    let mut counted = tcp_from("127.0.0.4", tcp);
    let five = "<165>1 2003-10-11T22:14:15.003Z proxy-c app - - [x@1 k=\"v\"] five";
    let six = "<165>1 2003-10-11T22:14:15.003Z proxy-c app - - - six";
    counted
        .write_all(format!("{} {five}{} {six}", five.len(), six.len()).as_bytes())
        .expect("write");

    let events = receiver.wait_for_events(6, COMMAND_LIMIT);
    assert_eq!(
        arrivals(&events),
        sorted(&[
            ("127.0.0.2", "udp", "one"),
            ("127.0.0.2", "udp", "two"),
            ("127.0.0.3", "tcp", "three"),
            ("127.0.0.3", "tcp", "four"),
            ("127.0.0.4", "tcp", "five"),
            ("127.0.0.4", "tcp", "six"),
        ])
    );
    let five = events
        .iter()
        .find(|e| e["message"] == "five")
        .expect("five");
    assert_eq!(five["@timestamp"], "2003-10-11T22:14:15.003Z");
    assert_eq!(five["log"]["syslog"]["structured_data"]["x@1"]["k"], "v");
    assert_eq!(five["log"]["syslog"]["facility"]["name"], "local4");
    stop(run);
    let (events, _) = receiver.stop();
    assert_eq!(events.len(), 6, "nothing more, nothing twice");
}

#[test]
fn run_ships_syslog_over_mutual_tls_and_refuses_clients_without_a_certificate() {
    let dir = tempdir();
    let mut receiver = ReceiverProc::start(
        dir.path(),
        "127.0.0.1:0",
        &dir.path().join("events.jsonl"),
        &[],
    );
    let run = run_syslog(
        dir.path(),
        &receiver,
        &format!(
            "protocol.tcp:\n  host: \"127.0.0.1:0\"\n  ssl:\n    certificate: \"{}\"\n    key: \"{}\"\n    \
             certificate_authorities: [\"{}\"]",
            cert("server.crt"),
            cert("server.key"),
            cert("ca.crt")
        ),
    );
    let tcp = address_of(&listening(&run, 1), "tcp");
    let tls = |with_cert: bool| {
        let ssl = SslConfig {
            certificate_authorities: vec![cert("ca.crt")],
            certificate: with_cert.then(|| cert("client.crt")),
            key: with_cert.then(|| cert("client.key")),
            ..SslConfig::default()
        };
        let config = lumberwatch::tls::client_config(&ssl).expect("client config");
        let name = lumberwatch::tls::server_name("127.0.0.1").expect("server name");
        rustls::ClientConnection::new(Arc::clone(&config), name).expect("client connection")
    };

    let mut refused = rustls::StreamOwned::new(tls(false), tcp_from("127.0.0.6", tcp));
    // TLS 1.3: the server refuses the missing certificate after the client has finished.
    let _ = refused.write_all(b"<13>Oct 11 22:14:15 h a: never shipped\n");
    let _ = refused.flush();

    let mut client = rustls::StreamOwned::new(tls(true), tcp_from("127.0.0.5", tcp));
    client
        .write_all(b"<13>Oct 11 22:14:15 h a: over tls\n")
        .expect("write over tls");
    client.conn.send_close_notify();
    client.flush().expect("flush");

    let events = receiver.wait_for_events(1, COMMAND_LIMIT);
    assert_eq!(
        arrivals(&events),
        sorted(&[("127.0.0.5", "tcp", "over tls")])
    );
    poll(
        "the refused client is logged as a bad_frame drop",
        COMMAND_LIMIT,
        || {
            run.stderr()
                .lines()
                .any(|l| {
                    l.contains("dropped a syslog message")
                        && l.contains("127.0.0.6")
                        && l.contains("bad_frame")
                })
                .then_some(())
        },
        || run.describe(),
    );
    stop(run);
    let (events, _) = receiver.stop();
    assert_eq!(
        events.len(),
        1,
        "only the client with a certificate got through"
    );
}
