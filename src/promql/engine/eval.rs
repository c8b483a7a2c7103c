//! The evaluator: every node evaluated for all steps of the query at once.

use super::functions::{self, Arg, FnCtx, Window};
use super::value::{Annotations, Metric, Sample, Series, Value};
use super::{EngineOptions, QueryError, QueryResult, Queryable};
use crate::model::{Labels, Matcher, is_stale_nan};
use crate::promql::ast::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

pub(super) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A node's value over all steps.
pub(super) enum Val {
    /// One value per step.
    Scalar(Vec<f64>),
    /// A string.
    String(String),
    /// An instant vector per step: series whose points sit at step timestamps.
    Vector(Vec<Series>),
    /// A range vector: raw samples and how windows are cut from them at each step.
    Range(RangeData),
}

/// The samples behind a range selector or subquery.
pub(super) struct RangeData {
    pub(super) series: Vec<Series>,
    pub(super) range: i64,
    pub(super) offset: i64,
    pub(super) at: Option<i64>,
    pub(super) anchored: bool,
    pub(super) smoothed: bool,
}

/// The state of one evaluation (the top level, or a subquery's inner one).
pub(super) struct Ev<'a> {
    pub(super) opts: &'a EngineOptions,
    q: &'a dyn Queryable,
    pub(super) query: &'a str,
    pub(super) start: i64,
    pub(super) end: i64,
    pub(super) interval: i64,
    /// The top-level query's start, end and step (for `@ start()`, `step()`, ...).
    query_start: i64,
    query_end: i64,
    query_step: i64,
    pub(super) ann: Annotations,
    deadline: Instant,
    cancel: Option<&'a std::sync::atomic::AtomicBool>,
    samples: usize,
}

/// Runs a parsed query.
#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    opts: &EngineOptions,
    cancel: Option<&std::sync::atomic::AtomicBool>,
    q: &dyn Queryable,
    query: &str,
    expr: &Expr,
    start: i64,
    end: i64,
    step: i64,
) -> Result<QueryResult, QueryError> {
    let mut ev = Ev {
        opts,
        q,
        query,
        start,
        end,
        interval: step.max(1),
        query_start: start,
        query_end: end,
        query_step: step,
        ann: Annotations::default(),
        deadline: Instant::now() + opts.timeout,
        cancel,
        samples: 0,
    };
    let val = ev.eval(expr)?;
    let instant = step == 0;
    let value = match val {
        Val::Scalar(v) if instant => Value::Scalar { t: start, v: v.first().copied().unwrap_or(f64::NAN) },
        Val::Scalar(v) => {
            let floats = ev.steps().zip(v).collect();
            Value::Matrix(vec![Series { metric: Arc::new(Labels::default()), floats, drop_name: false }])
        }
        Val::String(s) => Value::String { t: start, s },
        Val::Vector(series) => {
            let series = finish_names(series)?;
            if instant {
                Value::Vector(
                    series
                        .into_iter()
                        .filter_map(|s| {
                            s.floats.first().map(|&(_, f)| Sample { metric: s.metric, t: start, f, drop_name: false })
                        })
                        .collect(),
                )
            } else {
                let mut series = series;
                series.sort_by(|a, b| a.metric.cmp(&b.metric));
                Value::Matrix(series)
            }
        }
        Val::Range(r) => {
            let ts = start;
            let mut out = Vec::new();
            for s in r.series {
                let reft = r.at.unwrap_or(ts) - r.offset;
                let floats: Vec<(i64, f64)> =
                    s.floats.iter().copied().filter(|&(t, _)| t > reft - r.range && t <= reft).collect();
                if !floats.is_empty() {
                    out.push(Series { metric: s.metric, floats, drop_name: s.drop_name });
                }
            }
            Value::Matrix(finish_names(out)?)
        }
    };
    Ok(QueryResult { value, annotations: ev.ann })
}

/// Applies delayed `__name__` removal. Series that end up with one label set are merged
/// when they never share a step, and rejected when they do.
fn finish_names(mut series: Vec<Series>) -> Result<Vec<Series>, QueryError> {
    let mut any = false;
    for s in &mut series {
        if s.drop_name && s.metric.iter().any(|l| NAME_LABELS.contains(&l.name.as_str())) {
            s.metric = Arc::new(s.metric.without(&NAME_LABELS));
            any = true;
        }
        s.drop_name = false;
    }
    if !any {
        return Ok(series);
    }
    let mut index: FastMap<Metric, usize> = FastMap::default();
    let mut out: Vec<Series> = Vec::with_capacity(series.len());
    for s in series {
        match index.get(&s.metric) {
            None => {
                index.insert(s.metric.clone(), out.len());
                out.push(s);
            }
            Some(&i) => {
                let merged = &mut out[i].floats;
                merged.extend(s.floats);
                merged.sort_by_key(|p| p.0);
                if merged.windows(2).any(|w| w[0].0 == w[1].0) {
                    return Err(dup_labelset());
                }
            }
        }
    }
    Ok(out)
}

/// Labels dropped together with the metric name (the name, and the type and unit labels).
pub(super) const NAME_LABELS: [&str; 3] = ["__name__", "__type__", "__unit__"];

pub(super) fn dup_labelset() -> QueryError {
    QueryError::Execution("vector cannot contain metrics with the same labelset".into())
}

/// Gathers per-step samples into series keyed by label set, rejecting duplicates in a step.
///
/// Most results reuse their input's label set `Arc` from step to step, so series are first
/// looked up by pointer; the pointer map only holds `Arc`s the collector itself keeps alive
/// (each series' own), so an address is never reused for another label set.
///
/// Steps usually produce their series in the same order as the step before, so the series
/// after the last one pushed, then that one itself (series-by-series evaluation), are tried
/// first (pointer comparisons, no hashing).
pub(super) struct Collector {
    index: FastMap<Metric, usize>,
    by_ptr: FastMap<usize, usize>,
    pub(super) series: Vec<Series>,
    /// Where the next sample's series probably is.
    next: usize,
}

impl Collector {
    pub(super) fn new() -> Self {
        Collector { index: FastMap::default(), by_ptr: FastMap::default(), series: Vec::new(), next: 0 }
    }

    pub(super) fn push(&mut self, ts: i64, s: Sample) -> Result<(), QueryError> {
        let ptr = Arc::as_ptr(&s.metric) as usize;
        let same = |i: usize| self.series.get(i).is_some_and(|c| Arc::ptr_eq(&c.metric, &s.metric));
        let last = self.next.wrapping_sub(1);
        let hint = if same(self.next) {
            Some(self.next)
        } else if same(last) {
            Some(last)
        } else {
            None
        };
        let found = match hint {
            Some(i) => Some(i),
            None => match self.by_ptr.get(&ptr) {
                Some(&i) => Some(i),
                None => self.index.get(&s.metric).copied(),
            },
        };
        self.next = found.map_or(self.series.len() + 1, |i| i + 1);
        match found {
            Some(i) => {
                let ser = &mut self.series[i];
                if ser.floats.last().is_some_and(|p| p.0 == ts) {
                    return Err(dup_labelset());
                }
                ser.floats.push((ts, s.f));
                ser.drop_name |= s.drop_name;
            }
            None => {
                let i = self.series.len();
                self.index.insert(s.metric.clone(), i);
                self.by_ptr.insert(ptr, i);
                self.series.push(Series { metric: s.metric, floats: vec![(ts, s.f)], drop_name: s.drop_name });
            }
        }
        Ok(())
    }
}

/// Reads an instant vector step by step.
pub(super) struct StepReader<'s> {
    series: &'s [Series],
    pos: Vec<usize>,
}

impl<'s> StepReader<'s> {
    pub(super) fn new(series: &'s [Series]) -> Self {
        StepReader { series, pos: vec![0; series.len()] }
    }

    /// The samples at step `ts` (steps must be visited in increasing order).
    pub(super) fn at(&mut self, ts: i64, out: &mut Vec<Sample>) {
        out.clear();
        for (s, p) in self.series.iter().zip(self.pos.iter_mut()) {
            while *p < s.floats.len() && s.floats[*p].0 < ts {
                *p += 1;
            }
            if let Some(&(t, f)) = s.floats.get(*p)
                && t == ts
            {
                out.push(Sample { metric: s.metric.clone(), t: ts, f, drop_name: s.drop_name });
            }
        }
    }

    /// As [`StepReader::at`], also giving the index of each sample's series in `idx`.
    pub(super) fn at_indexed(&mut self, ts: i64, out: &mut Vec<Sample>, idx: &mut Vec<usize>) {
        out.clear();
        idx.clear();
        for (i, (s, p)) in self.series.iter().zip(self.pos.iter_mut()).enumerate() {
            while *p < s.floats.len() && s.floats[*p].0 < ts {
                *p += 1;
            }
            if let Some(&(t, f)) = s.floats.get(*p)
                && t == ts
            {
                out.push(Sample { metric: s.metric.clone(), t: ts, f, drop_name: s.drop_name });
                idx.push(i);
            }
        }
    }
}

/// Cuts the windows of a range vector step by step.
struct WindowReader<'s> {
    data: &'s RangeData,
    lookback: i64,
    lo: Vec<usize>,
    hi: Vec<usize>,
    /// [`super::functions::counter_name`] of each series.
    counter_name: Vec<bool>,
}

impl<'s> WindowReader<'s> {
    fn new(data: &'s RangeData, lookback: i64) -> Self {
        let counter_name = data.series.iter().map(|s| super::functions::counter_name(&s.metric)).collect();
        WindowReader { data, lookback, lo: vec![0; data.series.len()], hi: vec![0; data.series.len()], counter_name }
    }

    /// The non-empty windows `(ref - range, ref]` at step `ts`.
    fn at(&mut self, ts: i64, out: &mut Vec<Window<'s>>) {
        out.clear();
        for i in 0..self.data.series.len() {
            if let Some(w) = self.window(i, ts) {
                out.push(w);
            }
        }
    }

    /// Series `i`'s window at step `ts`, if it is not empty. For one series, steps must be
    /// visited in increasing order.
    fn window(&mut self, i: usize, ts: i64) -> Option<Window<'s>> {
        let d = self.data;
        let reft = d.at.unwrap_or(ts) - d.offset;
        let s = d.series.get(i)?;
        let f = &s.floats;
        let (lo, hi) = (self.lo.get_mut(i)?, self.hi.get_mut(i)?);
        if d.at.is_some() {
            *lo = 0;
            *hi = 0;
        }
        while *hi < f.len() && f[*hi].0 <= reft {
            *hi += 1;
        }
        while *lo < *hi && f[*lo].0 <= reft - d.range {
            *lo += 1;
        }
        // Extended selectors look one lookback delta beyond the window, no further.
        let start = reft - d.range;
        let before = if *lo > 0 && f[*lo - 1].0 > start - self.lookback { Some(f[*lo - 1]) } else { None };
        let after = f.get(*hi).copied().filter(|s| s.0 <= reft + self.lookback);
        let emit = if d.smoothed {
            *lo < *hi || (before.is_some() && after.is_some())
        } else if d.anchored {
            *lo < *hi || before.is_some()
        } else {
            *lo < *hi
        };
        emit.then(|| Window {
            metric: &s.metric,
            floats: &f[*lo..*hi],
            before,
            after,
            drop_name: s.drop_name,
            counter_name: self.counter_name.get(i).copied().unwrap_or(true),
        })
    }
}

impl<'a> Ev<'a> {
    /// The step timestamps.
    pub(super) fn steps(&self) -> impl Iterator<Item = i64> + use<> {
        let (start, end, step) = (self.start, self.end, self.interval);
        (0..).map(move |i| start + i * step).take_while(move |&t| t <= end)
    }

    pub(super) fn num_steps(&self) -> usize {
        ((self.end - self.start) / self.interval + 1) as usize
    }

    pub(super) fn check_deadline(&self) -> Result<(), QueryError> {
        if self.cancel.is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed)) {
            return Err(QueryError::Canceled("query execution"));
        }
        if Instant::now() > self.deadline {
            return Err(QueryError::Timeout("query execution"));
        }
        Ok(())
    }

    fn count_samples(&mut self, n: usize) -> Result<(), QueryError> {
        self.samples += n;
        if self.samples > self.opts.max_samples {
            return Err(QueryError::TooManySamples("query execution"));
        }
        Ok(())
    }

    pub(super) fn eval(&mut self, e: &Expr) -> Result<Val, QueryError> {
        self.check_deadline()?;
        match e {
            Expr::Number(n) => Ok(Val::Scalar(vec![n.value; self.num_steps()])),
            Expr::String(s) => Ok(Val::String(s.value.clone())),
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::Duration(d) => {
                let v = self.duration_secs(d)?;
                Ok(Val::Scalar(vec![v; self.num_steps()]))
            }
            Expr::Unary(u) => {
                let v = self.eval(&u.expr)?;
                Ok(match (u.op, v) {
                    (UnaryOp::Pos, v) => v,
                    (UnaryOp::Neg, Val::Scalar(v)) => Val::Scalar(v.into_iter().map(|x| -x).collect()),
                    (UnaryOp::Neg, Val::Vector(mut series)) => {
                        for s in &mut series {
                            s.drop_name = true;
                            for p in &mut s.floats {
                                p.1 = -p.1;
                            }
                        }
                        Val::Vector(series)
                    }
                    (UnaryOp::Neg, other) => other,
                })
            }
            Expr::VectorSelector(vs) => Ok(Val::Vector(self.vector_selector(vs, false)?)),
            Expr::MatrixSelector(ms) => Ok(Val::Range(self.matrix_selector(ms)?)),
            Expr::Subquery(sq) => Ok(Val::Range(self.subquery(sq)?)),
            Expr::Call(c) => self.call(c),
            Expr::Aggregate(a) => self.aggregate(a),
            Expr::Binary(b) => self.binary(b),
        }
    }

    /// Milliseconds of a duration value.
    pub(super) fn duration_ms(&mut self, d: &Option<DurationValue>) -> Result<i64, QueryError> {
        match d {
            None => Ok(0),
            Some(DurationValue::Fixed(ms)) => Ok(*ms),
            Some(DurationValue::Expr(e)) => {
                let secs = self.duration_secs(e)?;
                if !secs.is_finite() {
                    return Err(QueryError::Execution(format!("duration expression evaluated to {secs}")));
                }
                Ok((secs * 1000.0).round() as i64)
            }
        }
    }

    fn duration_secs(&mut self, d: &DurationExpr) -> Result<f64, QueryError> {
        Ok(match &d.kind {
            DurationExprKind::Number(n) => n.value,
            DurationExprKind::Binary { op, lhs, rhs } => {
                let (a, b) = (self.duration_secs(lhs)?, self.duration_secs(rhs)?);
                match op {
                    DurationOp::Add => a + b,
                    DurationOp::Sub => a - b,
                    DurationOp::Mul => a * b,
                    DurationOp::Div => {
                        if b == 0.0 {
                            return Err(QueryError::Execution("division by zero".into()));
                        }
                        a / b
                    }
                    DurationOp::Mod => {
                        if b == 0.0 {
                            return Err(QueryError::Execution("modulo by zero".into()));
                        }
                        a % b
                    }
                    DurationOp::Pow => a.powf(b),
                }
            }
            DurationExprKind::Neg(x) => -self.duration_secs(x)?,
            DurationExprKind::Step => self.query_step as f64 / 1000.0,
            DurationExprKind::Range => (self.query_end - self.query_start) as f64 / 1000.0,
            DurationExprKind::Start => self.query_start as f64 / 1000.0,
            DurationExprKind::End => self.query_end as f64 / 1000.0,
            // Go's math.Min/Max: NaN wins.
            DurationExprKind::MinOf(a, b) => {
                let (a, b) = (self.duration_secs(a)?, self.duration_secs(b)?);
                if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) }
            }
            DurationExprKind::MaxOf(a, b) => {
                let (a, b) = (self.duration_secs(a)?, self.duration_secs(b)?);
                if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
            }
        })
    }

    fn at_ms(&self, at: &Option<AtModifier>) -> Option<i64> {
        at.map(|a| match a {
            AtModifier::Timestamp(t) => t,
            AtModifier::Start => self.query_start,
            AtModifier::End => self.query_end,
        })
    }

    fn select(&mut self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<super::SelectResult, QueryError> {
        let data = self.q.select(mint, maxt, matchers).map_err(QueryError::Storage)?;
        self.count_samples(data.iter().map(|d| d.1.len()).sum())?;
        Ok(data)
    }

    /// An instant vector selector at every step; with `timestamps`, values are the samples'
    /// timestamps in seconds (for `timestamp(selector)`).
    pub(super) fn vector_selector(&mut self, vs: &VectorSelector, timestamps: bool) -> Result<Vec<Series>, QueryError> {
        let offset = self.duration_ms(&vs.offset)?;
        let at = self.at_ms(&vs.at);
        let lookback = self.opts.lookback_delta_ms;
        let (lo, hi) = match at {
            Some(a) => (a - offset, a - offset),
            None => (self.start - offset, self.end - offset),
        };
        // `smoothed` interpolates towards the first sample after the evaluation time.
        let ahead = if vs.smoothed { lookback } else { 0 };
        let data = self.select(lo - lookback + 1, hi + ahead, &vs.matchers)?;
        let steps: Vec<i64> = self.steps().collect();
        let mut out = Vec::with_capacity(data.len());
        for (labels, samples) in data {
            let mut floats = Vec::new();
            let mut p = 0;
            for &ts in &steps {
                let reft = at.unwrap_or(ts) - offset;
                if at.is_some() {
                    p = 0;
                }
                while p < samples.len() && samples[p].0 <= reft {
                    p += 1;
                }
                if p == 0 {
                    continue;
                }
                let (t, v) = samples[p - 1];
                if t <= reft - lookback || is_stale_nan(v) {
                    continue;
                }
                let mut v = if timestamps { t as f64 / 1000.0 } else { v };
                if vs.smoothed
                    && t < reft
                    && let Some(&(at, av)) = samples.get(p)
                    && at - reft <= lookback
                    && !is_stale_nan(av)
                {
                    v += (av - v) * (reft - t) as f64 / (at - t) as f64;
                }
                floats.push((ts, v));
            }
            if !floats.is_empty() {
                out.push(Series { metric: Arc::new(labels), floats, drop_name: timestamps });
            }
        }
        Ok(out)
    }

    fn matrix_selector(&mut self, ms: &MatrixSelector) -> Result<RangeData, QueryError> {
        let vs = &ms.selector;
        let range = self.duration_ms(&Some(ms.range.clone()))?;
        let offset = self.duration_ms(&vs.offset)?;
        let at = self.at_ms(&vs.at);
        let (lo, hi) = match at {
            Some(a) => (a - offset, a - offset),
            None => (self.start - offset, self.end - offset),
        };
        let extended = vs.anchored || vs.smoothed;
        let extra = if extended { self.opts.lookback_delta_ms } else { 0 };
        let data = self.select(lo - range + 1 - extra, hi + if vs.smoothed { extra } else { 0 }, &vs.matchers)?;
        let series = data
            .into_iter()
            .map(|(labels, mut samples)| {
                samples.retain(|s| !is_stale_nan(s.1));
                Series { metric: Arc::new(labels), floats: samples, drop_name: false }
            })
            .collect();
        Ok(RangeData { series, range, offset, at, anchored: vs.anchored, smoothed: vs.smoothed })
    }

    fn subquery(&mut self, sq: &SubqueryExpr) -> Result<RangeData, QueryError> {
        let range = self.duration_ms(&Some(sq.range.clone()))?;
        let step = match &sq.step {
            Some(s) => self.duration_ms(&Some(s.clone()))?,
            None => self.opts.default_subquery_step_ms,
        };
        if step <= 0 {
            return Err(QueryError::Execution("subquery step must be positive".into()));
        }
        let offset = self.duration_ms(&sq.offset)?;
        let at = self.at_ms(&sq.at);
        let (lo, hi) = match at {
            Some(a) => (a - offset, a - offset),
            None => (self.start - offset, self.end - offset),
        };
        // The first step-aligned timestamp after the window start, as Prometheus.
        let first = lo - range;
        let mut start = first.div_euclid(step) * step;
        if start <= first {
            start += step;
        }
        let mut inner = Ev {
            opts: self.opts,
            q: self.q,
            query: self.query,
            start,
            end: hi,
            interval: step,
            query_start: self.query_start,
            query_end: self.query_end,
            query_step: self.query_step,
            ann: Annotations::default(),
            deadline: self.deadline,
            cancel: self.cancel,
            samples: self.samples,
        };
        let val = if start > hi { Val::Vector(Vec::new()) } else { inner.eval(&sq.expr)? };
        self.samples = inner.samples;
        self.ann.merge(std::mem::take(&mut inner.ann));
        let series = match val {
            Val::Vector(s) => s,
            Val::Scalar(v) => {
                let floats = inner.steps().zip(v).collect();
                vec![Series { metric: Arc::new(Labels::default()), floats, drop_name: false }]
            }
            _ => return Err(QueryError::Execution("subquery of a non-vector expression".into())),
        };
        Ok(RangeData { series, range, offset, at, anchored: false, smoothed: false })
    }

    fn call(&mut self, c: &Call) -> Result<Val, QueryError> {
        let name = c.func.name;
        match name {
            "time" => return Ok(Val::Scalar(self.steps().map(|t| t as f64 / 1000.0).collect())),
            "info" => return self.info(c),
            "pi" => return Ok(Val::Scalar(vec![std::f64::consts::PI; self.num_steps()])),
            "vector" => {
                let Val::Scalar(v) = self.eval(&c.args[0])? else {
                    return Err(QueryError::Execution("vector() needs a scalar".into()));
                };
                let floats = self.steps().zip(v).collect();
                return Ok(Val::Vector(vec![Series { metric: Arc::new(Labels::default()), floats, drop_name: false }]));
            }
            "scalar" => {
                let Val::Vector(series) = self.eval(&c.args[0])? else {
                    return Err(QueryError::Execution("scalar() needs an instant vector".into()));
                };
                let mut r = StepReader::new(&series);
                let mut buf = Vec::new();
                let steps: Vec<i64> = self.steps().collect();
                let out = steps
                    .into_iter()
                    .map(|ts| {
                        r.at(ts, &mut buf);
                        if buf.len() == 1 { buf[0].f } else { f64::NAN }
                    })
                    .collect();
                return Ok(Val::Scalar(out));
            }
            "timestamp" => {
                let mut arg = &c.args[0];
                while let Expr::Paren(p) = arg {
                    arg = &p.expr;
                }
                if let Expr::VectorSelector(vs) = arg {
                    return Ok(Val::Vector(self.vector_selector(vs, true)?));
                }
            }
            _ => {}
        }
        if name.starts_with("sort") && self.query_step != 0 {
            self.ann.add(
                super::value::AnnotationKind::Warning,
                "sort is ineffective for range queries since results are always ordered by labels",
                self.query,
                c.pos,
            );
        }
        let Some(imp) = functions::lookup(name) else {
            return Err(QueryError::Execution(format!("function \"{name}\" is not supported yet")));
        };
        let vals: Vec<Val> = c.args.iter().map(|a| self.eval(a)).collect::<Result<_, _>>()?;
        for v in &vals {
            if let Val::Range(r) = v {
                if r.smoothed && !matches!(name, "delta" | "increase" | "rate") {
                    return Err(QueryError::Execution(format!(
                        "smoothed modifier can only be used with: delta, increase, rate - not with {name}"
                    )));
                }
                if r.anchored && !matches!(name, "changes" | "delta" | "increase" | "rate" | "resets") {
                    return Err(QueryError::Execution(format!(
                        "anchored modifier can only be used with: changes, delta, increase, rate, resets - not with {name}"
                    )));
                }
            }
        }
        let (range_ms, anchored, smoothed) = vals
            .iter()
            .find_map(|v| if let Val::Range(r) = v { Some((r.range, r.anchored, r.smoothed)) } else { None })
            .unwrap_or((0, false, false));
        if let [Val::Range(r)] = vals.as_slice()
            && per_window(name)
        {
            return self.call_series_major(c, imp, r);
        }
        let mut vec_readers: Vec<Option<StepReader>> =
            vals.iter().map(|v| if let Val::Vector(s) = v { Some(StepReader::new(s)) } else { None }).collect();
        let mut win_readers: Vec<Option<WindowReader>> = vals
            .iter()
            .map(|v| if let Val::Range(r) = v { Some(WindowReader::new(r, self.opts.lookback_delta_ms)) } else { None })
            .collect();
        let mut vec_bufs: Vec<Vec<Sample>> = vals.iter().map(|_| Vec::new()).collect();
        let mut win_bufs: Vec<Vec<Window>> = vals.iter().map(|_| Vec::new()).collect();
        let mut out = Vec::new();
        let mut col = Collector::new();
        let steps: Vec<i64> = self.steps().collect();
        for (i, &ts) in steps.iter().enumerate() {
            for (k, v) in vals.iter().enumerate() {
                match v {
                    Val::Vector(_) => {
                        if let Some(r) = &mut vec_readers[k] {
                            r.at(ts, &mut vec_bufs[k]);
                        }
                    }
                    Val::Range(_) => {
                        if let Some(r) = &mut win_readers[k] {
                            r.at(ts, &mut win_bufs[k]);
                        }
                    }
                    _ => {}
                }
            }
            let args: Vec<Arg> = vals
                .iter()
                .enumerate()
                .map(|(k, v)| match v {
                    Val::Scalar(s) => Arg::Scalar(s[i]),
                    Val::String(s) => Arg::String(s),
                    Val::Vector(_) => Arg::Vector(&vec_bufs[k]),
                    Val::Range(_) => Arg::Matrix(&win_bufs[k]),
                })
                .collect();
            self.call_at(c, imp, &args, ts, (range_ms, anchored, smoothed), &mut out, &mut col)?;
            if i % 256 == 255 {
                self.check_deadline()?;
            }
        }
        Ok(Val::Vector(col.series))
    }

    /// Runs a function at one step (`range`: the range argument's length, anchored and
    /// smoothed flags) and collects its output.
    #[allow(clippy::too_many_arguments)]
    fn call_at(
        &mut self,
        c: &crate::promql::ast::Call,
        imp: functions::FnImpl,
        args: &[Arg<'_>],
        ts: i64,
        range: (i64, bool, bool),
        out: &mut Vec<Sample>,
        col: &mut Collector,
    ) -> Result<(), QueryError> {
        let (range_ms, anchored, smoothed) = range;
        let mut ctx = FnCtx {
            ts,
            range_ms,
            anchored,
            smoothed,
            args: &c.args,
            pos: c.pos,
            query: self.query,
            annotations: &mut self.ann,
        };
        out.clear();
        imp(args, &mut ctx, out).map_err(|e| QueryError::Execution(e.0))?;
        for s in out.drain(..) {
            col.push(ts, s)?;
        }
        Ok(())
    }

    /// A function of one range vector whose value for a series depends on that series'
    /// window alone ([`per_window`]), evaluated series by series: each series' samples are
    /// read once for all steps while they are in cache, instead of every series at every
    /// step. The result is the same as step by step (annotations are a set; series order is
    /// settled by the caller).
    fn call_series_major(
        &mut self,
        c: &crate::promql::ast::Call,
        imp: functions::FnImpl,
        r: &RangeData,
    ) -> Result<Val, QueryError> {
        let mut reader = WindowReader::new(r, self.opts.lookback_delta_ms);
        let steps: Vec<i64> = self.steps().collect();
        let mut col = Collector::new();
        let mut out = Vec::new();
        for i in 0..r.series.len() {
            for &ts in &steps {
                let Some(w) = reader.window(i, ts) else { continue };
                let args = [Arg::Matrix(std::slice::from_ref(&w))];
                self.call_at(c, imp, &args, ts, (r.range, r.anchored, r.smoothed), &mut out, &mut col)?;
            }
            if i % 256 == 255 {
                self.check_deadline()?;
            }
        }
        Ok(Val::Vector(col.series))
    }
}

/// Functions of a single range vector argument whose output for a series at a step depends
/// only on that series' window there (one output sample at most, with the series' labels).
fn per_window(name: &str) -> bool {
    matches!(
        name,
        "rate"
            | "increase"
            | "delta"
            | "irate"
            | "idelta"
            | "changes"
            | "resets"
            | "deriv"
            | "avg_over_time"
            | "min_over_time"
            | "max_over_time"
            | "sum_over_time"
            | "count_over_time"
            | "last_over_time"
            | "stddev_over_time"
            | "stdvar_over_time"
            | "present_over_time"
    )
}
