//! Exemplar storage against Prometheus 2.42 (`--enable-feature=exemplar-storage`): both
//! scrape the same OpenMetrics fixture whose histogram buckets and counter carry exemplars
//! with explicit timestamps, in stages (each page served long enough for both to scrape it
//! at least twice), so both must store identical exemplars. Then:
//! * `/api/v1/query_exemplars` answers the same for several queries (selectors, functions,
//!   time windows, a query without selectors, a parse error);
//! * Cairn restarted on its data directory answers the same again (WAL replay).
//!
//! Prometheus 2.42 returns series in map order; both answers are sorted by series labels
//! before comparing. Needs `prometheus` on `PATH`; without it the test skips (fails under
//! `CI=true`).

use crate::peer::{PeerProcess, free_addr, http_get, peers_available, percent_encode};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A loopback HTTP server answering every request with an OpenMetrics page.
struct OmFixture {
    addr: SocketAddr,
    page: Arc<Mutex<String>>,
    scrapes: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OmFixture {
    fn start(page: &str) -> OmFixture {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let page = Arc::new(Mutex::new(page.to_string()));
        let scrapes = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, n, s) = (page.clone(), scrapes.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = conn.set_write_timeout(Some(Duration::from_secs(2)));
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 64 * 1024 {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => req.extend_from_slice(&buf[..k]),
                    }
                }
                n.fetch_add(1, Ordering::Relaxed);
                let body = p.lock().unwrap().clone();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(resp.as_bytes());
            }
        });
        OmFixture { addr, page, scrapes, stop, thread: Some(thread) }
    }

    fn set_page(&self, page: &str) {
        *self.page.lock().unwrap() = page.to_string();
    }
}

impl Drop for OmFixture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Page `k`: every exemplar at `base + k` seconds, values and trace ids depending on `k`.
fn page(base: i64, k: i64) -> String {
    let ts = base + k;
    format!(
        "# TYPE req_seconds histogram\n\
         req_seconds_bucket{{le=\"0.1\"}} {a} # {{trace_id=\"t{k}a\"}} 0.05 {ts}.25\n\
         req_seconds_bucket{{le=\"1\"}} {b} # {{trace_id=\"t{k}b\",span_id=\"s{k}\"}} 0.{k}5 {ts}.5\n\
         req_seconds_bucket{{le=\"+Inf\"}} {b} # {{trace_id=\"t{k}c\"}} 2.5 {ts}.75\n\
         req_seconds_count {b}\nreq_seconds_sum 1.5\n\
         # TYPE jobs counter\n\
         jobs_total{{kind=\"x\"}} {b} # {{trace_id=\"j{k}\"}} {k} {ts}.125\n\
         jobs_total{{kind=\"y\"}} 1\n\
         # EOF\n",
        a = k + 1,
        b = 2 * k + 3,
    )
}

fn start(name: &str, bin: &str, dir: &Path, config: &str, extra: &[&str]) -> PeerProcess {
    std::fs::create_dir_all(dir).unwrap();
    let cfg = dir.join(format!("{name}.yml"));
    std::fs::write(&cfg, config).unwrap();
    let addr = free_addr().unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address={addr}"))
        .args(extra);
    let mut p = PeerProcess::spawn(name, cmd, addr, &dir.join(format!("{name}.log"))).unwrap();
    p.wait_ready("/-/ready", Duration::from_secs(30)).unwrap();
    p
}

/// `query_exemplars` as `(status, body as JSON with series sorted)`; 204 gives `Null`.
fn exemplars(addr: SocketAddr, query: &str, start: f64, end: f64) -> (u16, Value) {
    let path = format!("/api/v1/query_exemplars?query={}&start={start:.3}&end={end:.3}", percent_encode(query));
    let r = http_get(addr, &path, TIMEOUT).unwrap();
    if r.status == 204 {
        return (204, Value::Null);
    }
    let mut v: Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", r.text()));
    if let Some(arr) = v.get_mut("data").and_then(|d| d.as_array_mut()) {
        arr.sort_by_key(|s| s["seriesLabels"].to_string());
    }
    (r.status, v)
}

/// Exemplars stored in total (from a query over everything).
fn count(addr: SocketAddr) -> usize {
    let (_, v) = exemplars(addr, "{__name__=~\".+\"}", 0.0, 4e9);
    v["data"].as_array().map_or(0, |a| a.iter().map(|s| s["exemplars"].as_array().map_or(0, Vec::len)).sum())
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

#[test]
fn query_exemplars_matches_prometheus_2_42_and_survives_restart() {
    if !peers_available("exemplars", &["prometheus"], "prometheus") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Exemplar timestamps a minute in the past, whole seconds plus fixed fractions.
    let base = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64) - 60;
    let fx = OmFixture::start(&page(base, 0));
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
         - job_name: om\n  static_configs:\n  - targets: ['{}']\n",
        fx.addr
    );
    let flag = ["--enable-feature=exemplar-storage"];
    let prom = start("prometheus", "prometheus", &dir.path().join("p"), &config, &flag);
    let cdir = dir.path().join("c");
    let cairn = start("cairn", env!("CARGO_BIN_EXE_cairn"), &cdir, &config, &flag);
    let (p, c) = (prom.addr(), cairn.addr());
    // Page 0 has four exemplars; wait until both stored them (Prometheus's discovery takes
    // a few seconds to hand the target over).
    for addr in [p, c] {
        wait_until("the first page's exemplars", Duration::from_secs(40), || count(addr) == 4);
    }
    // Two more pages, each served long enough for two scrapes by both.
    for k in 1..=2 {
        fx.set_page(&page(base, k));
        std::thread::sleep(Duration::from_millis(2500));
    }
    for (name, addr) in [("prometheus", p), ("cairn", c)] {
        assert_eq!(count(addr), 12, "{name}: three pages of four exemplars");
    }
    assert!(fx.scrapes.load(Ordering::Relaxed) >= 8);

    let b = base as f64;
    let queries: Vec<(&str, f64, f64)> = vec![
        ("{job=\"om\"}", 0.0, 4e9),
        ("req_seconds_bucket", b, b + 1.3),
        ("req_seconds_bucket{le=\"1\"}", 0.0, 4e9),
        ("rate(jobs_total[5m]) + on() group_left sum(req_seconds_bucket{le=\"0.1\"})", 0.0, 4e9),
        ("jobs_total{kind=\"y\"}", 0.0, 4e9),
        ("1 + 2", 0.0, 4e9),
        ("sum(", 0.0, 4e9),
        ("{job=\"om\"}", b + 2.0, b + 1.0),
        ("{job=\"om\"}", b + 5.0, b + 9.0),
    ];
    let mut answers = Vec::new();
    for (q, s, e) in &queries {
        let (pa, ca) = (exemplars(p, q, *s, *e), exemplars(c, q, *s, *e));
        assert_eq!(ca, pa, "query_exemplars {q} [{s}, {e}]: cairn (left) vs prometheus (right)");
        answers.push(ca);
    }
    // The answers are not trivially empty.
    assert_eq!(answers[0].1["data"].as_array().map(Vec::len), Some(4));
    // Page 0's three buckets, and page 1's `le="0.1"` one at `base + 1.25`.
    assert_eq!(answers[1].1["data"].as_array().map(Vec::len), Some(3));
    assert_eq!(answers[5].0, 204);
    assert_eq!(answers[6].0, 400);

    // Restart Cairn without scraping: the exemplars come back from the WAL.
    drop(cairn);
    let quiet = "global: {}\n";
    let cairn = start("cairn", env!("CARGO_BIN_EXE_cairn"), &cdir, quiet, &flag);
    for ((q, s, e), want) in queries.iter().zip(&answers) {
        assert_eq!(&exemplars(cairn.addr(), q, *s, *e), want, "after restart: {q}");
    }
    let metrics = http_get(cairn.addr(), "/metrics", TIMEOUT).unwrap().text();
    assert!(metrics.contains("prometheus_tsdb_exemplar_exemplars_in_storage 12\n"), "{metrics}");
    assert!(metrics.contains("prometheus_tsdb_exemplar_max_exemplars 100000\n"));
}

/// The histogram and counter of [`page`], without exemplars.
const PLAIN: &str = "# TYPE req_seconds histogram\nreq_seconds_bucket{le=\"0.1\"} 1\nreq_seconds_bucket{le=\"1\"} 3\n\
req_seconds_bucket{le=\"+Inf\"} 3\nreq_seconds_count 3\nreq_seconds_sum 1.5\n# TYPE jobs counter\n\
jobs_total{kind=\"x\"} 3\njobs_total{kind=\"y\"} 1\n# EOF\n";

/// Cairn with `send_exemplars: true` remote-writes what it scraped into a Prometheus 2.42
/// receiver with exemplar storage; the receiver's `query_exemplars` then equals Cairn's.
#[test]
fn send_exemplars_into_prometheus_2_42() {
    if !peers_available("exemplars", &["prometheus"], "prometheus") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64) - 60;
    let fx = OmFixture::start(PLAIN);
    let recv = start(
        "prometheus",
        "prometheus",
        &dir.path().join("p"),
        "global: {}\n",
        &["--web.enable-remote-write-receiver", "--enable-feature=exemplar-storage"],
    );
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
         - job_name: om\n  static_configs:\n  - targets: ['{}']\n\
         remote_write:\n- url: http://{}/api/v1/write\n  send_exemplars: true\n  \
         queue_config: {{batch_send_deadline: 100ms}}\n",
        fx.addr,
        recv.addr()
    );
    let flag = ["--enable-feature=exemplar-storage"];
    let cairn = start("cairn", env!("CARGO_BIN_EXE_cairn"), &dir.path().join("c"), &config, &flag);
    // Samples reach the receiver: the queue is running before any exemplar is scraped.
    wait_until("samples at the receiver", Duration::from_secs(30), || {
        let r = http_get(recv.addr(), "/api/v1/query?query=jobs_total", TIMEOUT).unwrap();
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        v["data"]["result"].as_array().is_some_and(|a| a.len() == 2)
    });
    for k in 0..=2 {
        fx.set_page(&page(base, k));
        std::thread::sleep(Duration::from_millis(1500));
    }
    wait_until("cairn has three pages of exemplars", Duration::from_secs(10), || count(cairn.addr()) == 12);
    wait_until("the receiver has them too", Duration::from_secs(20), || count(recv.addr()) == 12);
    let q = "{job=\"om\"}";
    assert_eq!(exemplars(cairn.addr(), q, 0.0, 4e9), exemplars(recv.addr(), q, 0.0, 4e9));
    let metrics = http_get(cairn.addr(), "/metrics", TIMEOUT).unwrap().text();
    let sent = metrics
        .lines()
        .find(|l| l.starts_with("prometheus_remote_storage_exemplars_total{"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok());
    assert_eq!(sent, Some(12.0), "{metrics}");
}
