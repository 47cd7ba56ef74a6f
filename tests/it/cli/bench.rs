//! `bench syslog-udp`: one low-rate step on loopback, whose table accounts for every
//! datagram sent. Nothing here depends on how fast the machine is.

use std::collections::HashMap;

use super::*;

/// The rows of the table under the header line that starts with `rate/s`, by column.
fn table(stdout: &str) -> Vec<HashMap<String, f64>> {
    let mut lines = stdout.lines();
    let header: Vec<&str> = lines
        .by_ref()
        .find(|l| l.split_whitespace().next() == Some("rate/s"))
        .unwrap_or_else(|| panic!("no table header in\n{stdout}"))
        .split_whitespace()
        .collect();
    lines
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .take_while(|cells| cells.len() == header.len())
        .map(|cells| {
            header
                .iter()
                .zip(cells)
                .map(|(name, cell)| {
                    let value = cell
                        .parse()
                        .unwrap_or_else(|e| panic!("{name} = {cell:?}: {e}\n{stdout}"));
                    (name.to_string(), value)
                })
                .collect()
        })
        .collect()
}

#[test]
fn bench_syslog_udp_accounts_for_every_datagram_and_loses_none_at_a_low_rate() {
    let dir = tempdir();
    let args = [
        "bench",
        "syslog-udp",
        "--rates",
        "2000",
        "--seconds",
        "1",
        "--senders",
        "2",
    ];
    let (status, stdout, stderr) = finish("bench syslog-udp", lumberwatch(dir.path(), &args));
    let both = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(status.success(), "{status}\n{both}");
    let rows = table(&stdout);
    assert_eq!(rows.len(), 1, "one step, one row\n{both}");
    let row = &rows[0];
    let n = |name: &str| row[name] as u64;
    assert_eq!(n("rate/s"), 2000, "{both}");
    assert!(n("sent") > 0, "{both}");
    assert_eq!(
        n("sent"),
        n("k_rcvbuf") + n("k_backlog") + n("received"),
        "sent = dropped by the kernel + received\n{both}"
    );
    assert_eq!(
        n("received"),
        n("q_full") + n("rate_ltd") + n("queued"),
        "received = dropped by us + queued\n{both}"
    );
    assert_eq!(
        (n("queued"), n("acked"), n("lost")),
        (n("sent"), n("sent"), 0),
        "nothing lost at 2000 msgs/s\n{both}"
    );
    assert!(
        stdout.contains("conclusion: zero loss up to 2000 msgs/s"),
        "{both}"
    );
}
