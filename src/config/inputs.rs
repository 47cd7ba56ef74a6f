//! `lumberwatch.inputs` (or Filebeat's `filebeat.inputs`): the list of inputs.
//!
//! As in Filebeat, an input with `enabled: false` is skipped without looking at the rest
//! of it, so the disabled `filestream` example in a stock `filebeat.yml` loads fine.

use std::collections::HashMap;

use super::conntrack::{CONNTRACK, conntrack};
use super::files::{CONTAINER, FILESTREAM, LOG, filestream};
use super::flows::{FLOWS, flows};
use super::parser::parser;
use super::section::{PIPELINE_NOT_YET, Schema, Section, to_bool, to_string, wrong_type};
use super::syslog::{SYSLOG, syslog};
use super::yaml::{Node, Value};
use super::{ConfigError, InputCommon, InputConfig, InputKind, Problem};

const STDIN: Schema = Schema {
    keys: &[
        "type",
        "id",
        "enabled",
        "tags",
        "fields",
        "fields_under_root",
        "parser",
    ],
    not_supported: &[],
    not_yet: &[
        "processors",
        "pipeline",
        "keep_null",
        "index",
        "publisher_pipeline",
        "encoding",
        "exclude_lines",
        "include_lines",
        "multiline",
        "json",
        "parsers",
    ],
};

const GENERATOR: Schema = Schema {
    keys: &[
        "type",
        "id",
        "enabled",
        "tags",
        "fields",
        "fields_under_root",
        "count",
        "message",
        "rate_per_sec",
    ],
    not_supported: &[],
    not_yet: PIPELINE_NOT_YET,
};

const NOT_YET: &[&str] = &[
    "docker",
    "tcp",
    "udp",
    "unix",
    "journald",
    "kafka",
    "redis",
    "mqtt",
    "netflow",
    "http_endpoint",
    "httpjson",
    "cel",
    "aws-s3",
    "s3",
    "aws-cloudwatch",
    "azure-eventhub",
    "azure-blob-storage",
    "gcp-pubsub",
    "gcs",
    "o365audit",
    "cloudfoundry",
    "winlog",
    "etw",
    "entity-analytics",
    "benchmark",
    "websocket",
    "streaming",
    "lumberjack",
    "salesforce",
    "unifiedlogs",
];

pub(crate) fn build(
    lumberwatch: &Section<'_>,
    filebeat: &Section<'_>,
) -> Result<Vec<InputConfig>, ConfigError> {
    let (section, entry) = match (lumberwatch.entry("inputs"), filebeat.entry("inputs")) {
        (Some(lw), Some(fb)) => {
            let (later, earlier) = if lw.line >= fb.line {
                ((lumberwatch, lw), (filebeat, fb))
            } else {
                ((filebeat, fb), (lumberwatch, lw))
            };
            let other = format!("{}.inputs", earlier.0.path());
            let problem = Problem::Conflict {
                other,
                other_line: earlier.1.line,
            };
            return Err(later.0.error(Some(later.1.line), "inputs", problem));
        }
        (Some(lw), None) => (lumberwatch, lw),
        (None, Some(fb)) => (filebeat, fb),
        (None, None) => {
            let msg = "no inputs configured; add at least one under lumberwatch.inputs (or filebeat.inputs)";
            return Err(lumberwatch.error(None, "inputs", Problem::Invalid(msg.to_string())));
        }
    };
    let Value::Seq(items) = &entry.value.value else {
        let problem = wrong_type("a list of inputs", &entry.value);
        return Err(section.error(Some(entry.value.line), "inputs", problem));
    };

    let mut inputs = Vec::new();
    let mut left_out = false;
    let mut ids: HashMap<String, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let key = format!("inputs.{i}");
        if !enabled(section, &key, item)? {
            continue;
        }
        let Some(input) = input(section, &key, item)? else {
            left_out = true;
            continue;
        };
        if let Some(id) = &input.common.id {
            let line = id_line(item);
            if let Some(first_line) = ids.insert(id.clone(), line) {
                return Err(section.error(
                    Some(line),
                    &format!("{key}.id"),
                    Problem::Duplicate { first_line },
                ));
            }
        }
        inputs.push(input);
    }
    // Inputs left out for their type were reported already.
    if inputs.is_empty() && !left_out {
        let msg = "every input is disabled (enabled: false); enable at least one";
        return Err(section.error(
            Some(entry.line),
            "inputs",
            Problem::Invalid(msg.to_string()),
        ));
    }
    Ok(inputs)
}

/// Reads only `enabled`, before anything else about the input is checked.
fn enabled(section: &Section<'_>, key: &str, item: &Node) -> Result<bool, ConfigError> {
    let Value::Map(entries) = &item.value else {
        let problem = wrong_type("a mapping of input settings", item);
        return Err(section.error(Some(item.line), key, problem));
    };
    match entries
        .iter()
        .find(|e| e.key == "enabled" && !e.value.is_null())
    {
        None => Ok(true),
        Some(e) => to_bool(&e.value)
            .map_err(|p| section.error(Some(e.value.line), &format!("{key}.enabled"), p)),
    }
}

fn id_line(item: &Node) -> usize {
    match &item.value {
        Value::Map(entries) => entries
            .iter()
            .find(|e| e.key == "id")
            .map_or(item.line, |e| e.line),
        _ => item.line,
    }
}

/// The input at `key`, or `None` when its type is one lumberwatch does not have yet and
/// the walk collects problems (the input is left out, the rest still checked).
fn input(
    section: &Section<'_>,
    key: &str,
    item: &Node,
) -> Result<Option<InputConfig>, ConfigError> {
    let type_entry = match &item.value {
        Value::Map(entries) => entries
            .iter()
            .find(|e| e.key == "type" && !e.value.is_null()),
        _ => None,
    };
    let Some(type_entry) = type_entry else {
        let msg = "required; set type: filestream, container, syslog, flows, conntrack, stdin or generator";
        return Err(section.error(
            Some(item.line),
            &format!("{key}.type"),
            Problem::Invalid(msg.to_string()),
        ));
    };
    let type_key = format!("{key}.type");
    let type_line = Some(type_entry.value.line);
    let kind = to_string(&type_entry.value).map_err(|p| section.error(type_line, &type_key, p))?;
    let schema = match kind.as_str() {
        "stdin" => &STDIN,
        "generator" => &GENERATOR,
        "filestream" => &FILESTREAM,
        "log" => &LOG,
        "container" => &CONTAINER,
        "syslog" => &SYSLOG,
        "conntrack" => &CONNTRACK,
        "flows" => &FLOWS,
        other if NOT_YET.contains(&other) => {
            let problem = Problem::InputTypeNotSupportedYet(other.to_string());
            section
                .problems()
                .skip(section.error(type_line, &type_key, problem))?;
            return Ok(None);
        }
        other => {
            return Err(section.error(
                type_line,
                &type_key,
                Problem::UnknownInputType(other.to_string()),
            ));
        }
    };
    let s = section.nested(key, item, schema)?;
    let kind = match kind.as_str() {
        "generator" => InputKind::Generator {
            count: s
                .u64_min("count", 0, "a non-negative integer (0 = unbounded)")?
                .unwrap_or(0),
            message: s.string("message")?,
            rate_per_sec: s
                .u64_min("rate_per_sec", 0, "a non-negative integer (0 = unlimited)")?
                .unwrap_or(0),
        },
        "filestream" | "log" | "container" => InputKind::Filestream(filestream(&s, &kind)?),
        "syslog" => InputKind::Syslog(syslog(&s)?),
        "conntrack" => InputKind::Conntrack(conntrack(&s)?),
        "flows" => InputKind::Flows(flows(&s)?),
        _ => InputKind::Stdin,
    };
    let common = InputCommon {
        id: s.string("id")?.filter(|id| !id.is_empty()),
        enabled: true,
        tags: s
            .strings("tags")?
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.text)
            .collect(),
        fields: s.json_map("fields")?.unwrap_or_default(),
        fields_under_root: s.bool("fields_under_root")?.unwrap_or(false),
        parser: match kind {
            InputKind::Generator { .. } => None,
            _ => parser(&s)?,
        },
    };
    Ok(Some(InputConfig { kind, common }))
}
