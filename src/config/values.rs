//! Typing scalar text the way Filebeat does: YAML 1.1 booleans (go-yaml v2), integers,
//! Go durations (`1m30s`, bare numbers are seconds, as in go-ucfg), and `fields` values to
//! JSON. Pure functions over `&str`; the caller adds file, line and key to any failure.

use std::time::Duration;

/// `true`/`false` and the other spellings go-yaml v2 and go-ucfg read as booleans.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" | "t" | "T" | "yes" | "Yes" | "YES" | "y" | "Y" | "on" | "On"
        | "ON" => Some(true),
        "false" | "False" | "FALSE" | "f" | "F" | "no" | "No" | "NO" | "n" | "N" | "off"
        | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

/// A decimal integer with an optional sign (`12`, `-1`, `+3`).
pub(crate) fn parse_int(text: &str) -> Option<i128> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || digits.len() > 30 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<i128>().ok()
}

/// A Go duration (`300ms`, `1.5h`, `2h45m`, units ns/us/µs/ms/s/m/h) or a bare number of
/// seconds (`30`, `0.5`). Negative durations are rejected.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Some(secs) = parse_number(text) {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(num_len);
        let (unit_nanos, unit_len) = unit(tail)?;
        total = total.checked_add(scaled(number, unit_nanos)?)?;
        rest = &tail[unit_len..];
    }
    let nanos = u64::try_from(total).ok()?;
    Some(Duration::from_nanos(nanos))
}

/// `number` (digits, optionally with one fraction) times `unit_nanos`, in nanoseconds.
fn scaled(number: &str, unit_nanos: u128) -> Option<u128> {
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() && frac.is_empty() || frac.contains('.') || int.len() > 20 {
        return None;
    }
    let mut nanos = if int.is_empty() {
        0
    } else {
        int.parse::<u128>().ok()?.checked_mul(unit_nanos)?
    };
    let mut scale = unit_nanos;
    for digit in frac.bytes().take(20) {
        scale /= 10;
        nanos = nanos.checked_add(u128::from(digit - b'0') * scale)?;
    }
    Some(nanos)
}

fn unit(tail: &str) -> Option<(u128, usize)> {
    const UNITS: [(&str, u128); 8] = [
        ("ns", 1),
        ("us", 1_000),
        ("µs", 1_000),
        ("μs", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
    ];
    UNITS
        .iter()
        .find(|(name, _)| tail.starts_with(name))
        .map(|(name, nanos)| (*nanos, name.len()))
}

/// A non-negative decimal number (`30`, `0.5`), the go-ucfg spelling of seconds.
fn parse_number(text: &str) -> Option<f64> {
    let valid = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && text.bytes().filter(|b| *b == b'.').count() <= 1
        && text.bytes().any(|b| b.is_ascii_digit());
    if !valid {
        return None;
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A size in bytes as go-humanize reads it (Filebeat's `max_message_size`): a number
/// (`10240`, `1.5`) with an optional unit, decimal (`kb`, `mb`, `gb`, or `k`, `m`, `g`)
/// or binary (`kib`, `mib`, `gib`, or `ki`, `mi`, `gi`), any case.
pub(crate) fn parse_byte_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number = parse_number(number)?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = (number * scale).round();
    (bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// A Go-style rendering for messages: `1m30s`, `500ms`, `0s`.
pub(crate) fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string().replace(' ', "")
}

/// A plain (unquoted) scalar as JSON, typed like go-yaml v2 types it: booleans, integers,
/// floats, else a string. (Nulls never get here.)
pub(crate) fn plain_to_json(text: &str) -> serde_json::Value {
    if let Some(b) = parse_bool(text) {
        return serde_json::Value::Bool(b);
    }
    if let Some(i) = parse_int(text) {
        if let Ok(i) = i64::try_from(i) {
            return i.into();
        }
        if let Ok(u) = u64::try_from(i) {
            return u.into();
        }
    }
    let looks_float = text.bytes().any(|b| b.is_ascii_digit())
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if looks_float
        && let Some(n) = text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
    {
        return serde_json::Value::Number(n);
    }
    serde_json::Value::String(text.to_string())
}

/// Edit distance, for "did you mean" suggestions.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest of `candidates` to `key`, if it is close enough to be a typo.
pub(crate) fn suggest<'a>(key: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    candidates
        .map(|c| (edit_distance(key, c), c))
        .filter(|(d, c)| {
            let limit = if c.chars().count() <= 4 {
                1
            } else {
                (c.chars().count() / 4).max(2)
            };
            *d <= limit
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Option<Duration> {
        parse_duration(text)
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(d("30s"), Some(Duration::from_secs(30)));
        assert_eq!(d("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(d("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(d("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(d("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(d("2h45m"), Some(Duration::from_secs(9900)));
        assert_eq!(d("10us"), Some(Duration::from_micros(10)));
        assert_eq!(d("10µs"), Some(Duration::from_micros(10)));
        assert_eq!(d("7ns"), Some(Duration::from_nanos(7)));
        assert_eq!(d(".5s"), Some(Duration::from_millis(500)));
    }

    #[test]
    fn bare_numbers_are_seconds() {
        assert_eq!(d("30"), Some(Duration::from_secs(30)));
        assert_eq!(d("0"), Some(Duration::ZERO));
        assert_eq!(d("0.25"), Some(Duration::from_millis(250)));
    }

    #[test]
    fn malformed_or_negative_durations_are_rejected() {
        for bad in [
            "",
            "s",
            "30x",
            "-5s",
            "-5",
            "1..5s",
            "5 s",
            "1h-3m",
            "ms",
            "1e3s",
            "99999999999999999999999h",
        ] {
            assert_eq!(d(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn durations_format_like_go() {
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
    }

    #[test]
    fn byte_sizes_read_like_go_humanize() {
        assert_eq!(parse_byte_size("10240"), Some(10240));
        assert_eq!(parse_byte_size("10KiB"), Some(10 << 10));
        assert_eq!(parse_byte_size("20MiB"), Some(20 << 20));
        assert_eq!(parse_byte_size("1.5 kb"), Some(1500));
        assert_eq!(parse_byte_size("2GB"), Some(2_000_000_000));
        for bad in ["", "KiB", "-1", "10 bytes", "1e3", "ten"] {
            assert_eq!(parse_byte_size(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn yaml_11_booleans_are_booleans() {
        assert_eq!(parse_bool("yes"), Some(true));
        assert_eq!(parse_bool("OFF"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }

    #[test]
    fn integers_are_decimal_only() {
        assert_eq!(parse_int("-1"), Some(-1));
        assert_eq!(parse_int("+3"), Some(3));
        for bad in ["", "-", "0x10", "1_000", "1.0", "lots", " 1"] {
            assert_eq!(parse_int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn plain_scalars_become_typed_json() {
        assert_eq!(plain_to_json("true"), serde_json::json!(true));
        assert_eq!(plain_to_json("42"), serde_json::json!(42));
        assert_eq!(plain_to_json("2.5"), serde_json::json!(2.5));
        assert_eq!(plain_to_json("web-01"), serde_json::json!("web-01"));
        assert_eq!(plain_to_json("1.2.3"), serde_json::json!("1.2.3"));
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        let keys = ["compression_level", "hosts", "ttl", "id"];
        assert_eq!(
            suggest("compresion_level", keys.iter().copied()).as_deref(),
            Some("compression_level")
        );
        assert_eq!(
            suggest("hots", keys.iter().copied()).as_deref(),
            Some("hosts")
        );
        assert_eq!(suggest("ab", keys.iter().copied()), None);
        assert_eq!(suggest("completely_else", keys.iter().copied()), None);
    }
}
