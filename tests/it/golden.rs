//! The codec against golden captures of a real Filebeat 8.1.3 (see `proto/README.md`).
//!
//! The expected frames in `proto/*.json` come from `scripts/capture-filebeat.py`, a
//! decoder that shares no code with ours; payloads are compared as JSON values.

use std::path::PathBuf;

use bytes::BytesMut;
use flate2::read::ZlibDecoder;
use lumberwatch::proto::{BatchEncoder, Decoder, Frame, Limits, Version};
use serde_json::{Value, json};

const CAPTURES: [&str; 2] = ["filebeat-8.1.3-compressed", "filebeat-8.1.3-plain"];

fn proto_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("proto")
}

fn capture_bytes(name: &str) -> Vec<u8> {
    let path = proto_dir().join(format!("{name}.bin"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn golden_frames(name: &str) -> Vec<Value> {
    let path = proto_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let doc: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    doc["frames"]
        .as_array()
        .unwrap_or_else(|| panic!("{} has no \"frames\" array", path.display()))
        .clone()
}

/// A decoded frame in the oracle's JSON shape.
fn as_golden(frame: &Frame) -> Value {
    match frame {
        Frame::Window { version, size } => {
            assert_eq!(*version, Version::V2, "Filebeat speaks v2 only");
            json!({"type": "window", "version": 2, "size": size})
        }
        Frame::Json {
            version,
            seq,
            payload,
        } => {
            assert_eq!(*version, Version::V2, "Filebeat speaks v2 only");
            let event: Value = serde_json::from_slice(payload)
                .unwrap_or_else(|e| panic!("json frame seq {seq} does not parse: {e}"));
            json!({"type": "json", "seq": seq, "event": event})
        }
        other => panic!("a Beats client never sends {other:?}"),
    }
}

/// Decodes `bytes` handing the decoder `chunk` bytes at a time; the stream must end on
/// a frame boundary.
fn decode_in_chunks(bytes: &[u8], chunk: usize) -> Vec<Frame> {
    let mut decoder = Decoder::new(Limits::default());
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in bytes.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(frame) = decoder.decode(&mut buf).expect("golden capture decodes") {
            frames.push(frame);
        }
    }
    assert!(
        buf.is_empty(),
        "{} bytes left undecoded at the end",
        buf.len()
    );
    frames
}

fn decode_all(bytes: &[u8]) -> Vec<Frame> {
    decode_in_chunks(bytes, bytes.len().max(1))
}

/// The capture's events grouped by batch (each `W` starts one), as raw payloads.
fn batches(frames: &[Frame]) -> Vec<Vec<Vec<u8>>> {
    let mut out: Vec<Vec<Vec<u8>>> = Vec::new();
    for frame in frames {
        match frame {
            Frame::Window { .. } => out.push(Vec::new()),
            Frame::Json { payload, .. } => out
                .last_mut()
                .expect("Filebeat sends a window before any event")
                .push(payload.to_vec()),
            other => panic!("a Beats client never sends {other:?}"),
        }
    }
    out
}

fn encode(level: u32, batches: &[Vec<Vec<u8>>]) -> Vec<u8> {
    let mut encoder = BatchEncoder::new(level);
    let mut out = Vec::new();
    for batch in batches {
        encoder.encode(&mut out, batch.iter().map(Vec::as_slice));
    }
    out
}

/// Top-level frames as (type byte, whole frame) without decoding them: a walker
/// independent of `Decoder`, to compare wire layouts.
fn wire_frames(bytes: &[u8]) -> Vec<(u8, &[u8])> {
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        assert_eq!(bytes[at], b'2', "version byte at {at}");
        let kind = bytes[at + 1];
        let len = match kind {
            b'W' | b'A' => 6,
            b'C' => 6 + be(at + 2),
            b'J' => 10 + be(at + 6),
            other => panic!("unexpected frame type {:?} at byte {at}", other as char),
        };
        out.push((kind, &bytes[at..at + len]));
        at += len;
    }
    out
}

fn inflate(compressed_frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut ZlibDecoder::new(&compressed_frame[6..]), &mut out)
        .expect("C frame holds a zlib stream");
    out
}

#[test]
fn filebeat_captures_decode_to_the_oracles_frames() {
    for name in CAPTURES {
        let got: Vec<Value> = decode_all(&capture_bytes(name))
            .iter()
            .map(as_golden)
            .collect();
        let want = golden_frames(name);
        assert_eq!(got.len(), want.len(), "{name}: frame count");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "{name}: frame {i}");
        }
    }
}

#[test]
fn filebeat_captures_decode_the_same_fed_one_byte_at_a_time() {
    for name in CAPTURES {
        let bytes = capture_bytes(name);
        let whole = decode_all(&bytes);
        assert_eq!(
            decode_in_chunks(&bytes, 1),
            whole,
            "{name}: one byte at a time"
        );
        assert_eq!(
            decode_in_chunks(&bytes, 7),
            whole,
            "{name}: seven bytes at a time"
        );
        let got: Vec<Value> = decode_in_chunks(&bytes, 1).iter().map(as_golden).collect();
        assert_eq!(
            got,
            golden_frames(name),
            "{name}: one byte at a time vs oracle"
        );
    }
}

#[test]
fn reencoded_filebeat_events_decode_to_the_same_frames() {
    for name in CAPTURES {
        let frames = decode_all(&capture_bytes(name));
        let batches = batches(&frames);
        for level in [0, 3] {
            let ours = encode(level, &batches);
            assert_eq!(
                decode_all(&ours),
                frames,
                "{name} re-encoded at level {level}"
            );
            assert_eq!(
                decode_in_chunks(&ours, 1),
                frames,
                "{name} re-encoded at level {level}, fed one byte at a time"
            );
        }
    }
}

#[test]
fn level_0_reencoding_is_byte_identical_to_filebeat() {
    let filebeat = capture_bytes("filebeat-8.1.3-plain");
    let ours = encode(0, &batches(&decode_all(&filebeat)));
    assert_eq!(ours, filebeat);
}

#[test]
fn level_3_reencoding_keeps_filebeats_layout_and_inflated_bytes() {
    // Compressed bytes differ between zlib implementations; the layout (W, then one C
    // per batch) and what each C inflates to must not.
    let filebeat = capture_bytes("filebeat-8.1.3-compressed");
    let ours = encode(3, &batches(&decode_all(&filebeat)));
    let theirs = wire_frames(&filebeat);
    let mine = wire_frames(&ours);
    let kinds = |f: &[(u8, &[u8])]| f.iter().map(|(k, _)| *k as char).collect::<String>();
    assert_eq!(
        kinds(&theirs),
        "WCWC",
        "Filebeat's layout changed: update proto/README.md"
    );
    assert_eq!(kinds(&mine), kinds(&theirs));
    for ((kind, t), (_, m)) in theirs.iter().zip(&mine) {
        if *kind == b'C' {
            assert_eq!(inflate(m), inflate(t));
        } else {
            assert_eq!(m, t);
        }
    }
}
