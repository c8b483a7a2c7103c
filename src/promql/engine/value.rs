//! Values the evaluator passes around: samples, series, vectors, matrices, and the
//! annotations (warnings and infos) a query collects.

use crate::model::Labels;
use crate::promql::ast::PosRange;
use std::collections::BTreeSet;
use std::sync::Arc;

/// A label set shared between samples (cloning is a reference count).
pub type Metric = Arc<Labels>;

/// One sample of an instant vector.
#[derive(Clone, Debug)]
pub struct Sample {
    /// The series' labels.
    pub metric: Metric,
    /// The timestamp (ms): the evaluation time, except for samples straight from a vector
    /// selector, which keep their own timestamp (for `timestamp()`).
    pub t: i64,
    /// The value.
    pub f: f64,
    /// `__name__` is to be dropped when the result leaves the engine (Prometheus 3's delayed
    /// name removal: functions and operators mark samples instead of rewriting labels).
    pub drop_name: bool,
}

/// A series of a range vector or of a range query's result.
#[derive(Clone, Debug)]
pub struct Series {
    /// The series' labels.
    pub metric: Metric,
    /// Samples in time order.
    pub floats: Vec<(i64, f64)>,
    /// See [`Sample::drop_name`].
    pub drop_name: bool,
}

/// An instant vector.
pub type Vector = Vec<Sample>;

/// A range vector.
pub type Matrix = Vec<Series>;

/// A query's result.
#[derive(Clone, Debug)]
pub enum Value {
    /// A scalar at a time (ms).
    Scalar {
        /// Time.
        t: i64,
        /// Value.
        v: f64,
    },
    /// A string at a time (ms).
    String {
        /// Time.
        t: i64,
        /// Value.
        s: String,
    },
    /// An instant vector.
    Vector(Vector),
    /// A range vector (or a range query's result).
    Matrix(Matrix),
}

/// The kind of an annotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AnnotationKind {
    /// "PromQL warning: ...": the result may be wrong.
    Warning,
    /// "PromQL info: ...": the query may not mean what it says.
    Info,
}

/// Warnings and infos collected while evaluating, deduplicated, in Prometheus's wording.
#[derive(Clone, Debug, Default)]
pub struct Annotations {
    set: BTreeSet<(AnnotationKind, String)>,
}

impl Annotations {
    /// Adds an annotation about the expression at `pos` of `query`: rendered as
    /// `PromQL warning: <msg> (<line>:<col>)`.
    pub fn add(&mut self, kind: AnnotationKind, msg: &str, query: &str, pos: PosRange) {
        let prefix = match kind {
            AnnotationKind::Warning => "PromQL warning",
            AnnotationKind::Info => "PromQL info",
        };
        let (line, col) = line_col(query, pos.start as usize);
        self.set.insert((kind, format!("{prefix}: {msg} ({line}:{col})")));
    }

    /// The warnings, rendered.
    pub fn warnings(&self) -> Vec<String> {
        self.set.iter().filter(|(k, _)| *k == AnnotationKind::Warning).map(|(_, s)| s.clone()).collect()
    }

    /// The infos, rendered.
    pub fn infos(&self) -> Vec<String> {
        self.set.iter().filter(|(k, _)| *k == AnnotationKind::Info).map(|(_, s)| s.clone()).collect()
    }

    /// Adds all of `other`.
    pub fn merge(&mut self, other: Annotations) {
        self.set.extend(other.set);
    }
}

/// 1-based line and byte column of `offset` in `query`.
pub(crate) fn line_col(query: &str, offset: usize) -> (usize, usize) {
    let before = &query.as_bytes()[..offset.min(query.len())];
    let line = 1 + before.iter().filter(|b| **b == b'\n').count();
    let col = match before.iter().rposition(|b| *b == b'\n') {
        Some(nl) => offset - nl,
        None => offset + 1,
    };
    (line, col)
}
