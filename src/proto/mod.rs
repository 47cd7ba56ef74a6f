//! Lumberjack frames (the Beats protocol): encoding and incremental decoding over bytes.
//!
//! This module owns the wire format only. It never touches a socket, a clock or tokio:
//! `output` and `receive` own connections and ask the [`Decoder`] whether a whole frame
//! has arrived yet. Every length a peer declares is checked against [`Limits`] before a
//! byte of it is buffered, so a hostile peer cannot make us allocate more than the limit.
//!
//! Layout (big-endian): `<version><type>` then
//! `W <window:u32>`, `J <seq:u32> <len:u32> <json>`, `D <seq:u32> <pairs:u32> (<klen:u32> <k> <vlen:u32> <v>)*`,
//! `C <len:u32> <zlib stream of frames>`, `A <seq:u32>`.

mod decode;
mod encode;

pub use decode::{Decoder, Limits};
pub use encode::{BatchEncoder, encode_ack, encode_data, encode_json, encode_window};

use bytes::Bytes;

/// The protocol version byte of a frame: `'1'` (Lumberjack v1) or `'2'` (v2, Beats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    pub const fn byte(self) -> u8 {
        match self {
            Version::V1 => b'1',
            Version::V2 => b'2',
        }
    }
}

/// One logical frame. Compressed (`C`) frames never appear: the decoder inflates them
/// and yields the frames inside one by one, and the encoder produces them from a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `W`: the number of events in the batch that follows.
    Window { version: Version, size: u32 },
    /// `J`: one event as JSON (v2).
    Json {
        version: Version,
        seq: u32,
        payload: Bytes,
    },
    /// `D`: one event as key/value pairs (v1).
    Data {
        version: Version,
        seq: u32,
        fields: Vec<(String, String)>,
    },
    /// `A`: acknowledges every event of the batch up to `seq`; 0 is a keep-alive.
    Ack { version: Version, seq: u32 },
}

/// Why bytes could not be decoded. Any of these means the stream is unusable: the
/// receiver resets the connection, the client reconnects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("bad protocol version byte 0x{0:02x} (expected '1' or '2')")]
    BadVersion(u8),
    #[error("unknown frame type 0x{kind:02x} for protocol version {version}")]
    UnknownFrameType { version: char, kind: u8 },
    #[error("{frame} frame declares {declared} bytes, over the limit of {limit} bytes")]
    TooLarge {
        frame: char,
        declared: u64,
        limit: usize,
    },
    #[error("data frame declares {declared} key/value pairs, over the limit of {limit}")]
    TooManyPairs { declared: u32, limit: u32 },
    #[error("compressed frame does not inflate: {0}")]
    Inflate(String),
    #[error("compressed frame inflates past the limit of {limit} bytes")]
    InflatedTooLarge { limit: usize },
    #[error("compressed frame ends inside an inner frame ({remaining} bytes left over)")]
    TruncatedCompressed { remaining: usize },
    #[error("compressed frame nested inside a compressed frame")]
    NestedCompressed,
    #[error("data frame key or value is not valid utf-8")]
    BadUtf8,
}

#[cfg(test)]
mod tests;
