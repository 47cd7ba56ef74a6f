//! Numbers, sizes, durations and times as alert and report messages write them for
//! people: `12.3 MB`, `4,312 events`, `7h12m`, `2026-03-01T04:12:09Z`.

use super::Measure;

/// A byte count in decimal units with one decimal where it matters: `512 bytes`,
/// `12.3 MB`, `20 MB`, `1.2 GB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    if n < 1000 {
        return format!("{n} bytes");
    }
    let mut value = n as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    let text = format!("{value:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text} {}", UNITS[unit])
}

/// A count with thousands separators: `4,312`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An amount of `measure`: `12.3 MB`, `4,312 events`, `1 packet`.
pub fn amount(measure: Measure, n: u64) -> String {
    match measure {
        Measure::Bytes => bytes(n),
        _ => {
            let name = measure.name();
            let name = if n == 1 {
                name.strip_suffix('s').unwrap_or(name)
            } else {
                name
            };
            format!("{} {name}", count(n))
        }
    }
}

/// A duration in hours, minutes and seconds, zeros left out: `6h`, `7h12m`, `45s`.
pub fn duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// A unix time as RFC 3339 UTC, to the second.
pub fn time(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|ts| ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| t.to_string())
}

/// A unix time as `@timestamp` is written: RFC 3339 UTC, milliseconds.
pub fn timestamp(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|ts| ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_counts_and_durations_read_naturally() {
        assert_eq!(bytes(512), "512 bytes");
        assert_eq!(bytes(12_345_678), "12.3 MB");
        assert_eq!(bytes(20_000_000), "20 MB");
        assert_eq!(bytes(999_999), "1 MB");
        assert_eq!(bytes(1_234_000_000), "1.2 GB");
        assert_eq!(count(4312), "4,312");
        assert_eq!(count(1_000_000), "1,000,000");
        assert_eq!(count(999), "999");
        assert_eq!(amount(Measure::Events, 1), "1 event");
        assert_eq!(amount(Measure::Connections, 2500), "2,500 connections");
        assert_eq!(duration(6 * 3600), "6h");
        assert_eq!(duration(7 * 3600 + 12 * 60), "7h12m");
        assert_eq!(duration(45), "45s");
        assert_eq!(duration(0), "0s");
        assert_eq!(time(1_772_338_329), "2026-03-01T04:12:09Z");
        assert_eq!(timestamp(1_772_338_329), "2026-03-01T04:12:09.000Z");
    }
}
