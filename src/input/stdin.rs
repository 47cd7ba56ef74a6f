//! `type: stdin`: one event per line of standard input, like Filebeat's stdin input.

use std::fmt::Write;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::parsing::LineParsing;
use super::{Outlet, QueueClosed};
use crate::event::EventTemplate;

#[derive(Debug, thiserror::Error)]
pub enum StdinError {
    #[error("reading stdin at offset {offset}: {source}")]
    Read { offset: u64, source: std::io::Error },
    #[error(transparent)]
    Closed(#[from] QueueClosed),
}

/// Reads lines until end of input. Invalid UTF-8 is replaced, never dropped; `\r\n`
/// and `\n` are stripped; `log.offset` is the byte offset of the line's start. With a
/// `parser`, a line may become several events (or none, for a header).
pub async fn run<R: AsyncRead + Unpin>(
    reader: R,
    template: &mut EventTemplate,
    queue: &Outlet,
    mut parsing: Option<LineParsing>,
) -> Result<u64, StdinError> {
    let mut reader = BufReader::with_capacity(256 << 10, reader);
    let mut line = Vec::new();
    let mut ready = Vec::new();
    let (mut offset, mut count) = (0u64, 0u64);
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .await
            .map_err(|source| StdinError::Read { offset, source })?;
        if n == 0 {
            return Ok(count);
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        let extra = |b: &mut bytes::BytesMut| {
            write!(b, ",\"log\":{{\"offset\":{offset}}}").expect("writing to memory cannot fail");
        };
        match parsing.as_mut() {
            None => ready.push(template.event(text, extra)),
            Some(p) => p.events(template, text, None, &extra, &mut ready),
        }
        for event in ready.drain(..) {
            queue.send(event).await?;
            count += 1;
        }
        offset += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AgentInfo, EventShape};

    #[tokio::test]
    async fn each_line_becomes_an_event_with_its_offset() {
        let mut template =
            EventTemplate::new(&AgentInfo::new("lumberwatch", None), &EventShape::default());
        let (tx, mut rx) = crate::queue::mem::channel(16);
        let tx = Outlet::new(tx, Default::default());
        let input: &[u8] = b"first\r\nsecond \xff\nlast without newline";
        assert_eq!(run(input, &mut template, &tx, None).await.unwrap(), 3);
        let mut got = Vec::new();
        while let Ok(e) = rx.try_recv() {
            let v: serde_json::Value = serde_json::from_slice(&e.json).unwrap();
            got.push((
                v["message"].as_str().unwrap().to_string(),
                v["log"]["offset"].as_u64().unwrap(),
            ));
        }
        let want = [
            ("first", 0),
            ("second \u{fffd}", 7),
            ("last without newline", 16),
        ];
        assert_eq!(got, want.map(|(m, o)| (m.to_string(), o)));
    }
}
