//! In-memory exemplar storage, as Prometheus's `--enable-feature=exemplar-storage`: one ring
//! buffer of `max_exemplars` entries shared by all series, newest overwriting oldest.
//!
//! Principal types: [`Exemplar`] (labels, value, timestamp), [`ExemplarStorage`] (the ring
//! and its per-series index), [`ExemplarSeries`] (a query result) and [`ExemplarError`].
//!
//! Every series with exemplars in the ring has an index entry pointing at its oldest and
//! newest entry; each entry links to the next-newer entry of its series. Appending
//! overwrites the ring's oldest slot, moving (or dropping) the index entry of the series
//! that slot belonged to. The rules are Prometheus 2.42's (`tsdb/exemplar.go`):
//!
//! - an exemplar equal to the newest one of its series (labels, value, timestamp) is a
//!   duplicate and silently skipped;
//! - an exemplar not newer than the newest one of its series is out of order;
//! - the exemplar's label names and values together may have at most 128 UTF-8 characters.
//!
//! All of it sits behind one mutex, taken once per committed batch and once per query.

use crate::model::{Labels, Matcher};
use crate::tsdb::metrics::Metrics;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The most UTF-8 characters an exemplar's label names and values may have together
/// (OpenMetrics's limit, Prometheus's `ExemplarMaxLabelSetLength`).
pub const MAX_LABEL_SET_LENGTH: usize = 128;

/// The default ring size (`storage.exemplars.max_exemplars`).
pub const DEFAULT_MAX_EXEMPLARS: i64 = 100_000;

/// Marks the end of a series' chain in the ring.
const NONE: u32 = u32::MAX;

/// One exemplar: a sample of a trace or request that illustrates a series' value.
#[derive(Clone, Debug, Default)]
pub struct Exemplar {
    /// The exemplar's own labels (e.g. `trace_id`).
    pub labels: Labels,
    /// Its value.
    pub value: f64,
    /// Its timestamp (ms).
    pub ts: i64,
    /// Whether the timestamp came with the exemplar (rather than from the scrape).
    pub has_ts: bool,
}

impl Exemplar {
    /// Prometheus's `Exemplar.Equals`: same labels, timestamp and value (`has_ts` ignored;
    /// NaN values are never equal).
    pub fn same_as(&self, other: &Exemplar) -> bool {
        self.ts == other.ts && self.value == other.value && self.labels == other.labels
    }
}

impl PartialEq for Exemplar {
    fn eq(&self, other: &Self) -> bool {
        self.same_as(other)
    }
}

/// Why an exemplar was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExemplarError {
    /// The exemplar is not newer than the newest one stored for its series.
    #[error("out of order exemplar")]
    OutOfOrder,
    /// The exemplar's labels are too long.
    #[error("exemplar label length exceeds maximum of 128 UTF-8 characters")]
    LabelLength,
    /// The storage is off (feature disabled or `max_exemplars` 0).
    #[error("exemplar storage is disabled or max exemplars is less than or equal to 0")]
    Disabled,
    /// The series reference is unknown to the head.
    #[error("unknown HeadSeriesRef when trying to add exemplar: {0}")]
    UnknownRef(u64),
}

/// The exemplars of one series, oldest first (a query result).
#[derive(Clone, Debug, PartialEq)]
pub struct ExemplarSeries {
    /// The series' labels.
    pub series_labels: Labels,
    /// Its exemplars in the queried range, oldest first.
    pub exemplars: Vec<Exemplar>,
}

/// One ring slot.
struct Entry {
    ex: Exemplar,
    /// The next-newer entry of the same series, or [`NONE`].
    next: u32,
    /// The series' slot in [`Ring::series`].
    series: u32,
}

/// Where a series' exemplars are in the ring.
struct SeriesEntry {
    labels: Arc<Labels>,
    oldest: u32,
    newest: u32,
}

/// The ring and its index. Entries are pushed until the ring is full, then overwritten.
#[derive(Default)]
struct Ring {
    cap: usize,
    entries: Vec<Entry>,
    /// The slot the next exemplar goes to.
    next: usize,
    /// Series slots; freed ones are listed in `free`.
    series: Vec<Option<SeriesEntry>>,
    free: Vec<u32>,
    index: FastMap<Arc<Labels>, u32>,
}

impl Ring {
    fn with_capacity(cap: usize) -> Ring {
        Ring { cap, ..Ring::default() }
    }

    fn series_of(&self, labels: &Labels) -> Option<&SeriesEntry> {
        let slot = *self.index.get(labels)?;
        self.series.get(slot as usize)?.as_ref()
    }

    /// Checks `ex` against the newest exemplar of `labels`: `Ok(false)` for a duplicate.
    fn validate(&self, labels: &Labels, ex: &Exemplar) -> Result<bool, ExemplarError> {
        if self.cap == 0 {
            return Err(ExemplarError::Disabled);
        }
        let Some(newest) = self.series_of(labels).and_then(|s| self.entries.get(s.newest as usize)) else {
            return Ok(true);
        };
        if newest.ex.same_as(ex) {
            return Ok(false);
        }
        if ex.ts <= newest.ex.ts {
            return Err(ExemplarError::OutOfOrder);
        }
        Ok(true)
    }

    /// Stores `ex` for `labels` without validation.
    fn push(&mut self, labels: Labels, ex: Exemplar) {
        let pos = self.next;
        if pos < self.entries.len() {
            self.evict(pos);
        }
        let slot = match self.index.get(&labels) {
            Some(&slot) => {
                if let Some(Some(s)) = self.series.get_mut(slot as usize) {
                    let prev_newest = s.newest as usize;
                    s.newest = pos as u32;
                    if let Some(e) = self.entries.get_mut(prev_newest) {
                        e.next = pos as u32;
                    }
                }
                slot
            }
            None => {
                let labels = Arc::new(labels);
                let entry = SeriesEntry { labels: labels.clone(), oldest: pos as u32, newest: pos as u32 };
                let slot = match self.free.pop() {
                    Some(slot) => {
                        if let Some(s) = self.series.get_mut(slot as usize) {
                            *s = Some(entry);
                        }
                        slot
                    }
                    None => {
                        self.series.push(Some(entry));
                        (self.series.len() - 1) as u32
                    }
                };
                self.index.insert(labels, slot);
                slot
            }
        };
        let entry = Entry { ex, next: NONE, series: slot };
        if pos < self.entries.len() {
            self.entries[pos] = entry;
        } else {
            self.entries.push(entry);
        }
        self.next = (pos + 1) % self.cap.max(1);
    }

    /// Unlinks the entry at `pos` (about to be overwritten) from its series.
    fn evict(&mut self, pos: usize) {
        let Some(old) = self.entries.get(pos) else { return };
        let (next, slot) = (old.next, old.series as usize);
        let Some(s) = self.series.get_mut(slot) else { return };
        if next == NONE {
            if let Some(gone) = s.take() {
                self.index.remove(&gone.labels);
                self.free.push(slot as u32);
            }
        } else if let Some(s) = s {
            s.oldest = next;
        }
    }

    /// Entries from oldest to newest.
    fn in_order(&self) -> impl Iterator<Item = &Entry> {
        let split = if self.entries.len() == self.cap { self.next } else { 0 };
        self.entries[split..].iter().chain(self.entries[..split].iter())
    }

    fn labels_of(&self, e: &Entry) -> Option<&Arc<Labels>> {
        self.series.get(e.series as usize)?.as_ref().map(|s| &s.labels)
    }

    /// The oldest exemplar's timestamp.
    fn oldest_ts(&self) -> Option<i64> {
        self.in_order().next().map(|e| e.ex.ts)
    }
}

/// The circular exemplar storage of a head. See the module docs.
pub struct ExemplarStorage {
    ring: Mutex<Ring>,
    metrics: Arc<Metrics>,
}

impl ExemplarStorage {
    /// A storage of `max` exemplars (0 stores nothing, negative counts as 0).
    pub fn new(max: i64, metrics: Arc<Metrics>) -> ExemplarStorage {
        let cap = clamp_cap(max);
        let s = ExemplarStorage { ring: Mutex::new(Ring::with_capacity(cap)), metrics };
        s.update_metrics(&s.ring.lock());
        s
    }

    /// The ring size.
    pub fn max_exemplars(&self) -> usize {
        self.ring.lock().cap
    }

    /// Whether exemplars are stored at all (`max_exemplars` > 0).
    pub fn is_enabled(&self) -> bool {
        self.ring.lock().cap > 0
    }

    /// Checks `ex` for the series `labels` without storing it: `Ok(false)` for a duplicate
    /// (to skip silently), errors for invalid labels, out of order, or a disabled storage.
    pub fn validate(&self, labels: &Labels, ex: &Exemplar) -> Result<bool, ExemplarError> {
        check_label_length(&ex.labels)?;
        self.ring.lock().validate(labels, ex)
    }

    /// Stores one exemplar for the series `labels`: `Ok(false)` when it duplicates the
    /// newest of its series.
    pub fn add(&self, labels: Labels, ex: Exemplar) -> Result<bool, ExemplarError> {
        let mut ring = self.ring.lock();
        let r = self.add_locked(&mut ring, labels, ex);
        self.update_metrics(&ring);
        r
    }

    /// Stores a batch under one lock; returns how many were stored. Duplicates are skipped
    /// silently, out-of-order ones skipped and counted.
    pub fn add_batch(&self, items: impl IntoIterator<Item = (Labels, Exemplar)>) -> usize {
        let mut ring = self.ring.lock();
        let mut n = 0;
        for (labels, ex) in items {
            if let Ok(true) = self.add_locked(&mut ring, labels, ex) {
                n += 1;
            }
        }
        self.update_metrics(&ring);
        n
    }

    fn add_locked(&self, ring: &mut Ring, labels: Labels, ex: Exemplar) -> Result<bool, ExemplarError> {
        check_label_length(&ex.labels)?;
        match ring.validate(&labels, &ex) {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) => {
                if e == ExemplarError::OutOfOrder {
                    self.metrics.exemplars_out_of_order.fetch_add(1, Relaxed);
                }
                return Err(e);
            }
        }
        ring.push(labels, ex);
        self.metrics.exemplars_appended.fetch_add(1, Relaxed);
        Ok(true)
    }

    /// The exemplars in `[mint, maxt]` (ms, inclusive) of the series matching any of the
    /// matcher sets, sorted by series labels, each series' exemplars oldest first.
    pub fn select(&self, mint: i64, maxt: i64, matcher_sets: &[Vec<Matcher>]) -> Vec<ExemplarSeries> {
        let ring = self.ring.lock();
        let mut out = Vec::new();
        for s in ring.series.iter().flatten() {
            let (Some(oldest), Some(newest)) =
                (ring.entries.get(s.oldest as usize), ring.entries.get(s.newest as usize))
            else {
                continue;
            };
            if oldest.ex.ts > maxt || newest.ex.ts < mint {
                continue;
            }
            if !matcher_sets.iter().any(|set| set.iter().all(|m| m.matches(s.labels.get(&m.name).unwrap_or("")))) {
                continue;
            }
            let mut exemplars = Vec::new();
            let mut at = s.oldest;
            // A chain visits each ring slot at most once; the bound guards against a bug
            // turning into an endless loop under the lock.
            for _ in 0..ring.entries.len() {
                let Some(e) = ring.entries.get(at as usize) else { break };
                if e.ex.ts > maxt {
                    break;
                }
                if e.ex.ts >= mint {
                    exemplars.push(e.ex.clone());
                }
                if e.next == NONE {
                    break;
                }
                at = e.next;
            }
            if !exemplars.is_empty() {
                out.push(ExemplarSeries { series_labels: (*s.labels).clone(), exemplars });
            }
        }
        drop(ring);
        out.sort_by(|a, b| a.series_labels.cmp(&b.series_labels));
        out
    }

    /// Changes the ring size to `max`, keeping the newest exemplars that fit; returns how
    /// many were kept.
    pub fn resize(&self, max: i64) -> usize {
        let cap = clamp_cap(max);
        let mut ring = self.ring.lock();
        if cap == ring.cap {
            return ring.entries.len();
        }
        let old = std::mem::take(&mut *ring);
        let mut new = Ring::with_capacity(cap);
        let count = old.entries.len().min(cap);
        let skip = old.entries.len() - count;
        for e in old.in_order().skip(skip) {
            if let Some(labels) = old.labels_of(e) {
                new.push((**labels).clone(), e.ex.clone());
            }
        }
        *ring = new;
        self.update_metrics(&ring);
        count
    }

    /// Number of exemplars stored.
    pub fn len(&self) -> usize {
        self.ring.lock().entries.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn update_metrics(&self, ring: &Ring) {
        let m = &self.metrics;
        m.exemplars_in_storage.store(ring.entries.len() as i64, Relaxed);
        m.series_with_exemplars.store(ring.index.len() as i64, Relaxed);
        m.max_exemplars.store(ring.cap as i64, Relaxed);
        m.last_exemplars_ts_ms.store(ring.oldest_ts().unwrap_or(0), Relaxed);
    }
}

/// The ring size for a configured `max` (negative is 0; indices are `u32`).
fn clamp_cap(max: i64) -> usize {
    max.clamp(0, i64::from(NONE - 1)) as usize
}

/// Refuses exemplar label sets longer than [`MAX_LABEL_SET_LENGTH`] characters.
pub fn check_label_length(labels: &Labels) -> Result<(), ExemplarError> {
    let mut n = 0usize;
    for l in labels.iter() {
        n += l.name.chars().count() + l.value.chars().count();
        if n > MAX_LABEL_SET_LENGTH {
            return Err(ExemplarError::LabelLength);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
