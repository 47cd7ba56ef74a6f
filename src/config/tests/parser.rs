//! `parser:` on line inputs and `lumberwatch.stats`.

use super::*;
use crate::parse::Format;

fn with_input(input: &str) -> String {
    format!("lumberwatch.inputs:\n  - {input}\noutput.logstash.hosts: [\"localhost\"]\n")
}

#[test]
fn a_parser_is_named_or_given_with_its_options() {
    let config = ok(&with_input("type: stdin\n    parser: iptables"));
    let spec = config.inputs[0].common.parser.as_ref().expect("parser set");
    assert_eq!(spec.format, Format::by_name("iptables").unwrap());
    assert!(config.inputs[0].feeds_stats());

    let config = ok(&with_input(
        "type: filestream\n    paths: [/x/*.log]\n    parser:\n      type: aws-vpc\n      fields: version srcaddr dstaddr bytes",
    ));
    let spec = config.inputs[0].common.parser.as_ref().expect("parser set");
    assert_eq!(spec.format.name(), "aws-vpc");
    assert_eq!(
        spec.fields.as_deref(),
        Some(&["version", "srcaddr", "dstaddr", "bytes"].map(String::from)[..])
    );
    // A list of names works too.
    let config = ok(&with_input(
        "type: stdin\n    parser: {type: aws-vpc, fields: [srcaddr, dstaddr]}",
    ));
    assert_eq!(
        config.inputs[0]
            .common
            .parser
            .as_ref()
            .unwrap()
            .fields
            .as_ref()
            .unwrap()
            .len(),
        2
    );
    assert!(!ok(MINIMAL).inputs[0].feeds_stats());
}

#[test]
fn a_wrong_parser_is_one_line_naming_file_line_and_key() {
    let e = err(&with_input("type: stdin\n    parser: netflow"));
    assert!(
        e.starts_with("config.yml:3: lumberwatch.inputs.0.parser: unknown format \"netflow\"; one of azure-nsg,"),
        "{e}"
    );
    let e = err(&with_input("type: stdin\n    parser:\n      fields: a"));
    assert!(
        e.starts_with("config.yml:3: lumberwatch.inputs.0.parser.type: required; one of "),
        "{e}"
    );
    let e = err(&with_input(
        "type: stdin\n    parser: {type: iptables, pattern: x}",
    ));
    assert!(
        e.starts_with("config.yml:3: lumberwatch.inputs.0.parser: iptables: "),
        "{e}"
    );
    assert!(e.contains("pattern"), "{e}");
    let e = err(&with_input(
        "type: stdin\n    parser: {type: aws-vpc, fields: [srcaddr, bogus]}",
    ));
    assert!(e.contains("bogus"), "an unknown AWS field is named: {e}");
    let e = err(&with_input(
        "type: stdin\n    parser: {type: iptables, colour: red}",
    ));
    assert!(
        e.starts_with("config.yml:3: lumberwatch.inputs.0.parser.colour: unknown key"),
        "{e}"
    );
    let e = err(&with_input("type: generator\n    parser: iptables"));
    assert!(
        e.contains("lumberwatch.inputs.0.parser: unknown key"),
        "{e}"
    );
}

#[test]
fn statistics_settings_have_defaults_and_are_checked() {
    let stats = ok(MINIMAL).stats;
    assert_eq!(stats.keys, ["source.ip"]);
    assert_eq!((stats.bucket_secs, stats.retention_secs), (60, 25 * 3600));
    let text = format!(
        "{MINIMAL}lumberwatch.stats:\n  keys: [source.ip, log.source.ip]\n  bucket: 5m\n  retention: 48h\n  max_keys: 500\n"
    );
    let stats = ok(&text).stats;
    assert_eq!(stats.keys, ["source.ip", "log.source.ip"]);
    assert_eq!(
        (stats.bucket_secs, stats.retention_secs, stats.max_keys),
        (300, 48 * 3600, 500)
    );
    let tables: Vec<_> = stats.tables().collect();
    assert_eq!(tables[1].key, "log.source.ip");
    assert_eq!(tables[1].max_keys, 500);
    let e = err(&format!(
        "{MINIMAL}lumberwatch.stats.bucket: 1h\nlumberwatch.stats.retention: 30m\n"
    ));
    assert_eq!(
        e,
        "config.yml:5: lumberwatch.stats.retention: must be whole seconds, at least 3600s and under 136 years"
    );
    let e = err(&format!("{MINIMAL}lumberwatch.stats.keys: [\"\"]\n"));
    assert_eq!(
        e,
        "config.yml:4: lumberwatch.stats.keys: a key field name must not be empty"
    );
}
