//! Top-level settings: general, `path`, `queue`, `logging`, `http`, and Filebeat keys we
//! lack.

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::config::{HttpConfig, LoggingConfig};

#[test]
fn defaults() {
    let config = ok(MINIMAL);
    assert_eq!(config.path_data, PathBuf::from("./data"));
    assert_eq!(config.name, None);
    assert!(config.tags.is_empty());
    assert!(config.fields.is_empty());
    assert!(!config.fields_under_root);
    assert_eq!(config.metadata_beat, "lumberwatch");
    assert_eq!(config.queue_mem_events, 3200);
    assert_eq!(
        config.logging,
        LoggingConfig {
            level: "info".into(),
            json: false,
            metrics_enabled: true,
            metrics_period: Duration::from_secs(30)
        }
    );
}

#[test]
fn every_general_setting_is_read() {
    let text = format!(
        "{MINIMAL}path.data: /var/lib/lumberwatch\nname: web-01\ntags: [a, b]\nfields: {{dc: east, rack: 4}}\n\
         fields_under_root: true\nlumberwatch.beat: filebeat\nqueue.mem.events: 4096\nlogging:\n  level: debug\n  \
         json: true\n  metrics.enabled: false\n  metrics.period: 1m\n"
    );
    let config = ok(&text);
    assert_eq!(config.path_data, PathBuf::from("/var/lib/lumberwatch"));
    assert_eq!(config.name.as_deref(), Some("web-01"));
    assert_eq!(config.tags, vec!["a", "b"]);
    assert_eq!(
        serde_json::Value::Object(config.fields),
        serde_json::json!({"dc": "east", "rack": 4})
    );
    assert!(config.fields_under_root);
    assert_eq!(config.metadata_beat, "filebeat");
    assert_eq!(config.queue_mem_events, 4096);
    assert_eq!(
        config.logging,
        LoggingConfig {
            level: "debug".into(),
            json: true,
            metrics_enabled: false,
            metrics_period: Duration::from_secs(60)
        }
    );
}

#[test]
fn an_empty_name_means_the_host_name() {
    assert_eq!(ok(&format!("{MINIMAL}name: \"\"\n")).name, None);
}

#[test]
fn a_single_tag_string_is_a_list_of_one() {
    assert_eq!(ok(&format!("{MINIMAL}tags: web\n")).tags, vec!["web"]);
}

#[test]
fn fields_keep_yaml_types_and_nest_dotted_keys() {
    let text =
        format!("{MINIMAL}fields:\n  a.b: 1\n  a.c: [x, 2, true, ~]\n  d: '007'\n  e: 1.5\n");
    let config = ok(&text);
    assert_eq!(
        serde_json::Value::Object(config.fields),
        serde_json::json!({"a": {"b": 1, "c": ["x", 2, true, null]}, "d": "007", "e": 1.5})
    );
}

#[test]
fn fields_must_be_a_mapping() {
    assert_eq!(
        err(&format!("{MINIMAL}fields: [a]\n")),
        "config.yml:4: fields: expected a mapping, got a list"
    );
}

#[test]
fn log_levels_are_filebeats() {
    assert_eq!(
        ok(&format!("{MINIMAL}logging.level: Warning\n"))
            .logging
            .level,
        "warning"
    );
    assert_eq!(
        err(&format!("{MINIMAL}logging.level: verbose\n")),
        "config.yml:4: logging.level: expected one of error, warning, info, debug, got \"verbose\""
    );
}

#[test]
fn metrics_period_must_be_positive() {
    assert_eq!(
        err(&format!("{MINIMAL}logging.metrics.period: 0s\n")),
        "config.yml:4: logging.metrics.period: must be longer than 0s"
    );
}

#[test]
fn queue_size_must_be_positive() {
    assert_eq!(
        err(&format!("{MINIMAL}queue.mem.events: 0\n")),
        "config.yml:4: queue.mem.events: expected a positive integer, got 0"
    );
}

#[test]
fn empty_path_data_is_rejected() {
    assert_eq!(
        err(&format!("{MINIMAL}path.data: \"\"\n")),
        "config.yml:4: path.data: must not be empty"
    );
}

#[test]
fn empty_beat_name_is_rejected() {
    assert_eq!(
        err(&format!("{MINIMAL}lumberwatch.beat: \"\"\n")),
        "config.yml:4: lumberwatch.beat: must not be empty"
    );
}

#[test]
fn filebeat_features_we_lack_are_not_silently_accepted() {
    let cases = [
        ("processors:\n  - add_host_metadata: ~", "processors"),
        ("logging.ecs: true", "logging.ecs"),
        ("setup.kibana.host: localhost", "setup"),
        ("monitoring.enabled: false", "monitoring"),
        ("filebeat.registry.path: registry", "filebeat.registry.path"),
        (
            "filebeat.config.modules.path: modules.d/*.yml",
            "filebeat.config",
        ),
        ("logging.to_files: true", "logging.to_files"),
        ("path.home: /usr/share/filebeat", "path.home"),
    ];
    for (line, key) in cases {
        assert_eq!(
            err(&format!("{MINIMAL}{line}\n")),
            format!("config.yml:4: {key}: not supported yet"),
            "{line}"
        );
    }
}

#[test]
fn http_takes_the_beats_names_and_stays_on_loopback_by_default() {
    assert_eq!(ok(MINIMAL).http, HttpConfig::default());
    assert_eq!(
        HttpConfig::default(),
        HttpConfig {
            enabled: false,
            host: None,
            port: 5066
        }
    );
    let config = ok(&format!(
        "{MINIMAL}http:\n  enabled: true\n  host: 0.0.0.0\n  port: 5067\n"
    ));
    assert_eq!(
        config.http,
        HttpConfig {
            enabled: true,
            host: Some("0.0.0.0".into()),
            port: 5067
        }
    );
    for host in [
        "127.0.0.1",
        "::1",
        "[::1]",
        "localhost",
        "stats.example.net",
    ] {
        let config = ok(&format!("{MINIMAL}http.host: \"{host}\"\n"));
        assert_eq!(config.http.host.as_deref(), Some(host));
    }
    assert_eq!(ok(&format!("{MINIMAL}http.port: 0\n")).http.port, 0);
}

#[test]
fn http_mistakes_are_one_line_each() {
    let cases = [
        (
            "http.port: 70000\n",
            "config.yml:4: http.port: expected a port number (0 to 65535), got 70000",
        ),
        (
            "http.host: \"127.0.0.1:5066\"\n",
            "config.yml:4: http.host: \"127.0.0.1:5066\" is not an IP address or host name (the port goes in http.port)",
        ),
        (
            "http.host: \"\"\n",
            "config.yml:4: http.host: must not be empty (leave it out for localhost)",
        ),
        (
            "http.host: unix:///run/lumberwatch.sock\n",
            "config.yml:4: http.host: \"unix:///run/lumberwatch.sock\": unix sockets and named pipes are not supported yet; give an IP address or host name",
        ),
        (
            "http:\n  enabled: true\n  pprof.enabled: true\n",
            "config.yml:6: http.pprof: not supported by lumberwatch (pprof is Go's profiler)",
        ),
        (
            "http.enabled: yes please\n",
            "config.yml:4: http.enabled: expected a boolean (true or false), got \"yes please\"",
        ),
    ];
    for (extra, expected) in cases {
        assert_eq!(err(&format!("{MINIMAL}{extra}")), expected, "{extra}");
    }
}

#[test]
fn elastic_cloud_settings_are_not_supported() {
    assert_eq!(
        err(&format!("{MINIMAL}cloud.id: \"x:y\"\n")),
        "config.yml:4: cloud: not supported by lumberwatch (cloud.id and cloud.auth configure Elastic Cloud's Elasticsearch output)"
    );
}

#[test]
fn queue_flush_takes_filebeats_names_and_defaults_to_at_once() {
    let config = ok(MINIMAL);
    assert_eq!(config.queue_flush, crate::config::QueueFlush::default());
    assert_eq!(config.queue_flush.min_events, 1);
    let config = ok(&format!(
        "{MINIMAL}queue.mem.flush.min_events: 2048\nqueue.mem.flush.timeout: 250ms\n"
    ));
    assert_eq!(config.queue_flush.min_events, 2048);
    assert_eq!(
        config.queue_flush.timeout,
        std::time::Duration::from_millis(250)
    );
    let config = ok(&format!("{MINIMAL}queue.mem.flush.min_events: 0\n"));
    assert_eq!(
        config.queue_flush.min_events, 1,
        "0 means at once, as in Filebeat"
    );
    assert_eq!(
        err(&format!("{MINIMAL}queue.mem.flush.min_event: 5\n")),
        "config.yml:4: queue.mem.flush.min_event: unknown key (did you mean min_events?)"
    );
}

#[test]
fn registry_flush_takes_filebeats_key_and_zero_means_every_ack() {
    assert_eq!(ok(MINIMAL).registry_flush, Duration::from_secs(1));
    assert_eq!(
        ok(&format!("{MINIMAL}filebeat.registry.flush: 0\n")).registry_flush,
        Duration::ZERO
    );
    assert_eq!(
        ok(&format!("{MINIMAL}lumberwatch.registry.flush: 250ms\n")).registry_flush,
        Duration::from_millis(250)
    );
    assert!(
        err(&format!("{MINIMAL}filebeat.registry.path: /x\n")).contains("filebeat.registry.path"),
    );
}

#[test]
fn queue_disk_takes_filebeats_names_with_safe_defaults() {
    use crate::config::{DiskQueueConfig, Fsync, SpooledEvents, WhenFull};
    assert_eq!(ok(MINIMAL).queue_disk, None);
    let config = ok(&format!("{MINIMAL}queue.disk: {{}}\n"));
    assert_eq!(config.queue_disk, Some(DiskQueueConfig::default()));
    let config = ok(&format!("{MINIMAL}queue.disk.max_size: 100MiB\n"));
    let disk = config.queue_disk.unwrap();
    assert_eq!((disk.max_size, disk.segment_size), (100 << 20, 10 << 20));
    assert_eq!(disk.dir(&config.path_data), PathBuf::from("./data/spool"));
    let text = format!(
        "{MINIMAL}queue.disk:\n  path: /var/spool/lw\n  max_size: 1GiB\n  segment_size: 8MiB\n  \
         when_full: drop_oldest\n  fsync: 500ms\n  events: all\n"
    );
    assert_eq!(
        ok(&text).queue_disk,
        Some(DiskQueueConfig {
            path: Some(PathBuf::from("/var/spool/lw")),
            max_size: 1 << 30,
            segment_size: 8 << 20,
            when_full: WhenFull::DropOldest,
            fsync: Fsync::Every(Duration::from_millis(500)),
            events: SpooledEvents::All,
        })
    );
    assert_eq!(
        ok(&format!("{MINIMAL}queue.disk.fsync: never\n"))
            .queue_disk
            .unwrap()
            .fsync,
        Fsync::Never
    );
}

#[test]
fn queue_disk_mistakes_are_one_line_each() {
    let cases = [
        (
            "queue.disk.fsync: sometimes\n",
            "config.yml:4: queue.disk.fsync: expected always, never or an interval like 1s, got \"sometimes\"",
        ),
        (
            "queue.disk.when_full: panic\n",
            "config.yml:4: queue.disk.when_full: expected one of block, drop_oldest, got \"panic\"",
        ),
        (
            "queue.disk:\n  max_size: 10MiB\n  segment_size: 20MiB\n",
            "config.yml:6: queue.disk.segment_size: must not be more than max_size (10485760 bytes)",
        ),
        (
            "queue.disk.max_size: lots\n",
            "config.yml:4: queue.disk.max_size: expected a positive size in bytes, like 10240, 10KiB or 20MiB, got \"lots\"",
        ),
        (
            "queue.disk.read_ahead: 512\n",
            "config.yml:4: queue.disk.read_ahead: not supported by lumberwatch (the reader follows the output's pace)",
        ),
        (
            "queue.disk.events: some\n",
            "config.yml:4: queue.disk.events: expected one of unreplayable, all, got \"some\"",
        ),
    ];
    for (extra, expected) in cases {
        assert_eq!(err(&format!("{MINIMAL}{extra}")), expected, "{extra}");
    }
}

#[test]
fn shutdown_timeout_and_stall_warning() {
    let config = ok(MINIMAL);
    assert_eq!(config.shutdown_timeout, Duration::from_secs(10));
    assert_eq!(config.stall_warning, Duration::from_secs(60));
    let config = ok(&format!("{MINIMAL}filebeat.shutdown_timeout: 5s\n"));
    assert_eq!(config.shutdown_timeout, Duration::from_secs(5));
    let config = ok(&format!(
        "{MINIMAL}lumberwatch:\n  shutdown_timeout: 0s\n  stall_warning: 0s\n"
    ));
    assert_eq!(config.shutdown_timeout, Duration::ZERO);
    assert_eq!(config.stall_warning, Duration::ZERO);
}
