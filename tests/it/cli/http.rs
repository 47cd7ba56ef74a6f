//! The stats endpoint of the real binary (`http.enabled`, `http.port: 0`) scraped over
//! TCP while stdin ships to a receiver, and `logging.json` on its stderr.

use super::*;

/// The address from the agent's "stats endpoint listening on ADDR" line (text or JSON).
fn stats_address(run: &Proc) -> SocketAddr {
    poll(
        "the agent says where the stats endpoint listens",
        COMMAND_LIMIT,
        || {
            let stderr = run.stderr();
            let (_, rest) = stderr.split_once("stats endpoint listening on ")?;
            let addr: String = rest
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '"')
                .collect();
            addr.parse().ok()
        },
        || run.describe(),
    )
}

/// `run` with a stdin input (its stdin piped), `rest` of the config and the stats
/// endpoint on a free port; the endpoint's address once the agent says it.
fn run_with_endpoint(dir: &Path, rest: &str) -> (Proc, SocketAddr) {
    let config = write_config(
        dir,
        &format!("lumberwatch.inputs:\n  - type: stdin\n{rest}http:\n  enabled: true\n  port: 0\n"),
    );
    let path = config.display().to_string();
    let run = Proc::spawn(
        "run",
        lumberwatch(dir, &["run", "-c", &path]),
        Stdio::piped(),
    );
    let addr = stats_address(&run);
    (run, addr)
}

/// One request on a new connection, read until the server closes it: (status, body).
fn request(addr: SocketAddr, raw: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the stats endpoint");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream.write_all(raw).expect("write the request");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("the endpoint answers and closes");
    let text = String::from_utf8(response).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    (status, body.to_string())
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    request(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

fn stats(addr: SocketAddr) -> Value {
    let (status, body) = get(addr, "/stats");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// The value of the sample `series` (name with its labels) in Prometheus text, after
/// checking every line is a comment or `name{labels} value`.
fn prometheus_value(text: &str, series: &str) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (name, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample line: {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number in {line:?}"));
        let bare = name.split('{').next().unwrap_or("");
        assert!(
            bare.starts_with("lumberwatch_")
                && bare.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "bad metric name in {line:?}"
        );
        assert_eq!(name.contains('{'), name.ends_with('}'), "{line:?}");
        if name == series {
            found = Some(value);
        }
    }
    found
}

#[test]
fn stats_endpoint_reports_every_acked_event_in_json_and_prometheus_text() {
    const N: usize = 300;
    let dir = tempdir();
    // Each batch waits 50 ms at the receiver, so the ack latency has a floor.
    let slow = ["--slow-ms".to_string(), "50".to_string()];
    let mut receiver = ReceiverProc::start(
        dir.path(),
        "127.0.0.1:0",
        &dir.path().join("events.jsonl"),
        &slow,
    );
    let output = logstash_output(&receiver.addr.to_string(), "");
    let (mut run, addr) = run_with_endpoint(dir.path(), &format!("{output}{QUIET}"));
    assert!(addr.ip().is_loopback(), "{addr}");

    let info: Value = serde_json::from_str(&get(addr, "/").1).expect("JSON at /");
    assert_eq!(info["beat"], "lumberwatch");
    assert!(
        info["ephemeral_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );

    let mut stdin = run.child.stdin.take().expect("stdin is piped");
    for n in 0..N {
        writeln!(stdin, "line {n}").expect("write to the agent's stdin");
    }
    stdin.flush().expect("flush");
    receiver.wait_for_events(N, COMMAND_LIMIT);
    let acked = poll(
        "/stats shows every event acked",
        COMMAND_LIMIT,
        || Some(stats(addr)).filter(|s| s["libbeat"]["output"]["events"]["acked"] == N),
        || run.describe(),
    );
    assert_eq!(acked["filebeat"]["events"]["added"], N);
    assert_eq!(acked["filebeat"]["events"]["active"], 0);
    assert_eq!(acked["libbeat"]["output"]["type"], "logstash");
    assert_eq!(acked["libbeat"]["output"]["events"]["failed"], 0);
    let lw = &acked["lumberwatch"];
    assert_eq!(lw["output"]["connections_total"], 1);
    assert_eq!(lw["inputs"]["stdin-0"]["type"], "stdin");
    let latency = lw["output"]["ack_latency"]["last_ms"]
        .as_f64()
        .expect("a latency");
    assert!(
        latency >= 50.0,
        "the receiver holds each batch 50 ms: {latency} ms"
    );
    let batches = acked["libbeat"]["output"]["events"]["batches"]
        .as_u64()
        .expect("batches");
    assert!(batches >= 1);

    let (status, metrics) = get(addr, "/metrics");
    assert_eq!(status, 200);
    assert_eq!(
        prometheus_value(&metrics, "lumberwatch_output_events_acked_total"),
        Some(N as f64),
        "{metrics}"
    );
    assert_eq!(
        prometheus_value(&metrics, "lumberwatch_events_queued_total"),
        Some(N as f64)
    );
    let count = prometheus_value(&metrics, "lumberwatch_output_ack_latency_seconds_count");
    assert!(count.is_some_and(|c| c >= 1.0), "{metrics}");

    // Garbage gets a 400 and the server goes on serving.
    let (status, body) = request(addr, b"\x16\x03\x01\x00\xa5 not http\r\n\r\n");
    assert_eq!(status, 400, "{body}");
    let (status, _) = request(addr, b"DELETE /stats HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 405);
    assert_eq!(get(addr, "/nothing").0, 404);
    assert_eq!(stats(addr)["libbeat"]["output"]["events"]["acked"], N);

    drop(stdin);
    let status = run.wait(COMMAND_LIMIT);
    assert!(status.success(), "{}", run.describe());
}

#[test]
fn logging_json_writes_one_json_object_per_stderr_line() {
    let dir = tempdir();
    let logging = "logging:\n  json: true\n  metrics.enabled: false\n";
    let (mut run, addr) =
        run_with_endpoint(dir.path(), &format!("output.console: {{}}\n{logging}"));
    let mut stdin = run.child.stdin.take().expect("stdin is piped");
    writeln!(stdin, "one\ntwo").expect("write to the agent's stdin");
    drop(stdin);
    let status = run.wait(COMMAND_LIMIT);
    assert!(status.success(), "{}", run.describe());
    assert_eq!(run.stdout().lines().count(), 2, "events on stdout");
    let stderr = run.stderr();
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert!(lines.len() >= 2, "{stderr}");
    for line in &lines {
        assert!(line["@timestamp"].is_string(), "{line}");
        assert!(line["log.level"].is_string(), "{line}");
        assert!(line["message"].is_string(), "{line}");
    }
    let listening = format!("stats endpoint listening on {addr}");
    assert!(
        lines.iter().any(|l| l["message"] == listening.as_str()),
        "{stderr}"
    );
    let stopped = lines
        .iter()
        .find(|l| l["message"] == "stopped")
        .unwrap_or_else(|| panic!("no stopped line: {stderr}"));
    assert_eq!(stopped["acked"], 2, "fields keep their types");
}

#[test]
fn a_stats_port_in_use_stops_the_start_with_one_line() {
    let dir = tempdir();
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port to take");
    let port = taken.local_addr().expect("address").port();
    let config = write_config(
        dir.path(),
        &format!(
            "lumberwatch.inputs:\n  - type: stdin\noutput.console: {{}}\n{QUIET}http:\n  enabled: true\n  \
             host: 127.0.0.1\n  port: {port}\n"
        ),
    );
    let path = config.display().to_string();
    let (status, _, stderr) = finish("run", lumberwatch(dir.path(), &["run", "-c", &path]));
    assert_failed(status, &stderr);
    let last = stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with(&format!(
            "lumberwatch: http: cannot listen on 127.0.0.1:{port}: "
        )),
        "{stderr}"
    );
}
