//! Shared setup: an embedded receiver on a free loopback port, the repo's test
//! certificates, output configs, and a bounded wait for events.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use lumberwatch::agent::RunSummary;
use lumberwatch::config::{
    BackoffConfig, Config, FilestreamConfig, InputCommon, InputConfig, InputKind, LogstashConfig,
    OutputConfig, SslConfig,
};
use lumberwatch::event::Event;
use lumberwatch::receive::{Faults, ReceivedBatch, Receiver, ReceiverConfig, ReceiverHandle};
use lumberwatch::tls::{ClientAuth, ServerTls};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub fn cert(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("certs")
        .join(name)
        .display()
        .to_string()
}

pub fn server_tls(cert_name: &str, client_auth: ClientAuth) -> ServerTls {
    ServerTls {
        cert: cert(&format!("{cert_name}.crt")),
        key: cert(&format!("{cert_name}.key")),
        client_ca: (client_auth != ClientAuth::None).then(|| cert("ca.crt")),
        client_auth,
    }
}

pub struct TestReceiver {
    pub handle: ReceiverHandle,
    pub batches: mpsc::Receiver<ReceivedBatch>,
}

pub async fn receiver(tls: Option<ServerTls>, faults: Faults) -> TestReceiver {
    receiver_with(|c| {
        c.tls = tls.map(|t| lumberwatch::tls::server_config(&t).unwrap());
        c.faults = faults;
    })
    .await
}

pub async fn receiver_with(configure: impl FnOnce(&mut ReceiverConfig)) -> TestReceiver {
    // Logs of a failing test are shown by the test harness.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("lumberwatch=info")
        .try_init();
    let mut config = ReceiverConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ReceiverConfig::default()
    };
    configure(&mut config);
    let (tx, batches) = mpsc::channel(1024);
    let handle = Receiver::bind(config, tx).await.unwrap().spawn();
    TestReceiver { handle, batches }
}

/// An output config for `hosts` with short backoff so reconnect tests run fast.
pub fn logstash(hosts: &[String]) -> LogstashConfig {
    LogstashConfig {
        hosts: hosts.to_vec(),
        backoff: BackoffConfig {
            init: Duration::from_millis(10),
            max: Duration::from_millis(200),
        },
        timeout: Duration::from_secs(10),
        ..LogstashConfig::default()
    }
}

pub fn tls_client(with_client_cert: bool) -> SslConfig {
    SslConfig {
        certificate_authorities: vec![cert("ca.crt")],
        certificate: with_client_cert.then(|| cert("client.crt")),
        key: with_client_cert.then(|| cert("client.key")),
        ..SslConfig::default()
    }
}

pub fn numbered(n: u64) -> Event {
    Event::from_json(format!(r#"{{"message":"event {n}","n":{n}}}"#))
}

pub fn number_of(event: &Bytes) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(event).unwrap();
    v["n"].as_u64().unwrap()
}

/// Sends `count` numbered events into a queue feeding `output`, closes it, and waits
/// (bounded) until the output has every one acked.
pub async fn ship(
    cfg: &LogstashConfig,
    count: u64,
) -> std::sync::Arc<lumberwatch::output::OutputStats> {
    let (tx, rx) = lumberwatch::queue::mem::channel(4096);
    let output = lumberwatch::output::LogstashOutput::start(cfg, rx).unwrap();
    let stats = output.stats();
    let feeder = tokio::spawn(async move {
        for n in 1..=count {
            tx.send(numbered(n)).await.unwrap();
        }
    });
    tokio::time::timeout(Duration::from_secs(120), output.finished())
        .await
        .expect("every event acked in time");
    feeder.await.unwrap();
    stats
}

/// Collects event numbers until `want` distinct ones were seen. Returns all
/// received numbers in arrival order (duplicates included).
pub async fn collect(batches: &mut mpsc::Receiver<ReceivedBatch>, want: u64) -> Vec<u64> {
    let mut seen = std::collections::HashSet::new();
    let mut all = Vec::new();
    while (seen.len() as u64) < want {
        let batch = tokio::time::timeout(Duration::from_secs(60), batches.recv())
            .await
            .unwrap_or_else(|_| panic!("no events for 60s after {} distinct of {want}", seen.len()))
            .expect("receiver alive");
        for e in &batch.events {
            let n = number_of(e);
            seen.insert(n);
            all.push(n);
        }
    }
    all
}

const AGENT_STOP_LIMIT: Duration = Duration::from_secs(30);

/// The whole agent in this process with one file input, stopped on demand.
pub struct Agent {
    stop: oneshot::Sender<()>,
    task: JoinHandle<RunSummary>,
}

impl Agent {
    pub fn start(data: &Path, pattern: &str, port: u16) -> Agent {
        let mut fs = FilestreamConfig::new(vec![pattern.to_string()]);
        fs.check_interval = Duration::from_millis(50);
        Agent::start_with(data, fs, port)
    }

    pub fn start_with(data: &Path, fs: FilestreamConfig, port: u16) -> Agent {
        let input = InputConfig {
            kind: InputKind::Filestream(fs),
            common: InputCommon {
                enabled: true,
                ..InputCommon::default()
            },
        };
        let hosts = [format!("127.0.0.1:{port}")];
        let mut config = Config::new(vec![input], OutputConfig::Logstash(logstash(&hosts)));
        config.path_data = data.to_path_buf();
        config.logging.metrics_enabled = false;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            lumberwatch::agent::run(&config, shutdown, |_| {})
                .await
                .expect("agent runs")
        });
        Agent { stop, task }
    }

    pub async fn stop(self) -> RunSummary {
        let _ = self.stop.send(());
        tokio::time::timeout(AGENT_STOP_LIMIT, self.task)
            .await
            .expect("agent stops in time")
            .expect("agent task")
    }
}
