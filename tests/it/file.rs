//! The filestream input through the whole agent: real files in a temp dir, the
//! embedded receiver, the registry on disk. Every wait is bounded.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lumberwatch::config::FilestreamConfig;
use lumberwatch::receive::{Faults, ReceivedBatch};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::support::{Agent, receiver};

const LIMIT: Duration = Duration::from_secs(30);

/// One shipped line: (file name, `log.offset`, message).
type Shipped = (String, u64, String);

fn shipped(event: &[u8]) -> Shipped {
    let v: Value = serde_json::from_slice(event).unwrap();
    assert_eq!(v["input"]["type"], "filestream", "{v}");
    let path = PathBuf::from(v["log"]["file"]["path"].as_str().unwrap());
    (
        path.file_name().unwrap().to_string_lossy().into_owned(),
        v["log"]["offset"].as_u64().unwrap(),
        v["message"].as_str().unwrap().to_string(),
    )
}

/// Receives until `done` holds for everything received so far, within [`LIMIT`].
async fn receive_until(
    batches: &mut mpsc::Receiver<ReceivedBatch>,
    got: &mut Vec<Shipped>,
    done: impl Fn(&[Shipped]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !done(got) {
        let batch = tokio::time::timeout_at(deadline, batches.recv())
            .await
            .unwrap_or_else(|_| panic!("condition not met within {LIMIT:?}; got {got:?}"))
            .expect("receiver alive");
        got.extend(batch.events.iter().map(|e| shipped(e)));
    }
}

fn append(path: &Path, lines: impl IntoIterator<Item = String>) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for line in lines {
        writeln!(f, "{line}").unwrap();
    }
}

fn numbered(range: std::ops::Range<u32>) -> impl Iterator<Item = String> {
    range.map(|n| format!("line {n}"))
}

fn number(message: &str) -> u32 {
    message.strip_prefix("line ").unwrap().parse().unwrap()
}

/// The registry file's entries as (path file name, offset).
fn registry_offsets(data: &Path) -> Vec<(String, u64)> {
    let Ok(text) = std::fs::read(data.join("registry/filestream.json")) else {
        return Vec::new();
    };
    let v: Value = serde_json::from_slice(&text).unwrap();
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let path = PathBuf::from(e["path"].as_str().unwrap());
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, e["offset"].as_u64().unwrap())
        })
        .collect()
}

async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < LIMIT, "{what}: not within {LIMIT:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn appended_lines_are_shipped_with_their_offsets_and_a_partial_line_waits() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = receiver(None, Faults::default()).await;
    let log = dir.path().join("app.log");
    append(&log, ["first".to_string(), "second \u{e9}".to_string()]);
    let agent = Agent::start(
        &dir.path().join("data"),
        &format!("{}/*.log", dir.path().display()),
        r.handle.local_addr().port(),
    );
    let mut got = Vec::new();
    receive_until(&mut r.batches, &mut got, |g| g.len() >= 2).await;
    {
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(b"third\r\nbad \xff byte\npart").unwrap();
    }
    receive_until(&mut r.batches, &mut got, |g| g.len() >= 4).await;
    append(&log, ["ial".to_string()]);
    receive_until(&mut r.batches, &mut got, |g| g.len() >= 5).await;
    let want: Vec<Shipped> = [
        (0, "first"),
        (6, "second \u{e9}"),
        (16, "third"),
        (23, "bad \u{fffd} byte"),
        (34, "partial"),
    ]
    .into_iter()
    .map(|(o, m)| ("app.log".to_string(), o, m.to_string()))
    .collect();
    assert_eq!(got, want);
    agent.stop().await;
}

#[tokio::test]
async fn a_restart_resumes_exactly_at_the_acked_offset_and_the_registry_is_0600() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut r = receiver(None, Faults::default()).await;
    let port = r.handle.local_addr().port();
    let log = dir.path().join("app.log");
    let pattern = format!("{}/*.log", dir.path().display());
    append(&log, numbered(0..100));

    let agent = Agent::start(&data, &pattern, port);
    let mut got = Vec::new();
    receive_until(&mut r.batches, &mut got, |g| g.len() >= 100).await;
    let size = std::fs::metadata(&log).unwrap().len();
    // Persisted within the flush interval while running, not only at shutdown.
    wait_for("the acked offset on disk", || {
        registry_offsets(&data) == vec![("app.log".to_string(), size)]
    })
    .await;
    let summary = agent.stop().await;
    assert_eq!(summary.events_acked, 100);

    let file = data.join("registry/filestream.json");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().unwrap()), 0o700);

    append(&log, numbered(100..150));
    let agent = Agent::start(&data, &pattern, port);
    let mut again = Vec::new();
    receive_until(&mut r.batches, &mut again, |g| g.len() >= 50).await;
    let numbers: Vec<u32> = again.iter().map(|s| number(&s.2)).collect();
    assert_eq!(
        numbers,
        (100..150).collect::<Vec<_>>(),
        "nothing re-sent, nothing lost"
    );
    assert_eq!(again[0].1, size, "the first new line is at the old end");
    agent.stop().await;
}

#[tokio::test]
async fn rotation_by_rename_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = receiver(None, Faults::default()).await;
    let log = dir.path().join("app.log");
    let rotated = dir.path().join("app.log.1");
    append(&log, numbered(0..50));
    // The writer keeps its descriptor across the rename, as a logger does.
    let mut writer = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let agent = Agent::start(
        &dir.path().join("data"),
        &format!("{}/app.log", dir.path().display()),
        r.handle.local_addr().port(),
    );
    let mut got = Vec::new();
    receive_until(&mut r.batches, &mut got, |g| g.len() >= 50).await;
    for n in 50..60 {
        writeln!(writer, "line {n}").unwrap();
    }
    std::fs::rename(&log, &rotated).unwrap();
    for n in 60..70 {
        writeln!(writer, "line {n}").unwrap();
    }
    drop(writer);
    append(&log, numbered(70..100));

    receive_until(&mut r.batches, &mut got, |g| {
        g.iter()
            .map(|s| number(&s.2))
            .collect::<std::collections::HashSet<_>>()
            .len()
            >= 100
    })
    .await;
    // In order per file: the old file's lines (0..70), then the new one's (70..100).
    let old: Vec<u32> = got
        .iter()
        .map(|s| number(&s.2))
        .filter(|n| *n < 70)
        .collect();
    let new: Vec<u32> = got
        .iter()
        .map(|s| number(&s.2))
        .filter(|n| *n >= 70)
        .collect();
    assert_eq!(old, (0..70).collect::<Vec<_>>());
    assert_eq!(new, (70..100).collect::<Vec<_>>());
    for s in got.iter().filter(|s| number(&s.2) >= 70) {
        assert_eq!(
            s.1,
            u64::from(number(&s.2) - 70) * 8,
            "offset in the new file: {s:?}"
        );
    }
    agent.stop().await;
}

#[tokio::test]
async fn truncation_restarts_at_zero_and_a_deleted_file_is_read_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut r = receiver(None, Faults::default()).await;
    let log = dir.path().join("app.log");
    append(&log, numbered(0..20));
    let agent = Agent::start(
        &data,
        &format!("{}/*.log", dir.path().display()),
        r.handle.local_addr().port(),
    );
    let mut got = Vec::new();
    receive_until(&mut r.batches, &mut got, |g| g.len() >= 20).await;

    // copytruncate: the same file, emptied, then written again.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    wait_for("the harvester to see the truncation", || {
        registry_offsets(&data) == vec![("app.log".to_string(), 0)]
    })
    .await;
    append(&log, numbered(100..103));
    receive_until(&mut r.batches, &mut got, |g| g.len() >= 23).await;
    let after: Vec<(u64, u32)> = got[20..].iter().map(|s| (s.1, number(&s.2))).collect();
    assert_eq!(after, vec![(0, 100), (9, 101), (18, 102)]);

    // Deleted while open: what was written before the delete still arrives.
    let mut writer = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::fs::remove_file(&log).unwrap();
    writeln!(writer, "line 103").unwrap();
    drop(writer);
    receive_until(&mut r.batches, &mut got, |g| g.len() >= 24).await;
    assert_eq!(got[23], ("app.log".to_string(), 27, "line 103".to_string()));
    agent.stop().await;
}

/// The real binary, killed with SIGKILL mid-stream and restarted: every line arrives,
/// and only what was not yet recorded as acked at a kill is sent again.
#[tokio::test]
async fn sigkill_and_restart_lose_no_line() {
    const LINES: u32 = 30_000;
    let dir = tempfile::tempdir().unwrap();
    let mut r = receiver(None, Faults::default()).await;
    let log = dir.path().join("app.log");
    append(&log, numbered(0..LINES));
    let config = dir.path().join("lumberwatch.yml");
    std::fs::write(
        &config,
        format!(
            "lumberwatch.inputs:\n  - type: filestream\n    paths: [\"{dir}/*.log\"]\n    prospector.scanner.check_interval: 100ms\n\
             output.logstash:\n  hosts: [\"127.0.0.1:{port}\"]\n  bulk_max_size: 500\n  backoff.init: 10ms\n  backoff.max: 200ms\n\
             path.data: \"{dir}/data\"\nlogging.metrics.enabled: false\n",
            dir = dir.path().display(),
            port = r.handle.local_addr().port(),
        ),
    )
    .unwrap();
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_lumberwatch"))
            .args(["run", "-c"])
            .arg(&config)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut got = Vec::new();
    let distinct = |g: &[Shipped]| {
        g.iter()
            .map(|s| number(&s.2))
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    for kill in 1..=4 {
        let mut child = spawn();
        let want = kill * 5_000;
        receive_until(&mut r.batches, &mut got, |g| distinct(g) >= want).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let mut child = spawn();
    receive_until(&mut r.batches, &mut got, |g| distinct(g) >= LINES as usize).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let duplicates = got.len() - LINES as usize;
    eprintln!("{LINES} lines, 4 SIGKILLs: {duplicates} duplicates");
    // Every line arrived (the loop above waits for all of them). Duplicates are what was
    // acked after the last registry write (at most 1 s of shipping) plus what was in
    // flight at each kill, so their count depends on speed; it is reported, not bounded.
}

/// Notifications, not the scan, find a file created while the agent runs: with a
/// `check_interval` of an hour, its line can only arrive through them.
#[tokio::test]
async fn a_file_created_after_start_is_found_without_waiting_for_check_interval() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = receiver(None, Faults::default()).await;
    append(&dir.path().join("a.log"), ["line 0".to_string()]);
    let mut fs = FilestreamConfig::new(vec![format!("{}/*.log", dir.path().display())]);
    fs.check_interval = Duration::from_secs(3600);
    let agent = Agent::start_with(&dir.path().join("data"), fs, r.handle.local_addr().port());
    let mut got = Vec::new();
    // The first scan is done once a.log's line arrives; b.log is created after it.
    receive_until(&mut r.batches, &mut got, |g| !g.is_empty()).await;
    append(&dir.path().join("b.log"), ["line 1".to_string()]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while got.len() < 2 {
        let batch = tokio::time::timeout_at(deadline, r.batches.recv())
            .await
            .unwrap_or_else(|_| panic!("new file not shipped within 10 s; got {got:?}"))
            .expect("receiver alive");
        got.extend(batch.events.iter().map(|e| shipped(e)));
    }
    // And a line appended to a file being read arrives the same way.
    append(&dir.path().join("a.log"), ["line 2".to_string()]);
    receive_until(&mut r.batches, &mut got, |g| g.len() >= 3).await;
    got.sort();
    let want: Vec<Shipped> = [
        ("a.log", 0, "line 0"),
        ("a.log", 7, "line 2"),
        ("b.log", 0, "line 1"),
    ]
    .into_iter()
    .map(|(f, o, m)| (f.to_string(), o, m.to_string()))
    .collect();
    assert_eq!(got, want);
    agent.stop().await;
}

/// `parsers: [multiline]`: a stack trace is one event flagged `multiline`, the last
/// event is sent by the timeout, and the registry ends past every line.
#[tokio::test]
async fn multiline_events_are_joined_flagged_and_the_last_one_sent_on_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut r = receiver(None, Faults::default()).await;
    let log = dir.path().join("app.log");
    let lines = [
        "[2024-01-01] ERROR boom",
        "java.lang.IllegalStateException: bad",
        "    at a.B.c(B.java:1)",
        "[2024-01-01] INFO fine",
        "[2024-01-01] WARN last",
        "    continued",
    ];
    append(&log, lines.iter().map(|l| l.to_string()));
    let mut fs = FilestreamConfig::new(vec![format!("{}/*.log", dir.path().display())]);
    fs.check_interval = Duration::from_millis(50);
    fs.multiline = Some(lumberwatch::config::MultilineConfig {
        pattern: r"^\[".into(),
        negate: true,
        match_: lumberwatch::config::MultilineMatch::After,
        max_lines: 500,
        timeout: Duration::from_millis(200),
    });
    let agent = Agent::start_with(&data, fs, r.handle.local_addr().port());
    let mut events: Vec<Value> = Vec::new();
    let deadline = tokio::time::Instant::now() + LIMIT;
    while events.len() < 3 {
        let batch = tokio::time::timeout_at(deadline, r.batches.recv())
            .await
            .unwrap_or_else(|_| panic!("3 events not shipped in time; got {events:?}"))
            .expect("receiver alive");
        events.extend(
            batch
                .events
                .iter()
                .map(|e| serde_json::from_slice(e).unwrap()),
        );
    }
    let offset = |i: usize| lines[..i].iter().map(|l| l.len() as u64 + 1).sum::<u64>();
    let summary: Vec<(u64, String, Value)> = events
        .iter()
        .map(|e| {
            (
                e["log"]["offset"].as_u64().unwrap(),
                e["message"].as_str().unwrap().to_string(),
                e["log"]["flags"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, lines[..3].join("\n"), serde_json::json!(["multiline"])),
            (offset(3), lines[3].to_string(), Value::Null),
            (
                offset(4),
                lines[4..].join("\n"),
                serde_json::json!(["multiline"])
            ),
        ]
    );
    let end = offset(6);
    wait_for("registry at the end of the last line", || {
        registry_offsets(&data) == vec![("app.log".to_string(), end)]
    })
    .await;
    agent.stop().await;
}

/// `file_identity.fingerprint`: a file is not read until it has `length` bytes, and a
/// copy of it under a new inode is the same file (resumed, not read again).
#[tokio::test]
async fn fingerprint_identity_waits_for_length_bytes_and_follows_content_not_inode() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut r = receiver(None, Faults::default()).await;
    let log = dir.path().join("app.log");
    append(&log, ["line 0".to_string()]);
    let mut fs = FilestreamConfig::new(vec![format!("{}/*.log", dir.path().display())]);
    fs.check_interval = Duration::from_millis(50);
    fs.fingerprint = Some(lumberwatch::config::FingerprintConfig {
        offset: 0,
        length: 64,
    });
    let agent = Agent::start_with(&data, fs, r.handle.local_addr().port());
    // 7 bytes < 64: not read, however many scans pass.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        r.batches.try_recv().is_err(),
        "a file shorter than length was read"
    );
    append(&log, numbered(1..10));
    let mut got = Vec::new();
    receive_until(&mut r.batches, &mut got, |g| g.len() >= 10).await;
    let size = std::fs::metadata(&log).unwrap().len();
    wait_for("lines acked", || {
        registry_offsets(&data) == vec![("app.log".to_string(), size)]
    })
    .await;
    // Same content under a new inode, then one more line: only that line is new.
    let copy = dir.path().join("app.tmp");
    std::fs::copy(&log, &copy).unwrap();
    std::fs::rename(&copy, &log).unwrap();
    append(&log, ["line 10".to_string()]);
    receive_until(&mut r.batches, &mut got, |g| g.len() >= 11).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(batch) = r.batches.try_recv() {
        got.extend(batch.events.iter().map(|e| shipped(e)));
    }
    let numbers: Vec<u32> = got.iter().map(|(_, _, m)| number(m)).collect();
    assert_eq!(numbers, (0..11).collect::<Vec<_>>());
    assert_eq!(got[10].1, size, "resumed at the acked offset");
    agent.stop().await;
}

#[tokio::test]
async fn a_removed_files_entry_is_cleaned_so_a_new_file_on_its_inode_starts_at_zero() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let data = dir.path().join("data");
    let mut r = receiver(None, Faults::default()).await;
    let mut fs = FilestreamConfig::new(vec![format!("{}/*.log", logs.display())]);
    fs.check_interval = Duration::from_millis(50);
    fs.close_inactive = Duration::from_millis(200);
    let agent = Agent::start_with(&data, fs, r.handle.local_addr().port());

    let old = logs.join("old.log");
    append(&old, numbered(0..5));
    let old_size = std::fs::metadata(&old).unwrap().len();
    let old_inode = std::fs::metadata(&old).unwrap().ino();
    let mut got = Vec::new();
    receive_until(&mut r.batches, &mut got, |g| g.len() >= 5).await;
    wait_for("old.log acked in the registry", || {
        registry_offsets(&data).contains(&("old.log".to_string(), old_size))
    })
    .await;
    // Its harvester closes as inactive; only then is the file deleted.
    tokio::time::sleep(Duration::from_millis(600)).await;
    std::fs::remove_file(&old).unwrap();
    wait_for("old.log's entry cleaned from the registry", || {
        registry_offsets(&data).is_empty()
    })
    .await;

    // Provoke reuse of the freed inode with files outside the glob; the one that gets
    // it (if any) becomes the new log, by rename, which keeps the inode.
    let mut reused = false;
    let mut candidates = Vec::new();
    for i in 0..50 {
        let candidate = logs.join(format!("candidate-{i}.tmp"));
        append(&candidate, numbered(100..130));
        if std::fs::metadata(&candidate).unwrap().ino() == old_inode {
            std::fs::rename(&candidate, logs.join("new.log")).unwrap();
            reused = true;
            break;
        }
        candidates.push(candidate);
    }
    if !reused {
        // No reuse on this filesystem (tmpfs numbers inodes afresh): the new file still
        // must start at 0, and the clean itself is asserted above and in the scanner's
        // unit tests.
        eprintln!("inode {old_inode} was not reused; new.log is a fresh inode");
        std::fs::rename(candidates.pop().unwrap(), logs.join("new.log")).unwrap();
    }
    for c in candidates {
        std::fs::remove_file(c).unwrap();
    }
    receive_until(&mut r.batches, &mut got, |g| {
        g.iter().filter(|(f, _, _)| f == "new.log").count() >= 30
    })
    .await;
    let new: Vec<u32> = got
        .iter()
        .filter(|(f, _, _)| f == "new.log")
        .map(|(_, _, m)| number(m))
        .collect();
    assert_eq!(
        new,
        (100..130).collect::<Vec<_>>(),
        "reused inode: {reused}"
    );
    let first = got.iter().find(|(f, _, _)| f == "new.log").unwrap();
    assert_eq!(first.1, 0, "new.log starts at offset 0");
    agent.stop().await;
}
