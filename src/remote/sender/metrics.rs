//! The sender's metrics, under Prometheus's `prometheus_remote_storage_*` names with the
//! `remote_name` and `url` labels, so remote-write dashboards keep working.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// Counters and gauges of one queue.
#[derive(Debug, Default)]
pub struct QueueMetrics {
    /// Samples read from the WAL for this queue (before relabeling).
    pub samples_in: AtomicU64,
    /// Samples the remote end accepted.
    pub samples_sent: AtomicU64,
    /// Samples given up on: the remote end rejected them for good (4xx).
    pub samples_failed: AtomicU64,
    /// Samples sent again after a recoverable failure (5xx, 429, network).
    pub samples_retried: AtomicU64,
    /// Samples dropped before sending: relabeled away, or of a series the WAL never defined.
    pub samples_dropped: AtomicU64,
    /// Samples read but not yet accepted or given up on.
    pub samples_pending: AtomicI64,
    /// Compressed bytes sent.
    pub bytes_sent: AtomicU64,
    /// Newest sample timestamp read from the WAL (ms).
    pub highest_in_ms: AtomicI64,
    /// Newest sample timestamp the remote end accepted (ms).
    pub highest_sent_ms: AtomicI64,
    /// Shards running.
    pub shards: AtomicU64,
    /// Shards the throughput calls for.
    pub shards_desired: AtomicU64,
    /// Requests sent (including retries).
    pub requests: AtomicU64,
    /// Total seconds spent in requests, in microseconds.
    pub request_micros: AtomicU64,
    /// WAL segments that vanished (truncated) before this queue read them.
    pub wal_segments_lost: AtomicU64,
    /// Metadata entries the remote end accepted.
    pub metadata_sent: AtomicU64,
    /// Metadata entries given up on (4xx).
    pub metadata_failed: AtomicU64,
    /// Metadata entries sent again after a recoverable failure.
    pub metadata_retried: AtomicU64,
    /// Compressed bytes of metadata requests accepted.
    pub metadata_bytes: AtomicU64,
    /// Exemplars read from the WAL for this queue (with `send_exemplars`).
    pub exemplars_in: AtomicU64,
    /// Exemplars the remote end accepted.
    pub exemplars_sent: AtomicU64,
    /// Exemplars given up on (4xx).
    pub exemplars_failed: AtomicU64,
    /// Exemplars sent again after a recoverable failure.
    pub exemplars_retried: AtomicU64,
    /// Exemplars dropped before sending (series relabeled away or unknown).
    pub exemplars_dropped: AtomicU64,
    /// Exemplars read but not yet accepted or given up on.
    pub exemplars_pending: AtomicI64,
}

impl QueueMetrics {
    /// Raises `cell` to `v` if `v` is larger.
    pub fn raise(cell: &AtomicI64, v: i64) {
        cell.fetch_max(v, Relaxed);
    }

    /// Appends this queue's families in the text exposition format.
    pub fn render(&self, remote_name: &str, url: &str, min_shards: usize, max_shards: usize, out: &mut String) {
        let labels = format!("remote_name=\"{}\",url=\"{}\"", escape(remote_name), escape(url));
        let secs = |ms: i64| ms as f64 / 1000.0;
        let rows: [(&str, &str, &str, f64); 24] = [
            (
                "prometheus_remote_storage_samples_in_total",
                "counter",
                "Samples read into remote storage.",
                self.samples_in.load(Relaxed) as f64,
            ),
            (
                "prometheus_remote_storage_samples_total",
                "counter",
                "Total number of samples sent to remote storage.",
                self.samples_sent.load(Relaxed) as f64,
            ),
            (
                "prometheus_remote_storage_samples_failed_total",
                "counter",
                "Total number of samples which failed on send to remote storage, non-recoverable errors.",
                self.samples_failed.load(Relaxed) as f64,
            ),
            (
                "prometheus_remote_storage_samples_retried_total",
                "counter",
                "Total number of samples which failed on send to remote storage but were retried because the send error was recoverable.",
                self.samples_retried.load(Relaxed) as f64,
            ),
            (
                "prometheus_remote_storage_samples_dropped_total",
                "counter",
                "Total number of samples which were dropped after being read from the WAL before being sent via remote write, either via relabelling or unintentionally because of an unknown reference ID.",
                self.samples_dropped.load(Relaxed) as f64,
            ),
            (
                "prometheus_remote_storage_samples_pending",
                "gauge",
                "The number of samples pending in the queues shards to be sent to the remote storage.",
                self.samples_pending.load(Relaxed) as f64,
            ),
            (
                "prometheus_remote_storage_bytes_total",
                "counter",
                "The total number of bytes of data (not metadata) sent by the queue after compression.",
                self.bytes_sent.load(Relaxed) as f64,
            ),
            (
                "prometheus_remote_storage_highest_timestamp_in_seconds",
                "gauge",
                "Highest timestamp that has come into the remote storage via the Appender interface, in seconds since epoch.",
                secs(self.highest_in_ms.load(Relaxed)),
            ),
            (
                "prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
                "gauge",
                "Timestamp from a WAL sample, the highest timestamp successfully sent by this queue, in seconds since epoch.",
                secs(self.highest_sent_ms.load(Relaxed)),
            ),
            (
                "prometheus_remote_storage_shards",
                "gauge",
                "The number of shards used for parallel sending to the remote storage.",
                self.shards.load(Relaxed) as f64,
            ),
            (
                "prometheus_remote_storage_shards_desired",
                "gauge",
                "The number of shards that the queues shard calculation wants to run based on the rate of samples in vs. samples out.",
                self.shards_desired.load(Relaxed) as f64,
            ),
            (
                "prometheus_remote_storage_shards_min",
                "gauge",
                "The minimum number of shards that the queue is allowed to run.",
                min_shards as f64,
            ),
            (
                "prometheus_remote_storage_shards_max",
                "gauge",
                "The maximum number of shards that the queue is allowed to run.",
                max_shards as f64,
            ),
            (
                "prometheus_remote_storage_metadata_total",
                "counter",
                "Total number of metadata entries sent to remote storage.",
                self.metadata_sent.load(Relaxed) as f64,
            ),
            (
                "prometheus_remote_storage_metadata_failed_total",
                "counter",
                "Total number of metadata entries which failed on send to remote storage, non-recoverable errors.",
                self.metadata_failed.load(Relaxed) as f64,
            ),
            (
                "prometheus_remote_storage_metadata_retried_total",
                "counter",
                "Total number of metadata entries which failed on send to remote storage but were retried because the send error was recoverable.",
                self.metadata_retried.load(Relaxed) as f64,
            ),
            (
                "prometheus_remote_storage_metadata_bytes_total",
                "counter",
                "The total number of bytes of metadata sent by the queue after compression.",
                self.metadata_bytes.load(Relaxed) as f64,
            ),
            (
                "prometheus_remote_storage_exemplars_in_total",
                "counter",
                "Exemplars in to remote storage, compare to exemplars out for queue managers.",
                self.exemplars_in.load(Relaxed) as f64,
            ),
            (
                "prometheus_remote_storage_exemplars_total",
                "counter",
                "Total number of exemplars sent to remote storage.",
                self.exemplars_sent.load(Relaxed) as f64,
            ),
            (
                "prometheus_remote_storage_exemplars_failed_total",
                "counter",
                "Total number of exemplars which failed on send to remote storage, non-recoverable errors.",
                self.exemplars_failed.load(Relaxed) as f64,
            ),
            (
                "prometheus_remote_storage_exemplars_retried_total",
                "counter",
                "Total number of exemplars which failed on send to remote storage but were retried because the send error was recoverable.",
                self.exemplars_retried.load(Relaxed) as f64,
            ),
            (
                "prometheus_remote_storage_exemplars_dropped_total",
                "counter",
                "Total number of exemplars which were dropped after being read from the WAL before being sent via remote write, either via relabelling or unintentionally because of an unknown reference ID.",
                self.exemplars_dropped.load(Relaxed) as f64,
            ),
            (
                "prometheus_remote_storage_exemplars_pending",
                "gauge",
                "The number of exemplars pending in the queues shards to be sent to the remote storage.",
                self.exemplars_pending.load(Relaxed) as f64,
            ),
            (
                "cairn_remote_storage_wal_segments_lost_total",
                "counter",
                "WAL segments truncated away before this queue read them; their samples were never sent.",
                self.wal_segments_lost.load(Relaxed) as f64,
            ),
        ];
        for (name, kind, help, v) in rows {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{{labels}}} {v}");
        }
        // Only the sum and count are tracked; the one bucket keeps the family a valid histogram.
        let name = "prometheus_remote_storage_sent_batch_duration_seconds";
        let (n, sum) = (self.requests.load(Relaxed), self.request_micros.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(
            out,
            "# HELP {name} Duration of send calls to the remote storage.\n# TYPE {name} histogram\n\
             {name}_bucket{{{labels},le=\"+Inf\"}} {n}\n{name}_sum{{{labels}}} {sum}\n{name}_count{{{labels}}} {n}"
        );
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
