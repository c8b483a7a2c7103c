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

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// The labels a vector-matching signature covers: the `on` labels, or all but the
/// `ignoring` ones and `__name__`.
fn match_group<'m>(m: &'m Labels, matching: &'m VectorMatching) -> impl Iterator<Item = (&'m str, &'m str)> + 'm {
    let on = matching.on.then(|| matching.matching_labels.iter().map(move |n| (n.as_str(), m.get(n).unwrap_or(""))));
    let ignoring = (!matching.on).then(|| {
        m.iter()
            .filter(move |l| l.name != "__name__" && !matching.matching_labels.contains(&l.name))
            .map(|l| (l.name.as_str(), l.value.as_str()))
    });
    on.into_iter().flatten().chain(ignoring.into_iter().flatten())
}

/// A 64-bit hash of the match group (collisions are as unlikely as Prometheus accepts for its
/// own signatures).
fn signature(m: &Labels, matching: &VectorMatching) -> u64 {
    let mut h = xxhash_rust::xxh64::Xxh64::new(0);
    for (n, v) in match_group(m, matching) {
        h.update(n.as_bytes());
        h.update(&[0xff]);
        h.update(v.as_bytes());
        h.update(&[0xff]);
    }
    h.digest()
}

/// The match group as a label set (for error messages and filled results).
fn sig_labels(m: &Labels, matching: &VectorMatching) -> Labels {
    Labels::new(match_group(m, matching).map(|(n, v)| Label::new(n, v)).collect()).unwrap_or_default()
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
        let mut one_sigs: FastMap<u64, &Sample> = FastMap::default();
        for s in one {
            let sig = signature(&s.metric, matching);
            if let Some(prev) = one_sigs.get(&sig) {
                let mut pair = [prev.metric.to_string(), s.metric.to_string()];
                pair.sort();
                return Err(QueryError::Execution(format!(
                    "found duplicate series for the match group {} on the {one_side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    sig_labels(&s.metric, matching),
                    pair[0],
                    pair[1]
                )));
            }
            one_sigs.insert(sig, s);
        }
        let mut matched: FastSet<u64> = FastSet::default();
        let mut inserted: FastSet<Metric> = FastSet::default();
        let fill = matching.fill;
        let mut matched_one: FastSet<u64> = FastSet::default();
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
                matched_one.insert(sig);
            }
            if matching.card == VectorMatchCardinality::OneToOne && !matched.insert(sig) {
                return Err(QueryError::Execution(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                        .into(),
                ));
            }
            let (fl, fr) = if one_to_many { (ov, ms.f) } else { (ms.f, ov) };
            let Some(val) = apply_op(b.op, b.return_bool, fl, fr) else { continue };
            let metric = result_metric(&ms.metric, os_metric.map(|m| &**m), matching);
            if matching.card != VectorMatchCardinality::OneToOne && !inserted.insert(metric.clone()) {
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
                let metric = Arc::new(sig_labels(&os.metric, matching));
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
    let sigs: FastSet<u64> = rhs.iter().map(|s| signature(&s.metric, m)).collect();
    for s in lhs {
        if sigs.contains(&signature(&s.metric, m)) == keep_matching {
            out.push(s.clone());
        }
    }
}

fn set_or(lhs: &[Sample], rhs: &[Sample], m: &VectorMatching, out: &mut Vec<Sample>) {
    let sigs: FastSet<u64> = lhs.iter().map(|s| signature(&s.metric, m)).collect();
    out.extend(lhs.iter().cloned());
    for s in rhs {
        if !sigs.contains(&signature(&s.metric, m)) {
            out.push(s.clone());
        }
    }
}
