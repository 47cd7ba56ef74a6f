//! The syslog header some connection logs arrive behind (`<134>Jan 29 00:00:28 host `,
//! `<134>1 2024-01-29T00:00:28Z host app - - - `, `2024-01-29T00:00:28+01:00 host `):
//! what it says about time and host, and where the payload starts.
//!
//! A classic (RFC 3164) timestamp has no year and no zone; it is kept as text and never
//! turned into a time here, because the year would be a guess and this module has no
//! clock.

use jiff::Timestamp;

use super::ConnectionRecord;

/// A line split into what its syslog header said and the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header<'a> {
    /// A timestamp with a year and a zone (RFC 5424 or ISO 8601 headers).
    pub time: Option<Timestamp>,
    /// An RFC 3164 timestamp as written (`Mar  8 20:16:44`).
    pub time_without_year: Option<&'a str>,
    pub host: Option<&'a str>,
    /// The payload after the header; the whole line when there is no header.
    pub rest: &'a str,
}

pub(crate) const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl Header<'_> {
    /// Writes what the header says into `r`: its time, a yearless time as written
    /// (`syslog.timestamp`) and the host (`observer.hostname`).
    pub(crate) fn write_to(&self, r: &mut ConnectionRecord) {
        r.time = self.time;
        if let Some(written) = self.time_without_year {
            r.set("syslog.timestamp", written);
        }
        if let Some(host) = self.host {
            r.set("observer.hostname", host);
        }
    }
}

/// Splits off a syslog header if the line starts with one; never fails.
pub(crate) fn split(line: &str) -> Header<'_> {
    let none = Header {
        time: None,
        time_without_year: None,
        host: None,
        rest: line,
    };
    let body = strip_priority(line);
    if let Some(after) = body.strip_prefix("1 ") {
        // RFC 5424: VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG
        let mut words = Words(after);
        let (Some(time), Some(host)) = (words.next(), words.next()) else {
            return none;
        };
        let Ok(time) = time.parse::<Timestamp>() else {
            return none;
        };
        let (_app, _proc, _msgid) = (words.next(), words.next(), words.next());
        let rest = words.0.strip_prefix("- ").unwrap_or(words.0);
        return Header {
            time: Some(time),
            host: Some(host),
            rest,
            ..none
        };
    }
    if let Some(written) = rfc3164_time(body) {
        let mut words = Words(&body[written.len()..]);
        let Some(host) = words.next() else {
            return none;
        };
        return Header {
            time_without_year: Some(written),
            host: Some(host),
            rest: words.0,
            ..none
        };
    }
    let mut words = Words(body);
    if let Some(Ok(time)) = words.next().map(str::parse::<Timestamp>)
        && let Some(host) = words.next()
    {
        return Header {
            time: Some(time),
            host: Some(host),
            rest: words.0,
            ..none
        };
    }
    none
}

/// `<PRI>` (one to three digits) is dropped when present.
fn strip_priority(line: &str) -> &str {
    let Some(after) = line.strip_prefix('<') else {
        return line;
    };
    match after.split_once('>') {
        Some((pri, rest)) if (1..=3).contains(&pri.len()) && is_digits(pri) => rest,
        _ => line,
    }
}

/// `Mmm dd hh:mm:ss` or `Mmm  d hh:mm:ss` at the start, as written.
fn rfc3164_time(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    if b.len() < 15 || !MONTHS.iter().any(|m| b.starts_with(m.as_bytes())) || b[3] != b' ' {
        return None;
    }
    let day_ok = (b[4] == b' ' || b[4].is_ascii_digit()) && b[5].is_ascii_digit();
    let clock = &b[7..15];
    let clock_ok = clock.iter().enumerate().all(|(i, c)| {
        if i == 2 || i == 5 {
            *c == b':'
        } else {
            c.is_ascii_digit()
        }
    });
    // Every byte checked is ASCII, so 15 is a char boundary.
    (day_ok && b[6] == b' ' && clock_ok).then(|| &s[..15])
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Space-separated words, leaving the unread rest (without leading spaces) in `.0`.
struct Words<'a>(&'a str);

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let s = self.0.trim_start_matches(' ');
        if s.is_empty() {
            return None;
        }
        let (word, rest) = s.split_once(' ').unwrap_or((s, ""));
        self.0 = rest.trim_start_matches(' ');
        Some(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_classic_header_keeps_its_yearless_time_as_text() {
        let h = split("<4>Mar  8 20:16:44 black kernel: [20474.050964] x");
        assert_eq!(h.time, None);
        assert_eq!(h.time_without_year, Some("Mar  8 20:16:44"));
        assert_eq!(h.host, Some("black"));
        assert_eq!(h.rest, "kernel: [20474.050964] x");
    }

    #[test]
    fn rfc5424_and_iso_headers_give_a_time() {
        let h = split("<134>1 2024-01-29T00:00:28.5Z fw1 kernel - - - IN=eth0");
        assert_eq!(h.time, Some("2024-01-29T00:00:28.5Z".parse().unwrap()));
        assert_eq!(h.host, Some("fw1"));
        assert_eq!(h.rest, "IN=eth0");
        let h = split("2024-01-29T01:00:28+01:00 fw1 kernel: IN=eth0");
        assert_eq!(h.time, Some("2024-01-29T00:00:28Z".parse().unwrap()));
        assert_eq!(h.rest, "kernel: IN=eth0");
    }

    #[test]
    fn a_line_without_a_header_is_all_rest() {
        for line in ["IN=eth0 OUT=", "<999999>x", "Mar 8 20:16:44", "é", ""] {
            assert_eq!(split(line).rest, line);
        }
    }
}
