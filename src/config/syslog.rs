//! `type: syslog` with Filebeat's names (`format`, `timezone`, `protocol.udp.*`,
//! `protocol.tcp.*` with `framing`, `line_delimiter`, `max_connections`, `timeout`,
//! `ssl.*`), validated into [`SyslogConfig`]. Beyond Filebeat: one input may have both a
//! UDP and a TCP listener, `host` may be a list of addresses, and `rate_limit` bounds
//! each peer's messages.

use std::time::Duration;

use jiff::tz::{Offset, TimeZone};

use super::section::{PIPELINE_NOT_YET, Schema, Section, to_string, wrong_type};
use super::values::parse_byte_size;
use super::{
    ConfigError, Problem, RateLimitConfig, SyslogConfig, SyslogTcpConfig, SyslogUdpConfig,
};
use crate::input::syslog::{Format, Framing};
use crate::tls::{ClientAuth, ServerTls};

pub(super) const SYSLOG: Schema = Schema {
    keys: &[
        "type",
        "id",
        "enabled",
        "tags",
        "fields",
        "fields_under_root",
        "parser",
        "format",
        "timezone",
        "protocol",
        "rate_limit",
    ],
    not_supported: &[],
    not_yet: PIPELINE_NOT_YET,
};

const PROTOCOL: Schema = Schema {
    keys: &["udp", "tcp"],
    not_supported: &[],
    not_yet: &["unix"],
};

const UDP: Schema = Schema {
    keys: &["host", "max_message_size", "read_buffer"],
    not_supported: &[(
        "timeout",
        Some("a UDP listener has no connection to time out"),
    )],
    not_yet: &["network"],
};

const TCP: Schema = Schema {
    keys: &[
        "host",
        "max_message_size",
        "max_connections",
        "timeout",
        "framing",
        "line_delimiter",
        "ssl",
    ],
    not_supported: &[],
    not_yet: &["network"],
};

const SSL: Schema = Schema {
    keys: &[
        "enabled",
        "certificate",
        "key",
        "certificate_authorities",
        "client_authentication",
    ],
    not_supported: &[],
    not_yet: &[
        "verification_mode",
        "supported_protocols",
        "cipher_suites",
        "curve_types",
        "key_passphrase",
        "renegotiation",
        "ca_trusted_fingerprint",
    ],
};

const RATE_LIMIT: Schema = Schema {
    keys: &["events_per_sec", "burst"],
    not_supported: &[],
    not_yet: &[],
};

/// Filebeat's defaults: 10 KiB per UDP datagram, 20 MiB per TCP message, 300 s idle.
const UDP_MAX_MESSAGE_SIZE: usize = 10 << 10;
const TCP_MAX_MESSAGE_SIZE: usize = 20 << 20;
const TCP_TIMEOUT: Duration = Duration::from_secs(300);

pub(super) fn syslog(s: &Section<'_>) -> Result<SyslogConfig, ConfigError> {
    let format = match choice(s, "format", &["rfc3164", "rfc5424", "auto"])?.as_deref() {
        Some("rfc5424") => Format::Rfc5424,
        Some("auto") => Format::Auto,
        _ => Format::Rfc3164,
    };
    let timezone = match s.string("timezone")? {
        None => TimeZone::system(),
        Some(name) => timezone(&name).ok_or_else(|| {
            let msg = format!(
                "unknown time zone {name:?}; use Local, an IANA name such as Europe/Paris, or an offset such as +0200"
            );
            s.error(s.line_of("timezone"), "timezone", Problem::Invalid(msg))
        })?,
    };
    let protocol = s.child("protocol", &PROTOCOL)?;
    let udp = match protocol.entry("udp") {
        Some(_) => Some(udp(&protocol.child("udp", &UDP)?)?),
        None => None,
    };
    let tcp = match protocol.entry("tcp") {
        Some(_) => Some(tcp(&protocol.child("tcp", &TCP)?)?),
        None => None,
    };
    if udp.is_none() && tcp.is_none() {
        let msg = "required; set protocol.udp.host or protocol.tcp.host (or both), e.g. protocol.udp.host: \"0.0.0.0:514\"";
        return Err(s.error(
            s.line_of("protocol").or(s.line()),
            "protocol",
            Problem::Invalid(msg.into()),
        ));
    }
    Ok(SyslogConfig {
        format,
        timezone,
        udp,
        tcp,
        rate_limit: rate_limit(s)?,
    })
}

fn udp(s: &Section<'_>) -> Result<SyslogUdpConfig, ConfigError> {
    Ok(SyslogUdpConfig {
        hosts: hosts(s)?,
        max_message_size: byte_size(s, "max_message_size")?.unwrap_or(UDP_MAX_MESSAGE_SIZE),
        read_buffer: byte_size(s, "read_buffer")?,
    })
}

fn tcp(s: &Section<'_>) -> Result<SyslogTcpConfig, ConfigError> {
    let framing = match choice(s, "framing", &["delimiter", "rfc6587"])?.as_deref() {
        Some("rfc6587") => Framing::Rfc6587,
        _ => Framing::Delimiter,
    };
    let line_delimiter = s.string("line_delimiter")?.unwrap_or_else(|| "\n".into());
    if line_delimiter.is_empty() {
        return Err(s.error(
            s.line_of("line_delimiter"),
            "line_delimiter",
            Problem::Invalid("must not be empty".into()),
        ));
    }
    let timeout = match s.duration("timeout")? {
        Some(d) if d.is_zero() => {
            let msg = "must be longer than 0s";
            return Err(s.error(
                s.line_of("timeout"),
                "timeout",
                Problem::Invalid(msg.into()),
            ));
        }
        d => d.unwrap_or(TCP_TIMEOUT),
    };
    Ok(SyslogTcpConfig {
        hosts: hosts(s)?,
        max_message_size: byte_size(s, "max_message_size")?.unwrap_or(TCP_MAX_MESSAGE_SIZE),
        max_connections: s
            .usize_min(
                "max_connections",
                0,
                "a non-negative integer (0 = no limit)",
            )?
            .filter(|n| *n > 0),
        timeout,
        framing,
        line_delimiter,
        ssl: ssl(s)?,
    })
}

/// `host`: one `host:port` or a list of them (port 0 picks a free port, which is
/// logged). An empty host name listens on every address.
fn hosts(s: &Section<'_>) -> Result<Vec<String>, ConfigError> {
    let items = s.strings("host")?.unwrap_or_default();
    if items.is_empty() {
        let msg = "required; the address to listen on, e.g. \"0.0.0.0:514\"";
        return Err(s.error(s.line(), "host", Problem::Invalid(msg.into())));
    }
    items
        .into_iter()
        .map(|item| {
            listen_address(&item.text)
                .map_err(|msg| s.error(Some(item.line), "host", Problem::Invalid(msg)))
        })
        .collect()
}

fn listen_address(host: &str) -> Result<String, String> {
    let host = host.trim();
    let Some((name, port)) = host.rsplit_once(':') else {
        return Err(format!(
            "{host:?} has no port; give host:port, e.g. \"0.0.0.0:514\""
        ));
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().is_err()
    {
        return Err(format!(
            "{host:?} has an invalid port {port:?} (expected 0 to 65535)"
        ));
    }
    if name.contains(':') && !(name.starts_with('[') && name.ends_with(']')) {
        return Err(format!(
            "{host:?}: put IPv6 addresses in brackets, e.g. \"[::]:514\""
        ));
    }
    let name = if name.is_empty() { "0.0.0.0" } else { name };
    Ok(format!("{name}:{port}"))
}

/// `ssl.*` of a TCP listener: the server's certificate and key, and, for client
/// certificates, the CA that signs them (`client_authentication` is then `required`
/// unless set otherwise, as in Filebeat).
fn ssl(tcp: &Section<'_>) -> Result<Option<ServerTls>, ConfigError> {
    if tcp.entry("ssl").is_none() {
        return Ok(None);
    }
    let s = tcp.child("ssl", &SSL)?;
    if s.bool("enabled")? == Some(false) {
        return Ok(None);
    }
    let invalid = |key: &str, msg: &str| {
        s.error(
            s.line_of(key).or(s.line()),
            key,
            Problem::Invalid(msg.into()),
        )
    };
    let cert = s.string("certificate")?.ok_or_else(|| {
        invalid(
            "certificate",
            "required; the server certificate (PEM file or inline PEM)",
        )
    })?;
    let key = s.string("key")?.ok_or_else(|| {
        invalid(
            "key",
            "required; the server certificate's private key (PEM file or inline PEM)",
        )
    })?;
    let mut cas = s.strings("certificate_authorities")?.unwrap_or_default();
    if cas.len() > 1 {
        let msg = "give one file (it may hold several certificates)";
        return Err(s.error(
            Some(cas[1].line),
            "certificate_authorities",
            Problem::Invalid(msg.into()),
        ));
    }
    let client_ca = cas.pop().map(|ca| ca.text);
    let client_auth = match choice(
        &s,
        "client_authentication",
        &["none", "optional", "required"],
    )?
    .as_deref()
    {
        Some("none") => ClientAuth::None,
        Some("optional") => ClientAuth::Optional,
        Some(_) => ClientAuth::Required,
        None if client_ca.is_some() => ClientAuth::Required,
        None => ClientAuth::None,
    };
    if client_auth != ClientAuth::None && client_ca.is_none() {
        let msg = "needs ssl.certificate_authorities (the CA of the client certificates)";
        return Err(invalid("client_authentication", msg));
    }
    Ok(Some(ServerTls {
        cert,
        key,
        client_ca,
        client_auth,
    }))
}

fn rate_limit(s: &Section<'_>) -> Result<Option<RateLimitConfig>, ConfigError> {
    if s.entry("rate_limit").is_none() {
        return Ok(None);
    }
    let r = s.child("rate_limit", &RATE_LIMIT)?;
    let expected = "a positive integer";
    let read = |key: &str| -> Result<Option<u32>, ConfigError> {
        Ok(r.int(key, 1, i128::from(u32::MAX), expected)?
            .and_then(|v| u32::try_from(v).ok()))
    };
    let Some(events_per_sec) = read("events_per_sec")? else {
        let msg = "required; the messages per second allowed from each peer IP";
        return Err(r.error(r.line(), "events_per_sec", Problem::Invalid(msg.into())));
    };
    Ok(Some(RateLimitConfig {
        events_per_sec,
        burst: read("burst")?.unwrap_or(events_per_sec),
    }))
}

/// `Local` (the default), `UTC`, an offset (`+0200`, `-05:30`, `Z`) or an IANA name.
fn timezone(name: &str) -> Option<TimeZone> {
    match name {
        "Local" | "local" => return Some(TimeZone::system()),
        "UTC" | "utc" | "Z" | "z" => return Some(TimeZone::UTC),
        _ => {}
    }
    if let Some(sign) = name.chars().next().filter(|c| matches!(c, '+' | '-')) {
        let digits: String = name[1..].chars().filter(|c| *c != ':').collect();
        if !matches!(digits.len(), 2 | 4) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let hours: i32 = digits[..2].parse().ok()?;
        let minutes: i32 = digits.get(2..).map_or(Ok(0), str::parse).ok()?;
        let seconds = (hours * 3600 + minutes * 60) * if sign == '-' { -1 } else { 1 };
        return Offset::from_seconds(seconds).ok().map(TimeZone::fixed);
    }
    TimeZone::get(name).ok()
}

pub(super) fn byte_size(s: &Section<'_>, key: &str) -> Result<Option<usize>, ConfigError> {
    let Some(entry) = s.entry(key) else {
        return Ok(None);
    };
    let line = Some(entry.value.line);
    let text = to_string(&entry.value).map_err(|p| s.error(line, key, p))?;
    parse_byte_size(&text)
        .filter(|n| *n > 0)
        .and_then(|n| usize::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| {
            let expected = "a positive size in bytes, like 10240, 10KiB or 20MiB";
            s.error(line, key, wrong_type(expected, &entry.value))
        })
}

/// A string that must be one of `allowed`.
pub(super) fn choice(
    s: &Section<'_>,
    key: &str,
    allowed: &[&str],
) -> Result<Option<String>, ConfigError> {
    match s.string(key)? {
        Some(v) if !allowed.contains(&v.as_str()) => {
            let msg = format!("expected one of {}, got {v:?}", allowed.join(", "));
            Err(s.error(s.line_of(key), key, Problem::Invalid(msg)))
        }
        v => Ok(v),
    }
}
