//! The top level of the config: general settings, `path.*`, `queue.*`, `logging.*`,
//! `http.*` (the stats endpoint), and handing `lumberwatch.inputs` / `filebeat.inputs`
//! and `output.*` to their modules.

use std::path::PathBuf;
use std::time::Duration;

use super::section::{Problems, Schema, Section, wrong_type};
use super::yaml::Node;
use super::{
    Config, ConfigError, HttpConfig, LoggingConfig, Problem, StatsConfig, inputs, output, queue,
    rules,
};

const ROOT: Schema = Schema {
    keys: &[
        "lumberwatch",
        "filebeat",
        "output",
        "path",
        "name",
        "tags",
        "fields",
        "fields_under_root",
        "queue",
        "logging",
        "http",
    ],
    not_supported: &[(
        "cloud",
        Some("cloud.id and cloud.auth configure Elastic Cloud's Elasticsearch output"),
    )],
    not_yet: &[
        "processors",
        "setup",
        "monitoring",
        "xpack",
        "max_procs",
        "seccomp",
        "keystore",
        "timestamp",
        "migration",
        "instrumentation",
        "features",
    ],
};

const LUMBERWATCH: Schema = Schema {
    keys: &[
        "inputs",
        "beat",
        "registry",
        "stats",
        "rules",
        "rules_check_interval",
        "shutdown_timeout",
        "stall_warning",
    ],
    not_supported: &[],
    not_yet: &[],
};

const FILEBEAT: Schema = Schema {
    keys: &["inputs", "registry", "shutdown_timeout"],
    not_supported: &[],
    not_yet: &["config", "modules", "autodiscover", "overwrite_pipelines"],
};

const REGISTRY: Schema = Schema {
    keys: &["flush"],
    not_supported: &[],
    not_yet: &["path", "file_permissions", "migrate_file"],
};

const STATS: Schema = Schema {
    keys: &["keys", "bucket", "retention", "max_keys", "flush"],
    not_supported: &[],
    not_yet: &[],
};

const PATH: Schema = Schema {
    keys: &["data"],
    not_supported: &[],
    not_yet: &["home", "config", "logs"],
};

const LOGGING: Schema = Schema {
    keys: &["level", "json", "metrics"],
    not_supported: &[],
    not_yet: &[
        "to_stderr",
        "to_syslog",
        "to_eventlog",
        "to_files",
        "files",
        "selectors",
        "ecs",
        "event_data",
    ],
};

const LOGGING_METRICS: Schema = Schema {
    keys: &["enabled", "period"],
    not_supported: &[],
    not_yet: &["namespaces"],
};

const HTTP: Schema = Schema {
    keys: &["enabled", "host", "port"],
    not_supported: &[
        ("named_pipe", Some("named pipes are a Windows feature")),
        ("pprof", Some("pprof is Go's profiler")),
    ],
    not_yet: &[],
};

const LOG_LEVELS: [&str; 4] = ["error", "warning", "info", "debug"];

/// Walks the normalized tree into a [`Config`].
pub(crate) fn build(tree: &Node, origin: &str, problems: &Problems) -> Result<Config, ConfigError> {
    let root = Section::root(tree, origin, problems, &ROOT)?;
    let lumberwatch = root.child("lumberwatch", &LUMBERWATCH)?;
    let filebeat = root.child("filebeat", &FILEBEAT)?;

    let inputs = inputs::build(&lumberwatch, &filebeat)?;
    let (output, index) = output::build(&root)?;

    let metadata_beat = match (lumberwatch.string("beat")?, index) {
        (Some(beat), Some(index)) if beat != index.text => {
            let other_line = lumberwatch.line_of("beat").unwrap_or(0);
            let other = "lumberwatch.beat".to_string();
            return Err(root.error(
                Some(index.line),
                "output.logstash.index",
                Problem::Conflict { other, other_line },
            ));
        }
        (Some(beat), _) => beat,
        (None, Some(index)) => index.text,
        (None, None) => "lumberwatch".to_string(),
    };
    if metadata_beat.is_empty() {
        let line = lumberwatch.line_of("beat");
        return Err(lumberwatch.error(
            line,
            "beat",
            Problem::Invalid("must not be empty".to_string()),
        ));
    }

    let path = root.child("path", &PATH)?;
    let path_data = match path.string("data")? {
        Some(dir) if dir.is_empty() => {
            return Err(path.error(
                path.line_of("data"),
                "data",
                Problem::Invalid("must not be empty".to_string()),
            ));
        }
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from("./data"),
    };

    // `filebeat.registry.flush` (or `lumberwatch.registry.flush`): 0 writes after every ack.
    let registry_flush = match (
        lumberwatch
            .child("registry", &REGISTRY)?
            .duration("flush")?,
        filebeat.child("registry", &REGISTRY)?.duration("flush")?,
    ) {
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => Duration::from_secs(1),
    };

    let queues = queue::build(&root)?;
    let shutdown_timeout = match (
        lumberwatch.duration("shutdown_timeout")?,
        filebeat.duration("shutdown_timeout")?,
    ) {
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => Duration::from_secs(10),
    };
    let stall_warning = lumberwatch
        .duration("stall_warning")?
        .unwrap_or(Duration::from_secs(60));

    let stats = stats(&lumberwatch)?;
    Ok(Config {
        inputs,
        output,
        path_data,
        name: root.string("name")?.filter(|n| !n.is_empty()),
        tags: root
            .strings("tags")?
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.text)
            .collect(),
        fields: root.json_map("fields")?.unwrap_or_default(),
        fields_under_root: root.bool("fields_under_root")?.unwrap_or(false),
        metadata_beat,
        queue_mem_events: queues.mem_events,
        queue_flush: queues.flush,
        queue_disk: queues.disk,
        shutdown_timeout,
        stall_warning,
        registry_flush,
        rules: rules::build(&lumberwatch, &stats)?,
        rules_check_interval: rules::check_interval(&lumberwatch)?,
        stats,
        logging: logging(&root)?,
        http: http(&root)?,
    })
}

/// `lumberwatch.stats`: which fields the per-source statistics are kept by, and how.
fn stats(lumberwatch: &Section<'_>) -> Result<StatsConfig, ConfigError> {
    let s = lumberwatch.child("stats", &STATS)?;
    let defaults = StatsConfig::default();
    let keys = match s.strings("keys")? {
        None => defaults.keys,
        Some(items) => {
            if let Some(empty) = items.iter().find(|i| i.text.trim().is_empty()) {
                let problem = Problem::Invalid("a key field name must not be empty".into());
                return Err(s.error(Some(empty.line), "keys", problem));
            }
            items.into_iter().map(|i| i.text).collect()
        }
    };
    let secs = |key: &str, default: u32, min: u32| -> Result<u32, ConfigError> {
        let Some(d) = s.duration(key)? else {
            return Ok(default);
        };
        match u32::try_from(d.as_secs()) {
            Ok(n) if n >= min && d.subsec_nanos() == 0 => Ok(n),
            _ => {
                let msg = format!("must be whole seconds, at least {min}s and under 136 years");
                Err(s.error(s.line_of(key), key, Problem::Invalid(msg)))
            }
        }
    };
    let bucket_secs = secs("bucket", defaults.bucket_secs, 1)?;
    let retention_secs = secs("retention", defaults.retention_secs, bucket_secs)?;
    Ok(StatsConfig {
        keys,
        bucket_secs,
        retention_secs,
        max_keys: s
            .usize_min("max_keys", 1, "a positive integer")?
            .unwrap_or(defaults.max_keys),
        flush: s.duration("flush")?.unwrap_or(defaults.flush),
    })
}

fn logging(root: &Section<'_>) -> Result<LoggingConfig, ConfigError> {
    let logging = root.child("logging", &LOGGING)?;
    let level = match logging.entry("level") {
        None => "info".to_string(),
        Some(entry) => {
            let level = logging.string("level")?.unwrap_or_default().to_lowercase();
            if !LOG_LEVELS.contains(&level.as_str()) {
                let problem = wrong_type("one of error, warning, info, debug", &entry.value);
                return Err(logging.error(Some(entry.value.line), "level", problem));
            }
            level
        }
    };
    let metrics = logging.child("metrics", &LOGGING_METRICS)?;
    let metrics_period = metrics
        .duration("period")?
        .unwrap_or(Duration::from_secs(30));
    if metrics_period.is_zero() {
        let problem = Problem::Invalid("must be longer than 0s".to_string());
        return Err(metrics.error(metrics.line_of("period"), "period", problem));
    }
    Ok(LoggingConfig {
        level,
        json: logging.bool("json")?.unwrap_or(false),
        metrics_enabled: metrics.bool("enabled")?.unwrap_or(true),
        metrics_period,
    })
}

/// `http`: the stats endpoint. The host is checked here, resolved when the agent binds.
fn http(root: &Section<'_>) -> Result<HttpConfig, ConfigError> {
    let http = root.child("http", &HTTP)?;
    let defaults = HttpConfig::default();
    let host = match http.string("host")? {
        None => None,
        Some(host) => {
            let host = host.trim().to_string();
            if let Err(msg) = check_host(&host) {
                return Err(http.error(http.line_of("host"), "host", Problem::Invalid(msg)));
            }
            Some(host)
        }
    };
    let port = http.int("port", 0, 65535, "a port number (0 to 65535)")?;
    Ok(HttpConfig {
        enabled: http.bool("enabled")?.unwrap_or(defaults.enabled),
        host,
        port: port.map_or(defaults.port, |p| {
            u16::try_from(p).expect("checked to be in 0..=65535")
        }),
    })
}

/// An IP address (IPv6 with or without brackets) or a host name, without a port.
fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("must not be empty (leave it out for localhost)".into());
    }
    if host.starts_with("unix:") || host.starts_with("npipe:") {
        return Err(format!(
            "{host:?}: unix sockets and named pipes are not supported yet; give an IP address or host name"
        ));
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let name_ok = host.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if name_ok {
        Ok(())
    } else {
        Err(format!(
            "{host:?} is not an IP address or host name (the port goes in http.port)"
        ))
    }
}
