//! Differential test of scraping: Cairn and a real Prometheus 2.42 scrape the same real
//! `prometheus-node-exporter` and the same fixture target with the same configuration
//! (1 s interval, a target dropped by relabeling). After a few scrapes one fixture series
//! vanishes; then both must agree on:
//! * the series each job produced (names and labels, from `/api/v1/series`), the synthetic
//!   series included;
//! * the fixture's synthetic values (`up`, `scrape_samples_scraped`,
//!   `scrape_samples_post_metric_relabeling`, `scrape_series_added` now);
//! * staleness: the vanished series is present just before it vanished and absent (stale, not
//!   merely old) right after;
//! * `/api/v1/targets` (every field but the times and durations), `/api/v1/scrape_pools`,
//!   `/api/v1/targets/metadata` and `/api/v1/metadata` for the fixture's metrics.
//!
//! Intended differences, not compared: `lastScrape` and `lastScrapeDuration` (times), the
//! order of targets inside a pool (Prometheus iterates a map), and `scrape_duration_seconds`
//! values. Prometheus sends scrapes 2.42's fixed `Accept` header; Cairn builds it from
//! `scrape_protocols` as Prometheus 2.49+ does (both get the same page here).
//!
//! Needs `prometheus` and `prometheus-node-exporter` on `PATH` (Debian packages of those
//! names); without them the test skips, or fails under `CI=true`.

use super::scrape::{Fixture, api, now_secs, query, start_cairn, wait_for};
use crate::peer::{PeerProcess, free_addr, peers_available, percent_encode};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

const PAGE: &str = "# HELP keep_total Kept.\n# TYPE keep_total counter\nkeep_total 5\n\
# HELP g A gauge.\n# TYPE g gauge\ng{k=\"1\"} 1.5\ng{k=\"2\"} -3\n\
# TYPE vanish gauge\nvanish{a=\"1\"} 9\n";

const PAGE_AFTER: &str = "# HELP keep_total Kept.\n# TYPE keep_total counter\nkeep_total 6\n\
# HELP g A gauge.\n# TYPE g gauge\ng{k=\"1\"} 1.5\ng{k=\"2\"} -3\n";

fn start_prometheus(dir: &std::path::Path, config: &str) -> PeerProcess {
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, config).unwrap();
    let addr = free_addr().unwrap();
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("prom-data").display()))
        .arg(format!("--web.listen-address={addr}"));
    let mut p = PeerProcess::spawn("prometheus", cmd, addr, &dir.join("prometheus.log")).unwrap();
    p.wait_ready("/-/ready", Duration::from_secs(30)).unwrap();
    p
}

/// The label sets of every series matching `selector` between `start` and now.
fn series(addr: SocketAddr, selector: &str, start: f64) -> BTreeSet<String> {
    let path =
        format!("/api/v1/series?match[]={}&start={start:.3}&end={:.3}", percent_encode(selector), now_secs() + 1.0);
    api(addr, &path).as_array().unwrap().iter().map(|s| s.to_string()).collect()
}

/// A target without the fields that hold times.
fn comparable_target(t: &Value) -> Value {
    let mut t = t.clone();
    if let Some(o) = t.as_object_mut() {
        o.remove("lastScrape");
        o.remove("lastScrapeDuration");
    }
    t
}

/// Active targets keyed by pool and URL, dropped targets as a set.
fn targets(addr: SocketAddr) -> (Vec<(String, Value)>, BTreeSet<String>) {
    let t = api(addr, "/api/v1/targets");
    let mut active: Vec<(String, Value)> = t["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (format!("{} {}", t["scrapePool"], t["scrapeUrl"]), comparable_target(t)))
        .collect();
    active.sort_by(|a, b| a.0.cmp(&b.0));
    let dropped = t["droppedTargets"].as_array().unwrap().iter().map(|d| d.to_string()).collect();
    (active, dropped)
}

#[test]
fn scraping_matches_prometheus_2_42() {
    if !peers_available(
        "scrape_diff",
        &["prometheus", "prometheus-node-exporter"],
        "prometheus prometheus-node-exporter",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::start(PAGE);
    let node_addr = free_addr().unwrap();
    let mut cmd = Command::new("prometheus-node-exporter");
    cmd.arg(format!("--web.listen-address={node_addr}"));
    let mut node = PeerProcess::spawn("node_exporter", cmd, node_addr, &dir.path().join("node.log")).unwrap();
    node.wait_ready("/metrics", Duration::from_secs(20)).unwrap();

    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
         - job_name: node\n  static_configs:\n  - targets: ['{node_addr}']\n\
         - job_name: fixture\n  static_configs:\n  - targets: ['{fx}', 'drop.me:1']\n    labels: {{team: a}}\n  \
         relabel_configs:\n  - source_labels: [__address__]\n    regex: 'drop\\.me:1'\n    action: drop\n",
        fx = fx.addr
    );
    let start = now_secs();
    let pdir = dir.path().join("p");
    let cdir = dir.path().join("c");
    std::fs::create_dir_all(&pdir).unwrap();
    std::fs::create_dir_all(&cdir).unwrap();
    let prom = start_prometheus(&pdir, &config);
    let cairn = start_cairn(&cdir, &config);
    let (p, c) = (prom.addr(), cairn.addr());

    // Both up on both jobs (Prometheus's discovery hands targets over after about 5 s).
    for (name, addr) in [("prometheus", p), ("cairn", c)] {
        wait_for(&format!("{name}: both jobs up"), Duration::from_secs(40), || {
            let up = query(addr, "up == 1", None);
            (up.len() == 2).then_some(())
        });
    }
    std::thread::sleep(Duration::from_secs(3));

    // The series vanishes; both scrape it at least twice more.
    let before_vanish = now_secs() - 0.2;
    fx.set_page(PAGE_AFTER);
    std::thread::sleep(Duration::from_millis(3500));
    for (name, addr) in [("prometheus", p), ("cairn", c)] {
        assert_eq!(query(addr, "vanish", Some(before_vanish)).len(), 1, "{name}: vanish before it vanished");
        assert!(query(addr, "vanish", None).is_empty(), "{name}: vanish must be stale now");
        assert_eq!(query(addr, "keep_total", None).first().map(|v| v.1.as_str()), Some("6"), "{name}");
    }

    let mut diffs = Vec::new();
    for sel in ["{job=\"fixture\"}", "{job=\"node\"}"] {
        let (ps, cs) = (series(p, sel, start), series(c, sel, start));
        eprintln!("scrape_diff: {sel}: {} series from prometheus, {} from cairn", ps.len(), cs.len());
        if ps != cs {
            let only_p: Vec<_> = ps.difference(&cs).take(10).collect();
            let only_c: Vec<_> = cs.difference(&ps).take(10).collect();
            diffs.push(format!(
                "series {sel}: {} vs {}\n  only prometheus: {only_p:?}\n  only cairn: {only_c:?}",
                ps.len(),
                cs.len()
            ));
        }
    }
    for q in [
        "up",
        "scrape_samples_scraped{job=\"fixture\"}",
        "scrape_samples_post_metric_relabeling{job=\"fixture\"}",
        "scrape_series_added{job=\"fixture\"}",
        "count by (__name__, job, instance) (scrape_duration_seconds)",
    ] {
        let (pq, cq) = (query(p, q, None), query(c, q, None));
        if pq != cq {
            diffs.push(format!("query {q}: {pq:?} vs {cq:?}"));
        }
    }
    let (pt, ct) = (targets(p), targets(c));
    eprintln!("scrape_diff: {} active and {} dropped targets from prometheus", pt.0.len(), pt.1.len());
    if pt != ct {
        diffs.push(format!("targets:\n  prometheus {pt:?}\n  cairn      {ct:?}"));
    }
    for path in [
        "/api/v1/scrape_pools",
        "/api/v1/targets?state=dropped",
        "/api/v1/targets?state=active&scrapePool=nope",
        "/api/v1/targets/metadata?metric=keep_total",
        "/api/v1/targets/metadata?metric=g&match_target=%7Bjob%3D%22fixture%22%7D",
        "/api/v1/metadata?metric=g",
        "/api/v1/metadata?metric=vanish",
        "/api/v1/metadata?metric=nonexistent",
    ] {
        let (pa, ca) = (api(p, path), api(c, path));
        if pa != ca {
            diffs.push(format!("{path}: {pa} vs {ca}"));
        }
    }
    assert!(diffs.is_empty(), "{} differences from Prometheus 2.42:\n{}", diffs.len(), diffs.join("\n"));
    drop(node);
}
