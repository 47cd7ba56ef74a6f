//! One open file, read from its acked offset to EOF and then followed: lines become
//! events whose origin is the byte range they settle in the registry.
//!
//! The harvester holds the file open, so a rename (rotation) does not stop it: it reads
//! the old file until it has been inactive for `close_inactive`, while the scanner starts
//! a new harvester for the new file under the old name. A file whose size drops below
//! what was read was truncated (copytruncate): reading restarts at 0. A deleted file is
//! read to EOF and closed.

use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::Filters;
use super::lines::LineSplitter;
use crate::event::{EventTemplate, Origin};
use crate::input::{Outlet, QueueClosed};
use crate::registry::{FileKey, Registry};

/// How long an idle harvester waits before looking for new data, doubling up to the max:
/// appended lines are picked up within this (no filesystem notifications yet).
const POLL_MIN: Duration = Duration::from_millis(10);
const POLL_MAX: Duration = Duration::from_millis(250);

const READ_BYTES: usize = 256 << 10;

#[derive(Debug, thiserror::Error)]
pub enum HarvestError {
    #[error("reading {} at offset {offset}: {source}", path.display())]
    Read {
        path: PathBuf,
        offset: u64,
        source: std::io::Error,
    },
    #[error(transparent)]
    Closed(#[from] QueueClosed),
}

pub(super) struct Harvester {
    pub path: PathBuf,
    pub key: FileKey,
    pub file: tokio::fs::File,
    pub registry: Arc<Registry>,
    pub filters: Arc<Filters>,
    pub template: EventTemplate,
    pub close_inactive: Duration,
    pub max_bytes: usize,
}

impl Harvester {
    /// Reads until the file is closed (inactive, deleted). Returns the events queued.
    pub async fn run(mut self, outlet: &Outlet) -> Result<u64, HarvestError> {
        let read_err = |path: &PathBuf, offset: u64| {
            let path = path.clone();
            move |source| HarvestError::Read {
                path,
                offset,
                source,
            }
        };
        let size = self
            .file
            .metadata()
            .await
            .map_err(read_err(&self.path, 0))?
            .len();
        let mut offset = self.registry.offset(self.key).unwrap_or(0);
        if offset > size {
            tracing::info!(path = %self.path.display(), offset, size, "file is shorter than its acked offset (truncated or replaced): reading it from the start");
            offset = 0;
        }
        self.file
            .seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(read_err(&self.path, offset))?;
        let mut source = self.registry.open_source(self.key, &self.path, offset);
        tracing::debug!(path = %self.path.display(), offset, "harvester started");
        let path_json = serde_json::to_string(&self.path.to_string_lossy())
            .expect("a string always serialises");
        let mut lines = LineSplitter::new(offset, self.max_bytes);
        // Start of the bytes not yet covered by a queued event: a filtered-out line's
        // bytes are settled by the next event that is queued.
        let mut unsettled = offset;
        let mut buf = vec![0u8; READ_BYTES];
        let mut queued = 0u64;
        let mut last_data = Instant::now();
        let mut poll = POLL_MIN;
        let mut removed = false;
        let result = loop {
            let n = match self.file.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => break Err(read_err(&self.path, lines.position())(e)),
            };
            if n > 0 {
                last_data = Instant::now();
                poll = POLL_MIN;
                removed = false;
                let mut data = &buf[..n];
                loop {
                    let event = {
                        let Some(line) = lines.next_line(&mut data) else {
                            break;
                        };
                        let text = String::from_utf8_lossy(line.text);
                        if !self.filters.keep(&text) {
                            continue;
                        }
                        let (start, end, truncated) = (line.start, line.end, line.truncated);
                        let mut event = self.template.event(&text, |b| {
                            write!(
                                b,
                                ",\"log\":{{\"offset\":{start},\"file\":{{\"path\":{path_json}}}"
                            )
                            .expect("writing to memory cannot fail");
                            if truncated {
                                b.extend_from_slice(b",\"flags\":[\"truncated\"]");
                            }
                            b.extend_from_slice(b"}");
                        });
                        event.origin = Some(Origin {
                            source,
                            start: unsettled,
                            end,
                        });
                        unsettled = end;
                        event
                    };
                    if let Err(e) = outlet.send(event).await {
                        self.registry.close_source(source);
                        return Err(e.into());
                    }
                    queued += 1;
                }
                continue;
            }
            // At EOF: look at the file before waiting for more.
            let meta = match self.file.metadata().await {
                Ok(m) => m,
                Err(e) => break Err(read_err(&self.path, lines.position())(e)),
            };
            if meta.len() < lines.position() {
                tracing::info!(path = %self.path.display(), size = meta.len(), offset = lines.position(), "file truncated: reading it again from the start");
                if let Err(e) = self.file.seek(std::io::SeekFrom::Start(0)).await {
                    break Err(read_err(&self.path, 0)(e));
                }
                lines.reset(0);
                unsettled = 0;
                source = self.registry.open_source(self.key, &self.path, 0);
                poll = POLL_MIN;
                continue;
            }
            if meta.nlink() == 0 {
                // Deleted: one more read after noticing, for what was written before.
                if removed {
                    tracing::debug!(path = %self.path.display(), "file deleted and read to its end: closed");
                    break Ok(queued);
                }
                removed = true;
                continue;
            }
            if last_data.elapsed() >= self.close_inactive {
                tracing::debug!(path = %self.path.display(), "file inactive: closed");
                break Ok(queued);
            }
            tokio::time::sleep(poll).await;
            poll = (poll * 2).min(POLL_MAX);
        };
        self.registry.close_source(source);
        result
    }
}
