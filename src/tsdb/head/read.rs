//! Reading the head: label lookups and consistent snapshots of selected series.

use super::{ChunkBytes, Head};
use crate::model::{Labels, Matcher};
use crate::tsdb::postings::{self, IndexLookup};
use crate::tsdb::tombstones::Intervals;
use roaring::RoaringTreemap;
use std::convert::Infallible;
use std::sync::Arc;

/// One chunk of a head series as captured by a snapshot.
#[derive(Clone, Debug)]
pub(crate) enum HeadChunkSnapshot {
    /// XOR-encoded bytes (a sealed chunk shared, or a copy of the open chunk).
    Xor { min_t: i64, max_t: i64, bytes: ChunkBytes },
    /// Out-of-order samples, sorted.
    Samples(Arc<[(i64, f64)]>),
}

/// A head series as seen at one instant.
#[derive(Clone, Debug)]
pub(crate) struct HeadSeriesSnapshot {
    pub(crate) labels: Labels,
    pub(crate) chunks: Vec<HeadChunkSnapshot>,
    pub(crate) tombstones: Option<Intervals>,
}

impl IndexLookup for Head {
    type Err = Infallible;

    fn values(&self, name: &str) -> Result<Vec<String>, Infallible> {
        Ok(self.label_values(name))
    }

    fn postings(&self, name: &str, value: &str) -> Result<RoaringTreemap, Infallible> {
        let (Some(n), Some(v)) = (self.symbols.lookup(name), self.symbols.lookup(value)) else {
            return Ok(RoaringTreemap::new());
        };
        let p = self.postings.read();
        Ok(p.by_label.get(&n).and_then(|m| m.get(&v)).cloned().unwrap_or_default())
    }

    fn all(&self) -> Result<RoaringTreemap, Infallible> {
        Ok(self.postings.read().all.clone())
    }
}

impl Head {
    /// Every label name in the head, sorted.
    pub fn label_names(&self) -> Vec<String> {
        let p = self.postings.read();
        let syms = self.symbols.read();
        let mut names: Vec<String> = p.by_label.keys().map(|&id| syms.get(id).to_string()).collect();
        names.sort_unstable();
        names
    }

    /// Every value of `name` in the head, sorted.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        let Some(n) = self.symbols.lookup(name) else {
            return Vec::new();
        };
        let p = self.postings.read();
        let syms = self.symbols.read();
        let mut values: Vec<String> =
            p.by_label.get(&n).map(|m| m.keys().map(|&id| syms.get(id).to_string()).collect()).unwrap_or_default();
        values.sort_unstable();
        values
    }

    /// References of the series matching all `matchers`.
    pub(crate) fn select_refs(&self, matchers: &[Matcher]) -> RoaringTreemap {
        match postings::select(self, matchers) {
            Ok(set) => set,
            Err(never) => match never {},
        }
    }

    /// Snapshots the series matching `matchers` with their chunks overlapping `[mint, maxt]`,
    /// under the isolation lock so the result holds whole commits only. Sorted by labels.
    pub(crate) fn snapshot(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<HeadSeriesSnapshot> {
        // The lock is taken before the series are selected: selected first, a commit could
        // land between the selection and the snapshot and show only those of its series that
        // existed when the selection ran (its first commit creates them one by one).
        let _iso = self.isolation.read();
        let refs = self.select_refs(matchers);
        let mut out = Vec::with_capacity(refs.len() as usize);
        let tombstones = self.tombstones.read();
        let syms = self.symbols.read();
        for r in refs.iter() {
            let Some(s) = self.series_by_ref(r) else { continue };
            let d = s.data.lock();
            let mut chunks = Vec::new();
            for c in &d.sealed {
                if c.max_t >= mint && c.min_t <= maxt {
                    chunks.push(HeadChunkSnapshot::Xor { min_t: c.min_t, max_t: c.max_t, bytes: self.chunk_bytes(c) });
                }
            }
            if let Some(c) = &d.open
                && let (Some(min_t), Some((max_t, _))) = (c.first_time(), c.last())
                && max_t >= mint
                && min_t <= maxt
            {
                chunks.push(HeadChunkSnapshot::Xor { min_t, max_t, bytes: ChunkBytes::Heap(Arc::from(c.bytes())) });
            }
            let lo = d.ooo.partition_point(|s| s.0 < mint);
            let hi = d.ooo.partition_point(|s| s.0 <= maxt);
            if lo < hi {
                chunks.push(HeadChunkSnapshot::Samples(Arc::from(&d.ooo[lo..hi])));
            }
            drop(d);
            if chunks.is_empty() {
                continue;
            }
            out.push(HeadSeriesSnapshot { labels: s.labels(&syms), chunks, tombstones: tombstones.get(r).cloned() });
        }
        drop(syms);
        out.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
        out
    }
}
