//! The runner's self-test engine: it answers each eval from that eval's own expectations, so
//! a run with it shows that every script parses and that the comparison accepts correct
//! answers (`PROMQL_RUNNER_SELFTEST=1`).
//!
//! It is deliberately not a pass-through: unordered vectors come back reversed, range-mode
//! results carry decoy points beside the one at the evaluation time, range results are sorted
//! by labels, queries at unexpected times fail, and regex expectations are answered with a
//! generated text that the regex must match.

use crate::engine::{Engine, Outcome, Value};
use crate::script::{Eval, EvalKind, Expected, Legacy, SeriesLine, TextMatch};
use crate::series::Item;
use cairn::model::Labels;
use cairn::tsdb::Db;
use regex_syntax::hir::{Class, Hir, HirKind};

/// A value that no expectation uses, for decoy points.
const DECOY: f64 = -123_456.789;

/// Answers from one eval's expectations.
pub struct FakeEngine<'a> {
    eval: &'a Eval,
}

impl<'a> FakeEngine<'a> {
    /// A fake for `eval`.
    pub fn new(eval: &'a Eval) -> Self {
        FakeEngine { eval }
    }

    fn outcome(&self, value: Value) -> Result<Outcome, String> {
        if let Some(m) = &self.eval.fail {
            return Err(text_for(m, "fake error"));
        }
        let annotations = |ms: &[TextMatch], legacy: bool, kind: &str| -> Vec<String> {
            let mut v: Vec<String> = ms.iter().map(|m| text_for(m, &format!("PromQL {kind}: fake (1:1)"))).collect();
            if legacy && v.is_empty() {
                v.push(format!("PromQL {kind}: fake (1:1)"));
            }
            v.dedup();
            v
        };
        Ok(Outcome {
            value,
            warnings: annotations(&self.eval.warn, self.eval.legacy == Legacy::Warn, "warning"),
            infos: annotations(&self.eval.info, self.eval.legacy == Legacy::Info, "info"),
        })
    }
}

/// A text that fits `m`.
fn text_for(m: &TextMatch, any: &str) -> String {
    match m {
        TextMatch::Any => any.to_string(),
        TextMatch::Exact(s) => s.clone(),
        TextMatch::Regex(r) => {
            example_for(r.as_str()).filter(|s| r.is_match(s)).unwrap_or_else(|| r.as_str().to_string())
        }
    }
}

/// A shortest-ish string matching `pattern`, built from its syntax tree.
pub fn example_for(pattern: &str) -> Option<String> {
    fn walk(h: &Hir, out: &mut String) {
        match h.kind() {
            HirKind::Empty | HirKind::Look(_) => {}
            HirKind::Literal(l) => out.push_str(&String::from_utf8_lossy(&l.0)),
            HirKind::Class(Class::Unicode(c)) => {
                let pick = ['a', '0', ' ']
                    .into_iter()
                    .find(|ch| c.ranges().iter().any(|r| r.start() <= *ch && *ch <= r.end()));
                if let Some(ch) = pick.or_else(|| c.ranges().first().map(|r| r.start())) {
                    out.push(ch);
                }
            }
            HirKind::Class(Class::Bytes(c)) => {
                if let Some(r) = c.ranges().first() {
                    out.push(char::from(r.start()));
                }
            }
            HirKind::Repetition(r) => {
                for _ in 0..r.min {
                    walk(&r.sub, out);
                }
            }
            HirKind::Capture(c) => walk(&c.sub, out),
            HirKind::Concat(v) => v.iter().for_each(|h| walk(h, out)),
            HirKind::Alternation(v) => {
                if let Some(h) = v.first() {
                    walk(h, out);
                }
            }
        }
    }
    let hir = regex_syntax::parse(pattern).ok()?;
    let mut out = String::new();
    walk(&hir, &mut out);
    Some(out)
}

fn float_points(line: &SeriesLine, start: i64, step: i64) -> Result<Vec<(i64, f64)>, String> {
    let mut pts = Vec::new();
    for (i, it) in line.items.iter().enumerate() {
        match it {
            Item::Float(f) => pts.push((start + i as i64 * step, *f)),
            Item::Omit => {}
            Item::Histogram => return Err("fake engine: histograms not modelled".into()),
        }
    }
    Ok(pts)
}

fn matrix(lines: &[SeriesLine], start: i64, step: i64) -> Result<Value, String> {
    let mut m = Vec::new();
    for l in lines {
        let pts = float_points(l, start, step)?;
        if !pts.is_empty() {
            m.push((l.labels.clone(), pts));
        }
    }
    m.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Value::Matrix(m))
}

impl Engine for FakeEngine<'_> {
    fn check_syntax(&self, _query: &str) -> Result<(), String> {
        Ok(())
    }

    fn instant(&self, _db: &Db, query: &str, t_ms: i64) -> Result<Outcome, String> {
        let e = self.eval;
        if query == e.expr && Some(t_ms) != e.instant_time() {
            return Err(format!("fake engine: instant query at unexpected time {t_ms}"));
        }
        let value = match (&e.expected, e.range_vector) {
            (Expected::Scalar(f), _) => Value::Scalar(*f),
            (Expected::String(s), _) => Value::String(s.clone()),
            (Expected::Series(lines), Some((t1, _, d))) => matrix(lines, t1, d)?,
            (Expected::Series(lines), None) => {
                let mut v = Vec::new();
                for l in lines {
                    match l.items.as_slice() {
                        [Item::Float(f)] => v.push((l.labels.clone(), *f)),
                        _ => return Err("fake engine: not a single float".into()),
                    }
                }
                if !e.ordered {
                    v.reverse();
                }
                Value::Vector(v)
            }
        };
        self.outcome(value)
    }

    fn range(&self, _db: &Db, _query: &str, start: i64, end: i64, step: i64) -> Result<Outcome, String> {
        let e = self.eval;
        match e.kind {
            EvalKind::Range { start: s, end: en, step: st } => {
                if (s, en, st) != (start, end, step) {
                    return Err(format!("fake engine: range query {start}..{end}/{step} not asked for"));
                }
                let Expected::Series(lines) = &e.expected else {
                    return Err("fake engine: range eval without series".into());
                };
                let value = matrix(lines, start, step)?;
                self.outcome(value)
            }
            EvalKind::Instant { .. } => {
                if step != 60_000 || end - start != 120_000 {
                    return Err(format!("fake engine: unexpected range-mode query {start}..{end}/{step}"));
                }
                let t = start + step;
                let around = |f: f64| vec![(start, DECOY), (t, f), (end, DECOY)];
                let mut m = match &e.expected {
                    Expected::Scalar(f) => vec![(Labels::default(), around(*f))],
                    Expected::Series(lines) => {
                        let mut m = Vec::new();
                        for l in lines {
                            match l.items.as_slice() {
                                [Item::Float(f)] => m.push((l.labels.clone(), around(*f))),
                                _ => return Err("fake engine: not a single float".into()),
                            }
                        }
                        m
                    }
                    Expected::String(_) => return Err("fake engine: no range mode for strings".into()),
                };
                m.sort_by(|a, b| a.0.cmp(&b.0));
                // Annotations are not checked in range mode, so none are produced.
                Ok(Outcome::plain(Value::Matrix(m)))
            }
        }
    }

    fn pin_at(&self, query: &str, at_ms: i64) -> Option<String> {
        Some(format!("{query} /* pinned at {at_ms} */"))
    }
}
