//! The statistics as a table for people (`lumberwatch stats`).

use std::fmt::Write;

use super::{Counts, Stats};

/// One row per key of the `field` table, busiest (bytes over the window) first: when
/// each key was last seen, its counts over the last `window_secs` before `now`, and
/// its totals. `None` if no table is kept for `field`.
pub fn render(stats: &Stats, field: &str, window_secs: i64, now: i64) -> Option<String> {
    let table = stats.table(field)?;
    let window = humantime::format_duration(std::time::Duration::from_secs(
        u64::try_from(window_secs).unwrap_or(0),
    ))
    .to_string();
    let mut rows: Vec<(&str, Counts, &super::KeyStats)> = table
        .keys()
        .map(|(key, k)| (key, table.window(key, window_secs, now), k))
        .collect();
    rows.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(a.0.cmp(b.0)));
    let width = rows
        .iter()
        .map(|r| r.0.len())
        .max()
        .unwrap_or(0)
        .max(field.len());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{field:<width$}  {:<20}  {:>12}  {:>14}  {:>12}  {:>12}  {:>14}",
        "last seen (UTC)",
        format!("events/{window}"),
        format!("bytes/{window}"),
        format!("packets/{window}"),
        format!("conns/{window}"),
        "bytes total",
    );
    for (key, w, k) in &rows {
        let _ = writeln!(
            out,
            "{key:<width$}  {:<20}  {:>12}  {:>14}  {:>12}  {:>12}  {:>14}",
            seen(k.last_seen),
            w.events,
            w.bytes,
            w.packets,
            w.connections,
            k.totals.bytes,
        );
    }
    let _ = write!(
        out,
        "{} keys, {} evicted (max_keys {})",
        table.len(),
        table.evicted(),
        table.spec().max_keys
    );
    Some(out)
}

fn seen(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Observation, TableSpec};

    #[test]
    fn the_busiest_sources_come_first_with_window_and_totals() {
        let mut stats = Stats::new([TableSpec::new("log.source.ip")]);
        let now = 1_772_323_200;
        for (ip, bytes, at) in [
            ("10.10.10.1", 500, now - 60),
            ("192.168.1.2", 9000, now - 30),
            ("10.10.10.1", 700, now - 7200),
        ] {
            let ctx = [("log.source.ip", ip)];
            let obs = Observation {
                record: None,
                context: &ctx,
                counts: Counts {
                    events: 1,
                    bytes,
                    ..Counts::default()
                },
            };
            stats.observe(&obs, at, now);
        }
        let text = render(&stats, "log.source.ip", 3600, now).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[0].starts_with("log.source.ip  last seen (UTC)"),
            "{text}"
        );
        assert!(lines[0].contains("bytes/1h"), "{text}");
        let cols = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(
            cols(lines[1]),
            [
                "192.168.1.2",
                "2026-02-28T23:59:30Z",
                "1",
                "9000",
                "0",
                "0",
                "9000"
            ]
        );
        assert_eq!(
            cols(lines[2]),
            [
                "10.10.10.1",
                "2026-02-28T23:59:00Z",
                "1",
                "500",
                "0",
                "0",
                "1200"
            ]
        );
        assert_eq!(lines[3], "2 keys, 0 evicted (max_keys 100000)");
        assert!(render(&stats, "source.ip", 3600, now).is_none());
    }
}
