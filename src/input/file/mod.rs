//! `type: filestream` (and `log`): tails the files matching the input's globs, like
//! Filebeat's filestream input, resuming each file at the offset the registry says is
//! acked.
//!
//! The scanner expands the globs every `check_interval`, and at once when a filesystem
//! notification says a matching file appeared (or one nobody reads grew), and starts one
//! [`Harvester`] per file not yet being read (identity: device + inode, so a renamed file
//! is not read twice and a new file under an old name is). A harvester wakes on the
//! notifications about its own file and polls it as the safety net: slowly where its
//! directory is watched, every 250 ms where it is not. It never drops a line:
//! back-pressure from the queue simply stops the reading.

mod container;
mod harvester;
mod line_event;
mod lines;
mod multiline;
mod watch;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use regex::{Regex, RegexSet};
use tokio::task::JoinSet;

use crate::config::{FilestreamConfig, FingerprintConfig};
use crate::event::EventTemplate;
use crate::input::{Outlet, QueueClosed};
use crate::registry::{FileKey, Registry};
use harvester::{HarvestError, Harvester};
pub use line_event::LineEvents;
use multiline::Multiline;
use watch::FileWatch;

/// Notifications come in bursts (a write is often several events): a scan they cause
/// waits this long after the previous one, so a burst costs one scan.
const NOTIFIED_SCAN_SPACING: std::time::Duration = std::time::Duration::from_millis(20);

#[derive(Debug, thiserror::Error)]
pub enum FileInputError {
    #[error("invalid regular expression {pattern:?}: {source}")]
    Regex {
        pattern: String,
        source: regex::Error,
    },
    #[error(transparent)]
    Parser(#[from] crate::parse::ParseError),
    #[error(transparent)]
    Closed(#[from] QueueClosed),
}

/// `include_lines` / `exclude_lines`.
#[derive(Debug)]
pub(crate) struct Filters {
    include: Option<RegexSet>,
    exclude: Option<RegexSet>,
}

impl Filters {
    fn new(include: &[String], exclude: &[String]) -> Result<Self, FileInputError> {
        let set = |patterns: &[String]| -> Result<Option<RegexSet>, FileInputError> {
            if patterns.is_empty() {
                return Ok(None);
            }
            for p in patterns {
                compile(p)?;
            }
            RegexSet::new(patterns)
                .map(Some)
                .map_err(|source| FileInputError::Regex {
                    pattern: patterns.join(" | "),
                    source,
                })
        };
        Ok(Filters {
            include: set(include)?,
            exclude: set(exclude)?,
        })
    }

    /// Whether every line is shipped (no pattern at all).
    pub(crate) fn keep_all(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }

    /// Whether a line is shipped: it matches an include pattern (if any) and no exclude one.
    pub(crate) fn keep(&self, line: &str) -> bool {
        self.include.as_ref().is_none_or(|s| s.is_match(line))
            && !self.exclude.as_ref().is_some_and(|s| s.is_match(line))
    }
}

fn compile(pattern: &str) -> Result<Regex, FileInputError> {
    Regex::new(pattern).map_err(|source| FileInputError::Regex {
        pattern: pattern.to_string(),
        source,
    })
}

/// A file found by a scan.
struct Found {
    path: PathBuf,
    key: FileKey,
    /// Device + inode (the same as `key` without a fingerprint identity).
    inode: FileKey,
    size: u64,
    modified: Option<SystemTime>,
}

/// The fingerprint identity of an open file: SHA-256 of `length` bytes at `offset`, or
/// `None` while the file is shorter than that (it is not read until it grows).
fn fingerprint(file: &std::fs::File, fp: FingerprintConfig) -> std::io::Result<Option<FileKey>> {
    use sha2::Digest as _;
    use std::os::unix::fs::FileExt as _;
    let Ok(length) = usize::try_from(fp.length) else {
        return Ok(None);
    };
    let mut buf = vec![0u8; length];
    match file.read_exact_at(&mut buf, fp.offset) {
        Ok(()) => Ok(Some(FileKey::Fingerprint(
            sha2::Sha256::digest(&buf).into(),
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens `path` and identifies what was opened (the name may point to another file
/// than the scan saw): `(file, key, inode key)`, `None` if too short to fingerprint.
fn open_identified(
    path: &std::path::Path,
    fp: Option<FingerprintConfig>,
) -> std::io::Result<Option<(std::fs::File, FileKey, FileKey)>> {
    let file = std::fs::File::open(path)?;
    let inode = FileKey::of(&file.metadata()?);
    let key = match fp {
        None => inode,
        Some(fp) => match fingerprint(&file, fp)? {
            Some(key) => key,
            None => return Ok(None),
        },
    };
    Ok(Some((file, key, inode)))
}

/// Expands the globs: regular files only (symlinks are not followed, as in Filebeat),
/// without those matching `exclude_files`, each file once. With a fingerprint identity,
/// files too short to fingerprint are left out.
fn scan(patterns: &[String], exclude: &[Regex], fp: Option<FingerprintConfig>) -> Vec<Found> {
    let mut found = Vec::new();
    let mut keys = HashSet::new();
    for pattern in patterns {
        let Ok(paths) = glob::glob(pattern) else {
            continue; // validated when the config was loaded
        };
        for path in paths.flatten() {
            let text = path.to_string_lossy();
            if exclude.iter().any(|r| r.is_match(&text)) {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue; // gone since the glob saw it
            };
            if !meta.file_type().is_file() {
                continue;
            }
            let inode = FileKey::of(&meta);
            let key = match fp {
                None => inode,
                Some(fp) if meta.len() < fp.offset.saturating_add(fp.length) => continue,
                Some(fp) => match std::fs::File::open(&path).map(|f| fingerprint(&f, fp)) {
                    Ok(Ok(Some(key))) => key,
                    _ => continue, // gone, unreadable (reported when opened) or shrunk
                },
            };
            if keys.insert(key) {
                found.push(Found {
                    path,
                    key,
                    inode,
                    size: meta.len(),
                    modified: meta.modified().ok(),
                });
            }
        }
    }
    found
}

/// The id an input's registry entries carry: its `id`, or one made of its globs.
fn registry_input(id: Option<&str>, cfg: &FilestreamConfig) -> Arc<str> {
    match id {
        Some(id) => id.into(),
        None => format!("paths={}", cfg.paths.join(",")).into(),
    }
}

/// `clean_removed`: after a complete scan, the registry entries of this input for files
/// the scan did not see and that are gone from their recorded path (or replaced there
/// by another file) are dropped, so that a new file reusing the inode starts at 0.
/// Entries of files a harvester holds open stay (it forgets a deleted file itself once
/// read to its end).
fn clean_removed(
    registry: &Registry,
    input: &str,
    found: &[Found],
    reading: &HashMap<FileKey, (PathBuf, FileKey)>,
    patterns: &[String],
    exclude: &[Regex],
) -> usize {
    let mut seen: HashSet<FileKey> = found.iter().map(|f| f.key).collect();
    seen.extend(reading.keys().copied());
    let globs: Vec<glob::Pattern> = patterns
        .iter()
        .filter_map(|p| glob::Pattern::new(p).ok())
        .collect();
    let options = glob::MatchOptions {
        require_literal_separator: true,
        ..glob::MatchOptions::new()
    };
    let matches = |path: &std::path::Path| {
        globs.iter().any(|g| g.matches_path_with(path, options))
            && !exclude.iter().any(|r| r.is_match(&path.to_string_lossy()))
    };
    let gone: Vec<FileKey> = registry
        .unseen(input, &seen, matches)
        .into_iter()
        .filter(|(key, path)| match std::fs::symlink_metadata(path) {
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
            Ok(meta) => matches!(key, FileKey::Inode { .. }) && FileKey::of(&meta) != *key,
        })
        .map(|(key, _)| key)
        .collect();
    registry.remove_gone(&gone)
}

/// Runs the input until the queue closes.
pub async fn run(
    cfg: &FilestreamConfig,
    id: Option<&str>,
    parser: Option<&crate::parse::ParserSpec>,
    template: EventTemplate,
    outlet: Outlet,
    registry: Arc<Registry>,
) -> Result<u64, FileInputError> {
    let filters = Arc::new(Filters::new(&cfg.include_lines, &cfg.exclude_lines)?);
    let exclude_files = cfg
        .exclude_files
        .iter()
        .map(|p| compile(p))
        .collect::<Result<Vec<_>, _>>()?;
    let exclude_files = Arc::new(exclude_files);
    if let Some(m) = &cfg.multiline {
        compile(&m.pattern)?;
    }
    // Watching starts before the first scan so that no file created in between is missed.
    let mut watch = FileWatch::start(&cfg.paths);
    // Files being read, with the path they were opened under and their device + inode:
    // with a fingerprint identity a file being read whose first bytes changed
    // (truncated) must not be read twice.
    let mut reading: HashMap<FileKey, (PathBuf, FileKey)> = HashMap::new();
    let fp = cfg.fingerprint;
    let mut harvesters: JoinSet<(FileKey, Result<u64, HarvestError>)> = JoinSet::new();
    let mut limit_logged = false;
    let input = registry_input(id, cfg);
    loop {
        let scanned_at = tokio::time::Instant::now();
        let (patterns, exclude) = (cfg.paths.clone(), exclude_files.clone());
        // What `clean_removed` needs, moved into the blocking task with the scan.
        let clean = cfg
            .clean_removed
            .then(|| (registry.clone(), input.clone(), reading.clone()));
        let scanned = tokio::task::spawn_blocking(move || {
            let found = scan(&patterns, &exclude, fp);
            let dropped = clean.map_or(0, |(registry, input, reading)| {
                clean_removed(&registry, &input, &found, &reading, &patterns, &exclude)
            });
            (found, dropped)
        })
        .await;
        let Ok((found, dropped)) = scanned else {
            // Not a complete scan: nothing is read or cleaned on it.
            tokio::time::sleep(cfg.check_interval).await;
            continue;
        };
        if dropped > 0 {
            tracing::info!(
                input = %input,
                dropped,
                "clean_removed: dropped the registry entries of removed files"
            );
        }
        registry.seen(found.iter().map(|f| f.key));
        for file in found {
            if reading.contains_key(&file.key) || reading.values().any(|(_, i)| *i == file.inode) {
                continue;
            }
            let acked = registry.offset(file.key);
            if acked == Some(file.size) {
                continue; // nothing new since it was last read
            }
            let too_old = cfg.ignore_older.is_some_and(|max| {
                file.modified
                    .and_then(|m| m.elapsed().ok())
                    .is_some_and(|age| age > max)
            });
            if too_old {
                continue;
            }
            if cfg.harvester_limit > 0 && reading.len() >= cfg.harvester_limit {
                if !limit_logged {
                    tracing::info!(limit = cfg.harvester_limit, path = %file.path.display(), "harvester_limit reached: more files wait for a free harvester");
                    limit_logged = true;
                }
                continue;
            }
            let path = file.path.clone();
            let opened = tokio::task::spawn_blocking(move || open_identified(&path, fp)).await;
            let (opened, key, inode) = match opened {
                Ok(Ok(Some(opened))) => opened,
                Ok(Ok(None)) | Err(_) => continue,
                Ok(Err(e)) => {
                    tracing::warn!(path = %file.path.display(), error = %e, "cannot open file");
                    continue;
                }
            };
            if reading.contains_key(&key) || reading.values().any(|(_, i)| *i == inode) {
                continue;
            }
            reading.insert(key, (file.path.clone(), inode));
            let multiline = match &cfg.multiline {
                Some(m) => Some(Multiline::new(m, cfg.message_max_bytes).map_err(|source| {
                    FileInputError::Regex {
                        pattern: m.pattern.clone(),
                        source,
                    }
                })?),
                None => None,
            };
            let container = match cfg.container {
                Some(options) => {
                    let (path, template, max) =
                        (file.path.clone(), template.clone(), cfg.message_max_bytes);
                    tokio::task::spawn_blocking(move || {
                        container::ContainerPart::new(options, &path, &template, max)
                    })
                    .await
                    .ok()
                }
                None => None,
            };
            let parsing = outlet.parsing(parser, &template)?;
            let harvester = Harvester {
                parsing,
                path: file.path.clone(),
                key,
                input: input.clone(),
                file: Arc::new(opened),
                identity_by_content: fp.is_some(),
                registry: registry.clone(),
                filters: filters.clone(),
                template: template.clone(),
                close_inactive: cfg.close_inactive,
                max_bytes: cfg.message_max_bytes,
                multiline,
                container,
                wake: watch.harvester(inode, &file.path),
            };
            let outlet = outlet.clone();
            harvesters.spawn(async move { (key, harvester.run(&outlet).await) });
        }

        // Wait for the next scan; a harvester ending frees its file (and a slot).
        let next_scan = tokio::time::sleep(cfg.check_interval);
        tokio::pin!(next_scan);
        loop {
            tokio::select! {
                () = &mut next_scan => {
                    watch.refresh();
                    break;
                }
                () = watch.changed() => {
                    if watch.needs_scan(|p| reading.values().any(|(r, _)| r == p)) {
                        tokio::time::sleep_until(scanned_at + NOTIFIED_SCAN_SPACING).await;
                        break;
                    }
                }
                Some(done) = harvesters.join_next(), if !harvesters.is_empty() => {
                    let Ok((key, result)) = done else { continue };
                    reading.remove(&key);
                    limit_logged = false;
                    match result {
                        Ok(_) => {}
                        Err(HarvestError::Closed(e)) => return Err(e.into()),
                        Err(e) => tracing::warn!(error = %e, "harvester stopped"),
                    }
                    if fp.is_some() {
                        // A truncated file ends its harvester and is a new file now.
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_then_exclude_lines() {
        let f = Filters::new(&["^ERR".into(), "^WARN".into()], &["ignore".into()]).unwrap();
        assert!(f.keep("ERR disk full"));
        assert!(f.keep("WARN low"));
        assert!(!f.keep("INFO fine"));
        assert!(!f.keep("ERR ignore me"));
        let all = Filters::new(&[], &[]).unwrap();
        assert!(all.keep("anything"));
    }

    #[test]
    fn scan_finds_regular_files_once_without_excluded_ones() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.log", "b.log", "c.log.gz"] {
            std::fs::write(dir.path().join(name), b"x\n").unwrap();
        }
        std::fs::create_dir(dir.path().join("d.log")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("a.log"), dir.path().join("e.log")).unwrap();
        let pattern = format!("{}/*", dir.path().display());
        let twice = vec![pattern.clone(), pattern];
        let exclude = vec![compile(r"\.gz$").unwrap()];
        let mut names: Vec<String> = scan(&twice, &exclude, None)
            .into_iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec!["a.log", "b.log"]);
    }

    #[test]
    fn clean_removed_drops_entries_of_files_gone_or_replaced_at_their_path_only() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::open(&dir.path().join("data"), std::time::Duration::MAX).unwrap();
        let patterns = vec![format!("{}/*.log", dir.path().display())];
        let path = |name: &str| dir.path().join(name);
        let key_of = |p: &std::path::Path| FileKey::of(&std::fs::metadata(p).unwrap());
        for name in ["kept.log", "deleted.log", "replaced.log", "open.log"] {
            std::fs::write(path(name), b"a line\n").unwrap();
            let src = registry.open_source(key_of(&path(name)), "in", &path(name), 7);
            if name != "open.log" {
                registry.close_source(src);
            }
        }
        let (kept, deleted, replaced, open) = (
            key_of(&path("kept.log")),
            key_of(&path("deleted.log")),
            key_of(&path("replaced.log")),
            key_of(&path("open.log")),
        );
        std::fs::remove_file(path("deleted.log")).unwrap();
        std::fs::remove_file(path("open.log")).unwrap();
        // Another file under the old name (written first, so it cannot get the inode).
        std::fs::write(path("new.tmp"), b"other\n").unwrap();
        std::fs::rename(path("new.tmp"), path("replaced.log")).unwrap();
        // An entry of another input for a file that is gone stays too.
        let theirs = FileKey::Inode {
            device: 1,
            inode: 1,
        };
        registry.close_source(registry.open_source(theirs, "other", &path("theirs.log"), 3));

        // `kept.log` was renamed out of the scan's sight, but is still at its path.
        let dropped = clean_removed(&registry, "in", &[], &HashMap::new(), &patterns, &[]);
        assert_eq!(dropped, 2);
        let left: HashSet<FileKey> = registry.files().into_keys().collect();
        assert_eq!(left, HashSet::from([kept, open, theirs]));
        assert!(!left.contains(&deleted) && !left.contains(&replaced));
    }

    #[test]
    fn fingerprint_covers_length_bytes_from_offset_and_short_files_have_none() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, short) = (
            dir.path().join("a.log"),
            dir.path().join("b.log"),
            dir.path().join("short.log"),
        );
        std::fs::write(
            &a,
            [b"x".repeat(10), b"y".repeat(64), b"a-tail".to_vec()].concat(),
        )
        .unwrap();
        std::fs::write(
            &b,
            [b"z".repeat(10), b"y".repeat(64), b"b-tail".to_vec()].concat(),
        )
        .unwrap();
        std::fs::write(&short, b"y".repeat(70)).unwrap();
        let fp = FingerprintConfig {
            offset: 10,
            length: 64,
        };
        let of = |p: &std::path::Path| fingerprint(&std::fs::File::open(p).unwrap(), fp).unwrap();
        assert!(matches!(of(&a), Some(FileKey::Fingerprint(_))));
        assert_eq!(of(&a), of(&b), "only bytes 10..74 count");
        assert_eq!(of(&short), None);
        let found = scan(&[format!("{}/*.log", dir.path().display())], &[], Some(fp));
        assert_eq!(
            found.len(),
            1,
            "a and b are one file, short is not read yet"
        );
        assert_eq!(found[0].key, of(&a).unwrap());
    }
}
