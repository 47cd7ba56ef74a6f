//! The embedded test bed that `demo` and `bench` stand on: the repository's test
//! certificates (compiled in, written to a private temporary directory so they can be
//! named by path like any user's), and a receiver started as a child process.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::Context;

const CERTS: [(&str, &str); 5] = [
    ("ca.crt", include_str!("../certs/ca.crt")),
    ("server.crt", include_str!("../certs/server.crt")),
    ("server.key", include_str!("../certs/server.key")),
    ("client.crt", include_str!("../certs/client.crt")),
    ("client.key", include_str!("../certs/client.key")),
];

/// The test CA, a server certificate for localhost/127.0.0.1 and a client certificate,
/// as files (0600) in a directory removed on drop. Test-only keys: never for production.
pub struct TestCerts {
    dir: tempfile::TempDir,
}

impl TestCerts {
    pub fn write() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("lumberwatch-certs-")
            .tempdir()
            .context("creating a temporary directory")?;
        for (name, pem) in CERTS {
            let path = dir.path().join(name);
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("writing {}", path.display()))?;
            file.write_all(pem.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(TestCerts { dir })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// `lumberwatch receive` as a child process on a free loopback port, so that its CPU
/// and memory are its own. Killed on drop.
pub struct ReceiverChild {
    child: Child,
    pub addr: SocketAddr,
}

impl ReceiverChild {
    /// Starts `<this binary> receive --listen 127.0.0.1:0 <extra>` and waits for its
    /// "listening on ADDR" line.
    pub fn spawn(extra: &[String]) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("finding the lumberwatch binary")?;
        let mut child = Command::new(exe)
            .args(["receive", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the receiver")?;
        let stdout = child.stdout.take().context("receiver stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("reading the receiver's first line")?;
        let addr = line
            .split_whitespace()
            .find_map(|w| w.parse::<SocketAddr>().ok())
            .with_context(|| {
                format!("the receiver did not say where it listens (it said {line:?})")
            })?;
        Ok(ReceiverChild { child, addr })
    }

    /// Asks the receiver to stop (SIGTERM, so it prints its totals) and waits for it.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let pid = libc::pid_t::try_from(self.child.id()).context("receiver pid")?;
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        self.child.wait().context("waiting for the receiver")?;
        Ok(())
    }
}

impl Drop for ReceiverChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds (user + system) and peak RSS in bytes, of this process or of its
/// waited-for children.
pub fn rusage(children: bool) -> (f64, u64) {
    let who = if children {
        libc::RUSAGE_CHILDREN
    } else {
        libc::RUSAGE_SELF
    };
    // SAFETY: getrusage writes into the zeroed struct we own and pass by pointer.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (
        secs(usage.ru_utime) + secs(usage.ru_stime),
        usage.ru_maxrss as u64 * 1024,
    )
}

/// CPU seconds (user + system) the calling thread has used so far.
pub fn thread_cpu_secs() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own and pass by pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}
