//! `lumberwatch receive`: the receiver as a command. Owns the options, the consumer that
//! writes events as JSON lines, and the once-a-second rate line. Never parses frames.

use std::fs::OpenOptions;
use std::future::Future;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::mpsc::{self, error::TryRecvError};

use super::{Faults, ReceivedBatch, Receiver, ReceiverConfig, ReceiverStats, StatsSnapshot};
use crate::proto::Limits;
use crate::tls::{ClientAuth, ServerTls};

/// Batches the receiver may hold for the consumer before connections see a slow pipeline.
const PIPELINE_BATCHES: usize = 64;
/// After `--exit-after` is reached, how long connections stay up so the last batch's
/// ack reaches its client (a shipper that exits once acked then exits on its own).
const EXIT_AFTER_GRACE: Duration = Duration::from_millis(500);

/// `--client-auth`: Logstash's `ssl_client_authentication`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientAuthArg {
    None,
    Optional,
    Required,
}

/// Options of `lumberwatch receive`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReceiveOptions {
    /// Address to listen on (port 0 picks a free port; the line "listening on" says which).
    #[arg(long, default_value = "127.0.0.1:5044")]
    pub listen: SocketAddr,
    /// Serve TLS with this certificate (chain, PEM) and private key (PEM).
    #[arg(long, num_args = 2, value_names = ["CERT", "KEY"])]
    pub tls: Option<Vec<String>>,
    /// CA (PEM) that client certificates must chain to; implies --client-auth required.
    #[arg(long, value_name = "CA", requires = "tls")]
    pub ca: Option<String>,
    /// Whether clients must present a certificate signed by --ca.
    #[arg(long, value_enum, requires = "tls")]
    pub client_auth: Option<ClientAuthArg>,
    /// Write every event as one JSON line to FILE (created 0600), or to stdout with "-".
    #[arg(long, value_name = "FILE|-")]
    pub out: Option<String>,
    /// Print events, rate, batches and connections to stderr every second.
    #[arg(long)]
    pub count: bool,
    /// Fault: wait this long before handing each batch over (keep-alives are sent).
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub slow_ms: u64,
    /// Fault: reset a connection once it has sent N events, discarding its batch.
    #[arg(long, value_name = "N")]
    pub drop_after: Option<u64>,
    /// Fault: ack only the first PERCENT of each batch, then reset the connection.
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub partial_ack: Option<u8>,
    /// Interval of keep-alive acks (A 0) while a batch is being handed over.
    #[arg(long, default_value_t = 5000, value_name = "MS")]
    pub keepalive_ms: u64,
    /// Reset connections that send nothing for this long (client_inactivity_timeout).
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub idle_timeout_secs: u64,
    /// Largest frame a client may declare.
    #[arg(long, value_name = "BYTES")]
    pub max_frame_bytes: Option<usize>,
    /// Exit once N events were handed over, printing the totals and the seconds from the
    /// first event to the N-th (for timing a shipper from the receiving side).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub exit_after: Option<u64>,
    /// Hand events over without parsing them as JSON (Logstash always parses): for
    /// measuring a shipper without the receiver's parsing cost in the way.
    #[arg(long)]
    pub no_json_check: bool,
    /// Ack a batch only once its events are written to --out (like Logstash with a
    /// persistent queue): killing the receiver then loses nothing it acked.
    #[arg(long)]
    pub ack_after_write: bool,
}

impl ReceiveOptions {
    /// Options for `listen` with every default, as the command line would give them.
    pub fn new(listen: SocketAddr) -> Self {
        ReceiveOptions {
            listen,
            tls: None,
            ca: None,
            client_auth: None,
            out: None,
            count: false,
            slow_ms: 0,
            drop_after: None,
            partial_ack: None,
            keepalive_ms: 5000,
            idle_timeout_secs: 60,
            max_frame_bytes: None,
            exit_after: None,
            no_json_check: false,
            ack_after_write: false,
        }
    }

    /// Validates the options into the receiver's configuration (loads the TLS files).
    pub fn receiver_config(&self) -> anyhow::Result<ReceiverConfig> {
        let tls = match self.tls.as_deref() {
            None => None,
            Some([cert, key]) => {
                let client_auth = match (self.client_auth, &self.ca) {
                    (Some(ClientAuthArg::None), _) | (None, None) => ClientAuth::None,
                    (Some(ClientAuthArg::Optional), _) => ClientAuth::Optional,
                    (Some(ClientAuthArg::Required), _) | (None, Some(_)) => ClientAuth::Required,
                };
                let settings = ServerTls {
                    cert: cert.clone(),
                    key: key.clone(),
                    client_ca: self.ca.clone(),
                    client_auth,
                };
                Some(crate::tls::server_config(&settings).context("receiver tls")?)
            }
            Some(other) => anyhow::bail!(
                "--tls takes a certificate and a key, got {} values",
                other.len()
            ),
        };
        let mut limits = Limits::default();
        if let Some(max) = self.max_frame_bytes {
            anyhow::ensure!(max > 0, "--max-frame-bytes must be at least 1");
            limits.max_frame_bytes = max;
        }
        anyhow::ensure!(self.keepalive_ms > 0, "--keepalive-ms must be at least 1");
        anyhow::ensure!(
            self.idle_timeout_secs > 0,
            "--idle-timeout-secs must be at least 1"
        );
        Ok(ReceiverConfig {
            listen: self.listen,
            tls,
            limits,
            client_inactivity_timeout: Duration::from_secs(self.idle_timeout_secs),
            keepalive_interval: Duration::from_millis(self.keepalive_ms),
            faults: Faults {
                slow_per_batch: Duration::from_millis(self.slow_ms),
                drop_after_events: self.drop_after,
                partial_ack_percent: self.partial_ack,
            },
            validate_json: !self.no_json_check,
            ack_after_write: self.ack_after_write,
            ..ReceiverConfig::default()
        })
    }
}

/// Runs `lumberwatch receive` until Ctrl-C, SIGTERM or `--exit-after`, then prints the
/// totals.
pub async fn serve(opts: ReceiveOptions) -> anyhow::Result<()> {
    serve_until(opts, crate::signal::shutdown()).await
}

/// [`serve`], stopping when `shutdown` completes instead of on a signal (or when
/// `--exit-after` is reached).
pub async fn serve_until(
    opts: ReceiveOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let config = opts.receiver_config()?;
    let mode = if config.tls.is_some() { "tls" } else { "plain" };
    let to_stdout = opts.out.as_deref() == Some("-");
    let sink: Option<Box<dyn Write + Send>> = match opts.out.as_deref() {
        None => None,
        Some("-") => Some(Box::new(io::stdout())),
        Some(path) => Some(Box::new(
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("cannot create --out file {path}"))?,
        )),
    };
    let (tx, rx) = mpsc::channel(PIPELINE_BATCHES);
    let receiver = Receiver::bind(config, tx)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let line = format!("listening on {} ({mode})", receiver.local_addr());
    // Keep stdout for events when they go there.
    if to_stdout {
        eprintln!("{line}");
    } else {
        println!("{line}");
        io::stdout().flush().context("cannot write to stdout")?;
    }
    let stats = receiver.stats();
    let handle = receiver.spawn();
    let exit_after = opts.exit_after;
    let mut consumer = tokio::task::spawn_blocking(move || consume(rx, sink, exit_after));
    let rate = opts.count.then(|| tokio::spawn(print_rate(stats.clone())));
    let early = tokio::select! {
        () = shutdown => None,
        done = &mut consumer => Some(done),
    };
    if early.is_some() && exit_after.is_some() {
        tokio::time::sleep(EXIT_AFTER_GRACE).await;
    }
    handle.stop().await;
    if let Some(rate) = rate {
        rate.abort();
    }
    // Every sender is gone with the receiver, so the consumer drains and returns.
    let done = match early {
        Some(done) => done,
        None => consumer.await,
    };
    let first_to_last = done
        .context("event writer panicked")?
        .context("cannot write events")?;
    let s = stats.snapshot();
    eprintln!(
        "received events={} bytes={} batches={} connections={} resets={} bad_frames={}",
        s.events_total,
        s.bytes_total,
        s.batches_total,
        s.connections_total,
        s.resets_total,
        s.bad_frames_total
    );
    if let (Some(n), Some(elapsed)) = (exit_after, first_to_last) {
        eprintln!("{}", first_to_last_line(n, elapsed));
    }
    Ok(())
}

/// Drains the pipeline on a blocking thread; flushes whenever it has caught up. With
/// `exit_after`, returns once that many events were handed over, with the time from
/// the first batch's hand-over to the one that reached the count.
fn consume(
    mut rx: mpsc::Receiver<ReceivedBatch>,
    sink: Option<Box<dyn Write + Send>>,
    exit_after: Option<u64>,
) -> io::Result<Option<Duration>> {
    let mut out = sink.map(|w| BufWriter::with_capacity(1 << 20, w));
    let (mut events, mut first) = (0u64, None);
    loop {
        let batch = match rx.try_recv() {
            Ok(batch) => batch,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                if let Some(out) = out.as_mut() {
                    out.flush()?;
                }
                match rx.blocking_recv() {
                    Some(batch) => batch,
                    None => break,
                }
            }
        };
        let first = *first.get_or_insert_with(Instant::now);
        if let Some(out) = out.as_mut() {
            for event in &batch.events {
                write_event_line(out, event)?;
            }
        }
        if let Some(written) = batch.written {
            if let Some(out) = out.as_mut() {
                out.flush()?;
            }
            // The connection may be gone already: then the client sends it again.
            let _ = written.send(());
        }
        events += batch.events.len() as u64;
        if exit_after.is_some_and(|n| events >= n) {
            if let Some(out) = out.as_mut() {
                out.flush()?;
            }
            return Ok(Some(first.elapsed()));
        }
    }
    if let Some(out) = out.as_mut() {
        out.flush()?;
    }
    Ok(None)
}

/// `first to last event: events=1000000 seconds=2.345 rate=426.4k/s` (what
/// `--exit-after` adds to the totals; the rate is N over those seconds).
pub(super) fn first_to_last_line(n: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = n as f64 / secs.max(1e-9);
    format!(
        "first to last event: events={n} seconds={secs:.3} rate={}",
        human_rate(rate)
    )
}

/// One event, one line: JSON with a raw newline between tokens is written compact.
pub(super) fn write_event_line(out: &mut impl Write, event: &[u8]) -> io::Result<()> {
    if event.contains(&b'\n') || event.contains(&b'\r') {
        match serde_json::from_slice::<serde_json::Value>(event) {
            Ok(value) => serde_json::to_writer(&mut *out, &value)?,
            // Not JSON (validation was off): keep the bytes, lose the line breaks.
            Err(_) => {
                let flat: Vec<u8> = event
                    .iter()
                    .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
                    .collect();
                out.write_all(&flat)?;
            }
        }
    } else {
        out.write_all(event)?;
    }
    out.write_all(b"\n")
}

async fn print_rate(stats: Arc<ReceiverStats>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let (mut last, mut at) = (stats.snapshot(), Instant::now());
    loop {
        tick.tick().await;
        let (now, now_at) = (stats.snapshot(), Instant::now());
        eprintln!("{}", rate_line(&last, &now, now_at - at));
        (last, at) = (now, now_at);
    }
}

/// `events=123456 rate=1.2M/s batches=61 connections=1`
pub(super) fn rate_line(before: &StatsSnapshot, now: &StatsSnapshot, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let rate = (now.events_total - before.events_total) as f64 / secs;
    format!(
        "events={} rate={} batches={} connections={}",
        now.events_total,
        human_rate(rate),
        now.batches_total,
        now.connections_total
    )
}

/// `1.2M/s`, `426.4k/s`, `12/s`.
fn human_rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.1}M/s", per_sec / 1e6)
    } else if per_sec >= 1e3 {
        format!("{:.1}k/s", per_sec / 1e3)
    } else {
        format!("{per_sec:.0}/s")
    }
}
