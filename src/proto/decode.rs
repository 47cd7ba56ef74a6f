//! Incremental decoding: feed any prefix of a stream, get whole frames out.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};
use flate2::{Decompress, FlushDecompress, Status};

use super::{Frame, ProtoError, Version};

/// Bounds on what a peer may make us buffer. Checked before a byte is reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest declared length of one frame's payload (`J` JSON, `C` compressed data,
    /// one `D` frame in total).
    pub max_frame_bytes: usize,
    /// Largest size a `C` frame may inflate to.
    pub max_inflated_bytes: usize,
    /// Most key/value pairs in one `D` frame.
    pub max_pairs: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: 64 << 20,
            max_inflated_bytes: 256 << 20,
            max_pairs: 65_536,
        }
    }
}

/// A Lumberjack v1/v2 stream decoder. Owns no socket: the caller appends what it read
/// to a `BytesMut` and calls [`Decoder::decode`] until it returns `Ok(None)`.
#[derive(Debug, Default)]
pub struct Decoder {
    limits: Limits,
    /// Frames already inflated out of a `C` frame, not yet handed out.
    pending: VecDeque<Frame>,
}

enum Parsed {
    Incomplete { needed: usize },
    Frame(Frame),
    Compressed(Bytes),
}

impl Decoder {
    pub fn new(limits: Limits) -> Self {
        Decoder {
            limits,
            pending: VecDeque::new(),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Returns the next whole frame, consuming its bytes from `buf`, or `Ok(None)` if
    /// more bytes are needed (then `buf` has room reserved for the rest of the frame).
    /// After an error the stream cannot be resynchronised: close the connection.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, ProtoError> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                return Ok(Some(frame));
            }
            match parse(buf, &self.limits, true)? {
                Parsed::Incomplete { needed } => {
                    buf.reserve(needed.saturating_sub(buf.len()));
                    return Ok(None);
                }
                Parsed::Frame(frame) => return Ok(Some(frame)),
                Parsed::Compressed(data) => {
                    let mut inner =
                        BytesMut::from(&inflate(&data, self.limits.max_inflated_bytes)?[..]);
                    while !inner.is_empty() {
                        match parse(&mut inner, &self.limits, false)? {
                            Parsed::Frame(frame) => self.pending.push_back(frame),
                            Parsed::Incomplete { .. } => {
                                return Err(ProtoError::TruncatedCompressed {
                                    remaining: inner.len(),
                                });
                            }
                            Parsed::Compressed(_) => return Err(ProtoError::NestedCompressed),
                        }
                    }
                }
            }
        }
    }
}

fn be_u32(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at + 4)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn check_len(frame: u8, declared: u32, limit: usize) -> Result<usize, ProtoError> {
    let len = declared as usize;
    if len > limit {
        return Err(ProtoError::TooLarge {
            frame: frame as char,
            declared: declared.into(),
            limit,
        });
    }
    Ok(len)
}

/// Parses one frame at the start of `buf`, consuming it only when it is whole.
fn parse(
    buf: &mut BytesMut,
    limits: &Limits,
    allow_compressed: bool,
) -> Result<Parsed, ProtoError> {
    let Some(&v) = buf.first() else {
        return Ok(Parsed::Incomplete { needed: 2 });
    };
    let version = match v {
        b'1' => Version::V1,
        b'2' => Version::V2,
        other => return Err(ProtoError::BadVersion(other)),
    };
    let Some(&kind) = buf.get(1) else {
        return Ok(Parsed::Incomplete { needed: 2 });
    };
    match kind {
        b'W' | b'A' => {
            let Some(n) = be_u32(buf, 2) else {
                return Ok(Parsed::Incomplete { needed: 6 });
            };
            buf.advance(6);
            Ok(Parsed::Frame(if kind == b'W' {
                Frame::Window { version, size: n }
            } else {
                Frame::Ack { version, seq: n }
            }))
        }
        b'J' => {
            let (Some(seq), Some(declared)) = (be_u32(buf, 2), be_u32(buf, 6)) else {
                return Ok(Parsed::Incomplete { needed: 10 });
            };
            let len = check_len(kind, declared, limits.max_frame_bytes)?;
            if buf.len() < 10 + len {
                return Ok(Parsed::Incomplete { needed: 10 + len });
            }
            buf.advance(10);
            let payload = buf.split_to(len).freeze();
            Ok(Parsed::Frame(Frame::Json {
                version,
                seq,
                payload,
            }))
        }
        b'C' if allow_compressed => {
            let Some(declared) = be_u32(buf, 2) else {
                return Ok(Parsed::Incomplete { needed: 6 });
            };
            let len = check_len(kind, declared, limits.max_frame_bytes)?;
            if buf.len() < 6 + len {
                return Ok(Parsed::Incomplete { needed: 6 + len });
            }
            buf.advance(6);
            Ok(Parsed::Compressed(buf.split_to(len).freeze()))
        }
        b'C' => Err(ProtoError::NestedCompressed),
        b'D' => parse_data(buf, version, limits),
        other => Err(ProtoError::UnknownFrameType {
            version: v as char,
            kind: other,
        }),
    }
}

/// `D <seq> <pairs> (<klen> <key> <vlen> <value>)*`: walks the declared lengths first so
/// that nothing is consumed (or allocated) until the whole frame is present.
fn parse_data(buf: &mut BytesMut, version: Version, limits: &Limits) -> Result<Parsed, ProtoError> {
    let (Some(seq), Some(pairs)) = (be_u32(buf, 2), be_u32(buf, 6)) else {
        return Ok(Parsed::Incomplete { needed: 10 });
    };
    if pairs > limits.max_pairs {
        return Err(ProtoError::TooManyPairs {
            declared: pairs,
            limit: limits.max_pairs,
        });
    }
    let mut end = 10usize;
    let mut spans = Vec::with_capacity(pairs.min(64) as usize * 2);
    for _ in 0..pairs.saturating_mul(2) {
        let Some(declared) = be_u32(buf, end) else {
            return Ok(Parsed::Incomplete { needed: end + 4 });
        };
        let len = check_len(b'D', declared, limits.max_frame_bytes)?;
        let total = end + 4 + len - 10;
        if total > limits.max_frame_bytes {
            return Err(ProtoError::TooLarge {
                frame: 'D',
                declared: total as u64,
                limit: limits.max_frame_bytes,
            });
        }
        spans.push((end + 4, end + 4 + len));
        end += 4 + len;
    }
    if buf.len() < end {
        return Ok(Parsed::Incomplete { needed: end });
    }
    let frame = buf.split_to(end);
    let text = |(a, b): (usize, usize)| {
        std::str::from_utf8(&frame[a..b])
            .map(str::to_owned)
            .map_err(|_| ProtoError::BadUtf8)
    };
    let mut fields = Vec::with_capacity(spans.len() / 2);
    for pair in spans.chunks_exact(2) {
        fields.push((text(pair[0])?, text(pair[1])?));
    }
    Ok(Parsed::Frame(Frame::Data {
        version,
        seq,
        fields,
    }))
}

/// Inflates a zlib stream, refusing to produce more than `limit` bytes.
fn inflate(data: &[u8], limit: usize) -> Result<Vec<u8>, ProtoError> {
    let mut z = Decompress::new(true);
    let mut out: Vec<u8> = Vec::with_capacity(data.len().saturating_mul(4).min(limit).max(64));
    loop {
        if out.len() == out.capacity() {
            if out.len() > limit {
                return Err(ProtoError::InflatedTooLarge { limit });
            }
            // Grow geometrically, but never past limit + 1 (one byte over proves the excess).
            let room = out.len().max(64 << 10).min(limit + 1 - out.len());
            out.reserve_exact(room.max(1));
        }
        let consumed = z.total_in() as usize;
        let before = out.len();
        let status = z
            .decompress_vec(&data[consumed..], &mut out, FlushDecompress::None)
            .map_err(|e| ProtoError::Inflate(e.to_string()))?;
        if out.len() > limit {
            return Err(ProtoError::InflatedTooLarge { limit });
        }
        match status {
            Status::StreamEnd => {
                let trailing = data.len() - z.total_in() as usize;
                if trailing != 0 {
                    return Err(ProtoError::Inflate(format!(
                        "{trailing} bytes after the end of the zlib stream"
                    )));
                }
                return Ok(out);
            }
            _ if z.total_in() as usize == consumed
                && out.len() == before
                && out.len() < out.capacity() =>
            {
                return Err(ProtoError::Inflate("zlib stream is truncated".into()));
            }
            _ => {}
        }
    }
}
