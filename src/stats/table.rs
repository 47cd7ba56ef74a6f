//! One key field's statistics: per key, totals, first/last seen, and sparse buckets.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::{Counts, TableSpec};

/// One key's statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStats {
    /// Unix seconds of the first and the latest observation.
    pub first_seen: i64,
    pub last_seen: i64,
    /// Everything since the key was first seen (or restored).
    pub totals: Counts,
    /// Non-empty buckets by start time (unix seconds, a multiple of the width),
    /// ascending; a quiet key costs nothing per bucket.
    buckets: VecDeque<(i64, Counts)>,
}

impl KeyStats {
    /// Sum of the buckets that start at or after `since` rounded down to the bucket
    /// width: a window is never undercounted, and overcounted by less than one bucket.
    pub fn since(&self, since: i64, width: i64) -> Counts {
        let from = since - since.rem_euclid(width);
        let first = self.buckets.partition_point(|(start, _)| *start < from);
        let mut sum = Counts::default();
        for (_, c) in self.buckets.range(first..) {
            sum.add(c);
        }
        sum
    }

    /// How many buckets are held (for memory accounting).
    pub fn buckets(&self) -> usize {
        self.buckets.len()
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Table {
    spec: TableSpec,
    keys: HashMap<Box<str>, KeyStats>,
    /// Keys evicted to stay under `max_keys`.
    evicted: u64,
    /// Observations older than the retention when they came (counted in the totals,
    /// not in any window).
    late: u64,
}

impl Table {
    pub fn new(spec: TableSpec) -> Table {
        Table {
            spec,
            keys: HashMap::new(),
            evicted: 0,
            late: 0,
        }
    }

    pub fn spec(&self) -> &TableSpec {
        &self.spec
    }

    pub fn get(&self, key: &str) -> Option<&KeyStats> {
        self.keys.get(key)
    }

    pub fn keys(&self) -> impl Iterator<Item = (&str, &KeyStats)> {
        self.keys.iter().map(|(k, v)| (&**k, v))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    pub fn late(&self) -> u64 {
        self.late
    }

    /// The sum for `key` over the last `window_secs` before `now`.
    pub fn window(&self, key: &str, window_secs: i64, now: i64) -> Counts {
        let width = i64::from(self.spec.bucket_secs.max(1));
        self.keys
            .get(key)
            .map(|k| k.since(now - window_secs + 1, width))
            .unwrap_or_default()
    }

    pub(super) fn add(&mut self, key: &str, counts: &Counts, at: i64, now: i64) {
        if !self.keys.contains_key(key) && self.keys.len() >= self.spec.max_keys.max(1) {
            self.evict();
        }
        let width = i64::from(self.spec.bucket_secs.max(1));
        let oldest = self.oldest_bucket(now);
        let k = match self.keys.get_mut(key) {
            Some(k) => k,
            None => self.keys.entry(key.into()).or_insert(KeyStats {
                first_seen: at,
                last_seen: at,
                ..KeyStats::default()
            }),
        };
        k.first_seen = k.first_seen.min(at);
        k.last_seen = k.last_seen.max(at);
        k.totals.add(counts);
        let start = at - at.rem_euclid(width);
        if start < oldest {
            self.late += 1;
            return;
        }
        match k.buckets.back_mut() {
            Some((last, c)) if *last == start => c.add(counts),
            Some((last, _)) if *last > start => {
                // Out of order (a late flow-log record): find its place.
                let i = k.buckets.partition_point(|(s, _)| *s < start);
                match k.buckets.get_mut(i) {
                    Some((s, c)) if *s == start => c.add(counts),
                    _ => k.buckets.insert(i, (start, *counts)),
                }
            }
            _ => k.buckets.push_back((start, *counts)),
        }
        while k.buckets.front().is_some_and(|(s, _)| *s < oldest) {
            k.buckets.pop_front();
        }
    }

    pub(super) fn expire(&mut self, now: i64) {
        let oldest = self.oldest_bucket(now);
        for k in self.keys.values_mut() {
            while k.buckets.front().is_some_and(|(s, _)| *s < oldest) {
                k.buckets.pop_front();
            }
            if k.buckets.is_empty() && k.buckets.capacity() > 0 {
                k.buckets = VecDeque::new();
            }
        }
    }

    /// Start of the oldest bucket still kept at `now`.
    fn oldest_bucket(&self, now: i64) -> i64 {
        let width = i64::from(self.spec.bucket_secs.max(1));
        let from = now - i64::from(self.spec.retention_secs);
        from - from.rem_euclid(width)
    }

    /// Makes room: drops the 1% of keys (at least one) seen longest ago, so that a
    /// stream of new keys costs an eviction pass per hundred keys, not per key.
    fn evict(&mut self) {
        let n = (self.keys.len() / 100).max(1);
        let mut by_age: Vec<(i64, &str)> =
            self.keys.iter().map(|(k, v)| (v.last_seen, &**k)).collect();
        if n < by_age.len() {
            by_age.select_nth_unstable(n - 1);
            by_age.truncate(n);
        }
        let gone: Vec<Box<str>> = by_age.into_iter().map(|(_, k)| k.into()).collect();
        for key in gone {
            self.keys.remove(&key);
            self.evicted += 1;
        }
    }
}
