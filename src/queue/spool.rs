//! A disk spool for events that cannot be read again from their source (alerts and
//! reports): each is written (and fsynced) before it enters the queue, and forgotten
//! once Logstash has acked it. After a crash or a long outage, what was not acked is
//! shipped again at the next start: at least once, never lost.
//!
//! One append-only file, `<path.data>/spool/<name>.spool` (0600 in a 0700 directory).
//! A record is `len: u32 BE | crc32(payload): u32 BE | payload` (the event's JSON). A
//! torn or corrupt tail — what a crash in the middle of a write leaves — is detected by
//! its length or checksum, counted, and cut off. When every record is acked the file is
//! emptied, so it only grows while Logstash is not acking.

use std::collections::BTreeSet;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;

use crate::event::{Event, Origin};
use crate::output::AckSink;

/// The `Origin::source` of spooled events (file sources are numbered from 1 up).
pub const SPOOL_SOURCE: u64 = u64::MAX;

/// A record longer than this is corruption, not an event.
const MAX_RECORD_BYTES: u32 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What opening a spool found.
#[derive(Debug)]
pub struct Reopened {
    /// Events written before and never acked, in order, ready to be queued again.
    pub pending: Vec<Event>,
    /// Bytes of a torn or corrupt tail that were cut off.
    pub discarded_bytes: u64,
}

pub struct Spool {
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    file: File,
    /// The sequence number of the next record (its index in the file).
    next: u64,
    /// Records written and not acked yet.
    unacked: BTreeSet<u64>,
}

impl Spool {
    /// Opens (or creates) the spool `name` under `<data>/spool/`, returning what it
    /// still holds.
    pub fn open(data: &Path, name: &str) -> Result<(Spool, Reopened), SpoolError> {
        let dir = data.join("spool");
        let path = dir.join(format!("{name}.spool"));
        let io = |source| SpoolError::Io {
            path: path.clone(),
            source,
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let (payloads, good) = records(&bytes);
        let discarded_bytes = (bytes.len() - good) as u64;
        if discarded_bytes > 0 {
            file.set_len(good as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        file.seek(SeekFrom::End(0)).map_err(io)?;
        let pending: Vec<Event> = payloads
            .into_iter()
            .enumerate()
            .map(|(seq, json)| spooled(Bytes::copy_from_slice(json), seq as u64))
            .collect();
        let state = State {
            file,
            next: pending.len() as u64,
            unacked: (0..pending.len() as u64).collect(),
        };
        let spool = Spool {
            path,
            state: Mutex::new(state),
        };
        Ok((
            spool,
            Reopened {
                pending,
                discarded_bytes,
            },
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `events` durably (one fsync for all of them) and returns them with the
    /// origins that settle them when acked. Nothing is returned unless all are written.
    pub fn append(&self, events: Vec<Event>) -> Result<Vec<Event>, SpoolError> {
        let mut state = self.state();
        let mut buf = Vec::new();
        for e in &events {
            let len = u32::try_from(e.json.len())
                .ok()
                .filter(|n| *n <= MAX_RECORD_BYTES)
                .expect("alert and report events are far below the record limit");
            buf.extend_from_slice(&len.to_be_bytes());
            buf.extend_from_slice(&crc32fast::hash(&e.json).to_be_bytes());
            buf.extend_from_slice(&e.json);
        }
        let io = |source| SpoolError::Io {
            path: self.path.clone(),
            source,
        };
        let before = state.file.stream_position().map_err(io)?;
        let written = state
            .file
            .write_all(&buf)
            .and_then(|()| state.file.sync_data());
        if let Err(e) = written {
            // Leave no half record behind for the next write to follow.
            let _ = state.file.set_len(before);
            let _ = state.file.seek(SeekFrom::Start(before));
            return Err(io(e));
        }
        let first = state.next;
        let end = first + events.len() as u64;
        state.next = end;
        state.unacked.extend(first..end);
        Ok(events
            .into_iter()
            .zip(first..)
            .map(|(e, seq)| spooled(e.json, seq))
            .collect())
    }

    /// Records written and not yet acked.
    pub fn unacked(&self) -> usize {
        self.state().unacked.len()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Poisoned only by a panic mid-update of plain data: still consistent enough
        // to keep spooling (worst case, a record is shipped twice).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl AckSink for Spool {
    fn acked(&self, events: &[Event]) {
        let mut state = self.state();
        let mut any = false;
        for origin in events.iter().filter_map(|e| e.origin) {
            if origin.source == SPOOL_SOURCE {
                any |= state.unacked.remove(&origin.start);
            }
        }
        if any && state.unacked.is_empty() {
            // Everything is shipped: start the file over.
            let emptied = state
                .file
                .set_len(0)
                .and_then(|()| state.file.seek(SeekFrom::Start(0)).map(drop));
            match emptied {
                Ok(()) => state.next = 0,
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "spool not emptied; its events will be shipped again at the next start")
                }
            }
        }
    }
}

fn spooled(json: Bytes, seq: u64) -> Event {
    Event {
        json,
        origin: Some(Origin::whole(SPOOL_SOURCE, seq, seq + 1)),
    }
}

/// The payloads of the whole records at the start of `bytes`, and how many bytes they
/// take: reading stops at the first torn or corrupt record.
fn records(bytes: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(header) = bytes.get(at..at + 8) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        if len > MAX_RECORD_BYTES {
            break;
        }
        let Some(payload) = bytes.get(at + 8..at + 8 + len as usize) else {
            break;
        };
        if crc32fast::hash(payload) != crc {
            break;
        }
        out.push(payload);
        at += 8 + len as usize;
    }
    (out, at)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn event(n: u32) -> Event {
        Event::from_json(format!("{{\"n\":{n}}}"))
    }

    fn numbers(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .map(|e| String::from_utf8_lossy(&e.json).into_owned())
            .collect()
    }

    #[test]
    fn unacked_events_come_back_after_a_restart_and_acked_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, reopened) = Spool::open(dir.path(), "alerts").unwrap();
        assert!(reopened.pending.is_empty());
        let written = spool.append(vec![event(1), event(2), event(3)]).unwrap();
        assert_eq!(written[1].origin, Some(Origin::whole(SPOOL_SOURCE, 1, 2)));
        spool.acked(&written[..1]);
        assert_eq!(spool.unacked(), 2);
        let mode = std::fs::metadata(spool.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        drop(spool);

        // A crash: acks are not persisted, so all three come back (at least once).
        let (spool, reopened) = Spool::open(dir.path(), "alerts").unwrap();
        assert_eq!(
            numbers(&reopened.pending),
            ["{\"n\":1}", "{\"n\":2}", "{\"n\":3}"]
        );
        spool.acked(&reopened.pending);
        assert_eq!(
            std::fs::metadata(spool.path()).unwrap().len(),
            0,
            "emptied when all are acked"
        );
        let later = spool.append(vec![event(4)]).unwrap();
        assert_eq!(later[0].origin, Some(Origin::whole(SPOOL_SOURCE, 0, 1)));
        drop(spool);
        let (_, reopened) = Spool::open(dir.path(), "alerts").unwrap();
        assert_eq!(numbers(&reopened.pending), ["{\"n\":4}"]);
    }

    #[test]
    fn a_torn_or_corrupt_tail_is_cut_off_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, _) = Spool::open(dir.path(), "alerts").unwrap();
        spool.append(vec![event(1), event(2)]).unwrap();
        let path = spool.path().to_path_buf();
        drop(spool);
        let whole = std::fs::read(&path).unwrap();
        // Torn: the last record cut in the middle.
        std::fs::write(&path, &whole[..whole.len() - 3]).unwrap();
        let (spool, reopened) = Spool::open(dir.path(), "alerts").unwrap();
        assert_eq!(numbers(&reopened.pending), ["{\"n\":1}"]);
        assert_eq!(reopened.discarded_bytes, (whole.len() / 2 - 3) as u64);
        spool.append(vec![event(3)]).unwrap();
        drop(spool);
        let (_, reopened) = Spool::open(dir.path(), "alerts").unwrap();
        assert_eq!(
            numbers(&reopened.pending),
            ["{\"n\":1}", "{\"n\":3}"],
            "appends follow the cut"
        );
        // Corrupt: a flipped byte in the first payload drops it and all after it.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[9] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let (_, reopened) = Spool::open(dir.path(), "alerts").unwrap();
        assert!(reopened.pending.is_empty());
        assert_eq!(reopened.discarded_bytes, bytes.len() as u64);
    }

    #[test]
    fn acks_of_other_sources_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, _) = Spool::open(dir.path(), "alerts").unwrap();
        spool.append(vec![event(1)]).unwrap();
        let file_event = Event {
            json: Bytes::from_static(b"{}"),
            origin: Some(Origin::whole(1, 0, 1)),
        };
        spool.acked(&[file_event, event(9)]);
        assert_eq!(spool.unacked(), 1);
    }

    proptest::proptest! {
        #[test]
        fn reading_any_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let (records, used) = records(&bytes);
            proptest::prop_assert!(used <= bytes.len());
            proptest::prop_assert!(records.len() <= bytes.len() / 8);
        }
    }
}
