//! The real `lumberwatch` binary through its command line: `test config`, `test output`,
//! `run` shipping to `receive` child processes (plain, TLS, mutual TLS), signals, a
//! receiver killed and restarted on the same port, garbage on the receiver's port,
//! `demo`, `bench syslog-udp`, `rig hello` and `rig poll`, and syslog senders on several
//! loopback addresses. Every wait polls for a concrete condition under a deadline.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::cert;

mod bench;
mod config;
mod connections;
mod disk_queue;
mod hostile;
mod http;
mod output;
mod receive;
mod rig;
mod rules;
mod run;
mod syslog;

const EXE: &str = env!("CARGO_BIN_EXE_lumberwatch");
/// How long any single command may take before the test calls it hung.
const COMMAND_LIMIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(20);

/// Environment variables the example configs and these tests expand; removed from
/// every child so the caller's environment cannot change the outcome.
const TEST_VARS: [&str; 6] = [
    "LOGSTASH_HOST",
    "BEAT_NAME",
    "LW_CLI_TEST_HOST",
    "LW_CLI_TEST_PORT",
    "LW_CLI_TEST_BULK",
    "RUST_LOG",
];

fn lumberwatch(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(EXE);
    cmd.args(args).current_dir(dir);
    for var in TEST_VARS {
        cmd.env_remove(var);
    }
    cmd
}

/// Retries `check` every 20 ms until it returns `Some`, or panics after `limit` with
/// `what` and whatever `context` says about the state of things at that moment.
fn poll<T>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> Option<T>,
    context: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("{what}: not within {limit:?}\n{}", context());
        }
        std::thread::sleep(POLL);
    }
}

type Captured = Arc<Mutex<Vec<u8>>>;

fn capture(mut from: impl Read + Send + 'static) -> (Captured, JoinHandle<()>) {
    let buf = Captured::default();
    let sink = buf.clone();
    let reader = std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = from.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink.lock()
                .expect("capture lock")
                .extend_from_slice(&chunk[..n]);
        }
    });
    (buf, reader)
}

/// A child process whose stdout and stderr are drained by threads (it never blocks on a
/// full pipe) and kept for assertions and failure messages. Killed on drop.
struct Proc {
    name: String,
    child: Child,
    stdout: Captured,
    stderr: Captured,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command, stdin: Stdio) -> Proc {
        let mut child = cmd
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({EXE}): {e}"));
        let (stdout, out_reader) = capture(child.stdout.take().expect("stdout is piped"));
        let (stderr, err_reader) = capture(child.stderr.take().expect("stderr is piped"));
        Proc {
            name: name.to_string(),
            child,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
            status: None,
        }
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().expect("capture lock")).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("capture lock")).into_owned()
    }

    fn describe(&self) -> String {
        format!(
            "--- {} stdout ---\n{}--- {} stderr ---\n{}",
            self.name,
            self.stdout(),
            self.name,
            self.stderr()
        )
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait on our child");
        }
        self.status
    }

    /// Waits (bounded) for the process to exit, then for its output to be read to the end.
    fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.exited() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} did not exit within {limit:?}\n{}",
                    self.name,
                    self.describe()
                );
            }
            std::thread::sleep(POLL);
        };
        // The pipes close when the process is gone; nothing else holds them.
        for reader in self.readers.drain(..) {
            reader.join().expect("output reader thread");
        }
        status
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pids fit in pid_t");
        // SAFETY: kill(2) on the pid of our own, not yet reaped, child has no memory-safety
        // preconditions.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a command that should finish by itself; returns its status, stdout and stderr.
fn finish(name: &str, cmd: Command) -> (ExitStatus, String, String) {
    let mut p = Proc::spawn(name, cmd, Stdio::null());
    let status = p.wait(COMMAND_LIMIT);
    (status, p.stdout(), p.stderr())
}

/// A failure exit: non-zero, and a real exit rather than a signal or a panic (101).
fn assert_failed(status: ExitStatus, output: &str) {
    match status.code() {
        Some(code) => assert!(
            code != 0 && code != 101,
            "expected a clean non-zero exit, got {code}\n{output}"
        ),
        None => panic!("killed by a signal ({status})\n{output}"),
    }
}

/// `lumberwatch receive --listen LISTEN --out OUT EXTRA...`, once it says where it listens.
struct ReceiverProc {
    proc: Proc,
    addr: SocketAddr,
    out: PathBuf,
}

impl ReceiverProc {
    /// A plain receiver on a free loopback port, writing to `dir/events.jsonl`.
    fn local(dir: &Path) -> ReceiverProc {
        Self::start(dir, "127.0.0.1:0", &dir.join("events.jsonl"), &[])
    }

    fn start(dir: &Path, listen: &str, out: &Path, extra: &[String]) -> ReceiverProc {
        Self::try_start(dir, listen, out, extra).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Err when the receiver exits before listening (e.g. the port is still taken).
    fn try_start(
        dir: &Path,
        listen: &str,
        out: &Path,
        extra: &[String],
    ) -> Result<ReceiverProc, String> {
        let out_arg = out.display().to_string();
        let mut args = vec!["receive", "--listen", listen, "--out", &out_arg];
        args.extend(extra.iter().map(String::as_str));
        let mut proc = Proc::spawn("receive", lumberwatch(dir, &args), Stdio::null());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stdout = proc.stdout();
            if let Some(line) = stdout.lines().find(|l| l.starts_with("listening on ")) {
                let addr = line
                    .split_whitespace()
                    .find_map(|w| w.parse::<SocketAddr>().ok())
                    .ok_or_else(|| format!("no address in {line:?}"))?;
                return Ok(ReceiverProc {
                    proc,
                    addr,
                    out: out.to_path_buf(),
                });
            }
            if let Some(status) = proc.exited() {
                proc.wait(COMMAND_LIMIT);
                return Err(format!(
                    "receiver exited ({status}) before listening\n{}",
                    proc.describe()
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "receiver did not say \"listening on\" within 10s\n{}",
                    proc.describe()
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Events written to `--out` so far (complete lines only).
    fn events_so_far(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        let complete = match text.rfind('\n') {
            Some(end) => &text[..=end],
            None => "",
        };
        complete
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    fn wait_for_events(&mut self, at_least: usize, limit: Duration) -> Vec<Value> {
        poll(
            &format!("receiver on {} has {at_least} events", self.addr),
            limit,
            || Some(self.events_so_far()).filter(|e| e.len() >= at_least),
            || self.proc.describe(),
        )
    }

    /// SIGTERM, a clean exit, and every event it wrote. Also returns its stderr, where
    /// the totals line is.
    fn stop(mut self) -> (Vec<Value>, String) {
        self.proc.signal(libc::SIGTERM);
        let status = self.proc.wait(Duration::from_secs(10));
        assert!(
            status.success(),
            "receiver exit on SIGTERM: {status}\n{}",
            self.proc.describe()
        );
        (self.events_so_far(), self.proc.stderr())
    }
}

/// `N` from `name=N` in the receiver's totals line.
fn total(stderr: &str, name: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("received events="))
        .unwrap_or_else(|| panic!("no totals line in receiver stderr:\n{stderr}"));
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
}

fn write_config(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("lumberwatch.yml");
    std::fs::write(&path, yaml).expect("writing the config file");
    path
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("lumberwatch-cli-")
        .tempdir()
        .expect("creating a temporary directory")
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name)
        .display()
        .to_string()
}

/// Client TLS settings under `output.logstash` (indented for it).
fn client_ssl(client_cert: bool) -> String {
    let mut ssl = format!("  ssl.certificate_authorities: [\"{}\"]\n", cert("ca.crt"));
    if client_cert {
        ssl += &format!(
            "  ssl.certificate: \"{}\"\n  ssl.key: \"{}\"\n",
            cert("client.crt"),
            cert("client.key")
        );
    }
    ssl
}

fn server_tls(name: &str) -> Vec<String> {
    vec![
        "--tls".into(),
        cert(&format!("{name}.crt")),
        cert(&format!("{name}.key")),
    ]
}

/// An `output.logstash` section for `host` with fast reconnects.
fn logstash_output(host: &str, ssl: &str) -> String {
    format!(
        "output.logstash:\n  hosts: [\"{host}\"]\n  bulk_max_size: 500\n  timeout: 5s\n  \
         backoff.init: 50ms\n  backoff.max: 500ms\n{ssl}"
    )
}

const QUIET: &str = "logging.level: info\nlogging.metrics.enabled: false\n";

/// SIGKILLs `run`, brings "Logstash" (a receiver writing `dir/events.jsonl`) up on
/// `port` and starts the agent again with `config`: a crash during an outage, then the
/// recovery.
fn crash_then_recover(mut run: Proc, dir: &Path, port: u16, config: &str) -> (ReceiverProc, Proc) {
    run.signal(libc::SIGKILL);
    run.wait(COMMAND_LIMIT);
    let listen = format!("127.0.0.1:{port}");
    let receiver = ReceiverProc::start(dir, &listen, &dir.join("events.jsonl"), &[]);
    let run = Proc::spawn(
        "run",
        lumberwatch(dir, &["run", "-c", config]),
        Stdio::null(),
    );
    (receiver, run)
}

/// `run -c` with a `type: stdin` input shipping to `addr`; its stdin is handed back.
fn run_stdin_to(dir: &Path, addr: SocketAddr) -> (Proc, std::process::ChildStdin) {
    let config = write_config(
        dir,
        &format!(
            "lumberwatch.inputs:\n  - type: stdin\n{}{QUIET}",
            logstash_output(&addr.to_string(), "")
        ),
    );
    let path = config.display().to_string();
    let mut run = Proc::spawn(
        "run",
        lumberwatch(dir, &["run", "-c", &path]),
        Stdio::piped(),
    );
    let stdin = run.child.stdin.take().expect("stdin is piped");
    (run, stdin)
}
