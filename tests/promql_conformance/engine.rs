//! The adapter between the conformance runner and a PromQL engine.
//!
//! The runner only talks to [`Engine`]; wiring the real evaluator is a change to [`engine`]
//! alone.

use cairn::model::Labels;
use cairn::tsdb::Db;

/// A query result, as the PromQL HTTP API would type it.
#[derive(Clone, Debug)]
pub enum Value {
    /// A scalar (`1 + 2`, `scalar(x)`, `time()`).
    Scalar(f64),
    /// A string literal result (`"foo"`).
    String(String),
    /// An instant vector: one value per series, in the order the engine produced them
    /// (the order matters for `expect ordered`).
    Vector(Vec<(Labels, f64)>),
    /// A range vector or range-query result: per series its `(timestamp ms, value)` points in
    /// time order. The series order is checked for range queries (sorted by labels).
    Matrix(Vec<(Labels, Vec<(i64, f64)>)>),
}

/// A successful query: its value and its annotations.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The result.
    pub value: Value,
    /// Warning annotations, each rendered as Prometheus does:
    /// `PromQL warning: <message> (<line>:<col>)`, position 1-based in bytes of the query text.
    /// Duplicates (same text apart from the position) should already be removed.
    pub warnings: Vec<String>,
    /// Info annotations, rendered `PromQL info: <message> (<line>:<col>)`.
    pub infos: Vec<String>,
}

impl Outcome {
    /// An outcome without annotations.
    #[allow(dead_code)]
    pub fn plain(value: Value) -> Outcome {
        Outcome { value, warnings: Vec::new(), infos: Vec::new() }
    }
}

/// What the runner needs from a PromQL engine. Errors are Prometheus's error text
/// (`err.Error()` in Go), because `expect fail msg:` compares it exactly.
///
/// Engine settings the scripts assume (FORMAT.md section 12): 5m lookback, 1m default subquery
/// step, `@`/negative offset, experimental functions and syntax all enabled, delayed name
/// removal, `__type__`/`__unit__` dropped with the name.
pub trait Engine {
    /// Parses `query` with every experimental syntax switched on; `Err` carries the parse
    /// error. The runner calls this before evaluating, so that a parse error is never taken
    /// for the evaluation error an `expect fail` wants.
    fn check_syntax(&self, query: &str) -> Result<(), String>;

    /// Evaluates `query` as an instant query at `t_ms`.
    fn instant(&self, db: &Db, query: &str, t_ms: i64) -> Result<Outcome, String>;

    /// Evaluates `query` as a range query over `start_ms..=end_ms` with `step_ms`.
    /// The result is a [`Value::Matrix`] (a scalar expression yields one series without
    /// labels), sorted by label set.
    fn range(&self, db: &Db, query: &str, start_ms: i64, end_ms: i64, step_ms: i64) -> Result<Outcome, String>;

    /// Rewrites `query` so that every vector selector, matrix selector and subquery without an
    /// `@` modifier gets `@ <at_ms/1000>` (selectors inside an `@`-carrying subquery are left
    /// alone), and prints it back as PromQL. `None` means the engine cannot do this yet: the
    /// runner then skips the `@`-pinned re-evaluations and says its figure is partial.
    fn pin_at(&self, query: &str, at_ms: i64) -> Option<String>;
}

/// The real engine, with every experimental switch on as upstream's runner has them.
pub struct Cairn(cairn::promql::engine::Engine);

impl Cairn {
    fn new() -> Self {
        let opts = cairn::promql::engine::EngineOptions {
            parser: cairn::promql::ParserOptions::all_enabled(),
            ..Default::default()
        };
        Cairn(cairn::promql::engine::Engine::new(opts))
    }
}

fn outcome(r: cairn::promql::engine::QueryResult) -> Outcome {
    use cairn::promql::engine::Value as V;
    let value = match r.value {
        V::Scalar { v, .. } => Value::Scalar(v),
        V::String { s, .. } => Value::String(s),
        V::Vector(v) => Value::Vector(v.into_iter().map(|s| ((*s.metric).clone(), s.f)).collect()),
        V::Matrix(m) => Value::Matrix(m.into_iter().map(|s| ((*s.metric).clone(), s.floats)).collect()),
    };
    Outcome { value, warnings: r.annotations.warnings(), infos: r.annotations.infos() }
}

/// Pins every selector and subquery without `@` to `at_ms` (not inside a pinned subquery).
fn pin(e: &mut cairn::promql::Expr, at_ms: i64) {
    use cairn::promql::{AtModifier, Expr};
    match e {
        Expr::VectorSelector(vs) => {
            vs.at.get_or_insert(AtModifier::Timestamp(at_ms));
        }
        Expr::MatrixSelector(ms) => {
            ms.selector.at.get_or_insert(AtModifier::Timestamp(at_ms));
        }
        Expr::Subquery(sq) => {
            if sq.at.is_none() {
                sq.at = Some(AtModifier::Timestamp(at_ms));
            }
        }
        Expr::Aggregate(a) => {
            pin(&mut a.expr, at_ms);
            if let Some(p) = &mut a.param {
                pin(p, at_ms);
            }
        }
        Expr::Binary(b) => {
            pin(&mut b.lhs, at_ms);
            pin(&mut b.rhs, at_ms);
        }
        Expr::Call(c) => c.args.iter_mut().for_each(|a| pin(a, at_ms)),
        Expr::Paren(p) => pin(&mut p.expr, at_ms),
        Expr::Unary(u) => pin(&mut u.expr, at_ms),
        Expr::Number(_) | Expr::String(_) | Expr::Duration(_) => {}
    }
}

impl Engine for Cairn {
    fn check_syntax(&self, query: &str) -> Result<(), String> {
        cairn::promql::parse_expr(query, &self.0.options().parser).map(|_| ()).map_err(|e| e.to_string())
    }

    fn instant(&self, db: &Db, query: &str, t_ms: i64) -> Result<Outcome, String> {
        self.0.instant(db, query, t_ms).map(outcome).map_err(|e| e.to_string())
    }

    fn range(&self, db: &Db, query: &str, start_ms: i64, end_ms: i64, step_ms: i64) -> Result<Outcome, String> {
        self.0.range(db, query, start_ms, end_ms, step_ms).map(outcome).map_err(|e| e.to_string())
    }

    fn pin_at(&self, query: &str, at_ms: i64) -> Option<String> {
        let mut e = cairn::promql::parse_expr(query, &self.0.options().parser).ok()?;
        pin(&mut e, at_ms);
        Some(e.to_string())
    }
}

/// The engine under test.
pub fn engine() -> Box<dyn Engine> {
    Box::new(Cairn::new())
}
