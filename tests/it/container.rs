//! The container input through the whole agent: a fake Docker layout and a CRI file in
//! a temp dir, the embedded receiver, the registry on disk. Every wait is bounded.

use std::path::Path;
use std::time::Duration;

use lumberwatch::config::{ContainerOptions, FilestreamConfig};
use lumberwatch::input::container::{Format, StreamFilter};
use lumberwatch::receive::{Faults, ReceivedBatch};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::{Agent, receiver};

const LIMIT: Duration = Duration::from_secs(30);
const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Runs the agent with one container input until `n` events arrived; returns them.
async fn ship(data: &Path, paths: Vec<String>, options: ContainerOptions, n: usize) -> Vec<Value> {
    let mut r = receiver(None, Faults::default()).await;
    let mut fs = FilestreamConfig::new(paths);
    fs.input_type = "container".into();
    fs.container = Some(options);
    fs.check_interval = Duration::from_millis(50);
    let agent = Agent::start_with(data, fs, r.handle.local_addr().port());
    let got = receive(&mut r.batches, n).await;
    agent.stop().await;
    got
}

async fn receive(batches: &mut mpsc::Receiver<ReceivedBatch>, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + LIMIT;
    let mut got: Vec<Value> = Vec::new();
    while got.len() < n {
        let batch = tokio::time::timeout_at(deadline, batches.recv())
            .await
            .unwrap_or_else(|_| panic!("{n} events not within {LIMIT:?}; got {got:?}"))
            .expect("receiver alive");
        got.extend(
            batch
                .events
                .iter()
                .map(|e| serde_json::from_slice(e).unwrap()),
        );
    }
    got
}

fn docker_line(log: &str, stream: &str, time: &str) -> String {
    json!({"log": log, "stream": stream, "time": time}).to_string()
}

/// `<dir>/<id>/<id>-json.log` with `config.v2.json` beside it; returns the log's path
/// and the offsets its lines start at.
fn docker_layout(dir: &Path) -> (std::path::PathBuf, Vec<u64>) {
    let container = dir.join(ID);
    std::fs::create_dir_all(&container).unwrap();
    std::fs::write(
        container.join("config.v2.json"),
        json!({"ID": ID, "Name": "/web-1", "Config": {"Image": "nginx:1.27"}}).to_string(),
    )
    .unwrap();
    let lines = [
        docker_line("hello\n", "stdout", "2026-03-01T04:12:09.123456789Z"),
        docker_line("a long ", "stdout", "2026-03-01T04:12:10.000000001Z"),
        docker_line("boom\n", "stderr", "2026-03-01T04:12:10.5Z"),
        docker_line("line\n", "stdout", "2026-03-01T04:12:11Z"),
        "not json at all".to_string(),
        docker_line("last\n", "stderr", "2026-03-01T04:12:12Z"),
    ];
    let mut offsets = Vec::new();
    let mut text = String::new();
    for l in &lines {
        offsets.push(text.len() as u64);
        text.push_str(l);
        text.push('\n');
    }
    let log = container.join(format!("{ID}-json.log"));
    std::fs::write(&log, text).unwrap();
    (log, offsets)
}

fn messages(events: &[Value], file: &Path) -> Vec<(String, Value)> {
    events
        .iter()
        .filter(|e| e["log"]["file"]["path"] == file.to_string_lossy().as_ref())
        .map(|e| {
            (
                e["message"].as_str().unwrap().to_string(),
                e["stream"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn docker_and_cri_lines_are_joined_and_carry_stream_time_and_container() {
    let dir = tempfile::tempdir().unwrap();
    let (docker, offsets) = docker_layout(dir.path());
    let pod = dir.path().join("pods/shop_web-0_1234/app");
    std::fs::create_dir_all(&pod).unwrap();
    let cri = pod.join("0.log");
    std::fs::write(
        &cri,
        "2026-03-01T04:12:09.1Z stdout P par\n2026-03-01T04:12:09.2Z stdout F tial\n2026-03-01T04:12:09.3Z stderr F cri err\n",
    )
    .unwrap();
    let paths = vec![
        format!("{}/*/*-json.log", dir.path().display()),
        format!("{}/pods/*/*/*.log", dir.path().display()),
    ];
    let got = ship(
        &dir.path().join("data"),
        paths,
        ContainerOptions::default(),
        7,
    )
    .await;
    assert_eq!(got.len(), 7, "{got:?}");
    for e in &got {
        assert_eq!(e["input"]["type"], "container", "{e}");
    }

    assert_eq!(
        messages(&got, &docker),
        vec![
            ("hello".to_string(), json!("stdout")),
            ("boom".to_string(), json!("stderr")),
            ("a long line".to_string(), json!("stdout")),
            ("not json at all".to_string(), Value::Null),
            ("last".to_string(), json!("stderr")),
        ]
    );
    let by_message = |m: &str| got.iter().find(|e| e["message"] == m).unwrap();
    let hello = by_message("hello");
    assert_eq!(hello["@timestamp"], "2026-03-01T04:12:09.123Z");
    assert_eq!(hello["container"]["id"], ID);
    assert_eq!(hello["container"]["name"], "web-1");
    assert_eq!(hello["container"]["image"]["name"], "nginx:1.27");
    assert_eq!(hello["log"]["offset"], offsets[0]);
    let joined = by_message("a long line");
    assert_eq!(
        joined["log"]["offset"], offsets[1],
        "the first piece's offset"
    );
    assert_eq!(joined["@timestamp"], "2026-03-01T04:12:10.000Z");
    let failed = by_message("not json at all");
    assert_eq!(failed["tags"], json!(["lumberwatch_parse_failure"]));
    assert_eq!(failed["log"]["offset"], offsets[4]);
    assert_eq!(failed["container"]["id"], ID);
    assert!(hello.get("tags").is_none());

    assert_eq!(
        messages(&got, &cri),
        vec![
            ("partial".to_string(), json!("stdout")),
            ("cri err".to_string(), json!("stderr")),
        ]
    );
    let partial = by_message("partial");
    assert_eq!(partial["@timestamp"], "2026-03-01T04:12:09.100Z");
    assert_eq!(partial["log"]["offset"], 0);
    assert!(partial.get("container").is_none(), "no id in a pods path");
}

#[tokio::test]
async fn the_stream_filter_ships_only_that_stream() {
    let dir = tempfile::tempdir().unwrap();
    let (docker, _) = docker_layout(dir.path());
    let options = ContainerOptions {
        stream: StreamFilter::Stderr,
        format: Format::Docker,
    };
    let paths = vec![docker.display().to_string()];
    // "last" (stderr) is the file's last line: once it is in, all before it were read.
    let got = ship(&dir.path().join("data"), paths, options, 3).await;
    assert_eq!(
        messages(&got, &docker),
        vec![
            ("boom".to_string(), json!("stderr")),
            ("not json at all".to_string(), Value::Null),
            ("last".to_string(), json!("stderr")),
        ]
    );
}
