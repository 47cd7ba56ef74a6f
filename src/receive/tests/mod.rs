//! The receiver over real TCP on 127.0.0.1, each test waiting on a concrete event
//! (an ack, a reset, a batch) with a bounded timeout. Shared helpers live here.

mod command;
mod protocol;
mod tls;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;

use super::*;
use crate::proto::{BatchEncoder, encode_data, encode_window};
use crate::tls::{ClientAuth, ServerTls};

const WAIT: Duration = Duration::from_secs(10);

fn config() -> ReceiverConfig {
    ReceiverConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..ReceiverConfig::default()
    }
}

async fn start(
    config: ReceiverConfig,
    capacity: usize,
) -> (ReceiverHandle, mpsc::Receiver<ReceivedBatch>) {
    let (tx, rx) = mpsc::channel(capacity);
    let receiver = Receiver::bind(config, tx).await.unwrap();
    (receiver.spawn(), rx)
}

async fn connect(handle: &ReceiverHandle) -> TcpStream {
    TcpStream::connect(handle.local_addr()).await.unwrap()
}

fn batch(level: u32, events: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    BatchEncoder::new(level).encode(&mut out, events.iter().map(|e| e.as_bytes()));
    out
}

fn events(n: usize) -> Vec<String> {
    (0..n).map(|i| format!(r#"{{"n":{i}}}"#)).collect()
}

/// The next ack as (version byte, seq).
async fn read_ack(io: &mut (impl AsyncRead + Unpin)) -> (u8, u32) {
    let mut frame = [0u8; 6];
    timeout(WAIT, io.read_exact(&mut frame))
        .await
        .expect("an ack within the wait")
        .expect("an ack, not an error");
    assert_eq!(frame[1], b'A', "ack frame, got {frame:?}");
    (
        frame[0],
        u32::from_be_bytes([frame[2], frame[3], frame[4], frame[5]]),
    )
}

/// Reads until the connection ends; returns how it ended and what arrived before.
async fn read_to_end(io: &mut (impl AsyncRead + Unpin)) -> (io::Result<()>, Vec<u8>) {
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        match timeout(WAIT, io.read(&mut chunk))
            .await
            .expect("the connection ends")
        {
            Ok(0) => return (Ok(()), got),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(err) => return (Err(err), got),
        }
    }
}

async fn expect_reset_without_ack(io: &mut (impl AsyncRead + Unpin)) {
    let (end, got) = read_to_end(io).await;
    assert!(got.is_empty(), "no ack before the reset, got {got:?}");
    if let Err(err) = end {
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
    }
}

async fn recv(rx: &mut mpsc::Receiver<ReceivedBatch>) -> ReceivedBatch {
    timeout(WAIT, rx.recv())
        .await
        .expect("a batch")
        .expect("an open pipeline")
}

fn texts(batch: &ReceivedBatch) -> Vec<String> {
    batch
        .events
        .iter()
        .map(|e| String::from_utf8(e.to_vec()).unwrap())
        .collect()
}

fn cert_path(name: &str) -> String {
    format!("{}/certs/{name}", env!("CARGO_MANIFEST_DIR"))
}
