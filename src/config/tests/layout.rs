//! The file's shape: dotted vs nested keys, merging, duplicates, YAML-level errors, line
//! numbers, unknown keys and wrong types.

use super::*;

#[test]
fn dotted_nested_and_mixed_keys_are_the_same_config() {
    let dotted = "lumberwatch.inputs:\n  - type: stdin\noutput.logstash.hosts: [\"a\"]\noutput.logstash.ssl.verification_mode: none\n";
    let nested = "lumberwatch:\n  inputs:\n    - type: stdin\noutput:\n  logstash:\n    hosts: [\"a\"]\n    ssl:\n      verification_mode: none\n";
    let mixed = "lumberwatch.inputs:\n  - type: stdin\noutput.logstash:\n  hosts: [\"a\"]\n  ssl.verification_mode: none\n";
    let flow = "{lumberwatch: {inputs: [{type: stdin}]}, output.logstash: {hosts: [a], ssl: {verification_mode: none}}}";
    let expected = ok(dotted);
    assert_eq!(ok(nested), expected);
    assert_eq!(ok(mixed), expected);
    assert_eq!(ok(flow), expected);
    assert_eq!(logstash_of(&expected).hosts, vec!["a:5044"]);
}

#[test]
fn two_spellings_of_one_section_merge() {
    let text = "lumberwatch.inputs:\n  - type: stdin\noutput.logstash.hosts: [\"a\"]\noutput:\n  logstash:\n    worker: 3\noutput.logstash.backoff:\n  max: 2m\n";
    let config = ok(text);
    let ls = logstash_of(&config);
    assert_eq!(ls.hosts, vec!["a:5044"]);
    assert_eq!(ls.worker, 3);
    assert_eq!(ls.backoff.max, std::time::Duration::from_secs(120));
}

#[test]
fn a_value_set_through_dotted_and_nested_keys_names_both_lines() {
    let text = "lumberwatch.inputs:\n  - type: stdin\noutput.logstash.hosts: [\"a\"]\noutput:\n  logstash:\n    hosts: [\"b\"]\n";
    assert_eq!(
        err(text),
        "config.yml:6: output.logstash.hosts: set twice (first on line 3)"
    );
}

#[test]
fn a_value_and_a_section_at_the_same_path_conflict() {
    let text = "lumberwatch.inputs:\n  - type: stdin\noutput.logstash: yes\noutput.logstash.hosts: [\"a\"]\n";
    assert_eq!(
        err(text),
        "config.yml:4: output.logstash: set twice (first on line 3)"
    );
}

#[test]
fn a_key_repeated_in_one_mapping_is_an_error_not_last_wins() {
    let text = logstash("worker: 2\nworker: 4");
    assert_eq!(
        err(&text),
        "config.yml:6: output.logstash.worker: set twice (first on line 5)"
    );
}

#[test]
fn a_section_repeated_in_one_mapping_is_an_error() {
    let text = "lumberwatch.inputs:\n  - type: stdin\noutput:\n  logstash:\n    hosts: [a]\noutput:\n  console: {}\n";
    assert_eq!(
        err(text),
        "config.yml:6: output: set twice (first on line 3)"
    );
}

#[test]
fn a_null_never_overrides_a_value() {
    let text =
        "lumberwatch.inputs:\n  - type: stdin\noutput.logstash.hosts: [\"a\"]\noutput.logstash:\n";
    assert_eq!(logstash_of(&ok(text)).hosts, vec!["a:5044"]);
    let text =
        "lumberwatch.inputs:\n  - type: stdin\noutput.logstash:\noutput.logstash.hosts: [\"a\"]\n";
    assert_eq!(logstash_of(&ok(text)).hosts, vec!["a:5044"]);
}

#[test]
fn unknown_keys_are_errors_with_a_suggestion() {
    let text = logstash("compresion_level: 5");
    assert_eq!(
        err(&text),
        "config.yml:5: output.logstash.compresion_level: unknown key (did you mean compression_level?)"
    );
    let text = format!("{MINIMAL}outptu.console.pretty: true\n");
    assert_eq!(
        err(&text),
        "config.yml:4: outptu: unknown key (did you mean output?)"
    );
    let text = format!("{MINIMAL}frobnicate: 1\n");
    assert_eq!(err(&text), "config.yml:4: frobnicate: unknown key");
}

#[test]
fn wrong_types_name_the_expected_type_and_the_value() {
    assert_eq!(
        err(&logstash("bulk_max_size: lots")),
        "config.yml:5: output.logstash.bulk_max_size: expected a positive integer, got \"lots\""
    );
    assert_eq!(
        err(&logstash("loadbalance: [true]")),
        "config.yml:5: output.logstash.loadbalance: expected a boolean (true or false), got a list"
    );
    assert_eq!(
        err(&logstash("ssl: [a]")),
        "config.yml:5: output.logstash.ssl: expected a mapping of settings, got a list"
    );
    assert_eq!(
        err(&logstash("index: {a: b}")),
        "config.yml:5: output.logstash.index: expected a string, got a mapping"
    );
}

#[test]
fn quoted_numbers_and_booleans_convert_like_go_ucfg() {
    let config = ok(&logstash(
        "bulk_max_size: \"100\"\nloadbalance: \"true\"\nslow_start: on",
    ));
    let ls = logstash_of(&config);
    assert_eq!(ls.bulk_max_size, 100);
    assert!(ls.loadbalance);
    assert!(ls.slow_start);
}

#[test]
fn anchors_aliases_and_merge_keys_are_resolved() {
    let text = "defaults: &ls\n  hosts: [\"a\"]\n  worker: 2\n";
    // `defaults` is not a setting, so anchor inside a real section instead.
    assert!(err(&format!("{text}{MINIMAL}")).contains("defaults: unknown key"));
    let text = "lumberwatch.inputs:\n  - &in {type: stdin, tags: [x]}\n  - *in\noutput.logstash:\n  <<: {hosts: [\"a\"], worker: 2}\n  worker: 5\n";
    let config = ok(text);
    assert_eq!(config.inputs.len(), 2);
    assert_eq!(config.inputs[1].common.tags, vec!["x"]);
    let ls = logstash_of(&config);
    assert_eq!(
        (ls.hosts.clone(), ls.worker),
        (vec!["a:5044".to_string()], 5)
    );
}

#[test]
fn alias_bombs_are_rejected_quickly() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let e = err(&text);
    assert!(e.contains("invalid YAML: more than 100000 values"), "{e}");
}

#[test]
fn deep_nesting_is_rejected() {
    let text = format!("a: {}{}", "[".repeat(70), "]".repeat(70));
    assert_eq!(
        err(&text),
        "config.yml:1: invalid YAML: nested deeper than 64 levels"
    );
    // Far deeper, the parser's own limit answers first; either way, no stack overflow.
    let text = format!("a: {}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        err(&text),
        "config.yml:1: invalid YAML: recursion limit exceeded"
    );
    let key = vec!["k"; 100].join(".");
    assert_eq!(
        err(&format!("{key}: 1")),
        format!("config.yml:1: {key}: nested deeper than 64 levels")
    );
}

#[test]
fn yaml_syntax_errors_name_file_and_line() {
    let e = err(
        "lumberwatch.inputs:\n  - type: stdin\noutput.logstash:\n  hosts: [\"a\"\n  worker: 1\n",
    );
    assert_eq!(e, "config.yml:5: invalid YAML: invalid indentation");
    assert_eq!(
        err("name: a\n  worker: 1\n"),
        "config.yml:2: invalid YAML: mapping values are not allowed in this context"
    );
    assert_eq!(
        err("name: *x\n"),
        "config.yml:1: invalid YAML: while parsing node, found unknown anchor"
    );
}

#[test]
fn the_top_level_must_be_a_mapping() {
    assert_eq!(
        err("- a\n- b\n"),
        "config.yml:1: invalid YAML: the top level must be a mapping of settings, got a list"
    );
    assert_eq!(
        err("just text"),
        "config.yml:1: invalid YAML: the top level must be a mapping of settings, got \"just text\""
    );
}

#[test]
fn only_one_document_per_file() {
    let e = err(&format!("{MINIMAL}---\nname: x\n"));
    assert_eq!(
        e,
        "config.yml:4: invalid YAML: more than one YAML document (---); a config file holds exactly one"
    );
}

#[test]
fn empty_files_and_comment_only_files_need_inputs() {
    let expected = "config.yml: lumberwatch.inputs: no inputs configured; add at least one under lumberwatch.inputs (or filebeat.inputs)";
    assert_eq!(err(""), expected);
    assert_eq!(err("# nothing here\n"), expected);
}

#[test]
fn keys_with_empty_segments_are_rejected() {
    let text = format!("{MINIMAL}output..console: {{}}\n");
    assert_eq!(
        err(&text),
        "config.yml:4: output..console: empty key segment (keys are split on '.')"
    );
}

#[test]
fn complex_mapping_keys_are_rejected() {
    let e = err("? [a, b]\n: c\n");
    assert_eq!(
        e,
        "config.yml:1: invalid YAML: a mapping key must be a plain string, not a list or mapping"
    );
}

#[test]
fn str_tag_keeps_a_value_a_string() {
    let config = ok(&format!(
        "{MINIMAL}fields:\n  n: !!str 12\n  m: 12\n  q: \"12\"\n"
    ));
    assert_eq!(config.fields["n"], serde_json::json!("12"));
    assert_eq!(config.fields["m"], serde_json::json!(12));
    assert_eq!(config.fields["q"], serde_json::json!("12"));
}

#[test]
fn errors_expose_line_and_key() {
    let e = try_env(&logstash("worker: 0"), &[]).expect_err("worker 0 is invalid");
    assert_eq!(e.line(), Some(5));
    assert_eq!(e.key(), Some("output.logstash.worker"));
}
