//! The container input's per-line transform, sans-IO: raw lines of a container log file
//! go in with the file offsets they span, whole messages come out with the byte range
//! they settle in the registry. A line that does not parse comes out as itself, marked
//! failed, never dropped.

use super::{ContainerLineError, Format, Joiner, Stream, StreamFilter, parse_line};

/// One message ready to become an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The log text (partial lines joined), or the raw line if it did not parse.
    pub text: String,
    /// `None` when the line did not parse: `text` is the raw line.
    pub stream: Option<Stream>,
    /// The runtime's time of the (first fragment of the) line as `@timestamp`
    /// (`YYYY-MM-DDTHH:MM:SS.mmmZ`); `None` to use the time of reading.
    pub timestamp: Option<String>,
    /// `log.offset`: where the message's first line starts.
    pub start: u64,
    /// How far the registry may advance once this message is acked: past its last
    /// line, but never past the start of a partial line of the other stream still
    /// waiting for its end.
    pub end: u64,
    /// Cut at `max_bytes` (the joined text, or the raw line).
    pub truncated: bool,
}

#[derive(Debug)]
pub struct Decoder {
    format: Format,
    joiner: Joiner,
    /// End of the last line fed.
    fed_end: u64,
    /// The greatest `end` handed out: ends never go backwards.
    settled: u64,
}

impl Decoder {
    pub fn new(format: Format, stream: StreamFilter, max_bytes: usize, offset: u64) -> Self {
        Decoder {
            format,
            joiner: Joiner::new(max_bytes.max(1), stream),
            fed_end: offset,
            settled: offset,
        }
    }

    /// Takes the next raw line (without its newline) spanning `start..end` of the
    /// file; `truncated` if the line splitter cut it. Returns the message it completes.
    pub fn push(&mut self, raw: &[u8], start: u64, end: u64, truncated: bool) -> Option<Decoded> {
        self.fed_end = end;
        let parsed = if truncated {
            // A cut line is not valid JSON or misses its tag's meaning: ship it raw.
            Err(ContainerLineError::Empty)
        } else {
            parse_line(raw, self.format)
        };
        match parsed {
            Err(_) => {
                let end = self.settle(end);
                Some(Decoded {
                    text: String::from_utf8_lossy(raw).into_owned(),
                    stream: None,
                    timestamp: None,
                    start,
                    end,
                    truncated,
                })
            }
            Ok(line) => {
                let m = self.joiner.push(line, start)?;
                let end = self.settle(end);
                Some(Decoded {
                    timestamp: timestamp(&m.time),
                    text: m.text,
                    stream: Some(m.stream),
                    start: m.offset,
                    end,
                    truncated: m.truncated,
                })
            }
        }
    }

    fn settle(&mut self, end: u64) -> u64 {
        let end = self.joiner.pending_offset().map_or(end, |p| p.min(end));
        self.settled = self.settled.max(end);
        self.settled
    }

    /// Hands out the partial lines still waiting (the file is closing or was
    /// truncated), oldest first; each settles up to where the next one starts, the
    /// last up to the end of what was fed.
    pub fn flush(&mut self) -> Vec<Decoded> {
        let pending = self.joiner.flush();
        let ends: Vec<u64> = pending
            .iter()
            .skip(1)
            .map(|m| m.offset)
            .chain([self.fed_end])
            .collect();
        pending
            .into_iter()
            .zip(ends)
            .map(|(m, end)| {
                self.settled = self.settled.max(end);
                Decoded {
                    timestamp: timestamp(&m.time),
                    text: m.text,
                    stream: Some(m.stream),
                    start: m.offset,
                    end: self.settled,
                    truncated: m.truncated,
                }
            })
            .collect()
    }

    /// Starts over at `offset` (the file was truncated); call [`Decoder::flush`] first.
    pub fn reset(&mut self, offset: u64) {
        self.joiner.flush();
        self.fed_end = offset;
        self.settled = offset;
    }
}

/// The runtime's RFC 3339 time as Filebeat writes `@timestamp`: UTC, milliseconds.
/// `None` if it is not RFC 3339 (the caller uses the time of reading).
pub fn timestamp(time: &str) -> Option<String> {
    if !super::is_rfc3339(time) {
        return None;
    }
    let (date_time, rest) = time.split_at(19);
    let (frac, zone) = match rest.strip_prefix('.') {
        Some(r) => r.split_at(r.bytes().take_while(u8::is_ascii_digit).count()),
        None => ("", rest),
    };
    let mut millis = frac.get(..frac.len().min(3)).unwrap_or("").to_string();
    while millis.len() < 3 {
        millis.push('0');
    }
    let utc = format!("{}T{}.{millis}Z", &date_time[..10], &date_time[11..]);
    if zone.eq_ignore_ascii_case("z") {
        // Checks the calendar (and rejects a leap second) the shape check let through.
        humantime::parse_rfc3339(&utc).ok()?;
        return Some(utc);
    }
    // `±HH:MM`: the local time minus the offset is UTC.
    let local = humantime::parse_rfc3339(&utc).ok()?;
    let sign = zone.as_bytes()[0];
    let hours: u64 = zone[1..3].parse().ok()?;
    let minutes: u64 = zone[4..6].parse().ok()?;
    let offset = std::time::Duration::from_secs(hours * 3600 + minutes * 60);
    let utc = if sign == b'+' {
        local.checked_sub(offset)?
    } else {
        local.checked_add(offset)?
    };
    Some(humantime::format_rfc3339_millis(utc).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "2026-03-01T04:12:09.123456789Z";

    fn docker(text: &str, stream: &str) -> Vec<u8> {
        serde_json::json!({"log": text, "stream": stream, "time": T})
            .to_string()
            .into_bytes()
    }

    /// Feeds lines laid out one after another from offset 0.
    fn feed(d: &mut Decoder, lines: &[Vec<u8>]) -> Vec<Decoded> {
        let mut pos = 0;
        let mut out = Vec::new();
        for l in lines {
            let end = pos + l.len() as u64 + 1;
            out.extend(d.push(l, pos, end, false));
            pos = end;
        }
        out
    }

    #[test]
    fn partial_lines_join_and_the_message_starts_at_its_first_piece() {
        let mut d = Decoder::new(Format::Auto, StreamFilter::All, 1024, 0);
        let lines = [docker("hel", "stdout"), docker("lo\n", "stdout")];
        let out = feed(&mut d, &lines);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].text, "hello");
        assert_eq!(out[0].stream, Some(Stream::Stdout));
        assert_eq!(out[0].start, 0);
        assert_eq!(out[0].end, (lines[0].len() + lines[1].len() + 2) as u64);
        assert_eq!(
            out[0].timestamp.as_deref(),
            Some("2026-03-01T04:12:09.123Z")
        );
    }

    #[test]
    fn a_message_does_not_settle_past_the_other_streams_pending_piece() {
        let mut d = Decoder::new(Format::Auto, StreamFilter::All, 1024, 0);
        let lines = [
            docker("out-", "stdout"),
            docker("err\n", "stderr"),
            docker("end\n", "stdout"),
        ];
        let out = feed(&mut d, &lines);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].text.as_str(), out[0].end), ("err", 0));
        assert_eq!(out[1].text, "out-end");
        assert_eq!(out[1].start, 0);
        assert_eq!(
            out[1].end,
            lines.iter().map(|l| l.len() as u64 + 1).sum::<u64>()
        );
    }

    #[test]
    fn unparseable_lines_come_out_raw_and_are_not_lost() {
        let mut d = Decoder::new(Format::Auto, StreamFilter::All, 1024, 0);
        let out = feed(
            &mut d,
            &[b"not a container line".to_vec(), b"{broken".to_vec()],
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].text, "not a container line");
        assert_eq!(out[0].stream, None);
        assert_eq!(out[1].text, "{broken");
        assert_eq!((out[1].start, out[1].end), (21, 29));
    }

    #[test]
    fn cri_lines_are_filtered_by_stream_and_flushed_at_close() {
        let mut d = Decoder::new(Format::Cri, StreamFilter::Stderr, 1024, 0);
        let lines = [
            format!("{T} stdout F skipped").into_bytes(),
            format!("{T} stderr P par").into_bytes(),
            format!("{T} stderr P tial").into_bytes(),
        ];
        assert!(feed(&mut d, &lines).is_empty());
        let rest = d.flush();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].text, "partial");
        assert_eq!(rest[0].start, lines[0].len() as u64 + 1);
        assert_eq!(
            rest[0].end,
            lines.iter().map(|l| l.len() as u64 + 1).sum::<u64>()
        );
    }

    #[test]
    fn timestamps_become_utc_milliseconds() {
        assert_eq!(
            timestamp("2026-03-01T04:12:09Z").as_deref(),
            Some("2026-03-01T04:12:09.000Z")
        );
        assert_eq!(
            timestamp("2026-03-01T01:12:09.5+02:30").as_deref(),
            Some("2026-02-28T22:42:09.500Z")
        );
        assert_eq!(
            timestamp("2026-02-28T23:00:00.1-01:00").as_deref(),
            Some("2026-03-01T00:00:00.100Z")
        );
        assert_eq!(timestamp("2026-02-31T00:00:00Z"), None);
        assert_eq!(timestamp("yesterday"), None);
    }
}
