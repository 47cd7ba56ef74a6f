//! `filter`: which observations a rule counts, by the input they came from and the
//! connection's destination port, transport and action.

use serde::{Deserialize, Serialize};

use crate::stats::Observation;

/// Every list that is not empty must contain the observation's value; an observation
/// without the field (a plain syslog line has no port) does not match that list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Filter {
    /// `inputs`: input ids, matched against the `input.id` the input puts in the
    /// observation's context.
    pub inputs: Vec<String>,
    /// `ports`: `destination.port`.
    pub ports: Vec<u16>,
    /// `transports`: `network.transport` in ECS spelling (`tcp`, `udp`, `icmp`, ...).
    pub transports: Vec<String>,
    /// `actions`: `event.action`, `allow` or `deny`.
    pub actions: Vec<String>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
            && self.ports.is_empty()
            && self.transports.is_empty()
            && self.actions.is_empty()
    }

    pub fn matches(&self, obs: &Observation<'_>) -> bool {
        let text = |list: &[String], field: &str| {
            list.is_empty()
                || obs
                    .field(field)
                    .is_some_and(|v| list.iter().any(|x| *x == v))
        };
        let port = || {
            self.ports.is_empty()
                || obs
                    .field("destination.port")
                    .and_then(|p| p.parse::<u16>().ok())
                    .is_some_and(|p| self.ports.contains(&p))
        };
        text(&self.inputs, "input.id")
            && text(&self.transports, "network.transport")
            && text(&self.actions, "event.action")
            && port()
    }
}
