//! Rules through the real binary: `simulate` replays hours of recorded flow logs in
//! milliseconds; `run` raises a flatline alert for an expected sender that never
//! sends, ships it to Logstash as an event, and keeps it in the disk spool across a
//! SIGKILL while Logstash is down, without raising it twice.

use std::net::UdpSocket;

use super::*;

/// 2026-03-01T00:00:00Z.
const T0: i64 = 1_772_323_200;

/// An AWS VPC default-format line: `src` sent `bytes` to port 514 at `t`.
fn vpc(src: &str, t: i64, bytes: u64) -> String {
    format!(
        "2 123456789010 eni-1 {src} 10.0.0.4 51000 514 6 3 {bytes} {t} {} ACCEPT OK",
        t + 60
    )
}

#[test]
fn simulate_replays_eight_hours_and_reports_each_silence_once_at_its_time() {
    let dir = tempdir();
    let d = dir.path();
    // 10.10.10.1 sends every 5 minutes for 8 hours, 10.10.10.2 for the first 2 hours,
    // 10.10.10.3 never (config/vpc-flow.yml expects all three, 1h flatline).
    let mut lines = Vec::new();
    for i in 0..96 {
        let t = T0 + i * 300;
        lines.push(vpc("10.10.10.1", t, 1000));
        if t < T0 + 2 * 3600 {
            lines.push(vpc("10.10.10.2", t, 500));
        }
    }
    lines.push("not a flow log line".to_string());
    std::fs::write(d.join("week.log"), lines.join("\n") + "\n").unwrap();
    let config = example("vpc-flow.yml");
    let (status, out, err) = finish(
        "simulate",
        lumberwatch(d, &["simulate", "-c", &config, "--input", "week.log"]),
    );
    assert!(status.success(), "{err}");
    // Each silence is raised when it reaches the window, stamped then, and reminded
    // every `realert` (default: the window) while it lasts.
    let first: Vec<&str> = out.lines().filter(|l| l.contains(" for 1h ")).collect();
    assert_eq!(
        first,
        [
            "2026-03-01T01:00:00.000Z  syslog-senders-silent  no traffic from 10.10.10.3 for 1h (never seen)",
            "2026-03-01T02:55:00.000Z  syslog-senders-silent  no traffic from 10.10.10.2 for 1h (last seen 2026-03-01T01:55:00Z)",
            // The recording ends at 07:55: the clock runs on past it, so the steady
            // sender's silence after the end is reported too, and nothing before.
            "2026-03-01T08:55:00.000Z  syslog-senders-silent  no traffic from 10.10.10.1 for 1h (last seen 2026-03-01T07:55:00Z)",
        ],
        "{out}"
    );
    assert!(
        out.contains(
            "2026-03-01T03:55:00.000Z  syslog-senders-silent  no traffic from 10.10.10.2 for 2h"
        ),
        "reminded an hour later: {out}"
    );
    assert!(out.contains("bytes-every-6h"), "6-hour reports: {out}");
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("replayed 120 records from 121 lines (1 skipped) up to 2026-03-01T08:"),
        "{out}"
    );

    let (status, out, _) = finish(
        "simulate",
        lumberwatch(
            d,
            &["simulate", "-c", &config, "--input", "week.log", "--json"],
        ),
    );
    assert!(status.success());
    let alert: Value = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["source"]["ip"] == "10.10.10.2")
        .expect("an alert event for 10.10.10.2");
    assert_eq!(alert["event"]["kind"], "alert");
    assert_eq!(alert["event"]["action"], "flatline");
    assert_eq!(alert["rule"]["name"], "syslog-senders-silent");
    assert_eq!(alert["lumberwatch"]["alert"]["state"], "firing");
    assert_eq!(alert["@timestamp"], "2026-03-01T02:55:00.000Z");
}

/// A syslog input on UDP and a flatline rule over 2 s for 127.0.0.2 (sends) and
/// 127.0.0.9 (never does), shipping to `port`.
fn rules_config(dir: &Path, port: u16, udp: &str) -> PathBuf {
    write_config(
        dir,
        &format!(
            "lumberwatch.inputs:\n  - type: syslog\n    id: proxies\n    protocol.udp.host: \"{udp}\"\n\
             lumberwatch.stats.bucket: 1s\nlumberwatch.stats.flush: 1h\n\
             lumberwatch.rules_check_interval: 1s\n\
             lumberwatch.rules:\n  - name: proxy-silent\n    type: flatline\n    key: log.source.ip\n\
             \x20   window: 2s\n    realert: 0s\n    expected: [127.0.0.2, 127.0.0.9]\n{}{QUIET}",
            logstash_output(&format!("127.0.0.1:{port}"), "")
        ),
    )
}

fn alerts(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["event"]["kind"] == "alert")
        .collect()
}

#[test]
fn run_ships_a_flatline_alert_spooled_across_a_sigkill_while_logstash_is_down() {
    let dir = tempdir();
    let d = dir.path();
    // Logstash is down: nothing listens on this port yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_addr = udp.local_addr().unwrap();
    drop(udp);
    let config = rules_config(d, port, &udp_addr.to_string());
    let path = config.display().to_string();
    let run = Proc::spawn("run", lumberwatch(d, &["run", "-c", &path]), Stdio::null());
    let sender = UdpSocket::bind("127.0.0.2:0").expect("bind the sender");
    let spool = d.join("data/spool");
    let state = d.join("data/registry/rules.json");
    poll(
        "the alert is spooled and the rule state saved",
        COMMAND_LIMIT,
        || {
            sender
                .send_to(b"<13>Oct 11 22:14:15 proxy app: hello", udp_addr)
                .ok()?;
            let spooled = segments(&spool).iter().any(|len| *len > 0);
            (spooled && state.exists()).then_some(())
        },
        || run.describe(),
    );
    assert!(
        run.stderr()
            .contains("alert: no traffic from 127.0.0.9 for 2s (never seen)"),
        "{}",
        run.describe()
    );
    // Logstash comes back on that port; the agent restarts and ships the spooled alert.
    let (receiver, mut run) = crash_then_recover(run, d, port, &path);
    let events = poll(
        "the spooled alert arrives",
        COMMAND_LIMIT,
        || {
            sender
                .send_to(b"<13>Oct 11 22:14:15 proxy app: again", udp_addr)
                .ok()?;
            let events = receiver.events_so_far();
            (!alerts(&events).is_empty()).then_some(events)
        },
        || run.describe(),
    );
    let alert = alerts(&events)[0].clone();
    assert_eq!(alert["log"]["source"]["ip"], "127.0.0.9", "{alert}");
    assert_eq!(alert["rule"]["name"], "proxy-silent");
    assert_eq!(alert["event"]["action"], "flatline");
    assert_eq!(alert["tags"], serde_json::json!(["lumberwatch-alert"]));
    // Three more check intervals: the open episode was restored, not raised again,
    // and the sender that keeps sending never alarms.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(3) {
        sender
            .send_to(b"<13>Oct 11 22:14:15 proxy app: still here", udp_addr)
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    run.signal(libc::SIGTERM);
    assert!(run.wait(COMMAND_LIMIT).success(), "{}", run.describe());
    let (events, _) = receiver.stop();
    let alerts = alerts(&events);
    assert_eq!(alerts.len(), 1, "one alert, once: {alerts:#?}");
    assert_eq!(
        segments(&spool),
        [0u64; 0],
        "the disk queue's segment is deleted once its alert is acked"
    );
}

/// The sizes of the disk queue's segment files.
fn segments(dir: &Path) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "seg"))
        .filter_map(|e| e.metadata().ok().map(|m| m.len()))
        .collect()
}
