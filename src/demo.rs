//! `lumberwatch demo`: everything on embedded defaults and loopback only. An embedded
//! Logstash-compatible receiver with TLS, and the agent shipping generated events to it
//! with verification on; every event is printed as it arrives, with the acks.

use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;

use crate::config::{
    Config, InputCommon, InputConfig, InputKind, LogstashConfig, OutputConfig, SslConfig,
};
use crate::receive::{ReceivedBatch, Receiver, ReceiverConfig};
use crate::testbed::TestCerts;
use crate::tls::{ClientAuth, ServerTls};

#[derive(Debug, Clone, clap::Args)]
pub struct DemoOptions {
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration: Option<u64>,
    /// Events per second the demo input generates.
    #[arg(long, default_value_t = 4)]
    pub rate: u64,
}

pub async fn run(opts: DemoOptions) -> anyhow::Result<()> {
    let certs = TestCerts::write()?;
    let server_tls = ServerTls {
        cert: certs.path("server.crt").display().to_string(),
        key: certs.path("server.key").display().to_string(),
        client_ca: Some(certs.path("ca.crt").display().to_string()),
        client_auth: ClientAuth::Required,
    };
    let (tx, rx) = mpsc::channel::<ReceivedBatch>(16);
    let receiver = Receiver::bind(
        ReceiverConfig {
            listen: "127.0.0.1:0".parse().context("loopback address")?,
            tls: Some(crate::tls::server_config(&server_tls)?),
            ..ReceiverConfig::default()
        },
        tx,
    )
    .await
    .context("starting the embedded receiver")?;
    let addr = receiver.local_addr();
    let receiver = receiver.spawn();
    println!("== lumberwatch demo ==");
    println!(
        "receiver : Logstash-compatible beats input on {addr}, TLS with client certificates required"
    );
    println!(
        "agent    : generator input, {} events/s -> output.logstash (TLS verified against the test CA)",
        opts.rate
    );
    println!(
        "events below are printed as the receiver hands them to its pipeline; Ctrl-C stops.\n"
    );

    let mut config = Config::new(
        vec![InputConfig {
            kind: InputKind::Generator {
                count: 0,
                message: None,
                rate_per_sec: opts.rate.max(1),
            },
            common: InputCommon {
                enabled: true,
                tags: vec!["demo".into()],
                ..InputCommon::default()
            },
        }],
        OutputConfig::Logstash(LogstashConfig {
            hosts: vec![format!("localhost:{}", addr.port())],
            ssl: Some(SslConfig {
                certificate_authorities: vec![certs.path("ca.crt").display().to_string()],
                certificate: Some(certs.path("client.crt").display().to_string()),
                key: Some(certs.path("client.key").display().to_string()),
                ..SslConfig::default()
            }),
            ..LogstashConfig::default()
        }),
    );
    config.logging.metrics_period = Duration::from_secs(10);
    let printer = tokio::spawn(print_batches(rx));
    let stop = async {
        match opts.duration {
            Some(secs) => {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(secs)) => {}
                    () = crate::signal::shutdown() => {}
                }
            }
            None => crate::signal::shutdown().await,
        }
    };
    let summary = crate::agent::run(&config, stop, |_| {}).await?;
    let stats = receiver.stats().snapshot();
    receiver.stop().await;
    printer.abort();
    println!(
        "\n== demo done: {} events generated, {} acked by the receiver, {} received in {} batches ==",
        summary.events_queued, summary.events_acked, stats.events_total, stats.batches_total
    );
    Ok(())
}

async fn print_batches(mut rx: mpsc::Receiver<ReceivedBatch>) {
    while let Some(batch) = rx.recv().await {
        let n = batch.events.len();
        for event in &batch.events {
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(event) else {
                continue;
            };
            println!(
                "<- {}  [{}] {}  (event.sequence={}, agent={})",
                v["@timestamp"].as_str().unwrap_or("?"),
                v["input"]["type"].as_str().unwrap_or("?"),
                v["message"].as_str().unwrap_or(""),
                v["event"]["sequence"],
                v["agent"]["name"].as_str().unwrap_or("?"),
            );
        }
        println!("   acked batch of {n} event(s) from {}", batch.peer);
    }
}
