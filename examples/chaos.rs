//! The chaos run (`benches/chaos.sh`): for a bounded time, a writer appends numbered
//! lines to rotating files and a sender sends numbered syslog messages over TCP while a
//! flatline rule raises alerts; the receiver (`lumberwatch receive --ack-after-write`,
//! like Logstash with a persistent queue) is SIGKILLed and restarted at random, and so
//! is the agent. At the end everything is brought up, given time to drain, and counted:
//!
//! - every file line written must arrive (files are read again from the registry);
//! - every syslog message and alert the agent *accepted* must arrive. Accepted means
//!   written to its disk queue: after every agent kill the queue's segments are read
//!   (before the restart), so what they held is known; what arrived was accepted too.
//!   Messages still in the kernel's socket buffer when the agent died were never
//!   accepted (syslog over TCP has no acks) and are reported apart, not as lost.
//!
//! Prints `lost=0 duplicated=N kills=K restarts=R max_rss=...` and exits non-zero if
//! anything accepted was lost.

use std::collections::{BTreeSet, HashSet};
use std::io::{BufRead, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use clap::Parser;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

#[derive(Parser)]
struct Args {
    /// The lumberwatch binary to run.
    #[arg(long, default_value = "target/release/lumberwatch")]
    bin: PathBuf,
    /// How long the chaos lasts (then it goes on until --kills and --restarts are reached,
    /// up to twice as long).
    #[arg(long, default_value_t = 240)]
    seconds: u64,
    /// Agent SIGKILLs to reach at least.
    #[arg(long, default_value_t = 50)]
    kills: u32,
    /// Receiver restarts to reach at least.
    #[arg(long, default_value_t = 50)]
    restarts: u32,
    /// File lines written per second.
    #[arg(long, default_value_t = 2000)]
    lines_per_sec: u64,
    /// Syslog messages sent per second.
    #[arg(long, default_value_t = 1000)]
    messages_per_sec: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Working directory (default: a new temporary one, removed at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Ports picked free at start.
struct Ports {
    logstash: u16,
    syslog: u16,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().unwrap().port()
}

fn config(dir: &Path, ports: &Ports) -> String {
    format!(
        r#"lumberwatch.inputs:
  - type: filestream
    id: chaos-files
    paths: ["{logs}/app.log*"]
    prospector.scanner.check_interval: 200ms
  - type: syslog
    id: chaos-syslog
    protocol.tcp.host: "127.0.0.1:{syslog}"
lumberwatch.rules:
  - name: chaos-silent
    type: flatline
    key: log.source.ip
    expected: [127.0.0.9]
    window: 3s
    realert: 3s
lumberwatch.stats.bucket: 1s
lumberwatch.rules_check_interval: 1s
lumberwatch.stall_warning: 0
queue.disk.max_size: 512MiB
output.logstash:
  hosts: ["127.0.0.1:{logstash}"]
  timeout: 2s
  backoff.init: 100ms
  backoff.max: 500ms
path.data: {data}
logging.metrics.enabled: false
"#,
        logs = dir.join("logs").display(),
        data = dir.join("data").display(),
        syslog = ports.syslog,
        logstash = ports.logstash,
    )
}

struct Procs {
    bin: PathBuf,
    dir: PathBuf,
    config: PathBuf,
    logstash: u16,
    agent: Option<Child>,
    receiver: Option<Child>,
    receivers_started: u32,
    max_rss_kib: u64,
}

impl Procs {
    fn start_agent(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("agent.log"))
            .expect("agent log");
        let child = Command::new(&self.bin)
            .args(["run", "-c"])
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the agent");
        self.agent = Some(child);
    }

    fn start_receiver(&mut self) {
        self.receivers_started += 1;
        let out = self
            .dir
            .join(format!("received/{:04}.jsonl", self.receivers_started));
        let child = Command::new(&self.bin)
            .args(["receive", "--ack-after-write", "--listen"])
            .arg(format!("127.0.0.1:{}", self.logstash))
            .arg("--out")
            .arg(out)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the receiver");
        self.receiver = Some(child);
    }

    fn note_rss(&mut self) {
        if let Some(agent) = &self.agent
            && let Some(kib) = peak_rss_kib(agent.id())
        {
            self.max_rss_kib = self.max_rss_kib.max(kib);
        }
    }

    /// Fails the run if the agent exited by itself (a config error, a crash).
    fn check_agent(&mut self) {
        if let Some(agent) = self.agent.as_mut()
            && let Ok(Some(status)) = agent.try_wait()
        {
            let log = std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(10).collect();
            eprintln!("the agent exited by itself ({status}):");
            for line in tail.into_iter().rev() {
                eprintln!("  {line}");
            }
            std::process::exit(2);
        }
    }

    fn kill_agent(&mut self) {
        self.check_agent();
        self.note_rss();
        if let Some(mut agent) = self.agent.take() {
            let _ = agent.kill();
            let _ = agent.wait();
        }
    }

    fn kill_receiver(&mut self) {
        if let Some(mut receiver) = self.receiver.take() {
            let _ = receiver.kill();
            let _ = receiver.wait();
        }
    }

    fn stop(&mut self) {
        self.check_agent();
        self.note_rss();
        if let Some(mut agent) = self.agent.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) };
            let _ = agent.wait();
        }
        self.kill_receiver();
    }
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Appends numbered lines, renaming the file away every `rotate_every` lines.
fn write_files(dir: PathBuf, rate: u64, stop: Arc<AtomicBool>, written: Arc<AtomicU64>) {
    let rotate_every = rate * 3;
    let path = dir.join("app.log");
    let mut file = std::fs::File::create(&path).expect("create the log");
    let start = Instant::now();
    let mut n = 0u64;
    let mut rotations = 0;
    while !stop.load(Relaxed) {
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        if n >= due {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let mut buf = String::new();
        while n < due {
            buf.push_str(&format!("chaos-file {n}\n"));
            n += 1;
            if n.is_multiple_of(rotate_every) {
                file.write_all(buf.as_bytes()).expect("write the log");
                buf.clear();
                rotations += 1;
                std::fs::rename(&path, dir.join(format!("app.log.{rotations:04}"))).unwrap();
                file = std::fs::File::create(&path).expect("create the log");
            }
        }
        file.write_all(buf.as_bytes()).expect("write the log");
        written.store(n, Relaxed);
    }
}

/// Sends numbered messages, reconnecting while the agent is down.
fn send_syslog(port: u16, rate: u64, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) {
    let start = Instant::now();
    let mut n = 0u64;
    let mut conn: Option<TcpStream> = None;
    while !stop.load(Relaxed) {
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        if n >= due {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let stream = match conn.as_mut() {
            Some(s) => s,
            None => match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => conn.insert(s),
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            },
        };
        let line = format!("<13>Nov 23 10:00:00 chaos app: chaos-syslog {n}\n");
        match stream.write_all(line.as_bytes()) {
            Ok(()) => {
                n += 1;
                sent.store(n, Relaxed);
            }
            Err(_) => conn = None,
        }
    }
}

/// What arrived at the receivers, by kind.
#[derive(Default)]
struct Arrived {
    events: u64,
    /// Events per kind: files, syslog, alerts.
    per_kind: [u64; 3],
    files: HashSet<u64>,
    syslog: HashSet<u64>,
    alerts: HashSet<String>,
}

/// What an event is: a file line, a syslog message or an alert (by its whole JSON).
enum Kind {
    File(u64),
    Syslog(u64),
    Alert(String),
    Other,
}

fn classify(json: &str) -> Kind {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return Kind::Other;
    };
    if v["tags"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t == "lumberwatch-alert"))
    {
        return Kind::Alert(json.to_string());
    }
    let message = v["message"].as_str().unwrap_or("");
    let number = |prefix: &str| {
        let at = message.find(prefix)? + prefix.len();
        message[at..].trim().parse().ok()
    };
    if let Some(n) = number("chaos-file ") {
        Kind::File(n)
    } else if let Some(n) = number("chaos-syslog ") {
        Kind::Syslog(n)
    } else {
        Kind::Other
    }
}

fn arrived(dir: &Path) -> Arrived {
    let mut a = Arrived::default();
    let Ok(entries) = std::fs::read_dir(dir.join("received")) else {
        return a;
    };
    for entry in entries.flatten() {
        let Ok(file) = std::fs::File::open(entry.path()) else {
            continue;
        };
        for line in std::io::BufReader::new(file).lines().map_while(Result::ok) {
            a.events += 1;
            match classify(&line) {
                Kind::File(n) => {
                    a.per_kind[0] += 1;
                    a.files.insert(n);
                }
                Kind::Syslog(n) => {
                    a.per_kind[1] += 1;
                    a.syslog.insert(n);
                }
                Kind::Alert(json) => {
                    a.per_kind[2] += 1;
                    a.alerts.insert(json);
                }
                Kind::Other => {}
            }
        }
    }
    a
}

/// What the agent's disk queue holds, read after a kill.
fn accepted_in_queue(dir: &Path, syslog: &mut BTreeSet<u64>, alerts: &mut HashSet<String>) {
    let payloads = lumberwatch::queue::payloads(&dir.join("data/spool")).unwrap_or_default();
    for payload in payloads {
        match classify(&String::from_utf8_lossy(&payload)) {
            Kind::Syslog(n) => {
                syslog.insert(n);
            }
            Kind::Alert(json) => {
                alerts.insert(json);
            }
            Kind::File(_) | Kind::Other => {}
        }
    }
}

fn main() {
    let args = Args::parse();
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    for sub in ["logs", "data", "received"] {
        std::fs::create_dir_all(dir.join(sub)).expect("create the work dirs");
    }
    let ports = Ports {
        logstash: free_port(),
        syslog: free_port(),
    };
    let config_path = dir.join("chaos.yml");
    std::fs::write(&config_path, config(&dir, &ports)).expect("write the config");
    let mut procs = Procs {
        bin: args.bin.clone(),
        dir: dir.clone(),
        config: config_path,
        logstash: ports.logstash,
        agent: None,
        receiver: None,
        receivers_started: 0,
        max_rss_kib: 0,
    };
    let mut rng = StdRng::seed_from_u64(args.seed);
    let stop = Arc::new(AtomicBool::new(false));
    let (lines, messages) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    procs.start_receiver();
    procs.start_agent();
    let writer = {
        let (logs, stop, lines) = (dir.join("logs"), stop.clone(), lines.clone());
        let rate = args.lines_per_sec;
        std::thread::spawn(move || write_files(logs, rate, stop, lines))
    };
    let sender = {
        let (stop, messages) = (stop.clone(), messages.clone());
        let (port, rate) = (ports.syslog, args.messages_per_sec);
        std::thread::spawn(move || send_syslog(port, rate, stop, messages))
    };

    let (mut kills, mut restarts) = (0u32, 0u32);
    let mut accepted_syslog = BTreeSet::new();
    let mut accepted_alerts = HashSet::new();
    let start = Instant::now();
    let mut last_progress = Instant::now();
    let limit = Duration::from_secs(args.seconds);
    while start.elapsed() < limit
        || ((kills < args.kills || restarts < args.restarts) && start.elapsed() < limit * 2)
    {
        std::thread::sleep(Duration::from_millis(rng.random_range(300..2500)));
        procs.check_agent();
        procs.note_rss();
        let kill_agent = if kills >= args.kills {
            false
        } else if restarts >= args.restarts {
            true
        } else {
            rng.random_bool(0.5)
        };
        if kill_agent {
            procs.kill_agent();
            kills += 1;
            accepted_in_queue(&dir, &mut accepted_syslog, &mut accepted_alerts);
            std::thread::sleep(Duration::from_millis(rng.random_range(0..500)));
            procs.start_agent();
        } else {
            procs.kill_receiver();
            std::thread::sleep(Duration::from_millis(rng.random_range(0..1500)));
            procs.start_receiver();
            restarts += 1;
        }
        if last_progress.elapsed() >= Duration::from_secs(10) {
            last_progress = Instant::now();
            eprintln!(
                "t={}s kills={kills} restarts={restarts} lines={} messages={} max_rss={}MiB",
                start.elapsed().as_secs(),
                lines.load(Relaxed),
                messages.load(Relaxed),
                procs.max_rss_kib / 1024
            );
        }
    }
    stop.store(true, Relaxed);
    writer.join().expect("writer");
    sender.join().expect("sender");
    let (lines, messages) = (lines.load(Relaxed), messages.load(Relaxed));

    // Everything written must now arrive: wait for it, bounded.
    eprintln!("chaos over after {}s; draining", start.elapsed().as_secs());
    let drain = Instant::now();
    let mut got = arrived(&dir);
    while drain.elapsed() < Duration::from_secs(120) {
        let done = (0..lines).all(|n| got.files.contains(&n))
            && accepted_syslog.iter().all(|n| got.syslog.contains(n))
            && accepted_alerts.iter().all(|a| got.alerts.contains(a));
        if done {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
        got = arrived(&dir);
    }
    procs.stop();
    let got = arrived(&dir);

    accepted_syslog.extend(got.syslog.iter().copied());
    accepted_alerts.extend(got.alerts.iter().cloned());
    let lost_files = (0..lines).filter(|n| !got.files.contains(n)).count();
    let lost_syslog = accepted_syslog
        .iter()
        .filter(|n| !got.syslog.contains(n))
        .count();
    let lost_alerts = accepted_alerts
        .iter()
        .filter(|a| !got.alerts.contains(*a))
        .count();
    let distinct = (got.files.len() + got.syslog.len() + got.alerts.len()) as u64;
    let lost = lost_files + lost_syslog + lost_alerts;
    let never_accepted = messages - accepted_syslog.len() as u64;
    println!(
        "lost={lost} duplicated={} kills={kills} restarts={restarts} max_rss={:.1}MiB",
        got.events.saturating_sub(distinct),
        procs.max_rss_kib as f64 / 1024.0
    );
    let [files, syslog, alerts] = got.per_kind;
    println!(
        "file_lines={lines} (lost {lost_files}, duplicated {}) syslog_sent={messages} accepted={} (lost {lost_syslog}, duplicated {}, in the kernel at a kill: {never_accepted}) alerts={} (lost {lost_alerts}, duplicated {}) events_received={} seconds={}",
        files - got.files.len() as u64,
        accepted_syslog.len(),
        syslog - got.syslog.len() as u64,
        accepted_alerts.len(),
        alerts - got.alerts.len() as u64,
        got.events,
        start.elapsed().as_secs()
    );
    if lost > 0 {
        eprintln!("work dir kept: {}", tmp.keep().display());
        std::process::exit(1);
    }
}
