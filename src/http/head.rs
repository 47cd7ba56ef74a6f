//! HTTP/1.1 heads, sans-IO: a request head parsed from the bytes read so far, a
//! response head parsed the same way, and the head of a response to write. The head's
//! size is checked before anything is kept, so a peer sending endless header bytes is
//! answered with 400, not buffered. No sockets, no clock.

use std::fmt::Write as _;

/// The longest request or response head either side accepts.
pub const MAX_HEAD_BYTES: usize = 8 << 10;

/// Why a head was refused; the message goes into the 400 body or the client's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("head longer than {MAX_HEAD_BYTES} bytes")]
    TooLong,
    #[error("malformed start line {0:?}")]
    StartLine(String),
    #[error("malformed header line {0:?}")]
    Header(String),
    #[error("head is not ASCII")]
    NotAscii,
    #[error("request bodies are not accepted")]
    Body,
    #[error("bad Content-Length {0:?}")]
    ContentLength(String),
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub target: String,
    /// Whether the connection stays open after the response (HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`).
    pub keep_alive: bool,
}

impl Request {
    /// The target without its query or fragment.
    pub fn path(&self) -> &str {
        self.target.split(['?', '#']).next().unwrap_or("")
    }

    /// The value of `name` in the target's query (`?a=1&pretty`), "" for a bare name.
    pub fn query(&self, name: &str) -> Option<&str> {
        let query = self.target.split_once('?')?.1;
        let query = query.split('#').next().unwrap_or("");
        query
            .split('&')
            .find_map(|pair| match pair.split_once('=') {
                Some((n, v)) if n == name => Some(v),
                None if pair == name => Some(""),
                _ => None,
            })
    }
}

/// The end of the head (`\r\n\r\n`) in `buf`: the head's length with it, or None if it
/// has not all arrived. Errors once `buf` holds more than `MAX_HEAD_BYTES` without one.
fn head_len(buf: &[u8]) -> Result<Option<usize>, HeadError> {
    let window = &buf[..buf.len().min(MAX_HEAD_BYTES)];
    match window.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) => Ok(Some(at + 4)),
        None if buf.len() >= MAX_HEAD_BYTES => Err(HeadError::TooLong),
        None => Ok(None),
    }
}

/// The head's lines after the start line, as (lowercase name, trimmed value).
fn headers(lines: std::str::Split<'_, &str>) -> Result<Vec<(String, String)>, HeadError> {
    lines
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (name, value) = line
                .split_once(':')
                .filter(|(n, _)| !n.is_empty() && !n.contains([' ', '\t']))
                .ok_or_else(|| HeadError::Header(line.to_string()))?;
            Ok((name.to_ascii_lowercase(), value.trim().to_string()))
        })
        .collect()
}

fn head_text(head: &[u8]) -> Result<&str, HeadError> {
    if !head.is_ascii() {
        return Err(HeadError::NotAscii);
    }
    std::str::from_utf8(head).map_err(|_| HeadError::NotAscii)
}

fn version_ok(version: &str) -> bool {
    version == "HTTP/1.1" || version == "HTTP/1.0"
}

/// A request head at the start of `buf`: the request and the bytes it took, None if it
/// is incomplete, or why it is not a request a lumberwatch server takes.
pub fn parse_request(buf: &[u8]) -> Result<Option<(Request, usize)>, HeadError> {
    let Some(len) = head_len(buf)? else {
        return Ok(None);
    };
    let text = head_text(&buf[..len - 4])?;
    let mut lines = text.split("\r\n");
    let start = lines.next().unwrap_or("");
    let parts: Vec<&str> = start.split(' ').collect();
    let [method, target, version] = parts[..] else {
        return Err(HeadError::StartLine(start.to_string()));
    };
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase());
    if !token(method) || !target.starts_with('/') || !version_ok(version) {
        return Err(HeadError::StartLine(start.to_string()));
    }
    let mut keep_alive = version == "HTTP/1.1";
    for (name, value) in headers(lines)? {
        match name.as_str() {
            "connection" if value.eq_ignore_ascii_case("close") => keep_alive = false,
            "connection" if value.eq_ignore_ascii_case("keep-alive") => keep_alive = true,
            "content-length" if value != "0" => return Err(HeadError::Body),
            "transfer-encoding" => return Err(HeadError::Body),
            _ => {}
        }
    }
    let request = Request {
        method: method.to_string(),
        target: target.to_string(),
        keep_alive,
    };
    Ok(Some((request, len)))
}

/// A response head a client reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_length: u64,
    pub keep_alive: bool,
}

/// A response head at the start of `buf`, like `parse_request`. A response without a
/// `Content-Length` is refused: lumberwatch's servers always send one.
pub fn parse_response(buf: &[u8]) -> Result<Option<(Response, usize)>, HeadError> {
    let Some(len) = head_len(buf)? else {
        return Ok(None);
    };
    let text = head_text(&buf[..len - 4])?;
    let mut lines = text.split("\r\n");
    let start = lines.next().unwrap_or("");
    let mut parts = start.splitn(3, ' ');
    let (Some(version), Some(status)) = (parts.next(), parts.next()) else {
        return Err(HeadError::StartLine(start.to_string()));
    };
    let status: u16 = match status.parse() {
        Ok(s) if version_ok(version) && (100..600).contains(&s) => s,
        _ => return Err(HeadError::StartLine(start.to_string())),
    };
    let mut keep_alive = version == "HTTP/1.1";
    let mut content_length = None;
    for (name, value) in headers(lines)? {
        match name.as_str() {
            "connection" => keep_alive = !value.eq_ignore_ascii_case("close"),
            "content-length" => {
                let n = value
                    .parse::<u64>()
                    .map_err(|_| HeadError::ContentLength(value.clone()))?;
                content_length = Some(n);
            }
            _ => {}
        }
    }
    let content_length = content_length.ok_or(HeadError::ContentLength(String::new()))?;
    let response = Response {
        status,
        content_length,
        keep_alive,
    };
    Ok(Some((response, len)))
}

/// A response head with a body of `content_length` bytes to follow.
pub fn response_head(status: u16, content_type: &str, content_length: u64, close: bool) -> String {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    // Writing into a String cannot fail.
    let _ = write!(
        head,
        "Content-Type: {content_type}\r\nContent-Length: {content_length}\r\nServer: lumberwatch\r\n"
    );
    if status == 405 {
        head.push_str("Allow: GET, HEAD\r\n");
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> Request {
        let (req, len) = parse_request(text.as_bytes())
            .expect("a valid request")
            .expect("a complete head");
        assert_eq!(len, text.len());
        req
    }

    #[test]
    fn a_head_fed_one_byte_at_a_time_is_incomplete_until_its_blank_line() {
        let text = "GET /bytes/10 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n";
        let end = text.find("\r\n\r\n").expect("a blank line") + 4;
        for cut in 0..end {
            assert_eq!(
                parse_request(&text.as_bytes()[..cut]),
                Ok(None),
                "cut {cut}"
            );
        }
        let (req, len) = parse_request(text.as_bytes())
            .expect("valid")
            .expect("complete");
        assert_eq!(len, end, "the next request's bytes are left alone");
        assert_eq!(req.path(), "/bytes/10");
        assert!(req.keep_alive);
    }

    #[test]
    fn path_and_query_are_split_off_the_target() {
        let req = request("GET /stats?pretty&x=1#top HTTP/1.1\r\n\r\n");
        assert_eq!(req.path(), "/stats");
        assert_eq!(req.query("pretty"), Some(""));
        assert_eq!(req.query("x"), Some("1"));
        assert_eq!(req.query("top"), None);
        assert_eq!(request("GET / HTTP/1.1\r\n\r\n").query("pretty"), None);
    }

    #[test]
    fn keep_alive_follows_the_version_and_the_connection_header() {
        assert!(!request("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!request("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(request("GET / HTTP/1.0\r\nconnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(request("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").keep_alive);
    }

    #[test]
    fn garbage_and_bodies_are_refused() {
        for bad in [
            "\x16\x03\x01\x02\x00\r\n\r\n",
            "GET\r\n\r\n",
            "get / HTTP/1.1\r\n\r\n",
            "GET nothing HTTP/1.1\r\n\r\n",
            "GET / HTTP/2\r\n\r\n",
            "GET / HTTP/1.1 extra\r\n\r\n",
            "GET / HTTP/1.1\r\nno colon\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET /\u{e9} HTTP/1.1\r\n\r\n",
        ] {
            assert!(parse_request(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_head_without_an_end_is_refused_once_it_reaches_the_limit() {
        let endless = vec![b'a'; MAX_HEAD_BYTES - 1];
        assert_eq!(parse_request(&endless), Ok(None));
        let endless = vec![b'a'; MAX_HEAD_BYTES];
        assert_eq!(parse_request(&endless), Err(HeadError::TooLong));
    }

    #[test]
    fn a_client_reads_what_the_server_writes() {
        let head = response_head(200, "application/octet-stream", 1234, false);
        let (resp, len) = parse_response(head.as_bytes())
            .expect("valid")
            .expect("complete");
        assert_eq!(len, head.len());
        assert_eq!(
            resp,
            Response {
                status: 200,
                content_length: 1234,
                keep_alive: true
            }
        );
        let head = response_head(400, "text/plain", 0, true);
        let (resp, _) = parse_response(head.as_bytes())
            .expect("valid")
            .expect("complete");
        assert_eq!((resp.status, resp.keep_alive), (400, false));
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\n\r\n").is_err(),
            "no length"
        );
        assert!(parse_response(b"SSH-2.0-x\r\n\r\n").is_err());
    }
}
