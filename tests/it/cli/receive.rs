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
fn demo_runs_for_its_duration_and_reports_what_it_shipped() {
    let dir = tempdir();
    let started = Instant::now();
    let (status, stdout, stderr) = finish(
        "demo",
        lumberwatch(dir.path(), &["demo", "--duration", "4", "--rate", "20"]),
    );
    let both = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(status.success(), "{status}\n{both}");
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "ran for its duration\n{both}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("<- ")),
        "received events are printed\n{both}"
    );
    assert!(stdout.contains("acked batch of"), "{both}");
    let done = stdout
        .lines()
        .rfind(|l| l.contains("demo done"))
        .unwrap_or_else(|| panic!("no \"demo done\" line\n{both}"));
    let numbers: Vec<u64> = done
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    // generated, acked, received, batches
    assert_eq!(numbers.len(), 4, "{done:?}");
    assert!(
        numbers.iter().all(|&n| n > 0),
        "every count is non-zero: {done:?}"
    );
    let (generated, acked, received) = (numbers[0], numbers[1], numbers[2]);
    assert!(
        acked <= generated && acked <= received,
        "nothing is acked that was not generated and received: {done:?}"
    );
}
