//! Integration tests: one binary, one module per area.

mod cli;
mod conntrack;
mod container;
mod file;
mod file_chaos;
mod flows;
mod golden;
mod output;
mod output_faults;
mod packaging;
mod support;
mod syslog;
