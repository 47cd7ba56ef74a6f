//! Splitting a syslog TCP stream into messages, sans-IO: the connection owns a
//! `BytesMut` and asks [`Framer::decode`] for the next whole message.
//!
//! Two framings, as Filebeat names them: `delimiter` (each message ends with the line
//! delimiter, `\n` by default, a `\r` before it dropped) and `rfc6587`, which decides per
//! message: one starting with a digit is octet-counted (`<len> <msg>`, RFC 6587 §3.4.1),
//! anything else runs to the delimiter (§3.4.2), as rsyslog and Filebeat do.
//!
//! The size limit is checked before buffering: a declared length over it ends the
//! connection without reading the frame, and a delimited message that grows past it is
//! cut at the limit, the rest skipped up to the next delimiter. Empty messages (blank
//! lines) are skipped. The output never depends on how the bytes were split into reads.

use bytes::{Bytes, BytesMut};

/// How a TCP stream is split into messages (`framing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// Every message ends with the line delimiter (Filebeat's default).
    #[default]
    Delimiter,
    /// Octet counting for messages that start with a digit, the delimiter otherwise.
    Rfc6587,
}

/// One message off the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub data: Bytes,
    /// The message was longer than the limit: `data` is its first `max` bytes.
    pub truncated: bool,
}

/// Why the stream cannot be read any further: the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("octet-counted frame of {declared} bytes is over max_message_size ({max} bytes)")]
    TooBig { declared: u64, max: usize },
    #[error("invalid octet count {0:?} (expected digits, then a space)")]
    BadCount(String),
    #[error("stream ended inside an octet-counted frame ({have} of {len} bytes)")]
    Incomplete { have: usize, len: usize },
}

/// Longest octet count accepted (10 digits: anything longer is over any sane limit,
/// and rejecting it early keeps the header from being buffered).
const MAX_COUNT_DIGITS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between messages.
    Start,
    /// Inside a delimited message; the first `scanned` bytes hold no delimiter.
    Line { scanned: usize },
    /// Skipping the rest of a cut message, up to and including the next delimiter.
    Skip,
    /// Inside an octet-counted message of `len` bytes (its count already consumed).
    Counted { len: usize },
}

/// The framing state of one connection.
#[derive(Debug, Clone)]
pub struct Framer {
    framing: Framing,
    delimiter: Bytes,
    max: usize,
    state: State,
}

impl Framer {
    /// `delimiter` must not be empty (the config refuses it); `max` is the largest
    /// message in bytes.
    pub fn new(framing: Framing, delimiter: &[u8], max: usize) -> Self {
        assert!(
            !delimiter.is_empty(),
            "the config refuses an empty line_delimiter"
        );
        Framer {
            framing,
            delimiter: Bytes::copy_from_slice(delimiter),
            max: max.max(1),
            state: State::Start,
        }
    }

    /// The next whole message in `buf` (consumed from it), or `None` until more bytes
    /// arrive. After an error the connection must be closed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        loop {
            match self.state {
                State::Start => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    if self.framing == Framing::Rfc6587 && buf[0].is_ascii_digit() {
                        match self.count(buf)? {
                            Some(len) => self.state = State::Counted { len },
                            None => return Ok(None),
                        }
                    } else {
                        self.state = State::Line { scanned: 0 };
                    }
                }
                State::Counted { len } => {
                    if buf.len() < len {
                        return Ok(None);
                    }
                    self.state = State::Start;
                    let data = buf.split_to(len).freeze();
                    return Ok(Some(Frame {
                        data,
                        truncated: false,
                    }));
                }
                State::Skip => match self.find_delimiter(buf, 0) {
                    Some(at) => {
                        let _ = buf.split_to(at + self.delimiter.len());
                        self.state = State::Start;
                    }
                    None => {
                        // Keep what may be the start of a delimiter split across reads.
                        let keep = self.delimiter.len() - 1;
                        let _ = buf.split_to(buf.len().saturating_sub(keep));
                        return Ok(None);
                    }
                },
                State::Line { scanned } => {
                    let from = scanned.saturating_sub(self.delimiter.len() - 1);
                    if let Some(at) = self.find_delimiter(buf, from) {
                        let mut line = buf.split_to(at);
                        let _ = buf.split_to(self.delimiter.len());
                        self.state = State::Start;
                        if self.delimiter[..] == b"\n"[..] && line.last() == Some(&b'\r') {
                            line.truncate(line.len() - 1);
                        }
                        if line.is_empty() {
                            continue;
                        }
                        let truncated = line.len() > self.max;
                        line.truncate(self.max);
                        return Ok(Some(Frame {
                            data: line.freeze(),
                            truncated,
                        }));
                    }
                    // Bytes that could still be a delimiter (or the `\r` before `\n`)
                    // do not count towards the message yet.
                    let undecided = self.delimiter.len() - 1 + usize::from(self.strips_cr());
                    if buf.len().saturating_sub(undecided) > self.max {
                        self.state = State::Skip;
                        let data = buf.split_to(self.max).freeze();
                        return Ok(Some(Frame {
                            data,
                            truncated: true,
                        }));
                    }
                    self.state = State::Line { scanned: buf.len() };
                    return Ok(None);
                }
            }
        }
    }

    /// At the end of the stream: the last message if it had no delimiter, or an error if
    /// the stream ended inside an octet-counted frame.
    pub fn finish(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        let state = std::mem::replace(&mut self.state, State::Start);
        let rest = buf.split();
        match state {
            State::Start if rest.is_empty() => Ok(None),
            // Only an unfinished octet count stays in `Start` with bytes left.
            State::Start => Err(FrameError::BadCount(
                String::from_utf8_lossy(&rest[..rest.len().min(16)]).into_owned(),
            )),
            State::Counted { len } => Err(FrameError::Incomplete {
                have: rest.len(),
                len,
            }),
            State::Skip => Ok(None),
            State::Line { .. } => {
                let mut line = rest;
                if self.strips_cr() && line.last() == Some(&b'\r') {
                    line.truncate(line.len() - 1);
                }
                if line.is_empty() {
                    return Ok(None);
                }
                let truncated = line.len() > self.max;
                line.truncate(self.max);
                Ok(Some(Frame {
                    data: line.freeze(),
                    truncated,
                }))
            }
        }
    }

    fn strips_cr(&self) -> bool {
        self.delimiter[..] == b"\n"[..]
    }

    fn find_delimiter(&self, buf: &[u8], from: usize) -> Option<usize> {
        let d = &self.delimiter[..];
        if d.len() == 1 {
            return buf[from..]
                .iter()
                .position(|&b| b == d[0])
                .map(|i| from + i);
        }
        buf.get(from..)?
            .windows(d.len())
            .position(|w| w == d)
            .map(|i| from + i)
    }

    /// Reads `<digits> SP` off the front of `buf`: the message length, or `None` until
    /// the space arrives.
    fn count(&self, buf: &mut BytesMut) -> Result<Option<usize>, FrameError> {
        let digits = buf.iter().take_while(|b| b.is_ascii_digit()).count();
        // The count as far as it goes, and the byte that broke it.
        let shown_len = buf.len().min(digits + 1).min(MAX_COUNT_DIGITS + 1);
        let shown = || String::from_utf8_lossy(&buf[..shown_len]).into_owned();
        if buf[0] == b'0' {
            return Err(FrameError::BadCount("0".into()));
        }
        if digits > MAX_COUNT_DIGITS {
            return Err(FrameError::BadCount(shown()));
        }
        match buf.get(digits) {
            None => return Ok(None),
            Some(b' ') => {}
            Some(_) => return Err(FrameError::BadCount(shown())),
        }
        let declared: u64 = std::str::from_utf8(&buf[..digits])
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| FrameError::BadCount(shown()))?;
        let len = usize::try_from(declared)
            .ok()
            .filter(|&len| len <= self.max)
            .ok_or(FrameError::TooBig {
                declared,
                max: self.max,
            })?;
        let _ = buf.split_to(digits + 1);
        Ok(Some(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Output = (Vec<(Bytes, bool)>, Option<FrameError>);

    /// Feeds `input` in pieces of the given sizes (cycled), then ends the stream.
    fn frames(framer: &Framer, input: &[u8], pieces: &[usize]) -> Output {
        let mut framer = framer.clone();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut push = |f: Frame| out.push((f.data, f.truncated));
        let mut rest = input;
        let mut sizes = pieces.iter().copied().cycle();
        while !rest.is_empty() {
            let n = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            loop {
                match framer.decode(&mut buf) {
                    Ok(Some(f)) => push(f),
                    Ok(None) => break,
                    Err(e) => return (out, Some(e)),
                }
            }
        }
        match framer.finish(&mut buf) {
            Ok(Some(f)) => push(f),
            Ok(None) => {}
            Err(e) => return (out, Some(e)),
        }
        (out, None)
    }

    fn whole_and_bytewise(framer: &Framer, input: &[u8]) -> Output {
        let whole = frames(framer, input, &[input.len().max(1)]);
        assert_eq!(whole, frames(framer, input, &[1]), "byte at a time");
        whole
    }

    fn msgs(list: &[&'static str]) -> Vec<(Bytes, bool)> {
        list.iter().map(|m| (Bytes::from(*m), false)).collect()
    }

    #[test]
    fn lines_split_on_lf_and_crlf_and_blank_lines_are_skipped() {
        let f = Framer::new(Framing::Delimiter, b"\n", 100);
        let (out, err) = whole_and_bytewise(&f, b"<13>one\r\n\n<13>two\n\r\n<13>last");
        assert_eq!(out, msgs(&["<13>one", "<13>two", "<13>last"]));
        assert_eq!(err, None);
    }

    #[test]
    fn delimiter_framing_does_not_count_octets() {
        let f = Framer::new(Framing::Delimiter, b"\n", 100);
        let (out, _) = whole_and_bytewise(&f, b"12 not a count\n");
        assert_eq!(out, msgs(&["12 not a count"]));
    }

    #[test]
    fn rfc6587_mixes_octet_counted_and_newline_messages() {
        let f = Framer::new(Framing::Rfc6587, b"\n", 100);
        let input = b"11 <13>a\nb c d<13>line\n5 <13>x3 <1>";
        let (out, err) = whole_and_bytewise(&f, input);
        assert_eq!(out, msgs(&["<13>a\nb c d", "<13>line", "<13>x", "<1>"]));
        assert_eq!(err, None);
    }

    #[test]
    fn an_oversized_line_is_cut_and_the_rest_skipped_to_the_next_line() {
        let f = Framer::new(Framing::Delimiter, b"\n", 8);
        let input = b"0123456789abcdef\nshort\n12345678\r\n123456789\n";
        let (out, err) = whole_and_bytewise(&f, input);
        assert_eq!(
            out,
            vec![
                ("01234567".into(), true),
                ("short".into(), false),
                ("12345678".into(), false),
                ("12345678".into(), true),
            ]
        );
        assert_eq!(err, None);
    }

    #[test]
    fn an_oversized_octet_count_is_refused_before_any_of_it_is_read() {
        let f = Framer::new(Framing::Rfc6587, b"\n", 100);
        let (out, err) = whole_and_bytewise(&f, b"3 <1>101 ");
        assert_eq!(out, msgs(&["<1>"]));
        assert_eq!(
            err,
            Some(FrameError::TooBig {
                declared: 101,
                max: 100
            })
        );
        let (_, err) = whole_and_bytewise(&f, b"99999999999 x");
        assert_eq!(err, Some(FrameError::BadCount("99999999999".into())));
    }

    #[test]
    fn a_malformed_count_or_a_cut_frame_is_an_error() {
        let f = Framer::new(Framing::Rfc6587, b"\n", 100);
        assert_eq!(
            whole_and_bytewise(&f, b"12x garbage").1,
            Some(FrameError::BadCount("12x".into()))
        );
        assert_eq!(
            whole_and_bytewise(&f, b"0 x").1,
            Some(FrameError::BadCount("0".into()))
        );
        assert_eq!(
            whole_and_bytewise(&f, b"10 <13>ab").1,
            Some(FrameError::Incomplete { have: 6, len: 10 })
        );
        assert_eq!(
            whole_and_bytewise(&f, b"12").1,
            Some(FrameError::BadCount("12".into()))
        );
    }

    #[test]
    fn a_custom_delimiter_may_span_reads() {
        let f = Framer::new(Framing::Delimiter, b"\r\n", 4);
        let input = b"ab\r\ncd\n\r\nabcdefgh\r\nxy";
        let (out, _) = whole_and_bytewise(&f, input);
        assert_eq!(
            out,
            vec![
                ("ab".into(), false),
                ("cd\n".into(), false),
                ("abcd".into(), true),
                ("xy".into(), false),
            ]
        );
    }

    proptest! {
        #[test]
        fn output_does_not_depend_on_how_reads_split_the_stream(
            input in proptest::collection::vec(
                prop_oneof![Just(b'\n'), Just(b'\r'), Just(b' '), Just(b'3'), Just(b'1'), any::<u8>()],
                0..200,
            ),
            pieces in proptest::collection::vec(1usize..20, 1..8),
            rfc6587 in any::<bool>(),
            crlf in any::<bool>(),
        ) {
            let framing = if rfc6587 { Framing::Rfc6587 } else { Framing::Delimiter };
            let delimiter: &[u8] = if crlf { b"\r\n" } else { b"\n" };
            let f = Framer::new(framing, delimiter, 12);
            let whole = frames(&f, &input, &[input.len().max(1)]);
            prop_assert_eq!(&whole, &frames(&f, &input, &pieces));
            for (m, _) in &whole.0 {
                prop_assert!(!m.is_empty() && m.len() <= 12, "{:?}", m);
            }
        }
    }
}
