//! `queue.disk` through the real binary: what the agent accepted while Logstash was
//! down survives a SIGKILL and is shipped once Logstash is back; a stall is said.

use std::io::Write;
use std::net::TcpStream;

use super::*;

/// Records in the disk queue's segment files (`len u32 | crc32 u32 | json`).
fn queued_records(spool: &Path) -> Vec<Value> {
    let Ok(entries) = std::fs::read_dir(spool) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        if entry.path().extension().is_none_or(|x| x != "seg") {
            continue;
        }
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        let mut at = 0;
        while let Some(h) = bytes.get(at..at + 8) {
            let len = u32::from_be_bytes(h[..4].try_into().unwrap()) as usize;
            let Some(json) = bytes.get(at + 8..at + 8 + len) else {
                break;
            };
            out.push(serde_json::from_slice(json).unwrap());
            at += 8 + len;
        }
    }
    out
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
    let mut run = Proc::spawn("run", lumberwatch(d, &["run", "-c", &path]), Stdio::null());
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
    run.signal(libc::SIGKILL);
    run.wait(COMMAND_LIMIT);
    drop(conn);

    let receiver = ReceiverProc::start(
        d,
        &format!("127.0.0.1:{port}"),
        &d.join("events.jsonl"),
        &[],
    );
    let mut run = Proc::spawn("run", lumberwatch(d, &["run", "-c", &path]), Stdio::null());
    poll(
        "every message arrives after the restart",
        COMMAND_LIMIT,
        || (receiver.events_so_far().len() >= 500).then_some(()),
        || run.describe(),
    );
    run.signal(libc::SIGTERM);
    assert!(run.wait(COMMAND_LIMIT).success(), "{}", run.describe());
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
    let mut run = Proc::spawn("run", lumberwatch(d, &["run", "-c", &path]), Stdio::null());
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
    run.signal(libc::SIGKILL);
    run.wait(COMMAND_LIMIT);

    // The lines come from the disk queue now, not from the file again.
    let receiver = ReceiverProc::start(
        d,
        &format!("127.0.0.1:{port}"),
        &d.join("events.jsonl"),
        &[],
    );
    let mut run = Proc::spawn("run", lumberwatch(d, &["run", "-c", &path]), Stdio::null());
    poll(
        "every line arrives",
        COMMAND_LIMIT,
        || (receiver.events_so_far().len() >= 300).then_some(()),
        || run.describe(),
    );
    run.signal(libc::SIGTERM);
    assert!(run.wait(COMMAND_LIMIT).success(), "{}", run.describe());
    let (events, _) = receiver.stop();
    assert_eq!(
        numbers(&events, "line "),
        (0..300).collect::<Vec<_>>(),
        "each once"
    );
}
