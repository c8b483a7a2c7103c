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
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::sync::watch;

/// What became of one batch.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
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
        let res = req.body(body.clone()).send().await;
        metrics.requests.fetch_add(1, Relaxed);
        metrics.request_micros.fetch_add(started.elapsed().as_micros() as u64, Relaxed);
        let retry_after = match res {
            Ok(resp) if resp.status().is_success() => {
                metrics.bytes_sent.fetch_add(body.len() as u64, Relaxed);
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
                    tracing::error!(queue = %cfg.name, %status, body = %text, samples = batch.len(), "remote write: non-recoverable error, dropping the batch");
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
        let n_ex = batch.iter().filter(|p| p.exemplar.is_some()).count() as u64;
        metrics.samples_retried.fetch_add(batch.len() as u64 - n_ex, Relaxed);
        metrics.exemplars_retried.fetch_add(n_ex, Relaxed);
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
