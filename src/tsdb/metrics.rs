//! The engine's self-metrics, named as Prometheus names them where the meaning matches.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// Counters and gauges kept by the storage engine. Cheap to update (relaxed atomics).
#[derive(Debug, Default)]
pub struct Metrics {
    /// Series in the head.
    pub head_series: AtomicI64,
    /// Series ever created in the head.
    pub head_series_created: AtomicU64,
    /// Series removed from the head by truncation.
    pub head_series_removed: AtomicU64,
    /// Samples appended to the head.
    pub head_samples_appended: AtomicU64,
    /// Chunks in the head.
    pub head_chunks: AtomicI64,
    /// Head truncations.
    pub head_truncations: AtomicU64,
    /// Out-of-order samples rejected.
    pub out_of_order_samples: AtomicU64,
    /// Out-of-bounds samples rejected.
    pub out_of_bound_samples: AtomicU64,
    /// Samples rejected as older than the out-of-order window.
    pub too_old_samples: AtomicU64,
    /// Samples rejected for a duplicate timestamp with another value.
    pub duplicate_samples: AtomicU64,
    /// Appends rejected for invalid labels.
    pub invalid_label_samples: AtomicU64,
    /// Appends by an unknown series reference.
    pub unknown_ref_samples: AtomicU64,
    /// Out-of-order samples accepted into the window.
    pub ooo_samples_appended: AtomicU64,
    /// WAL corruptions found on replay.
    pub wal_corruptions: AtomicU64,
    /// Head snapshots that could not be loaded (the whole WAL was replayed instead).
    pub snapshot_replay_errors: AtomicU64,
    /// WAL truncations.
    pub wal_truncations: AtomicU64,
    /// Checkpoints written.
    pub checkpoint_creations: AtomicU64,
    /// WAL size in bytes.
    pub wal_size_bytes: AtomicU64,
    /// Compactions run.
    pub compactions: AtomicU64,
    /// Compactions failed.
    pub compactions_failed: AtomicU64,
    /// Blocks loaded.
    pub blocks_loaded: AtomicI64,
    /// Bytes of persisted blocks.
    pub blocks_bytes: AtomicU64,
    /// Blocks deleted by time retention.
    pub time_retentions: AtomicU64,
    /// Blocks deleted by size retention.
    pub size_retentions: AtomicU64,
    /// Smallest timestamp in the head.
    pub head_min_time: AtomicI64,
    /// Largest timestamp in the head.
    pub head_max_time: AtomicI64,
    /// Exemplars stored.
    pub exemplars_appended: AtomicU64,
    /// Exemplars refused as out of order.
    pub exemplars_out_of_order: AtomicU64,
    /// Exemplars in the ring.
    pub exemplars_in_storage: AtomicI64,
    /// Series with exemplars in the ring.
    pub series_with_exemplars: AtomicI64,
    /// The ring size.
    pub max_exemplars: AtomicI64,
    /// The oldest exemplar's timestamp (ms), 0 when there is none.
    pub last_exemplars_ts_ms: AtomicI64,
}

impl Metrics {
    /// Appends the metrics in the Prometheus text format to `out`.
    pub fn render(&self, out: &mut String) {
        let g = |v: &AtomicI64| v.load(Relaxed) as f64;
        let c = |v: &AtomicU64| v.load(Relaxed) as f64;
        let rows: &[(&str, &str, &str, &str, f64)] = &[
            (
                "prometheus_tsdb_head_series",
                "gauge",
                "Total number of series in the head block.",
                "",
                g(&self.head_series),
            ),
            (
                "prometheus_tsdb_head_series_created_total",
                "counter",
                "Total number of series created in the head",
                "",
                c(&self.head_series_created),
            ),
            (
                "prometheus_tsdb_head_series_removed_total",
                "counter",
                "Total number of series removed in the head",
                "",
                c(&self.head_series_removed),
            ),
            (
                "prometheus_tsdb_head_samples_appended_total",
                "counter",
                "Total number of appended samples.",
                "type=\"float\"",
                c(&self.head_samples_appended),
            ),
            (
                "prometheus_tsdb_head_chunks",
                "gauge",
                "Total number of chunks in the head block.",
                "",
                g(&self.head_chunks),
            ),
            (
                "prometheus_tsdb_head_truncations_total",
                "counter",
                "Total number of head truncations attempted.",
                "",
                c(&self.head_truncations),
            ),
            (
                "prometheus_tsdb_head_min_time",
                "gauge",
                "Minimum time bound of the head block.",
                "",
                g(&self.head_min_time),
            ),
            (
                "prometheus_tsdb_head_max_time",
                "gauge",
                "Maximum timestamp of the head block.",
                "",
                g(&self.head_max_time),
            ),
            (
                "prometheus_tsdb_out_of_order_samples_total",
                "counter",
                "Total number of out of order samples ingestion failed attempts.",
                "type=\"float\"",
                c(&self.out_of_order_samples),
            ),
            (
                "prometheus_tsdb_out_of_bound_samples_total",
                "counter",
                "Total number of out of bound samples ingestion failed attempts.",
                "type=\"float\"",
                c(&self.out_of_bound_samples),
            ),
            (
                "prometheus_tsdb_too_old_samples_total",
                "counter",
                "Total number of out of order samples ingestion failed attempts due to them being too old.",
                "type=\"float\"",
                c(&self.too_old_samples),
            ),
            (
                "prometheus_tsdb_head_out_of_order_samples_appended_total",
                "counter",
                "Total number of appended out of order samples.",
                "type=\"float\"",
                c(&self.ooo_samples_appended),
            ),
            (
                "prometheus_tsdb_wal_corruptions_total",
                "counter",
                "Total number of WAL corruptions.",
                "",
                c(&self.wal_corruptions),
            ),
            (
                "prometheus_tsdb_snapshot_replay_error_total",
                "counter",
                "Total number snapshot replays that failed.",
                "",
                c(&self.snapshot_replay_errors),
            ),
            (
                "prometheus_tsdb_wal_truncations_total",
                "counter",
                "Total number of write log truncations attempted.",
                "",
                c(&self.wal_truncations),
            ),
            (
                "prometheus_tsdb_checkpoint_creations_total",
                "counter",
                "Total number of checkpoint creations attempted.",
                "",
                c(&self.checkpoint_creations),
            ),
            (
                "prometheus_tsdb_wal_storage_size_bytes",
                "gauge",
                "Size of the write log directory.",
                "",
                c(&self.wal_size_bytes),
            ),
            (
                "prometheus_tsdb_compactions_total",
                "counter",
                "Total number of compactions that were executed for the partition.",
                "",
                c(&self.compactions),
            ),
            (
                "prometheus_tsdb_compactions_failed_total",
                "counter",
                "Total number of compactions that failed for the partition.",
                "",
                c(&self.compactions_failed),
            ),
            (
                "prometheus_tsdb_blocks_loaded",
                "gauge",
                "Number of currently loaded data blocks",
                "",
                g(&self.blocks_loaded),
            ),
            (
                "prometheus_tsdb_storage_blocks_bytes",
                "gauge",
                "The number of bytes that are currently used for local storage by all blocks.",
                "",
                c(&self.blocks_bytes),
            ),
            (
                "prometheus_tsdb_time_retentions_total",
                "counter",
                "The number of times that blocks were deleted because the maximum time limit was exceeded.",
                "",
                c(&self.time_retentions),
            ),
            (
                "prometheus_tsdb_size_retentions_total",
                "counter",
                "The number of times that blocks were deleted because the maximum number of bytes was exceeded.",
                "",
                c(&self.size_retentions),
            ),
            (
                "prometheus_tsdb_exemplar_exemplars_appended_total",
                "counter",
                "Total number of appended exemplars.",
                "",
                c(&self.exemplars_appended),
            ),
            (
                "prometheus_tsdb_exemplar_exemplars_in_storage",
                "gauge",
                "Number of exemplars currently in circular storage.",
                "",
                g(&self.exemplars_in_storage),
            ),
            (
                "prometheus_tsdb_exemplar_last_exemplars_timestamp_seconds",
                "gauge",
                "The timestamp of the oldest exemplar stored in circular storage. Useful to check for what \
                 timerange the current exemplar buffer limit allows. This usually means the last timestampfor all \
                 exemplars for a typical setup. This is not true though if one of the series timestamp is in \
                 future compared to rest series.",
                "",
                g(&self.last_exemplars_ts_ms) / 1000.0,
            ),
            (
                "prometheus_tsdb_exemplar_max_exemplars",
                "gauge",
                "Total number of exemplars the exemplar storage can store, resizeable.",
                "",
                g(&self.max_exemplars),
            ),
            (
                "prometheus_tsdb_exemplar_out_of_order_exemplars_total",
                "counter",
                "Total number of out of order exemplar ingestion failed attempts.",
                "",
                c(&self.exemplars_out_of_order),
            ),
            (
                "prometheus_tsdb_exemplar_series_with_exemplars_in_storage",
                "gauge",
                "Number of series with exemplars currently in circular storage.",
                "",
                g(&self.series_with_exemplars),
            ),
        ];
        for (name, kind, help, labels, v) in rows {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            if labels.is_empty() {
                let _ = writeln!(out, "{name} {v}");
            } else {
                let _ = writeln!(out, "{name}{{{labels}}} {v}");
            }
        }
        let name = "cairn_tsdb_append_rejected_total";
        let _ =
            writeln!(out, "# HELP {name} Appends rejected by the storage engine, by reason.\n# TYPE {name} counter");
        for (reason, v) in [
            ("out_of_order", &self.out_of_order_samples),
            ("out_of_bounds", &self.out_of_bound_samples),
            ("too_old", &self.too_old_samples),
            ("duplicate_timestamp", &self.duplicate_samples),
            ("invalid_labels", &self.invalid_label_samples),
            ("unknown_ref", &self.unknown_ref_samples),
        ] {
            let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {}", v.load(Relaxed));
        }
    }

    /// Counts a refused append under its reason.
    pub(crate) fn count_rejection(&self, e: &crate::tsdb::error::AppendError) {
        use crate::tsdb::error::AppendError::*;
        let c = match e {
            OutOfOrder => &self.out_of_order_samples,
            OutOfBounds => &self.out_of_bound_samples,
            TooOld => &self.too_old_samples,
            DuplicateTimestamp => &self.duplicate_samples,
            InvalidLabels(_) => &self.invalid_label_samples,
            UnknownRef(_) => &self.unknown_ref_samples,
        };
        c.fetch_add(1, Relaxed);
    }
}
