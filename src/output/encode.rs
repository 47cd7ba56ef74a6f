//! Turning batches into frames off the async threads. A compressed batch is encoded on
//! the blocking pool with a zlib state from a small shared pool, so while one batch is
//! being compressed the previous one can be written and, with pipelining, another
//! compressed on the other core. Plain (level 0) batches are only copied, which is
//! cheaper than a thread hop: they are encoded inline.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use tokio::task::{JoinError, JoinHandle};

use crate::event::Event;
use crate::proto::BatchEncoder;

/// How many batches a connection compresses beyond its pipelining window: as many as
/// the cores that can compress at once (two here, where a shipper rarely gets more).
/// Plain batches are only copied, inline: none.
pub fn encode_ahead(level: u32) -> usize {
    if level == 0 { 0 } else { 2 }
}

/// A batch's frames, their buffer to be reused.
pub struct Frames {
    pub bytes: Vec<u8>,
}

/// zlib states not in use (~0.5 MiB each at level 3: window, hash tables, buffers), the
/// most recently used last, at most one per core. Shared by every connection rather
/// than kept per thread: the blocking pool has many threads (file reads run there too),
/// and a state per thread that ever compressed stayed in memory while the thread idled
/// (~8 MB more RSS for a shipper tailing 100 quiet files).
static SPARE_ENCODERS: Mutex<Vec<BatchEncoder>> = Mutex::new(Vec::new());

/// How many spare states are kept: the cores, looked up once (the lookup reads the
/// process's CPU set and cgroup quota).
static MAX_SPARES: LazyLock<usize> =
    LazyLock::new(|| std::thread::available_parallelism().map_or(1, usize::from));

/// Runs `f` with a spare encoder for `level` (or a new one), then keeps it as a spare.
fn with_spare_encoder<R>(level: u32, f: impl FnOnce(&mut BatchEncoder) -> R) -> R {
    let spare = || {
        SPARE_ENCODERS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    };
    let mut encoder = match spare().pop() {
        Some(e) if e.level() == level.min(9) => e,
        _ => BatchEncoder::new(level),
    };
    let result = f(&mut encoder);
    let mut spares = spare();
    if spares.len() < *MAX_SPARES {
        spares.push(encoder);
    }
    result
}

/// A batch on its way to the wire. The session keeps the events themselves, so an
/// encoding that fails can never lose them: the encoding task shares them (one
/// reference count for the batch, not one per event) and lets go when it is done.
pub struct Pending {
    events: Arc<Vec<Event>>,
    work: Work,
}

enum Work {
    Ready(Frames),
    Running(JoinHandle<Frames>),
}

impl Pending {
    /// Waits until the frames are ready. Cancel-safe: the work stays in `self`.
    pub async fn ready(&mut self) -> Result<(), JoinError> {
        if let Work::Running(handle) = &mut self.work {
            let frames = handle.await?;
            self.work = Work::Ready(frames);
        }
        Ok(())
    }

    /// The events and, once [`Pending::ready`] returned, their frames.
    pub fn into_parts(self) -> (Vec<Event>, Option<Frames>) {
        match self.work {
            Work::Ready(frames) => (unshare(self.events), Some(frames)),
            Work::Running(handle) => {
                handle.abort();
                (unshare(self.events), None)
            }
        }
    }
}

/// Buffers of one worker, reused from batch to batch, and its encoder for plain
/// batches (compressed ones take a spare one).
pub struct Encoders {
    level: u32,
    escape_html: bool,
    pool: Vec<Frames>,
    inline: BatchEncoder,
}

impl Encoders {
    pub fn new(level: u32, escape_html: bool) -> Self {
        Encoders {
            level,
            escape_html,
            pool: Vec::new(),
            inline: BatchEncoder::new(0),
        }
    }

    /// Starts encoding `events` as one batch (`W` + frames).
    pub fn start(&mut self, events: Vec<Event>) -> Pending {
        let mut frames = self
            .pool
            .pop()
            .unwrap_or_else(|| Frames { bytes: Vec::new() });
        let escape = self.escape_html;
        let events = Arc::new(events);
        if self.level == 0 {
            encode(&mut self.inline, &mut frames, &events, escape);
            return Pending {
                events,
                work: Work::Ready(frames),
            };
        }
        let copies = Arc::clone(&events);
        let level = self.level;
        let handle = tokio::task::spawn_blocking(move || {
            with_spare_encoder(level, |encoder| {
                encode(encoder, &mut frames, &copies, escape)
            });
            frames
        });
        Pending {
            events,
            work: Work::Running(handle),
        }
    }

    /// Returns frames that were written, for their buffer to be reused.
    pub fn recycle(&mut self, frames: Frames) {
        self.pool.push(frames);
    }

    /// Lets go of the pooled frame buffers (up to a batch's size each) and of the spare
    /// zlib states: for a connection with nothing to send for a while, so that an idle
    /// shipper stays small. A busy connection elsewhere makes a new state at most once.
    pub fn release(&mut self) {
        self.pool = Vec::new();
        SPARE_ENCODERS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// The events back from a finished (or aborted) encoding: copied only if an aborted
/// task still holds them.
fn unshare(events: Arc<Vec<Event>>) -> Vec<Event> {
    Arc::try_unwrap(events).unwrap_or_else(|shared| shared.as_ref().clone())
}

fn encode(encoder: &mut BatchEncoder, frames: &mut Frames, events: &[Event], escape: bool) {
    frames.bytes.clear();
    if escape {
        let escaped: Vec<_> = events.iter().map(|e| escape_html(&e.json)).collect();
        encoder.encode(&mut frames.bytes, escaped.iter().map(|e| &e[..]));
    } else {
        encoder.encode(&mut frames.bytes, events.iter().map(|e| &e.json[..]));
    }
}

/// `escape_html: true`: `<`, `>` and `&` written as `\u003c`, `\u003e`, `\u0026`, as Go's
/// encoding/json does for Filebeat. In JSON these bytes can only occur inside strings, so
/// replacing them byte by byte is exact.
fn escape_html(json: &[u8]) -> Cow<'_, [u8]> {
    if !json.iter().any(|b| matches!(b, b'<' | b'>' | b'&')) {
        return Cow::Borrowed(json);
    }
    let mut out = Vec::with_capacity(json.len() + 16);
    for &b in json {
        match b {
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            _ => out.push(b),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Decoder, Frame, Limits};

    #[test]
    fn escape_html_keeps_the_json_value_and_hides_markup() {
        let json = br#"{"message":"<a href=\"x\">&amp;</a>","n":1}"#;
        let escaped = escape_html(json);
        assert!(!escaped.iter().any(|b| matches!(b, b'<' | b'>' | b'&')));
        let a: serde_json::Value = serde_json::from_slice(json).unwrap();
        let b: serde_json::Value = serde_json::from_slice(&escaped).unwrap();
        assert_eq!(a, b);
        assert!(matches!(escape_html(b"{}"), Cow::Borrowed(_)));
    }

    #[tokio::test]
    async fn compressed_batches_are_encoded_off_thread_and_encoders_reused() {
        let mut encoders = Encoders::new(3, false);
        for round in 0..3 {
            let events: Vec<Event> = (0..100)
                .map(|i| Event::from_json(format!("{{\"n\":{i}}}")))
                .collect();
            let mut pending = encoders.start(events.clone());
            pending.ready().await.unwrap();
            let (kept, frames) = pending.into_parts();
            assert_eq!(kept, events);
            let frames = frames.expect("ready");
            let mut buf = bytes::BytesMut::from(&frames.bytes[..]);
            let mut decoder = Decoder::new(Limits::default());
            let mut n = 0;
            while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                if let Frame::Json { payload, .. } = frame {
                    assert_eq!(payload, events[n].json);
                    n += 1;
                }
            }
            assert_eq!(n, 100, "round {round}");
            encoders.recycle(frames);
            assert_eq!(encoders.pool.len(), 1);
        }
        encoders.release();
        assert!(encoders.pool.is_empty() && encoders.pool.capacity() == 0);
        // Still encodes after letting go.
        let mut pending = encoders.start(vec![Event::from_json("{}".to_string())]);
        pending.ready().await.unwrap();
        assert!(pending.into_parts().1.is_some());
    }
}
