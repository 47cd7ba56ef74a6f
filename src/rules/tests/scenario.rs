//! A simulated week (issue 6): five sources, two silences, a slow-down, a burst and six
//! agent restarts, one of them after 7 h down. A model of the traffic is the oracle:
//! from the records the agent observed it derives every alert the rules must give, when,
//! and every report's totals; the engine, driven through the same week with its state
//! saved as JSON text and restored at each start, must give exactly those.

mod model;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::Range;
use std::sync::OnceLock;

use self::model::{Change, EpisodeAlert, Incident, Model, ReportLine, Source};
use super::*;
use crate::config::Config;

const D: i64 = 24 * H;
const END: i64 = T0 + 7 * D;
const SEED: u64 = 6;

/// Day `day` of the week (1 to 7) at `hour:minute` UTC.
const fn at(day: i64, hour: i64, minute: i64) -> i64 {
    T0 + (day - 1) * D + hour * H + minute * M
}

/// A normal hour holds at least 12 records of at least 75% of the mean (over 20 MB), a
/// normal 10 minutes at most 11 of at most 125% (under 100 MB).
const SOURCES: [Source; 5] = [
    Source {
        ip: "10.10.10.1",
        mean_bytes: 4_000_000,
    },
    Source {
        ip: "10.10.10.2",
        mean_bytes: 5_000_000,
    },
    Source {
        ip: "10.10.10.3",
        mean_bytes: 3_500_000,
    },
    Source {
        ip: "192.168.1.1",
        mean_bytes: 3_500_000,
    },
    Source {
        ip: "192.168.1.2",
        mean_bytes: 4_500_000,
    },
];

const CONFIG: &str = "lumberwatch.inputs:
  - type: stdin
output.console.pretty: false
lumberwatch.rules_check_interval: 60s
lumberwatch.rules:
  - name: silent-6h
    type: flatline
    window: 6h
    realert: 0
    expected: [10.10.10.1, 10.10.10.2, 10.10.10.3, 192.168.1.1, 192.168.1.2]
  - name: under-20mb-per-hour
    type: rate
    window: 1h
    threshold: 20MB
    realert: 0
    expected: [10.10.10.1, 10.10.10.2, 10.10.10.3, 192.168.1.1, 192.168.1.2]
  - name: burst
    type: rate
    window: 10m
    threshold: 100MB
    condition: above
    realert: 0
  - name: daily
    type: report
    schedule: {at: \"00:00\", timezone: UTC}
    expected: [10.10.10.1, 10.10.10.2, 10.10.10.3, 192.168.1.1, 192.168.1.2]
";

fn incidents() -> Vec<Incident> {
    let incident = |ip, during, change| Incident { ip, during, change };
    vec![
        incident("10.10.10.2", at(2, 2, 0)..at(2, 10, 0), Change::Silent),
        incident(
            "10.10.10.3",
            at(3, 12, 0)..at(3, 15, 0),
            Change::Slow { bytes: 100_000 },
        ),
        incident(
            "192.168.1.1",
            at(4, 14, 0)..at(4, 14, 30),
            Change::Burst { every_secs: 10 },
        ),
        incident("192.168.1.2", at(5, 9, 0)..END, Change::Silent),
    ]
}

/// Restarts at odd seconds, so that the checks stop falling on midnight.
const RESTARTS: [i64; 5] = [
    at(1, 13, 37) + 13,
    // 10.10.10.2 silent for 3 h: its flatline is not due yet.
    at(2, 5, 0) + 17,
    // 10.10.10.2's flatline open.
    at(2, 9, 0) + 41,
    // 10.10.10.3's slow-down open.
    at(3, 13, 30) + 5,
    // 192.168.1.1's burst open.
    at(4, 14, 20) + 29,
];

/// 7 h down over midnight, while 192.168.1.2 is silent.
const DOWN: Range<i64> = at(6, 20, 0) + 11..at(7, 3, 0) + 11;

/// Each run of the agent; the last goes on for one check past the week, for its report.
fn runs(interval: i64) -> Vec<Range<i64>> {
    let starts = std::iter::once(T0).chain(RESTARTS).chain([DOWN.end]);
    let stops = RESTARTS.into_iter().chain([DOWN.start, END + interval]);
    starts.zip(stops).map(|(start, stop)| start..stop).collect()
}

/// `(rule, key, opened within, resolved within or still open)`: the episodes the week is
/// written for, checked against the model so that a new seed or rate cannot quietly
/// make it say something else.
type Designed = (&'static str, &'static str, Range<i64>, Option<Range<i64>>);

fn designed() -> Vec<Designed> {
    let mut episodes = vec![
        (
            "silent-6h",
            "10.10.10.2",
            at(2, 7, 55)..at(2, 8, 0),
            Some(at(2, 10, 0)..at(2, 10, 7)),
        ),
        (
            "under-20mb-per-hour",
            "10.10.10.2",
            at(2, 2, 0)..at(2, 3, 1),
            Some(at(2, 10, 0)..at(2, 11, 1)),
        ),
        (
            "under-20mb-per-hour",
            "10.10.10.3",
            at(3, 12, 0)..at(3, 13, 1),
            Some(at(3, 15, 0)..at(3, 16, 1)),
        ),
        (
            "burst",
            "192.168.1.1",
            at(4, 14, 0)..at(4, 14, 10),
            Some(at(4, 14, 30)..at(4, 14, 42)),
        ),
        (
            "silent-6h",
            "192.168.1.2",
            at(5, 14, 55)..at(5, 15, 0),
            None,
        ),
        (
            "under-20mb-per-hour",
            "192.168.1.2",
            at(5, 9, 0)..at(5, 10, 1),
            None,
        ),
    ];
    // To the agent, 7 h down is 7 h of silence from every source (what they sent then
    // is lost to it): each that was sending alerts once, its flatline stamped when the
    // silence reached 6 h, and resolves once heard again.
    for ip in ["10.10.10.1", "10.10.10.2", "10.10.10.3", "192.168.1.1"] {
        let six_hours = DOWN.start + 6 * H;
        let heard = Some(DOWN.end..DOWN.end + 7 * M);
        episodes.push(("silent-6h", ip, six_hours - 5 * M..six_hours, heard));
        let refilled = Some(DOWN.end..DOWN.end + H);
        episodes.push(("under-20mb-per-hour", ip, DOWN.end..DOWN.end + 1, refilled));
    }
    episodes.sort_by_key(|e| (e.0, e.1, e.2.start));
    episodes
}

struct Week {
    config: Config,
    model: Model,
    interval: i64,
    /// What the engine gave, with the check that gave it.
    alerts: Vec<(i64, Alert)>,
    /// `Engine::open_episodes` at the end.
    open_at_end: usize,
}

/// The week, simulated once for all the tests here.
fn week() -> &'static Week {
    static WEEK: OnceLock<Week> = OnceLock::new();
    WEEK.get_or_init(|| {
        let config = crate::config::parse_with_env(CONFIG, "scenario.yml", &|_| None)
            .unwrap_or_else(|e| panic!("{e}"));
        let interval = i64::try_from(config.rules_check_interval.as_secs())
            .expect("the check interval is a few seconds");
        let model = Model::new(SEED, &SOURCES, &incidents(), END, runs(interval), interval);
        let (alerts, open_at_end) = drive(&config, &model);
        Week {
            config,
            model,
            interval,
            alerts,
            open_at_end,
        }
    })
}

/// The engine through the week as the agent runs it: each record observed as it is
/// sent, the rules checked at each start and every interval after, the state saved as
/// JSON text at each stop and restored into a fresh engine at the next start.
fn drive(config: &Config, model: &Model) -> (Vec<(i64, Alert)>, usize) {
    let mut records = model.observed().peekable();
    let mut feed_before = |engine: &mut Engine, t: i64| {
        while let Some(r) = records.next_if(|r| r.at < t) {
            send(engine, r.ip, r.bytes, r.at);
        }
    };
    let mut state: Option<String> = None;
    let mut alerts = Vec::new();
    let mut open = 0;
    for run in &model.runs {
        let mut engine = Engine::new(&config.rules, &config.stats);
        if let Some(text) = state.take() {
            let snapshot = serde_json::from_str(&text).expect("the state is JSON");
            engine
                .restore(snapshot)
                .expect("the engine reads its own state");
        }
        for tick in model.checks(run) {
            feed_before(&mut engine, tick);
            alerts.extend(engine.tick(tick).into_iter().map(|a| (tick, a)));
        }
        feed_before(&mut engine, run.end);
        open = engine.open_episodes();
        state = Some(serde_json::to_string(&engine.snapshot()).expect("the state serialises"));
    }
    (alerts, open)
}

fn episodes_given(alerts: &[(i64, Alert)]) -> Vec<EpisodeAlert> {
    let mut out: Vec<EpisodeAlert> = alerts
        .iter()
        .filter_map(|(tick, a)| match &a.detail {
            Detail::Episode(e) => Some(EpisodeAlert {
                tick: *tick,
                rule: a.rule.clone(),
                key: e.key.clone(),
                state: match e.state {
                    State::Firing => "firing",
                    State::Resolved => "resolved",
                },
                at: a.at,
            }),
            Detail::Report(_) => None,
        })
        .collect();
    out.sort();
    out
}

fn reports_given(alerts: &[(i64, Alert)]) -> Vec<ReportLine> {
    let mut out: Vec<ReportLine> = alerts
        .iter()
        .filter_map(|(tick, a)| match &a.detail {
            Detail::Report(r) => Some(ReportLine {
                tick: *tick,
                at: a.at,
                rule: a.rule.clone(),
                period: r.period_start..r.period_end,
                key: r.key.clone(),
                counts: r.counts,
                keys: r.keys,
            }),
            Detail::Episode(_) => None,
        })
        .collect();
    out.sort_by(|a, b| a.order().cmp(&b.order()));
    out
}

/// `got` and `want` (in the same order) hold the same items, each as many times.
fn assert_same<T: Debug + PartialEq>(what: &str, got: &[T], want: &[T]) {
    let missing: Vec<&T> = want.iter().filter(|w| !got.contains(w)).collect();
    let unexpected: Vec<&T> = got.iter().filter(|g| !want.contains(g)).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "{what}: missing {missing:#?}\nnot expected {unexpected:#?}"
    );
    assert_eq!(got, want, "{what}: some given more than once");
}

#[test]
fn the_model_plays_the_week_it_is_written_for() {
    let week = week();
    let mut episodes: Vec<(String, String, i64, Option<i64>)> = Vec::new();
    for a in week.model.episodes(&week.config) {
        if a.state == "firing" {
            episodes.push((a.rule, a.key, a.at, None));
        } else {
            let open = episodes
                .iter_mut()
                .rfind(|e| e.0 == a.rule && e.1 == a.key)
                .expect("a resolve closes an episode");
            open.3 = Some(a.at);
        }
    }
    episodes.sort();
    let designed = designed();
    assert_eq!(episodes.len(), designed.len(), "{episodes:#?}");
    for (e, d) in episodes.iter().zip(&designed) {
        let resolved = match (e.3, &d.3) {
            (Some(t), Some(within)) => within.contains(&t),
            (None, None) => true,
            _ => false,
        };
        let ok = e.0 == d.0 && e.1 == d.1 && d.2.contains(&e.2) && resolved;
        assert!(ok, "{e:?} is not the designed {d:?}");
    }
    // What is sent while the agent is down is lost to it, and nothing else.
    let lost: Vec<_> = week
        .model
        .sent
        .iter()
        .filter(|s| !week.model.up(s.at))
        .collect();
    assert!(lost.len() > 100 && lost.iter().all(|s| DOWN.contains(&s.at)));
    // Some records come after a midnight but before the check that closes the day.
    let checks: Vec<i64> = week
        .model
        .runs
        .iter()
        .flat_map(|r| week.model.checks(r))
        .collect();
    let after_midnight = (T0 + D..=END).step_by(D as usize).map(|midnight| {
        let first = checks[checks.partition_point(|t| *t < midnight)];
        let between = |s: &&model::Sent| (midnight..first).contains(&s.at);
        week.model.observed().filter(between).count()
    });
    assert!(after_midnight.sum::<usize>() >= 2);
    let records = week.model.sent.len();
    assert!((15_000..30_000).contains(&records), "{records} records");
}

#[test]
fn every_alert_the_traffic_calls_for_fires_once_within_a_check_and_no_other() {
    let week = week();
    let got = episodes_given(&week.alerts);
    assert_same("episode alerts", &got, &week.model.episodes(&week.config));
    for a in got.iter().filter(|a| a.state == "firing") {
        let slept_through = DOWN.contains(&a.at) && a.tick == DOWN.end;
        assert!(
            (0..week.interval).contains(&(a.tick - a.at)) || slept_through,
            "{a:?} fired {}s after it was due",
            a.tick - a.at
        );
    }
    let slept: Vec<&EpisodeAlert> = got
        .iter()
        .filter(|a| a.rule == "silent-6h" && a.tick == DOWN.end)
        .collect();
    assert_eq!(slept.len(), 4, "{slept:#?}");
    // Stamped when the silence reached 6 h, not when the agent came back.
    for a in slept {
        let last = week
            .model
            .observed()
            .filter(|s| s.ip == a.key && s.at < DOWN.start);
        assert_eq!(Some(a.at), last.map(|s| s.at + 6 * H).last(), "{a:?}");
    }
}

#[test]
fn every_episode_resolves_when_its_source_is_heard_again() {
    let week = week();
    let mut last: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    let got = episodes_given(&week.alerts);
    for a in &got {
        let before = last.insert((&a.rule, &a.key), a.state);
        let follows = if a.state == "firing" {
            "resolved"
        } else {
            "firing"
        };
        assert!(
            before.is_none_or(|s| s == follows),
            "{a:?} after {before:?}"
        );
        assert!(
            before.is_some() || a.state == "firing",
            "{a:?} opens nothing"
        );
        if a.rule == "silent-6h" && a.state == "resolved" {
            let heard = week
                .model
                .observed()
                .any(|s| s.ip == a.key && (a.tick - week.interval..a.tick).contains(&s.at));
            assert!(heard, "{a:?}: nothing heard in the check before");
        }
    }
    let open: Vec<_> = last
        .iter()
        .filter(|(_, s)| **s == "firing")
        .map(|(k, _)| *k)
        .collect();
    assert_eq!(
        open,
        [
            ("silent-6h", "192.168.1.2"),
            ("under-20mb-per-hour", "192.168.1.2")
        ]
    );
    assert_eq!(week.open_at_end, 2);
}

#[test]
fn daily_reports_total_the_traffic_observed_each_day() {
    let week = week();
    let got = reports_given(&week.alerts);
    assert_same("report lines", &got, &week.model.reports(&week.config));
    let summaries: Vec<&ReportLine> = got.iter().filter(|l| l.key.is_none()).collect();
    assert_eq!(summaries.len(), 7);
    for summary in summaries {
        let lines = got
            .iter()
            .filter(|l| l.key.is_some() && l.period == summary.period);
        let mut sum = Counts::default();
        let mut keys = 0;
        for line in lines {
            sum.add(&line.counts);
            keys += 1;
        }
        assert_eq!((sum, keys), (summary.counts, summary.keys), "{summary:?}");
        assert_eq!(keys, 5, "every expected key has its line");
    }
    // 192.168.1.2 sent nothing on the last two days, and is there with zeros.
    let silent = got
        .iter()
        .filter(|l| l.key.as_deref() == Some("192.168.1.2") && l.counts == Counts::default());
    assert_eq!(silent.count(), 2);
}
