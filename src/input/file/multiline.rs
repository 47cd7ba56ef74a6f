//! The `multiline` parser (`type: pattern`), sans-IO like Filebeat's: lines go in with
//! their offsets and the time they were read, joined messages come out. It never reads
//! a clock: the harvester passes `now` and asks for [`Multiline::deadline`].
//!
//! `match: after` appends a line to the event before it when the line matches the pattern
//! (or does not, with `negate: true`); `match: before` appends it when the line before
//! it matched (so a run of matching lines is joined to the next line that does not).

use std::time::{Duration, Instant};

use regex::Regex;

use crate::config::{MultilineConfig, MultilineMatch};

/// A joined message: the lines with `\n` between them.
#[derive(Debug, PartialEq, Eq)]
pub struct Joined {
    pub text: String,
    /// Offset of the first line's first byte.
    pub start: u64,
    /// Offset just past the last line's newline.
    pub end: u64,
    pub lines: usize,
    /// Lines past `max_lines` or bytes past `max_bytes` were left out (or a line was cut).
    pub truncated: bool,
}

#[derive(Debug)]
pub struct Multiline {
    pattern: Regex,
    negate: bool,
    after: bool,
    max_lines: usize,
    max_bytes: usize,
    timeout: Duration,
    pending: Option<Joined>,
    /// The last line pushed matched (XOR negate): for `match: before`.
    last_matched: bool,
    deadline: Option<Instant>,
}

impl Multiline {
    /// `cfg.pattern` was checked when the config was loaded; an invalid one is an error here.
    pub fn new(cfg: &MultilineConfig, max_bytes: usize) -> Result<Self, regex::Error> {
        Ok(Multiline {
            pattern: Regex::new(&cfg.pattern)?,
            negate: cfg.negate,
            after: cfg.match_ == MultilineMatch::After,
            max_lines: cfg.max_lines.max(1),
            max_bytes: max_bytes.max(1),
            timeout: cfg.timeout,
            pending: None,
            last_matched: false,
            deadline: None,
        })
    }

    /// Adds a line read at `now`; returns the event it completed, if any.
    pub fn push(
        &mut self,
        text: &str,
        start: u64,
        end: u64,
        truncated: bool,
        now: Instant,
    ) -> Option<Joined> {
        let matched = self.pattern.is_match(text) != self.negate;
        let continues = if self.after {
            matched
        } else {
            self.last_matched
        };
        self.last_matched = matched;
        let done = match self.pending.as_mut() {
            Some(event) if continues => {
                event.end = end;
                event.lines += 1;
                event.truncated |= truncated;
                if event.lines > self.max_lines {
                    event.truncated = true;
                } else {
                    append_within(&mut event.text, "\n", self.max_bytes, &mut event.truncated);
                    append_within(&mut event.text, text, self.max_bytes, &mut event.truncated);
                }
                None
            }
            _ => self.pending.take(),
        };
        if self.pending.is_none() {
            let mut first = Joined {
                text: String::new(),
                start,
                end,
                lines: 1,
                truncated,
            };
            append_within(&mut first.text, text, self.max_bytes, &mut first.truncated);
            self.pending = Some(first);
        }
        self.deadline = Some(now + self.timeout);
        done
    }

    /// When the pending event is sent even if no further line comes.
    pub fn deadline(&self) -> Option<Instant> {
        self.pending.as_ref().and(self.deadline)
    }

    /// The pending event, if its timeout has passed at `now`.
    pub fn poll_timeout(&mut self, now: Instant) -> Option<Joined> {
        if self.deadline.is_some_and(|d| now >= d) {
            return self.flush();
        }
        None
    }

    /// The pending event, now (the file is closing).
    pub fn flush(&mut self) -> Option<Joined> {
        self.deadline = None;
        self.last_matched = false;
        self.pending.take()
    }
}

/// Appends `s` to `text` without going past `max` bytes (cut on a char boundary).
fn append_within(text: &mut String, s: &str, max: usize, truncated: &mut bool) {
    let room = max.saturating_sub(text.len());
    if s.len() <= room {
        text.push_str(s);
        return;
    }
    *truncated = true;
    let mut cut = room;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    text.push_str(&s[..cut]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pattern: &str, negate: bool, match_: MultilineMatch) -> MultilineConfig {
        MultilineConfig {
            pattern: pattern.into(),
            negate,
            match_,
            max_lines: 500,
            timeout: Duration::from_secs(5),
        }
    }

    /// Feeds `lines` (each with its `\n`) from offset 0, then flushes.
    fn join(m: &mut Multiline, lines: &[&str]) -> Vec<(String, u64, u64, usize, bool)> {
        let now = Instant::now();
        let mut out = Vec::new();
        let mut offset = 0;
        let mut take = |j: Joined| out.push((j.text, j.start, j.end, j.lines, j.truncated));
        for line in lines {
            let end = offset + line.len() as u64 + 1;
            if let Some(j) = m.push(line, offset, end, false, now) {
                take(j);
            }
            offset = end;
        }
        if let Some(j) = m.flush() {
            take(j);
        }
        out
    }

    #[test]
    fn java_stack_trace_indented_lines_follow_the_first() {
        // Filebeat docs: pattern '^[[:space:]]', negate: false, match: after.
        let mut m =
            Multiline::new(&cfg("^[[:space:]]", false, MultilineMatch::After), 1 << 20).unwrap();
        let trace = [
            "Exception in thread \"main\" java.lang.NullPointerException",
            "        at com.example.myproject.Book.getTitle(Book.java:16)",
            "        at com.example.myproject.Author.getBookTitles(Author.java:25)",
            "        at com.example.myproject.Bootstrap.main(Bootstrap.java:14)",
            "next event",
        ];
        let got = join(&mut m, &trace);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, trace[..4].join("\n"));
        let first_end = trace[..4].iter().map(|l| l.len() as u64 + 1).sum::<u64>();
        assert_eq!((got[0].1, got[0].2, got[0].3), (0, first_end, 4));
        assert_eq!(
            got[1],
            ("next event".into(), first_end, first_end + 11, 1, false)
        );
    }

    #[test]
    fn java_caused_by_lines_join_with_the_documented_pattern() {
        // Filebeat docs: '^[[:space:]]+(at|\.{3})[[:space:]]+\b|^Caused by:'.
        let pattern = r"^[[:space:]]+(at|\.{3})[[:space:]]+\b|^Caused by:";
        let mut m = Multiline::new(&cfg(pattern, false, MultilineMatch::After), 1 << 20).unwrap();
        let trace = [
            "Exception in thread \"main\" java.lang.IllegalStateException: A book has a null property",
            "       at com.example.myproject.Author.getBookIds(Author.java:38)",
            "       at com.example.myproject.Bootstrap.main(Bootstrap.java:14)",
            "Caused by: java.lang.NullPointerException",
            "       at com.example.myproject.Book.getId(Book.java:22)",
            "       ... 1 more",
        ];
        let got = join(&mut m, &trace);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, trace.join("\n"));
        assert_eq!(got[0].3, 6);
    }

    #[test]
    fn negated_bracket_pattern_appends_lines_to_the_bracketed_one() {
        // Filebeat docs: pattern '^\[', negate: true, match: after.
        let mut m = Multiline::new(&cfg(r"^\[", true, MultilineMatch::After), 1 << 20).unwrap();
        let lines = [
            "[beat-logstash-some-name-832-2015.11.28] IndexNotFoundException[no such index]",
            "    at org.elasticsearch.Foo(Foo.java:1)",
            "    at org.elasticsearch.Bar(Bar.java:2)",
            "[second] event",
        ];
        let got = join(&mut m, &lines);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, lines[..3].join("\n"));
        assert_eq!(got[1].0, "[second] event");
    }

    #[test]
    fn match_before_joins_continued_lines_to_the_next_one() {
        // Filebeat docs: lines ending in a backslash continue on the next line:
        // pattern '\\$', negate: false, match: before.
        let mut m = Multiline::new(&cfg(r"\\$", false, MultilineMatch::Before), 1 << 20).unwrap();
        let lines = [
            "printf (\"%10.10ld  \\t %10.10ld \\t %s\\",
            "  %f\", w, x, y, z );",
            "next",
        ];
        let got = join(&mut m, &lines);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, lines[..2].join("\n"));
        assert_eq!(got[1].0, "next");
    }

    #[test]
    fn max_lines_drops_the_rest_but_the_offsets_cover_every_line() {
        let mut c = cfg("^ ", false, MultilineMatch::After);
        c.max_lines = 2;
        let mut m = Multiline::new(&c, 1 << 20).unwrap();
        let got = join(&mut m, &["a", " b", " c", " d", "e"]);
        assert_eq!(got[0], ("a\n b".into(), 0, 11, 4, true));
        assert_eq!(got[1], ("e".into(), 11, 13, 1, false));
    }

    #[test]
    fn max_bytes_cuts_the_joined_message_on_a_char_boundary() {
        let mut m = Multiline::new(&cfg("^ ", false, MultilineMatch::After), 6).unwrap();
        let got = join(&mut m, &["ab", " é", " z"]);
        assert_eq!(got[0].0, "ab\n é");
        assert!(got[0].4);
        let mut m = Multiline::new(&cfg("^ ", false, MultilineMatch::After), 5).unwrap();
        let got = join(&mut m, &["ab", " é"]);
        assert_eq!(got[0].0, "ab\n ");
        assert!(got[0].4);
    }

    #[test]
    fn timeout_sends_the_pending_event_when_no_line_follows() {
        let mut m = Multiline::new(&cfg("^ ", false, MultilineMatch::After), 1 << 20).unwrap();
        let t0 = Instant::now();
        assert_eq!(m.deadline(), None);
        assert!(m.push("head", 0, 5, false, t0).is_none());
        assert!(
            m.push(" tail", 5, 11, false, t0 + Duration::from_secs(3))
                .is_none()
        );
        // The timeout counts from the last line.
        let deadline = t0 + Duration::from_secs(8);
        assert_eq!(m.deadline(), Some(deadline));
        assert!(
            m.poll_timeout(deadline - Duration::from_millis(1))
                .is_none()
        );
        let j = m.poll_timeout(deadline).expect("flushed at its deadline");
        assert_eq!(
            (j.text.as_str(), j.start, j.end, j.lines),
            ("head\n tail", 0, 11, 2)
        );
        assert_eq!(m.deadline(), None);
        assert!(m.poll_timeout(deadline + Duration::from_secs(60)).is_none());
    }
}
