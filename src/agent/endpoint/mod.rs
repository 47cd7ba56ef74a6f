//! The stats endpoint (`http.enabled`): the Beats' HTTP monitoring endpoint on
//! `http.host:http.port` (localhost:5066). `/` says which agent this is, `/stats` gives
//! the Beats-shaped JSON, `/metrics` the Prometheus text, all from one [`Sample`] of
//! the run's [`Counters`]. GET and HEAD only; a request it cannot parse gets 400 and
//! its connection is closed; at most [`MAX_CONNECTIONS`] at once (the rest get 503).
//! It is unauthenticated: it never listens beyond loopback unless `http.host` says so.

mod beats;
mod prometheus;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{info, warn};

use super::metrics::Counters;
use super::watch::RuleCount;
use crate::config::HttpConfig;
use crate::event::AgentInfo;
use crate::http::{self, Incoming, Request};

/// Connections served at once; scrapers need one or two.
pub(super) const MAX_CONNECTIONS: usize = 16;
/// A connection with no complete request for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Listens where `http.host` and `http.port` say. Without a host: `localhost`, and
/// only its loopback addresses.
pub(super) async fn bind(config: &HttpConfig) -> anyhow::Result<TcpListener> {
    let host = config.host.as_deref().unwrap_or("localhost");
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let resolved = tokio::net::lookup_host((bare, config.port))
        .await
        .with_context(|| format!("http.host: cannot resolve {host:?}"))?;
    let addrs: Vec<SocketAddr> = resolved
        .filter(|a| config.host.is_some() || a.ip().is_loopback())
        .collect();
    let mut failure = None;
    for addr in &addrs {
        match TcpListener::bind(addr).await {
            Ok(listener) => {
                let at = listener.local_addr()?;
                if !at.ip().is_loopback() {
                    warn!(
                        "the stats endpoint listens beyond loopback on {at}: it is unauthenticated, anyone who can reach it can read the agent's counters"
                    );
                }
                info!("stats endpoint listening on {at}");
                return Ok(listener);
            }
            Err(e) => failure = Some((*addr, e)),
        }
    }
    match failure {
        Some((addr, e)) => Err(e).context(format!("http: cannot listen on {addr}")),
        None => anyhow::bail!("http.host: {host:?} resolves to no loopback address"),
    }
}

/// What the endpoint answers from.
pub(super) struct Endpoint {
    pub counters: Counters,
    pub agent: AgentInfo,
    pub started: Instant,
    /// `queue.mem.events` and how many of them are taken now.
    pub queue_max: usize,
    pub queue_len: Box<dyn Fn() -> usize + Send + Sync>,
}

/// Serves until aborted. A failing accept (out of descriptors) is waited out, not fatal.
pub(super) async fn serve(listener: TcpListener, endpoint: Arc<Endpoint>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (mut stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                warn!(error = %e, "stats endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(async move {
                let busy = format!("more than {MAX_CONNECTIONS} connections\n");
                let _ = http::respond(&mut stream, 503, TEXT, busy.as_bytes(), true, true).await;
                let _ = stream.shutdown().await;
            });
            continue;
        };
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, &endpoint).await {
                tracing::debug!(%peer, error = %e, "stats endpoint connection ended");
            }
            drop(slot);
        });
    }
}

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json; charset=utf-8";
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

async fn connection(mut stream: TcpStream, endpoint: &Endpoint) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        let request = match http::read_request(&mut stream, &mut buf, IDLE_TIMEOUT).await? {
            Incoming::Request(request) => request,
            Incoming::Closed => return Ok(()),
            Incoming::Bad(e) => return http::refuse(&mut stream, &e).await,
        };
        let (status, content_type, body) = answer(&request, endpoint);
        let close = !request.keep_alive;
        let with_body = request.method != "HEAD";
        http::respond(&mut stream, status, content_type, &body, with_body, close).await?;
        if close {
            return stream.shutdown().await;
        }
    }
}

fn answer(request: &Request, endpoint: &Endpoint) -> (u16, &'static str, Vec<u8>) {
    if !matches!(request.method.as_str(), "GET" | "HEAD") {
        return (405, TEXT, b"GET or HEAD\n".to_vec());
    }
    let pretty = request.query("pretty").is_some();
    let json = |value: serde_json::Value| {
        let mut body = if pretty {
            serde_json::to_vec_pretty(&value)
        } else {
            serde_json::to_vec(&value)
        }
        .expect("JSON values serialise");
        body.push(b'\n');
        (200, JSON, body)
    };
    match request.path() {
        "/" => json(beats::info(&endpoint.agent, endpoint.started.elapsed())),
        "/stats" => json(beats::stats(&endpoint.sample())),
        "/metrics" => (
            200,
            PROMETHEUS,
            prometheus::render(&endpoint.sample()).into_bytes(),
        ),
        _ => (
            404,
            TEXT,
            b"not found: try /, /stats or /metrics\n".to_vec(),
        ),
    }
}

/// Every counter of the run at one moment, grouped the way both formats show them.
#[derive(Debug, Clone, Default)]
pub(super) struct Sample {
    pub agent: AgentSample,
    /// [`crate::output::OutputStats::snapshot`].
    pub output: Vec<(&'static str, u64)>,
    pub outstanding_max: u64,
    /// The last batch's and the mean ack latency.
    pub ack_latency: (Duration, Duration),
    pub output_type: &'static str,
    /// Events the inputs and the rules handed over.
    pub queued: u64,
    pub queue_len: u64,
    pub queue_max: u64,
    pub inputs: Vec<InputSample>,
    pub disk: Option<DiskSample>,
    pub rules: Vec<(String, RuleCount)>,
    /// Files the registry keeps offsets for (with file inputs).
    pub registry_files: Option<u64>,
    /// Bytes written to tracked files (still at their path) and not acked yet.
    pub registry_lag_bytes: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub(super) struct AgentSample {
    pub beat: String,
    pub ephemeral_id: String,
    pub uptime: Duration,
}

#[derive(Debug, Clone)]
pub(super) struct InputSample {
    pub label: String,
    pub kind: &'static str,
    pub groups: Vec<(&'static str, Vec<(&'static str, u64)>)>,
}

#[derive(Debug, Clone)]
pub(super) struct DiskSample {
    pub counters: Vec<(&'static str, u64)>,
    pub bytes: u64,
    pub unacked: u64,
}

impl Sample {
    /// A counter of the output by its name in the snapshot.
    pub fn output(&self, name: &str) -> u64 {
        self.output
            .iter()
            .find_map(|(n, v)| (*n == name).then_some(*v))
            .unwrap_or(0)
    }
}

impl Endpoint {
    fn sample(&self) -> Sample {
        let c = &self.counters;
        let agent = &self.agent;
        Sample {
            agent: AgentSample {
                beat: agent.beat.clone(),
                ephemeral_id: agent.ephemeral_id.clone(),
                uptime: self.started.elapsed(),
            },
            output: c.output.snapshot().to_vec(),
            outstanding_max: c.output.events_outstanding_max.load(Relaxed),
            ack_latency: c.output.ack_latency(),
            output_type: c.output_type,
            queued: c.queued.load(Relaxed),
            queue_len: (self.queue_len)() as u64,
            queue_max: self.queue_max as u64,
            inputs: (c.inputs.iter())
                .map(|i| InputSample {
                    label: i.label.clone(),
                    kind: i.kind,
                    groups: i.groups(),
                })
                .collect(),
            disk: c.disk.as_ref().map(|d| DiskSample {
                counters: d.counters.snapshot().to_vec(),
                bytes: d.bytes(),
                unacked: d.unacked(),
            }),
            rules: c.rules.as_ref().map(|r| r.snapshot()).unwrap_or_default(),
            registry_files: c.registry.as_ref().map(|r| r.files().len() as u64),
            registry_lag_bytes: c.registry.as_ref().map(|r| registry_lag(&r.files())),
        }
    }
}

/// What the files the registry tracks hold beyond their acked offsets: each file still
/// at its path with the same identity (a stat each, at scrape time). A file renamed
/// away or identified by fingerprint is not counted.
pub(super) fn registry_lag(
    files: &std::collections::HashMap<crate::registry::FileKey, crate::registry::FileState>,
) -> u64 {
    files
        .iter()
        .filter_map(|(key, state)| {
            let meta = std::fs::metadata(&state.path).ok()?;
            (crate::registry::FileKey::of(&meta) == *key)
                .then(|| meta.len().saturating_sub(state.offset))
        })
        .sum()
}

#[cfg(test)]
mod tests;
