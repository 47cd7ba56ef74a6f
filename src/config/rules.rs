//! `lumberwatch.rules` (a list) and `lumberwatch.rules_check_interval`, validated into
//! [`RuleConfig`]s: every value the engine needs is typed and checked here, so a rule
//! that loads is a rule that can be evaluated.

use std::collections::HashMap;
use std::time::Duration;

use jiff::tz::TimeZone;

use super::section::{Schema, Section, to_string, wrong_type};
use super::values::parse_byte_size;
use super::yaml::{Node, Value};
use super::{ConfigError, Problem, StatsConfig};
use crate::parse::Transport;
use crate::rules::{Condition, Expected, Filter, Measure, RuleConfig, RuleKind, Schedule, Watch};

const RULE: Schema = Schema {
    keys: &[
        "name",
        "type",
        "key",
        "expected",
        "filter",
        "measure",
        "window",
        "threshold",
        "condition",
        "realert",
        "schedule",
    ],
    not_supported: &[],
    not_yet: &[],
};

const FILTER: Schema = Schema {
    keys: &["inputs", "ports", "transports", "actions"],
    not_supported: &[],
    not_yet: &[],
};

const SCHEDULE: Schema = Schema {
    keys: &["at", "timezone", "every"],
    not_supported: &[],
    not_yet: &[],
};

/// The longest window a rule may have: a year.
const MAX_WINDOW_SECS: u64 = 366 * 24 * 3600;

/// `lumberwatch.rules_check_interval` (default 30s): how often the rules are evaluated.
pub(crate) fn check_interval(lumberwatch: &Section<'_>) -> Result<Duration, ConfigError> {
    let key = "rules_check_interval";
    match lumberwatch.duration(key)? {
        None => Ok(Duration::from_secs(30)),
        Some(d) if d >= Duration::from_secs(1) => Ok(d),
        Some(_) => {
            let problem = Problem::Invalid("must be at least 1s".into());
            Err(lumberwatch.error(lumberwatch.line_of(key), key, problem))
        }
    }
}

/// `lumberwatch.rules`: names unique, every window at least the statistics bucket.
pub(crate) fn build(
    lumberwatch: &Section<'_>,
    stats: &StatsConfig,
) -> Result<Vec<RuleConfig>, ConfigError> {
    let Some(entry) = lumberwatch.entry("rules") else {
        return Ok(Vec::new());
    };
    let Value::Seq(items) = &entry.value.value else {
        let problem = wrong_type("a list of rules", &entry.value);
        return Err(lumberwatch.error(Some(entry.value.line), "rules", problem));
    };
    let mut rules = Vec::with_capacity(items.len());
    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let key = format!("rules.{i}");
        if !matches!(item.value, Value::Map(_)) {
            let problem = wrong_type("a mapping of rule settings", item);
            return Err(lumberwatch.error(Some(item.line), &key, problem));
        }
        let s = lumberwatch.nested(&key, item, &RULE)?;
        let rule = rule(&s, item, stats)?;
        let line = s.line_of("name").unwrap_or(item.line);
        if let Some(first_line) = names.insert(rule.name.clone(), line) {
            return Err(s.error(Some(line), "name", Problem::Duplicate { first_line }));
        }
        rules.push(rule);
    }
    Ok(rules)
}

fn invalid(s: &Section<'_>, key: &str, msg: impl Into<String>) -> ConfigError {
    s.error(
        s.line_of(key).or(s.line()),
        key,
        Problem::Invalid(msg.into()),
    )
}

fn rule(s: &Section<'_>, item: &Node, stats: &StatsConfig) -> Result<RuleConfig, ConfigError> {
    let name = s.string("name")?.unwrap_or_default();
    if name.trim().is_empty() {
        return Err(s.error(
            s.line_of("name").or(Some(item.line)),
            "name",
            Problem::Invalid("required; a name unique among the rules".into()),
        ));
    }
    let kind = match s.string("type")?.as_deref() {
        None => {
            return Err(invalid(
                s,
                "type",
                "required; one of flatline, rate, report",
            ));
        }
        Some(t @ ("flatline" | "rate" | "report")) => t.to_string(),
        Some(other) => {
            let msg = format!("unknown rule type {other:?}; one of flatline, rate, report");
            return Err(invalid(s, "type", msg));
        }
    };
    let key = s.string("key")?.unwrap_or(RuleConfig::DEFAULT_KEY.into());
    if key.trim().is_empty() {
        return Err(invalid(s, "key", "a key field name must not be empty"));
    }
    let kind = match kind.as_str() {
        "report" => {
            for k in ["measure", "window", "threshold", "condition", "realert"] {
                if s.entry(k).is_some() {
                    let msg = "not used by report rules (a report has every measure)";
                    return Err(invalid(s, k, msg));
                }
            }
            RuleKind::Report(schedule(s)?)
        }
        kind => {
            if s.entry("schedule").is_some() {
                return Err(invalid(s, "schedule", "only report rules have a schedule"));
            }
            let watch = watch(s, kind == "flatline", stats)?;
            if kind == "flatline" {
                RuleKind::Flatline(watch)
            } else {
                RuleKind::Rate(watch)
            }
        }
    };
    Ok(RuleConfig {
        name,
        key,
        expected: expected(s)?,
        filter: filter(s)?,
        kind,
    })
}

fn expected(s: &Section<'_>) -> Result<Expected, ConfigError> {
    let items = s.strings("expected")?.unwrap_or_default();
    for item in &items {
        Expected::parse([item.text.as_str()])
            .map_err(|msg| s.error(Some(item.line), "expected", Problem::Invalid(msg)))?;
    }
    Expected::parse(items.iter().map(|i| i.text.as_str()))
        .map_err(|msg| invalid(s, "expected", msg))
}

fn filter(rule: &Section<'_>) -> Result<Filter, ConfigError> {
    let s = rule.child("filter", &FILTER)?;
    let list = |key: &str, convert: &dyn Fn(&str) -> Option<String>, expected: &str| {
        s.strings(key)?
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                convert(item.text.trim()).ok_or_else(|| {
                    let msg = format!("{:?} is not {expected}", item.text);
                    s.error(Some(item.line), key, Problem::Invalid(msg))
                })
            })
            .collect::<Result<Vec<String>, ConfigError>>()
    };
    let port = |t: &str| {
        t.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .map(|p| p.to_string())
    };
    let transport = |t: &str| Transport::from_name(t).map(|t| t.name().into_owned());
    let action = |t: &str| matches!(t, "allow" | "deny").then(|| t.to_string());
    let inputs = list(
        "inputs",
        &|t| (!t.is_empty()).then(|| t.to_string()),
        "an input id",
    )?;
    Ok(Filter {
        inputs,
        ports: list("ports", &port, "a port (1 to 65535)")?
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect(),
        transports: list(
            "transports",
            &transport,
            "a transport (tcp, udp, icmp, ...)",
        )?,
        actions: list("actions", &action, "an action (allow or deny)")?,
    })
}

/// A whole number of seconds in `min..=max`.
fn secs(s: &Section<'_>, key: &str, min: u64, expected: &str) -> Result<Option<i64>, ConfigError> {
    let Some(d) = s.duration(key)? else {
        return Ok(None);
    };
    if d.subsec_nanos() != 0 || d.as_secs() < min || d.as_secs() > MAX_WINDOW_SECS {
        return Err(invalid(s, key, expected));
    }
    Ok(i64::try_from(d.as_secs()).ok())
}

fn watch(s: &Section<'_>, flatline: bool, stats: &StatsConfig) -> Result<Watch, ConfigError> {
    let bucket = u64::from(stats.bucket_secs);
    let range = format!(
        "must be whole seconds, at least the statistics bucket ({}) and at most 8784h",
        super::values::format_duration(Duration::from_secs(bucket))
    );
    let Some(window_secs) = secs(s, "window", bucket, &range)? else {
        return Err(invalid(
            s,
            "window",
            "required for flatline and rate rules, e.g. 6h",
        ));
    };
    let condition = match (flatline, s.string("condition")?.as_deref()) {
        (true, Some(_)) => {
            let msg = "a flatline is always below its threshold; use type: rate for above";
            return Err(invalid(s, "condition", msg));
        }
        (_, None | Some("below")) => Condition::Below,
        (false, Some("above")) => Condition::Above,
        (false, Some(other)) => {
            return Err(invalid(
                s,
                "condition",
                format!("unknown condition {other:?}; one of below, above"),
            ));
        }
    };
    let measure = match s.string("measure")? {
        None => None,
        Some(name) => Some(Measure::by_name(&name).ok_or_else(|| {
            let msg =
                format!("unknown measure {name:?}; one of events, bytes, packets, connections");
            invalid(s, "measure", msg)
        })?),
    };
    let (threshold, measure) = match s.string("threshold")? {
        None if flatline => (None, measure.unwrap_or(Measure::Events)),
        None => {
            let msg = "required for rate rules, e.g. 20MB or 100 events";
            return Err(invalid(s, "threshold", msg));
        }
        Some(text) => {
            let (value, measure) =
                threshold(&text, measure).map_err(|msg| invalid(s, "threshold", msg))?;
            if value == 0 && condition == Condition::Below {
                let msg = "must be above 0: nothing is below 0 (a flatline without threshold fires on no traffic at all)";
                return Err(invalid(s, "threshold", msg));
            }
            (Some(value), measure)
        }
    };
    let realert_secs = secs(
        s,
        "realert",
        0,
        "must be whole seconds, at most 8784h (0 = never again)",
    )?
    .unwrap_or(window_secs);
    Ok(Watch {
        measure,
        window_secs,
        threshold,
        condition,
        realert_secs,
    })
}

/// `100`, `100 events`, `5 packets`, `20MB`, `1.5GiB`: the value in the measure's unit,
/// and the measure (given, or the one the unit implies; a bare number counts events).
fn threshold(text: &str, measure: Option<Measure>) -> Result<(u64, Measure), String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let counted = Measure::ALL
        .into_iter()
        .filter(|m| *m != Measure::Bytes)
        .find(|m| unit == m.name() || Some(unit.as_str()) == m.name().strip_suffix('s'));
    let whole = || {
        number
            .parse::<u64>()
            .map_err(|_| format!("{text:?}: a count must be a whole number"))
    };
    match (unit.is_empty(), counted, measure) {
        (true, _, Some(Measure::Bytes)) => Err(format!(
            "{text:?} needs a unit with measure: bytes, e.g. 20MB, 1.5GiB or 100B"
        )),
        (true, _, m) => Ok((whole()?, m.unwrap_or(Measure::Events))),
        (false, Some(c), Some(m)) if c != m => Err(format!(
            "{text:?} counts {} but the measure is {}",
            c.name(),
            m.name()
        )),
        (false, Some(c), _) => Ok((whole()?, c)),
        (false, None, m) => {
            let bytes = parse_byte_size(trimmed).ok_or_else(|| {
                format!("{text:?} is not a threshold; give a count (100, 100 events) or a size (20MB, 1.5GiB)")
            })?;
            match m {
                None | Some(Measure::Bytes) => Ok((bytes, Measure::Bytes)),
                Some(m) => Err(format!(
                    "{text:?} is a size but the measure is {}",
                    m.name()
                )),
            }
        }
    }
}

fn schedule(rule: &Section<'_>) -> Result<Schedule, ConfigError> {
    let Some(entry) = rule.entry("schedule") else {
        return Ok(Schedule::midnight_utc());
    };
    if !matches!(entry.value.value, Value::Map(_)) {
        return match to_string(&entry.value).as_deref() {
            Ok("daily") => Ok(Schedule::midnight_utc()),
            _ => {
                let expected = "daily, or a mapping with at (and timezone) or every";
                let problem = wrong_type(expected, &entry.value);
                Err(rule.error(Some(entry.value.line), "schedule", problem))
            }
        };
    }
    let s = rule.child("schedule", &SCHEDULE)?;
    if let Some(every_line) = s.line_of("every") {
        for other in ["at", "timezone"] {
            if let Some(line) = s.line_of(other) {
                let problem = Problem::Conflict {
                    other: format!("{}.every", s.path()),
                    other_line: every_line,
                };
                return Err(s.error(Some(line), other, problem));
            }
        }
        let every = secs(&s, "every", 1, "must be whole seconds, from 1s to 8784h")?;
        return Ok(Schedule::Every {
            secs: every.unwrap_or(86_400),
        });
    }
    let (hour, minute) = match s.string("at")? {
        None => (0, 0),
        Some(text) => time_of_day(&text).ok_or_else(|| {
            invalid(
                &s,
                "at",
                format!("expected a time of day HH:MM, got {text:?}"),
            )
        })?,
    };
    let zone = match s.string("timezone")? {
        None => TimeZone::UTC,
        Some(name) if name == "UTC" => TimeZone::UTC,
        Some(name) => TimeZone::get(&name).map_err(|_| {
            let msg = format!(
                "unknown time zone {name:?}; use an IANA name such as Europe/Paris, or UTC"
            );
            invalid(&s, "timezone", msg)
        })?,
    };
    Ok(Schedule::Daily { hour, minute, zone })
}

/// `HH:MM`, 00:00 to 23:59.
fn time_of_day(text: &str) -> Option<(i8, i8)> {
    let (h, m) = text.trim().split_once(':')?;
    let digits = |t: &str| t.len() == 2 && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || !digits(m) {
        return None;
    }
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some((h, m))
}
