//! Embedded rules (design §6): *flatline* (a key went silent), *rate* (a key's traffic
//! over a sliding window is below or above a threshold) and *report* (per-key totals at
//! a wall-clock schedule), with expected keys, filters, re-alert bounds, resolve events
//! and state that survives restarts.
//!
//! Sans-IO like `stats`: every call takes the time, nothing here reads a clock, does
//! I/O or logs. The agent calls [`Engine::on_observation`] where it feeds statistics,
//! [`Engine::tick`] every check interval, turns each [`Alert`] into an event with
//! [`Alert::to_event`], and saves [`Engine::snapshot`].

mod engine;
mod episode;
mod event;
mod expected;
mod filter;
mod human;
mod report;
mod rule;
mod schedule;
#[cfg(test)]
mod tests;

pub use engine::Engine;
pub use event::{ALERT_TAG, Alert, AlertTemplates, Detail, Episode, REPORT_TAG, Report, State};
pub use expected::{Cidr, Expected};
pub use filter::Filter;
pub use rule::{Condition, Measure, RuleConfig, RuleKind, Watch};
pub use schedule::Schedule;
