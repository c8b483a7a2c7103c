//! The function library: every PromQL function on floats, evaluated one step at a time.
//!
//! The evaluator calls [`lookup`]`(name)` once per call node, then the returned [`FnImpl`]
//! once per evaluation step with the arguments evaluated at that step.
//!
//! OWNER: helper "promql-functions" fills this module in. The interface below is fixed.

use super::value::{Annotations, Sample};
use crate::promql::ast::{Expr, PosRange};

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
pub fn lookup(_name: &str) -> Option<FnImpl> {
    None
}

/// Functions the evaluator implements itself rather than through [`lookup`].
pub fn engine_handled(name: &str) -> bool {
    matches!(name, "info" | "scalar" | "vector" | "time")
}
