//! `${VAR}` expansion as Filebeat does it.

use super::*;
use crate::config::env::{EnvError, Expanded, expand};

fn name_of(text: &str, vars: &[(&str, &str)]) -> Option<String> {
    ok_env(&format!("{MINIMAL}name: {text}\n"), vars).name
}

#[test]
fn a_set_variable_is_expanded() {
    assert_eq!(
        name_of("${NAME}", &[("NAME", "web-01")]),
        Some("web-01".to_string())
    );
}

#[test]
fn the_default_is_used_only_when_the_variable_is_unset() {
    assert_eq!(
        name_of("${NAME:fallback}", &[]),
        Some("fallback".to_string())
    );
    assert_eq!(
        name_of("${NAME:fallback}", &[("NAME", "set")]),
        Some("set".to_string())
    );
    assert_eq!(name_of("\"${NAME:}\"", &[]), None);
}

#[test]
fn an_unset_variable_without_default_names_variable_file_line_and_key() {
    let e = err(&format!("{MINIMAL}name: ${{NAME}}\n"));
    assert_eq!(
        e,
        "config.yml:4: name: environment variable NAME is not set and has no default"
    );
}

#[test]
fn a_custom_message_is_prepended() {
    let e = err(&format!(
        "{MINIMAL}name: ${{NAME:?set NAME to the host name}}\n"
    ));
    assert_eq!(
        e,
        "config.yml:4: name: set NAME to the host name: environment variable NAME is not set"
    );
}

#[test]
fn references_splice_into_text() {
    let text = "lumberwatch.inputs:\n  - type: stdin\noutput.logstash.hosts: [\"${LS_HOST}:${LS_PORT:5045}\"]\n";
    let config = ok_env(text, &[("LS_HOST", "ls1")]);
    assert_eq!(logstash_of(&config).hosts, vec!["ls1:5045"]);
}

#[test]
fn a_whole_value_reference_can_hold_a_list_like_in_filebeat() {
    let text = "lumberwatch.inputs:\n  - type: stdin\noutput.logstash.hosts: ${LS_HOSTS}\n";
    let config = ok_env(text, &[("LS_HOSTS", "ls1:5044, ls2")]);
    assert_eq!(logstash_of(&config).hosts, vec!["ls1:5044", "ls2:5044"]);
    let config = ok_env(text, &[("LS_HOSTS", "[ls1, 'ls2:6000']")]);
    assert_eq!(logstash_of(&config).hosts, vec!["ls1:5044", "ls2:6000"]);
    let config = ok_env(text, &[("LS_HOSTS", "ls1")]);
    assert_eq!(logstash_of(&config).hosts, vec!["ls1:5044"]);
}

#[test]
fn a_comma_in_a_variable_still_reads_as_one_string_where_a_string_is_wanted() {
    assert_eq!(
        name_of("${NAME}", &[("NAME", "a, b")]),
        Some("a, b".to_string())
    );
}

#[test]
fn numbers_and_booleans_can_come_from_variables() {
    let config = ok_env(
        &logstash("bulk_max_size: ${BULK:100}\nloadbalance: ${LB}"),
        &[("LB", "true")],
    );
    let ls = logstash_of(&config);
    assert_eq!((ls.bulk_max_size, ls.loadbalance), (100, true));
}

#[test]
fn an_empty_variable_is_like_an_unset_setting() {
    assert_eq!(name_of("${NAME}", &[("NAME", "")]), None);
    let text = "lumberwatch.inputs:\n  - type: stdin\noutput.logstash.hosts: ${LS_HOSTS}\n";
    let e = err_env(text, &[("LS_HOSTS", "")]);
    assert_eq!(
        e,
        "config.yml:3: output.logstash.hosts: at least one host is required, e.g. hosts: [\"localhost:5044\"]"
    );
}

#[test]
fn double_dollar_escapes_a_reference() {
    assert_eq!(
        name_of("\"$${NOT_A_VAR}\"", &[]),
        Some("${NOT_A_VAR}".to_string())
    );
    assert_eq!(name_of("cost$5", &[]), Some("cost$5".to_string()));
}

#[test]
fn defaults_can_nest_references_and_escape_braces() {
    assert_eq!(name_of("${A:${B:x}}", &[]), Some("x".to_string()));
    assert_eq!(name_of("${A:${B:x}}", &[("B", "y")]), Some("y".to_string()));
    assert_eq!(name_of("\"${A:a$}b}\"", &[]), Some("a}b".to_string()));
}

#[test]
fn an_unterminated_reference_is_an_error_at_its_line() {
    let e = err(&format!("{MINIMAL}name: ${{NAME\n"));
    assert_eq!(e, "config.yml:4: name: unterminated ${ (missing })");
}

#[test]
fn a_bad_quote_in_a_variable_is_reported_without_the_value() {
    let e = err_env(
        &format!("{MINIMAL}name: ${{NAME}}\n"),
        &[("NAME", "'secret")],
    );
    assert_eq!(
        e,
        "config.yml:4: name: cannot read the value of environment variable NAME: missing ' to close a string"
    );
}

#[test]
fn an_unset_variable_in_an_unsupported_section_reports_the_section() {
    let text = format!("{MINIMAL}filebeat.config.modules.path: ${{path.config}}/modules.d/*.yml\n");
    assert_eq!(
        err(&text),
        "config.yml:4: filebeat.config: not supported yet"
    );
}

#[test]
fn an_unset_variable_in_a_list_names_the_item_line() {
    let text = "lumberwatch.inputs:\n  - type: stdin\noutput.logstash.hosts:\n  - a\n  - ${B}\n";
    assert_eq!(
        err(text),
        "config.yml:5: output.logstash.hosts: environment variable B is not set and has no default"
    );
}

#[test]
fn keys_are_never_expanded() {
    let text = format!("{MINIMAL}${{X}}: 1\n");
    assert_eq!(
        err_env(&text, &[("X", "name")]),
        "config.yml:4: ${X}: unknown key"
    );
}

#[test]
fn expand_reports_whole_values_separately_from_splices() {
    let env = |name: &str| (name == "A").then(|| std::ffi::OsString::from("1, 2"));
    assert_eq!(
        expand("${A}", &env),
        Ok(Expanded::Whole {
            name: "A".into(),
            text: "1, 2".into()
        })
    );
    assert_eq!(expand("x${A}", &env), Ok(Expanded::Text("x1, 2".into())));
    assert_eq!(
        expand("${A}${A}", &env),
        Ok(Expanded::Text("1, 21, 2".into()))
    );
    assert_eq!(
        expand("${}", &env),
        Err(EnvError::Syntax("empty variable name in ${}".into()))
    );
}

#[test]
fn deeply_nested_defaults_are_bounded() {
    let text = format!("{}x{}", "${A:".repeat(50), "}".repeat(50));
    assert!(matches!(expand(&text, &no_env), Err(EnvError::Syntax(_))));
}

#[test]
fn an_unset_variable_where_a_section_belongs_reports_the_variable() {
    let text = "lumberwatch.inputs:\n  - ${INPUT}\noutput.logstash: ${LS}\n";
    assert_eq!(
        err(text),
        "config.yml:2: lumberwatch.inputs.0: environment variable INPUT is not set and has no default"
    );
    let text = "lumberwatch.inputs:\n  - type: stdin\noutput.logstash: ${LS}\n";
    assert_eq!(
        err(text),
        "config.yml:3: output.logstash: environment variable LS is not set and has no default"
    );
}
