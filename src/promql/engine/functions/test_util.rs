//! Test helpers: build series, windows and a call context from query text.

use super::{Arg, FnCtx, FnError, Window, counter_name, lookup};
use crate::model::Labels;
use crate::promql::engine::value::{Annotations, Metric, Sample};
use crate::promql::{Expr, ParserOptions, parse_expr};
use std::sync::Arc;

/// A metric from `name=value` pairs.
pub fn metric(pairs: &[(&str, &str)]) -> Metric {
    Arc::new(Labels::from_pairs(pairs).expect("valid test labels"))
}

/// An input sample at time `t`.
pub fn sample(m: &Metric, t: i64, f: f64) -> Sample {
    Sample { metric: m.clone(), t, f, drop_name: false }
}

/// What one function call produced.
pub struct Outcome {
    pub out: Result<Vec<Sample>, FnError>,
    pub annotations: Annotations,
}

impl Outcome {
    /// The samples, panicking on an error.
    pub fn samples(&self) -> &[Sample] {
        self.out.as_ref().expect("function succeeded")
    }

    /// The single sample's value.
    pub fn value(&self) -> f64 {
        let s = self.samples();
        assert_eq!(s.len(), 1, "expected one sample, got {s:?}");
        s[0].f
    }

    /// Whether nothing was produced.
    pub fn is_empty(&self) -> bool {
        self.samples().is_empty()
    }
}

/// Call options beyond the arguments.
#[derive(Default, Clone, Copy)]
pub struct Opts {
    pub ts: i64,
    pub range_ms: i64,
    pub anchored: bool,
    pub smoothed: bool,
}

/// Calls the function of the call expression `query` (parsed for argument positions and
/// selectors) with `args`.
pub fn call(query: &str, args: &[Arg<'_>], o: Opts) -> Outcome {
    let expr = parse_expr(query, &ParserOptions::all_enabled()).expect("test query parses");
    let Expr::Call(c) = expr else { panic!("{query} is not a call") };
    let f = lookup(c.func.name).expect("function exists");
    let mut annotations = Annotations::default();
    let mut out = Vec::new();
    let res = {
        let mut ctx = FnCtx {
            ts: o.ts,
            range_ms: o.range_ms,
            anchored: o.anchored,
            smoothed: o.smoothed,
            args: &c.args,
            pos: c.pos,
            query,
            annotations: &mut annotations,
        };
        f(args, &mut ctx, &mut out)
    };
    Outcome { out: res.map(|_| out), annotations }
}

/// Calls a range function over one window with samples `(t_ms, value)`.
pub fn call_window(query: &str, m: &Metric, floats: &[(i64, f64)], o: Opts) -> Outcome {
    let w = [Window { metric: m, floats, before: None, after: None, drop_name: false, counter_name: counter_name(m) }];
    call(query, &[Arg::Matrix(&w)], o)
}

/// Asserts that two floats are equal to a relative 1e-9 (NaN equals NaN).
pub fn assert_close(got: f64, want: f64, what: &str) {
    let ok = if want.is_nan() {
        got.is_nan()
    } else if want.is_infinite() || want == 0.0 {
        got == want || (want == 0.0 && got.abs() < 1e-12)
    } else {
        ((got - want) / want).abs() < 1e-9
    };
    assert!(ok, "{what}: got {got}, want {want}");
}

/// Samples `values` every `step_ms` from `t = 0` (NaN-free gaps are written as `None`).
pub fn every(step_ms: i64, values: &[Option<f64>]) -> Vec<(i64, f64)> {
    values.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i as i64 * step_ms, v))).collect()
}

/// `start+incxn` as in the test scripts: `n + 1` values every `step_ms` from `t = t0`.
pub fn ramp(t0: i64, step_ms: i64, start: f64, inc: f64, n: usize) -> Vec<(i64, f64)> {
    (0..=n).map(|i| (t0 + i as i64 * step_ms, start + inc * i as f64)).collect()
}

/// The samples of `points` inside `(end - range, end]`.
pub fn window_of(points: &[(i64, f64)], end: i64, range: i64) -> Vec<(i64, f64)> {
    points.iter().copied().filter(|(t, _)| *t > end - range && *t <= end).collect()
}

/// The last sample at or before `t`.
pub fn last_at_or_before(points: &[(i64, f64)], t: i64) -> Option<(i64, f64)> {
    points.iter().rev().copied().find(|(pt, _)| *pt <= t)
}

/// The first sample after `t`.
pub fn first_after(points: &[(i64, f64)], t: i64) -> Option<(i64, f64)> {
    points.iter().copied().find(|(pt, _)| *pt > t)
}

pub const MIN: i64 = 60_000;
