//! Differential PromQL test: the same generated data and a few hundred generated queries run
//! through Cairn's engine and through a real Prometheus 2.42 (Debian's `prometheus` package),
//! compared within float tolerance.
//!
//! How the data avoids the known 2.42 vs 3.x differences (`/work/shared/promql-tests/FORMAT.md`,
//! section 15):
//! * Left-closed (2.42) vs left-open (3.x) range and lookback windows: every sample sits at
//!   `k*15s + 1s..13.75s` after a whole hour, and every evaluation time, range, offset, `@` time
//!   and range-query step is a whole minute, so no sample can sit on a window's edge. Subquery
//!   ranges end in `30s` (`[30m30s:1m]`) so their left edge never falls on a subquery step,
//!   whose times are whole minutes.
//! * `rate`/`increase` near zero (the order of the zero cut and the extrapolation limit changed
//!   after 2.42): counters never go below 100, even right after a reset, and grow by at most 5
//!   per sample; histogram buckets start with 1000 observations behind them. The two versions
//!   differ only when a series starts inside the window with a first value between about half
//!   and 1.1 times its average increase per sample, which these values rule out. (Buckets
//!   starting at zero did show the difference: `increase(x_count[17m])` at the data's start.)
//! * Sample timestamps use quarter seconds only, which survive OpenMetrics' float seconds
//!   exactly.
//!
//! Query classes left out, and why:
//! * `holt_winters` (2.42) vs `double_exponential_smoothing` (3.x): renamed, and experimental in
//!   3.x.
//! * Functions and syntax added after 2.42 (FORMAT.md 15.1): `first_over_time`, `mad_over_time`,
//!   `sort_by_label`, `limitk`, duration expressions, numbers as durations, `fill`, ...
//! * `atan2`: 3.x drops the metric name, 2.42 keeps it.
//! * `stddev`/`stdvar` over groups containing NaN: 3.x gives NaN, 2.42 gives 0; the data has no
//!   NaN samples and no such query divides by zero first.
//! * Sums of extreme values: 3.x compensates rounding, 2.42 does not; data values stay small.
//! * `histogram_fraction` and native histograms: absent or different in 2.42.
//! * Label-name validity: 3.x accepts any UTF-8 name (`label_replace(x, "1bad", ...)` works),
//!   2.42 only `[a-zA-Z_][a-zA-Z0-9_]*`; only the empty name is tested as an error.
//! * Annotations (warnings/infos): 2.42 emits hardly any; ignored.
//! * Error messages differ in places between versions: only the presence of an error is
//!   compared.
//! * `topk`/`bottomk` with ties may pick different series: their results are compared as
//!   multisets of values (per timestamp), not by label sets.
//! * Series order (`sort`, `sort_desc`, `topk`) is not compared: results are sorted first.
//!
//! The seed is fixed (override with `CAIRN_TEST_SEED`) so a failure reproduces. To look at one
//! query on both sides, set `PROMQL_DIFF_DEBUG='<query>@<unix ms>'`: the test prints both
//! answers instead of running the comparison. Needs `prometheus` and `promtool` on `PATH`
//! (Debian package `prometheus`); without them the test skips, or fails when `CI=true`.

use crate::Rng;
use crate::peer::{self, PeerProcess};
use cairn::model::Labels;
use cairn::promql::engine::{Engine, EngineOptions, Value};
use cairn::tsdb::{Db, Options};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

const SEC: i64 = 1000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;
/// Samples per series: two hours at 15s.
const STEPS: i64 = 480;
/// Histogram bucket bounds, as written in the `le` label.
const LES: [&str; 8] = ["0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf"];

/// One generated series: labels (sorted by name, `__name__` included) and samples.
struct GenSeries {
    labels: Vec<(String, String)>,
    samples: Vec<(i64, f64)>,
}

fn labels_of(name: &str, pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut l: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    l.push(("__name__".to_string(), name.to_string()));
    l.sort();
    l
}

/// The time of step `k`: 1s to 13.75s (quarter seconds) after `start + k*15s`.
fn jittered(rng: &mut Rng, start: i64, k: i64) -> i64 {
    start + k * 15 * SEC + rng.range(4, 56) as i64 * 250
}

/// Generates the data set starting at `start` (ms, a whole hour): counters with resets and
/// series that start late or end early, gauges with repeats and negative values, and two
/// classic histograms whose buckets share their timestamps.
fn generate(rng: &mut Rng, start: i64) -> Vec<GenSeries> {
    let mut out = Vec::new();
    for job in ["api", "web"] {
        for inst in ["i0", "i1", "i2"] {
            for code in ["200", "500"] {
                let (first, last) = match (job, inst, code) {
                    ("web", "i2", "500") => (40, STEPS),
                    ("api", "i1", "500") => (0, 400),
                    _ => (0, STEPS),
                };
                let max_inc = if code == "200" { 6 } else { 2 };
                let mut v = 1000 + rng.range(0, 500) as i64;
                let mut samples = Vec::new();
                for k in first..last {
                    if rng.range(0, 150) == 0 {
                        v = 100 + rng.range(0, 100) as i64;
                    } else {
                        v += rng.range(0, max_inc) as i64;
                    }
                    samples.push((jittered(rng, start, k), v as f64));
                }
                let labels = labels_of("http_requests_total", &[("job", job), ("instance", inst), ("code", code)]);
                out.push(GenSeries { labels, samples });
            }
        }
    }
    for (i, inst) in ["i0", "i1", "i2", "i3", "i4"].iter().enumerate() {
        let last = if i == 4 { 300 } else { STEPS };
        let mut v = 0.5 + rng.range(0, 150) as f64 / 100.0;
        let mut samples = Vec::new();
        for k in 0..last {
            if rng.range(0, 10) >= 3 {
                v = ((v + (rng.range(0, 41) as f64 - 20.0) / 100.0).max(0.0) * 100.0).round() / 100.0;
            }
            samples.push((jittered(rng, start, k), v));
        }
        out.push(GenSeries { labels: labels_of("node_load", &[("instance", inst)]), samples });
    }
    for inst in ["i0", "i1"] {
        for (sensor, base) in [("cpu", 20.0), ("board", -3.0)] {
            let mut v: f64 = base + rng.range(0, 50) as f64 / 10.0;
            let mut samples = Vec::new();
            for k in 0..STEPS {
                v = ((v + (rng.range(0, 11) as f64 - 5.0) / 10.0) * 10.0).round() / 10.0;
                samples.push((jittered(rng, start, k), v));
            }
            out.push(GenSeries { labels: labels_of("node_temp", &[("instance", inst), ("sensor", sensor)]), samples });
        }
    }
    for inst in ["i0", "i1"] {
        let mut counts = [0u64; LES.len()];
        let mut sum = 0.0f64;
        let mut buckets: Vec<Vec<(i64, f64)>> = vec![Vec::new(); LES.len()];
        let (mut sums, mut cnts) = (Vec::new(), Vec::new());
        // The first 1000 observations happen before the data starts, so that no bucket is near
        // zero when its series begins (see the module comment on the zero cut).
        for k in -1..STEPS {
            let n = if k < 0 { 1000 } else { rng.range(0, 12) };
            for _ in 0..n {
                // Skewed towards the middle buckets.
                let b = (rng.range(0, LES.len() as u64) + rng.range(0, LES.len() as u64)) as usize / 2;
                for c in counts.iter_mut().skip(b) {
                    *c += 1;
                }
                sum += [0.03, 0.07, 0.2, 0.4, 0.8, 2.0, 4.0, 7.0][b];
            }
            if k < 0 {
                continue;
            }
            let t = jittered(rng, start, k);
            sum = (sum * 100.0).round() / 100.0;
            for (i, c) in counts.iter().enumerate() {
                buckets[i].push((t, *c as f64));
            }
            sums.push((t, sum));
            cnts.push((t, counts[LES.len() - 1] as f64));
        }
        for (le, samples) in LES.iter().zip(buckets) {
            let labels = labels_of("req_duration_seconds_bucket", &[("job", "api"), ("instance", inst), ("le", le)]);
            out.push(GenSeries { labels, samples });
        }
        let base = [("job", "api"), ("instance", inst)];
        out.push(GenSeries { labels: labels_of("req_duration_seconds_sum", &base), samples: sums });
        out.push(GenSeries { labels: labels_of("req_duration_seconds_count", &base), samples: cnts });
    }
    out
}

/// The data as an OpenMetrics text file with timestamps, families kept together.
fn openmetrics(data: &[GenSeries]) -> String {
    let mut by_name: BTreeMap<&str, Vec<&GenSeries>> = BTreeMap::new();
    for s in data {
        let name = s.labels.iter().find(|(k, _)| k == "__name__").map_or("", |(_, v)| v.as_str());
        by_name.entry(name).or_default().push(s);
    }
    let mut out = String::new();
    for (name, series) in by_name {
        let ty = if name.starts_with("node_") { "gauge" } else { "unknown" };
        let _ = writeln!(out, "# TYPE {name} {ty}");
        for s in series {
            let ls: Vec<String> =
                s.labels.iter().filter(|(k, _)| k != "__name__").map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            for (t, v) in &s.samples {
                let _ = writeln!(out, "{name}{{{}}} {v} {}.{:03}", ls.join(","), t / 1000, t % 1000);
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

/// How two results are compared.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Label sets and values.
    Exact,
    /// Multisets of values (per timestamp): for `topk`/`bottomk`, whose choice among ties is
    /// unspecified.
    ValuesOnly,
}

/// The generated queries. `t` formats a time `m` minutes after the data's start as seconds
/// (for `@`).
fn queries(start: i64) -> Vec<(String, Mode)> {
    let at = |m: i64| format!("{}", (start + m * MIN) / 1000);
    let mut q: Vec<String> = Vec::new();
    let mut vals: Vec<String> = Vec::new();
    // Selectors with every matcher kind.
    for s in [
        "http_requests_total",
        "http_requests_total{job=\"api\"}",
        "http_requests_total{job!=\"api\",code=\"500\"}",
        "http_requests_total{code=~\"5..\"}",
        "http_requests_total{instance!~\"i[01]\",job=~\"a.*|w.*\"}",
        "{__name__=~\"node_.*\",instance=\"i1\"}",
        "{job=\"web\"}",
        "node_load{nolabel=\"\"}",
        "node_load{instance=\"\"}",
        "node_load{instance=~\"\"}",
        "node_temp{sensor!~\"c.*\"}",
        "req_duration_seconds_bucket{le=\"0.25\"}",
        "nonexistent_metric",
        "node_load[5m]",
        "http_requests_total{job=\"api\",code=\"200\"}[1m] offset 5m",
    ] {
        q.push(s.to_string());
    }
    // Range functions on counters.
    let counters = ["http_requests_total", "http_requests_total{code=\"500\"}", "req_duration_seconds_count"];
    for f in ["rate", "irate", "increase", "resets", "changes"] {
        for r in ["1m", "5m", "17m", "1h"] {
            for c in counters {
                q.push(format!("{f}({c}[{r}])"));
            }
        }
    }
    // Range functions on gauges.
    for f in [
        "delta",
        "idelta",
        "deriv",
        "changes",
        "resets",
        "avg_over_time",
        "min_over_time",
        "max_over_time",
        "sum_over_time",
        "count_over_time",
        "last_over_time",
        "stddev_over_time",
        "stdvar_over_time",
        "present_over_time",
    ] {
        for r in ["2m", "10m", "45m"] {
            for g in ["node_load", "node_temp"] {
                q.push(format!("{f}({g}[{r}])"));
            }
        }
    }
    for p in ["0", "0.25", "0.5", "0.99", "1", "-1", "2"] {
        q.push(format!("quantile_over_time({p}, node_load[10m])"));
    }
    q.push("predict_linear(node_load[10m], 600)".into());
    q.push("predict_linear(node_temp[45m], -300)".into());
    q.push("deriv(http_requests_total[5m])".into());
    // Two metrics whose labels collide once the name is dropped: an error in both.
    q.push("rate({__name__=~\"req_duration_seconds_(sum|count)\"}[5m])".into());
    // Aggregations.
    for op in ["sum", "avg", "min", "max", "count", "stddev", "stdvar", "group"] {
        for g in ["", " by (job)", " without (instance)", " by (job, code)"] {
            q.push(format!("{op}{g} (rate(http_requests_total[5m]))"));
        }
        for g in ["", " by (instance)", " without (sensor)"] {
            q.push(format!("{op}{g} (node_temp)"));
        }
    }
    for k in ["1", "2", "100"] {
        vals.push(format!("topk({k}, rate(http_requests_total[5m]))"));
        vals.push(format!("bottomk({k}, node_load) by (job)"));
    }
    vals.push("topk by (job) (2, rate(http_requests_total[5m]))".into());
    vals.push("bottomk(scalar(count(node_load)) - 3, node_temp)".into());
    for p in ["0", "0.5", "0.9", "1"] {
        q.push(format!("quantile by (job) ({p}, rate(http_requests_total[5m]))"));
    }
    q.push("quantile(0.3, node_temp)".into());
    q.push("count_values(\"value\", changes(node_load[10m]))".into());
    q.push("count_values(\"v\", node_load)".into());
    q.push("count_values by (job) (\"code\", resets(http_requests_total[1h]))".into());
    q.push("count(nonexistent_metric)".into());
    q.push("sum(nonexistent_metric)".into());
    q.push("group by (job) (http_requests_total)".into());
    // Binary operators.
    for s in [
        "rate(http_requests_total{code=\"500\"}[5m]) / ignoring(code) rate(http_requests_total{code=\"200\"}[5m])",
        "sum by (job, instance) (rate(http_requests_total[5m])) / on(job) group_left sum by (job) (rate(http_requests_total[5m]))",
        "sum by (job) (rate(http_requests_total[5m])) / on(job) group_right sum by (job, instance) (rate(http_requests_total[5m]))",
        "node_temp * on(instance) group_left node_load",
        "node_temp - on(instance) group_left(zone) label_replace(node_load, \"zone\", \"z$1\", \"instance\", \"i(.)\")",
        "node_load * 2",
        "node_load - 1.5",
        "3 / node_load",
        "node_temp % 0.7",
        "node_load ^ 2",
        "2 ^ node_load",
        "-node_temp",
        "node_temp / 0",
        "0 / (node_load - node_load)",
        "node_load - node_load offset 5m",
        "node_load > 1",
        "node_load > bool 1",
        "1 < node_load",
        "node_temp <= bool 10",
        "node_temp != 0",
        "node_load == bool node_load offset 1m",
        "node_load >= on(instance) group_right node_temp",
        "node_load > ignoring(sensor) node_temp",
        "node_load + on(instance) node_temp",
        "http_requests_total + on(job) node_load",
        "node_load + http_requests_total",
        "1 + 2 * 3",
        "2 ^ 3 ^ 2",
        "5 % 3 - -1",
        "1 > bool 2",
        "1 < 2",
        "vector(1) + vector(2)",
        "scalar(node_load{instance=\"i0\"}) * node_temp",
        "http_requests_total{code=\"200\"} and on(instance) (node_load > 1)",
        "node_load or node_temp",
        "node_load or on(instance) node_temp",
        "http_requests_total unless http_requests_total{job=\"api\"}",
        "node_load unless on(instance) (node_temp > 20)",
        "rate(http_requests_total[5m]) > 0.05 and rate(http_requests_total[5m] offset 10m) < 0.2",
        "(node_load > 1.5) or vector(0)",
        "rate(http_requests_total[5m]) * on(instance) group_left node_load",
    ] {
        q.push(s.to_string());
    }
    // Histograms.
    for p in ["0", "0.25", "0.5", "0.9", "0.99", "1", "-0.1", "1.5"] {
        q.push(format!("histogram_quantile({p}, sum by (le) (rate(req_duration_seconds_bucket[5m])))"));
    }
    for r in ["1m", "10m"] {
        q.push(format!("histogram_quantile(0.9, sum by (le, instance) (rate(req_duration_seconds_bucket[{r}])))"));
    }
    q.push("histogram_quantile(0.5, rate(req_duration_seconds_bucket[5m]))".into());
    q.push("histogram_quantile(0.75, req_duration_seconds_bucket)".into());
    q.push("rate(req_duration_seconds_sum[5m]) / rate(req_duration_seconds_count[5m])".into());
    q.push(
        "sum(rate(req_duration_seconds_bucket{le=\"0.25\"}[5m])) / sum(rate(req_duration_seconds_count[5m]))".into(),
    );
    // Math.
    for f in [
        "abs", "ceil", "floor", "round", "sqrt", "exp", "ln", "log2", "log10", "sgn", "sin", "cos", "tan", "asin",
        "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "deg", "rad",
    ] {
        q.push(format!("{f}(node_temp)"));
    }
    for s in [
        "round(node_temp, 5)",
        "round(node_load, 0.1)",
        "clamp(node_temp, 0, 20)",
        "clamp(node_temp, 20, 0)",
        "clamp_min(node_load, 1)",
        "clamp_max(node_load, 1.2)",
        "exp(node_load * 300)",
        "pi()",
        "node_load * pi()",
        "abs(vector(-2))",
        // Labels.
        "label_replace(node_load, \"host\", \"$1\", \"instance\", \"i(.*)\")",
        "label_replace(node_load, \"instance\", \"\", \"instance\", \".*\")",
        "label_replace(node_temp, \"foo\", \"$1-$2\", \"sensor\", \"(b)(oard)\")",
        "label_replace(rate(http_requests_total[5m]), \"class\", \"${1}xx\", \"code\", \"(.).*\")",
        "label_join(node_temp, \"id\", \"/\", \"instance\", \"sensor\")",
        "label_replace(node_load, \"__name__\", \"renamed\", \"\", \"\")",
        // Absence.
        "absent(nonexistent_metric)",
        "absent(nonexistent_metric{job=\"x\", instance=~\"y\"})",
        "absent(node_load)",
        "absent(sum(nonexistent_metric))",
        "absent(node_load{instance=\"i9\"})",
        "absent_over_time(nonexistent_metric{a=\"b\"}[5m])",
        "absent_over_time(node_load[5m])",
        // Offsets and @.
        "node_load offset 10m",
        "rate(http_requests_total[5m] offset 30m)",
        "node_load offset -5m",
        "sum(node_load offset 1h)",
        "node_load @ start()",
        "node_load @ end()",
        "rate(http_requests_total[5m] @ end())",
        // Subqueries.
        "max_over_time(rate(http_requests_total[5m])[30m30s:1m])",
        "min_over_time(node_load[10m30s:2m])",
        "avg_over_time(sum by (job) (rate(http_requests_total[1m]))[20m30s:1m] offset 5m)",
        "max_over_time(deriv(rate(http_requests_total[1m])[5m30s:1m])[10m30s:1m])",
        "sum_over_time(node_load[15m30s:])",
        "rate(http_requests_total[10m30s:1m])",
        "quantile_over_time(0.5, node_temp[30m30s:5m])",
        // Time and conversions.
        "time()",
        "timestamp(node_load)",
        "time() - timestamp(node_load)",
        "timestamp(rate(http_requests_total[5m]))",
        "vector(time())",
        "scalar(node_load)",
        "scalar(node_load{instance=\"i0\"})",
        "scalar(sum(node_load)) * 2",
        "vector(1)",
        "vector(scalar(node_load{instance=\"i2\"}))",
        "minute()",
        "hour()",
        "day_of_week()",
        "day_of_month()",
        "days_in_month()",
        "month()",
        "year()",
        "minute(timestamp(node_load))",
        "hour(vector(1700000000))",
        "sort(node_load)",
        "sort_desc(rate(http_requests_total[5m]))",
        // Errors (compared by presence).
        "rate(node_load)",
        "sum(",
        "foo bar",
        "histogram_quantile(0.5)",
        "label_replace(node_load, \"\", \"x\", \"instance\", \".*\")",
        "label_replace(node_load, \"x\", \"y\", \"instance\", \"(\")",
        "topk(\"a\", node_load)",
        "rate(http_requests_total[5m])[5m]",
    ] {
        q.push(s.to_string());
    }
    for m in [30, 75, 200] {
        q.push(format!("node_load @ {}", at(m)));
        q.push(format!("rate(http_requests_total[5m] @ {})", at(m)));
        q.push(format!("max_over_time(node_load[10m] @ {} offset 5m)", at(m)));
        q.push(format!("count_over_time(node_load[20m30s:1m] @ {})", at(m)));
    }
    q.push(format!("node_load @ {}", at(-10)));
    q.push(format!("timestamp(node_load @ {})", at(45)));
    q.push(format!("max_over_time(rate(http_requests_total[5m])[10m30s:1m] @ {})", at(50)));
    q.push(format!("sum by (job) (rate(http_requests_total[2m] @ {} offset 3m))", at(90)));
    for s in [
        "timestamp(node_load offset 5m)",
        "avg_over_time(node_load[10m30s:1m] offset 20m)",
        "vector(1) and on() node_load",
        "node_load and on() vector(1)",
        "sum by (instance) (node_temp) unless on(instance) node_load > 1.5",
        "node_temp * on(instance) group_left(job) sum by (instance, job) (http_requests_total)",
        "max by (instance) (node_temp) == bool on(instance) min by (instance) (node_temp)",
        "count_values(\"n\", count by (instance) (http_requests_total))",
        "sum(http_requests_total) by (code) / ignoring(code) group_left sum(http_requests_total)",
        "-sum without (sensor) (node_temp) ^ 2",
        "changes(node_temp[1h]) - resets(node_temp[1h])",
        "label_replace(sum by (instance) (node_temp), \"instance\", \"x$1\", \"instance\", \"i(1)\")",
    ] {
        q.push(s.to_string());
    }
    let mut out: Vec<(String, Mode)> = q.into_iter().map(|s| (s, Mode::Exact)).collect();
    out.extend(vals.into_iter().map(|s| (s, Mode::ValuesOnly)));
    out
}

fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    items[rng.range(0, items.len() as u64) as usize]
}

/// A random instant-vector expression of at most `depth` levels, built so that it stays clear
/// of the known 2.42 vs 3.x differences: no division by anything but positive constants (so no
/// NaN or infinities reach aggregations), `rate`/`increase` only over raw counters (never over
/// subqueries, whose values may start near zero), subquery ranges ending in 30s, and
/// vector/vector operations only between sides aggregated by `instance` (one-to-one).
///
/// Means differ in the last bit between the versions (2.42 averages incrementally, 3.x sums
/// with compensation and divides: `avg_over_time` of values summing to 140.0 over 20 samples is
/// 6.999999999999999 in 2.42 and 7 in 3.x), so no function that jumps at integers (`floor`,
/// `ceil`, `round`, `sgn`) or counts value changes (`changes`, `resets`) is applied to computed
/// values, and constants compared against are
/// off the data's 0.01 lattice.
fn random_expr(rng: &mut Rng, depth: u32) -> String {
    let leaf = |rng: &mut Rng| -> String {
        let r = pick(rng, &["1m", "3m", "5m", "10m", "25m"]);
        match rng.range(0, 10) {
            0 => format!("rate(http_requests_total[{r}])"),
            1 => "node_load".to_string(),
            2 => "node_temp".to_string(),
            3 => format!("irate(req_duration_seconds_count[{r}])"),
            4 => format!("avg_over_time(node_temp[{r}])"),
            5 => format!("changes(node_load[{r}])"),
            6 => format!("http_requests_total offset {r}"),
            7 => format!("deriv(node_temp[{r}])"),
            8 => format!("increase(req_duration_seconds_bucket{{le=~\"0.5|1|\\\\+Inf\"}}[{r}])"),
            _ => format!("max_over_time(node_load[{r}] offset 7m)"),
        }
    };
    if depth == 0 {
        return leaf(rng);
    }
    let aggs = ["sum", "avg", "min", "max", "count", "group"];
    let groupings = ["by (instance)", "by (job)", "by (instance, job)", "without (code)", "by (le)", "by ()"];
    match rng.range(0, 8) {
        0 => leaf(rng),
        1 => {
            let f = pick(rng, &["abs", "-", "clamp_min", "clamp_max", "sqrt"]);
            let e = random_expr(rng, depth - 1);
            match f {
                "-" => format!("-({e})"),
                "clamp_min" | "clamp_max" => format!("{f}({e}, 1)"),
                _ => format!("{f}({e})"),
            }
        }
        2 => {
            let (a, g) = (pick(rng, &aggs), pick(rng, &groupings));
            format!("{a} {g} ({})", random_expr(rng, depth - 1))
        }
        3 => {
            let op = pick(rng, &["+", "-", "*", "/", ">", "<", ">= bool", "!= bool"]);
            let c = pick(rng, &["0.5173", "1.0137", "3.0711", "99.731"]);
            format!("({}) {op} {c}", random_expr(rng, depth - 1))
        }
        4 => {
            let op = pick(rng, &["+", "-", "*", "and", "or", "unless", ">", "< bool"]);
            let (a1, a2) = (pick(rng, &aggs), pick(rng, &aggs));
            let (l, r) = (random_expr(rng, depth - 1), random_expr(rng, depth - 1));
            format!("{a1} by (instance) ({l}) {op} on(instance) {a2} by (instance) ({r})")
        }
        5 => {
            let f = pick(rng, &["max_over_time", "min_over_time", "avg_over_time", "sum_over_time", "count_over_time"]);
            let range = pick(rng, &["5m30s", "10m30s", "20m30s"]);
            let step = pick(rng, &["1m", "2m", ""]);
            format!("{f}(({})[{range}:{step}])", random_expr(rng, depth - 1))
        }
        6 => {
            let f = pick(rng, &["deriv", "delta", "idelta", "last_over_time", "stddev_over_time"]);
            format!("{f}(({})[10m30s:1m])", random_expr(rng, depth - 1))
        }
        _ => {
            let p = pick(rng, &["0.1", "0.5", "0.95"]);
            format!("quantile {} ({p}, {})", pick(rng, &groupings), random_expr(rng, depth - 1))
        }
    }
}

/// A query's outcome, normalised for comparison.
#[derive(Debug, Clone)]
enum Outcome {
    Error(String),
    Scalar(f64),
    Str(String),
    /// Sorted by labels, then value.
    Vector(Vec<(String, f64)>),
    /// Sorted by labels.
    Matrix(Vec<(String, Vec<(i64, f64)>)>),
}

impl Outcome {
    fn is_empty(&self) -> bool {
        match self {
            Outcome::Error(_) => true,
            Outcome::Scalar(_) | Outcome::Str(_) => false,
            Outcome::Vector(v) => v.is_empty(),
            Outcome::Matrix(m) => m.is_empty(),
        }
    }

    fn normalised(mut self, mode: Mode) -> Outcome {
        match &mut self {
            Outcome::Vector(v) => {
                if mode == Mode::ValuesOnly {
                    v.iter_mut().for_each(|(l, _)| l.clear());
                }
                v.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
            }
            Outcome::Matrix(m) => {
                if mode == Mode::ValuesOnly {
                    let mut pts: Vec<(i64, f64)> = m.drain(..).flat_map(|(_, p)| p).collect();
                    pts.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
                    m.push((String::new(), pts));
                }
                m.sort_by(|a, b| a.0.cmp(&b.0));
            }
            _ => {}
        }
        self
    }

    /// A short rendering for failure messages.
    fn show(&self) -> String {
        let s = format!("{self:?}");
        let n = s.chars().count();
        if n > 600 { format!("{}... ({n} chars)", s.chars().take(600).collect::<String>()) } else { s }
    }
}

fn render_labels<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let sorted: BTreeMap<&str, &str> = pairs.collect();
    let inner: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(","))
}

fn cairn_labels(l: &Labels) -> String {
    render_labels(l.iter().map(|l| (l.name.as_str(), l.value.as_str())))
}

/// Cairn's answer, with panics caught so one engine bug does not hide the others.
fn run_cairn(engine: &Engine, db: &Db, query: &str, time: Eval) -> Outcome {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match time {
        Eval::Instant(t) => engine.instant(db, query, t),
        Eval::Range(s, e, st) => engine.range(db, query, s, e, st),
    }));
    let r = match r {
        Ok(r) => r,
        Err(p) => {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            return Outcome::Error(format!("PANIC: {}", msg.unwrap_or_default()));
        }
    };
    match r {
        Err(e) => Outcome::Error(format!("{}: {e}", e.error_type())),
        Ok(r) => match r.value {
            Value::Scalar { v, .. } => Outcome::Scalar(v),
            Value::String { s, .. } => Outcome::Str(s),
            Value::Vector(v) => Outcome::Vector(v.iter().map(|s| (cairn_labels(&s.metric), s.f)).collect()),
            Value::Matrix(m) => {
                Outcome::Matrix(m.iter().map(|s| (cairn_labels(&s.metric), s.floats.clone())).collect())
            }
        },
    }
}

fn parse_value(v: &serde_json::Value) -> Option<f64> {
    match v.as_str()? {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        s => s.parse().ok(),
    }
}

fn parse_point(p: &serde_json::Value) -> Option<(i64, f64)> {
    let t = (p.get(0)?.as_f64()? * 1000.0).round() as i64;
    Some((t, parse_value(p.get(1)?)?))
}

fn json_labels(m: &serde_json::Value) -> Option<String> {
    let obj = m.as_object()?;
    let pairs: Option<Vec<(&str, &str)>> = obj.iter().map(|(k, v)| Some((k.as_str(), v.as_str()?))).collect();
    Some(render_labels(pairs?.into_iter()))
}

/// Prometheus's answer from its HTTP API response body.
fn parse_prometheus(body: &str) -> Outcome {
    let Ok(j) = serde_json::from_str::<serde_json::Value>(body) else {
        return Outcome::Error(format!("unparsable response: {body}"));
    };
    if j["status"] != "success" {
        return Outcome::Error(format!(
            "{}: {}",
            j["errorType"].as_str().unwrap_or("?"),
            j["error"].as_str().unwrap_or("?")
        ));
    }
    let res = &j["data"]["result"];
    let parsed = match j["data"]["resultType"].as_str() {
        Some("scalar") => parse_point(res).map(|(_, v)| Outcome::Scalar(v)),
        Some("string") => res.get(1).and_then(|s| s.as_str()).map(|s| Outcome::Str(s.to_string())),
        Some("vector") => res
            .as_array()
            .and_then(|a| a.iter().map(|s| Some((json_labels(&s["metric"])?, parse_point(&s["value"])?.1))).collect())
            .map(Outcome::Vector),
        Some("matrix") => res
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|s| {
                        let pts: Option<Vec<(i64, f64)>> = s["values"].as_array()?.iter().map(parse_point).collect();
                        Some((json_labels(&s["metric"])?, pts?))
                    })
                    .collect()
            })
            .map(Outcome::Matrix),
        _ => None,
    };
    parsed.unwrap_or_else(|| Outcome::Error(format!("unexpected response shape: {body}")))
}

fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// When a query is evaluated.
#[derive(Clone, Copy, Debug)]
enum Eval {
    Instant(i64),
    /// Start, end, step (ms).
    Range(i64, i64, i64),
}

fn run_prometheus(p: &PeerProcess, query: &str, time: Eval) -> Outcome {
    let path = match time {
        Eval::Instant(t) => format!("/api/v1/query?{}", peer::query_string(&[("query", query), ("time", &seconds(t))])),
        Eval::Range(s, e, st) => format!(
            "/api/v1/query_range?{}",
            peer::query_string(&[
                ("query", query),
                ("start", &seconds(s)),
                ("end", &seconds(e)),
                ("step", &seconds(st))
            ])
        ),
    };
    match p.get(&path, Duration::from_secs(10)) {
        Ok(r) => parse_prometheus(&r.text()),
        Err(e) => Outcome::Error(format!("HTTP: {e}")),
    }
}

fn float_eq(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    let d = (a - b).abs();
    d <= 1e-9 || d <= 1e-6 * a.abs().max(b.abs())
}

/// Where two results of the same shape first differ, for failure messages.
fn first_mismatch(a: &Outcome, b: &Outcome) -> String {
    match (a, b) {
        (Outcome::Vector(x), Outcome::Vector(y)) => {
            for (p, q) in x.iter().zip(y) {
                if p.0 != q.0 || !float_eq(p.1, q.1) {
                    return format!("first difference: {p:?} vs {q:?}");
                }
            }
            format!("{} vs {} samples", x.len(), y.len())
        }
        (Outcome::Matrix(x), Outcome::Matrix(y)) => {
            for (p, q) in x.iter().zip(y) {
                if p.0 != q.0 {
                    return format!("first difference: series {} vs {}", p.0, q.0);
                }
                for (u, v) in p.1.iter().zip(&q.1) {
                    if u.0 != v.0 || !float_eq(u.1, v.1) {
                        return format!("first difference: {} {u:?} vs {v:?}", p.0);
                    }
                }
                if p.1.len() != q.1.len() {
                    return format!("first difference: {} has {} vs {} points", p.0, p.1.len(), q.1.len());
                }
            }
            format!("{} vs {} series", x.len(), y.len())
        }
        _ => "different result types".to_string(),
    }
}

fn agree(a: &Outcome, b: &Outcome) -> bool {
    match (a, b) {
        (Outcome::Error(_), Outcome::Error(_)) => true,
        (Outcome::Scalar(x), Outcome::Scalar(y)) => float_eq(*x, *y),
        (Outcome::Str(x), Outcome::Str(y)) => x == y,
        (Outcome::Vector(x), Outcome::Vector(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.0 == q.0 && float_eq(p.1, q.1))
        }
        (Outcome::Matrix(x), Outcome::Matrix(y)) => {
            x.len() == y.len()
                && x.iter().zip(y).all(|(p, q)| {
                    p.0 == q.0
                        && p.1.len() == q.1.len()
                        && p.1.iter().zip(&q.1).all(|(u, v)| u.0 == v.0 && float_eq(u.1, v.1))
                })
        }
        _ => false,
    }
}

/// Starts Prometheus on blocks built by `promtool` from `data`.
fn start_prometheus(dir: &std::path::Path, data: &[GenSeries]) -> PeerProcess {
    peer::prometheus_on_openmetrics(
        dir,
        &openmetrics(data),
        &["--storage.tsdb.retention.time=100y", "--query.lookback-delta=5m"],
    )
}

/// Loads `data` into a fresh Cairn database in `dir`.
fn load_cairn(dir: &std::path::Path, data: &[GenSeries]) -> Db {
    let db = Db::open(dir, Options { background_interval: None, retention_time: 0, ..Default::default() }).unwrap();
    let labels: Vec<Labels> = data
        .iter()
        .map(|s| {
            Labels::from_pairs(&s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>()).unwrap()
        })
        .collect();
    // The head refuses samples far behind its newest one, so append in global time order.
    let mut all: Vec<(i64, usize, f64)> =
        data.iter().enumerate().flat_map(|(i, s)| s.samples.iter().map(move |&(t, v)| (t, i, v))).collect();
    all.sort_by_key(|&(t, i, _)| (t, i));
    let mut app = db.appender();
    for (n, (t, i, v)) in all.into_iter().enumerate() {
        app.append(&labels[i], t, v).unwrap();
        if n % 4096 == 4095 {
            app.commit().unwrap();
        }
    }
    app.commit().unwrap();
    db
}

#[test]
fn promql_matches_prometheus_2_42() {
    if !peer::peers_available("promql_diff", &["prometheus", "promtool"], "prometheus") {
        return;
    }
    let began = Instant::now();
    let seed = std::env::var("CAIRN_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x00c0_ffee_u64);
    eprintln!("promql_diff: CAIRN_TEST_SEED={seed}");
    let mut rng = Rng(seed | 1);
    // Three days ago, on a whole hour: inside any retention, outside Prometheus's head.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let start = (now / HOUR - 72) * HOUR;
    let data = generate(&mut rng, start);
    let tmp = tempfile::tempdir().unwrap();
    let prom = start_prometheus(tmp.path(), &data);
    let db = load_cairn(&tmp.path().join("cairn"), &data);
    let engine = Engine::new(EngineOptions { timeout: Duration::from_secs(10), ..Default::default() });

    // The harness itself: both sides hold the generated series (an oracle independent of both
    // engines: the generator's own count).
    let counters = data.iter().filter(|s| s.labels.iter().any(|(_, v)| v == "http_requests_total")).count();
    let mid = Eval::Instant(start + 61 * MIN);
    for side in [run_prometheus(&prom, "http_requests_total", mid), run_cairn(&engine, &db, "http_requests_total", mid)]
    {
        assert!(matches!(&side, Outcome::Vector(v) if v.len() == counters), "data not loaded: {}", side.show());
    }

    let instants = [5, 31, 64, 107, 123].map(|m| Eval::Instant(start + m * MIN));
    if let Ok(dbg) = std::env::var("PROMQL_DIFF_DEBUG") {
        let (q, t) = dbg.rsplit_once('@').expect("PROMQL_DIFF_DEBUG is <query>@<unix ms>");
        let t: i64 = t.parse().expect("PROMQL_DIFF_DEBUG time is in unix ms");
        eprintln!("DEBUG data starts at {start} ms");
        eprintln!("DEBUG prom  {:?}", run_prometheus(&prom, q, Eval::Instant(t)));
        eprintln!("DEBUG cairn {:?}", run_cairn(&engine, &db, q, Eval::Instant(t)));
        return;
    }
    let mut queries = queries(start);
    let hand_written = queries.len();
    for _ in 0..150 {
        let depth = rng.range(1, 4) as u32;
        queries.push((random_expr(&mut rng, depth), Mode::Exact));
    }
    let (mut evals, mut non_empty, mut agreeing) = (0usize, 0usize, 0usize);
    let mut diffs: Vec<String> = Vec::new();
    let mut differing: Vec<String> = Vec::new();
    let mut unsupported = 0usize;
    for (i, (query, mode)) in queries.iter().enumerate() {
        let step = [60, 120, 300][i % 3] * SEC;
        let range = Eval::Range(start + 10 * MIN, start + 125 * MIN, step);
        let mut first_diff = None;
        let mut bad_evals = 0usize;
        for time in instants.iter().copied().chain([range]) {
            let theirs = run_prometheus(&prom, query, time).normalised(*mode);
            let ours = run_cairn(&engine, &db, query, time).normalised(*mode);
            evals += 1;
            non_empty += usize::from(!theirs.is_empty());
            if !agree(&theirs, &ours) {
                bad_evals += 1;
                first_diff.get_or_insert((time, theirs, ours));
            }
        }
        let Some((time, theirs, ours)) = first_diff else {
            agreeing += 1;
            continue;
        };
        let not_yet = matches!(&ours, Outcome::Error(e) if e.contains("not supported yet"));
        unsupported += usize::from(not_yet);
        differing
            .push(format!("  {query}  ({bad_evals} of 6 evaluations{})", if not_yet { ", unsupported" } else { "" }));
        if diffs.len() < 20 && !not_yet {
            let (t, kind) = match time {
                Eval::Instant(t) => (t, "instant".to_string()),
                Eval::Range(s, e, st) => (s, format!("range to start+{}m step {}s", (e - start) / MIN, st / SEC)),
            };
            diffs.push(format!(
                "{query}  ({kind} at start+{}m = {})\n  prometheus: {}\n  cairn:      {}\n  {}",
                (t - start) / MIN,
                seconds(t),
                theirs.show(),
                ours.show(),
                first_mismatch(&theirs, &ours),
            ));
        }
    }
    let n = queries.len();
    eprintln!(
        "promql diff: {n} queries ({hand_written} from templates, {} random), {agreeing} agree, {} differ ({unsupported} of them on a function Cairn does not \
         support yet; {evals} evaluations, {non_empty} non-empty on Prometheus, {:.1}s)",
        n - hand_written,
        n - agreeing,
        began.elapsed().as_secs_f64()
    );
    if !differing.is_empty() {
        eprintln!("differing queries:\n{}", differing.join("\n"));
    }
    // Most evaluations must return data, or the comparison proves little.
    assert!(non_empty * 10 >= evals * 7, "only {non_empty} of {evals} evaluations returned data");
    assert!(
        differing.is_empty(),
        "{} of {n} queries differ from Prometheus 2.42; the first differences (other than unsupported functions):\n{}",
        n - agreeing,
        diffs.join("\n")
    );
    drop(prom);
}

#[test]
fn comparison_rules() {
    use Outcome::*;
    let v = |pairs: &[(&str, f64)]| Vector(pairs.iter().map(|(l, f)| (l.to_string(), *f)).collect());
    let cases: Vec<(Outcome, Outcome, bool)> = vec![
        (Scalar(1.0), Scalar(1.0 + 1e-9), true),
        (Scalar(1.0), Scalar(1.0001), false),
        (Scalar(0.0), Scalar(1e-12), true),
        (Scalar(f64::NAN), Scalar(f64::NAN), true),
        (Scalar(f64::NAN), Scalar(0.0), false),
        (Scalar(f64::INFINITY), Scalar(f64::INFINITY), true),
        (Scalar(f64::INFINITY), Scalar(f64::NEG_INFINITY), false),
        (Scalar(1e300), Scalar(f64::INFINITY), false),
        (Scalar(1.0), v(&[("{}", 1.0)]), false),
        (Error("a".into()), Error("b".into()), true),
        (Error("a".into()), v(&[]), false),
        (v(&[("{a=\"1\"}", 1.0)]), v(&[("{a=\"2\"}", 1.0)]), false),
        (v(&[("{a=\"1\"}", 1.0)]), v(&[("{a=\"1\"}", 1.0), ("{a=\"2\"}", 1.0)]), false),
        (Matrix(vec![("{}".into(), vec![(1, 1.0)])]), Matrix(vec![("{}".into(), vec![(2, 1.0)])]), false),
        (Matrix(vec![("{}".into(), vec![(1, 1.0)])]), Matrix(vec![("{}".into(), vec![(1, 1.0), (2, 1.0)])]), false),
        (Str("x".into()), Str("x".into()), true),
    ];
    for (a, b, want) in cases {
        assert_eq!(agree(&a, &b), want, "{a:?} vs {b:?}");
        assert_eq!(agree(&b, &a), want, "{b:?} vs {a:?}");
    }
    // Values-only comparison ignores labels but not values or counts.
    let a = v(&[("{a=\"1\"}", 1.0), ("{a=\"2\"}", 2.0)]).normalised(Mode::ValuesOnly);
    let b = v(&[("{a=\"3\"}", 2.0), ("{a=\"1\"}", 1.0)]).normalised(Mode::ValuesOnly);
    assert!(agree(&a, &b));
    assert!(!agree(&a, &v(&[("{}", 1.0), ("{}", 3.0)]).normalised(Mode::ValuesOnly)));
    // Prometheus's JSON shapes.
    let body = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"b":"x","a":"y"},"value":[1.5,"+Inf"]}]}}"#;
    assert!(agree(&parse_prometheus(body), &v(&[("{a=\"y\",b=\"x\"}", f64::INFINITY)])));
    let body = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1.25,"NaN"],[2,"-2"]]}]}}"#;
    assert!(agree(&parse_prometheus(body), &Matrix(vec![("{}".into(), vec![(1250, f64::NAN), (2000, -2.0)])])));
    let body = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"0.5"]}}"#;
    assert!(agree(&parse_prometheus(body), &Scalar(0.5)));
    assert!(matches!(parse_prometheus(r#"{"status":"error","errorType":"bad_data","error":"x"}"#), Error(_)));
    assert!(matches!(parse_prometheus("not json"), Error(_)));
}
