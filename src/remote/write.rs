//! The remote-write receiver's semantics, independent of HTTP: decoded requests in, one
//! appender per request, a typed outcome out. The status codes follow Prometheus's
//! `storage/remote/write_handler.go`:
//!
//! - **Remote write 1.0** ([`write_v1()`]): the first sample refused as out of order, out of
//!   bounds (including more than 10 minutes in the future), too old or a duplicate rolls the
//!   whole request back and answers 400 with the storage error's text, as Prometheus does
//!   (its 1.0 path has no partial writes). A series with invalid labels (no or empty
//!   `__name__`, an empty or duplicate label name) is skipped and counted; Prometheus answers
//!   204 there and notes that the 1.0 spec wants a 400, so Cairn writes the rest and answers
//!   400 naming the series. Exemplars are stored when exemplar storage is enabled (an
//!   exemplar refused as out of order or invalid is skipped and logged, never failing the
//!   request, as Prometheus), native histograms are counted as unsupported, metadata is kept
//!   in the [`MetadataStore`].
//! - **Remote write 2.0** ([`write_v2()`]): partial writes. Invalid series and refused samples
//!   are skipped and listed; the rest is committed and the answer is 400 with the list, or 204
//!   when nothing was refused. The written counts go back in the
//!   `X-Prometheus-Remote-Write-*-Written` headers (exemplars: those accepted for storage).
//!   `created_timestamp` is accepted and ignored
//!   (Prometheus ingests it only behind a feature flag).
//! - Storage failures (the WAL) roll back and answer 500, which senders retry.
//!
//! [`MetadataStore`]: super::metadata::MetadataStore

use super::Remote;
use super::flat_v1::{FlatMetadata, FlatWrite};
use super::metadata::{MetricMetadata, MetricType};
use super::metrics::{Protocol, Reason};
use super::pb::prometheus as pb;
use super::pb::write_v2;
use crate::model::{Label, Labels, LabelsError, METRIC_NAME};
use crate::tsdb::{AppendError, Appender, Db, Exemplar, ExemplarError};
use std::fmt::Write as _;

/// Why a write was not (fully) accepted; each variant fixes the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The body or some of its data is invalid: 400, not retried (parts may be written).
    #[error("{0}")]
    BadRequest(String),
    /// The storage failed: 500, retried by the sender; nothing was written.
    #[error("{0}")]
    Storage(String),
}

impl WriteError {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            WriteError::BadRequest(_) => 400,
            WriteError::Storage(_) => 500,
        }
    }
}

/// What a request wrote (remote write 2.0 reports it in response headers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Float samples written.
    pub samples: u64,
    /// Native histogram samples written (always 0: not supported yet).
    pub histograms: u64,
    /// Exemplars written (accepted for storage; 0 with exemplar storage off).
    pub exemplars: u64,
}

/// Adds a series' exemplars through `app` (Prometheus's receiver: refusals are logged and
/// skipped, never failing the request). Returns how many were accepted; out-of-order ones
/// are added to `ooo`.
fn append_exemplars(
    app: &mut Appender,
    key: &mut SeriesKey<'_>,
    exemplars: impl IntoIterator<Item = (Vec<Label>, f64, i64)>,
    ooo: &mut u64,
) -> u64 {
    if !app.exemplars_enabled() {
        return 0;
    }
    let mut exemplars = exemplars.into_iter().peekable();
    if exemplars.peek().is_none() {
        return 0;
    }
    let labels = key.labels();
    let Some(series_ref) = app.series_ref(labels) else {
        tracing::debug!(series = %labels, "remote write: exemplars for an unknown series dropped");
        return 0;
    };
    let before = app.pending_exemplars();
    for (pairs, value, ts) in exemplars {
        let Ok(ex_labels) = Labels::new(pairs) else {
            tracing::debug!(series = %labels, "remote write: exemplar with invalid labels dropped");
            continue;
        };
        let ex = Exemplar { labels: ex_labels, value, ts, has_ts: true };
        match app.append_exemplar(series_ref, &ex) {
            Ok(_) => {}
            Err(ExemplarError::OutOfOrder) => *ooo += 1,
            Err(e) => {
                tracing::debug!(series = %labels, exemplar = ?ex, error = %e, "remote write: error while adding exemplar")
            }
        }
    }
    (app.pending_exemplars() - before) as u64
}

fn warn_ooo_exemplars(ooo: u64) {
    if ooo > 0 {
        tracing::warn!(num_dropped = ooo, "Error on ingesting out-of-order exemplars");
    }
}

/// How an append refusal counts and reads.
pub(crate) fn refusal(e: &AppendError) -> Option<Reason> {
    match e {
        AppendError::OutOfOrder => Some(Reason::OutOfOrder),
        AppendError::OutOfBounds => Some(Reason::OutOfBounds),
        AppendError::TooOld => Some(Reason::TooOld),
        AppendError::DuplicateTimestamp => Some(Reason::DuplicateTimestamp),
        AppendError::InvalidLabels(_) => Some(Reason::InvalidLabels),
        _ => None,
    }
}

/// An append refusal, or the future-timestamp check Prometheus's receiver adds.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Refused by the storage (or too far ahead, as out of bounds).
    Sample(Reason, String),
    /// Anything else: a storage failure.
    Internal(String),
}

/// A series' labels while its samples are appended: the pairs as the sender sent them when
/// they are already in canonical form (an existing series is then found without building or
/// copying anything), or a label set.
pub(crate) enum SeriesKey<'p> {
    /// Sorted by name, unique, names and values non-empty; built on first need.
    Pairs(&'p [(&'p str, &'p str)], Option<Labels>),
    /// A borrowed label set.
    Labels(&'p Labels),
    /// An owned label set.
    Owned(Labels),
}

impl SeriesKey<'_> {
    /// The label set (built from the pairs on first use).
    pub(crate) fn labels(&mut self) -> &Labels {
        match self {
            SeriesKey::Pairs(pairs, built) => built.get_or_insert_with(|| Labels::from_sorted_unchecked(owned(pairs))),
            SeriesKey::Labels(l) => l,
            SeriesKey::Owned(l) => l,
        }
    }

    /// The metric name.
    fn metric_name(&self) -> &str {
        match self {
            SeriesKey::Pairs(pairs, _) => pairs.iter().find(|p| p.0 == METRIC_NAME).map_or("", |p| p.1),
            SeriesKey::Labels(l) => l.metric_name().unwrap_or_default(),
            SeriesKey::Owned(l) => l.metric_name().unwrap_or_default(),
        }
    }

    /// Appends a sample to the series, creating it if needed.
    fn append(&mut self, app: &mut Appender, t: i64, v: f64) -> Result<u64, AppendError> {
        if let SeriesKey::Pairs(pairs, None) = self
            && let Some(r) = app.append_existing(pairs, t, v)
        {
            return r;
        }
        app.append(self.labels(), t, v)
    }
}

/// Appends one series' samples through `app`, caching the series reference. Calls `on_err`
/// for every refused sample; stops and returns the error when `on_err` says so.
pub(crate) fn append_series(
    app: &mut Appender,
    key: &mut SeriesKey<'_>,
    samples: impl IntoIterator<Item = (i64, f64)>,
    max_t: i64,
    mut on_err: impl FnMut(Refused) -> Result<(), Refused>,
) -> Result<u64, Refused> {
    let mut series_ref: Option<u64> = None;
    let mut written = 0u64;
    for (t, v) in samples {
        if t > max_t {
            on_err(Refused::Sample(Reason::OutOfBounds, "out of bounds: timestamp is too far in the future".into()))?;
            continue;
        }
        let r = match series_ref {
            Some(r) => match app.append_ref(r, t, v) {
                // The series went away under us (head truncation): look it up again.
                Err(AppendError::UnknownRef(_)) => key.append(app, t, v),
                other => other,
            },
            None => key.append(app, t, v),
        };
        match r {
            Ok(r) => {
                series_ref = Some(r);
                written += 1;
            }
            Err(e) => match refusal(&e) {
                Some(reason) => on_err(Refused::Sample(reason, e.to_string()))?,
                None => on_err(Refused::Internal(e.to_string()))?,
            },
        }
    }
    Ok(written)
}

/// Label pairs copied into owned labels (as they are: not sorted or checked).
fn owned(pairs: &[(&str, &str)]) -> Vec<Label> {
    pairs.iter().map(|&(n, v)| Label { name: n.to_string(), value: v.to_string() }).collect()
}

/// Renders possibly-invalid label pairs as Prometheus prints label sets.
fn fmt_pairs(pairs: &[(&str, &str)]) -> String {
    let mut s = String::from("{");
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{n}={v:?}");
    }
    s.push('}');
    s
}

/// Checks a series' label pairs as Prometheus's receiver does, or gives its message for
/// invalid ones. Pairs in canonical form (sorted, unique, non-empty: what senders send) are
/// taken as they are, without copying; others are sorted into a label set.
pub(crate) fn series_key<'p>(pairs: &'p [(&'p str, &'p str)]) -> Result<SeriesKey<'p>, String> {
    let has_name = pairs.iter().any(|&(n, v)| n == METRIC_NAME && !v.is_empty());
    if !has_name || pairs.iter().any(|(n, _)| n.is_empty()) {
        return Err(format!("invalid metric name or labels, got {}", fmt_pairs(pairs)));
    }
    if pairs.windows(2).all(|w| w[0].0 < w[1].0) && pairs.iter().all(|(_, v)| !v.is_empty()) {
        return Ok(SeriesKey::Pairs(pairs, None));
    }
    match Labels::new(owned(pairs)) {
        Ok(l) => Ok(SeriesKey::Owned(l)),
        Err(LabelsError::DuplicateName(d)) => {
            Err(format!("invalid labels for series, labels {}, duplicated label {d}", fmt_pairs(pairs)))
        }
        Err(_) => Err(format!("invalid metric name or labels, got {}", fmt_pairs(pairs))),
    }
}

/// Joins error messages as Go's `errors.Join` does (one per line), listing at most `max`.
pub(crate) fn join_errors(errs: &[String], max: usize) -> String {
    let mut out = errs.iter().take(max.max(1)).cloned().collect::<Vec<_>>().join("\n");
    if errs.len() > max.max(1) {
        let _ = write!(out, "\n(and {} more errors)", errs.len() - max.max(1));
    }
    out
}

fn v1_metadata(remote: &Remote, md: &FlatMetadata<'_>) {
    let entry =
        MetricMetadata { kind: MetricType::from_proto(md.kind), help: md.help.to_string(), unit: md.unit.to_string() };
    remote.metadata.update(md.name, entry);
}

/// Writes a remote write 1.0 request decoded by `prost` (see the module docs for the
/// semantics).
pub fn write_v1(db: &Db, remote: &Remote, req: pb::WriteRequest, now_ms: i64) -> Result<WriteStats, WriteError> {
    write_v1_flat(db, remote, &FlatWrite::from_request(&req), now_ms)
}

/// Writes a remote write 1.0 request (see the module docs for the semantics).
pub fn write_v1_flat(db: &Db, remote: &Remote, req: &FlatWrite<'_>, now_ms: i64) -> Result<WriteStats, WriteError> {
    let p = Protocol::V1;
    let m = &remote.metrics;
    let total = req.samples.len();
    m.received(p, total);
    m.metadata(p, req.metadata.len());
    for md in &req.metadata {
        v1_metadata(remote, md);
    }
    let max_t = now_ms.saturating_add(remote.opts.max_ahead_ms);
    let mut app = db.appender();
    let mut invalid = Vec::new();
    let mut invalid_samples = 0usize;
    let mut written = 0u64;
    let (mut exemplars_written, mut exemplars_ooo) = (0u64, 0u64);
    for ts in req.iter() {
        m.exemplars(p, ts.exemplars.len());
        m.histograms(p, ts.histograms);
        let mut key = match series_key(ts.pairs) {
            Ok(k) => k,
            Err(msg) => {
                invalid_samples += ts.samples.len();
                invalid.push(msg);
                continue;
            }
        };
        match append_series(&mut app, &mut key, ts.samples.iter().copied(), max_t, Err) {
            Ok(n) => {
                written += n;
                let exemplars = ts.exemplars.iter().map(|e| (owned(req.exemplar_labels(e)), e.value, e.timestamp));
                exemplars_written += append_exemplars(&mut app, &mut key, exemplars, &mut exemplars_ooo);
            }
            Err(refused) => {
                app.rollback();
                m.rejected(p, Reason::InvalidLabels, invalid_samples);
                return Err(match refused {
                    Refused::Sample(reason, msg) => {
                        m.rejected(p, reason, 1);
                        m.rejected(p, Reason::RolledBack, total.saturating_sub(invalid_samples + 1));
                        WriteError::BadRequest(msg)
                    }
                    Refused::Internal(msg) => {
                        m.rejected(p, Reason::RolledBack, total.saturating_sub(invalid_samples));
                        WriteError::Storage(msg)
                    }
                });
            }
        }
    }
    m.rejected(p, Reason::InvalidLabels, invalid_samples);
    if let Err(e) = app.commit() {
        m.rejected(p, Reason::RolledBack, written as usize);
        return Err(WriteError::Storage(e.to_string()));
    }
    m.written(p, written as usize);
    warn_ooo_exemplars(exemplars_ooo);
    if !invalid.is_empty() {
        return Err(WriteError::BadRequest(join_errors(&invalid, remote.opts.max_listed_errors)));
    }
    Ok(WriteStats { samples: written, exemplars: exemplars_written, ..WriteStats::default() })
}

/// The label pairs of a 2.0 series from its symbol references, into `out`.
fn pairs_v2<'s>(symbols: &'s [String], refs: &[u32], out: &mut Vec<(&'s str, &'s str)>) -> Result<(), String> {
    if !refs.len().is_multiple_of(2) {
        return Err(format!("invalid labels_refs: odd length {}", refs.len()));
    }
    let sym = |r: u32| {
        symbols.get(r as usize).map(String::as_str).ok_or_else(|| {
            format!("invalid labels_refs: symbol reference {r} out of range ({} symbols)", symbols.len())
        })
    };
    out.clear();
    for pair in refs.chunks_exact(2) {
        out.push((sym(pair[0])?, sym(pair[1])?));
    }
    Ok(())
}

/// An exemplar's label pairs from symbol references; `None` (the exemplar is dropped) when
/// they are malformed.
fn exemplar_labels_v2(symbols: &[String], refs: &[u32]) -> Option<Vec<Label>> {
    if !refs.len().is_multiple_of(2) {
        return None;
    }
    refs.chunks_exact(2)
        .map(|p| Some(Label { name: symbols.get(p[0] as usize)?.clone(), value: symbols.get(p[1] as usize)?.clone() }))
        .collect()
}

fn v2_metadata(remote: &Remote, symbols: &[String], name: &str, md: &write_v2::Metadata) -> Result<(), String> {
    let sym =
        |r: u32| symbols.get(r as usize).ok_or_else(|| format!("invalid metadata: symbol reference {r} out of range"));
    let (help, unit) = (sym(md.help_ref)?, sym(md.unit_ref)?);
    let kind = MetricType::from_proto(md.r#type);
    if kind == MetricType::Unknown && help.is_empty() && unit.is_empty() {
        return Ok(());
    }
    remote.metadata.update(name, MetricMetadata { kind, help: help.clone(), unit: unit.clone() });
    Ok(())
}

/// Writes a remote write 2.0 request (see the module docs for the semantics). The stats are
/// those of what was written, also when an error is returned.
pub fn write_v2(db: &Db, remote: &Remote, req: write_v2::Request, now_ms: i64) -> (WriteStats, Option<WriteError>) {
    let p = Protocol::V2;
    let m = &remote.metrics;
    let max_t = now_ms.saturating_add(remote.opts.max_ahead_ms);
    let mut app = db.appender();
    let mut bad: Vec<String> = Vec::new();
    let mut stats = WriteStats::default();
    let mut exemplars_ooo = 0u64;
    let mut pairs = Vec::new();
    for ts in &req.timeseries {
        m.received(p, ts.samples.len());
        m.exemplars(p, ts.exemplars.len());
        m.histograms(p, ts.histograms.len());
        let key = pairs_v2(&req.symbols, &ts.labels_refs, &mut pairs).and_then(|()| series_key(&pairs));
        let mut key = match key {
            Ok(k) => k,
            Err(msg) => {
                m.rejected(p, Reason::InvalidLabels, ts.samples.len());
                bad.push(msg);
                continue;
            }
        };
        if let Some(md) = &ts.metadata {
            m.metadata(p, 1);
            if let Err(msg) = v2_metadata(remote, &req.symbols, key.metric_name(), md) {
                bad.push(msg);
            }
        }
        let samples = ts.samples.iter().map(|s| (s.timestamp, s.value));
        let mut refused_msgs = Vec::new();
        let appended = append_series(&mut app, &mut key, samples, max_t, |refused| match refused {
            Refused::Sample(reason, msg) => {
                m.rejected(p, reason, 1);
                refused_msgs.push(msg);
                Ok(())
            }
            internal => Err(internal),
        });
        if !refused_msgs.is_empty() {
            let labels = key.labels();
            bad.extend(refused_msgs.into_iter().map(|msg| format!("{msg} for series {labels}")));
        }
        match appended {
            Ok(n) => {
                stats.samples += n;
                let exemplars = ts.exemplars.iter().filter_map(|e| {
                    let pairs = exemplar_labels_v2(&req.symbols, &e.labels_refs)?;
                    Some((pairs, e.value, e.timestamp))
                });
                stats.exemplars += append_exemplars(&mut app, &mut key, exemplars, &mut exemplars_ooo);
            }
            Err(refused) => {
                // Storage is not idempotent: a retryable failure must leave nothing behind.
                app.rollback();
                m.rejected(p, Reason::RolledBack, stats.samples as usize);
                let msg = match refused {
                    Refused::Sample(_, msg) | Refused::Internal(msg) => msg,
                };
                return (WriteStats::default(), Some(WriteError::Storage(msg)));
            }
        }
    }
    if let Err(e) = app.commit() {
        m.rejected(p, Reason::RolledBack, stats.samples as usize);
        return (WriteStats::default(), Some(WriteError::Storage(e.to_string())));
    }
    m.written(p, stats.samples as usize);
    warn_ooo_exemplars(exemplars_ooo);
    if bad.is_empty() {
        (stats, None)
    } else {
        (stats, Some(WriteError::BadRequest(join_errors(&bad, remote.opts.max_listed_errors))))
    }
}

#[cfg(test)]
mod tests;
