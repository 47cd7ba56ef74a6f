//! Splitting a byte stream into lines, sans-IO: bytes go in as they are read, complete
//! lines come out with the file offsets they span. A line longer than the limit is cut
//! (the rest up to its newline skipped) and flagged; a last line without a newline is
//! held back until it is completed.

/// One complete line. `text` has its `\n` (and a `\r` before it) stripped.
#[derive(Debug, PartialEq, Eq)]
pub struct Line<'a> {
    pub text: &'a [u8],
    /// Offset of the line's first byte.
    pub start: u64,
    /// Offset just past its newline.
    pub end: u64,
    /// Longer than the limit: `text` is its first `max_bytes` bytes.
    pub truncated: bool,
}

#[derive(Debug)]
pub struct LineSplitter {
    line: Vec<u8>,
    max_bytes: usize,
    truncated: bool,
    /// Offset of the current line's first byte.
    start: u64,
    /// Offset of the next byte fed.
    pos: u64,
    /// The previous call returned a line borrowing `line`: clear it first.
    done: bool,
}

impl LineSplitter {
    pub fn new(offset: u64, max_bytes: usize) -> Self {
        LineSplitter {
            line: Vec::new(),
            max_bytes: max_bytes.max(1),
            truncated: false,
            start: offset,
            pos: offset,
            done: false,
        }
    }

    /// Offset of the next byte to be fed (bytes of a held-back partial line included).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Starts over at `offset`, forgetting any partial line (truncation).
    pub fn reset(&mut self, offset: u64) {
        *self = LineSplitter::new(offset, self.max_bytes);
    }

    /// Takes bytes from `data` up to and including the next newline and returns the
    /// completed line; with no newline in `data`, keeps all of it and returns `None`.
    /// A whole line inside `data` is returned from `data` itself, not copied.
    pub fn next_line<'s, 'd: 'r, 'r>(&'s mut self, data: &mut &'d [u8]) -> Option<Line<'r>>
    where
        's: 'r,
    {
        if self.done {
            self.done = false;
            self.line.clear();
            self.truncated = false;
        }
        let bytes: &'d [u8] = data;
        let newline = memchr::memchr(b'\n', bytes);
        let take = newline.unwrap_or(bytes.len());
        let consumed = newline.map_or(take, |i| i + 1);
        self.pos += consumed as u64;
        *data = &bytes[consumed..];
        let whole = self.line.is_empty() && !self.truncated && take <= self.max_bytes;
        if !(whole && newline.is_some()) {
            let room = self.max_bytes.saturating_sub(self.line.len());
            if take > room {
                self.truncated = true;
            }
            self.line.extend_from_slice(&bytes[..take.min(room)]);
        }
        newline?;
        let start = self.start;
        self.start = self.pos;
        self.done = true;
        let mut text: &'r [u8] = if whole {
            &bytes[..take]
        } else {
            &self.line[..]
        };
        // A `\r` past the limit was never kept; one inside it belongs to a `\r\n`.
        if !self.truncated {
            text = text.strip_suffix(b"\r").unwrap_or(text);
        }
        Some(Line {
            text,
            start,
            end: self.pos,
            truncated: self.truncated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &mut LineSplitter, mut data: &[u8]) -> Vec<(String, u64, u64, bool)> {
        let mut out = Vec::new();
        while let Some(l) = s.next_line(&mut data) {
            out.push((
                String::from_utf8_lossy(l.text).into_owned(),
                l.start,
                l.end,
                l.truncated,
            ));
        }
        assert!(data.is_empty());
        out
    }

    #[test]
    fn lines_carry_their_offsets_and_a_partial_line_waits() {
        let mut s = LineSplitter::new(100, 1024);
        let got = split(&mut s, b"ab\r\ncd\nef");
        assert_eq!(
            got,
            vec![
                ("ab".into(), 100, 104, false),
                ("cd".into(), 104, 107, false)
            ]
        );
        assert_eq!(s.position(), 109);
        assert_eq!(split(&mut s, b"g\n"), vec![("efg".into(), 107, 111, false)]);
    }

    #[test]
    fn fed_one_byte_at_a_time_gives_the_same_lines() {
        let input = b"first\nsecond line\r\n\nlast\n";
        let whole = split(&mut LineSplitter::new(0, 1024), input);
        let mut s = LineSplitter::new(0, 1024);
        let mut bytewise = Vec::new();
        for b in input {
            bytewise.extend(split(&mut s, &[*b]));
        }
        assert_eq!(whole, bytewise);
        assert_eq!(whole.len(), 4);
        assert_eq!(whole[2], ("".into(), 19, 20, false));
    }

    proptest::proptest! {
        #[test]
        fn any_chunking_gives_the_lines_of_the_whole(
            input in proptest::collection::vec(proptest::sample::select(b"ab\r\n".to_vec()), 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..8),
            max_bytes in 1usize..12,
        ) {
            let whole = split(&mut LineSplitter::new(0, max_bytes), &input);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
            cuts.sort_unstable();
            let (mut s, mut at, mut pieces) = (LineSplitter::new(0, max_bytes), 0, Vec::new());
            for cut in cuts.into_iter().chain([input.len()]) {
                pieces.extend(split(&mut s, &input[at..cut]));
                at = cut;
            }
            proptest::prop_assert_eq!(whole, pieces);
        }
    }

    #[test]
    fn long_lines_are_cut_and_flagged_and_the_next_line_is_intact() {
        let mut s = LineSplitter::new(0, 4);
        let mut got = split(&mut s, b"abcdefgh");
        got.extend(split(&mut s, b"ij\nok\n"));
        assert_eq!(
            got,
            vec![("abcd".into(), 0, 11, true), ("ok".into(), 11, 14, false)]
        );
    }

    #[test]
    fn reset_forgets_the_partial_line() {
        let mut s = LineSplitter::new(0, 16);
        assert!(split(&mut s, b"partial").is_empty());
        s.reset(0);
        assert_eq!(split(&mut s, b"new\n"), vec![("new".into(), 0, 4, false)]);
    }
}
