//! The head: recent samples in memory, as Gorilla chunks per series, indexed by roaring
//! postings, sharded behind stripe locks.
//!
//! Principal types: [`Head`], [`Appender`]. A series lives in two striped maps (by reference
//! and by label hash) and in the postings; its samples live behind its own mutex. Commits are
//! applied under the isolation lock so that a query sees all of a commit or none of it.

mod append;
mod chunk_mapper;
mod prefetch;
mod read;
mod refmap;
pub(crate) mod snapshot;
mod wal_replay;

pub use append::Appender;
pub(crate) use chunk_mapper::ChunkBytes;
use chunk_mapper::{ChunkLoc, ChunkMapper};
pub(crate) use read::HeadChunkSnapshot;
pub(crate) use wal_replay::Replayer;

use crate::model::{Label, Labels};
use crate::tsdb::chunk::{MAX_SAMPLES_PER_CHUNK, XorChunk};
use crate::tsdb::exemplar::ExemplarStorage;
use crate::tsdb::metrics::Metrics;
use crate::tsdb::tombstones::Tombstones;
use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use roaring::RoaringTreemap;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Head options.
#[derive(Clone, Debug)]
pub struct HeadOptions {
    /// The block range (ms): chunks never straddle a multiple of it.
    pub chunk_range: i64,
    /// Out-of-order window (ms); 0 disables out-of-order ingestion.
    pub ooo_window: i64,
    /// Number of lock stripes (a power of two).
    pub stripes: usize,
    /// The exemplar ring size when exemplar storage is enabled (`None`: disabled, exemplars
    /// are ignored).
    pub max_exemplars: Option<i64>,
}

impl Default for HeadOptions {
    fn default() -> Self {
        HeadOptions { chunk_range: 2 * 3600 * 1000, ooo_window: 0, stripes: 1024, max_exemplars: None }
    }
}

/// Interned label strings. Series store `u32` symbol ids instead of strings.
#[derive(Default)]
pub(crate) struct Symbols {
    inner: RwLock<SymbolsInner>,
}

#[derive(Default)]
pub(crate) struct SymbolsInner {
    ids: FastMap<Arc<str>, u32>,
    strs: Vec<Arc<str>>,
}

impl SymbolsInner {
    /// The string of symbol `id`. Ids come only from `intern`, so they are always in range.
    pub(crate) fn get(&self, id: u32) -> &str {
        self.strs.get(id as usize).map_or("", |s| s)
    }
}

impl Symbols {
    fn lookup(&self, s: &str) -> Option<u32> {
        self.inner.read().ids.get(s).copied()
    }

    fn intern(&self, s: &str) -> u32 {
        if let Some(id) = self.lookup(s) {
            return id;
        }
        let mut w = self.inner.write();
        if let Some(&id) = w.ids.get(s) {
            return id;
        }
        let id = w.strs.len() as u32;
        let a: Arc<str> = Arc::from(s);
        w.strs.push(a.clone());
        w.ids.insert(a, id);
        id
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, SymbolsInner> {
        self.inner.read()
    }
}

/// A completed, immutable head chunk: its time range and where its bytes are.
#[derive(Clone, Debug)]
pub(crate) struct SealedChunk {
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    loc: ChunkLoc,
}

/// The samples of one series.
#[derive(Default)]
pub(crate) struct SeriesData {
    pub(crate) sealed: Vec<SealedChunk>,
    pub(crate) open: Option<XorChunk>,
    /// Out-of-order samples, sorted by time, unique timestamps.
    pub(crate) ooo: Vec<(i64, f64)>,
}

impl SeriesData {
    /// The newest in-order sample.
    ///
    /// The open chunk holds it: a chunk is sealed only when the next sample starts a new
    /// one, and truncation drops the open chunk only together with every older chunk.
    pub(crate) fn last(&self) -> Option<(i64, f64)> {
        self.open.as_ref().and_then(|c| c.last())
    }

    /// Appends an in-order sample, cutting chunks at 120 samples and at multiples of
    /// `chunk_range`. Returns whether a new chunk was started.
    ///
    /// A chunk that follows a full one starts with a buffer a little larger than its
    /// predecessor's bytes, so it rarely reallocates while it fills.
    fn append(&mut self, t: i64, v: f64, chunk_range: i64, mapper: Option<&ChunkMapper>) -> bool {
        let mut cut = false;
        let mut size_hint = None;
        if let Some(c) = &self.open {
            let first = c.first_time().unwrap_or(t);
            let boundary = (first.div_euclid(chunk_range) + 1).saturating_mul(chunk_range);
            let full = c.num_samples() >= MAX_SAMPLES_PER_CHUNK;
            if full || t >= boundary {
                let len = c.bytes().len();
                size_hint = full.then_some(len + len / 8);
                self.seal(mapper);
                cut = true;
            }
        }
        let c = self.open.get_or_insert_with(|| {
            cut = true;
            size_hint.map_or_else(XorChunk::new, XorChunk::with_capacity)
        });
        c.append(t, v);
        cut
    }

    fn seal(&mut self, mapper: Option<&ChunkMapper>) {
        if let Some(c) = self.open.take()
            && let (Some(min_t), Some((max_t, _))) = (c.first_time(), c.last())
        {
            let loc = match mapper {
                Some(m) => m.write(c.bytes(), max_t),
                None => ChunkLoc::Heap(Arc::from(c.bytes())),
            };
            self.sealed.push(SealedChunk { min_t, max_t, loc });
        }
    }

    fn insert_ooo(&mut self, t: i64, v: f64) -> bool {
        match self.ooo.binary_search_by_key(&t, |s| s.0) {
            Ok(_) => false,
            Err(i) => {
                self.ooo.insert(i, (t, v));
                true
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.sealed.is_empty() && self.open.as_ref().is_none_or(|c| c.num_samples() == 0) && self.ooo.is_empty()
    }

    fn num_chunks(&self) -> usize {
        self.sealed.len() + usize::from(self.open.is_some())
    }

    /// Drops everything before `mint`; returns the number of chunks removed.
    fn truncate(&mut self, mint: i64) -> usize {
        let before = self.num_chunks();
        self.sealed.retain(|c| c.max_t >= mint);
        if self.open.as_ref().is_some_and(|c| c.last().is_none_or(|(t, _)| t < mint)) {
            self.open = None;
        }
        self.ooo.retain(|s| s.0 >= mint);
        before - self.num_chunks()
    }

    /// Bytes held by the samples (approximate heap size).
    fn heap_size(&self) -> usize {
        self.sealed.iter().map(|c| if let ChunkLoc::Heap(b) = &c.loc { b.len() + 16 } else { 0 }).sum::<usize>()
            + self.sealed.capacity() * std::mem::size_of::<SealedChunk>()
            + self.open.as_ref().map_or(0, |c| c.heap_size())
            + self.ooo.capacity() * 16
    }
}

/// One series in the head.
pub(crate) struct MemSeries {
    pub(crate) series_ref: u64,
    hash: u64,
    /// Symbol ids: name, value, name, value, ... in label order.
    label_ids: Box<[u32]>,
    /// Whether a series record for it is in the WAL.
    pub(crate) wal_logged: AtomicBool,
    pub(crate) data: Mutex<SeriesData>,
}

impl MemSeries {
    pub(crate) fn labels(&self, syms: &SymbolsInner) -> Labels {
        Labels::from_sorted_unchecked(
            self.label_ids.chunks_exact(2).map(|p| Label::new(syms.get(p[0]), syms.get(p[1]))).collect(),
        )
    }

    fn labels_eq(&self, syms: &SymbolsInner, labels: &Labels) -> bool {
        self.pairs_eq(syms, labels.iter().map(|l| (l.name.as_str(), l.value.as_str())))
    }

    /// Whether the series has exactly these label pairs (in order).
    fn pairs_eq<'a>(&self, syms: &SymbolsInner, pairs: impl ExactSizeIterator<Item = (&'a str, &'a str)>) -> bool {
        self.label_ids.len() == pairs.len() * 2
            && self
                .label_ids
                .chunks_exact(2)
                .zip(pairs)
                .all(|(p, (name, value))| syms.get(p[0]) == name && syms.get(p[1]) == value)
    }

    /// Compares two series by their label sets.
    fn cmp_labels(&self, other: &MemSeries, syms: &SymbolsInner) -> std::cmp::Ordering {
        let a = self.label_ids.chunks_exact(2).map(|p| (syms.get(p[0]), syms.get(p[1])));
        let b = other.label_ids.chunks_exact(2).map(|p| (syms.get(p[0]), syms.get(p[1])));
        a.cmp(b)
    }
}

/// Postings keyed by symbol ids.
#[derive(Default)]
struct MemPostings {
    by_label: FastMap<u32, FastMap<u32, RoaringTreemap>>,
    all: RoaringTreemap,
}

/// Series by label hash: one map for the common case, another for hash collisions.
#[derive(Default)]
struct HashBuckets {
    first: FastMap<u64, Arc<MemSeries>>,
    more: FastMap<u64, Vec<Arc<MemSeries>>>,
}

impl HashBuckets {
    fn find(&self, hash: u64, mut eq: impl FnMut(&MemSeries) -> bool) -> Option<&Arc<MemSeries>> {
        let first = self.first.get(&hash)?;
        if eq(first) {
            return Some(first);
        }
        self.more.get(&hash)?.iter().find(|s| eq(s))
    }

    fn insert(&mut self, s: Arc<MemSeries>) {
        match self.first.entry(s.hash) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(s);
            }
            std::collections::hash_map::Entry::Occupied(_) => self.more.entry(s.hash).or_default().push(s),
        }
    }

    fn remove(&mut self, s: &MemSeries) {
        let (hash, r) = (s.hash, s.series_ref);
        if let Some(more) = self.more.get_mut(&hash) {
            more.retain(|x| x.series_ref != r);
            if self.first.get(&hash).is_some_and(|f| f.series_ref == r)
                && let Some(next) = more.pop()
            {
                self.first.insert(hash, next);
            }
            if more.is_empty() {
                self.more.remove(&hash);
            }
            return;
        }
        if self.first.get(&hash).is_some_and(|f| f.series_ref == r) {
            self.first.remove(&hash);
        }
    }

    fn capacity(&self) -> usize {
        self.first.capacity()
    }
}

/// One stripe of the series maps.
#[derive(Default)]
struct Stripe {
    by_ref: RwLock<FastMap<u64, Arc<MemSeries>>>,
    by_hash: RwLock<HashBuckets>,
}

/// The in-memory head of the database.
pub struct Head {
    opts: HeadOptions,
    /// Writes full chunks to disk (`None`: they stay on the heap).
    mapper: Option<ChunkMapper>,
    stripes: Box<[Stripe]>,
    postings: RwLock<MemPostings>,
    pub(crate) symbols: Symbols,
    next_ref: AtomicU64,
    min_time: AtomicI64,
    max_time: AtomicI64,
    /// Samples older than this are out of bounds (the end of persisted time).
    min_valid_time: AtomicI64,
    pub(crate) tombstones: RwLock<Tombstones>,
    /// Commits apply under the write side; query snapshots take the read side.
    pub(crate) isolation: RwLock<()>,
    pub(crate) metrics: Arc<Metrics>,
    /// Exemplars of the head's series (empty and unused when the feature is off).
    pub(crate) exemplars: ExemplarStorage,
}

impl Head {
    /// An empty head keeping every chunk in memory.
    pub fn new(opts: HeadOptions, metrics: Arc<Metrics>) -> Head {
        Self::build(opts, metrics, None)
    }

    /// An empty head that writes full chunks to `chunks_dir` (emptied first) and maps them
    /// for reading, keeping resident memory low.
    pub fn with_chunks_dir(
        opts: HeadOptions,
        metrics: Arc<Metrics>,
        chunks_dir: &std::path::Path,
    ) -> std::io::Result<Head> {
        Ok(Self::build(opts, metrics, Some(ChunkMapper::open(chunks_dir)?)))
    }

    fn build(opts: HeadOptions, metrics: Arc<Metrics>, mapper: Option<ChunkMapper>) -> Head {
        let n = opts.stripes.max(1).next_power_of_two();
        let exemplars = ExemplarStorage::new(opts.max_exemplars.unwrap_or(0), metrics.clone());
        Head {
            mapper,
            stripes: (0..n).map(|_| Stripe::default()).collect(),
            opts,
            postings: RwLock::default(),
            symbols: Symbols::default(),
            next_ref: AtomicU64::new(1),
            min_time: AtomicI64::new(i64::MAX),
            max_time: AtomicI64::new(i64::MIN),
            min_valid_time: AtomicI64::new(i64::MIN),
            tombstones: RwLock::default(),
            isolation: RwLock::new(()),
            exemplars,
            metrics,
        }
    }

    /// The exemplar storage.
    pub fn exemplars(&self) -> &ExemplarStorage {
        &self.exemplars
    }

    /// Whether exemplar storage is enabled (`--enable-feature=exemplar-storage`).
    pub fn exemplars_enabled(&self) -> bool {
        self.opts.max_exemplars.is_some()
    }

    /// The options the head runs with.
    pub fn options(&self) -> &HeadOptions {
        &self.opts
    }

    fn stripe(&self, key: u64) -> &Stripe {
        &self.stripes[(key as usize) & (self.stripes.len() - 1)]
    }

    /// Smallest sample time in the head (`i64::MAX` when empty).
    pub fn min_time(&self) -> i64 {
        self.min_time.load(Relaxed)
    }

    /// Largest sample time in the head (`i64::MIN` when empty).
    pub fn max_time(&self) -> i64 {
        self.max_time.load(Relaxed)
    }

    /// Number of series in the head.
    pub fn num_series(&self) -> usize {
        self.metrics.head_series.load(Relaxed).max(0) as usize
    }

    /// The oldest timestamp an in-order append may have: not before persisted time, and not
    /// more than half a block range behind the newest sample (as Prometheus).
    pub(crate) fn min_valid_time(&self) -> i64 {
        let max = self.max_time();
        let lag = if max == i64::MIN { i64::MIN } else { max.saturating_sub(self.opts.chunk_range / 2) };
        self.min_valid_time.load(Relaxed).max(lag)
    }

    pub(crate) fn set_min_valid_time(&self, t: i64) {
        self.min_valid_time.fetch_max(t, Relaxed);
    }

    pub(crate) fn series_by_ref(&self, r: u64) -> Option<Arc<MemSeries>> {
        self.stripe(r).by_ref.read().get(&r).cloned()
    }

    /// Finds the series of `labels`, creating it (with a new reference) if absent.
    pub(crate) fn get_or_create(&self, labels: &Labels) -> (Arc<MemSeries>, bool) {
        let hash = labels.stable_hash();
        if let Some(s) = self.find(hash, labels) {
            return (s, false);
        }
        self.create(hash, labels, None)
    }

    fn find(&self, hash: u64, labels: &Labels) -> Option<Arc<MemSeries>> {
        let buckets = self.stripe(hash).by_hash.read();
        let syms = self.symbols.read();
        buckets.find(hash, |s| s.labels_eq(&syms, labels)).cloned()
    }

    /// Finds the series with exactly these label pairs (sorted by name and unique, as a
    /// `Labels` holds them), without building a label set.
    pub(crate) fn find_pairs(&self, pairs: &[(&str, &str)]) -> Option<Arc<MemSeries>> {
        let hash = crate::model::stable_hash_pairs(pairs.iter().copied());
        let buckets = self.stripe(hash).by_hash.read();
        let syms = self.symbols.read();
        buckets.find(hash, |s| s.pairs_eq(&syms, pairs.iter().copied())).cloned()
    }

    /// Creates the series (with reference `want_ref` when replaying), unless another thread
    /// created it first.
    fn create(&self, hash: u64, labels: &Labels, want_ref: Option<u64>) -> (Arc<MemSeries>, bool) {
        let ids: Box<[u32]> =
            labels.iter().flat_map(|l| [self.symbols.intern(&l.name), self.symbols.intern(&l.value)]).collect();
        let mut by_hash = self.stripe(hash).by_hash.write();
        {
            let syms = self.symbols.read();
            if let Some(s) = by_hash.find(hash, |s| s.labels_eq(&syms, labels)) {
                return (s.clone(), false);
            }
        }
        let series_ref = match want_ref {
            Some(r) => {
                self.next_ref.fetch_max(r.saturating_add(1), Relaxed);
                r
            }
            None => self.next_ref.fetch_add(1, Relaxed),
        };
        let s = Arc::new(MemSeries {
            series_ref,
            hash,
            label_ids: ids,
            wal_logged: AtomicBool::new(want_ref.is_some()),
            data: Mutex::new(SeriesData::default()),
        });
        by_hash.insert(s.clone());
        self.stripe(series_ref).by_ref.write().insert(series_ref, s.clone());
        drop(by_hash);
        {
            let mut p = self.postings.write();
            for pair in s.label_ids.chunks_exact(2) {
                p.by_label.entry(pair[0]).or_default().entry(pair[1]).or_default().insert(series_ref);
            }
            p.all.insert(series_ref);
        }
        self.metrics.head_series.fetch_add(1, Relaxed);
        self.metrics.head_series_created.fetch_add(1, Relaxed);
        (s, true)
    }

    /// Records that samples in `[mint, maxt]` were added.
    pub(crate) fn update_time_bounds(&self, mint: i64, maxt: i64) {
        let old_min = self.min_time.fetch_min(mint, Relaxed);
        let old_max = self.max_time.fetch_max(maxt, Relaxed);
        if mint < old_min {
            self.metrics.head_min_time.store(mint, Relaxed);
        }
        if maxt > old_max {
            self.metrics.head_max_time.store(maxt, Relaxed);
        }
    }

    /// Applies one validated sample to a series (caller holds the isolation write lock or is
    /// replaying). Returns false if the sample was dropped as a duplicate or out of order.
    pub(crate) fn apply(&self, s: &MemSeries, t: i64, v: f64, ooo: bool) -> bool {
        self.apply_to(&mut s.data.lock(), t, v, ooo)
    }

    /// [`Head::apply`] on a series' samples that the caller already holds (locked, or taken
    /// out of the series for replay).
    fn apply_to(&self, d: &mut SeriesData, t: i64, v: f64, ooo: bool) -> bool {
        let last = d.last();
        let in_order = last.is_none_or(|(lt, _)| t > lt);
        if in_order && !ooo {
            if d.append(t, v, self.opts.chunk_range, self.mapper.as_ref()) {
                self.metrics.head_chunks.fetch_add(1, Relaxed);
            }
            return true;
        }
        if last.is_some_and(|(lt, lv)| lt == t && lv.to_bits() == v.to_bits()) {
            return false;
        }
        if self.opts.ooo_window > 0 && d.insert_ooo(t, v) {
            self.metrics.ooo_samples_appended.fetch_add(1, Relaxed);
            return true;
        }
        false
    }

    /// Every series, sorted by labels (for persisting a range as a block).
    pub(crate) fn all_series_sorted(&self) -> Vec<Arc<MemSeries>> {
        let mut all: Vec<Arc<MemSeries>> = Vec::with_capacity(self.num_series());
        for st in self.stripes.iter() {
            all.extend(st.by_ref.read().values().cloned());
        }
        let syms = self.symbols.read();
        all.sort_unstable_by(|a, b| a.cmp_labels(b, &syms));
        all
    }

    /// Drops all data before `mint` and every series left empty (unless an appender or a
    /// query holds it). Returns the number of series removed.
    pub(crate) fn truncate(&self, mint: i64) -> usize {
        self.set_min_valid_time(mint);
        self.metrics.head_truncations.fetch_add(1, Relaxed);
        let mut removed = Vec::new();
        let mut new_min = i64::MAX;
        for st in self.stripes.iter() {
            let candidates: Vec<Arc<MemSeries>> = st.by_ref.read().values().cloned().collect();
            for s in candidates {
                let mut d = s.data.lock();
                let n = d.truncate(mint);
                self.metrics.head_chunks.fetch_sub(n as i64, Relaxed);
                if d.is_empty() {
                    drop(d);
                    removed.push(s);
                } else {
                    let first =
                        d.sealed.first().map(|c| c.min_t).or_else(|| d.open.as_ref().and_then(|c| c.first_time()));
                    let ooo_first = d.ooo.first().map(|s| s.0);
                    new_min = new_min.min(first.unwrap_or(i64::MAX)).min(ooo_first.unwrap_or(i64::MAX));
                }
            }
        }
        let mut n = 0;
        for s in removed {
            if self.remove_if_unused(s) {
                n += 1;
            }
        }
        if let Some(m) = &self.mapper {
            m.truncate(mint);
        }
        self.min_time.store(new_min, Relaxed);
        if new_min == i64::MAX {
            self.max_time.store(i64::MIN, Relaxed);
        }
        self.metrics.head_min_time.store(if new_min == i64::MAX { 0 } else { new_min }, Relaxed);
        let live = |r: u64| self.series_by_ref(r).is_some();
        let mut ts = self.tombstones.write();
        let mut kept = Tombstones::default();
        for (r, iv) in ts.iter() {
            if live(r) {
                for &(a, b) in iv.as_slice() {
                    if b >= mint {
                        kept.add(r, a, b);
                    }
                }
            }
        }
        *ts = kept;
        n
    }

    /// The bytes of a sealed chunk.
    pub(crate) fn chunk_bytes(&self, c: &SealedChunk) -> ChunkBytes {
        match (&self.mapper, &c.loc) {
            (Some(m), loc) => m.resolve(loc),
            (None, ChunkLoc::Heap(b)) => ChunkBytes::Heap(b.clone()),
            // Mapped locations only exist with a mapper.
            (None, ChunkLoc::Mapped { .. }) => ChunkBytes::Heap(Arc::from(&[0u8, 0][..])),
        }
    }

    /// Bytes of head chunk files on disk.
    pub fn chunks_disk_bytes(&self) -> u64 {
        self.mapper.as_ref().map_or(0, |m| m.size_bytes())
    }

    /// Removes an empty series from the maps and postings if nobody else holds it.
    fn remove_if_unused(&self, s: Arc<MemSeries>) -> bool {
        let mut by_hash = self.stripe(s.hash).by_hash.write();
        let mut by_ref = self.stripe(s.series_ref).by_ref.write();
        // Held by: the two maps and `s`. More means an appender or query is using it.
        if Arc::strong_count(&s) > 3 || !s.data.lock().is_empty() {
            return false;
        }
        by_ref.remove(&s.series_ref);
        by_hash.remove(&s);
        drop(by_ref);
        drop(by_hash);
        let mut p = self.postings.write();
        for pair in s.label_ids.chunks_exact(2) {
            if let Some(values) = p.by_label.get_mut(&pair[0]) {
                if let Some(set) = values.get_mut(&pair[1]) {
                    set.remove(s.series_ref);
                    if set.is_empty() {
                        values.remove(&pair[1]);
                    }
                }
                if values.is_empty() {
                    p.by_label.remove(&pair[0]);
                }
            }
        }
        p.all.remove(s.series_ref);
        self.metrics.head_series.fetch_sub(1, Relaxed);
        self.metrics.head_series_removed.fetch_add(1, Relaxed);
        true
    }

    /// Approximate heap bytes held by the head: series, labels, chunks, postings, maps.
    pub fn heap_size(&self) -> usize {
        let mut bytes = 0;
        for st in self.stripes.iter() {
            let m = st.by_ref.read();
            bytes += m.capacity() * 17;
            for s in m.values() {
                bytes += std::mem::size_of::<MemSeries>() + 16 + s.label_ids.len() * 4;
                bytes += s.data.lock().heap_size();
            }
            bytes += st.by_hash.read().capacity() * 17;
        }
        let p = self.postings.read();
        bytes += p.all.serialized_size();
        for values in p.by_label.values() {
            bytes += values.capacity() * 12;
            bytes += values.values().map(|s| s.serialized_size() + 48).sum::<usize>();
        }
        let syms = self.symbols.read();
        bytes += syms.strs.iter().map(|s| s.len() + 16 + 16 + 24).sum::<usize>();
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(r: u64, hash: u64) -> Arc<MemSeries> {
        Arc::new(MemSeries {
            series_ref: r,
            hash,
            label_ids: Box::new([]),
            wal_logged: AtomicBool::new(false),
            data: Mutex::new(SeriesData::default()),
        })
    }

    #[test]
    fn hash_buckets_handle_collisions() {
        let mut b = HashBuckets::default();
        let (a, c, d) = (series(1, 7), series(2, 7), series(3, 7));
        b.insert(a.clone());
        b.insert(c.clone());
        b.insert(d.clone());
        b.insert(series(4, 8));
        for r in [1, 2, 3] {
            assert_eq!(b.find(7, |s| s.series_ref == r).map(|s| s.series_ref), Some(r));
        }
        // Removing the first-slot entry promotes a collided one.
        b.remove(&a);
        assert!(b.find(7, |s| s.series_ref == 1).is_none());
        assert_eq!(b.find(7, |s| s.series_ref == 2).map(|s| s.series_ref), Some(2));
        assert_eq!(b.find(7, |s| s.series_ref == 3).map(|s| s.series_ref), Some(3));
        b.remove(&d);
        b.remove(&c);
        assert!(b.find(7, |_| true).is_none());
        assert!(b.more.is_empty());
        assert_eq!(b.find(8, |_| true).map(|s| s.series_ref), Some(4));
    }

    #[test]
    fn chunks_are_cut_at_120_samples_and_at_range_boundaries() {
        let head = Head::new(HeadOptions { chunk_range: 1000, ..HeadOptions::default() }, Arc::default());
        let (s, created) = head.get_or_create(&Labels::from_pairs(&[("a", "1")]).unwrap());
        assert!(created);
        for t in 0..130 {
            assert!(head.apply(&s, t, t as f64, false));
        }
        // 120 samples fill the first chunk; the boundary at 1000 cuts another.
        assert_eq!(s.data.lock().sealed.len(), 1);
        assert!(head.apply(&s, 1000, 0.0, false));
        let d = s.data.lock();
        assert_eq!(d.sealed.len(), 2);
        assert_eq!((d.sealed[1].min_t, d.sealed[1].max_t), (120, 129));
        assert_eq!(d.open.as_ref().and_then(|c| c.first_time()), Some(1000));
    }
}
