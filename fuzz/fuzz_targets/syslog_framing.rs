//! Syslog TCP framing (`lumberwatch::input::syslog::framing::Framer`) on any bytes. The
//! first byte picks the framing and the delimiter, the second the size limit, the third
//! seeds how the rest is cut into reads.
//!
//! Invariants, beyond "no panic":
//! - the messages, their flags and the error (including at the end of the stream) are
//!   the same whether the stream arrives whole, one byte at a time, or in random reads
//!   (the module promises the output never depends on how bytes were split);
//! - no message is empty or longer than the limit; a cut one is exactly the limit long;
//!   a delimited message never holds its delimiter;
//! - what the framer buffers while it waits is bounded by the limit, never by the input.

#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use lumberwatch::input::syslog::Framing;
use lumberwatch::input::syslog::framing::{FrameError, Framer};

#[path = "split.rs"]
mod split;

const DELIMITERS: [&[u8]; 5] = [b"\n", b"\r\n", b"\0", b"||", b"END"];

/// Longest octet count the framer reads before deciding (10 digits and a space).
const COUNT_HEADER: usize = 11;

type Framed = (Vec<(Bytes, bool)>, Option<FrameError>);

fn frame(framing: Framing, delimiter: &[u8], max: usize, input: &[u8], sizes: &[usize]) -> Framed {
    let mut framer = Framer::new(framing, delimiter, max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut fed = 0;
    let mut sizes = sizes.iter().copied();
    let bound = max + delimiter.len() + 1 + COUNT_HEADER;
    while fed < input.len() {
        let n = sizes
            .next()
            .unwrap_or(input.len() - fed)
            .min(input.len() - fed);
        buf.extend_from_slice(&input[fed..fed + n]);
        fed += n;
        loop {
            match framer.decode(&mut buf) {
                Ok(Some(f)) => out.push((f.data, f.truncated)),
                Ok(None) => {
                    assert!(
                        buf.len() <= bound,
                        "{} bytes buffered waiting for more (limit {max})",
                        buf.len()
                    );
                    break;
                }
                Err(e) => return (out, Some(e)),
            }
        }
    }
    match framer.finish(&mut buf) {
        Ok(Some(f)) => out.push((f.data, f.truncated)),
        Ok(None) => {}
        Err(e) => return (out, Some(e)),
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let [mode, limit, seed, input @ ..] = data else {
        return;
    };
    let framing = if mode & 1 == 0 {
        Framing::Delimiter
    } else {
        Framing::Rfc6587
    };
    let delimiter = DELIMITERS[usize::from(mode >> 1) % DELIMITERS.len()];
    let max = usize::from(*limit % 64) + 1;

    let whole = frame(framing, delimiter, max, input, &[input.len()]);
    for (data, truncated) in &whole.0 {
        assert!(!data.is_empty(), "an empty message");
        assert!(
            data.len() <= max,
            "a message of {} bytes over {max}",
            data.len()
        );
        if *truncated {
            assert_eq!(data.len(), max, "a cut message is not cut at the limit");
        }
        if framing == Framing::Delimiter {
            assert!(
                !data.windows(delimiter.len()).any(|w| w == delimiter),
                "a delimited message holds its delimiter: {data:?}"
            );
        }
    }
    let bytewise = frame(framing, delimiter, max, input, &vec![1; input.len()]);
    assert_eq!(whole, bytewise, "whole vs one byte at a time");
    let sizes = split::read_sizes(*seed, input.len());
    let chunked = frame(framing, delimiter, max, input, &sizes);
    assert_eq!(whole, chunked, "whole vs reads of {sizes:?}");
});
