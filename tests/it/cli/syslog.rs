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
    let mut receiver = ReceiverProc::local(dir.path());
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
    let mut receiver = ReceiverProc::local(dir.path());
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

/// `lumberwatch stats` in `dir` for `key`: each row's cells, by its first cell.
fn stats_rows(dir: &Path, config: &Path, key: &str) -> Vec<Vec<String>> {
    let path = config.display().to_string();
    let (status, out, err) = finish(
        "stats",
        lumberwatch(dir, &["stats", "-c", &path, "--key", key]),
    );
    assert!(status.success(), "stats --key {key}: {err}");
    out.lines()
        .skip(1)
        .filter(|l| !l.contains(" keys, "))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

#[test]
fn websense_syslog_is_parsed_and_counted_per_sender_and_per_client() {
    let dir = tempdir();
    let d = dir.path();
    let mut receiver = ReceiverProc::local(d);
    let config = write_config(
        d,
        &format!(
            "lumberwatch.inputs:\n  - type: syslog\n    parser: websense\n    format: auto\n\
             \x20   protocol.udp.host: \"127.0.0.1:0\"\n    protocol.tcp.host: \"127.0.0.1:0\"\n\
             lumberwatch.stats.keys: [source.ip, log.source.ip]\n{}{QUIET}",
            logstash_output(&format!("127.0.0.1:{}", receiver.port()), "")
        ),
    );
    let path = config.display().to_string();
    let run = Proc::spawn("run", lumberwatch(d, &["run", "-c", &path]), Stdio::null());
    let listeners = listening(&run, 2);
    let (udp, tcp) = (address_of(&listeners, "udp"), address_of(&listeners, "tcp"));

    let record = |client: &str, action: &str| {
        format!(
            "<134>Oct 11 22:14:15 proxy websense: vendor=Websense product=Security action={action} \
             src_host={client} src_port=51000 dst_ip=93.184.216.34 dst_port=443 bytes_out=512 \
             bytes_in=20480 http_response=200 url=https://example.com/"
        )
    };
    let sender = UdpSocket::bind("127.0.0.2:0").expect("bind the udp sender");
    for text in [
        record("10.1.1.5", "permitted"),
        record("10.1.1.6", "blocked"),
    ] {
        sender.send_to(text.as_bytes(), udp).expect("send");
    }
    let mut tcp_sender = tcp_from("127.0.0.3", tcp);
    let lines = format!(
        "{}\n<134>Oct 11 22:14:15 proxy websense: garbage\n",
        record("10.1.1.5", "permitted")
    );
    tcp_sender.write_all(lines.as_bytes()).expect("write");

    let events = receiver.wait_for_events(4, COMMAND_LIMIT);
    let parsed: Vec<&Value> = events
        .iter()
        .filter(|e| e.get("source").is_some())
        .collect();
    assert_eq!(parsed.len(), 3, "{events:#?}");
    for e in &parsed {
        assert_eq!(e["destination"]["port"], 443);
        assert_eq!(e["network"]["bytes"], 512 + 20480);
        assert_eq!(e["input"]["type"], "syslog");
        assert!(e["log"]["syslog"]["priority"].is_number(), "{e}");
    }
    let blocked = parsed
        .iter()
        .find(|e| e["source"]["ip"] == "10.1.1.6")
        .expect("10.1.1.6");
    assert_eq!(blocked["event"]["action"], "deny");
    assert!(
        blocked["log"]["source"]["address"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.2:"),
        "the sender stays in log.source.address: {blocked}"
    );
    let garbage = events
        .iter()
        .find(|e| e["message"] == "garbage")
        .expect("garbage");
    assert_eq!(
        garbage["tags"],
        serde_json::json!(["lumberwatch_parse_failure"])
    );
    stop(run);
    assert_eq!(receiver.stop().0.len(), 4);

    // Per sender (every message, parsed or not) and per client (the parsed records).
    let senders = stats_rows(d, &config, "log.source.ip");
    let events_of = |rows: &[Vec<String>], key: &str| -> Vec<String> {
        rows.iter()
            .find(|r| r[0] == key)
            .unwrap_or_else(|| panic!("no row for {key} in {rows:?}"))
            .clone()
    };
    assert_eq!(events_of(&senders, "127.0.0.2")[2], "2", "{senders:?}");
    assert_eq!(events_of(&senders, "127.0.0.3")[2], "2", "{senders:?}");
    let clients = stats_rows(d, &config, "source.ip");
    assert_eq!(
        events_of(&clients, "10.1.1.5")[2..4],
        ["2", "41984"],
        "{clients:?}"
    );
    assert_eq!(
        events_of(&clients, "10.1.1.6")[2..4],
        ["1", "20992"],
        "{clients:?}"
    );
    assert_eq!(
        clients.len(),
        2,
        "senders are not sources when a parser says who is: {clients:?}"
    );
}

#[test]
fn run_fails_with_one_line_when_a_syslog_port_is_taken() {
    let dir = tempdir();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let config = write_config(
        dir.path(),
        &format!(
            "lumberwatch.inputs:\n  - type: syslog\n    protocol.tcp.host: \"127.0.0.1:{port}\"\n{}{QUIET}",
            logstash_output("127.0.0.1:9", "")
        ),
    );
    let path = config.display().to_string();
    let (status, _, err) = finish("run", lumberwatch(dir.path(), &["run", "-c", &path]));
    assert!(!status.success(), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(
            "lumberwatch: an input failed: cannot listen for syslog on tcp 127.0.0.1:"
        ) && last.contains("in use"),
        "{err}"
    );
}
