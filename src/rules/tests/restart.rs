//! Snapshots: a restart neither forgets a silence nor raises a false one.

use super::*;

const RULES: &str = "- name: silent-6h\n  type: flatline\n  window: 6h\n  expected: [10.10.10.1, 10.10.10.2, 10.10.10.3]\n- name: slow\n  type: rate\n  window: 1h\n  threshold: 20MB\n  expected: [10.10.10.2]\n";

#[test]
fn restart_neither_forgets_a_silence_nor_raises_a_false_one() {
    let mut e = engine(RULES);
    e.tick(T0);
    let mut alerts = Vec::new();
    // .1 sends for an hour and stops; .2 and .3 keep sending 1 MB a minute.
    for minute in 0..(7 * 60) {
        let now = T0 + minute * M;
        if minute < 60 {
            send(&mut e, "10.10.10.1", 1_000_000, now);
        }
        send(&mut e, "10.10.10.2", 1_000_000, now);
        send(&mut e, "10.10.10.3", 1_000_000, now);
        alerts.extend(e.tick(now));
    }
    assert_eq!(
        episodes(&alerts),
        [firing("10.10.10.1", T0 + 6 * H + 59 * M)]
    );
    // Down for a minute; .2 and .3 sent nothing the new process saw in that minute.
    let mut e = restarted(&e, RULES);
    assert_eq!(e.open_episodes(), 1);
    let mut alerts = Vec::new();
    for minute in (7 * 60 + 1)..(8 * 60) {
        let now = T0 + minute * M;
        send(&mut e, "10.10.10.2", 1_000_000, now);
        send(&mut e, "10.10.10.3", 1_000_000, now);
        alerts.extend(e.tick(now));
    }
    assert!(alerts.is_empty(), "{alerts:?}");
    // The silence the old process saw opening is closed by the new one.
    send(&mut e, "10.10.10.1", 1, T0 + 8 * H);
    assert_eq!(
        episodes(&e.tick(T0 + 8 * H)),
        [resolved("10.10.10.1", T0 + 8 * H)]
    );
}

#[test]
fn seven_hours_down_alerts_once_stamped_at_six_hours() {
    let mut e = engine(RULES);
    for minute in 0..=60 {
        for ip in ["10.10.10.1", "10.10.10.2", "10.10.10.3"] {
            send(&mut e, ip, 1_000_000, T0 + minute * M);
        }
        assert!(e.tick(T0 + minute * M).is_empty());
    }
    let mut e = restarted(&e, RULES);
    let alerts = run(&mut e, T0 + 8 * H, T0 + 9 * H);
    let silent: Vec<_> = alerts.iter().filter(|a| a.rule == "silent-6h").collect();
    assert_eq!(silent.len(), 3, "{alerts:#?}");
    for a in &silent {
        assert_eq!(a.at, T0 + 7 * H);
        let Detail::Episode(ep) = &a.detail else {
            panic!("a flatline alert is an episode");
        };
        assert_eq!(ep.observed, 0);
        assert_eq!(ep.last_seen, Some(T0 + H));
    }
    assert_eq!(
        silent[0].message(),
        format!(
            "no traffic from {} for 6h (last seen 2026-03-01T01:00:00Z)",
            match &silent[0].detail {
                Detail::Episode(ep) => ep.key.clone(),
                Detail::Report(_) => String::new(),
            }
        )
    );
    // The rate rule cannot tell when the hour got too quiet: it says so when it looks.
    let slow: Vec<_> = alerts
        .iter()
        .filter(|a| a.rule == "slow")
        .map(|a| a.at)
        .collect();
    assert_eq!(
        slow,
        [T0 + 8 * H, T0 + 9 * H],
        "fired, then repeated after realert"
    );
}

#[test]
fn state_of_changed_rules_and_foreign_snapshots() {
    let mut e = engine(RULES);
    e.tick(T0);
    assert!(run(&mut e, T0, T0 + 7 * H).len() >= 3);
    let snapshot = e.snapshot();
    // Another rule set: nothing of the old state applies, and nothing breaks.
    let mut other = engine("- name: other\n  type: flatline\n  window: 1h\n");
    other.restore(snapshot.clone()).unwrap();
    assert_eq!(other.open_episodes(), 0);
    let mut bad = snapshot;
    bad["version"] = serde_json::json!(99);
    assert_eq!(
        engine(RULES).restore(bad).unwrap_err().to_string(),
        "rules state version 99 is not 1"
    );
    assert!(engine(RULES).restore(serde_json::json!([1, 2])).is_err());
}
