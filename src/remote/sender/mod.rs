//! The remote-write sender: one queue per `remote_write` entry, fed by tailing the WAL.
//!
//! Principal items: [`QueueManager`] (start, stop, metrics of one queue), [`SendConfig`] (where
//! and how to send), [`Pending`] (one sample on its way) and [`Encoder`] (turns a batch into
//! the request body before snappy compression: remote write 1.0 or 2.0 protobuf).
//!
//! Data flow: a reader thread follows the WAL with a [`Watcher`] from the queue's saved
//! position (the WAL's end for a new queue), keeps the labels of every series (after
//! `write_relabel_configs` and external labels), and routes each sample to a shard chosen by
//! its series, so per-series order holds. Shards ([`shard`]) batch up to
//! `max_samples_per_send` or `batch_send_deadline`, send, retry 5xx, 429 (with
//! `retry_on_http_429`) and network errors with exponential backoff between `min_backoff`
//! and `max_backoff`, and give up only on other 4xx answers (counted as failed).
//!
//! **Nothing acknowledged is lost, nothing is silently skipped.** Samples are acknowledged
//! per WAL record ([`tracker`]); the position just past the longest fully acknowledged prefix
//! of records is saved to `<state dir>/position` every second and at stop. After a restart
//! the queue resumes there, so a sample is either delivered, counted as failed (4xx) or
//! dropped (relabeled away, unknown series), or still in the WAL to be sent. Samples after
//! the saved position that had already been delivered are sent again after a crash; the
//! receiving TSDB ignores such exact duplicates. Only if the database truncates WAL segments
//! the queue has not read yet (it fell more than a block range behind) are samples lost,
//! and that is counted in `cairn_remote_storage_wal_segments_lost_total`.
//!
//! Sharding is adaptive: every 10 s the queue compares the rate of samples coming in with
//! the time a sample takes to send, as Prometheus does, and when the desired shard count is
//! more than 30 % away from the current one (within `min_shards..=max_shards`) it lets the
//! shards drain and restarts them with the new count.

pub mod encode;
pub mod metadata;
pub mod metrics;
mod shard;
pub mod storage;
pub mod tracker;

use crate::config::QueueConfig;
use crate::model::{Label, Labels};
use crate::relabel::RelabelConfig;
use crate::tsdb::wal::record::Record;
use crate::tsdb::wal::{Position, Watcher};
use metrics::QueueMetrics;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tracker::{PositionFile, Tracker};

/// One sample on its way to the remote end.
#[derive(Clone, Debug)]
pub struct Pending {
    /// The series' labels as sent (relabeled, external labels added).
    pub series: Arc<Labels>,
    /// Timestamp (ms).
    pub t: i64,
    /// Value (stale markers included).
    pub v: f64,
    /// `Some` when this is not a sample but an exemplar of the series, with its labels.
    pub exemplar: Option<Box<Labels>>,
    /// The WAL record it came from (for acknowledgement).
    seq: u64,
}

/// Builds the uncompressed request body for a batch (samples grouped by series there).
pub type Encoder = Arc<dyn Fn(&[Pending]) -> Vec<u8> + Send + Sync>;

/// Where and how one queue sends.
#[derive(Clone)]
pub struct SendConfig {
    /// Queue name (`remote_name` label).
    pub name: String,
    /// Endpoint.
    pub url: String,
    /// Per-request timeout (`remote_timeout`).
    pub timeout: Duration,
    /// `queue_config`.
    pub queue: QueueConfig,
    /// Extra HTTP headers (`headers`).
    pub headers: BTreeMap<String, String>,
    /// The HTTP client (TLS and auth settings applied; OAuth2 through `authorize`).
    pub client: crate::config::http::HttpClient,
    /// Body encoder.
    pub encoder: Encoder,
    /// `Content-Type` of the body.
    pub content_type: String,
    /// `X-Prometheus-Remote-Write-Version`.
    pub version_header: String,
    /// `send_exemplars`: exemplar records are sent with the samples.
    pub send_exemplars: bool,
}

/// Everything a queue needs.
pub struct QueueOptions {
    /// How to send.
    pub send: SendConfig,
    /// The WAL directory to follow.
    pub wal_dir: PathBuf,
    /// Where this queue keeps its position file.
    pub state_dir: PathBuf,
    /// `write_relabel_configs`.
    pub relabel: Vec<RelabelConfig>,
    /// External labels, added to series that lack them.
    pub external_labels: Labels,
    /// How long [`QueueManager::stop`] keeps trying to deliver what is pending.
    pub flush_deadline: Duration,
    /// How often the reader looks for new WAL records when it has caught up.
    pub poll_interval: Duration,
    /// Metric metadata to send (`metadata_config.send`), if any.
    pub metadata: Option<metadata::MetadataOptions>,
}

/// A running queue.
pub struct QueueManager {
    name: String,
    url: String,
    min_shards: usize,
    max_shards: usize,
    metrics: Arc<QueueMetrics>,
    stop: Arc<AtomicBool>,
    deadline: watch::Sender<Option<Instant>>,
    flush_deadline: Duration,
    reader: Option<std::thread::JoinHandle<()>>,
    metadata_task: Option<tokio::task::JoinHandle<()>>,
}

impl QueueManager {
    /// Starts the queue's reader thread and shards on `rt`.
    pub fn start(mut opts: QueueOptions, rt: tokio::runtime::Handle) -> QueueManager {
        let metrics = Arc::new(QueueMetrics::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (deadline, deadline_rx) = watch::channel(None);
        let (name, url) = (opts.send.name.clone(), opts.send.url.clone());
        let (min_shards, max_shards) = (opts.send.queue.min_shards.max(1), opts.send.queue.max_shards.max(1));
        let flush_deadline = opts.flush_deadline;
        let metadata_task = opts
            .metadata
            .take()
            .map(|m| rt.spawn(metadata::run(Arc::new(opts.send.clone()), m, metrics.clone(), deadline_rx.clone())));
        let reader = {
            let (metrics, stop) = (metrics.clone(), stop.clone());
            std::thread::Builder::new()
                .name(format!("remote-write-{name}"))
                .spawn(move || Reader::new(opts, metrics, stop, deadline_rx, rt).run())
                .map_err(|e| tracing::error!(error = %e, "remote write: cannot start the reader thread"))
                .ok()
        };
        QueueManager {
            name,
            url,
            min_shards,
            max_shards,
            metrics,
            stop,
            deadline,
            flush_deadline,
            reader,
            metadata_task,
        }
    }

    /// The queue's metrics.
    pub fn metrics(&self) -> &Arc<QueueMetrics> {
        &self.metrics
    }

    /// Appends the queue's metric families.
    pub fn render_metrics(&self, out: &mut String) {
        self.metrics.render(&self.name, &self.url, self.min_shards, self.max_shards, out);
    }

    /// Stops reading, delivers what is pending until the flush deadline, saves the position.
    pub async fn stop(mut self) {
        let _ = self.deadline.send(Some(Instant::now() + self.flush_deadline));
        self.stop.store(true, Relaxed);
        // Metadata is collected afresh every interval: nothing pending is lost by stopping.
        if let Some(t) = self.metadata_task.take() {
            t.abort();
        }
        if let Some(h) = self.reader.take() {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }
}

/// The reader thread's state.
struct Reader {
    wal_dir: PathBuf,
    state_dir: PathBuf,
    relabel: Vec<RelabelConfig>,
    external_labels: Labels,
    poll_interval: Duration,
    send: Arc<SendConfig>,
    metrics: Arc<QueueMetrics>,
    stop: Arc<AtomicBool>,
    deadline: watch::Receiver<Option<Instant>>,
    rt: tokio::runtime::Handle,
    tracker: Arc<Mutex<Tracker>>,
    series: HashMap<u64, Option<Arc<Labels>>>,
    shards: Vec<mpsc::Sender<Vec<Pending>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Reader {
    fn new(
        opts: QueueOptions,
        metrics: Arc<QueueMetrics>,
        stop: Arc<AtomicBool>,
        deadline: watch::Receiver<Option<Instant>>,
        rt: tokio::runtime::Handle,
    ) -> Reader {
        let QueueOptions {
            send,
            wal_dir,
            state_dir,
            relabel,
            external_labels,
            flush_deadline: _,
            poll_interval,
            metadata: _,
        } = opts;
        Reader {
            wal_dir,
            state_dir,
            relabel,
            external_labels,
            poll_interval,
            send: Arc::new(send),
            metrics,
            stop,
            deadline,
            rt,
            tracker: Arc::new(Mutex::new(Tracker::new(Position::default()))),
            series: HashMap::new(),
            shards: Vec::new(),
            tasks: Vec::new(),
        }
    }

    fn run(mut self) {
        let file = PositionFile::new(&self.state_dir);
        let start = match file.load() {
            Some(p) => p,
            None => match Watcher::end_position(&self.wal_dir) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "remote write: cannot read the WAL's end; starting at its beginning");
                    Position::default()
                }
            },
        };
        tracing::info!(queue = %self.send.name, position = %start.encode(), "remote write: starting");
        *self.tracker.lock() = Tracker::new(start);
        let mut watcher = Watcher::new(&self.wal_dir, start);
        if let Err(e) = watcher.load_series(&mut |rec| self.on_series(rec)) {
            tracing::error!(error = %e, "remote write: reading series definitions failed");
        }
        self.start_shards(self.send.queue.min_shards.max(1));
        let mut saved = start;
        let mut last_save = Instant::now();
        let mut rates = Rates::new(&self.metrics);
        let mut lost_seen = 0;
        while !self.stop.load(Relaxed) {
            let mut buffers: Vec<Vec<Pending>> = vec![Vec::new(); self.shards.len()];
            let res = watcher.read_available(256, &mut |pos, rec| self.on_record(pos, rec, &mut buffers));
            let n = match res {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "remote write: reading the WAL failed");
                    0
                }
            };
            self.dispatch(buffers);
            let lost = watcher.truncated_jumps();
            if lost > lost_seen {
                self.metrics.wal_segments_lost.fetch_add(lost - lost_seen, Relaxed);
                lost_seen = lost;
            }
            if last_save.elapsed() >= Duration::from_secs(1) {
                saved = self.save(&file, saved);
                last_save = Instant::now();
                if let Some(want) = rates.desired_shards(&self.metrics, self.shards.len(), &self.send.queue) {
                    self.reshard(want);
                }
            }
            if n == 0 {
                std::thread::sleep(self.poll_interval);
            }
        }
        // Stop: close the shard channels; shards deliver what they hold until the deadline.
        self.shards.clear();
        for t in std::mem::take(&mut self.tasks) {
            let _ = self.rt.block_on(t);
        }
        self.save(&file, saved);
        tracing::info!(queue = %self.send.name, position = %self.tracker.lock().acked().encode(), "remote write: stopped");
    }

    fn save(&self, file: &PositionFile, saved: Position) -> Position {
        let acked = self.tracker.lock().acked();
        if acked != saved
            && let Err(e) = file.save(acked)
        {
            tracing::warn!(error = %e, "remote write: cannot save the queue position");
            return saved;
        }
        acked
    }

    fn on_series(&mut self, rec: Record) {
        if let Record::Series(series) = rec {
            for s in series {
                let labels = self.prepare(&s.labels);
                self.series.insert(s.series_ref, labels);
            }
        }
    }

    /// Relabels and adds external labels; `None` when relabeling drops the series.
    fn prepare(&self, labels: &Labels) -> Option<Arc<Labels>> {
        let relabeled = crate::relabel::process(labels, &self.relabel)?;
        let ext = &self.external_labels;
        if ext.is_empty() {
            return Some(Arc::new(relabeled));
        }
        let mut all: Vec<Label> = relabeled.into_vec();
        for l in ext.iter() {
            if !all.iter().any(|x| x.name == l.name) {
                all.push(l.clone());
            }
        }
        Labels::new(all).ok().map(Arc::new)
    }

    fn on_record(&mut self, pos: Position, rec: Record, buffers: &mut [Vec<Pending>]) {
        match rec {
            Record::Series(_) => {
                self.on_series(rec);
                self.tracker.lock().begin(pos, 0);
            }
            Record::Samples(samples) => {
                let m = &self.metrics;
                m.samples_in.fetch_add(samples.len() as u64, Relaxed);
                let mut kept = 0;
                let seq = self.tracker.lock().begin(pos, samples.len());
                let shards = buffers.len().max(1) as u64;
                for s in &samples {
                    QueueMetrics::raise(&m.highest_in_ms, s.t);
                    match self.series.get(&s.series_ref) {
                        Some(Some(labels)) => {
                            let idx = (mix(s.series_ref) % shards) as usize;
                            if let Some(buf) = buffers.get_mut(idx) {
                                buf.push(Pending { series: labels.clone(), t: s.t, v: s.v, exemplar: None, seq });
                                kept += 1;
                            }
                        }
                        _ => {
                            m.samples_dropped.fetch_add(1, Relaxed);
                        }
                    }
                }
                m.samples_pending.fetch_add(kept as i64, Relaxed);
                // Dropped samples need no delivery: acknowledge them now.
                self.tracker.lock().ack(seq, samples.len() - kept);
            }
            Record::Exemplars(exemplars) if self.send.send_exemplars => {
                let m = &self.metrics;
                m.exemplars_in.fetch_add(exemplars.len() as u64, Relaxed);
                let mut kept = 0;
                let seq = self.tracker.lock().begin(pos, exemplars.len());
                let shards = buffers.len().max(1) as u64;
                let total = exemplars.len();
                for e in exemplars {
                    // The series' shard, so an exemplar follows its series' samples.
                    let idx = (mix(e.series_ref) % shards) as usize;
                    match (self.series.get(&e.series_ref), buffers.get_mut(idx)) {
                        (Some(Some(labels)), Some(buf)) => {
                            let exemplar = Some(Box::new(e.labels));
                            buf.push(Pending { series: labels.clone(), t: e.t, v: e.v, exemplar, seq });
                            kept += 1;
                        }
                        _ => {
                            m.exemplars_dropped.fetch_add(1, Relaxed);
                        }
                    }
                }
                m.exemplars_pending.fetch_add(kept as i64, Relaxed);
                self.tracker.lock().ack(seq, total - kept);
            }
            Record::Tombstones(_) | Record::Exemplars(_) | Record::Unknown(_) => {
                self.tracker.lock().begin(pos, 0);
            }
        }
    }

    /// Hands the buffers to their shards, waiting when a shard's queue is full.
    fn dispatch(&self, buffers: Vec<Vec<Pending>>) {
        for (tx, buf) in self.shards.iter().zip(buffers) {
            if !buf.is_empty() && tx.blocking_send(buf).is_err() {
                tracing::error!(queue = %self.send.name, "remote write: a shard stopped unexpectedly");
            }
        }
    }

    fn start_shards(&mut self, n: usize) {
        // Each shard holds about `capacity` samples in its channel.
        let per_msg = 64usize;
        let slots = (self.send.queue.capacity / per_msg).max(4);
        for _ in 0..n {
            let (tx, rx) = mpsc::channel(slots);
            let task = self.rt.spawn(shard::run(
                self.send.clone(),
                rx,
                self.tracker.clone(),
                self.metrics.clone(),
                self.deadline.clone(),
            ));
            self.shards.push(tx);
            self.tasks.push(task);
        }
        self.metrics.shards.store(n as u64, Relaxed);
    }

    /// Drains the shards (everything sent) and restarts them with `n`. Keeps the current
    /// shards if they do not drain within 10 s (the remote end is failing: more shards would
    /// not help).
    fn reshard(&mut self, n: usize) {
        let started = Instant::now();
        while self.tracker.lock().pending_records() > 0 {
            if started.elapsed() > Duration::from_secs(10) || self.stop.load(Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::info!(queue = %self.send.name, from = self.shards.len(), to = n, "remote write: resharding");
        self.shards.clear();
        for t in std::mem::take(&mut self.tasks) {
            let _ = self.rt.block_on(t);
        }
        self.start_shards(n);
    }
}

/// Spreads series refs over shards (refs are sequential).
fn mix(r: u64) -> u64 {
    let mut x = r.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Rates behind the shard calculation, sampled every 10 s.
struct Rates {
    at: Instant,
    samples_in: u64,
    samples_sent: u64,
    micros: u64,
}

impl Rates {
    fn new(m: &QueueMetrics) -> Rates {
        Rates {
            at: Instant::now(),
            samples_in: m.samples_in.load(Relaxed),
            samples_sent: m.samples_sent.load(Relaxed),
            micros: m.request_micros.load(Relaxed),
        }
    }

    /// The shard count to switch to, if it differs enough from `current`.
    fn desired_shards(&mut self, m: &QueueMetrics, current: usize, q: &QueueConfig) -> Option<usize> {
        let elapsed = self.at.elapsed().as_secs_f64();
        if elapsed < 10.0 {
            return None;
        }
        let now = Rates::new(m);
        let in_rate = now.samples_in.saturating_sub(self.samples_in) as f64 / elapsed;
        let sent = now.samples_sent.saturating_sub(self.samples_sent);
        let busy = now.micros.saturating_sub(self.micros) as f64 / 1e6;
        *self = now;
        if sent == 0 {
            return None;
        }
        let per_sample = busy / sent as f64;
        let backlog_s = (m.highest_in_ms.load(Relaxed) - m.highest_sent_ms.load(Relaxed)).max(0) as f64 / 1000.0;
        // Catch up on 5 % of the backlog per second, on top of keeping up.
        let want = per_sample * (in_rate + 0.05 * backlog_s * in_rate);
        let want = (want.ceil() as usize).clamp(q.min_shards.max(1), q.max_shards.max(1));
        m.shards_desired.store(want as u64, Relaxed);
        let (lo, hi) = (current as f64 * 0.7, current as f64 * 1.3);
        ((want as f64) < lo || (want as f64) > hi).then_some(want)
    }
}

#[cfg(test)]
mod tests;
