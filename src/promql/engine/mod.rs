//! The PromQL evaluator: instant and range queries over any [`Queryable`].
//!
//! Principal types: [`Engine`] (options and entry points), [`QueryResult`], [`QueryError`].
//! Evaluation follows Prometheus 3.x: every node is evaluated for all steps of the query at
//! once (a range query is a series of instant evaluations sharing their data loads),
//! selectors look back [`EngineOptions::lookback_delta_ms`] over a left-open window, stale
//! markers end a series, range windows are left-open, `offset` and `@` apply per selector,
//! subquery steps are aligned to multiples of their step, and the metric name is dropped
//! lazily (only when the result leaves the engine).

mod aggregate;
mod binary;
mod eval;
pub mod functions;
mod info;
pub mod value;

use crate::model::{Labels, Matcher};
use crate::promql::{ParseError, ParserOptions, parse_expr};
pub use value::{Annotations, Matrix, Metric, Sample, Series, Value, Vector};

/// Series with their samples, as a [`Queryable`] returns them.
pub type SelectResult = Vec<(Labels, Vec<(i64, f64)>)>;

/// Where the engine reads series from: the tsdb, a remote-read client, a test store.
pub trait Queryable: Sync {
    /// The series matching `matchers` with their samples in `[mint, maxt]` (ms, inclusive),
    /// stale markers included, sorted by labels.
    fn select(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<SelectResult, String>;
}

impl Queryable for crate::tsdb::Db {
    fn select(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<SelectResult, String> {
        let q = self.querier(mint, maxt);
        let series = q.select(matchers).map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(series.len());
        for s in series {
            let mut it = s.iter();
            let samples: Vec<(i64, f64)> = it.by_ref().collect();
            if let Some(e) = it.err() {
                return Err(e.to_string());
            }
            out.push((s.labels().clone(), samples));
        }
        Ok(out)
    }
}

/// The most steps a range query may have, as Prometheus.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Engine options (`--query.*` flags).
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (`--query.lookback-delta`).
    pub lookback_delta_ms: i64,
    /// Most samples a query may hold in memory at once (`--query.max-samples`).
    pub max_samples: usize,
    /// Longest a query may run (`--query.timeout`).
    pub timeout: std::time::Duration,
    /// Step of subqueries written without one (the global evaluation interval).
    pub default_subquery_step_ms: i64,
    /// Syntax switches (`--enable-feature=promql-*`).
    pub parser: ParserOptions,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: 5 * 60 * 1000,
            max_samples: 50_000_000,
            timeout: std::time::Duration::from_secs(120),
            default_subquery_step_ms: 60 * 1000,
            parser: ParserOptions::default(),
        }
    }
}

/// A query failure, with the `errorType` the HTTP API reports.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The query does not parse (`bad_data`).
    #[error("{0}")]
    Parse(#[from] ParseError),
    /// The query is valid but cannot be run as asked (`bad_data`), e.g. a range query of a
    /// range vector.
    #[error("{0}")]
    BadQuery(String),
    /// Evaluation failed (`execution`).
    #[error("{0}")]
    Execution(String),
    /// The query ran out of time (`timeout`).
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    /// The query loaded too many samples (`execution`).
    #[error("query processing would load too many samples into memory in {0}")]
    TooManySamples(&'static str),
    /// Reading from storage failed (`internal`).
    #[error("{0}")]
    Storage(String),
    /// The caller gave up (the HTTP client went away) (`canceled`).
    #[error("query was canceled in {0}")]
    Canceled(&'static str),
}

impl QueryError {
    /// Prometheus's `errorType` for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            QueryError::Parse(_) | QueryError::BadQuery(_) => "bad_data",
            QueryError::Execution(_) | QueryError::TooManySamples(_) => "execution",
            QueryError::Timeout(_) => "timeout",
            QueryError::Storage(_) => "internal",
            QueryError::Canceled(_) => "canceled",
        }
    }
}

/// A query's value and its annotations.
#[derive(Clone, Debug)]
pub struct QueryResult {
    /// The value: scalar, string or vector for instant queries; a matrix for range queries
    /// (and for instant queries of range vectors).
    pub value: Value,
    /// Warnings and infos.
    pub annotations: Annotations,
}

/// The PromQL engine.
#[derive(Clone, Debug, Default)]
pub struct Engine {
    opts: EngineOptions,
    /// Set by the caller to stop a running query (checked with the deadline).
    cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Engine {
    /// An engine with `opts`.
    pub fn new(opts: EngineOptions) -> Self {
        Engine { opts, cancel: None }
    }

    /// The same engine, stopping its queries with [`QueryError::Canceled`] once `flag` is set
    /// (e.g. when the HTTP client disconnects).
    pub fn with_cancel(mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// The engine's options.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `query` at `t_ms`.
    pub fn instant(&self, q: &dyn Queryable, query: &str, t_ms: i64) -> Result<QueryResult, QueryError> {
        let expr = parse_expr(query, &self.opts.parser)?;
        eval::run(&self.opts, self.cancel.as_deref(), q, query, &expr, t_ms, t_ms, 0)
    }

    /// Evaluates `query` at every step from `start_ms` to `end_ms`.
    pub fn range(
        &self,
        q: &dyn Queryable,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        let expr = parse_expr(query, &self.opts.parser)?;
        let ty = expr.value_type();
        if !matches!(ty, crate::promql::ValueType::Scalar | crate::promql::ValueType::Vector) {
            return Err(QueryError::BadQuery(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                ty.documented()
            )));
        }
        if step_ms <= 0 {
            return Err(QueryError::BadQuery(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end_ms < start_ms {
            return Err(QueryError::BadQuery("end timestamp must not be before start time".into()));
        }
        if (end_ms - start_ms) / step_ms > MAX_POINTS_PER_SERIES {
            return Err(QueryError::BadQuery(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
                    .into(),
            ));
        }
        eval::run(&self.opts, self.cancel.as_deref(), q, query, &expr, start_ms, end_ms, step_ms)
    }
}
