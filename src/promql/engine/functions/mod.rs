//! The function library: every PromQL function on floats, evaluated one step at a time.
//!
//! The evaluator calls [`lookup`]`(name)` once per call node, then the returned [`FnImpl`]
//! once per evaluation step with the arguments evaluated at that step.
//!
//! The library is split by family: [`rate`] (counters and gauges over a window), [`over_time`]
//! (`<agg>_over_time`), [`math`] (element-wise arithmetic), [`time`] (calendar functions),
//! [`labels`] (`label_replace`, `label_join`, sorting, `absent`), [`histogram`]
//! (`histogram_quantile` and friends on classic buckets) and [`misc`].
//!
//! Name dropping follows Prometheus 3's delayed removal: functions never rewrite `__name__`,
//! they set [`Sample::drop_name`] where upstream sets `DropName`.

use super::value::{AnnotationKind, Annotations, Metric, Sample};
use crate::promql::ast::{Expr, PosRange};

mod histogram;
mod labels;
mod math;
mod misc;
mod over_time;
mod rate;
mod time;

/// One argument of a function call at one evaluation step.
#[derive(Clone, Copy, Debug)]
pub enum Arg<'a> {
    /// A scalar argument's value at this step.
    Scalar(f64),
    /// A string argument.
    String(&'a str),
    /// An instant vector argument at this step.
    Vector(&'a [Sample]),
    /// A range vector argument: one window per series.
    Matrix(&'a [Window<'a>]),
}

/// The samples of one series inside the window `(ts - range, ts]` of a range argument.
#[derive(Clone, Copy, Debug)]
pub struct Window<'a> {
    /// The series.
    pub metric: &'a crate::promql::engine::value::Metric,
    /// Samples in the window, in time order (stale markers already removed).
    pub floats: &'a [(i64, f64)],
    /// For `anchored`/`smoothed` selectors: the last sample before the window start, if any.
    pub before: Option<(i64, f64)>,
    /// For `smoothed` selectors: the first sample after the window end, if any.
    pub after: Option<(i64, f64)>,
    /// The series' metric name is already marked for removal (e.g. a subquery over a
    /// name-dropping function); name-keeping functions carry the mark on.
    pub drop_name: bool,
    /// The series' metric name is empty or ends in a counter suffix (see
    /// [`counter_name`]); computed once per series, not per step, so functions need not
    /// touch the labels.
    pub counter_name: bool,
}

/// Whether `metric`'s name is empty or ends in `_total`, `_sum`, `_count` or `_bucket`: the
/// names `rate`/`increase` accept without the "might not be a counter" info.
pub fn counter_name(metric: &crate::promql::engine::value::Metric) -> bool {
    let name = metric_name(metric);
    name.is_empty() || ["_total", "_sum", "_count", "_bucket"].iter().any(|s| name.ends_with(s))
}

/// What a function sees besides its arguments.
pub struct FnCtx<'a> {
    /// The evaluation time of this step (ms).
    pub ts: i64,
    /// For a range argument: its range (ms), so the window is `(ts - range_ms, ts]`.
    pub range_ms: i64,
    /// The range argument was written `anchored`.
    pub anchored: bool,
    /// The range argument was written `smoothed`.
    pub smoothed: bool,
    /// The call's argument expressions (for `absent`'s labels, annotation positions, and
    /// the metric names in annotations).
    pub args: &'a [Expr],
    /// The call's position.
    pub pos: PosRange,
    /// The query text (for annotation positions).
    pub query: &'a str,
    /// Where to add warnings and infos.
    pub annotations: &'a mut Annotations,
}

/// A function failure (e.g. `label_replace` with an invalid regex), worded as Prometheus.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FnError(pub String);

/// A function implementation: computes the result at one step, appending to `out`.
/// Output samples carry `t = ctx.ts`.
pub type FnImpl = fn(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError>;

/// The implementation of the function called `name`, if any. Functions that change the
/// value's type or need the storage (`info`, `scalar`, `vector`, `time`) are handled by the
/// evaluator instead; see [`engine_handled`].
///
/// Argument convention: `args` holds one [`Arg`] per call argument, in call order (a scalar
/// argument as [`Arg::Scalar`], a string as [`Arg::String`], and so on). A range function's
/// windows are `(ctx.ts - ctx.range_ms, ctx.ts]`, so `ctx.ts` is the window end (the step time
/// minus any `offset`, or the `@` time). Functions returning a scalar (`pi`) append one sample
/// with no labels whose value is the scalar.
pub fn lookup(name: &str) -> Option<FnImpl> {
    let f: FnImpl = match name {
        "abs" => math::abs,
        "absent" => labels::absent,
        "absent_over_time" => over_time::absent_over_time,
        "acos" => math::acos,
        "acosh" => math::acosh,
        "asin" => math::asin,
        "asinh" => math::asinh,
        "atan" => math::atan,
        "atanh" => math::atanh,
        "avg_over_time" => over_time::avg_over_time,
        "ceil" => math::ceil,
        "changes" => rate::changes,
        "clamp" => math::clamp,
        "clamp_max" => math::clamp_max,
        "clamp_min" => math::clamp_min,
        "cos" => math::cos,
        "cosh" => math::cosh,
        "count_over_time" => over_time::count_over_time,
        "day_of_month" => time::day_of_month,
        "day_of_week" => time::day_of_week,
        "day_of_year" => time::day_of_year,
        "days_in_month" => time::days_in_month,
        "deg" => math::deg,
        "delta" => rate::delta,
        "deriv" => rate::deriv,
        "double_exponential_smoothing" => rate::double_exponential_smoothing,
        "exp" => math::exp,
        "first_over_time" => over_time::first_over_time,
        "floor" => math::floor,
        "histogram_avg" | "histogram_count" | "histogram_stddev" | "histogram_stdvar" | "histogram_sum" => {
            histogram::native_only
        }
        "histogram_fraction" => histogram::histogram_fraction,
        "histogram_quantile" => histogram::histogram_quantile,
        "histogram_quantiles" => histogram::histogram_quantiles,
        "hour" => time::hour,
        "idelta" => rate::idelta,
        "increase" => rate::increase,
        "irate" => rate::irate,
        "label_join" => labels::label_join,
        "label_replace" => labels::label_replace,
        "last_over_time" => over_time::last_over_time,
        "ln" => math::ln,
        "log10" => math::log10,
        "log2" => math::log2,
        "mad_over_time" => over_time::mad_over_time,
        "max_over_time" => over_time::max_over_time,
        "min_over_time" => over_time::min_over_time,
        "minute" => time::minute,
        "month" => time::month,
        "pi" => math::pi,
        "predict_linear" => rate::predict_linear,
        "present_over_time" => over_time::present_over_time,
        "quantile_over_time" => over_time::quantile_over_time,
        "rad" => math::rad,
        "rate" => rate::rate,
        "resets" => rate::resets,
        "round" => math::round,
        "sgn" => math::sgn,
        "sin" => math::sin,
        "sinh" => math::sinh,
        "sort" => labels::sort,
        "sort_by_label" => labels::sort_by_label,
        "sort_by_label_desc" => labels::sort_by_label_desc,
        "sort_desc" => labels::sort_desc,
        "sqrt" => math::sqrt,
        "start_timestamp" => misc::start_timestamp,
        "stddev_over_time" => over_time::stddev_over_time,
        "stdvar_over_time" => over_time::stdvar_over_time,
        "sum_over_time" => over_time::sum_over_time,
        "tan" => math::tan,
        "tanh" => math::tanh,
        "timestamp" => misc::timestamp,
        "ts_of_first_over_time" => over_time::ts_of_first_over_time,
        "ts_of_last_over_time" => over_time::ts_of_last_over_time,
        "ts_of_max_over_time" => over_time::ts_of_max_over_time,
        "ts_of_min_over_time" => over_time::ts_of_min_over_time,
        "year" => time::year,
        _ => return None,
    };
    Some(f)
}

/// Functions the evaluator implements itself rather than through [`lookup`].
pub fn engine_handled(name: &str) -> bool {
    matches!(name, "info" | "scalar" | "vector" | "time")
}

// Helpers shared by the families.

/// The `i`-th argument as a scalar.
fn scalar_arg(args: &[Arg<'_>], i: usize) -> Result<f64, FnError> {
    match args.get(i) {
        Some(Arg::Scalar(v)) => Ok(*v),
        other => Err(bad_arg(i, "scalar", other)),
    }
}

/// The `i`-th argument as a string.
fn string_arg<'a>(args: &[Arg<'a>], i: usize) -> Result<&'a str, FnError> {
    match args.get(i) {
        Some(Arg::String(s)) => Ok(s),
        other => Err(bad_arg(i, "string", other)),
    }
}

/// The `i`-th argument as an instant vector.
fn vector_arg<'a>(args: &[Arg<'a>], i: usize) -> Result<&'a [Sample], FnError> {
    match args.get(i) {
        Some(Arg::Vector(v)) => Ok(v),
        other => Err(bad_arg(i, "instant vector", other)),
    }
}

/// The `i`-th argument as a range vector.
fn matrix_arg<'a>(args: &[Arg<'a>], i: usize) -> Result<&'a [Window<'a>], FnError> {
    match args.get(i) {
        Some(Arg::Matrix(m)) => Ok(m),
        other => Err(bad_arg(i, "range vector", other)),
    }
}

/// The error for an evaluator that passed the wrong kind of argument (a bug, never user input:
/// the parser checks argument types).
fn bad_arg(i: usize, want: &str, got: Option<&Arg<'_>>) -> FnError {
    let got = match got {
        None => "nothing",
        Some(Arg::Scalar(_)) => "a scalar",
        Some(Arg::String(_)) => "a string",
        Some(Arg::Vector(_)) => "an instant vector",
        Some(Arg::Matrix(_)) => "a range vector",
    };
    FnError(format!("internal error: function argument {i} should be {want}, got {got}"))
}

/// The source position of argument `i`, or the call's when the evaluator passed no expressions.
fn arg_pos(ctx: &FnCtx<'_>, i: usize) -> PosRange {
    ctx.args.get(i).map_or(ctx.pos, Expr::pos)
}

/// Adds an annotation about argument `i`.
fn annotate(ctx: &mut FnCtx<'_>, kind: AnnotationKind, msg: &str, i: usize) {
    let pos = arg_pos(ctx, i);
    ctx.annotations.add(kind, msg, ctx.query, pos);
}

/// The end of the windows of the range argument at this step: the step time `ctx.ts` moved by
/// the argument's `@` and `offset` (read from `ctx.args`), as upstream's
/// `enh.Ts - offset` (with `@`, the selector is read at the `@` time).
///
/// `@ start()`/`@ end()` and non-constant offsets cannot be resolved here and count as the step
/// time and as no offset.
fn window_end(ctx: &FnCtx<'_>) -> i64 {
    use crate::promql::ast::{AtModifier, DurationValue};
    let Some(mut e) = ctx.args.iter().find(|a| a.value_type() == crate::promql::ast::ValueType::Matrix) else {
        return ctx.ts;
    };
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    let (offset, at) = match e {
        Expr::MatrixSelector(m) => (&m.selector.offset, &m.selector.at),
        Expr::Subquery(s) => (&s.offset, &s.at),
        _ => return ctx.ts,
    };
    let base = match at {
        Some(AtModifier::Timestamp(t)) => *t,
        _ => ctx.ts,
    };
    match offset {
        Some(DurationValue::Fixed(o)) => base - o,
        _ => base,
    }
}

/// The metric name of a series, or `""`.
fn metric_name(m: &Metric) -> &str {
    m.metric_name().unwrap_or("")
}

/// A result sample at this step.
fn out_sample(metric: &Metric, ctx: &FnCtx<'_>, f: f64, drop_name: bool) -> Sample {
    Sample { metric: metric.clone(), t: ctx.ts, f, drop_name }
}

/// One step of Kahan-Babuška-Neumaier summation, as upstream's `kahansum.Inc`: adds `inc` to
/// `sum` with compensation `c`, returning the new pair. An infinite sum resets the
/// compensation so that it cannot turn into NaN.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// The `q`-quantile of `values` (sorted in place), as upstream's `quantile`: NaN for no values
/// or a NaN `q`, -Inf below 0, +Inf above 1, otherwise linear interpolation between the two
/// closest ranks. NaN values sort first.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        (false, false) => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    // Both indexes are in [0, n - 1] by construction.
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

#[cfg(test)]
mod test_util;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::functions::FUNCTIONS;

    #[test]
    fn lookup_covers_every_function_the_engine_does_not_handle() {
        for f in FUNCTIONS {
            if engine_handled(f.name) {
                assert!(lookup(f.name).is_none(), "{} is engine-handled", f.name);
            } else {
                assert!(lookup(f.name).is_some(), "{} has no implementation", f.name);
            }
        }
        assert!(lookup("holt_winters").is_none());
        assert!(lookup("Rate").is_none());
    }

    #[test]
    fn kahan_sum_recovers_lost_low_bits() {
        // 1e100 + 1 - 1e100 loses the 1 in plain summation.
        let (mut s, mut c) = (0.0, 0.0);
        for v in [1e100, 1.0, -1e100] {
            (s, c) = kahan_inc(v, s, c);
        }
        assert_eq!(s + c, 1.0);
        // Infinity resets the compensation instead of producing NaN.
        let (s, c) = kahan_inc(f64::INFINITY, 1.0, 0.5);
        assert_eq!((s, c), (f64::INFINITY, 0.0));
    }

    #[test]
    fn quantile_cases() {
        let cases: &[(f64, &[f64], f64)] = &[
            (0.5, &[1.0, 2.0, 3.0, 4.0], 2.5),
            (0.0, &[3.0, 1.0, 2.0], 1.0),
            (1.0, &[3.0, 1.0, 2.0], 3.0),
            (0.25, &[0.0, 10.0], 2.5),
            (-0.1, &[1.0], f64::NEG_INFINITY),
            (1.1, &[1.0], f64::INFINITY),
            (0.5, &[], f64::NAN),
            (f64::NAN, &[1.0], f64::NAN),
            // NaN sorts first, so the median of [NaN, 1, 2] is 1.
            (0.5, &[2.0, f64::NAN, 1.0], 1.0),
        ];
        for (q, vals, want) in cases {
            let mut v = vals.to_vec();
            let got = quantile(*q, &mut v);
            assert!(got == *want || (got.is_nan() && want.is_nan()), "q={q} {vals:?}: {got} != {want}");
        }
    }
}
