//! `parse` never panics, whatever the bytes: arbitrary text, YAML-shaped noise, and every
//! truncation and byte flip of the example configs.

use proptest::prelude::*;

use super::*;

fn never_panics(text: &str) {
    let _ = parse_with_env(text, "fuzz.yml", &|name: &str| {
        (name == "SET").then(|| "a, [b".into())
    });
}

const EXAMPLE: &str = include_str!("../../../config/filebeat-compatible.yml");

fn yaml_token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "\n",
        "  ",
        "- ",
        ": ",
        "output",
        "logstash",
        ".",
        "hosts",
        "[",
        "]",
        "{",
        "}",
        ",",
        "\"",
        "'",
        "&a ",
        "*a",
        "<<",
        "? ",
        "!!str ",
        "${",
        "${SET}",
        "${X:",
        "}",
        "$$",
        "#",
        "|\n",
        ">\n",
        "---\n",
        "~",
        "0",
        "-1",
        "1m",
        "true",
        "ssl",
        "inputs",
        "type",
        "stdin",
        "generator",
        "lumberwatch",
        "filebeat",
        "\t",
        "%YAML 1.2\n",
        "@",
        "\u{feff}",
        "é",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        never_panics(&text);
    }

    #[test]
    fn yaml_shaped_noise_never_panics(tokens in prop::collection::vec(yaml_token(), 0..80)) {
        never_panics(&tokens.concat());
    }
}

#[test]
fn every_truncation_of_an_example_never_panics() {
    for end in (0..=EXAMPLE.len()).filter(|i| EXAMPLE.is_char_boundary(*i)) {
        never_panics(&EXAMPLE[..end]);
    }
}

#[test]
fn every_single_byte_change_of_an_example_never_panics() {
    let bytes = EXAMPLE.as_bytes();
    for i in 0..bytes.len() {
        for replacement in [b' ', b':', b'-', b'[', b'{', b'"', b'\n', b'$', b'.'] {
            let mut changed = bytes.to_vec();
            changed[i] = replacement;
            if let Ok(text) = std::str::from_utf8(&changed) {
                never_panics(text);
            }
        }
    }
}

/// Found by `fuzz/` (config_load): a YAML error at the very end of a text without a final
/// newline named the line after the last one, which the file does not have.
#[test]
fn an_error_at_the_end_of_a_text_without_a_final_newline_names_its_last_line() {
    for (text, line) in [
        ("[kg Pa", 1),
        ("%aka", 1),
        ("# a comment\n%k\u{b}\u{4}", 2),
        ("output.logstash:\n  hosts: [a", 2),
    ] {
        let e = parse_with_env(text, "fuzz.yml", &|_: &str| None).unwrap_err();
        assert_eq!(e.line(), Some(line), "{text:?}: {e}");
        assert!(
            e.to_string()
                .starts_with(&format!("fuzz.yml:{line}: invalid YAML: ")),
            "{e}"
        );
    }
    let e = parse_with_env("[kg Pa\n", "fuzz.yml", &|_: &str| None).unwrap_err();
    assert!(e.line().is_some_and(|l| l <= 2), "{e}");
}

/// Found by `fuzz/` (config_load): the empty key of a final `? ` was placed on the line
/// after the text's last, and the message had nothing where the key goes.
#[test]
fn an_empty_key_at_the_very_end_names_the_last_line_and_shows_the_key_quoted() {
    let e = parse_with_env("\n\n\t\t\n? ", "fuzz.yml", &|_: &str| None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "fuzz.yml:4: \"\": empty key segment (keys are split on '.')"
    );
    let e = parse_with_env("output:\n  ? ", "fuzz.yml", &|_: &str| None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "fuzz.yml:2: output.\"\": empty key segment (keys are split on '.')"
    );
}

/// Found by `fuzz/` (config_load): a multi-line key put a raw newline (and other control
/// characters) into the one-line error.
#[test]
fn a_key_with_control_characters_is_shown_escaped_on_one_line() {
    let e = parse_with_env("?\r 7\u{14}\n\r 7\u{14}\"", "fuzz.yml", &|_: &str| None).unwrap_err();
    let message = e.to_string();
    assert!(!message.contains(['\n', '\r', '\u{14}']), "{message:?}");
    assert!(message.starts_with("fuzz.yml:"), "{message:?}");
    let e = parse_with_env("\"a\\tb\": 1\n", "fuzz.yml", &|_: &str| None).unwrap_err();
    assert_eq!(e.to_string(), "fuzz.yml:1: \"a\\tb\": unknown key");
}
