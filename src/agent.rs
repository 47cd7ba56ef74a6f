//! `lumberwatch run`: wires inputs, the bounded queue and the output together, logs a
//! metrics line every period, and shuts down without losing what was accepted.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::config::{Config, InputKind, OutputConfig};
use crate::event::{AgentInfo, Event};
use crate::input::parsing::{StatsFeed, unix_now};
use crate::input::{InputContext, Outlet};
use crate::output::{AckSink, LogstashOutput, OutputStats, run_console};
use crate::registry::{DEFAULT_CLEAN_REMOVED_AFTER, Registry, StatsFile};
use crate::stats::Stats;

/// How long a shutdown waits for the output to get outstanding events acked.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// What a run did, for the last log line and for callers such as `bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSummary {
    pub events_queued: u64,
    pub events_acked: u64,
    /// False if shut down (signal) before every queued event was acked.
    pub complete: bool,
}

/// Runs the agent until its inputs are exhausted and everything is acked, or until
/// `shutdown` resolves. `on_stats` gets the output's counters once it has started.
pub async fn run(
    config: &Config,
    shutdown: impl Future<Output = ()>,
    on_stats: impl FnOnce(Arc<OutputStats>),
) -> anyhow::Result<RunSummary> {
    let agent = AgentInfo::new(&config.metadata_beat, config.name.as_deref());
    let (tx, rx) = mpsc::channel::<Event>(config.queue_mem_events.max(1));
    let stats = Arc::new(OutputStats::default());
    // Only file inputs resume, so only they need (and create) the registry.
    let registry = if config
        .inputs
        .iter()
        .any(|i| matches!(i.kind, InputKind::Filestream(_)))
    {
        let registry = Registry::open_with_flush(
            &config.path_data,
            DEFAULT_CLEAN_REMOVED_AFTER,
            config.registry_flush,
        )?;
        if matches!(config.output, OutputConfig::Console { .. }) {
            warn!(
                "output.console does not acknowledge events: file offsets are not recorded, a restart reads the files again"
            );
        }
        Some(registry)
    } else {
        None
    };
    let flusher = registry.clone().map(|r| tokio::spawn(r.run_flusher()));
    let output = match &config.output {
        OutputConfig::Logstash(ls) => {
            let acks = registry.clone().map(|r| r as Arc<dyn AckSink>);
            let output = LogstashOutput::start_with_acks(ls, rx, config.queue_flush, acks)
                .context("starting output.logstash")?;
            on_stats(output.stats());
            Output::Logstash(output)
        }
        OutputConfig::Console { pretty } => {
            on_stats(stats.clone());
            let pretty = *pretty;
            Output::Console(tokio::spawn(async move { run_console(rx, pretty).await }))
        }
    };
    let output_stats = match &output {
        Output::Logstash(o) => o.stats(),
        Output::Console(_) => stats,
    };

    let stats = open_stats(config)?;
    let context = InputContext {
        stats: stats.as_ref().map(|s| StatsFeed::new(s.stats.clone())),
        ..InputContext::default()
    };
    let stats_flusher = stats
        .clone()
        .map(|s| tokio::spawn(s.run_flusher(config.stats.flush)));
    let queued = Arc::new(AtomicU64::new(0));
    let mut inputs = JoinSet::new();
    for input in &config.inputs {
        let context = InputContext {
            stats: (context.stats.as_ref()).map(|f| f.for_input(input.common.id.as_deref())),
            ..context.clone()
        };
        let outlet = Outlet::new(tx.clone(), queued.clone()).with_context(context);
        let (input, agent, registry) = (input.clone(), agent.clone(), registry.clone());
        inputs.spawn(async move { crate::input::run(&input, &agent, outlet, registry).await });
    }
    drop(tx);
    let metrics = tokio::spawn(log_metrics(
        output_stats.clone(),
        context,
        config.logging.metrics_period,
        config.logging.metrics_enabled,
    ));

    tokio::pin!(shutdown);
    let mut stopped = false;
    // An input that fails (a port taken, a pattern that does not compile) stops the
    // agent, as Filebeat does: running on without it would look healthy and ship less.
    let mut failed: Option<anyhow::Error> = None;
    loop {
        tokio::select! {
            joined = inputs.join_next() => match joined {
                None => break,
                Some(Ok(Ok(_))) => {}
                Some(Ok(Err(e))) => {
                    warn!(error = %format!("{e:#}"), "input failed: stopping");
                    failed = Some(e);
                    inputs.abort_all();
                    stopped = true;
                    break;
                }
                Some(Err(e)) => warn!(error = %e, "input task failed"),
            },
            () = &mut shutdown => {
                info!("shutting down: stopping inputs, flushing the queue");
                inputs.abort_all();
                stopped = true;
                break;
            }
        }
    }
    // Inputs are gone, so the queue closes once drained: the output finishes when
    // everything it took is acked.
    let all_acked = {
        let (queued, acked) = (queued.clone(), output_stats.clone());
        async move {
            // A worker waiting to reconnect does not look at the queue, so it would hold
            // the exit up until its backoff ends even with nothing left to ship.
            while acked.acked() < queued.load(Relaxed) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let drained = async {
        match output {
            Output::Logstash(o) => {
                tokio::select! {
                    () = o.finished() => {}
                    () = all_acked => {}
                }
            }
            Output::Console(task) => match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => warn!(error = %e, "console output failed"),
                Err(e) => warn!(error = %e, "console output task failed"),
            },
        }
    };
    tokio::pin!(drained);
    let complete = if stopped {
        tokio::time::timeout(SHUTDOWN_TIMEOUT, &mut drained)
            .await
            .is_ok()
    } else {
        // Inputs are done but acks may still be outstanding (Logstash down): a signal
        // must still end the wait, after the same grace period.
        tokio::select! {
            () = &mut drained => true,
            () = &mut shutdown => {
                info!("shutting down: waiting for outstanding acks");
                tokio::time::timeout(SHUTDOWN_TIMEOUT, &mut drained).await.is_ok()
            }
        }
    };
    metrics.abort();
    if let Some(flusher) = flusher {
        flusher.abort();
    }
    if let Some(flusher) = stats_flusher {
        flusher.abort();
    }
    if let Some(stats) = stats {
        match tokio::task::spawn_blocking(move || stats.save()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(error = %e, "statistics not written at shutdown"),
            Err(e) => warn!(error = %e, "statistics writer task failed"),
        }
    }
    if let Some(registry) = &registry {
        // What the output got acked before the end is recorded, even on a timeout.
        let writer = registry.clone();
        match tokio::task::spawn_blocking(move || writer.flush()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!(error = %e, "registry not written at shutdown"),
            Err(e) => warn!(error = %e, "registry writer task failed"),
        }
    }
    let acked = output_stats.acked();
    let queued = queued.load(Relaxed);
    if !complete {
        warn!(acked, timeout = ?SHUTDOWN_TIMEOUT, "shutdown timeout reached with events unacked");
    }
    info!(queued, acked, "stopped");
    if let Some(e) = failed {
        return Err(e.context("an input failed"));
    }
    Ok(RunSummary {
        events_queued: queued,
        events_acked: acked,
        complete,
    })
}

enum Output {
    Logstash(LogstashOutput),
    Console(tokio::task::JoinHandle<std::io::Result<()>>),
}

/// The per-source statistics of a run and the file they are kept in.
#[derive(Clone)]
struct SavedStats {
    stats: Arc<Mutex<Stats>>,
    file: StatsFile,
}

/// The statistics, restored from `path.data` if saved there; `None` when no input
/// feeds them (no `parser`, no socket input), so that nothing is written for nothing.
fn open_stats(config: &Config) -> anyhow::Result<Option<SavedStats>> {
    if !config.inputs.iter().any(|i| i.feeds_stats()) {
        return Ok(None);
    }
    let mut stats = Stats::new(config.stats.tables());
    let file = StatsFile::new(&config.path_data);
    if let Some(snapshot) = file.load()? {
        match stats.restore(snapshot) {
            Ok(tables) => info!(tables, path = %file.path().display(), "statistics restored"),
            Err(e) => anyhow::bail!(
                "statistics file {} does not match this lumberwatch ({e}); move it aside to start the statistics over",
                file.path().display()
            ),
        }
    }
    Ok(Some(SavedStats {
        stats: Arc::new(Mutex::new(stats)),
        file,
    }))
}

impl SavedStats {
    /// Drops expired buckets and writes the file.
    fn save(&self) -> Result<(), crate::registry::RegistryError> {
        let snapshot = {
            let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
            stats.expire(unix_now());
            stats.snapshot()
        };
        self.file.save(snapshot)
    }

    async fn run_flusher(self, every: Duration) {
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
        tick.tick().await;
        loop {
            tick.tick().await;
            let saver = self.clone();
            match tokio::task::spawn_blocking(move || saver.save()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => warn!(error = %e, "statistics not written"),
                Err(e) => warn!(error = %e, "statistics writer task failed"),
            }
        }
    }
}

/// The Beats' "Non-zero metrics in the last 30s" line: deltas since the last one.
async fn log_metrics(
    stats: Arc<OutputStats>,
    inputs: InputContext,
    period: Duration,
    enabled: bool,
) {
    if !enabled || period.is_zero() {
        return;
    }
    let counters = || {
        let mut all = stats.snapshot().to_vec();
        all.extend(inputs.parse.snapshot());
        all.extend(inputs.syslog.counters());
        all
    };
    let mut last = counters();
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = counters();
        let deltas: Vec<String> = now
            .iter()
            .zip(last.iter())
            .filter(|((_, a), (_, b))| a != b)
            .map(|((name, a), (_, b))| format!("{name}={}", a - b))
            .collect();
        if !deltas.is_empty() {
            info!(period = ?period, "non-zero metrics in the last period: {}", deltas.join(" "));
        }
        last = now;
    }
}
