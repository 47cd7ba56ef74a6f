//! Filesystem notifications (inotify) for one filestream input. They only make things
//! happen sooner: a new or renamed file wakes the scanner, written data wakes the
//! harvester of that file, and nothing else. The periodic scan and the harvesters'
//! polling stay as the safety net, because notifications can be missed (queue overflow,
//! watch limit, a directory created or replaced later, a file written after it was
//! renamed out of the watched directory or deleted). A failure to watch is logged once
//! and never stops the input.
//!
//! A data event names a path, a harvester reads an open file that may since have been
//! renamed: events are routed by the identity (device + inode) the path has when the
//! event is handled. Where that misses (the path was renamed or removed in between), the
//! rename or remove event that follows wakes every harvester of the input, so a
//! harvester is never left waiting on a change it was not told about while its
//! directory is watched. It must never wake every harvester for one file's write: one
//! busy file next to many quiet ones would wake them all on every write.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use notify::event::{EventKind, ModifyKind};
use notify::{INotifyWatcher, RecursiveMode, Watcher};
use tokio::sync::Notify;

use crate::registry::FileKey;

/// How a data event's path is turned into the identity of the file there now.
type Identify = Box<dyn Fn(&Path) -> Option<FileKey> + Send + Sync>;

/// The harvesters reading one file: each one's id (to forget it) and its wake-up.
type Waiting = Vec<(u64, Arc<Notify>)>;

/// What the notifications said since the scanner last looked, and whom they wake.
struct Changes {
    patterns: Vec<glob::Pattern>,
    /// Files matching the globs whose data changed: worth a scan if nobody reads them.
    written: Mutex<HashSet<PathBuf>>,
    /// A file may have appeared (create, rename, lost events): scan.
    rescan: AtomicBool,
    scanner: Notify,
    /// The idle harvesters, by the identity of the file each reads: a data event wakes
    /// only the harvester of the file it concerns.
    harvesters: Mutex<HashMap<FileKey, Waiting>>,
    next_id: AtomicU64,
    /// Directories whose notifications arrive (a harvester there may poll slowly).
    watched: Mutex<Vec<(PathBuf, RecursiveMode)>>,
    /// Watched directories whose watch went away (removed or moved): to watch again.
    lost: Mutex<Vec<(PathBuf, RecursiveMode)>>,
    /// The watch limit was reached while adding a recursive watch's new subdirectory:
    /// which one is not said, so for the rest of the run no directory below a recursive
    /// root counts as watched (their harvesters poll fast, as without notifications).
    limit_reached: AtomicBool,
    identify: Identify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data under these locks stays consistent at every step: a panic elsewhere
    // while holding one leaves nothing half-done.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Changes {
    fn new(patterns: &[String], identify: Identify) -> Changes {
        Changes {
            patterns: patterns
                .iter()
                .filter_map(|p| glob::Pattern::new(p).ok())
                .collect(),
            written: Mutex::new(HashSet::new()),
            rescan: AtomicBool::new(false),
            scanner: Notify::new(),
            harvesters: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            watched: Mutex::new(Vec::new()),
            lost: Mutex::new(Vec::new()),
            limit_reached: AtomicBool::new(false),
            identify,
        }
    }

    fn matches(&self, path: &Path) -> bool {
        self.patterns.iter().any(|p| p.matches_path(path))
    }

    fn wake_all(&self) {
        for (_, notify) in lock(&self.harvesters).values().flatten() {
            notify.notify_one();
        }
    }

    /// Wakes the harvester of the file now at `path`, if one reads it.
    fn wake_file_at(&self, path: &Path) {
        let Some(key) = (self.identify)(path) else {
            return; // renamed or removed since: that event wakes everyone
        };
        if let Some(list) = lock(&self.harvesters).get(&key) {
            for (_, notify) in list {
                notify.notify_one();
            }
        }
    }

    /// Whether notifications about files in `dir` arrive.
    fn covers(&self, dir: &Path) -> bool {
        let below = !self.limit_reached.load(Ordering::Relaxed);
        lock(&self.watched).iter().any(|(w, mode)| {
            dir == w || (below && *mode == RecursiveMode::Recursive && dir.starts_with(w))
        })
    }

    /// A watched directory itself was removed or moved away: its notifications stop.
    fn lose_watched(&self, paths: &[PathBuf]) {
        let mut watched = lock(&self.watched);
        let (gone, kept): (Vec<_>, Vec<_>) = watched
            .drain(..)
            .partition(|(w, _)| paths.iter().any(|p| p == w));
        *watched = kept;
        drop(watched);
        lock(&self.lost).extend(gone);
    }

    fn on_event(&self, result: notify::Result<notify::Event>) {
        let event = match result {
            Ok(e) => e,
            Err(e) => {
                if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) {
                    self.limit_reached.store(true, Ordering::Relaxed);
                }
                // A queue overflow or the watch limit: events were lost, look at everything.
                self.rescan.store(true, Ordering::Relaxed);
                self.scanner.notify_one();
                self.wake_all();
                return;
            }
        };
        match event.kind {
            EventKind::Access(_) => {}
            EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Metadata(_)) => {
                for path in &event.paths {
                    self.wake_file_at(path);
                }
                let matching: Vec<PathBuf> = event
                    .paths
                    .into_iter()
                    .filter(|p| self.matches(p))
                    .collect();
                if !matching.is_empty() {
                    lock(&self.written).extend(matching);
                    self.scanner.notify_one();
                }
            }
            EventKind::Create(_) => {
                // A new file is the scanner's; no harvester reads it yet.
                if event.need_rescan() || event.paths.iter().any(|p| self.matches(p)) {
                    self.rescan.store(true, Ordering::Relaxed);
                    self.scanner.notify_one();
                }
            }
            _ => {
                // Rename, remove and anything unclassified: rare, and a data event routed
                // by identity may have missed its file just before. Wake everyone.
                if matches!(
                    event.kind,
                    EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
                ) {
                    self.lose_watched(&event.paths);
                }
                self.wake_all();
                if event.need_rescan() || event.paths.iter().any(|p| self.matches(p)) {
                    self.rescan.store(true, Ordering::Relaxed);
                    self.scanner.notify_one();
                }
            }
        }
    }

    #[cfg(test)]
    fn needs_rescan_flag(&self) -> bool {
        self.rescan.load(Ordering::Relaxed)
    }

    /// Registers a harvester reading the file `key` (device + inode) found in `dir`.
    fn register(self: &Arc<Self>, key: FileKey, dir: PathBuf) -> HarvesterWake {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let notify = Arc::new(Notify::new());
        lock(&self.harvesters)
            .entry(key)
            .or_default()
            .push((id, notify.clone()));
        HarvesterWake {
            id,
            key,
            dir,
            notify,
            changes: self.clone(),
        }
    }
}

/// One harvester's share of the notifications: woken when its file may have changed.
/// Dropping it stops the wake-ups.
pub(super) struct HarvesterWake {
    id: u64,
    key: FileKey,
    /// The directory the file was found in.
    dir: PathBuf,
    notify: Arc<Notify>,
    changes: Arc<Changes>,
}

impl HarvesterWake {
    /// Waits for a notification about this harvester's file. One that came since the
    /// last wait is not lost: it returns at once.
    pub async fn notified(&self) {
        self.notify.notified().await;
    }

    /// Whether the file's directory is watched, so that missing a change is the rare
    /// case and the harvester may poll slowly.
    pub fn watched(&self) -> bool {
        self.changes.covers(&self.dir)
    }
}

#[cfg(test)]
impl HarvesterWake {
    /// A wake-up of its own, for a harvester under test: its directory watched or not.
    pub(super) fn detached(dir_watched: bool) -> HarvesterWake {
        let changes = Arc::new(Changes::new(&[], Box::new(|_| None)));
        if dir_watched {
            lock(&changes.watched).push(("/logs".into(), RecursiveMode::NonRecursive));
        }
        changes.register(
            FileKey::Inode {
                device: 0,
                inode: 0,
            },
            "/logs".into(),
        )
    }

    /// A handle that notifies as an event about the file would.
    pub(super) fn notifier(&self) -> Arc<Notify> {
        self.notify.clone()
    }
}

impl Drop for HarvesterWake {
    fn drop(&mut self) {
        let mut harvesters = lock(&self.changes.harvesters);
        if let Some(list) = harvesters.get_mut(&self.key) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                harvesters.remove(&self.key);
            }
        }
    }
}

/// The notifications of one input: holds the inotify watcher alive.
pub(super) struct FileWatch {
    watcher: Option<INotifyWatcher>,
    /// Directories not watched yet (missing at start): retried on every periodic scan.
    pending: Vec<(PathBuf, RecursiveMode)>,
    warned: bool,
    changes: Arc<Changes>,
}

impl FileWatch {
    /// Starts watching the directories the globs can match in. Never fails: without
    /// notifications the input polls.
    pub fn start(patterns: &[String]) -> FileWatch {
        let identify: Identify = Box::new(|path| {
            std::fs::symlink_metadata(path)
                .ok()
                .map(|m| FileKey::of(&m))
        });
        let changes = Arc::new(Changes::new(patterns, identify));
        let mut dirs: Vec<(PathBuf, RecursiveMode)> = Vec::new();
        for pattern in patterns {
            if let Some(dir) = watch_dir(pattern)
                && !dirs.contains(&dir)
            {
                dirs.push(dir);
            }
        }
        let handler = {
            let changes = changes.clone();
            move |result| changes.on_event(result)
        };
        let mut me = FileWatch {
            watcher: None,
            pending: dirs,
            warned: false,
            changes,
        };
        match INotifyWatcher::new(handler, notify::Config::default()) {
            Ok(w) => me.watcher = Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "filesystem notifications unavailable: new files are found every check_interval and appended lines within 250 ms");
                me.warned = true;
                me.pending.clear();
            }
        }
        me.refresh();
        me
    }

    /// Watches the directories that could not be watched before, or whose watch was
    /// lost (they may exist now).
    pub fn refresh(&mut self) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        let lost = std::mem::take(&mut *lock(&self.changes.lost));
        for (dir, mode) in lost {
            // Forget the old watch (it may still be known to notify); a fresh one follows.
            let _ = watcher.unwatch(&dir);
            if !self.pending.contains(&(dir.clone(), mode)) {
                self.pending.push((dir, mode));
            }
        }
        let mut failed = Vec::new();
        for (dir, mode) in self.pending.drain(..) {
            match watcher.watch(&dir, mode) {
                Ok(()) => lock(&self.changes.watched).push((dir, mode)),
                Err(e) => {
                    if !self.warned {
                        self.warned = true;
                        tracing::warn!(dir = %dir.display(), error = %e, "cannot watch directory for changes: files in it are found every check_interval and appended lines within 250 ms");
                    }
                    failed.push((dir, mode));
                }
            }
        }
        self.pending = failed;
    }

    /// The wake-ups of a harvester reading the file `inode` (device + inode) at `path`;
    /// `None` without notifications.
    pub fn harvester(&self, inode: FileKey, path: &Path) -> Option<HarvesterWake> {
        self.watcher.as_ref()?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Some(self.changes.register(inode, dir))
    }

    /// Waits for a notification that may need a scan.
    pub async fn changed(&self) {
        if self.watcher.is_none() {
            return std::future::pending().await;
        }
        self.changes.scanner.notified().await;
    }

    /// Whether what was notified since the last call needs a scan: a file may have
    /// appeared, or a file nobody reads (closed as inactive, or never started) grew.
    pub fn needs_scan(&self, is_read: impl Fn(&Path) -> bool) -> bool {
        let rescan = self.changes.rescan.swap(false, Ordering::Relaxed);
        let written = std::mem::take(&mut *lock(&self.changes.written));
        rescan || written.iter().any(|p| !is_read(p))
    }
}

/// The directory to watch for a glob: its parent directory if that has no wildcard,
/// else the literal part before the first wildcard, recursively.
fn watch_dir(pattern: &str) -> Option<(PathBuf, RecursiveMode)> {
    let parent = Path::new(pattern).parent()?;
    let wild = |c: &Component<'_>| {
        c.as_os_str()
            .to_string_lossy()
            .contains(['*', '?', '[', '{'])
    };
    if !parent.components().any(|c| wild(&c)) {
        let dir = if parent.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            parent.to_path_buf()
        };
        return Some((dir, RecursiveMode::NonRecursive));
    }
    let literal: PathBuf = parent.components().take_while(|c| !wild(c)).collect();
    if literal.as_os_str().is_empty() {
        return None; // a relative glob starting with a wildcard: too broad to watch
    }
    Some((literal, RecursiveMode::Recursive))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_the_parent_or_the_literal_prefix_recursively() {
        assert_eq!(
            watch_dir("/var/log/*.log"),
            Some((PathBuf::from("/var/log"), RecursiveMode::NonRecursive))
        );
        assert_eq!(
            watch_dir("/var/lib/docker/containers/*/*-json.log"),
            Some((
                PathBuf::from("/var/lib/docker/containers"),
                RecursiveMode::Recursive
            ))
        );
        assert_eq!(
            watch_dir("app.log"),
            Some((PathBuf::from("."), RecursiveMode::NonRecursive))
        );
        assert_eq!(watch_dir("*/x.log"), None);
    }

    use notify::event::{DataChange, RemoveKind, RenameMode};
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    fn inode(n: u64) -> FileKey {
        FileKey::Inode {
            device: 1,
            inode: n,
        }
    }

    /// Whether a wake-up is waiting (without waiting for one).
    fn woken(wake: &HarvesterWake) -> bool {
        let notified = std::pin::pin!(wake.notified());
        matches!(
            notified.poll(&mut Context::from_waker(Waker::noop())),
            Poll::Ready(())
        )
    }

    /// Changes under `/logs/*.log` where each name maps to the inode `files` says.
    fn changes(files: &'static [(&'static str, u64)]) -> Arc<Changes> {
        let identify: Identify = Box::new(move |p: &Path| {
            files
                .iter()
                .find(|(name, _)| p == Path::new(name))
                .map(|(_, n)| inode(*n))
        });
        Arc::new(Changes::new(&["/logs/*.log".into()], identify))
    }

    fn written(path: &str) -> notify::Result<notify::Event> {
        Ok(
            notify::Event::new(EventKind::Modify(ModifyKind::Data(DataChange::Any)))
                .add_path(PathBuf::from(path)),
        )
    }

    #[test]
    fn a_write_to_one_file_wakes_its_harvester_and_not_the_others() {
        let c = changes(&[("/logs/a.log", 1), ("/logs/b.log", 2), ("/logs/c.log", 3)]);
        let (a, b, quiet) = (
            c.register(inode(1), "/logs".into()),
            c.register(inode(2), "/logs".into()),
            c.register(inode(3), "/logs".into()),
        );
        c.on_event(written("/logs/a.log"));
        assert!(woken(&a));
        assert!(!woken(&b) && !woken(&quiet));
        c.on_event(written("/logs/b.log"));
        c.on_event(written("/logs/b.log"));
        assert!(!woken(&a), "a's wake-up was taken");
        assert!(woken(&b));
        assert!(!woken(&b), "two writes before a wait are one wake-up");
        assert!(!woken(&quiet));
    }

    #[test]
    fn a_rotated_file_is_woken_under_its_new_name_and_the_new_file_wakes_nobody() {
        // app.log (inode 1) was renamed app.log.1; a new app.log (inode 2) has no
        // harvester yet. The old file's harvester still reads inode 1.
        let c = changes(&[("/logs/app.log.1", 1), ("/logs/app.log", 2)]);
        let old = c.register(inode(1), "/logs".into());
        c.on_event(written("/logs/app.log"));
        assert!(!woken(&old));
        c.on_event(written("/logs/app.log.1"));
        assert!(woken(&old));
    }

    #[test]
    fn a_rename_a_remove_or_lost_events_wake_every_harvester() {
        let c = changes(&[]);
        let (a, b) = (
            c.register(inode(1), "/logs".into()),
            c.register(inode(2), "/logs".into()),
        );
        c.on_event(Ok(notify::Event::new(EventKind::Modify(ModifyKind::Name(
            RenameMode::From,
        )))
        .add_path("/logs/a.log".into())));
        assert!(woken(&a) && woken(&b));
        c.on_event(Ok(
            notify::Event::new(EventKind::Remove(RemoveKind::File)).add_path("/logs/b.log".into())
        ));
        assert!(woken(&a) && woken(&b));
        c.on_event(Err(notify::Error::generic("queue overflow")));
        assert!(woken(&a) && woken(&b));
        assert!(c.needs_rescan_flag(), "lost events ask for a scan");
    }

    #[test]
    fn a_write_to_a_file_nobody_reads_wakes_no_harvester() {
        let c = changes(&[("/logs/a.log", 1), ("/logs/other.txt", 9)]);
        let a = c.register(inode(1), "/logs".into());
        c.on_event(written("/logs/other.txt"));
        c.on_event(written("/logs/vanished.log"));
        assert!(!woken(&a));
    }

    #[test]
    fn a_dropped_harvester_is_forgotten() {
        let c = changes(&[("/logs/a.log", 1)]);
        let a = c.register(inode(1), "/logs".into());
        let again = c.register(inode(1), "/logs".into());
        drop(a);
        c.on_event(written("/logs/a.log"));
        assert!(woken(&again), "the other harvester of the same file stays");
        drop(again);
        assert!(lock(&c.harvesters).is_empty());
    }

    #[test]
    fn only_a_harvester_in_a_watched_directory_counts_as_watched() {
        let c = changes(&[]);
        lock(&c.watched).push(("/logs".into(), RecursiveMode::NonRecursive));
        lock(&c.watched).push(("/containers".into(), RecursiveMode::Recursive));
        let here = c.register(inode(1), "/logs".into());
        let below = c.register(inode(2), "/logs/sub".into());
        let deep = c.register(inode(3), "/containers/abc".into());
        let elsewhere = c.register(inode(4), "/tmp".into());
        assert!(here.watched() && deep.watched());
        assert!(!below.watched() && !elsewhere.watched());
        // The watched directory itself removed: its files are polled fast again, and it
        // is watched again on the next refresh.
        c.on_event(Ok(notify::Event::new(EventKind::Remove(
            RemoveKind::Folder,
        ))
        .add_path("/logs".into())));
        assert!(!here.watched() && deep.watched());
        assert_eq!(
            *lock(&c.lost),
            vec![(PathBuf::from("/logs"), RecursiveMode::NonRecursive)]
        );
        // The watch limit reached under a recursive root: a subdirectory may be unwatched.
        c.on_event(Err(notify::Error::new(notify::ErrorKind::MaxFilesWatch)));
        assert!(!deep.watched());
    }

    #[tokio::test]
    async fn a_new_matching_file_wakes_the_scanner_and_others_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let w = FileWatch::start(&[format!("{}/*.log", dir.path().display())]);
        assert!(w.watcher.is_some(), "inotify available in tests");
        std::fs::write(dir.path().join("other.txt"), b"x\n").unwrap();
        std::fs::write(dir.path().join("new.log"), b"x\n").unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), w.changed())
            .await
            .expect("notified");
        // Events may arrive in more than one batch: wait until the scan is asked for.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !w.needs_scan(|_| false) {
            assert!(std::time::Instant::now() < deadline, "no scan requested");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_directory_missing_at_start_is_watched_once_it_exists() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("later");
        let mut w = FileWatch::start(&[format!("{}/*.log", dir.display())]);
        assert_eq!(w.pending.len(), 1, "not watchable yet");
        std::fs::create_dir(&dir).unwrap();
        w.refresh();
        assert!(w.pending.is_empty());
        std::fs::write(dir.join("new.log"), b"x\n").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !w.needs_scan(|_| false) {
            assert!(std::time::Instant::now() < deadline, "no scan requested");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}
