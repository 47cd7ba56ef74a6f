//! The Lumberjack decoder (`lumberwatch::proto::Decoder`) with the receiver's real
//! `Limits`, on any bytes. The first byte seeds how the rest is cut into reads.
//!
//! Invariants, beyond "no panic":
//! - the frames and the error are the same whether the stream arrives whole, one byte
//!   at a time, or in reads of random sizes;
//! - the decoder never consumes more than it was given: while it waits for more, what
//!   is left in the buffer is exactly the unconsumed end of the input;
//! - no frame is larger than the limits allow;
//! - every frame re-encodes to bytes that decode to the same frame.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use lumberwatch::proto::{Decoder, Frame, Limits, ProtoError, Version};

#[path = "split.rs"]
mod split;

type Decoded = (Vec<Frame>, Option<ProtoError>);

/// Feeds `input` in reads of `sizes` (the rest at once if they run out), decoding after
/// each read until the decoder wants more or fails.
fn decode(input: &[u8], sizes: &[usize]) -> Decoded {
    let limits = Limits::default();
    let mut decoder = Decoder::new(limits);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut fed = 0;
    let mut sizes = sizes.iter().copied();
    while fed < input.len() {
        let n = sizes
            .next()
            .unwrap_or(input.len() - fed)
            .min(input.len() - fed);
        buf.extend_from_slice(&input[fed..fed + n]);
        fed += n;
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    check_limits(&frame, &limits);
                    frames.push(frame);
                }
                Ok(None) => {
                    assert!(
                        buf.len() <= fed && input[..fed].ends_with(&buf),
                        "the buffer left ({} bytes) is not the unconsumed end of the {fed} bytes fed",
                        buf.len()
                    );
                    break;
                }
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

fn check_limits(frame: &Frame, limits: &Limits) {
    match frame {
        Frame::Json { payload, .. } => assert!(payload.len() <= limits.max_frame_bytes),
        Frame::Data { fields, .. } => {
            assert!(fields.len() <= limits.max_pairs as usize);
            let bytes: usize = fields.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
            assert!(bytes <= limits.max_frame_bytes, "D frame of {bytes} bytes");
        }
        Frame::Window { .. } | Frame::Ack { .. } => {}
    }
}

fn encode(frame: &Frame, out: &mut Vec<u8>) {
    let version = |v: &Version| v.byte();
    match frame {
        Frame::Window { version: v, size } => {
            out.extend_from_slice(&[version(v), b'W']);
            out.extend_from_slice(&size.to_be_bytes());
        }
        Frame::Ack { version: v, seq } => {
            out.extend_from_slice(&[version(v), b'A']);
            out.extend_from_slice(&seq.to_be_bytes());
        }
        Frame::Json {
            version: v,
            seq,
            payload,
        } => {
            out.extend_from_slice(&[version(v), b'J']);
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            out.extend_from_slice(payload);
        }
        Frame::Data {
            version: v,
            seq,
            fields,
        } => {
            out.extend_from_slice(&[version(v), b'D']);
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(&(fields.len() as u32).to_be_bytes());
            for (k, val) in fields {
                for s in [k, val] {
                    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
                    out.extend_from_slice(s.as_bytes());
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let whole = decode(input, &[input.len()]);
    let bytewise = decode(input, &vec![1; input.len()]);
    assert_eq!(whole, bytewise, "whole vs one byte at a time");
    let chunked = decode(input, &split::read_sizes(seed, input.len()));
    assert_eq!(whole, chunked, "whole vs reads of random sizes");

    let mut again = Vec::new();
    for frame in &whole.0 {
        encode(frame, &mut again);
    }
    let (frames, error) = decode(&again, &[again.len()]);
    assert_eq!(error, None, "re-encoded frames fail to decode");
    assert_eq!(frames, whole.0, "re-encoded frames decode differently");
});
