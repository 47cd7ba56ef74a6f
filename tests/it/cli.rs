//! The real `lumberwatch` binary through its command line: `test config`, `test output`,
//! `run` shipping to `receive` child processes (plain, TLS, mutual TLS), signals, a
//! receiver killed and restarted on the same port, garbage on the receiver's port, and
//! `demo`. Every wait polls for a concrete condition under a deadline.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::cert;

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

// ---------------------------------------------------------------- test config

#[test]
fn test_config_accepts_the_example_configs_and_loads_their_certificates() {
    // Their paths (certs/...) are relative to the working directory, as in Filebeat: the
    // repository root, as the README runs them.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in [
        "lumberwatch.yml",
        "filebeat-compatible.yml",
        "demo.yml",
        "console.yml",
    ] {
        let path = example(name);
        let (status, stdout, stderr) = finish(
            "test config",
            lumberwatch(root, &["test", "config", "-c", &path]),
        );
        assert!(
            status.success() && stdout.contains("Config OK"),
            "{name}: {status}\nstdout: {stdout}\nstderr: {stderr}"
        );
    }
}

/// Exactly one non-empty line across stdout and stderr, and a clean failure exit.
fn one_error_line(config: &Path, dir: &Path, envs: &[(&str, &str)]) -> String {
    let path = config.display().to_string();
    let mut cmd = lumberwatch(dir, &["test", "config", "-c", &path]);
    cmd.envs(envs.iter().copied());
    let (status, stdout, stderr) = finish("test config", cmd);
    let both = format!("stdout: {stdout}\nstderr: {stderr}");
    assert_failed(status, &both);
    let lines: Vec<&str> = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "one line, not {}\n{both}", lines.len());
    assert!(
        !stdout.contains("Config OK"),
        "an error is never OK\n{both}"
    );
    lines[0].to_string()
}

#[test]
fn test_config_names_file_line_and_key_of_a_misspelt_key() {
    let dir = tempdir();
    let config = write_config(
        dir.path(),
        "lumberwatch.inputs:\n  - type: stdin\noutput.logstash:\n  hosts: [\"localhost:5044\"]\n  \
         compresion_level: 3\n",
    );
    let line = one_error_line(&config, dir.path(), &[]);
    let at = format!("{}:5:", config.display());
    assert!(line.contains(&at), "{line:?} names {at}");
    assert!(
        line.contains("output.logstash.compresion_level"),
        "{line:?} names the key"
    );
    assert!(line.contains("unknown key"), "{line:?} says what is wrong");
    assert!(
        line.contains("compression_level"),
        "{line:?} suggests the right spelling"
    );

    // The same inside an input: the key path names the input by its index.
    let config = write_config(
        dir.path(),
        "lumberwatch.inputs:\n  - type: stdin\n    tgas: [a]\noutput.console: {}\n",
    );
    let line = one_error_line(&config, dir.path(), &[]);
    assert!(
        line.contains(&format!("{}:3:", config.display())),
        "{line:?}"
    );
    assert!(line.contains("tgas"), "{line:?}");
}

#[test]
fn test_config_names_file_line_and_key_of_a_wrong_type() {
    let dir = tempdir();
    let config = write_config(
        dir.path(),
        "lumberwatch.inputs:\n  - type: stdin\noutput.logstash:\n  hosts: [\"localhost:5044\"]\n  \
         bulk_max_size: lots\n",
    );
    let line = one_error_line(&config, dir.path(), &[]);
    assert!(
        line.contains(&format!("{}:5:", config.display())),
        "{line:?}"
    );
    assert!(line.contains("output.logstash.bulk_max_size"), "{line:?}");
    assert!(line.contains("lots"), "{line:?} quotes the value");
}

#[test]
fn test_config_of_a_missing_file_is_one_line_naming_it() {
    let dir = tempdir();
    let missing = dir.path().join("nope.yml");
    let line = one_error_line(&missing, dir.path(), &[]);
    assert!(
        line.contains(&missing.display().to_string()),
        "{line:?} names the file"
    );
}

/// `lumberwatch: cannot read config file F: No such file or directory (os error 2)`, with
/// the cause said once.
#[test]
fn test_config_of_a_missing_file_says_the_cause_once() {
    let dir = tempdir();
    let missing = dir.path().join("nope.yml");
    let line = one_error_line(&missing, dir.path(), &[]);
    assert_eq!(
        line.matches("No such file or directory").count(),
        1,
        "{line:?}"
    );
}

const ENV_CONFIG: &str = "lumberwatch.inputs:\n  - type: stdin\noutput.logstash:\n  \
    hosts: [\"${LW_CLI_TEST_HOST:127.0.0.1}:${LW_CLI_TEST_PORT}\"]\n  \
    bulk_max_size: ${LW_CLI_TEST_BULK:100}\n";

#[test]
fn env_vars_and_their_defaults_are_expanded_through_the_cli() {
    let dir = tempdir();
    let config = write_config(dir.path(), ENV_CONFIG);
    let path = config.display().to_string();

    // ${VAR} set, ${VAR:default} unset: fine.
    let mut cmd = lumberwatch(dir.path(), &["test", "config", "-c", &path]);
    cmd.env("LW_CLI_TEST_PORT", "5044");
    let (status, stdout, stderr) = finish("test config", cmd);
    assert!(
        status.success() && stdout.contains("Config OK"),
        "{status}\n{stdout}\n{stderr}"
    );

    // ${VAR} without a default and unset: one line naming the variable and the key.
    let line = one_error_line(&config, dir.path(), &[]);
    assert!(line.contains("LW_CLI_TEST_PORT"), "{line:?}");
    assert!(line.contains(&format!("{path}:4:")), "{line:?}");
    assert!(line.contains("output.logstash.hosts"), "{line:?}");

    // A value from the environment is type-checked like one written in the file.
    let line = one_error_line(
        &config,
        dir.path(),
        &[("LW_CLI_TEST_PORT", "5044"), ("LW_CLI_TEST_BULK", "lots")],
    );
    assert!(line.contains(&format!("{path}:5:")), "{line:?}");
    assert!(line.contains("output.logstash.bulk_max_size"), "{line:?}");

    // And the expanded values are the ones used: the default host, the given port.
    let receiver = ReceiverProc::start(
        dir.path(),
        "127.0.0.1:0",
        &dir.path().join("events.jsonl"),
        &[],
    );
    let port = receiver.port().to_string();
    let mut cmd = lumberwatch(dir.path(), &["test", "output", "-c", &path]);
    cmd.env("LW_CLI_TEST_PORT", &port);
    let (status, stdout, stderr) = finish("test output", cmd);
    assert!(
        status.success()
            && stdout.contains(&format!("logstash: 127.0.0.1:{port}..."))
            && stdout.contains("talk to server... OK"),
        "{status}\n{stdout}\n{stderr}"
    );
}

// ---------------------------------------------------------------- run: stdin to a receiver

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

// ---------------------------------------------------------------- test output

fn test_output(dir: &Path, host: &str, ssl: &str) -> (ExitStatus, String, String) {
    let config = write_config(
        dir,
        &format!(
            "lumberwatch.inputs:\n  - type: stdin\n{}",
            logstash_output(host, ssl)
        ),
    );
    let path = config.display().to_string();
    finish(
        "test output",
        lumberwatch(dir, &["test", "output", "-c", &path]),
    )
}

fn assert_in_order(stdout: &str, steps: &[&str]) {
    let mut rest = stdout;
    for step in steps {
        let at = rest
            .find(step)
            .unwrap_or_else(|| panic!("{step:?} (in this order) missing from:\n{stdout}"));
        rest = &rest[at + step.len()..];
    }
}

#[test]
fn test_output_walks_filebeats_steps_against_a_live_receiver() {
    let dir = tempdir();
    let receiver = ReceiverProc::start(
        dir.path(),
        "127.0.0.1:0",
        &dir.path().join("events.jsonl"),
        &[],
    );
    let host = receiver.addr.to_string();
    let (status, stdout, stderr) = test_output(dir.path(), &host, "");
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    assert_in_order(
        &stdout,
        &[
            &format!("logstash: {host}..."),
            "connection...",
            "parse host... OK",
            &format!("address: {host}"),
            "dial up... OK",
            "TLS... WARN secure connection disabled",
            "talk to server... OK",
        ],
    );
    assert!(!stdout.contains("ERROR"), "{stdout}");
}

#[test]
fn test_output_reports_the_tls_handshake_against_a_tls_receiver() {
    let dir = tempdir();
    let receiver = ReceiverProc::start(
        dir.path(),
        "127.0.0.1:0",
        &dir.path().join("events.jsonl"),
        &server_tls("server"),
    );
    let host = format!("localhost:{}", receiver.port());
    let (status, stdout, stderr) = test_output(dir.path(), &host, &client_ssl(false));
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    assert_in_order(
        &stdout,
        &[
            &format!("logstash: {host}..."),
            "dial up... OK",
            "TLS...",
            "security: server's certificate chain and host name verification is enabled",
            "handshake... OK",
            "TLS version and cipher: TLSv1.",
            "talk to server... OK",
        ],
    );
}

/// `test output` against a TLS receiver serving `server_cert`: one ERROR line that says
/// why, and a failure exit.
fn refused_by_test_output(server_cert: &str, reason: &[&str]) {
    let dir = tempdir();
    let receiver = ReceiverProc::start(
        dir.path(),
        "127.0.0.1:0",
        &dir.path().join("events.jsonl"),
        &server_tls(server_cert),
    );
    let host = format!("localhost:{}", receiver.port());
    let (status, stdout, stderr) = test_output(dir.path(), &host, &client_ssl(false));
    let both = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_failed(status, &both);
    assert!(
        !stdout.contains("talk to server... OK"),
        "never talks over a refused certificate\n{both}"
    );
    let error = stdout
        .lines()
        .find(|l| l.contains("ERROR"))
        .unwrap_or_else(|| panic!("no ERROR line\n{both}"));
    // "UnknownIssuer" and "unknown issuer" are both fine.
    let squashed = error.to_lowercase().replace([' ', '_'], "");
    assert!(
        reason.iter().any(|r| squashed.contains(r)),
        "{error:?} says why (one of {reason:?})"
    );
    assert_eq!(receiver.stop().0.len(), 0, "no event reached the server");
}

#[test]
fn test_output_fails_with_unknown_issuer_for_a_server_certificate_from_another_ca() {
    refused_by_test_output("other-server", &["unknownissuer"]);
}

#[test]
fn test_output_fails_with_expired_for_an_expired_server_certificate() {
    refused_by_test_output("expired-server", &["expired"]);
}

#[test]
fn test_output_fails_without_a_client_certificate_against_mutual_tls() {
    let dir = tempdir();
    let mut extra = server_tls("server");
    extra.extend(["--ca".to_string(), cert("ca.crt")]);
    let receiver = ReceiverProc::start(
        dir.path(),
        "127.0.0.1:0",
        &dir.path().join("events.jsonl"),
        &extra,
    );
    let host = format!("localhost:{}", receiver.port());
    let (status, stdout, stderr) = test_output(dir.path(), &host, &client_ssl(false));
    let both = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_failed(status, &both);
    assert!(stdout.contains("... ERROR"), "{both}");
    assert!(!stdout.contains("talk to server... OK"), "{both}");
}

#[test]
fn test_output_against_a_closed_port_fails_at_dial_up() {
    let dir = tempdir();
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
        l.local_addr().expect("local addr").port()
    };
    let host = format!("127.0.0.1:{port}");
    let (status, stdout, stderr) = test_output(dir.path(), &host, "");
    let both = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_failed(status, &both);
    assert!(
        stdout.lines().any(|l| l.contains("dial up... ERROR")),
        "{both}"
    );
    assert!(stdout.contains(&host), "names the host\n{both}");
}

// ---------------------------------------------------------------- run: signals and restarts

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
    let mut receiver = ReceiverProc::start(
        dir.path(),
        "127.0.0.1:0",
        &dir.path().join("events.jsonl"),
        &[],
    );
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
    let mut receiver = ReceiverProc::start(
        dir.path(),
        "127.0.0.1:0",
        &dir.path().join("events.jsonl"),
        &[],
    );
    let config = write_config(
        dir.path(),
        &format!(
            "lumberwatch.inputs:\n  - type: stdin\n{}{QUIET}",
            logstash_output(&receiver.addr.to_string(), "")
        ),
    );
    let path = config.display().to_string();
    let mut run = Proc::spawn(
        "run",
        lumberwatch(dir.path(), &["run", "-c", &path]),
        Stdio::piped(),
    );
    let mut stdin = run.child.stdin.take().expect("stdin is piped");
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

// ---------------------------------------------------------------- receive: hostile bytes

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
    let receiver = ReceiverProc::start(
        dir.path(),
        "127.0.0.1:0",
        &dir.path().join("events.jsonl"),
        &[],
    );
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

    let config = write_config(
        dir.path(),
        &format!(
            "lumberwatch.inputs:\n  - type: stdin\n{}{QUIET}",
            logstash_output(&receiver.addr.to_string(), "")
        ),
    );
    let path = config.display().to_string();
    let mut run = Proc::spawn(
        "run",
        lumberwatch(dir.path(), &["run", "-c", &path]),
        Stdio::piped(),
    );
    let mut stdin = run.child.stdin.take().expect("stdin is piped");
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

// ---------------------------------------------------------------- demo

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

#[test]
fn test_config_loads_the_certificate_authority_it_names() {
    let dir = tempdir();
    let cfg = dir.path().join("missing-ca.yml");
    std::fs::write(
        &cfg,
        "lumberwatch.inputs: [{type: stdin}]\noutput.logstash:\n  hosts: [localhost]\n  ssl.certificate_authorities: [/nonexistent/ca.pem]\n",
    )
    .unwrap();
    let (status, stdout, stderr) = finish(
        "test config",
        lumberwatch(dir.path(), &["test", "config", "-c", cfg.to_str().unwrap()]),
    );
    assert!(!status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("/nonexistent/ca.pem"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
