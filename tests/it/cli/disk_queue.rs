//! `queue.disk` through the real binary: what the agent accepted while Logstash was
//! down survives a SIGKILL and is shipped once Logstash is back; a stall is said.

use std::io::Write;
use std::net::TcpStream;

use super::*;

/// What the disk queue holds (acked or not).
fn queued_records(spool: &Path) -> Vec<Value> {
    let payloads = lumberwatch::queue::payloads(spool).unwrap_or_default();
    payloads
        .iter()
        .map(|p| serde_json::from_slice(p).unwrap())
        .collect()
}

fn down_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn numbers(events: &[Value], prefix: &str) -> Vec<u64> {
    let mut n: Vec<u64> = events
        .iter()
        .filter_map(|e| e["message"].as_str()?.strip_prefix(prefix)?.parse().ok())
        .collect();
    n.sort_unstable();
    n
}

/// Waits for `n` events at the receiver, then stops the agent cleanly.
fn all_arrive(receiver: &ReceiverProc, mut run: Proc, n: usize) -> Proc {
    poll(
        &format!("all {n} events arrive after the restart"),
        COMMAND_LIMIT,
        || (receiver.events_so_far().len() >= n).then_some(()),
        || run.describe(),
    );
    run.signal(libc::SIGTERM);
    assert!(run.wait(COMMAND_LIMIT).success(), "{}", run.describe());
    run
}

#[test]
fn syslog_accepted_while_logstash_is_down_survives_a_sigkill_and_a_stall_is_said() {
    let dir = tempdir();
    let d = dir.path();
    let port = down_port();
    let syslog = down_port();
    let config = write_config(
        d,
        &format!(
            "lumberwatch.inputs:\n  - type: syslog\n    protocol.tcp.host: \"127.0.0.1:{syslog}\"\n\
             queue.disk: {{max_size: 10MiB}}\nlumberwatch.stall_warning: 1s\n{}{QUIET}",
            logstash_output(&format!("127.0.0.1:{port}"), "")
        ),
    );
    let path = config.display().to_string();
    let run = Proc::spawn("run", lumberwatch(d, &["run", "-c", &path]), Stdio::null());
    let mut conn = poll(
        "the syslog input listens",
        COMMAND_LIMIT,
        || TcpStream::connect(("127.0.0.1", syslog)).ok(),
        || run.describe(),
    );
    for n in 0..500 {
        writeln!(conn, "<13>Nov 23 10:00:00 host app: msg {n}").unwrap();
    }
    let spool = d.join("data/spool");
    poll(
        "the 500 messages are in the disk queue and the stall is said",
        COMMAND_LIMIT,
        || {
            let stalled = run
                .stderr()
                .contains("no events acked for 1s while 500 wait");
            (queued_records(&spool).len() == 500 && stalled).then_some(())
        },
        || run.describe(),
    );
    let (receiver, run) = crash_then_recover(run, d, port, &path);
    drop(conn);
    let run = all_arrive(&receiver, run, 500);
    assert!(
        run.stderr()
            .contains("events not acked before the last stop are shipped again"),
        "{}",
        run.describe()
    );
    let (events, _) = receiver.stop();
    assert_eq!(
        numbers(&events, "msg "),
        (0..500).collect::<Vec<_>>(),
        "each once"
    );
    assert!(
        queued_records(&spool).is_empty(),
        "acked segments are deleted: {:?}",
        std::fs::read_dir(&spool)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect::<Vec<_>>()
    );
}

#[test]
fn with_events_all_file_offsets_move_on_once_the_disk_holds_the_lines() {
    let dir = tempdir();
    let d = dir.path();
    let port = down_port();
    let log = d.join("app.log");
    let lines: String = (0..300).map(|n| format!("line {n}\n")).collect();
    std::fs::write(&log, &lines).unwrap();
    let config = write_config(
        d,
        &format!(
            "lumberwatch.inputs:\n  - type: filestream\n    id: app\n    paths: [\"{}\"]\n\
             queue.disk.events: all\n{}{QUIET}",
            log.display(),
            logstash_output(&format!("127.0.0.1:{port}"), "")
        ),
    );
    let path = config.display().to_string();
    let run = Proc::spawn("run", lumberwatch(d, &["run", "-c", &path]), Stdio::null());
    let registry = d.join("data/registry/filestream.json");
    poll(
        "the file's offset reaches its end with Logstash down",
        COMMAND_LIMIT,
        || {
            let v: Value = serde_json::from_slice(&std::fs::read(&registry).ok()?).ok()?;
            let offset = v["files"].get(0)?["offset"].as_u64()?;
            (offset == lines.len() as u64).then_some(())
        },
        || run.describe(),
    );
    assert_eq!(queued_records(&d.join("data/spool")).len(), 300);
    // The lines come from the disk queue now, not from the file again.
    let (receiver, run) = crash_then_recover(run, d, port, &path);
    all_arrive(&receiver, run, 300);
    let (events, _) = receiver.stop();
    assert_eq!(
        numbers(&events, "line "),
        (0..300).collect::<Vec<_>>(),
        "each once"
    );
}
