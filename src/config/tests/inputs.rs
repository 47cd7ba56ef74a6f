//! `lumberwatch.inputs` / `filebeat.inputs`.

use super::*;
use crate::config::{InputCommon, InputConfig, InputKind};

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
    for kind in ["filestream", "log", "container", "syslog", "tcp", "udp"] {
        let text = with_inputs(&format!("  - type: {kind}\n    paths: [/x]\n"));
        assert_eq!(
            err(&text),
            format!(
                "config.yml:2: lumberwatch.inputs.0.type: input type {kind} is not supported yet (supported: stdin, generator)"
            )
        );
    }
}

#[test]
fn unknown_input_types_say_so() {
    let text = with_inputs("  - type: stdin\n  - type: telepathy\n");
    assert_eq!(
        err(&text),
        "config.yml:3: lumberwatch.inputs.1.type: unknown input type \"telepathy\" (supported: stdin, generator)"
    );
}

#[test]
fn an_input_needs_a_type() {
    let text = with_inputs("  - id: x\n");
    assert_eq!(
        err(&text),
        "config.yml:2: lumberwatch.inputs.0.type: required; set type: stdin or type: generator"
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
