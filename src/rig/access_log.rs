//! `rig hello --access-log`: one line per answered request in Apache's combined format,
//! as the users' web servers write it, so that a file input with `parser: access-log`
//! sees the poller's volume per client. Lines are appended whole, one write each, so a
//! tailer never reads half a line from us.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;

use crate::http::Request;

#[derive(Debug)]
pub struct AccessLog {
    file: Mutex<File>,
}

impl AccessLog {
    /// Opens `path` for appending, creating it (0644) if it does not exist.
    pub fn open(path: &Path) -> anyhow::Result<AccessLog> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open the access log {}", path.display()))?;
        Ok(AccessLog {
            file: Mutex::new(file),
        })
    }

    /// Appends the line of `request` from `client`, answered with `status` and `bytes`
    /// of body. A failed write is reported once per request, never fatal to serving.
    pub fn record(&self, client: IpAddr, request: &Request, status: u16, bytes: u64) {
        let text = line(jiff::Zoned::now(), client, request, status, bytes);
        let mut file = self.file.lock().expect("no thread panics holding the log");
        if let Err(e) = file.write_all(text.as_bytes()) {
            eprintln!("rig hello: writing the access log: {e}");
        }
    }
}

/// `client - - [10/Oct/2026:13:55:36 +0200] "GET /bytes/5 HTTP/1.1" 200 5 "-" "-"`.
fn line(now: jiff::Zoned, client: IpAddr, request: &Request, status: u16, bytes: u64) -> String {
    format!(
        "{client} - - [{}] \"{} {} HTTP/1.1\" {status} {bytes} \"-\" \"lumberwatch-rig\"\n",
        now.strftime("%d/%b/%Y:%H:%M:%S %z"),
        request.method,
        request.target,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{Format, ParserSpec};

    #[test]
    fn a_line_is_a_combined_log_record_of_the_client_and_the_bytes() {
        let now: jiff::Zoned = "2026-03-01T10:00:00+01:00[+01:00]".parse().expect("a time");
        let request = Request {
            method: "GET".into(),
            target: "/bytes/12345".into(),
            keep_alive: true,
        };
        let client: IpAddr = "127.0.0.3".parse().expect("an address");
        let text = line(now, client, &request, 200, 12345);
        assert_eq!(
            text,
            "127.0.0.3 - - [01/Mar/2026:10:00:00 +0100] \"GET /bytes/12345 HTTP/1.1\" 200 12345 \"-\" \"lumberwatch-rig\"\n"
        );
        let spec = ParserSpec {
            format: Format::AccessLog,
            fields: None,
            pattern: None,
        };
        let mut parser = spec.build().expect("access-log takes no options");
        let mut records = Vec::new();
        parser
            .parse(text.trim_end(), &mut records)
            .expect("the line parses");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].source.ip, Some(client));
        assert_eq!(records[0].destination.bytes, Some(12345));
    }
}
