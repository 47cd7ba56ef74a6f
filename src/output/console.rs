//! `output.console`: events as JSON lines on stdout, for debugging a config. As in
//! Filebeat, an event written to stdout is acked: file offsets move on, the disk queue
//! forgets it.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::{AckSink, OutputStats};
use crate::queue::mem;

/// Writes every event until the queue closes. `pretty` re-indents each document.
pub async fn run_console(
    mut queue: mem::Receiver,
    pretty: bool,
    stats: Arc<OutputStats>,
    acks: Option<Arc<dyn AckSink>>,
) -> std::io::Result<()> {
    let mut batch = Vec::with_capacity(1024);
    while queue.recv_many(&mut batch, 1024).await > 0 {
        {
            let mut out = std::io::stdout().lock();
            for e in &batch {
                match serde_json::from_slice::<serde_json::Value>(&e.json) {
                    Ok(v) if pretty => serde_json::to_writer_pretty(&mut out, &v)?,
                    _ => out.write_all(&e.json)?,
                }
                out.write_all(b"\n")?;
            }
            out.flush()?;
        }
        if let Some(acks) = &acks {
            acks.acked(&batch);
        }
        let n = batch.len() as u64;
        stats.events_sent_total.fetch_add(n, Relaxed);
        stats.events_acked_total.fetch_add(n, Relaxed);
        batch.clear();
    }
    Ok(())
}
