//! Sends remote-write bodies to a server: paced at a target rate, or as fast as it takes them.
//!
//! Every shard is one task with one request in flight at a time (like a queue shard of
//! Prometheus's sender), so the samples of a series stay in order. Paced sending schedules
//! body `j` of a shard at `start + (samples before j) / (shard rate)`; a server that answers
//! more slowly than that makes the shard fall behind its schedule, and the step finishes late.
//! Server errors (5xx, 429) and connection failures are retried a few times with a backoff, as
//! a real sender would; other answers are counted as rejected samples.

use crate::encoder::{Body, ShardBodies};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a batch of sends went.
#[derive(Debug, Clone, Default)]
pub struct SendReport {
    /// Samples in requests the server accepted (2xx).
    pub samples_ok: u64,
    /// Samples in requests the server rejected or that failed after the retries.
    pub samples_failed: u64,
    /// Samples never sent because the deadline passed.
    pub samples_unsent: u64,
    /// Retries after 5xx, 429 or a connection failure.
    pub retries: u64,
    /// The first failure, for the log.
    pub first_error: Option<String>,
    /// From the start to the last answer.
    pub elapsed: Duration,
    /// How long the send was scheduled to take (zero when unpaced).
    pub scheduled: Duration,
}

impl SendReport {
    /// Accepted samples per second over the send: over its scheduled time when it finished
    /// early (the last body is due before the scheduled end), else over its real time.
    pub fn rate(&self) -> f64 {
        self.samples_ok as f64 / self.elapsed.max(self.scheduled).as_secs_f64().max(1e-9)
    }

    fn merge(&mut self, o: SendReport) {
        self.samples_ok += o.samples_ok;
        self.samples_failed += o.samples_failed;
        self.samples_unsent += o.samples_unsent;
        self.retries += o.retries;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
    }
}

/// The outcome of one request, after retries.
#[derive(Debug)]
pub enum Outcome {
    /// 2xx.
    Accepted,
    /// The HTTP status and the start of the body of a final failure.
    Rejected(u16, String),
    /// A connection-level failure that outlasted the retries.
    Failed(String),
}

const MAX_RETRIES: u32 = 4;

/// Posts one remote-write body, retrying 5xx, 429 and connection failures with a backoff.
/// Returns the outcome and the number of retries.
pub async fn post(client: &reqwest::Client, url: &str, body: &Body) -> (Outcome, u32) {
    let mut retries = 0;
    loop {
        let res = client
            .post(url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("User-Agent", "cairn-bench/0")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body.data.clone())
            .send()
            .await;
        let outcome = match res {
            Ok(r) if r.status().is_success() => {
                // Drain the (normally empty) body so the connection is reused.
                let _ = r.bytes().await;
                return (Outcome::Accepted, retries);
            }
            Ok(r) => {
                let code = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                let text: String = text.chars().take(300).collect();
                if code < 500 && code != 429 {
                    return (Outcome::Rejected(code, text), retries);
                }
                Outcome::Rejected(code, text)
            }
            Err(e) => Outcome::Failed(e.to_string()),
        };
        if retries >= MAX_RETRIES {
            return (outcome, retries);
        }
        retries += 1;
        tokio::time::sleep(Duration::from_millis(50 << retries)).await;
    }
}

/// Sends every shard's bodies, shard by shard concurrently; within a shard one at a time.
/// With `rate` (samples/s over all shards), bodies are scheduled evenly so that the whole
/// batch takes `total / rate` seconds; without it they go as fast as the server answers.
/// Sending stops at `deadline` after the start (the rest counts as unsent).
pub async fn send(
    client: &reqwest::Client,
    url: &str,
    bodies: ShardBodies,
    rate: Option<f64>,
    deadline: Duration,
) -> SendReport {
    let total: u64 = bodies.iter().flatten().map(|b| u64::from(b.samples)).sum();
    let start = Instant::now();
    let url: Arc<str> = Arc::from(url);
    let mut tasks = Vec::with_capacity(bodies.len());
    for shard in bodies {
        let shard_total: u64 = shard.iter().map(|b| u64::from(b.samples)).sum();
        // Each shard gets its share of the rate, so all shards finish together.
        let shard_rate = rate.map(|r| r * shard_total as f64 / total.max(1) as f64);
        let client = client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut rep = SendReport::default();
            let mut before = 0u64;
            for body in shard {
                if start.elapsed() >= deadline {
                    rep.samples_unsent += u64::from(body.samples);
                    continue;
                }
                if let Some(r) = shard_rate.filter(|r| *r > 0.0) {
                    let due = start + Duration::from_secs_f64(before as f64 / r);
                    tokio::time::sleep_until(due.into()).await;
                }
                before += u64::from(body.samples);
                let (outcome, retries) = post(&client, &url, &body).await;
                rep.retries += u64::from(retries);
                match outcome {
                    Outcome::Accepted => rep.samples_ok += u64::from(body.samples),
                    Outcome::Rejected(code, text) => {
                        rep.samples_failed += u64::from(body.samples);
                        rep.first_error.get_or_insert_with(|| format!("HTTP {code}: {}", text.trim()));
                    }
                    Outcome::Failed(e) => {
                        rep.samples_failed += u64::from(body.samples);
                        rep.first_error.get_or_insert(e);
                    }
                }
            }
            rep
        }));
    }
    let mut report = SendReport::default();
    for t in tasks {
        match t.await {
            Ok(r) => report.merge(r),
            Err(e) => {
                report.first_error.get_or_insert_with(|| format!("sender task failed: {e}"));
            }
        }
    }
    report.elapsed = start.elapsed();
    report.scheduled = rate.filter(|r| *r > 0.0).map_or(Duration::ZERO, |r| Duration::from_secs_f64(total as f64 / r));
    report
}

/// An HTTP client for loopback servers: no proxy, keep-alive connections for every shard,
/// generous timeouts (a slow answer is a result, not an error).
pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(64)
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A loopback server that answers every request with `status` after `delay`, counting
    /// requests.
    async fn fake_server(status: u16, delay: Duration) -> (String, Arc<std::sync::atomic::AtomicU64>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let c = count.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else { return };
                let c = c.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 1 << 16];
                    let mut have = Vec::new();
                    loop {
                        // Read one request: headers, then Content-Length bytes.
                        let head_end = loop {
                            if let Some(p) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                                break p + 4;
                            }
                            match s.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => have.extend_from_slice(&buf[..n]),
                            }
                        };
                        let head = String::from_utf8_lossy(&have[..head_end]).to_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse().unwrap());
                        while have.len() < head_end + len {
                            match s.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => have.extend_from_slice(&buf[..n]),
                            }
                        }
                        have.drain(..head_end + len);
                        c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        tokio::time::sleep(delay).await;
                        let resp = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\n\r\nno");
                        if s.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (format!("http://{addr}/api/v1/write"), count)
    }

    fn bodies(shards: usize, per_shard: usize, samples: u32) -> ShardBodies {
        (0..shards)
            .map(|_| (0..per_shard).map(|_| Body { data: Bytes::from_static(b"x"), samples }).collect())
            .collect()
    }

    #[tokio::test]
    async fn paced_send_takes_the_scheduled_time() {
        let (url, count) = fake_server(204, Duration::ZERO).await;
        let c = client(Duration::from_secs(5)).unwrap();
        // 2 shards x 10 bodies x 100 samples = 2000 samples at 4000/s: the last body is due
        // at 0.45 s (900 samples before it in its shard at 2000/s).
        let r = send(&c, &url, bodies(2, 10, 100), Some(4000.0), Duration::from_secs(10)).await;
        assert_eq!(r.samples_ok, 2000);
        assert_eq!(r.scheduled, Duration::from_millis(500));
        assert!(r.rate() <= 4000.0 + 1e-9, "{}", r.rate());
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 20);
        assert!(r.elapsed >= Duration::from_millis(450), "{:?}", r.elapsed);
        assert!(r.elapsed < Duration::from_secs(3), "{:?}", r.elapsed);
    }

    #[tokio::test]
    async fn slow_server_misses_the_schedule_and_the_deadline() {
        let (url, _) = fake_server(204, Duration::from_millis(100)).await;
        let c = client(Duration::from_secs(5)).unwrap();
        // One shard, 20 bodies, each answered after 100 ms: at most ~5 fit in 0.5 s.
        let r = send(&c, &url, bodies(1, 20, 10), Some(1e9), Duration::from_millis(500)).await;
        assert!(r.samples_unsent >= 100, "{r:?}");
        assert_eq!(r.samples_ok + r.samples_unsent, 200);
    }

    #[tokio::test]
    async fn rejections_are_counted_not_retried() {
        let (url, count) = fake_server(400, Duration::ZERO).await;
        let c = client(Duration::from_secs(5)).unwrap();
        let r = send(&c, &url, bodies(1, 3, 7), None, Duration::from_secs(10)).await;
        assert_eq!((r.samples_ok, r.samples_failed, r.retries), (0, 21, 0));
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert_eq!(r.first_error.as_deref(), Some("HTTP 400: no"));
    }

    #[tokio::test]
    async fn server_errors_are_retried() {
        let (url, count) = fake_server(503, Duration::ZERO).await;
        let c = client(Duration::from_secs(5)).unwrap();
        let r = send(&c, &url, bodies(1, 1, 5), None, Duration::from_secs(10)).await;
        assert_eq!(r.retries, u64::from(MAX_RETRIES));
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), u64::from(MAX_RETRIES) + 1);
        assert_eq!(r.samples_failed, 5);
    }
}
