//! Differential tests of the exposition parsers against the Python `prometheus_client` 0.16
//! parsers (Debian's `python3-prometheus-client` under `/usr/bin/python3`), through
//! `testdata/exposition/pyclient.py`:
//!
//! - the live `/metrics` page of Debian's `prometheus-node-exporter`, fetched plainly and
//!   with an OpenMetrics `Accept` header;
//! - the Python client's own text and OpenMetrics exposition of a registry with every metric
//!   type, escapes, timestamps and exemplars;
//! - malformed variants of those pages, which Cairn must refuse with the right line number,
//!   while the Python parsers' verdicts (sometimes laxer than Prometheus) are pinned down.
//!
//! Samples are compared as sets of `name labels value timestamp exemplar`; metadata by
//! family. Timestamps on the Python side are turned into milliseconds as Prometheus does (see
//! the script's docs).

use crate::peer::{PeerProcess, free_addr, peers_available, query_string, run_bounded};
use cairn::scrape::exposition::{Entry, Format, MetricType, ParseError, Parser};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The interpreter with Debian's `prometheus_client` (the `python3` on `PATH` may lack it).
const PYTHON: &str = "/usr/bin/python3";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/exposition/pyclient.py")
}

fn format_arg(format: Format) -> &'static str {
    match format {
        Format::PrometheusText => "text",
        Format::OpenMetrics => "openmetrics",
    }
}

/// Whether `/usr/bin/python3` can import `prometheus_client`; like `peers_available`, a
/// missing library skips the test, except under `CI=true` where it fails it.
fn python_available(test: &str, scratch: &Path) -> bool {
    let mut cmd = Command::new(PYTHON);
    cmd.args(["-c", "import prometheus_client"]);
    let ok = run_bounded(cmd, scratch, Duration::from_secs(30)).is_ok_and(|o| o.code == Some(0));
    if ok {
        return true;
    }
    let msg = format!(
        "{test}: {PYTHON} cannot import prometheus_client (install the Debian package \
         `python3-prometheus-client`)"
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}; CI=true, so this is a failure");
    }
    eprintln!("{msg}; skipping the test");
    false
}

/// One sample, from either side.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
    ts: Option<i64>,
    exemplar: Option<(BTreeMap<String, String>, f64, Option<i64>)>,
}

impl Sample {
    /// A comparable, readable rendering (every NaN reads the same).
    fn key(&self) -> String {
        let v = |x: f64| if x.is_nan() { "NaN".to_string() } else { format!("{x:?}") };
        let mut s = format!("{}{:?} {} @{:?}", self.name, self.labels, v(self.value), self.ts);
        if let Some((l, ev, et)) = &self.exemplar {
            s.push_str(&format!(" # {l:?} {} @{et:?}", v(*ev)));
        }
        s
    }
}

/// What a page holds.
#[derive(Debug, Default)]
struct Page {
    samples: Vec<Sample>,
    /// `# TYPE` per family name, as the format spells the type.
    types: BTreeMap<String, String>,
    /// `# HELP` per family name.
    helps: BTreeMap<String, String>,
    /// `# UNIT` per family name.
    units: BTreeMap<String, String>,
}

fn type_name(format: Format, t: MetricType) -> &'static str {
    match t {
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Histogram => "histogram",
        MetricType::GaugeHistogram => "gaugehistogram",
        MetricType::Summary => "summary",
        MetricType::Info => "info",
        MetricType::StateSet => "stateset",
        MetricType::Unknown if format == Format::PrometheusText => "untyped",
        MetricType::Unknown => "unknown",
    }
}

/// Cairn's reading of a page, asking for labels and exemplar on every series as the scrape
/// loop would.
fn ours(page: &[u8], format: Format) -> Result<Page, ParseError> {
    let mut p = Parser::new(page, format);
    let mut out = Page::default();
    while let Some(entry) = p.next()? {
        match entry {
            Entry::Series { timestamp_ms, value, .. } => {
                let labels = p.labels()?;
                let name = labels.metric_name().unwrap_or_default().to_string();
                let labels = labels.iter().filter(|l| l.name != "__name__").map(|l| (l.name.clone(), l.value.clone()));
                let exemplar = p.exemplar().map(|e| {
                    let l = e.labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
                    (l, e.value, e.timestamp_ms)
                });
                out.samples.push(Sample { name, labels: labels.collect(), value, ts: timestamp_ms, exemplar });
            }
            Entry::Type { metric, kind } => {
                out.types.insert(metric.to_string(), type_name(format, kind).to_string());
            }
            Entry::Help { metric, text } => {
                out.helps.insert(metric.to_string(), text.into_owned());
            }
            Entry::Unit { metric, unit } => {
                out.units.insert(metric.to_string(), unit.to_string());
            }
            Entry::Comment => {}
        }
    }
    Ok(out)
}

/// A Python family: name, type, help, unit.
type PyFamily = (String, String, String, String);

/// The Python parser's reading of a page: `Err` with its message when it refuses it.
fn python(scratch: &Path, page: &[u8], format: Format) -> Result<(Vec<Sample>, Vec<PyFamily>), String> {
    let file = scratch.join("page.txt");
    std::fs::write(&file, page).unwrap();
    let mut cmd = Command::new(PYTHON);
    cmd.arg(script()).args(["parse", format_arg(format)]).arg(&file);
    let out = run_bounded(cmd, scratch, Duration::from_secs(60)).unwrap();
    assert_eq!(out.code, Some(0), "pyclient.py parse failed: {}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    if v["ok"] != Value::Bool(true) {
        return Err(v["error"].as_str().unwrap_or_default().to_string());
    }
    let labels = |v: &Value| -> BTreeMap<String, String> {
        v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect()
    };
    let float = |v: &Value| -> f64 { v.as_str().unwrap().parse().unwrap() };
    let samples = v["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Sample {
            name: s["name"].as_str().unwrap().to_string(),
            labels: labels(&s["labels"]),
            value: float(&s["value"]),
            ts: s["ts"].as_i64(),
            exemplar: (!s["exemplar"].is_null()).then(|| {
                let e = &s["exemplar"];
                (labels(&e["labels"]), float(&e["value"]), e["ts"].as_i64())
            }),
        })
        .collect();
    let str_of = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let families = v["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (str_of(&f["name"]), str_of(&f["type"]), str_of(&f["help"]), str_of(&f["unit"])))
        .collect();
    Ok((samples, families))
}

/// Compares Cairn's reading of a page with Python's, panicking with the differences.
fn compare(what: &str, format: Format, ours: &Page, py_samples: &[Sample], py_families: &[PyFamily]) {
    let our_names: BTreeSet<&str> = ours.samples.iter().map(|s| s.name.as_str()).collect();
    let mut mine: Vec<String> = ours.samples.iter().map(Sample::key).collect();
    let mut theirs: Vec<String> = py_samples
        .iter()
        .map(|s| {
            // Python's text parser appends `_total` to the samples of a counter whose name
            // lacks it; undo that so the names are the page's.
            let mut s = s.clone();
            if format == Format::PrometheusText
                && !our_names.contains(s.name.as_str())
                && let Some(base) = s.name.strip_suffix("_total")
            {
                s.name = base.to_string();
            }
            s.key()
        })
        .collect();
    mine.sort();
    theirs.sort();
    if mine != theirs {
        let a: BTreeSet<&String> = mine.iter().collect();
        let b: BTreeSet<&String> = theirs.iter().collect();
        let only_ours: Vec<_> = a.difference(&b).take(10).collect();
        let only_py: Vec<_> = b.difference(&a).take(10).collect();
        panic!(
            "{what}: {} samples from Cairn, {} from Python\nonly Cairn: {only_ours:#?}\nonly Python: {only_py:#?}",
            mine.len(),
            theirs.len()
        );
    }
    // Metadata: every family Cairn saw a `# TYPE` for has the same type, help and unit in
    // Python (whose text parser names a counter family without its `_total`).
    for (name, t) in &ours.types {
        let named = |f: &&PyFamily| {
            f.0 == *name || (format == Format::PrometheusText && t == "counter" && format!("{}_total", f.0) == *name)
        };
        // Python's text parser can give two families one name (a gauge `x` and a counter
        // `x_total`), so the type picks among them; it calls `untyped` `unknown`.
        let same_type = |f: &&PyFamily| f.1 == *t || (f.1 == "unknown" && t == "untyped");
        let Some((_, _, py_help, py_unit)) = py_families.iter().filter(named).find(same_type) else {
            let candidates: Vec<_> = py_families.iter().filter(named).collect();
            panic!("{what}: no Python family {name} of type {t}; candidates {candidates:?}");
        };
        if let Some(help) = ours.helps.get(name) {
            assert_eq!(py_help, help, "{what}: help of {name}");
        }
        assert_eq!(py_unit, ours.units.get(name).map_or("", String::as_str), "{what}: unit of {name}");
    }
}

/// `GET path` over HTTP/1.0 (so the body is neither chunked nor compressed) with `accept`;
/// returns the `Content-Type` and the body.
fn fetch(addr: SocketAddr, path: &str, accept: &str) -> (Option<String>, Vec<u8>) {
    let timeout = Duration::from_secs(10);
    let mut s = TcpStream::connect_timeout(&addr, timeout).unwrap();
    s.set_read_timeout(Some(timeout)).unwrap();
    s.set_write_timeout(Some(timeout)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: {accept}\r\n\r\n").unwrap();
    let deadline = Instant::now() + timeout * 3;
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        assert!(Instant::now() < deadline, "response from {addr} took too long");
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("reading from {addr}: {e}"),
        }
    }
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of the header");
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    assert!(head.starts_with("HTTP/1.") && head.contains(" 200 "), "status: {head}");
    let content_type = head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case("content-type").then(|| v.trim().to_string())
    });
    (content_type, raw[head_end + 4..].to_vec())
}

#[test]
fn node_exporter_pages_match_python() {
    const TEST: &str = "exposition::node_exporter_pages_match_python";
    let dir = tempfile::tempdir().unwrap();
    if !peers_available(TEST, &["prometheus-node-exporter"], "prometheus-node-exporter")
        || !python_available(TEST, dir.path())
    {
        return;
    }
    let addr = free_addr().unwrap();
    let mut cmd = Command::new("prometheus-node-exporter");
    cmd.arg(format!("--web.listen-address={addr}"));
    let mut ne = PeerProcess::spawn("node_exporter", cmd, addr, &dir.path().join("node_exporter.log")).unwrap();
    ne.wait_ready("/", Duration::from_secs(30)).unwrap();

    for accept in ["text/plain;version=0.0.4", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"] {
        let (content_type, body) = fetch(addr, "/metrics", accept);
        // The format follows the answer, as in the scrape loop: node_exporter 1.5 answers an
        // OpenMetrics request with the text format.
        let format = Format::from_content_type(content_type.as_deref());
        if accept.starts_with("application/openmetrics-text") && format == Format::PrometheusText {
            eprintln!("{TEST}: node_exporter answered {content_type:?} to an OpenMetrics Accept; compared as text");
        }
        let what = format!("node_exporter page for Accept {accept:?} ({format:?})");
        let mine = ours(&body, format).unwrap_or_else(|e| panic!("{what}: Cairn refused it: {e}"));
        assert!(mine.samples.len() > 200, "{what}: only {} samples", mine.samples.len());
        assert!(mine.types.len() > 50, "{what}: only {} families", mine.types.len());
        let (py, fams) = python(dir.path(), &body, format).unwrap_or_else(|e| panic!("{what}: Python refused it: {e}"));
        compare(&what, format, &mine, &py, &fams);
        eprintln!("{TEST}: {what}: {} samples, {} families agree", mine.samples.len(), mine.types.len());
    }
}

/// The Python client's exposition of its test registry in `format`.
fn python_page(scratch: &Path, format: Format) -> Vec<u8> {
    let mut cmd = Command::new(PYTHON);
    cmd.arg(script()).args(["generate", format_arg(format)]);
    let out = run_bounded(cmd, scratch, Duration::from_secs(60)).unwrap();
    assert_eq!(out.code, Some(0), "pyclient.py generate failed: {}", out.stderr);
    out.stdout.into_bytes()
}

fn find<'p>(page: &'p Page, name: &str, label: (&str, &str)) -> &'p Sample {
    page.samples
        .iter()
        .find(|s| s.name == name && s.labels.get(label.0).map(String::as_str) == Some(label.1))
        .unwrap_or_else(|| panic!("no {name} with {label:?}"))
}

#[test]
fn python_client_pages_match_python() {
    const TEST: &str = "exposition::python_client_pages_match_python";
    let dir = tempfile::tempdir().unwrap();
    if !python_available(TEST, dir.path()) {
        return;
    }
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let page = python_page(dir.path(), format);
        let what = format!("Python client {format:?} page");
        let mine = ours(&page, format).unwrap_or_else(|e| panic!("{what}: Cairn refused it: {e}"));
        let (py, fams) = python(dir.path(), &page, format).unwrap_or_else(|e| panic!("{what}: Python refused it: {e}"));
        compare(&what, format, &mine, &py, &fams);

        // A few values worked out by hand from the registry in pyclient.py.
        let path = find(&mine, "requests_total", ("method", "GET"));
        assert_eq!(path.labels["path"], "/a\"b\\c\nd", "{what}: label escapes");
        assert_eq!(
            mine.helps
                .get(if format == Format::OpenMetrics { "requests" } else { "requests_total" })
                .map(String::as_str),
            Some("Requests with \"quotes\", a \\ backslash\nand a line break."),
            "{what}: help escapes"
        );
        assert!(find(&mine, "temperature_celsius", ("room", "with space")).value.is_nan());
        assert_eq!(find(&mine, "temperature_celsius", ("room", "café ☕")).value, f64::INFINITY);
        // The empty room label is dropped, leaving the metric name alone.
        assert!(mine.samples.iter().any(|s| s.name == "temperature_celsius" && s.labels.is_empty()));
        // Timestamps 1700000000 s and 1700000000.123 s; the text exposition writes
        // int(seconds * 1000) milliseconds, OpenMetrics the seconds, which Prometheus
        // multiplies by 1000 and truncates.
        assert_eq!(find(&mine, "stamped", ("k", "whole")).ts, Some(1_700_000_000_000));
        assert_eq!(find(&mine, "stamped", ("k", "fraction")).ts, Some(1_700_000_000_123));
        // 1.001 s: 1000.9999999999999 ms as a float, so 1000 either way.
        assert_eq!(find(&mine, "stamped", ("k", "early")).ts, Some(1000));
        let exemplar = find(&mine, "jobs_total", ("queue", "q2")).exemplar.clone();
        if format == Format::OpenMetrics {
            let want = BTreeMap::from([("id".to_string(), "e1".to_string())]);
            assert_eq!(exemplar, Some((want, 0.25, Some(1_700_000_001_500))), "{what}");
            assert_eq!(mine.types.get("state").map(String::as_str), Some("stateset"));
            assert_eq!(find(&mine, "build_info", ("version", "1.2.3")).labels["commit"], "x\"y");
        } else {
            assert_eq!(exemplar, None, "{what}: the text format has no exemplars");
        }
    }
}

/// What the Python parser does with a malformed page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Py {
    /// It refuses it too.
    Rejects,
    /// It accepts it: laxer than Prometheus.
    Accepts,
    /// Not asked (the library cannot even decode the page).
    NotAsked,
}

/// One malformed variant: name, format, page, the line and message Cairn must report, and
/// the Python parser's verdict.
struct Bad {
    name: &'static str,
    format: Format,
    page: Vec<u8>,
    line: usize,
    msg: &'static str,
    python: Py,
}

/// The 1-based line on which `needle` first occurs in `page`.
fn line_of(page: &[u8], needle: &str) -> usize {
    let at = page.windows(needle.len()).position(|w| w == needle.as_bytes()).unwrap_or_else(|| panic!("{needle:?}"));
    1 + page[..at].iter().filter(|&&b| b == b'\n').count()
}

/// `page` with the first `from` replaced by `to` (which must be there).
fn replace(page: &[u8], from: &str, to: &[u8]) -> Vec<u8> {
    let at = page.windows(from.len()).position(|w| w == from.as_bytes()).unwrap_or_else(|| panic!("{from:?}"));
    [&page[..at], to, &page[at + from.len()..]].concat()
}

/// `page` cut just after the first `marker`.
fn cut_after(page: &[u8], marker: &str) -> Vec<u8> {
    let at = page.windows(marker.len()).position(|w| w == marker.as_bytes()).unwrap_or_else(|| panic!("{marker:?}"));
    page[..at + marker.len()].to_vec()
}

fn malformed_openmetrics(om: &[u8]) -> Vec<Bad> {
    let lines = om.iter().filter(|&&b| b == b'\n').count();
    let kitchen = "temperature_celsius{room=\"kitchen\"} -12.5";
    let f = Format::OpenMetrics;
    vec![
        Bad {
            name: "missing # EOF",
            format: f,
            page: om[..om.len() - "# EOF\n".len()].to_vec(),
            line: lines,
            msg: "data does not end with # EOF",
            python: Py::Rejects,
        },
        Bad {
            name: "truncated inside a label value",
            format: f,
            page: cut_after(om, "requests_total{method=\"GET\",path=\"/a\\\"b"),
            line: line_of(om, "requests_total{method=\"GET\""),
            msg: "expected label value",
            python: Py::Rejects,
        },
        Bad {
            name: "blank line",
            format: f,
            page: replace(om, "# TYPE requests counter\n", b"# TYPE requests counter\n\n"),
            line: 3,
            msg: "expected a valid start token",
            python: Py::Rejects,
        },
        Bad {
            name: "data after # EOF",
            format: f,
            page: [om, b"extra 1\n"].concat(),
            line: lines + 1,
            msg: "unexpected data after # EOF",
            python: Py::Rejects,
        },
        Bad {
            name: "duplicate label name",
            format: f,
            page: replace(om, "requests_total{method=\"POST\",", b"requests_total{method=\"POST\",method=\"PUT\","),
            line: line_of(om, "requests_total{method=\"POST\""),
            msg: "label name \"method\" is not unique",
            python: Py::Rejects,
        },
        Bad {
            name: "exemplar on a gauge",
            format: f,
            page: replace(om, kitchen, format!("{kitchen} # {{a=\"b\"}} 1").as_bytes()),
            line: line_of(om, kitchen),
            msg: "metric name temperature_celsius does not support exemplars",
            python: Py::Rejects,
        },
        Bad {
            name: "escaped line break",
            format: f,
            page: replace(om, "\\nd\"", b"\\\nd\""),
            line: line_of(om, "requests_total{method=\"GET\""),
            msg: "expected label value",
            python: Py::Rejects,
        },
        Bad {
            // Python skips one character after the label set, whatever it is.
            name: "tab before the value",
            format: f,
            page: replace(om, kitchen, kitchen.replace("} ", "}\t").as_bytes()),
            line: line_of(om, kitchen),
            msg: "expected value after metric",
            python: Py::Accepts,
        },
        Bad {
            name: "unit not a suffix",
            format: f,
            page: replace(
                om,
                "# TYPE temperature_celsius gauge\n",
                b"# TYPE temperature_celsius gauge\n# UNIT temperature_celsius kelvin\n",
            ),
            line: line_of(om, "# TYPE temperature_celsius gauge") + 1,
            msg: "unit not a suffix of metric \"temperature_celsius\"",
            python: Py::Rejects,
        },
        Bad {
            name: "NaN timestamp",
            format: f,
            page: replace(om, "stamped{k=\"whole\"} 1.0 1700000000", b"stamped{k=\"whole\"} 1.0 NaN"),
            line: line_of(om, "stamped{k=\"whole\"}"),
            msg: "invalid timestamp NaN",
            python: Py::Rejects,
        },
        Bad {
            name: "invalid UTF-8 in a label value",
            format: f,
            page: replace(om, "café", b"caf\xff"),
            line: line_of(om, "café"),
            msg: "invalid UTF-8 label value",
            python: Py::NotAsked,
        },
        Bad {
            name: "text format type",
            format: f,
            page: replace(om, "# TYPE state stateset", b"# TYPE state untyped"),
            line: line_of(om, "# TYPE state stateset"),
            msg: "invalid metric type \"untyped\"",
            python: Py::Rejects,
        },
    ]
}

fn malformed_text(text: &[u8]) -> Vec<Bad> {
    let kitchen = "temperature_celsius{room=\"kitchen\"} -12.5";
    let whole = "stamped{k=\"whole\"} 1.0 1700000000000";
    let build = "build_info{commit=\"x\\\"y\",version=\"1.2.3\"} 1.0";
    let f = Format::PrometheusText;
    vec![
        Bad {
            name: "truncated inside a label value",
            format: f,
            page: cut_after(text, "requests_total{method=\"GET\",path=\"/a\\\"b"),
            line: line_of(text, "requests_total{method=\"GET\""),
            msg: "expected label value",
            python: Py::Rejects,
        },
        Bad {
            // Python keeps the last of the repeated labels.
            name: "duplicate label name",
            format: f,
            page: replace(text, "requests_total{method=\"POST\",", b"requests_total{method=\"POST\",method=\"PUT\","),
            line: line_of(text, "requests_total{method=\"POST\""),
            msg: "label name \"method\" is not unique",
            python: Py::Accepts,
        },
        Bad {
            // Python strips every line, carriage returns included.
            name: "CRLF line endings",
            format: f,
            page: String::from_utf8_lossy(text).replace('\n', "\r\n").into_bytes(),
            line: 2,
            msg: "invalid metric type \"counter\\r\"",
            python: Py::Accepts,
        },
        Bad {
            // Python reads any float as a timestamp.
            name: "fractional timestamp",
            format: f,
            page: replace(text, whole, format!("{whole}.5").as_bytes()),
            line: line_of(text, whole),
            msg: "expected next entry after timestamp",
            python: Py::Accepts,
        },
        Bad {
            name: "escaped line break",
            format: f,
            page: replace(text, "\\nd\"", b"\\\nd\""),
            line: line_of(text, "requests_total{method=\"GET\""),
            msg: "expected label value",
            python: Py::Rejects,
        },
        Bad {
            // Python strips the line first.
            name: "blanks before a series",
            format: f,
            page: replace(text, kitchen, format!("  {kitchen}").as_bytes()),
            line: line_of(text, kitchen),
            msg: "invalid metric name or label names",
            python: Py::Accepts,
        },
        Bad {
            // Python takes the last number as the timestamp.
            name: "three numbers",
            format: f,
            page: replace(text, kitchen, format!("{kitchen} 1 2").as_bytes()),
            line: line_of(text, kitchen),
            msg: "expected next entry after timestamp",
            python: Py::Accepts,
        },
        Bad {
            name: "hex float value",
            format: f,
            page: replace(text, kitchen, kitchen.replace("-12.5", "0x1p3").as_bytes()),
            line: line_of(text, kitchen),
            msg: "unsupported character in float",
            python: Py::Rejects,
        },
        Bad {
            // Python's text parser takes any word as a type.
            name: "OpenMetrics type in the text format",
            format: f,
            page: replace(text, "# TYPE state gauge", b"# TYPE state stateset"),
            line: line_of(text, "# TYPE state gauge"),
            msg: "invalid metric type \"stateset\"",
            python: Py::Accepts,
        },
        Bad {
            name: "missing value",
            format: f,
            page: replace(text, build, build.trim_end_matches(" 1.0").as_bytes()),
            line: line_of(text, build),
            msg: "expected value after metric",
            python: Py::Rejects,
        },
    ]
}

#[test]
fn malformed_pages_are_refused_with_their_line() {
    const TEST: &str = "exposition::malformed_pages_are_refused_with_their_line";
    let dir = tempfile::tempdir().unwrap();
    if !python_available(TEST, dir.path()) {
        return;
    }
    let om = python_page(dir.path(), Format::OpenMetrics);
    let text = python_page(dir.path(), Format::PrometheusText);
    let cases: Vec<Bad> = malformed_openmetrics(&om).into_iter().chain(malformed_text(&text)).collect();
    let mut laxer = Vec::new();
    for case in &cases {
        let what = format!("{:?} {:?}", case.format, case.name);
        match ours(&case.page, case.format) {
            Ok(_) => panic!("{what}: Cairn accepted it"),
            Err(e) => {
                assert_eq!(e.line, case.line, "{what}: {e}");
                assert!(e.msg.contains(case.msg), "{what}: {e} lacks {:?}", case.msg);
            }
        }
        if case.python == Py::NotAsked {
            continue;
        }
        let verdict = match python(dir.path(), &case.page, case.format) {
            Ok(_) => Py::Accepts,
            Err(_) => Py::Rejects,
        };
        assert_eq!(verdict, case.python, "{what}: the Python parser's verdict changed");
        if verdict == Py::Accepts {
            laxer.push(what);
        }
    }
    eprintln!("{TEST}: {} malformed pages refused; the Python parser accepts {laxer:?}", cases.len());
}

/// Small pages for [`prometheus_scrape_agrees`], valid and malformed, in the text format.
const TEXT_PAGES: &[&[u8]] = &[
    b"",
    b"a 1\n",
    b"a 1",
    b"\n\n \t\na 1\n",
    b"# HELP m x\n# TYPE m counter\nm 1\n",
    b"#\n# words\n#x\n# HELPx y\n# HELP\n\t# TYPE\n# UNIT a b\na 1\n",
    b"# HELP m a\\\\b\\nc\\\"d\n# HELP m   \n#\tHELP\tm\t\ty\nm 1\n",
    b"a{b=\"1\",c=\"2\",} 1\na { b = \"1\" , c=\"2\" } 2\n",
    b"a{b=\"1\"c=\"2\"}3\n",
    b"a{} 4\n",
    b"a{b=\"q\\\"x\\\\y\\nz\\t\"} 1\n",
    b"a{b=\"x\ny\"} 1\n",
    b"a NaN\nb +Inf\nc -Inf\nd inf\ne .5\nf 1e3\ng 4.9e-324\n",
    b"a 1 0\nb 2\t1395066363000 \t\n",
    b"a+1\n",
    b"a 1\n\x00garbage{\n",
    b"a 1\n  \x00x\n",
    b"a 1\n#x\x00y\nb{ 2\n",
    b"# HELP m x\x00y\n# a\x00b\na{b=\"\x00\"} 1\n",
    b"# EOF\na 1\n",
    b"a{b=\"\",b=\"2\"} 1\n",
    b"a{job=\"x\"} 1\n",
    b"a\n",
    b"a",
    b"a{b='c'} 1\n",
    b"a{b=\n",
    b"a{\xff=\"foo\"} 1\n",
    b"a{b=\"\xff\"} 1\n",
    b"a true\n",
    b"something_weird{problem=\"",
    b"empty_label_name{=\"\"} 0\n",
    b"foo 1_2\n",
    b"foo 0x1p-3\n",
    b"foo 0x10\n",
    b"foo 0 1_2\n",
    b"{a=\"b\"} 1\n",
    b"a 1 2 3\n",
    b"a 1 -2\n",
    b"a 1 2.5\n",
    b"a 1\r\n",
    b"a 1 99999999999999999999\n",
    b"a 1e999\n",
    b"# TYPE a meter\n",
    b"# TYPE a counter \n",
    b"# TYPE a  counter\n",
    b"# TYPE a gaugehistogram\n",
    b"# TYPE a\n",
    b"# HELP 1a x\n",
    b"# HELP a \xffx\n",
    b"# HELP a\xc3\xa9x\n",
    b"a{b=\"c\",,} 1\n",
    b"a{,b=\"c\"} 1\n",
    b"a{b} 1\n",
    b"a{b:c=\"d\"} 1\n",
    b"  a 1\n",
    b"a{b=\"1\",b=\"2\"} 1\n",
    b"a{__name__=\"x\"} 1\n",
    b"a{__name__=\"\"} 1\n",
    b"a{b=\"\",__name__=\"\",c=\"1\"} 1\n",
    b"a{b=\"x\\\ny\"} 1\n",
    b"a{b=\"x\ny\" 1\n",
    b"a{b=\"c\"} 1 # {x=\"y\"} 1\n",
];

/// Small pages for [`prometheus_scrape_agrees`] in OpenMetrics.
const OPENMETRICS_PAGES: &[&[u8]] = &[
    b"# EOF\n",
    b"a 1\n# EOF",
    b"# HELP rpc_seconds RPC latency.\n# TYPE rpc_seconds histogram\n# UNIT rpc_seconds seconds\n\
      rpc_seconds_bucket{le=\"0.1\"} 3 # {trace_id=\"abc\"} 0.05 1700000000.5\n\
      rpc_seconds_bucket{le=\"+Inf\"} 5\nrpc_seconds_count 5\nrpc_seconds_sum 1.5\nrpc_seconds_created 1.7e9\n# EOF\n",
    b"a 1 1520879607.789\nb 2 -1.5\nc 3 1.001\nd 4 1e3\n# EOF\n",
    b"c_total 1 # {} 2\nd_total 1 10 # {a=\"b\",c=\"d\"} 2 11\ne_total 1 # {a=\"x\\\"y\"} NaN\n# EOF\n",
    b"# HELP m a\\\"b\\\\c\\nd\\x\n# HELP n \n# UNIT n \n# EOF\n",
    b"# TYPE a counter\n# TYPE b gauge\n# TYPE c histogram\n# TYPE d gaugehistogram\n# TYPE e summary\n\
      # TYPE f info\n# TYPE g stateset\n# TYPE h unknown\n# EOF\n",
    b"# TYPE s stateset\ns{s=\"a\"} 7\n# TYPE i info\ni_info{v=\"1\"} 2\n# TYPE c counter\nc 1\nc_total -1\n# EOF\n",
    b"# UNIT a_b_seconds seconds\n# UNIT x_y y\n# EOF\n",
    b"a -Inf\nb nan\nc 17.0\n# EOF\n",
    b"a_total 1 # {b=\"1\",b=\"2\"} 3\n# EOF\n",
    b"",
    b"a 1\n",
    b"a 1",
    b"c_total 1 # {a=\"b\"} 4",
    b"\n",
    b"a 1\n\n# EOF\n",
    b" a 1\n# EOF\n",
    b"9\n",
    b"# comment\n# EOF\n",
    b"#  TYPE c counter\n",
    b"#\tTYPE c counter\n",
    b"# TYPE u untyped\n",
    b"# TYPE c counter \n",
    b"# TYPE c  counter\n",
    b"# TYPE  c counter\n",
    b"# UNIT metric suffix\n",
    b"# UNIT metricsuffix suffix\n",
    b"# UNIT seconds seconds\n",
    b"# HELP m\n",
    b"# UNIT m x",
    b"a\t1\n",
    b"a  1\n",
    b"a\n",
    b"a",
    b"a 1\t2\n",
    b"a 1 2 \n",
    b"a 1 2 3\n",
    b"a 1  2\n",
    b"a 1 1z\n",
    b"a 1 NaN\n",
    b"a 1 -Inf\n",
    b"a 1 0x1p3\n",
    b"# EOF\na 1",
    b"# EOF\n\n",
    b"# EOFa 1",
    b"# EOF \n",
    b"a{b=\"c\",} 1\n",
    b"a{,b=\"c\"} 1\n",
    b"a{b=\"c\"d=\"e\"} 1\n",
    b"a{b=\"c\",,d=\"e\"} 1\n",
    b"a{b=\"c\" } 1\n",
    b"a{ b=\"c\"} 1\n",
    b"a{b =\"c\"} 1\n",
    b"a{b=\"x\ny\"} 1\n# EOF\n",
    b"a{b='c'} 1\n",
    b"a{b=\"\xff\"} 1\n# EOF\n",
    b"# HELP m \xff\n# EOF\n",
    b"empty_label_name{=\"\"} 0\n",
    b"a {b=\"c\"} 1\n",
    b"a 1 # {a=\"b\"} 1\n# EOF\n",
    b"a_count 1 # {a=\"b\"} 1\n",
    b"a_total 1 # {a=\"b\"}\n",
    b"a_total 1 # {a=\"b\"} 1 2 3\n",
    b"a_total 1 # {a=\"b\"} 1 NaN\n",
    b"a_total 1 # {a} 1\n",
    b"a_total 1 # {a=\"b\"} 1  2\n",
    b"a_total 1 # x\n",
    b"# TYPE a gauge\na 1\na x\n# EOF\n",
    b"a{b=\"1\",b=\"2\"} 1\n# EOF\n",
];

/// A loopback HTTP server answering `GET /case/<n>` with page `n` and its content type, one
/// request per connection, until dropped (and for two minutes at most).
struct PageServer {
    addr: SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PageServer {
    fn start(pages: Vec<(&'static str, &'static [u8])>) -> PageServer {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let _ = answer(conn, &pages);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => return,
                }
            }
        });
        PageServer { addr, stop, thread: Some(thread) }
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves one request on `conn`.
fn answer(mut conn: TcpStream, pages: &[(&str, &[u8])]) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split(' ').nth(1).unwrap_or_default();
    let page = path.strip_prefix("/case/").and_then(|n| n.parse::<usize>().ok()).and_then(|n| pages.get(n));
    match page {
        Some((content_type, body)) => {
            write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            conn.write_all(body)?;
        }
        None => conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?,
    }
    conn.flush()
}

/// Cairn's verdict on a page: `Ok` or the error, as the scrape loop would reach it.
fn our_verdict(page: &[u8], format: Format) -> Result<(), String> {
    ours(page, format).map(|_| ()).map_err(|e| e.to_string())
}

#[test]
fn prometheus_scrape_agrees() {
    const TEST: &str = "exposition::prometheus_scrape_agrees";
    if !peers_available(TEST, &["prometheus"], "prometheus") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut pages: Vec<(&'static str, &'static [u8])> = Vec::new();
    let mut formats = Vec::new();
    for (format, content_type, set) in [
        (Format::PrometheusText, "text/plain; version=0.0.4; charset=utf-8", TEXT_PAGES),
        (Format::OpenMetrics, "application/openmetrics-text; version=1.0.0; charset=utf-8", OPENMETRICS_PAGES),
    ] {
        for page in set {
            pages.push((content_type, page));
            formats.push(format);
        }
    }
    let server = PageServer::start(pages.clone());
    let mut cfg = String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
    for i in 0..pages.len() {
        cfg.push_str(&format!(
            "  - job_name: c{i}\n    metrics_path: /case/{i}\n    static_configs:\n      - targets: ['{}']\n",
            server.addr
        ));
    }
    std::fs::write(dir.path().join("prometheus.yml"), cfg).unwrap();
    let addr = free_addr().unwrap();
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address={addr}"));
    let mut prom = PeerProcess::spawn("prometheus", cmd, addr, &dir.path().join("prometheus.log")).unwrap();
    prom.wait_ready("/-/ready", Duration::from_secs(30)).unwrap();

    // Wait until every target has been scraped once.
    let deadline = Instant::now() + Duration::from_secs(60);
    let targets = loop {
        let r = prom.get("/api/v1/targets?state=active", Duration::from_secs(10)).unwrap();
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        let targets = v["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
        if targets.len() == pages.len() && targets.iter().all(|t| t["health"] != "unknown") {
            break targets;
        }
        assert!(Instant::now() < deadline, "Prometheus did not scrape every page in time; log:\n{}", prom.log());
        std::thread::sleep(Duration::from_millis(200));
    };

    let mut disagreements = Vec::new();
    let (mut accepted, mut refused) = (0, 0);
    for t in &targets {
        let job = t["labels"]["job"].as_str().unwrap();
        let i: usize = job[1..].parse().unwrap();
        let (page, format) = (pages[i].1, formats[i]);
        let prometheus_ok = t["health"] == "up";
        let ours = our_verdict(page, format);
        if prometheus_ok {
            accepted += 1
        } else {
            refused += 1
        }
        if ours.is_ok() != prometheus_ok {
            disagreements.push(format!(
                "{format:?} {:?}: Prometheus {}, Cairn {:?}",
                String::from_utf8_lossy(page),
                if prometheus_ok { "accepts".to_string() } else { format!("refuses: {}", t["lastError"]) },
                ours
            ));
        } else if let Err(e) = ours {
            eprintln!(
                "{TEST}: {format:?} {:?}\n    Prometheus: {}\n    Cairn:      {e}",
                String::from_utf8_lossy(page),
                t["lastError"]
            );
        }
    }
    assert!(disagreements.is_empty(), "{} disagreements:\n{}", disagreements.len(), disagreements.join("\n"));

    // What Prometheus stored from an accepted page without explicit timestamps is what Cairn
    // read: the same series (after the target's `job`/`instance` labels push the page's own
    // aside as `exported_*`) with the same latest values.
    let mut compared = 0;
    for t in targets.iter().filter(|t| t["health"] == "up") {
        let job = t["labels"]["job"].as_str().unwrap();
        let i: usize = job[1..].parse().unwrap();
        let mine = ours(pages[i].1, formats[i]).unwrap();
        if mine.samples.iter().any(|s| s.ts.is_some()) {
            continue;
        }
        let mut want: BTreeMap<String, String> = BTreeMap::new();
        for s in &mine.samples {
            let mut labels = s.labels.clone();
            for target_label in ["job", "instance"] {
                if let Some(v) = labels.remove(target_label) {
                    labels.insert(format!("exported_{target_label}"), v);
                }
            }
            // A repeated series keeps its first value: Prometheus refuses the second sample
            // at the same timestamp.
            want.entry(format!("{}{labels:?}", s.name)).or_insert_with(|| go_float(s.value));
        }
        let path = format!("/api/v1/query?{}", query_string(&[("query", &format!("{{job=\"{job}\"}}"))]));
        let r = prom.get(&path, Duration::from_secs(10)).unwrap();
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        let mut got: BTreeMap<String, String> = BTreeMap::new();
        for series in v["data"]["result"].as_array().unwrap() {
            let mut labels: BTreeMap<String, String> = series["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let name = labels.remove("__name__").unwrap_or_default();
            if name == "up" || name.starts_with("scrape_") {
                continue;
            }
            labels.remove("job");
            labels.remove("instance");
            got.insert(format!("{name}{labels:?}"), series["value"][1].as_str().unwrap().to_string());
        }
        assert_eq!(got, want, "{:?} page {:?}", formats[i], String::from_utf8_lossy(pages[i].1));
        compared += 1;
    }
    eprintln!(
        "{TEST}: {} pages, Prometheus accepts {accepted} and refuses {refused}, as Cairn does; \
         stored series and values compared on {compared} accepted pages",
        pages.len()
    );
    assert!(compared >= 20, "only {compared} pages had their series compared");
}

/// A value as Prometheus's API prints it.
fn go_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        let s = format!("{v}");
        let e = format!("{v:e}");
        // Go's 'g' format with the shortest representation: exponent form when the exponent
        // is below -4 or at least 21.
        let exp: i32 = e.split('e').nth(1).and_then(|x| x.parse().ok()).unwrap_or(0);
        if !(-4..21).contains(&exp) {
            let m = e.split('e').next().unwrap_or_default();
            format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
        } else {
            s
        }
    }
}
