//! `rig hello` and `rig poll` on loopback: exact byte counts on both sides, a garbage
//! request answered with 400 while the server goes on, cycles within their bounds at
//! `--speed`, syslog lines from several source addresses, and a remote target refused.

use std::collections::BTreeMap;
use std::net::{IpAddr, UdpSocket};

use super::*;

/// `rig hello` on a free loopback port, once it says where.
fn hello(dir: &Path) -> (Proc, SocketAddr) {
    let args = ["rig", "hello", "--listen", "127.0.0.1:0"];
    let mut proc = Proc::spawn("rig hello", lumberwatch(dir, &args), Stdio::null());
    let addr = poll(
        "rig hello says where it listens",
        Duration::from_secs(10),
        || {
            let stdout = proc.stdout();
            let line = stdout.lines().find(|l| l.starts_with("listening on "))?;
            line.split_whitespace().find_map(|w| w.parse().ok())
        },
        || proc.describe(),
    );
    assert!(proc.exited().is_none(), "{}", proc.describe());
    (proc, addr)
}

/// SIGTERM, then `name=N` from the `served ...` line.
fn stop_hello(mut proc: Proc) -> BTreeMap<String, u64> {
    proc.signal(libc::SIGTERM);
    let status = proc.wait(Duration::from_secs(10));
    assert!(status.success(), "{status}\n{}", proc.describe());
    let stdout = proc.stdout();
    let line = stdout
        .lines()
        .find(|l| l.starts_with("served "))
        .unwrap_or_else(|| panic!("no served line\n{}", proc.describe()));
    fields(line)
}

/// The `name=N` words of a line.
fn fields(line: &str) -> BTreeMap<String, u64> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

/// Reads one response on `stream`: the status and the body's length, counted.
fn response(stream: &mut TcpStream) -> (u16, Vec<u8>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("a response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).expect("an ASCII head");
    let status = head[9..12].parse().expect("a status code");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no Content-Length in {head:?}"));
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("the whole body");
    (status, body)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connecting to rig hello");
    stream
        .set_read_timeout(Some(COMMAND_LIMIT))
        .expect("a read timeout");
    stream
}

#[test]
fn rig_hello_serves_both_endpoints_with_exact_sizes_and_answers_garbage_with_400() {
    let dir = tempdir();
    let (server, addr) = hello(dir.path());
    let mut keep_alive = connect(addr);
    keep_alive
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /bytes/1048577 HTTP/1.1\r\n\r\n")
        .expect("two pipelined requests");
    assert_eq!(response(&mut keep_alive), (200, b"Hello World!".to_vec()));
    let (status, body) = response(&mut keep_alive);
    assert_eq!((status, body.len()), (200, 1_048_577));
    keep_alive
        .write_all(b"GET /bytes/104857601 HTTP/1.1\r\n\r\nGET /elsewhere HTTP/1.1\r\n\r\n")
        .expect("two more on the same connection");
    assert_eq!(response(&mut keep_alive).0, 400, "over 100 MiB");
    assert_eq!(response(&mut keep_alive).0, 404);

    let mut garbage = connect(addr);
    garbage
        .write_all(b"\x16\x03\x01\x00\xa5 not http\r\n\r\n")
        .expect("garbage");
    let mut answer = Vec::new();
    garbage
        .read_to_end(&mut answer)
        .expect("an answer, then the connection closed");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(answer.contains("Connection: close"), "{answer}");

    let mut after = connect(addr);
    after
        .write_all(b"GET /bytes/0 HTTP/1.0\r\n\r\n")
        .expect("a request after the garbage");
    assert_eq!(response(&mut after), (200, Vec::new()));
    keep_alive
        .write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        .expect("the first connection, untouched by the garbage");
    assert_eq!(response(&mut keep_alive), (200, b"Hello World!".to_vec()));
    drop((keep_alive, garbage, after));
    let served = stop_hello(server);
    assert_eq!(served["bytes"], 12 + 1_048_577 + 12, "{served:?}");
    assert_eq!(served["requests"], 6, "{served:?}");
    assert_eq!(served["bad_requests"], 1, "{served:?}");
}

/// `rig poll` against `addr` with the story's environment; waits for its exit.
fn run_poll(dir: &Path, addr: SocketAddr, extra: &[&str]) -> (String, BTreeMap<String, u64>) {
    let mut args = vec!["rig", "poll", "--speed", "2400", "--seed", "7"];
    args.extend(extra);
    let mut cmd = lumberwatch(dir, &args);
    cmd.env("HOST_TO_POLL", addr.to_string())
        .env("POLL_INTERVAL", "60");
    let (status, stdout, stderr) = finish("rig poll", cmd);
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    let total = stdout
        .lines()
        .find_map(|l| l.strip_prefix("total: "))
        .unwrap_or_else(|| panic!("no total line\n{stdout}\n{stderr}"));
    let total = fields(total);
    (stdout, total)
}

#[test]
fn rig_poll_moves_exactly_the_bytes_it_reports_in_cycles_within_their_bounds() {
    let dir = tempdir();
    let (server, addr) = hello(dir.path());
    let (stdout, total) = run_poll(dir.path(), addr, &["--cycles", "2"]);
    let cycles: Vec<BTreeMap<String, u64>> = stdout
        .lines()
        .filter(|l| l.starts_with("cycle ") && l.contains(" done in "))
        .map(fields)
        .collect();
    assert_eq!(cycles.len(), 2, "{stdout}");
    for cycle in &cycles {
        assert!(
            (50_000_000..=100_000_000).contains(&cycle["bytes"]),
            "{cycle:?}"
        );
        assert_eq!(cycle["bytes"], cycle["planned_bytes"], "{stdout}");
        assert_eq!(cycle["failed"], 0, "{stdout}");
        assert!(cycle["restarts"] <= 5, "{stdout}");
    }
    let sum = |name: &str| cycles.iter().map(|c| c[name]).sum::<u64>();
    assert_eq!(total["cycles"], 2);
    assert_eq!(total["bytes"], sum("bytes"), "{stdout}");
    assert_eq!(total["requests"], sum("requests"), "{stdout}");
    assert_eq!(total["restarts"], sum("restarts"), "{stdout}");
    assert_eq!(
        total["connections"],
        1 + total["restarts"],
        "each restart is a new connection\n{stdout}"
    );
    let served = stop_hello(server);
    assert_eq!(
        served["bytes"], total["bytes"],
        "what hello wrote\n{stdout}"
    );
    assert_eq!(served["requests"], total["requests"], "{stdout}");
}

#[test]
fn rig_poll_sends_numbered_syslog_lines_from_each_source_address() {
    let dir = tempdir();
    let (server, addr) = hello(dir.path());
    let syslog = UdpSocket::bind("127.0.0.1:0").expect("a syslog socket");
    syslog
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("a read timeout");
    let to = syslog.local_addr().expect("its address").to_string();
    let extra = [
        "--cycles",
        "1",
        "--syslog",
        &to,
        "--sources",
        "127.0.0.2,127.0.0.3",
    ];
    let (stdout, total) = run_poll(dir.path(), addr, &extra);
    assert_eq!(total["syslog_lines"], 2 * total["requests"], "{stdout}");
    let mut by_source: BTreeMap<IpAddr, Vec<(u64, u64)>> = BTreeMap::new();
    let mut buf = [0u8; 2048];
    for _ in 0..total["syslog_lines"] {
        let (n, from) = syslog
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("a syslog line: {e}\n{by_source:?}"));
        let line = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(line.starts_with("<134>1 "), "{line}");
        assert!(line.contains(&format!("src_host={}", from.ip())), "{line}");
        let f = fields(&line);
        by_source
            .entry(from.ip())
            .or_default()
            .push((f["seq"], f["bytes_in"]));
    }
    let sources: Vec<String> = by_source.keys().map(ToString::to_string).collect();
    assert_eq!(sources, ["127.0.0.2", "127.0.0.3"]);
    for lines in by_source.values() {
        let seqs: Vec<u64> = lines.iter().map(|l| l.0).collect();
        assert_eq!(seqs, (1..=total["requests"]).collect::<Vec<_>>());
    }
    let bytes: u64 = by_source.values().flatten().map(|l| l.1).sum();
    assert_eq!(
        bytes, total["bytes"],
        "the lines account for every byte moved"
    );
    stop_hello(server);
}

#[test]
fn rig_poll_refuses_a_non_loopback_target_or_syslog_address_in_one_line() {
    let dir = tempdir();
    for args in [
        &["rig", "poll", "--host", "10.10.10.1:8080", "--cycles", "1"][..],
        &[
            "rig",
            "poll",
            "--host",
            "127.0.0.1:9",
            "--syslog",
            "192.168.1.1:514",
            "--cycles",
            "1",
        ],
    ] {
        let (status, stdout, stderr) = finish("rig poll", lumberwatch(dir.path(), args));
        assert_failed(status, &stderr);
        assert_eq!(stdout, "", "nothing started");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("lumberwatch: refusing to "), "{stderr}");
        assert!(stderr.contains("not a loopback address"), "{stderr}");
        assert!(stderr.contains("--allow-remote"), "{stderr}");
    }
}
