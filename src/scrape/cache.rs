//! The per-target scrape cache: raw series text → storage reference and final labels, the
//! series dropped by metric relabeling, the series seen in this and the previous scrape (for
//! staleness markers), and the target's metadata.
//!
//! A steady scrape finds every line in the cache by its raw bytes and appends by reference:
//! no labels are parsed, relabeled or allocated.

use super::target::{MetaEntry, MetadataStore};
use crate::model::Labels;
use std::collections::HashMap;
use std::sync::Arc;

/// Hash map with a fast, seeded hasher (keys here come from scraped pages).
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A cached series.
#[derive(Debug)]
pub(crate) struct CacheEntry {
    /// Storage reference for `Appender::append_ref`.
    pub(crate) series_ref: u64,
    /// Scrape iteration in which the entry was last seen.
    pub(crate) last_iter: u64,
    /// Hash of the final labels (the staleness key).
    pub(crate) hash: u64,
}

/// A series to mark stale if the next scrape does not have it.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) series_ref: u64,
    /// The labels, only for a series storage has no reference for (its first sample was
    /// refused): the others are marked by reference. Keeping labels for every series cost
    /// about 300 bytes each next to the head's interned copy (heaptrack, issue 7 note).
    pub(crate) labels: Option<Arc<Labels>>,
}

/// The synthetic series a scrape reports, in Prometheus's order.
pub(crate) const REPORT_NAMES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// See the module documentation.
#[derive(Debug)]
pub struct ScrapeCache {
    pub(crate) iter: u64,
    /// Entries (series + dropped + metadata) at the last successful scrape.
    successful_count: usize,
    pub(crate) series: FastMap<Box<[u8]>, CacheEntry>,
    pub(crate) dropped: FastMap<Box<[u8]>, u64>,
    pub(crate) cur: FastMap<u64, Seen>,
    pub(crate) prev: FastMap<u64, Seen>,
    /// Storage reference and labels of each synthetic series, once appended.
    pub(crate) report: [Option<(u64, Arc<Labels>)>; 5],
    pub(crate) metadata: Arc<MetadataStore>,
}

impl Default for ScrapeCache {
    fn default() -> Self {
        ScrapeCache::new()
    }
}

impl ScrapeCache {
    /// An empty cache.
    pub fn new() -> ScrapeCache {
        ScrapeCache {
            iter: 0,
            successful_count: 0,
            series: FastMap::default(),
            dropped: FastMap::default(),
            cur: FastMap::default(),
            prev: FastMap::default(),
            report: Default::default(),
            metadata: Arc::new(MetadataStore::default()),
        }
    }

    /// The metadata store shared with the target.
    pub fn metadata(&self) -> &Arc<MetadataStore> {
        &self.metadata
    }

    /// Number of cached series (for tests and metrics).
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Looks `met` up, marking it seen in this iteration.
    pub(crate) fn get(&mut self, met: &[u8]) -> Option<&CacheEntry> {
        let iter = self.iter;
        let e = self.series.get_mut(met)?;
        e.last_iter = iter;
        Some(e)
    }

    pub(crate) fn add(&mut self, met: &[u8], series_ref: u64, hash: u64) {
        self.series.insert(met.into(), CacheEntry { series_ref, last_iter: self.iter, hash });
    }

    /// Whether `met` was dropped by metric relabeling (marking it seen).
    pub(crate) fn is_dropped(&mut self, met: &[u8]) -> bool {
        let iter = self.iter;
        match self.dropped.get_mut(met) {
            Some(i) => {
                *i = iter;
                true
            }
            None => false,
        }
    }

    pub(crate) fn add_dropped(&mut self, met: &[u8]) {
        self.dropped.insert(met.into(), self.iter);
    }

    pub(crate) fn track_staleness(&mut self, hash: u64, series_ref: u64, labels: Option<Arc<Labels>>) {
        self.cur.insert(hash, Seen { series_ref, labels });
    }

    /// Records `# TYPE`/`# HELP`/`# UNIT` for `metric`, allocating only when something changed.
    pub(crate) fn set_meta(&self, metric: &str, kind: Option<&'static str>, help: Option<&str>, unit: Option<&str>) {
        let mut m = self.metadata.entries.lock();
        let e = match m.get_mut(metric) {
            Some(e) => e,
            None => m.entry(metric.to_string()).or_insert(MetaEntry {
                kind: "unknown",
                help: String::new(),
                unit: String::new(),
                last_iter: self.iter,
            }),
        };
        if let Some(k) = kind {
            e.kind = k;
        }
        if let Some(h) = help
            && e.help != h
        {
            e.help = h.to_string();
        }
        if let Some(u) = unit
            && e.unit != u
        {
            e.unit = u.to_string();
        }
        e.last_iter = self.iter;
    }

    /// Ends a scrape iteration. After a successful (non-empty) scrape, or when a run of
    /// failing scrapes made the cache grow past twice its last good size plus 1000, entries
    /// not seen in this iteration are evicted (metadata after 10 iterations). The current
    /// series become the previous ones.
    ///
    /// Returns whether the flush was forced by growth.
    pub(crate) fn iter_done(&mut self, mut flush: bool) -> bool {
        let count = self.series.len() + self.dropped.len() + self.metadata.entries.lock().len();
        let mut forced = false;
        if flush {
            self.successful_count = count;
        } else if count > self.successful_count * 2 + 1000 {
            flush = true;
            forced = true;
        }
        if flush {
            let iter = self.iter;
            self.series.retain(|_, e| e.last_iter == iter);
            self.dropped.retain(|_, i| *i == iter);
            self.metadata.entries.lock().retain(|_, e| iter - e.last_iter <= 10);
            self.iter += 1;
        }
        std::mem::swap(&mut self.cur, &mut self.prev);
        self.cur.clear();
        forced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_after_success_and_on_growth() {
        let mut c = ScrapeCache::new();
        c.add(b"a", 1, 1);
        c.add(b"b", 2, 2);
        assert!(!c.iter_done(true));
        assert!(c.get(b"a").is_some());
        assert!(!c.iter_done(true));
        // "b" was not seen in the second iteration.
        assert_eq!((c.series.contains_key(&b"a"[..]), c.series.contains_key(&b"b"[..])), (true, false));

        // Failed scrapes do not evict, until the cache more than doubles plus 1000.
        // The last good count was 2 (taken before eviction): the limit is 2 * 2 + 1000.
        for i in 0..1004u32 {
            c.add(&i.to_be_bytes(), 10, 3);
        }
        // The forced flush keeps what this iteration saw but starts a new one, so the next
        // flush drops everything not seen again.
        assert!(c.iter_done(false));
        assert_eq!(c.series.len(), 1004);
        assert!(c.get(b"a").is_none());
        assert!(c.get(&7u32.to_be_bytes()).is_some());
        c.iter_done(true);
        assert_eq!(c.series.len(), 1);
    }

    #[test]
    fn current_becomes_previous() {
        let mut c = ScrapeCache::new();
        let l = Arc::new(Labels::from_pairs(&[("__name__", "a")]).unwrap());
        c.track_staleness(7, 1, Some(l));
        c.iter_done(true);
        assert!(c.cur.is_empty());
        assert!(c.prev.contains_key(&7));
        c.iter_done(true);
        assert!(c.prev.is_empty());
    }

    #[test]
    fn metadata_keeps_ten_iterations() {
        let mut c = ScrapeCache::new();
        c.set_meta("m", Some("counter"), Some("help"), None);
        for _ in 0..11 {
            c.iter_done(true);
        }
        assert_eq!(c.metadata.get("m").unwrap().kind, "counter");
        c.iter_done(true);
        assert!(c.metadata.get("m").is_none());
    }
}
