//! Hostile and broken input through the real binary: a 100 MB line in a tailed file, and
//! configs with wrong types. Each gives a clear error or a counted, flagged cut, never a
//! panic or memory that grows with the input.

use super::*;

/// How many bytes the file input keeps of one line in the test below.
const MAX_LINE: usize = 1 << 20;
/// The hostile line.
const HUGE_LINE: usize = 100 << 20;
/// The agent's peak resident memory must stay under this while it reads the huge line:
/// well above what it needs for a few 1 MiB lines, far below the line itself.
const MAX_PEAK_RSS: u64 = 60 << 20;

/// `VmHWM` (peak resident set size) of a running process, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in /proc/{pid}/status:\n{status}"));
    kib << 10
}

#[test]
fn a_100_mb_line_is_cut_at_message_max_bytes_in_bounded_memory_and_later_lines_arrive() {
    let dir = tempdir();
    let mut receiver = ReceiverProc::local(dir.path());
    let log = dir.path().join("huge.log");
    std::fs::write(&log, "before\n").expect("writing the log");
    let config = write_config(
        dir.path(),
        &format!(
            "lumberwatch.inputs:\n  - type: filestream\n    id: huge\n    paths: [\"{}\"]\n    \
             message_max_bytes: {MAX_LINE}\n    prospector.scanner.check_interval: 50ms\n\
             path.data: \"{}\"\n{}{QUIET}",
            log.display(),
            dir.path().join("data").display(),
            logstash_output(&receiver.addr.to_string(), "")
        ),
    );
    let path = config.display().to_string();
    let mut run = Proc::spawn(
        "run",
        lumberwatch(dir.path(), &["run", "-c", &path]),
        Stdio::null(),
    );
    receiver.wait_for_events(1, COMMAND_LIMIT);

    // The line grows while the harvester follows the file: it sees it partial many times.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("opening the log");
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..HUGE_LINE / chunk.len() {
        file.write_all(&chunk).expect("appending to the log");
    }
    file.write_all(b"\nafter 1\nafter 2\n")
        .expect("appending to the log");
    drop(file);

    let events = receiver.wait_for_events(4, Duration::from_secs(120));
    let peak = peak_rss(run.child.id());
    assert!(
        run.exited().is_none(),
        "the agent is still running\n{}",
        run.describe()
    );
    run.signal(libc::SIGTERM);
    let status = run.wait(COMMAND_LIMIT);
    assert!(status.success(), "{status}\n{}", run.describe());

    let messages: Vec<&str> = events
        .iter()
        .map(|e| e["message"].as_str().expect("a message"))
        .collect();
    assert_eq!(messages.len(), 4, "exactly four events");
    assert_eq!(messages[0], "before");
    assert_eq!(
        messages[1].len(),
        MAX_LINE,
        "the line is cut at message_max_bytes"
    );
    assert!(messages[1].bytes().all(|b| b == b'x'));
    assert_eq!(messages[2..], ["after 1", "after 2"]);
    assert_eq!(
        events[1]["log"]["flags"],
        serde_json::json!(["truncated"]),
        "the cut line is flagged: {}",
        events[1]["log"]
    );
    for (event, offset) in events[1..]
        .iter()
        .zip([7, 7 + HUGE_LINE + 1, HUGE_LINE + 16])
    {
        assert_eq!(event["log"]["offset"], offset as u64, "{}", event["log"]);
    }
    assert!(
        peak < MAX_PEAK_RSS,
        "the agent's peak RSS was {} MiB reading a {} MiB line (limit {} MiB)",
        peak >> 20,
        HUGE_LINE >> 20,
        MAX_PEAK_RSS >> 20
    );
    eprintln!(
        "peak RSS of the agent reading a {} MiB line: {} MiB",
        HUGE_LINE >> 20,
        peak >> 20
    );
}

/// Configs with a wrong value in each section, as a user would write them; the whole
/// table of wrong types is `config::tests::wrong_types`, through the loader.
const WRONG: &[(&str, usize, &str)] = &[
    (
        "lumberwatch.inputs:\n  - type: stdin\noutput.logstash:\n  hosts: {a: b}\n",
        4,
        "output.logstash.hosts: expected a list of strings, got a mapping",
    ),
    (
        "lumberwatch.inputs:\n  - type: filestream\n    paths: [/var/log/*.log]\n    \
         message_max_bytes: lots\noutput.console.enabled: true\n",
        4,
        "lumberwatch.inputs.0.message_max_bytes: expected",
    ),
    (
        "lumberwatch.inputs:\n  - type: stdin\noutput.console.enabled: true\n\
         logging.metrics.period: -30s\n",
        4,
        "logging.metrics.period: expected a duration",
    ),
    (
        "fields_under_root: {yes: no}\nlumberwatch.inputs:\n  - type: stdin\n\
         output.console.enabled: true\n",
        1,
        "fields_under_root: expected a boolean",
    ),
    (
        "lumberwatch.inputs:\n  - type: syslog\n    protocol.tcp: [localhost:514]\n\
         output.console.enabled: true\n",
        3,
        "lumberwatch.inputs.0.protocol.tcp: expected a mapping",
    ),
    (
        "lumberwatch.inputs:\n  - type: stdin\n    colour: red\noutput.console.enabled: true\n",
        3,
        "lumberwatch.inputs.0.colour: unknown key",
    ),
];

#[test]
fn test_config_gives_one_line_with_file_line_and_key_for_each_wrong_type() {
    let dir = tempdir();
    for (n, (text, line, problem)) in WRONG.iter().enumerate() {
        let config = dir.path().join(format!("wrong-{n}.yml"));
        std::fs::write(&config, text).expect("writing the config");
        let path = config.display().to_string();
        let (status, stdout, stderr) = finish(
            "test config",
            lumberwatch(dir.path(), &["test", "config", "-c", &path]),
        );
        let both =
            format!("--- config ---\n{text}--- stdout ---\n{stdout}--- stderr ---\n{stderr}");
        assert_failed(status, &both);
        let lines: Vec<&str> = stdout
            .lines()
            .chain(stderr.lines())
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(lines.len(), 1, "one line\n{both}");
        let want = format!("{path}:{line}: {problem}");
        assert!(
            lines[0].contains(&want),
            "want {want:?}\n got {:?}\n{both}",
            lines[0]
        );
        assert!(!lines[0].contains("panicked"), "{both}");
    }
}
