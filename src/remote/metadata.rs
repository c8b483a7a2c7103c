//! Metric metadata (type, help, unit) received by remote write and OTLP, kept in memory by
//! metric name for `/api/v1/metadata`.

use parking_lot::RwLock;
use std::collections::BTreeMap;

/// A metric type, as `/api/v1/metadata` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricType {
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `histogram`.
    Histogram,
    /// `gaugehistogram`.
    GaugeHistogram,
    /// `summary`.
    Summary,
    /// `info`.
    Info,
    /// `stateset`.
    StateSet,
    /// `unknown`.
    Unknown,
}

impl MetricType {
    /// The name Prometheus's API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }

    /// From the name the API uses (as scrapes record it); anything else is unknown.
    pub fn from_api(s: &str) -> MetricType {
        match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::StateSet,
            _ => MetricType::Unknown,
        }
    }

    /// The enum number in `prometheus.MetricMetadata.MetricType` and
    /// `io.prometheus.write.v2.Metadata.MetricType` (the two agree).
    pub fn to_proto(self) -> i32 {
        match self {
            MetricType::Unknown => 0,
            MetricType::Counter => 1,
            MetricType::Gauge => 2,
            MetricType::Histogram => 3,
            MetricType::GaugeHistogram => 4,
            MetricType::Summary => 5,
            MetricType::Info => 6,
            MetricType::StateSet => 7,
        }
    }

    /// From the enum number shared by `prometheus.MetricMetadata.MetricType` and
    /// `io.prometheus.write.v2.Metadata.MetricType` (0 is unknown/unspecified in both).
    pub fn from_proto(n: i32) -> MetricType {
        match n {
            1 => MetricType::Counter,
            2 => MetricType::Gauge,
            3 => MetricType::Histogram,
            4 => MetricType::GaugeHistogram,
            5 => MetricType::Summary,
            6 => MetricType::Info,
            7 => MetricType::StateSet,
            _ => MetricType::Unknown,
        }
    }
}

/// Metadata of one metric.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricMetadata {
    /// The type.
    pub kind: MetricType,
    /// The HELP text.
    pub help: String,
    /// The unit.
    pub unit: String,
}

/// Distinct entries kept per metric name (senders normally agree; more is churn).
const MAX_PER_METRIC: usize = 8;

/// Metadata by metric name, bounded in the number of names; cheap to read concurrently.
#[derive(Debug)]
pub struct MetadataStore {
    inner: RwLock<BTreeMap<String, Vec<MetricMetadata>>>,
    max_metrics: usize,
}

impl Default for MetadataStore {
    fn default() -> Self {
        MetadataStore::new(100_000)
    }
}

impl MetadataStore {
    /// A store keeping at most `max_metrics` metric names (new names beyond are ignored).
    pub fn new(max_metrics: usize) -> Self {
        MetadataStore { inner: RwLock::new(BTreeMap::new()), max_metrics }
    }

    /// Records `md` for `metric`. An entry already known is not duplicated; beyond
    /// 8 distinct entries the oldest goes. Returns whether anything changed.
    pub fn update(&self, metric: &str, md: MetricMetadata) -> bool {
        if metric.is_empty() {
            return false;
        }
        if self.inner.read().get(metric).is_some_and(|v| v.contains(&md)) {
            return false;
        }
        let mut inner = self.inner.write();
        let len = inner.len();
        let entries = match inner.get_mut(metric) {
            Some(e) => e,
            None if len >= self.max_metrics => return false,
            None => inner.entry(metric.to_string()).or_default(),
        };
        if entries.contains(&md) {
            return false;
        }
        if entries.len() >= MAX_PER_METRIC {
            entries.remove(0);
        }
        entries.push(md);
        true
    }

    /// The entries of `metric`, oldest first.
    pub fn get(&self, metric: &str) -> Vec<MetricMetadata> {
        self.inner.read().get(metric).cloned().unwrap_or_default()
    }

    /// Number of metric names known.
    pub fn len(&self) -> usize {
        self.inner.read().len()
    }

    /// Whether nothing is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What `/api/v1/metadata` shows: every metric (or only `metric`), sorted by name, at most
    /// `limit` metrics with at most `limit_per_metric` entries each.
    pub fn snapshot(
        &self,
        metric: Option<&str>,
        limit: Option<usize>,
        limit_per_metric: Option<usize>,
    ) -> BTreeMap<String, Vec<MetricMetadata>> {
        let inner = self.inner.read();
        let per = limit_per_metric.unwrap_or(usize::MAX);
        let pick = |(name, entries): (&String, &Vec<MetricMetadata>)| {
            (name.clone(), entries.iter().take(per).cloned().collect::<Vec<_>>())
        };
        match metric {
            Some(m) => inner.get_key_value(m).map(pick).into_iter().collect(),
            None => inner.iter().take(limit.unwrap_or(usize::MAX)).map(pick).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(kind: MetricType, help: &str) -> MetricMetadata {
        MetricMetadata { kind, help: help.into(), unit: String::new() }
    }

    #[test]
    fn entries_are_distinct_bounded_and_filtered() {
        let s = MetadataStore::new(2);
        assert!(s.update("a_total", md(MetricType::Counter, "A.")));
        assert!(!s.update("a_total", md(MetricType::Counter, "A.")), "duplicate");
        assert!(s.update("a_total", md(MetricType::Counter, "A, reworded.")));
        assert!(s.update("b", md(MetricType::Gauge, "B.")));
        assert!(!s.update("c", md(MetricType::Gauge, "C.")), "third name beyond the bound");
        assert!(!s.update("", md(MetricType::Gauge, "nameless")));
        assert_eq!(s.len(), 2);
        assert_eq!(s.get("a_total").len(), 2);
        let all = s.snapshot(None, None, Some(1));
        assert_eq!(all.keys().collect::<Vec<_>>(), ["a_total", "b"]);
        assert_eq!(all["a_total"], vec![md(MetricType::Counter, "A.")]);
        assert_eq!(s.snapshot(None, Some(1), None).len(), 1);
        assert_eq!(s.snapshot(Some("b"), None, None)["b"], vec![md(MetricType::Gauge, "B.")]);
        assert!(s.snapshot(Some("zzz"), None, None).is_empty());
        for i in 0..20 {
            s.update("b", md(MetricType::Gauge, &format!("v{i}")));
        }
        let b = s.get("b");
        assert_eq!(b.len(), MAX_PER_METRIC);
        assert_eq!(b.last().map(|m| m.help.as_str()), Some("v19"));
    }

    #[test]
    fn api_names_round_trip_through_proto_numbers() {
        // prompb's MetricMetadata_MetricType and the v2 Metadata.MetricType both number
        // UNKNOWN/UNSPECIFIED 0, COUNTER 1, GAUGE 2, HISTOGRAM 3, GAUGEHISTOGRAM 4, SUMMARY 5,
        // INFO 6, STATESET 7; the generated enums are checked against the numbers here.
        use crate::remote::pb::prometheus::metric_metadata::MetricType as V1;
        use crate::remote::pb::write_v2::metadata::MetricType as V2;
        let cases = [
            ("counter", V1::Counter as i32, V2::Counter as i32),
            ("gauge", V1::Gauge as i32, V2::Gauge as i32),
            ("histogram", V1::Histogram as i32, V2::Histogram as i32),
            ("gaugehistogram", V1::Gaugehistogram as i32, V2::Gaugehistogram as i32),
            ("summary", V1::Summary as i32, V2::Summary as i32),
            ("info", V1::Info as i32, V2::Info as i32),
            ("stateset", V1::Stateset as i32, V2::Stateset as i32),
            ("unknown", V1::Unknown as i32, V2::Unspecified as i32),
        ];
        for (name, v1, v2) in cases {
            let t = MetricType::from_api(name);
            assert_eq!(t.as_str(), name);
            assert_eq!((t.to_proto(), t.to_proto()), (v1, v2), "{name}");
            assert_eq!(MetricType::from_proto(t.to_proto()), t);
        }
        assert_eq!(MetricType::from_api("untyped"), MetricType::Unknown);
    }

    #[test]
    fn proto_type_numbers_map_to_api_names() {
        let names: Vec<&str> = (0..9).map(|n| MetricType::from_proto(n).as_str()).collect();
        assert_eq!(
            names,
            ["unknown", "counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset", "unknown"]
        );
    }
}
