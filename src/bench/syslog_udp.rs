//! `lumberwatch bench syslog-udp`: the rate at which syslog over UDP starts losing
//! messages, and whose loss it is. On loopback only: senders on 127.0.0.2 and up send
//! RFC 3164 datagrams at each target rate in turn to a `type: syslog` UDP input on
//! 127.0.0.1, which ships to a receiver child process. Each step counts every datagram
//! once: dropped by the kernel (the socket's receive buffer, the input backlog), dropped
//! by us (`SyslogStats`, by reason), or queued, then acked. Figures, not assertions.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::task::JoinHandle;

use super::proc_net::{self, UdpSocketCounters};
use super::udp_sender::{self, Sent};
use crate::agent::SHUTDOWN_TIMEOUT;
use crate::config::{
    Config, InputCommon, InputConfig, InputKind, LogstashConfig, OutputConfig, SyslogConfig,
    SyslogUdpConfig,
};
use crate::event::{AgentInfo, EventShape, EventTemplate};
use crate::input::parsing::StatsFeed;
use crate::input::syslog::{DropReason, Format, Listeners, PeerCounters, SyslogError, SyslogStats};
use crate::input::{InputContext, Outlet};
use crate::output::{LogstashOutput, OutputStats};
use crate::queue::mem;
use crate::testbed::{ReceiverChild, rusage};

/// How long a step may take to drain (socket read, queue shipped and acked).
const DRAIN_LIMIT: Duration = Duration::from_secs(10);
/// `protocol.udp.max_message_size`'s default, so that no datagram here is cut.
const MAX_MESSAGE_SIZE: usize = 10 << 10;
/// A step whose senders reach less than this share of its target is flagged.
const SHORTFALL: f64 = 0.95;

#[derive(Debug, Clone, clap::Args)]
pub struct SyslogUdpOptions {
    /// Target rates in messages per second, one step each (at most 20 steps).
    #[arg(
        long,
        value_delimiter = ',',
        num_args = 1..=20,
        default_value = "20000,50000,100000,200000,400000",
        value_parser = clap::value_parser!(u64).range(1..=2_000_000)
    )]
    pub rates: Vec<u64>,
    /// Seconds of sending per step.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub seconds: u64,
    /// Size of each datagram in bytes.
    #[arg(
        long,
        default_value_t = 200,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(64..=MAX_MESSAGE_SIZE as u64)
    )]
    pub message_bytes: usize,
    /// Sender threads, each from its own address (127.0.0.2, .3, ...), i.e. its own peer.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=64))]
    pub senders: u8,
    /// SO_RCVBUF of the syslog socket in bytes (`protocol.udp.read_buffer`; default: the
    /// system's, net.core.rmem_default).
    #[arg(long)]
    pub read_buffer: Option<usize>,
}

pub async fn run(opts: SyslogUdpOptions) -> anyhow::Result<()> {
    if let Some(&rate) = opts.rates.iter().find(|&&r| r < u64::from(opts.senders)) {
        anyhow::bail!(
            "rate {rate} msgs/s is below one message a second for each of the {} senders",
            opts.senders
        );
    }
    let receiver = ReceiverChild::spawn(&[])?;
    let config = bench_config(&opts, receiver.addr);
    let pipeline = Pipeline::start(&config).await?;
    let last_sender = Ipv4Addr::new(127, 0, 0, 1 + opts.senders);
    println!(
        "syslog udp on {} from 127.0.0.2{} ({} sender threads), {}-byte RFC 3164 messages, \
         {} s a step; receive buffer {} bytes ({}); queue.mem.events {}; \
         output.logstash defaults to a receiver child on {}",
        pipeline.address,
        if opts.senders > 1 {
            format!("-{last_sender}")
        } else {
            String::new()
        },
        opts.senders,
        opts.message_bytes,
        opts.seconds,
        pipeline.receive_buffer,
        if opts.read_buffer.is_some() {
            "--read-buffer"
        } else {
            "the system default"
        },
        config.queue_mem_events,
        receiver.addr,
    );
    println!("{}", Step::HEADER);
    let mut steps = Vec::new();
    for &rate in &opts.rates {
        let step = pipeline.step(rate, &opts).await?;
        println!("{}", step.row());
        steps.push(step);
    }
    let receive_buffer = pipeline.receive_buffer;
    pipeline.stop().await;
    receiver.stop()?;
    let (receiver_cpu, _) = rusage(true);
    println!("{}", Step::LEGEND);
    for note in notes(&steps) {
        println!("note: {note}");
    }
    println!("receiver (child process) cpu over the whole run: {receiver_cpu:.2} s");
    println!("{}", conclusion(&steps, receive_buffer));
    Ok(())
}

/// One syslog input on 127.0.0.1:0 over UDP, shipping to `receiver` with the defaults
/// of an empty config file.
fn bench_config(opts: &SyslogUdpOptions, receiver: SocketAddr) -> Config {
    let syslog = SyslogConfig {
        format: Format::Rfc3164,
        timezone: jiff::tz::TimeZone::system(),
        udp: Some(SyslogUdpConfig {
            hosts: vec!["127.0.0.1:0".into()],
            max_message_size: MAX_MESSAGE_SIZE,
            read_buffer: opts.read_buffer,
        }),
        tcp: None,
        rate_limit: None,
    };
    let mut config = Config::new(
        vec![InputConfig {
            kind: InputKind::Syslog(syslog),
            common: InputCommon {
                enabled: true,
                ..InputCommon::default()
            },
        }],
        OutputConfig::Logstash(LogstashConfig {
            hosts: vec![receiver.to_string()],
            ..LogstashConfig::default()
        }),
    );
    config.name = Some("bench".into());
    config
}

/// The agent's pipeline for the config's one syslog input, wired as `agent::run` wires
/// it (queue, outlet with the syslog counters and the statistics feed, Logstash output),
/// keeping what `agent::run` does not hand out: the input's counters and its address.
struct Pipeline {
    address: SocketAddrV4,
    receive_buffer: usize,
    syslog: Arc<SyslogStats>,
    output: Arc<OutputStats>,
    input: JoinHandle<Result<u64, SyslogError>>,
    shipper: LogstashOutput,
}

impl Pipeline {
    async fn start(config: &Config) -> anyhow::Result<Pipeline> {
        let (
            [
                InputConfig {
                    kind: InputKind::Syslog(syslog_config),
                    common,
                },
            ],
            OutputConfig::Logstash(logstash),
        ) = (config.inputs.as_slice(), &config.output)
        else {
            anyhow::bail!("the syslog bench runs one syslog input and output.logstash");
        };
        let (tx, rx) = mem::channel(config.queue_mem_events.max(1));
        let shipper = LogstashOutput::start_with_acks(logstash, rx, config.queue_flush, None)
            .context("starting output.logstash")?;
        let syslog = Arc::new(SyslogStats::default());
        let listeners = Listeners::bind(syslog_config, syslog.clone()).await?;
        let (address, receive_buffer) = match listeners.udp_receive_buffers()?.as_slice() {
            [(SocketAddr::V4(address), bytes)] => (*address, *bytes),
            other => anyhow::bail!("expected one IPv4 UDP listener, bound {other:?}"),
        };
        let context = InputContext {
            syslog: syslog.clone(),
            stats: Some(StatsFeed::new(Arc::new(Mutex::new(
                crate::stats::Stats::new(config.stats.tables()),
            )))),
            ..InputContext::default()
        };
        let outlet = Outlet::new(tx, Arc::default()).with_context(context);
        let agent = AgentInfo::new(&config.metadata_beat, config.name.as_deref());
        let shape = EventShape {
            input_type: "syslog".into(),
            tags: common.tags.clone(),
            fields: common.fields.clone(),
            fields_under_root: common.fields_under_root,
        };
        let template = EventTemplate::new(&agent, &shape);
        let input = tokio::spawn(listeners.serve(None, template, outlet));
        Ok(Pipeline {
            address,
            receive_buffer,
            syslog,
            output: shipper.stats(),
            input,
            shipper,
        })
    }

    fn counters(&self) -> anyhow::Result<Counters> {
        let socket = proc_net::udp_socket(self.address)
            .context("reading /proc/net/udp")?
            .with_context(|| format!("no socket on {} in /proc/net/udp", self.address))?;
        Ok(Counters {
            at: Instant::now(),
            cpu_secs: rusage(false).0,
            socket,
            backlog_drops: proc_net::backlog_drops().context("reading /proc/net/softnet_stat")?,
            syslog: self.syslog.snapshot().total,
            acked: self.output.acked(),
        })
    }

    /// Sends at `rate` for the configured seconds, waits until everything read is
    /// acked, and counts where the datagrams went.
    async fn step(&self, rate: u64, opts: &SyslogUdpOptions) -> anyhow::Result<Step> {
        let before = self.counters()?;
        let sent = send_all(SocketAddr::V4(self.address), rate, opts).await?;
        let drained = self.drain().await?;
        let after = self.counters()?;
        let seconds = Duration::from_secs(opts.seconds).as_secs_f64();
        let wall = after.at.duration_since(before.at).as_secs_f64();
        let dropped = |reason| after.syslog.dropped(reason) - before.syslog.dropped(reason);
        let queued = after.syslog.events - before.syslog.events;
        let (queue_full, rate_limited) = (
            dropped(DropReason::QueueFull),
            dropped(DropReason::RateLimited),
        );
        let sender_cpu: f64 = sent.iter().map(|s| s.cpu_secs).sum();
        Ok(Step {
            target: rate,
            sent_per_sec: sent.iter().map(|s| s.datagrams).sum::<u64>() as f64 / seconds,
            sent: sent.iter().map(|s| s.datagrams).sum(),
            send_errors: sent.iter().map(|s| s.errors).sum(),
            kernel_rcvbuf: after.socket.drops - before.socket.drops,
            kernel_backlog: after.backlog_drops - before.backlog_drops,
            received: queued + queue_full + rate_limited,
            queue_full,
            rate_limited,
            queued,
            acked: after.acked - before.acked,
            cpu_pct: (after.cpu_secs - before.cpu_secs - sender_cpu) / wall * 100.0,
            sender_cpu_pct: sender_cpu / wall * 100.0,
            drained,
        })
    }

    /// Waits until the socket is empty, nothing more is read and every queued message
    /// is acked; false if that takes longer than [`DRAIN_LIMIT`].
    async fn drain(&self) -> anyhow::Result<bool> {
        let deadline = Instant::now() + DRAIN_LIMIT;
        let mut last_read = None;
        loop {
            let now = self.counters()?;
            let read = (now.syslog.events, now.syslog.dropped_total());
            if now.socket.queued_bytes == 0
                && last_read == Some(read)
                && now.acked >= now.syslog.events
            {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            last_read = Some(read);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the input (which closes the queue) and waits for the output to finish.
    async fn stop(self) {
        self.input.abort();
        let _ = self.input.await;
        let _ = tokio::time::timeout(SHUTDOWN_TIMEOUT, self.shipper.finished()).await;
    }
}

/// Every sender's share of `rate` for the step's seconds, on threads of their own.
async fn send_all(to: SocketAddr, rate: u64, opts: &SyslogUdpOptions) -> anyhow::Result<Vec<Sent>> {
    let timestamp = jiff::Zoned::now().strftime("%b %e %H:%M:%S").to_string();
    let message = udp_sender::message(opts.message_bytes, &timestamp);
    let (senders, duration) = (opts.senders, Duration::from_secs(opts.seconds));
    tokio::task::spawn_blocking(move || {
        std::thread::scope(|scope| {
            let mut threads = Vec::new();
            for i in 0..senders {
                let from = Ipv4Addr::new(127, 0, 0, 2 + i);
                let n = u64::from(senders);
                let share = rate / n + u64::from(u64::from(i) < rate % n);
                let message = &message;
                let thread = std::thread::Builder::new()
                    .name(format!("udp-sender-{}", i + 1))
                    .spawn_scoped(scope, move || {
                        udp_sender::send(from, to, share, duration, message)
                            .with_context(|| format!("sending from {from} to {to}"))
                    })
                    .context("starting a sender thread")?;
                threads.push(thread);
            }
            threads
                .into_iter()
                .map(|t| {
                    t.join()
                        .expect("a sender thread only returns, it does not panic")
                })
                .collect()
        })
    })
    .await
    .context("the sender threads")?
}

/// Cumulative counters at one instant.
struct Counters {
    at: Instant,
    cpu_secs: f64,
    socket: UdpSocketCounters,
    backlog_drops: u64,
    syslog: PeerCounters,
    acked: u64,
}

/// Where one step's datagrams went.
#[derive(Debug, Clone, PartialEq)]
struct Step {
    target: u64,
    sent_per_sec: f64,
    sent: u64,
    send_errors: u64,
    kernel_rcvbuf: u64,
    kernel_backlog: u64,
    /// Read from the socket by the input: queued or dropped by us.
    received: u64,
    queue_full: u64,
    rate_limited: u64,
    queued: u64,
    acked: u64,
    /// This process without the sender threads (the agent), % of one core.
    cpu_pct: f64,
    sender_cpu_pct: f64,
    drained: bool,
}

impl Step {
    const HEADER: &str = "   rate/s    sent/s       sent  k_rcvbuf k_backlog   received    q_full  rate_ltd     queued      acked       lost   cpu%  snd_cpu%";
    const LEGEND: &str = "\
rate/s: target; sent/s: achieved; k_rcvbuf: dropped by the kernel, socket receive buffer full (/proc/net/udp drops);
k_backlog: dropped by the kernel's input backlog (/proc/net/softnet_stat, whole machine); received: read by lumberwatch;
q_full, rate_ltd: dropped by lumberwatch (queue full, rate_limit); queued; acked: by the receiver; lost: sent - acked;
sent = k_rcvbuf + k_backlog + received; received = q_full + rate_ltd + queued;
cpu%: this process without the sender threads (the agent), % of one core; snd_cpu%: the sender threads";

    fn row(&self) -> String {
        format!(
            "{:>9} {:>9.0} {:>10} {:>9} {:>9} {:>10} {:>9} {:>9} {:>10} {:>10} {:>10} {:>6.1} {:>9.1}",
            self.target,
            self.sent_per_sec,
            self.sent,
            self.kernel_rcvbuf,
            self.kernel_backlog,
            self.received,
            self.queue_full,
            self.rate_limited,
            self.queued,
            self.acked,
            self.lost(),
            self.cpu_pct,
            self.sender_cpu_pct,
        )
    }

    fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.acked)
    }

    fn kernel_drops(&self) -> u64 {
        self.kernel_rcvbuf + self.kernel_backlog
    }

    fn our_drops(&self) -> u64 {
        self.queue_full + self.rate_limited
    }
}

/// What a reader needs to trust the table: senders short of their target, counts that
/// do not add up, steps that did not drain.
fn notes(steps: &[Step]) -> Vec<String> {
    let mut notes = Vec::new();
    for s in steps {
        if s.sent_per_sec < s.target as f64 * SHORTFALL {
            notes.push(format!(
                "at {} msgs/s the senders reached only {:.0} msgs/s: the sending side was the limit",
                s.target, s.sent_per_sec
            ));
        }
        if s.send_errors > 0 {
            notes.push(format!(
                "at {} msgs/s {} sends failed (not counted as sent)",
                s.target, s.send_errors
            ));
        }
        if s.kernel_drops() + s.received != s.sent {
            notes.push(format!(
                "at {} msgs/s sent {} != kernel drops {} + received {} (backlog drops are machine-wide)",
                s.target,
                s.sent,
                s.kernel_drops(),
                s.received
            ));
        }
        if !s.drained {
            notes.push(format!(
                "at {} msgs/s the pipeline had not drained {DRAIN_LIMIT:?} after sending",
                s.target
            ));
        }
    }
    notes
}

/// One line: the highest rate with zero loss, and where the kernel and we start dropping.
fn conclusion(steps: &[Step], receive_buffer: usize) -> String {
    let mut by_rate: Vec<&Step> = steps.iter().collect();
    by_rate.sort_by_key(|s| s.target);
    let top = by_rate.last().map_or(0, |s| s.target);
    let first = |pred: fn(&Step) -> bool| by_rate.iter().find(|s| pred(s)).map(|s| s.target);
    let lossless = match first(|s| s.lost() > 0) {
        None => format!("zero loss up to {top} msgs/s (the highest rate tried)"),
        Some(lossy) => match by_rate.iter().rev().find(|s| s.target < lossy) {
            Some(s) => format!("zero loss up to {} msgs/s", s.target),
            None => format!("loss from the lowest rate tried ({lossy} msgs/s)"),
        },
    };
    let kernel = match first(|s| s.kernel_drops() > 0) {
        Some(rate) => {
            format!("the kernel drops from {rate} msgs/s (receive buffer {receive_buffer} bytes)")
        }
        None => format!("the kernel dropped nothing up to {top} msgs/s"),
    };
    let ours = match first(|s| s.our_drops() > 0) {
        Some(rate) => format!("lumberwatch drops from {rate} msgs/s"),
        None => format!("lumberwatch dropped nothing up to {top} msgs/s"),
    };
    format!("conclusion: {lossless}; {kernel}; {ours}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(target: u64, kernel: u64, ours: u64, unacked: u64) -> Step {
        let sent = target;
        let received = sent - kernel;
        Step {
            target,
            sent_per_sec: target as f64,
            sent,
            send_errors: 0,
            kernel_rcvbuf: kernel,
            kernel_backlog: 0,
            received,
            queue_full: ours,
            rate_limited: 0,
            queued: received - ours,
            acked: received - ours - unacked,
            cpu_pct: 10.0,
            sender_cpu_pct: 10.0,
            drained: true,
        }
    }

    #[test]
    fn concludes_where_each_side_starts_dropping() {
        let steps = [
            step(400, 50, 30, 0),
            step(100, 0, 0, 0),
            step(200, 5, 0, 0),
            step(50, 0, 0, 0),
        ];
        assert_eq!(
            conclusion(&steps, 212_992),
            "conclusion: zero loss up to 100 msgs/s; the kernel drops from 200 msgs/s \
             (receive buffer 212992 bytes); lumberwatch drops from 400 msgs/s"
        );
        assert!(notes(&steps).is_empty());
    }

    #[test]
    fn concludes_on_no_loss_and_on_loss_everywhere() {
        let clean = [step(100, 0, 0, 0), step(200, 0, 0, 0)];
        assert_eq!(
            conclusion(&clean, 1),
            "conclusion: zero loss up to 200 msgs/s (the highest rate tried); \
             the kernel dropped nothing up to 200 msgs/s; lumberwatch dropped nothing up to 200 msgs/s"
        );
        let unacked = [step(100, 0, 0, 3)];
        assert!(conclusion(&unacked, 1).starts_with("conclusion: loss from the lowest rate"));
    }

    #[test]
    fn notes_a_slow_sender_and_counts_that_do_not_add_up() {
        let mut s = step(1000, 0, 0, 0);
        s.sent_per_sec = 500.0;
        s.received -= 1;
        let notes = notes(&[s]);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("reached only 500 msgs/s"));
        assert!(notes[1].contains("sent 1000 != kernel drops 0 + received 999"));
    }

    #[test]
    fn rows_line_up_with_the_header() {
        let row = step(20_000, 0, 0, 0).row();
        assert_eq!(row.len(), Step::HEADER.len());
        assert_eq!(
            row.split_whitespace().count(),
            Step::HEADER.split_whitespace().count()
        );
    }
}
