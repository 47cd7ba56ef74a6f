//! Filesystem notifications (inotify) for one filestream input. They only make things
//! happen sooner: a new or renamed file wakes the scanner, written data wakes the idle
//! harvesters. The periodic scan and the harvesters' polling stay as the safety net,
//! because notifications can be missed (queue overflow, watch limit, a directory created
//! or replaced later). A failure to watch is logged once and never stops the input.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use notify::event::{EventKind, ModifyKind};
use notify::{INotifyWatcher, RecursiveMode, Watcher};
use tokio::sync::watch;

/// What the notifications said since the scanner last looked.
#[derive(Debug)]
struct Changes {
    patterns: Vec<glob::Pattern>,
    /// Files matching the globs whose data changed: worth a scan if nobody reads them.
    written: Mutex<HashSet<PathBuf>>,
    /// A file may have appeared (create, rename, lost events): scan.
    rescan: AtomicBool,
    scanner: tokio::sync::Notify,
    /// Bumped on every data change: idle harvesters wait on it.
    data: watch::Sender<u64>,
}

impl Changes {
    fn matches(&self, path: &Path) -> bool {
        self.patterns.iter().any(|p| p.matches_path(path))
    }

    fn on_event(&self, result: notify::Result<notify::Event>) {
        let event = match result {
            Ok(e) => e,
            Err(_) => {
                // Typically a queue overflow: events were lost, look at everything.
                self.rescan.store(true, Ordering::Relaxed);
                self.scanner.notify_one();
                self.data.send_modify(|n| *n = n.wrapping_add(1));
                return;
            }
        };
        match event.kind {
            EventKind::Access(_) => {}
            EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Metadata(_)) => {
                self.data.send_modify(|n| *n = n.wrapping_add(1));
                let matching: Vec<PathBuf> = event
                    .paths
                    .into_iter()
                    .filter(|p| self.matches(p))
                    .collect();
                if !matching.is_empty() {
                    self.written
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .extend(matching);
                    self.scanner.notify_one();
                }
            }
            _ => {
                // Create, rename, remove and anything unclassified.
                self.data.send_modify(|n| *n = n.wrapping_add(1));
                if event.need_rescan() || event.paths.iter().any(|p| self.matches(p)) {
                    self.rescan.store(true, Ordering::Relaxed);
                    self.scanner.notify_one();
                }
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
        let (data, _) = watch::channel(0u64);
        let changes = Arc::new(Changes {
            patterns: patterns
                .iter()
                .filter_map(|p| glob::Pattern::new(p).ok())
                .collect(),
            written: Mutex::new(HashSet::new()),
            rescan: AtomicBool::new(false),
            scanner: tokio::sync::Notify::new(),
            data,
        });
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

    /// Watches the directories that could not be watched before (they may exist now).
    pub fn refresh(&mut self) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        let mut failed = Vec::new();
        for (dir, mode) in self.pending.drain(..) {
            if let Err(e) = watcher.watch(&dir, mode) {
                if !self.warned {
                    self.warned = true;
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot watch directory for changes: files in it are found every check_interval and appended lines within 250 ms");
                }
                failed.push((dir, mode));
            }
        }
        self.pending = failed;
    }

    /// A receiver that changes whenever a watched file may have new data.
    pub fn data(&self) -> Option<watch::Receiver<u64>> {
        self.watcher.as_ref().map(|_| self.changes.data.subscribe())
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
        let written = std::mem::take(
            &mut *self
                .changes
                .written
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
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

    #[tokio::test]
    async fn a_new_matching_file_wakes_the_scanner_and_others_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let w = FileWatch::start(&[format!("{}/*.log", dir.path().display())]);
        assert!(w.data().is_some(), "inotify available in tests");
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
