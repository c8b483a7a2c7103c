//! Reading over head and blocks for a time range: series selection by matchers, label names
//! and values, and lazily decoding sample iterators.

use crate::model::{Labels, Matcher, Sample};
use crate::tsdb::block::{BlockError, BlockReader, ChunkMeta};
use crate::tsdb::chunk::XorIterator;
use crate::tsdb::error::Result;
use crate::tsdb::head::{Head, HeadChunkSnapshot};
use crate::tsdb::postings::{self, IndexLookup};
use crate::tsdb::tombstones::Intervals;
use roaring::RoaringTreemap;
use std::collections::BTreeSet;
use std::sync::Arc;

/// A read view of the database over `[mint, maxt]` (inclusive, ms).
///
/// It holds the blocks and head it was opened on, so compaction and retention running
/// meanwhile do not change what it sees of persisted data.
pub struct Querier {
    mint: i64,
    maxt: i64,
    blocks: Vec<Arc<dyn BlockReader>>,
    head: Option<Arc<Head>>,
}

/// Adapts a block to the postings planner.
pub(crate) struct BlockIndex<'a>(pub(crate) &'a dyn BlockReader);

impl IndexLookup for BlockIndex<'_> {
    type Err = BlockError;
    fn values(&self, name: &str) -> Result<Vec<String>, BlockError> {
        self.0.label_values(name)
    }
    fn postings(&self, name: &str, value: &str) -> Result<RoaringTreemap, BlockError> {
        Ok(self.0.postings(name, value)?.into_iter().map(u64::from).collect())
    }
    fn all(&self) -> Result<RoaringTreemap, BlockError> {
        Ok(self.0.all_postings()?.into_iter().map(u64::from).collect())
    }
}

impl Querier {
    pub(crate) fn new(mint: i64, maxt: i64, blocks: Vec<Arc<dyn BlockReader>>, head: Option<Arc<Head>>) -> Self {
        let blocks = blocks.into_iter().filter(|b| b.meta().min_time <= maxt && b.meta().max_time > mint).collect();
        let head = head.filter(|h| h.max_time() != i64::MIN && h.min_time() <= maxt && h.max_time() >= mint);
        Querier { mint, maxt, blocks, head }
    }

    /// The series matching all `matchers` (at least one should not match the empty string
    /// for a selective query), sorted by labels, each with the chunks that overlap the range.
    /// Tombstones are applied when iterating.
    pub fn select(&self, matchers: &[Matcher]) -> Result<Vec<Series>> {
        // Each block lists its series in label order, and so does the head snapshot: the runs
        // are concatenated and merged by one stable sort (about n·log(runs) comparisons; a
        // sorted map cost a tree search per series).
        let mut runs: Vec<(Labels, Vec<Source>)> = Vec::new();
        for b in &self.blocks {
            let ids = postings::select(&BlockIndex(b.as_ref()), matchers)?;
            let tombstones = b.tombstones();
            for id in ids.iter() {
                let id = id as u32;
                let (labels, metas) = b.series(id)?;
                let tomb = tombstones.get(u64::from(id)).cloned().map(Arc::new);
                let sources = metas
                    .into_iter()
                    .filter(|m| m.max_t >= self.mint && m.min_t <= self.maxt)
                    // A chunk whose whole range is deleted contributes nothing.
                    .filter(|m| !tomb.as_ref().is_some_and(|iv| iv.covers(m.min_t, m.max_t)))
                    .map(|meta| Source::Block { block: b.clone(), meta, tomb: tomb.clone() })
                    .collect::<Vec<_>>();
                if !sources.is_empty() {
                    runs.push((labels, sources));
                }
            }
        }
        if let Some(h) = &self.head {
            for s in h.snapshot(matchers, self.mint, self.maxt) {
                let tomb = s.tombstones.map(Arc::new);
                let live: Vec<Source> = s
                    .chunks
                    .into_iter()
                    .map(|c| Source::Head { chunk: c, tomb: tomb.clone() })
                    .filter(|src| {
                        let (lo, hi) = src.range();
                        !tomb.as_ref().is_some_and(|iv| iv.covers(lo, hi))
                    })
                    .collect();
                if !live.is_empty() {
                    runs.push((s.labels, live));
                }
            }
        }
        runs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<Series> = Vec::with_capacity(runs.len());
        for (labels, sources) in runs {
            match out.last_mut() {
                Some(last) if last.labels == labels => last.sources.extend(sources),
                _ => out.push(Series { labels, sources, mint: self.mint, maxt: self.maxt }),
            }
        }
        for s in &mut out {
            if s.sources.len() > 1 {
                s.sources.sort_by_key(|src| src.range().0);
            }
        }
        Ok(out)
    }

    /// Label names of the series matching `matchers` (all names when empty), sorted.
    pub fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        if !matchers.is_empty() {
            let mut names = BTreeSet::new();
            for s in self.select(matchers)? {
                names.extend(s.labels.iter().map(|l| l.name.clone()));
            }
            return Ok(names.into_iter().collect());
        }
        let mut names = BTreeSet::new();
        for b in &self.blocks {
            names.extend(b.label_names()?);
        }
        if let Some(h) = &self.head {
            names.extend(h.label_names());
        }
        Ok(names.into_iter().collect())
    }

    /// Values of label `name` on the series matching `matchers` (all series when empty),
    /// sorted.
    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        if !matchers.is_empty() {
            let mut values = BTreeSet::new();
            for s in self.select(matchers)? {
                if let Some(v) = s.labels.get(name) {
                    values.insert(v.to_string());
                }
            }
            return Ok(values.into_iter().collect());
        }
        let mut values = BTreeSet::new();
        for b in &self.blocks {
            values.extend(b.label_values(name)?);
        }
        if let Some(h) = &self.head {
            values.extend(h.label_values(name));
        }
        Ok(values.into_iter().collect())
    }
}

/// Where some of a series' samples are.
#[derive(Clone)]
enum Source {
    Block { block: Arc<dyn BlockReader>, meta: ChunkMeta, tomb: Option<Arc<Intervals>> },
    Head { chunk: HeadChunkSnapshot, tomb: Option<Arc<Intervals>> },
}

impl Source {
    fn range(&self) -> (i64, i64) {
        match self {
            Source::Block { meta, .. } => (meta.min_t, meta.max_t),
            Source::Head { chunk: HeadChunkSnapshot::Xor { min_t, max_t, .. }, .. } => (*min_t, *max_t),
            Source::Head { chunk: HeadChunkSnapshot::Samples(s), .. } => {
                (s.first().map_or(i64::MAX, |x| x.0), s.last().map_or(i64::MIN, |x| x.0))
            }
        }
    }

    /// Appends the samples to `out`, without deleted ones.
    fn decode(&self, out: &mut Vec<(i64, f64)>) -> Result<(), BlockError> {
        let start = out.len();
        let tomb = match self {
            Source::Block { block, meta, tomb } => {
                block.read_chunk(meta, out)?;
                tomb
            }
            Source::Head { chunk: HeadChunkSnapshot::Xor { bytes, .. }, tomb } => {
                out.extend(XorIterator::new(bytes.as_slice()));
                tomb
            }
            Source::Head { chunk: HeadChunkSnapshot::Samples(s), tomb } => {
                out.extend_from_slice(s);
                tomb
            }
        };
        if let Some(iv) = tomb {
            let mut i = start;
            out.retain(|s| {
                let keep = i < start || !iv.contains(s.0);
                i += 1;
                keep
            });
        }
        Ok(())
    }
}

/// One selected series: its labels and where its samples are.
#[derive(Clone)]
pub struct Series {
    labels: Labels,
    sources: Vec<Source>,
    mint: i64,
    maxt: i64,
}

impl Series {
    /// The series' labels.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// The series' labels, taken out.
    pub fn into_labels(self) -> Labels {
        self.labels
    }

    /// An iterator over the samples in the querier's range, in time order.
    pub fn iter(&self) -> SeriesIterator {
        let overlapping = self.sources.windows(2).any(|w| w[1].range().0 <= w[0].range().1);
        SeriesIterator {
            sources: self.sources.clone(),
            next_source: 0,
            buf: Vec::new(),
            pos: 0,
            mint: self.mint,
            maxt: self.maxt,
            overlapping,
            err: None,
        }
    }

    /// All samples in range, or the first read error.
    pub fn samples(&self) -> Result<Vec<Sample>> {
        let mut it = self.iter();
        let out: Vec<Sample> = it.by_ref().map(|(t, v)| Sample { t, v }).collect();
        match it.err.take() {
            Some(e) => Err(e.into()),
            None => Ok(out),
        }
    }
}

/// Iterates a series' samples in time order, decoding one chunk at a time.
pub struct SeriesIterator {
    sources: Vec<Source>,
    next_source: usize,
    buf: Vec<(i64, f64)>,
    pos: usize,
    mint: i64,
    maxt: i64,
    /// Sources overlap in time (out-of-order data, overlapping blocks): merged up front.
    overlapping: bool,
    err: Option<BlockError>,
}

impl SeriesIterator {
    /// The error that ended iteration early, if any.
    pub fn err(&self) -> Option<&BlockError> {
        self.err.as_ref()
    }

    /// Loads the next source into `buf`; false when none is left or on error.
    fn load(&mut self, skip_before: i64) -> bool {
        self.buf.clear();
        self.pos = 0;
        if self.overlapping {
            if self.next_source > 0 {
                return false;
            }
            self.next_source = self.sources.len();
            let mut all = Vec::new();
            for s in &self.sources {
                let mut one = Vec::new();
                if let Err(e) = s.decode(&mut one) {
                    self.err = Some(e);
                    return false;
                }
                all.push(one);
            }
            self.buf = merge_dedup(all);
        } else {
            loop {
                let Some(s) = self.sources.get(self.next_source) else { return false };
                self.next_source += 1;
                if s.range().1 < skip_before.max(self.mint) {
                    continue;
                }
                if let Err(e) = s.decode(&mut self.buf) {
                    self.err = Some(e);
                    return false;
                }
                break;
            }
        }
        let (mint, maxt) = (self.mint, self.maxt);
        self.buf.retain(|s| s.0 >= mint && s.0 <= maxt);
        true
    }

    /// Advances to the first sample at or after `t` and returns it.
    pub fn seek(&mut self, t: i64) -> Option<(i64, f64)> {
        loop {
            if let Some(i) = self.buf[self.pos..].iter().position(|s| s.0 >= t) {
                self.pos += i;
                return self.next();
            }
            self.pos = self.buf.len();
            if !self.load(t) {
                return None;
            }
        }
    }
}

impl Iterator for SeriesIterator {
    type Item = (i64, f64);
    fn next(&mut self) -> Option<(i64, f64)> {
        loop {
            if let Some(&s) = self.buf.get(self.pos) {
                self.pos += 1;
                return Some(s);
            }
            if !self.load(i64::MIN) {
                return None;
            }
        }
    }
}

/// Merges sorted runs into one sorted run; on equal timestamps the earlier run wins.
pub(crate) fn merge_dedup(runs: Vec<Vec<(i64, f64)>>) -> Vec<(i64, f64)> {
    let mut all: Vec<(i64, usize, f64)> = Vec::with_capacity(runs.iter().map(Vec::len).sum());
    for (i, r) in runs.into_iter().enumerate() {
        all.extend(r.into_iter().map(|(t, v)| (t, i, v)));
    }
    all.sort_by_key(|&(t, i, _)| (t, i));
    all.dedup_by_key(|s| s.0);
    all.into_iter().map(|(t, _, v)| (t, v)).collect()
}
