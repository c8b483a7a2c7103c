//! Binary operators: scalar/scalar, vector/scalar and vector/vector with label matching.

use super::QueryError;
use super::eval::{Collector, Ev, StepReader, Val};
use super::value::{Metric, Sample, Series};
use crate::model::{Label, Labels};
use crate::promql::ast::*;
use std::collections::HashMap;
use std::sync::Arc;

/// Applies an arithmetic or comparison operator to two floats: the value, and whether a
/// comparison holds (always true for arithmetic). Comparisons return the left value.
pub(super) fn elem_op(op: BinaryOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinaryOp::Add => (l + r, true),
        BinaryOp::Sub => (l - r, true),
        BinaryOp::Mul => (l * r, true),
        BinaryOp::Div => (l / r, true),
        BinaryOp::Mod => (l % r, true),
        BinaryOp::Pow => (l.powf(r), true),
        BinaryOp::Atan2 => (l.atan2(r), true),
        BinaryOp::Eql => (l, l == r),
        BinaryOp::Neq => (l, l != r),
        BinaryOp::Gtr => (l, l > r),
        BinaryOp::Lss => (l, l < r),
        BinaryOp::Gte => (l, l >= r),
        BinaryOp::Lte => (l, l <= r),
        // Set and histogram-trim operators never reach float arithmetic.
        _ => (f64::NAN, false),
    }
}

/// Like [`elem_op`], with the `bool` modifier applied: `None` when a comparison filters the
/// pair out.
fn apply_op(op: BinaryOp, return_bool: bool, l: f64, r: f64) -> Option<f64> {
    let (val, keep) = elem_op(op, l, r);
    if return_bool { Some(if keep { 1.0 } else { 0.0 }) } else { keep.then_some(val) }
}

/// Whether the result of `op` loses the metric name.
fn drops_name(op: BinaryOp, return_bool: bool) -> bool {
    !op.is_comparison() || return_bool
}

/// The labels a vector-matching signature is computed from.
fn signature(m: &Labels, matching: &VectorMatching) -> Vec<(String, String)> {
    if matching.on {
        matching.matching_labels.iter().map(|n| (n.clone(), m.get(n).unwrap_or("").to_string())).collect()
    } else {
        m.iter()
            .filter(|l| l.name != "__name__" && !matching.matching_labels.contains(&l.name))
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect()
    }
}

fn sig_labels(sig: &[(String, String)]) -> Labels {
    Labels::new(sig.iter().map(|(n, v)| Label::new(n.clone(), v.clone())).collect()).unwrap_or_default()
}

impl Ev<'_> {
    pub(super) fn binary(&mut self, b: &BinaryExpr) -> Result<Val, QueryError> {
        let lhs = self.eval(&b.lhs)?;
        let rhs = self.eval(&b.rhs)?;
        match (lhs, rhs) {
            (Val::Scalar(l), Val::Scalar(r)) => Ok(Val::Scalar(
                l.into_iter()
                    .zip(r)
                    .map(|(l, r)| {
                        let (v, keep) = elem_op(b.op, l, r);
                        if b.op.is_comparison() { if keep { 1.0 } else { 0.0 } } else { v }
                    })
                    .collect(),
            )),
            (Val::Vector(v), Val::Scalar(s)) => Ok(Val::Vector(self.vector_scalar(b, v, &s, false))),
            (Val::Scalar(s), Val::Vector(v)) => Ok(Val::Vector(self.vector_scalar(b, v, &s, true))),
            (Val::Vector(l), Val::Vector(r)) => self.vector_vector(b, l, r).map(Val::Vector),
            _ => Err(QueryError::Execution(format!("invalid operands for binary operator {}", b.op))),
        }
    }

    fn vector_scalar(&self, b: &BinaryExpr, mut v: Vec<Series>, s: &[f64], scalar_left: bool) -> Vec<Series> {
        let start = self.start;
        let step = self.interval;
        let drop = drops_name(b.op, b.return_bool);
        for series in &mut v {
            series.floats.retain_mut(|p| {
                let sv = s[((p.0 - start) / step) as usize];
                let (l, r) = if scalar_left { (sv, p.1) } else { (p.1, sv) };
                let (mut val, mut keep) = elem_op(b.op, l, r);
                if b.op.is_comparison() && scalar_left {
                    val = p.1;
                }
                if b.return_bool {
                    val = if keep { 1.0 } else { 0.0 };
                    keep = true;
                }
                p.1 = val;
                keep
            });
            series.drop_name |= drop;
        }
        v.retain(|s| !s.floats.is_empty());
        v
    }

    fn vector_vector(&mut self, b: &BinaryExpr, lhs: Vec<Series>, rhs: Vec<Series>) -> Result<Vec<Series>, QueryError> {
        let default_matching = VectorMatching {
            card: VectorMatchCardinality::OneToOne,
            matching_labels: Vec::new(),
            on: false,
            include: Vec::new(),
            fill: FillValues::default(),
        };
        let matching = b.matching.as_ref().unwrap_or(&default_matching);
        let mut lr = StepReader::new(&lhs);
        let mut rr = StepReader::new(&rhs);
        let (mut lbuf, mut rbuf) = (Vec::new(), Vec::new());
        let mut col = Collector::new();
        let steps: Vec<i64> = self.steps().collect();
        let mut out = Vec::new();
        for (i, ts) in steps.into_iter().enumerate() {
            lr.at(ts, &mut lbuf);
            rr.at(ts, &mut rbuf);
            out.clear();
            match b.op {
                BinaryOp::And => set_and(&lbuf, &rbuf, matching, true, &mut out),
                BinaryOp::Unless => set_and(&lbuf, &rbuf, matching, false, &mut out),
                BinaryOp::Or => set_or(&lbuf, &rbuf, matching, &mut out),
                _ => self.match_op(b, matching, &lbuf, &rbuf, &mut out)?,
            }
            for s in out.drain(..) {
                col.push(ts, s)?;
            }
            if i % 256 == 255 {
                self.check_deadline()?;
            }
        }
        Ok(col.series)
    }

    fn match_op(
        &self,
        b: &BinaryExpr,
        matching: &VectorMatching,
        lhs: &[Sample],
        rhs: &[Sample],
        out: &mut Vec<Sample>,
    ) -> Result<(), QueryError> {
        let one_to_many = matching.card == VectorMatchCardinality::OneToMany;
        let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
        let one_side = if one_to_many { "left" } else { "right" };
        // The "one" side: unique per signature.
        let mut one_sigs: HashMap<Vec<(String, String)>, &Sample> = HashMap::new();
        for s in one {
            let sig = signature(&s.metric, matching);
            if let Some(prev) = one_sigs.get(&sig) {
                let mut pair = [prev.metric.to_string(), s.metric.to_string()];
                pair.sort();
                return Err(QueryError::Execution(format!(
                    "found duplicate series for the match group {} on the {one_side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    sig_labels(&sig),
                    pair[0],
                    pair[1]
                )));
            }
            one_sigs.insert(sig, s);
        }
        let mut matched: HashMap<Vec<(String, String)>, ()> = HashMap::new();
        let mut inserted: HashMap<Metric, ()> = HashMap::new();
        let fill = matching.fill;
        let mut matched_one: std::collections::HashSet<Vec<(String, String)>> = std::collections::HashSet::new();
        for ms in many {
            let sig = signature(&ms.metric, matching);
            let os = one_sigs.get(&sig).copied();
            let (os_metric, ov) = match os {
                Some(os) => (Some(&os.metric), os.f),
                None => {
                    // `fill`: a missing "one" side takes the right fill value. As in
                    // Prometheus, `group_right` swaps the sides before fill values apply.
                    match fill.rhs {
                        Some(f) => (None, f),
                        None => continue,
                    }
                }
            };
            if os.is_some() {
                matched_one.insert(sig.clone());
            }
            if matching.card == VectorMatchCardinality::OneToOne && matched.insert(sig.clone(), ()).is_some() {
                return Err(QueryError::Execution(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                        .into(),
                ));
            }
            let (fl, fr) = if one_to_many { (ov, ms.f) } else { (ms.f, ov) };
            let Some(val) = apply_op(b.op, b.return_bool, fl, fr) else { continue };
            let metric = result_metric(&ms.metric, os_metric.map(|m| &**m), matching);
            if matching.card != VectorMatchCardinality::OneToOne && inserted.insert(metric.clone(), ()).is_some() {
                return Err(QueryError::Execution(
                    "multiple matches for labels: grouping labels must ensure unique matches".into(),
                ));
            }
            out.push(Sample { metric, t: ms.t, f: val, drop_name: drops_name(b.op, b.return_bool) || ms.drop_name });
        }
        // `fill` on the "many" side: unmatched "one" samples pair with the left fill value
        // and carry the match group's labels.
        if let Some(f) = fill.lhs {
            for os in one {
                let sig = signature(&os.metric, matching);
                if matched_one.contains(&sig) {
                    continue;
                }
                let (fl, fr) = if one_to_many { (os.f, f) } else { (f, os.f) };
                let Some(val) = apply_op(b.op, b.return_bool, fl, fr) else { continue };
                let metric = Arc::new(sig_labels(&sig));
                out.push(Sample {
                    metric,
                    t: os.t,
                    f: val,
                    drop_name: drops_name(b.op, b.return_bool) || os.drop_name,
                });
            }
        }
        Ok(())
    }
}

/// The labels of a vector/vector result, as Prometheus's `resultMetric`.
fn result_metric(many: &Labels, one: Option<&Labels>, matching: &VectorMatching) -> Metric {
    let mut labels: Vec<Label> = if matching.card == VectorMatchCardinality::OneToOne {
        if matching.on {
            many.iter().filter(|l| matching.matching_labels.contains(&l.name)).cloned().collect()
        } else {
            many.iter().filter(|l| !matching.matching_labels.contains(&l.name)).cloned().collect()
        }
    } else {
        many.as_slice().to_vec()
    };
    for name in &matching.include {
        labels.retain(|l| &l.name != name);
        if let Some(v) = one.and_then(|o| o.get(name))
            && !v.is_empty()
        {
            labels.push(Label::new(name.clone(), v));
        }
    }
    Arc::new(Labels::new(labels).unwrap_or_default())
}

fn set_and(lhs: &[Sample], rhs: &[Sample], m: &VectorMatching, keep_matching: bool, out: &mut Vec<Sample>) {
    let sigs: std::collections::HashSet<Vec<(String, String)>> = rhs.iter().map(|s| signature(&s.metric, m)).collect();
    for s in lhs {
        if sigs.contains(&signature(&s.metric, m)) == keep_matching {
            out.push(s.clone());
        }
    }
}

fn set_or(lhs: &[Sample], rhs: &[Sample], m: &VectorMatching, out: &mut Vec<Sample>) {
    let sigs: std::collections::HashSet<Vec<(String, String)>> = lhs.iter().map(|s| signature(&s.metric, m)).collect();
    out.extend(lhs.iter().cloned());
    for s in rhs {
        if !sigs.contains(&signature(&s.metric, m)) {
            out.push(s.clone());
        }
    }
}
