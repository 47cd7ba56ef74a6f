//! The registry's state file: a versioned JSON document, read whole and written whole,
//! atomically (temp file, fsync, rename, fsync of the directory), mode 0600.

use std::collections::HashMap;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{FileKey, FileState};

/// The state file's name under `<path.data>/registry/`.
pub const FILE_NAME: &str = "filestream.json";

/// The format this build writes; it reads this and older ones. 3 added the owning
/// input's id (`input`); 2 added fingerprint entries (`fingerprint` instead of `device`
/// + `inode`); 1 had inode entries only.
pub const FORMAT_VERSION: u64 = 3;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "registry {} is corrupt ({reason}); move it aside to start over (every file is then read again from its start)",
        path.display()
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "registry {} has format version {version}, newer than this lumberwatch reads ({FORMAT_VERSION}); run the newer lumberwatch, or move the file aside to start over (every file is then read again from its start)",
        path.display()
    )]
    Newer { path: PathBuf, version: u64 },
    #[error(
        "state file {} is unreadable ({reason}); move it aside to start its statistics or rule state over",
        path.display()
    )]
    StatsCorrupt { path: PathBuf, reason: String },
}

#[derive(Serialize, Deserialize)]
struct Document {
    version: u64,
    files: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    device: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inode: Option<u64>,
    /// SHA-256, lowercase hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fingerprint: Option<String>,
    path: PathBuf,
    offset: u64,
    updated: u64,
    /// The id of the input that last read the file (format 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    input: Option<String>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(super) fn create_dir(dir: &Path) -> Result<(), RegistryError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir))
}

fn temp_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Reads the state file; a missing file is an empty registry.
pub(super) fn load(file: &Path) -> Result<HashMap<FileKey, super::FileState>, RegistryError> {
    // A temp file is what a crash between write and rename leaves; the state file is intact.
    let _ = fs::remove_file(temp_path(file));
    let bytes = match fs::read(file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(io(file)(e)),
    };
    let corrupt = |reason: String| RegistryError::Corrupt {
        path: file.to_path_buf(),
        reason,
    };
    // The version is read first so that a newer format is reported as such, not as corrupt.
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    let version = value
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| corrupt("no version number".into()))?;
    if version > FORMAT_VERSION {
        return Err(RegistryError::Newer {
            path: file.to_path_buf(),
            version,
        });
    }
    let doc: Document = serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))?;
    doc.files
        .into_iter()
        .map(|e| {
            let key = match (e.device, e.inode, &e.fingerprint) {
                (Some(device), Some(inode), None) => FileKey::Inode { device, inode },
                (None, None, Some(hex)) => {
                    FileKey::Fingerprint(from_hex(hex).ok_or_else(|| {
                        corrupt(format!("fingerprint {hex:?} is not 64 hex digits"))
                    })?)
                }
                _ => {
                    return Err(corrupt(format!(
                        "entry for {} has neither device + inode nor a fingerprint",
                        e.path.display()
                    )));
                }
            };
            let state = FileState {
                path: e.path,
                offset: e.offset,
                updated_secs: e.updated,
                input: e.input,
            };
            Ok((key, state))
        })
        .collect()
}

fn to_hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Replaces the state file with `files`, atomically.
pub(super) fn save(file: &Path, files: &HashMap<FileKey, FileState>) -> Result<(), RegistryError> {
    let mut keyed: Vec<(&FileKey, &FileState)> = files.iter().collect();
    keyed.sort_by_key(|(k, _)| **k);
    let entries: Vec<Entry> = keyed
        .into_iter()
        .map(|(k, f)| {
            let (device, inode, fingerprint) = match k {
                FileKey::Inode { device, inode } => (Some(*device), Some(*inode), None),
                FileKey::Fingerprint(hash) => (None, None, Some(to_hex(hash))),
            };
            Entry {
                device,
                inode,
                fingerprint,
                path: f.path.clone(),
                offset: f.offset,
                updated: f.updated_secs,
                input: f.input.clone(),
            }
        })
        .collect();
    let doc = Document {
        version: FORMAT_VERSION,
        files: entries,
    };
    let bytes = serde_json::to_vec(&doc).expect("the registry document always serialises");
    write_atomic(file, &bytes)
}

/// Replaces `file` with `bytes` so that a crash leaves the old or the new content,
/// never a mix: temp file (0600), fsync, rename, fsync of the directory.
pub(crate) fn write_atomic(file: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    let temp = temp_path(file);
    let mut out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .map_err(io(&temp))?;
    out.write_all(bytes).map_err(io(&temp))?;
    out.sync_all().map_err(io(&temp))?;
    drop(out);
    fs::rename(&temp, file).map_err(io(file))?;
    if let Some(dir) = file.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}
