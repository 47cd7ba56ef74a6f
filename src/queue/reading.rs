//! The reading side of the disk queue: where the reader is and what it reads next. The
//! I/O happens in [`super::stage`], outside the locks.

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;

use crate::event::{Event, Origin};

use super::disk::{DISK_SOURCE, DiskQueue, lock, seal_open};
use super::segment;

/// Where the reader is: a segment (by its first sequence number), a record in it and
/// that record's byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ReadPos {
    pub first: u64,
    pub index: u64,
    pub offset: u64,
}

/// What the reader should do next.
pub(super) enum Plan {
    /// Read records from `path` at `pos.offset`, at most `available` bytes.
    Read {
        path: PathBuf,
        pos: ReadPos,
        available: u64,
    },
    /// Caught up: wait for a write.
    Wait,
    /// Caught up and the writing side is closed.
    Done,
}

impl DiskQueue {
    /// What the reader should read next.
    pub(super) fn plan(&self) -> Plan {
        let mut state = lock(&self.state);
        loop {
            let read = state.read;
            let Some(seg) = state.segments.iter().find(|s| s.first >= read.first) else {
                return if state.writer_closed {
                    Plan::Done
                } else {
                    Plan::Wait
                };
            };
            if seg.first > read.first {
                // Its segment is gone (all acked, or dropped to make room): the next one.
                state.read = ReadPos {
                    first: seg.first,
                    index: 0,
                    offset: 0,
                };
                continue;
            }
            if read.index < seg.count {
                return Plan::Read {
                    path: segment::file_name(&self.dir, seg.first),
                    pos: read,
                    available: seg.bytes - read.offset,
                };
            }
            if !seg.sealed {
                return if state.writer_closed {
                    Plan::Done
                } else {
                    Plan::Wait
                };
            }
            state.read = ReadPos {
                first: seg.first + 1,
                index: 0,
                offset: 0,
            };
        }
    }

    /// The reader has read `records` (their payloads) from `pos`, taking `bytes`; returns
    /// the events to ship: those not acked already (by an earlier run) and still in the
    /// queue (a segment may have been dropped meanwhile).
    pub(super) fn advance(
        &self,
        pos: ReadPos,
        records: Vec<bytes::Bytes>,
        bytes: u64,
    ) -> Vec<Event> {
        let mut state = lock(&self.state);
        if state.read != pos {
            return Vec::new();
        }
        let Some(seg) = state.segments.iter().find(|s| s.first == pos.first) else {
            return Vec::new();
        };
        let read = records.len() as u64;
        let events = records
            .into_iter()
            .zip(pos.index..)
            .filter(|(_, index)| !seg.acked.contains(*index))
            .map(|(json, index)| {
                let seq = pos.first + index;
                Event {
                    json,
                    origin: Some(Origin::whole(DISK_SOURCE, seq, seq + 1)),
                }
            })
            .collect::<Vec<_>>();
        state.read.offset += bytes;
        state.read.index += read;
        events
    }

    /// A record at `pos` did not pass its checksum: the rest of that segment is lost.
    pub(super) fn corrupt(&self, pos: ReadPos) {
        let mut state = lock(&self.state);
        if state.read != pos {
            return;
        }
        let Some(seg) = state.segments.iter_mut().find(|s| s.first == pos.first) else {
            return;
        };
        let lost = seg.bytes - pos.offset;
        self.counters.corrupt_bytes.fetch_add(lost, Relaxed);
        tracing::warn!(
            segment = pos.first,
            offset = pos.offset,
            bytes = lost,
            "disk queue: a corrupt record; the rest of its segment is skipped"
        );
        seg.count = pos.index;
        let sealed = seg.sealed;
        if !sealed {
            seal_open(&mut state);
        }
        state.read = ReadPos {
            first: pos.first + 1,
            index: 0,
            offset: 0,
        };
        drop(state);
        self.finish_segments();
    }
}
