//! `run`: shipping stdin and generated events to `receive` children, signals, restarts.

use super::*;

const STDIN_LINES: usize = 10_000;

fn stdin_line(n: usize) -> String {
    format!("line {n:05}")
}

/// Pipes 10,000 lines into `run`, which must exit 0 by itself once they are acked; the
/// receiver must then hold exactly those lines, in order, as Filebeat-shaped events.
fn ship_stdin(receiver_extra: &[String], client_cert: Option<bool>, host_name: &str) {
    let dir = tempdir();
    let receiver = ReceiverProc::start(
        dir.path(),
        "127.0.0.1:0",
        &dir.path().join("events.jsonl"),
        receiver_extra,
    );
    let ssl = client_cert.map(client_ssl).unwrap_or_default();
    let host = format!("{host_name}:{}", receiver.port());
    let config = write_config(
        dir.path(),
        &format!(
            "lumberwatch.inputs:\n  - type: stdin\n{}lumberwatch.beat: filebeat\n{QUIET}",
            logstash_output(&host, &ssl)
        ),
    );
    let path = config.display().to_string();
    let mut run = Proc::spawn(
        "run",
        lumberwatch(dir.path(), &["run", "-c", &path]),
        Stdio::piped(),
    );
    let mut stdin = run.child.stdin.take().expect("stdin is piped");
    let feeder = std::thread::spawn(move || {
        let mut text = String::new();
        for n in 0..STDIN_LINES {
            text += &stdin_line(n);
            text.push('\n');
        }
        // Dropping stdin at the end is the EOF that ends the input.
        stdin.write_all(text.as_bytes())
    });
    let status = run.wait(COMMAND_LIMIT);
    assert!(
        status.success(),
        "run exits 0 after EOF with everything acked: {status}\n{}",
        run.describe()
    );
    feeder
        .join()
        .expect("feeder thread")
        .expect("run read all of stdin");

    let (events, receiver_stderr) = receiver.stop();
    assert_eq!(
        events.len(),
        STDIN_LINES,
        "every line exactly once\n{receiver_stderr}"
    );
    assert_eq!(total(&receiver_stderr, "events"), STDIN_LINES as u64);
    let line_bytes = stdin_line(0).len() as u64 + 1;
    for (n, event) in events.iter().enumerate() {
        assert_eq!(event["message"], stdin_line(n), "in order: {event}");
        assert_eq!(event["@metadata"]["beat"], "filebeat", "{event}");
        assert_eq!(event["input"]["type"], "stdin", "{event}");
        assert_eq!(event["log"]["offset"], n as u64 * line_bytes, "{event}");
        assert_eq!(event["agent"]["type"], "lumberwatch", "{event}");
        assert!(
            event["host"]["name"]
                .as_str()
                .is_some_and(|h| !h.is_empty()),
            "{event}"
        );
        assert!(event["@timestamp"].is_string(), "{event}");
    }
}

#[test]
fn run_ships_10000_stdin_lines_in_order_and_exits_0_after_eof() {
    ship_stdin(&[], None, "127.0.0.1");
}

#[test]
fn run_ships_stdin_over_tls_verified_against_the_test_ca() {
    ship_stdin(&server_tls("server"), Some(false), "localhost");
}

#[test]
fn run_ships_stdin_over_mutual_tls_with_a_client_certificate() {
    let mut extra = server_tls("server");
    extra.extend(["--ca".to_string(), cert("ca.crt")]);
    ship_stdin(&extra, Some(true), "localhost");
}

fn generator_config(dir: &Path, host: &str, rate_per_sec: u64) -> PathBuf {
    write_config(
        dir,
        &format!(
            "lumberwatch.inputs:\n  - type: generator\n    count: 0\n    rate_per_sec: {rate_per_sec}\n{}{QUIET}",
            logstash_output(host, "")
        ),
    )
}

fn sequences(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|e| {
            e["event"]["sequence"]
                .as_u64()
                .unwrap_or_else(|| panic!("no event.sequence in {e}"))
        })
        .collect()
}

#[test]
fn run_stops_on_sigterm_with_status_0_and_nothing_accepted_lost() {
    let dir = tempdir();
    let mut receiver = ReceiverProc::local(dir.path());
    let config = generator_config(dir.path(), &receiver.addr.to_string(), 2000);
    let path = config.display().to_string();
    let mut run = Proc::spawn(
        "run",
        lumberwatch(dir.path(), &["run", "-c", &path]),
        Stdio::null(),
    );
    receiver.wait_for_events(200, Duration::from_secs(10));
    assert!(run.exited().is_none(), "an unbounded generator never ends");

    let asked = Instant::now();
    run.signal(libc::SIGTERM);
    let status = run.wait(Duration::from_secs(15));
    assert!(
        status.success(),
        "SIGTERM is a clean stop: {status}\n{}",
        run.describe()
    );
    let took = asked.elapsed();

    let (events, _) = receiver.stop();
    let mut got = sequences(&events);
    got.sort_unstable();
    got.dedup();
    let last = *got.last().expect("events arrived");
    assert_eq!(
        got,
        (1..=last).collect::<Vec<_>>(),
        "every generated event up to the last one reached the receiver (stopped after {took:?})"
    );
}

#[test]
fn run_reconnects_to_a_receiver_restarted_on_the_same_port_after_sigkill() {
    let dir = tempdir();
    let mut first = ReceiverProc::start(
        dir.path(),
        "127.0.0.1:0",
        &dir.path().join("first.jsonl"),
        &[],
    );
    let listen = first.addr.to_string();
    let config = generator_config(dir.path(), &listen, 500);
    let path = config.display().to_string();
    let mut run = Proc::spawn(
        "run",
        lumberwatch(dir.path(), &["run", "-c", &path]),
        Stdio::null(),
    );
    first.wait_for_events(20, Duration::from_secs(10));
    first.proc.signal(libc::SIGKILL);
    first.proc.wait(Duration::from_secs(10));
    let before = sequences(&first.events_so_far())
        .into_iter()
        .max()
        .unwrap_or(0);

    // The killed receiver's port may linger briefly: retry binding it, bounded.
    let second_out = dir.path().join("second.jsonl");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut second = loop {
        match ReceiverProc::try_start(dir.path(), &listen, &second_out, &[]) {
            Ok(r) => break r,
            Err(e) if Instant::now() >= deadline => panic!("no new receiver on {listen}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    second.wait_for_events(20, Duration::from_secs(15));
    assert!(
        run.exited().is_none(),
        "run keeps going while its receiver is away\n{}",
        run.describe()
    );
    run.signal(libc::SIGTERM);
    let status = run.wait(Duration::from_secs(15));
    assert!(status.success(), "{status}\n{}", run.describe());

    let (events, _) = second.stop();
    let after = sequences(&events);
    assert!(
        after.iter().any(|&n| n > before),
        "the new receiver got events generated after the old one died (last seen {before})"
    );
}

/// A terminal or a pipe whose writer is still there never gives EOF: SIGTERM (Ctrl-C on a
/// terminal) must still end `run` once what it read is acked, not when stdin closes.
#[test]
fn run_with_stdin_still_open_stops_promptly_on_sigterm() {
    let dir = tempdir();
    let mut receiver = ReceiverProc::local(dir.path());
    let (mut run, mut stdin) = run_stdin_to(dir.path(), receiver.addr);
    stdin
        .write_all(b"one\ntwo\nthree\n")
        .expect("writing to run's stdin");
    stdin.flush().expect("flushing run's stdin");
    receiver.wait_for_events(3, Duration::from_secs(10));
    run.signal(libc::SIGTERM);
    // Everything read is acked already, so there is nothing to wait for.
    let status = run.wait(Duration::from_secs(5));
    assert!(status.success(), "{status}\n{}", run.describe());
    drop(stdin);
}

/// Once its inputs are exhausted `run` waits for acks, but a signal must still stop it
/// (after the shutdown timeout) with a failure status when Logstash never answers.
#[test]
fn run_with_finished_inputs_still_stops_on_sigterm_while_logstash_is_down() {
    let dir = tempdir();
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
        l.local_addr().expect("local addr").to_string()
    };
    let config = write_config(
        dir.path(),
        &format!(
            "lumberwatch.inputs:\n  - type: generator\n    count: 5\n{}{QUIET}",
            logstash_output(&closed, "")
        ),
    );
    let path = config.display().to_string();
    let mut run = Proc::spawn(
        "run",
        lumberwatch(dir.path(), &["run", "-c", &path]),
        Stdio::null(),
    );
    // Two failed connects: the five events were generated long ago.
    poll(
        "run retries the closed port",
        Duration::from_secs(10),
        || (run.stderr().matches("connection failed").count() >= 2).then_some(()),
        || run.describe(),
    );
    run.signal(libc::SIGTERM);
    // The shutdown timeout is 10 s.
    let status = run.wait(Duration::from_secs(15));
    assert_failed(status, &run.describe());
}
