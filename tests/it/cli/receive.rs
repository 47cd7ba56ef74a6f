//! `receive` against hostile bytes, and `demo`.

use super::*;

/// `2W` with a window of one event.
const WINDOW_1: [u8; 6] = *b"2W\0\0\0\x01";

/// Writes `bytes` on a fresh connection and waits (bounded) for the receiver to close it.
fn send_garbage(addr: SocketAddr, bytes: &[u8]) {
    let mut tcp = TcpStream::connect(addr).expect("connecting to the receiver");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    // The receiver may hang up before reading everything; a failed write is fine.
    let _ = tcp.write_all(bytes);
    let mut sink = [0u8; 1024];
    loop {
        match tcp.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("the receiver did not close a connection sending garbage: {e}"),
        }
    }
}

#[test]
fn garbage_on_the_receivers_port_does_not_stop_it_serving_a_real_client() {
    let dir = tempdir();
    let receiver = ReceiverProc::local(dir.path());
    send_garbage(receiver.addr, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    // A J frame declaring 4 GiB: refused before anything is buffered.
    send_garbage(
        receiver.addr,
        &[&WINDOW_1[..], b"2J\0\0\0\x01\xff\xff\xff\xff{"].concat(),
    );
    // A compressed frame whose payload is not zlib.
    send_garbage(
        receiver.addr,
        &[&WINDOW_1[..], b"2C\0\0\0\x08notzlib!"].concat(),
    );
    send_garbage(receiver.addr, &[0xff; 4096]);

    let (mut run, mut stdin) = run_stdin_to(dir.path(), receiver.addr);
    stdin
        .write_all(b"after the garbage 1\nafter the garbage 2\n")
        .expect("writing to run's stdin");
    drop(stdin);
    let status = run.wait(COMMAND_LIMIT);
    assert!(status.success(), "{status}\n{}", run.describe());

    let (events, stderr) = receiver.stop();
    let messages: Vec<&str> = events
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert_eq!(messages, ["after the garbage 1", "after the garbage 2"]);
    assert!(
        total(&stderr, "bad_frames") >= 1,
        "the garbage was counted as bad frames\n{stderr}"
    );
}

#[test]
fn demo_runs_for_its_duration_and_shows_events_alerts_resolves_and_reports() {
    let dir = tempdir();
    let started = Instant::now();
    // A 3 s window: the flaky client is silent from 3.6 s to 9 s.
    let (status, stdout, stderr) = finish(
        "demo",
        lumberwatch(dir.path(), &["demo", "--duration", "13", "--window", "3"]),
    );
    let both = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(status.success(), "{status}\n{both}");
    assert!(
        started.elapsed() >= Duration::from_secs(13),
        "ran for its duration\n{both}"
    );
    let has = |prefix: &str, text: &str| {
        stdout
            .lines()
            .any(|l| l.starts_with(prefix) && l.contains(text))
    };
    assert!(
        has("<- ", "[syslog] 127.0.0.2:"),
        "the rig's syslog lines are printed\n{both}"
    );
    assert!(
        has("<- ", "[filestream] access.log: 127.0.0.2 - - [") && has("<- ", "127.0.0.4 - - ["),
        "the access log's records are printed\n{both}"
    );
    assert!(
        has(
            "!! ",
            "ALERT    client-silent: no traffic from 127.0.0.3 for 3s"
        ),
        "the silent client raises a flatline alert\n{both}"
    );
    assert!(
        has(
            "!! ",
            "RESOLVED client-silent: traffic from 127.0.0.3 resumed"
        ),
        "and its resolve\n{both}"
    );
    assert!(
        has("!! ", "ALERT    client-under-rate: 127.0.0.4 sent"),
        "the trickling client raises a rate alert\n{both}"
    );
    assert!(has("## ", "REPORT   report "), "reports\n{both}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("   {") && l.contains("\"rule\":{\"name\":\"client-silent\"")),
        "an alert is shown as the event Logstash gets\n{both}"
    );
    assert!(
        !has("!! ", "127.0.0.2"),
        "the steady client never alarms\n{both}"
    );
    let done = stdout
        .lines()
        .rfind(|l| l.contains("demo done"))
        .unwrap_or_else(|| panic!("no \"demo done\" line\n{both}"));
    let numbers: Vec<u64> = done
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    // queued, acked, received, batches
    assert_eq!(numbers.len(), 4, "{done:?}");
    assert!(
        numbers.iter().all(|&n| n > 0),
        "every count is non-zero: {done:?}"
    );
    let (queued, acked, received) = (numbers[0], numbers[1], numbers[2]);
    assert!(
        acked <= queued && acked <= received,
        "nothing is acked that was not queued and received: {done:?}"
    );
}
