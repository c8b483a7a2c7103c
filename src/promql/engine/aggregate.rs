//! Aggregation operators, evaluated per step over groups of samples.

use super::QueryError;
use super::eval::{Collector, Ev, StepReader, Val};
use super::functions::{kahan_inc, quantile};
use super::value::{AnnotationKind, Metric, Sample};
use crate::model::{Label, Labels};
use crate::promql::ast::*;
use std::sync::Arc;

/// Whether label `name` belongs to the group key.
fn in_group(name: &str, a: &AggregateExpr) -> bool {
    if a.without {
        !a.grouping.iter().any(|g| g == name) && !super::eval::NAME_LABELS.contains(&name)
    } else {
        a.grouping.iter().any(|g| g == name)
    }
}

/// A hash of the grouping labels of `m` (computed without building them).
fn group_hash(m: &Labels, a: &AggregateExpr) -> u64 {
    let mut h = xxhash_rust::xxh64::Xxh64::new(0);
    for l in m.iter().filter(|l| in_group(&l.name, a)) {
        h.update(l.name.as_bytes());
        h.update(&[0xff]);
        h.update(l.value.as_bytes());
        h.update(&[0xff]);
    }
    h.digest()
}

/// The grouping labels of `m`.
fn group_key(m: &Labels, a: &AggregateExpr) -> Labels {
    Labels::from_sorted_unchecked(m.iter().filter(|l| in_group(&l.name, a)).cloned().collect())
}

/// Formats a float as Go's `strconv.FormatFloat(f, 'f', -1, 64)` (for `count_values`).
fn format_go_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        // Rust's shortest round-trip representation matches Go's `-1` precision in 'f' form.
        let s = format!("{f}");
        if s == "-0" { "-0".into() } else { s }
    }
}

#[derive(Default)]
struct Group {
    metric: Option<Metric>,
    count: f64,
    sum: f64,
    c: f64,
    mean: f64,
    m2: f64,
    value: f64,
    values: Vec<f64>,
    members: Vec<Sample>,
    incremental_mean: bool,
    /// A member's name is marked for removal (carried to the output when `by (__name__)`).
    drop_name: bool,
}

impl Ev<'_> {
    pub(super) fn aggregate(&mut self, a: &AggregateExpr) -> Result<Val, QueryError> {
        let param = match &a.param {
            Some(p) => Some(self.eval(p)?),
            None => None,
        };
        let Val::Vector(input) = self.eval(&a.expr)? else {
            return Err(QueryError::Execution(format!("{}: expected an instant vector", a.op)));
        };
        let label_param = match (&param, a.op) {
            (Some(Val::String(s)), AggregateOp::CountValues) => {
                if !valid_label_name(s) {
                    return Err(QueryError::Execution(format!("invalid label name \"{s}\"")));
                }
                Some(s.clone())
            }
            _ => None,
        };
        let scalar_param = |i: usize| -> f64 {
            match &param {
                Some(Val::Scalar(v)) => v[i],
                _ => f64::NAN,
            }
        };
        let mut reader = StepReader::new(&input);
        let (mut buf, mut idx) = (Vec::new(), Vec::new());
        let mut col = Collector::new();
        let steps: Vec<i64> = self.steps().collect();
        // Each input series' group is found once per query, not per step: `group_of[i]` is
        // the index in `keys` of series `i`'s group key.
        let mut by_hash: super::eval::FastMap<u64, usize> = Default::default();
        let mut keys: Vec<Metric> = Vec::new();
        let group_of: Vec<usize> = input
            .iter()
            .map(|s| {
                *by_hash.entry(group_hash(&s.metric, a)).or_insert_with(|| {
                    keys.push(Arc::new(group_key(&s.metric, a)));
                    keys.len() - 1
                })
            })
            .collect();
        // Per step: the position in `groups` of each group seen so far (usize::MAX: none).
        let mut slot: Vec<usize> = vec![usize::MAX; keys.len()];
        let mut groups: Vec<(usize, Group)> = Vec::new();
        for (i, ts) in steps.into_iter().enumerate() {
            reader.at_indexed(ts, &mut buf, &mut idx);
            groups.clear();
            let p = scalar_param(i);
            if matches!(a.op, AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk) {
                if p.is_nan() {
                    return Err(QueryError::Execution("Parameter value is NaN".into()));
                }
                if p.abs() > 9.223_372_036_854_776e18 {
                    return Err(QueryError::Execution(format!("Scalar value {p} overflows int64")));
                }
            }
            if a.op == AggregateOp::LimitRatio && p.is_nan() {
                return Err(QueryError::Execution("Ratio value is NaN".into()));
            }
            if a.op == AggregateOp::Quantile && !(0.0..=1.0).contains(&p) {
                let pos = a.param.as_ref().map_or(a.pos, |e| e.pos());
                self.ann.add(
                    AnnotationKind::Warning,
                    &format!("quantile value should be between 0 and 1, got {}", crate::promql::GoFloat(p)),
                    self.query,
                    pos,
                );
            }
            if a.op == AggregateOp::LimitRatio && !(-1.0..=1.0).contains(&p) {
                let pos = a.param.as_ref().map_or(a.pos, |e| e.pos());
                self.ann.add(
                    AnnotationKind::Warning,
                    &format!(
                        "ratio value should be between -1 and 1, got {}, capping to {}",
                        crate::promql::GoFloat(p),
                        if p < 0.0 { -1 } else { 1 }
                    ),
                    self.query,
                    pos,
                );
            }
            for (s, &series) in buf.drain(..).zip(&idx) {
                let g = group_of.get(series).copied().unwrap_or(0);
                let Some(pos) = slot.get_mut(g) else { continue };
                if *pos == usize::MAX {
                    *pos = groups.len();
                    groups.push((g, Group::default()));
                }
                if let Some(entry) = groups.get_mut(*pos) {
                    add_to_group(a.op, &mut entry.1, s, p);
                }
            }
            for (g, group) in groups.drain(..) {
                if let Some(pos) = slot.get_mut(g) {
                    *pos = usize::MAX;
                }
                let Some(key) = keys.get(g) else { continue };
                for s in finish_group(a, group, key, p, ts, label_param.as_deref())? {
                    col.push(ts, s)?;
                }
            }
            if i % 256 == 255 {
                self.check_deadline()?;
            }
        }
        Ok(Val::Vector(col.series))
    }
}

fn add_to_group(op: AggregateOp, g: &mut Group, s: Sample, p: f64) {
    let f = s.f;
    g.drop_name |= s.drop_name;
    let first = g.count == 0.0;
    g.count += 1.0;
    match op {
        AggregateOp::Sum => {
            let (sum, c) = kahan_inc(f, g.sum, g.c);
            g.sum = sum;
            g.c = c;
        }
        AggregateOp::Avg => {
            if first {
                g.mean = f;
                g.sum = f;
                return;
            }
            if !g.incremental_mean {
                let (sum, c) = kahan_inc(f, g.sum, g.c);
                if !sum.is_infinite() || f.is_infinite() {
                    g.sum = sum;
                    g.c = c;
                    return;
                }
                // The sum overflowed: continue with an incremental mean.
                g.incremental_mean = true;
                g.mean = g.sum / (g.count - 1.0);
                g.c /= g.count - 1.0;
            }
            if g.mean.is_infinite() {
                if f.is_infinite() && (g.mean > 0.0) == (f > 0.0) {
                    return;
                }
                if !f.is_infinite() && !f.is_nan() {
                    return;
                }
            }
            let (mean, c) = kahan_inc(f / g.count - (g.mean + g.c) / g.count, g.mean, g.c);
            g.mean = mean;
            g.c = c;
        }
        AggregateOp::Min => {
            if first || g.value > f || g.value.is_nan() {
                g.value = f;
            }
        }
        AggregateOp::Max => {
            if first || g.value < f || g.value.is_nan() {
                g.value = f;
            }
        }
        AggregateOp::Stddev | AggregateOp::Stdvar => {
            let delta = f - g.mean;
            g.mean += delta / g.count;
            g.m2 += delta * (f - g.mean);
        }
        AggregateOp::Quantile | AggregateOp::CountValues => g.values.push(f),
        AggregateOp::Count | AggregateOp::Group => {}
        AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk | AggregateOp::LimitRatio => {
            let _ = p;
            g.members.push(s);
            return;
        }
    }
    if g.metric.is_none() {
        g.metric = Some(s.metric);
    }
}

fn finish_group(
    a: &AggregateExpr,
    mut g: Group,
    key: &Metric,
    p: f64,
    ts: i64,
    label: Option<&str>,
) -> Result<Vec<Sample>, QueryError> {
    let drop = g.drop_name && key.get("__name__").is_some();
    let one = |f: f64| vec![Sample { metric: key.clone(), t: ts, f, drop_name: drop }];
    Ok(match a.op {
        AggregateOp::Sum => one(if g.c.is_finite() { g.sum + g.c } else { g.sum }),
        AggregateOp::Avg => {
            if g.incremental_mean {
                one(g.mean + g.c)
            } else {
                let s = if g.c.is_finite() { g.sum + g.c } else { g.sum };
                one(s / g.count)
            }
        }
        AggregateOp::Count => one(g.count),
        AggregateOp::Group => one(1.0),
        AggregateOp::Min | AggregateOp::Max => one(g.value),
        AggregateOp::Stdvar => one(g.m2 / g.count),
        AggregateOp::Stddev => one((g.m2 / g.count).sqrt()),
        AggregateOp::Quantile => one(quantile(p, &mut g.values)),
        AggregateOp::CountValues => {
            let name = label.unwrap_or("value");
            let mut counts: Vec<(String, f64)> = Vec::new();
            for v in &g.values {
                let s = format_go_float(*v);
                match counts.iter_mut().find(|(k, _)| *k == s) {
                    Some(e) => e.1 += 1.0,
                    None => counts.push((s, 1.0)),
                }
            }
            counts
                .into_iter()
                .map(|(v, c)| {
                    let mut labels: Vec<Label> = key.iter().filter(|l| l.name != name).cloned().collect();
                    labels.push(Label::new(name, v));
                    Sample { metric: Arc::new(Labels::new(labels).unwrap_or_default()), t: ts, f: c, drop_name: false }
                })
                .collect()
        }
        AggregateOp::Topk | AggregateOp::Bottomk => {
            let k = p as i64;
            if k < 1 {
                return Ok(Vec::new());
            }
            let top = a.op == AggregateOp::Topk;
            let mut m = g.members;
            // NaN sorts last either way.
            m.sort_by(|x, y| {
                let (a, b) = (x.f, y.f);
                match (a.is_nan(), b.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if top => b.total_cmp(&a),
                    _ => a.total_cmp(&b),
                }
            });
            m.truncate(k as usize);
            m.into_iter().map(|s| Sample { t: ts, ..s }).collect()
        }
        AggregateOp::Limitk => {
            let k = p as i64;
            if k < 1 {
                return Ok(Vec::new());
            }
            let mut m = g.members;
            m.truncate(k as usize);
            m.into_iter().map(|s| Sample { t: ts, ..s }).collect()
        }
        AggregateOp::LimitRatio => {
            let r = p.clamp(-1.0, 1.0);
            g.members
                .into_iter()
                .filter(|s| {
                    let off = s.metric.stable_hash() as f64 / u64::MAX as f64;
                    (r >= 0.0 && off < r) || (r < 0.0 && off >= 1.0 + r)
                })
                .map(|s| Sample { t: ts, ..s })
                .collect()
        }
    })
}

/// Whether `s` is a valid label name (UTF-8 names are allowed in Prometheus 3, but not empty).
fn valid_label_name(s: &str) -> bool {
    !s.is_empty()
}
