//! Engine tests with simulated time: rules come from config text, traffic is fed as
//! observations, and the clock is whatever the test passes.

mod episodes;
mod events;
mod properties;
mod reports;
mod restart;
mod scenario;

use super::*;
use crate::config::StatsConfig;
use crate::parse::{Action, ConnectionRecord, Endpoint, Transport};
use crate::stats::{Counts, Observation};

pub const H: i64 = 3600;
pub const M: i64 = 60;
/// 2026-03-01T00:00:00Z.
pub const T0: i64 = 1_772_323_200;

/// The rules of a `lumberwatch.rules` list written as YAML (each line indented 2).
pub fn rules(yaml: &str) -> Vec<RuleConfig> {
    let body: String = yaml.lines().map(|l| format!("  {l}\n")).collect();
    let text = format!(
        "lumberwatch.inputs:\n  - type: stdin\noutput.console.pretty: false\nlumberwatch.rules:\n{body}"
    );
    match crate::config::parse(&text, "rules.yml") {
        Ok(config) => config.rules,
        Err(e) => panic!("{e}\n{text}"),
    }
}

pub fn engine(yaml: &str) -> Engine {
    Engine::new(&rules(yaml), &StatsConfig::default())
}

/// One connection from `ip` to port 514/tcp, allowed, through input `syslog`.
pub fn record(ip: &str, bytes: u64) -> ConnectionRecord {
    ConnectionRecord {
        source: Endpoint {
            ip: Some(ip.parse().expect("test addresses are valid")),
            ..Endpoint::default()
        },
        destination: Endpoint {
            port: Some(514),
            ..Endpoint::default()
        },
        transport: Some(Transport::Tcp),
        action: Some(Action::Allow),
        bytes: Some(bytes),
        packets: Some(1),
        ..ConnectionRecord::default()
    }
}

/// `r` seen at `at` (and the engine's clock at `at`) through input `input`.
pub fn feed(engine: &mut Engine, r: &ConnectionRecord, input: &str, at: i64) {
    let context = [("input.id", input)];
    let obs = Observation {
        record: Some(r),
        context: &context,
        counts: Counts::of_record(r),
    };
    engine.on_observation(&obs, at, at);
}

/// A fresh engine for `yaml` with `e`'s state, through JSON text as the state file holds it.
pub fn restarted(e: &Engine, yaml: &str) -> Engine {
    let text = serde_json::to_string(&e.snapshot()).unwrap();
    let mut fresh = engine(yaml);
    fresh.restore(serde_json::from_str(&text).unwrap()).unwrap();
    fresh
}

pub fn send(engine: &mut Engine, ip: &str, bytes: u64, at: i64) {
    feed(engine, &record(ip, bytes), "syslog", at);
}

/// Ticks every 30 s over `from..=to`, collecting the alerts.
pub fn run(engine: &mut Engine, from: i64, to: i64) -> Vec<Alert> {
    let mut out = Vec::new();
    let mut now = from;
    while now <= to {
        out.extend(engine.tick(now));
        now += 30;
    }
    out
}

/// `(key, state, @timestamp)` of the episode alerts.
pub fn episodes(alerts: &[Alert]) -> Vec<(String, State, i64)> {
    alerts
        .iter()
        .filter_map(|a| match &a.detail {
            Detail::Episode(e) => Some((e.key.clone(), e.state, a.at)),
            Detail::Report(_) => None,
        })
        .collect()
}

pub fn firing(key: &str, at: i64) -> (String, State, i64) {
    (key.to_string(), State::Firing, at)
}

pub fn resolved(key: &str, at: i64) -> (String, State, i64) {
    (key.to_string(), State::Resolved, at)
}
