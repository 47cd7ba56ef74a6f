//! lumberwatch: a log shipper that speaks Lumberjack v2 (the Beats protocol) to Logstash.
//!
//! The crate is a library plus the `lumberwatch` binary (see `main.rs`, CLI only).
//! `proto` is sans-IO; `output` and `receive` own the sockets on each side of it.

pub mod proto;
