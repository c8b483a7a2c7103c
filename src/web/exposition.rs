//! Text exposition format 0.0.4 endpoints: `/federate` (the latest sample of each matching
//! series) and `/metrics` (Cairn's own metrics).

use super::params::{Params, parse_metric_selector};
use super::{AppState, not_ready};
use crate::model::{Labels, is_stale_nan};
use crate::promql::GoFloat;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The content type of the text exposition format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn text(body: String) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_CONTENT_TYPE));
    r
}

/// Appends `v` escaped for a label value in the text format (`\\`, `\"`, `\n`).
fn write_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Appends one sample line: `name{a="b",...} value [timestamp]`.
pub fn write_sample(out: &mut String, labels: &Labels, value: f64, t_ms: Option<i64>) {
    write_sample_extra(out, labels, &[], value, t_ms);
}

/// Like [`write_sample`], with `extra` labels (sorted by name) appended after the series' own
/// ones, skipping those the series already has (federation's external labels).
fn write_sample_extra(out: &mut String, labels: &Labels, extra: &[(&str, &str)], value: f64, t_ms: Option<i64>) {
    out.push_str(labels.metric_name().unwrap_or(""));
    let mut first = true;
    let own = labels.iter().filter(|l| l.name != "__name__").map(|l| (l.name.as_str(), l.value.as_str()));
    let added = extra.iter().copied().filter(|(n, _)| labels.get(n).is_none());
    for (name, value) in own.chain(added) {
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(name);
        out.push_str("=\"");
        write_label_value(out, value);
        out.push('"');
    }
    if !first {
        out.push('}');
    }
    let _ = write!(out, " {}", GoFloat(value));
    if let Some(t) = t_ms {
        let _ = write!(out, " {t}");
    }
    out.push('\n');
}

/// `GET /federate?match[]=...`: for every series matching any selector, its latest sample
/// within the lookback delta before now (stale markers skipped), grouped by metric name with
/// a `# TYPE <name> untyped` line per name.
pub async fn federate(State(s): State<AppState>, uri: Uri) -> Response {
    let Some(db) = s.db() else {
        return not_ready();
    };
    let params = match Params::parse(uri.query(), None) {
        Ok(p) => p,
        Err(e) => return (StatusCode::BAD_REQUEST, e.msg).into_response(),
    };
    let mut sets = Vec::new();
    for m in params.all("match[]") {
        match parse_metric_selector(m) {
            Ok(ms) => sets.push(ms),
            Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
        }
    }
    let lookback = s.shared().opts.engine.lookback_delta_ms;
    let maxt = super::api::now_ms();
    let mint = maxt.saturating_sub(lookback);
    let res = tokio::task::spawn_blocking(move || -> Result<String, String> {
        let q = db.querier(mint, maxt);
        // Latest sample per series, grouped by metric name (then labels, as selected).
        let mut latest: BTreeMap<Labels, (i64, f64)> = BTreeMap::new();
        for set in &sets {
            for series in q.select(set).map_err(|e| e.to_string())? {
                if latest.contains_key(series.labels()) {
                    continue;
                }
                let mut last = None;
                let mut it = series.iter();
                for (t, v) in it.by_ref() {
                    if t > maxt {
                        break;
                    }
                    last = Some((t, v));
                }
                if let Some(e) = it.err() {
                    return Err(e.to_string());
                }
                if let Some((t, v)) = last.filter(|(_, v)| !is_stale_nan(*v)) {
                    latest.insert(series.labels().clone(), (t, v));
                }
            }
        }
        type Family<'a> = Vec<(&'a Labels, (i64, f64))>;
        let mut by_name: BTreeMap<&str, Family> = BTreeMap::new();
        for (l, tv) in &latest {
            by_name.entry(l.metric_name().unwrap_or("")).or_default().push((l, *tv));
        }
        let mut out = String::new();
        for (name, samples) in by_name {
            let _ = writeln!(out, "# TYPE {name} untyped");
            for (l, (t, v)) in samples {
                // Prometheus federates `instance=""` as an external label for series without
                // an instance (external labels from the config join it once config lands).
                write_sample_extra(&mut out, l, &[("instance", "")], v, Some(t));
            }
        }
        Ok(out)
    })
    .await;
    match res {
        Ok(Ok(body)) => text(body),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Process statistics read from `/proc/self` (zero where unavailable).
#[derive(Debug, Default, PartialEq)]
pub struct ProcessStats {
    /// User plus system CPU time (seconds).
    pub cpu_seconds: f64,
    /// Resident memory (bytes).
    pub resident_bytes: f64,
    /// Virtual memory (bytes).
    pub virtual_bytes: f64,
    /// Open file descriptors.
    pub open_fds: f64,
    /// The soft limit on open file descriptors.
    pub max_fds: f64,
}

impl ProcessStats {
    /// Reads the current process's statistics.
    pub fn read() -> ProcessStats {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        let open_fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count() as f64).unwrap_or(0.0);
        ProcessStats {
            cpu_seconds: parse_cpu_seconds(&stat),
            resident_bytes: status_kib(&status, "VmRSS:") * 1024.0,
            virtual_bytes: status_kib(&status, "VmSize:") * 1024.0,
            open_fds,
            max_fds: parse_max_fds(&limits),
        }
    }
}

/// `utime + stime` of `/proc/self/stat`, in seconds (clock ticks of 1/100 s, Linux's fixed
/// `USER_HZ`).
fn parse_cpu_seconds(stat: &str) -> f64 {
    // Fields after the parenthesised command name, which may itself contain spaces.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ")" come state (field 3) ... utime is field 14, stime field 15 (1-based).
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

fn status_kib(status: &str, key: &str) -> f64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
}

fn parse_max_fds(limits: &str) -> f64 {
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// `GET /metrics`: storage metrics (once the database is open), build info, process
/// statistics and HTTP request counts.
pub async fn metrics(State(s): State<AppState>) -> Response {
    let mut out = String::new();
    if let Some(db) = s.db() {
        db.metrics().render(&mut out);
    }
    crate::remote::metrics().render(&mut out);
    if let Some(rw) = s.remote_write() {
        rw.lock().await.render_metrics(&mut out);
    }
    let version = env!("CARGO_PKG_VERSION");
    family(&mut out, "cairn_build_info", "gauge", "Cairn's version, as a label on a constant 1.");
    let _ = writeln!(out, "cairn_build_info{{version=\"{version}\"}} 1");
    family(
        &mut out,
        "prometheus_build_info",
        "gauge",
        "A metric with a constant '1' value labeled by version, revision, branch, and goversion from which prometheus was built.",
    );
    let _ = writeln!(
        out,
        "prometheus_build_info{{branch=\"\",goversion=\"\",revision=\"cairn-{version}\",version=\"{}\"}} 1",
        super::status::EMULATED_PROMETHEUS_VERSION
    );
    let p = ProcessStats::read();
    let start = s.shared().started.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let rows: [(&str, &str, &str, f64); 6] = [
        ("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", p.cpu_seconds),
        ("process_max_fds", "gauge", "Maximum number of open file descriptors.", p.max_fds),
        ("process_open_fds", "gauge", "Number of open file descriptors.", p.open_fds),
        ("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", p.resident_bytes),
        ("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", start),
        ("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", p.virtual_bytes),
    ];
    for (name, kind, help, v) in rows {
        family(&mut out, name, kind, help);
        let _ = writeln!(out, "{name} {}", GoFloat(v));
    }
    let requests = s.http_requests();
    family(&mut out, "prometheus_http_requests_total", "counter", "Counter of HTTP requests.");
    for ((handler, code), n) in requests {
        let mut line = String::new();
        write_label_value(&mut line, &handler);
        let _ = writeln!(out, "prometheus_http_requests_total{{code=\"{code}\",handler=\"{line}\"}} {n}");
    }
    text(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_lines_escape_and_format_like_expfmt() {
        let l = Labels::from_pairs(&[("__name__", "up"), ("a", "x\"y\\z\nw"), ("job", "j")]).unwrap();
        let cases: Vec<(f64, Option<i64>, &str)> = vec![
            (1.0, Some(1000), "up{a=\"x\\\"y\\\\z\\nw\",job=\"j\"} 1 1000\n"),
            (1e6, None, "up{a=\"x\\\"y\\\\z\\nw\",job=\"j\"} 1e+06\n"),
            (f64::NAN, None, "up{a=\"x\\\"y\\\\z\\nw\",job=\"j\"} NaN\n"),
        ];
        for (v, t, want) in cases {
            let mut s = String::new();
            write_sample(&mut s, &l, v, t);
            assert_eq!(s, want);
        }
        let mut s = String::new();
        write_sample(&mut s, &Labels::from_pairs(&[("__name__", "x")]).unwrap(), 0.25, None);
        assert_eq!(s, "x 0.25\n");
    }

    #[test]
    fn proc_files_parse() {
        // Fields: pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt
        // cmajflt utime stime ...
        let stat = "42 (a b) c) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0";
        assert_eq!(parse_cpu_seconds(stat), 4.0);
        assert_eq!(parse_cpu_seconds("garbage"), 0.0);
        assert_eq!(status_kib("Name: x\nVmRSS:\t  1024 kB\n", "VmRSS:"), 1024.0);
        assert_eq!(
            parse_max_fds(
                "Limit Soft Hard Units\nMax open files            1024                 4096                 files\n"
            ),
            1024.0
        );
        let live = ProcessStats::read();
        assert!(live.resident_bytes > 0.0 && live.open_fds > 0.0);
    }
}
