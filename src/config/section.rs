//! Reading one mapping of the normalized tree against a schema.
//!
//! A [`Section`] is opened with the keys it accepts, the Filebeat keys lumberwatch
//! deliberately does not implement, and those it does not implement yet; opening it
//! rejects every other key (with a "did you mean" when one is close). Its getters type a
//! value (go-ucfg's conversions: a quoted `"10"` is still a number, a single string is a
//! one-element list) and turn every failure into an error with file, line and key.
//!
//! A key that is unknown, not supported or not supported yet says nothing about the
//! keys around it, so those problems go to the walk's [`Problems`]: `run` stops at the
//! first, `test config` collects them all and goes on without the key. A value of the
//! wrong type still stops the walk: what depends on it cannot be checked.

use std::cell::RefCell;
use std::time::Duration;

use super::values::{self, parse_bool, parse_duration, parse_int};
use super::yaml::{Entry, Node, Value, join};
use super::{ConfigError, Location, Problem};

/// What a section accepts. Keys are single segments (the tree has no dotted keys).
pub(crate) struct Schema {
    pub keys: &'static [&'static str],
    /// Filebeat keys we will not implement, with why or what to use instead.
    pub not_supported: &'static [(&'static str, Option<&'static str>)],
    /// Filebeat keys we do not implement yet.
    pub not_yet: &'static [&'static str],
}

/// Filebeat's per-input pipeline settings, which no lumberwatch input has yet.
pub(crate) const PIPELINE_NOT_YET: &[&str] = &[
    "processors",
    "pipeline",
    "keep_null",
    "index",
    "publisher_pipeline",
];

/// `filter:` of the socket inputs (flows, conntrack): which connections are kept.
pub(crate) const ADDRESS_FILTER: Schema = Schema {
    keys: &["transports", "ports", "hosts"],
    not_supported: &[],
    not_yet: &[],
};

/// Where a walk puts the problems that do not stop it (see the module doc).
pub(crate) struct Problems {
    collect: bool,
    found: RefCell<Vec<ConfigError>>,
}

impl Problems {
    /// The first problem is the walk's error.
    pub fn first() -> Problems {
        Problems {
            collect: false,
            found: RefCell::default(),
        }
    }

    /// Every problem is kept and the walk goes on.
    pub fn all() -> Problems {
        Problems {
            collect: true,
            ..Problems::first()
        }
    }

    /// Keeps `error` and returns `Ok` when collecting; returns it otherwise.
    pub fn skip(&self, error: ConfigError) -> Result<(), ConfigError> {
        if !self.collect {
            return Err(error);
        }
        self.found.borrow_mut().push(error);
        Ok(())
    }

    pub fn into_vec(self) -> Vec<ConfigError> {
        self.found.into_inner()
    }
}

/// A string from the config and the line it is on.
pub(crate) struct Item {
    pub text: String,
    pub line: usize,
}

pub(crate) struct Section<'t> {
    origin: &'t str,
    problems: &'t Problems,
    path: String,
    /// Line of the key that opened this section (`None` for the root or an absent section).
    line: Option<usize>,
    entries: &'t [Entry],
}

impl<'t> Section<'t> {
    /// The top level of the file.
    pub fn root(
        tree: &'t Node,
        origin: &'t str,
        problems: &'t Problems,
        schema: &Schema,
    ) -> Result<Section<'t>, ConfigError> {
        Section::open(origin, problems, String::new(), None, Some(tree), schema)
    }

    fn open(
        origin: &'t str,
        problems: &'t Problems,
        path: String,
        line: Option<usize>,
        node: Option<&'t Node>,
        schema: &Schema,
    ) -> Result<Section<'t>, ConfigError> {
        let entries: &'t [Entry] = match node.map(|n| (n, &n.value)) {
            None | Some((_, Value::Null)) => &[],
            Some((_, Value::Map(entries))) => entries,
            Some((n, _)) => {
                let at = Location {
                    origin: origin.to_string(),
                    line: Some(n.line),
                    key: path,
                };
                let problem = wrong_type("a mapping of settings", n);
                return Err(ConfigError::Invalid { at, problem });
            }
        };
        let section = Section {
            origin,
            problems,
            path,
            line,
            entries,
        };
        section.check_keys(schema)?;
        Ok(section)
    }

    fn check_keys(&self, schema: &Schema) -> Result<(), ConfigError> {
        for entry in self.entries {
            let key = entry.key.as_str();
            if schema.keys.contains(&key) {
                continue;
            }
            let problem =
                if let Some((_, hint)) = schema.not_supported.iter().find(|(k, _)| *k == key) {
                    Problem::NotSupported { hint: *hint }
                } else if schema.not_yet.contains(&key) {
                    Problem::NotSupportedYet
                } else {
                    let known = schema
                        .keys
                        .iter()
                        .chain(schema.not_yet)
                        .copied()
                        .chain(schema.not_supported.iter().map(|(k, _)| *k));
                    Problem::UnknownKey {
                        suggestion: values::suggest(key, known),
                    }
                };
            self.problems
                .skip(self.error(Some(entry.line), key, problem))?;
        }
        Ok(())
    }

    /// Where this walk's problems go, for a caller that can leave out what is wrong
    /// (an input of a type lumberwatch does not have) and go on.
    pub fn problems(&self) -> &'t Problems {
        self.problems
    }

    /// An error about `key` (relative to this section; empty for the section itself).
    pub fn error(&self, line: Option<usize>, key: &str, problem: Problem) -> ConfigError {
        let key = if key.is_empty() {
            self.path.clone()
        } else {
            join(&self.path, key)
        };
        ConfigError::Invalid {
            at: Location {
                origin: self.origin.to_string(),
                line,
                key,
            },
            problem,
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Line of the key that opened this section, if it was in the file.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The entry for `key`, if it is set to something other than null.
    pub fn entry(&self, key: &str) -> Option<&'t Entry> {
        self.entries
            .iter()
            .find(|e| e.key == key && !e.value.is_null())
    }

    /// The line of `key`, if it is set.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        self.entry(key).map(|e| e.line)
    }

    /// Every set key, in file order (for sections whose keys are names, like `output`).
    pub fn entries(&self) -> impl Iterator<Item = &'t Entry> {
        self.entries.iter().filter(|e| !e.value.is_null())
    }

    /// Opens `node` (found under this section at `key`, e.g. `inputs.0`) as a section.
    pub fn nested(
        &self,
        key: &str,
        node: &'t Node,
        schema: &Schema,
    ) -> Result<Section<'t>, ConfigError> {
        Section::open(
            self.origin,
            self.problems,
            join(&self.path, key),
            Some(node.line),
            Some(node),
            schema,
        )
    }

    pub fn child(&self, key: &str, schema: &Schema) -> Result<Section<'t>, ConfigError> {
        let entry = self.entry(key);
        let line = entry.map(|e| e.line).or(self.line);
        Section::open(
            self.origin,
            self.problems,
            join(&self.path, key),
            line,
            entry.map(|e| &e.value),
            schema,
        )
    }

    /// Reads `key` with `convert`, which says what it expected when it fails.
    fn read<T>(
        &self,
        key: &str,
        convert: impl Fn(&'t Node) -> Result<T, Problem>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(entry) = self.entry(key) else {
            return Ok(None);
        };
        convert(&entry.value)
            .map(Some)
            .map_err(|p| self.error(Some(entry.value.line), key, p))
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        self.read(key, to_bool)
    }

    /// An integer in `min..=max`; `expected` describes the range for the message.
    pub fn int(
        &self,
        key: &str,
        min: i128,
        max: i128,
        expected: &str,
    ) -> Result<Option<i128>, ConfigError> {
        self.read(key, |n| {
            let v = resolved(n)?;
            let text = scalar_text(v).ok_or_else(|| wrong_type(expected, n))?;
            parse_int(text.trim())
                .filter(|i| (min..=max).contains(i))
                .ok_or_else(|| wrong_type(expected, n))
        })
    }

    /// An integer `>= min` that fits a `usize`.
    pub fn usize_min(
        &self,
        key: &str,
        min: usize,
        expected: &str,
    ) -> Result<Option<usize>, ConfigError> {
        let max = i128::try_from(usize::MAX).unwrap_or(i128::MAX);
        let min = i128::try_from(min).unwrap_or(0);
        let v = self.int(key, min, max, expected)?;
        Ok(v.and_then(|v| usize::try_from(v).ok()))
    }

    pub fn u64_min(&self, key: &str, min: u64, expected: &str) -> Result<Option<u64>, ConfigError> {
        let v = self.int(key, i128::from(min), i128::from(u64::MAX), expected)?;
        Ok(v.and_then(|v| u64::try_from(v).ok()))
    }

    pub fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        self.read(key, to_string)
    }

    /// A list of strings; a single string is a list of one (as in go-ucfg).
    pub fn strings(&self, key: &str) -> Result<Option<Vec<Item>>, ConfigError> {
        let Some(entry) = self.entry(key) else {
            return Ok(None);
        };
        let node = &entry.value;
        let fail = |line: usize, problem: Problem| self.error(Some(line), key, problem);
        match &node.value {
            Value::Seq(items) => items
                .iter()
                .map(|item| match to_string(item) {
                    Ok(text) => Ok(Item {
                        text,
                        line: item.line,
                    }),
                    Err(problem) => Err(fail(item.line, problem)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Value::Map(_) => Err(fail(node.line, wrong_type("a list of strings", node))),
            _ => to_string(node)
                .map(|text| {
                    Some(vec![Item {
                        text,
                        line: node.line,
                    }])
                })
                .map_err(|p| fail(node.line, p)),
        }
    }

    pub fn duration(&self, key: &str) -> Result<Option<Duration>, ConfigError> {
        self.read(key, |n| {
            let expected = "a duration like 30s, 1m30s or 500ms";
            let text = scalar_text(resolved(n)?).ok_or_else(|| wrong_type(expected, n))?;
            parse_duration(text).ok_or_else(|| wrong_type(expected, n))
        })
    }

    /// A mapping of arbitrary values, as JSON (`fields`).
    pub fn json_map(
        &self,
        key: &str,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, ConfigError> {
        let Some(entry) = self.entry(key) else {
            return Ok(None);
        };
        match to_json(&entry.value, &join(&self.path, key), self.origin)? {
            serde_json::Value::Object(map) => Ok(Some(map)),
            _ => Err(self.error(
                Some(entry.value.line),
                key,
                wrong_type("a mapping", &entry.value),
            )),
        }
    }
}

/// "expected X, got Y", or, for a value whose `${VAR}` did not expand, why it did not.
pub(crate) fn wrong_type(expected: &str, node: &Node) -> Problem {
    if let Value::Unresolved(problem) = &node.value {
        return problem.clone();
    }
    Problem::WrongType {
        expected: expected.to_string(),
        got: node.describe(),
    }
}

/// The node, or the problem that kept its `${VAR}` from expanding.
fn resolved(node: &Node) -> Result<&Node, Problem> {
    match &node.value {
        Value::Unresolved(problem) => Err(problem.clone()),
        _ => Ok(node),
    }
}

fn scalar_text(node: &Node) -> Option<&str> {
    match &node.value {
        Value::Scalar(s) => Some(&s.text),
        _ => None,
    }
}

pub(crate) fn to_bool(node: &Node) -> Result<bool, Problem> {
    let expected = "a boolean (true or false)";
    scalar_text(resolved(node)?)
        .and_then(|t| parse_bool(t.trim()))
        .ok_or_else(|| wrong_type(expected, node))
}

pub(crate) fn to_string(node: &Node) -> Result<String, Problem> {
    let node = resolved(node)?;
    match (&node.value, &node.env_text) {
        (Value::Scalar(s), _) => Ok(s.text.clone()),
        (_, Some(text)) => Ok(text.clone()),
        _ => Err(wrong_type("a string", node)),
    }
}

fn to_json(node: &Node, path: &str, origin: &str) -> Result<serde_json::Value, ConfigError> {
    let fail = |line: usize, problem: Problem| ConfigError::Invalid {
        at: Location {
            origin: origin.to_string(),
            line: Some(line),
            key: path.to_string(),
        },
        problem,
    };
    Ok(match &node.value {
        Value::Null => serde_json::Value::Null,
        Value::Unresolved(problem) => return Err(fail(node.line, problem.clone())),
        Value::Scalar(s) if s.quoted => serde_json::Value::String(s.text.clone()),
        Value::Scalar(s) => values::plain_to_json(&s.text),
        Value::Seq(items) => serde_json::Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| to_json(item, &join(path, &i.to_string()), origin))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(entries) => serde_json::Value::Object(
            entries
                .iter()
                .map(|e| {
                    Ok((
                        e.key.clone(),
                        to_json(&e.value, &join(path, &e.key), origin)?,
                    ))
                })
                .collect::<Result<_, ConfigError>>()?,
        ),
    })
}
