//! Appending: validate, buffer, then log to the WAL and apply on commit.

use super::{FastMap, Head, MemSeries};
use crate::model::{Labels, LabelsError};
use crate::tsdb::error::{AppendError, Error, Result};
use crate::tsdb::exemplar::{Exemplar, ExemplarError};
use crate::tsdb::wal::Wal;
use crate::tsdb::wal::record::{self, RefExemplar, RefSample, RefSeries};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

/// A sample waiting for commit.
struct Pending {
    series: Arc<MemSeries>,
    t: i64,
    v: f64,
    ooo: bool,
}

/// An exemplar waiting for commit, with its series' labels (the exemplar storage's key).
struct PendingExemplar {
    series: Arc<MemSeries>,
    labels: Labels,
    ex: Exemplar,
}

/// A batch of appends, made durable and visible together by [`Appender::commit`].
///
/// Dropping an appender without committing rolls it back. Appenders are cheap; reuse one
/// across batches to keep its buffers.
pub struct Appender {
    head: Arc<Head>,
    wal: Arc<Mutex<Wal>>,
    pending: Vec<Pending>,
    /// The newest pending sample per series in this batch, for validation.
    last_pending: FastMap<u64, (i64, u64)>,
    series_buf: Vec<RefSeries>,
    samples_buf: Vec<RefSample>,
    enc_series: Vec<u8>,
    enc_samples: Vec<u8>,
    exemplars: Vec<PendingExemplar>,
    exemplars_buf: Vec<RefExemplar>,
    enc_exemplars: Vec<u8>,
}

impl Appender {
    pub(crate) fn new(head: Arc<Head>, wal: Arc<Mutex<Wal>>) -> Self {
        Appender {
            head,
            wal,
            pending: Vec::new(),
            last_pending: FastMap::default(),
            series_buf: Vec::new(),
            samples_buf: Vec::new(),
            enc_series: Vec::new(),
            enc_samples: Vec::new(),
            exemplars: Vec::new(),
            exemplars_buf: Vec::new(),
            enc_exemplars: Vec::new(),
        }
    }

    /// Whether exemplars are stored (callers can skip building them when not).
    pub fn exemplars_enabled(&self) -> bool {
        self.head.exemplars_enabled()
    }

    /// Adds an exemplar to the series `series_ref` (a reference returned by
    /// [`Appender::append`]), stored and logged on commit together with the samples.
    ///
    /// As Prometheus's head appender: with exemplar storage off, or for an exemplar equal to
    /// the newest stored one of its series, nothing happens and `Ok` is returned; an exemplar
    /// not newer than the newest stored one is [`ExemplarError::OutOfOrder`]; labels over
    /// 128 characters are [`ExemplarError::LabelLength`]. Validation is against the storage,
    /// not against other exemplars pending in this batch: those that turn out out of order
    /// at commit are skipped there and counted.
    pub fn append_exemplar(&mut self, series_ref: u64, ex: &Exemplar) -> Result<u64, ExemplarError> {
        if !self.head.exemplars_enabled() {
            return Ok(series_ref);
        }
        let Some(series) = self.head.series_by_ref(series_ref) else {
            return Err(ExemplarError::UnknownRef(series_ref));
        };
        let labels = series.labels(&self.head.symbols.read());
        match self.head.exemplars.validate(&labels, ex) {
            Ok(true) => {}
            Ok(false) | Err(ExemplarError::Disabled) => return Ok(series_ref),
            Err(e) => return Err(e),
        }
        self.exemplars.push(PendingExemplar { series, labels, ex: ex.clone() });
        Ok(series_ref)
    }

    /// The reference of the head series `labels`, if it exists (for exemplars of a series
    /// whose samples were all refused, or that came without samples).
    pub fn series_ref(&self, labels: &Labels) -> Option<u64> {
        self.head.find(labels.stable_hash(), labels).map(|s| s.series_ref)
    }

    /// Number of exemplars waiting for commit.
    pub fn pending_exemplars(&self) -> usize {
        self.exemplars.len()
    }

    /// Adds a sample for the series `labels`, creating the series if needed, and returns its
    /// reference for [`Appender::append_ref`].
    ///
    /// Refusals are typed and counted: invalid labels, out of bounds, out of order, duplicate
    /// timestamp with another value. The same timestamp with the same value is accepted and
    /// dropped, as Prometheus does.
    pub fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<u64, AppendError> {
        let r = self.append_inner(labels, t, v);
        if let Err(e) = &r {
            self.head.metrics.count_rejection(e);
        }
        r
    }

    fn append_inner(&mut self, labels: &Labels, t: i64, v: f64) -> Result<u64, AppendError> {
        if labels.is_empty() {
            return Err(LabelsError::Empty.into());
        }
        // `Labels` is valid by construction, but `from_sorted_unchecked` exists: re-check the
        // invariant that the head relies on.
        for w in labels.as_slice().windows(2) {
            if w[0].name == w[1].name {
                return Err(LabelsError::DuplicateName(w[0].name.clone()).into());
            }
        }
        if labels.iter().any(|l| l.name.is_empty()) {
            return Err(LabelsError::EmptyName.into());
        }
        let (series, _) = self.head.get_or_create(labels);
        self.add(series, t, v)
    }

    /// Adds a sample for the existing series with exactly these label pairs (sorted by name,
    /// unique, names and values non-empty, as a valid `Labels` holds them) without building its
    /// label set; `None` when there is no such series (then [`Appender::append`] creates it).
    pub fn append_existing(&mut self, pairs: &[(&str, &str)], t: i64, v: f64) -> Option<Result<u64, AppendError>> {
        let series = self.head.find_pairs(pairs)?;
        let r = self.add(series, t, v);
        if let Err(e) = &r {
            self.head.metrics.count_rejection(e);
        }
        Some(r)
    }

    /// Adds a sample by series reference: the fast path for callers that cached the reference
    /// returned by [`Appender::append`].
    pub fn append_ref(&mut self, series_ref: u64, t: i64, v: f64) -> Result<u64, AppendError> {
        let r = match self.head.series_by_ref(series_ref) {
            Some(s) => self.add(s, t, v),
            None => Err(AppendError::UnknownRef(series_ref)),
        };
        if let Err(e) = &r {
            self.head.metrics.count_rejection(e);
        }
        r
    }

    fn add(&mut self, series: Arc<MemSeries>, t: i64, v: f64) -> Result<u64, AppendError> {
        let r = series.series_ref;
        let head = &self.head;
        let window = head.options().ooo_window;
        let max_t = head.max_time();
        let ooo_ok = window > 0 && max_t != i64::MIN && t >= max_t.saturating_sub(window);
        let last = match self.last_pending.get(&r) {
            Some(&(lt, lv)) => Some((lt, lv)),
            None => series.data.lock().last().map(|(lt, lv)| (lt, lv.to_bits())),
        };
        let mut ooo = false;
        if t < head.min_valid_time() {
            if !ooo_ok {
                return Err(if window > 0 { AppendError::TooOld } else { AppendError::OutOfBounds });
            }
            ooo = true;
        }
        if let Some((lt, lv)) = last {
            if t == lt {
                if lv == v.to_bits() {
                    return Ok(r);
                }
                return Err(AppendError::DuplicateTimestamp);
            }
            if t < lt {
                if !ooo_ok {
                    // With a window configured, Prometheus calls a sample beyond it too old.
                    return Err(if window > 0 { AppendError::TooOld } else { AppendError::OutOfOrder });
                }
                ooo = true;
            }
        }
        if !ooo {
            self.last_pending.insert(r, (t, v.to_bits()));
        }
        self.pending.push(Pending { series, t, v, ooo });
        Ok(r)
    }

    /// Number of samples waiting for commit.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing waits for commit.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Writes the batch to the WAL (handed to the OS before this returns, so it survives the
    /// process being killed), then applies it to the head, where queries see all of it at
    /// once. On error nothing of the batch is applied.
    pub fn commit(&mut self) -> Result<()> {
        if self.pending.is_empty() && self.exemplars.is_empty() {
            return Ok(());
        }
        let head = self.head.clone();
        self.series_buf.clear();
        self.samples_buf.clear();
        self.exemplars_buf.clear();
        let mut newly_logged: Vec<&MemSeries> = Vec::new();
        {
            let syms = head.symbols.read();
            for p in &self.pending {
                if !p.series.wal_logged.swap(true, Relaxed) {
                    self.series_buf.push(RefSeries { series_ref: p.series.series_ref, labels: p.series.labels(&syms) });
                    newly_logged.push(&p.series);
                }
                self.samples_buf.push(RefSample { series_ref: p.series.series_ref, t: p.t, v: p.v });
            }
            for e in &self.exemplars {
                // A series whose samples were all refused may not be in the WAL yet.
                if !e.series.wal_logged.swap(true, Relaxed) {
                    self.series_buf.push(RefSeries { series_ref: e.series.series_ref, labels: e.labels.clone() });
                    newly_logged.push(&e.series);
                }
                self.exemplars_buf.push(RefExemplar {
                    series_ref: e.series.series_ref,
                    t: e.ex.ts,
                    v: e.ex.value,
                    labels: e.ex.labels.clone(),
                });
            }
        }
        self.enc_series.clear();
        self.enc_samples.clear();
        self.enc_exemplars.clear();
        if !self.series_buf.is_empty() {
            record::encode_series(&self.series_buf, &mut self.enc_series);
        }
        if !self.samples_buf.is_empty() {
            record::encode_samples(&self.samples_buf, &mut self.enc_samples);
        }
        if !self.exemplars_buf.is_empty() {
            record::encode_exemplars(&self.exemplars_buf, &mut self.enc_exemplars);
        }
        let mut wal = self.wal.lock();
        let logged = {
            let mut recs: [&[u8]; 3] = [&[]; 3];
            let mut n = 0;
            for r in [&self.enc_series, &self.enc_samples, &self.enc_exemplars] {
                if !r.is_empty() {
                    recs[n] = r;
                    n += 1;
                }
            }
            wal.log(&recs[..n])
        };
        if let Err(e) = logged {
            for s in newly_logged {
                s.wal_logged.store(false, Relaxed);
            }
            drop(wal);
            self.rollback();
            return Err(Error::Wal(e));
        }
        drop(newly_logged);
        let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
        let mut applied = 0u64;
        {
            // Applying under the WAL lock keeps the head in WAL order, so replay rebuilds the
            // same state; the isolation lock makes the batch visible at once.
            let _iso = head.isolation.write();
            for p in &self.pending {
                if head.apply(&p.series, p.t, p.v, p.ooo) {
                    applied += 1;
                    mint = mint.min(p.t);
                    maxt = maxt.max(p.t);
                }
            }
            if applied > 0 {
                head.update_time_bounds(mint, maxt);
            }
        }
        if !self.exemplars.is_empty() {
            // Out-of-order ones (two in this batch for one series, or a concurrent commit)
            // are skipped and counted by the storage, as Prometheus does.
            head.exemplars.add_batch(self.exemplars.drain(..).map(|e| (e.labels, e.ex)));
        }
        drop(wal);
        head.metrics.head_samples_appended.fetch_add(applied, Relaxed);
        self.pending.clear();
        self.last_pending.clear();
        self.exemplars.clear();
        self.release_series_buffers();
        Ok(())
    }

    /// Drops the series records' labels and frees the series-record buffers when a batch made
    /// them large. New series come in
    /// bursts (a target's first scrape, a new remote-write sender) while appenders live long
    /// (one per scrape target): kept, these buffers held about 110 KB per target, 11 MB of
    /// the heap at 100 targets (heaptrack, issue 7 note).
    fn release_series_buffers(&mut self) {
        const KEEP_BYTES: usize = 16 << 10;
        // Their labels are owned copies; nothing reads them after the WAL write.
        self.series_buf.clear();
        self.exemplars_buf.clear();
        if self.enc_series.capacity() > KEEP_BYTES {
            self.enc_series = Vec::new();
        }
        if self.series_buf.capacity() * std::mem::size_of::<RefSeries>() > KEEP_BYTES {
            self.series_buf = Vec::new();
        }
    }

    /// Discards the batch.
    pub fn rollback(&mut self) {
        self.pending.clear();
        self.last_pending.clear();
        self.exemplars.clear();
    }
}
