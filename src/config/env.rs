//! `${VAR}` expansion in config values, with Filebeat's (go-ucfg's) syntax and meaning.
//!
//! - `${VAR}`: the variable's value; unset is an error (Filebeat errors too, when the
//!   setting is read).
//! - `${VAR:default}`: the default when unset; the default may itself hold references.
//! - `${VAR:?message}`: unset is an error that starts with `message`.
//! - `$${` is a literal `${`; inside a reference, `$}` is a literal `}`.
//!
//! When a reference is the whole value, its text is parsed the way go-ucfg parses
//! environment values: `a, b` and `[a, b]` are lists, quotes are stripped, `null` and an
//! empty value are null. A reference inside other text is spliced in as text.
//!
//! Only the environment is consulted: references to other settings (`${path.data}`) are
//! not supported and read as an (unset) variable.

use std::ffi::OsString;

use super::yaml::{Node, Scalar, Value};

/// Deepest `[` nesting accepted in a variable's value.
const MAX_VALUE_DEPTH: usize = 16;

#[derive(Debug, PartialEq)]
pub(crate) enum Expanded {
    /// References (if any) spliced into the surrounding text.
    Text(String),
    /// The value was exactly one reference: the variable's name and the resolved text.
    Whole { name: String, text: String },
}

#[derive(Debug, PartialEq)]
pub(crate) enum EnvError {
    Unset {
        name: String,
        message: Option<String>,
    },
    NotUnicode {
        name: String,
    },
    Syntax(String),
}

pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// How deep references may nest inside defaults (`${A:${B:${C}}}`).
const MAX_REFERENCE_DEPTH: usize = 8;

/// Expands every reference in `text`.
pub(crate) fn expand(text: &str, env: Env<'_>) -> Result<Expanded, EnvError> {
    expand_at(text, env, 0)
}

fn expand_at(text: &str, env: Env<'_>, depth: usize) -> Result<Expanded, EnvError> {
    if depth > MAX_REFERENCE_DEPTH {
        return Err(EnvError::Syntax(format!(
            "references nested more than {MAX_REFERENCE_DEPTH} deep"
        )));
    }
    let mut out = String::new();
    let mut rest = text;
    let mut whole = None;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(inner_and_tail) = after.strip_prefix("${") {
            let end = closing_brace(inner_and_tail)?;
            let inner = &inner_and_tail[..end];
            let (name, value) = resolve(inner, env, depth)?;
            let starts_text = text.len() - rest.len() + at == 0;
            let is_whole = starts_text && end + 1 == inner_and_tail.len();
            if is_whole {
                whole = Some((name, value.clone()));
            }
            out.push_str(&value);
            rest = &inner_and_tail[end + 1..];
        } else if let Some(tail) = after.strip_prefix("$}").filter(|_| depth > 0) {
            // Only inside a default, where a bare `}` would end the reference.
            out.push('}');
            rest = tail;
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(match whole {
        Some((name, text)) => Expanded::Whole { name, text },
        None => Expanded::Text(out),
    })
}

/// Byte index of the `}` closing a reference whose body starts `s`, skipping nested
/// references and `$}` escapes.
fn closing_brace(s: &str) -> Result<usize, EnvError> {
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'}') => i += 2,
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 2;
            }
            b'}' if depth == 0 => return Ok(i),
            b'}' => {
                depth -= 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    Err(EnvError::Syntax("unterminated ${ (missing })".to_string()))
}

/// Resolves the body of one reference (`VAR`, `VAR:default`, `VAR:?message`).
fn resolve(inner: &str, env: Env<'_>, depth: usize) -> Result<(String, String), EnvError> {
    let (name, fallback) = match inner.split_once(':') {
        Some((name, fallback)) => (name, Some(fallback)),
        None => (inner, None),
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(EnvError::Syntax("empty variable name in ${}".to_string()));
    }
    if let Some(value) = env(name) {
        let value = value.into_string().map_err(|_| EnvError::NotUnicode {
            name: name.to_string(),
        })?;
        return Ok((name.to_string(), value));
    }
    match fallback {
        None => Err(EnvError::Unset {
            name: name.to_string(),
            message: None,
        }),
        Some(f) if f.starts_with('?') => Err(EnvError::Unset {
            name: name.to_string(),
            message: Some(f.trim_start_matches('?').trim().to_string()).filter(|m| !m.is_empty()),
        }),
        Some(default) => {
            let text = match expand_at(default, env, depth + 1)? {
                Expanded::Text(t) => t,
                Expanded::Whole { text, .. } => text,
            };
            Ok((name.to_string(), text))
        }
    }
}

/// Parses a variable's value the way go-ucfg parses environment values (its `EnvConfig`):
/// top-level `,` and `[...]` make lists, `"..."` and `'...'` are strings, `null` is null,
/// anything else is a plain scalar (typed later, like a plain YAML scalar). `{...}` is not
/// an object, as in go-ucfg.
pub(crate) fn parse_value(text: &str, line: usize) -> Result<Node, String> {
    let mut p = ValueParser {
        rest: text.trim(),
        line,
    };
    let mut values = Vec::new();
    loop {
        values.push(p.value(",", 0)?);
        p.skip_ws();
        if p.rest.is_empty() {
            break;
        }
        p.expect(',')?;
    }
    if values.len() == 1 {
        Ok(values.remove(0))
    } else {
        Ok(Node::new(line, Value::Seq(values)))
    }
}

struct ValueParser<'a> {
    rest: &'a str,
    line: usize,
}

impl ValueParser<'_> {
    fn skip_ws(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        match self.rest.strip_prefix(c) {
            Some(r) => {
                self.rest = r;
                Ok(())
            }
            None => Err(format!("expected '{c}'")),
        }
    }

    fn node(&self, value: Value) -> Node {
        Node::new(self.line, value)
    }

    fn value(&mut self, stop: &str, depth: usize) -> Result<Node, String> {
        self.skip_ws();
        match self.rest.chars().next() {
            None => Ok(self.node(Value::Null)),
            Some('[') => self.array(depth),
            Some('"') => self.double_quoted(),
            Some('\'') => self.single_quoted(),
            Some(_) => self.primitive(stop),
        }
    }

    fn array(&mut self, depth: usize) -> Result<Node, String> {
        if depth >= MAX_VALUE_DEPTH {
            return Err("lists nested too deeply".to_string());
        }
        self.rest = &self.rest[1..];
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            if let Some(r) = self.rest.strip_prefix(']') {
                self.rest = r;
                break;
            }
            if self.rest.is_empty() {
                return Err("list closing ']' missing".to_string());
            }
            items.push(self.value(",]", depth + 1)?);
            self.skip_ws();
            let mut chars = self.rest.chars();
            match chars.next() {
                Some(']') => {
                    self.rest = chars.as_str();
                    break;
                }
                Some(',') => self.rest = chars.as_str(),
                Some(_) => return Err("expected ',' or ']' in a list".to_string()),
                None => return Err("list closing ']' missing".to_string()),
            }
        }
        Ok(self.node(if items.is_empty() {
            Value::Null
        } else {
            Value::Seq(items)
        }))
    }

    fn single_quoted(&mut self) -> Result<Node, String> {
        let body = &self.rest[1..];
        let end = body.find('\'').ok_or("missing ' to close a string")?;
        let text = body[..end].to_string();
        self.rest = &body[end + 1..];
        Ok(self.node(Value::Scalar(Scalar { text, quoted: true })))
    }

    fn double_quoted(&mut self) -> Result<Node, String> {
        let mut text = String::new();
        let mut chars = self.rest[1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &self.rest[1 + i + 1..];
                    return Ok(self.node(Value::Scalar(Scalar { text, quoted: true })));
                }
                '\\' => match chars.next().map(|(_, e)| e) {
                    Some('n') => text.push('\n'),
                    Some('t') => text.push('\t'),
                    Some('r') => text.push('\r'),
                    Some(e @ ('"' | '\\' | '\'' | '/')) => text.push(e),
                    Some(e) => return Err(format!("unknown escape \\{e} in a quoted string")),
                    None => break,
                },
                c => text.push(c),
            }
        }
        Err("missing \" to close a string".to_string())
    }

    fn primitive(&mut self, stop: &str) -> Result<Node, String> {
        let end = self
            .rest
            .find(|c| stop.contains(c))
            .unwrap_or(self.rest.len());
        if end == 0 {
            let c = self.rest.chars().next().unwrap_or(' ');
            return Err(format!("unexpected '{c}'"));
        }
        let text = self.rest[..end].trim().to_string();
        self.rest = &self.rest[end..];
        if text == "null" {
            return Ok(self.node(Value::Null));
        }
        Ok(self.node(Value::Scalar(Scalar {
            text,
            quoted: false,
        })))
    }
}
