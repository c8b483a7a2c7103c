//! Targets: discovery output turned into scrape targets with Prometheus's label population,
//! and each target's scrape status as the targets API shows it.
//!
//! [`targets_from_group`] is Prometheus's `TargetsFromGroup`: group labels under target
//! labels, the scrape config's defaults (`job`, `__scheme__`, `__metrics_path__`,
//! `__scrape_interval__`, `__scrape_timeout__`, `__param_<name>`), `relabel_configs`, a default
//! port, `__meta_*` removed and `instance` defaulting to `__address__`.

use crate::config::ScrapeConfig;
use crate::discovery::TargetGroup;
use crate::model::duration::{format_duration, parse_duration};
use crate::model::{Label, Labels};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// `__address__`.
pub const ADDRESS_LABEL: &str = "__address__";
/// `__scheme__`.
pub const SCHEME_LABEL: &str = "__scheme__";
/// `__metrics_path__`.
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
/// `__scrape_interval__`.
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
/// `__scrape_timeout__`.
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
/// Prefix of labels that become URL parameters.
pub const PARAM_LABEL_PREFIX: &str = "__param_";
/// Prefix of discovery metadata labels, removed after relabeling.
pub const META_LABEL_PREFIX: &str = "__meta_";
/// Prefix of labels that never reach a series.
pub const RESERVED_LABEL_PREFIX: &str = "__";

/// Why a discovered target could not become a scrape target (it is skipped and logged).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// Relabeling left no `__address__`.
    #[error("no address")]
    NoAddress,
    /// The address needs a default port but the scheme is neither http nor https.
    #[error("invalid scheme: {0:?}")]
    InvalidScheme(String),
    /// The address contains a `/`.
    #[error("{0:?} is not a valid hostname")]
    InvalidHostname(String),
    /// `__scrape_interval__` or `__scrape_timeout__` is not a duration or is zero.
    #[error("{0}")]
    Interval(String),
}

/// Whether the last scrape of a target succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetHealth {
    /// Not scraped yet.
    Unknown,
    /// The last scrape succeeded.
    Up,
    /// The last scrape failed.
    Down,
}

impl TargetHealth {
    /// The API's spelling: `unknown`, `up`, `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetHealth::Unknown => "unknown",
            TargetHealth::Up => "up",
            TargetHealth::Down => "down",
        }
    }
}

/// The outcome of a target's last scrape.
#[derive(Clone, Debug)]
pub struct TargetStatus {
    /// Health.
    pub health: TargetHealth,
    /// The last scrape's error, if it failed.
    pub last_error: Option<String>,
    /// When the last scrape started (`None` before the first).
    pub last_scrape: Option<SystemTime>,
    /// How long it took.
    pub last_duration: Duration,
}

/// One piece of metric metadata from a scrape (`# TYPE`, `# HELP`, `# UNIT`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricMetadata {
    /// Metric family name.
    pub metric: String,
    /// Type as the API spells it (`counter`, `gauge`, ..., `unknown`).
    pub kind: &'static str,
    /// Help text.
    pub help: String,
    /// Unit.
    pub unit: String,
}

/// Per-target metadata, written by the scrape loop and read by the metadata APIs.
#[derive(Debug, Default)]
pub struct MetadataStore {
    pub(crate) entries: Mutex<BTreeMap<String, MetaEntry>>,
}

/// A metadata entry with the scrape iteration it was last seen in.
#[derive(Clone, Debug)]
pub(crate) struct MetaEntry {
    pub(crate) kind: &'static str,
    pub(crate) help: String,
    pub(crate) unit: String,
    pub(crate) last_iter: u64,
}

impl MetadataStore {
    /// All entries, sorted by metric name.
    pub fn list(&self) -> Vec<MetricMetadata> {
        self.entries
            .lock()
            .iter()
            .map(|(m, e)| MetricMetadata {
                metric: m.clone(),
                kind: e.kind,
                help: e.help.clone(),
                unit: e.unit.clone(),
            })
            .collect()
    }

    /// The entry for `metric`.
    pub fn get(&self, metric: &str) -> Option<MetricMetadata> {
        self.entries.lock().get(metric).map(|e| MetricMetadata {
            metric: metric.to_string(),
            kind: e.kind,
            help: e.help.clone(),
            unit: e.unit.clone(),
        })
    }

    /// Number of entries and their size in bytes (help, unit and type text), as
    /// `prometheus_target_metadata_cache_{entries,bytes}` count them.
    pub fn size(&self) -> (usize, usize) {
        let e = self.entries.lock();
        (e.len(), e.values().map(|m| m.help.len() + m.unit.len() + m.kind.len()).sum())
    }
}

/// A scrape target: its labels, URL, interval and timeout, and the status of its last scrape.
#[derive(Debug)]
pub struct Target {
    /// Every label after relabeling, `__`-prefixed ones included (but not `__meta_*`).
    all: Labels,
    /// The public labels (no `__` prefix): what every scraped series gets.
    labels: Labels,
    /// The labels before relabeling (updated when discovery sends the target again).
    discovered: Mutex<Labels>,
    /// The scrape URL.
    url: String,
    /// Identity within the pool (labels and URL).
    hash: u64,
    status: Mutex<TargetStatus>,
    metadata: Mutex<Arc<MetadataStore>>,
}

impl Target {
    /// A target with `labels` (after relabeling) found from `discovered`; `params` are the
    /// scrape config's URL parameters.
    pub fn new(labels: Labels, discovered: Labels, params: &BTreeMap<String, Vec<String>>) -> Target {
        let public = Labels::from_sorted_unchecked(
            labels.iter().filter(|l| !l.name.starts_with(RESERVED_LABEL_PREFIX)).cloned().collect(),
        );
        let url = target_url(&labels, params);
        // Prometheus's target hash: FNV-1a of the label hash printed as 16 decimal digits,
        // then the URL. The same hash gives the same scrape offset as Prometheus.
        let hash = super::manager::fnv64a(&[format!("{:016}", labels.stable_hash()).as_bytes(), url.as_bytes()]);
        Target {
            hash,
            all: labels,
            labels: public,
            discovered: Mutex::new(discovered),
            url,
            status: Mutex::new(TargetStatus {
                health: TargetHealth::Unknown,
                last_error: None,
                last_scrape: None,
                last_duration: Duration::ZERO,
            }),
            metadata: Mutex::new(Arc::new(MetadataStore::default())),
        }
    }

    /// The identity hash (labels and URL): targets with equal hashes are the same target.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Every label, `__`-prefixed ones included.
    pub fn all_labels(&self) -> &Labels {
        &self.all
    }

    /// The public labels (`job`, `instance`, ...): what the API shows and series get.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// The labels as discovered, before relabeling.
    pub fn discovered_labels(&self) -> Labels {
        self.discovered.lock().clone()
    }

    pub(crate) fn set_discovered_labels(&self, l: Labels) {
        *self.discovered.lock() = l;
    }

    /// The value of label `name` (public or not), empty when absent.
    pub fn get(&self, name: &str) -> &str {
        self.all.get(name).unwrap_or("")
    }

    /// The scrape URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The interval and timeout from `__scrape_interval__` / `__scrape_timeout__`, or the
    /// defaults with an error when a label does not parse (the loop then fails every scrape
    /// with that error, as Prometheus's forced error).
    pub fn interval_and_timeout(&self, interval: Duration, timeout: Duration) -> (Duration, Duration, Option<String>) {
        let iv = self.get(SCRAPE_INTERVAL_LABEL);
        let Ok(i) = parse_duration(iv) else {
            return (interval, timeout, Some(format!("Error parsing interval label {iv:?}")));
        };
        let tv = self.get(SCRAPE_TIMEOUT_LABEL);
        let Ok(t) = parse_duration(tv) else {
            return (interval, timeout, Some(format!("Error parsing timeout label {tv:?}")));
        };
        (Duration::from_millis(i.max(0) as u64), Duration::from_millis(t.max(0) as u64), None)
    }

    /// The status of the last scrape.
    pub fn status(&self) -> TargetStatus {
        self.status.lock().clone()
    }

    /// Records a scrape's outcome.
    pub fn report(&self, start: SystemTime, duration: Duration, err: Option<String>) {
        let mut s = self.status.lock();
        s.health = if err.is_none() { TargetHealth::Up } else { TargetHealth::Down };
        s.last_error = err;
        s.last_scrape = Some(start);
        s.last_duration = duration;
    }

    /// The metadata scraped from this target.
    pub fn metadata(&self) -> Arc<MetadataStore> {
        self.metadata.lock().clone()
    }

    pub(crate) fn set_metadata_store(&self, m: Arc<MetadataStore>) {
        *self.metadata.lock() = m;
    }

    /// Spreads scrapes over the interval: the time from `now_ns` (Unix nanoseconds) to this
    /// target's first scrape. Pinned to absolute time, as Prometheus does, so a target keeps
    /// its phase across restarts: `(hash ^ seed) % interval` past the last interval boundary.
    pub fn offset(&self, interval: Duration, seed: u64, now_ns: u128) -> Duration {
        let iv = interval.as_nanos().max(1);
        let base = iv - now_ns % iv;
        let off = u128::from(self.hash ^ seed) % iv;
        let mut next = base + off;
        if next > iv {
            next -= iv;
        }
        Duration::from_nanos(u64::try_from(next).unwrap_or(u64::MAX))
    }
}

/// The scrape URL as Go's `url.URL.String()` writes it: `scheme://address/path?query`, with the
/// config's params (the first value of each replaced by a `__param_<name>` label) encoded
/// with keys sorted.
pub fn target_url(labels: &Labels, params: &BTreeMap<String, Vec<String>>) -> String {
    let mut params = params.clone();
    for l in labels.iter() {
        if let Some(k) = l.name.strip_prefix(PARAM_LABEL_PREFIX) {
            match params.get_mut(k) {
                Some(vs) if !vs.is_empty() => vs[0] = l.value.clone(),
                _ => {
                    params.insert(k.to_string(), vec![l.value.clone()]);
                }
            }
        }
    }
    let host = labels.get(ADDRESS_LABEL).unwrap_or("");
    let path = labels.get(METRICS_PATH_LABEL).unwrap_or("");
    let mut out = String::with_capacity(64);
    let scheme = labels.get(SCHEME_LABEL).unwrap_or("");
    if !scheme.is_empty() {
        out.push_str(scheme);
        out.push(':');
    }
    if !scheme.is_empty() || !host.is_empty() {
        out.push_str("//");
        out.push_str(host);
    }
    if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
        out.push('/');
    }
    escape_path(&mut out, path);
    let mut first = true;
    for (k, vs) in &params {
        for v in vs {
            out.push(if first { '?' } else { '&' });
            first = false;
            query_escape(&mut out, k);
            out.push('=');
            query_escape(&mut out, v);
        }
    }
    out
}

fn push_pct(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(HEX[usize::from(b >> 4)] as char);
    out.push(HEX[usize::from(b & 15)] as char);
}

/// Go's path escaping (`encodePath`): unreserved characters and `$&+,/:;=@` stay.
fn escape_path(out: &mut String, path: &str) {
    for &b in path.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~$&+,/:;=@".contains(&b) {
            out.push(b as char);
        } else {
            push_pct(out, b);
        }
    }
}

/// Go's `url.QueryEscape`: unreserved characters stay, space becomes `+`.
fn query_escape(out: &mut String, s: &str) {
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else if b == b' ' {
            out.push('+');
        } else {
            push_pct(out, b);
        }
    }
}

/// Whether Go's `net.SplitHostPort` accepts `s`, and the port when it does.
pub(crate) fn split_host_port(s: &str) -> Option<(&str, &str)> {
    let i = s.rfind(':')?;
    let (host, j, k) = if s.starts_with('[') {
        let end = s.find(']')?;
        if end + 1 != i {
            return None;
        }
        (&s[1..end], 1, end + 1)
    } else {
        let host = &s[..i];
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if s[j..].contains('[') || s[k..].contains(']') {
        return None;
    }
    Some((host, &s[i + 1..]))
}

/// Prometheus's `PopulateLabels`: the final labels (`None` when relabeling dropped the
/// target) and the labels before relabeling.
pub fn populate_labels(lset: Labels, cfg: &ScrapeConfig) -> Result<(Option<Labels>, Labels), TargetError> {
    let mut labels = lset.into_vec();
    let defaults = [
        ("job", cfg.job_name.clone()),
        (SCRAPE_INTERVAL_LABEL, format_duration(cfg.scrape_interval.as_millis() as i64)),
        (SCRAPE_TIMEOUT_LABEL, format_duration(cfg.scrape_timeout.as_millis() as i64)),
        (METRICS_PATH_LABEL, cfg.metrics_path.clone()),
        (SCHEME_LABEL, cfg.scheme.clone()),
    ];
    for (name, value) in defaults {
        if !labels.iter().any(|l| l.name == name && !l.value.is_empty()) {
            set_label(&mut labels, name, value);
        }
    }
    for (k, v) in &cfg.params {
        if let Some(first) = v.first() {
            set_label(&mut labels, &format!("{PARAM_LABEL_PREFIX}{k}"), first.clone());
        }
    }
    let pre = labels_from(labels);
    let Some(lset) = crate::relabel::process(&pre, &cfg.relabel_configs) else {
        return Ok((None, pre));
    };
    let mut addr = lset.get(ADDRESS_LABEL).unwrap_or("").to_string();
    if addr.is_empty() {
        return Err(TargetError::NoAddress);
    }
    let mut out = lset.clone().into_vec();
    // An address without a port gets the scheme's default port; one that stays invalid
    // with a port added is left alone.
    if split_host_port(&addr).is_none() && split_host_port(&format!("{addr}:1234")).is_some() {
        match lset.get(SCHEME_LABEL).unwrap_or("") {
            "http" | "" => addr.push_str(":80"),
            "https" => addr.push_str(":443"),
            _ => return Err(TargetError::InvalidScheme(cfg.scheme.clone())),
        }
        set_label(&mut out, ADDRESS_LABEL, addr.clone());
    }
    if addr.contains('/') {
        return Err(TargetError::InvalidHostname(addr));
    }
    let iv = lset.get(SCRAPE_INTERVAL_LABEL).unwrap_or("");
    let interval =
        parse_duration(iv).map_err(|e| TargetError::Interval(format!("error parsing scrape interval: {e}")))?;
    if interval == 0 {
        return Err(TargetError::Interval("scrape interval cannot be 0".into()));
    }
    let tv = lset.get(SCRAPE_TIMEOUT_LABEL).unwrap_or("");
    let timeout =
        parse_duration(tv).map_err(|e| TargetError::Interval(format!("error parsing scrape timeout: {e}")))?;
    if timeout == 0 {
        return Err(TargetError::Interval("scrape timeout cannot be 0".into()));
    }
    if timeout > interval {
        return Err(TargetError::Interval(format!(
            "scrape timeout cannot be greater than scrape interval ({tv:?} > {iv:?})"
        )));
    }
    out.retain(|l| !l.name.starts_with(META_LABEL_PREFIX));
    if lset.get("instance").is_none_or(str::is_empty) {
        set_label(&mut out, "instance", addr);
    }
    Ok((Some(labels_from(out)), pre))
}

fn set_label(labels: &mut Vec<Label>, name: &str, value: String) {
    match labels.iter_mut().find(|l| l.name == name) {
        Some(l) => l.value = value,
        None => labels.push(Label { name: name.to_string(), value }),
    }
}

/// Sorted, with empty values dropped; names are unique by construction.
fn labels_from(mut v: Vec<Label>) -> Labels {
    v.retain(|l| !l.value.is_empty());
    v.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    v.dedup_by(|a, b| a.name == b.name);
    Labels::from_sorted_unchecked(v)
}

/// One discovered target after population: active, or dropped by relabeling (kept for the
/// API with its discovered labels).
#[derive(Debug)]
pub enum PopulatedTarget {
    /// A target to scrape.
    Active(Target),
    /// Dropped by `relabel_configs`; the labels before relabeling.
    Dropped(Labels),
}

/// Prometheus's `TargetsFromGroup`: every target of `tg` populated with `cfg`; failures
/// (logged and counted by the caller) are returned beside the targets.
pub fn targets_from_group(tg: &TargetGroup, cfg: &ScrapeConfig) -> (Vec<PopulatedTarget>, Vec<String>) {
    let mut out = Vec::with_capacity(tg.targets.len());
    let mut failures = Vec::new();
    for (i, t) in tg.targets.iter().enumerate() {
        let mut v: Vec<Label> = t.iter().cloned().collect();
        for l in tg.labels.iter() {
            if t.get(&l.name).is_none() {
                v.push(l.clone());
            }
        }
        match populate_labels(labels_from(v), cfg) {
            Ok((Some(lbls), pre)) => out.push(PopulatedTarget::Active(Target::new(lbls, pre, &cfg.params))),
            Ok((None, pre)) => out.push(PopulatedTarget::Dropped(pre)),
            Err(e) => failures.push(format!("instance {i} in group {}: {e}", tg.source)),
        }
    }
    (out, failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ScrapeConfig {
        crate::scrape::tests::scrape_config("job1")
    }

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs).unwrap()
    }

    #[test]
    fn population_matches_prometheus() {
        // Expected values derived by hand from Prometheus 2.42's PopulateLabels and checked
        // against a running 2.42 (`/api/v1/targets` of a static config).
        let mut c = cfg();
        c.params.insert("foo".into(), vec!["bar".into(), "baz".into()]);
        let (lbls, pre) = populate_labels(l(&[("__address__", "127.0.0.1:3"), ("team", "a")]), &c).unwrap();
        assert_eq!(
            pre,
            l(&[
                ("__address__", "127.0.0.1:3"),
                ("__metrics_path__", "/metrics"),
                ("__param_foo", "bar"),
                ("__scheme__", "http"),
                ("__scrape_interval__", "1s"),
                ("__scrape_timeout__", "1s"),
                ("job", "job1"),
                ("team", "a"),
            ])
        );
        let t = Target::new(lbls.unwrap(), pre, &c.params);
        assert_eq!(t.labels(), &l(&[("instance", "127.0.0.1:3"), ("job", "job1"), ("team", "a")]));
        assert_eq!(t.url(), "http://127.0.0.1:3/metrics?foo=bar&foo=baz");
    }

    #[test]
    fn address_rules() {
        let c = cfg();
        let cases: &[(&str, Result<&str, TargetError>)] = &[
            ("host", Ok("host:80")),
            ("host:9", Ok("host:9")),
            ("[::1]:9", Ok("[::1]:9")),
            ("[::1]", Ok("[::1]:80")),
            // Too many colons with or without a port: left alone.
            ("::1", Ok("::1")),
            ("a/b", Err(TargetError::InvalidHostname("a/b:80".into()))),
        ];
        for (addr, want) in cases {
            let got = populate_labels(l(&[("__address__", addr)]), &c)
                .map(|(t, _)| t.unwrap().get("__address__").unwrap().to_string());
            assert_eq!(got.as_deref().map_err(Clone::clone), want.clone(), "{addr}");
        }
        let mut https = cfg();
        https.scheme = "https".into();
        let (t, _) = populate_labels(l(&[("__address__", "h")]), &https).unwrap();
        assert_eq!(t.unwrap().get("instance"), Some("h:443"));
        let (t, _) =
            populate_labels(l(&[("__address__", "h:1"), ("instance", "mine"), ("__meta_x", "y")]), &c).unwrap();
        let t = t.unwrap();
        assert_eq!((t.get("instance"), t.get("__meta_x")), (Some("mine"), None));
    }

    #[test]
    fn interval_labels_are_checked() {
        let c = cfg();
        let bad = [
            (("__scrape_interval__", "x"), "error parsing scrape interval"),
            (("__scrape_interval__", "0s"), "scrape interval cannot be 0"),
            (("__scrape_timeout__", "0s"), "scrape timeout cannot be 0"),
            (("__scrape_timeout__", "2s"), "scrape timeout cannot be greater than scrape interval (\"2s\" > \"1s\")"),
        ];
        for ((n, v), want) in bad {
            let e = populate_labels(l(&[("__address__", "a:1"), (n, v)]), &c).unwrap_err();
            assert!(e.to_string().starts_with(want), "{n}={v}: {e}");
        }
        let (t, _) = populate_labels(l(&[("__address__", "a:1"), ("__scrape_interval__", "2s")]), &c).unwrap();
        let t = Target::new(t.unwrap(), Labels::default(), &c.params);
        let (i, to, err) = t.interval_and_timeout(Duration::from_secs(9), Duration::from_secs(9));
        assert_eq!((i, to, err), (Duration::from_secs(2), Duration::from_secs(1), None));
    }

    #[test]
    fn group_labels_yield_to_target_labels() {
        let tg = TargetGroup {
            source: "0".into(),
            targets: vec![l(&[("__address__", "a:1"), ("x", "own")]), l(&[("__address__", "b:1")])],
            labels: l(&[("x", "group")]),
        };
        let (ts, fails) = targets_from_group(&tg, &cfg());
        assert!(fails.is_empty());
        let xs: Vec<_> = ts
            .iter()
            .map(|t| match t {
                PopulatedTarget::Active(t) => t.labels().get("x").unwrap().to_string(),
                PopulatedTarget::Dropped(_) => panic!("dropped"),
            })
            .collect();
        assert_eq!(xs, ["own", "group"]);
        let bad = TargetGroup { source: "s".into(), targets: vec![l(&[("x", "1")])], labels: Labels::default() };
        let (ts, fails) = targets_from_group(&bad, &cfg());
        assert!(ts.is_empty());
        assert_eq!(fails, ["instance 0 in group s: no address"]);
    }

    #[test]
    fn urls_escape_like_go() {
        let lbls = l(&[
            ("__address__", "h:1"),
            ("__metrics_path__", "/a b/c!"),
            ("__param_q", "x y&z"),
            ("__scheme__", "https"),
        ]);
        let mut params = BTreeMap::new();
        params.insert("a".to_string(), vec!["1".to_string(), "2".to_string()]);
        params.insert("q".to_string(), vec!["orig".to_string(), "second".to_string()]);
        // Go: url.URL{Scheme:"https", Host:"h:1", Path:"/a b/c!", RawQuery: values.Encode()}.
        assert_eq!(target_url(&lbls, &params), "https://h:1/a%20b/c%21?a=1&a=2&q=x+y%26z&q=second");
    }

    #[test]
    fn offsets_stay_within_the_interval() {
        let t = Target::new(l(&[("__address__", "a:1")]), Labels::default(), &BTreeMap::new());
        let iv = Duration::from_secs(10);
        for now in [0u128, 1, 9_999_999_999, 123_456_789_012_345] {
            let o = t.offset(iv, 7, now);
            assert!(o <= iv, "{o:?}");
            // The scrape lands on the same phase of the interval whatever the start time.
            let phase = (now + o.as_nanos()) % iv.as_nanos();
            assert_eq!(phase, u128::from(t.hash() ^ 7) % iv.as_nanos());
        }
    }
}
