//! `lumberwatch run`: wires inputs, the bounded queue and the output together, logs a
//! metrics line every period, and shuts down without losing what was accepted.

mod watch;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::config::{Config, InputKind, OutputConfig};
use crate::event::{AgentInfo, Event};
use crate::input::{InputContext, Outlet};
use crate::output::{AckSink, AckSinks, LogstashOutput, OutputStats, run_console};
use crate::registry::{DEFAULT_CLEAN_REMOVED_AFTER, Registry};
use watch::Watch;

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
    let watch = Watch::open(config)?.map(Arc::new);
    let output = match &config.output {
        OutputConfig::Logstash(ls) => {
            let sinks: Vec<Arc<dyn AckSink>> = (registry.clone().map(|r| r as Arc<dyn AckSink>))
                .into_iter()
                .chain(watch.as_ref().and_then(|w| w.spool()))
                .collect();
            let acks = (!sinks.is_empty()).then(|| Arc::new(AckSinks(sinks)) as Arc<dyn AckSink>);
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

    let context = InputContext {
        stats: watch.as_ref().map(|w| w.feed()),
        ..InputContext::default()
    };
    let state_flusher = watch
        .clone()
        .map(|w| tokio::spawn(w.run_flusher(config.stats.flush)));
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
    // The rules run beside the inputs but do not keep the agent alive: when the inputs
    // are done (end of stdin), so is the run.
    let rules = watch.clone().filter(|w| w.has_rules()).map(|w| {
        let outlet = Outlet::new(tx.clone(), queued.clone());
        tokio::spawn(w.run_rules(agent.clone(), outlet))
    });
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
    if let Some(rules) = &rules {
        rules.abort();
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
    if let Some(flusher) = state_flusher {
        flusher.abort();
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
    if let Some(watch) = watch {
        match tokio::task::spawn_blocking(move || watch.save()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(error = %e, "statistics or rule state not written at shutdown"),
            Err(e) => warn!(error = %e, "state writer task failed"),
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
        all.extend(inputs.conntrack.counters());
        all.extend(inputs.flows.counters());
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
