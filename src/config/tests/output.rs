//! `output.logstash` (hosts, numbers, durations, backoff, ssl) and `output.console`.

use std::time::Duration;

use super::*;
use crate::config::{
    BackoffConfig, LogstashConfig, OutputConfig, SslConfig, TlsVersion, VerificationMode,
};

fn ls(lines: &str) -> LogstashConfig {
    logstash_of(&ok(&logstash(lines))).clone()
}

fn hosts(list: &str) -> Result<Vec<String>, String> {
    let text = format!("lumberwatch.inputs:\n  - type: stdin\noutput.logstash.hosts: {list}\n");
    try_env(&text, &[])
        .map(|c| logstash_of(&c).hosts.clone())
        .map_err(|e| e.to_string())
}

#[test]
fn logstash_defaults_are_filebeats() {
    let expected = LogstashConfig {
        hosts: vec!["localhost:5044".into()],
        ..LogstashConfig::default()
    };
    assert_eq!(logstash_of(&ok(MINIMAL)), &expected);
    assert_eq!(expected.bulk_max_size, 2048);
    assert_eq!(expected.timeout, Duration::from_secs(30));
}

#[test]
fn every_logstash_setting_is_read() {
    let got = ls(
        "loadbalance: true\nworker: 3\nbulk_max_size: 512\nslow_start: true\ncompression_level: 0\n\
                  timeout: 1m30s\nttl: 5m\npipelining: 0\nbackoff.init: 2s\nbackoff.max: 2m\nescape_html: true",
    );
    let expected = LogstashConfig {
        hosts: vec!["localhost:5044".into()],
        loadbalance: true,
        worker: 3,
        bulk_max_size: 512,
        slow_start: true,
        compression_level: 0,
        timeout: Duration::from_secs(90),
        ttl: Some(Duration::from_secs(300)),
        pipelining: 0,
        backoff: BackoffConfig {
            init: Duration::from_secs(2),
            max: Duration::from_secs(120),
        },
        escape_html: true,
        ssl: None,
    };
    assert_eq!(got, expected);
}

#[test]
fn hosts_without_a_port_get_5044() {
    assert_eq!(
        hosts("[ls1, \"ls2:6000\", 10.0.0.1, \"[::1]\", \"[fe80::1]:7000\"]").unwrap(),
        vec![
            "ls1:5044",
            "ls2:6000",
            "10.0.0.1:5044",
            "[::1]:5044",
            "[fe80::1]:7000"
        ]
    );
}

#[test]
fn a_single_host_string_is_a_list_of_one() {
    assert_eq!(hosts("ls1").unwrap(), vec!["ls1:5044"]);
}

#[test]
fn bad_hosts_are_rejected_with_the_line() {
    let cases = [
        (
            "[\"::1\"]",
            "\"::1\": put IPv6 addresses in brackets, e.g. \"[::1]:5044\"",
        ),
        (
            "[\"ls1:0\"]",
            "\"ls1:0\" has an invalid port \"0\" (expected 1 to 65535)",
        ),
        (
            "[\"ls1:70000\"]",
            "\"ls1:70000\" has an invalid port \"70000\" (expected 1 to 65535)",
        ),
        (
            "[\"ls1:\"]",
            "\"ls1:\" has an invalid port \"\" (expected 1 to 65535)",
        ),
        ("[\":5044\"]", "\":5044\" has no host name"),
        (
            "[\"tcp://ls1:5044\"]",
            "\"tcp://ls1:5044\" is a URL; give host:port, e.g. \"logstash.example.com:5044\"",
        ),
        (
            "[\"[::1\"]",
            "\"[::1\" has no closing ] for its IPv6 address",
        ),
        ("[\"\"]", "a host must not be empty"),
    ];
    for (list, message) in cases {
        assert_eq!(
            hosts(list).unwrap_err(),
            format!("config.yml:3: output.logstash.hosts: {message}"),
            "{list}"
        );
    }
}

#[test]
fn hosts_are_required() {
    let text = "lumberwatch.inputs:\n  - type: stdin\noutput.logstash:\n  worker: 1\n";
    assert_eq!(
        err(text),
        "config.yml:3: output.logstash.hosts: at least one host is required, e.g. hosts: [\"localhost:5044\"]"
    );
    assert_eq!(
        hosts("[]").unwrap_err(),
        "config.yml:3: output.logstash.hosts: at least one host is required, e.g. hosts: [\"localhost:5044\"]"
    );
}

#[test]
fn durations_take_go_syntax_and_bare_seconds() {
    assert_eq!(ls("timeout: 45").timeout, Duration::from_secs(45));
    assert_eq!(ls("timeout: 500ms").timeout, Duration::from_millis(500));
    assert_eq!(ls("timeout: 1h").timeout, Duration::from_secs(3600));
    assert_eq!(ls("ttl: 1m30s").ttl, Some(Duration::from_secs(90)));
}

#[test]
fn ttl_zero_means_never() {
    assert_eq!(ls("ttl: 0").ttl, None);
    assert_eq!(ls("ttl: 0s").ttl, None);
}

#[test]
fn bad_durations_are_rejected() {
    assert_eq!(
        err(&logstash("timeout: soon")),
        "config.yml:5: output.logstash.timeout: expected a duration like 30s, 1m30s or 500ms, got \"soon\""
    );
    assert_eq!(
        err(&logstash("timeout: -5s")),
        "config.yml:5: output.logstash.timeout: expected a duration like 30s, 1m30s or 500ms, got \"-5s\""
    );
    assert_eq!(
        err(&logstash("timeout: 0")),
        "config.yml:5: output.logstash.timeout: must be longer than 0s"
    );
}

#[test]
fn numeric_limits_are_filebeats() {
    assert_eq!(
        err(&logstash("compression_level: 10")),
        "config.yml:5: output.logstash.compression_level: expected an integer from 0 to 9, got 10"
    );
    assert_eq!(
        err(&logstash("worker: 0")),
        "config.yml:5: output.logstash.worker: expected a positive integer, got 0"
    );
    assert_eq!(
        err(&logstash("bulk_max_size: 0")),
        "config.yml:5: output.logstash.bulk_max_size: expected a positive integer, got 0"
    );
    assert_eq!(
        err(&logstash("pipelining: -1")),
        "config.yml:5: output.logstash.pipelining: expected a non-negative integer, got -1"
    );
    assert_eq!(ls("compression_level: 9").compression_level, 9);
}

#[test]
fn workers_is_an_alias_of_worker_but_not_both() {
    assert_eq!(ls("workers: 4").worker, 4);
    assert_eq!(
        err(&logstash("worker: 2\nworkers: 4")),
        "config.yml:6: output.logstash.workers: conflicts with output.logstash.worker on line 5; set only one of them"
    );
}

#[test]
fn backoff_init_must_not_exceed_max() {
    assert_eq!(
        err(&logstash("backoff.init: 2m\nbackoff.max: 1m")),
        "config.yml:5: output.logstash.backoff.init: backoff.init (2m) must not be greater than backoff.max (1m)"
    );
    assert_eq!(
        err(&logstash("backoff.max: 500ms")),
        "config.yml:5: output.logstash.backoff.max: backoff.init (1s) must not be greater than backoff.max (500ms)"
    );
    assert_eq!(
        err(&logstash("backoff.init: 0")),
        "config.yml:5: output.logstash.backoff.init: must be longer than 0s"
    );
}

#[test]
fn max_retries_is_accepted_because_filebeat_ignores_it_too() {
    assert_eq!(ls("max_retries: 3"), ls(""));
    assert_eq!(ls("max_retries: -1"), ls(""));
    assert_eq!(
        err(&logstash("max_retries: -2")),
        "config.yml:5: output.logstash.max_retries: expected an integer of -1 or more, got -2"
    );
}

#[test]
fn index_becomes_the_metadata_beat() {
    assert_eq!(ok(&logstash("index: filebeat")).metadata_beat, "filebeat");
    assert_eq!(
        ok(&format!(
            "{}lumberwatch.beat: filebeat\n",
            logstash("index: filebeat")
        ))
        .metadata_beat,
        "filebeat"
    );
    assert_eq!(
        err(&format!(
            "{}lumberwatch.beat: lw\n",
            logstash("index: filebeat")
        )),
        "config.yml:5: output.logstash.index: conflicts with lumberwatch.beat on line 6; set only one of them"
    );
}

#[test]
fn proxies_are_not_supported() {
    assert_eq!(
        err(&logstash("proxy_url: socks5://proxy:1080")),
        "config.yml:5: output.logstash.proxy_url: not supported by lumberwatch (SOCKS5 proxies are not implemented)"
    );
    assert_eq!(
        err(&logstash("queue.mem.events: 10")),
        "config.yml:5: output.logstash.queue: not supported yet"
    );
}

#[test]
fn an_ssl_section_turns_tls_on_with_defaults() {
    assert_eq!(ls("ssl: {}").ssl, Some(SslConfig::default()));
    assert_eq!(
        ls("ssl.verification_mode: full").ssl,
        Some(SslConfig::default())
    );
    assert_eq!(ls("ssl.enabled: true").ssl, Some(SslConfig::default()));
}

#[test]
fn ssl_disabled_or_null_means_plain_tcp() {
    assert_eq!(
        ls("ssl.enabled: false\nssl.certificate_authorities: [ca.crt]").ssl,
        None
    );
    assert_eq!(ls("ssl:").ssl, None);
    assert_eq!(ls("").ssl, None);
}

#[test]
fn every_ssl_setting_is_read() {
    let fp = "63:75:b1:a9:49:e9:c5:68:47:3e:1c:1f:83:03:c1:63:38:e9:4f:0c:5f:0b:9b:b8:ef:fb:32:6d:9a:13:e4:e4";
    let got = ls(&format!(
        "ssl:\n  certificate_authorities: [certs/ca.crt, \"-----BEGIN CERTIFICATE-----\"]\n  certificate: certs/client.crt\n  \
         key: certs/client.key\n  verification_mode: certificate\n  supported_protocols: [TLSv1.3]\n  \
         ca_trusted_fingerprint: \"{fp}\"\n  renegotiation: never"
    ));
    let expected = SslConfig {
        certificate_authorities: vec!["certs/ca.crt".into(), "-----BEGIN CERTIFICATE-----".into()],
        certificate: Some("certs/client.crt".into()),
        key: Some("certs/client.key".into()),
        verification_mode: VerificationMode::Certificate,
        supported_protocols: vec![TlsVersion::V1_3],
        ca_trusted_fingerprint: Some(fp.into()),
    };
    assert_eq!(got.ssl, Some(expected));
}

#[test]
fn verification_modes() {
    for (text, mode) in [
        ("full", VerificationMode::Full),
        ("strict", VerificationMode::Strict),
        ("certificate", VerificationMode::Certificate),
        ("none", VerificationMode::None),
    ] {
        let ssl = ls(&format!("ssl.verification_mode: {text}"))
            .ssl
            .expect("ssl is on");
        assert_eq!(ssl.verification_mode, mode);
    }
    assert_eq!(
        err(&logstash("ssl.verification_mode: relaxed")),
        "config.yml:5: output.logstash.ssl.verification_mode: expected one of full, strict, certificate, none, got \"relaxed\""
    );
}

#[test]
fn only_tls_12_and_13_are_supported() {
    assert_eq!(
        err(&logstash("ssl.supported_protocols: [TLSv1.1, TLSv1.2]")),
        "config.yml:5: output.logstash.ssl.supported_protocols: TLSv1.1 is not supported; only TLSv1.2 and TLSv1.3 are supported"
    );
    assert_eq!(
        err(&logstash(
            "ssl.supported_protocols:\n  - TLSv1.2\n  - TLS1.3"
        )),
        "config.yml:7: output.logstash.ssl.supported_protocols: expected TLSv1.2 or TLSv1.3, got \"TLS1.3\""
    );
    let ssl = ls("ssl.supported_protocols: [TLSv1.3, TLSv1.2, TLSv1.3]")
        .ssl
        .expect("ssl is on");
    assert_eq!(
        ssl.supported_protocols,
        vec![TlsVersion::V1_3, TlsVersion::V1_2]
    );
}

#[test]
fn a_client_certificate_needs_its_key_and_back() {
    assert_eq!(
        err(&logstash("ssl.certificate: c.crt")),
        "config.yml:5: output.logstash.ssl.certificate: ssl.certificate needs ssl.key (the client certificate's private key)"
    );
    assert_eq!(
        err(&logstash("ssl.key: c.key")),
        "config.yml:5: output.logstash.ssl.key: ssl.key needs ssl.certificate (the client certificate)"
    );
}

#[test]
fn fingerprints_must_be_sha256_hex() {
    assert_eq!(
        err(&logstash("ssl.ca_trusted_fingerprint: abcd")),
        "config.yml:5: output.logstash.ssl.ca_trusted_fingerprint: expected a hex SHA-256 fingerprint (64 hex digits, colons allowed), got \"abcd\""
    );
}

#[test]
fn filebeat_ssl_keys_we_cannot_honour_are_errors() {
    let cases = [
        (
            "key_passphrase: x",
            "key_passphrase: not supported by lumberwatch (decrypt the key first, e.g. openssl pkey -in key.pem -out plain-key.pem)",
        ),
        (
            "cipher_suites: [x]",
            "cipher_suites: not supported by lumberwatch (rustls only offers its own safe suites)",
        ),
        (
            "curve_types: [P-256]",
            "curve_types: not supported by lumberwatch (rustls only offers its own safe key exchange groups)",
        ),
        (
            "ca_sha256: x",
            "ca_sha256: not supported by lumberwatch (pin the CA with ssl.ca_trusted_fingerprint or ssl.certificate_authorities)",
        ),
        (
            "renegotiation: freely",
            "renegotiation: not supported by lumberwatch (rustls never renegotiates; only `never` is accepted)",
        ),
    ];
    for (line, message) in cases {
        assert_eq!(
            err(&logstash(&format!("ssl.{line}"))),
            format!("config.yml:5: output.logstash.ssl.{message}")
        );
    }
}

#[test]
fn console_output() {
    let text = "lumberwatch.inputs:\n  - type: stdin\noutput.console:\n  pretty: true\n";
    assert_eq!(ok(text).output, OutputConfig::Console { pretty: true });
    let text = "lumberwatch.inputs:\n  - type: stdin\noutput.console: {}\n";
    assert_eq!(ok(text).output, OutputConfig::Console { pretty: false });
    let text = "lumberwatch.inputs:\n  - type: stdin\noutput.console.codec.json.pretty: true\n";
    assert_eq!(
        err(text),
        "config.yml:3: output.console.codec: not supported yet"
    );
}

#[test]
fn exactly_one_output() {
    let text = format!("{MINIMAL}output.console.pretty: true\n");
    assert_eq!(
        err(&text),
        "config.yml:4: output.console: conflicts with output.logstash on line 3; set only one of them"
    );
    let text = "lumberwatch.inputs:\n  - type: stdin\n";
    assert_eq!(
        err(text),
        "config.yml: output: no output configured; set output.logstash or output.console"
    );
    let text =
        "lumberwatch.inputs:\n  - type: stdin\noutput.logstash:\n  enabled: false\n  hosts: [a]\n";
    assert_eq!(
        err(text),
        "config.yml:3: output: no output configured; set output.logstash or output.console"
    );
}

#[test]
fn other_filebeat_outputs_are_rejected_unless_disabled() {
    let text = "lumberwatch.inputs:\n  - type: stdin\noutput.elasticsearch:\n  hosts: [\"http://es:9200\"]\n";
    assert_eq!(
        err(text),
        "config.yml:3: output.elasticsearch: only output.logstash and output.console are supported"
    );
    let text = format!(
        "{MINIMAL}output.kafka.enabled: false\noutput.elasticsearch:\n  enabled: false\n  hosts: [es]\n"
    );
    assert_eq!(logstash_of(&ok(&text)).hosts, vec!["localhost:5044"]);
}

#[test]
fn unknown_outputs_get_a_suggestion() {
    let text = "lumberwatch.inputs:\n  - type: stdin\noutput.logstach.hosts: [a]\n";
    assert_eq!(
        err(text),
        "config.yml:3: output.logstach: unknown key (did you mean logstash?)"
    );
}
