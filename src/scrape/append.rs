//! One scrape's page turned into samples: parse, label, relabel, check limits, append, mark
//! vanished series stale, report the synthetic series, commit. No HTTP here: the scrape loop
//! fetches the page and calls [`PageAppender::scrape_page`], and so does the benchmark.
//!
//! The sequence follows Prometheus 2.42's `scrapeAndReport`:
//! - a failed scrape is an empty page: every series of the previous scrape gets a stale marker;
//! - a page that fails while appending (parse error, sample limit, label limits) is rolled
//!   back and then handled as an empty page;
//! - `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
//!   `scrape_samples_post_metric_relabeling` and `scrape_series_added` are appended last,
//!   with the target's labels, and everything is committed at once.

use super::cache::{REPORT_NAMES, ScrapeCache, Seen};
use super::exposition::{Entry, Format, MetricType, Parser};
use super::metrics::ScrapeMetrics;
use crate::config::{ScrapeConfig, ScrapeLimits};
use crate::model::{Label, Labels, METRIC_NAME, is_stale_nan, stale_nan};
use crate::relabel::RelabelConfig;
use crate::tsdb::{AppendError, Appender, Exemplar, ExemplarError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How far ahead of the clock a sample's timestamp may be (Prometheus's `maxAheadTime`).
const MAX_AHEAD_MS: i64 = 10 * 60 * 1000;

/// Everything about a target that decides how its samples are labelled and limited.
#[derive(Clone, Debug)]
pub struct AppendOptions {
    /// The target's public labels (`job`, `instance`, ...).
    pub target_labels: Labels,
    /// `honor_labels`.
    pub honor_labels: bool,
    /// `honor_timestamps`.
    pub honor_timestamps: bool,
    /// `track_timestamps_staleness`.
    pub track_timestamps_staleness: bool,
    /// `sample_limit`, `label_limit`, `label_name_length_limit`, `label_value_length_limit`
    /// (0 = none).
    pub limits: ScrapeLimits,
    /// `metric_relabel_configs`.
    pub metric_relabel_configs: Vec<RelabelConfig>,
}

impl AppendOptions {
    /// The options of a target with public labels `target_labels` in pool `cfg`.
    pub fn new(cfg: &ScrapeConfig, target_labels: Labels) -> AppendOptions {
        AppendOptions {
            target_labels,
            honor_labels: cfg.honor_labels,
            honor_timestamps: cfg.honor_timestamps,
            track_timestamps_staleness: cfg.track_timestamps_staleness,
            limits: cfg.limits,
            metric_relabel_configs: cfg.metric_relabel_configs.clone(),
        }
    }
}

/// Sample counts of one scrape, as the synthetic series report them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Samples on the page (`scrape_samples_scraped`).
    pub total: u64,
    /// Samples left after metric relabeling (`scrape_samples_post_metric_relabeling`).
    pub added: u64,
    /// Samples of series new to the cache (`scrape_series_added`).
    pub series_added: u64,
}

/// What one scrape came to.
#[derive(Clone, Debug, PartialEq)]
pub struct ScrapeOutcome {
    /// Why the scrape failed (`up` is 0), if it did.
    pub error: Option<String>,
    /// Counts reported in the synthetic series.
    pub counts: Counts,
    /// The reported `scrape_duration_seconds`.
    pub duration: Duration,
}

/// A page as fetched, or why fetching it failed.
#[derive(Clone, Copy, Debug)]
pub enum Page<'a> {
    /// The body and its `Content-Type`.
    Body(&'a [u8], Option<&'a str>),
    /// The scrape failed before there was a page (the error text).
    Failed(&'a str),
}

/// Turns a target's pages into samples; owns the target's [`ScrapeCache`].
pub struct PageAppender {
    cache: ScrapeCache,
    opts: Arc<AppendOptions>,
    metrics: Arc<ScrapeMetrics>,
    /// Scratch space for label building on cache misses.
    scratch: Vec<Label>,
}

/// Why appending a page failed (the whole scrape then fails).
#[derive(Debug)]
struct AppendFailure(String);

impl PageAppender {
    /// A page appender with a fresh cache.
    pub fn new(opts: Arc<AppendOptions>, metrics: Arc<ScrapeMetrics>) -> PageAppender {
        PageAppender::with_cache(ScrapeCache::new(), opts, metrics)
    }

    /// A page appender reusing `cache` (a reload whose changes do not affect labels).
    pub fn with_cache(cache: ScrapeCache, opts: Arc<AppendOptions>, metrics: Arc<ScrapeMetrics>) -> PageAppender {
        PageAppender { cache, opts, metrics, scratch: Vec::new() }
    }

    /// The cache (to hand over to the next loop of the same target).
    pub fn into_cache(self) -> ScrapeCache {
        self.cache
    }

    /// The cache.
    pub fn cache(&self) -> &ScrapeCache {
        &self.cache
    }

    /// Appends one scrape at `ts_ms` and commits: the page's samples (or stale markers for
    /// every series of the last scrape when the page failed), then the synthetic series.
    /// `forced` fails the scrape without looking at the page (target limit exceeded, bad
    /// interval label). `start` is when the scrape began, for `scrape_duration_seconds`.
    pub fn scrape_page(
        &mut self,
        app: &mut Appender,
        page: Page<'_>,
        forced: Option<&str>,
        ts_ms: i64,
        start: Instant,
    ) -> ScrapeOutcome {
        let mut err: Option<String> = None;
        let mut counts = Counts::default();
        if let Some(f) = forced {
            err = Some(f.to_string());
            self.append_or_reset(app, b"", None, ts_ms);
        } else {
            let (body, ct) = match page {
                Page::Body(b, ct) => (b, ct),
                Page::Failed(e) => {
                    err = Some(e.to_string());
                    (&b""[..], None)
                }
            };
            let (c, res) = self.append(app, body, ct, ts_ms);
            counts = c;
            if let Err(AppendFailure(e)) = res {
                app.rollback();
                tracing::debug!(target = %self.opts.target_labels, error = %e, "append failed");
                self.append_or_reset(app, b"", None, ts_ms);
                if err.is_none() {
                    err = Some(e);
                }
            }
        }
        let duration = start.elapsed();
        let health = if err.is_none() { 1.0 } else { 0.0 };
        let values =
            [health, duration.as_secs_f64(), counts.total as f64, counts.added as f64, counts.series_added as f64];
        if let Err(e) = self.report(app, ts_ms, values) {
            tracing::warn!(target = %self.opts.target_labels, error = %e, "appending scrape report failed");
        }
        if let Err(e) = app.commit() {
            tracing::error!(target = %self.opts.target_labels, error = %e, "scrape commit failed");
        }
        ScrapeOutcome { error: err, counts, duration }
    }

    /// Writes stale markers for every series of the last scrape and for the synthetic series
    /// at `ts_ms`, then commits: the target went away.
    pub fn end_of_run(&mut self, app: &mut Appender, ts_ms: i64) {
        self.append_or_reset(app, b"", None, ts_ms);
        let stale = stale_nan();
        if let Err(e) = self.report(app, ts_ms, [stale; 5]) {
            tracing::warn!(target = %self.opts.target_labels, error = %e, "stale report failed");
        }
        if let Err(e) = app.commit() {
            tracing::warn!(target = %self.opts.target_labels, error = %e, "stale commit failed");
        }
    }

    /// Appends an (empty) page; on failure rolls back so the report still goes in.
    fn append_or_reset(&mut self, app: &mut Appender, body: &[u8], ct: Option<&str>, ts_ms: i64) {
        if let (_, Err(AppendFailure(e))) = self.append(app, body, ct, ts_ms) {
            app.rollback();
            tracing::warn!(target = %self.opts.target_labels, error = %e, "append failed");
        }
    }

    /// Prometheus's `scrapeLoop.append`: counts are valid even on failure.
    fn append(
        &mut self,
        app: &mut Appender,
        body: &[u8],
        ct: Option<&str>,
        ts_ms: i64,
    ) -> (Counts, Result<(), AppendFailure>) {
        let mut counts = Counts::default();
        let max_t = super::now_ms().saturating_add(MAX_AHEAD_MS);
        let sample_limit = self.opts.limits.sample_limit;
        let mut appended_non_stale = 0u64;
        let mut sample_limit_hit = false;
        let (mut ooo, mut dup, mut oob, mut exemplar_ooo) = (0u64, 0u64, 0u64, 0u64);
        let mut parser = Parser::new(body, Format::from_content_type(ct));
        let mut res: Result<(), AppendFailure> = Ok(());
        loop {
            let entry = match parser.next() {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(e) => {
                    res = Err(AppendFailure(e.to_string()));
                    break;
                }
            };
            let (met, parsed_ts, value) = match entry {
                Entry::Series { series, timestamp_ms, value } => (series, timestamp_ms, value),
                Entry::Type { metric, kind } => {
                    self.cache.set_meta(metric, Some(type_name(kind)), None, None);
                    continue;
                }
                Entry::Help { metric, text } => {
                    self.cache.set_meta(metric, None, Some(&text), None);
                    continue;
                }
                Entry::Unit { metric, unit } => {
                    self.cache.set_meta(metric, None, None, Some(unit));
                    continue;
                }
                Entry::Comment => continue,
            };
            counts.total += 1;
            let parsed_ts = parsed_ts.filter(|_| self.opts.honor_timestamps);
            let t = parsed_ts.unwrap_or(ts_ms);
            if self.cache.is_dropped(met) {
                continue;
            }
            // A cache hit: the reference and staleness key of a known series. Its labels are
            // only built again if storage no longer knows the reference.
            let hit = self.cache.get(met).map(|e| (e.series_ref, e.hash));
            let (series_ref, hash, labels, is_new) = match hit {
                Some((r, h)) => (Some(r), h, None, false),
                None => match self.series_labels(&parser) {
                    Ok(Some(lset)) => (None, lset.stable_hash(), Some(Arc::new(lset)), true),
                    Ok(None) => {
                        self.cache.add_dropped(met);
                        continue;
                    }
                    Err(e) => {
                        res = Err(e);
                        break;
                    }
                },
            };
            // The sample limit counts samples left after relabeling; over it, parsing goes on
            // so the reported totals are right, but nothing more is appended.
            let mut added = false;
            let track = parsed_ts.is_none() || self.opts.track_timestamps_staleness;
            if !is_stale_nan(value) {
                appended_non_stale += 1;
            }
            if sample_limit > 0 && appended_non_stale > sample_limit && !is_stale_nan(value) {
                sample_limit_hit = true;
            } else if t > max_t {
                oob += 1;
                self.metrics.sample_out_of_bounds.inc();
            } else {
                let r = match (series_ref, &labels) {
                    (Some(r), _) => match app.append_ref(r, t, value) {
                        Err(AppendError::UnknownRef(r)) => match self.series_labels(&parser) {
                            Ok(Some(lset)) => app.append(&lset, t, value),
                            // Same options, same page line: cannot change; nothing to append.
                            Ok(None) => Err(AppendError::UnknownRef(r)),
                            Err(e) => {
                                res = Err(e);
                                break;
                            }
                        },
                        other => other,
                    },
                    (None, Some(lset)) => app.append(lset, t, value),
                    (None, None) => continue,
                };
                // The series an exemplar on this line attaches to: the sample's, also when the
                // sample itself was refused (as Prometheus, which looks it up by labels then).
                let mut exemplar_ref = series_ref;
                match r {
                    Ok(new_ref) => {
                        added = true;
                        exemplar_ref = Some(new_ref);
                        if track {
                            self.cache.track_staleness(hash, new_ref, None);
                        }
                        if is_new || Some(new_ref) != series_ref {
                            self.cache.add(met, new_ref, hash);
                        }
                    }
                    Err(AppendError::OutOfOrder) => {
                        ooo += 1;
                        self.metrics.sample_out_of_order.inc();
                    }
                    Err(AppendError::DuplicateTimestamp) => {
                        dup += 1;
                        self.metrics.sample_duplicate.inc();
                    }
                    Err(AppendError::OutOfBounds | AppendError::TooOld) => {
                        oob += 1;
                        self.metrics.sample_out_of_bounds.inc();
                    }
                    Err(e) => {
                        res = Err(AppendFailure(e.to_string()));
                        break;
                    }
                }
                if let Some(r) = exemplar_ref
                    && app.exemplars_enabled()
                {
                    self.append_exemplar(app, &parser, r, t, &mut exemplar_ooo);
                }
            }
            // As Prometheus, a new series is tracked for staleness even when its sample was
            // refused (it has no reference yet: the marker then goes in by labels).
            if is_new && !added && track {
                self.cache.track_staleness(hash, 0, labels);
            }
            if is_new && added && !sample_limit_hit {
                counts.series_added += 1;
            }
            counts.added += 1;
        }
        if res.is_ok() && sample_limit_hit {
            res = Err(AppendFailure("sample limit exceeded".into()));
        }
        if sample_limit_hit {
            self.metrics.exceeded_sample_limit.inc();
        }
        if ooo > 0 {
            tracing::warn!(target = %self.opts.target_labels, num_dropped = ooo, "error on ingesting out-of-order samples");
        }
        if dup > 0 {
            tracing::warn!(target = %self.opts.target_labels, num_dropped = dup, "error on ingesting samples with different value but same timestamp");
        }
        if oob > 0 {
            tracing::warn!(target = %self.opts.target_labels, num_dropped = oob, "error on ingesting samples that are too old or are too far into the future");
        }
        if exemplar_ooo > 0 {
            tracing::warn!(target = %self.opts.target_labels, num_dropped = exemplar_ooo, "error on ingesting out-of-order exemplars");
        }
        if res.is_ok() {
            res = self.append_stale_markers(app, ts_ms);
        }
        if res.is_ok() && self.cache.iter_done(!body.is_empty()) {
            self.metrics.cache_flush_forced.inc();
        }
        (counts, res)
    }

    /// Appends the exemplar of the line the parser is on, if it has one, to series `r`; an
    /// exemplar without a timestamp gets the sample's time `t`. Refusals never fail the
    /// scrape (as Prometheus 2.42): out-of-order ones are counted, others logged.
    fn append_exemplar(&self, app: &mut Appender, parser: &Parser<'_>, r: u64, t: i64, ooo: &mut u64) {
        let Some(e) = parser.exemplar() else { return };
        let ex = Exemplar {
            labels: e.labels,
            value: e.value,
            ts: e.timestamp_ms.unwrap_or(t),
            has_ts: e.timestamp_ms.is_some(),
        };
        match app.append_exemplar(r, &ex) {
            Ok(_) => {}
            Err(ExemplarError::OutOfOrder) => {
                *ooo += 1;
                self.metrics.exemplar_out_of_order.inc();
                tracing::debug!(target = %self.opts.target_labels, exemplar = ?ex, "out of order exemplar");
            }
            Err(err) => {
                tracing::debug!(target = %self.opts.target_labels, exemplar = ?ex, error = %err, "error while adding exemplar");
            }
        }
    }

    /// Stale markers at `ts_ms` for the series of the last scrape missing from this one.
    fn append_stale_markers(&mut self, app: &mut Appender, ts_ms: i64) -> Result<(), AppendFailure> {
        let stale = stale_nan();
        for (h, Seen { series_ref, labels }) in &self.cache.prev {
            if self.cache.cur.contains_key(h) {
                continue;
            }
            let r = match (app.append_ref(*series_ref, ts_ms, stale), labels) {
                (Err(AppendError::UnknownRef(_)), Some(labels)) => app.append(labels, ts_ms, stale),
                (r, _) => r,
            };
            match r {
                // Expected when a target went away and came back with a new loop.
                Ok(_) | Err(AppendError::OutOfOrder | AppendError::DuplicateTimestamp) => {}
                // Storage dropped the series (nothing of it is left to mark stale).
                Err(AppendError::UnknownRef(_)) => {}
                Err(e) => return Err(AppendFailure(e.to_string())),
            }
        }
        Ok(())
    }

    /// Appends the synthetic series with `values` in [`REPORT_NAMES`] order.
    fn report(&mut self, app: &mut Appender, ts_ms: i64, values: [f64; 5]) -> Result<(), AppendError> {
        for (i, v) in values.into_iter().enumerate() {
            let cached = self.cache.report[i].clone();
            let (r, labels) = match cached {
                Some((series_ref, labels)) => match app.append_ref(series_ref, ts_ms, v) {
                    Err(AppendError::UnknownRef(_)) => (app.append(&labels, ts_ms, v), labels),
                    other => (other, labels),
                },
                None => {
                    let labels = Arc::new(report_labels(REPORT_NAMES[i], &self.opts.target_labels));
                    (app.append(&labels, ts_ms, v), labels)
                }
            };
            match r {
                Ok(series_ref) => self.cache.report[i] = Some((series_ref, labels)),
                Err(AppendError::OutOfOrder | AppendError::DuplicateTimestamp) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The final labels of the series on the parser's current line (scraped labels, target
    /// labels, metric relabeling), checked against the label rules and limits; `None` when
    /// relabeling dropped it.
    fn series_labels(&mut self, parser: &Parser<'_>) -> Result<Option<Labels>, AppendFailure> {
        let scraped = parser.labels().map_err(|e| AppendFailure(e.to_string()))?;
        let Some(lset) = self.mutate_sample_labels(scraped) else {
            return Ok(None);
        };
        check_labels(&lset).map_err(AppendFailure)?;
        if let Err(e) = verify_label_limits(&lset, &self.opts.limits) {
            self.metrics.exceeded_label_limits.inc();
            return Err(AppendFailure(e));
        }
        Ok(Some(lset))
    }

    /// Prometheus's `mutateSampleLabels`: target labels joined to the scraped ones
    /// (conflicts renamed `exported_<name>`, or the scraped value kept with
    /// `honor_labels`), then `metric_relabel_configs`. `None` when relabeling dropped it.
    fn mutate_sample_labels(&mut self, scraped: Labels) -> Option<Labels> {
        let target = &self.opts.target_labels;
        let mut v = scraped.into_vec();
        if self.opts.honor_labels {
            for l in target.iter() {
                if !v.iter().any(|s| s.name == l.name) {
                    v.push(l.clone());
                }
            }
        } else {
            // Scraped values of labels the target also has, renamed below.
            self.scratch.clear();
            for l in target.iter() {
                if let Some(i) = v.iter().position(|s| s.name == l.name) {
                    let s = v.swap_remove(i);
                    if !s.value.is_empty() {
                        self.scratch.push(s);
                    }
                }
                v.push(l.clone());
            }
            if !self.scratch.is_empty() {
                // Shorter names first; each gets `exported_` prefixes until the name is free
                // among the scraped, target and already renamed labels.
                self.scratch.sort_by_key(|l| l.name.len());
                let mut renamed: Vec<Label> = Vec::with_capacity(self.scratch.len());
                for c in self.scratch.drain(..) {
                    let mut name = c.name.clone();
                    loop {
                        name = format!("exported_{name}");
                        let taken = v.iter().any(|l| l.name == name) || renamed.iter().any(|l| l.name == name);
                        if !taken {
                            break;
                        }
                    }
                    renamed.push(Label { name, value: c.value });
                }
                v.extend(renamed);
            }
        }
        let lset = Labels::new(v).ok()?;
        if self.opts.metric_relabel_configs.is_empty() {
            return Some(lset);
        }
        crate::relabel::process(&lset, &self.opts.metric_relabel_configs).filter(|l| !l.is_empty())
    }
}

/// The labels of a synthetic series: the target's labels and `__name__`.
fn report_labels(name: &str, target: &Labels) -> Labels {
    let mut v: Vec<Label> = target.iter().cloned().collect();
    v.push(Label::new(METRIC_NAME, name));
    Labels::new(v).unwrap_or_default()
}

/// The API's spelling of a metric type.
pub fn type_name(t: MetricType) -> &'static str {
    match t {
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

fn is_metric_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .enumerate()
            .all(|(i, &c)| c.is_ascii_alphabetic() || c == b'_' || c == b':' || (i > 0 && c.is_ascii_digit()))
}

fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter().enumerate().all(|(i, &c)| c.is_ascii_alphabetic() || c == b'_' || (i > 0 && c.is_ascii_digit()))
}

/// The metric name is present and every name is valid (Prometheus's `IsValid` with the
/// legacy name rules of 2.x).
fn check_labels(l: &Labels) -> Result<(), String> {
    match l.get(METRIC_NAME) {
        None => Err("missing metric name (__name__ label)".into()),
        Some(n) if !is_metric_name(n) => Err(format!("invalid metric name or label names: {l}")),
        Some(_) if l.iter().any(|x| x.name != METRIC_NAME && !is_label_name(&x.name)) => {
            Err(format!("invalid metric name or label names: {l}"))
        }
        Some(_) => Ok(()),
    }
}

/// At most `n` characters of `s` (Go's `%.50s`).
fn trunc(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Prometheus's `verifyLabelLimits`, with its messages.
fn verify_label_limits(l: &Labels, limits: &ScrapeLimits) -> Result<(), String> {
    let met = trunc(l.get(METRIC_NAME).unwrap_or(""), 50);
    if limits.label_limit > 0 && l.len() as u64 > limits.label_limit {
        return Err(format!(
            "label_limit exceeded (metric: {met}, number of labels: {}, limit: {})",
            l.len(),
            limits.label_limit
        ));
    }
    for x in l.iter() {
        if limits.label_name_length_limit > 0 && x.name.len() as u64 > limits.label_name_length_limit {
            return Err(format!(
                "label_name_length_limit exceeded (metric: {met}, label name: {}, length: {}, limit: {})",
                trunc(&x.name, 50),
                x.name.len(),
                limits.label_name_length_limit
            ));
        }
        if limits.label_value_length_limit > 0 && x.value.len() as u64 > limits.label_value_length_limit {
            return Err(format!(
                "label_value_length_limit exceeded (metric: {met}, label name: {}, value: {:?}, length: {}, limit: {})",
                trunc(&x.name, 50),
                trunc(&x.value, 50),
                x.value.len(),
                limits.label_value_length_limit
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "append_tests.rs"]
mod tests;
