//! `parser:` on a line input: which connection-log format its lines are, as a name
//! (`parser: aws-vpc`) or a mapping with the format's options
//! (`parser: {type: aws-vpc, fields: "version srcaddr dstaddr ..."}`).
//!
//! Not to be confused with Filebeat's `parsers:` list (multiline, ndjson), which is a
//! filestream setting and keeps its meaning.

use super::section::{Schema, Section, to_string, wrong_type};
use super::yaml::Value;
use super::{ConfigError, Problem};
use crate::parse::{Format, ParserSpec};

const PARSER: Schema = Schema {
    keys: &["type", "fields", "pattern"],
    not_supported: &[],
    not_yet: &[],
};

/// The input's `parser`, checked by building it once (an unknown AWS field name or a
/// pattern that does not compile is a config error, not a failure at the first line).
pub(crate) fn parser(s: &Section<'_>) -> Result<Option<ParserSpec>, ConfigError> {
    let Some(entry) = s.entry("parser") else {
        return Ok(None);
    };
    let line = Some(entry.line);
    let (name, fields, pattern, name_line, name_key) = match &entry.value.value {
        Value::Map(_) => {
            let p = s.child("parser", &PARSER)?;
            let Some(name) = p.string("type")? else {
                let msg = format!("required; one of {}", names());
                return Err(p.error(line, "type", Problem::Invalid(msg)));
            };
            let fields = p.strings("fields")?.map(|items| {
                items
                    .iter()
                    .flat_map(|i| i.text.split_whitespace())
                    .map(str::to_string)
                    .collect()
            });
            let type_line = p.line_of("type");
            (name, fields, p.string("pattern")?, type_line, "parser.type")
        }
        _ => {
            let name = to_string(&entry.value).map_err(|_| {
                let expected = format!("a format name ({}) or a mapping with type", names());
                s.error(line, "parser", wrong_type(&expected, &entry.value))
            })?;
            (name, None, None, line, "parser")
        }
    };
    let Some(format) = Format::by_name(&name) else {
        let msg = format!("unknown format {name:?}; one of {}", names());
        return Err(s.error(name_line, name_key, Problem::Invalid(msg)));
    };
    let spec = ParserSpec {
        format,
        fields,
        pattern,
    };
    spec.build()
        .map_err(|e| s.error(line, "parser", Problem::Invalid(e.to_string())))?;
    Ok(Some(spec))
}

fn names() -> String {
    let names: Vec<&str> = Format::ALL.iter().map(|(n, _)| *n).collect();
    names.join(", ")
}
