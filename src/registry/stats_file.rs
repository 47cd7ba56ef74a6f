//! State files under `<path.data>/registry/` besides the file offsets:
//! `stats.json` (the per-source statistics, so that a restart keeps what each source
//! sent and when it was last seen) and `rules.json` (the rules engine: open episodes,
//! report periods, its own windows), each a versioned JSON document written atomically.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::RegistryError;
use super::store::{create_dir, write_atomic};

/// The name of the statistics file under `<path.data>/registry/`.
pub const STATS_FILE_NAME: &str = "stats.json";
/// The name of the rules engine's state file under `<path.data>/registry/`.
pub const RULES_FILE_NAME: &str = "rules.json";
const STATS_VERSION: u64 = 1;

/// Where a piece of state is saved.
#[derive(Debug, Clone)]
pub struct StatsFile {
    path: PathBuf,
}

impl StatsFile {
    /// The statistics file under `data` (its directory is created 0700 on the first save).
    pub fn new(data: &Path) -> Self {
        Self::named(data, STATS_FILE_NAME)
    }

    /// The rules engine's state file under `data`.
    pub fn rules(data: &Path) -> Self {
        Self::named(data, RULES_FILE_NAME)
    }

    fn named(data: &Path, name: &str) -> Self {
        StatsFile {
            path: data.join("registry").join(name),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved snapshot; `None` if there is none yet.
    pub fn load(&self) -> Result<Option<Value>, RegistryError> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(RegistryError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let corrupt = |reason: String| RegistryError::StatsCorrupt {
            path: self.path.clone(),
            reason,
        };
        let mut doc: Value = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        match doc.get("version").and_then(Value::as_u64) {
            Some(STATS_VERSION) => {}
            Some(version) if version > STATS_VERSION => {
                return Err(corrupt(format!(
                    "format version {version} is newer than this lumberwatch reads ({STATS_VERSION})"
                )));
            }
            _ => return Err(corrupt("no known format version".into())),
        }
        Ok(doc.get_mut("stats").map(Value::take))
    }

    /// Replaces the file with `snapshot`, atomically, 0600.
    pub fn save(&self, snapshot: Value) -> Result<(), RegistryError> {
        let json = serde_json::to_vec(&snapshot).expect("a json value always serialises");
        self.save_json(&json)
    }

    /// [`StatsFile::save`] with the snapshot already serialised (large states are
    /// written from their own structures, without building a JSON tree first).
    pub fn save_json(&self, snapshot: &[u8]) -> Result<(), RegistryError> {
        if let Some(dir) = self.path.parent() {
            create_dir(dir)?;
        }
        let head = format!("{{\"version\":{STATS_VERSION},\"stats\":");
        let mut bytes = Vec::with_capacity(head.len() + snapshot.len() + 1);
        bytes.extend_from_slice(head.as_bytes());
        bytes.extend_from_slice(snapshot);
        bytes.push(b'}');
        write_atomic(&self.path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_snapshot_saved_as_text_loads_as_the_same_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = StatsFile::rules(dir.path());
        file.save_json(br#"{"groups":[1,2]}"#).unwrap();
        assert_eq!(
            file.load().unwrap(),
            Some(serde_json::json!({"groups": [1, 2]}))
        );
        assert!(file.path().ends_with("registry/rules.json"));
    }

    #[test]
    fn statistics_survive_a_save_and_load_in_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = StatsFile::new(dir.path());
        assert_eq!(file.load().unwrap(), None);
        file.save(serde_json::json!({"tables": []})).unwrap();
        assert_eq!(
            file.load().unwrap(),
            Some(serde_json::json!({"tables": []}))
        );
        let mode = fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_corrupt_or_newer_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = StatsFile::new(dir.path());
        fs::create_dir_all(file.path().parent().unwrap()).unwrap();
        fs::write(file.path(), b"{\"version\":1,\"stats\":").unwrap();
        let e = file.load().unwrap_err().to_string();
        assert!(e.contains("stats.json is unreadable"), "{e}");
        fs::write(file.path(), b"{\"version\":9,\"stats\":{}}").unwrap();
        let e = file.load().unwrap_err().to_string();
        assert!(e.contains("newer than this lumberwatch reads"), "{e}");
    }
}
