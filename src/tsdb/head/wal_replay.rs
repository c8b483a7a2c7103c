//! Rebuilding the head from the WAL, on several threads.
//!
//! As Prometheus's `loadWAL`: the caller decodes records on one thread and hands them to
//! [`Replayer::apply`], which creates series itself (so a series exists before any sample
//! that uses it) and routes samples to worker shards by head series reference. A series
//! belongs to exactly one shard, and a shard applies its samples in WAL order, so every
//! series ends with the same samples and chunks as a single-threaded replay would give it.
//!
//! A shard takes the samples of its series out of their mutexes while it works and puts them
//! back at the end: replay appends without locking or atomics per sample, and nothing else
//! can look at the head before the database is open.

use super::prefetch::prefetch;
use super::refmap::RefMap;
use super::{Head, MemSeries, SeriesData};
use crate::tsdb::exemplar::Exemplar;
use crate::tsdb::wal::record::{Record, RefSample};
use crossbeam_channel::{Receiver, Sender};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::thread::JoinHandle;

/// Samples per batch handed to a worker.
const BATCH: usize = 4096;

/// Batches in flight per worker before the decoding thread waits.
const QUEUE: usize = 8;

/// How many samples ahead a shard prefetches a series' state.
const PREFETCH_STATE: usize = 16;

/// How many samples ahead a shard prefetches the bytes of a series' open chunk.
const PREFETCH_BYTES: usize = 8;

/// The slot of a sample whose series is not in the shard.
const NO_SLOT: usize = usize::MAX;

/// What a replay did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReplayCounts {
    /// Samples read.
    pub(crate) samples: u64,
    /// Samples whose series record was never seen (dropped).
    pub(crate) unknown_refs: u64,
    /// Exemplars read.
    pub(crate) exemplars: u64,
}

/// Replay state: WAL references mapped to head references (they differ when a series was
/// logged twice under different references), and the shards applying samples.
pub(crate) struct Replayer {
    head: Arc<Head>,
    refs: RefMap<u64>,
    /// Samples before this are already persisted in blocks.
    min_valid: i64,
    counts: ReplayCounts,
    shards: Shards,
    /// Whether the head held series (from a snapshot) before the replay. Those are handed to
    /// the shards when the WAL first names them, not all up front: the WAL after a snapshot
    /// is usually short (registering 100k series took a tenth of such a restart).
    existing: bool,
    /// Head references handed to the shards, when `existing`.
    in_shards: RefMap<()>,
}

enum Shards {
    /// Applied on the calling thread.
    Inline(Box<Shard>),
    /// Applied by worker threads.
    Threads(Workers),
}

impl Replayer {
    /// A replayer for `head` applying samples on `workers` threads; 0 or 1 applies them on
    /// the thread that calls [`Replayer::apply`].
    pub(crate) fn new(head: Arc<Head>, workers: usize) -> Replayer {
        let min_valid = head.min_valid_time.load(Relaxed);
        let threads = if workers > 1 { Workers::spawn(&head, min_valid, workers) } else { None };
        let shards = match threads {
            Some(w) => Shards::Threads(w),
            None => Shards::Inline(Box::new(Shard::new(head.clone(), min_valid))),
        };
        let existing = head.num_series() > 0;
        Replayer {
            head,
            refs: RefMap::default(),
            min_valid,
            counts: ReplayCounts::default(),
            shards,
            existing,
            in_shards: RefMap::default(),
        }
    }

    /// Hands a series to the shards, once.
    fn add_to_shard(&mut self, ms: Arc<MemSeries>) {
        if self.existing {
            if self.in_shards.get(ms.series_ref).is_some() {
                return;
            }
            self.in_shards.insert(ms.series_ref, ());
        }
        match &mut self.shards {
            Shards::Inline(shard) => shard.add_series(ms),
            Shards::Threads(w) => w.add_series(ms),
        }
    }

    /// The head reference for WAL reference `wal_ref`: from a replayed series record, or a
    /// series already in the head (restored from a snapshot, referenced under its own
    /// reference by the WAL that follows).
    fn resolve(&mut self, wal_ref: u64) -> Option<u64> {
        if let Some(&r) = self.refs.get(wal_ref) {
            return Some(r);
        }
        if !self.existing {
            return None;
        }
        let ms = self.head.series_by_ref(wal_ref)?;
        self.refs.insert(wal_ref, wal_ref);
        self.add_to_shard(ms);
        Some(wal_ref)
    }

    /// The number of worker threads to use: one per available CPU.
    pub(crate) fn default_workers() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// The head series a WAL reference stands for, if its series record was replayed.
    #[allow(dead_code)] // For record types that carry series references (exemplars).
    pub(crate) fn series(&self, wal_ref: u64) -> Option<Arc<MemSeries>> {
        match self.refs.get(wal_ref) {
            Some(&r) => self.head.series_by_ref(r),
            None if self.existing => self.head.series_by_ref(wal_ref),
            None => None,
        }
    }

    /// Applies one WAL record. Samples older than the head's persisted time are skipped
    /// (they are already in blocks) unless out-of-order ingestion is on.
    pub(crate) fn apply(&mut self, rec: Record) {
        match rec {
            Record::Series(series) => {
                for s in series {
                    let hash = s.labels.stable_hash();
                    let (ms, created) = self.head.create(hash, &s.labels, Some(s.series_ref));
                    self.refs.insert(s.series_ref, ms.series_ref);
                    // A series restored from the snapshot may not be in the shards yet.
                    if created || self.existing {
                        self.add_to_shard(ms);
                    }
                }
            }
            Record::Samples(mut samples) => {
                let keep_old = self.head.opts.ooo_window > 0;
                if self.existing {
                    for s in &samples {
                        self.resolve(s.series_ref);
                    }
                }
                let before = samples.len();
                let (min_valid, refs, counts) = (self.min_valid, &self.refs, &mut self.counts);
                counts.samples += before as u64;
                samples.retain_mut(|s| {
                    // Below persisted time a sample is only kept as out-of-order data.
                    if s.t < min_valid && !keep_old {
                        return false;
                    }
                    match refs.get(s.series_ref) {
                        Some(&r) => {
                            s.series_ref = r;
                            true
                        }
                        None => {
                            counts.unknown_refs += 1;
                            false
                        }
                    }
                });
                match &mut self.shards {
                    Shards::Inline(shard) => shard.apply(&samples),
                    Shards::Threads(w) => w.route(&samples),
                }
            }
            Record::Tombstones(stones) => {
                let resolved: Vec<_> = stones
                    .into_iter()
                    .filter_map(|st| Some((self.resolve(st.series_ref)?, st.mint, st.maxt)))
                    .collect();
                let mut ts = self.head.tombstones.write();
                for (r, mint, maxt) in resolved {
                    ts.add(r, mint, maxt);
                }
            }
            Record::Exemplars(exemplars) => {
                self.counts.exemplars += exemplars.len() as u64;
                if !self.head.exemplars_enabled() {
                    return;
                }
                // Exemplars live in their own store keyed by series labels, so they are
                // added here, on the decoding thread, independently of the sample shards.
                let batch: Vec<_> = {
                    let syms = self.head.symbols.read();
                    exemplars
                        .into_iter()
                        .filter(|e| e.t >= self.min_valid)
                        .filter_map(|e| {
                            let series = self.series(e.series_ref)?;
                            let ex = Exemplar { labels: e.labels, value: e.v, ts: e.t, has_ts: true };
                            Some((series.labels(&syms), ex))
                        })
                        .collect()
                };
                // As Prometheus, replay adds through the normal path: out-of-order ones
                // (not expected in a WAL the head wrote) are skipped.
                self.head.exemplars.add_batch(batch);
            }
            Record::Unknown(_) => {}
        }
    }

    /// Waits for the shards to apply everything and puts the samples back into their series.
    ///
    /// Panics if a worker thread panicked (a bug: workers only handle decoded records).
    pub(crate) fn finish(self) -> ReplayCounts {
        let Replayer { counts, shards, .. } = self;
        match shards {
            Shards::Inline(shard) => shard.finish(),
            Shards::Threads(mut w) => {
                if let Err(panic) = w.shutdown() {
                    std::panic::resume_unwind(panic);
                }
            }
        }
        counts
    }
}

/// The series one thread applies samples to, with their samples taken out of the series.
struct Shard {
    head: Arc<Head>,
    /// Head reference → index into `series` and `data`.
    slots: RefMap<u32>,
    series: Vec<Arc<MemSeries>>,
    data: Vec<SeriesData>,
    /// The slot of each sample of the batch being applied (reused).
    slot_of: Vec<usize>,
    min_valid: i64,
    mint: i64,
    maxt: i64,
}

impl Shard {
    fn new(head: Arc<Head>, min_valid: i64) -> Shard {
        Shard {
            head,
            slots: RefMap::default(),
            series: Vec::new(),
            data: Vec::new(),
            slot_of: Vec::new(),
            min_valid,
            mint: i64::MAX,
            maxt: i64::MIN,
        }
    }

    fn add_series(&mut self, ms: Arc<MemSeries>) {
        if self.slots.get(ms.series_ref).is_some() {
            return;
        }
        let Ok(i) = u32::try_from(self.series.len()) else {
            // More than 4 billion series: leave the rest on the locked path.
            return;
        };
        self.data.push(std::mem::take(&mut *ms.data.lock()));
        self.slots.insert(ms.series_ref, i);
        self.series.push(ms);
    }

    /// Applies samples whose references are head references of this shard's series.
    ///
    /// Consecutive samples belong to different series, so each one's memory is cold. The
    /// loop prefetches it ahead of use: a series' state [`PREFETCH_STATE`] samples ahead, and
    /// its open chunk's bytes (whose address is in that state) [`PREFETCH_BYTES`] ahead.
    fn apply(&mut self, samples: &[RefSample]) {
        let Shard { head, slots, data, slot_of, min_valid, mint, maxt, .. } = self;
        let head = &**head;
        // Independent lookups first, which the CPU overlaps.
        slot_of.clear();
        slot_of.extend(samples.iter().map(|s| slots.get(s.series_ref).map_or(NO_SLOT, |&i| i as usize)));
        for (i, s) in samples.iter().enumerate() {
            if let Some(d) = slot_of.get(i + PREFETCH_STATE).and_then(|&j| data.get(j)) {
                let p: *const SeriesData = d;
                prefetch(p);
                prefetch(p.wrapping_byte_add(64));
            }
            if let Some(c) = slot_of.get(i + PREFETCH_BYTES).and_then(|&j| data.get(j)).and_then(|d| d.open.as_ref()) {
                let b = c.bytes();
                prefetch(b.as_ptr());
                if let Some(last) = b.last() {
                    prefetch(last);
                }
            }
            let ooo = s.t < *min_valid;
            let applied = match slot_of.get(i).and_then(|&j| data.get_mut(j)) {
                Some(d) => head.apply_to(d, s.t, s.v, ooo),
                None => head.series_by_ref(s.series_ref).is_some_and(|ms| head.apply(&ms, s.t, s.v, ooo)),
            };
            if applied {
                *mint = (*mint).min(s.t);
                *maxt = (*maxt).max(s.t);
            }
        }
    }

    /// Puts the samples back into their series and records the time range applied.
    fn finish(self) {
        for (ms, d) in self.series.iter().zip(self.data) {
            *ms.data.lock() = d;
        }
        if self.mint <= self.maxt {
            self.head.update_time_bounds(self.mint, self.maxt);
        }
    }
}

/// New series and samples for one worker, applied in that order.
#[derive(Default)]
struct Batch {
    series: Vec<Arc<MemSeries>>,
    samples: Vec<RefSample>,
}

/// Worker threads, each owning the series whose head reference is its index modulo the
/// number of workers.
struct Workers {
    senders: Vec<Sender<Batch>>,
    /// Batches being filled, one per worker.
    pending: Vec<Batch>,
    /// Emptied batches coming back for reuse.
    spare: Receiver<Batch>,
    handles: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `n` workers (fewer if threads cannot be started; `None` if none could).
    fn spawn(head: &Arc<Head>, min_valid: i64, n: usize) -> Option<Workers> {
        let (spare_tx, spare) = crossbeam_channel::unbounded();
        let mut senders = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, rx) = crossbeam_channel::bounded::<Batch>(QUEUE);
            let mut shard = Shard::new(head.clone(), min_valid);
            let spare_tx = spare_tx.clone();
            let spawned = std::thread::Builder::new().name(format!("wal-replay-{i}")).spawn(move || {
                for mut batch in rx {
                    for ms in batch.series.drain(..) {
                        shard.add_series(ms);
                    }
                    shard.apply(&batch.samples);
                    batch.samples.clear();
                    // The decoding thread may be gone already; then the batch is just freed.
                    let _ = spare_tx.send(batch);
                }
                shard.finish();
            });
            match spawned {
                Ok(h) => {
                    senders.push(tx);
                    handles.push(h);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "starting a WAL replay thread failed; replaying on fewer");
                    break;
                }
            }
        }
        if senders.is_empty() {
            return None;
        }
        let pending = senders.iter().map(|_| Batch::default()).collect();
        Some(Workers { senders, pending, spare, handles })
    }

    fn worker(&self, head_ref: u64) -> usize {
        (head_ref % self.senders.len().max(1) as u64) as usize
    }

    fn add_series(&mut self, ms: Arc<MemSeries>) {
        let w = self.worker(ms.series_ref);
        if let Some(b) = self.pending.get_mut(w) {
            b.series.push(ms);
        }
    }

    fn route(&mut self, samples: &[RefSample]) {
        for s in samples {
            let w = self.worker(s.series_ref);
            let Some(b) = self.pending.get_mut(w) else { continue };
            b.samples.push(*s);
            if b.samples.len() >= BATCH {
                self.flush(w);
            }
        }
    }

    /// Sends worker `w`'s pending batch, taking an emptied one in its place.
    fn flush(&mut self, w: usize) {
        let fresh =
            self.spare.try_recv().unwrap_or_else(|_| Batch { series: Vec::new(), samples: Vec::with_capacity(BATCH) });
        let (Some(b), Some(tx)) = (self.pending.get_mut(w), self.senders.get(w)) else { return };
        let full = std::mem::replace(b, fresh);
        // A worker that is gone has panicked; `shutdown` reports it.
        let _ = tx.send(full);
    }

    /// Sends what is pending, closes the queues and waits for the workers to finish.
    fn shutdown(&mut self) -> std::thread::Result<()> {
        for w in 0..self.pending.len() {
            if self.pending.get(w).is_some_and(|b| !b.samples.is_empty() || !b.series.is_empty()) {
                self.flush(w);
            }
        }
        self.senders.clear();
        let mut result = Ok(());
        for h in self.handles.drain(..) {
            if let Err(e) = h.join() {
                result = Err(e);
            }
        }
        result
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // Replay ended early (an error): still put every series' samples back.
        let _ = self.shutdown();
    }
}

#[cfg(test)]
mod tests;
