//! YAML text to a small tree that knows the line of every key and value.
//!
//! Built from `saphyr-parser` events rather than a generic YAML value type so that keys keep
//! their lines, scalars keep their raw text (typing happens later, against the schema, the
//! way go-ucfg converts), duplicate keys are caught, and hostile input (deep nesting, alias
//! bombs) is bounded. Owns nothing else: no env expansion, no dotted keys, no schema.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, StrInput};

use super::{ConfigError, Location, Problem};

/// Nesting deeper than this (sequences, mappings and dotted key segments) is rejected;
/// real configs use fewer than ten levels, and it keeps recursion far from the stack limit.
pub(crate) const MAX_DEPTH: usize = 64;

/// Upper bound on nodes in one file, counting every copy an alias makes.
const MAX_NODES: usize = 100_000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    /// 1-based line where the value starts.
    pub line: usize,
    pub value: Value,
    /// For a list that came from a whole-value `${VAR}`: the variable's text, so a
    /// setting that wants a string can still take `a, b` as written.
    pub env_text: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// `~`, `null`, or nothing at all after the colon.
    Null,
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
    /// A value whose `${VAR}` could not be expanded. Reported only if the setting is
    /// read, so an unsupported key is reported as such even when it holds `${path.config}`.
    Unresolved(Problem),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scalar {
    pub text: String,
    /// Quoted, block (`|`, `>`) or tagged `!!str`: always a string, never a number or bool.
    pub quoted: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    /// 1-based line of the key.
    pub line: usize,
    pub value: Node,
}

impl Node {
    pub fn new(line: usize, value: Value) -> Node {
        Node {
            line,
            value,
            env_text: None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// How the value reads in an error message: `"lots"`, `12`, `a list`, `a mapping`.
    pub fn describe(&self) -> String {
        match &self.value {
            Value::Null => "nothing (null)".to_string(),
            Value::Scalar(s) if s.quoted => format!("{:?}", s.text),
            Value::Scalar(s) => {
                let plain_number = !s.text.is_empty()
                    && s.text
                        .chars()
                        .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.'));
                if plain_number {
                    s.text.clone()
                } else {
                    format!("{:?}", s.text)
                }
            }
            Value::Seq(_) => "a list".to_string(),
            Value::Map(_) => "a mapping".to_string(),
            Value::Unresolved(_) => "an unresolved ${...}".to_string(),
        }
    }
}

/// Parses one YAML document. An empty file is an empty mapping.
pub(crate) fn parse(text: &str, origin: &str) -> Result<Node, ConfigError> {
    let mut b = Builder {
        parser: Parser::new_from_str(text),
        origin,
        anchors: HashMap::new(),
        nodes: 0,
        last_line: 1,
        lines: text.split('\n').count(),
    };
    b.expect_stream_start()?;
    let (ev, span) = b.next()?;
    let root = match ev {
        Event::StreamEnd => return Ok(Node::new(1, Value::Map(Vec::new()))),
        Event::DocumentStart(_) => {
            let (ev, span) = b.next()?;
            b.node(ev, span, 0, "")?
        }
        _ => return Err(b.error(span.start.line(), "expected a document")),
    };
    loop {
        let (ev, span) = b.next()?;
        match ev {
            Event::DocumentEnd => continue,
            Event::StreamEnd => break,
            _ => {
                return Err(b.error(
                    span.start.line(),
                    "more than one YAML document (---); a config file holds exactly one",
                ));
            }
        }
    }
    match root.value {
        Value::Null => Ok(Node::new(root.line, Value::Map(Vec::new()))),
        Value::Map(_) => Ok(root),
        _ => Err(b.error(
            root.line,
            &format!(
                "the top level must be a mapping of settings, got {}",
                root.describe()
            ),
        )),
    }
}

struct Builder<'a, 'input> {
    parser: Parser<'input, StrInput<'input>>,
    origin: &'a str,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    last_line: usize,
    /// Lines in the text: the scanner places an error or an empty node at the end of a
    /// text without a final newline on the line after it, which the file does not have.
    lines: usize,
}

impl<'input> Builder<'_, 'input> {
    fn next(&mut self) -> Result<(Event<'input>, Span), ConfigError> {
        match self.parser.next_event() {
            Some(Ok((ev, span))) => {
                self.last_line = self.line_of(&span);
                Ok((ev, span))
            }
            Some(Err(e)) => Err(self.scan_error(&e)),
            None => Err(self.error(self.last_line, "unexpected end of input")),
        }
    }

    fn expect_stream_start(&mut self) -> Result<(), ConfigError> {
        match self.next()? {
            (Event::StreamStart, _) => Ok(()),
            (_, span) => Err(self.error(span.start.line(), "expected the start of the stream")),
        }
    }

    fn scan_error(&self, e: &ScanError) -> ConfigError {
        self.error(e.marker().line().max(1), e.info())
    }

    /// The 1-based line an event starts on, never past the text's last line (an empty
    /// node at the very end, like the key of a final `? `, is placed after it).
    fn line_of(&self, span: &Span) -> usize {
        span.start.line().clamp(1, self.lines)
    }

    fn error(&self, line: usize, message: &str) -> ConfigError {
        ConfigError::Yaml {
            origin: self.origin.to_string(),
            line: line.clamp(1, self.lines),
            message: message.to_string(),
        }
    }

    fn count(&mut self, n: usize, line: usize) -> Result<(), ConfigError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(self.error(
                line,
                &format!("more than {MAX_NODES} values (after expanding aliases)"),
            ));
        }
        Ok(())
    }

    fn node(
        &mut self,
        ev: Event<'input>,
        span: Span,
        depth: usize,
        path: &str,
    ) -> Result<Node, ConfigError> {
        let line = self.line_of(&span);
        if depth > MAX_DEPTH {
            return Err(self.error(line, &format!("nested deeper than {MAX_DEPTH} levels")));
        }
        self.count(1, line)?;
        let (node, anchor) = match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let forced_str = tag
                    .as_ref()
                    .is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str");
                let quoted = forced_str || style != ScalarStyle::Plain;
                let null = !quoted && matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL");
                let value = if null {
                    Value::Null
                } else {
                    Value::Scalar(Scalar {
                        text: text.into_owned(),
                        quoted,
                    })
                };
                (Node::new(line, value), anchor)
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (ev, span) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    let item_path = join(path, &items.len().to_string());
                    items.push(self.node(ev, span, depth + 1, &item_path)?);
                }
                (Node::new(line, Value::Seq(items)), anchor)
            }
            Event::MappingStart(anchor, _) => (self.mapping(line, depth, path)?, anchor),
            Event::Alias(id) => {
                let Some(node) = self.anchors.get(&id).cloned() else {
                    return Err(self.error(line, "alias to an unknown anchor"));
                };
                self.count(count_nodes(&node), line)?;
                return Ok(node);
            }
            _ => return Err(self.error(line, "unexpected YAML event")),
        };
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    fn mapping(&mut self, line: usize, depth: usize, path: &str) -> Result<Node, ConfigError> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut merges: Vec<Node> = Vec::new();
        loop {
            let (ev, span) = self.next()?;
            let key_line = self.line_of(&span);
            let (key, merge_key) = match ev {
                Event::MappingEnd => break,
                Event::Scalar(text, style, _, _) => {
                    (text.into_owned(), style == ScalarStyle::Plain)
                }
                Event::Alias(id) => match self.anchors.get(&id).map(|n| &n.value) {
                    Some(Value::Scalar(s)) => (s.text.clone(), false),
                    _ => return Err(self.error(key_line, "a mapping key must be a plain string")),
                },
                _ => {
                    return Err(self.error(
                        key_line,
                        "a mapping key must be a plain string, not a list or mapping",
                    ));
                }
            };
            let (ev, span) = self.next()?;
            let key_path = join(path, &key);
            let value = self.node(ev, span, depth + 1, &key_path)?;
            if merge_key && key == "<<" {
                merges.push(value);
                continue;
            }
            if let Some(first_line) = seen.get(&key) {
                return Err(duplicate(self.origin, &key_path, key_line, *first_line));
            }
            seen.insert(key.clone(), key_line);
            entries.push(Entry {
                key,
                line: key_line,
                value,
            });
        }
        // YAML merge keys (`<<: *defaults`): explicit keys win, then earlier sources.
        for source in merges {
            let maps: Vec<Node> = match source.value {
                Value::Map(_) => vec![source],
                Value::Seq(items) => items,
                _ => {
                    return Err(self.error(
                        source.line,
                        "<< (merge) needs a mapping or a list of mappings",
                    ));
                }
            };
            for map in maps {
                let Value::Map(more) = map.value else {
                    return Err(
                        self.error(map.line, "<< (merge) needs a mapping or a list of mappings")
                    );
                };
                for entry in more {
                    if !seen.contains_key(&entry.key) {
                        seen.insert(entry.key.clone(), entry.line);
                        entries.push(entry);
                    }
                }
            }
        }
        Ok(Node::new(line, Value::Map(entries)))
    }
}

/// `parent.key`, or `key` at the top level.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// The error for a key set twice (in one mapping, or through two spellings of its path).
pub(crate) fn duplicate(origin: &str, key: &str, line: usize, first_line: usize) -> ConfigError {
    ConfigError::Invalid {
        at: Location {
            origin: origin.to_string(),
            line: Some(line),
            key: key.to_string(),
        },
        problem: Problem::Duplicate { first_line },
    }
}

fn count_nodes(node: &Node) -> usize {
    match &node.value {
        Value::Null | Value::Scalar(_) | Value::Unresolved(_) => 1,
        Value::Seq(items) => items.iter().map(count_nodes).fold(1, usize::saturating_add),
        Value::Map(entries) => entries
            .iter()
            .map(|e| count_nodes(&e.value))
            .fold(1, usize::saturating_add),
    }
}
