//! `access-log`: Apache and nginx access logs in the common and combined formats,
//! `%h %l %u %t "%r" %>s %b` and `... "%{Referer}i" "%{User-agent}i"`, with anything
//! after those (nginx's `"$http_x_forwarded_for"`, a request time) ignored.
//!
//! The client is the source; `%b` is what the server sent back, so it is the
//! destination's bytes. A 4xx or 5xx status is an HTTP outcome, not a deny: the action
//! is left unknown.

use std::net::IpAddr;

use jiff::Timestamp;

use super::fields::{not_a, number};
use super::{ConnectionRecord, excerpt as quote};

/// One line's record, or why it is not one.
pub(super) fn parse_line(line: &str) -> Result<ConnectionRecord, String> {
    let mut fields = Fields(line);
    let mut r = ConnectionRecord::default();
    let host = fields.word().ok_or("empty line")?;
    match host.parse::<IpAddr>() {
        Ok(ip) => r.source.ip = Some(ip),
        Err(_) if host == "-" => {}
        Err(_) if is_host_name(host) => r.set("source.domain", host),
        Err(_) => {
            return Err(format!(
                "client is not an address or host name: {}",
                quote(host)
            ));
        }
    }
    let _ident = fields.word().ok_or("no ident (%l) field")?;
    if let Some(user) = present(fields.word().ok_or("no user (%u) field")?) {
        r.set("user.name", user);
    }
    let time = fields.bracketed().ok_or("no [time] after the user")?;
    r.time = Some(
        Timestamp::strptime("%d/%b/%Y:%H:%M:%S %z", time)
            .map_err(|_| not_a("time", "[dd/Mon/yyyy:hh:mm:ss +zzzz]", time))?,
    );
    let request = fields.quoted().ok_or("no quoted request after the time")?;
    read_request(&request, &mut r);
    let status = fields.word().ok_or("no status after the request")?;
    if let Some(status) = present(status) {
        let code: u16 = status
            .parse()
            .ok()
            .filter(|c| (100..=999).contains(c))
            .ok_or_else(|| not_a("status", "an http status", status))?;
        r.set("http.response.status_code", code);
    }
    let size = fields.word().ok_or("no size after the status")?;
    if let Some(size) = present(size) {
        let bytes: u64 = number("size", size)?;
        r.destination.bytes = Some(bytes);
        r.set("http.response.body.bytes", bytes);
    }
    if fields.is_done() {
        return Ok(r);
    }
    let referrer = fields
        .quoted_or_word()
        .ok_or("no referrer after the size")?;
    if let Some(referrer) = present(&referrer) {
        r.set("http.request.referrer", referrer);
    }
    let agent = fields
        .quoted_or_word()
        .ok_or("no user agent after the referrer")?;
    if let Some(agent) = present(&agent) {
        r.set("user_agent.original", agent);
    }
    Ok(r)
}

/// `METHOD TARGET HTTP/x.y`; anything else (a scanner's bytes, `""`) sets nothing.
fn read_request(request: &str, r: &mut ConnectionRecord) {
    let parts: Vec<&str> = request.split(' ').collect();
    let (method, target, version) = match parts.as_slice() {
        [m, t, v] => (*m, *t, v.strip_prefix("HTTP/")),
        [m, t] => (*m, *t, None),
        _ => return,
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return;
    }
    r.set("http.request.method", method);
    r.set("url.original", target);
    if let Some(version) = version {
        r.set("http.version", version);
    }
}

/// `%h` with `HostnameLookups On`: letters, digits, `-`, `_` and dots.
fn is_host_name(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `-` and the empty string mean "not given".
fn present(value: &str) -> Option<&str> {
    (!value.is_empty() && value != "-").then_some(value)
}

/// The fields of a line, read from the front.
struct Fields<'a>(&'a str);

impl<'a> Fields<'a> {
    fn is_done(&self) -> bool {
        self.0.trim_start().is_empty()
    }

    fn word(&mut self) -> Option<&'a str> {
        let s = self.0.trim_start_matches(' ');
        if s.is_empty() {
            return None;
        }
        let (word, rest) = s.split_once(' ').unwrap_or((s, ""));
        self.0 = rest;
        Some(word)
    }

    fn bracketed(&mut self) -> Option<&'a str> {
        let s = self.0.trim_start_matches(' ').strip_prefix('[')?;
        let (inside, rest) = s.split_once(']')?;
        self.0 = rest;
        Some(inside)
    }

    /// A `"..."` field with `\"` and `\\` escaped (as Apache writes them).
    fn quoted(&mut self) -> Option<String> {
        let s = self.0.trim_start_matches(' ').strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, e @ ('"' | '\\'))) => value.push(e),
                    Some((_, e)) => {
                        value.push('\\');
                        value.push(e);
                    }
                    None => value.push('\\'),
                },
                '"' => {
                    self.0 = &s[i + 1..];
                    return Some(value);
                }
                c => value.push(c),
            }
        }
        None
    }

    fn quoted_or_word(&mut self) -> Option<String> {
        if self.0.trim_start_matches(' ').starts_with('"') {
            self.quoted()
        } else {
            self.word().map(str::to_string)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::fixture;

    fixture::parser_tests!("access-log");

    #[test]
    fn an_error_status_is_not_a_deny() {
        let r = parse_line(r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /x HTTP/1.0" 403 12"#)
            .unwrap();
        assert_eq!(r.action, None);
        assert_eq!(r.field("http.response.status_code").as_deref(), Some("403"));
        assert_eq!(r.time, Some("2000-10-10T20:55:36Z".parse().unwrap()));
    }

    #[test]
    fn an_escaped_quote_stays_inside_the_user_agent() {
        let r = parse_line(
            r#"10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" "a \"b\" c""#,
        )
        .unwrap();
        assert_eq!(
            r.field("user_agent.original").as_deref(),
            Some(r#"a "b" c"#)
        );
        assert_eq!(r.field("http.request.referrer"), None);
    }
}
