//! `type: filestream` (and `log`): tails the files matching the input's globs, like
//! Filebeat's filestream input, resuming each file at the offset the registry says is
//! acked.
//!
//! The scanner expands the globs every `check_interval` and starts one [`Harvester`] per
//! file not yet being read (identity: device + inode, so a renamed file is not read
//! twice and a new file under an old name is). Harvesters poll their open file for new
//! data at a short interval; there are no filesystem notifications yet, so a new file is
//! found within `check_interval`. It never drops a line: back-pressure from the queue
//! simply stops the reading.

mod harvester;
mod lines;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use regex::{Regex, RegexSet};
use tokio::task::JoinSet;

use crate::config::FilestreamConfig;
use crate::event::EventTemplate;
use crate::input::{Outlet, QueueClosed};
use crate::registry::{FileKey, Registry};
use harvester::{HarvestError, Harvester};

#[derive(Debug, thiserror::Error)]
pub enum FileInputError {
    #[error("invalid regular expression {pattern:?}: {source}")]
    Regex {
        pattern: String,
        source: regex::Error,
    },
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
    size: u64,
    modified: Option<SystemTime>,
}

/// Expands the globs: regular files only (symlinks are not followed, as in Filebeat),
/// without those matching `exclude_files`, each file once.
fn scan(patterns: &[String], exclude: &[Regex]) -> Vec<Found> {
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
            let key = FileKey::of(&meta);
            if keys.insert(key) {
                found.push(Found {
                    path,
                    key,
                    size: meta.len(),
                    modified: meta.modified().ok(),
                });
            }
        }
    }
    found
}

/// Runs the input until the queue closes.
pub async fn run(
    cfg: &FilestreamConfig,
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
    let mut reading: HashSet<FileKey> = HashSet::new();
    let mut harvesters: JoinSet<(FileKey, Result<u64, HarvestError>)> = JoinSet::new();
    let mut limit_logged = false;
    loop {
        let (patterns, exclude) = (cfg.paths.clone(), exclude_files.clone());
        let found = tokio::task::spawn_blocking(move || scan(&patterns, &exclude))
            .await
            .unwrap_or_default();
        registry.seen(found.iter().map(|f| f.key));
        for file in found {
            if reading.contains(&file.key) {
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
            let opened = match tokio::fs::File::open(&file.path).await {
                Ok(f) => f,
                Err(e) => {
                    tracing::warn!(path = %file.path.display(), error = %e, "cannot open file");
                    continue;
                }
            };
            // The name may point to another file by now: identify what was opened.
            let key = match opened.metadata().await {
                Ok(m) => FileKey::of(&m),
                Err(_) => continue,
            };
            if !reading.insert(key) {
                continue;
            }
            let harvester = Harvester {
                path: file.path,
                key,
                file: opened,
                registry: registry.clone(),
                filters: filters.clone(),
                template: template.clone(),
                close_inactive: cfg.close_inactive,
                max_bytes: cfg.message_max_bytes,
            };
            let outlet = outlet.clone();
            harvesters.spawn(async move { (key, harvester.run(&outlet).await) });
        }

        // Wait for the next scan; a harvester ending frees its file (and a slot).
        let next_scan = tokio::time::sleep(cfg.check_interval);
        tokio::pin!(next_scan);
        loop {
            tokio::select! {
                () = &mut next_scan => break,
                Some(done) = harvesters.join_next(), if !harvesters.is_empty() => {
                    let Ok((key, result)) = done else { continue };
                    reading.remove(&key);
                    limit_logged = false;
                    match result {
                        Ok(_) => {}
                        Err(HarvestError::Closed(e)) => return Err(e.into()),
                        Err(e) => tracing::warn!(error = %e, "harvester stopped"),
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
        let mut names: Vec<String> = scan(&twice, &exclude)
            .into_iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec!["a.log", "b.log"]);
    }
}
