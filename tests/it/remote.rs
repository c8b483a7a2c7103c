//! Remote write, remote read and OTLP against the real peers, on loopback:
//!
//! - Prometheus 2.42 scrapes itself, a node exporter and Cairn every second and remote-writes
//!   into Cairn; then every series and sample Prometheus stored for the time range (read
//!   back through Prometheus's own remote-read endpoint) must be in Cairn, bit for bit, in
//!   both response types.
//! - A Prometheus 2.42 with `remote_read` pointed at Cairn answers PromQL with data written
//!   into Cairn through its receiver.
//! - Receiver edge cases go to a Prometheus 2.42 receiver and to Cairn alike: status codes,
//!   error texts and what ends up stored must agree, except where Cairn follows the 3.x
//!   handler on purpose (noted per case).
//!
//! Missing peers skip the tests with a message (and fail them under `CI=true`).

use super::peer::{PeerProcess, free_addr, peers_available, query_string};
use cairn::remote::codec;
use cairn::remote::pb::prometheus as pb;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A blocking HTTP client for protobuf bodies (reqwest on a private runtime).
pub(crate) struct Client {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
}

pub(crate) struct Resp {
    pub(crate) status: u16,
    content_type: String,
    pub(crate) body: Vec<u8>,
}

impl Resp {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Client {
    pub(crate) fn new() -> Client {
        cairn::server::tls::install_default_provider();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        Client { rt, http }
    }

    pub(crate) fn post(&self, addr: std::net::SocketAddr, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Resp {
        self.rt.block_on(async {
            let mut req = self.http.post(format!("http://{addr}{path}")).body(body);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let content_type =
                r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            let body = r.bytes().await.unwrap().to_vec();
            Resp { status, content_type, body }
        })
    }
}

pub(crate) const V1_HEADERS: &[(&str, &str)] = &[
    ("Content-Type", "application/x-protobuf"),
    ("Content-Encoding", "snappy"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn start_cairn(dir: &Path, extra: &[&str]) -> PeerProcess {
    let addr = free_addr().unwrap();
    // No scrape jobs: Cairn holds only what the test writes into it (the built-in default
    // would scrape Cairn itself).
    let cfg = dir.join("cairn.yml");
    std::fs::write(&cfg, "global: {}\n").unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
    cmd.arg(format!("--storage.tsdb.path={}", dir.join("cairn-data").display()))
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--web.listen-address={addr}"))
        .args(extra);
    let mut p = PeerProcess::spawn("cairn", cmd, addr, &dir.join("cairn.log")).unwrap();
    p.wait_ready("/-/ready", Duration::from_secs(30)).unwrap();
    p
}

fn start_prometheus(dir: &Path, config: &str, extra: &[&str]) -> PeerProcess {
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, config).unwrap();
    let addr = free_addr().unwrap();
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("prom-data").display()))
        .arg(format!("--web.listen-address={addr}"))
        .args(extra);
    let mut p = PeerProcess::spawn("prometheus", cmd, addr, &dir.join("prometheus.log")).unwrap();
    p.wait_ready("/-/ready", Duration::from_secs(30)).unwrap();
    p
}

/// Series → samples as `(t, value bits)`, so NaNs and stale markers compare exactly.
type Dump = BTreeMap<String, Vec<(i64, u64)>>;

fn labels_key(ls: &[pb::Label]) -> String {
    ls.iter().map(|l| format!("{}={:?}", l.name, l.value)).collect::<Vec<_>>().join(",")
}

/// Everything a server holds in `[start, end]` for the matcher, through its remote-read
/// endpoint, with the given response type.
fn remote_read(
    c: &Client,
    addr: std::net::SocketAddr,
    start: i64,
    end: i64,
    m: pb::LabelMatcher,
    streamed: bool,
) -> Dump {
    let req = pb::ReadRequest {
        queries: vec![pb::Query { start_timestamp_ms: start, end_timestamp_ms: end, matchers: vec![m], hints: None }],
        accepted_response_types: vec![if streamed { 1 } else { 0 }],
    };
    let r = c.post(addr, "/api/v1/read", V1_HEADERS, codec::encode_read_request(&req));
    assert_eq!(r.status, 200, "remote read from {addr}: {}", r.text());
    let mut out = Dump::new();
    if streamed {
        assert_eq!(r.content_type, codec::STREAMED_CONTENT_TYPE);
        for msg in codec::decode_chunked_responses(&r.body, 8 << 20).unwrap() {
            for s in msg.chunked_series {
                let e = out.entry(labels_key(&s.labels)).or_default();
                for ch in &s.chunks {
                    e.extend(codec::decode_xor_chunk(ch).unwrap().into_iter().map(|(t, v)| (t, v.to_bits())));
                }
            }
        }
        // Chunks may extend past the range (Prometheus sends stored chunks whole): trim.
        for v in out.values_mut() {
            v.retain(|&(t, _)| t >= start && t <= end);
        }
        out.retain(|_, v| !v.is_empty());
    } else {
        for res in codec::decode_read_response(&r.body, 1 << 30).unwrap().results {
            for ts in res.timeseries {
                let e = out.entry(labels_key(&ts.labels)).or_default();
                e.extend(ts.samples.iter().map(|s| (s.timestamp, s.value.to_bits())));
            }
        }
        out.retain(|_, v| !v.is_empty());
    }
    out
}

fn any_name() -> pb::LabelMatcher {
    pb::LabelMatcher { r#type: 2, name: "__name__".into(), value: ".+".into() }
}

/// A human-sized account of how two dumps differ.
fn diff(want: &Dump, got: &Dump) -> String {
    let missing: Vec<&String> = want.keys().filter(|k| !got.contains_key(*k)).take(5).collect();
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).take(5).collect();
    let differ: Vec<String> = want
        .iter()
        .filter_map(|(k, v)| {
            got.get(k).filter(|g| *g != v).map(|g| {
                format!(
                    "{k}: want {} samples {:?}.., got {} {:?}..",
                    v.len(),
                    &v[..v.len().min(3)],
                    g.len(),
                    &g[..g.len().min(3)]
                )
            })
        })
        .take(3)
        .collect();
    format!("{} vs {} series; missing {missing:?}; extra {extra:?}; different {differ:?}", want.len(), got.len())
}

#[test]
fn prometheus_remote_writes_everything_into_cairn() {
    if !peers_available(
        "remote::prometheus_remote_writes_everything_into_cairn",
        &["prometheus", "prometheus-node-exporter"],
        "prometheus prometheus-node-exporter",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cairn = start_cairn(dir.path(), &[]);
    let node_addr = free_addr().unwrap();
    let mut cmd = Command::new("prometheus-node-exporter");
    cmd.arg(format!("--web.listen-address={node_addr}"));
    let mut node = PeerProcess::spawn("node-exporter", cmd, node_addr, &dir.path().join("node.log")).unwrap();
    node.wait_ready("/metrics", Duration::from_secs(30)).unwrap();
    let prom_addr = free_addr().unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n\
         \x20 - job_name: prometheus\n    static_configs: [{{targets: ['{prom_addr}']}}]\n\
         \x20 - job_name: node\n    static_configs: [{{targets: ['{node_addr}']}}]\n\
         \x20 - job_name: cairn\n    static_configs: [{{targets: ['{}']}}]\n\
         remote_write:\n  - url: http://{}/api/v1/write\n    queue_config: {{batch_send_deadline: 1s, max_samples_per_send: 2000, min_backoff: 50ms, max_backoff: 1s}}\n    metadata_config: {{send_interval: 2s}}\n",
        cairn.addr(),
        cairn.addr()
    );
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, config).unwrap();
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("prom-data").display()))
        .arg(format!("--web.listen-address={prom_addr}"));
    let mut prom = PeerProcess::spawn("prometheus", cmd, prom_addr, &dir.path().join("prometheus.log")).unwrap();
    prom.wait_ready("/-/ready", Duration::from_secs(30)).unwrap();
    let c = Client::new();
    // Prometheus applies discovered targets after its 5 s discovery reload interval; then
    // about ten scrapes of each target.
    std::thread::sleep(Duration::from_secs(16));
    // Remote write trails the WAL by up to a batch deadline and a WAL read: compare a range
    // ending a few seconds ago until both agree, for at most 60 s.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (want, got, end) = loop {
        let end = now_ms() - 4_000;
        let want = remote_read(&c, prom.addr(), 0, end, any_name(), false);
        let got = remote_read(&c, cairn.addr(), 0, end, any_name(), false);
        if want == got || Instant::now() > deadline {
            break (want, got, end);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        want == got,
        "Prometheus's data and what it remote-wrote to Cairn differ: {}\nCairn log:\n{}",
        diff(&want, &got),
        cairn.log()
    );
    let samples: usize = want.values().map(Vec::len).sum();
    assert!(
        want.len() > 300 && samples > 5 * want.len(),
        "too little data to mean much: {} series, {samples} samples",
        want.len()
    );
    assert!(want.keys().any(|k| k.contains("job=\"node\"")) && want.keys().any(|k| k.contains("job=\"cairn\"")));
    eprintln!("remote write: {} series, {samples} samples equal in Prometheus and Cairn", want.len());
    // The same range through the streamed response type of both servers: chunk boundaries
    // differ, the samples must not.
    let streamed_want = remote_read(&c, prom.addr(), 0, end, any_name(), true);
    let streamed_got = remote_read(&c, cairn.addr(), 0, end, any_name(), true);
    assert!(streamed_want == want, "Prometheus's two response types disagree: {}", diff(&want, &streamed_want));
    assert!(streamed_got == want, "Cairn's streamed read differs: {}", diff(&want, &streamed_got));
}

/// Label pairs and samples of one series.
pub(crate) type SeriesSpec<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);

pub(crate) fn v1_request(series: &[SeriesSpec]) -> Vec<u8> {
    codec::encode_write_request(&pb::WriteRequest {
        timeseries: series
            .iter()
            .map(|(ls, ss)| pb::TimeSeries {
                labels: ls.iter().map(|(n, v)| pb::Label { name: (*n).into(), value: (*v).into() }).collect(),
                samples: ss.iter().map(|&(t, v)| pb::Sample { value: v, timestamp: t }).collect(),
                ..Default::default()
            })
            .collect(),
        metadata: vec![],
    })
}

#[test]
fn prometheus_remote_reads_from_cairn() {
    if !peers_available("remote::prometheus_remote_reads_from_cairn", &["prometheus"], "prometheus") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cairn = start_cairn(dir.path(), &["--log.level=debug"]);
    let c = Client::new();
    // Every 15 s over the last 10 minutes, aligned to 15 s: rr{k="1"} = i, rr{k="2"} = 2i.
    let t0 = (now_ms() - 600_000) / 15_000 * 15_000;
    let s1: Vec<(i64, f64)> = (0..40).map(|i| (t0 + i * 15_000, i as f64)).collect();
    let s2: Vec<(i64, f64)> = (0..40).map(|i| (t0 + i * 15_000, 2.0 * i as f64)).collect();
    let body = v1_request(&[(&[("__name__", "rr"), ("k", "1")], &s1), (&[("__name__", "rr"), ("k", "2")], &s2)]);
    let r = c.post(cairn.addr(), "/api/v1/write", V1_HEADERS, body);
    assert_eq!(r.status, 204, "{}", r.text());
    let config = format!(
        "global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\nremote_read:\n  - url: http://{}/api/v1/read\n    read_recent: true\n",
        cairn.addr()
    );
    let prom = start_prometheus(dir.path(), &config, &[]);
    // Steps on the sample times, so each step's value is the sample at that time.
    let q = query_string(&[
        ("query", "rr"),
        ("start", &format!("{}", t0 as f64 / 1000.0)),
        ("end", &format!("{}", (t0 + 39 * 15_000) as f64 / 1000.0)),
        ("step", "15"),
    ]);
    let r = prom.get(&format!("/api/v1/query_range?{q}"), Duration::from_secs(30)).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let result = v["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 2, "{}", r.text());
    for (series, want) in result.iter().zip([&s1, &s2]) {
        let got: Vec<(i64, f64)> = series["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| ((p[0].as_f64().unwrap() * 1000.0).round() as i64, p[1].as_str().unwrap().parse().unwrap()))
            .collect();
        assert_eq!(&got, want, "{}", series["metric"]);
    }
    let q = query_string(&[("query", "sum(rr)"), ("time", &format!("{}", (t0 + 10 * 15_000) as f64 / 1000.0))]);
    let r = prom.get(&format!("/api/v1/query?{q}"), Duration::from_secs(30)).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["data"]["result"][0]["value"][1], "30", "10 + 20: {}", r.text());
    let log = cairn.log();
    let kinds: Vec<&str> = ["STREAMED_XOR_CHUNKS", "SAMPLES"]
        .into_iter()
        .filter(|k| log.contains(&format!("response_type=\"{k}\"")))
        .collect();
    assert!(!kinds.is_empty(), "Prometheus did not read from Cairn; Cairn log:\n{log}");
    eprintln!("remote read: Prometheus 2.42 asked for {kinds:?}");
}

#[test]
fn receiver_edge_cases_match_prometheus() {
    if !peers_available("remote::receiver_edge_cases_match_prometheus", &["prometheus"], "prometheus") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cairn = start_cairn(dir.path(), &[]);
    let prom =
        start_prometheus(dir.path(), "global:\n  scrape_interval: 1m\n", &["--web.enable-remote-write-receiver"]);
    let c = Client::new();
    let now = now_ms() / 1000 * 1000;
    struct Case {
        name: &'static str,
        body: Vec<u8>,
        /// Compare the error texts too (Go's snappy errors are Go's own).
        same_text: bool,
    }
    let cases = vec![
        Case {
            name: "valid",
            body: v1_request(&[(&[("__name__", "e_ok")], &[(now - 1000, 1.0), (now, 2.0)])]),
            same_text: true,
        },
        Case { name: "not snappy", body: vec![0xff; 11], same_text: false },
        // The length header announces 4 GiB; Prometheus allocates it and then fails on the
        // data, Cairn refuses from the header alone.
        Case { name: "decompression bomb", body: vec![0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0], same_text: false },
        Case { name: "not a WriteRequest", body: codec::snappy_encode(&[0x0f, 0x01]), same_text: false },
        // e_ok already has a sample at `now`: an older one is out of order, and the whole
        // request (with the valid new series e_ooo) is rolled back.
        Case {
            name: "out of order, partial",
            body: v1_request(&[
                (&[("__name__", "e_ooo")], &[(now, 1.0)]),
                (&[("__name__", "e_ok")], &[(now - 500, 1.0)]),
            ]),
            same_text: true,
        },
        Case {
            name: "duplicate timestamp",
            body: v1_request(&[(&[("__name__", "e_dup")], &[(now, 1.0)]), (&[("__name__", "e_ok")], &[(now, 5.0)])]),
            same_text: true,
        },
        Case {
            name: "out of bounds",
            body: v1_request(&[(&[("__name__", "e_oob")], &[(now - 3 * 3600 * 1000, 1.0)])]),
            same_text: true,
        },
        Case {
            name: "same sample again",
            body: v1_request(&[(&[("__name__", "e_ok")], &[(now, 2.0)])]),
            same_text: true,
        },
    ];
    for case in &cases {
        let p = c.post(prom.addr(), "/api/v1/write", V1_HEADERS, case.body.clone());
        let k = c.post(cairn.addr(), "/api/v1/write", V1_HEADERS, case.body.clone());
        assert_eq!(k.status, p.status, "{}: Prometheus said {:?}, Cairn {:?}", case.name, p.text(), k.text());
        if case.same_text {
            assert_eq!(k.text(), p.text(), "{}", case.name);
        }
    }
    // Invalid labels: Prometheus 2.42 and Cairn both keep the valid series of the request;
    // Cairn answers 400 naming the invalid one, as the 1.0 spec (and Prometheus 3's own
    // comment on its 204) want.
    let body = v1_request(&[(&[("job", "no_name")], &[(now, 1.0)]), (&[("__name__", "e_lab")], &[(now, 1.0)])]);
    let p = c.post(prom.addr(), "/api/v1/write", V1_HEADERS, body.clone());
    let k = c.post(cairn.addr(), "/api/v1/write", V1_HEADERS, body);
    assert_eq!((k.status, k.text()), (400, "invalid metric name or labels, got {job=\"no_name\"}\n".to_string()));
    eprintln!("invalid labels: Prometheus 2.42 answered {} {:?}", p.status, p.text());
    // What is stored must agree.
    let m = pb::LabelMatcher { r#type: 2, name: "__name__".into(), value: "e_.*".into() };
    let want = remote_read(&c, prom.addr(), 0, now + 1000, m.clone(), false);
    let got = remote_read(&c, cairn.addr(), 0, now + 1000, m, false);
    assert_eq!(got, want);
    assert_eq!(want.keys().cloned().collect::<Vec<_>>(), ["__name__=\"e_lab\"", "__name__=\"e_ok\""]);
}

/// The exporter script: a counter, an up-down counter, a histogram and a gauge, exported once
/// over OTLP/HTTP protobuf by the OpenTelemetry Python SDK.
const OTEL_SCRIPT: &str = r#"
import sys
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import Observation

res = Resource.create({"service.name": "api", "service.namespace": "shop", "service.instance.id": "i-1", "host.name": "h1"})
reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=sys.argv[1]), export_interval_millis=3600000)
provider = MeterProvider(resource=res, metric_readers=[reader])
meter = provider.get_meter("cairn-test")
c = meter.create_counter("http.server.requests", unit="{request}", description="Requests served.")
c.add(5, {"http.method": "GET"})
c.add(2, {"http.method": "POST"})
meter.create_up_down_counter("queue.depth", unit="1").add(7)
h = meter.create_histogram("http.server.duration", unit="s")
for v in [0.003, 0.02, 0.2, 3.0]:
    h.record(v, {"route": "/"})
meter.create_observable_gauge("memory.usage", callbacks=[lambda o: [Observation(1024.5)]], unit="By")
if not reader.force_flush():
    sys.exit("export failed")
provider.shutdown()
"#;

/// A real OTLP producer, opt-in: `CAIRN_OTEL_PYTHON` names a Python with
/// `opentelemetry-sdk` and `opentelemetry-exporter-otlp-proto-http` installed (they are not
/// among the Debian peers, so the test is ignored by default: run it with
/// `CAIRN_OTEL_PYTHON=... cargo test --test it -- --ignored opentelemetry`).
#[test]
#[ignore = "needs CAIRN_OTEL_PYTHON: a Python with the OpenTelemetry SDK (not a Debian peer)"]
fn opentelemetry_sdk_exports_into_cairn() {
    let python = std::env::var_os("CAIRN_OTEL_PYTHON")
        .expect("CAIRN_OTEL_PYTHON must name a Python with the OpenTelemetry SDK and OTLP/HTTP exporter");
    let dir = tempfile::tempdir().unwrap();
    let cairn = start_cairn(dir.path(), &[]);
    let script = dir.path().join("export.py");
    std::fs::write(&script, OTEL_SCRIPT).unwrap();
    let mut cmd = Command::new(python);
    cmd.arg(&script).arg(format!("http://{}/api/v1/otlp/v1/metrics", cairn.addr()));
    let out = super::peer::run_bounded(cmd, dir.path(), Duration::from_secs(60)).unwrap();
    assert_eq!(out.code, Some(0), "exporter failed: {}{}\nCairn log:\n{}", out.stdout, out.stderr, cairn.log());
    let q = query_string(&[("match[]", "{job=\"shop/api\"}"), ("match[]", "target_info")]);
    let r = cairn.get(&format!("/federate?{q}"), Duration::from_secs(10)).unwrap();
    // Series names and labels worked out by hand from the mapping rules: `{request}` gives no
    // suffix, a monotonic sum `_total`, `s` `_seconds`, `By` `_bytes`; an up-down counter is
    // a gauge without `_ratio` (that is for gauges); job is namespace/name; the SDK's default
    // histogram buckets are 0, 5, 10, ... 10000, so every observation (all under 5 s) is in
    // `le="5"` and above; target_info carries host.name and the SDK's telemetry.*
    // resource attributes.
    let lines: Vec<String> = r
        .text()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit_once(' ').map_or(l, |(s, _)| s).to_string())
        .collect();
    let has = |want: &str| lines.iter().any(|l| l == want);
    for want in [
        "http_server_requests_total{http_method=\"GET\",instance=\"i-1\",job=\"shop/api\"} 5",
        "http_server_requests_total{http_method=\"POST\",instance=\"i-1\",job=\"shop/api\"} 2",
        "queue_depth{instance=\"i-1\",job=\"shop/api\"} 7",
        "memory_usage_bytes{instance=\"i-1\",job=\"shop/api\"} 1024.5",
        "http_server_duration_seconds_count{instance=\"i-1\",job=\"shop/api\",route=\"/\"} 4",
        "http_server_duration_seconds_sum{instance=\"i-1\",job=\"shop/api\",route=\"/\"} 3.223",
        "http_server_duration_seconds_bucket{instance=\"i-1\",job=\"shop/api\",le=\"0\",route=\"/\"} 0",
        "http_server_duration_seconds_bucket{instance=\"i-1\",job=\"shop/api\",le=\"5\",route=\"/\"} 4",
        "http_server_duration_seconds_bucket{instance=\"i-1\",job=\"shop/api\",le=\"10000\",route=\"/\"} 4",
        "http_server_duration_seconds_bucket{instance=\"i-1\",job=\"shop/api\",le=\"+Inf\",route=\"/\"} 4",
    ] {
        assert!(has(want), "missing {want:?} in\n{}", r.text());
    }
    assert!(
        lines.iter().any(|l| l.starts_with(
            "target_info{host_name=\"h1\",instance=\"i-1\",job=\"shop/api\",telemetry_sdk_language=\"python\""
        )),
        "{}",
        r.text()
    );
}
