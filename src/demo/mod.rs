//! `lumberwatch demo`: everything on embedded defaults and loopback only. An embedded
//! Logstash-compatible receiver with TLS; the agent with a syslog input and a file
//! input tailing an access log, the per-source statistics and three rules, shipping to
//! it with verification on; and the rig at accelerated time (`story`): `rig hello`
//! writing that access log and three clients on 127.0.0.2-4 polling it, each sending
//! syslog: one steady, one that goes silent for a while and comes back, one that
//! trickles. Within about half a minute the terminal shows events flowing, a rate
//! alert, a flatline alert, its resolve and periodic reports, each as the receiver
//! hands it to its pipeline (`print`).

mod print;
mod story;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use story::{FLAKY, STEADY, TRICKLE};

use crate::receive::{ReceivedBatch, Receiver, ReceiverConfig};
use crate::testbed::TestCerts;
use crate::tls::{ClientAuth, ServerTls};

#[derive(Debug, Clone, clap::Args)]
pub struct DemoOptions {
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration: Option<u64>,
    /// The rules' window in seconds; the whole story scales with it (the rig runs
    /// 600/WINDOW times faster, a client goes silent for 1.8 windows, reports come every
    /// 2 windows).
    #[arg(long, default_value_t = 10)]
    pub window: u64,
}

/// The rate rule's threshold: far under what a poller moves in a window (megabytes),
/// far over what the trickling client does (a few hundred bytes).
const THRESHOLD_BYTES: u64 = 100_000;

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
    let access_log = data.path().join("access.log");
    let mut rig = JoinSet::new();
    let hello = story::start_hello(&access_log, &mut rig).await?;
    let yaml = demo_config(&certs, addr, syslog, window, data.path(), &access_log);
    let config = crate::config::parse_with_env(&yaml, "demo config", &|_| None)
        .context("the demo's own config")?;

    println!("== lumberwatch demo ==");
    println!(
        "receiver : Logstash-compatible beats input on {addr}, TLS with client certificates required"
    );
    println!(
        "agent    : syslog on udp {syslog} + access.log (parser: access-log) -> output.logstash (TLS verified)"
    );
    println!(
        "rules    : flatline {window}s per client, under {THRESHOLD_BYTES} bytes per {window}s, report every {}s",
        2 * window
    );
    println!(
        "rig      : hello on {hello}, pollers at x{}: {STEADY} steady, {FLAKY} silent from {:.0}s to {}s, {TRICKLE} trickling",
        story::speed(window),
        1.2 * window as f64,
        3 * window
    );
    println!(
        "events, alerts and reports below are printed as the receiver acks them, alerts and\n\
         reports with their event as Logstash gets it (less @metadata, agent, ecs, host);\n\
         Ctrl-C stops.\n"
    );

    let printer = tokio::spawn(print::batches(rx));
    story::start_clients(hello, syslog, window, &mut rig);
    let stop = async {
        let limit = async {
            match opts.duration {
                Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = limit => {}
            () = crate::signal::shutdown() => {}
            Some(Ok(Err(e))) = rig.join_next() => eprintln!("lumberwatch demo: the rig stopped: {e:#}"),
        }
    };
    let summary = crate::agent::run(&config, stop, |_| {}).await?;
    rig.shutdown().await;
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
    window: u64,
    data: &Path,
    access_log: &Path,
) -> String {
    let clients = format!("[{STEADY}, {FLAKY}, {TRICKLE}]");
    format!(
        "lumberwatch.inputs:
  - type: syslog
    id: proxies
    parser: websense
    format: rfc5424
    protocol.udp.host: \"{syslog}\"
  - type: filestream
    id: web
    paths: [\"{}\"]
    parser: access-log
lumberwatch.stats:
  keys: [source.ip, log.source.ip]
  bucket: 1s
lumberwatch.rules_check_interval: 1s
lumberwatch.rules:
  - name: client-silent
    type: flatline
    key: source.ip
    filter: {{inputs: [web]}}
    window: {window}s
    realert: 0s
    expected: {clients}
  - name: client-under-rate
    type: rate
    key: source.ip
    filter: {{inputs: [web]}}
    measure: bytes
    condition: below
    threshold: {THRESHOLD_BYTES}B
    window: {window}s
    realert: 0s
    expected: {clients}
  - name: client-report
    type: report
    key: source.ip
    filter: {{inputs: [web]}}
    expected: {clients}
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
        access_log.display(),
        2 * window,
        receiver.port(),
        certs.path("ca.crt").display(),
        certs.path("client.crt").display(),
        certs.path("client.key").display(),
        data.display(),
    )
}

fn free_udp_port() -> anyhow::Result<SocketAddr> {
    let socket = UdpSocket::bind("127.0.0.1:0").context("finding a free udp port")?;
    Ok(socket.local_addr()?)
}
