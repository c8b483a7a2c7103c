//! Cairn's remote-write sender into real receivers: a Prometheus 2.42 started with
//! `--web.enable-remote-write-receiver` and a VictoriaMetrics 1.79. Cairn scrapes itself every
//! second and writes to both; after a graceful stop (queues flush), every raw sample Cairn
//! holds for its own series up to a fixed time is in both receivers with equal values.

use crate::peer::{self, PeerProcess, free_addr, http_get, percent_encode};
use crate::scrape::{cairn_pid, wait_for};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Raw samples of `selector` in the hour before `time`: series (labels without `__name__`
/// sorted) → (ms, value text).
fn raw(addr: SocketAddr, selector: &str, time: f64) -> BTreeMap<String, Vec<(i64, String)>> {
    let path = format!("/api/v1/query?query={}&time={time:.3}", percent_encode(&format!("{selector}[1h]")));
    let r = http_get(addr, &path, TIMEOUT).unwrap();
    let v: Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", r.text()));
    assert_eq!(v["status"], "success", "{path}: {v}");
    let mut out = BTreeMap::new();
    for s in v["data"]["result"].as_array().unwrap() {
        let labels: Vec<String> = s["metric"].as_object().unwrap().iter().map(|(k, v)| format!("{k}={v}")).collect();
        let values = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| ((p[0].as_f64().unwrap() * 1000.0).round() as i64, p[1].as_str().unwrap().to_string()))
            .collect();
        out.insert(labels.join(","), values);
    }
    out
}

fn sigterm_and_wait(dir: &std::path::Path) {
    let pid = cairn_pid(dir);
    let ok = Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success();
    assert!(ok);
    wait_for("cairn to exit", Duration::from_secs(90), || {
        (!std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z ")))
        .then_some(())
    });
}

#[test]
fn remote_write_into_prometheus_and_victoria_metrics() {
    if !peer::peers_available("remote_write_into_prometheus_and_victoria_metrics", &["prometheus"], "prometheus")
        || !peer::peers_available(
            "remote_write_into_prometheus_and_victoria_metrics",
            &["victoria-metrics"],
            "victoria-metrics",
        )
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let prom_addr = free_addr().unwrap();
    let mut cmd = Command::new("prometheus");
    std::fs::write(dir.path().join("prom.yml"), "global: {}\n").unwrap();
    cmd.arg(format!("--config.file={}", dir.path().join("prom.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("prom-data").display()))
        .arg(format!("--web.listen-address={prom_addr}"))
        .arg("--web.enable-remote-write-receiver");
    let mut prom = PeerProcess::spawn("prometheus", cmd, prom_addr, &dir.path().join("prom.log")).unwrap();
    prom.wait_ready("/-/ready", Duration::from_secs(30)).unwrap();

    let vm_addr = free_addr().unwrap();
    let mut cmd = Command::new("victoria-metrics");
    cmd.arg(format!("-storageDataPath={}", dir.path().join("vm-data").display()))
        .arg(format!("-httpListenAddr={vm_addr}"))
        .arg("-search.latencyOffset=0s")
        .arg("-search.disableCache");
    let mut vm = PeerProcess::spawn("victoria-metrics", cmd, vm_addr, &dir.path().join("vm.log")).unwrap();
    vm.wait_ready("/health", Duration::from_secs(30)).unwrap();

    let cairn_addr = free_addr().unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  external_labels:\n    origin: cairn\n\
         scrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['{cairn_addr}']\n\
         remote_write:\n  - url: http://{prom_addr}/api/v1/write\n    queue_config:\n      batch_send_deadline: 500ms\n\
         \x20 - url: http://{vm_addr}/api/v1/write\n    queue_config:\n      batch_send_deadline: 500ms\n"
    );
    let addr = cairn_addr;
    let cairn = start_cairn_at(dir.path(), &config, addr);

    // Several scrapes and sends.
    wait_for("scrapes", Duration::from_secs(30), || {
        let r = raw(addr, "up{job=\"self\"}", crate::scrape::now_secs());
        r.values().next().filter(|v| v.len() >= 5).map(|_| ())
    });
    // A sample is stamped when its scrape starts and stored when the scrape ends (timeout 1s):
    // compare up to 2s ago, so what Cairn answers now is complete for that window.
    let t = crate::scrape::now_secs() - 2.0;
    let selector = "{job=\"self\",__name__=~\"up|scrape_samples_scraped|prometheus_tsdb_head_series|process_resident_memory_bytes\"}";
    let ours = raw(addr, selector, t);
    assert!(ours.len() >= 4, "{ours:?}");
    sigterm_and_wait(dir.path());
    drop(cairn);
    let _ = http_get(vm_addr, "/internal/force_flush", TIMEOUT);
    std::thread::sleep(Duration::from_secs(2));

    // Every series arrives with the external label; values and timestamps equal.
    let with_origin: BTreeMap<String, Vec<(i64, String)>> = ours
        .into_iter()
        .map(|(k, v)| {
            let mut parts: Vec<&str> = k.split(',').collect();
            parts.push("origin=\"cairn\"");
            parts.sort();
            (parts.join(","), v)
        })
        .collect();
    for (name, peer_addr) in [("prometheus", prom_addr), ("victoria-metrics", vm_addr)] {
        let got = raw(peer_addr, selector, t);
        let got: BTreeMap<String, Vec<(i64, String)>> = got
            .into_iter()
            .map(|(k, v)| {
                let mut parts: Vec<&str> = k.split(',').collect();
                parts.sort();
                (parts.join(","), v)
            })
            .collect();
        assert_eq!(got, with_origin, "{name} holds exactly Cairn's samples");
    }
    let _ = (&mut prom, &mut vm);
}

fn start_cairn_at(dir: &std::path::Path, config: &str, addr: SocketAddr) -> PeerProcess {
    let cfg = dir.join("cairn.yml");
    std::fs::write(&cfg, config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
    cmd.arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("cairn-data").display()))
        .arg(format!("--web.listen-address={addr}"));
    let mut p = PeerProcess::spawn("cairn", cmd, addr, &dir.join("cairn2.log")).unwrap();
    p.wait_ready("/-/ready", Duration::from_secs(30)).unwrap();
    p
}
