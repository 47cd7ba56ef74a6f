//! Encoding: single frames, and whole batches in the layout every server accepts
//! (`W` first, then all events in one `C` frame, or plain `J` frames at level 0).

use bytes::BufMut;
use flate2::{Compress, Compression, FlushCompress, Status};

use super::Version;

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).expect("frame payloads are bounded by input limits far below 4 GiB")
}

pub fn encode_window(out: &mut Vec<u8>, size: u32) {
    out.put_slice(b"2W");
    out.put_u32(size);
}

pub fn encode_json(out: &mut Vec<u8>, seq: u32, payload: &[u8]) {
    out.put_slice(b"2J");
    out.put_u32(seq);
    out.put_u32(len_u32(payload.len()));
    out.put_slice(payload);
}

pub fn encode_ack(out: &mut Vec<u8>, version: Version, seq: u32) {
    out.put_u8(version.byte());
    out.put_u8(b'A');
    out.put_u32(seq);
}

/// A v1 `D` frame (old clients; the receiver still accepts them).
pub fn encode_data(out: &mut Vec<u8>, seq: u32, fields: &[(String, String)]) {
    out.put_slice(b"1D");
    out.put_u32(seq);
    out.put_u32(len_u32(fields.len()));
    for (k, v) in fields {
        out.put_u32(len_u32(k.len()));
        out.put_slice(k.as_bytes());
        out.put_u32(len_u32(v.len()));
        out.put_slice(v.as_bytes());
    }
}

/// Encodes batches of already-serialised JSON events, reusing its buffers and zlib
/// state from batch to batch so the hot path allocates nothing in steady state.
pub struct BatchEncoder {
    level: u32,
    zlib: Compress,
    plain: Vec<u8>,
}

impl BatchEncoder {
    /// `level` 0 sends plain `J` frames; 1..=9 compress (values above 9 act as 9).
    pub fn new(level: u32) -> Self {
        let level = level.min(9);
        BatchEncoder {
            level,
            zlib: Compress::new(Compression::new(level), true),
            plain: Vec::new(),
        }
    }

    pub fn level(&self) -> u32 {
        self.level
    }

    /// Appends `W <n>` and the `n` events with sequence numbers 1..=n to `out`.
    pub fn encode<'a, I>(&mut self, out: &mut Vec<u8>, events: I)
    where
        I: IntoIterator<Item = &'a [u8]>,
        I::IntoIter: ExactSizeIterator,
    {
        let events = events.into_iter();
        encode_window(out, len_u32(events.len()));
        if self.level == 0 {
            for (i, e) in events.enumerate() {
                encode_json(out, len_u32(i + 1), e);
            }
            return;
        }
        self.zlib.reset();
        let header_at = out.len();
        out.put_slice(b"2C\0\0\0\0");
        let body_at = out.len();
        out.reserve(events.len() * 64 + 64);
        // The frames are compressed a cache-sized piece at a time: zlib reads each piece
        // while it is still in the cache, and the buffer stays small.
        self.plain.clear();
        for (i, e) in events.enumerate() {
            encode_json(&mut self.plain, len_u32(i + 1), e);
            if self.plain.len() >= PLAIN_PIECE_BYTES {
                self.deflate(out, FlushCompress::None);
            }
        }
        self.deflate(out, FlushCompress::Finish);
        let len = len_u32(out.len() - body_at).to_be_bytes();
        out[header_at + 2..body_at].copy_from_slice(&len);
    }

    /// Compresses all of `self.plain` into `out` and empties it; with `Finish`, ends
    /// the stream.
    fn deflate(&mut self, out: &mut Vec<u8>, flush: FlushCompress) {
        let start = self.zlib.total_in();
        // Bounded by the piece's length, so it fits a usize.
        let consumed = |zlib: &Compress| (zlib.total_in() - start) as usize;
        loop {
            let status = self
                .zlib
                .compress_vec(&self.plain[consumed(&self.zlib)..], out, flush)
                .expect("zlib compression of an in-memory buffer cannot fail");
            // Without `Finish`, output zlib still holds comes out with the next piece.
            let done = match flush {
                FlushCompress::Finish => status == Status::StreamEnd,
                _ => consumed(&self.zlib) == self.plain.len(),
            };
            if done {
                break;
            }
            out.reserve(out.capacity().max(4096));
        }
        self.plain.clear();
    }
}

/// How much of a batch's frames is written before zlib takes it (fits a core's L2).
const PLAIN_PIECE_BYTES: usize = 128 << 10;
