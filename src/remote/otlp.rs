//! The OTLP metrics receiver (`POST /api/v1/otlp/v1/metrics`): an
//! `ExportMetricsServiceRequest` translated to Prometheus series as Prometheus 3 translates it
//! with its default settings, then written like a remote write 1.0 request.
//!
//! # Mapping
//!
//! | OTLP | Prometheus |
//! |---|---|
//! | gauge | one series per data point set, the metric name with unit suffixes (`_ratio` for unit `1`) |
//! | sum, cumulative, monotonic | a counter: the name ends in `_total` |
//! | sum, cumulative, not monotonic | a gauge (no `_total`) |
//! | histogram, cumulative | `<name>_bucket{le="<bound>"}` (cumulative counts, then `le="+Inf"` = count), `<name>_sum` (when the sum is set), `<name>_count` |
//! | summary | `<name>{quantile="<q>"}`, `<name>_sum`, `<name>_count` |
//! | delta sums and histograms, unspecified temporality | rejected: 400 naming the metric (the rest of the request is written) |
//! | exponential histogram | rejected the same way (native histograms are not stored yet) |
//! | data point flag `NO_RECORDED_VALUE` | the stale marker |
//! | data point time (ns) | the sample timestamp in ms (truncated) |
//!
//! Names: tokens split at characters
//! other than `[a-zA-Z0-9:]`, UCUM units as suffixes (`s` → `_seconds`, `By/s` →
//! `_bytes_per_second`, `{annotations}` dropped), `_total` for monotonic sums, a `_` prefix
//! before a leading digit. Data point attributes become labels, escaped to `[a-zA-Z0-9_]`
//! (`key_` before a leading digit, `key` before a single leading `_`); keys that collide
//! after escaping have their values joined with `;` in key order.
//!
//! Resource attributes: `service.namespace` + `/` + `service.name` (or `service.name` alone)
//! becomes `job` and `service.instance.id` becomes `instance` on every series of the
//! resource. The other resource attributes go onto a `target_info` series (with `job` and
//! `instance`, value 1), present only when there are such attributes and a `job` or
//! `instance`; it gets a sample at the earliest data point time of the resource, then every
//! half lookback delta, and at the latest one, so `target_info` joins find it throughout
//! (at most 1,000 samples, the newest, when the points are far apart).
//!
//! Metadata (type, description as help, unit) is recorded per translated metric name.
//! Exemplars are counted and dropped (no exemplar storage yet).
//!
//! # Status codes
//!
//! 200 with an empty `ExportMetricsServiceResponse` on success. Samples refused by the
//! storage (out of order, out of bounds, ...) roll the whole request back and answer 400, as
//! Prometheus's OTLP handler does; untranslatable metrics answer 400 after the rest is
//! written; storage failures answer 500.

use super::Remote;
use super::metadata::{MetricMetadata, MetricType};
use super::metrics::{Protocol, Reason};
use super::otlp_names::{NameKind, attribute_value, format_float_f, label_name, metric_name};
use super::pb::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use super::pb::otlp::common::v1::KeyValue;
use super::pb::otlp::metrics::v1::{
    AggregationTemporality, Gauge, Metric, NumberDataPoint, Sum, metric, number_data_point,
};
use super::write::{Refused, SeriesKey, WriteError, WriteStats, append_series, join_errors};
use crate::model::{Label, Labels, METRIC_NAME, stale_nan};
use crate::tsdb::Db;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};

/// The bit of `flags` marking a data point without a recorded value.
const NO_RECORDED_VALUE: u32 = 1;

/// At most this many `target_info` samples per resource and request (Cairn's bound).
const MAX_TARGET_INFO_SAMPLES: i64 = 1000;

/// Resource attributes that identify the target (mapped to `job` and `instance`).
const SERVICE_NAME: &str = "service.name";
const SERVICE_NAMESPACE: &str = "service.namespace";
const SERVICE_INSTANCE_ID: &str = "service.instance.id";

/// An OTLP request translated to Prometheus series.
#[derive(Debug, Default)]
pub struct Translation {
    /// Series with their samples (sorted by time), in first-seen order.
    pub series: Vec<(Labels, Vec<(i64, f64)>)>,
    /// Metadata by translated metric name.
    pub metadata: Vec<(String, MetricMetadata)>,
    /// Why some metrics were not translated (each names its metric).
    pub errors: Vec<String>,
    /// Data points not translated.
    pub rejected_points: usize,
    /// Exemplars seen (dropped).
    pub exemplars: usize,
}

#[derive(Default)]
struct Builder {
    out: Translation,
    index: HashMap<Labels, usize, foldhash::fast::RandomState>,
}

impl Builder {
    fn add(&mut self, labels: Labels, t: i64, v: f64) {
        let i = match self.index.get(&labels) {
            Some(&i) => i,
            None => {
                self.out.series.push((labels.clone(), Vec::new()));
                self.index.insert(labels, self.out.series.len() - 1);
                self.out.series.len() - 1
            }
        };
        if let Some((_, samples)) = self.out.series.get_mut(i) {
            samples.push((t, v));
        }
    }
}

fn ns_to_ms(ns: u64) -> i64 {
    (ns / 1_000_000) as i64
}

/// The `job` and `instance` of a resource, from its service attributes.
fn target_labels(resource: &[KeyValue]) -> Vec<(String, String)> {
    let get = |k: &str| resource.iter().find(|kv| kv.key == k).map(|kv| attribute_value(kv.value.as_ref()));
    let mut out = Vec::new();
    if let Some(name) = get(SERVICE_NAME) {
        let job = match get(SERVICE_NAMESPACE) {
            Some(ns) => format!("{ns}/{name}"),
            None => name,
        };
        out.push(("job".to_string(), job));
    }
    if let Some(instance) = get(SERVICE_INSTANCE_ID) {
        out.push(("instance".to_string(), instance));
    }
    out
}

/// Builds a series' labels: the attributes (escaped, colliding keys joined with `;`), then the
/// target labels, then `extra` (the metric name, `le`, `quantile`), later ones winning.
fn series_labels(
    attrs: &[KeyValue],
    skip: &[&str],
    target: &[(String, String)],
    extra: &[(&str, &str)],
) -> Result<Labels, String> {
    let mut sorted: Vec<&KeyValue> = attrs.iter().filter(|kv| !skip.contains(&kv.key.as_str())).collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for kv in sorted {
        let value = attribute_value(kv.value.as_ref());
        match map.entry(label_name(&kv.key)?) {
            Entry::Occupied(mut e) => {
                let v = e.get_mut();
                v.push(';');
                v.push_str(&value);
            }
            Entry::Vacant(e) => {
                e.insert(value);
            }
        }
    }
    for (k, v) in target {
        map.insert(k.clone(), v.clone());
    }
    for (k, v) in extra {
        map.insert((*k).to_string(), (*v).to_string());
    }
    Labels::new(map.into_iter().map(|(name, value)| Label { name, value }).collect()).map_err(|e| e.to_string())
}

fn number_value(p: &NumberDataPoint) -> f64 {
    if p.flags & NO_RECORDED_VALUE != 0 {
        return stale_nan();
    }
    match p.value {
        Some(number_data_point::Value::AsDouble(d)) => d,
        Some(number_data_point::Value::AsInt(i)) => i as f64,
        None => 0.0,
    }
}

/// The time range of a metric's data points, widening `range`.
fn widen(range: &mut Option<(u64, u64)>, times: impl Iterator<Item = u64>) {
    for t in times {
        *range = Some(match *range {
            Some((lo, hi)) => (lo.min(t), hi.max(t)),
            None => (t, t),
        });
    }
}

/// Translates an export request (see the module docs for the mapping). `lookback_ms` spaces
/// the `target_info` samples (half of it between two).
pub fn translate(req: &ExportMetricsServiceRequest, lookback_ms: i64) -> Translation {
    let mut b = Builder::default();
    for rm in &req.resource_metrics {
        let resource: &[KeyValue] = rm.resource.as_ref().map_or(&[], |r| &r.attributes);
        let target = target_labels(resource);
        let mut range: Option<(u64, u64)> = None;
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                translate_metric(&mut b, m, &target, &mut range);
            }
        }
        if let Some((lo, hi)) = range {
            add_target_info(&mut b, resource, &target, ns_to_ms(lo), ns_to_ms(hi), lookback_ms);
        }
    }
    let mut out = b.out;
    for (_, samples) in &mut out.series {
        samples.sort_by_key(|s| s.0);
    }
    out
}

fn add_target_info(
    b: &mut Builder,
    resource: &[KeyValue],
    target: &[(String, String)],
    lo: i64,
    hi: i64,
    lookback_ms: i64,
) {
    let identifying = [SERVICE_NAMESPACE, SERVICE_NAME, SERVICE_INSTANCE_ID];
    let others = resource.iter().filter(|kv| !identifying.contains(&kv.key.as_str())).count();
    if others == 0 || target.is_empty() {
        return;
    }
    let labels = match series_labels(resource, &identifying, target, &[(METRIC_NAME, "target_info")]) {
        Ok(l) => l,
        Err(e) => {
            b.out.errors.push(format!("target_info: {e}"));
            return;
        }
    };
    let step = (lookback_ms / 2).max(1);
    // Points far apart (a zero timestamp next to a current one) would ask for millions of
    // samples; keep the newest stretch.
    let mut t = lo.max(hi.saturating_sub(step.saturating_mul(MAX_TARGET_INFO_SAMPLES)));
    while t < hi {
        b.add(labels.clone(), t, 1.0);
        t = t.saturating_add(step);
    }
    b.add(labels, hi, 1.0);
}

fn translate_metric(b: &mut Builder, m: &Metric, target: &[(String, String)], range: &mut Option<(u64, u64)>) {
    let cumulative = AggregationTemporality::Cumulative as i32;
    let (kind, md_type) = match &m.data {
        None => return,
        Some(metric::Data::Gauge(g)) => {
            widen(range, g.data_points.iter().map(|p| p.time_unix_nano));
            (NameKind::Gauge, MetricType::Gauge)
        }
        Some(metric::Data::Sum(s)) => {
            widen(range, s.data_points.iter().map(|p| p.time_unix_nano));
            if s.aggregation_temporality != cumulative {
                return reject_temporality(b, m, s.data_points.len());
            }
            if s.is_monotonic { (NameKind::Counter, MetricType::Counter) } else { (NameKind::Other, MetricType::Gauge) }
        }
        Some(metric::Data::Histogram(h)) => {
            widen(range, h.data_points.iter().map(|p| p.time_unix_nano));
            if h.aggregation_temporality != cumulative {
                return reject_temporality(b, m, h.data_points.len());
            }
            (NameKind::Other, MetricType::Histogram)
        }
        Some(metric::Data::ExponentialHistogram(h)) => {
            widen(range, h.data_points.iter().map(|p| p.time_unix_nano));
            b.out.rejected_points += h.data_points.len();
            b.out.errors.push(format!(
                "exponential histograms are not supported (native histograms are not stored yet): metric {:?} dropped",
                m.name
            ));
            return;
        }
        Some(metric::Data::Summary(s)) => {
            widen(range, s.data_points.iter().map(|p| p.time_unix_nano));
            (NameKind::Other, MetricType::Summary)
        }
    };
    let name = match metric_name(&m.name, &m.unit, kind) {
        Ok(n) => n,
        Err(e) => {
            b.out.errors.push(e);
            return;
        }
    };
    let unit = unit_name(&m.unit);
    b.out.metadata.push((name.clone(), MetricMetadata { kind: md_type, help: m.description.clone(), unit }));
    let mut label_errors = Vec::new();
    match &m.data {
        Some(metric::Data::Gauge(Gauge { data_points: pts }))
        | Some(metric::Data::Sum(Sum { data_points: pts, .. })) => {
            for p in pts {
                b.out.exemplars += p.exemplars.len();
                match series_labels(&p.attributes, &[], target, &[(METRIC_NAME, &name)]) {
                    Ok(l) => b.add(l, ns_to_ms(p.time_unix_nano), number_value(p)),
                    Err(e) => label_errors.push(e),
                }
            }
        }
        Some(metric::Data::Histogram(h)) => {
            for p in &h.data_points {
                b.out.exemplars += p.exemplars.len();
                let t = ns_to_ms(p.time_unix_nano);
                let stale = p.flags & NO_RECORDED_VALUE != 0;
                let val = |v: f64| if stale { stale_nan() } else { v };
                let mut add = |suffix: &str, extra: Option<(&str, &str)>, v: f64| {
                    let full = format!("{name}{suffix}");
                    let mut extras = vec![(METRIC_NAME, full.as_str())];
                    extras.extend(extra);
                    match series_labels(&p.attributes, &[], target, &extras) {
                        Ok(l) => b.add(l, t, val(v)),
                        Err(e) => label_errors.push(e),
                    }
                };
                if let Some(sum) = p.sum {
                    add("_sum", None, sum);
                }
                add("_count", None, p.count as f64);
                let mut cumulative_count = 0u64;
                for (bound, count) in p.explicit_bounds.iter().zip(&p.bucket_counts) {
                    cumulative_count = cumulative_count.saturating_add(*count);
                    add("_bucket", Some(("le", &format_float_f(*bound))), cumulative_count as f64);
                }
                add("_bucket", Some(("le", "+Inf")), p.count as f64);
            }
        }
        Some(metric::Data::Summary(s)) => {
            for p in &s.data_points {
                let t = ns_to_ms(p.time_unix_nano);
                let stale = p.flags & NO_RECORDED_VALUE != 0;
                let val = |v: f64| if stale { stale_nan() } else { v };
                let mut add = |suffix: &str, extra: Option<(&str, &str)>, v: f64| {
                    let full = format!("{name}{suffix}");
                    let mut extras = vec![(METRIC_NAME, full.as_str())];
                    extras.extend(extra);
                    match series_labels(&p.attributes, &[], target, &extras) {
                        Ok(l) => b.add(l, t, val(v)),
                        Err(e) => label_errors.push(e),
                    }
                };
                add("_sum", None, p.sum);
                add("_count", None, p.count as f64);
                for q in &p.quantile_values {
                    add("", Some(("quantile", &format_float_f(q.quantile))), q.value);
                }
            }
        }
        _ => {}
    }
    if let Some(e) = label_errors.first() {
        b.out.errors.push(format!("metric {:?}: {e}", m.name));
    }
}

fn reject_temporality(b: &mut Builder, m: &Metric, points: usize) {
    b.out.rejected_points += points;
    b.out.errors.push(format!(
        "invalid temporality and type combination for metric {:?}: only cumulative temporality is supported",
        m.name
    ));
}

/// The unit as metadata shows it: the translated suffixes joined (`By/s` → `bytes_per_second`).
fn unit_name(unit: &str) -> String {
    // Reuse the name builder on an empty name: it yields exactly the unit tokens.
    metric_name("", unit, NameKind::Other).unwrap_or_default()
}

/// Translates and writes an export request (see the module docs for the status codes).
pub fn write_otlp(
    db: &Db,
    remote: &Remote,
    req: &ExportMetricsServiceRequest,
    lookback_ms: i64,
    now_ms: i64,
) -> Result<WriteStats, WriteError> {
    let p = Protocol::Otlp;
    let m = &remote.metrics;
    let tr = translate(req, lookback_ms);
    let total: usize = tr.series.iter().map(|(_, s)| s.len()).sum();
    m.received(p, total + tr.rejected_points);
    m.rejected(p, Reason::Unsupported, tr.rejected_points);
    m.exemplars(p, tr.exemplars);
    m.metadata(p, tr.metadata.len());
    for (name, md) in tr.metadata {
        remote.metadata.update(&name, md);
    }
    let max_t = now_ms.saturating_add(remote.opts.max_ahead_ms);
    let mut app = db.appender();
    let mut written = 0u64;
    for (labels, samples) in &tr.series {
        match append_series(&mut app, &mut SeriesKey::Labels(labels), samples.iter().copied(), max_t, Err) {
            Ok(n) => written += n,
            Err(refused) => {
                app.rollback();
                return Err(match refused {
                    Refused::Sample(reason, msg) => {
                        m.rejected(p, reason, 1);
                        m.rejected(p, Reason::RolledBack, total.saturating_sub(1));
                        WriteError::BadRequest(msg)
                    }
                    Refused::Internal(msg) => {
                        m.rejected(p, Reason::RolledBack, total);
                        WriteError::Storage(msg)
                    }
                });
            }
        }
    }
    if let Err(e) = app.commit() {
        m.rejected(p, Reason::RolledBack, total);
        return Err(WriteError::Storage(e.to_string()));
    }
    m.written(p, written as usize);
    if !tr.errors.is_empty() {
        return Err(WriteError::BadRequest(join_errors(&tr.errors, remote.opts.max_listed_errors)));
    }
    Ok(WriteStats { samples: written, ..WriteStats::default() })
}

#[cfg(test)]
mod tests;
