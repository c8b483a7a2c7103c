//! Scraping end to end on the real binary: a fixture target served by the test (its page
//! changes while Cairn scrapes it), file and HTTP discovery, the targets and metadata APIs,
//! staleness of series that vanish, and configuration reloads (kept loops, a refused bad
//! file, SIGHUP). Every wait is bounded; everything listens on 127.0.0.1.
//!
//! Expected values are derived by hand from Prometheus's scrape semantics (the comments say
//! which rule); `scrape_diff` compares the same things against a running Prometheus 2.42.

use crate::peer::{PeerProcess, free_addr, http_get, http_request, percent_encode};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(10);

/// What the fixture serves and what it saw.
#[derive(Default)]
pub struct FixtureState {
    /// The `/metrics` page (text format 0.0.4).
    pub page: String,
    /// The `/sd` answer (HTTP discovery JSON).
    pub sd: String,
    /// The `Accept` header of the last `/metrics` request.
    pub last_accept: String,
    /// Requests for `/metrics` so far.
    pub scrapes: u64,
}

/// A tiny HTTP/1.1 server on 127.0.0.1 serving [`FixtureState`]; stopped on drop.
pub struct Fixture {
    /// Its address.
    pub addr: SocketAddr,
    /// What it serves.
    pub state: Arc<Mutex<FixtureState>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Fixture {
    /// Starts serving `page` at `/metrics`.
    pub fn start(page: &str) -> Fixture {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(FixtureState { page: page.to_string(), ..FixtureState::default() }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !sp.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => serve(conn, &st),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Fixture { addr, state, stop, thread: Some(thread) }
    }

    /// Replaces the page.
    pub fn set_page(&self, page: &str) {
        self.state.lock().unwrap().page = page.to_string();
    }

    /// Number of scrapes so far.
    pub fn scrapes(&self) -> u64 {
        self.state.lock().unwrap().scrapes
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers one request (bounded by socket timeouts).
fn serve(mut conn: std::net::TcpStream, state: &Mutex<FixtureState>) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(2)));
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 64 * 1024 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&req).into_owned();
    let path = text.split_whitespace().nth(1).unwrap_or("").to_string();
    let header = |name: &str| {
        text.lines()
            .find_map(|l| {
                l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    let (ct, body) = {
        let mut s = state.lock().unwrap();
        if path.starts_with("/metrics") {
            s.scrapes += 1;
            s.last_accept = header("accept");
            ("text/plain; version=0.0.4; charset=utf-8", Some(s.page.clone()))
        } else if path.starts_with("/sd") {
            ("application/json", Some(s.sd.clone()))
        } else {
            ("text/plain", None)
        }
    };
    let resp = match body {
        Some(b) => {
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
                b.len()
            )
        }
        None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
    };
    let _ = conn.write_all(resp.as_bytes());
}

/// Starts `cairn` on `config` (written to `dir/cairn.yml`), lifecycle API on, and waits
/// until it is ready.
pub fn start_cairn(dir: &Path, config: &str) -> PeerProcess {
    let cfg = dir.join("cairn.yml");
    std::fs::write(&cfg, config).unwrap();
    let addr = free_addr().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
    cmd.arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("cairn-data").display()))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--web.enable-lifecycle");
    let mut p = PeerProcess::spawn("cairn", cmd, addr, &dir.join("cairn.log")).unwrap();
    p.wait_ready("/-/ready", Duration::from_secs(30)).unwrap();
    p
}

/// `GET path` as JSON (`data` member), failing the test on anything but a success.
pub fn api(addr: SocketAddr, path: &str) -> Value {
    let r = http_get(addr, path, TIMEOUT).unwrap();
    let v: Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", r.text()));
    assert_eq!(v["status"], "success", "{path}: {v}");
    v["data"].clone()
}

/// An instant query's result as (labels as `name=value,...`, value) pairs, sorted. `time`
/// is Unix seconds or now.
pub fn query(addr: SocketAddr, q: &str, time: Option<f64>) -> Vec<(String, String)> {
    let mut path = format!("/api/v1/query?query={}", percent_encode(q));
    if let Some(t) = time {
        path.push_str(&format!("&time={t:.3}"));
    }
    let data = api(addr, &path);
    let mut out: Vec<(String, String)> = data["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let labels = s["metric"].as_object().unwrap().iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap()));
            (labels.collect::<Vec<_>>().join(","), s["value"][1].as_str().unwrap().to_string())
        })
        .collect();
    out.sort();
    out
}

/// Polls `f` every 100 ms until it returns `Some`, for at most `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Unix seconds now.
pub fn now_secs() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

fn metric_value(addr: SocketAddr, name: &str) -> Option<String> {
    let r = http_get(addr, "/metrics", TIMEOUT).ok()?;
    r.text().lines().find_map(|l| l.strip_prefix(&format!("{name} ")).map(str::to_string))
}

const PAGE: &str =
    "# HELP a_total Things.\n# TYPE a_total counter\na_total 3\n# TYPE b gauge\nb{x=\"1\"} 7\nb{x=\"2\"} 8\n";

#[test]
fn series_come_and_go() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::start(PAGE);
    let cfg = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n- job_name: fix\n  static_configs:\n  - targets: ['{}']\n    labels: {{team: a}}\n",
        fx.addr
    );
    let cairn = start_cairn(dir.path(), &cfg);
    let addr = cairn.addr();
    let inst = fx.addr.to_string();
    // `up` and the other synthetic series carry the target's labels (Prometheus's report).
    let up = wait_for("up", Duration::from_secs(20), || {
        let r = query(addr, "up", None);
        (!r.is_empty()).then_some(r)
    });
    assert_eq!(up, vec![(format!("__name__=up,instance={inst},job=fix,team=a"), "1".to_string())]);
    assert_eq!(query(addr, "scrape_samples_scraped", None)[0].1, "3");
    assert_eq!(query(addr, "scrape_samples_post_metric_relabeling", None)[0].1, "3");
    assert_eq!(query(addr, "count(scrape_duration_seconds)", None)[0].1, "1");
    // The first scrape added three series; later ones add none (the cache is warm).
    wait_for("a second scrape", Duration::from_secs(10), || (fx.scrapes() >= 3).then_some(()));
    assert_eq!(query(addr, "max_over_time(scrape_series_added[1h])", None)[0].1, "3");
    assert_eq!(query(addr, "scrape_series_added", None)[0].1, "0");
    assert_eq!(
        query(addr, "b", None),
        vec![
            (format!("__name__=b,instance={inst},job=fix,team=a,x=1"), "7".to_string()),
            (format!("__name__=b,instance={inst},job=fix,team=a,x=2"), "8".to_string()),
        ]
    );
    // Prometheus's default Accept header (from the default scrape_protocols).
    assert_eq!(
        fx.state.lock().unwrap().last_accept,
        "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
    );

    // b{x="2"} vanishes: the next scrape writes its stale marker, so it is gone at once
    // (not after the 5m lookback).
    fx.set_page("# TYPE a_total counter\na_total 4\nb{x=\"1\"} 7\n");
    let changed = fx.scrapes();
    wait_for("two scrapes of the new page", Duration::from_secs(10), || (fx.scrapes() >= changed + 2).then_some(()));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        query(addr, "b", None),
        vec![(format!("__name__=b,instance={inst},job=fix,team=a,x=1"), "7".to_string())]
    );
    assert_eq!(query(addr, "a_total", None)[0].1, "4");

    // The targets and metadata APIs.
    let t = api(addr, "/api/v1/targets");
    let active = t["activeTargets"].as_array().unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["health"], "up");
    assert_eq!(active[0]["scrapePool"], "fix");
    assert_eq!(active[0]["scrapeUrl"], format!("http://{inst}/metrics"));
    assert_eq!(active[0]["labels"], serde_json::json!({"instance": inst, "job": "fix", "team": "a"}));
    assert_eq!(active[0]["discoveredLabels"]["__scrape_interval__"], "1s");
    assert_eq!(active[0]["lastError"], "");
    let md = api(addr, "/api/v1/targets/metadata?metric=a_total");
    assert_eq!(
        md,
        serde_json::json!([{"target": {"instance": inst, "job": "fix", "team": "a"}, "type": "counter", "help": "Things.", "unit": ""}])
    );
    assert_eq!(
        api(addr, "/api/v1/metadata?metric=b"),
        serde_json::json!({"b": [{"type": "gauge", "help": "", "unit": ""}]})
    );
    assert_eq!(api(addr, "/api/v1/scrape_pools"), serde_json::json!({"scrapePools": ["fix"]}));

    // The target fails: up is 0, every series is stale, the error is on the target.
    fx.set_page("this is not the text format\n");
    let changed = fx.scrapes();
    wait_for("a failed scrape", Duration::from_secs(10), || (fx.scrapes() >= changed + 2).then_some(()));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(query(addr, "up", None)[0].1, "0");
    assert!(query(addr, "b", None).is_empty());
    let t = api(addr, "/api/v1/targets?state=active");
    assert_eq!(t["activeTargets"][0]["health"], "down");
    assert!(t["activeTargets"][0]["lastError"].as_str().unwrap().contains("line 1"), "{t}");
}

#[test]
fn reload_keeps_loops_and_refuses_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::start(PAGE);
    let job = |name: &str, interval: &str| {
        format!("- job_name: {name}\n  scrape_interval: {interval}\n  static_configs:\n  - targets: ['{}']\n", fx.addr)
    };
    let cfg1 = format!("scrape_configs:\n{}", job("one", "1s"));
    let cairn = start_cairn(dir.path(), &cfg1);
    let addr = cairn.addr();
    wait_for("job one scraped twice", Duration::from_secs(20), || {
        let r = query(addr, "count_over_time(up{job=\"one\"}[1h])", None);
        r.first().filter(|(_, v)| v.parse::<u32>().unwrap_or(0) >= 2).map(|_| ())
    });

    // Adding a job leaves job one's loop alone: its cache stays warm, so no later scrape of
    // it reports added series.
    let reload_at = now_secs();
    std::fs::write(dir.path().join("cairn.yml"), format!("scrape_configs:\n{}{}", job("one", "1s"), job("two", "1s")))
        .unwrap();
    let r = http_request(addr, "POST", "/-/reload", None, TIMEOUT).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    wait_for("job two", Duration::from_secs(10), || (!query(addr, "up{job=\"two\"}", None).is_empty()).then_some(()));
    std::thread::sleep(Duration::from_secs(2));
    let added = query(
        addr,
        &format!("max_over_time(scrape_series_added{{job=\"one\"}}[{}s])", (now_secs() - reload_at) as u64),
        None,
    );
    assert_eq!(added[0].1, "0", "job one's loop restarted");
    assert_eq!(metric_value(addr, "prometheus_config_last_reload_successful").as_deref(), Some("1"));

    // A bad file is refused with Prometheus's message; the old configuration keeps running.
    std::fs::write(dir.path().join("cairn.yml"), "scrape_configs:\n- job_name: [\n").unwrap();
    let r = http_request(addr, "POST", "/-/reload", None, TIMEOUT).unwrap();
    assert_eq!(r.status, 500);
    let body = r.text();
    assert!(body.starts_with("failed to reload config: couldn't load configuration (--config.file="), "{body}");
    assert_eq!(metric_value(addr, "prometheus_config_last_reload_successful").as_deref(), Some("0"));
    assert_eq!(api(addr, "/api/v1/scrape_pools"), serde_json::json!({"scrapePools": ["one", "two"]}));
    let before = fx.scrapes();
    wait_for("scraping to go on", Duration::from_secs(10), || (fx.scrapes() >= before + 2).then_some(()));
    assert!(api(addr, "/api/v1/status/config")["yaml"].as_str().unwrap().contains("job_name: two"));
    assert_eq!(api(addr, "/api/v1/status/runtimeinfo")["reloadConfigSuccess"], false);

    // SIGHUP reloads too: job two goes away (its series get stale markers).
    std::fs::write(dir.path().join("cairn.yml"), &cfg1).unwrap();
    let pid = cairn_pid(dir.path());
    let st = Command::new("kill").args(["-HUP", &pid.to_string()]).status().unwrap();
    assert!(st.success());
    wait_for("job two removed", Duration::from_secs(10), || {
        (api(addr, "/api/v1/scrape_pools") == serde_json::json!({"scrapePools": ["one"]})).then_some(())
    });
    assert_eq!(metric_value(addr, "prometheus_config_last_reload_successful").as_deref(), Some("1"));
    wait_for("job two's series stale", Duration::from_secs(10), || {
        query(addr, "up{job=\"two\"}", None).is_empty().then_some(())
    });
    // POST only, and only with the lifecycle flag (checked in web tests); GET is 405.
    assert_eq!(http_get(addr, "/-/reload", TIMEOUT).unwrap().status, 405);
}

/// The pid of the cairn started in `dir` (the only process with that data directory).
pub fn cairn_pid(dir: &Path) -> u32 {
    let needle = format!("--storage.tsdb.path={}", dir.join("cairn-data").display());
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if cmdline.split(|b| *b == 0).any(|a| a == needle.as_bytes()) {
            return pid;
        }
    }
    panic!("no cairn process for {}", dir.display());
}

#[test]
fn file_and_http_discovery() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::start(PAGE);
    let other = Fixture::start("other 1\n");
    fx.state.lock().unwrap().sd = format!(r#"[{{"targets":["{}"],"labels":{{"from":"http"}}}}]"#, other.addr);
    let sd_file = dir.path().join("targets.json");
    std::fs::write(&sd_file, format!(r#"[{{"targets":["{}"],"labels":{{"from":"file"}}}}]"#, fx.addr)).unwrap();
    let cfg = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
         - job_name: files\n  file_sd_configs:\n  - files: ['{}/*.json']\n    refresh_interval: 1s\n\
         - job_name: http\n  http_sd_configs:\n  - url: 'http://{}/sd'\n    refresh_interval: 1s\n",
        dir.path().display(),
        fx.addr
    );
    let cairn = start_cairn(dir.path(), &cfg);
    let addr = cairn.addr();
    let targets = wait_for("both targets", Duration::from_secs(20), || {
        let t = api(addr, "/api/v1/targets");
        (t["activeTargets"].as_array().unwrap().len() == 2).then_some(t)
    });
    let by_pool = |pool: &str| {
        targets["activeTargets"].as_array().unwrap().iter().find(|t| t["scrapePool"] == pool).unwrap().clone()
    };
    let f = by_pool("files");
    assert_eq!(f["discoveredLabels"]["__meta_filepath"], sd_file.display().to_string());
    assert_eq!(f["labels"]["from"], "file");
    let h = by_pool("http");
    assert_eq!(h["discoveredLabels"]["__meta_url"], format!("http://{}/sd", fx.addr));
    assert_eq!(h["labels"], serde_json::json!({"from": "http", "instance": other.addr.to_string(), "job": "http"}));
    wait_for("other scraped", Duration::from_secs(10), || (!query(addr, "other", None).is_empty()).then_some(()));

    // A broken file keeps its targets; an emptied one removes them.
    std::fs::write(&sd_file, "[{").unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(api(addr, "/api/v1/targets?scrapePool=files")["activeTargets"].as_array().unwrap().len(), 1);
    assert!(metric_value(addr, "prometheus_sd_file_read_errors_total").is_some_and(|v| v != "0"));
    std::fs::write(&sd_file, "[]").unwrap();
    wait_for("file target removed", Duration::from_secs(15), || {
        api(addr, "/api/v1/targets?scrapePool=files")["activeTargets"].as_array().unwrap().is_empty().then_some(())
    });
    // The HTTP endpoint failing keeps the last targets too.
    fx.state.lock().unwrap().sd = "not json".into();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(api(addr, "/api/v1/targets?scrapePool=http")["activeTargets"].as_array().unwrap().len(), 1);
    assert!(metric_value(addr, "prometheus_sd_http_failures_total").is_some_and(|v| v != "0"));
}

#[test]
fn limits_and_relabeling() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::start(PAGE);
    let cfg = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
         - job_name: limited\n  sample_limit: 2\n  static_configs: [{{targets: ['{a}']}}]\n\
         - job_name: relabeled\n  static_configs: [{{targets: ['{a}', 'drop.me:1']}}]\n  relabel_configs:\n  \
         - source_labels: [__address__]\n    regex: 'drop\\.me:1'\n    action: drop\n  metric_relabel_configs:\n  \
         - source_labels: [__name__]\n    regex: b\n    action: drop\n",
        a = fx.addr
    );
    let cairn = start_cairn(dir.path(), &cfg);
    let addr = cairn.addr();
    // Over sample_limit the whole scrape fails: up 0 and nothing of the page stored.
    let t = wait_for("limited scraped", Duration::from_secs(20), || {
        let t = api(addr, "/api/v1/targets?scrapePool=limited");
        (t["activeTargets"][0]["health"] == "down").then_some(t)
    });
    assert_eq!(t["activeTargets"][0]["lastError"], "sample limit exceeded");
    assert_eq!(query(addr, "up{job=\"limited\"}", None)[0].1, "0");
    assert!(query(addr, "a_total{job=\"limited\"}", None).is_empty());
    // relabel_configs dropped one target (kept for the API), metric relabeling one family.
    wait_for("relabeled scraped", Duration::from_secs(10), || {
        (!query(addr, "up{job=\"relabeled\"}", None).is_empty()).then_some(())
    });
    let t = api(addr, "/api/v1/targets?scrapePool=relabeled");
    assert_eq!(t["activeTargets"].as_array().unwrap().len(), 1);
    assert_eq!(t["droppedTargets"][0]["discoveredLabels"]["__address__"], "drop.me:1");
    assert_eq!(api(addr, "/api/v1/targets?state=dropped")["activeTargets"], serde_json::json!([]));
    assert!(query(addr, "b{job=\"relabeled\"}", None).is_empty());
    assert_eq!(query(addr, "scrape_samples_post_metric_relabeling{job=\"relabeled\"}", None)[0].1, "1");
}
