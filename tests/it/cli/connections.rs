//! Connection logs through the real binary: flow-log files tailed with a `parser`,
//! one event per record at the receiver, failures tagged, offsets that cover lines of
//! several records only once all of them are acked, and the per-source statistics
//! saved under `path.data` and shown by `lumberwatch stats`.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;

use super::*;

const VPC: &str = "\
version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status
2 123456789010 eni-1235b8ca123456789 10.10.10.1 192.168.1.1 51000 514 6 10 4000 1772323200 1772323260 ACCEPT OK
2 123456789010 eni-1235b8ca123456789 10.10.10.2 192.168.1.1 51001 3000 17 5 1500 1772323200 1772323260 REJECT OK
2 123456789010 eni-1235b8ca123456789 - - - - - - - 1772323200 1772323260 - NODATA
2 123456789010 eni-1235b8ca123456789 10.10.10.1 192.168.1.1 51002 514 6 1 lots 1772323200 1772323260 ACCEPT OK
";

/// An NSG v2 record line with these flow tuples, as Azure writes PT1H.json.
fn nsg_line(first: bool, rule: &str, tuples: &[&str]) -> String {
    let tuples: Vec<String> = tuples.iter().map(|t| format!("\"{t}\"")).collect();
    format!(
        "{}{{\"time\":\"2026-03-01T00:05:00.000Z\",\"systemId\":\"s\",\"macAddress\":\"000D3AF87856\",\
         \"category\":\"NetworkSecurityGroupFlowEvent\",\"resourceId\":\"/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/\
         MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG1\",\"operationName\":\"NetworkSecurityGroupFlowEvents\",\
         \"properties\":{{\"Version\":2,\"flows\":[{{\"rule\":\"{rule}\",\"flows\":[{{\"mac\":\"000D3AF87856\",\
         \"flowTuples\":[{}]}}]}}]}}}}",
        if first { "{\"records\":[" } else { "," },
        tuples.join(",")
    )
}

fn connections_config(dir: &Path, addr: SocketAddr) -> PathBuf {
    write_config(
        dir,
        &format!(
            "lumberwatch.inputs:\n\
             \x20 - type: filestream\n    id: vpc\n    paths: [\"{d}/vpc/*.log\"]\n    parser: aws-vpc\n\
             \x20   prospector.scanner.check_interval: 100ms\n\
             \x20 - type: filestream\n    id: nsg\n    paths: [\"{d}/nsg/*.json\"]\n    parser: azure-nsg\n\
             \x20   prospector.scanner.check_interval: 100ms\n\
             lumberwatch.stats.keys: [source.ip, destination.port]\n\
             lumberwatch.stats.flush: 200ms\n\
             filebeat.registry.flush: 0s\n\
             path.data: \"{d}/data\"\n{}{QUIET}",
            logstash_output(&addr.to_string(), ""),
            d = dir.display()
        ),
    )
}

fn by_message<'a>(events: &'a [Value], message: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["message"] == message)
        .unwrap_or_else(|| panic!("no event with message {message:?} in {events:#?}"))
}

fn start_run(dir: &Path, config: &Path) -> Proc {
    let path = config.display().to_string();
    Proc::spawn(
        "run",
        lumberwatch(dir, &["run", "-c", &path]),
        Stdio::null(),
    )
}

fn stop_run(mut run: Proc) {
    run.signal(libc::SIGTERM);
    let status = run.wait(Duration::from_secs(15));
    assert!(status.success(), "clean stop: {status}\n{}", run.describe());
}

#[test]
fn flow_logs_become_one_event_per_record_counted_per_source_and_resume_exactly() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::create_dir_all(d.join("vpc")).unwrap();
    std::fs::create_dir_all(d.join("nsg")).unwrap();
    std::fs::write(d.join("vpc/flows.log"), VPC).unwrap();
    let nsg = format!(
        "{}\n{}\n",
        nsg_line(
            true,
            "UserRule_AllowSyslog",
            &[
                "1772323200,10.10.10.3,10.0.0.4,40000,514,T,I,A,B,,,,",
                "1772323260,10.10.10.3,10.0.0.4,40000,514,T,I,A,E,3,300,2,200",
            ],
        ),
        nsg_line(
            false,
            "DefaultRule_DenyAllInBound",
            &["1772323300,192.168.1.2,10.0.0.4,40001,3000,U,I,D,B,,,,"]
        ),
    );
    std::fs::write(d.join("nsg/PT1H.json"), &nsg).unwrap();
    let mut receiver = ReceiverProc::local(d);
    let config = connections_config(d, receiver.addr);
    let run = start_run(d, &config);

    // vpc: header (not shipped), 2 records, NODATA (plain), 1 failure; nsg: 3 tuples.
    let events = receiver.wait_for_events(7, COMMAND_LIMIT);
    let accept = by_message(&events, VPC.lines().nth(1).unwrap());
    assert_eq!(accept["source"]["ip"], "10.10.10.1");
    assert_eq!(accept["destination"]["port"], 514);
    assert_eq!(accept["network"]["transport"], "tcp");
    assert_eq!(accept["network"]["bytes"], 4000);
    assert_eq!(accept["event"]["action"], "allow");
    assert_eq!(accept["@timestamp"], "2026-03-01T00:00:00.000Z");
    assert_eq!(accept["input"]["type"], "filestream");
    let reject = by_message(&events, VPC.lines().nth(2).unwrap());
    assert_eq!(reject["event"]["action"], "deny");
    assert_eq!(reject["network"]["transport"], "udp");
    let nodata = by_message(&events, VPC.lines().nth(3).unwrap());
    assert!(
        nodata.get("source").is_none() && nodata.get("tags").is_none(),
        "{nodata}"
    );
    let broken = by_message(&events, VPC.lines().nth(4).unwrap());
    assert_eq!(
        broken["tags"],
        serde_json::json!(["lumberwatch_parse_failure"])
    );
    assert!(
        broken["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("aws-vpc: "),
        "{broken}"
    );
    let end = by_message(
        &events,
        "1772323260,10.10.10.3,10.0.0.4,40000,514,T,I,A,E,3,300,2,200",
    );
    assert_eq!(end["network"]["bytes"], 500);
    assert_eq!(end["source"]["bytes"], 300);
    assert_eq!(end["rule"]["name"], "UserRule_AllowSyslog");
    assert_eq!(end["network"]["direction"], "ingress");
    let denied = by_message(
        &events,
        "1772323300,192.168.1.2,10.0.0.4,40001,3000,U,I,D,B,,,,",
    );
    assert_eq!(denied["event"]["action"], "deny");
    assert!(
        events
            .iter()
            .all(|e| !e["message"].as_str().unwrap().starts_with("version ")),
        "the header line configures the parser and is not shipped"
    );
    stop_run(run);
    assert_eq!(
        receiver.events_so_far().len(),
        7,
        "nothing more than the records"
    );

    // Offsets: both files acked to their ends; the statistics saved, private.
    let registry: Value =
        serde_json::from_slice(&std::fs::read(d.join("data/registry/filestream.json")).unwrap())
            .unwrap();
    let mut offsets: Vec<u64> = registry["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["offset"].as_u64().unwrap())
        .collect();
    offsets.sort_unstable();
    let mut sizes = vec![VPC.len() as u64, nsg.len() as u64];
    sizes.sort_unstable();
    assert_eq!(offsets, sizes, "{registry}");
    let stats_file = d.join("data/registry/stats.json");
    let mode = std::fs::metadata(&stats_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let path = config.display().to_string();
    let (status, out, err) = finish("stats", lumberwatch(d, &["stats", "-c", &path]));
    assert!(status.success(), "{err}");
    let row = |ip: &str| row_of(&out, ip);
    // The records are from March: outside the last hour, in the totals.
    assert_eq!(row("10.10.10.1").last(), Some(&"4000".to_string()), "{out}");
    assert_eq!(row("10.10.10.2").last(), Some(&"1500".to_string()), "{out}");
    assert_eq!(row("10.10.10.3").last(), Some(&"500".to_string()), "{out}");
    assert_eq!(
        row("10.10.10.3")[1],
        "2026-03-01T00:01:00Z",
        "last seen: {out}"
    );
    assert!(out.contains("4 keys, 0 evicted"), "{out}");
    let (status, out, _) = finish(
        "stats",
        lumberwatch(d, &["stats", "-c", &path, "--key", "destination.port"]),
    );
    assert!(status.success());
    assert_eq!(
        out.lines().filter(|l| l.starts_with("514 ")).count(),
        1,
        "{out}"
    );
    let (status, _, err) = finish(
        "stats",
        lumberwatch(d, &["stats", "-c", &path, "--key", "user.name"]),
    );
    assert!(!status.success());
    assert!(
        err.contains("no statistics kept by \"user.name\" (kept: source.ip, destination.port)"),
        "{err}"
    );

    // A restart reads only what is new: one more NSG record of two tuples.
    let run = start_run(d, &config);
    let more = nsg_line(
        false,
        "UserRule_AllowSyslog",
        &[
            "1772323400,10.10.10.1,10.0.0.4,40002,514,T,I,A,B,,,,",
            "1772323460,10.10.10.1,10.0.0.4,40002,514,T,I,A,E,1,100,1,50",
        ],
    );
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(d.join("nsg/PT1H.json"))
        .unwrap();
    writeln!(f, "{more}").unwrap();
    receiver.wait_for_events(9, COMMAND_LIMIT);
    stop_run(run);
    let (events, _) = receiver.stop();
    assert_eq!(
        events.len(),
        9,
        "only the new record's two tuples after the restart"
    );
    let (_, out, _) = finish("stats", lumberwatch(d, &["stats", "-c", &path]));
    assert_eq!(
        row_of(&out, "10.10.10.1").last(),
        Some(&"4150".to_string()),
        "restored and added to: {out}"
    );
}

fn row_of(out: &str, ip: &str) -> Vec<String> {
    out.lines()
        .find(|l| l.starts_with(&format!("{ip} ")))
        .unwrap_or_else(|| panic!("no row for {ip}:\n{out}"))
        .split_whitespace()
        .map(str::to_string)
        .collect()
}
