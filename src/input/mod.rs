//! Inputs: where events come from. Each input runs as one task, builds its events with
//! an [`EventTemplate`] and pushes them into the bounded queue; a full queue makes the
//! input wait (back-pressure), never drop.

pub mod container;
pub mod file;
mod generator;
pub mod parsing;
mod stdin;
pub mod syslog;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use tokio::sync::mpsc;

use crate::config::{InputConfig, InputKind};
use crate::event::{AgentInfo, Event, EventShape, EventTemplate};
use crate::parse::{ParseError, ParserSpec};
use crate::registry::Registry;
use parsing::{LineParsing, ParseCounters, StatsFeed};

pub use generator::Generator;

/// The queue closed under an input: the agent is shutting down.
#[derive(Debug, thiserror::Error)]
#[error("the event queue is closed")]
pub struct QueueClosed;

/// Where an input puts its events: the bounded queue, counting what it accepted (the
/// count survives the input task being stopped).
#[derive(Clone)]
pub struct Outlet {
    queue: mpsc::Sender<Event>,
    queued: Arc<AtomicU64>,
    parse_counters: Arc<ParseCounters>,
    stats: Option<StatsFeed>,
}

impl Outlet {
    pub fn new(queue: mpsc::Sender<Event>, queued: Arc<AtomicU64>) -> Self {
        Outlet {
            queue,
            queued,
            parse_counters: Arc::default(),
            stats: None,
        }
    }

    /// The same outlet counting parse results in `counters` and feeding connection
    /// records to `stats`.
    pub fn with_pipeline(mut self, counters: Arc<ParseCounters>, stats: Option<StatsFeed>) -> Self {
        self.parse_counters = counters;
        self.stats = stats;
        self
    }

    /// The statistics this outlet feeds, if any (socket inputs count their peers).
    pub fn stats(&self) -> Option<&StatsFeed> {
        self.stats.as_ref()
    }

    /// A parser stage for one source of an input with `parser` set.
    pub fn parsing(
        &self,
        spec: Option<&ParserSpec>,
        template: &EventTemplate,
    ) -> Result<Option<LineParsing>, ParseError> {
        spec.map(|spec| {
            LineParsing::new(
                spec,
                template,
                self.parse_counters.clone(),
                self.stats.clone(),
            )
        })
        .transpose()
    }

    /// Waits for room in the queue (back-pressure), then hands the event over.
    pub async fn send(&self, event: Event) -> Result<(), QueueClosed> {
        self.queue.send(event).await.map_err(|_| QueueClosed)?;
        self.queued.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Hands the event over only if the queue has room now: for sources that cannot
    /// wait (a UDP socket must keep being drained), which count what they drop.
    pub fn try_send(&self, event: Event) -> Result<(), mpsc::error::TrySendError<Event>> {
        self.queue.try_send(event)?;
        self.queued.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Resolves when the queue has closed (the agent is shutting down), for inputs that
    /// may be idle when it happens.
    pub async fn closed(&self) {
        self.queue.closed().await;
    }
}

/// Runs one configured input until it is exhausted (end of stdin, generator count) or,
/// for inputs that never end (files), until the queue closes. Returns how many events
/// it queued. File inputs resume from and report to `registry`.
pub async fn run(
    cfg: &InputConfig,
    agent: &AgentInfo,
    queue: Outlet,
    registry: Option<Arc<Registry>>,
) -> anyhow::Result<u64> {
    let shape = |input_type: &str| EventShape {
        input_type: input_type.to_string(),
        tags: cfg.common.tags.clone(),
        fields: cfg.common.fields.clone(),
        fields_under_root: cfg.common.fields_under_root,
    };
    match &cfg.kind {
        InputKind::Stdin => {
            let mut template = EventTemplate::new(agent, &shape("stdin"));
            let parsing = queue.parsing(cfg.common.parser.as_ref(), &template)?;
            Ok(stdin::run(tokio::io::stdin(), &mut template, &queue, parsing).await?)
        }
        InputKind::Generator {
            count,
            message,
            rate_per_sec,
        } => {
            let mut template = EventTemplate::new(agent, &shape("generator"));
            let generator = Generator {
                count: *count,
                message: message.clone(),
                rate_per_sec: *rate_per_sec,
            };
            Ok(generator.run(&mut template, &queue).await?)
        }
        InputKind::Filestream(fs) => {
            let template = EventTemplate::new(agent, &shape(&fs.input_type));
            let registry = registry.ok_or_else(|| {
                anyhow::anyhow!("a {} input needs the registry (path.data)", fs.input_type)
            })?;
            let (id, parser) = (cfg.common.id.as_deref(), cfg.common.parser.as_ref());
            Ok(file::run(fs, id, parser, template, queue, registry).await?)
        }
        InputKind::Syslog(sl) => {
            let template = EventTemplate::new(agent, &shape("syslog"));
            let stats = Arc::new(syslog::SyslogStats::default());
            Ok(syslog::run(sl, template, queue, stats).await?)
        }
    }
}
