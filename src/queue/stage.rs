//! The disk queue at run time: a writer task between the inputs and the disk, and a
//! reader task between the disk and the output's in-memory queue. The inputs never
//! wait for the output (only for the disk); the output never waits for a write.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tracing::warn;

use crate::config::Fsync;
use crate::output::AckSink;

use super::disk::{DiskQueue, DiskWriter};
use super::mem;
use super::reading::{Plan, ReadPos};
use super::segment::{self, Next};

/// How many events one write (and one fsync) takes at most.
const WRITE_BATCH: usize = 2048;
/// How many bytes the reader reads at a time.
const READ_CHUNK: u64 = 1 << 20;

/// Writes what the inputs send to the disk, a batch at a time (one fsync each), until
/// every sender is gone. `settled` hears of events as
/// soon as they are durable (the file registry, when files are spooled too: their
/// offsets move on once the disk holds their lines). Events the disk refuses (an I/O
/// error, a full queue at shutdown) go to `direct`, the output's queue, so they are
/// still shipped while the agent runs.
pub async fn run_writer(
    queue: DiskWriter,
    mut events: mem::Receiver,
    settled: Option<Arc<dyn AckSink>>,
    direct: mem::Sender,
) {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while events.recv_many(&mut batch, WRITE_BATCH).await > 0 {
        let taken = std::mem::replace(&mut batch, Vec::with_capacity(WRITE_BATCH));
        let (taken, written) = queue.append_in_background(taken).await;
        match written {
            Ok(_) => {
                if let Some(settled) = &settled {
                    settled.acked(&taken);
                }
            }
            Err(e) => {
                warn!(error = %e, events = taken.len(), "events not written to the disk queue: shipping them from memory");
                for event in taken {
                    if direct.send(event).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
}

/// Fsyncs every `every` under `fsync: <interval>`, and saves the ack floor every
/// second, until aborted.
pub async fn run_housekeeping(queue: Arc<DiskQueue>, fsync: Fsync) {
    let period = match fsync {
        Fsync::Every(every) => every.clamp(Duration::from_millis(10), Duration::from_secs(1)),
        Fsync::Always | Fsync::Never => Duration::from_secs(1),
    };
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let q = queue.clone();
        let done = tokio::task::spawn_blocking(move || {
            if matches!(fsync, Fsync::Every(_)) {
                q.sync_if_dirty()?;
            }
            q.save_floor()
        })
        .await;
        if let Ok(Err(e)) = done {
            warn!(dir = %queue.dir().display(), error = %e, "disk queue housekeeping failed");
        }
    }
}

/// Feeds the output's queue from the disk, in order, until the writing side is closed
/// and everything is read (or the output's queue closes).
pub async fn run_reader(queue: Arc<DiskQueue>, output: mem::Sender) {
    let mut file: Option<(u64, std::fs::File)> = None;
    loop {
        let notified = queue.readable.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (path, pos, available) = match queue.plan() {
            Plan::Done => return,
            Plan::Wait => {
                notified.await;
                continue;
            }
            Plan::Read {
                path,
                pos,
                available,
            } => (path, pos, available),
        };
        let handle = match file.take() {
            Some((first, f)) if first == pos.first => Ok(f),
            _ => std::fs::File::open(&path),
        };
        let read = tokio::task::spawn_blocking(move || {
            let f = handle?;
            let chunk = read_chunk(&f, pos, available);
            chunk.map(|c| (f, c))
        })
        .await
        .expect("the disk reader does not panic");
        let (f, chunk) = match read {
            Ok(read) => read,
            Err(e) => {
                // The segment vanished (dropped to make room) or cannot be read.
                warn!(path = %path.display(), error = %e, "disk queue: segment not readable; skipping it");
                queue.corrupt(pos);
                continue;
            }
        };
        file = Some((pos.first, f));
        match chunk {
            Chunk::Records(records, bytes) => {
                for event in queue.advance(pos, records, bytes) {
                    if output.send(event).await.is_err() {
                        return;
                    }
                }
            }
            Chunk::Corrupt => queue.corrupt(pos),
        }
    }
}

enum Chunk {
    Records(Vec<Bytes>, u64),
    Corrupt,
}

/// Reads whole records from `pos.offset`, up to `READ_CHUNK` bytes (more if one record
/// is bigger), never past `available` (the bytes written and accounted for).
fn read_chunk(file: &std::fs::File, pos: ReadPos, available: u64) -> std::io::Result<Chunk> {
    use std::os::unix::fs::FileExt;
    let mut want = available.min(READ_CHUNK);
    loop {
        let mut buf = vec![0u8; want as usize];
        file.read_exact_at(&mut buf, pos.offset)?;
        let buf = Bytes::from(buf);
        let mut records = Vec::new();
        let mut at = 0;
        loop {
            match segment::decode(&buf[at..]) {
                Next::Record(payload, used) => {
                    let start = at + segment::HEADER_BYTES;
                    records.push(buf.slice(start..start + payload.len()));
                    at += used;
                }
                Next::Short(need) if records.is_empty() => {
                    if (need as u64) > available || need as u64 <= want {
                        return Ok(Chunk::Corrupt);
                    }
                    want = need as u64;
                    break;
                }
                Next::Short(_) => return Ok(Chunk::Records(records, at as u64)),
                Next::Corrupt if records.is_empty() => return Ok(Chunk::Corrupt),
                Next::Corrupt => return Ok(Chunk::Records(records, at as u64)),
            }
            if at == buf.len() {
                return Ok(Chunk::Records(records, at as u64));
            }
        }
    }
}
