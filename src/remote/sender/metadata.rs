//! Metric metadata for remote write, as Prometheus's `MetadataWatcher` sends it.
//!
//! Principal items: [`MetadataSource`] (what the server hands the queues: the metadata of
//! every active scrape target), [`FamilyMetadata`], [`MetadataIndex`] (the latest collection
//! by metric family, for remote write 2.0's per-series metadata) and [`run`] (the loop of a
//! remote write 1.0 queue).
//!
//! A 1.0 queue with `metadata_config.send` collects every `send_interval` (first after one
//! interval, as Prometheus's ticker) and sends what it found in `WriteRequest{metadata}`
//! requests of at most `max_samples_per_send` entries each, with the queue's client, headers
//! and retry rules. Entries are deduplicated by (family, type, help, unit), as Prometheus
//! does, so two targets exposing the same family the same way send it once. A 2.0 queue sends
//! no metadata requests: each series carries its family's metadata inline, looked up in a
//! [`MetadataIndex`] refreshed at the same interval (and at start).

use super::SendConfig;
use super::metrics::QueueMetrics;
use super::shard::{Outcome, Tally, post_with_retries};
use crate::remote::metadata::MetricType;
use crate::remote::pb::prometheus as v1;
use arc_swap::ArcSwap;
use prost::Message;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The metadata of one metric family.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FamilyMetadata {
    /// Metric family name (`# TYPE` name).
    pub family: String,
    /// Type.
    pub kind: MetricType,
    /// HELP text.
    pub help: String,
    /// Unit.
    pub unit: String,
}

/// Where queues get the metadata to send. The server implements it over the scrape manager,
/// so the sender does not depend on scrape internals.
pub trait MetadataSource: Send + Sync {
    /// The metadata of every active target, each distinct (family, type, help, unit) once.
    fn collect(&self) -> Vec<FamilyMetadata>;
}

impl<F: Fn() -> Vec<FamilyMetadata> + Send + Sync> MetadataSource for F {
    fn collect(&self) -> Vec<FamilyMetadata> {
        self()
    }
}

/// Removes repeated entries, keeping the first of each (Prometheus's metadata set).
pub fn dedupe(entries: impl IntoIterator<Item = FamilyMetadata>) -> Vec<FamilyMetadata> {
    let mut seen = std::collections::HashSet::new();
    entries.into_iter().filter(|e| seen.insert(e.clone())).collect()
}

/// Suffixes a series name may add to its family name.
const SUFFIXES: [&str; 8] = ["_total", "_bucket", "_count", "_sum", "_created", "_gcount", "_gsum", "_info"];

/// The latest collection by family name, swapped whole on refresh; lookups take no lock.
#[derive(Debug, Default)]
pub struct MetadataIndex {
    by_family: ArcSwap<HashMap<String, FamilyMetadata>>,
}

impl MetadataIndex {
    /// Replaces the contents (the first entry of a family wins when targets disagree).
    pub fn refresh(&self, entries: Vec<FamilyMetadata>) {
        let mut m = HashMap::with_capacity(entries.len());
        for e in entries {
            m.entry(e.family.clone()).or_insert(e);
        }
        self.by_family.store(Arc::new(m));
    }

    /// The metadata of the family a series named `name` belongs to: the name itself, else the
    /// name without one of the suffixes counters, histograms, summaries and info metrics add.
    pub fn lookup(&self, name: &str) -> Option<FamilyMetadata> {
        let m = self.by_family.load();
        if let Some(e) = m.get(name) {
            return Some(e.clone());
        }
        SUFFIXES.iter().find_map(|s| name.strip_suffix(s).and_then(|f| m.get(f)).cloned())
    }
}

/// What a queue's metadata task needs.
pub struct MetadataOptions {
    /// The collection.
    pub source: Arc<dyn MetadataSource>,
    /// `metadata_config`.
    pub config: crate::config::MetadataConfig,
    /// For a remote write 2.0 queue: the index its encoder reads; no requests are sent.
    pub index: Option<Arc<MetadataIndex>>,
}

/// The remote write 1.0 body for metadata entries (no series).
pub fn encode_request(entries: &[FamilyMetadata]) -> Vec<u8> {
    let metadata = entries
        .iter()
        .map(|e| v1::MetricMetadata {
            r#type: e.kind.to_proto(),
            metric_family_name: e.family.clone(),
            help: e.help.clone(),
            unit: e.unit.clone(),
        })
        .collect();
    v1::WriteRequest { timeseries: Vec::new(), metadata }.encode_to_vec()
}

/// Runs a queue's metadata loop until the task is aborted.
pub(super) async fn run(
    cfg: Arc<SendConfig>,
    opts: MetadataOptions,
    metrics: Arc<QueueMetrics>,
    deadline: watch::Receiver<Option<Instant>>,
) {
    let interval = opts.config.send_interval.max(Duration::from_millis(100));
    if let Some(index) = &opts.index {
        index.refresh(opts.source.collect());
    }
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let entries = opts.source.collect();
        if let Some(index) = &opts.index {
            index.refresh(entries);
            continue;
        }
        send_all(&cfg, &entries, opts.config.max_samples_per_send, &metrics, &deadline).await;
    }
}

/// Sends `entries` in requests of at most `per_request` entries.
async fn send_all(
    cfg: &SendConfig,
    entries: &[FamilyMetadata],
    per_request: usize,
    metrics: &QueueMetrics,
    deadline: &watch::Receiver<Option<Instant>>,
) {
    for part in entries.chunks(per_request.max(1)) {
        let body = match snap::raw::Encoder::new().compress_vec(&encode_request(part)) {
            Ok(b) => bytes::Bytes::from(b),
            Err(e) => {
                tracing::error!(queue = %cfg.name, error = %e, "remote write: cannot compress metadata");
                metrics.metadata_failed.fetch_add(part.len() as u64, Relaxed);
                continue;
            }
        };
        let n = part.len() as u64;
        let tally = Tally {
            retried: &metrics.metadata_retried,
            bytes: &metrics.metadata_bytes,
            items: n,
            also_retried: None,
            timed: false,
        };
        match post_with_retries(cfg, body, tally, metrics, deadline).await {
            Outcome::Sent => {
                metrics.metadata_sent.fetch_add(n, Relaxed);
            }
            Outcome::Failed => {
                metrics.metadata_failed.fetch_add(n, Relaxed);
                tracing::error!(queue = %cfg.name, count = n, "remote write: non-recoverable error while sending metadata");
            }
            Outcome::Abandoned => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(family: &str, kind: MetricType, help: &str) -> FamilyMetadata {
        FamilyMetadata { family: family.into(), kind, help: help.into(), unit: String::new() }
    }

    #[test]
    fn dedupe_keeps_first_of_each_distinct_entry() {
        let a = md("a", MetricType::Counter, "A.");
        let a2 = md("a", MetricType::Counter, "Other help.");
        let b = md("b", MetricType::Gauge, "B.");
        let got = dedupe(vec![a.clone(), b.clone(), a.clone(), a2.clone(), b.clone()]);
        assert_eq!(got, vec![a, b, a2]);
    }

    #[test]
    fn index_finds_families_of_series_names() {
        let idx = MetadataIndex::default();
        idx.refresh(vec![
            md("http_requests", MetricType::Counter, "Requests."),
            md("latency_seconds", MetricType::Histogram, "Latency."),
            md("temp", MetricType::Gauge, "Temperature."),
        ]);
        let kind = |n: &str| idx.lookup(n).map(|m| m.kind);
        assert_eq!(kind("http_requests_total"), Some(MetricType::Counter));
        assert_eq!(kind("latency_seconds_bucket"), Some(MetricType::Histogram));
        assert_eq!(kind("latency_seconds_sum"), Some(MetricType::Histogram));
        assert_eq!(kind("temp"), Some(MetricType::Gauge));
        assert_eq!(kind("temp_max"), None);
        idx.refresh(Vec::new());
        assert_eq!(kind("temp"), None, "a refresh replaces everything");
    }

    #[test]
    fn request_body_carries_every_entry() {
        let entries = vec![md("a", MetricType::Summary, "A."), md("b", MetricType::Unknown, "")];
        let r = v1::WriteRequest::decode(encode_request(&entries).as_slice()).unwrap();
        assert!(r.timeseries.is_empty());
        let got: Vec<(i32, &str, &str)> =
            r.metadata.iter().map(|m| (m.r#type, m.metric_family_name.as_str(), m.help.as_str())).collect();
        // prompb numbers SUMMARY 5 and UNKNOWN 0.
        assert_eq!(got, vec![(5, "a", "A."), (0, "b", "")]);
    }
}
