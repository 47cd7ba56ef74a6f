//! One open file, read from its acked offset to EOF and then followed: lines become
//! events whose origin is the byte range they settle in the registry.
//!
//! The harvester holds the file open, so a rename (rotation) does not stop it: it reads
//! the old file until it has been inactive for `close_inactive`, while the scanner starts
//! a new harvester for the new file under the old name. A file whose size drops below
//! what was read was truncated (copytruncate): reading restarts at 0. A deleted file is
//! read to EOF and closed. With `parsers: [multiline]` lines are held back until their
//! event is whole; the event's origin covers all of them, so a restart re-reads them.
//!
//! Reads are positioned reads (`pread`) of a `std::fs::File` on tokio's blocking pool,
//! into the harvester's own buffer: no second buffer (as `tokio::fs::File` keeps), and at
//! EOF the same trip to the pool also takes the file's metadata, so an idle poll is one
//! blocking call. At EOF a harvester waits for a notification about its file, polling as
//! the safety net: up to every 10 s where its directory is watched, every 250 ms where
//! it is not.

use std::fmt::Write as _;
use std::os::unix::fs::{FileExt as _, MetadataExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::Filters;
use super::container::ContainerPart;
use super::line_event::{path_json, utf8, write_log_member};
use super::lines::LineSplitter;
use super::multiline::{Joined, Multiline};
use super::watch::HarvesterWake;
use crate::event::{Event, EventTemplate, Origin};
use crate::input::container::Decoded;
use crate::input::parsing::LineParsing;
use crate::input::{Outlet, QueueClosed};
use crate::registry::{FileKey, Registry};

/// How long an idle harvester waits before looking for new data, doubling up to the max:
/// the safety net under filesystem notifications (which wake it at once).
const POLL_MIN: Duration = Duration::from_millis(10);
/// Without notifications for its directory, polling is all there is: an appended line
/// ships within this.
const POLL_MAX: Duration = Duration::from_millis(250);
/// Where its directory is watched a harvester misses a change only in rare cases (lost
/// events, written after being renamed elsewhere or deleted): Filebeat's `backoff.max`.
const POLL_MAX_WATCHED: Duration = Duration::from_secs(10);

/// Reads while catching up take this much at a time (each read is a hop to the blocking
/// pool: 256 KiB reads cost ~15% less CPU per line than 64 KiB ones on 150-byte lines);
/// an idle harvester (at the end of its file) holds only `IDLE_READ_BYTES`, so a
/// hundred quiet files cost little.
const READ_BYTES: usize = 256 << 10;
const IDLE_READ_BYTES: usize = 4 << 10;

/// Events of one read are queued together, this many at most at a time: one wait for
/// room in the queue per batch instead of one per line.
const SEND_BATCH: usize = 256;

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
    /// The id the input's registry entries carry.
    pub input: Arc<str>,
    pub file: Arc<std::fs::File>,
    pub registry: Arc<Registry>,
    pub filters: Arc<Filters>,
    pub template: EventTemplate,
    pub close_inactive: Duration,
    pub max_bytes: usize,
    /// `file_identity.fingerprint`: a truncated file is another file (its first bytes
    /// change), so the harvester ends and the scanner starts one under the new identity.
    pub identity_by_content: bool,
    /// The multiline parser, if configured (it holds lines back until an event is whole).
    pub multiline: Option<Multiline>,
    /// `type: container`: lines are decoded (and partial ones joined) into messages.
    pub container: Option<ContainerPart>,
    /// `parser`: a message becomes one event per connection record.
    pub parsing: Option<LineParsing>,
    /// Notified when the file may have new data (filesystem notifications).
    pub wake: Option<HarvesterWake>,
}

/// What one trip to the blocking pool found.
enum Read {
    /// This many bytes at the position asked for.
    Data(usize),
    /// Nothing there: the file's metadata, to tell a truncation, a delete or inactivity.
    Eof(std::fs::Metadata),
}

/// Reads into `buf` at `offset` on the blocking pool; at EOF takes the metadata too.
async fn read_at(
    file: &Arc<std::fs::File>,
    mut buf: Vec<u8>,
    offset: u64,
) -> (Vec<u8>, std::io::Result<Read>) {
    let file = file.clone();
    let done = tokio::task::spawn_blocking(move || {
        let read = match file.read_at(&mut buf, offset) {
            Ok(0) => file.metadata().map(Read::Eof),
            Ok(n) => Ok(Read::Data(n)),
            Err(e) => Err(e),
        };
        (buf, read)
    })
    .await;
    match done {
        Ok(done) => done,
        // The blocking pool is shutting down (the runtime is going away).
        Err(e) => (Vec::new(), Err(std::io::Error::other(e))),
    }
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
        let file = self.file.clone();
        let size = {
            let file = file.clone();
            tokio::task::spawn_blocking(move || file.metadata())
                .await
                .map_err(std::io::Error::other)
                .and_then(|m| m)
                .map_err(read_err(&self.path, 0))?
                .len()
        };
        let mut offset = self.registry.offset(self.key).unwrap_or(0);
        if offset > size {
            tracing::info!(path = %self.path.display(), offset, size, "file is shorter than its acked offset (truncated or replaced): reading it from the start");
            offset = 0;
        }
        let mut source = self
            .registry
            .open_source(self.key, &self.input, &self.path, offset);
        tracing::debug!(path = %self.path.display(), offset, "harvester started");
        let path_json = path_json(&self.path);
        let mut multiline = self.multiline.take();
        let mut container = self.container.take();
        // Lines shipped as they are (no filter, parser or multiline): the common case,
        // whose text is checked as UTF-8 while it is escaped.
        let plain = self.filters.keep_all() && self.parsing.is_none() && multiline.is_none();
        let raw_max_bytes = container
            .as_ref()
            .map_or(self.max_bytes, |c| c.raw_line_max_bytes);
        let mut lines = LineSplitter::new(offset, raw_max_bytes);
        if let Some(c) = container.as_mut() {
            c.decoder.reset(offset);
        }
        // Start of the bytes not yet covered by a queued event: a filtered-out line's
        // bytes are settled by the next event that is queued.
        let mut unsettled = offset;
        let mut buf = vec![0u8; IDLE_READ_BYTES];
        // Events of the current line (a parsed line may give several).
        let mut ready = Vec::new();
        let mut queued = 0u64;
        let mut last_data = Instant::now();
        let mut poll = POLL_MIN;
        let mut removed = false;
        let result = loop {
            let position = lines.position();
            let (back, read) = read_at(&file, std::mem::take(&mut buf), position).await;
            buf = back;
            let (n, at_eof) = match read {
                Ok(Read::Data(n)) => (n, None),
                Ok(Read::Eof(meta)) => (0, Some(meta)),
                Err(e) => break Err(read_err(&self.path, position)(e)),
            };
            if n > 0 {
                // Every line of one read is stamped with the time it was read at.
                self.template.hold_time(SystemTime::now());
                last_data = Instant::now();
                poll = POLL_MIN;
                removed = false;
                let full = n == buf.len();
                let mut data = &buf[..n];
                while let Some(line) = lines.next_line(&mut data) {
                    if let Some(c) = container.as_mut() {
                        if let Some(d) =
                            c.decoder
                                .push(line.text, line.start, line.end, line.truncated)
                        {
                            self.container_event(
                                &path_json,
                                c,
                                d,
                                source,
                                &mut unsettled,
                                &mut ready,
                            );
                        }
                    } else if plain {
                        let (start, truncated) = (line.start, line.truncated);
                        let event = self.template.event_from_line(line.text, |b| {
                            write_log_member(b, &path_json, start, false, truncated);
                        });
                        ready.push(event);
                        settle(&mut ready, source, &mut unsettled, line.end);
                    } else {
                        let text = utf8(line.text);
                        match multiline.as_mut() {
                            None => {
                                let message = Message {
                                    text: &text,
                                    start: line.start,
                                    end: line.end,
                                    truncated: line.truncated,
                                    multiline: false,
                                };
                                self.event(&path_json, message, source, &mut unsettled, &mut ready);
                            }
                            Some(m) => {
                                let now = tokio::time::Instant::now().into_std();
                                if let Some(j) =
                                    m.push(&text, line.start, line.end, line.truncated, now)
                                {
                                    self.event(
                                        &path_json,
                                        j.message(),
                                        source,
                                        &mut unsettled,
                                        &mut ready,
                                    );
                                }
                            }
                        }
                    }
                    if ready.len() >= SEND_BATCH {
                        queued += self.send_all(outlet, &mut ready, source).await?;
                    }
                }
                queued += self.send_all(outlet, &mut ready, source).await?;
                if full && buf.len() < READ_BYTES {
                    // More is waiting: catch up in big reads.
                    buf = vec![0u8; READ_BYTES];
                }
                continue;
            }
            // At EOF: a multiline event whose timeout passed is sent.
            if let Some(j) = multiline
                .as_mut()
                .and_then(|m| m.poll_timeout(tokio::time::Instant::now().into_std()))
            {
                self.event(&path_json, j.message(), source, &mut unsettled, &mut ready);
                queued += self.send_all(outlet, &mut ready, source).await?;
            }
            // Look at the file before waiting for more.
            let meta = at_eof.expect("a read of no bytes comes with the file's metadata");
            if meta.len() < lines.position() {
                tracing::info!(path = %self.path.display(), size = meta.len(), offset = lines.position(), "file truncated: reading it again from the start");
                queued += self
                    .flush_pending(
                        outlet,
                        &path_json,
                        &mut multiline,
                        &mut container,
                        source,
                        &mut unsettled,
                    )
                    .await?;
                if let Some(c) = container.as_mut() {
                    c.decoder.reset(0);
                }
                if self.identity_by_content {
                    break Ok(queued);
                }
                lines.reset(0);
                unsettled = 0;
                source = self
                    .registry
                    .open_source(self.key, &self.input, &self.path, 0);
                poll = POLL_MIN;
                continue;
            }
            let closing = if meta.nlink() == 0 {
                // Deleted: one more read after noticing, for what was written before.
                if removed {
                    tracing::debug!(path = %self.path.display(), "file deleted and read to its end: closed");
                    // Forgotten while still open, so that its inode (free once we close)
                    // reused by a new file does not resume at this file's offset. A
                    // fingerprint may still name a live copy: that entry stays.
                    if !self.identity_by_content {
                        self.registry.forget(self.key);
                    }
                    true
                } else {
                    removed = true;
                    continue;
                }
            } else if last_data.elapsed() >= self.close_inactive {
                tracing::debug!(path = %self.path.display(), "file inactive: closed");
                true
            } else {
                false
            };
            if closing {
                queued += self
                    .flush_pending(
                        outlet,
                        &path_json,
                        &mut multiline,
                        &mut container,
                        source,
                        &mut unsettled,
                    )
                    .await?;
                break Ok(queued);
            }
            if buf.len() > IDLE_READ_BYTES {
                // Caught up: give the big buffer back, the room for a read's events, and
                // the templates the chunk their events are carved from, so that a hundred
                // quiet files cost little.
                buf = vec![0u8; IDLE_READ_BYTES];
                ready = Vec::new();
                self.release_chunks(container.as_mut());
            }
            let mut wait = poll;
            if let Some(deadline) = multiline.as_ref().and_then(Multiline::deadline) {
                let now = tokio::time::Instant::now().into_std();
                wait = wait.min(deadline.saturating_duration_since(now));
            }
            // Asked each time: a directory's watch can be lost (removed) and come back.
            let max = match &self.wake {
                Some(wake) if wake.watched() => POLL_MAX_WATCHED,
                _ => POLL_MAX,
            };
            match self.wake.as_ref() {
                Some(wake) => {
                    tokio::select! {
                        () = tokio::time::sleep(wait) => poll = (poll * 2).min(max),
                        () = wake.notified() => {}
                    }
                }
                None => {
                    tokio::time::sleep(wait).await;
                    poll = (poll * 2).min(max);
                }
            }
        };
        self.registry.close_source(source);
        result
    }

    /// An idle harvester's templates let go of their event chunks.
    fn release_chunks(&mut self, container: Option<&mut ContainerPart>) {
        self.template.release_chunk();
        if let Some(c) = container {
            c.failure_template.release_chunk();
        }
    }

    /// The events of a message that passes the filters (one, or with a parser one per
    /// record), settling the bytes since the last queued event; none for a
    /// filtered-out message or a parser's header line, whose bytes the next event
    /// settles.
    fn event(
        &mut self,
        path_json: &str,
        m: Message<'_>,
        source: u64,
        unsettled: &mut u64,
        out: &mut Vec<Event>,
    ) {
        if !self.filters.keep(m.text) {
            return;
        }
        let extra = |b: &mut bytes::BytesMut| {
            write_log_member(b, path_json, m.start, m.multiline, m.truncated);
        };
        match self.parsing.as_mut() {
            None => out.push(self.template.event(m.text, extra)),
            Some(p) => p.events(&mut self.template, m.text, None, &extra, out),
        }
        settle(out, source, unsettled, m.end);
    }

    /// [`Harvester::event`] for a decoded container message: `stream`, `container.*`
    /// and the runtime's time as `@timestamp`; a line that did not parse is shipped as
    /// it is, tagged.
    fn container_event(
        &mut self,
        path_json: &str,
        c: &mut ContainerPart,
        d: Decoded,
        source: u64,
        unsettled: &mut u64,
        out: &mut Vec<Event>,
    ) {
        if !self.filters.keep(&d.text) {
            return;
        }
        let template = match d.stream {
            Some(_) => &mut self.template,
            None => &mut c.failure_template,
        };
        let (start, truncated, fields_json) = (d.start, d.truncated, &c.fields_json);
        let extra = |b: &mut bytes::BytesMut| {
            write_log_member(b, path_json, start, false, truncated);
            if let Some(stream) = d.stream {
                write!(b, ",\"stream\":\"{}\"", stream.as_str())
                    .expect("writing to memory cannot fail");
            }
            b.extend_from_slice(fields_json.as_bytes());
        };
        match (d.stream, self.parsing.as_mut()) {
            (Some(_), Some(p)) => p.events(template, &d.text, d.timestamp.as_deref(), &extra, out),
            _ => out.push(match &d.timestamp {
                Some(ts) => template.event_at(ts, &d.text, extra),
                None => template.event(&d.text, extra),
            }),
        }
        let end = d.end.max(*unsettled);
        settle(out, source, unsettled, end);
    }

    /// Ships what multiline or the container joiner still holds (at truncation and at
    /// close). Returns how many events were queued.
    async fn flush_pending(
        &mut self,
        outlet: &Outlet,
        path_json: &str,
        multiline: &mut Option<Multiline>,
        container: &mut Option<ContainerPart>,
        source: u64,
        unsettled: &mut u64,
    ) -> Result<u64, HarvestError> {
        let mut ready = Vec::new();
        if let Some(j) = multiline.as_mut().and_then(Multiline::flush) {
            self.event(path_json, j.message(), source, unsettled, &mut ready);
        }
        if let Some(c) = container.as_mut() {
            for d in c.decoder.flush() {
                self.container_event(path_json, c, d, source, unsettled, &mut ready);
            }
        }
        self.send_all(outlet, &mut ready, source).await
    }

    /// Queues `ready` (emptying it); returns how many events that was.
    async fn send_all(
        &self,
        outlet: &Outlet,
        ready: &mut Vec<Event>,
        source: u64,
    ) -> Result<u64, HarvestError> {
        let n = ready.len() as u64;
        outlet.send_all(ready).await.map_err(|e| {
            self.registry.close_source(source);
            HarvestError::from(e)
        })?;
        Ok(n)
    }
}

/// Gives the events just added to `out` (from one message) the bytes since the last
/// queued event up to `end`: one event settles them alone; several (the records of
/// one line) settle them together, once all of them are acked.
fn settle(out: &mut [Event], source: u64, unsettled: &mut u64, end: u64) {
    let fresh = out.iter().rev().take_while(|e| e.origin.is_none()).count();
    if fresh == 0 {
        return;
    }
    let parts = u32::try_from(fresh).unwrap_or(u32::MAX);
    let start = out.len() - fresh;
    for event in &mut out[start..] {
        event.origin = Some(Origin {
            parts,
            ..Origin::whole(source, *unsettled, end)
        });
    }
    *unsettled = end;
}

/// What becomes one event: a line, or lines joined by the multiline parser.
struct Message<'a> {
    text: &'a str,
    start: u64,
    end: u64,
    truncated: bool,
    multiline: bool,
}

impl Joined {
    fn message(&self) -> Message<'_> {
        Message {
            text: &self.text,
            start: self.start,
            end: self.end,
            truncated: self.truncated,
            multiline: self.lines > 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AgentInfo, EventShape};
    use crate::queue::mem;

    /// A harvester of `path` from offset 0 feeding `tx`.
    fn harvester(
        path: &std::path::Path,
        data: &std::path::Path,
        wake: Option<HarvesterWake>,
    ) -> Harvester {
        let file = std::fs::File::open(path).unwrap();
        Harvester {
            path: path.to_path_buf(),
            key: FileKey::of(&file.metadata().unwrap()),
            input: "test".into(),
            file: Arc::new(file),
            registry: Registry::open(data, Duration::MAX).unwrap(),
            filters: Arc::new(super::super::Filters::new(&[], &[]).unwrap()),
            template: EventTemplate::new(
                &AgentInfo::new("lumberwatch", None),
                &EventShape::default(),
            ),
            close_inactive: Duration::from_secs(3600),
            max_bytes: 1 << 20,
            identity_by_content: false,
            multiline: None,
            container: None,
            parsing: None,
            wake,
        }
    }

    fn message(event: &Event) -> String {
        let v: serde_json::Value = serde_json::from_slice(&event.json).unwrap();
        v["message"].as_str().unwrap().to_string()
    }

    fn append(path: &std::path::Path, text: &str) {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    /// Starts a harvester on a file holding "first", waits for that line, leaves it
    /// idle for 65 s of (paused) time (its polls back off to the longest and the next
    /// one is not due right after the append), then appends "second": returns how much
    /// (paused) time passed until "second" was queued.
    async fn second_line_after_a_quiet_minute(
        wake: Option<HarvesterWake>,
        notify_after_append: bool,
    ) -> Duration {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("quiet.log");
        std::fs::write(&path, "first\n").unwrap();
        let (tx, mut rx) = mem::channel(16);
        let outlet = Outlet::new(tx, Default::default());
        let h = harvester(&path, &dir.path().join("data"), wake);
        let notifier = h.wake.as_ref().map(HarvesterWake::notifier);
        let task = tokio::spawn(async move { h.run(&outlet).await });
        assert_eq!(message(&rx.recv().await.unwrap()), "first");
        tokio::time::sleep(Duration::from_secs(65)).await;
        append(&path, "second\n");
        let appended = tokio::time::Instant::now();
        if notify_after_append {
            notifier.expect("a wake-up to notify").notify_one();
        }
        assert_eq!(message(&rx.recv().await.unwrap()), "second");
        let took = appended.elapsed();
        task.abort();
        took
    }

    #[tokio::test(start_paused = true)]
    async fn without_notifications_an_appended_line_is_found_by_the_fast_poll() {
        let took = second_line_after_a_quiet_minute(None, false).await;
        assert!(took <= POLL_MAX, "found after {took:?} of paused time");
    }

    #[tokio::test(start_paused = true)]
    async fn a_harvester_whose_directory_is_not_watched_keeps_the_fast_poll() {
        let took =
            second_line_after_a_quiet_minute(Some(HarvesterWake::detached(false)), false).await;
        assert!(took <= POLL_MAX, "found after {took:?} of paused time");
    }

    #[tokio::test(start_paused = true)]
    async fn in_a_watched_directory_the_poll_slows_down_and_a_notification_wakes_at_once() {
        // Not notified: only the slow safety-net poll finds the line (it still does).
        let took =
            second_line_after_a_quiet_minute(Some(HarvesterWake::detached(true)), false).await;
        assert!(
            took > POLL_MAX && took <= POLL_MAX_WATCHED,
            "found after {took:?} of paused time"
        );
        // Notified: found without any time passing.
        let took =
            second_line_after_a_quiet_minute(Some(HarvesterWake::detached(true)), true).await;
        assert_eq!(took, Duration::ZERO);
    }
}
