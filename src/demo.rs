//! `lumberwatch demo`: everything on embedded defaults and loopback only. An embedded
//! Logstash-compatible receiver with TLS; the agent with a syslog input, the per-source
//! statistics and three rules, shipping to it with verification on; and three "proxies"
//! on 127.0.0.2-4 sending syslog: one steady, one that goes silent for a while and comes
//! back, one that trickles. Within about half a minute the terminal shows events
//! flowing, a rate alert, a flatline alert, its resolve and periodic reports, each as
//! the receiver hands it to its pipeline.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;

use crate::receive::{ReceivedBatch, Receiver, ReceiverConfig};
use crate::testbed::TestCerts;
use crate::tls::{ClientAuth, ServerTls};

#[derive(Debug, Clone, clap::Args)]
pub struct DemoOptions {
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration: Option<u64>,
    /// Messages per second each steady proxy sends.
    #[arg(long, default_value_t = 2)]
    pub rate: u64,
    /// The rules' window in seconds; the whole story scales with it (a proxy goes silent
    /// for 1.8 windows, reports come every 2 windows).
    #[arg(long, default_value_t = 10)]
    pub window: u64,
}

/// The proxies of the story, by loopback address.
const STEADY: &str = "127.0.0.2";
const FLAKY: &str = "127.0.0.3";
const TRICKLE: &str = "127.0.0.4";

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
    let syslog = free_udp_port()?;
    let window = opts.window.max(2);
    let data = tempfile::tempdir().context("a temporary path.data")?;
    let rate = opts.rate.max(1);
    let yaml = demo_config(&certs, addr, syslog, (rate, window), data.path());
    let config = crate::config::parse_with_env(&yaml, "demo config", &|_| None)
        .context("the demo's own config")?;

    println!("== lumberwatch demo ==");
    println!(
        "receiver : Logstash-compatible beats input on {addr}, TLS with client certificates required"
    );
    println!(
        "agent    : syslog on udp {syslog} -> output.logstash (TLS verified against the test CA)"
    );
    println!(
        "rules    : flatline {window}s per proxy, under {} bytes per {window}s, report every {}s",
        threshold(rate, window),
        2 * window
    );
    println!(
        "proxies  : {STEADY} steady, {FLAKY} silent from {:.0}s to {}s, {TRICKLE} trickling",
        1.2 * window as f64,
        3 * window
    );
    println!(
        "events, alerts and reports below are printed as the receiver acks them; Ctrl-C stops.\n"
    );

    let printer = tokio::spawn(print_batches(rx));
    let senders = tokio::spawn(send_traffic(syslog, rate, window));
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
    senders.abort();
    let stats = receiver.stats().snapshot();
    receiver.stop().await;
    printer.abort();
    println!(
        "\n== demo done: {} events queued, {} acked by the receiver, {} received in {} batches ==",
        summary.events_queued, summary.events_acked, stats.events_total, stats.batches_total
    );
    Ok(())
}

/// The agent's config: the same YAML a user would write.
fn demo_config(
    certs: &TestCerts,
    receiver: SocketAddr,
    syslog: SocketAddr,
    (rate, window): (u64, u64),
    data: &std::path::Path,
) -> String {
    let threshold = threshold(rate, window);
    format!(
        "lumberwatch.inputs:
  - type: syslog
    id: proxies
    parser: websense
    protocol.udp.host: \"{syslog}\"
lumberwatch.stats:
  keys: [log.source.ip]
  bucket: 1s
lumberwatch.rules_check_interval: 1s
lumberwatch.rules:
  - name: proxy-silent
    type: flatline
    key: log.source.ip
    window: {window}s
    realert: 0s
    expected: [{STEADY}, {FLAKY}, {TRICKLE}]
  - name: proxy-under-rate
    type: rate
    key: log.source.ip
    measure: bytes
    condition: below
    threshold: {threshold}B
    window: {window}s
    realert: 0s
    expected: [{STEADY}, {FLAKY}, {TRICKLE}]
  - name: proxy-report
    type: report
    key: log.source.ip
    expected: [{STEADY}, {FLAKY}, {TRICKLE}]
    schedule: {{every: {}s}}
output.logstash:
  hosts: [\"localhost:{}\"]
  ssl:
    certificate_authorities: [\"{}\"]
    certificate: \"{}\"
    key: \"{}\"
path.data: \"{}\"
logging.level: warning
",
        2 * window,
        receiver.port(),
        certs.path("ca.crt").display(),
        certs.path("client.crt").display(),
        certs.path("client.key").display(),
        data.display(),
    )
}

/// The rate rule's threshold in bytes: well under what a steady proxy sends (about 240
/// bytes a message), well over what the trickling one does.
fn threshold(rate: u64, window: u64) -> u64 {
    rate * window * 100
}

fn free_udp_port() -> anyhow::Result<SocketAddr> {
    let socket = UdpSocket::bind("127.0.0.1:0").context("finding a free udp port")?;
    Ok(socket.local_addr()?)
}

/// The proxies' traffic: websense-style records from three loopback addresses, the
/// steady and the flaky one at `rate` per second (the flaky one silent from 1.2 to 3
/// windows), the trickling one four short messages a window.
async fn send_traffic(to: SocketAddr, rate: u64, window: u64) -> anyhow::Result<()> {
    let bind = |ip: &str| -> anyhow::Result<tokio::net::UdpSocket> {
        let s = UdpSocket::bind((ip, 0)).with_context(|| format!("binding a sender on {ip}"))?;
        s.set_nonblocking(true)?;
        Ok(tokio::net::UdpSocket::from_std(s)?)
    };
    let (steady, flaky, trickle) = (bind(STEADY)?, bind(FLAKY)?, bind(TRICKLE)?);
    let started = tokio::time::Instant::now();
    let trickling = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(window * 250));
        for n in 0u64.. {
            tick.tick().await;
            let line = format!(
                "<134>1 - proxy websense - - - action=permitted src_host=10.1.1.7 bytes_out={n}"
            );
            if trickle.send_to(line.as_bytes(), to).await.is_err() {
                return;
            }
        }
    });
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / rate));
    for n in 0u64.. {
        tick.tick().await;
        let t = started.elapsed().as_secs_f64() / window as f64;
        steady.send_to(record(n, "10.1.1.5").as_bytes(), to).await?;
        if !(1.2..3.0).contains(&t) {
            flaky.send_to(record(n, "10.1.1.6").as_bytes(), to).await?;
        }
    }
    trickling.abort();
    Ok(())
}

fn record(n: u64, client: &str) -> String {
    format!(
        "<134>1 - proxy websense - - - vendor=Websense product=Security action=permitted \
         src_host={client} src_port={} dst_host=example.com dst_ip=93.184.216.34 dst_port=443 \
         bytes_out=512 bytes_in=4096 http_response=200 url=https://example.com/{n}",
        40000 + n % 20000,
    )
}

async fn print_batches(mut rx: mpsc::Receiver<ReceivedBatch>) {
    while let Some(batch) = rx.recv().await {
        for event in &batch.events {
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(event) else {
                continue;
            };
            let time = v["@timestamp"].as_str().unwrap_or("?");
            let message = v["message"].as_str().unwrap_or("");
            match v["event"]["kind"].as_str() {
                Some("alert") => {
                    let state = v["lumberwatch"]["alert"]["state"].as_str().unwrap_or("?");
                    let label = if state == "resolved" {
                        "RESOLVED"
                    } else {
                        "ALERT"
                    };
                    println!(
                        "!! {time}  {label:<8} {}: {message}",
                        v["rule"]["name"].as_str().unwrap_or("?")
                    );
                }
                Some("metric") => println!("## {time}  REPORT   {message}"),
                _ => {
                    let from = v["log"]["source"]["address"].as_str().unwrap_or("?");
                    let short: String = message.chars().take(60).collect();
                    println!(
                        "<- {time}  [{}] from {from}: {short}...",
                        v["input"]["type"].as_str().unwrap_or("?")
                    );
                }
            }
        }
        println!("   acked batch of {} event(s)", batch.events.len());
    }
}
