//! lumberwatch: a log shipper that speaks Lumberjack v2 (the Beats protocol) to Logstash.
//!
//! The crate is a library plus the `lumberwatch` binary (see `main.rs`, CLI only).
//! `proto` is sans-IO; `output` and `receive` own the sockets on each side of it.

pub mod agent;
pub mod bench;
pub mod config;
pub mod demo;
pub mod event;
pub mod http;
pub mod input;
pub mod logging;
pub mod output;
pub mod parse;
pub mod proto;
pub mod queue;
pub mod receive;
pub mod registry;
pub mod rig;
pub mod rules;
pub mod signal;
pub mod simulate;
pub mod stats;
pub mod testbed;
pub mod tls;
