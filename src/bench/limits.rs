//! `lumberwatch bench limits`: this machine's raw limits, measured the way the shipper
//! works, so that a shipping figure can be read as a fraction of them. On one core:
//! building the events a `filestream` input makes of a file's lines (the input's own
//! code, without the reading and the queue), and `BatchEncoder` on batches of those
//! events at each zlib level. Over loopback: copying bytes through one TCP stream,
//! plain and over rustls with the crate's TLS configs and test certificates.
//!
//! Prints one `limit <figure> key=value ...` line per figure (for
//! `benches/compare-filebeat.sh`). Every measurement is bounded in bytes and in time,
//! and only 127.0.0.1 is used.

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::BytesMut;

use crate::config::{FilestreamConfig, SslConfig};
use crate::event::{AgentInfo, Event, EventShape, EventTemplate};
use crate::input::file::LineEvents;
use crate::proto::{BatchEncoder, Decoder, Frame, Limits};
use crate::testbed::{TestCerts, thread_cpu_secs};

/// A copy stops after this long whatever it has moved, and a socket that makes no
/// progress for `COPY_IDLE` fails it: the command always ends.
const COPY_DEADLINE: Duration = Duration::from_secs(30);
const COPY_IDLE: Duration = Duration::from_secs(10);
/// Size of each write and read of a copy.
const COPY_CHUNK: usize = 256 << 10;
/// The file is fed to the line splitter in reads of this size, as a harvester does.
const READ_BYTES: usize = 64 << 10;

#[derive(Debug, Clone, clap::Args)]
pub struct LimitsOptions {
    /// The line file to build events from (benches/compare-filebeat.sh's).
    #[arg(long)]
    pub file: PathBuf,
    /// Use at most this many lines of it (they are held in memory as events).
    #[arg(long, default_value_t = 100_000)]
    pub lines: usize,
    /// zlib levels to measure `BatchEncoder` at, comma-separated (0: plain `J` frames).
    #[arg(long, value_delimiter = ',', default_value = "1,3",
          value_parser = clap::value_parser!(u32).range(0..=9))]
    pub levels: Vec<u32>,
    /// Events per batch (the shipper's `bulk_max_size`).
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch: u64,
    /// CPU seconds to spend on each one-core figure (at least one pass over the lines).
    #[arg(long, default_value_t = 1.0)]
    pub cpu_secs: f64,
    /// MiB to copy through one loopback TCP stream (0 skips it).
    #[arg(long, default_value_t = 2048)]
    pub tcp_mib: u64,
    /// MiB to copy through one TLS stream on loopback (0 skips it).
    #[arg(long, default_value_t = 512)]
    pub tls_mib: u64,
}

/// Building events on one core.
#[derive(Debug, Clone, Copy)]
pub struct BuildFigure {
    pub events: usize,
    pub json_bytes_per_event: f64,
    pub line_bytes_per_event: f64,
    pub events_per_cpu_s: f64,
}

/// `BatchEncoder` on one core at one level.
#[derive(Debug, Clone, Copy)]
pub struct EncodeFigure {
    pub level: u32,
    pub events_per_cpu_s: f64,
    /// Event JSON in (10^6 bytes) per CPU second.
    pub json_mb_per_cpu_s: f64,
    /// Event JSON bytes over wire bytes.
    pub ratio: f64,
    pub events_per_s: f64,
}

/// One stream copying bytes from a writer thread to a reader thread.
#[derive(Debug, Clone)]
pub struct CopyFigure {
    pub bytes: u64,
    pub secs: f64,
    pub writer_cpu_s: f64,
    pub reader_cpu_s: f64,
    /// The TLS cipher suite, for a TLS copy.
    pub suite: Option<String>,
}

impl CopyFigure {
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / self.secs / 1e6
    }
}

pub fn run(opts: &LimitsOptions) -> anyhow::Result<()> {
    let data = read_lines(&opts.file, opts.lines)?;
    let build = measure_build(&data, &opts.file, opts.cpu_secs);
    println!(
        "limit build file={} events={} line_bytes={:.0} json_bytes={:.0} events_per_cpu_s={:.0} json_mb_per_cpu_s={:.1}",
        opts.file.display(),
        build.events,
        build.line_bytes_per_event,
        build.json_bytes_per_event,
        build.events_per_cpu_s,
        build.events_per_cpu_s * build.json_bytes_per_event / 1e6
    );
    let events = build_events(&data, &opts.file);
    let batch = usize::try_from(opts.batch).context("--batch")?;
    for &level in &opts.levels {
        let e = measure_encode(&events, level, batch, opts.cpu_secs)?;
        println!(
            "limit encode level={level} batch={batch} events_per_cpu_s={:.0} json_mb_per_cpu_s={:.1} ratio={:.2} events_per_s={:.0}",
            e.events_per_cpu_s, e.json_mb_per_cpu_s, e.ratio, e.events_per_s
        );
    }
    drop(events);
    let copies = [
        ("tcp_copy", opts.tcp_mib, false),
        ("tls_copy", opts.tls_mib, true),
    ];
    for (name, mib, tls) in copies {
        if mib == 0 {
            continue;
        }
        let c = copy_loopback(mib << 20, tls)?;
        println!(
            "limit {name} bytes={} secs={:.3} mb_per_s={:.1} writer_cpu_s={:.3} reader_cpu_s={:.3} cpu_s_per_gb={:.3}{}",
            c.bytes,
            c.secs,
            c.mb_per_s(),
            c.writer_cpu_s,
            c.reader_cpu_s,
            (c.writer_cpu_s + c.reader_cpu_s) / (c.bytes as f64 / 1e9),
            c.suite.map(|s| format!(" suite={s}")).unwrap_or_default()
        );
    }
    Ok(())
}

/// The file's first `max_lines` lines (with their newlines), without reading the rest.
fn read_lines(path: &Path, max_lines: usize) -> anyhow::Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = io::BufReader::with_capacity(1 << 20, file);
    let mut data = Vec::new();
    for _ in 0..max_lines {
        let before = data.len();
        let n = reader
            .read_until(b'\n', &mut data)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 || data.last() != Some(&b'\n') {
            data.truncate(before); // the end, or a last line still being written
            break;
        }
    }
    anyhow::ensure!(
        !data.is_empty(),
        "{} holds no complete line",
        path.display()
    );
    Ok(data)
}

/// The events a `filestream` input with Filebeat's defaults makes of `data`, the start
/// of the file at `path`.
pub fn build_events(data: &[u8], path: &Path) -> Vec<Event> {
    let config = FilestreamConfig::new(vec![path.display().to_string()]);
    let agent = AgentInfo::new("lumberwatch", None);
    let shape = EventShape {
        input_type: config.input_type.clone(),
        ..EventShape::default()
    };
    let mut lines = LineEvents::new(
        EventTemplate::new(&agent, &shape),
        path,
        config.message_max_bytes,
    );
    let mut events = Vec::new();
    for read in data.chunks(READ_BYTES) {
        lines.push(read, &mut events);
    }
    events
}

/// Builds the events of `data` over and over for at least `cpu_secs` of this thread's
/// CPU (at least once).
fn measure_build(data: &[u8], path: &Path, cpu_secs: f64) -> BuildFigure {
    let (mut passes, mut cpu, mut events, mut json) = (0u64, 0.0, 0, 0);
    while passes == 0 || cpu < cpu_secs {
        let t0 = thread_cpu_secs();
        let built = build_events(data, path);
        cpu += thread_cpu_secs() - t0;
        passes += 1;
        events = built.len();
        json = built.iter().map(|e| e.json.len()).sum::<usize>();
    }
    let newlines = events.max(1);
    BuildFigure {
        events,
        json_bytes_per_event: json as f64 / newlines as f64,
        line_bytes_per_event: (data.len() - events) as f64 / newlines as f64,
        events_per_cpu_s: (events as u64 * passes) as f64 / cpu.max(1e-9),
    }
}

/// Encodes `events` in batches of `batch` with one reused `BatchEncoder`, over and over
/// for at least `cpu_secs` of this thread's CPU (at least once). The first batch is
/// decoded back and compared first: a figure for a wrong encoding is worthless.
pub fn measure_encode(
    events: &[Event],
    level: u32,
    batch: usize,
    cpu_secs: f64,
) -> anyhow::Result<EncodeFigure> {
    anyhow::ensure!(!events.is_empty(), "no events to encode");
    let mut encoder = BatchEncoder::new(level);
    let mut out = Vec::new();
    let first = &events[..batch.min(events.len())];
    encoder.encode(&mut out, first.iter().map(|e| &e.json[..]));
    check_batch(&out, first).with_context(|| format!("a level {level} batch"))?;
    let (mut encoded, mut json, mut wire, mut cpu) = (0u64, 0u64, 0u64, 0.0);
    let wall = Instant::now();
    while encoded == 0 || cpu < cpu_secs {
        let t0 = thread_cpu_secs();
        for chunk in events.chunks(batch) {
            out.clear();
            encoder.encode(&mut out, chunk.iter().map(|e| &e.json[..]));
            wire += out.len() as u64;
        }
        cpu += thread_cpu_secs() - t0;
        encoded += events.len() as u64;
        json += events.iter().map(|e| e.json.len() as u64).sum::<u64>();
    }
    let (cpu, secs) = (cpu.max(1e-9), wall.elapsed().as_secs_f64().max(1e-9));
    Ok(EncodeFigure {
        level,
        events_per_cpu_s: encoded as f64 / cpu,
        json_mb_per_cpu_s: json as f64 / cpu / 1e6,
        ratio: json as f64 / wire.max(1) as f64,
        events_per_s: encoded as f64 / secs,
    })
}

/// `wire` (one encoded batch) decodes back to `W` and the events in order.
pub fn check_batch(wire: &[u8], events: &[Event]) -> anyhow::Result<()> {
    let mut buf = BytesMut::from(wire);
    let mut decoder = Decoder::new(Limits::default());
    let mut frames = Vec::new();
    while let Some(frame) = decoder.decode(&mut buf)? {
        frames.push(frame);
    }
    anyhow::ensure!(buf.is_empty(), "{} bytes left undecoded", buf.len());
    let Some((Frame::Window { size, .. }, rest)) = frames.split_first() else {
        anyhow::bail!("the batch does not start with a window frame");
    };
    anyhow::ensure!(
        *size as usize == events.len() && rest.len() == events.len(),
        "window {size} and {} frames for {} events",
        rest.len(),
        events.len()
    );
    for (i, (frame, event)) in rest.iter().zip(events).enumerate() {
        match frame {
            Frame::Json { seq, payload, .. }
                if *seq as usize == i + 1 && *payload == event.json => {}
            other => anyhow::bail!("frame {} is not event {}: {other:?}", i + 1, i + 1),
        }
    }
    Ok(())
}

/// Copies `bytes` from a writer thread to a reader thread through one stream on
/// 127.0.0.1 (over TLS with the test certificates if `tls`), in 256 KiB writes and
/// reads, stopping early at [`COPY_DEADLINE`].
pub fn copy_loopback(bytes: u64, tls: bool) -> anyhow::Result<CopyFigure> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    let addr = listener.local_addr().context("the listener's address")?;
    let configs = if tls { Some(tls_configs()?) } else { None };
    let server_config = configs.as_ref().map(|(s, _)| s.clone());
    let reader = std::thread::spawn(move || -> io::Result<(u64, Instant, f64)> {
        let (stream, _) = listener.accept()?;
        stream.set_read_timeout(Some(COPY_IDLE))?;
        let cpu0 = thread_cpu_secs();
        let read = match server_config {
            None => drain(stream)?,
            Some(config) => {
                let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
                drain(rustls::StreamOwned::new(conn, stream))?
            }
        };
        Ok((read, Instant::now(), thread_cpu_secs() - cpu0))
    });
    let stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    stream.set_write_timeout(Some(COPY_IDLE))?;
    stream.set_read_timeout(Some(COPY_IDLE))?;
    let writer = std::thread::spawn(move || -> io::Result<(Instant, f64, Option<String>)> {
        let cpu0 = thread_cpu_secs();
        let start = Instant::now();
        let suite = match configs {
            None => {
                fill(&stream, bytes, start)?;
                stream.shutdown(Shutdown::Write)?;
                None
            }
            Some((_, config)) => {
                let name = crate::tls::server_name("localhost").map_err(io::Error::other)?;
                let conn = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
                let mut tls = rustls::StreamOwned::new(conn, stream);
                fill(&mut tls, bytes, start)?;
                tls.conn.send_close_notify();
                tls.flush()?;
                tls.sock.shutdown(Shutdown::Write)?;
                // Read what the server sent (session tickets) until it closes: closing
                // with unread bytes would reset the stream under the reader.
                io::copy(&mut tls.sock, &mut io::sink())?;
                tls.conn
                    .negotiated_cipher_suite()
                    .map(|s| format!("{:?}", s.suite()))
            }
        };
        Ok((start, thread_cpu_secs() - cpu0, suite))
    });
    let joined = |what| move |_| anyhow::anyhow!("the copy's {what} thread panicked");
    let written = writer.join().map_err(joined("writer"))?;
    let (start, writer_cpu_s, suite) = written.context("writing to the copy stream")?;
    let (read, end, reader_cpu_s) = reader
        .join()
        .map_err(joined("reader"))?
        .context("reading the copy stream")?;
    Ok(CopyFigure {
        bytes: read,
        secs: end.duration_since(start).as_secs_f64().max(1e-9),
        writer_cpu_s,
        reader_cpu_s,
        suite,
    })
}

/// The server and client configs the receiver and the output build, for the test
/// certificates (the server as `localhost`, verified against the test CA).
fn tls_configs() -> anyhow::Result<(Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>)> {
    let certs = TestCerts::write()?;
    let path = |name| certs.path(name).display().to_string();
    let server = crate::tls::server_config(&crate::tls::ServerTls {
        cert: path("server.crt"),
        key: path("server.key"),
        client_ca: None,
        client_auth: crate::tls::ClientAuth::None,
    })?;
    let client = crate::tls::client_config(&SslConfig {
        certificate_authorities: vec![path("ca.crt")],
        ..SslConfig::default()
    })?;
    Ok((server, client))
}

/// Writes `bytes` bytes in [`COPY_CHUNK`] writes, fewer if [`COPY_DEADLINE`] passes.
fn fill(mut to: impl Write, bytes: u64, start: Instant) -> io::Result<()> {
    let chunk = vec![0x5au8; COPY_CHUNK];
    let mut left = bytes;
    while left > 0 && start.elapsed() < COPY_DEADLINE {
        let n = left.min(COPY_CHUNK as u64) as usize;
        to.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    to.flush()
}

/// Reads to the end of the stream; returns how many bytes came.
fn drain(mut from: impl Read) -> io::Result<u64> {
    let mut buf = vec![0u8; COPY_CHUNK];
    let mut total = 0u64;
    loop {
        match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of `n` lines of varied lengths and contents, one with a quote to escape.
    fn line_file(n: usize) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        for i in 0..n {
            let pad = "x".repeat(i % 97);
            writeln!(
                file,
                "10.0.{}.{} GET /api/{i} \"ok\" rt={pad}",
                i % 256,
                i % 7
            )
            .unwrap();
        }
        file
    }

    #[test]
    fn events_are_the_file_inputs_and_batches_decode_back_to_them() {
        let file = line_file(3000);
        let data = read_lines(file.path(), 2500).unwrap();
        let events = build_events(&data, file.path());
        assert_eq!(events.len(), 2500);
        let v: serde_json::Value = serde_json::from_slice(&events[1].json).unwrap();
        assert_eq!(v["message"], "10.0.1.1 GET /api/1 \"ok\" rt=x");
        assert_eq!(v["input"]["type"], "filestream");
        assert_eq!(v["log"]["file"]["path"], file.path().display().to_string());
        let second_line_at = data.iter().position(|b| *b == b'\n').unwrap() + 1;
        assert_eq!(v["log"]["offset"], second_line_at);
        for level in [0, 1, 3] {
            let e = measure_encode(&events, level, 512, 0.01).unwrap();
            assert!(
                e.events_per_cpu_s > 0.0 && e.json_mb_per_cpu_s > 0.0,
                "{e:?}"
            );
            if level > 0 {
                assert!(e.ratio > 2.0, "level {level} compresses these lines: {e:?}");
            }
            let mut out = Vec::new();
            BatchEncoder::new(level).encode(&mut out, events[..700].iter().map(|e| &e.json[..]));
            check_batch(&out, &events[..700]).unwrap();
            // The check fails when an event differs.
            assert!(check_batch(&out, &events[1..701]).is_err());
        }
        let build = measure_build(&data, file.path(), 0.01);
        assert_eq!(build.events, 2500);
        assert!(
            build.events_per_cpu_s > 0.0 && build.json_bytes_per_event > build.line_bytes_per_event
        );
    }

    #[test]
    fn loopback_copies_move_every_byte_plain_and_over_tls() {
        for tls in [false, true] {
            let c = copy_loopback(3 << 20, tls).unwrap();
            assert_eq!(c.bytes, 3 << 20, "tls {tls}");
            assert!(
                c.mb_per_s() > 0.0 && c.writer_cpu_s > 0.0 && c.reader_cpu_s > 0.0,
                "{c:?}"
            );
            assert_eq!(c.suite.is_some(), tls);
        }
    }

    #[test]
    fn a_file_without_a_complete_line_is_an_error() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        write!(file, "no newline").unwrap();
        assert!(read_lines(file.path(), 10).is_err());
    }
}
