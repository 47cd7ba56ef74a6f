//! `lumberwatch rig poll`: the users' poller container. Configured like it
//! (`HOST_TO_POLL`, `POLL_INTERVAL`) or by flags, it runs the cycles `schedule` draws:
//! requests for `/bytes/N` on a keep-alive connection, stops that drop the connection
//! and restart on a new one, optionally a syslog line per request from several source
//! addresses. `--speed` divides every wait; transfers take the time they take. Bounded
//! by `--cycles` and `--duration`, stopped by SIGINT/SIGTERM; it refuses targets outside
//! the loopback range unless `--allow-remote` is given. Progress goes to stdout, ending
//! with a `total:` line of what it moved.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use tokio::time::Instant;

use super::client::Target;
use super::schedule::{
    CYCLE, Cycle, MAX_CYCLE_BYTES, MAX_RESTARTS, MIN_CYCLE_BYTES, Schedule, Step,
};
use super::syslog::SyslogSenders;

/// A progress line, when the poller shows its progress.
macro_rules! say {
    ($on:expr, $($line:tt)*) => {
        if $on {
            println!($($line)*);
        }
    };
}

/// A progress line at least this often within a cycle (in the cycle's own time).
const PROGRESS_EVERY: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, clap::Args)]
pub struct PollOptions {
    /// The target: host:port, host (port 80) or http://host:port/.
    #[arg(long, env = "HOST_TO_POLL", default_value = "127.0.0.1:8080")]
    pub host: String,
    /// Time between requests: seconds, or a duration such as 500ms or 1m.
    #[arg(long, env = "POLL_INTERVAL", default_value = "10", value_parser = parse_interval)]
    pub interval: Duration,
    /// Stop after this many 20-minute cycles (default: repeat until stopped).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub cycles: Option<u64>,
    /// Stop after this much real time, e.g. 90s or 2h.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Run this many times faster: every wait is divided by it (a cycle takes 20m/SPEED).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub speed: u32,
    /// The random schedule's seed (default: a random one, printed at start).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Also send a syslog line per request over UDP to this address (e.g. an agent's
    /// syslog input).
    #[arg(long)]
    pub syslog: Option<SocketAddr>,
    /// Source addresses of the syslog lines, a socket bound to each (e.g.
    /// 127.0.0.2,127.0.0.3); default: one, chosen by the kernel.
    #[arg(long, value_delimiter = ',', requires = "syslog")]
    pub sources: Vec<IpAddr>,
    /// Allow a target or syslog address outside 127.0.0.0/8 and ::1.
    #[arg(long)]
    pub allow_remote: bool,
}

/// `POLL_INTERVAL`: whole seconds as the users' container takes it, or a duration.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = match text.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(text).map_err(|e| e.to_string())?,
    };
    if interval < Duration::from_millis(100) {
        return Err(format!("{text:?} is under the shortest interval, 100ms"));
    }
    Ok(interval)
}

/// The `host:port` part of `HOST_TO_POLL` (port 80 if none).
fn host_port(target: &str) -> anyhow::Result<String> {
    if target.starts_with("https://") {
        anyhow::bail!("{target:?}: the rig speaks plain HTTP only");
    }
    let rest = target.strip_prefix("http://").unwrap_or(target);
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() {
        anyhow::bail!("{target:?}: no host to poll");
    }
    let has_port = match authority.rsplit_once(':') {
        Some((host, port)) => !host.ends_with(':') && port.parse::<u16>().is_ok(),
        None => false,
    };
    Ok(if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    })
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// Refuses `addr` (`given` resolved) unless it is on loopback or remote targets are
/// allowed; `what` says what would be done with it ("poll", "send syslog to").
fn check_local(
    what: &str,
    given: &str,
    addr: SocketAddr,
    allow_remote: bool,
) -> anyhow::Result<()> {
    if allow_remote || is_loopback(addr.ip()) {
        return Ok(());
    }
    let resolved = if given == addr.to_string() {
        String::new()
    } else {
        format!(" ({addr})")
    };
    anyhow::bail!(
        "refusing to {what} {given}{resolved}: not a loopback address (127.0.0.0/8, ::1); \
         pass --allow-remote to do it anyway"
    )
}

pub async fn run(opts: PollOptions) -> anyhow::Result<()> {
    let host = host_port(&opts.host)?;
    let addr = tokio::net::lookup_host(host.as_str())
        .await
        .with_context(|| format!("cannot resolve {host}"))?
        .next()
        .with_context(|| format!("{host} resolves to no address"))?;
    check_local("poll", &host, addr, opts.allow_remote)?;
    let syslog = match opts.syslog {
        Some(to) => {
            check_local("send syslog to", &to.to_string(), to, opts.allow_remote)?;
            Some(SyslogSenders::bind(to, &opts.sources, &addr.ip().to_string()).await?)
        }
        None => None,
    };
    let seed = opts.seed.unwrap_or_else(rand::random);
    println!(
        "polling http://{host}/ ({addr}) every {}: cycles of {} moving {}-{} MB, up to {MAX_RESTARTS} \
         restarts each; speed x{}, seed {seed}{}",
        humantime::format_duration(opts.interval),
        humantime::format_duration(CYCLE),
        MIN_CYCLE_BYTES / 1_000_000,
        MAX_CYCLE_BYTES / 1_000_000,
        opts.speed,
        syslog
            .as_ref()
            .map(|s| format!("; {}", s.describe()))
            .unwrap_or_default()
    );
    let mut poller = Poller::new(Target::new(addr, &host), syslog, opts.speed);
    poller.progress = true;
    let schedule = Schedule::new(seed, opts.interval);
    let bound = async {
        match opts.duration {
            Some(limit) => {
                tokio::select! {
                    () = tokio::time::sleep(limit) => println!("duration {} reached", humantime::format_duration(limit)),
                    () = crate::signal::shutdown() => println!("stopped by a signal"),
                }
            }
            None => crate::signal::shutdown().await,
        }
    };
    let result = tokio::select! {
        result = poller.cycles(schedule, opts.cycles) => result,
        () = bound => Ok(()),
    };
    if let Some(cut) = poller.current.take() {
        println!("cycle {} cut short: {}", cut.number, cut.line());
        poller.totals.add(&cut);
    }
    let t = &poller.totals;
    println!(
        "total: cycles={} bytes={} requests={} failed={} restarts={} connections={} syslog_lines={}",
        t.cycles,
        t.bytes,
        t.requests,
        t.failed,
        t.restarts,
        poller.target.connects(),
        poller.syslog.as_ref().map_or(0, SyslogSenders::sent)
    );
    result
}

/// What one cycle did so far.
#[derive(Debug, Default)]
struct CycleCount {
    number: u64,
    planned: u64,
    bytes: u64,
    requests: u64,
    failed: u64,
    restarts: u64,
}

impl CycleCount {
    fn line(&self) -> String {
        format!(
            "planned_bytes={} bytes={} requests={} failed={} restarts={}",
            self.planned, self.bytes, self.requests, self.failed, self.restarts
        )
    }
}

#[derive(Debug, Default)]
struct Totals {
    cycles: u64,
    bytes: u64,
    requests: u64,
    failed: u64,
    restarts: u64,
}

impl Totals {
    fn add(&mut self, c: &CycleCount) {
        self.cycles += 1;
        self.bytes += c.bytes;
        self.requests += c.requests;
        self.failed += c.failed;
        self.restarts += c.restarts;
    }
}

pub(crate) struct Poller {
    target: Target,
    syslog: Option<SyslogSenders>,
    speed: u32,
    /// Whether progress lines go to stdout (`rig poll`), or nothing (the demo's clients).
    progress: bool,
    totals: Totals,
    /// The cycle under way, so that a stop from outside can still count it.
    current: Option<CycleCount>,
}

/// `+mm:ss` into a cycle.
fn offset(at: Duration) -> String {
    format!("+{:02}:{:02}", at.as_secs() / 60, at.as_secs() % 60)
}

impl Poller {
    /// A quiet poller of `target` at `speed`, sending a syslog line per request to `syslog`.
    pub(crate) fn new(target: Target, syslog: Option<SyslogSenders>, speed: u32) -> Poller {
        Poller {
            target,
            syslog,
            speed,
            progress: false,
            totals: Totals::default(),
            current: None,
        }
    }

    /// `limit` cycles (or cycles until dropped) of `schedule`.
    pub(crate) async fn cycles(
        &mut self,
        mut schedule: Schedule,
        limit: Option<u64>,
    ) -> anyhow::Result<()> {
        let mut start = Instant::now();
        for number in 1..=limit.unwrap_or(u64::MAX) {
            let cycle = schedule.next_cycle();
            say!(
                self.progress,
                "cycle {number}: {} bytes in {} requests, {} stops",
                cycle.bytes,
                cycle.requests(),
                cycle.restarts()
            );
            self.cycle(number, &cycle, start).await?;
            let done = self.current.take().expect("the cycle under way was set");
            say!(
                self.progress,
                "cycle {number} done in {:.2}s: {}",
                start.elapsed().as_secs_f64(),
                done.line()
            );
            self.totals.add(&done);
            // The next cycle starts on time, or at once when this one ran late.
            start = (start + CYCLE / self.speed).max(Instant::now());
        }
        Ok(())
    }

    async fn cycle(&mut self, number: u64, cycle: &Cycle, start: Instant) -> anyhow::Result<()> {
        self.current = Some(CycleCount {
            number,
            planned: cycle.bytes,
            ..CycleCount::default()
        });
        let progress = self.progress;
        let mut next_progress = PROGRESS_EVERY;
        let mut restarting = false;
        for step in &cycle.steps {
            tokio::time::sleep_until(start + step.at() / self.speed).await;
            let count = self.current.as_mut().expect("the cycle under way was set");
            match *step {
                Step::Stop { at, until } => {
                    count.restarts += 1;
                    self.target.disconnect();
                    say!(
                        progress,
                        "cycle {number} {}: stopping ({} of {}), restarting at {}",
                        offset(at),
                        count.restarts,
                        cycle.restarts(),
                        offset(until)
                    );
                    restarting = true;
                }
                Step::Poll { at, bytes } => {
                    if std::mem::take(&mut restarting) {
                        say!(progress, "cycle {number} {}: restarted", offset(at));
                    }
                    let before = count.bytes;
                    let fetched = self.target.fetch(bytes, &mut count.bytes).await;
                    count.requests += 1;
                    if let Err(e) = fetched {
                        count.failed += 1;
                        say!(
                            progress,
                            "cycle {number} {}: request for {bytes} bytes failed: {e}",
                            offset(at)
                        );
                    }
                    let moved = count.bytes - before;
                    if at >= next_progress {
                        say!(
                            progress,
                            "cycle {number} {}: {} of {} bytes, {} requests",
                            offset(at),
                            count.bytes,
                            cycle.bytes,
                            count.requests
                        );
                        next_progress = at + PROGRESS_EVERY;
                    }
                    if let Some(syslog) = &mut self.syslog {
                        syslog
                            .report(number, moved)
                            .await
                            .context("sending syslog")?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_interval_takes_seconds_or_a_duration_and_refuses_zero() {
        assert_eq!(parse_interval("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_interval("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_interval("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_interval("0").is_err());
        assert!(parse_interval("50ms").is_err());
        assert!(parse_interval("often").is_err());
    }

    #[test]
    fn host_to_poll_takes_host_port_a_bare_host_or_a_url() {
        let ok = |t: &str| host_port(t).expect("a valid target");
        assert_eq!(ok("127.0.0.1:8080"), "127.0.0.1:8080");
        assert_eq!(ok("hello"), "hello:80");
        assert_eq!(ok("http://hello:3000/"), "hello:3000");
        assert_eq!(ok("http://localhost/path"), "localhost:80");
        assert_eq!(ok("[::1]:8080"), "[::1]:8080");
        assert!(host_port("https://hello/").is_err());
        assert!(host_port("http:///").is_err());
    }

    #[test]
    fn only_loopback_targets_pass_without_allow_remote() {
        let check = |addr: &str, allow| {
            let addr: SocketAddr = addr.parse().expect("an address");
            check_local("poll", "x", addr, allow).is_ok()
        };
        assert!(check("127.0.0.1:80", false));
        assert!(check("127.200.3.4:80", false));
        assert!(check("[::1]:80", false));
        assert!(check("[::ffff:127.0.0.1]:80", false));
        assert!(!check("10.10.10.1:80", false));
        assert!(!check("192.168.1.1:514", false));
        assert!(!check("[::ffff:10.0.0.1]:80", false));
        assert!(check("10.10.10.1:80", true));
    }

    #[test]
    fn offsets_read_as_minutes_and_seconds_into_the_cycle() {
        assert_eq!(offset(Duration::ZERO), "+00:00");
        assert_eq!(offset(Duration::from_secs(19 * 60 + 50)), "+19:50");
    }
}
