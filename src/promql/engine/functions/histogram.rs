//! Functions on classic histograms (series of cumulative `le` buckets): `histogram_quantile`,
//! `histogram_quantiles` and `histogram_fraction`. The functions that only read native
//! histograms (`histogram_count`, `histogram_sum`, `histogram_avg`, `histogram_stddev`,
//! `histogram_stdvar`) ignore float samples, so on our float-only data they return nothing.

use super::{Arg, FnCtx, FnError, annotate, metric_name, scalar_arg, string_arg, vector_arg};
use crate::model::{Label, Labels};
use crate::promql::engine::value::{AnnotationKind, Metric, Sample};
use crate::promql::printer::GoFloat;
use std::cmp::Ordering;
use std::sync::Arc;

/// The bucket label.
const LE: &str = "le";

/// One bucket: its upper bound and cumulative count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Bucket {
    pub upper: f64,
    pub count: f64,
}

/// `histogram_count`, `histogram_sum`, `histogram_avg`, `histogram_stddev`,
/// `histogram_stdvar`: only native histogram samples produce output; floats are skipped.
pub(super) fn native_only(_args: &[Arg<'_>], _ctx: &mut FnCtx<'_>, _out: &mut Vec<Sample>) -> Result<(), FnError> {
    Ok(())
}

/// The classic histograms of a vector: bucket samples grouped by their labels without `le`.
struct Groups {
    /// The output labels of each group (the labels without `le`).
    metrics: Vec<Metric>,
    /// The buckets of each group.
    buckets: Vec<Vec<Bucket>>,
}

/// Compares two label sets as if neither had an `le` label.
fn cmp_without_le(a: &Labels, b: &Labels) -> Ordering {
    let ia = a.iter().filter(|l| l.name != LE);
    let ib = b.iter().filter(|l| l.name != LE);
    ia.cmp(ib)
}

/// Parses an `le` value as Go's `strconv.ParseFloat` does for decimal input: digits with an
/// optional exponent, `Inf`/`Infinity`/`NaN` in any case, with an optional sign. (Go's hex
/// floats are not accepted.)
fn parse_le(s: &str) -> Option<f64> {
    s.parse::<f64>().ok()
}

/// Groups the bucket samples of `v`, warning (at argument `arg`) about samples whose `le` is
/// missing or not a number.
fn group(v: &[Sample], ctx: &mut FnCtx<'_>, arg: usize) -> Groups {
    let mut valid: Vec<(usize, f64)> = Vec::with_capacity(v.len());
    for (i, s) in v.iter().enumerate() {
        let le = s.metric.get(LE).unwrap_or("");
        match parse_le(le) {
            Some(upper) => valid.push((i, upper)),
            None => {
                let mut msg = format!("bucket label \"le\" is missing or has a malformed value of {le:?}");
                let name = metric_name(&s.metric);
                if !name.is_empty() {
                    msg.push_str(&format!(" for metric name {name:?}"));
                }
                annotate(ctx, AnnotationKind::Warning, &msg, arg);
            }
        }
    }
    valid.sort_by(|a, b| cmp_without_le(&v[a.0].metric, &v[b.0].metric));
    let mut groups = Groups { metrics: Vec::new(), buckets: Vec::new() };
    let mut prev: Option<usize> = None;
    for (i, upper) in valid {
        let same = prev.is_some_and(|p| cmp_without_le(&v[p].metric, &v[i].metric).is_eq());
        if !same {
            let labels: Vec<Label> = v[i].metric.iter().filter(|l| l.name != LE).cloned().collect();
            // Removing a label keeps the set sorted and unique.
            groups.metrics.push(Arc::new(Labels::from_sorted_unchecked(labels)));
            groups.buckets.push(Vec::new());
        }
        if let Some(b) = groups.buckets.last_mut() {
            b.push(Bucket { upper, count: v[i].f });
        }
        prev = Some(i);
    }
    groups
}

/// Appends the "quantile value should be between 0 and 1" warning for a bad `q`.
fn check_quantile(q: f64, ctx: &mut FnCtx<'_>, arg: usize) {
    if q.is_nan() || !(0.0..=1.0).contains(&q) {
        let msg = format!("quantile value should be between 0 and 1, got {}", GoFloat(q));
        annotate(ctx, AnnotationKind::Warning, &msg, arg);
    }
}

/// The forced-monotonicity info for the histogram `metric`, at argument `arg`.
fn monotonicity_info(metric: &Metric, ctx: &mut FnCtx<'_>, arg: usize) {
    let mut msg = String::from(
        "input to histogram_quantile needed to be fixed for monotonicity (see \
         https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)",
    );
    let name = metric_name(metric);
    if !name.is_empty() {
        msg.push_str(&format!(" for metric name {name:?}"));
    }
    annotate(ctx, AnnotationKind::Info, &msg, arg);
}

/// `histogram_quantile(q scalar, buckets vector)`.
pub(super) fn histogram_quantile(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    let q = scalar_arg(args, 0)?;
    let v = vector_arg(args, 1)?;
    check_quantile(q, ctx, 0);
    let mut g = group(v, ctx, 1);
    for (metric, buckets) in g.metrics.iter().zip(g.buckets.iter_mut()) {
        let (value, forced) = bucket_quantile(q, buckets);
        if forced {
            monotonicity_info(metric, ctx, 1);
        }
        out.push(Sample { metric: metric.clone(), t: ctx.ts, f: value, drop_name: true });
    }
    Ok(())
}

/// `histogram_quantiles(buckets vector, label string, q scalar...)`: one series per quantile
/// and histogram, labelled `label="<q>"`.
pub(super) fn histogram_quantiles(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    let v = vector_arg(args, 0)?;
    let label = string_arg(args, 1)?;
    let mut qs = Vec::with_capacity(args.len().saturating_sub(2));
    for i in 2..args.len() {
        let q = scalar_arg(args, i)?;
        check_quantile(q, ctx, i);
        qs.push(q);
    }
    let mut g = group(v, ctx, 0);
    for q in qs {
        let q_str = open_metrics_float(q);
        for (metric, buckets) in g.metrics.iter().zip(g.buckets.iter_mut()) {
            let (value, forced) = bucket_quantile(q, buckets);
            if forced {
                monotonicity_info(metric, ctx, 0);
            }
            let labels = with_label(metric, label, &q_str);
            out.push(Sample { metric: Arc::new(labels), t: ctx.ts, f: value, drop_name: true });
        }
    }
    Ok(())
}

/// `labels` plus `name="value"` (replacing any value it had).
fn with_label(labels: &Labels, name: &str, value: &str) -> Labels {
    let mut v: Vec<Label> = labels.iter().filter(|l| l.name != name).cloned().collect();
    let at = v.partition_point(|l| l.name.as_str() < name);
    v.insert(at, Label::new(name, value));
    Labels::from_sorted_unchecked(v)
}

/// A float as Prometheus' `FormatOpenMetricsFloat`: Go's shortest `%g` form, with `.0`
/// appended to integers, and `NaN`, `+Inf`, `-Inf`.
fn open_metrics_float(f: f64) -> String {
    let s = GoFloat(f).to_string();
    if f.is_finite() && !s.contains(['e', '.']) { s + ".0" } else { s }
}

/// `histogram_fraction(lower scalar, upper scalar, buckets vector)`: the estimated fraction of
/// observations between `lower` and `upper`.
pub(super) fn histogram_fraction(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    let lower = scalar_arg(args, 0)?;
    let upper = scalar_arg(args, 1)?;
    let v = vector_arg(args, 2)?;
    let mut g = group(v, ctx, 2);
    for (metric, buckets) in g.metrics.iter().zip(g.buckets.iter_mut()) {
        let value = bucket_fraction(lower, upper, buckets);
        out.push(Sample { metric: metric.clone(), t: ctx.ts, f: value, drop_name: true });
    }
    Ok(())
}

/// Sorts buckets by upper bound and merges buckets with equal bounds.
fn sort_and_coalesce(buckets: &mut Vec<Bucket>) {
    buckets.sort_by(|a, b| a.upper.total_cmp(&b.upper));
    buckets.dedup_by(|next, kept| {
        if next.upper == kept.upper {
            kept.count += next.count;
            true
        } else {
            false
        }
    });
}

/// Go's `almost.Equal`: equal within a relative `epsilon` (NaN equals NaN).
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if (a.is_nan() && b.is_nan()) || a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// Makes the cumulative counts non-decreasing: differences within a relative 1e-12 are
/// absorbed silently, real decreases are raised to the previous count. Returns whether a real
/// decrease had to be fixed.
fn ensure_monotonic(buckets: &mut [Bucket]) -> bool {
    let mut forced = false;
    let Some(first) = buckets.first() else { return false };
    let mut prev = first.count;
    for b in buckets.iter_mut().skip(1) {
        let cur = b.count;
        if cur == prev {
            continue;
        }
        if almost_equal(prev, cur, 1e-12) {
            b.count = prev;
            continue;
        }
        if cur < prev {
            b.count = prev;
            forced = true;
            continue;
        }
        prev = cur;
    }
    forced
}

/// The `q`-quantile of a classic histogram (upstream's `BucketQuantile`), and whether the
/// counts had to be fixed for monotonicity. Linear interpolation inside the bucket; 0 is the
/// lower bound of a first bucket with a positive bound; the quantile in the `+Inf` bucket is
/// the second-highest bound. NaN without a `+Inf` bucket, with fewer than two buckets or no
/// observations; ±Inf for `q` outside [0, 1].
pub(super) fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    sort_and_coalesce(buckets);
    if buckets.last().is_none_or(|b| b.upper != f64::INFINITY) {
        return (f64::NAN, false);
    }
    let forced = ensure_monotonic(buckets);
    let n = buckets.len();
    if n < 2 {
        return (f64::NAN, forced);
    }
    let observations = buckets[n - 1].count;
    if observations == 0.0 {
        return (f64::NAN, forced);
    }
    let rank = q * observations;
    let b = buckets[..n - 1].partition_point(|b| b.count < rank);
    if b == n - 1 {
        return (buckets[n - 2].upper, forced);
    }
    if b == 0 && buckets[0].upper <= 0.0 {
        return (buckets[0].upper, forced);
    }
    let (mut start, end, mut count, mut rank) = (0.0, buckets[b].upper, buckets[b].count, rank);
    if b > 0 {
        start = buckets[b - 1].upper;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    (start + (end - start) * (rank / count), forced)
}

/// The fraction of observations in `(lower, upper]` of a classic histogram (upstream's
/// `BucketFraction`), interpolating linearly inside buckets; the `+Inf` bucket and a first
/// bucket reaching down to -Inf contribute nothing by interpolation.
pub(super) fn bucket_fraction(lower: f64, upper: f64, buckets: &mut Vec<Bucket>) -> f64 {
    sort_and_coalesce(buckets);
    let Some(last) = buckets.last() else { return f64::NAN };
    if last.upper != f64::INFINITY {
        return f64::NAN;
    }
    let count = last.count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let mut lower_bound = if buckets[0].upper <= 0.0 { f64::NEG_INFINITY } else { 0.0 };
    for (i, b) in buckets.iter().enumerate() {
        if i > 0 {
            lower_bound = buckets[i - 1].upper;
        }
        let interpolate = |v: f64| {
            if lower_bound == f64::NEG_INFINITY {
                b.count
            } else {
                rank + (b.count - rank) * (v - lower_bound) / (b.upper - lower_bound)
            }
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && b.upper > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && b.upper > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = b.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

#[cfg(test)]
#[path = "histogram_tests.rs"]
mod tests;
