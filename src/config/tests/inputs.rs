//! `lumberwatch.inputs` / `filebeat.inputs`.

use super::*;
use std::time::Duration;

use crate::config::{FilestreamConfig, InputCommon, InputConfig, InputKind};

fn with_inputs(inputs: &str) -> String {
    format!("lumberwatch.inputs:\n{inputs}output.logstash.hosts: [a]\n")
}

#[test]
fn stdin_input_with_common_settings() {
    let text = with_inputs(
        "  - type: stdin\n    id: in1\n    tags: [a, b]\n    fields: {env: prod, n: 3}\n    fields_under_root: true\n",
    );
    let config = ok(&text);
    let mut fields = serde_json::Map::new();
    fields.insert("env".into(), "prod".into());
    fields.insert("n".into(), 3.into());
    assert_eq!(
        config.inputs,
        vec![InputConfig {
            kind: InputKind::Stdin,
            common: InputCommon {
                id: Some("in1".into()),
                enabled: true,
                tags: vec!["a".into(), "b".into()],
                fields,
                fields_under_root: true,
                parser: None,
            },
        }]
    );
}

#[test]
fn generator_input_reads_count_message_and_rate() {
    let text = with_inputs(
        "  - type: generator\n    count: 10\n    message: hello\n    rate_per_sec: 5\n",
    );
    assert_eq!(
        ok(&text).inputs[0].kind,
        InputKind::Generator {
            count: 10,
            message: Some("hello".into()),
            rate_per_sec: 5
        }
    );
}

#[test]
fn generator_defaults_are_unbounded_and_unthrottled() {
    let text = with_inputs("  - type: generator\n");
    assert_eq!(
        ok(&text).inputs[0].kind,
        InputKind::Generator {
            count: 0,
            message: None,
            rate_per_sec: 0
        }
    );
}

#[test]
fn filebeat_inputs_is_an_alias() {
    let lw = ok(&with_inputs("  - type: stdin\n"));
    let fb = ok("filebeat.inputs:\n  - type: stdin\noutput.logstash.hosts: [a]\n");
    assert_eq!(lw, fb);
}

#[test]
fn both_input_lists_is_an_error_naming_both_lines() {
    let text = "lumberwatch.inputs:\n  - type: stdin\nfilebeat.inputs:\n  - type: stdin\noutput.logstash.hosts: [a]\n";
    assert_eq!(
        err(text),
        "config.yml:3: filebeat.inputs: conflicts with lumberwatch.inputs on line 1; set only one of them"
    );
    let text = "filebeat.inputs:\n  - type: stdin\nlumberwatch:\n  inputs:\n    - type: stdin\noutput.logstash.hosts: [a]\n";
    assert_eq!(
        err(text),
        "config.yml:4: lumberwatch.inputs: conflicts with filebeat.inputs on line 1; set only one of them"
    );
}

#[test]
fn disabled_inputs_are_dropped_without_being_checked() {
    let text = with_inputs(
        "  - type: filestream\n    enabled: false\n    paths: [/var/log/*.log]\n  - type: stdin\n",
    );
    let config = ok(&text);
    assert_eq!(config.inputs.len(), 1);
    assert_eq!(config.inputs[0].kind, InputKind::Stdin);
    assert!(config.inputs[0].common.enabled);
}

#[test]
fn all_inputs_disabled_is_an_error() {
    let text = with_inputs("  - type: stdin\n    enabled: false\n");
    assert_eq!(
        err(&text),
        "config.yml:1: lumberwatch.inputs: every input is disabled (enabled: false); enable at least one"
    );
}

#[test]
fn known_filebeat_input_types_are_not_supported_yet() {
    for kind in ["docker", "tcp", "udp"] {
        let text = with_inputs(&format!("  - type: {kind}\n    paths: [/x]\n"));
        assert_eq!(
            err(&text),
            format!(
                "config.yml:2: lumberwatch.inputs.0.type: input type {kind} is not supported yet (supported: filestream, log, container, syslog, stdin, generator)"
            )
        );
    }
}

#[test]
fn unknown_input_types_say_so() {
    let text = with_inputs("  - type: stdin\n  - type: telepathy\n");
    assert_eq!(
        err(&text),
        "config.yml:3: lumberwatch.inputs.1.type: unknown input type \"telepathy\" (supported: filestream, log, container, syslog, stdin, generator)"
    );
}

#[test]
fn an_input_needs_a_type() {
    let text = with_inputs("  - id: x\n");
    assert_eq!(
        err(&text),
        "config.yml:2: lumberwatch.inputs.0.type: required; set type: filestream, container, syslog, flows, conntrack, stdin or generator"
    );
}

#[test]
fn input_keys_are_checked_per_type() {
    let text = with_inputs("  - type: stdin\n    count: 3\n");
    assert_eq!(
        err(&text),
        "config.yml:3: lumberwatch.inputs.0.count: unknown key"
    );
    let text = with_inputs("  - type: generator\n    cuont: 3\n");
    assert_eq!(
        err(&text),
        "config.yml:3: lumberwatch.inputs.0.cuont: unknown key (did you mean count?)"
    );
    let text = with_inputs("  - type: stdin\n    processors: []\n");
    assert_eq!(
        err(&text),
        "config.yml:3: lumberwatch.inputs.0.processors: not supported yet"
    );
}

#[test]
fn generator_numbers_are_checked() {
    let text = with_inputs("  - type: generator\n    count: -1\n");
    assert_eq!(
        err(&text),
        "config.yml:3: lumberwatch.inputs.0.count: expected a non-negative integer (0 = unbounded), got -1"
    );
}

#[test]
fn duplicate_input_ids_name_both_lines() {
    let text = with_inputs("  - type: stdin\n    id: a\n  - type: generator\n    id: a\n");
    assert_eq!(
        err(&text),
        "config.yml:5: lumberwatch.inputs.1.id: set twice (first on line 3)"
    );
}

#[test]
fn inputs_must_be_a_list_of_mappings() {
    assert_eq!(
        err("lumberwatch.inputs: stdin\noutput.logstash.hosts: [a]\n"),
        "config.yml:1: lumberwatch.inputs: expected a list of inputs, got \"stdin\""
    );
    assert_eq!(
        err("lumberwatch.inputs: [stdin]\noutput.logstash.hosts: [a]\n"),
        "config.yml:1: lumberwatch.inputs.0: expected a mapping of input settings, got \"stdin\""
    );
}

#[test]
fn enabled_must_be_a_boolean() {
    let text = with_inputs("  - type: stdin\n    enabled: sometimes\n");
    assert_eq!(
        err(&text),
        "config.yml:3: lumberwatch.inputs.0.enabled: expected a boolean (true or false), got \"sometimes\""
    );
}

#[test]
fn input_fields_with_dotted_keys_nest() {
    let text =
        with_inputs("  - type: stdin\n    fields:\n      app.name: shop\n      app.tier: web\n");
    assert_eq!(
        ok(&text).inputs[0].common.fields["app"],
        serde_json::json!({"name": "shop", "tier": "web"})
    );
}

fn filestream_of(text: &str) -> FilestreamConfig {
    match ok(&with_inputs(text)).inputs.remove(0).kind {
        InputKind::Filestream(f) => f,
        other => panic!("not a filestream input: {other:?}"),
    }
}

#[test]
fn filestream_defaults_are_filebeats() {
    let f = filestream_of("  - type: filestream\n    paths: [/var/log/*.log]\n");
    assert_eq!(f, FilestreamConfig::new(vec!["/var/log/*.log".into()]));
    assert_eq!(f.check_interval, Duration::from_secs(10));
    assert_eq!(f.close_inactive, Duration::from_secs(300));
    assert_eq!(f.message_max_bytes, 10 << 20);
    assert_eq!(f.input_type, "filestream");
}

#[test]
fn filestream_reads_every_supported_setting_nested_or_dotted() {
    let f = filestream_of(concat!(
        "  - type: filestream\n",
        "    paths: [/a/*.log, /b/x.log]\n",
        "    prospector.scanner.check_interval: 250ms\n",
        "    close:\n      on_state_change:\n        inactive: 1m\n",
        "    exclude_files: ['\\.gz$']\n",
        "    include_lines: ['^ERR', '^WARN']\n",
        "    exclude_lines: ['^DBG']\n",
        "    ignore_older: 48h\n",
        "    harvester_limit: 7\n",
        "    message_max_bytes: 1024\n",
    ));
    assert_eq!(f.paths, vec!["/a/*.log", "/b/x.log"]);
    assert_eq!(f.check_interval, Duration::from_millis(250));
    assert_eq!(f.close_inactive, Duration::from_secs(60));
    assert_eq!(f.exclude_files, vec!["\\.gz$"]);
    assert_eq!(f.include_lines, vec!["^ERR", "^WARN"]);
    assert_eq!(f.exclude_lines, vec!["^DBG"]);
    assert_eq!(f.ignore_older, Some(Duration::from_secs(48 * 3600)));
    assert_eq!(f.harvester_limit, 7);
    assert_eq!(f.message_max_bytes, 1024);
}

#[test]
fn log_is_an_alias_with_its_old_setting_names() {
    let f = filestream_of(
        "  - type: log\n    paths: /x.log\n    scan_frequency: 1s\n    close_inactive: 2m\n    max_bytes: 99\n",
    );
    assert_eq!(f.input_type, "log");
    assert_eq!(f.paths, vec!["/x.log"]);
    assert_eq!(f.check_interval, Duration::from_secs(1));
    assert_eq!(f.close_inactive, Duration::from_secs(120));
    assert_eq!(f.message_max_bytes, 99);
}

#[test]
fn filestream_errors_name_line_and_key() {
    assert_eq!(
        err(&with_inputs("  - type: filestream\n    id: x\n")),
        "config.yml:2: lumberwatch.inputs.0.paths: required; list the files to read, e.g. paths: [/var/log/*.log]"
    );
    assert_eq!(
        err(&with_inputs(
            "  - type: filestream\n    paths: [/x]\n    exclude_lines: ['(']\n"
        )),
        "config.yml:4: lumberwatch.inputs.0.exclude_lines: invalid regular expression \"(\": error: unclosed group"
    );
    assert_eq!(
        err(&with_inputs(
            "  - type: filestream\n    paths: [/x]\n    prospector.scanner.check_interval: 0s\n"
        )),
        "config.yml:4: lumberwatch.inputs.0.prospector.scanner.check_interval: must be longer than 0s"
    );
    assert_eq!(
        err(&with_inputs(
            "  - type: filestream\n    paths: [/x]\n    encoding: utf-16le\n"
        )),
        "config.yml:4: lumberwatch.inputs.0.encoding: \"utf-16le\" is not supported yet: lumberwatch reads utf-8 (invalid bytes replaced), which also covers plain and ascii"
    );
    assert!(
        err(&with_inputs(
            "  - type: filestream\n    paths: [/x]\n    harvester_limt: 1\n"
        ))
        .starts_with("config.yml:4: lumberwatch.inputs.0.harvester_limt: unknown key"),
    );
}

#[test]
fn clean_removed_defaults_to_true_and_must_be_a_boolean() {
    assert!(filestream_of("  - type: filestream\n    paths: [/x]\n").clean_removed);
    let off = "  - type: filestream\n    paths: [/x]\n    clean_removed: false\n";
    assert!(!filestream_of(off).clean_removed);
    assert!(!filestream_of(&off.replace("filestream", "log")).clean_removed);
    let e = err(&with_inputs(
        "  - type: filestream\n    paths: [/x]\n    clean_removed: sometimes\n",
    ));
    assert!(
        e.starts_with("config.yml:4: lumberwatch.inputs.0.clean_removed: "),
        "{e}"
    );
}

#[test]
fn multiline_parser_is_read_with_filebeats_defaults() {
    let f = filestream_of(concat!(
        "  - type: filestream\n",
        "    paths: [/x]\n",
        "    parsers:\n",
        "      - multiline:\n",
        "          type: pattern\n",
        "          pattern: '^\\['\n",
        "          negate: true\n",
        "          match: after\n",
    ));
    assert_eq!(
        f.multiline,
        Some(crate::config::MultilineConfig {
            pattern: "^\\[".into(),
            negate: true,
            match_: crate::config::MultilineMatch::After,
            max_lines: 500,
            timeout: Duration::from_secs(5),
        })
    );
    let f = filestream_of(concat!(
        "  - type: filestream\n",
        "    paths: [/x]\n",
        "    parsers:\n",
        "      - multiline.pattern: '^[[:space:]]'\n",
        "        multiline.match: before\n",
        "        multiline.max_lines: 3\n",
        "        multiline.timeout: 250ms\n",
    ));
    let m = f.multiline.unwrap();
    assert_eq!(m.match_, crate::config::MultilineMatch::Before);
    assert!(!m.negate);
    assert_eq!((m.max_lines, m.timeout), (3, Duration::from_millis(250)));
    assert_eq!(
        filestream_of("  - type: filestream\n    paths: [/x]\n    parsers: []\n").multiline,
        None
    );
}

#[test]
fn multiline_errors_name_line_and_key() {
    let parsers = |body: &str| {
        err(&with_inputs(&format!(
            "  - type: filestream\n    paths: [/x]\n    parsers:\n{body}"
        )))
    };
    assert_eq!(
        parsers("      - multiline:\n          pattern: '('\n          match: after\n"),
        "config.yml:6: lumberwatch.inputs.0.parsers.0.multiline.pattern: invalid regular expression \"(\": error: unclosed group"
    );
    assert_eq!(
        parsers("      - multiline:\n          pattern: x\n          match: sideways\n"),
        "config.yml:7: lumberwatch.inputs.0.parsers.0.multiline.match: expected after or before, got \"sideways\""
    );
    assert_eq!(
        parsers("      - multiline:\n          pattern: x\n"),
        "config.yml:5: lumberwatch.inputs.0.parsers.0.multiline.match: required; set match: after or match: before"
    );
    assert_eq!(
        parsers("      - multiline:\n          type: count\n          count_lines: 3\n"),
        "config.yml:7: lumberwatch.inputs.0.parsers.0.multiline.count_lines: not supported yet"
    );
    assert_eq!(
        parsers("      - multiline:\n          type: count\n"),
        "config.yml:6: lumberwatch.inputs.0.parsers.0.multiline.type: type count is not supported yet (supported: pattern)"
    );
    assert_eq!(
        parsers("      - ndjson:\n          target: ''\n"),
        "config.yml:5: lumberwatch.inputs.0.parsers.0.ndjson: not supported yet"
    );
    assert_eq!(
        parsers(concat!(
            "      - multiline: {pattern: x, match: after}\n",
            "      - multiline: {pattern: y, match: after}\n",
        )),
        "config.yml:6: lumberwatch.inputs.0.parsers.1.multiline: a second multiline parser (the first is on line 5); only one is supported"
    );
}

#[test]
fn fingerprint_identity_needs_the_scanner_fingerprint() {
    let f = filestream_of(concat!(
        "  - type: filestream\n",
        "    paths: [/x]\n",
        "    file_identity.fingerprint: ~\n",
        "    prospector.scanner.fingerprint:\n",
        "      enabled: true\n",
        "      offset: 16\n",
    ));
    assert_eq!(
        f.fingerprint,
        Some(crate::config::FingerprintConfig {
            offset: 16,
            length: 1024
        })
    );
    let native = filestream_of(
        "  - type: filestream\n    paths: [/x]\n    file_identity.native: ~\n    prospector.scanner.fingerprint.enabled: true\n",
    );
    assert_eq!(native.fingerprint, None);
    assert_eq!(
        err(&with_inputs(
            "  - type: filestream\n    paths: [/x]\n    file_identity.fingerprint: ~\n"
        )),
        "config.yml:4: lumberwatch.inputs.0.file_identity.fingerprint: needs prospector.scanner.fingerprint.enabled: true"
    );
    assert_eq!(
        err(&with_inputs(concat!(
            "  - type: filestream\n    paths: [/x]\n    file_identity.fingerprint: ~\n",
            "    prospector.scanner.fingerprint: {enabled: true, length: 10}\n",
        ))),
        "config.yml:5: lumberwatch.inputs.0.prospector.scanner.fingerprint.length: expected a number of bytes, at least 64, got 10"
    );
    assert_eq!(
        err(&with_inputs(
            "  - type: filestream\n    paths: [/x]\n    file_identity:\n      native: ~\n      fingerprint: ~\n"
        )),
        "config.yml:6: lumberwatch.inputs.0.file_identity: set only one of native and fingerprint"
    );
    assert_eq!(
        err(&with_inputs(
            "  - type: filestream\n    paths: [/x]\n    file_identity.path: ~\n"
        )),
        "config.yml:4: lumberwatch.inputs.0.file_identity.path: not supported yet"
    );
}

#[test]
fn container_input_defaults_to_dockers_paths_and_reads_stream_and_format() {
    use crate::input::container::{Format, StreamFilter};
    let f = filestream_of("  - type: container\n");
    assert_eq!(f.input_type, "container");
    assert_eq!(
        f.paths,
        vec![crate::config::CONTAINER_DEFAULT_PATHS.to_string()]
    );
    assert_eq!(
        f.container,
        Some(crate::config::ContainerOptions::default())
    );
    let f = filestream_of(concat!(
        "  - type: container\n",
        "    paths: ['/var/log/containers/*.log']\n",
        "    stream: stderr\n",
        "    format: cri\n",
        "    prospector.scanner.check_interval: 1s\n",
        "    exclude_lines: ['^DBG']\n",
    ));
    assert_eq!(f.paths, vec!["/var/log/containers/*.log".to_string()]);
    let options = f.container.unwrap();
    assert_eq!(options.stream, StreamFilter::Stderr);
    assert_eq!(options.format, Format::Cri);
    assert_eq!(f.check_interval, Duration::from_secs(1));
    assert_eq!(f.exclude_lines, vec!["^DBG".to_string()]);
}

#[test]
fn container_input_errors_name_the_file_line_and_key() {
    assert_eq!(
        err(&with_inputs("  - type: container\n    stream: stdlog\n")),
        "config.yml:3: lumberwatch.inputs.0.stream: expected one of all, stdout, stderr, got \"stdlog\""
    );
    assert_eq!(
        err(&with_inputs("  - type: container\n    format: json-file\n")),
        "config.yml:3: lumberwatch.inputs.0.format: expected one of auto, docker, cri, got \"json-file\""
    );
    assert!(
        err(&with_inputs("  - type: container\n    parsers: []\n")).contains("not supported yet"),
    );
}

#[test]
fn encodings_that_are_utf8_are_accepted() {
    for encoding in ["plain", "utf-8", "UTF8", "ascii"] {
        let config = ok(&with_inputs(&format!(
            "  - type: filestream\n    paths: [/x]\n    encoding: {encoding}\n"
        )));
        assert_eq!(config.inputs.len(), 1, "{encoding}");
    }
}
