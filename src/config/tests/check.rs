//! `check`: every key left out is reported, in line order; what stops the walk ends it.

use super::super::{check_with_env, summary};
use super::*;

fn problems(text: &str) -> Vec<String> {
    match check_with_env(text, "config.yml", &no_env) {
        Ok(config) => panic!("expected problems, got {config:?}\n--- config ---\n{text}"),
        Err(found) => found.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn check_reports_every_key_it_leaves_out_in_line_order() {
    let text = "processors:\n  - add_host_metadata: ~\n\
                lumberwatch.inputs:\n  - type: stdin\n    colour: red\n    processors: []\n\
                output.logstash:\n  hosts: [localhost]\n  compresion_level: 3\n\
                setup.kibana.host: kibana:5601\ncloud.id: x\n";
    assert_eq!(
        problems(text),
        [
            "config.yml:1: processors: not supported yet",
            "config.yml:5: lumberwatch.inputs.0.colour: unknown key",
            "config.yml:6: lumberwatch.inputs.0.processors: not supported yet",
            "config.yml:9: output.logstash.compresion_level: unknown key (did you mean compression_level?)",
            "config.yml:10: setup: not supported yet",
            "config.yml:11: cloud: not supported by lumberwatch (cloud.id and cloud.auth configure Elastic Cloud's Elasticsearch output)",
        ]
    );
    // `load` stops at the first of them, as `run` does.
    assert_eq!(err(text), "config.yml:1: processors: not supported yet");
}

#[test]
fn check_leaves_out_an_input_of_a_type_not_supported_yet_and_checks_the_others() {
    let text = "filebeat.inputs:\n  - type: journald\n  - type: stdin\n    tgas: [a]\n\
                output.console: {}\n";
    assert_eq!(
        problems(text),
        [
            "config.yml:2: filebeat.inputs.0.type: input type journald is not supported yet (supported: filestream, log, container, syslog, stdin, generator)",
            "config.yml:4: filebeat.inputs.1.tgas: unknown key",
        ]
    );
    // The only input left out: no "no inputs" problem on top.
    assert_eq!(
        problems("filebeat.inputs: [{type: udp}]\noutput.console: {}\n").len(),
        1
    );
}

#[test]
fn a_wrong_type_stops_the_check_after_what_was_found_before_it() {
    let text = "monitoring.enabled: false\nlumberwatch.inputs:\n  - type: stdin\n\
                output.logstash:\n  hosts: [localhost]\n  worker: many\nxpack.enabled: true\n";
    let found = problems(text);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert_eq!(found[0], "config.yml:1: monitoring: not supported yet");
    assert!(
        found[1].starts_with("config.yml:6: output.logstash.worker: expected"),
        "{found:#?}"
    );
    assert_eq!(found[2], "config.yml:7: xpack: not supported yet");
}

#[test]
fn a_config_without_problems_checks_like_it_loads() {
    let config = check_with_env(MINIMAL, "config.yml", &no_env).expect("no problems");
    assert_eq!(config, ok(MINIMAL));
}

#[test]
fn the_summary_counts_the_problems_by_kind() {
    let found = check_with_env(
        "processors: []\nsetup: {}\ncloud.id: x\nfoo: 1\nlumberwatch.inputs: [{type: stdin}]\noutput.console: {}\n",
        "f.yml",
        &no_env,
    )
    .expect_err("four problems");
    assert_eq!(
        summary(&found, "f.yml"),
        "4 problems in f.yml (2 not supported yet, 1 not supported, 1 unknown)"
    );
}
