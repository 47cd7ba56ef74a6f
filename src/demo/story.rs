//! The demo's traffic: the rig in-process at accelerated time. `rig hello` on loopback
//! writing an access log, and three clients polling it from their own loopback
//! addresses, each sending the rig's syslog line per request (what a proxy in front of
//! them would log): 127.0.0.2 is a `rig poll` poller, 127.0.0.3 the same but unplugged
//! from 1.2 to 3 windows, 127.0.0.4 trickles a few bytes four times a window.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::rig::access_log::AccessLog;
use crate::rig::client::Target;
use crate::rig::hello::{self, Served};
use crate::rig::poll::Poller;
use crate::rig::schedule::Schedule;
use crate::rig::syslog::SyslogSenders;

pub const STEADY: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
pub const FLAKY: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
pub const TRICKLE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);
/// What the trickling client asks for each time.
const TRICKLE_BYTES: u64 = 64;

/// The rig's time runs this much faster than the story's: a 20-minute cycle in
/// `1200 / speed` seconds, its pauses (30 s to 3 min) well under a window.
pub fn speed(window: u64) -> u32 {
    u32::try_from((600 / window.max(1)).max(1)).unwrap_or(u32::MAX)
}

/// `rig hello` on 127.0.0.1, appending to `access_log`; the address it serves on.
pub async fn start_hello(
    access_log: &Path,
    tasks: &mut JoinSet<anyhow::Result<()>>,
) -> anyhow::Result<SocketAddr> {
    let log = Arc::new(AccessLog::open(access_log)?);
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .context("starting rig hello on loopback")?;
    let addr = listener.local_addr()?;
    tasks.spawn(hello::serve(
        listener,
        Arc::new(Served::default()),
        Some(log),
    ));
    Ok(addr)
}

/// The three clients, polling `target` and sending syslog to `syslog`.
pub fn start_clients(
    target: SocketAddr,
    syslog: SocketAddr,
    window: u64,
    tasks: &mut JoinSet<anyhow::Result<()>>,
) {
    let speed = speed(window);
    tasks.spawn(poll(target, syslog, STEADY, speed, 1));
    tasks.spawn(async move {
        let window = Duration::from_secs(window);
        // Unplugged at 1.2 windows, back (a new poller, a new connection) at 3.
        let first = poll(target, syslog, FLAKY, speed, 2);
        if let Ok(failed) = tokio::time::timeout(window.mul_f64(1.2), first).await {
            failed?;
        }
        tokio::time::sleep(window.mul_f64(1.8)).await;
        poll(target, syslog, FLAKY, speed, 3).await
    });
    tasks.spawn(trickle(target, syslog, window));
}

async fn senders(syslog: SocketAddr, client: Ipv4Addr) -> anyhow::Result<SyslogSenders> {
    SyslogSenders::bind(syslog, &[IpAddr::V4(client)], "127.0.0.1").await
}

/// `rig poll --speed SPEED` from `client`, a request a second.
async fn poll(
    target: SocketAddr,
    syslog: SocketAddr,
    client: Ipv4Addr,
    speed: u32,
    seed: u64,
) -> anyhow::Result<()> {
    let target = Target::new(target, "127.0.0.1").connecting_from(IpAddr::V4(client));
    let mut poller = Poller::new(target, Some(senders(syslog, client).await?), speed);
    let interval = Duration::from_secs(u64::from(speed));
    poller.cycles(Schedule::new(seed, interval), None).await
}

async fn trickle(target: SocketAddr, syslog: SocketAddr, window: u64) -> anyhow::Result<()> {
    let mut target = Target::new(target, "127.0.0.1").connecting_from(IpAddr::V4(TRICKLE));
    let mut syslog = senders(syslog, TRICKLE).await?;
    let mut tick = tokio::time::interval(Duration::from_millis(window * 250));
    loop {
        tick.tick().await;
        let mut moved = 0;
        target
            .fetch(TRICKLE_BYTES, &mut moved)
            .await
            .context("the trickling client's request")?;
        syslog.report(1, moved).await.context("sending syslog")?;
    }
}
