//! Deletion intervals per series, applied at query time and removed at compaction.
//!
//! OWNER: helper "block" fills this file in (encoding + file I/O). The public API below is
//! fixed.

use std::collections::HashMap;

/// Sorted, non-overlapping, non-adjacent closed intervals `[mint, maxt]` of deleted time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Intervals(Vec<(i64, i64)>);

impl Intervals {
    /// Adds `[mint, maxt]`, merging with overlapping or adjacent intervals.
    pub fn add(&mut self, mint: i64, maxt: i64) {
        let _ = (mint, maxt);
    }

    /// Whether `t` lies in a deleted interval.
    pub fn contains(&self, t: i64) -> bool {
        self.0.iter().any(|&(a, b)| a <= t && t <= b)
    }

    /// Whether `[mint, maxt]` is wholly deleted.
    pub fn covers(&self, mint: i64, maxt: i64) -> bool {
        self.0.iter().any(|&(a, b)| a <= mint && maxt <= b)
    }

    /// The intervals, sorted.
    pub fn as_slice(&self) -> &[(i64, i64)] {
        &self.0
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Deleted intervals keyed by series reference (a block's series id or a head series ref).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tombstones {
    map: HashMap<u64, Intervals>,
}

impl Tombstones {
    /// Marks `[mint, maxt]` of series `r` deleted.
    pub fn add(&mut self, r: u64, mint: i64, maxt: i64) {
        self.map.entry(r).or_default().add(mint, maxt);
    }

    /// The deleted intervals of series `r`.
    pub fn get(&self, r: u64) -> Option<&Intervals> {
        self.map.get(&r)
    }

    /// Number of series with tombstones.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every series and its intervals, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Intervals)> {
        self.map.iter().map(|(k, v)| (*k, v))
    }

    /// Encodes for the `tombstones` file (with a CRC32C); see `docs/format/tombstones.md`.
    pub fn encode(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Decodes a `tombstones` file. Never panics on any input.
    pub fn decode(_bytes: &[u8]) -> Result<Tombstones, String> {
        Ok(Tombstones::default())
    }
}
