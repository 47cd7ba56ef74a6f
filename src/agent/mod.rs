//! `lumberwatch run`: wires inputs, the disk queue, the bounded in-memory queue and
//! the output together, says what it does (metrics line, stall warning, the stats
//! endpoint), and shuts down without losing what was accepted.

mod endpoint;
mod metrics;
mod spooling;
mod watch;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::config::{Config, InputKind, OutputConfig};
use crate::event::AgentInfo;
use crate::input::{InputContext, Outlet};
use crate::output::{AckSink, AckSinks, LogstashOutput, OutputStats, run_console};
use crate::queue::mem;
use crate::registry::{DEFAULT_CLEAN_REMOVED_AFTER, Registry};
use metrics::{Counters, InputCounters};
use spooling::Spooling;
use watch::Watch;

/// How long a shutdown waits for the output to get outstanding events acked, unless
/// `shutdown_timeout` says otherwise.
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
    let started = std::time::Instant::now();
    let agent = AgentInfo::new(&config.metadata_beat, config.name.as_deref());
    // Bound first: a port in use fails the start before anything runs.
    let stats_listener = match config.http.enabled {
        true => Some(endpoint::bind(&config.http).await?),
        false => None,
    };
    let (tx, rx) = mem::channel(config.queue_mem_events.max(1));
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
        Some(registry)
    } else {
        None
    };
    let flusher = registry.clone().map(|r| tokio::spawn(r.run_flusher()));
    let watch = Watch::open(config)?.map(Arc::new);
    let spooling = Spooling::open(config)?;
    // Events of an earlier run still in the disk queue are shipped with this run's.
    let queued = Arc::new(AtomicU64::new(spooling.as_ref().map_or(0, |s| s.pending)));
    let sinks: Vec<Arc<dyn AckSink>> = (registry.clone().map(|r| r as Arc<dyn AckSink>))
        .into_iter()
        .chain(
            spooling
                .as_ref()
                .map(|s| s.disk.clone() as Arc<dyn AckSink>),
        )
        .collect();
    let acks = (!sinks.is_empty()).then(|| Arc::new(AckSinks(sinks)) as Arc<dyn AckSink>);
    let (output, output_stats) = match &config.output {
        OutputConfig::Logstash(ls) => {
            let output = LogstashOutput::start_with_acks(ls, rx, config.queue_flush, acks)
                .context("starting output.logstash")?;
            let stats = output.stats();
            (Output::Logstash(output), stats)
        }
        OutputConfig::Console { pretty } => {
            let stats = Arc::new(OutputStats::default());
            let task = tokio::spawn(run_console(rx, *pretty, stats.clone(), acks));
            (Output::Console(task), stats)
        }
    };
    on_stats(output_stats.clone());
    // With the disk queue, the events of the inputs that cannot be read again go to its
    // writer; its reader feeds the output's queue.
    let spooled_tx = spooling
        .as_ref()
        .and_then(|s| s.start(&tx, registry.clone(), config.queue_mem_events));

    let feed = watch.as_ref().map(|w| w.feed());
    let state_flusher = watch
        .clone()
        .map(|w| tokio::spawn(w.run_flusher(config.stats.flush)));
    let mut inputs = JoinSet::new();
    let mut input_counters = Vec::new();
    for (index, input) in config.inputs.iter().enumerate() {
        // Each input counts into its own counters: the endpoint shows them per input.
        let context = InputContext {
            stats: (feed.as_ref()).map(|f| f.for_input(input.common.id.as_deref())),
            ..InputContext::default()
        };
        input_counters.push(InputCounters::new(index, input, context.clone()));
        let queue = match (&spooled_tx, &spooling) {
            (Some(spooled), Some(s)) if s.takes(input) => spooled.clone(),
            _ => tx.clone(),
        };
        let outlet = Outlet::new(queue, queued.clone()).with_context(context);
        let (input, agent, registry) = (input.clone(), agent.clone(), registry.clone());
        inputs.spawn(async move { crate::input::run(&input, &agent, outlet, registry).await });
    }
    // The rules run beside the inputs but do not keep the agent alive: when the inputs
    // are done (end of stdin), so is the run.
    let rules = watch.clone().filter(|w| w.has_rules()).map(|w| {
        let outlet = Outlet::new(tx.clone(), queued.clone());
        let disk = (spooling.as_ref().expect("rules open the disk queue").disk).writer();
        tokio::spawn(w.run_rules(agent.clone(), disk, outlet))
    });
    let output_queue = tx.downgrade();
    drop(tx);
    drop(spooled_tx);
    let counters = Counters {
        output: output_stats.clone(),
        output_type: match &config.output {
            OutputConfig::Logstash(_) => "logstash",
            OutputConfig::Console { .. } => "console",
        },
        inputs: input_counters,
        disk: spooling.as_ref().map(|s| s.disk.clone()),
        queued: queued.clone(),
        rules: watch.as_ref().and_then(|w| w.rule_counts()),
        registry: registry.clone(),
    };
    let stats_endpoint = stats_listener.map(|listener| {
        let endpoint = endpoint::Endpoint {
            counters: counters.clone(),
            agent: agent.clone(),
            started,
            queue_max: config.queue_mem_events.max(1),
            // A weak handle: the endpoint must not keep the queue open at shutdown.
            queue_len: Box::new(move || (output_queue.upgrade()).map_or(0, |q| q.queued())),
        };
        tokio::spawn(endpoint::serve(listener, Arc::new(endpoint)))
    });
    let period = config.logging.metrics_period;
    let metrics = (config.logging.metrics_enabled && !period.is_zero())
        .then(|| tokio::spawn(metrics::log_metrics(counters, period)));
    let stalls = (!config.stall_warning.is_zero()).then(|| {
        tokio::spawn(metrics::watch_stalls(
            output_stats.clone(),
            queued.clone(),
            config.stall_warning,
            output_name(&config.output),
        ))
    });

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
                if let Some(spooling) = &spooling {
                    spooling.disk.close();
                }
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
    let grace = config.shutdown_timeout;
    let complete = if stopped {
        tokio::time::timeout(grace, &mut drained).await.is_ok()
    } else {
        // Inputs are done but acks may still be outstanding (Logstash down): a signal
        // must still end the wait, after the same grace period.
        tokio::select! {
            () = &mut drained => true,
            () = &mut shutdown => {
                info!("shutting down: waiting for outstanding acks");
                tokio::time::timeout(grace, &mut drained).await.is_ok()
            }
        }
    };
    for task in [metrics, stalls, stats_endpoint].into_iter().flatten() {
        task.abort();
    }
    if let Some(spooling) = &spooling {
        spooling.stop().await;
    }
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

/// The output as log lines name it.
fn output_name(output: &OutputConfig) -> String {
    match output {
        OutputConfig::Logstash(ls) => ls.hosts.join(","),
        OutputConfig::Console { .. } => "console".into(),
    }
}
