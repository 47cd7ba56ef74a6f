//! `output.console`: events as JSON lines on stdout, for debugging a config.

use std::io::Write;

use tokio::sync::mpsc;

use crate::event::Event;

/// Writes every event until the queue closes. `pretty` re-indents each document.
pub async fn run_console(mut queue: mpsc::Receiver<Event>, pretty: bool) -> std::io::Result<()> {
    let mut batch = Vec::with_capacity(1024);
    while queue.recv_many(&mut batch, 1024).await > 0 {
        let mut out = std::io::stdout().lock();
        for e in batch.drain(..) {
            match serde_json::from_slice::<serde_json::Value>(&e.json) {
                Ok(v) if pretty => serde_json::to_writer_pretty(&mut out, &v)?,
                _ => out.write_all(&e.json)?,
            }
            out.write_all(b"\n")?;
        }
        out.flush()?;
    }
    Ok(())
}
