//! `test config`: what a user sees for good and broken configs.

use super::*;

#[test]
fn test_config_accepts_the_example_configs_and_loads_their_certificates() {
    // Their paths (certs/...) are relative to the working directory, as in Filebeat: the
    // repository root, as the README runs them.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in [
        "lumberwatch.yml",
        "filebeat-compatible.yml",
        "demo.yml",
        "console.yml",
    ] {
        let path = example(name);
        let (status, stdout, stderr) = finish(
            "test config",
            lumberwatch(root, &["test", "config", "-c", &path]),
        );
        assert!(
            status.success() && stdout.contains("Config OK"),
            "{name}: {status}\nstdout: {stdout}\nstderr: {stderr}"
        );
    }
}

/// Exactly one non-empty line across stdout and stderr, and a clean failure exit.
fn one_error_line(config: &Path, dir: &Path, envs: &[(&str, &str)]) -> String {
    let path = config.display().to_string();
    let mut cmd = lumberwatch(dir, &["test", "config", "-c", &path]);
    cmd.envs(envs.iter().copied());
    let (status, stdout, stderr) = finish("test config", cmd);
    let both = format!("stdout: {stdout}\nstderr: {stderr}");
    assert_failed(status, &both);
    let lines: Vec<&str> = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "one line, not {}\n{both}", lines.len());
    assert!(
        !stdout.contains("Config OK"),
        "an error is never OK\n{both}"
    );
    lines[0].to_string()
}

#[test]
fn test_config_names_file_line_and_key_of_a_misspelt_key() {
    let dir = tempdir();
    let config = write_config(
        dir.path(),
        "lumberwatch.inputs:\n  - type: stdin\noutput.logstash:\n  hosts: [\"localhost:5044\"]\n  \
         compresion_level: 3\n",
    );
    let line = one_error_line(&config, dir.path(), &[]);
    let at = format!("{}:5:", config.display());
    assert!(line.contains(&at), "{line:?} names {at}");
    assert!(
        line.contains("output.logstash.compresion_level"),
        "{line:?} names the key"
    );
    assert!(line.contains("unknown key"), "{line:?} says what is wrong");
    assert!(
        line.contains("compression_level"),
        "{line:?} suggests the right spelling"
    );

    // The same inside an input: the key path names the input by its index.
    let config = write_config(
        dir.path(),
        "lumberwatch.inputs:\n  - type: stdin\n    tgas: [a]\noutput.console: {}\n",
    );
    let line = one_error_line(&config, dir.path(), &[]);
    assert!(
        line.contains(&format!("{}:3:", config.display())),
        "{line:?}"
    );
    assert!(line.contains("tgas"), "{line:?}");
}

#[test]
fn test_config_names_file_line_and_key_of_a_wrong_type() {
    let dir = tempdir();
    let config = write_config(
        dir.path(),
        "lumberwatch.inputs:\n  - type: stdin\noutput.logstash:\n  hosts: [\"localhost:5044\"]\n  \
         bulk_max_size: lots\n",
    );
    let line = one_error_line(&config, dir.path(), &[]);
    assert!(
        line.contains(&format!("{}:5:", config.display())),
        "{line:?}"
    );
    assert!(line.contains("output.logstash.bulk_max_size"), "{line:?}");
    assert!(line.contains("lots"), "{line:?} quotes the value");
}

#[test]
fn test_config_of_a_missing_file_is_one_line_naming_it() {
    let dir = tempdir();
    let missing = dir.path().join("nope.yml");
    let line = one_error_line(&missing, dir.path(), &[]);
    assert!(
        line.contains(&missing.display().to_string()),
        "{line:?} names the file"
    );
}

/// `lumberwatch: cannot read config file F: No such file or directory (os error 2)`, with
/// the cause said once.
#[test]
fn test_config_of_a_missing_file_says_the_cause_once() {
    let dir = tempdir();
    let missing = dir.path().join("nope.yml");
    let line = one_error_line(&missing, dir.path(), &[]);
    assert_eq!(
        line.matches("No such file or directory").count(),
        1,
        "{line:?}"
    );
}

const ENV_CONFIG: &str = "lumberwatch.inputs:\n  - type: stdin\noutput.logstash:\n  \
    hosts: [\"${LW_CLI_TEST_HOST:127.0.0.1}:${LW_CLI_TEST_PORT}\"]\n  \
    bulk_max_size: ${LW_CLI_TEST_BULK:100}\n";

#[test]
fn env_vars_and_their_defaults_are_expanded_through_the_cli() {
    let dir = tempdir();
    let config = write_config(dir.path(), ENV_CONFIG);
    let path = config.display().to_string();

    // ${VAR} set, ${VAR:default} unset: fine.
    let mut cmd = lumberwatch(dir.path(), &["test", "config", "-c", &path]);
    cmd.env("LW_CLI_TEST_PORT", "5044");
    let (status, stdout, stderr) = finish("test config", cmd);
    assert!(
        status.success() && stdout.contains("Config OK"),
        "{status}\n{stdout}\n{stderr}"
    );

    // ${VAR} without a default and unset: one line naming the variable and the key.
    let line = one_error_line(&config, dir.path(), &[]);
    assert!(line.contains("LW_CLI_TEST_PORT"), "{line:?}");
    assert!(line.contains(&format!("{path}:4:")), "{line:?}");
    assert!(line.contains("output.logstash.hosts"), "{line:?}");

    // A value from the environment is type-checked like one written in the file.
    let line = one_error_line(
        &config,
        dir.path(),
        &[("LW_CLI_TEST_PORT", "5044"), ("LW_CLI_TEST_BULK", "lots")],
    );
    assert!(line.contains(&format!("{path}:5:")), "{line:?}");
    assert!(line.contains("output.logstash.bulk_max_size"), "{line:?}");

    // And the expanded values are the ones used: the default host, the given port.
    let receiver = ReceiverProc::local(dir.path());
    let port = receiver.port().to_string();
    let mut cmd = lumberwatch(dir.path(), &["test", "output", "-c", &path]);
    cmd.env("LW_CLI_TEST_PORT", &port);
    let (status, stdout, stderr) = finish("test output", cmd);
    assert!(
        status.success()
            && stdout.contains(&format!("logstash: 127.0.0.1:{port}..."))
            && stdout.contains("talk to server... OK"),
        "{status}\n{stdout}\n{stderr}"
    );
}

#[test]
fn test_config_loads_the_certificate_authority_it_names() {
    let dir = tempdir();
    let cfg = dir.path().join("missing-ca.yml");
    std::fs::write(
        &cfg,
        "lumberwatch.inputs: [{type: stdin}]\noutput.logstash:\n  hosts: [localhost]\n  ssl.certificate_authorities: [/nonexistent/ca.pem]\n",
    )
    .unwrap();
    let (status, stdout, stderr) = finish(
        "test config",
        lumberwatch(dir.path(), &["test", "config", "-c", cfg.to_str().unwrap()]),
    );
    assert!(!status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("/nonexistent/ca.pem"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

/// A production `filebeat.yml` (tests/fixtures/filebeat): every key lumberwatch leaves
/// out, one line each in file order, then the count; `run` stops at the first.
#[test]
fn test_config_on_a_production_filebeat_yml_lists_every_key_left_out() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/filebeat");
    let (status, stdout, stderr) = finish(
        "test config",
        lumberwatch(&fixtures, &["test", "config", "-c", "filebeat.yml"]),
    );
    let both = format!("stdout: {stdout}\nstderr: {stderr}");
    assert_failed(status, &both);
    assert_eq!(stdout, "", "{both}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "filebeat.yml:29: filebeat.inputs.1.processors: not supported yet",
            "filebeat.yml:38: filebeat.config: not supported yet",
            "filebeat.yml:44: processors: not supported yet",
            "filebeat.yml:52: setup: not supported yet",
            "filebeat.yml:75: logging.to_files: not supported yet",
            "filebeat.yml:76: logging.files: not supported yet",
            "filebeat.yml:83: monitoring: not supported yet",
            "7 problems in filebeat.yml (7 not supported yet)",
        ],
        "{both}"
    );

    let (status, stdout, stderr) = finish(
        "run",
        lumberwatch(&fixtures, &["run", "-c", "filebeat.yml"]),
    );
    assert_failed(status, &format!("stdout: {stdout}\nstderr: {stderr}"));
    assert_eq!(
        stderr.trim(),
        "lumberwatch: filebeat.yml:44: processors: not supported yet"
    );
}
