//! `info(v, {selector})`: enriches series with the data labels of matching info series
//! (`target_info` by default), joined on the identifying labels `instance` and `job`.

use super::QueryError;
use super::eval::{Collector, Ev, StepReader, Val};
use super::value::Sample;
use crate::model::{Label, Labels, MatchType, Matcher};
use crate::promql::ast::*;
use std::sync::Arc;

/// The labels an info series is joined on.
const IDENTIFYING: [&str; 2] = ["instance", "job"];

impl Ev<'_> {
    pub(super) fn info(&mut self, c: &Call) -> Result<Val, QueryError> {
        let Val::Vector(base) = self.eval(&c.args[0])? else {
            return Err(QueryError::Execution("info() needs an instant vector".into()));
        };
        let given: Vec<Matcher> = match c.args.get(1) {
            Some(Expr::VectorSelector(vs)) => vs.matchers.clone(),
            _ => Vec::new(),
        };
        let (mut name_m, data_m): (Vec<Matcher>, Vec<Matcher>) = given.into_iter().partition(|m| m.name == "__name__");
        if name_m.is_empty() {
            name_m.push(Matcher::equal("__name__", "target_info"));
        } else if !name_m.iter().any(|m| matches!(m.kind, MatchType::Equal | MatchType::Regex)) {
            // Only negative name matchers: they narrow the info metrics (`*_info`).
            name_m.push(Matcher::new(MatchType::Regex, "__name__", ".+_info").map_err(|e| QueryError::Execution(e.0))?);
        }
        let mut sel_matchers = name_m.clone();
        sel_matchers.extend(data_m.iter().cloned());
        // The info series are read as of the base samples' own reference time.
        let (at, offset_ms) = time_shift(&c.args[0], self)?;
        let vs = VectorSelector {
            name: String::new(),
            matchers: sel_matchers,
            offset: (offset_ms != 0).then_some(DurationValue::Fixed(offset_ms)),
            at,
            anchored: false,
            smoothed: false,
            bypass_empty_matcher_check: true,
            pos: c.pos,
        };
        let info_vals = self.vector_selector(&vs, false)?;
        let info_times = self.vector_selector(&vs, true)?;
        let is_info = |m: &Labels| name_m.iter().all(|nm| nm.matches(m.get("__name__").unwrap_or("")));
        let empty_ok = data_m.iter().all(|m| m.matches_empty());
        let wanted: Option<Vec<&str>> =
            if data_m.is_empty() { None } else { Some(data_m.iter().map(|m| m.name.as_str()).collect()) };

        let mut br = StepReader::new(&base);
        let mut ir = StepReader::new(&info_vals);
        let mut tr = StepReader::new(&info_times);
        let (mut bbuf, mut ibuf, mut tbuf) = (Vec::new(), Vec::new(), Vec::new());
        let mut col = Collector::new();
        let steps: Vec<i64> = self.steps().collect();
        for ts in steps {
            br.at(ts, &mut bbuf);
            ir.at(ts, &mut ibuf);
            tr.at(ts, &mut tbuf);
            for s in bbuf.drain(..) {
                if is_info(&s.metric) {
                    col.push(ts, s)?;
                    continue;
                }
                let id = |m: &Labels| IDENTIFYING.map(|n| m.get(n).unwrap_or("").to_string());
                let key = id(&s.metric);
                // The matching info series, newest sample first within one metric name.
                let mut matches: Vec<(&Sample, f64)> =
                    ibuf.iter().zip(tbuf.iter()).filter(|(i, _)| id(&i.metric) == key).map(|(i, t)| (i, t.f)).collect();
                matches.sort_by(|a, b| b.1.total_cmp(&a.1));
                let mut seen_names: Vec<&str> = Vec::new();
                let mut added: Vec<Label> = Vec::new();
                for (i, _) in &matches {
                    let name = i.metric.get("__name__").unwrap_or("");
                    if seen_names.contains(&name) {
                        continue;
                    }
                    seen_names.push(name);
                    for l in i.metric.iter() {
                        if l.name == "__name__" || IDENTIFYING.contains(&l.name.as_str()) {
                            continue;
                        }
                        if wanted.as_ref().is_some_and(|w| !w.contains(&l.name.as_str())) {
                            continue;
                        }
                        if s.metric.get(&l.name).is_some() {
                            continue;
                        }
                        if let Some(prev) = added.iter().find(|a| a.name == l.name) {
                            if prev.value != l.value {
                                return Err(QueryError::Execution(format!(
                                    "info: conflicting label {:?} with values {:?} and {:?} from different info metrics",
                                    l.name, prev.value, l.value
                                )));
                            }
                            continue;
                        }
                        added.push(l.clone());
                    }
                }
                if matches.is_empty() && !empty_ok {
                    continue;
                }
                let metric = if added.is_empty() {
                    s.metric.clone()
                } else {
                    let mut all = s.metric.as_slice().to_vec();
                    all.extend(added);
                    Arc::new(Labels::new(all).unwrap_or_default())
                };
                col.push(ts, Sample { metric, ..s })?;
            }
        }
        Ok(Val::Vector(col.series))
    }
}

/// The `@` and total offset under which an expression reads its samples, following the first
/// vector-valued argument down to its selector.
fn time_shift(e: &Expr, ev: &mut Ev<'_>) -> Result<(Option<AtModifier>, i64), QueryError> {
    Ok(match e {
        Expr::VectorSelector(vs) => (vs.at, ev.duration_ms(&vs.offset)?),
        Expr::MatrixSelector(ms) => (ms.selector.at, ev.duration_ms(&ms.selector.offset)?),
        Expr::Subquery(sq) => {
            let (inner_at, inner_off) = time_shift(&sq.expr, ev)?;
            let off = ev.duration_ms(&sq.offset)?;
            match (sq.at, inner_at) {
                (_, Some(a)) => (Some(a), inner_off),
                (a, None) => (a, off + inner_off),
            }
        }
        Expr::Paren(p) => time_shift(&p.expr, ev)?,
        Expr::Unary(u) => time_shift(&u.expr, ev)?,
        Expr::Aggregate(a) => time_shift(&a.expr, ev)?,
        Expr::Call(c) => {
            match c.args.iter().find(|a| matches!(a.value_type(), ValueType::Vector | ValueType::Matrix)) {
                Some(a) => time_shift(a, ev)?,
                None => (None, 0),
            }
        }
        Expr::Binary(b) => time_shift(&b.lhs, ev)?,
        _ => (None, 0),
    })
}
