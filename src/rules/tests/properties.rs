//! Random traffic, ticks and restarts: the engine never panics, and an episode never
//! fires twice (with `realert: 0`, a key's alerts alternate firing, resolved, ...).

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

const RULES: &str = "- name: flat\n  type: flatline\n  window: 1h\n  realert: 0\n  expected: [10.0.0.1, 10.0.0.9]\n- name: low\n  type: rate\n  window: 30m\n  threshold: 5kB\n  realert: 0\n- name: high\n  type: rate\n  window: 5m\n  threshold: 3 events\n  condition: above\n  realert: 0\n- name: rep\n  type: report\n  schedule: {every: 2h}\n";

#[derive(Debug, Clone)]
enum Op {
    /// Advance the clock by this many seconds, then send from `10.0.0.<ip>`.
    Send {
        after: i64,
        ip: u8,
        bytes: u64,
        late: i64,
    },
    Tick {
        after: i64,
    },
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..600i64, 1..4u8, 0..4000u64, 0..900i64)
            .prop_map(|(after, ip, bytes, late)| Op::Send { after, ip, bytes, late }),
        4 => (0..5400i64).prop_map(|after| Op::Tick { after }),
        1 => Just(Op::Restart),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_traffic_never_panics_nor_fires_twice_for_one_episode(
        ops in proptest::collection::vec(op(), 1..200)
    ) {
        let mut e = engine(RULES);
        let mut now = T0;
        let mut last: HashMap<(String, String), State> = HashMap::new();
        for op in ops {
            let alerts = match op {
                Op::Send { after, ip, bytes, late } => {
                    now += after;
                    send(&mut e, &format!("10.0.0.{ip}"), bytes, now - late);
                    Vec::new()
                }
                Op::Tick { after } => {
                    now += after;
                    e.tick(now)
                }
                Op::Restart => {
                    let text = serde_json::to_string(&e.snapshot()).unwrap();
                    e = engine(RULES);
                    e.restore(serde_json::from_str(&text).unwrap()).unwrap();
                    Vec::new()
                }
            };
            for a in &alerts {
                prop_assert!(a.at <= now, "{a:?} is after now {now}");
                if let Detail::Episode(ep) = &a.detail {
                    let previous = last.insert((a.rule.clone(), ep.key.clone()), ep.state);
                    let expected = match ep.state {
                        State::Firing => previous != Some(State::Firing),
                        State::Resolved => previous == Some(State::Firing),
                    };
                    prop_assert!(expected, "{:?} after {:?}: {a:?}", ep.state, previous);
                }
            }
        }
    }
}
