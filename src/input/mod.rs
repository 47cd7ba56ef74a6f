//! Inputs: where events come from. Each input runs as one task, builds its events with
//! an [`EventTemplate`] and pushes them into the bounded queue; a full queue makes the
//! input wait (back-pressure), never drop.

pub mod conntrack;
pub mod container;
pub mod file;
pub mod flows;
mod generator;
pub mod parsing;
mod stdin;
pub mod syslog;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::config::{InputConfig, InputKind};
use crate::event::{AgentInfo, Event, EventShape, EventTemplate};
use crate::parse::{ParseError, ParserSpec};
use crate::queue::mem;
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
    queue: mem::Sender,
    queued: Arc<AtomicU64>,
    context: InputContext,
}

/// What every input of an agent shares besides the queue: counters and the
/// per-source statistics.
#[derive(Clone, Default)]
pub struct InputContext {
    pub parse: Arc<ParseCounters>,
    /// `None` when no input feeds statistics.
    pub stats: Option<StatsFeed>,
    /// What the syslog inputs took in and dropped, per sender and in total.
    pub syslog: Arc<syslog::SyslogStats>,
    /// What the conntrack inputs took in and dropped.
    pub conntrack: Arc<conntrack::ConntrackCounters>,
    /// What the flows inputs captured and dropped.
    pub flows: Arc<flows::FlowCounters>,
}

impl Outlet {
    pub fn new(queue: mem::Sender, queued: Arc<AtomicU64>) -> Self {
        Outlet {
            queue,
            queued,
            context: InputContext::default(),
        }
    }

    /// The same outlet counting into (and feeding statistics through) `context`.
    pub fn with_context(mut self, context: InputContext) -> Self {
        self.context = context;
        self
    }

    pub fn context(&self) -> &InputContext {
        &self.context
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
                self.context.parse.clone(),
                self.context.stats.clone(),
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

    /// [`Outlet::send`] for several events (emptying `events`): they go in as runs, as
    /// many at a time as there is room for. Cancel-safe: what is still in `events` was
    /// not queued, and what was is counted.
    pub async fn send_all(&self, events: &mut Vec<Event>) -> Result<(), QueueClosed> {
        while !events.is_empty() {
            let n = self
                .queue
                .send_some(events)
                .await
                .map_err(|_| QueueClosed)?;
            self.queued.fetch_add(n as u64, Relaxed);
        }
        Ok(())
    }

    /// Counts events handed over another way (the rules write theirs to the disk
    /// queue, which ships them).
    pub fn counted(&self, n: u64) {
        self.queued.fetch_add(n, Relaxed);
    }

    /// Hands the event over only if the queue has room now: for sources that cannot
    /// wait (a UDP socket must keep being drained), which count what they drop.
    pub fn try_send(&self, event: Event) -> Result<(), mem::TrySendError> {
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
            let parser = cfg.common.parser.as_ref();
            Ok(syslog::run(sl, parser, template, queue).await?)
        }
        InputKind::Conntrack(ct) => {
            let template = EventTemplate::new(agent, &shape("conntrack"));
            Ok(conntrack::run(ct, template, queue).await?)
        }
        InputKind::Flows(fl) => {
            let template = EventTemplate::new(agent, &shape("flows"));
            Ok(flows::run(fl, template, queue).await?)
        }
    }
}
