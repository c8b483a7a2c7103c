//! Compaction: planning which blocks to merge, and merging them.
//!
//! Blocks are merged when they overlap in time (backfill, out-of-order data), or when
//! several blocks fill an aligned window of the next range level (2h → 6h → 18h → ...,
//! capped by the options). A merge streams series in label order from all parents, merges
//! their samples (dropping tombstoned ones and duplicate timestamps) and writes one block.

use crate::model::Labels;
use crate::tsdb::block::{BlockError, BlockMeta, BlockReader, CompactionMeta, write_block};
use crate::tsdb::querier::merge_dedup;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;
use std::sync::Arc;

/// The compaction ranges for a base block range: ×3 per level, up to `max_range`.
pub(crate) fn ranges(base: i64, max_range: i64) -> Vec<i64> {
    let mut out = vec![base];
    let mut r = base;
    while r.saturating_mul(3) <= max_range {
        r *= 3;
        out.push(r);
    }
    out
}

/// Picks the next set of blocks to merge (indices into `metas`, sorted by `min_time`), or
/// `None` when there is nothing to do. Overlapping blocks go first.
pub(crate) fn plan(metas: &[BlockMeta], ranges: &[i64]) -> Option<Vec<usize>> {
    let mut order: Vec<usize> = (0..metas.len()).collect();
    order.sort_by_key(|&i| (metas[i].min_time, metas[i].max_time));
    // Overlaps: a group of blocks each starting before the group's end so far.
    let mut i = 0;
    while i < order.len() {
        let mut end = metas[order[i]].max_time;
        let mut j = i + 1;
        while j < order.len() && metas[order[j]].min_time < end {
            end = end.max(metas[order[j]].max_time);
            j += 1;
        }
        if j - i > 1 {
            return Some(order[i..j].to_vec());
        }
        i = j;
    }
    let newest = metas.iter().map(|m| m.max_time).max()?;
    for &r in ranges.iter().skip(1) {
        let mut k = 0;
        while k < order.len() {
            let start = metas[order[k]].min_time.div_euclid(r) * r;
            let end = start.saturating_add(r);
            let mut group = Vec::new();
            while k < order.len() && metas[order[k]].min_time >= start && metas[order[k]].max_time <= end {
                group.push(order[k]);
                k += 1;
            }
            if group.is_empty() {
                k += 1;
                continue;
            }
            // Merge a window once time has moved past it, or once it is exactly filled.
            let span = metas[*group.last()?].max_time - metas[group[0]].min_time;
            if group.len() > 1 && (end <= newest || span >= r) {
                return Some(group);
            }
        }
    }
    None
}

/// Merges `parents` into one new block under `dir`, applying their tombstones. Returns the
/// new block's meta, or `None` if nothing was left (everything deleted).
/// `level` overrides the new block's level (a tombstone rewrite keeps its level).
pub(crate) fn merge(
    dir: &Path,
    parents: &[Arc<dyn BlockReader>],
    level: Option<u32>,
) -> Result<Option<BlockMeta>, BlockError> {
    let min_t = parents.iter().map(|b| b.meta().min_time).min().unwrap_or(0);
    let max_t = parents.iter().map(|b| b.meta().max_time).max().unwrap_or(0);
    let mut sources: Vec<String> = parents.iter().flat_map(|b| b.meta().compaction.sources.clone()).collect();
    sources.sort();
    sources.dedup();
    let meta = CompactionMeta {
        level: level.unwrap_or_else(|| parents.iter().map(|b| b.meta().compaction.level).max().unwrap_or(0) + 1),
        sources,
        parents: parents.iter().map(|b| b.meta().ulid.clone()).collect(),
    };
    let mut it = MergeIter::new(parents)?;
    let res = write_block(dir, min_t, max_t, meta, &mut it);
    if let Some(e) = it.err.take() {
        return Err(e);
    }
    res
}

/// A series' labels and its samples.
type SeriesSamples = (Labels, Vec<(i64, f64)>);

/// Streams the union of the parents' series in label order with merged samples.
struct MergeIter<'a> {
    parents: &'a [Arc<dyn BlockReader>],
    postings: Vec<Vec<u32>>,
    cursors: Vec<usize>,
    heap: BinaryHeap<Reverse<(Labels, usize)>>,
    err: Option<BlockError>,
}

impl<'a> MergeIter<'a> {
    fn new(parents: &'a [Arc<dyn BlockReader>]) -> Result<Self, BlockError> {
        let mut s = MergeIter {
            parents,
            postings: Vec::new(),
            cursors: vec![0; parents.len()],
            heap: BinaryHeap::new(),
            err: None,
        };
        for (i, b) in parents.iter().enumerate() {
            s.postings.push(b.all_postings()?);
            s.push_next(i)?;
        }
        Ok(s)
    }

    fn push_next(&mut self, i: usize) -> Result<(), BlockError> {
        if let Some(&id) = self.postings[i].get(self.cursors[i]) {
            let (labels, _) = self.parents[i].series(id)?;
            self.heap.push(Reverse((labels, i)));
        }
        Ok(())
    }

    /// The samples of the series at block `i`'s cursor, without tombstoned ones.
    fn samples(&self, i: usize) -> Result<Vec<(i64, f64)>, BlockError> {
        let b = &self.parents[i];
        let id = self.postings[i][self.cursors[i]];
        let (_, metas) = b.series(id)?;
        let mut out = Vec::new();
        for m in &metas {
            b.read_chunk(m, &mut out)?;
        }
        if let Some(iv) = b.tombstones().get(u64::from(id)) {
            out.retain(|s| !iv.contains(s.0));
        }
        Ok(out)
    }

    fn next_series(&mut self) -> Result<Option<SeriesSamples>, BlockError> {
        while let Some(Reverse((labels, i))) = self.heap.pop() {
            let mut runs = vec![self.samples(i)?];
            self.cursors[i] += 1;
            self.push_next(i)?;
            while self.heap.peek().is_some_and(|Reverse((l, _))| *l == labels) {
                let Some(Reverse((_, j))) = self.heap.pop() else { break };
                runs.push(self.samples(j)?);
                self.cursors[j] += 1;
                self.push_next(j)?;
            }
            // Newer blocks (later ULIDs) win on equal timestamps.
            runs.reverse();
            let merged = if runs.len() == 1 { runs.pop().unwrap_or_default() } else { merge_dedup(runs) };
            if !merged.is_empty() {
                return Ok(Some((labels, merged)));
            }
        }
        Ok(None)
    }
}

impl Iterator for MergeIter<'_> {
    type Item = SeriesSamples;
    fn next(&mut self) -> Option<Self::Item> {
        if self.err.is_some() {
            return None;
        }
        match self.next_series() {
            Ok(s) => s,
            Err(e) => {
                self.err = Some(e);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::block::{BlockStats, CompactionMeta};

    fn meta(min: i64, max: i64) -> BlockMeta {
        BlockMeta {
            ulid: format!("{min}-{max}"),
            min_time: min,
            max_time: max,
            stats: BlockStats::default(),
            compaction: CompactionMeta::default(),
            version: 1,
        }
    }

    #[test]
    fn ranges_grow_by_three() {
        assert_eq!(ranges(2, 20), vec![2, 6, 18]);
        assert_eq!(ranges(2, 2), vec![2]);
    }

    #[test]
    fn plan_table() {
        let r = ranges(2, 54);
        // (blocks, expected group as (min,max) pairs)
        type Case = (Vec<(i64, i64)>, Option<Vec<(i64, i64)>>);
        let cases: Vec<Case> = vec![
            (vec![], None),
            (vec![(0, 2)], None),
            // Two 2h blocks in the 0..6 window; time has not passed the window: wait.
            (vec![(0, 2), (2, 4)], None),
            // A third fills the window.
            (vec![(0, 2), (2, 4), (4, 6)], Some(vec![(0, 2), (2, 4), (4, 6)])),
            // Time moved past the window: merge what is there.
            (vec![(0, 2), (2, 4), (6, 8)], Some(vec![(0, 2), (2, 4)])),
            // Overlaps first.
            (vec![(0, 2), (2, 4), (4, 6), (1, 3)], Some(vec![(0, 2), (1, 3), (2, 4)])),
            // A lone block per window: nothing.
            (vec![(0, 6), (6, 12)], None),
        ];
        for (blocks, want) in cases {
            let metas: Vec<BlockMeta> = blocks.iter().map(|&(a, b)| meta(a, b)).collect();
            let got =
                plan(&metas, &r).map(|g| g.iter().map(|&i| (metas[i].min_time, metas[i].max_time)).collect::<Vec<_>>());
            assert_eq!(got, want, "{blocks:?}");
        }
    }
}
