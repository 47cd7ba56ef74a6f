//! `type: conntrack` against the real kernel, in a network namespace of its own: TCP
//! and UDP from 10.10.10.1 to 10.10.10.9 over a veth pair, NEW events as they happen
//! and DESTROY events with exact counters when the namespace's table is flushed (as
//! `conntrack -F` does; an expiring entry sends the same event, only later).
//!
//! Root only; skipped with the reason printed otherwise. Conntrack tracks nothing in a
//! namespace until a rule needs it, and no `nft`/`iptables` may be installed, so the
//! test adds that rule (an nf_tables `ct state` load) over netlink itself.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lumberwatch::config::{ConntrackConfig, ConntrackFilter};
use lumberwatch::event::{AgentInfo, EventShape, EventTemplate};
use lumberwatch::input::conntrack::msg::EventKind;
use lumberwatch::input::parsing::StatsFeed;
use lumberwatch::input::{InputContext, Outlet};
use lumberwatch::stats::{Stats, TableSpec};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, UdpSocket};

mod netlink;

const LIMIT: Duration = Duration::from_secs(10);

/// A namespace with `lw0` (10.10.10.1) and `lw1` (10.10.10.9), deleted on drop.
struct Namespace {
    name: String,
}

impl Namespace {
    fn create() -> Result<Namespace, String> {
        let ns = Namespace {
            name: format!("lw-ct-{}", std::process::id()),
        };
        ns.ip(&["netns", "add", &ns.name])?;
        for args in [
            "link set lo up",
            "link add lw0 type veth peer name lw1",
            "addr add 10.10.10.1/24 dev lw0",
            "addr add 10.10.10.9/24 dev lw1",
            "link set lw0 up",
            "link set lw1 up",
        ] {
            let mut all = vec!["-n", ns.name.as_str()];
            all.extend(args.split(' '));
            ns.ip(&all)?;
        }
        Ok(ns)
    }

    fn ip(&self, args: &[&str]) -> Result<(), String> {
        let out = Command::new("ip")
            .args(args)
            .output()
            .map_err(|e| format!("cannot run ip: {e}"))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(format!("ip {}: {}", args.join(" "), err.trim()));
        }
        Ok(())
    }

    /// Moves the calling thread into the namespace.
    fn enter(&self) -> Result<(), String> {
        let path = format!("/run/netns/{}", self.name);
        let f = File::open(&path).map_err(|e| format!("{path}: {e}"))?;
        // SAFETY: setns(2) on an open namespace descriptor; only this thread moves.
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(format!("setns: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = self.ip(&["netns", "del", &self.name]);
    }
}

fn skip_reason() -> Option<String> {
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (needs CAP_NET_ADMIN and network namespaces)".into());
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("no `ip` command (iproute2)".into());
    }
    None
}

#[test]
fn new_and_destroy_events_become_records_with_the_tuple_and_counters() {
    if let Some(reason) = skip_reason() {
        eprintln!("skipped: {reason}");
        return;
    }
    let ns = match Namespace::create() {
        Ok(ns) => ns,
        Err(reason) => {
            eprintln!("skipped: cannot make a network namespace: {reason}");
            return;
        }
    };
    // A thread of its own: setns moves only the calling thread, and the sockets (the
    // input's included) belong to the namespace of the thread that opens them.
    let ns = Arc::new(ns);
    let inside = ns.clone();
    let outcome = std::thread::spawn(move || -> Result<Option<Run>, String> {
        inside.enter()?;
        if let Err(reason) = netlink::track_connections() {
            eprintln!("skipped: conntrack cannot be turned on in the namespace: {reason}");
            return Ok(None);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(capture()).map(Some)
    })
    .join()
    .expect("the namespace thread does not panic");
    let run = match outcome {
        Ok(Some(run)) => run,
        Ok(None) => return,
        Err(e) => panic!("{e}"),
    };
    drop(ns);
    check(&run);
}

/// What one capture in the namespace gave.
struct Run {
    events: Vec<Value>,
    stats: Arc<Mutex<Stats>>,
    counters: [(&'static str, u64); 6],
    queued: u64,
}

async fn capture() -> Result<Run, String> {
    let stats = Arc::new(Mutex::new(Stats::new([TableSpec::new("source.ip")])));
    let context = InputContext {
        stats: Some(StatsFeed::new(stats.clone())),
        ..InputContext::default()
    };
    let counters = context.conntrack.clone();
    let (tx, mut rx) = lumberwatch::queue::mem::channel(1000);
    let outlet = Outlet::new(tx, Arc::default()).with_context(context);
    let cfg = ConntrackConfig {
        events: vec![EventKind::New, EventKind::Destroy],
        filter: ConntrackFilter {
            ports: vec![514],
            ..ConntrackFilter::default()
        },
        buffer: 1 << 20,
        enable_accounting: true,
    };
    let shape = EventShape {
        input_type: "conntrack".into(),
        ..EventShape::default()
    };
    let template = EventTemplate::new(&AgentInfo::new("lumberwatch", None), &shape);
    let input =
        tokio::spawn(
            async move { lumberwatch::input::conntrack::run(&cfg, template, outlet).await },
        );
    // The input turns accounting on right after it has subscribed: from then on, new
    // connections are both reported and counted.
    let deadline = Instant::now() + LIMIT;
    while std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_acct")
        .map_err(|e| e.to_string())?
        .trim()
        != "1"
    {
        if input.is_finished() {
            let ended = input.await.map_err(|e| e.to_string())?;
            return Err(format!("the input ended before subscribing: {ended:?}"));
        }
        if Instant::now() > deadline {
            return Err("the input did not turn accounting on".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    traffic().await.map_err(|e| format!("traffic: {e}"))?;
    netlink::flush_connections()?;
    let mut events = Vec::new();
    while events.len() < 4 && Instant::now() < deadline {
        if let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
            events.push(serde_json::from_slice(&e.json).map_err(|e| e.to_string())?);
        }
    }
    // One more moment for anything that should not be there.
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
        events.push(serde_json::from_slice(&e.json).map_err(|e| e.to_string())?);
    }
    drop(rx);
    let queued = input
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    Ok(Run {
        events,
        stats,
        counters: counters.counters(),
        queued,
    })
}

/// UDP: three 100-byte datagrams to 10.10.10.9:514 and one 50-byte answer; one to
/// port 3000, which the filter leaves out. TCP: 1000 bytes to 10.10.10.9:514, closed.
async fn traffic() -> std::io::Result<()> {
    let server = UdpSocket::bind("10.10.10.9:514").await?;
    let client = UdpSocket::bind("10.10.10.1:40514").await?;
    for _ in 0..3 {
        client.send_to(&[7; 100], "10.10.10.9:514").await?;
    }
    let mut buf = [0u8; 200];
    for _ in 0..3 {
        server.recv_from(&mut buf).await?;
    }
    server.send_to(&[8; 50], "10.10.10.1:40514").await?;
    client.recv_from(&mut buf).await?;
    client.send_to(&[9; 10], "10.10.10.9:3000").await?;

    let listener = tokio::net::TcpListener::bind("10.10.10.9:514").await?;
    let socket = TcpSocket::new_v4()?;
    socket.bind("10.10.10.1:40515".parse().expect("an address"))?;
    let mut stream = socket
        .connect("10.10.10.9:514".parse().expect("an address"))
        .await?;
    let (mut accepted, _) = listener.accept().await?;
    stream.write_all(&[1; 1000]).await?;
    stream.shutdown().await?;
    let mut got = Vec::new();
    accepted.read_to_end(&mut got).await?;
    assert_eq!(got.len(), 1000);
    accepted.shutdown().await?;
    stream.read_to_end(&mut got).await?;
    Ok(())
}

fn check(run: &Run) {
    let find = |transport: &str, event: &str| -> &Value {
        let found: Vec<_> = run
            .events
            .iter()
            .filter(|e| e["network"]["transport"] == transport && e["conntrack"]["event"] == event)
            .collect();
        assert_eq!(found.len(), 1, "{transport} {event} in {:#?}", run.events);
        found[0]
    };
    assert_eq!(run.events.len(), 4, "{:#?}", run.events);
    for transport in ["udp", "tcp"] {
        let port = if transport == "udp" { 40514 } else { 40515 };
        for event in ["new", "destroy"] {
            let e = find(transport, event);
            assert_eq!(e["input"]["type"], "conntrack");
            assert_eq!(e["source"]["ip"], "10.10.10.1", "{e}");
            assert_eq!(e["source"]["port"], port, "{e}");
            assert_eq!(e["destination"]["ip"], "10.10.10.9", "{e}");
            assert_eq!(e["destination"]["port"], 514, "{e}");
            let kind = if event == "new" { "start" } else { "end" };
            assert_eq!(e["event"]["type"], json!(["connection", kind]), "{e}");
            let prefix = format!("[{}] {transport} ", event.to_uppercase());
            let message = e["message"].as_str().unwrap_or_default();
            assert!(message.starts_with(&prefix), "{message}");
        }
        assert!(
            find(transport, "new")
                .get("network")
                .unwrap()
                .get("bytes")
                .is_none()
        );
    }
    // IP packets: 20 bytes of IPv4 header and 8 of UDP header each.
    let udp = find("udp", "destroy");
    assert_eq!(udp["source"]["packets"], 3, "{udp}");
    assert_eq!(udp["source"]["bytes"], 3 * 128, "{udp}");
    assert_eq!(udp["destination"]["packets"], 1, "{udp}");
    assert_eq!(udp["destination"]["bytes"], 78, "{udp}");
    assert_eq!(udp["network"]["bytes"], 3 * 128 + 78, "{udp}");
    let tcp = find("tcp", "destroy");
    let tcp_bytes = tcp["network"]["bytes"].as_u64().unwrap_or(0);
    assert!(tcp["source"]["bytes"].as_u64() > Some(1000), "{tcp}");
    assert!(tcp["destination"]["packets"].as_u64() >= Some(2), "{tcp}");

    let stats = run.stats.lock().unwrap();
    let sender = stats.table("source.ip").unwrap().get("10.10.10.1").unwrap();
    assert_eq!(
        sender.totals.connections, 2,
        "a NEW is a connection, a DESTROY not"
    );
    assert_eq!(sender.totals.events, 4);
    assert_eq!(sender.totals.bytes, 3 * 128 + 78 + tcp_bytes);
    let counter = |name: &str| run.counters.iter().find(|(n, _)| *n == name).unwrap().1;
    assert_eq!(run.queued, 4);
    assert_eq!(
        counter("conntrack_filtered_total"),
        2,
        "port 3000: NEW and DESTROY"
    );
    assert_eq!(counter("conntrack_kernel_overruns_total"), 0);
    assert_eq!(counter("conntrack_bad_messages_total"), 0);
}
