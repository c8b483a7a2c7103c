//! OTLP mapping tables. The expected series are worked out by hand from Prometheus 3's
//! translation rules (quoted in the module docs): names with unit suffixes and `_total`,
//! escaped attribute names, `job`/`instance` from the service attributes, `target_info` for
//! the rest of the resource, classic histogram and summary series.

use super::*;
use crate::model::Matcher;
use crate::remote::pb::otlp::common::v1::{AnyValue, any_value};
use crate::remote::pb::otlp::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Histogram, HistogramDataPoint, ResourceMetrics, ScopeMetrics,
    Summary, SummaryDataPoint, summary_data_point::ValueAtQuantile,
};
use crate::remote::pb::otlp::resource::v1::Resource;
use crate::tsdb::Options;

/// 2023-11-14T22:13:20Z in nanoseconds.
const T0: u64 = 1_700_000_000_000_000_000;
const T0_MS: i64 = 1_700_000_000_000;
const LOOKBACK: i64 = 5 * 60 * 1000;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue { key: k.into(), value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }) }
}

fn point(attrs: Vec<KeyValue>, t: u64, v: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        time_unix_nano: t,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn metric(name: &str, unit: &str, data: metric::Data) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        description: format!("{name} help"),
        data: Some(data),
        ..Default::default()
    }
}

fn request(resource: Vec<KeyValue>, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource { attributes: resource, dropped_attributes_count: 0 }),
            scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
            ..Default::default()
        }],
    }
}

fn sum(points: Vec<NumberDataPoint>, temporality: AggregationTemporality, monotonic: bool) -> metric::Data {
    metric::Data::Sum(Sum { data_points: points, aggregation_temporality: temporality as i32, is_monotonic: monotonic })
}

/// The translation as `labels => [(t, v)]` lines, sorted.
fn render(t: &Translation) -> Vec<String> {
    let mut out: Vec<String> = t
        .series
        .iter()
        .map(|(l, s)| {
            let samples: Vec<String> = s
                .iter()
                .map(|(t, v)| if v.is_nan() { format!("{t}:{:#x}", v.to_bits()) } else { format!("{t}:{v}") })
                .collect();
            format!("{l} => {}", samples.join(" "))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn gauges_sums_and_resources() {
    let resource = vec![
        kv("service.name", "api"),
        kv("service.namespace", "shop"),
        kv("service.instance.id", "i-1"),
        kv("host.name", "h1"),
    ];
    let attrs = || vec![kv("http.method", "GET"), kv("2xx", "x"), kv("a.b", "v1"), kv("a_b", "v2")];
    let stale = NumberDataPoint { flags: 1, ..point(vec![], T0 + 1_000_000_000, 3.0) };
    let req = request(
        resource,
        vec![
            metric("mem.usage", "By", metric::Data::Gauge(Gauge { data_points: vec![point(attrs(), T0, 42.0)] })),
            metric(
                "http.requests",
                "{request}",
                sum(vec![point(vec![], T0, 7.0), stale], AggregationTemporality::Cumulative, true),
            ),
            metric("queue.depth", "", sum(vec![point(vec![], T0, 2.0)], AggregationTemporality::Cumulative, false)),
            metric("delta.things", "", sum(vec![point(vec![], T0, 1.0)], AggregationTemporality::Delta, true)),
            metric("unset.things", "", sum(vec![point(vec![], T0, 1.0)], AggregationTemporality::Unspecified, true)),
            metric(
                "latency",
                "s",
                metric::Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![ExponentialHistogramDataPoint { time_unix_nano: T0, ..Default::default() }],
                    aggregation_temporality: 2,
                }),
            ),
        ],
    );
    let t = translate(&req, LOOKBACK);
    let stale_bits = crate::model::STALE_NAN_BITS;
    let want = vec![
        format!(
            "{{__name__=\"http_requests_total\", instance=\"i-1\", job=\"shop/api\"}} => {T0_MS}:7 {}:{stale_bits:#x}",
            T0_MS + 1000
        ),
        format!(
            "{{__name__=\"mem_usage_bytes\", a_b=\"v1;v2\", http_method=\"GET\", instance=\"i-1\", job=\"shop/api\", key_2xx=\"x\"}} => {T0_MS}:42"
        ),
        format!("{{__name__=\"queue_depth\", instance=\"i-1\", job=\"shop/api\"}} => {T0_MS}:2"),
    ];
    let got = render(&t);
    let (info, rest): (Vec<String>, Vec<String>) = got.into_iter().partition(|l| l.contains("target_info"));
    assert_eq!(rest, want);
    // target_info from the earliest to the latest point of the resource (one second apart).
    assert_eq!(
        info,
        [format!(
            "{{__name__=\"target_info\", host_name=\"h1\", instance=\"i-1\", job=\"shop/api\"}} => {T0_MS}:1 {}:1",
            T0_MS + 1000
        )]
    );
    assert_eq!(
        t.errors,
        [
            "invalid temporality and type combination for metric \"delta.things\": only cumulative temporality is supported",
            "invalid temporality and type combination for metric \"unset.things\": only cumulative temporality is supported",
            "exponential histograms are not supported (native histograms are not stored yet): metric \"latency\" dropped",
        ]
    );
    assert_eq!(t.rejected_points, 3);
    let md: Vec<(String, &str, &str)> =
        t.metadata.iter().map(|(n, m)| (n.clone(), m.kind.as_str(), m.unit.as_str())).collect();
    assert_eq!(
        md,
        [
            ("mem_usage_bytes".to_string(), "gauge", "bytes"),
            ("http_requests_total".to_string(), "counter", ""),
            ("queue_depth".to_string(), "gauge", ""),
        ]
    );
}

#[test]
fn histograms_and_summaries_become_classic_series() {
    let hist = HistogramDataPoint {
        attributes: vec![kv("route", "/")],
        time_unix_nano: T0,
        count: 6,
        sum: Some(4.5),
        bucket_counts: vec![1, 2, 3],
        explicit_bounds: vec![0.5, 1.0],
        ..Default::default()
    };
    let no_sum = HistogramDataPoint { sum: None, attributes: vec![kv("route", "/x")], ..hist.clone() };
    let summary = SummaryDataPoint {
        time_unix_nano: T0,
        count: 10,
        sum: 2.5,
        quantile_values: vec![
            ValueAtQuantile { quantile: 0.5, value: 0.2 },
            ValueAtQuantile { quantile: 0.99, value: 0.9 },
        ],
        ..Default::default()
    };
    let req = request(
        vec![kv("service.name", "svc")],
        vec![
            metric(
                "http.duration",
                "s",
                metric::Data::Histogram(Histogram { data_points: vec![hist, no_sum], aggregation_temporality: 2 }),
            ),
            metric("rpc.size", "By", metric::Data::Summary(Summary { data_points: vec![summary] })),
            metric(
                "delta.hist",
                "s",
                metric::Data::Histogram(Histogram { data_points: vec![], aggregation_temporality: 1 }),
            ),
        ],
    );
    let t = translate(&req, LOOKBACK);
    let s = |labels: &str, v: &str| format!("{{{labels}}} => {T0_MS}:{v}");
    let mut want = vec![
        s("__name__=\"http_duration_seconds_bucket\", job=\"svc\", le=\"+Inf\", route=\"/\"", "6"),
        s("__name__=\"http_duration_seconds_bucket\", job=\"svc\", le=\"0.5\", route=\"/\"", "1"),
        s("__name__=\"http_duration_seconds_bucket\", job=\"svc\", le=\"1\", route=\"/\"", "3"),
        s("__name__=\"http_duration_seconds_count\", job=\"svc\", route=\"/\"", "6"),
        s("__name__=\"http_duration_seconds_sum\", job=\"svc\", route=\"/\"", "4.5"),
        s("__name__=\"http_duration_seconds_bucket\", job=\"svc\", le=\"+Inf\", route=\"/x\"", "6"),
        s("__name__=\"http_duration_seconds_bucket\", job=\"svc\", le=\"0.5\", route=\"/x\"", "1"),
        s("__name__=\"http_duration_seconds_bucket\", job=\"svc\", le=\"1\", route=\"/x\"", "3"),
        s("__name__=\"http_duration_seconds_count\", job=\"svc\", route=\"/x\"", "6"),
        s("__name__=\"rpc_size_bytes\", job=\"svc\", quantile=\"0.5\"", "0.2"),
        s("__name__=\"rpc_size_bytes\", job=\"svc\", quantile=\"0.99\"", "0.9"),
        s("__name__=\"rpc_size_bytes_count\", job=\"svc\"", "10"),
        s("__name__=\"rpc_size_bytes_sum\", job=\"svc\"", "2.5"),
    ];
    want.sort();
    // No target_info: the resource has only `service.name`.
    assert_eq!(render(&t), want);
    assert_eq!(t.errors.len(), 1);
    assert!(t.errors[0].contains("\"delta.hist\""));
}

#[test]
fn target_info_spans_the_resource_at_half_the_lookback() {
    let pts = vec![point(vec![], T0, 1.0), point(vec![], T0 + 600 * 1_000_000_000, 2.0)];
    let req = request(
        vec![kv("service.instance.id", "i"), kv("region", "eu")],
        vec![metric("g", "", metric::Data::Gauge(Gauge { data_points: pts }))],
    );
    let t = translate(&req, LOOKBACK);
    let info = t.series.iter().find(|(l, _)| l.metric_name() == Some("target_info")).expect("target_info");
    assert_eq!(info.0.to_string(), "{__name__=\"target_info\", instance=\"i\", region=\"eu\"}");
    let times: Vec<i64> = info.1.iter().map(|s| (s.0 - T0_MS) / 1000).collect();
    assert_eq!(times, [0, 150, 300, 450, 600]);
    // Without service attributes there is no target to describe: no target_info.
    let req = request(
        vec![kv("region", "eu")],
        vec![metric("g", "", metric::Data::Gauge(Gauge { data_points: vec![point(vec![], T0, 1.0)] }))],
    );
    assert!(translate(&req, LOOKBACK).series.iter().all(|(l, _)| l.metric_name() != Some("target_info")));
}

fn open() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options { background_interval: None, ..Options::default() }).unwrap();
    (dir, db)
}

fn count(db: &Db, name: &str) -> usize {
    let q = db.querier(i64::MIN, i64::MAX);
    q.select(&[Matcher::equal("__name__", name)]).unwrap().iter().map(|s| s.samples().unwrap().len()).sum()
}

#[test]
fn writes_commit_the_translatable_rest_and_roll_back_on_refusals() {
    let (_d, db) = open();
    let r = Remote::default();
    let now = T0_MS + 1000;
    let gauge =
        |name: &str, t: u64| metric(name, "", metric::Data::Gauge(Gauge { data_points: vec![point(vec![], t, 1.0)] }));
    let ok = request(vec![kv("service.name", "s")], vec![gauge("a", T0)]);
    assert_eq!(write_otlp(&db, &r, &ok, LOOKBACK, now), Ok(WriteStats { samples: 1, ..WriteStats::default() }));
    let partial = request(
        vec![],
        vec![gauge("b", T0), metric("d", "", sum(vec![point(vec![], T0, 1.0)], AggregationTemporality::Delta, true))],
    );
    let err = write_otlp(&db, &r, &partial, LOOKBACK, now).unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.to_string().contains("\"d\""), "{err}");
    assert_eq!(count(&db, "b"), 1, "the rest is written");
    let ooo = request(vec![kv("service.name", "s")], vec![gauge("c", T0), gauge("a", T0 - 1_000_000_000)]);
    assert_eq!(write_otlp(&db, &r, &ooo, LOOKBACK, now), Err(WriteError::BadRequest("out of order sample".into())));
    assert_eq!(count(&db, "c"), 0, "rolled back");
    assert_eq!(r.metadata.get("a")[0].help, "a help");
}
