//! Log setup for the binary: `tracing` to stderr, level from `logging.level` unless
//! `RUST_LOG` says otherwise; text, or with `logging.json` one JSON object per line in
//! the Beats' (ECS) shape: `@timestamp`, `log.level`, `message`, then the event's fields.

use std::fmt;
use std::io::IsTerminal;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Text logs at `level`, a Beats level name (error, warning, info, debug). Safe to call
/// twice.
pub fn init(level: &str) {
    init_with(level, false);
}

/// Logs as `logging.level` and `logging.json` say.
pub fn init_from(config: &crate::config::LoggingConfig) {
    init_with(&config.level, config.json);
}

fn init_with(level: &str, json: bool) {
    let level = match level {
        "warning" => "warn",
        other => other,
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("lumberwatch={level},warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.event_format(JsonLines).try_init()
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .try_init()
    };
}

/// One JSON object per event, the way Beats write theirs with `logging.json: true`.
/// tracing-subscriber's own JSON format nests the fields and names the keys otherwise
/// (`timestamp`, `level`, `fields.message`), which log pipelines made for Beats do not
/// read.
#[derive(Debug, Clone, Copy)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let mut line = Map::new();
        let now = jiff::Timestamp::now();
        line.insert("@timestamp".into(), format!("{now:.3}").into());
        line.insert(
            "log.level".into(),
            meta.level().as_str().to_ascii_lowercase().into(),
        );
        line.insert("log.logger".into(), meta.target().into());
        line.insert("message".into(), fields.message.unwrap_or_default().into());
        for (name, value) in fields.others {
            line.entry(name).or_insert(value);
        }
        line.insert("service.name".into(), "lumberwatch".into());
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// An event's fields as JSON values: numbers and booleans as such, the rest as text.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    others: Vec<(String, Value)>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        match (field.name(), value) {
            ("message", Value::String(text)) => self.message = Some(text),
            (name, value) => self.others.push((name.to_string(), value)),
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("buffer lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_carry_timestamp_level_message_and_typed_fields() {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let addr = "127.0.0.1:5044";
            tracing::warn!(host = %addr, unacked = 12u64, tls = false, "connection failed: \"reset\"");
            tracing::info!("a line\nwith a newline");
        });
        let text =
            String::from_utf8(buffer.0.lock().expect("buffer lock").clone()).expect("UTF-8 output");
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        let first = &lines[0];
        assert_eq!(first["log.level"], "warn");
        assert_eq!(first["message"], "connection failed: \"reset\"");
        assert_eq!(first["host"], "127.0.0.1:5044");
        assert_eq!(first["unacked"], 12);
        assert_eq!(first["tls"], false);
        assert_eq!(first["service.name"], "lumberwatch");
        let at = first["@timestamp"].as_str().expect("a timestamp string");
        assert!(at.parse::<jiff::Timestamp>().is_ok(), "{at}");
        assert_eq!(lines[1]["message"], "a line\nwith a newline");
        assert_eq!(lines[1]["log.level"], "info");
    }
}
