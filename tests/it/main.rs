//! Integration tests: one binary, one module per area.

mod golden;
mod output;
mod support;
