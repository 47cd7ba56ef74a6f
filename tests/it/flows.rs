//! `type: flows` against the real kernel: two network namespaces joined by a veth pair,
//! senders at 10.10.10.1-3 and 192.168.1.1-2 in one, the collector (172.16.0.1, TCP and
//! UDP on 514, 3000 and the filtered-out 5140) in the other, where the capture runs on
//! `any` with `filter: {transports: [tcp, udp], ports: [514, 3000]}`.
//!
//! What was sent is measured apart from the capture: each exchange runs alone and the
//! sender's veth counters are read before and after it. Those count every frame with
//! its 14-byte Ethernet header, so the IP-layer bytes a flow must report are
//! `bytes - 14 * packets` in each direction (IPv6 is off and neighbours are static, so
//! nothing else crosses the link). UDP is also checked against what the sockets sent:
//! 28 header bytes per datagram.
//!
//! Root only; skipped with the reason printed otherwise. The namespaces are deleted by
//! a guard whatever happens.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lumberwatch::config::{FlowsConfig, FlowsFilter};
use lumberwatch::event::{AgentInfo, EventShape, EventTemplate};
use lumberwatch::input::flows::{FlowCounters, run_counting};
use lumberwatch::input::parsing::StatsFeed;
use lumberwatch::input::{InputContext, Outlet};
use lumberwatch::stats::{Stats, TableSpec};
use serde_json::Value;
use socket2::{Domain, Socket, Type};

const COLLECTOR: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 1);
const SOURCES: [[u8; 4]; 5] = [
    [10, 10, 10, 1],
    [10, 10, 10, 2],
    [10, 10, 10, 3],
    [192, 168, 1, 1],
    [192, 168, 1, 2],
];
const PORTS: [u16; 2] = [514, 3000];
const FILTERED_PORT: u16 = 5140;
const MAC_A: &str = "02:00:00:00:00:0a";
const MAC_B: &str = "02:00:00:00:00:0b";
const LIMIT: Duration = Duration::from_secs(10);

/// Two namespaces, `a` (senders, `veth0`) and `b` (collector, `veth1`), deleted on drop.
struct Namespaces {
    a: String,
    b: String,
}

impl Namespaces {
    fn create() -> Result<Namespaces, String> {
        let pid = std::process::id();
        let ns = Namespaces {
            a: format!("lw-{pid}-a"),
            b: format!("lw-{pid}-b"),
        };
        ip(&format!("netns add {}", ns.a))?;
        ip(&format!("netns add {}", ns.b))?;
        for name in [&ns.a, &ns.b] {
            sysctl(name, "net.ipv6.conf.all.disable_ipv6=1")?;
            sysctl(name, "net.ipv6.conf.default.disable_ipv6=1")?;
        }
        let (a, b) = (&ns.a, &ns.b);
        let mut steps = vec![
            format!(
                "-n {a} link add veth0 address {MAC_A} type veth peer name veth1 address {MAC_B} netns {b}"
            ),
            format!("-n {a} link set veth0 up"),
            format!("-n {b} link set veth1 up"),
            format!("-n {b} addr add {COLLECTOR}/32 dev veth1"),
            format!("-n {a} route add {COLLECTOR}/32 dev veth0"),
            format!("-n {a} neigh add {COLLECTOR} lladdr {MAC_B} dev veth0 nud permanent"),
        ];
        for s in SOURCES {
            let s = Ipv4Addr::from(s);
            steps.push(format!("-n {a} addr add {s}/32 dev veth0"));
            steps.push(format!("-n {b} route add {s}/32 dev veth1"));
            steps.push(format!(
                "-n {b} neigh add {s} lladdr {MAC_A} dev veth1 nud permanent"
            ));
        }
        for step in steps {
            ip(&step)?;
        }
        Ok(ns)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in [&self.a, &self.b] {
            let _ = ip(&format!("netns del {name}"));
        }
    }
}

fn ip(args: &str) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args.split(' '))
        .output()
        .map_err(|e| format!("ip {args}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ip {args}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn sysctl(ns: &str, setting: &str) -> Result<String, String> {
    ip(&format!("netns exec {ns} sysctl -qw {setting}"))
}

/// Moves the calling thread into namespace `ns`.
fn enter(ns: &str) {
    let file = File::open(format!("/var/run/netns/{ns}")).expect("the namespace exists");
    // SAFETY: setns on a valid namespace descriptor changes only this thread's namespace.
    let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns {ns}: {}", std::io::Error::last_os_error());
}

fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root to create network namespaces".into());
    }
    let probe = format!("lw-{}-probe", std::process::id());
    match ip(&format!("netns add {probe}")) {
        Ok(_) => ip(&format!("netns del {probe}")).err(),
        Err(e) => Some(format!("cannot create network namespaces: {e}")),
    }
}

/// `veth0` of namespace `ns`: tx bytes, tx packets, rx bytes, rx packets.
fn counters(ns: &str) -> [u64; 4] {
    let out = ip(&format!("-n {ns} -s -j link show dev veth0")).expect("ip link show");
    let v: Value = serde_json::from_str(&out).expect("ip -j gives json");
    let s = &v[0]["stats64"];
    let n = |dir: &str, what: &str| s[dir][what].as_u64().expect("a counter");
    [
        n("tx", "bytes"),
        n("tx", "packets"),
        n("rx", "bytes"),
        n("rx", "packets"),
    ]
}

/// IP-layer bytes and packets sent by the source and by the collector during
/// `exchange`, read once the link has been quiet for 80 ms.
fn measured(ns: &str, exchange: impl FnOnce()) -> [u64; 4] {
    let before = counters(ns);
    exchange();
    let (mut last, mut since, start) = (counters(ns), Instant::now(), Instant::now());
    while since.elapsed() < Duration::from_millis(80) && start.elapsed() < LIMIT {
        std::thread::sleep(Duration::from_millis(20));
        let now = counters(ns);
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
    let d: Vec<u64> = (0..4).map(|i| last[i] - before[i]).collect();
    [d[0] - 14 * d[1], d[1], d[2] - 14 * d[3], d[3]]
}

/// The collector: every connection read to its end, every datagram drained.
fn collector(ns: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        enter(&ns);
        let ports = [PORTS[0], PORTS[1], FILTERED_PORT];
        let tcp: Vec<TcpListener> = ports
            .iter()
            .map(|p| TcpListener::bind((COLLECTOR, *p)).unwrap())
            .collect();
        let udp: Vec<UdpSocket> = ports
            .iter()
            .map(|p| UdpSocket::bind((COLLECTOR, *p)).unwrap())
            .collect();
        tcp.iter().for_each(|s| s.set_nonblocking(true).unwrap());
        udp.iter().for_each(|s| s.set_nonblocking(true).unwrap());
        let mut buf = vec![0u8; 65536];
        while !stop.load(Relaxed) {
            for listener in &tcp {
                if let Ok((mut conn, _)) = listener.accept() {
                    conn.set_nonblocking(false).unwrap();
                    conn.set_read_timeout(Some(LIMIT)).unwrap();
                    while conn.read(&mut buf).is_ok_and(|n| n > 0) {}
                }
            }
            for socket in &udp {
                while socket.recv(&mut buf).is_ok() {}
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    })
}

/// (source, source port, destination port, transport) of a flow.
type FlowKey = (IpAddr, u16, u16, &'static str);

/// Sends from every source to every port, one exchange at a time, and returns what
/// each flow carried, measured on the link.
fn send_all(ns: &str) -> HashMap<FlowKey, [u64; 4]> {
    let mut sent = HashMap::new();
    for (i, src) in SOURCES.iter().enumerate() {
        let src = IpAddr::from(*src);
        for port in PORTS.iter().copied().chain([FILTERED_PORT]) {
            let size = 3000 * (i + 1) + usize::from(port % 7);
            let mut local = 0;
            let truth = measured(ns, || local = tcp_exchange(src, port, size));
            if port != FILTERED_PORT {
                sent.insert((src, local, port, "tcp"), truth);
            }
            let (count, size) = (i + 2, 100 + 10 * i);
            let truth = measured(ns, || local = udp_exchange(src, port, count, size));
            let expected = [(count * (size + 28)) as u64, count as u64, 0, 0];
            assert_eq!(truth, expected, "udp from {src} to {port}");
            if port != FILTERED_PORT {
                sent.insert((src, local, port, "udp"), truth);
            }
        }
    }
    sent
}

fn tcp_exchange(src: IpAddr, port: u16, size: usize) -> u16 {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::new(src, 0).into()).unwrap();
    let to = SocketAddr::from((COLLECTOR, port));
    socket.connect_timeout(&to.into(), LIMIT).unwrap();
    socket.set_read_timeout(Some(LIMIT)).unwrap();
    let mut stream = std::net::TcpStream::from(socket);
    stream.write_all(&vec![b'x'; size]).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    stream.local_addr().unwrap().port()
}

fn udp_exchange(src: IpAddr, port: u16, count: usize, size: usize) -> u16 {
    let socket = UdpSocket::bind((src, 0)).unwrap();
    for _ in 0..count {
        socket
            .send_to(&vec![b'u'; size], (COLLECTOR, port))
            .unwrap();
    }
    socket.local_addr().unwrap().port()
}

/// Starts the capture in namespace `b` on its own thread; returns once it is open.
fn start_capture(
    b: String,
    stats: Arc<Mutex<Stats>>,
    counters: Arc<FlowCounters>,
    queue: lumberwatch::queue::mem::Sender,
) -> std::thread::JoinHandle<Result<u64, lumberwatch::input::flows::FlowsError>> {
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        enter(&b);
        let cfg = FlowsConfig {
            interface: None,
            period: Duration::from_secs(1),
            timeout: Duration::from_secs(2),
            max_flows: 1000,
            buffer_size: 1 << 20,
            filter: FlowsFilter {
                icmp: false,
                ports: PORTS.to_vec(),
                ..FlowsFilter::default()
            },
        };
        let shape = EventShape {
            input_type: "flows".into(),
            ..EventShape::default()
        };
        let template = EventTemplate::new(&AgentInfo::new("lumberwatch", None), &shape);
        let context = InputContext {
            stats: Some(StatsFeed::new(stats)),
            ..InputContext::default()
        };
        let outlet = Outlet::new(queue, Arc::default()).with_context(context);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let task =
                tokio::spawn(async move { run_counting(&cfg, template, outlet, counters).await });
            // The spawned task opens the capture before it first waits.
            tokio::task::yield_now().await;
            ready_tx.send(()).unwrap();
            task.await.unwrap()
        })
    });
    ready.recv_timeout(LIMIT).expect("the capture started");
    thread
}

#[test]
fn flow_events_and_statistics_match_what_each_source_sent() {
    if let Some(reason) = skip_reason() {
        println!("skipped: {reason}");
        return;
    }
    let ns = Namespaces::create().expect("namespaces");
    let stats = Arc::new(Mutex::new(Stats::new([TableSpec::new("source.ip")])));
    let counters = Arc::new(FlowCounters::default());
    let (tx, mut rx) = lumberwatch::queue::mem::channel(10_000);
    let capture = start_capture(ns.b.clone(), stats.clone(), counters.clone(), tx);
    let stop = Arc::new(AtomicBool::new(false));
    let server = collector(ns.b.clone(), stop.clone());
    let a = ns.a.clone();
    let sent = std::thread::spawn(move || {
        enter(&a);
        send_all(&a)
    })
    .join()
    .expect("the senders finished");
    assert_eq!(sent.len(), SOURCES.len() * PORTS.len() * 2);

    // Every flow ends once idle for the timeout: collect until all have.
    let (mut events, mut finals) = (Vec::new(), HashMap::new());
    let start = Instant::now();
    while finals.len() < sent.len() && start.elapsed() < LIMIT {
        match rx.try_recv() {
            Ok(e) => {
                let v: Value = serde_json::from_slice(&e.json).unwrap();
                if v["flow"]["final"] == true {
                    finals.insert(key(&v), v.clone());
                }
                events.push(v);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    stop.store(true, Relaxed);
    server.join().unwrap();
    drop(rx);
    capture.join().unwrap().expect("the capture ran");

    for (flow, [bytes, packets, back_bytes, back_packets]) in &sent {
        let v = finals
            .get(flow)
            .unwrap_or_else(|| panic!("no final event for {flow:?}"));
        assert_eq!(v["source"]["bytes"], *bytes, "{flow:?}: {v}");
        assert_eq!(v["source"]["packets"], *packets, "{flow:?}: {v}");
        assert_eq!(v["source"]["mac"], "02-00-00-00-00-0A");
        if *back_packets == 0 {
            assert!(v["destination"].get("bytes").is_none(), "{flow:?}: {v}");
        } else {
            assert_eq!(v["destination"]["bytes"], *back_bytes, "{flow:?}: {v}");
            assert_eq!(v["destination"]["packets"], *back_packets, "{flow:?}: {v}");
            assert_eq!(v["destination"]["mac"], "02-00-00-00-00-0B");
        }
        assert_eq!(v["network"]["bytes"], bytes + back_bytes);
        assert_eq!(v["type"], "flow");
        assert_eq!(v["event"]["action"], "network_flow");
        assert!(
            v["network"]["community_id"]
                .as_str()
                .unwrap()
                .starts_with("1:")
        );
        // Interim reports carry the flow's id and never more than its end.
        for e in events.iter().filter(|e| key(e) == *flow) {
            assert_eq!(e["flow"]["id"], v["flow"]["id"]);
            assert!(e["source"]["bytes"].as_u64() <= Some(*bytes));
        }
    }
    assert_eq!(
        finals.len(),
        sent.len(),
        "one final event per flow, no other flow"
    );
    assert!(
        events
            .iter()
            .all(|e| e["destination"]["port"] != FILTERED_PORT),
        "the filtered-out port was captured"
    );

    let stats = stats.lock().unwrap();
    let table = stats.table("source.ip").unwrap();
    for src in SOURCES {
        let src = IpAddr::from(src);
        let mine = sent.iter().filter(|(k, _)| k.0 == src);
        let bytes: u64 = mine.clone().map(|(_, t)| t[0] + t[2]).sum();
        let packets: u64 = mine.map(|(_, t)| t[1] + t[3]).sum();
        let got = table
            .get(&src.to_string())
            .expect("statistics for every source");
        let totals = (got.totals.bytes, got.totals.packets, got.totals.connections);
        assert_eq!(totals, (bytes, packets, 4), "{src}");
    }
    assert_eq!(counters.kernel_drops.load(Relaxed), 0);
    assert_eq!(counters.events_dropped.load(Relaxed), 0);
}

fn key(v: &Value) -> FlowKey {
    let transport = match v["network"]["transport"].as_str() {
        Some("tcp") => "tcp",
        Some("udp") => "udp",
        other => panic!("unexpected transport {other:?}"),
    };
    let ip = v["source"]["ip"].as_str().unwrap().parse().unwrap();
    let port = |side: &str| u16::try_from(v[side]["port"].as_u64().unwrap()).unwrap();
    (ip, port("source"), port("destination"), transport)
}
