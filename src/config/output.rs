//! `output.*`: exactly one enabled output, `output.logstash` (with `ssl.*` and `backoff.*`)
//! or `output.console`, with Filebeat's names, defaults and limits.
//!
//! Two Filebeat keys are accepted without a setting of their own, because their Filebeat
//! meaning is already lumberwatch's behaviour:
//! - `max_retries`: Filebeat ignores it and retries until every event is published, and
//!   so does lumberwatch (it is still checked to be an integer >= -1, as Filebeat does);
//! - `index`: Filebeat puts it in `@metadata.beat`, which is `lumberwatch.beat`; it is
//!   returned to the caller to fill that in (and must agree with `lumberwatch.beat`).

use super::section::{Item, Schema, Section, to_bool, wrong_type};
use super::values::format_duration;
use super::yaml::{Entry, Value};
use super::{
    BackoffConfig, ConfigError, LogstashConfig, OutputConfig, Problem, SslConfig, TlsVersion,
    VerificationMode,
};

/// Filebeat outputs lumberwatch does not have; an enabled one is an error.
const OTHER_OUTPUTS: [&str; 6] = [
    "elasticsearch",
    "kafka",
    "redis",
    "file",
    "discard",
    "otelconsumer",
];

const OUTPUT: Schema = Schema {
    keys: &[
        "logstash",
        "console",
        "elasticsearch",
        "kafka",
        "redis",
        "file",
        "discard",
        "otelconsumer",
    ],
    not_supported: &[],
    not_yet: &[],
};

const NO_PROXY: Option<&str> = Some("SOCKS5 proxies are not implemented");

const LOGSTASH: Schema = Schema {
    keys: &[
        "enabled",
        "hosts",
        "loadbalance",
        "worker",
        "workers",
        "bulk_max_size",
        "slow_start",
        "compression_level",
        "timeout",
        "ttl",
        "pipelining",
        "backoff",
        "escape_html",
        "ssl",
        "index",
        "max_retries",
    ],
    not_supported: &[
        ("proxy_url", NO_PROXY),
        ("proxy_use_local_resolver", NO_PROXY),
    ],
    not_yet: &["queue"],
};

const BACKOFF: Schema = Schema {
    keys: &["init", "max"],
    not_supported: &[],
    not_yet: &[],
};

const NO_PASSPHRASE: Option<&str> =
    Some("decrypt the key first, e.g. openssl pkey -in key.pem -out plain-key.pem");

const SSL: Schema = Schema {
    keys: &[
        "enabled",
        "certificate_authorities",
        "certificate",
        "key",
        "verification_mode",
        "supported_protocols",
        "ca_trusted_fingerprint",
        "renegotiation",
    ],
    not_supported: &[
        ("key_passphrase", NO_PASSPHRASE),
        ("key_passphrase_path", NO_PASSPHRASE),
        (
            "cipher_suites",
            Some("rustls only offers its own safe suites"),
        ),
        (
            "curve_types",
            Some("rustls only offers its own safe key exchange groups"),
        ),
        (
            "ca_sha256",
            Some("pin the CA with ssl.ca_trusted_fingerprint or ssl.certificate_authorities"),
        ),
    ],
    not_yet: &[],
};

const CONSOLE: Schema = Schema {
    keys: &["enabled", "pretty"],
    not_supported: &[],
    not_yet: &["codec", "bulk_max_size", "queue"],
};

/// The one enabled output, and `output.logstash.index` if it was set.
pub(crate) fn build(root: &Section<'_>) -> Result<(OutputConfig, Option<Item>), ConfigError> {
    let outputs = root.child("output", &OUTPUT)?;
    let mut chosen: Option<(&Entry, OutputConfig, Option<Item>)> = None;
    for entry in outputs.entries() {
        if !enabled(&outputs, entry)? {
            continue;
        }
        let (config, index) = match entry.key.as_str() {
            "logstash" => {
                let (config, index) = logstash(&outputs.child("logstash", &LOGSTASH)?)?;
                (OutputConfig::Logstash(config), index)
            }
            "console" => {
                let console = outputs.child("console", &CONSOLE)?;
                (
                    OutputConfig::Console {
                        pretty: console.bool("pretty")?.unwrap_or(false),
                    },
                    None,
                )
            }
            key if OTHER_OUTPUTS.contains(&key) => {
                return Err(outputs.error(Some(entry.line), key, Problem::OutputNotSupported));
            }
            // Any other key was reported by the schema when `output` was opened.
            _ => continue,
        };
        if let Some((first, ..)) = &chosen {
            let problem = Problem::Conflict {
                other: format!("output.{}", first.key),
                other_line: first.line,
            };
            return Err(outputs.error(Some(entry.line), &entry.key, problem));
        }
        chosen = Some((entry, config, index));
    }
    match chosen {
        Some((_, config, index)) => Ok((config, index)),
        None => {
            let msg = "no output configured; set output.logstash or output.console";
            Err(outputs.error(outputs.line(), "", Problem::Invalid(msg.to_string())))
        }
    }
}

/// `output.X.enabled` (default true), read before anything else in the section.
fn enabled(outputs: &Section<'_>, entry: &Entry) -> Result<bool, ConfigError> {
    let Value::Map(entries) = &entry.value.value else {
        return Ok(true);
    };
    match entries
        .iter()
        .find(|e| e.key == "enabled" && !e.value.is_null())
    {
        None => Ok(true),
        Some(e) => to_bool(&e.value)
            .map_err(|p| outputs.error(Some(e.value.line), &format!("{}.enabled", entry.key), p)),
    }
}

fn logstash(s: &Section<'_>) -> Result<(LogstashConfig, Option<Item>), ConfigError> {
    let defaults = LogstashConfig::default();
    let hosts = s.strings("hosts")?.unwrap_or_default();
    if hosts.is_empty() {
        let problem = Problem::Invalid(
            "at least one host is required, e.g. hosts: [\"localhost:5044\"]".to_string(),
        );
        return Err(s.error(s.line_of("hosts").or(s.line()), "hosts", problem));
    }
    let hosts = hosts
        .into_iter()
        .map(|h| {
            host_with_port(&h.text)
                .map_err(|msg| s.error(Some(h.line), "hosts", Problem::Invalid(msg)))
        })
        .collect::<Result<Vec<_>, _>>()?;

    if let (Some(worker), Some(workers)) = (s.line_of("worker"), s.line_of("workers")) {
        let (line, key, other, other_line) = if workers > worker {
            (workers, "workers", "worker", worker)
        } else {
            (worker, "worker", "workers", workers)
        };
        let problem = Problem::Conflict {
            other: format!("{}.{other}", s.path()),
            other_line,
        };
        return Err(s.error(Some(line), key, problem));
    }
    let positive = "a positive integer";
    let worker = match s.usize_min("worker", 1, positive)? {
        Some(w) => Some(w),
        None => s.usize_min("workers", 1, positive)?,
    };

    let timeout = s.duration("timeout")?.unwrap_or(defaults.timeout);
    if timeout.is_zero() {
        return Err(s.error(
            s.line_of("timeout"),
            "timeout",
            Problem::Invalid("must be longer than 0s".to_string()),
        ));
    }

    // Checked as Filebeat checks it, then ignored: like Filebeat, lumberwatch retries
    // until every event is delivered.
    s.int(
        "max_retries",
        -1,
        i128::from(i64::MAX),
        "an integer of -1 or more",
    )?;
    let index = match s.string("index")? {
        Some(index) if index.is_empty() => {
            return Err(s.error(
                s.line_of("index"),
                "index",
                Problem::Invalid("must not be empty".to_string()),
            ));
        }
        Some(text) => Some(Item {
            text,
            line: s.line_of("index").unwrap_or(0),
        }),
        None => None,
    };

    let compression = s.int("compression_level", 0, 9, "an integer from 0 to 9")?;
    let config = LogstashConfig {
        hosts,
        loadbalance: s.bool("loadbalance")?.unwrap_or(defaults.loadbalance),
        worker: worker.unwrap_or(defaults.worker),
        bulk_max_size: s
            .usize_min("bulk_max_size", 1, positive)?
            .unwrap_or(defaults.bulk_max_size),
        slow_start: s.bool("slow_start")?.unwrap_or(defaults.slow_start),
        compression_level: compression
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or(defaults.compression_level),
        timeout,
        ttl: s.duration("ttl")?.filter(|ttl| !ttl.is_zero()),
        pipelining: s
            .usize_min("pipelining", 0, "a non-negative integer")?
            .unwrap_or(defaults.pipelining),
        backoff: backoff(s, defaults.backoff)?,
        escape_html: s.bool("escape_html")?.unwrap_or(defaults.escape_html),
        ssl: ssl(s)?,
    };
    Ok((config, index))
}

fn backoff(s: &Section<'_>, defaults: BackoffConfig) -> Result<BackoffConfig, ConfigError> {
    let b = s.child("backoff", &BACKOFF)?;
    let init = b.duration("init")?.unwrap_or(defaults.init);
    let max = b.duration("max")?.unwrap_or(defaults.max);
    if init.is_zero() {
        return Err(b.error(
            b.line_of("init"),
            "init",
            Problem::Invalid("must be longer than 0s".to_string()),
        ));
    }
    if init > max {
        let (init_s, max_s) = (format_duration(init), format_duration(max));
        let msg = format!("backoff.init ({init_s}) must not be greater than backoff.max ({max_s})");
        let (line, key) = match b.line_of("init") {
            Some(line) => (Some(line), "init"),
            None => (b.line_of("max"), "max"),
        };
        return Err(b.error(line, key, Problem::Invalid(msg)));
    }
    Ok(BackoffConfig { init, max })
}

/// `ssl.*`: `None` when there is no `ssl` section (or it is null) or `ssl.enabled: false`.
fn ssl(ls: &Section<'_>) -> Result<Option<SslConfig>, ConfigError> {
    if ls.entry("ssl").is_none() {
        return Ok(None);
    }
    let s = ls.child("ssl", &SSL)?;
    let enabled = s.bool("enabled")?.unwrap_or(true);
    let mut config = SslConfig::default();
    for ca in s.strings("certificate_authorities")?.unwrap_or_default() {
        if ca.text.trim().is_empty() {
            let problem = Problem::Invalid("entries must not be empty".to_string());
            return Err(s.error(Some(ca.line), "certificate_authorities", problem));
        }
        config.certificate_authorities.push(ca.text);
    }
    config.certificate = s.string("certificate")?.filter(|c| !c.is_empty());
    config.key = s.string("key")?.filter(|k| !k.is_empty());
    match (&config.certificate, &config.key) {
        (Some(_), None) => {
            let msg = "ssl.certificate needs ssl.key (the client certificate's private key)";
            return Err(s.error(
                s.line_of("certificate"),
                "certificate",
                Problem::Invalid(msg.to_string()),
            ));
        }
        (None, Some(_)) => {
            let msg = "ssl.key needs ssl.certificate (the client certificate)";
            return Err(s.error(s.line_of("key"), "key", Problem::Invalid(msg.to_string())));
        }
        _ => {}
    }
    if let Some(entry) = s.entry("verification_mode") {
        let mode = s.string("verification_mode")?.unwrap_or_default();
        config.verification_mode = match mode.to_lowercase().as_str() {
            "full" => VerificationMode::Full,
            "strict" => VerificationMode::Strict,
            "certificate" => VerificationMode::Certificate,
            "none" => VerificationMode::None,
            _ => {
                let problem = wrong_type("one of full, strict, certificate, none", &entry.value);
                return Err(s.error(Some(entry.value.line), "verification_mode", problem));
            }
        };
    }
    if let Some(protocols) = s.strings("supported_protocols")? {
        config.supported_protocols = tls_versions(&s, protocols)?;
    }
    if let Some(entry) = s.entry("ca_trusted_fingerprint") {
        let fingerprint = s
            .string("ca_trusted_fingerprint")?
            .unwrap_or_default()
            .trim()
            .to_string();
        let hex: String = fingerprint.chars().filter(|c| *c != ':').collect();
        if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            let problem = wrong_type(
                "a hex SHA-256 fingerprint (64 hex digits, colons allowed)",
                &entry.value,
            );
            return Err(s.error(Some(entry.value.line), "ca_trusted_fingerprint", problem));
        }
        config.ca_trusted_fingerprint = Some(fingerprint);
    }
    if let Some(entry) = s.entry("renegotiation") {
        // Filebeat's default, `never`, is what rustls does; anything else cannot be honoured.
        if s.string("renegotiation")?.as_deref() != Some("never") {
            let problem = Problem::NotSupported {
                hint: Some("rustls never renegotiates; only `never` is accepted"),
            };
            return Err(s.error(Some(entry.value.line), "renegotiation", problem));
        }
    }
    Ok(enabled.then_some(config))
}

fn tls_versions(s: &Section<'_>, protocols: Vec<Item>) -> Result<Vec<TlsVersion>, ConfigError> {
    let mut versions = Vec::new();
    for p in &protocols {
        let version = match p.text.as_str() {
            "TLSv1.2" => TlsVersion::V1_2,
            "TLSv1.3" => TlsVersion::V1_3,
            old @ ("SSLv3" | "TLSv1" | "TLSv1.0" | "TLSv1.1") => {
                let msg = format!("{old} is not supported; only TLSv1.2 and TLSv1.3 are supported");
                return Err(s.error(Some(p.line), "supported_protocols", Problem::Invalid(msg)));
            }
            other => {
                let problem = Problem::WrongType {
                    expected: "TLSv1.2 or TLSv1.3".to_string(),
                    got: format!("{other:?}"),
                };
                return Err(s.error(Some(p.line), "supported_protocols", problem));
            }
        };
        if !versions.contains(&version) {
            versions.push(version);
        }
    }
    if versions.is_empty() {
        let line = s.line_of("supported_protocols");
        let problem = Problem::Invalid("must list TLSv1.2, TLSv1.3 or both".to_string());
        return Err(s.error(line, "supported_protocols", problem));
    }
    Ok(versions)
}

/// `host` or `host:port`, with Filebeat's default port 5044 added when there is none.
/// IPv6 addresses need brackets (`[::1]`, `[::1]:5044`).
pub(crate) fn host_with_port(host: &str) -> Result<String, String> {
    let host = host.trim();
    if host.is_empty() {
        return Err("a host must not be empty".to_string());
    }
    if host.contains("://") {
        return Err(format!(
            "{host:?} is a URL; give host:port, e.g. \"logstash.example.com:5044\""
        ));
    }
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return Err(format!("{host:?} has no closing ] for its IPv6 address"));
        };
        if addr.is_empty() {
            return Err(format!("{host:?} has an empty IPv6 address"));
        }
        match after {
            "" => (&host[..addr.len() + 2], None),
            _ => match after.strip_prefix(':') {
                Some(port) => (&host[..addr.len() + 2], Some(port)),
                None => return Err(format!("{host:?}: expected :port after the ]")),
            },
        }
    } else {
        match host.matches(':').count() {
            0 => (host, None),
            1 => host
                .split_once(':')
                .map_or((host, None), |(name, port)| (name, Some(port))),
            _ => {
                return Err(format!(
                    "{host:?}: put IPv6 addresses in brackets, e.g. \"[::1]:5044\""
                ));
            }
        }
    };
    if name.is_empty() {
        return Err(format!("{host:?} has no host name"));
    }
    match port {
        None => Ok(format!("{name}:5044")),
        Some(port) => match port.parse::<u16>() {
            Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(format!("{name}:{p}")),
            _ => Err(format!(
                "{host:?} has an invalid port {port:?} (expected 1 to 65535)"
            )),
        },
    }
}
