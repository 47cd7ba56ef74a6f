//! `type: syslog`: Filebeat's `protocol.udp` / `protocol.tcp` settings, our additions
//! (both protocols, lists of hosts, `rate_limit`), and one-line errors.

use std::time::Duration;

use jiff::tz::{Offset, TimeZone};

use super::*;
use crate::config::{InputKind, RateLimitConfig, SyslogConfig, SyslogTcpConfig, SyslogUdpConfig};
use crate::input::syslog::{Format, Framing};
use crate::tls::{ClientAuth, ServerTls};

/// One syslog input whose settings are `body` (indented 4, under `- type: syslog`).
fn syslog_input(body: &str) -> String {
    let body: String = body.lines().map(|l| format!("    {l}\n")).collect();
    format!("lumberwatch.inputs:\n  - type: syslog\n{body}output.logstash.hosts: [a]\n")
}

fn syslog_of(text: &str) -> SyslogConfig {
    match &ok(text).inputs[0].kind {
        InputKind::Syslog(s) => s.clone(),
        other => panic!("not a syslog input: {other:?}"),
    }
}

#[test]
fn udp_alone_takes_filebeats_defaults() {
    let s = syslog_of(&syslog_input("protocol.udp.host: \"0.0.0.0:514\""));
    assert_eq!(s.format, Format::Rfc3164);
    assert_eq!(s.timezone, TimeZone::system());
    assert_eq!(
        s.udp,
        Some(SyslogUdpConfig {
            hosts: vec!["0.0.0.0:514".into()],
            max_message_size: 10 << 10,
            read_buffer: None,
        })
    );
    assert_eq!((s.tcp, s.rate_limit), (None, None));
}

#[test]
fn tcp_and_udp_on_several_ports_with_tls_and_a_rate_limit() {
    let text = syslog_input(
        "id: proxies\nformat: auto\ntimezone: \"+02:00\"\ntags: [proxy]\nparser: websense\n\
         protocol:\n  udp:\n    host: [\"0.0.0.0:514\", \":3000\"]\n    max_message_size: 64KiB\n    read_buffer: 8MiB\n\
         \x20 tcp:\n    host: [\"[::]:514\", \"127.0.0.1:0\"]\n    framing: rfc6587\n    line_delimiter: \"\\r\\n\"\n\
         \x20   max_connections: 50\n    timeout: 60s\n    max_message_size: 1MiB\n\
         \x20   ssl:\n      certificate: certs/server.crt\n      key: certs/server.key\n      certificate_authorities: certs/ca.crt\n\
         rate_limit: {events_per_sec: 100, burst: 500}",
    );
    let config = ok(&text);
    assert_eq!(config.inputs[0].common.id.as_deref(), Some("proxies"));
    assert_eq!(config.inputs[0].common.tags, vec!["proxy"]);
    assert!(config.inputs[0].common.parser.is_some());
    let s = syslog_of(&text);
    assert_eq!(s.format, Format::Auto);
    assert_eq!(s.timezone, TimeZone::fixed(Offset::constant(2)));
    assert_eq!(
        s.udp,
        Some(SyslogUdpConfig {
            hosts: vec!["0.0.0.0:514".into(), "0.0.0.0:3000".into()],
            max_message_size: 64 << 10,
            read_buffer: Some(8 << 20),
        })
    );
    assert_eq!(
        s.tcp,
        Some(SyslogTcpConfig {
            hosts: vec!["[::]:514".into(), "127.0.0.1:0".into()],
            max_message_size: 1 << 20,
            max_connections: Some(50),
            timeout: Duration::from_secs(60),
            framing: Framing::Rfc6587,
            line_delimiter: "\r\n".into(),
            ssl: Some(ServerTls {
                cert: "certs/server.crt".into(),
                key: "certs/server.key".into(),
                client_ca: Some("certs/ca.crt".into()),
                client_auth: ClientAuth::Required,
            }),
        })
    );
    assert_eq!(
        s.rate_limit,
        Some(RateLimitConfig {
            events_per_sec: 100,
            burst: 500
        })
    );
}

#[test]
fn tcp_defaults_are_filebeats() {
    let s = syslog_of(&syslog_input("protocol.tcp.host: \"localhost:514\""));
    let tcp = s.tcp.expect("tcp");
    assert_eq!(tcp.max_message_size, 20 << 20);
    assert_eq!(tcp.timeout, Duration::from_secs(300));
    assert_eq!(
        (tcp.framing, tcp.line_delimiter.as_str()),
        (Framing::Delimiter, "\n")
    );
    assert_eq!((tcp.max_connections, tcp.ssl), (None, None));
}

#[test]
fn timezones_are_local_utc_offsets_or_iana_names() {
    let tz = |name: &str| {
        syslog_of(&syslog_input(&format!(
            "timezone: \"{name}\"\nprotocol.udp.host: \":514\""
        )))
        .timezone
    };
    assert_eq!(tz("Local"), TimeZone::system());
    assert_eq!(tz("UTC"), TimeZone::UTC);
    assert_eq!(
        tz("-0530"),
        TimeZone::fixed(Offset::from_seconds(-19800).unwrap())
    );
    assert_eq!(tz("Europe/Paris"), TimeZone::get("Europe/Paris").unwrap());
}

#[test]
fn ssl_client_authentication_follows_filebeat() {
    let tls = |ssl: &str| {
        let text = syslog_input(&format!(
            "protocol.tcp:\n  host: \":6514\"\n  ssl:\n    certificate: c.pem\n    key: k.pem\n{ssl}"
        ));
        syslog_of(&text).tcp.and_then(|t| t.ssl)
    };
    assert_eq!(tls("").map(|s| s.client_auth), Some(ClientAuth::None));
    let optional =
        tls("    certificate_authorities: [ca.pem]\n    client_authentication: optional\n");
    assert_eq!(optional.map(|s| s.client_auth), Some(ClientAuth::Optional));
    assert_eq!(tls("    enabled: false\n"), None);
}

#[test]
fn syslog_errors_name_the_line_and_key() {
    let cases = [
        (
            "protocol: {}",
            "config.yml:3: lumberwatch.inputs.0.protocol: required; set protocol.udp.host or protocol.tcp.host (or both), e.g. protocol.udp.host: \"0.0.0.0:514\"",
        ),
        (
            "protocol.udp.host: \"0.0.0.0\"",
            "config.yml:3: lumberwatch.inputs.0.protocol.udp.host: \"0.0.0.0\" has no port; give host:port, e.g. \"0.0.0.0:514\"",
        ),
        (
            "protocol.tcp.host: \"::1:514\"",
            "config.yml:3: lumberwatch.inputs.0.protocol.tcp.host: \"::1:514\": put IPv6 addresses in brackets, e.g. \"[::]:514\"",
        ),
        (
            "protocol.udp:\n  max_message_size: 1KiB",
            "config.yml:3: lumberwatch.inputs.0.protocol.udp.host: required; the address to listen on, e.g. \"0.0.0.0:514\"",
        ),
        (
            "protocol.udp:\n  host: \":514\"\n  max_message_size: lots",
            "config.yml:5: lumberwatch.inputs.0.protocol.udp.max_message_size: expected a positive size in bytes, like 10240, 10KiB or 20MiB, got \"lots\"",
        ),
        (
            "protocol.udp:\n  host: \":514\"\n  timeout: 5m",
            "config.yml:5: lumberwatch.inputs.0.protocol.udp.timeout: not supported by lumberwatch (a UDP listener has no connection to time out)",
        ),
        (
            "protocol.unix.path: /run/syslog.sock",
            "config.yml:3: lumberwatch.inputs.0.protocol.unix: not supported yet",
        ),
        (
            "protocol.tcp:\n  host: \":514\"\n  framing: octets",
            "config.yml:5: lumberwatch.inputs.0.protocol.tcp.framing: expected one of delimiter, rfc6587, got \"octets\"",
        ),
        (
            "protocol.tcp:\n  host: \":514\"\n  line_delimiter: \"\"",
            "config.yml:5: lumberwatch.inputs.0.protocol.tcp.line_delimiter: must not be empty",
        ),
        (
            "format: cef\nprotocol.udp.host: \":514\"",
            "config.yml:3: lumberwatch.inputs.0.format: expected one of rfc3164, rfc5424, auto, got \"cef\"",
        ),
        (
            "timezone: Mars/Olympus\nprotocol.udp.host: \":514\"",
            "config.yml:3: lumberwatch.inputs.0.timezone: unknown time zone \"Mars/Olympus\"; use Local, an IANA name such as Europe/Paris, or an offset such as +0200",
        ),
        (
            "protocol.tcp:\n  host: \":514\"\n  ssl:\n    certificate: c.pem",
            "config.yml:5: lumberwatch.inputs.0.protocol.tcp.ssl.key: required; the server certificate's private key (PEM file or inline PEM)",
        ),
        (
            "protocol.tcp:\n  host: \":514\"\n  ssl:\n    certificate: c.pem\n    key: k.pem\n    client_authentication: required",
            "config.yml:8: lumberwatch.inputs.0.protocol.tcp.ssl.client_authentication: needs ssl.certificate_authorities (the CA of the client certificates)",
        ),
        (
            "protocol.udp.host: \":514\"\nrate_limit:\n  burst: 10",
            "config.yml:4: lumberwatch.inputs.0.rate_limit.events_per_sec: required; the messages per second allowed from each peer IP",
        ),
        (
            "protocol.udp.host: \":514\"\nrate_limit.events_per_sec: 0",
            "config.yml:4: lumberwatch.inputs.0.rate_limit.events_per_sec: expected a positive integer, got 0",
        ),
    ];
    for (body, want) in cases {
        assert_eq!(err(&syslog_input(body)), want, "--- body ---\n{body}");
    }
}

#[test]
fn syslog_example_listens_on_514_and_3000_and_6514_over_tls() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/syslog.yml");
    let text = std::fs::read_to_string(&path).expect("config/syslog.yml");
    let config = parse_with_env(&text, "syslog.yml", &no_env).unwrap_or_else(|e| panic!("{e}"));
    let syslog: Vec<&SyslogConfig> = config
        .inputs
        .iter()
        .filter_map(|i| match &i.kind {
            InputKind::Syslog(s) => Some(s),
            _ => None,
        })
        .collect();
    let [proxies, tls] = syslog[..] else {
        panic!("two syslog inputs: {syslog:?}");
    };
    let ports = ["0.0.0.0:514", "0.0.0.0:3000"].map(String::from).to_vec();
    assert_eq!(proxies.udp.as_ref().map(|u| &u.hosts), Some(&ports));
    assert_eq!(
        proxies.tcp.as_ref().map(|t| (&t.hosts, t.framing)),
        Some((&ports, Framing::Rfc6587))
    );
    assert!(proxies.rate_limit.is_some());
    let ssl = tls.tcp.as_ref().and_then(|t| t.ssl.as_ref()).expect("tls");
    assert_eq!(ssl.client_auth, ClientAuth::Required);
}
