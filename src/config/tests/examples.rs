//! The example configs in `config/` load, and say what they claim to.

use std::path::{Path, PathBuf};

use super::*;
use crate::config::{InputKind, OutputConfig, TlsVersion, load};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name)
}

/// Parses an example with an empty environment, so `${VAR:default}` takes the default.
fn example_config(name: &str) -> Config {
    let path = example(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match parse_with_env(&text, name, &no_env) {
        Ok(config) => config,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn every_example_config_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("config/ exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml") || n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 3, "examples: {names:?}");
    for name in names {
        example_config(&name);
    }
}

#[test]
fn lumberwatch_example_is_stdin_to_logstash_over_tls() {
    let config = example_config("lumberwatch.yml");
    assert_eq!(config.inputs[0].kind, InputKind::Stdin);
    let ls = logstash_of(&config);
    assert_eq!(ls.hosts, vec!["localhost:5044"]);
    let ssl = ls.ssl.as_ref().expect("TLS is on");
    assert_eq!(ssl.certificate_authorities, vec!["certs/ca.crt"]);
    assert!(
        example("../certs/ca.crt").exists(),
        "the CA the example points at exists"
    );
}

#[test]
fn filebeat_compatible_example_reads_like_filebeat() {
    let config = example_config("filebeat-compatible.yml");
    assert_eq!(
        config.inputs.len(),
        1,
        "the disabled filestream input is dropped"
    );
    assert!(matches!(
        config.inputs[0].kind,
        InputKind::Generator { count: 1000, .. }
    ));
    assert_eq!(
        config.inputs[0].common.fields["app"],
        serde_json::json!({"name": "shop"})
    );
    assert_eq!(config.name.as_deref(), Some("web-01"));
    assert_eq!(config.metadata_beat, "filebeat");
    assert_eq!(config.queue_mem_events, 4096);
    let ls = logstash_of(&config);
    assert_eq!(ls.hosts, vec!["localhost:5044", "127.0.0.1:5044"]);
    assert!(ls.loadbalance);
    let ssl = ls.ssl.as_ref().expect("TLS is on");
    assert_eq!(ssl.certificate.as_deref(), Some("certs/client.crt"));
    assert_eq!(
        ssl.supported_protocols,
        vec![TlsVersion::V1_2, TlsVersion::V1_3]
    );
}

#[test]
fn demo_and_console_examples() {
    let demo = example_config("demo.yml");
    assert!(matches!(
        demo.inputs[0].kind,
        InputKind::Generator {
            count: 0,
            rate_per_sec: 4,
            ..
        }
    ));
    assert!(
        logstash_of(&demo)
            .ssl
            .as_ref()
            .is_some_and(|s| s.key.is_some())
    );
    assert_eq!(
        example_config("console.yml").output,
        OutputConfig::Console { pretty: true }
    );
}

#[test]
fn load_reads_a_file_and_names_it_in_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("broken.yml");
    std::fs::write(&path, "lumberwatch.inputs:\n  - type: stdin\noutput.logstash.hosts: [a]\noutput.logstash.worker: many\n")
        .expect("write config");
    let e = load(&path).expect_err("worker is not a number").to_string();
    assert_eq!(
        e,
        format!(
            "{}:4: output.logstash.worker: expected a positive integer, got \"many\"",
            path.display()
        )
    );
    let missing = dir.path().join("missing.yml");
    let e = load(&missing).expect_err("no such file").to_string();
    assert!(
        e.starts_with(&format!("cannot read config file {}: ", missing.display())),
        "{e}"
    );
    assert!(load(&example("console.yml")).is_ok());
}

#[test]
fn flowlogs_example_parses_each_source_and_keeps_two_tables() {
    let config = example_config("flowlogs.yml");
    let formats: Vec<&str> = config
        .inputs
        .iter()
        .map(|i| {
            i.common
                .parser
                .as_ref()
                .expect("every input parses")
                .format
                .name()
        })
        .collect();
    assert_eq!(formats, ["aws-vpc", "azure-nsg", "iptables", "access-log"]);
    assert_eq!(config.stats.keys, ["source.ip", "destination.port"]);
}

#[test]
fn rule_examples_ask_the_users_questions() {
    use crate::rules::RuleKind;
    let websense = example_config("websense.yml");
    let kinds: Vec<(&str, &str, &str)> = websense
        .rules
        .iter()
        .map(|r| (r.name.as_str(), r.action(), r.key.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("proxy-silent-6h", "flatline", "log.source.ip"),
            ("proxy-under-20mb-per-hour", "rate", "log.source.ip"),
            ("proxy-daily", "report", "log.source.ip"),
        ]
    );
    assert_eq!(websense.rules[0].expected.keys().len(), 5);
    match &websense.rules[1].kind {
        RuleKind::Rate(w) => {
            assert_eq!(w.window_secs, 3600);
            assert_eq!(w.threshold, Some(20_000_000));
        }
        other => panic!("{other:?}"),
    }
    assert!(websense.inputs[0].common.parser.is_some());
    for name in ["nsg-flow.yml", "vpc-flow.yml"] {
        let config = example_config(name);
        assert_eq!(config.rules.len(), 3, "{name}");
        assert!(config.inputs[0].feeds_stats(), "{name}");
    }
}

#[test]
fn socket_inputs_feed_the_statistics() {
    for name in ["flows.yml", "conntrack.yml", "syslog.yml"] {
        let config = example_config(name);
        assert!(config.inputs.iter().all(|i| i.feeds_stats()), "{name}");
    }
}
