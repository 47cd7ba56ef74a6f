//! `lumberwatch simulate`: replays a recorded connection log through the config's rules
//! on a simulated clock and prints the alerts and reports they would raise, so a rule
//! can be tried on last week's logs before it is deployed.
//!
//! The clock is the records' own time: before a record at time `t` is counted, the
//! rules are evaluated at every check interval up to `t`, as the agent would have done
//! live. After the last record the clock runs on for the longest rule window (or to
//! `--end`), so silences at the end of the file are reported too.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::config::Config;
use crate::event::{AgentInfo, EventShape, EventTemplate};
use crate::parse::{ConnectionRecord, Format, Outcome, ParserSpec};
use crate::rules::{Alert, AlertTemplates, Detail, Engine, RuleKind, State};
use crate::stats::{Counts, Observation};

#[derive(Debug, clap::Args)]
pub struct SimulateOptions {
    /// The config whose rules (`lumberwatch.rules`) are replayed.
    #[arg(short = 'c', long = "config", default_value = "lumberwatch.yml")]
    pub config: PathBuf,
    /// The recorded log, one line per record (`-` for stdin).
    #[arg(long)]
    pub input: PathBuf,
    /// Its format; default: the `parser` of the config's first input that has one.
    #[arg(long)]
    pub parser: Option<String>,
    /// Replay this many times faster than real time (default: as fast as possible).
    #[arg(long)]
    pub speed: Option<f64>,
    /// Where the simulated clock stops (RFC 3339); default: the last record plus the
    /// longest rule window and one check interval.
    #[arg(long, value_parser = parse_time)]
    pub end: Option<jiff::Timestamp>,
    /// Print the events as Logstash would get them (JSON lines) instead of messages.
    #[arg(long)]
    pub json: bool,
}

fn parse_time(s: &str) -> Result<jiff::Timestamp, String> {
    s.parse().map_err(|e| format!("{e}"))
}

/// What a replay did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub lines: u64,
    pub records: u64,
    /// Lines that did not parse, or records without a time.
    pub skipped: u64,
    pub firing: u64,
    pub resolved: u64,
    pub reports: u64,
}

/// Replays `opts.input` through `config`'s rules, writing to `out`.
pub fn run(
    config: &Config,
    opts: &SimulateOptions,
    out: &mut dyn Write,
) -> anyhow::Result<Summary> {
    if config.rules.is_empty() {
        bail!("no rules to simulate: add lumberwatch.rules to the config");
    }
    let (spec, input_id) = parser_of(config, opts.parser.as_deref())?;
    let mut parser = spec.build()?;
    let reader: Box<dyn BufRead> = if opts.input.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let file = std::fs::File::open(&opts.input)
            .with_context(|| format!("opening {}", opts.input.display()))?;
        Box::new(std::io::BufReader::new(file))
    };
    let mut replay = Replay {
        engine: Engine::new(&config.rules, &config.stats),
        interval: i64::try_from(config.rules_check_interval.as_secs().max(1)).unwrap_or(30),
        next_tick: None,
        templates: AlertTemplates::new(&EventTemplate::new(
            &AgentInfo::new(&config.metadata_beat, config.name.as_deref()),
            &EventShape {
                input_type: "rules".into(),
                ..EventShape::default()
            },
        )),
        json: opts.json,
        speed: opts.speed.filter(|s| *s > 0.0),
        summary: Summary::default(),
    };
    let context: Vec<(&str, &str)> = input_id
        .iter()
        .map(|id| ("input.id", id.as_str()))
        .collect();
    let mut records: Vec<ConnectionRecord> = Vec::new();
    let mut last = None;
    for (n, line) in reader.lines().enumerate() {
        let line =
            line.with_context(|| format!("reading {} line {}", opts.input.display(), n + 1))?;
        replay.summary.lines += 1;
        records.clear();
        match parser.parse(&line, &mut records) {
            Ok(Outcome::Records) => {}
            Ok(Outcome::Header | Outcome::Skipped(_)) => continue,
            Err(_) => {
                replay.summary.skipped += 1;
                continue;
            }
        }
        for r in &records {
            let Some(at) = r.time.map(|t| t.as_second()) else {
                replay.summary.skipped += 1;
                continue;
            };
            replay.advance(at, out)?;
            let obs = Observation {
                record: Some(r),
                context: &context,
                counts: Counts::of_record(r),
            };
            replay.engine.on_observation(&obs, at, at);
            replay.summary.records += 1;
            last = Some(last.map_or(at, |l: i64| l.max(at)));
        }
    }
    let Some(last) = last else {
        bail!(
            "no record with a time in {} (format {}): nothing to replay",
            opts.input.display(),
            spec.format.name()
        );
    };
    let end = match opts.end {
        Some(t) => t.as_second(),
        None => last + longest_window(config) + replay.interval,
    };
    replay.advance(end, out)?;
    let s = replay.summary;
    writeln!(
        out,
        "replayed {} records from {} lines ({} skipped) up to {}: {} alerts firing, {} resolved, {} report events",
        s.records,
        s.lines,
        s.skipped,
        crate::input::parsing::timestamp(
            jiff::Timestamp::from_second(end).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        ),
        s.firing,
        s.resolved,
        s.reports
    )?;
    Ok(s)
}

struct Replay {
    engine: Engine,
    interval: i64,
    next_tick: Option<i64>,
    templates: AlertTemplates,
    json: bool,
    speed: Option<f64>,
    summary: Summary,
}

impl Replay {
    /// Evaluates the rules at every check interval up to `to`.
    fn advance(&mut self, to: i64, out: &mut dyn Write) -> anyhow::Result<()> {
        let first = *self
            .next_tick
            .get_or_insert(to - to.rem_euclid(self.interval));
        let mut tick = first;
        while tick <= to {
            if let Some(speed) = self.speed {
                std::thread::sleep(Duration::from_secs_f64(self.interval as f64 / speed));
            }
            for alert in self.engine.tick(tick) {
                self.print(&alert, out)?;
            }
            tick += self.interval;
        }
        self.next_tick = Some(tick);
        Ok(())
    }

    fn print(&mut self, alert: &Alert, out: &mut dyn Write) -> anyhow::Result<()> {
        match &alert.detail {
            Detail::Episode(e) if e.state == State::Firing => self.summary.firing += 1,
            Detail::Episode(_) => self.summary.resolved += 1,
            Detail::Report(_) => self.summary.reports += 1,
        }
        if self.json {
            out.write_all(&alert.to_event(&mut self.templates).json)?;
            writeln!(out)?;
        } else {
            let at = jiff::Timestamp::from_second(alert.at).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            writeln!(
                out,
                "{}  {}  {}",
                crate::input::parsing::timestamp(at),
                alert.rule,
                alert.message()
            )?;
        }
        Ok(())
    }
}

/// The parser to read the recording with, and the id of the input it belongs to.
fn parser_of(config: &Config, name: Option<&str>) -> anyhow::Result<(ParserSpec, Option<String>)> {
    if let Some(name) = name {
        let Some(format) = Format::by_name(name) else {
            let names: Vec<&str> = Format::ALL.iter().map(|(n, _)| *n).collect();
            bail!("unknown parser {name:?}; one of {}", names.join(", "));
        };
        let spec = ParserSpec {
            format,
            fields: None,
            pattern: None,
        };
        return Ok((spec, None));
    }
    config
        .inputs
        .iter()
        .find_map(|i| i.common.parser.clone().map(|p| (p, i.common.id.clone())))
        .context("no input of the config has a parser: say the recording's format with --parser")
}

fn longest_window(config: &Config) -> i64 {
    config
        .rules
        .iter()
        .map(|r| match &r.kind {
            RuleKind::Flatline(w) | RuleKind::Rate(w) => w.window_secs,
            RuleKind::Report(_) => 0,
        })
        .max()
        .unwrap_or(0)
}
