//! `queue.disk`: the durable queue for events that cannot be read again from their
//! source (syslog messages, flows, conntrack records, alerts and reports; optionally
//! everything). An event is accepted once it is written (and, by default, fsynced) to a
//! segment file; it is read back in order to feed the output and forgotten once
//! Logstash has acked it. A crash, a SIGKILL or a long outage of Logstash loses nothing
//! that was accepted: what was not acked is shipped again (at least once).
//!
//! Layout: `<dir>/<first seq>.seg` segment files of checksummed records
//! ([`super::segment`]), 0600 in a 0700 directory, and `<dir>/acked`, the sequence
//! number below which everything is acked (saved every second, so a restart repeats at
//! most about a second of acked events). A segment is deleted once all its records are
//! acked. A torn or corrupt tail, what a crash in the middle of a write leaves, is cut
//! off and counted at open.
//!
//! Locks: `writer` (the open segment file, held through a write and its fsync) is taken
//! before `state` (the segments' bookkeeping, held only briefly), so acks and the reader
//! never wait for a disk write.

use std::collections::VecDeque;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::config::{DiskQueueConfig, Fsync, WhenFull};
use crate::event::Event;
use crate::output::AckSink;

use super::reading::ReadPos;
use super::segment::{self, Acked, MAX_RECORD_BYTES};

/// The `Origin::source` of events read from the disk queue (file sources are numbered
/// from 1 up).
pub const DISK_SOURCE: u64 = u64::MAX;

const FLOOR_FILE: &str = "acked";

#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("disk queue {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("disk queue {} is full ({max_size} bytes) and shutting down", dir.display())]
    Full { dir: PathBuf, max_size: u64 },
}

/// What opening the queue found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reopened {
    /// Events written before and never acked, to be shipped again.
    pub pending: u64,
    /// Bytes of torn or corrupt tails that were cut off.
    pub discarded_bytes: u64,
}

/// What the queue did, for the metrics line and tests.
#[derive(Debug, Default)]
pub struct DiskCounters {
    pub written: AtomicU64,
    pub written_bytes: AtomicU64,
    /// Events removed unread to make room (`when_full: drop_oldest`).
    pub dropped_oldest: AtomicU64,
    /// Events larger than a record may be (or than the whole queue): not written.
    pub too_big: AtomicU64,
    /// Bytes of corrupt records skipped while reading.
    pub corrupt_bytes: AtomicU64,
    pub fsyncs: AtomicU64,
}

impl DiskCounters {
    pub fn snapshot(&self) -> [(&'static str, u64); 6] {
        [
            ("disk.written", self.written.load(Relaxed)),
            ("disk.written_bytes", self.written_bytes.load(Relaxed)),
            ("disk.dropped_oldest", self.dropped_oldest.load(Relaxed)),
            ("disk.too_big", self.too_big.load(Relaxed)),
            ("disk.corrupt_bytes", self.corrupt_bytes.load(Relaxed)),
            ("disk.fsyncs", self.fsyncs.load(Relaxed)),
        ]
    }
}

pub struct DiskQueue {
    pub(super) dir: PathBuf,
    max_size: u64,
    segment_size: u64,
    when_full: WhenFull,
    fsync: Fsync,
    writer: Mutex<Writer>,
    pub(super) state: Mutex<State>,
    /// Signalled when acks (or dropping) free space, for writers blocked on a full queue.
    space: Condvar,
    /// Signalled when records become readable or the writing side closes.
    pub(super) readable: tokio::sync::Notify,
    pub counters: DiskCounters,
    /// Live [`DiskWriter`]s: the reader ends once they are all gone and it has read
    /// everything.
    writers: std::sync::atomic::AtomicUsize,
}

/// A writing end of the queue (the inputs' writer task, the rules): while one lives,
/// the reader waits for more.
pub struct DiskWriter(Arc<DiskQueue>);

impl DiskWriter {
    /// See [`DiskQueue::append`].
    pub fn append(&self, events: &[Event]) -> Result<usize, DiskError> {
        self.0.append(events)
    }

    /// [`DiskWriter::append`] on the blocking pool, for async callers: the events come
    /// back with the outcome (to be settled, or shipped from memory if refused).
    pub async fn append_in_background(
        &self,
        events: Vec<Event>,
    ) -> (Vec<Event>, Result<usize, DiskError>) {
        let writer = self.clone();
        tokio::task::spawn_blocking(move || {
            let written = writer.append(&events);
            (events, written)
        })
        .await
        .expect("the disk writer does not panic")
    }
}

impl Clone for DiskWriter {
    fn clone(&self) -> Self {
        self.0.writer()
    }
}

impl Drop for DiskWriter {
    fn drop(&mut self) {
        if self.0.writers.fetch_sub(1, Relaxed) == 1 {
            self.0.close_writer();
        }
    }
}

struct Writer {
    /// The segment being appended to (the last in `State::segments`).
    file: Option<File>,
    last_sync: Instant,
    /// Written but not fsynced yet (`fsync: <interval>` or `never`).
    dirty: bool,
}

pub(super) struct State {
    /// Oldest first; only the last may be open for writing (not `sealed`).
    pub(super) segments: VecDeque<Segment>,
    pub(super) next_seq: u64,
    pub(super) bytes: u64,
    pub(super) read: ReadPos,
    /// No more appends will come: the reader ends once it has read everything.
    pub(super) writer_closed: bool,
    /// Shutting down: writers blocked on a full queue give up.
    pub(super) closing: bool,
    pub(super) floor_saved: u64,
}

pub(super) struct Segment {
    pub(super) first: u64,
    pub(super) count: u64,
    pub(super) bytes: u64,
    pub(super) acked: Acked,
    pub(super) sealed: bool,
}

impl Segment {
    pub(super) fn done(&self) -> bool {
        self.sealed && self.acked.count() >= self.count
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Poisoned only by a panic between plain bookkeeping updates: keep going (the worst
    // case is an event shipped twice).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl DiskQueue {
    /// Opens (or creates) the queue in `dir`, keeping what an earlier run left unacked.
    pub fn open(dir: &Path, config: &DiskQueueConfig) -> Result<(DiskQueue, Reopened), DiskError> {
        let io_at = |path: &Path| {
            let path = path.to_path_buf();
            move |source| DiskError::Io { path, source }
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .and_then(|()| {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            })
            .map_err(io_at(dir))?;
        adopt_alert_spool(dir).map_err(io_at(dir))?;
        let floor = read_floor(dir);
        let mut firsts: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
            .map_err(io_at(dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter_map(|p| segment::first_of(&p).map(|first| (first, p)))
            .collect();
        firsts.sort();
        let mut reopened = Reopened::default();
        let mut segments = VecDeque::new();
        let mut next_seq = floor;
        for (first, path) in firsts {
            let scan = segment::scan(&path).map_err(io_at(&path))?;
            if scan.good_bytes < scan.file_bytes {
                reopened.discarded_bytes += scan.file_bytes - scan.good_bytes;
                let file = OpenOptions::new().write(true).open(&path);
                file.and_then(|f| f.set_len(scan.good_bytes).and_then(|()| f.sync_all()))
                    .map_err(io_at(&path))?;
            }
            let seg = Segment {
                first,
                count: scan.records,
                bytes: scan.good_bytes,
                acked: Acked::prefix(floor.saturating_sub(first).min(scan.records)),
                sealed: true,
            };
            if seg.done() {
                std::fs::remove_file(&path).map_err(io_at(&path))?;
                continue;
            }
            next_seq = next_seq.max(first + seg.count);
            reopened.pending += seg.count - seg.acked.count();
            segments.push_back(seg);
        }
        let read = ReadPos {
            first: segments.front().map_or(next_seq, |s| s.first),
            index: 0,
            offset: 0,
        };
        let state = State {
            bytes: segments.iter().map(|s| s.bytes).sum(),
            segments,
            next_seq,
            read,
            writer_closed: false,
            closing: false,
            floor_saved: floor,
        };
        let queue = DiskQueue {
            dir: dir.to_path_buf(),
            max_size: config.max_size,
            segment_size: config.segment_size,
            when_full: config.when_full,
            fsync: config.fsync,
            writer: Mutex::new(Writer {
                file: None,
                last_sync: Instant::now(),
                dirty: false,
            }),
            state: Mutex::new(state),
            space: Condvar::new(),
            readable: tokio::sync::Notify::new(),
            counters: DiskCounters::default(),
            writers: std::sync::atomic::AtomicUsize::new(0),
        };
        Ok((queue, reopened))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `events` (one write and at most one fsync for all) and returns how many
    /// were written; the rest were too big to be a record and are counted. Blocks while
    /// the queue is full under `when_full: block`.
    fn append(&self, events: &[Event]) -> Result<usize, DiskError> {
        let limit = (MAX_RECORD_BYTES as u64).min(self.max_size) as usize;
        let mut buf = Vec::with_capacity(events.iter().map(|e| e.json.len() + 8).sum());
        let mut written = 0;
        for e in events.iter().filter(|e| e.json.len() <= limit) {
            segment::encode(&e.json, &mut buf);
            written += 1;
        }
        let too_big = (events.len() - written) as u64;
        if too_big > 0 {
            self.counters.too_big.fetch_add(too_big, Relaxed);
            tracing::warn!(
                events = too_big,
                limit,
                "events too big for the disk queue: not written"
            );
        }
        if written == 0 {
            return Ok(0);
        }
        let mut writer = lock(&self.writer);
        self.make_room(buf.len() as u64)?;
        self.rotate_if_full(&mut writer)?;
        // The open segment and its length (its file's: only this writer appends to it,
        // and a failed write is cut back).
        let (first, before) = {
            let state = lock(&self.state);
            state
                .segments
                .back()
                .map_or((state.next_seq, 0), |s| (s.first, s.bytes))
        };
        let path = segment::file_name(&self.dir, first);
        let file = writer
            .file
            .as_mut()
            .expect("rotate_if_full opens a segment");
        if let Err(e) = file.write_all(&buf) {
            // Leave no half record behind for the next write to follow.
            let _ = file.set_len(before);
            return Err(DiskError::Io { path, source: e });
        }
        writer.dirty = true;
        let due = match self.fsync {
            Fsync::Always => true,
            Fsync::Every(every) => writer.last_sync.elapsed() >= every,
            Fsync::Never => false,
        };
        if due {
            self.sync(&mut writer)
                .map_err(|source| DiskError::Io { path, source })?;
        }
        {
            let mut state = lock(&self.state);
            let seg = state
                .segments
                .back_mut()
                .expect("rotate_if_full adds a segment");
            seg.count += written as u64;
            seg.bytes += buf.len() as u64;
            state.next_seq += written as u64;
            state.bytes += buf.len() as u64;
        }
        self.counters.written.fetch_add(written as u64, Relaxed);
        self.counters
            .written_bytes
            .fetch_add(buf.len() as u64, Relaxed);
        self.readable.notify_one();
        Ok(written)
    }

    /// Fsyncs what was written since the last fsync (`fsync: <interval>`: called every
    /// interval; also at shutdown).
    pub fn sync_if_dirty(&self) -> io::Result<()> {
        let mut writer = lock(&self.writer);
        if writer.dirty {
            self.sync(&mut writer)
        } else {
            Ok(())
        }
    }

    fn sync(&self, writer: &mut Writer) -> io::Result<()> {
        if let Some(file) = &writer.file {
            file.sync_data()?;
            self.counters.fsyncs.fetch_add(1, Relaxed);
        }
        writer.dirty = false;
        writer.last_sync = Instant::now();
        Ok(())
    }

    fn make_room(&self, need: u64) -> Result<(), DiskError> {
        let mut state = lock(&self.state);
        while state.bytes > 0 && state.bytes + need > self.max_size {
            if state
                .segments
                .back()
                .is_some_and(|s| !s.sealed && s.acked.count() >= s.count)
            {
                // Everything is acked but the open segment holds the space: let it go.
                seal_open(&mut state);
                drop(state);
                self.finish_segments();
                state = lock(&self.state);
                continue;
            }
            match self.when_full {
                WhenFull::Block => {
                    if state.closing {
                        return Err(DiskError::Full {
                            dir: self.dir.clone(),
                            max_size: self.max_size,
                        });
                    }
                    state = self
                        .space
                        .wait_timeout(state, Duration::from_millis(200))
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
                WhenFull::DropOldest => self.drop_oldest(&mut state),
            }
        }
        Ok(())
    }

    /// Removes the oldest segment, counting its records the reader had not reached.
    fn drop_oldest(&self, state: &mut State) {
        let Some(seg) = state.segments.pop_front() else {
            return;
        };
        let unread = match state.read.first {
            r if r > seg.first => 0,
            r if r == seg.first => seg.count - state.read.index,
            _ => seg.count,
        };
        if !seg.sealed {
            // The open segment itself: the next append starts a new one.
            seal_open(state);
        }
        state.bytes -= seg.bytes;
        self.counters.dropped_oldest.fetch_add(unread, Relaxed);
        tracing::warn!(
            events = unread,
            "disk queue full (queue.disk.max_size): dropped its oldest segment"
        );
        let _ = std::fs::remove_file(segment::file_name(&self.dir, seg.first));
    }

    /// Opens a new segment when there is none open or the open one has reached
    /// `segment_size`.
    fn rotate_if_full(&self, writer: &mut Writer) -> Result<(), DiskError> {
        let mut state = lock(&self.state);
        let open = state.segments.back().filter(|s| !s.sealed);
        if writer.file.is_some() && open.is_some_and(|s| s.bytes < self.segment_size) {
            return Ok(());
        }
        if writer.dirty {
            // What was written to the old segment is made durable before moving on.
            let path = segment::file_name(&self.dir, open.map_or(0, |s| s.first));
            self.sync(writer)
                .map_err(|source| DiskError::Io { path, source })?;
        }
        writer.file = None;
        seal_open(&mut state);
        let first = state.next_seq;
        let path = segment::file_name(&self.dir, first);
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|f| File::open(&self.dir)?.sync_all().map(|()| f))
            .map_err(|source| DiskError::Io { path, source })?;
        writer.file = Some(file);
        state.segments.push_back(Segment {
            first,
            count: 0,
            bytes: 0,
            acked: Acked::default(),
            sealed: false,
        });
        Ok(())
    }

    /// A writing end; the reader ends when the last is dropped and all is read.
    pub fn writer(self: &Arc<Self>) -> DiskWriter {
        if self.writers.fetch_add(1, Relaxed) == 0 {
            lock(&self.state).writer_closed = false;
        }
        DiskWriter(self.clone())
    }

    /// No more appends: the reader ends once it has read everything.
    fn close_writer(&self) {
        lock(&self.state).writer_closed = true;
        self.readable.notify_one();
    }

    /// Shutting down: a writer blocked on a full queue gives up.
    pub fn close(&self) {
        lock(&self.state).closing = true;
        self.space.notify_all();
    }

    /// Events written and not acked yet.
    pub fn unacked(&self) -> u64 {
        let state = lock(&self.state);
        state
            .segments
            .iter()
            .map(|s| s.count - s.acked.count())
            .sum()
    }

    /// Bytes the segment files take.
    pub fn bytes(&self) -> u64 {
        lock(&self.state).bytes
    }

    /// Saves the ack floor if it moved (every second, and at shutdown).
    pub fn save_floor(&self) -> io::Result<()> {
        let floor = {
            let state = lock(&self.state);
            let floor = state
                .segments
                .front()
                .map_or(state.next_seq, |s| s.first + s.acked.contiguous());
            if floor == state.floor_saved {
                return Ok(());
            }
            floor
        };
        let tmp = self.dir.join(format!("{FLOOR_FILE}.tmp"));
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(format!("{floor}\n").as_bytes())?;
        std::fs::rename(&tmp, self.dir.join(FLOOR_FILE))?;
        let mut state = lock(&self.state);
        state.floor_saved = state.floor_saved.max(floor);
        Ok(())
    }

    /// Deletes every sealed segment whose records are all acked.
    pub(super) fn finish_segments(&self) {
        let mut state = lock(&self.state);
        let mut freed = false;
        while let Some(at) = state.segments.iter().position(Segment::done) {
            let seg = state.segments.remove(at).expect("found just now");
            state.bytes -= seg.bytes;
            freed = true;
            if let Err(e) = std::fs::remove_file(segment::file_name(&self.dir, seg.first)) {
                tracing::warn!(segment = seg.first, error = %e, "disk queue: an acked segment not deleted");
            }
        }
        if freed {
            self.space.notify_all();
        }
    }
}

/// Seals the open segment, if any: the next append opens a new one.
pub(super) fn seal_open(state: &mut State) {
    if let Some(seg) = state.segments.back_mut() {
        seg.sealed = true;
    }
}

impl AckSink for DiskQueue {
    fn acked(&self, events: &[Event]) {
        let mut any = false;
        {
            let mut state = lock(&self.state);
            for origin in events.iter().filter_map(|e| e.origin) {
                if origin.source != DISK_SOURCE {
                    continue;
                }
                let seq = origin.start;
                let at = state.segments.partition_point(|s| s.first + s.count <= seq);
                if let Some(seg) = state.segments.get_mut(at).filter(|s| s.first <= seq) {
                    any |= seg.acked.insert(seq - seg.first);
                }
            }
        }
        if any {
            self.finish_segments();
        }
    }
}

/// The alert spool of earlier versions (`alerts.spool`, the same records) becomes the
/// first segment.
fn adopt_alert_spool(dir: &Path) -> io::Result<()> {
    let old = dir.join("alerts.spool");
    let target = segment::file_name(dir, 0);
    if old.exists() && !target.exists() {
        std::fs::rename(&old, target)?;
    }
    Ok(())
}

fn read_floor(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join(FLOOR_FILE))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}
