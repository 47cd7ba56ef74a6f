//! Every kind of wrong value, in every section: a string where a number is expected, a
//! list for a mapping, a mapping for a boolean, a negative duration, an unknown key, ...
//! Each case is a whole config with one bad line, marked `# <-`; the error must be one
//! line `config.yml:<that line>: <key>: <problem>`, and never a panic.

use super::*;

/// Marks the bad line in a case's text.
const MARK: &str = "# <-";

/// (config text with one line marked, the dotted key the error names, what the problem
/// says). `{out}` is replaced by a valid output section, `{in}` by a valid input list.
const CASES: &[(&str, &str, &str)] = &[
    // General settings.
    (
        "name: [a, b] # <-\n{in}{out}",
        "name",
        "expected a string, got a list",
    ),
    (
        "tags: {a: 1} # <-\n{in}{out}",
        "tags",
        "expected a list of strings, got a mapping",
    ),
    (
        "fields: [a] # <-\n{in}{out}",
        "fields",
        "expected a mapping, got a list",
    ),
    (
        "fields_under_root: {a: 1} # <-\n{in}{out}",
        "fields_under_root",
        "expected a boolean",
    ),
    (
        "fields_under_root: 3 # <-\n{in}{out}",
        "fields_under_root",
        "expected a boolean",
    ),
    ("nmae: x # <-\n{in}{out}", "nmae", "unknown key"),
    ("path: [a] # <-\n{in}{out}", "path", "expected a mapping"),
    (
        "path.data: {a: b} # <-\n{in}{out}",
        "path.data",
        "expected a string, got a mapping",
    ),
    (
        "queue.mem.events: lots # <-\n{in}{out}",
        "queue.mem.events",
        "expected",
    ),
    (
        "queue.mem.events: [1] # <-\n{in}{out}",
        "queue.mem.events",
        "expected",
    ),
    ("queue: 5 # <-\n{in}{out}", "queue", "expected a mapping"),
    (
        "logging.level: [info] # <-\n{in}{out}",
        "logging.level",
        "expected",
    ),
    (
        "logging.metrics.enabled: {a: b} # <-\n{in}{out}",
        "logging.metrics.enabled",
        "expected a boolean",
    ),
    (
        "logging.metrics.period: -5s # <-\n{in}{out}",
        "logging.metrics.period",
        "expected a duration",
    ),
    (
        "logging.metrics.period: true # <-\n{in}{out}",
        "logging.metrics.period",
        "expected a duration",
    ),
    (
        "logging.metrcs.period: 5s # <-\n{in}{out}",
        "logging.metrcs",
        "unknown key",
    ),
    (
        "logging.json: [yes] # <-\n{in}{out}",
        "logging.json",
        "expected a boolean",
    ),
    ("http: 5 # <-\n{in}{out}", "http", "expected a mapping"),
    (
        "http.enabled: {a: b} # <-\n{in}{out}",
        "http.enabled",
        "expected a boolean",
    ),
    (
        "http.port: [5066] # <-\n{in}{out}",
        "http.port",
        "expected a port number",
    ),
    (
        "http.host: {a: b} # <-\n{in}{out}",
        "http.host",
        "expected a string, got a mapping",
    ),
    (
        "http.prot: 5066 # <-\n{in}{out}",
        "http.prot",
        "unknown key",
    ),
    (
        "lumberwatch.beat: {a: 1} # <-\n{in}{out}",
        "lumberwatch.beat",
        "expected a string, got a mapping",
    ),
    (
        "lumberwatch.registry.flush: -1s # <-\n{in}{out}",
        "lumberwatch.registry.flush",
        "expected a duration",
    ),
    (
        "lumberwatch.registry.flush: [1s] # <-\n{in}{out}",
        "lumberwatch.registry.flush",
        "expected a duration",
    ),
    (
        "lumberwatch.registry: [flush] # <-\n{in}{out}",
        "lumberwatch.registry",
        "expected a mapping",
    ),
    (
        "lumberwatch.stats.max_keys: many # <-\n{in}{out}",
        "lumberwatch.stats.max_keys",
        "expected",
    ),
    (
        "lumberwatch.stats.bucket: -1m # <-\n{in}{out}",
        "lumberwatch.stats.bucket",
        "expected a duration",
    ),
    (
        "lumberwatch.stats.keys: {a: b} # <-\n{in}{out}",
        "lumberwatch.stats.keys",
        "expected a list",
    ),
    (
        "lumberwatch.rules: {a: 1} # <-\n{in}{out}",
        "lumberwatch.rules",
        "expected a list",
    ),
    (
        "lumberwatch.rules_check_interval: [1s] # <-\n{in}{out}",
        "lumberwatch.rules_check_interval",
        "expected a duration",
    ),
    (
        "lumberwatch.unknown: 1 # <-\n{in}{out}",
        "lumberwatch.unknown",
        "unknown key",
    ),
    (
        "filebeat.registry.flush: {a: b} # <-\n{in}{out}",
        "filebeat.registry.flush",
        "expected a duration",
    ),
    // Inputs.
    (
        "lumberwatch.inputs: {type: stdin} # <-\n{out}",
        "lumberwatch.inputs",
        "expected a list of inputs, got a mapping",
    ),
    (
        "lumberwatch.inputs:\n  - [stdin] # <-\n{out}",
        "lumberwatch.inputs.0",
        "expected a mapping of input settings, got a list",
    ),
    (
        "lumberwatch.inputs:\n  - type: [stdin] # <-\n{out}",
        "lumberwatch.inputs.0.type",
        "expected a string, got a list",
    ),
    (
        "lumberwatch.inputs:\n  - type: stdin\n    enabled: {a: b} # <-\n{out}",
        "lumberwatch.inputs.0.enabled",
        "expected a boolean",
    ),
    (
        "lumberwatch.inputs:\n  - type: stdin\n    tags: {a: b} # <-\n{out}",
        "lumberwatch.inputs.0.tags",
        "expected a list of strings",
    ),
    (
        "lumberwatch.inputs:\n  - type: stdin\n    fields: 5 # <-\n{out}",
        "lumberwatch.inputs.0.fields",
        "expected a mapping",
    ),
    (
        "lumberwatch.inputs:\n  - type: stdin\n    parser: [cef] # <-\n{out}",
        "lumberwatch.inputs.0.parser",
        "expected",
    ),
    (
        "lumberwatch.inputs:\n  - type: stdin\n    colour: red # <-\n{out}",
        "lumberwatch.inputs.0.colour",
        "unknown key",
    ),
    (
        "lumberwatch.inputs:\n  - type: generator\n    count: many # <-\n{out}",
        "lumberwatch.inputs.0.count",
        "expected",
    ),
    (
        "lumberwatch.inputs:\n  - type: generator\n    rate_per_sec: [1] # <-\n{out}",
        "lumberwatch.inputs.0.rate_per_sec",
        "expected",
    ),
    (
        "lumberwatch.inputs:\n  - type: filestream\n    paths: {a: b} # <-\n{out}",
        "lumberwatch.inputs.0.paths",
        "expected a list of strings, got a mapping",
    ),
    (
        "lumberwatch.inputs:\n  - type: filestream\n    paths: [/x]\n    message_max_bytes: huge # <-\n{out}",
        "lumberwatch.inputs.0.message_max_bytes",
        "expected",
    ),
    (
        "lumberwatch.inputs:\n  - type: filestream\n    paths: [/x]\n    message_max_bytes: -1 # <-\n{out}",
        "lumberwatch.inputs.0.message_max_bytes",
        "expected",
    ),
    (
        "lumberwatch.inputs:\n  - type: filestream\n    paths: [/x]\n    ignore_older: -1h # <-\n{out}",
        "lumberwatch.inputs.0.ignore_older",
        "expected a duration",
    ),
    (
        "lumberwatch.inputs:\n  - type: filestream\n    paths: [/x]\n    prospector.scanner.check_interval: {a: b} # <-\n{out}",
        "lumberwatch.inputs.0.prospector.scanner.check_interval",
        "expected a duration",
    ),
    (
        "lumberwatch.inputs:\n  - type: filestream\n    paths: [/x]\n    close.on_state_change.inactive: [5m] # <-\n{out}",
        "lumberwatch.inputs.0.close.on_state_change.inactive",
        "expected a duration",
    ),
    (
        "lumberwatch.inputs:\n  - type: filestream\n    paths: [/x]\n    prospector.scanner.fingerprint.enabled: yes please # <-\n{out}",
        "lumberwatch.inputs.0.prospector.scanner.fingerprint.enabled",
        "expected a boolean",
    ),
    (
        "lumberwatch.inputs:\n  - type: filestream\n    paths: [/x]\n    parsers: {multiline: {}} # <-\n{out}",
        "lumberwatch.inputs.0.parsers",
        "expected a list",
    ),
    (
        "lumberwatch.inputs:\n  - type: filestream\n    paths: [/x]\n    parsers:\n      - multiline: {type: pattern, pattern: '^a', match: after, max_lines: lots} # <-\n{out}",
        "lumberwatch.inputs.0.parsers.0.multiline.max_lines",
        "expected",
    ),
    (
        "lumberwatch.inputs:\n  - type: filestream\n    paths: [/x]\n    pahts: [/y] # <-\n{out}",
        "lumberwatch.inputs.0.pahts",
        "unknown key",
    ),
    (
        "lumberwatch.inputs:\n  - type: container\n    stream: {a: b} # <-\n{out}",
        "lumberwatch.inputs.0.stream",
        "expected",
    ),
    (
        "lumberwatch.inputs:\n  - type: syslog\n    protocol.udp.host: {a: b} # <-\n{out}",
        "lumberwatch.inputs.0.protocol.udp.host",
        "expected a list of strings, got a mapping",
    ),
    (
        "lumberwatch.inputs:\n  - type: syslog\n    protocol.udp.host: localhost:514\n    protocol.udp.max_message_size: -1 # <-\n{out}",
        "lumberwatch.inputs.0.protocol.udp.max_message_size",
        "expected",
    ),
    (
        "lumberwatch.inputs:\n  - type: syslog\n    protocol.tcp.host: localhost:514\n    protocol.tcp.timeout: -30s # <-\n{out}",
        "lumberwatch.inputs.0.protocol.tcp.timeout",
        "expected a duration",
    ),
    (
        "lumberwatch.inputs:\n  - type: syslog\n    protocol.tcp.host: localhost:514\n    protocol.tcp.max_connections: {a: b} # <-\n{out}",
        "lumberwatch.inputs.0.protocol.tcp.max_connections",
        "expected",
    ),
    (
        "lumberwatch.inputs:\n  - type: syslog\n    protocol.tcp: [localhost] # <-\n{out}",
        "lumberwatch.inputs.0.protocol.tcp",
        "expected a mapping",
    ),
    // Outputs.
    (
        "{in}output: [logstash] # <-\n",
        "output",
        "expected a mapping",
    ),
    (
        "{in}output.logstash: [localhost] # <-\n",
        "output.logstash",
        "expected a mapping",
    ),
    (
        "{in}output.logstash.hosts: {a: b} # <-\n",
        "output.logstash.hosts",
        "expected a list of strings, got a mapping",
    ),
    (
        "{in}output.logstash:\n  hosts: [localhost]\n  bulk_max_size: lots # <-\n",
        "output.logstash.bulk_max_size",
        "expected",
    ),
    (
        "{in}output.logstash:\n  hosts: [localhost]\n  worker: -1 # <-\n",
        "output.logstash.worker",
        "expected",
    ),
    (
        "{in}output.logstash:\n  hosts: [localhost]\n  loadbalance: {a: b} # <-\n",
        "output.logstash.loadbalance",
        "expected a boolean",
    ),
    (
        "{in}output.logstash:\n  hosts: [localhost]\n  timeout: -5s # <-\n",
        "output.logstash.timeout",
        "expected a duration",
    ),
    (
        "{in}output.logstash:\n  hosts: [localhost]\n  backoff.init: [] # <-\n",
        "output.logstash.backoff.init",
        "expected a duration",
    ),
    (
        "{in}output.logstash:\n  hosts: [localhost]\n  compression_level: [3] # <-\n",
        "output.logstash.compression_level",
        "expected",
    ),
    (
        "{in}output.logstash:\n  hosts: [localhost]\n  pipelining: yes # <-\n",
        "output.logstash.pipelining",
        "expected",
    ),
    (
        "{in}output.logstash:\n  hosts: [localhost]\n  ssl.enabled: [true] # <-\n",
        "output.logstash.ssl.enabled",
        "expected a boolean",
    ),
    (
        "{in}output.logstash:\n  hosts: [localhost]\n  ssl.certificate_authorities: {a: b} # <-\n",
        "output.logstash.ssl.certificate_authorities",
        "expected a list of strings",
    ),
    (
        "{in}output.logstash:\n  hosts: [localhost]\n  ssl: true # <-\n",
        "output.logstash.ssl",
        "expected a mapping",
    ),
    (
        "{in}output.logstash:\n  hosts: [localhost]\n  hostz: [x] # <-\n",
        "output.logstash.hostz",
        "unknown key",
    ),
    (
        "{in}output.console.pretty: {a: b} # <-\n",
        "output.console.pretty",
        "expected a boolean",
    ),
];

const INPUTS: &str = "lumberwatch.inputs:\n  - type: stdin\n";
const OUTPUT: &str = "output.logstash.hosts: [\"localhost\"]\n";

#[test]
fn every_wrong_type_in_every_section_is_one_line_naming_file_line_and_key() {
    let mut failures = Vec::new();
    for (template, key, problem) in CASES {
        let text = template.replace("{in}", INPUTS).replace("{out}", OUTPUT);
        let line = text
            .lines()
            .position(|l| l.contains(MARK))
            .expect("every case marks its bad line")
            + 1;
        let result = std::panic::catch_unwind(|| try_env(&text, &[]));
        let message = match result {
            Ok(Err(e)) => e.to_string(),
            Ok(Ok(_)) => {
                failures.push(format!("loaded without an error:\n{text}"));
                continue;
            }
            Err(_) => {
                failures.push(format!("panicked:\n{text}"));
                continue;
            }
        };
        let at = format!("config.yml:{line}: {key}: ");
        let good = message.starts_with(&at)
            && message[at.len()..].contains(problem)
            && !message.contains('\n');
        if !good {
            failures.push(format!(
                "want {at}...{problem}...\n got {message}\n--- config ---\n{text}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n\n")
    );
}
