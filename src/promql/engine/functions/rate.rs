//! Functions over the samples of a window that look at change: `rate`, `increase`, `delta`
//! (with Prometheus' extrapolation, and the `anchored`/`smoothed` variants), `irate`, `idelta`,
//! `changes`, `resets`, `deriv`, `predict_linear` and `double_exponential_smoothing`.

use super::{
    Arg, FnCtx, FnError, Window, annotate, kahan_inc, matrix_arg, metric_name, out_sample, scalar_arg, window_end,
};
use crate::promql::engine::value::{AnnotationKind, Sample};

/// `rate(v range-vector)`: the per-second increase, extrapolated to the window's edges.
pub(super) fn rate(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    extrapolated(args, ctx, out, true, true)
}

/// `increase(v range-vector)`: the increase over the window, extrapolated.
pub(super) fn increase(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    extrapolated(args, ctx, out, true, false)
}

/// `delta(v range-vector)`: the difference over the window of a gauge, extrapolated.
pub(super) fn delta(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    extrapolated(args, ctx, out, false, false)
}

/// The shared body of `rate`, `increase` and `delta`. Counters (`is_counter`) get resets
/// compensated and the "might not be a counter" info for names without a counter suffix.
fn extrapolated(
    args: &[Arg<'_>],
    ctx: &mut FnCtx<'_>,
    out: &mut Vec<Sample>,
    is_counter: bool,
    is_rate: bool,
) -> Result<(), FnError> {
    let windows = matrix_arg(args, 0)?;
    let end = window_end(ctx);
    let start = end - ctx.range_ms;
    for w in windows {
        let v = if ctx.anchored || ctx.smoothed {
            extended_rate(w, start, end, ctx.range_ms, ctx.smoothed, is_counter, is_rate)
        } else {
            plain_rate(w.floats, start, end, ctx.range_ms, is_counter, is_rate)
        };
        let Some(v) = v else { continue };
        out.push(out_sample(w.metric, ctx, v, true));
        if is_counter && !w.counter_name {
            let name = metric_name(w.metric);
            let msg =
                format!("metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {name:?}");
            annotate(ctx, AnnotationKind::Info, &msg, 0);
        }
    }
    Ok(())
}

/// Prometheus' `extrapolatedRate` on the samples of `(start, end]`: at least two samples, the
/// difference (plus the value before each counter reset), extrapolated towards each edge when
/// the first/last sample is within 1.1 average intervals of it (else by half an interval), and
/// for counters never below the point where the counter would have been zero.
fn plain_rate(f: &[(i64, f64)], start: i64, end: i64, range_ms: i64, is_counter: bool, is_rate: bool) -> Option<f64> {
    let (&(first_t, first_v), &(last_t, last_v)) = (f.first()?, f.last()?);
    if f.len() < 2 {
        return None;
    }
    let mut result = last_v - first_v;
    if is_counter {
        for p in f.windows(2) {
            if p[1].1 < p[0].1 {
                result += p[0].1;
            }
        }
    }
    let mut to_start = (first_t - start) as f64 / 1000.0;
    let mut to_end = (end - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg = sampled / (f.len() - 1) as f64;
    let threshold = avg * 1.1;
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    if is_counter {
        let to_zero = if result > 0.0 && first_v >= 0.0 { sampled * (first_v / result) } else { to_start };
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= range_ms as f64 / 1000.0;
    }
    Some(result * factor)
}

/// The samples an `anchored`/`smoothed` rate sees: the one at or before the window start, the
/// window's own, and (smoothed only) the first after the window end.
struct Extended<'a> {
    before: Option<(i64, f64)>,
    floats: &'a [(i64, f64)],
    after: Option<(i64, f64)>,
}

impl Extended<'_> {
    fn len(&self) -> usize {
        usize::from(self.before.is_some()) + self.floats.len() + usize::from(self.after.is_some())
    }

    /// Sample `i`; callers keep `i < len()`.
    fn get(&self, i: usize) -> (i64, f64) {
        let i = match (self.before, i) {
            (Some(b), 0) => return b,
            (Some(_), i) => i - 1,
            (None, i) => i,
        };
        match self.floats.get(i) {
            Some(p) => *p,
            None => self.after.unwrap_or((i64::MAX, f64::NAN)),
        }
    }

    /// The first index in `0..n` whose sample satisfies `pred`, or `n` (as Go's `sort.Search`).
    fn search(&self, n: usize, pred: impl Fn((i64, f64)) -> bool) -> usize {
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(self.get(mid)) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }
}

/// Linear interpolation between `p1` and `p2` at `t`; for counters a drop from `p1` to `p2` is a
/// reset, so the line starts from zero.
fn interpolate(p1: (i64, f64), p2: (i64, f64), t: i64, is_counter: bool) -> f64 {
    let y1 = if is_counter && p2.1 < p1.1 { 0.0 } else { p1.1 };
    y1 + (p2.1 - y1) * (t - p1.0) as f64 / (p2.0 - p1.0) as f64
}

/// Prometheus' `extendedRate`: the difference between the value at the window start (the
/// sample at or before it, or for `smoothed` the value interpolated there) and the value at
/// the end (the last sample, or interpolated), with counter resets compensated. No
/// extrapolation.
fn extended_rate(
    w: &Window<'_>,
    start: i64,
    end: i64,
    range_ms: i64,
    smoothed: bool,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    let a = Extended { before: w.before, floats: w.floats, after: if smoothed { w.after } else { None } };
    let n = a.len();
    if n == 0 {
        return None;
    }
    let mut last = n - 1;
    let mut first = a.search(last, |p| p.0 > start).saturating_sub(1);
    if smoothed {
        last = a.search(last, |p| p.0 >= end);
    }
    if a.get(last).0 <= start {
        return None;
    }
    // `first < last` here: `a[last]` is after `start` and `a[first]` is the last sample at or
    // before it (or index 0), so `first + 1 <= last` whenever `a[first]` is before `start`.
    let left = if smoothed && a.get(first).0 < start {
        interpolate(a.get(first), a.get(first + 1), start, is_counter)
    } else {
        a.get(first).1
    };
    let right = if smoothed && last > 0 && a.get(last).0 > end {
        interpolate(a.get(last - 1), a.get(last), end, is_counter)
    } else {
        a.get(last).1
    };
    let mut result = right - left;
    if is_counter {
        // Only the samples strictly inside the window count for resets; the edges were
        // handled by the interpolation.
        if a.get(first).0 <= start {
            first += 1;
        }
        let upto = if a.get(last).0 >= end { last } else { last + 1 };
        let mut prev = left;
        for i in first..upto {
            let v = a.get(i).1;
            if v < prev {
                result += prev;
            }
            prev = v;
        }
        if right < prev {
            result += prev;
        }
    }
    if is_rate {
        result /= range_ms as f64 / 1000.0;
    }
    Some(result)
}

/// `irate(v range-vector)`: the per-second rate between the last two samples.
pub(super) fn irate(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    instant_value(args, ctx, out, true)
}

/// `idelta(v range-vector)`: the difference between the last two samples.
pub(super) fn idelta(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    instant_value(args, ctx, out, false)
}

fn instant_value(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>, is_rate: bool) -> Result<(), FnError> {
    for w in matrix_arg(args, 0)? {
        let [.., (t0, v0), (t1, v1)] = *w.floats else { continue };
        let dt = t1 - t0;
        if dt == 0 {
            continue;
        }
        // For irate, a drop is a counter reset: the increase is the new value itself.
        let mut r = if is_rate && v1 < v0 { v1 } else { v1 - v0 };
        if is_rate {
            r /= dt as f64 / 1000.0;
        }
        out.push(out_sample(w.metric, ctx, r, true));
    }
    Ok(())
}

/// `changes(v range-vector)`: how often the value changed (NaN to NaN is no change).
pub(super) fn changes(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    count_transitions(args, ctx, out, |prev, cur| prev != cur && !(prev.is_nan() && cur.is_nan()))
}

/// `resets(v range-vector)`: how often the value dropped.
pub(super) fn resets(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    count_transitions(args, ctx, out, |prev, cur| cur < prev)
}

/// Counts consecutive pairs satisfying `counts`; with `anchored`, the sample at or before the
/// window start is the first of the pairs.
fn count_transitions(
    args: &[Arg<'_>],
    ctx: &mut FnCtx<'_>,
    out: &mut Vec<Sample>,
    counts: impl Fn(f64, f64) -> bool,
) -> Result<(), FnError> {
    for w in matrix_arg(args, 0)? {
        if w.floats.is_empty() {
            continue;
        }
        let before = if ctx.anchored { w.before } else { None };
        let mut prev = None;
        let mut n = 0u64;
        for (_, v) in before.iter().chain(w.floats) {
            if let Some(p) = prev
                && counts(p, *v)
            {
                n += 1;
            }
            prev = Some(*v);
        }
        out.push(out_sample(w.metric, ctx, n as f64, true));
    }
    Ok(())
}

/// Least-squares fit of the samples with `x` in seconds relative to `intercept_t`: the slope and
/// the value at `intercept_t`. Kahan-summed as upstream; a constant series has slope 0 (or NaN
/// if the constant is infinite).
fn linear_regression(samples: &[(i64, f64)], intercept_t: i64) -> (f64, f64) {
    let init_y = samples.first().map_or(f64::NAN, |s| s.1);
    let mut const_y = true;
    let n = samples.len() as f64;
    let (mut sum_x, mut c_x, mut sum_y, mut c_y) = (0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut c_xy, mut sum_x2, mut c_x2) = (0.0, 0.0, 0.0, 0.0);
    for (i, &(t, y)) in samples.iter().enumerate() {
        if const_y && i > 0 && y != init_y {
            const_y = false;
        }
        let x = (t - intercept_t) as f64 / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(y, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * y, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sum_x, sum_y, sum_xy, sum_x2) = (sum_x + c_x, sum_y + c_y, sum_xy + c_xy, sum_x2 + c_x2);
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// `deriv(v range-vector)`: the per-second slope of a least-squares fit.
pub(super) fn deriv(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    for w in matrix_arg(args, 0)? {
        if w.floats.len() < 2 {
            continue;
        }
        // Regressing around the first sample's time keeps the numbers small.
        let (slope, _) = linear_regression(w.floats, w.floats[0].0);
        out.push(out_sample(w.metric, ctx, slope, true));
    }
    Ok(())
}

/// `predict_linear(v range-vector, t scalar)`: the fitted value `t` seconds after the step time.
pub(super) fn predict_linear(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    let duration = scalar_arg(args, 1)?;
    for w in matrix_arg(args, 0)? {
        if w.floats.len() < 2 {
            continue;
        }
        let (slope, intercept) = linear_regression(w.floats, ctx.ts);
        out.push(out_sample(w.metric, ctx, slope * duration + intercept, true));
    }
    Ok(())
}

/// `double_exponential_smoothing(v range-vector, sf scalar, tf scalar)`: Holt's linear
/// smoothing; both factors must lie strictly between 0 and 1.
pub(super) fn double_exponential_smoothing(
    args: &[Arg<'_>],
    ctx: &mut FnCtx<'_>,
    out: &mut Vec<Sample>,
) -> Result<(), FnError> {
    let windows = matrix_arg(args, 0)?;
    let sf = scalar_arg(args, 1)?;
    let tf = scalar_arg(args, 2)?;
    // Upstream validates only when it has a series to smooth.
    if windows.is_empty() {
        return Ok(());
    }
    if sf <= 0.0 || sf >= 1.0 {
        return Err(FnError(format!("invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}")));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(FnError(format!("invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}")));
    }
    for w in windows {
        let f = w.floats;
        if f.len() < 2 {
            continue;
        }
        let (mut s0, mut s1) = (0.0, f[0].1);
        let mut b = f[1].1 - f[0].1;
        for (i, &(_, v)) in f.iter().enumerate().skip(1) {
            let x = sf * v;
            // The trend at the first step is the initial difference itself.
            if i > 1 {
                b = tf * (s1 - s0) + (1.0 - tf) * b;
            }
            let y = (1.0 - sf) * (s1 + b);
            (s0, s1) = (s1, x + y);
        }
        out.push(out_sample(w.metric, ctx, s1, true));
    }
    Ok(())
}

#[cfg(test)]
#[path = "rate_tests.rs"]
mod tests;
