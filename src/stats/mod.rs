//! Per-key traffic statistics in time buckets: what the rules read to tell that a source
//! went silent or fell under a rate.
//!
//! Sans-IO: every call takes the time it is about (unix seconds) and nothing here reads
//! a clock, so a day of traffic is replayed in milliseconds. A [`Stats`] holds one
//! [`Table`] per key field (`source.ip` by default; any field of a connection record or
//! of the input's context). Memory is bounded: buckets older than the retention are
//! dropped, and a table over `max_keys` evicts the keys seen longest ago, counted.

pub mod report;
mod table;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::parse::ConnectionRecord;

pub use table::{KeyStats, Table};

/// Counters of one bucket, one key's totals, or a sum over a window. Saved as
/// `[events, bytes, packets, connections]`: state files hold millions of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "[u64; 4]", into = "[u64; 4]")]
pub struct Counts {
    pub events: u64,
    pub bytes: u64,
    pub packets: u64,
    pub connections: u64,
}

impl From<[u64; 4]> for Counts {
    fn from([events, bytes, packets, connections]: [u64; 4]) -> Self {
        Counts {
            events,
            bytes,
            packets,
            connections,
        }
    }
}

impl From<Counts> for [u64; 4] {
    fn from(c: Counts) -> Self {
        [c.events, c.bytes, c.packets, c.connections]
    }
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.events = self.events.saturating_add(other.events);
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.packets = self.packets.saturating_add(other.packets);
        self.connections = self.connections.saturating_add(other.connections);
    }

    /// What one connection record adds: an event, its bytes and packets, and a
    /// connection unless it reports on one already counted (a continuing or ending
    /// flow).
    pub fn of_record(r: &ConnectionRecord) -> Counts {
        use crate::parse::FlowState;
        Counts {
            events: 1,
            bytes: r.total_bytes().unwrap_or(0),
            packets: r.total_packets().unwrap_or(0),
            connections: u64::from(matches!(r.state, None | Some(FlowState::Begin))),
        }
    }
}

/// One thing that happened, as the statistics see it: its counts, and where to find
/// the key fields — the connection record's fields first, then the input's context
/// (`log.source.ip` of a syslog peer, `input.id`, `log.file.path`).
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    pub record: Option<&'a ConnectionRecord>,
    pub context: &'a [(&'a str, &'a str)],
    pub counts: Counts,
}

impl Observation<'_> {
    /// The value of `field`: the record's, else the context's. What tables key on and
    /// what rule filters look at.
    pub fn field(&self, field: &str) -> Option<std::borrow::Cow<'_, str>> {
        self.record.and_then(|r| r.field(field)).or_else(|| {
            self.context
                .iter()
                .find(|(name, _)| *name == field)
                .map(|(_, v)| std::borrow::Cow::Borrowed(*v))
        })
    }
}

/// How one table is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSpec {
    /// The field whose value is the key (`source.ip`).
    pub key: String,
    /// Width of a bucket, in seconds: the resolution of window sums.
    pub bucket_secs: u32,
    /// How long buckets are kept, in seconds: the longest window that can be asked.
    pub retention_secs: u32,
    /// At most this many keys; beyond it the keys seen longest ago are evicted.
    pub max_keys: usize,
}

impl TableSpec {
    pub const DEFAULT_BUCKET_SECS: u32 = 60;
    /// A day and an hour: a 24 h window can be summed an hour late.
    pub const DEFAULT_RETENTION_SECS: u32 = 25 * 3600;
    pub const DEFAULT_MAX_KEYS: usize = 100_000;

    pub fn new(key: &str) -> TableSpec {
        TableSpec {
            key: key.to_string(),
            bucket_secs: Self::DEFAULT_BUCKET_SECS,
            retention_secs: Self::DEFAULT_RETENTION_SECS,
            max_keys: Self::DEFAULT_MAX_KEYS,
        }
    }
}

/// Every table of the agent.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Stats {
    tables: Vec<Table>,
}

impl Stats {
    pub fn new(specs: impl IntoIterator<Item = TableSpec>) -> Stats {
        let mut tables: Vec<Table> = Vec::new();
        for spec in specs {
            if !tables.iter().any(|t| t.spec() == &spec) {
                tables.push(Table::new(spec));
            }
        }
        Stats { tables }
    }

    /// Counts `obs` at `at` (unix seconds; a time after `now` counts at `now`, so a
    /// sender's clock running ahead cannot hide a silence) in every table whose key
    /// field the observation has.
    pub fn observe(&mut self, obs: &Observation<'_>, at: i64, now: i64) {
        let at = at.min(now);
        for table in &mut self.tables {
            if let Some(key) = obs.field(&table.spec().key) {
                table.add(&key, &obs.counts, at, now);
            }
        }
    }

    /// Drops buckets past every table's retention.
    pub fn expire(&mut self, now: i64) {
        for table in &mut self.tables {
            table.expire(now);
        }
    }

    /// The table keyed by `field`, if one is kept (the first, if several are kept
    /// with different buckets).
    pub fn table(&self, field: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.spec().key == field)
    }

    /// The table keyed by `field` with buckets `bucket_secs` wide.
    pub fn table_with(&self, field: &str, bucket_secs: u32) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.spec().key == field && t.spec().bucket_secs == bucket_secs)
    }

    pub fn tables(&self) -> &[Table] {
        &self.tables
    }

    /// The whole state as JSON, for the registry.
    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("stats are plain data and always serialise")
    }

    /// Restores tables from a snapshot into this (freshly configured) state: tables
    /// whose spec changed are started empty rather than read with the wrong meaning.
    pub fn restore(&mut self, snapshot: serde_json::Value) -> Result<usize, serde_json::Error> {
        let saved: Stats = serde_json::from_value(snapshot)?;
        let mut restored = 0;
        for table in saved.tables {
            if let Some(slot) = self.tables.iter_mut().find(|t| t.spec() == table.spec()) {
                *slot = table;
                restored += 1;
            }
        }
        Ok(restored)
    }
}
