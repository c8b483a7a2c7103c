//! The dashboard queries of the query phase, timing them, and checking answers.
//!
//! [`query_set`] is the fixed list: eight PromQL expressions, each through `query_range` and
//! `query`, plus `labels`, `label/__name__/values` and `series`. [`Window`] places them over
//! the loaded history; [`run`] times repeated runs of one request; [`Answer`] is a response
//! reduced to what must be equal between two servers, and [`compare`] lists the differences
//! (same series, same timestamps, values within a relative tolerance).
//!
//! Evaluation times are whole seconds, 30 s past the minute, and the step is whole minutes,
//! so neither range boundaries nor subquery steps meet a sample (none is on a whole second)
//! or each other; Prometheus 2.42 (closed ranges) and Cairn (3.x left-open ranges) must then
//! give the same answers.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Errors of one query request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request failed at the HTTP level.
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The server answered with an error status or an error body.
    #[error("HTTP {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The body was not the expected JSON.
    #[error("unexpected answer: {0}")]
    Shape(String),
}

/// Which API endpoint a query uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/api/v1/query_range` over the window.
    Range,
    /// `/api/v1/query` at the window's end.
    Instant,
    /// `/api/v1/labels` over the window.
    Labels,
    /// `/api/v1/label/<expr>/values` over the window (`expr` is the label name).
    LabelValues,
    /// `/api/v1/series?match[]=<expr>` over the window.
    Series,
}

/// One benchmarked request.
#[derive(Debug, Clone)]
pub struct QuerySpec {
    /// Short name for the table.
    pub name: String,
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The PromQL expression, selector or label name.
    pub expr: &'static str,
}

/// The dashboard expressions: (name, expression).
pub const EXPRESSIONS: [(&str, &str); 8] = [
    ("rate", r#"rate(app_requests_total{handler="/api/h7"}[5m])"#),
    ("sum by", "sum by (code) (rate(app_requests_total[5m]))"),
    (
        "histogram_quantile",
        "histogram_quantile(0.9, sum by (le, handler) (rate(app_request_duration_seconds_bucket[5m])))",
    ),
    ("topk", "topk(5, sum by (instance) (app_memory_bytes))"),
    (
        "regex selector",
        r#"sum by (instance) (rate(app_requests_total{handler=~"/api/h1[0-9]", method!~"PUT|DELETE"}[5m]))"#,
    ),
    ("subquery", r#"max_over_time(sum by (instance) (rate(app_requests_total{code="500"}[5m]))[30m:1m])"#),
    (
        "binary join",
        "sum by (instance, handler) (rate(app_request_duration_seconds_sum[5m])) \
         / sum by (instance, handler) (rate(app_request_duration_seconds_count[5m]))",
    ),
    ("count by __name__", r#"count by (__name__) ({job="bench"})"#),
];

/// Every benchmarked request, in table order.
pub fn query_set() -> Vec<QuerySpec> {
    let mut out = Vec::new();
    for (endpoint, what) in [(Endpoint::Range, "query_range"), (Endpoint::Instant, "query")] {
        for (name, expr) in EXPRESSIONS {
            out.push(QuerySpec { name: format!("{what}: {name}"), endpoint, expr });
        }
    }
    out.push(QuerySpec { name: "labels".into(), endpoint: Endpoint::Labels, expr: "" });
    out.push(QuerySpec { name: "label/__name__/values".into(), endpoint: Endpoint::LabelValues, expr: "__name__" });
    out.push(QuerySpec { name: "series".into(), endpoint: Endpoint::Series, expr: "app_memory_bytes" });
    out
}

/// Where the queries look: a range with a step, and the instant at its end. Times are ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First evaluation time.
    pub start: i64,
    /// Last evaluation time, also the instant queries' time.
    pub end: i64,
    /// Step, ms.
    pub step: i64,
}

impl Window {
    /// The window over history `[first, last]` (ms): starting 35 minutes in (room for the
    /// subquery's 30 minutes), ending at or before `last`, both 30 s past a minute, with a
    /// step of whole minutes giving at most about 250 points.
    pub fn over(first: i64, last: i64) -> Window {
        const MIN: i64 = 60_000;
        let mut start = (first + 35 * MIN).div_euclid(MIN) * MIN + 30_000;
        if start < first + 35 * MIN {
            start += MIN;
        }
        let mut end = last.div_euclid(MIN) * MIN + 30_000;
        if end > last {
            end -= MIN;
        }
        let end = end.max(start);
        let step = ((end - start) / 250).div_euclid(MIN).max(1) * MIN;
        Window { start, end, step }
    }
}

/// Percent-encodes a query parameter (everything but RFC 3986 unreserved characters).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// The path and query string of `q` over `w`.
pub fn request_path(q: &QuerySpec, w: &Window) -> String {
    let range = format!("start={}&end={}", secs(w.start), secs(w.end));
    match q.endpoint {
        Endpoint::Range => {
            format!("/api/v1/query_range?query={}&{range}&step={}", encode(q.expr), secs(w.step))
        }
        Endpoint::Instant => format!("/api/v1/query?query={}&time={}", encode(q.expr), secs(w.end)),
        Endpoint::Labels => format!("/api/v1/labels?{range}"),
        Endpoint::LabelValues => format!("/api/v1/label/{}/values?{range}", encode(q.expr)),
        Endpoint::Series => format!("/api/v1/series?match%5B%5D={}&{range}", encode(q.expr)),
    }
}

/// Sends one GET and returns the JSON answer's `data`, or the error.
pub async fn fetch(client: &reqwest::Client, url: &str) -> Result<Value, Error> {
    let r = client.get(url).send().await?;
    let status = r.status().as_u16();
    let body = r.bytes().await?;
    if !(200..300).contains(&status) {
        let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
        return Err(Error::Status { status, body: text });
    }
    let v: Value = serde_json::from_slice(&body).map_err(|e| Error::Shape(e.to_string()))?;
    if v.get("status").and_then(Value::as_str) != Some("success") {
        return Err(Error::Shape(v.to_string().chars().take(300).collect()));
    }
    v.get("data").cloned().ok_or_else(|| Error::Shape("no data".into()))
}

/// Timings of repeated runs of one request.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Every measured run, in seconds.
    pub runs: Vec<f64>,
    /// The answer of the first (warm-up) run.
    pub answer: Value,
}

impl Timing {
    /// The median run, seconds.
    pub fn median(&self) -> f64 {
        percentile(&self.runs, 0.5)
    }

    /// The 90th percentile run, seconds.
    pub fn p90(&self) -> f64 {
        percentile(&self.runs, 0.9)
    }
}

/// The nearest-rank percentile `p` (0..=1) of `xs` (NaN for none).
pub fn percentile(xs: &[f64], p: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = (p * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// Runs `url` once to warm up (keeping that answer), then `runs` more times, timing each
/// from sending to the last byte of the answer.
pub async fn run(client: &reqwest::Client, url: &str, runs: usize) -> Result<Timing, Error> {
    let answer = fetch(client, url).await?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        fetch(client, url).await?;
        times.push(t.elapsed().as_secs_f64());
    }
    Ok(Timing { runs: times, answer })
}

/// An answer reduced to what two servers must agree on.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Series (canonical label text) with their samples (ms, value).
    Series(BTreeMap<String, Vec<(i64, f64)>>),
    /// A set of strings (label names, label values, series label sets).
    Strings(BTreeSet<String>),
}

fn labels_key(m: &Value) -> Result<String, Error> {
    let obj = m.as_object().ok_or_else(|| Error::Shape(format!("labels {m}")))?;
    // serde_json's map is sorted by key, so the text is canonical.
    let parts: Vec<String> = obj.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect();
    Ok(format!("{{{}}}", parts.join(",")))
}

fn point(p: &Value) -> Result<(i64, f64), Error> {
    let bad = || Error::Shape(format!("point {p}"));
    let a = p.as_array().filter(|a| a.len() == 2).ok_or_else(bad)?;
    let t = a[0].as_f64().ok_or_else(bad)?;
    let v: f64 = a[1].as_str().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    Ok(((t * 1000.0).round() as i64, v))
}

impl Answer {
    /// Reduces the `data` of an answer from `endpoint`.
    pub fn from_data(endpoint: Endpoint, data: &Value) -> Result<Answer, Error> {
        let shape = || Error::Shape(data.to_string().chars().take(200).collect());
        match endpoint {
            Endpoint::Range | Endpoint::Instant => {
                let kind = data.get("resultType").and_then(Value::as_str).ok_or_else(shape)?;
                let result = data.get("result").ok_or_else(shape)?;
                let mut out = BTreeMap::new();
                match kind {
                    "matrix" | "vector" => {
                        for s in result.as_array().ok_or_else(shape)? {
                            let key = labels_key(s.get("metric").ok_or_else(shape)?)?;
                            let pts = if kind == "matrix" {
                                let vals = s.get("values").and_then(Value::as_array).ok_or_else(shape)?;
                                vals.iter().map(point).collect::<Result<Vec<_>, _>>()?
                            } else {
                                vec![point(s.get("value").ok_or_else(shape)?)?]
                            };
                            out.insert(key, pts);
                        }
                    }
                    "scalar" => {
                        out.insert("scalar".into(), vec![point(result)?]);
                    }
                    _ => return Err(shape()),
                }
                Ok(Answer::Series(out))
            }
            Endpoint::Labels | Endpoint::LabelValues => {
                let items = data.as_array().ok_or_else(shape)?;
                Ok(Answer::Strings(items.iter().map(|x| x.as_str().unwrap_or("").to_string()).collect()))
            }
            Endpoint::Series => {
                let items = data.as_array().ok_or_else(shape)?;
                Ok(Answer::Strings(items.iter().map(labels_key).collect::<Result<_, _>>()?))
            }
        }
    }
}

impl Answer {
    /// A short description of the answer's size: series and points, or strings.
    pub fn size_text(&self) -> String {
        match self {
            Answer::Series(m) => format!("{} series, {} points", m.len(), m.values().map(Vec::len).sum::<usize>()),
            Answer::Strings(s) => format!("{} strings", s.len()),
        }
    }

    /// Whether the answer holds nothing.
    pub fn is_empty(&self) -> bool {
        match self {
            Answer::Series(m) => m.is_empty(),
            Answer::Strings(s) => s.is_empty(),
        }
    }
}

/// Whether two sample values agree: equal, both NaN, or within `rel` of the larger magnitude.
pub fn values_agree(a: f64, b: f64, rel: f64) -> bool {
    if a == b || (a.is_nan() && b.is_nan()) {
        return true;
    }
    if !a.is_finite() || !b.is_finite() {
        return false;
    }
    (a - b).abs() <= rel * a.abs().max(b.abs())
}

/// The differences between `got` (Cairn) and `want` (Prometheus), at most `limit` of them
/// described; empty when they agree.
pub fn compare(got: &Answer, want: &Answer, rel: f64, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut note = |s: String| {
        if out.len() < limit {
            out.push(s);
        }
    };
    match (got, want) {
        (Answer::Strings(g), Answer::Strings(w)) => {
            for x in w.difference(g) {
                note(format!("missing {x}"));
            }
            for x in g.difference(w) {
                note(format!("extra {x}"));
            }
        }
        (Answer::Series(g), Answer::Series(w)) => {
            for k in w.keys().filter(|k| !g.contains_key(*k)) {
                note(format!("missing series {k}"));
            }
            for k in g.keys().filter(|k| !w.contains_key(*k)) {
                note(format!("extra series {k}"));
            }
            for (k, wp) in w {
                let Some(gp) = g.get(k) else { continue };
                if gp.len() != wp.len() {
                    note(format!("{k}: {} points, want {}", gp.len(), wp.len()));
                    continue;
                }
                for (&(gt, gv), &(wt, wv)) in gp.iter().zip(wp) {
                    if gt != wt {
                        note(format!("{k}: point at {gt} ms, want {wt} ms"));
                        break;
                    }
                    if !values_agree(gv, wv, rel) {
                        note(format!("{k} @{wt}: {gv}, want {wv}"));
                        break;
                    }
                }
            }
        }
        _ => note("answers of different kinds".into()),
    }
    out
}

/// A bounded wait for a query's answer: the per-request timeout of the query client.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(600);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn window_times_avoid_the_grid() {
        let first = 1_700_000_012_345;
        let w = Window::over(first, first + 2 * 3_600_000);
        assert_eq!(w.start.rem_euclid(60_000), 30_000);
        assert_eq!(w.end.rem_euclid(60_000), 30_000);
        assert!(w.start >= first + 35 * 60_000 && w.start < first + 36 * 60_000);
        assert!(w.end <= first + 2 * 3_600_000 && w.end > first + 2 * 3_600_000 - 60_000);
        assert_eq!(w.step, 60_000);
        // Eight hours: ~445 minutes / 250 points rounds down to a 1-minute step.
        let w = Window::over(0, 8 * 3_600_000);
        assert_eq!(w.step, 60_000);
        let w = Window::over(0, 48 * 3_600_000);
        assert_eq!(w.step, 11 * 60_000);
    }

    #[test]
    fn paths() {
        let w = Window { start: 1_000_500, end: 2_000_000, step: 60_000 };
        let q = query_set();
        assert_eq!(q.len(), 19);
        assert_eq!(
            request_path(&q[0], &w),
            "/api/v1/query_range?query=rate%28app_requests_total%7Bhandler%3D%22%2Fapi%2Fh7%22%7D%5B5m%5D%29\
             &start=1000.500&end=2000.000&step=60.000"
        );
        assert_eq!(request_path(&q[16], &w), "/api/v1/labels?start=1000.500&end=2000.000");
        assert_eq!(request_path(&q[17], &w), "/api/v1/label/__name__/values?start=1000.500&end=2000.000");
        assert_eq!(request_path(&q[18], &w), "/api/v1/series?match%5B%5D=app_memory_bytes&start=1000.500&end=2000.000");
        assert!(request_path(&q[8], &w).ends_with("&time=2000.000"));
    }

    #[test]
    fn percentiles() {
        let xs = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&xs, 0.5), 3.0);
        assert_eq!(percentile(&xs, 0.9), 5.0);
        assert_eq!(percentile(&[7.0], 0.9), 7.0);
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&ten, 0.9), 9.0);
        assert_eq!(percentile(&ten, 0.5), 5.0);
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn tolerance() {
        let cases = [
            (1.0, 1.0, true),
            (1.0, 1.0 + 1e-9, true),
            (1.0, 1.0 + 1e-5, false),
            (1e12, 1e12 + 1e5, true),
            (0.0, 1e-300, false),
            (f64::NAN, f64::NAN, true),
            (f64::NAN, 1.0, false),
            (f64::INFINITY, f64::INFINITY, true),
            (f64::INFINITY, f64::NEG_INFINITY, false),
            (f64::INFINITY, 1e308, false),
        ];
        for (a, b, want) in cases {
            assert_eq!(values_agree(a, b, 1e-6), want, "{a} vs {b}");
        }
    }

    #[test]
    fn answers_reduce_and_compare() {
        // Shapes from Prometheus's HTTP API documentation: floats as strings, times in seconds.
        let matrix = json!({"resultType": "matrix", "result": [
            {"metric": {"job": "a", "code": "200"}, "values": [[1000.5, "1"], [1060.5, "NaN"]]},
            {"metric": {}, "values": [[1000.5, "+Inf"]]}
        ]});
        let a = Answer::from_data(Endpoint::Range, &matrix).unwrap();
        let Answer::Series(m) = &a else { panic!() };
        assert_eq!(m.keys().collect::<Vec<_>>(), ["{code=200,job=a}", "{}"]);
        assert_eq!(m["{}"], vec![(1_000_500, f64::INFINITY)]);
        assert!(m["{code=200,job=a}"][1].1.is_nan());
        assert!(compare(&a, &a, 1e-6, 10).is_empty());

        let mut other = matrix.clone();
        other["result"][0]["values"][0][1] = json!("1.1");
        other["result"][1]["metric"] = json!({"x": "y"});
        let b = Answer::from_data(Endpoint::Range, &other).unwrap();
        let d = compare(&b, &a, 1e-6, 10);
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d.contains(&"missing series {}".to_string()));
        assert!(d.contains(&"extra series {x=y}".to_string()));
        assert!(d.contains(&"{code=200,job=a} @1000500: 1.1, want 1".to_string()));

        let vector = json!({"resultType": "vector", "result": [{"metric": {"a": "b"}, "value": [5, "2"]}]});
        let v = Answer::from_data(Endpoint::Instant, &vector).unwrap();
        assert_eq!(v, Answer::Series([("{a=b}".to_string(), vec![(5000, 2.0)])].into()));
        let scalar = json!({"resultType": "scalar", "result": [5, "3"]});
        assert!(matches!(Answer::from_data(Endpoint::Instant, &scalar).unwrap(), Answer::Series(_)));

        assert_eq!(a.size_text(), "2 series, 3 points");
        assert!(!a.is_empty() && Answer::Strings(BTreeSet::new()).is_empty());
        let l1 = Answer::from_data(Endpoint::Labels, &json!(["a", "b"])).unwrap();
        let l2 = Answer::from_data(Endpoint::Labels, &json!(["b", "a", "c"])).unwrap();
        assert_eq!(compare(&l1, &l2, 1e-6, 10), vec!["missing c".to_string()]);
        let s = Answer::from_data(Endpoint::Series, &json!([{"__name__": "x", "a": "1"}])).unwrap();
        assert_eq!(s, Answer::Strings(["{__name__=x,a=1}".to_string()].into()));
        assert!(Answer::from_data(Endpoint::Range, &json!({"resultType": "string"})).is_err());
        assert!(
            Answer::from_data(
                Endpoint::Range,
                &json!({"resultType": "matrix", "result": [{"metric": {}, "values": [[1, 2]]}]})
            )
            .is_err()
        );
    }

    #[test]
    fn encoding() {
        assert_eq!(encode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(encode("{x=\"/\"} +"), "%7Bx%3D%22%2F%22%7D%20%2B");
        assert_eq!(encode("é"), "%C3%A9");
    }
}
