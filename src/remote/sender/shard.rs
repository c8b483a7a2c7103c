//! One shard: batches the samples routed to it and sends each batch until the remote end
//! accepts it, gives it up for good (4xx), or the queue is stopping past its deadline.
//!
//! A series always goes to the same shard and a shard sends one batch at a time, so each
//! series' samples arrive in order.

use super::metrics::QueueMetrics;
use super::tracker::Tracker;
use super::{Pending, SendConfig};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::sync::watch;

/// What became of one batch.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Accepted (2xx).
    Sent,
    /// Rejected for good (4xx): counted as failed, acknowledged so the queue moves on.
    Failed,
    /// Still failing when the queue had to stop: not acknowledged, resent after a restart.
    Abandoned,
}

/// Runs one shard until its channel closes (and is drained) or the stop deadline passes.
pub(super) async fn run(
    cfg: Arc<SendConfig>,
    mut rx: mpsc::Receiver<Vec<Pending>>,
    tracker: Arc<Mutex<Tracker>>,
    metrics: Arc<QueueMetrics>,
    deadline: watch::Receiver<Option<Instant>>,
) {
    let max = cfg.queue.max_samples_per_send.max(1);
    let mut batch: Vec<Pending> = Vec::with_capacity(max);
    let mut carry: Vec<Pending> = Vec::new();
    let mut open = true;
    loop {
        // Fill the batch: what was carried over, then from the channel until full, the
        // channel closes, or the batch deadline passes with something in hand.
        let flush_at = tokio::time::Instant::now() + cfg.queue.batch_send_deadline;
        let take = |carry: &mut Vec<Pending>, batch: &mut Vec<Pending>| {
            let n = (max - batch.len()).min(carry.len());
            batch.extend(carry.drain(..n));
        };
        take(&mut carry, &mut batch);
        while open && batch.len() < max {
            let got = if batch.is_empty() {
                rx.recv().await
            } else {
                match tokio::time::timeout_at(flush_at, rx.recv()).await {
                    Ok(got) => got,
                    Err(_) => break,
                }
            };
            match got {
                Some(items) => {
                    carry.extend(items);
                    take(&mut carry, &mut batch);
                }
                None => open = false,
            }
        }
        if batch.is_empty() {
            if !open && carry.is_empty() {
                return;
            }
            continue;
        }
        let outcome = send_with_retries(&cfg, &batch, &metrics, &deadline).await;
        if outcome == Outcome::Abandoned {
            // Stopping with the remote end still failing: leave everything unacknowledged.
            return;
        }
        let mut by_seq: HashMap<u64, usize> = HashMap::new();
        let mut newest = i64::MIN;
        let mut n_ex = 0u64;
        for p in &batch {
            *by_seq.entry(p.seq).or_default() += 1;
            if p.exemplar.is_some() {
                n_ex += 1;
            } else {
                newest = newest.max(p.t);
            }
        }
        let n = batch.len() as u64 - n_ex;
        if outcome == Outcome::Sent {
            metrics.samples_sent.fetch_add(n, Relaxed);
            metrics.exemplars_sent.fetch_add(n_ex, Relaxed);
            QueueMetrics::raise(&metrics.highest_sent_ms, newest);
        } else {
            metrics.samples_failed.fetch_add(n, Relaxed);
            metrics.exemplars_failed.fetch_add(n_ex, Relaxed);
        }
        metrics.samples_pending.fetch_sub(n as i64, Relaxed);
        metrics.exemplars_pending.fetch_sub(n_ex as i64, Relaxed);
        {
            let mut t = tracker.lock();
            for (seq, k) in by_seq {
                t.ack(seq, k);
            }
        }
        batch.clear();
    }
}

/// Sends `batch`, retrying recoverable failures with exponential backoff.
async fn send_with_retries(
    cfg: &SendConfig,
    batch: &[Pending],
    metrics: &QueueMetrics,
    deadline: &watch::Receiver<Option<Instant>>,
) -> Outcome {
    let body = match snap::raw::Encoder::new().compress_vec(&(cfg.encoder)(batch)) {
        Ok(b) => bytes::Bytes::from(b),
        Err(e) => {
            tracing::error!(queue = %cfg.name, error = %e, "remote write: cannot compress a batch; dropping it");
            return Outcome::Failed;
        }
    };
    let n_ex = batch.iter().filter(|p| p.exemplar.is_some()).count() as u64;
    let tally = Tally {
        retried: &metrics.samples_retried,
        bytes: &metrics.bytes_sent,
        items: batch.len() as u64 - n_ex,
        also_retried: Some((&metrics.exemplars_retried, n_ex)),
        timed: true,
    };
    post_with_retries(cfg, body, tally, metrics, deadline).await
}

/// Which counters one request moves.
pub(super) struct Tally<'a> {
    /// Raised by `items` on each retry.
    pub retried: &'a AtomicU64,
    /// Raised by the body size once accepted.
    pub bytes: &'a AtomicU64,
    /// Entries in the request (samples or metadata).
    pub items: u64,
    /// A second counter raised on each retry, and by how much (exemplars riding along with
    /// samples).
    pub also_retried: Option<(&'a AtomicU64, u64)>,
    /// Whether the request counts in the request count and time behind resharding.
    pub timed: bool,
}

/// Posts `body` (snappy-compressed), retrying recoverable failures with exponential backoff.
pub(super) async fn post_with_retries(
    cfg: &SendConfig,
    body: bytes::Bytes,
    tally: Tally<'_>,
    metrics: &QueueMetrics,
    deadline: &watch::Receiver<Option<Instant>>,
) -> Outcome {
    let mut backoff = cfg.queue.min_backoff;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let started = Instant::now();
        let mut req = cfg
            .client
            .post(&cfg.url)
            .timeout(cfg.timeout)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", cfg.content_type.as_str())
            .header("User-Agent", concat!("Cairn/", env!("CARGO_PKG_VERSION")))
            .header("X-Prometheus-Remote-Write-Version", cfg.version_header.as_str());
        for (k, v) in &cfg.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if attempt > 1 {
            req = req.header("Retry-Attempt", (attempt - 1).to_string());
        }
        let res = match cfg.client.authorize(req).await {
            Ok(req) => req.body(body.clone()).send().await.map_err(|e| e.to_string()),
            // No token: retried like a network error.
            Err(e) => Err(e.to_string()),
        };
        if tally.timed {
            metrics.requests.fetch_add(1, Relaxed);
            metrics.request_micros.fetch_add(started.elapsed().as_micros() as u64, Relaxed);
        }
        let retry_after = match res {
            Ok(resp) if resp.status().is_success() => {
                tally.bytes.fetch_add(body.len() as u64, Relaxed);
                return Outcome::Sent;
            }
            Ok(resp) => {
                let status = resp.status();
                let recoverable = status.is_server_error() || (status.as_u16() == 429 && cfg.queue.retry_on_http_429);
                let retry_after = resp
                    .headers()
                    .get("Retry-After")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let text = resp.text().await.unwrap_or_default();
                let text = text.lines().next().unwrap_or("").chars().take(256).collect::<String>();
                if !recoverable {
                    tracing::error!(queue = %cfg.name, %status, body = %text, items = tally.items, "remote write: non-recoverable error, dropping the batch");
                    return Outcome::Failed;
                }
                tracing::warn!(queue = %cfg.name, %status, body = %text, "remote write: recoverable error, retrying");
                retry_after
            }
            Err(e) => {
                tracing::warn!(queue = %cfg.name, error = %e, "remote write: send failed, retrying");
                None
            }
        };
        tally.retried.fetch_add(tally.items, Relaxed);
        if let Some((counter, n)) = tally.also_retried {
            counter.fetch_add(n, Relaxed);
        }
        let wait = retry_after.map(|r| r.min(cfg.queue.max_backoff)).unwrap_or(backoff);
        if let Some(dl) = *deadline.borrow()
            && Instant::now() + wait >= dl
        {
            return Outcome::Abandoned;
        }
        let mut dl_rx = deadline.clone();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            // Stopping: re-check the deadline against the remaining wait.
            _ = dl_rx.changed() => {}
        }
        backoff = (backoff * 2).min(cfg.queue.max_backoff);
    }
}
