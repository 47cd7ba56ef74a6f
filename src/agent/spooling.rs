//! The disk queue in a run: opened when `queue.disk` is configured or rules are (their
//! alerts and reports are always written to disk before they are shipped), its writer,
//! reader and housekeeping tasks, and which inputs go through it.

use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::{Config, DiskQueueConfig, InputConfig, InputKind, SpooledEvents};
use crate::output::AckSink;
use crate::queue::mem;
use crate::queue::{DiskQueue, run_housekeeping, run_reader, run_writer};
use crate::registry::Registry;

pub(super) struct Spooling {
    pub disk: Arc<DiskQueue>,
    /// Events an earlier run wrote and never got acked.
    pub pending: u64,
    config: DiskQueueConfig,
    /// Whether `queue.disk` is configured (otherwise only alerts and reports use it).
    configured: bool,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Spooling {
    pub fn open(config: &Config) -> anyhow::Result<Option<Spooling>> {
        if config.queue_disk.is_none() && config.rules.is_empty() {
            return Ok(None);
        }
        let disk_config = config.queue_disk.clone().unwrap_or_default();
        let dir = disk_config.dir(&config.path_data);
        let (disk, reopened) = DiskQueue::open(&dir, &disk_config)?;
        if reopened.discarded_bytes > 0 {
            warn!(dir = %dir.display(), bytes = reopened.discarded_bytes, "disk queue had a torn or corrupt tail (a crash while writing): cut off");
        }
        if reopened.pending > 0 {
            info!(
                events = reopened.pending,
                dir = %dir.display(),
                "disk queue: events not acked before the last stop are shipped again"
            );
        }
        Ok(Some(Spooling {
            disk: Arc::new(disk),
            pending: reopened.pending,
            config: disk_config,
            configured: config.queue_disk.is_some(),
            tasks: Mutex::new(Vec::new()),
        }))
    }

    /// Whether `input`'s events go through the disk queue.
    pub fn takes(&self, input: &InputConfig) -> bool {
        self.configured
            && (!matches!(input.kind, InputKind::Filestream(_))
                || self.config.events == SpooledEvents::All)
    }

    /// Starts the reader (into `output`) and housekeeping, and the writer when inputs
    /// use the queue: returns the sender those inputs put their events into.
    pub fn start(
        &self,
        output: &mem::Sender,
        registry: Option<Arc<Registry>>,
        capacity: usize,
    ) -> Option<mem::Sender> {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.push(tokio::spawn(run_reader(self.disk.clone(), output.clone())));
        tasks.push(tokio::spawn(run_housekeeping(
            self.disk.clone(),
            self.config.fsync,
        )));
        if !self.configured {
            return None;
        }
        let (tx, rx) = mem::channel(capacity.max(1));
        // With files spooled, their offsets move on once the disk holds their lines.
        let settled = registry
            .filter(|_| self.config.events == SpooledEvents::All)
            .map(|r| r as Arc<dyn AckSink>);
        tasks.push(tokio::spawn(run_writer(
            self.disk.writer(),
            rx,
            settled,
            output.clone(),
        )));
        Some(tx)
    }

    /// Stops the tasks and saves what must survive: the ack floor, and written events
    /// not fsynced yet.
    pub async fn stop(&self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
        let disk = self.disk.clone();
        let saved = tokio::task::spawn_blocking(move || {
            disk.sync_if_dirty()?;
            disk.save_floor()
        })
        .await;
        if let Ok(Err(e)) = saved {
            warn!(dir = %self.disk.dir().display(), error = %e, "disk queue state not saved at shutdown");
        }
    }
}
