//! `test output`: Filebeat's steps against live, refusing and absent receivers.

use super::*;

fn test_output(dir: &Path, host: &str, ssl: &str) -> (ExitStatus, String, String) {
    let config = write_config(
        dir,
        &format!(
            "lumberwatch.inputs:\n  - type: stdin\n{}",
            logstash_output(host, ssl)
        ),
    );
    let path = config.display().to_string();
    finish(
        "test output",
        lumberwatch(dir, &["test", "output", "-c", &path]),
    )
}

fn assert_in_order(stdout: &str, steps: &[&str]) {
    let mut rest = stdout;
    for step in steps {
        let at = rest
            .find(step)
            .unwrap_or_else(|| panic!("{step:?} (in this order) missing from:\n{stdout}"));
        rest = &rest[at + step.len()..];
    }
}

#[test]
fn test_output_walks_filebeats_steps_against_a_live_receiver() {
    let dir = tempdir();
    let receiver = ReceiverProc::local(dir.path());
    let host = receiver.addr.to_string();
    let (status, stdout, stderr) = test_output(dir.path(), &host, "");
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    assert_in_order(
        &stdout,
        &[
            &format!("logstash: {host}..."),
            "connection...",
            "parse host... OK",
            &format!("address: {host}"),
            "dial up... OK",
            "TLS... WARN secure connection disabled",
            "talk to server... OK",
        ],
    );
    assert!(!stdout.contains("ERROR"), "{stdout}");
}

#[test]
fn test_output_reports_the_tls_handshake_against_a_tls_receiver() {
    let dir = tempdir();
    let receiver = ReceiverProc::start(
        dir.path(),
        "127.0.0.1:0",
        &dir.path().join("events.jsonl"),
        &server_tls("server"),
    );
    let host = format!("localhost:{}", receiver.port());
    let (status, stdout, stderr) = test_output(dir.path(), &host, &client_ssl(false));
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    assert_in_order(
        &stdout,
        &[
            &format!("logstash: {host}..."),
            "dial up... OK",
            "TLS...",
            "security: server's certificate chain and host name verification is enabled",
            "handshake... OK",
            "TLS version and cipher: TLSv1.",
            "talk to server... OK",
        ],
    );
}

/// `test output` against a TLS receiver serving `server_cert`: one ERROR line that says
/// why, and a failure exit.
fn refused_by_test_output(server_cert: &str, reason: &[&str]) {
    let dir = tempdir();
    let receiver = ReceiverProc::start(
        dir.path(),
        "127.0.0.1:0",
        &dir.path().join("events.jsonl"),
        &server_tls(server_cert),
    );
    let host = format!("localhost:{}", receiver.port());
    let (status, stdout, stderr) = test_output(dir.path(), &host, &client_ssl(false));
    let both = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_failed(status, &both);
    assert!(
        !stdout.contains("talk to server... OK"),
        "never talks over a refused certificate\n{both}"
    );
    let error = stdout
        .lines()
        .find(|l| l.contains("ERROR"))
        .unwrap_or_else(|| panic!("no ERROR line\n{both}"));
    // "UnknownIssuer" and "unknown issuer" are both fine.
    let squashed = error.to_lowercase().replace([' ', '_'], "");
    assert!(
        reason.iter().any(|r| squashed.contains(r)),
        "{error:?} says why (one of {reason:?})"
    );
    assert_eq!(receiver.stop().0.len(), 0, "no event reached the server");
}

#[test]
fn test_output_fails_with_unknown_issuer_for_a_server_certificate_from_another_ca() {
    refused_by_test_output("other-server", &["unknownissuer"]);
}

#[test]
fn test_output_fails_with_expired_for_an_expired_server_certificate() {
    refused_by_test_output("expired-server", &["expired"]);
}

#[test]
fn test_output_fails_without_a_client_certificate_against_mutual_tls() {
    let dir = tempdir();
    let mut extra = server_tls("server");
    extra.extend(["--ca".to_string(), cert("ca.crt")]);
    let receiver = ReceiverProc::start(
        dir.path(),
        "127.0.0.1:0",
        &dir.path().join("events.jsonl"),
        &extra,
    );
    let host = format!("localhost:{}", receiver.port());
    let (status, stdout, stderr) = test_output(dir.path(), &host, &client_ssl(false));
    let both = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_failed(status, &both);
    assert!(stdout.contains("... ERROR"), "{both}");
    assert!(!stdout.contains("talk to server... OK"), "{both}");
}

#[test]
fn test_output_against_a_closed_port_fails_at_dial_up() {
    let dir = tempdir();
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
        l.local_addr().expect("local addr").port()
    };
    let host = format!("127.0.0.1:{port}");
    let (status, stdout, stderr) = test_output(dir.path(), &host, "");
    let both = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_failed(status, &both);
    assert!(
        stdout.lines().any(|l| l.contains("dial up... ERROR")),
        "{both}"
    );
    assert!(stdout.contains(&host), "names the host\n{both}");
}
