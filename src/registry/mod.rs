//! The file-offset registry: for every file (by device + inode, or by a fingerprint of
//! its first bytes) the offset up to which
//! its lines are acked by Logstash, kept in memory and persisted under `path.data`.
//!
//! An offset advances only over a contiguous acked range: acks for different batches
//! may arrive in any order (several workers or hosts) and an event may be acked twice
//! (resend after a partial ack), so each source keeps its acked ranges and the offset
//! moves only when the gap before them is filled. It never moves an offset backwards
//! except when the file input says the file was truncated.
//!
//! The state file is rewritten whole (it is compact: one entry per known file), atomically:
//! temp file, fsync, rename, fsync of the directory. A state file that is corrupt or from
//! a newer version is an error with a way out, never a silent re-read of every file.

mod stats_file;
mod store;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crate::event::Event;
use crate::output::AckSink;

pub use stats_file::{RULES_FILE_NAME, STATS_FILE_NAME, StatsFile};
pub use store::{FORMAT_VERSION, RegistryError};

/// How often a dirty registry is written at most.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Default for how long an entry for a file no input has seen is kept.
pub const DEFAULT_CLEAN_REMOVED_AFTER: Duration = Duration::from_secs(24 * 3600);

/// A file's identity: it survives renames, not copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileKey {
    /// `file_identity.native` (the default): device + inode.
    Inode { device: u64, inode: u64 },
    /// `file_identity.fingerprint`: SHA-256 of a fixed byte range of the content, for
    /// filesystems that reuse inodes.
    Fingerprint([u8; 32]),
}

impl FileKey {
    /// The native identity of a file.
    pub fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        FileKey::Inode {
            device: meta.dev(),
            inode: meta.ino(),
        }
    }
}

/// What the registry knows about one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    pub path: PathBuf,
    /// Every byte before this is acked.
    pub offset: u64,
    /// When the offset last moved or an input last saw the file (seconds since the epoch).
    pub updated_secs: u64,
    /// The input that last read the file (its `id`): only that input's scans clean the
    /// entry when the file is removed. `None` for entries from a format 1 or 2 file.
    pub input: Option<String>,
}

/// The acks of one harvester run over one file.
#[derive(Debug)]
struct Source {
    key: FileKey,
    /// Every byte of this source before this is acked.
    acked: u64,
    /// Acked ranges past `acked`, start → end, disjoint and not touching.
    ranges: BTreeMap<u64, u64>,
    /// Ranges shared by several events (see [`crate::event::Origin::parts`]), by start: how many of
    /// their events are not acked yet.
    shared: HashMap<u64, u32>,
}

impl Source {
    /// Records `start..end` as acked; returns true if `acked` moved.
    fn ack(&mut self, start: u64, end: u64) -> bool {
        if end <= self.acked {
            return false;
        }
        let (mut start, mut end) = (start.max(self.acked), end);
        // Merge with every range that overlaps or touches [start, end].
        let touching: Vec<(u64, u64)> = self
            .ranges
            .range(..=end)
            .rev()
            .take_while(|&(_, &e)| e >= start)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in touching {
            self.ranges.remove(&s);
            start = start.min(s);
            end = end.max(e);
        }
        if start > self.acked {
            self.ranges.insert(start, end);
            return false;
        }
        self.acked = end;
        true
    }
}

#[derive(Debug, Default)]
struct State {
    files: HashMap<FileKey, FileState>,
    /// When an input last saw each file (in memory only; loaded entries count as seen
    /// at load time, so a long downtime does not clean them).
    seen: HashMap<FileKey, Instant>,
    sources: HashMap<u64, Source>,
    /// The source whose acks move each file's offset (the latest harvester run).
    current: HashMap<FileKey, u64>,
    next_source: u64,
    dirty: bool,
    /// Whether no offset has moved since the registry was opened: the first ack after a
    /// start is written at once, so a crash soon after a restart re-ships little.
    first_ack_pending: bool,
}

/// The registry: shared by the file inputs (which open sources) and the output (which
/// reports acks). Cheap to call from async tasks: every method holds a mutex briefly.
#[derive(Debug)]
pub struct Registry {
    file: PathBuf,
    clean_removed_after: Duration,
    /// `filebeat.registry.flush`: 0 = write after every ack.
    flush_interval: Duration,
    state: Mutex<State>,
    /// Serialises writes of the state file.
    write: Mutex<()>,
    /// Wakes the flusher for the first ack after a start.
    flush_now: tokio::sync::Notify,
}

impl Registry {
    /// Opens (creating with mode 0700) `<data>/registry/` and loads `filestream.json`.
    pub fn open(data: &Path, clean_removed_after: Duration) -> Result<Arc<Self>, RegistryError> {
        Self::open_with_flush(data, clean_removed_after, FLUSH_INTERVAL)
    }

    /// [`Registry::open`] writing acked offsets every `flush_interval` (0: after every ack).
    pub fn open_with_flush(
        data: &Path,
        clean_removed_after: Duration,
        flush_interval: Duration,
    ) -> Result<Arc<Self>, RegistryError> {
        let dir = data.join("registry");
        store::create_dir(&dir)?;
        let file = dir.join(store::FILE_NAME);
        let files = store::load(&file)?;
        let now = Instant::now();
        let state = State {
            seen: files.keys().map(|k| (*k, now)).collect(),
            files,
            next_source: 1,
            first_ack_pending: true,
            ..State::default()
        };
        Ok(Arc::new(Registry {
            file,
            clean_removed_after,
            flush_interval,
            state: Mutex::new(state),
            write: Mutex::new(()),
            flush_now: tokio::sync::Notify::new(),
        }))
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.file
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the maps consistent (no multi-step updates
        // that can panic midway), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The acked offset of `key`, if the registry knows the file.
    pub fn offset(&self, key: FileKey) -> Option<u64> {
        self.state().files.get(&key).map(|f| f.offset)
    }

    /// A snapshot of every entry.
    pub fn files(&self) -> HashMap<FileKey, FileState> {
        self.state().files.clone()
    }

    /// Starts a new source for `key` at `offset` (the acked offset to resume from, or 0
    /// after a truncation), read by `input` (its id): from now on only its acks move the
    /// file's offset. Returns the source id to put into the events' origin.
    pub fn open_source(&self, key: FileKey, input: &str, path: &Path, offset: u64) -> u64 {
        let mut state = self.state();
        let id = state.next_source;
        state.next_source += 1;
        // Earlier runs over this file (closed, or superseded by a truncation) are forgotten:
        // their late acks must not move the offset this run starts from.
        state.current.insert(key, id);
        state.sources.retain(|_, s| s.key != key);
        state.sources.insert(
            id,
            Source {
                key,
                acked: offset,
                ranges: BTreeMap::new(),
                shared: HashMap::new(),
            },
        );
        let changed = state.files.get(&key).is_none_or(|f| {
            f.offset != offset || f.path != path || f.input.as_deref() != Some(input)
        });
        state.files.insert(
            key,
            FileState {
                path: path.to_path_buf(),
                offset,
                updated_secs: unix_secs(),
                input: Some(input.to_string()),
            },
        );
        state.seen.insert(key, Instant::now());
        state.dirty |= changed;
        id
    }

    /// Inputs call this on every scan for the files they see, so entries of files
    /// still present are never cleaned.
    pub fn seen(&self, keys: impl IntoIterator<Item = FileKey>) {
        let now = Instant::now();
        let mut state = self.state();
        for key in keys {
            if state.files.contains_key(&key) {
                state.seen.insert(key, now);
            }
        }
    }

    /// Drops entries of files no input has seen for `clean_removed_after` and that no
    /// harvester reads. Returns how many were dropped.
    pub fn clean(&self, now: Instant) -> usize {
        let mut state = self.state();
        let after = self.clean_removed_after;
        let gone: Vec<FileKey> = state
            .files
            .keys()
            .filter(|k| !state.current.contains_key(k))
            .filter(|k| {
                state
                    .seen
                    .get(k)
                    .is_none_or(|t| now.saturating_duration_since(*t) > after)
            })
            .copied()
            .collect();
        for key in &gone {
            state.files.remove(key);
            state.seen.remove(key);
        }
        state.sources.retain(|_, s| !gone.contains(&s.key));
        state.dirty |= !gone.is_empty();
        gone.len()
    }

    /// `clean_removed`, first step: the entries of `input` (and those of no input whose
    /// path `matches` the input's globs) that no harvester reads and that the input's
    /// last complete scan did not see, with their recorded paths. The caller checks
    /// which files are gone and passes those to [`Registry::remove_gone`].
    pub fn unseen(
        &self,
        input: &str,
        seen: &HashSet<FileKey>,
        matches: impl Fn(&Path) -> bool,
    ) -> Vec<(FileKey, PathBuf)> {
        let state = self.state();
        state
            .files
            .iter()
            .filter(|(k, _)| !seen.contains(k) && !state.current.contains_key(k))
            .filter(|(_, f)| match &f.input {
                Some(owner) => owner == input,
                None => matches(&f.path),
            })
            .map(|(k, f)| (*k, f.path.clone()))
            .collect()
    }

    /// `clean_removed`, second step: drops the entries of `gone` files, except those a
    /// harvester opened since [`Registry::unseen`] listed them. Returns how many went.
    pub fn remove_gone(&self, gone: &[FileKey]) -> usize {
        let mut state = self.state();
        let mut dropped = 0;
        for key in gone {
            if state.current.contains_key(key) || state.files.remove(key).is_none() {
                continue;
            }
            state.seen.remove(key);
            state.sources.retain(|_, s| s.key != *key);
            dropped += 1;
        }
        state.dirty |= dropped > 0;
        dropped
    }

    /// The file of `key` is deleted and read to its end: its entry goes (late acks are
    /// ignored), so a new file that gets the same identity starts from 0.
    pub fn forget(&self, key: FileKey) {
        let mut state = self.state();
        state.dirty |= state.files.remove(&key).is_some();
        state.seen.remove(&key);
        state.current.remove(&key);
        state.sources.retain(|_, s| s.key != key);
    }

    /// The harvester of `source` is done: its acks still count, but once a new source
    /// for the same file exists, or the entry is cleaned, it is forgotten.
    pub fn close_source(&self, source: u64) {
        let mut state = self.state();
        if let Some(key) = state.sources.get(&source).map(|s| s.key) {
            // Keep the source for late acks, but stop it pinning the entry against cleaning.
            if state.current.get(&key) == Some(&source) {
                state.current.remove(&key);
            }
        }
    }

    fn ack(&self, state: &mut State, source: u64, start: u64, end: u64) {
        let Some(src) = state.sources.get_mut(&source) else {
            return;
        };
        if !src.ack(start, end) {
            return;
        }
        let (key, acked) = (src.key, src.acked);
        if state.current.get(&key).is_some_and(|&c| c != source) {
            return;
        }
        if let Some(file) = state.files.get_mut(&key)
            && acked > file.offset
        {
            file.offset = acked;
            file.updated_secs = unix_secs();
            state.dirty = true;
            if std::mem::take(&mut state.first_ack_pending) || self.flush_interval.is_zero() {
                self.flush_now.notify_one();
            }
        }
    }

    /// Writes the state file if anything changed since the last write.
    pub fn flush(&self) -> Result<bool, RegistryError> {
        let _writing = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let snapshot = {
            let mut state = self.state();
            if !state.dirty {
                return Ok(false);
            }
            state.dirty = false;
            state.files.clone()
        };
        store::save(&self.file, &snapshot).inspect_err(|_| {
            self.state().dirty = true;
        })?;
        Ok(true)
    }

    /// Writes the state at most every [`FLUSH_INTERVAL`] while it changes (and at once
    /// after the first ack since the start), and cleans entries of long-gone files. Runs
    /// until aborted.
    pub async fn run_flusher(self: Arc<Self>) {
        // A zero interval means "on every ack": those come through `flush_now`.
        let mut tick = tokio::time::interval(if self.flush_interval.is_zero() {
            FLUSH_INTERVAL
        } else {
            self.flush_interval
        });
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_clean = Instant::now();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = self.flush_now.notified() => {}
            }
            if last_clean.elapsed() >= Duration::from_secs(60) {
                last_clean = Instant::now();
                let dropped = self.clean(last_clean);
                if dropped > 0 {
                    tracing::info!(
                        dropped,
                        "registry: dropped entries of files gone for longer than {}",
                        humantime::format_duration(self.clean_removed_after)
                    );
                }
            }
            let me = self.clone();
            match tokio::task::spawn_blocking(move || me.flush()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "registry not written; retrying"),
                Err(e) => tracing::warn!(error = %e, "registry writer task failed"),
            }
        }
    }
}

impl AckSink for Registry {
    fn acked(&self, events: &[Event]) {
        let mut state = self.state();
        // Lines read one after another ack as one range: one update per run of them
        // instead of one per event.
        let mut run: Option<(u64, u64, u64)> = None;
        for origin in events.iter().filter_map(|e| e.origin) {
            if origin.parts > 1 {
                let Some(src) = state.sources.get_mut(&origin.source) else {
                    continue;
                };
                let left = src.shared.entry(origin.start).or_insert(origin.parts);
                *left -= 1;
                if *left > 0 {
                    continue;
                }
                src.shared.remove(&origin.start);
            }
            run = match run {
                Some((source, start, end)) if source == origin.source && end == origin.start => {
                    Some((source, start, origin.end))
                }
                Some((source, start, end)) => {
                    self.ack(&mut state, source, start, end);
                    Some((origin.source, origin.start, origin.end))
                }
                None => Some((origin.source, origin.start, origin.end)),
            };
        }
        if let Some((source, start, end)) = run {
            self.ack(&mut state, source, start, end);
        }
    }
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
