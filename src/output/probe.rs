//! `lumberwatch test output`: connect to every host and talk to it, reporting each
//! step the way `filebeat test output` does.

use std::io::Write;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::conn::{ConnectError, Host, connect};
use crate::config::{LogstashConfig, VerificationMode};
use crate::proto::{Decoder, Frame, Limits, encode_window};

/// Writes the report to `out`; returns whether every host answered.
pub async fn test_output(cfg: &LogstashConfig, out: &mut impl Write) -> anyhow::Result<bool> {
    let mut all_ok = true;
    for name in &cfg.hosts {
        writeln!(out, "logstash: {name}...")?;
        all_ok &= probe(cfg, name, cfg.ssl.as_ref(), out).await?;
    }
    Ok(all_ok)
}

async fn probe(
    cfg: &LogstashConfig,
    name: &str,
    ssl: Option<&crate::config::SslConfig>,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    writeln!(out, "  connection...")?;
    let host = match Host::parse(name) {
        Ok(h) => h,
        Err(e) => return fail(out, "    parse host", e),
    };
    writeln!(out, "    parse host... OK")?;
    let tls = match ssl {
        None => None,
        Some(ssl) => {
            if let Err(e) = crate::tls::server_name(host.hostname()) {
                return fail(out, "    tls server name", e);
            }
            match crate::tls::client_config(ssl) {
                Ok(c) => Some(c),
                Err(e) => return fail(out, "    tls config", e),
            }
        }
    };
    let conn = match connect(&host, tls.as_ref(), cfg.timeout).await {
        Ok(c) => c,
        Err(ConnectError::Tls { addr, reason, .. }) => {
            writeln!(out, "    address: {addr}")?;
            writeln!(out, "    dial up... OK")?;
            writeln!(out, "  TLS...")?;
            return fail(out, "    handshake", reason);
        }
        Err(e) => return fail(out, "    dial up", e),
    };
    writeln!(out, "    address: {}", conn.addr)?;
    writeln!(out, "    dial up... OK")?;
    match (ssl, &conn.tls) {
        (Some(ssl), Some(described)) => {
            writeln!(out, "  TLS...")?;
            let security = match ssl.verification_mode {
                VerificationMode::None => {
                    "WARN server's certificate chain verification is disabled"
                }
                VerificationMode::Certificate => {
                    "server's certificate chain verification is enabled (host name not checked)"
                }
                _ => "server's certificate chain and host name verification is enabled",
            };
            writeln!(out, "    security: {security}")?;
            writeln!(out, "    handshake... OK")?;
            writeln!(out, "    TLS version and cipher: {described}")?;
        }
        _ => writeln!(out, "  TLS... WARN secure connection disabled")?,
    }
    // An empty window must be answered with ack 0 by a Logstash beats input.
    let mut stream = conn.stream;
    let mut frame = Vec::new();
    encode_window(&mut frame, 0);
    let talk = async {
        stream.write_all(&frame).await?;
        let mut buf = bytes::BytesMut::with_capacity(64);
        let mut decoder = Decoder::new(Limits {
            max_frame_bytes: 1024,
            max_inflated_bytes: 4096,
            max_pairs: 16,
        });
        loop {
            if let Some(frame) = decoder.decode(&mut buf)? {
                return anyhow::Ok(frame);
            }
            if stream.read_buf(&mut buf).await? == 0 {
                anyhow::bail!("connection closed by the server");
            }
        }
    };
    match tokio::time::timeout(cfg.timeout.min(Duration::from_secs(30)), talk).await {
        Ok(Ok(Frame::Ack { seq: 0, .. })) => {
            writeln!(out, "  talk to server... OK")?;
            Ok(true)
        }
        Ok(Ok(other)) => fail(
            out,
            "  talk to server",
            format!("unexpected answer {other:?}"),
        ),
        Ok(Err(e)) => {
            let reason = match e.downcast_ref::<std::io::Error>() {
                Some(io) => crate::tls::explain(io),
                None => format!("{e:#}"),
            };
            fail(out, "  talk to server", reason)
        }
        Err(_) => fail(
            out,
            "  talk to server",
            format!("no answer within {:?}", cfg.timeout),
        ),
    }
}

fn fail(out: &mut impl Write, step: &str, error: impl std::fmt::Display) -> anyhow::Result<bool> {
    writeln!(out, "{step}... ERROR {error}")?;
    Ok(false)
}
