//! All remote-write queues of a configuration, kept in step with reloads.
//!
//! [`WriteStorage::apply_config`] starts a queue per `remote_write` entry, keeps running the
//! queues whose entry did not change, and stops (flushing) the ones whose entry changed or
//! went away. Each queue's position file lives in `<data dir>/remote_write/<queue name>/`, so a
//! changed entry for the same queue name resumes where the old one stopped.

use super::metadata::{MetadataIndex, MetadataOptions, MetadataSource};
use super::{Encoder, QueueManager, QueueOptions, SendConfig};
use crate::config::{Config, RemoteWriteConfig};
use crate::model::Labels;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How long a stopping queue keeps trying to deliver what it holds (Prometheus's
/// `--storage.remote.flush-deadline` default).
pub const DEFAULT_FLUSH_DEADLINE: Duration = Duration::from_secs(60);

/// Builds a queue's body encoder for its `protobuf_message` (remote write 1.0 or 2.0); a 2.0
/// encoder attaches per-series metadata from the index when one is given.
pub type EncoderFactory =
    fn(&RemoteWriteConfig, Option<Arc<MetadataIndex>>) -> Result<(Encoder, &'static str, &'static str), String>;

/// The running queues.
pub struct WriteStorage {
    data_dir: PathBuf,
    rt: tokio::runtime::Handle,
    encoders: EncoderFactory,
    flush_deadline: Duration,
    metadata: Option<Arc<dyn MetadataSource>>,
    queues: BTreeMap<String, (RemoteWriteConfig, Labels, QueueManager)>,
}

impl WriteStorage {
    /// No queues yet; `data_dir` is the TSDB directory (its `wal/` is what queues follow).
    pub fn new(data_dir: PathBuf, rt: tokio::runtime::Handle, encoders: EncoderFactory) -> WriteStorage {
        WriteStorage {
            data_dir,
            rt,
            encoders,
            flush_deadline: DEFAULT_FLUSH_DEADLINE,
            metadata: None,
            queues: BTreeMap::new(),
        }
    }

    /// Sets where queues started from now on get metric metadata (the scrape targets'); without
    /// it no metadata is sent.
    pub fn set_metadata_source(&mut self, source: Arc<dyn MetadataSource>) {
        self.metadata = Some(source);
    }

    /// Sets how long stopping queues flush.
    pub fn set_flush_deadline(&mut self, d: Duration) {
        self.flush_deadline = d;
    }

    /// Brings the queues in line with `cfg`. Errors name the entry that could not start;
    /// the other entries are applied regardless.
    pub async fn apply_config(&mut self, cfg: &Config) -> Result<(), String> {
        let mut wanted: BTreeMap<String, &RemoteWriteConfig> = BTreeMap::new();
        for rw in &cfg.remote_write {
            wanted.insert(queue_name(rw), rw);
        }
        let ext = &cfg.global.external_labels;
        let stale: Vec<String> = self
            .queues
            .iter()
            .filter(|(name, (old, old_ext, _))| wanted.get(*name).is_none_or(|rw| *rw != old || old_ext != ext))
            .map(|(name, _)| name.clone())
            .collect();
        for name in stale {
            if let Some((_, _, q)) = self.queues.remove(&name) {
                q.stop().await;
            }
        }
        let mut errors = Vec::new();
        for (name, rw) in wanted {
            if self.queues.contains_key(&name) {
                continue;
            }
            match self.start_queue(&name, rw, ext) {
                Ok(q) => {
                    self.queues.insert(name, (rw.clone(), ext.clone(), q));
                }
                Err(e) => errors.push(format!("remote_write {name} ({}): {e}", rw.url)),
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
    }

    fn start_queue(&self, name: &str, rw: &RemoteWriteConfig, ext: &Labels) -> Result<QueueManager, String> {
        let client = crate::config::http::build_client(&rw.http, rw.remote_timeout).map_err(|e| e.to_string())?;
        let is_v2 = rw.protobuf_message == super::encode::V2_MESSAGE;
        let metadata = match &self.metadata {
            Some(source) if rw.metadata.send => Some(MetadataOptions {
                source: source.clone(),
                config: rw.metadata.clone(),
                index: is_v2.then(|| Arc::new(MetadataIndex::default())),
            }),
            _ => None,
        };
        let index = metadata.as_ref().and_then(|m| m.index.clone());
        let (encoder, content_type, version) = (self.encoders)(rw, index)?;
        let opts = QueueOptions {
            send: SendConfig {
                name: name.to_string(),
                url: rw.url.clone(),
                timeout: rw.remote_timeout,
                queue: rw.queue.clone(),
                headers: rw.headers.clone(),
                client,
                encoder,
                content_type: content_type.to_string(),
                version_header: version.to_string(),
                send_exemplars: rw.send_exemplars,
            },
            wal_dir: self.data_dir.join("wal"),
            state_dir: self.data_dir.join("remote_write").join(name),
            relabel: rw.write_relabel_configs.clone(),
            external_labels: ext.clone(),
            flush_deadline: self.flush_deadline,
            poll_interval: Duration::from_millis(50),
            metadata,
        };
        Ok(QueueManager::start(opts, self.rt.clone()))
    }

    /// Appends every queue's metric families.
    pub fn render_metrics(&self, out: &mut String) {
        for (_, _, q) in self.queues.values() {
            q.render_metrics(out);
        }
    }

    /// Stops every queue (flushing up to the deadline).
    pub async fn stop(&mut self) {
        for (_, (_, _, q)) in std::mem::take(&mut self.queues) {
            q.stop().await;
        }
    }
}

/// The queue's name: the entry's `name`, else a short hash of its URL (stable across edits
/// of the entry's other settings, so the queue resumes from its saved position).
pub fn queue_name(rw: &RemoteWriteConfig) -> String {
    if !rw.name.is_empty() {
        return rw.name.clone();
    }
    let h = xxhash_rust::xxh64::xxh64(rw.url.as_bytes(), 0);
    format!("{:06x}", h >> 40)
}
