//! `lumberwatch bench`: ships generated events through the real agent pipeline
//! (generator input → queue → Logstash output) to a receiver, and reports events/s,
//! MB/s, CPU and peak memory. Figures, not assertions: compare runs on one machine.
//! `bench syslog-udp` ([`syslog_udp`]) measures where syslog over UDP starts losing
//! messages instead, `bench limits` ([`limits`]) the machine's raw limits (one core of
//! event building and zlib, loopback TCP and TLS) to read those figures against.

pub mod limits;
mod proc_net;
pub mod syslog_udp;
mod udp_sender;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::{
    Config, InputCommon, InputConfig, InputKind, LogstashConfig, OutputConfig, SslConfig,
};
use crate::output::OutputStats;
use crate::testbed::{ReceiverChild, TestCerts, rusage};

#[derive(Debug, Clone, clap::Args)]
pub struct BenchOptions {
    /// Number of events to ship.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Length of each event's message in bytes (the whole event adds ~330 bytes of
    /// Filebeat-shaped metadata).
    #[arg(long, default_value_t = 250)]
    pub message_bytes: usize,
    /// zlib level, 0 (plain J frames) to 9.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=9))]
    pub compression: u32,
    /// Use TLS (the embedded test certificates when the receiver is embedded).
    #[arg(long)]
    pub tls: bool,
    /// Ship to this Logstash (host:port) instead of an embedded receiver child process.
    #[arg(long)]
    pub host: Option<String>,
    /// CA for --host with --tls.
    #[arg(long)]
    pub ca: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub worker: usize,
    #[arg(long, default_value_t = 2048)]
    pub bulk_max_size: usize,
    #[arg(long, default_value_t = 2)]
    pub pipelining: usize,
}

pub async fn run(opts: BenchOptions) -> anyhow::Result<()> {
    let certs = TestCerts::write()?;
    let (receiver, host, ca) = match &opts.host {
        Some(host) => (None, host.clone(), opts.ca.clone()),
        None => {
            let mut extra = Vec::new();
            if opts.tls {
                extra.push("--tls".to_string());
                extra.push(certs.path("server.crt").display().to_string());
                extra.push(certs.path("server.key").display().to_string());
            }
            let child = ReceiverChild::spawn(&extra)?;
            let host = child.addr.to_string();
            (
                Some(child),
                host,
                Some(certs.path("ca.crt").display().to_string()),
            )
        }
    };
    let ssl = opts.tls.then(|| SslConfig {
        certificate_authorities: ca.into_iter().collect(),
        ..SslConfig::default()
    });
    let mut config = Config::new(
        vec![InputConfig {
            kind: InputKind::Generator {
                count: opts.events,
                message: Some("x".repeat(opts.message_bytes)),
                rate_per_sec: 0,
            },
            common: InputCommon {
                enabled: true,
                ..InputCommon::default()
            },
        }],
        OutputConfig::Logstash(LogstashConfig {
            hosts: vec![host.clone()],
            worker: opts.worker,
            bulk_max_size: opts.bulk_max_size,
            pipelining: opts.pipelining,
            compression_level: opts.compression,
            ssl,
            ..LogstashConfig::default()
        }),
    );
    config.name = Some("bench".into());
    config.logging.level = "warning".into();
    config.logging.metrics_enabled = false;
    eprintln!(
        "shipping {} events ({}-byte messages) to {host}, compression {}, {}",
        opts.events,
        opts.message_bytes,
        opts.compression,
        if opts.tls { "tls" } else { "plain" }
    );
    let (cpu0, _) = rusage(false);
    let start = Instant::now();
    let (stats_tx, stats_rx) = tokio::sync::oneshot::channel::<Arc<OutputStats>>();
    let progress = tokio::spawn(async move {
        let Ok(stats) = stats_rx.await else { return };
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        let mut last = 0;
        loop {
            tick.tick().await;
            let acked = stats.acked();
            eprintln!(
                "  {acked:>10} acked  {:>10.0} events/s",
                (acked - last) as f64
            );
            last = acked;
        }
    });
    let summary = crate::agent::run(&config, crate::signal::shutdown(), |s| {
        let _ = stats_tx.send(s);
    })
    .await
    .context("running the pipeline")?;
    progress.abort();
    let secs = start.elapsed().as_secs_f64();
    let (cpu1, rss) = rusage(false);
    if let Some(child) = receiver {
        child.stop()?;
    }
    let (receiver_cpu, receiver_rss) = rusage(true);
    anyhow::ensure!(
        summary.complete,
        "interrupted after {} of {} events",
        summary.events_acked,
        opts.events
    );
    let n = summary.events_acked as f64;
    let event_bytes = sample_event_bytes(opts.message_bytes) as f64;
    let client_cpu = cpu1 - cpu0;
    println!("events           {}", summary.events_acked);
    println!("seconds          {secs:.3}");
    println!("events/s         {:.0}", n / secs);
    println!("MB/s (json)      {:.1}", n * event_bytes / secs / 1e6);
    println!("event size       {event_bytes:.0} bytes");
    println!(
        "client cpu       {client_cpu:.2} s ({:.2} s per million events, {:.0}% of one core)",
        client_cpu / n * 1e6,
        client_cpu / secs * 100.0
    );
    println!("client peak rss  {:.1} MB", rss as f64 / 1e6);
    if opts.host.is_none() {
        println!("receiver cpu     {receiver_cpu:.2} s");
        println!("receiver rss     {:.1} MB", receiver_rss as f64 / 1e6);
    }
    Ok(())
}

fn sample_event_bytes(message_bytes: usize) -> usize {
    let agent = crate::event::AgentInfo::new("lumberwatch", Some("bench"));
    let shape = crate::event::EventShape {
        input_type: "generator".into(),
        ..Default::default()
    };
    let mut template = crate::event::EventTemplate::new(&agent, &shape);
    template
        .event(&"x".repeat(message_bytes), |b| {
            b.extend_from_slice(br#","event":{"sequence":1000000}"#)
        })
        .json
        .len()
}
