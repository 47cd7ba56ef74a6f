//! Writing a `&str` as a JSON string, byte for byte what `serde_json` writes, but eight
//! bytes at a time: log lines are mostly plain ASCII with nothing to escape, and this is
//! the one step every line goes through.

use bytes::{BufMut, BytesMut};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// A high bit set in every byte of `w` below 0x20, a `"` or a `\\`. Exact for the
/// lowest such byte (a borrow only carries upward from a byte that matched); bytes above
/// it may be flagged wrongly, so only the lowest is trusted.
fn escape_mask(w: u64) -> u64 {
    let below_space = w.wrapping_sub(ONES * 0x20) & !w;
    let quote = w ^ (ONES * u64::from(b'"'));
    let backslash = w ^ (ONES * u64::from(b'\\'));
    let zero_in = |v: u64| v.wrapping_sub(ONES) & !v;
    (below_space | zero_in(quote) | zero_in(backslash)) & HIGHS
}

/// The escape of one byte, or `None` for a byte written as it is.
fn escape_of(b: u8) -> Option<&'static [u8]> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    const CONTROL: [[u8; 6]; 32] = {
        let mut table = [[0u8; 6]; 32];
        let mut i = 0;
        while i < 32 {
            table[i] = [b'\\', b'u', b'0', b'0', HEX[i >> 4], HEX[i & 15]];
            i += 1;
        }
        table
    };
    Some(match b {
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        b'\n' => b"\\n",
        b'\r' => b"\\r",
        b'\t' => b"\\t",
        0x08 => b"\\b",
        0x0c => b"\\f",
        0..0x20 => &CONTROL[b as usize],
        _ => return None,
    })
}

/// Appends `s` as a quoted JSON string.
pub fn write_json_str(out: &mut BytesMut, s: &str) {
    write_quoted::<false>(out, s.as_bytes());
}

/// Appends `bytes` as a quoted JSON string if they are all ASCII (so UTF-8) and says
/// so; else leaves `out` as it was and returns false. A line is checked and escaped in
/// one pass instead of being validated as UTF-8 first.
pub fn write_json_ascii(out: &mut BytesMut, bytes: &[u8]) -> bool {
    let start = out.len();
    let ascii = write_quoted::<true>(out, bytes);
    if !ascii {
        out.truncate(start);
    }
    ascii
}

/// Writes `bytes` quoted and escaped; with `ASCII_ONLY`, stops at the first byte above
/// 0x7f and returns false (what was written is then to be thrown away).
fn write_quoted<const ASCII_ONLY: bool>(out: &mut BytesMut, bytes: &[u8]) -> bool {
    out.reserve(bytes.len() + 2);
    out.put_u8(b'"');
    // `run` is where the bytes not yet copied start.
    let (mut run, mut i) = (0, 0);
    while let Some(word) = bytes.get(i..i + 8) {
        let w = u64::from_le_bytes(word.try_into().expect("a slice of 8 bytes"));
        if ASCII_ONLY && w & HIGHS != 0 {
            return false;
        }
        let mask = escape_mask(w);
        if mask == 0 {
            i += 8;
            continue;
        }
        let j = i + (mask.trailing_zeros() / 8) as usize;
        let escaped = escape_of(bytes[j]).expect("the mask's lowest byte needs escaping");
        out.extend_from_slice(&bytes[run..j]);
        out.extend_from_slice(escaped);
        (run, i) = (j + 1, j + 1);
    }
    for (j, &b) in bytes.iter().enumerate().skip(i) {
        if ASCII_ONLY && !b.is_ascii() {
            return false;
        }
        if let Some(escaped) = escape_of(b) {
            out.extend_from_slice(&bytes[run..j]);
            out.extend_from_slice(escaped);
            run = j + 1;
        }
    }
    out.extend_from_slice(&bytes[run..]);
    out.put_u8(b'"');
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ours(s: &str) -> Vec<u8> {
        let mut out = BytesMut::new();
        write_json_str(&mut out, s);
        out.to_vec()
    }

    #[test]
    fn every_byte_is_written_as_serde_json_writes_it() {
        for b in 0u8..0x80 {
            let s = format!("ab{}cdefghij{}", b as char, b as char);
            assert_eq!(ours(&s), serde_json::to_vec(&s).unwrap(), "byte {b:#04x}");
        }
        for s in [
            "",
            "x",
            "é",
            "日本語 \"quoted\"",
            "\u{7f}\u{80}",
            "tab\tin the middle of a long line",
        ] {
            assert_eq!(ours(s), serde_json::to_vec(s).unwrap(), "{s:?}");
        }
    }

    fn ascii(bytes: &[u8]) -> Option<Vec<u8>> {
        let mut out = BytesMut::from(&b"kept"[..]);
        let ok = write_json_ascii(&mut out, bytes);
        assert_eq!(&out[..4], b"kept");
        if ok {
            Some(out[4..].to_vec())
        } else {
            assert_eq!(out.len(), 4, "nothing is left of a refused line");
            None
        }
    }

    proptest! {
        #[test]
        fn ascii_lines_are_written_as_serde_json_writes_them_and_others_refused(
            bytes in proptest::collection::vec(any::<u8>(), 0..80)
        ) {
            match std::str::from_utf8(&bytes) {
                Ok(s) if s.is_ascii() => prop_assert_eq!(ascii(&bytes), Some(serde_json::to_vec(s).unwrap())),
                _ => prop_assert_eq!(ascii(&bytes), None),
            }
        }

        #[test]
        fn ascii_text_with_escapes_is_accepted_and_a_late_high_byte_refused(
            s in "[ -~\\t\\n\\x00-\\x1f\"\\\\]{0,80}"
        ) {
            prop_assert_eq!(ascii(s.as_bytes()), Some(serde_json::to_vec(&s).unwrap()));
            let late = format!("{s}é");
            prop_assert_eq!(ascii(late.as_bytes()), None);
        }

        #[test]
        fn any_string_is_written_as_serde_json_writes_it(s in any::<String>()) {
            prop_assert_eq!(ours(&s), serde_json::to_vec(&s).unwrap());
        }

        #[test]
        fn ascii_with_escapes_anywhere_is_written_as_serde_json_writes_it(
            s in "[ -~\\t\\n\\r\\x00-\\x1f\"\\\\]{0,80}"
        ) {
            prop_assert_eq!(ours(&s), serde_json::to_vec(&s).unwrap());
        }
    }
}
