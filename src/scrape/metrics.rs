//! The scrape manager's own metrics, named as Prometheus names them (`prometheus_target_*`),
//! rendered in the text format for `/metrics`.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Relaxed);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Per-pool values (labelled `scrape_job`).
#[derive(Clone, Debug, Default)]
pub struct PoolStats {
    /// `prometheus_target_scrape_pool_sync_total`.
    pub syncs: u64,
    /// `prometheus_target_scrape_pool_targets`.
    pub targets: u64,
    /// `prometheus_target_scrape_pool_target_limit`.
    pub target_limit: u64,
    /// `prometheus_target_sync_failed_total`.
    pub sync_failed: u64,
    /// `prometheus_target_sync_length_seconds` sum and count.
    pub sync_seconds: (f64, u64),
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct ScrapeMetrics {
    /// `prometheus_target_scrape_pools_total`.
    pub pools: Counter,
    /// `prometheus_target_scrape_pools_failed_total`.
    pub pools_failed: Counter,
    /// `prometheus_target_scrape_pool_reloads_total`.
    pub pool_reloads: Counter,
    /// `prometheus_target_scrape_pool_reloads_failed_total`.
    pub pool_reloads_failed: Counter,
    /// `prometheus_target_scrape_pool_exceeded_target_limit_total`.
    pub exceeded_target_limit: Counter,
    /// `prometheus_target_scrape_pool_exceeded_label_limits_total`.
    pub exceeded_label_limits: Counter,
    /// `prometheus_target_scrapes_exceeded_sample_limit_total`.
    pub exceeded_sample_limit: Counter,
    /// `prometheus_target_scrapes_exceeded_body_size_limit_total`.
    pub exceeded_body_size_limit: Counter,
    /// `prometheus_target_scrapes_sample_duplicate_timestamp_total`.
    pub sample_duplicate: Counter,
    /// `prometheus_target_scrapes_sample_out_of_bounds_total`.
    pub sample_out_of_bounds: Counter,
    /// `prometheus_target_scrapes_sample_out_of_order_total`.
    pub sample_out_of_order: Counter,
    /// `prometheus_target_scrapes_cache_flush_forced_total`.
    pub cache_flush_forced: Counter,
    /// `prometheus_target_scrapes_exemplar_out_of_order_total`.
    pub exemplar_out_of_order: Counter,
    /// `prometheus_target_interval_length_seconds` sum (µs) and count, by interval.
    intervals: Mutex<BTreeMap<String, (f64, u64)>>,
    /// Per-pool values, by job name.
    pub(crate) pool_stats: Mutex<BTreeMap<String, PoolStats>>,
}

impl ScrapeMetrics {
    /// Records the time between two scrapes of a target scraped every `interval`.
    pub fn observe_interval(&self, interval: &str, seconds: f64) {
        let mut m = self.intervals.lock();
        match m.get_mut(interval) {
            Some(e) => {
                e.0 += seconds;
                e.1 += 1;
            }
            None => {
                m.insert(interval.to_string(), (seconds, 1));
            }
        }
    }

    /// Updates the values of pool `job`.
    pub(crate) fn with_pool(&self, job: &str, f: impl FnOnce(&mut PoolStats)) {
        let mut m = self.pool_stats.lock();
        match m.get_mut(job) {
            Some(s) => f(s),
            None => f(m.entry(job.to_string()).or_default()),
        }
    }

    /// Forgets pool `job` (it was removed).
    pub(crate) fn remove_pool(&self, job: &str) {
        self.pool_stats.lock().remove(job);
    }

    /// Appends every metric in the text format; `metadata` gives each pool's metadata
    /// cache entries and bytes.
    pub fn render(&self, out: &mut String, metadata: &BTreeMap<String, (usize, usize)>) {
        let counters: [(&str, &str, &Counter); 13] = [
            ("prometheus_target_scrape_pools_total", "Total number of scrape pool creation attempts.", &self.pools),
            (
                "prometheus_target_scrape_pools_failed_total",
                "Total number of scrape pool creations that failed.",
                &self.pools_failed,
            ),
            ("prometheus_target_scrape_pool_reloads_total", "Total number of scrape pool reloads.", &self.pool_reloads),
            (
                "prometheus_target_scrape_pool_reloads_failed_total",
                "Total number of failed scrape pool reloads.",
                &self.pool_reloads_failed,
            ),
            (
                "prometheus_target_scrape_pool_exceeded_target_limit_total",
                "Total number of times scrape pools hit the target limit, during sync or config reload.",
                &self.exceeded_target_limit,
            ),
            (
                "prometheus_target_scrape_pool_exceeded_label_limits_total",
                "Total number of times scrape pools hit the label limits, during sync or config reload.",
                &self.exceeded_label_limits,
            ),
            (
                "prometheus_target_scrapes_exceeded_sample_limit_total",
                "Total number of scrapes that hit the sample limit and were rejected.",
                &self.exceeded_sample_limit,
            ),
            (
                "prometheus_target_scrapes_exceeded_body_size_limit_total",
                "Total number of scrapes that hit the body size limit",
                &self.exceeded_body_size_limit,
            ),
            (
                "prometheus_target_scrapes_sample_duplicate_timestamp_total",
                "Total number of samples rejected due to duplicate timestamps but different values.",
                &self.sample_duplicate,
            ),
            (
                "prometheus_target_scrapes_sample_out_of_bounds_total",
                "Total number of samples rejected due to timestamp falling outside of the time bounds.",
                &self.sample_out_of_bounds,
            ),
            (
                "prometheus_target_scrapes_sample_out_of_order_total",
                "Total number of samples rejected due to not being out of the expected order.",
                &self.sample_out_of_order,
            ),
            (
                "prometheus_target_scrapes_cache_flush_forced_total",
                "How many times a scrape cache was flushed due to getting big while scrapes are failing.",
                &self.cache_flush_forced,
            ),
            (
                "prometheus_target_scrapes_exemplar_out_of_order_total",
                "Total number of exemplar rejected due to not being out of the expected order.",
                &self.exemplar_out_of_order,
            ),
        ];
        for (name, help, c) in counters {
            family(out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", c.get());
        }
        family(out, "prometheus_target_interval_length_seconds", "summary", "Actual intervals between scrapes.");
        for (iv, (sum, count)) in self.intervals.lock().iter() {
            let _ = writeln!(out, "prometheus_target_interval_length_seconds_sum{{interval=\"{iv}\"}} {sum}");
            let _ = writeln!(out, "prometheus_target_interval_length_seconds_count{{interval=\"{iv}\"}} {count}");
        }
        let pools = self.pool_stats.lock().clone();
        type Row = (&'static str, &'static str, &'static str, fn(&PoolStats) -> String);
        let rows: [Row; 4] = [
            (
                "prometheus_target_scrape_pool_sync_total",
                "counter",
                "Total number of syncs that were executed on a scrape pool.",
                |s| s.syncs.to_string(),
            ),
            ("prometheus_target_scrape_pool_targets", "gauge", "Current number of targets in this scrape pool.", |s| {
                s.targets.to_string()
            }),
            (
                "prometheus_target_scrape_pool_target_limit",
                "gauge",
                "Maximum number of targets allowed in this scrape pool.",
                |s| s.target_limit.to_string(),
            ),
            ("prometheus_target_sync_failed_total", "counter", "Total number of target sync failures.", |s| {
                s.sync_failed.to_string()
            }),
        ];
        for (name, kind, help, get) in rows {
            family(out, name, kind, help);
            for (job, s) in &pools {
                let _ = writeln!(out, "{name}{{scrape_job=\"{}\"}} {}", escape(job), get(s));
            }
        }
        family(out, "prometheus_target_sync_length_seconds", "summary", "Actual interval to sync the scrape pool.");
        for (job, s) in &pools {
            let j = escape(job);
            let _ =
                writeln!(out, "prometheus_target_sync_length_seconds_sum{{scrape_job=\"{j}\"}} {}", s.sync_seconds.0);
            let _ =
                writeln!(out, "prometheus_target_sync_length_seconds_count{{scrape_job=\"{j}\"}} {}", s.sync_seconds.1);
        }
        family(
            out,
            "prometheus_target_metadata_cache_entries",
            "gauge",
            "Total number of metric metadata entries in the cache",
        );
        for (job, (n, _)) in metadata {
            let _ = writeln!(out, "prometheus_target_metadata_cache_entries{{scrape_job=\"{}\"}} {n}", escape(job));
        }
        family(
            out,
            "prometheus_target_metadata_cache_bytes",
            "gauge",
            "The number of bytes that are currently used for storing metric metadata in the cache",
        );
        for (job, (_, b)) in metadata {
            let _ = writeln!(out, "prometheus_target_metadata_cache_bytes{{scrape_job=\"{}\"}} {b}", escape(job));
        }
    }
}

/// `# HELP` and `# TYPE` lines.
pub(crate) fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value escaped for the text format.
pub(crate) fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
