//! The file input under chaos: a model-based rotation test (a seeded random sequence of
//! rename-rotations, copytruncates and delete + re-creates while a writer appends), the
//! real binary SIGKILLed and restarted over and over, and the receiver crashing and
//! coming back on the same port. Each asserts "every line at least once, in order per
//! file" and prints the duplicates. Every wait polls a condition under a deadline.
//!
//! `LUMBERWATCH_CHAOS_SEED=N` replays a rotation sequence; `LUMBERWATCH_LONG_TESTS=1`
//! runs the crash test at the size (1,000,000 lines, 20 kills).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lumberwatch::config::{
    Config, FilestreamConfig, InputCommon, InputConfig, InputKind, OutputConfig,
};
use lumberwatch::receive::{Faults, ReceivedBatch};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::support::{logstash, receiver, receiver_with};

const LIMIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(5);

fn long_tests() -> bool {
    std::env::var_os("LUMBERWATCH_LONG_TESTS").is_some_and(|v| v == "1")
}

/// splitmix64: a seeded, printable, dependency-free sequence for the model.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// In `lo..=hi`.
    fn between(&mut self, lo: u32, hi: u32) -> u32 {
        lo + u32::try_from(self.next() % u64::from(hi - lo + 1)).expect("below hi")
    }
}

/// What the receiver has seen of lines numbered `0..capacity`.
struct Seen {
    /// Distinct line numbers in the order of their first arrival.
    first: Vec<u32>,
    got: Vec<bool>,
    total: usize,
    /// Events whose message is not a whole numbered line (a line cut or read from the
    /// middle): never expected.
    broken: Vec<String>,
}

impl Seen {
    fn new(capacity: usize) -> Self {
        Seen {
            first: Vec::new(),
            got: vec![false; capacity],
            total: 0,
            broken: Vec::new(),
        }
    }

    fn add(&mut self, n: u32) {
        let i = n as usize;
        if i >= self.got.len() {
            self.got.resize(i + 1, false);
        }
        self.total += 1;
        if !self.got[i] {
            self.got[i] = true;
            self.first.push(n);
        }
    }

    fn has(&self, n: u32) -> bool {
        self.got.get(n as usize).copied().unwrap_or(false)
    }

    fn distinct(&self) -> usize {
        self.first.len()
    }

    /// Missing numbers below `upto` as ranges, for failure messages.
    fn missing(&self, upto: u32) -> String {
        let mut out = Vec::new();
        let mut n = 0;
        while n < upto && out.len() < 20 {
            if self.has(n) {
                n += 1;
                continue;
            }
            let start = n;
            while n < upto && !self.has(n) {
                n += 1;
            }
            out.push(format!("{start}..{n}"));
        }
        out.join(" ")
    }
}

type Shared = Arc<Mutex<Seen>>;

/// The line number, or Err with the path, offset and message of a line that is not one.
fn message_number(event: &[u8]) -> Result<u32, String> {
    let v: Value = serde_json::from_slice(event).expect("events are JSON");
    let message = v["message"].as_str().expect("a message");
    message
        .strip_prefix("line ")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            format!(
                "{}@{}: {message:?}",
                v["log"]["file"]["path"], v["log"]["offset"]
            )
        })
}

/// Drains `batches` into `seen` until the receiver goes away.
fn collect_into(
    mut batches: mpsc::Receiver<ReceivedBatch>,
    seen: Shared,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(batch) = batches.recv().await {
            let numbers: Vec<_> = batch.events.iter().map(|e| message_number(e)).collect();
            let mut s = seen.lock().expect("seen lock");
            for n in numbers {
                match n {
                    Ok(n) => s.add(n),
                    Err(e) => s.broken.push(e),
                }
            }
        }
    })
}

/// Polls (blocking) until `cond` holds for what was seen, or panics after `limit`.
fn wait_seen(seen: &Shared, what: &str, limit: Duration, cond: impl Fn(&Seen) -> bool) {
    let deadline = Instant::now() + limit;
    loop {
        {
            let s = seen.lock().expect("seen lock");
            if cond(&s) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{what}: not within {limit:?} ({} distinct, {} received)",
                    s.distinct(),
                    s.total
                );
            }
        }
        std::thread::sleep(POLL);
    }
}

/// `wait_seen` from async code, without blocking a runtime worker.
async fn wait_seen_async(seen: &Shared, what: &str, cond: impl Fn(&Seen) -> bool) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        {
            let s = seen.lock().expect("seen lock");
            if cond(&s) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not within {LIMIT:?} ({} distinct, {} received; missing {})",
                s.distinct(),
                s.total,
                s.missing(u32::try_from(s.got.len()).expect("fits"))
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Asserts that, for each file, its lines first arrived in the order they were written.
fn assert_in_order_per_file(seen: &Seen, file_of: &[u32]) {
    assert!(
        seen.broken.is_empty(),
        "{} events are not whole lines, e.g. {:?}",
        seen.broken.len(),
        &seen.broken[..seen.broken.len().min(10)]
    );
    let mut last: Vec<Option<u32>> = Vec::new();
    for &n in &seen.first {
        let file = file_of[n as usize] as usize;
        if last.len() <= file {
            last.resize(file + 1, None);
        }
        if let Some(prev) = last[file] {
            assert!(
                n > prev,
                "file #{file}: line {n} first arrived after line {prev}"
            );
        }
        last[file] = Some(n);
    }
}

// ------------------------------------------------------------- model-based rotation

/// One step of the model: what happened to `app.log` after a burst of lines.
#[derive(Debug, Clone, Copy)]
enum Rotation {
    /// The logger keeps writing to the renamed file for a few lines, then opens a new one.
    Rename,
    /// Copy to `app.log.K`, then truncate `app.log` in place (the writer keeps O_APPEND).
    CopyTruncate,
    /// The file is deleted and a new one created under the same name.
    DeleteRecreate,
}

/// The writer: appends numbered lines and rotates `dir/app.log` as the seeded
/// sequence says, recording which file (0, 1, ...) each line was written to.
struct Model {
    dir: PathBuf,
    rng: Rng,
    writer: BufWriter<std::fs::File>,
    next_line: u32,
    /// File number of each line, by line number.
    file_of: Vec<u32>,
    file: u32,
    /// Line number of the current file's first line.
    file_first: u32,
    rotated: u32,
    ops: Vec<(u32, Rotation)>,
    /// (name, inode) of every file created, for failure messages.
    created: Vec<(String, u64)>,
}

impl Model {
    fn new(dir: &Path, seed: u64) -> Model {
        Model {
            dir: dir.to_path_buf(),
            rng: Rng(seed),
            writer: BufWriter::new(open_log(&dir.join("app.log"))),
            next_line: 0,
            file_of: Vec::new(),
            file: 0,
            file_first: 0,
            rotated: 0,
            ops: Vec::new(),
            created: vec![("app.log".into(), inode(&dir.join("app.log")))],
        }
    }

    fn log(&self) -> PathBuf {
        self.dir.join("app.log")
    }

    fn write_lines(&mut self, count: u32) {
        for _ in 0..count {
            writeln!(self.writer, "line {}", self.next_line).expect("write to the test file");
            self.file_of.push(self.file);
            self.next_line += 1;
        }
        self.writer.flush().expect("flush the test file");
    }

    fn new_file(&mut self) {
        self.file += 1;
        self.file_first = self.next_line;
    }

    fn created(&mut self, path: &Path) {
        let name = path
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        self.created.push((name, inode(path)));
    }

    fn next_rotated(&mut self) -> PathBuf {
        self.rotated += 1;
        self.dir.join(format!("app.log.{}", self.rotated))
    }

    fn step(&mut self, seen: &Shared) {
        let burst = self.rng.between(2, 300);
        self.write_lines(burst);
        let op = match self.rng.between(0, 5) {
            0 => Rotation::Rename,
            1 => Rotation::CopyTruncate,
            2 => Rotation::DeleteRecreate,
            _ => return,
        };
        self.ops.push((self.next_line, op));
        let log = self.log();
        match op {
            Rotation::Rename => {
                let to = self.next_rotated();
                std::fs::rename(&log, &to).expect("rename app.log");
                let late = self.rng.between(0, 20);
                self.write_lines(late);
                self.writer = BufWriter::new(open_log(&log));
                self.created(&log);
                self.new_file();
            }
            Rotation::CopyTruncate => {
                // Truncation is noticed as "the file is shorter than what was read": the
                // harvester must have read more than the one line written after it.
                let second = self.file_first + 1;
                wait_seen(
                    seen,
                    "the file's second line before copytruncate",
                    LIMIT,
                    |s| s.has(second),
                );
                let to = self.next_rotated();
                std::fs::copy(&log, &to).expect("copy app.log");
                self.created(&to);
                self.writer.get_ref().set_len(0).expect("truncate app.log");
                self.new_file();
                // More data than was read before the truncation is seen would look like
                // growth (Filebeat has the same limit): wait until it is seen.
                let first = self.next_line;
                self.write_lines(1);
                wait_seen(seen, "the first line after copytruncate", LIMIT, |s| {
                    s.has(first)
                });
            }
            Rotation::DeleteRecreate => {
                // Lines of a file deleted before anyone opened it are gone for any
                // shipper: delete only once a harvester holds it.
                let first = self.file_first;
                wait_seen(seen, "the file's first line before delete", LIMIT, |s| {
                    s.has(first)
                });
                std::fs::remove_file(&log).expect("delete app.log");
                self.writer = BufWriter::new(open_log(&log));
                self.created(&log);
                self.new_file();
            }
        }
    }
}

fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).map(|m| m.ino()).unwrap_or(0)
}

fn open_log(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open the test file")
}

fn seed() -> u64 {
    match std::env::var("LUMBERWATCH_CHAOS_SEED") {
        Ok(s) => s.parse().expect("LUMBERWATCH_CHAOS_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_nanos() as u64,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_renames_copytruncates_and_recreates_lose_no_line_and_keep_file_order() {
    const STEPS: u32 = 60;
    let seed = seed();
    eprintln!("rotation model: LUMBERWATCH_CHAOS_SEED={seed}");
    let dir = tempfile::tempdir().expect("temp dir");
    let r = receiver(None, Faults::default()).await;
    let seen: Shared = Arc::new(Mutex::new(Seen::new(0)));
    collect_into(r.batches, seen.clone());

    let mut fs = FilestreamConfig::new(vec![format!("{}/app.log*", dir.path().display())]);
    fs.check_interval = Duration::from_millis(50);
    let input = InputConfig {
        kind: InputKind::Filestream(fs),
        common: InputCommon {
            enabled: true,
            ..InputCommon::default()
        },
    };
    let hosts = [format!("127.0.0.1:{}", r.handle.local_addr().port())];
    let mut config = Config::new(vec![input], OutputConfig::Logstash(logstash(&hosts)));
    config.path_data = dir.path().join("data");
    config.logging.metrics_enabled = false;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(async move {
        lumberwatch::agent::run(
            &config,
            async {
                let _ = stopped.await;
            },
            |_| {},
        )
        .await
        .expect("agent runs")
    });

    let model_dir = dir.path().to_path_buf();
    let model_seen = seen.clone();
    let model = tokio::task::spawn_blocking(move || {
        let mut model = Model::new(&model_dir, seed);
        for _ in 0..STEPS {
            model.step(&model_seen);
        }
        model
    })
    .await
    .unwrap_or_else(|e| panic!("model (LUMBERWATCH_CHAOS_SEED={seed}) failed: {e}"));
    let lines = model.next_line;
    let ops = &model.ops;
    let what = format!(
        "all {lines} lines (LUMBERWATCH_CHAOS_SEED={seed}; ops as (lines written before, op): {ops:?}; \
         files created (name, inode): {:?})",
        model.created
    );
    wait_seen_async(&seen, &what, |s| {
        s.distinct() >= lines as usize || !s.broken.is_empty()
    })
    .await;

    let duplicates = {
        let s = seen.lock().expect("seen lock");
        assert!(s.broken.is_empty(), "{what}: {:?}", s.broken);
        assert_in_order_per_file(&s, &model.file_of);
        s.total - s.distinct()
    };
    let count = |op: fn(&Rotation) -> bool| ops.iter().filter(|(_, o)| op(o)).count();
    eprintln!(
        "rotation model (seed {seed}): {lines} lines in {} files; {} renames, {} copytruncates, \
         {} delete+recreates; {duplicates} duplicates",
        model.file + 1,
        count(|o| matches!(o, Rotation::Rename)),
        count(|o| matches!(o, Rotation::CopyTruncate)),
        count(|o| matches!(o, Rotation::DeleteRecreate)),
    );
    let _ = stop.send(());
    tokio::time::timeout(LIMIT, agent)
        .await
        .expect("agent stops in time")
        .expect("agent task");
}

// ------------------------------------------------------------- the real binary

fn write_config(dir: &Path, port: u16, extra: &str) -> PathBuf {
    let config = dir.join("lumberwatch.yml");
    std::fs::write(
        &config,
        format!(
            "lumberwatch.inputs:\n  - type: filestream\n    paths: [\"{dir}/*.log\"]\n    prospector.scanner.check_interval: 100ms\n\
             output.logstash:\n  hosts: [\"127.0.0.1:{port}\"]\n  backoff.init: 10ms\n  backoff.max: 100ms\n\
             path.data: \"{dir}/data\"\nlogging.metrics.enabled: false\n{extra}",
            dir = dir.display(),
        ),
    )
    .expect("write the config");
    config
}

/// `lumberwatch run -c CONFIG`, its stderr appended to `dir/agent.err` for failures.
fn spawn_agent(dir: &Path, config: &Path) -> Child {
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("agent.err"))
        .expect("agent log");
    Command::new(env!("CARGO_BIN_EXE_lumberwatch"))
        .args(["run", "-c"])
        .arg(config)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("start lumberwatch run")
}

fn sigkill(child: &mut Child) {
    child.kill().expect("SIGKILL our child");
    child.wait().expect("reap our child");
}

/// Appends `line from..to` to `path` in chunks, from a thread (the writer of the log).
fn append_in_background(path: PathBuf, from: u32, to: u32) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut w = BufWriter::new(open_log(&path));
        for n in from..to {
            writeln!(w, "line {n}").expect("append");
            if n % 2_000 == 1_999 {
                w.flush().expect("flush");
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        w.flush().expect("flush");
    })
}

/// The real binary SIGKILLed at random points while a writer appends: every line
/// arrives, in order of first arrival; the duplicates (what was acked after the last
/// registry write, at most 1 s of shipping, plus what was in flight) are printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_and_restart_many_times_while_appending_lose_no_line() {
    let (lines, kills): (u32, u32) = if long_tests() {
        (1_000_000, 20)
    } else {
        (200_000, 20)
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let r = receiver(None, Faults::default()).await;
    let seen: Shared = Arc::new(Mutex::new(Seen::new(lines as usize)));
    collect_into(r.batches, seen.clone());
    let log = dir.path().join("app.log");
    let head = lines / 2;
    append_in_background(log.clone(), 0, head)
        .join()
        .expect("writer");
    let writer = append_in_background(log, head, lines);
    // Offsets written after every ack: a kill re-ships only what was in flight.
    let config = write_config(
        dir.path(),
        r.handle.local_addr().port(),
        "filebeat.registry.flush: 0\n",
    );
    let seed = seed();
    let mut rng = Rng(seed);
    let step = lines / (kills + 1);
    let started = Instant::now();
    for kill in 0..kills {
        let mut agent = spawn_agent(dir.path(), &config);
        let before = seen.lock().expect("seen lock").distinct();
        let want = before + rng.between(step / 4, step * 7 / 4) as usize;
        let want = want.min(lines as usize - 1);
        // The registry is written at most once a second: kill at random times around
        // that, or after a random share of the lines, whichever comes first; each run
        // makes some progress.
        let spawned = Instant::now();
        let delay = Duration::from_millis(u64::from(rng.between(200, 2_000)));
        wait_seen_async(&seen, &format!("progress before kill {kill}"), |s| {
            s.distinct() >= want || (spawned.elapsed() >= delay && s.distinct() > before)
        })
        .await;
        sigkill(&mut agent);
    }
    let mut agent = spawn_agent(dir.path(), &config);
    let all = wait_seen_async(&seen, "every line after the last restart", |s| {
        s.distinct() >= lines as usize
    });
    if let Err(e) = tokio::time::timeout(LIMIT * 2, all).await {
        let log = std::fs::read_to_string(dir.path().join("agent.err")).unwrap_or_default();
        panic!("{e}\n{log}");
    }
    sigkill(&mut agent);
    writer.join().expect("writer");
    let s = seen.lock().expect("seen lock");
    let file_of = vec![0u32; lines as usize];
    assert_in_order_per_file(&s, &file_of);
    let duplicates = s.total - s.distinct();
    eprintln!(
        "crash test (seed {seed}): {lines} lines, {kills} SIGKILLs, {:.1} s: 0 missing, {duplicates} duplicates",
        started.elapsed().as_secs_f64(),
    );
    // In flight at a kill: the queue (queue.mem.events 3200) plus what the output holds
    // (pipelining 2 batches sent + 1 being encoded, bulk_max_size 2048 each).
    let in_flight = 3200 + 3 * 2048;
    assert!(
        duplicates <= kills as usize * in_flight,
        "{duplicates} duplicates over {kills} kills exceed what can be in flight ({in_flight} per kill)"
    );
}

/// The receiver (Logstash) crashes twice mid-stream and comes back on the same port:
/// the agent reconnects and re-sends what was not acked; nothing is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_crashing_and_restarting_on_the_same_port_loses_no_line() {
    const LINES: u32 = 100_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let seen: Shared = Arc::new(Mutex::new(Seen::new(LINES as usize)));
    let r = receiver(None, Faults::default()).await;
    let addr = r.handle.local_addr();
    let mut collector = collect_into(r.batches, seen.clone());
    let mut handle = r.handle;
    let writer = append_in_background(dir.path().join("app.log"), 0, LINES);
    let config = write_config(dir.path(), addr.port(), "");
    let mut agent = spawn_agent(dir.path(), &config);
    for (crash, at) in [LINES / 4, LINES / 2].into_iter().enumerate() {
        wait_seen_async(&seen, &format!("{at} distinct before crash {crash}"), |s| {
            s.distinct() >= at as usize
        })
        .await;
        // Aborting the receiver's task drops every connection mid-batch, as a crash does;
        // events it handed over before are kept.
        handle.stop().await;
        // What it handed over before the crash counts first, as it arrived first.
        tokio::time::timeout(LIMIT, collector)
            .await
            .expect("the crashed receiver's batches drained in time")
            .expect("collector task");
        let deadline = Instant::now() + Duration::from_secs(10);
        let next = loop {
            // `receiver_with` panics when the port is still taken: retry that, bounded.
            let attempt = tokio::spawn(receiver_with(move |c| c.listen = addr)).await;
            match attempt {
                Ok(r) => break r,
                Err(e) if Instant::now() >= deadline => panic!("no receiver on {addr}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        collector = collect_into(next.batches, seen.clone());
        handle = next.handle;
    }
    wait_seen_async(&seen, "every line after the crashes", |s| {
        s.distinct() >= LINES as usize
    })
    .await;
    sigkill(&mut agent);
    writer.join().expect("writer");
    let duplicates = {
        let s = seen.lock().expect("seen lock");
        assert_in_order_per_file(&s, &vec![0u32; LINES as usize]);
        s.total - s.distinct()
    };
    let log = std::fs::read_to_string(dir.path().join("agent.err")).unwrap_or_default();
    let failures = log.matches("logstash connection failed").count();
    assert!(
        failures >= 2,
        "the agent saw both crashes (connection failures logged: {failures})\n{log}"
    );
    eprintln!(
        "receiver crashes: {LINES} lines, 2 crashes ({failures} connection failures seen by the agent): 0 missing, {duplicates} duplicates"
    );
    handle.stop().await;
}
