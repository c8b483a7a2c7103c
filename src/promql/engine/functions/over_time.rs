//! `<aggregation>_over_time`: one value per series from the samples of its window.
//!
//! All of them drop the metric name except `first_over_time` and `last_over_time`, which act
//! like an offset (upstream's `dropName` rule in the evaluator).

use super::{Arg, FnCtx, FnError, Window, annotate, kahan_inc, matrix_arg, out_sample, quantile, scalar_arg};
use crate::promql::engine::value::{AnnotationKind, Sample};
use crate::promql::printer::GoFloat;
use std::cell::RefCell;

/// Runs `f` on every window with samples, appending its value (if any) to `out`.
fn each(
    args: &[Arg<'_>],
    idx: usize,
    ctx: &mut FnCtx<'_>,
    out: &mut Vec<Sample>,
    drop_name: bool,
    mut f: impl FnMut(&[(i64, f64)]) -> Option<f64>,
) -> Result<(), FnError> {
    for w in matrix_arg(args, idx)? {
        if w.floats.is_empty() {
            continue;
        }
        if let Some(v) = f(w.floats) {
            out.push(out_sample(w.metric, ctx, v, drop_name || w.drop_name));
        }
    }
    Ok(())
}

/// `avg_over_time`: the mean, Kahan-summed directly while the sum stays finite and switching to
/// an incremental mean once it would overflow (upstream's approach).
pub(super) fn avg_over_time(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    each(args, 0, ctx, out, true, |f| Some(mean(f)))
}

fn mean(f: &[(i64, f64)]) -> f64 {
    let (mut sum, mut c, mut count) = (f[0].1, 0.0, 1.0);
    let mut incremental: Option<f64> = None;
    for (i, &(_, v)) in f.iter().enumerate().skip(1) {
        count = (i + 1) as f64;
        let m = match incremental {
            Some(m) => m,
            None => {
                let (s, nc) = kahan_inc(v, sum, c);
                if !s.is_infinite() {
                    (sum, c) = (s, nc);
                    continue;
                }
                // The sum overflowed: continue with the mean of what came before.
                c /= count - 1.0;
                sum / (count - 1.0)
            }
        };
        let q = (count - 1.0) / count;
        let (nm, nc) = kahan_inc(v / count, q * m, q * c);
        incremental = Some(nm);
        c = nc;
    }
    match incremental {
        Some(m) => m + c,
        None => sum / count + c / count,
    }
}

/// `sum_over_time`: the Kahan-compensated sum.
pub(super) fn sum_over_time(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    each(args, 0, ctx, out, true, |f| {
        let (mut sum, mut c) = (0.0, 0.0);
        for &(_, v) in f {
            (sum, c) = kahan_inc(v, sum, c);
        }
        Some(if sum.is_infinite() { sum } else { sum + c })
    })
}

/// `count_over_time`: the number of samples.
pub(super) fn count_over_time(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    each(args, 0, ctx, out, true, |f| Some(f.len() as f64))
}

/// `present_over_time`: 1 for every series with samples.
pub(super) fn present_over_time(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    each(args, 0, ctx, out, true, |_| Some(1.0))
}

/// `last_over_time`: the newest sample's value; keeps the metric name.
pub(super) fn last_over_time(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    each(args, 0, ctx, out, false, |f| f.last().map(|p| p.1))
}

/// `first_over_time`: the oldest sample's value; keeps the metric name.
pub(super) fn first_over_time(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    each(args, 0, ctx, out, false, |f| f.first().map(|p| p.1))
}

/// `ts_of_first_over_time`: the oldest sample's time in seconds.
pub(super) fn ts_of_first_over_time(
    args: &[Arg<'_>],
    ctx: &mut FnCtx<'_>,
    out: &mut Vec<Sample>,
) -> Result<(), FnError> {
    each(args, 0, ctx, out, true, |f| f.first().map(|p| p.0 as f64 / 1000.0))
}

/// `ts_of_last_over_time`: the newest sample's time in seconds.
pub(super) fn ts_of_last_over_time(
    args: &[Arg<'_>],
    ctx: &mut FnCtx<'_>,
    out: &mut Vec<Sample>,
) -> Result<(), FnError> {
    each(args, 0, ctx, out, true, |f| f.last().map(|p| p.0 as f64 / 1000.0))
}

/// The value (or with `want_ts` its time in seconds) of the sample `better(candidate, best)`
/// picks. A NaN best is always replaced, so NaN wins only when every value is NaN.
fn pick(f: &[(i64, f64)], want_ts: bool, better: impl Fn(f64, f64) -> bool) -> Option<f64> {
    let mut best = *f.first()?;
    for &p in f {
        if better(p.1, best.1) || best.1.is_nan() {
            best = p;
        }
    }
    Some(if want_ts { best.0 as f64 / 1000.0 } else { best.1 })
}

/// `max_over_time`: the largest value (the first of equal ones).
pub(super) fn max_over_time(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    each(args, 0, ctx, out, true, |f| pick(f, false, |c, b| c > b))
}

/// `min_over_time`: the smallest value.
pub(super) fn min_over_time(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    each(args, 0, ctx, out, true, |f| pick(f, false, |c, b| c < b))
}

/// `ts_of_max_over_time`: the time of the largest value (the last of equal ones).
pub(super) fn ts_of_max_over_time(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    each(args, 0, ctx, out, true, |f| pick(f, true, |c, b| c >= b))
}

/// `ts_of_min_over_time`: the time of the smallest value (the last of equal ones).
pub(super) fn ts_of_min_over_time(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    each(args, 0, ctx, out, true, |f| pick(f, true, |c, b| c <= b))
}

/// The population variance by Welford's method with Kahan-compensated running sums.
fn variance(f: &[(i64, f64)]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(_, v) in f {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// `stddev_over_time`: the population standard deviation.
pub(super) fn stddev_over_time(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    each(args, 0, ctx, out, true, |f| Some(variance(f).sqrt()))
}

/// `stdvar_over_time`: the population variance.
pub(super) fn stdvar_over_time(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    each(args, 0, ctx, out, true, |f| Some(variance(f)))
}

thread_local! {
    /// A scratch buffer for sorting window values, reused across calls.
    static SCRATCH: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on a scratch copy of the window's values.
fn with_values<R>(f: &[(i64, f64)], g: impl FnOnce(&mut Vec<f64>) -> R) -> R {
    SCRATCH.with(|s| {
        // A re-entrant call cannot happen (no function calls back into the library), but fall
        // back to a fresh buffer rather than panic if it ever did.
        match s.try_borrow_mut() {
            Ok(mut buf) => {
                buf.clear();
                buf.extend(f.iter().map(|p| p.1));
                g(&mut buf)
            }
            Err(_) => g(&mut f.iter().map(|p| p.1).collect()),
        }
    })
}

/// `quantile_over_time(q scalar, v range-vector)`, warning about a `q` outside [0, 1].
pub(super) fn quantile_over_time(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    let q = scalar_arg(args, 0)?;
    let windows = matrix_arg(args, 1)?;
    if (q.is_nan() || !(0.0..=1.0).contains(&q)) && windows.iter().any(|w| !w.floats.is_empty()) {
        let msg = format!("quantile value should be between 0 and 1, got {}", GoFloat(q));
        annotate(ctx, AnnotationKind::Warning, &msg, 0);
    }
    each(args, 1, ctx, out, true, |f| Some(with_values(f, |v| quantile(q, v))))
}

/// `mad_over_time`: the median absolute deviation from the median.
pub(super) fn mad_over_time(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    each(args, 0, ctx, out, true, |f| {
        // A NaN sample makes the deviation NaN rather than being sorted away.
        if f.iter().any(|s| s.1.is_nan()) {
            return Some(f64::NAN);
        }
        Some(with_values(f, |v| {
            let median = quantile(0.5, v);
            for x in v.iter_mut() {
                *x = (*x - median).abs();
            }
            quantile(0.5, v)
        }))
    })
}

/// `absent_over_time`: `1` labelled from the selector's equality matchers when no series has
/// samples in its window at this step, else nothing.
pub(super) fn absent_over_time(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    let windows: &[Window<'_>] = matrix_arg(args, 0)?;
    if windows.iter().any(|w| !w.floats.is_empty()) {
        return Ok(());
    }
    let metric = super::labels::absent_labels(ctx.args.first());
    out.push(Sample { metric, t: ctx.ts, f: 1.0, drop_name: true });
    Ok(())
}

#[cfg(test)]
#[path = "over_time_tests.rs"]
mod tests;
