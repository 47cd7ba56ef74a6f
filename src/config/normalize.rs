//! From the parsed tree to the tree the schema reads: `${VAR}` expanded in every value,
//! dotted keys split into nested mappings and merged.
//!
//! Merging follows go-ucfg (Filebeat's config library): `output.logstash.hosts: [..]`,
//! `output: {logstash: {hosts: [..]}}` and `output.logstash:` + nested `hosts:` are one
//! tree; two mappings at the same path merge key by key; a null never overrides a value;
//! anything else set twice is an error naming both lines. Keys are split on every `.`,
//! including keys under `fields` (go-ucfg does the same).

use super::env::{self, EnvError, Expanded};
use super::yaml::{self, Entry, MAX_DEPTH, Node, Scalar, Value, join};
use super::{ConfigError, Location, Problem};

pub(crate) fn normalize(root: Node, origin: &str, env: env::Env<'_>) -> Result<Node, ConfigError> {
    Normalizer { origin, env }.node(root, "", 0)
}

struct Normalizer<'a> {
    origin: &'a str,
    env: env::Env<'a>,
}

impl Normalizer<'_> {
    fn error(&self, line: usize, key: &str, problem: Problem) -> ConfigError {
        ConfigError::Invalid {
            at: Location {
                origin: self.origin.to_string(),
                line: Some(line),
                key: key.to_string(),
            },
            problem,
        }
    }

    fn node(&self, node: Node, path: &str, depth: usize) -> Result<Node, ConfigError> {
        let line = node.line;
        match node.value {
            Value::Null | Value::Unresolved(_) => Ok(node),
            Value::Scalar(s) => Ok(self.scalar(s, line)),
            Value::Seq(items) => {
                let items = items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| self.node(item, &join(path, &i.to_string()), depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Node {
                    line,
                    value: Value::Seq(items),
                    env_text: node.env_text,
                })
            }
            Value::Map(entries) => {
                let mut out = Vec::with_capacity(entries.len());
                for entry in entries {
                    let full = join(path, &entry.key);
                    let segments: Vec<&str> = entry.key.split('.').collect();
                    if segments.iter().any(|s| s.is_empty()) {
                        let msg = "empty key segment (keys are split on '.')".to_string();
                        // An empty key would leave nothing between the line and the problem.
                        let shown = match entry.key.as_str() {
                            "" => join(path, "\"\""),
                            _ => full.clone(),
                        };
                        return Err(self.error(entry.line, &shown, Problem::Invalid(msg)));
                    }
                    if depth + segments.len() > MAX_DEPTH {
                        let msg = format!("nested deeper than {MAX_DEPTH} levels");
                        return Err(self.error(entry.line, &full, Problem::Invalid(msg)));
                    }
                    let value = self.node(entry.value, &full, depth + segments.len())?;
                    self.insert(&mut out, path, &segments, entry.line, value)?;
                }
                Ok(Node::new(line, Value::Map(out)))
            }
        }
    }

    /// Expands references in one scalar. A failure becomes `Value::Unresolved`, reported
    /// when (and only if) the setting is read.
    fn scalar(&self, s: Scalar, line: usize) -> Node {
        if !s.text.contains('$') {
            return Node::new(line, Value::Scalar(s));
        }
        let problem = match env::expand(&s.text, self.env) {
            Ok(Expanded::Text(text)) => {
                return Node::new(
                    line,
                    Value::Scalar(Scalar {
                        text,
                        quoted: s.quoted,
                    }),
                );
            }
            Ok(Expanded::Whole { name, text }) => match env::parse_value(&text, line) {
                Ok(mut node) => {
                    if matches!(node.value, Value::Seq(_)) {
                        node.env_text = Some(text);
                    }
                    return node;
                }
                Err(e) => Problem::Invalid(format!(
                    "cannot read the value of environment variable {name}: {e}"
                )),
            },
            Err(EnvError::Unset { name, message }) => Problem::EnvVarUnset { name, message },
            Err(EnvError::NotUnicode { name }) => {
                Problem::Invalid(format!("environment variable {name} is not valid UTF-8"))
            }
            Err(EnvError::Syntax(msg)) => Problem::Invalid(msg),
        };
        Node::new(line, Value::Unresolved(problem))
    }

    /// Puts `value` at `segments` (a split key) under the mapping `out` at `path`.
    fn insert(
        &self,
        out: &mut Vec<Entry>,
        path: &str,
        segments: &[&str],
        line: usize,
        value: Node,
    ) -> Result<(), ConfigError> {
        let Some((first, rest)) = segments.split_first() else {
            return Ok(());
        };
        let here = join(path, first);
        let value = rest.iter().rev().fold(value, |inner, key| {
            Node::new(
                line,
                Value::Map(vec![Entry {
                    key: key.to_string(),
                    line,
                    value: inner,
                }]),
            )
        });
        match out.iter_mut().find(|e| e.key == *first) {
            None => {
                out.push(Entry {
                    key: first.to_string(),
                    line,
                    value,
                });
                Ok(())
            }
            Some(existing) => self.merge(existing, value, line, &here),
        }
    }

    fn merge(
        &self,
        existing: &mut Entry,
        new: Node,
        line: usize,
        path: &str,
    ) -> Result<(), ConfigError> {
        if new.is_null() {
            return Ok(());
        }
        if existing.value.is_null() {
            existing.value = new;
            existing.line = line;
            return Ok(());
        }
        match (&mut existing.value.value, new.value) {
            (Value::Map(old), Value::Map(more)) => {
                for entry in more {
                    self.insert(old, path, &[entry.key.as_str()], entry.line, entry.value)?;
                }
                Ok(())
            }
            _ => Err(yaml::duplicate(self.origin, path, line, existing.line)),
        }
    }
}
