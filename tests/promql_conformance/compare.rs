//! Result and annotation comparison (FORMAT.md sections 10 and 11).

use crate::engine::{Outcome, Value};
use crate::script::{Eval, EvalKind, Expected, Legacy, SeriesLine, TextMatch};
use crate::series::Item;
use cairn::model::{Labels, is_stale_nan};
use std::fmt::Write as _;

/// Prometheus's float equality for test results (FORMAT.md 10.1): stale equals only stale,
/// NaN equals NaN, otherwise exact or within a relative tolerance of 1e-6 (an expected or
/// actual zero demands exactness).
pub fn float_eq(exp: f64, got: f64) -> bool {
    const EPS: f64 = 1e-6;
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if is_stale_nan(exp) || is_stale_nan(got) {
        return is_stale_nan(exp) && is_stale_nan(got);
    }
    if exp.is_nan() || got.is_nan() {
        return exp.is_nan() && got.is_nan();
    }
    if exp == got {
        return true;
    }
    let diff = (exp - got).abs();
    let sum = exp.abs() + got.abs();
    if exp == 0.0 || got == 0.0 || sum < MIN_NORMAL {
        return diff < EPS * MIN_NORMAL;
    }
    diff / sum.min(f64::MAX) < EPS
}

/// Renders a value briefly for failure reports.
pub fn show_value(v: &Value) -> String {
    let mut s = String::new();
    match v {
        Value::Scalar(f) => {
            let _ = write!(s, "scalar {f}");
        }
        Value::String(t) => {
            let _ = write!(s, "string {t:?}");
        }
        Value::Vector(samples) => {
            let _ = write!(s, "vector of {}:", samples.len());
            for (l, f) in samples {
                let _ = write!(s, " {l} {f};");
            }
        }
        Value::Matrix(series) => {
            let _ = write!(s, "matrix of {}:", series.len());
            for (l, pts) in series {
                let _ = write!(s, " {l} [");
                for (t, f) in pts {
                    let _ = write!(s, "{f}@{t} ");
                }
                s.push_str("];");
            }
        }
    }
    s
}

/// Renders the expectation briefly for failure reports.
pub fn show_expected(e: &Expected) -> String {
    match e {
        Expected::Scalar(f) => format!("scalar {f}"),
        Expected::String(t) => format!("string {t:?}"),
        Expected::Series(lines) => {
            let mut s = format!("{} series:", lines.len());
            for l in lines {
                let _ = write!(s, " {} [", l.labels);
                for it in &l.items {
                    match it {
                        Item::Float(f) => {
                            let _ = write!(s, "{f} ");
                        }
                        Item::Omit => s.push_str("_ "),
                        Item::Histogram => s.push_str("{{..}} "),
                    }
                }
                s.push_str("];");
            }
            s
        }
    }
}

/// Checks the failure expectation; on success returns the outcome to check further.
pub fn check_failure<'a>(eval: &Eval, res: &'a Result<Outcome, String>) -> Result<Option<&'a Outcome>, String> {
    match (&eval.fail, res) {
        (Some(m), Err(e)) if m.matches(e) => Ok(None),
        (Some(m), Err(e)) => Err(format!("error {e:?} does not fit the expected {m}")),
        (Some(m), Ok(o)) => Err(format!("expected an error ({m}), got {}", show_value(&o.value))),
        (None, Err(e)) => Err(format!("unexpected error: {e} (expected {})", show_expected(&eval.expected))),
        (None, Ok(o)) => Ok(Some(o)),
    }
}

fn check_kind(kind: &str, expects: &[TextMatch], none: bool, legacy_any: bool, got: &[String]) -> Result<(), String> {
    if none && !got.is_empty() {
        return Err(format!("expected no {kind} annotations, got {got:?}"));
    }
    if (legacy_any || !expects.is_empty()) && got.is_empty() {
        return Err(format!("expected {kind} annotations, got none"));
    }
    for m in expects {
        if !got.iter().any(|g| m.matches(g)) {
            return Err(format!("no {kind} annotation fits the expected {m}; got {got:?}"));
        }
    }
    if !expects.is_empty()
        && let Some(g) = got.iter().find(|g| !expects.iter().any(|m| m.matches(g)))
    {
        return Err(format!("unexpected {kind} annotation {g:?}"));
    }
    Ok(())
}

/// Checks warnings and infos (FORMAT.md 11) of a successful query.
pub fn check_annotations(eval: &Eval, o: &Outcome) -> Result<(), String> {
    check_kind("warning", &eval.warn, eval.no_warn, eval.legacy == Legacy::Warn, &o.warnings)?;
    check_kind("info", &eval.info, eval.no_info, eval.legacy == Legacy::Info, &o.infos)
}

fn single_value(line: &SeriesLine) -> Result<f64, String> {
    match line.items.as_slice() {
        [Item::Float(f)] => Ok(*f),
        [Item::Histogram] => Err(format!("{}: histogram results are not supported by this runner", line.labels)),
        _ => Err(format!("{}: an instant expectation needs exactly one float", line.labels)),
    }
}

/// Compares an instant vector with the expected series lines (FORMAT.md 10.2).
pub fn compare_vector(expected: &[SeriesLine], got: &[(Labels, f64)], ordered: bool) -> Result<(), String> {
    for (i, (labels, _)) in got.iter().enumerate() {
        if got[..i].iter().any(|(l, _)| l == labels) {
            return Err(format!("series {labels} appears twice in the result"));
        }
    }
    for (pos, (labels, v)) in got.iter().enumerate() {
        let Some(idx) = expected.iter().position(|e| &e.labels == labels) else {
            return Err(format!("unexpected series {labels} {v}"));
        };
        let want = single_value(&expected[idx])?;
        if ordered && idx != pos {
            return Err(format!("series {labels} at position {} but expected at {}", pos + 1, idx + 1));
        }
        if !float_eq(want, *v) {
            return Err(format!("series {labels}: expected {want}, got {v}"));
        }
    }
    for e in expected {
        if !got.iter().any(|(l, _)| l == &e.labels) {
            return Err(format!("expected series {} is missing", e.labels));
        }
    }
    Ok(())
}

/// Whether a matrix is sorted by label set (FORMAT.md 10.4); `Labels`' derived order is
/// exactly Prometheus's `labels.Compare` (name, then value, pair by pair, prefix first).
pub fn check_sorted(got: &[(Labels, Vec<(i64, f64)>)]) -> Result<(), String> {
    match got.windows(2).find(|w| w[0].0 > w[1].0) {
        Some(w) => Err(format!("result is not sorted by labels: {} before {}", w[0].0, w[1].0)),
        None => Ok(()),
    }
}

/// Compares a matrix with expected series whose position i is at `start + i*step` (10.4).
pub fn compare_matrix(
    expected: &[SeriesLine],
    got: &[(Labels, Vec<(i64, f64)>)],
    start: i64,
    step: i64,
) -> Result<(), String> {
    check_sorted(got)?;
    for (i, (labels, _)) in got.iter().enumerate() {
        if got[..i].iter().any(|(l, _)| l == labels) {
            return Err(format!("series {labels} appears twice in the result"));
        }
    }
    for (labels, points) in got {
        let Some(e) = expected.iter().find(|e| &e.labels == labels) else {
            return Err(format!("unexpected series {labels} with {} points", points.len()));
        };
        let mut want = Vec::new();
        for (i, it) in e.items.iter().enumerate() {
            let t = start + i as i64 * step;
            match it {
                Item::Float(f) => want.push((t, *f)),
                Item::Omit => {}
                Item::Histogram => return Err(format!("{labels}: histogram results are not supported by this runner")),
            }
        }
        if want.len() != points.len() {
            return Err(format!("series {labels}: expected {} points, got {}", want.len(), points.len()));
        }
        for (&(wt, wv), &(gt, gv)) in want.iter().zip(points) {
            if wt != gt {
                return Err(format!("series {labels}: expected a point at {wt}, got one at {gt}"));
            }
            if !float_eq(wv, gv) {
                return Err(format!("series {labels} at {wt}: expected {wv}, got {gv}"));
            }
        }
    }
    for e in expected {
        if !got.iter().any(|(l, _)| l == &e.labels) {
            return Err(format!("expected series {} is missing", e.labels));
        }
    }
    Ok(())
}

/// Compares the value of the main query or an `@`-pinned variant (FORMAT.md 10).
pub fn check_value(eval: &Eval, v: &Value) -> Result<(), String> {
    let mismatch = || Err(format!("expected {}, got {}", show_expected(&eval.expected), show_value(v)));
    match (&eval.expected, v) {
        (Expected::Scalar(want), Value::Scalar(got)) => {
            if float_eq(*want, *got) {
                Ok(())
            } else {
                mismatch()
            }
        }
        (Expected::String(want), Value::String(got)) => {
            if want == got {
                Ok(())
            } else {
                mismatch()
            }
        }
        (Expected::Series(lines), Value::Matrix(m)) => match (eval.kind, eval.range_vector) {
            (EvalKind::Range { start, step, .. }, _) => compare_matrix(lines, m, start, step),
            (EvalKind::Instant { .. }, Some((t1, _, d))) => compare_matrix(lines, m, t1, d),
            (EvalKind::Instant { .. }, None) => {
                Err(format!("got a range vector from an instant eval: {}", show_value(v)))
            }
        },
        (Expected::Series(lines), Value::Vector(samples))
            if matches!(eval.kind, EvalKind::Instant { .. }) && eval.range_vector.is_none() =>
        {
            compare_vector(lines, samples, eval.ordered)
        }
        _ => mismatch(),
    }
}

/// The range-mode check of an instant eval (FORMAT.md 9c): the range result around `t`
/// must be sorted, and its points at exactly `t` must fit the expectation.
pub fn check_range_mode(eval: &Eval, v: &Value, t: i64) -> Result<(), String> {
    let Value::Matrix(m) = v else {
        return Err(format!("range query returned {}", show_value(v)));
    };
    check_sorted(m)?;
    let at_t: Vec<(Labels, f64)> =
        m.iter().filter_map(|(l, pts)| pts.iter().find(|(pt, _)| *pt == t).map(|&(_, f)| (l.clone(), f))).collect();
    match &eval.expected {
        Expected::Scalar(want) => match at_t.as_slice() {
            [(_, got)] if float_eq(*want, *got) => Ok(()),
            _ => Err(format!("range mode at {t}: expected scalar {want}, got {}", show_value(v))),
        },
        Expected::Series(lines) => compare_vector(lines, &at_t, false).map_err(|e| format!("range mode at {t}: {e}")),
        Expected::String(_) => Err("range mode does not apply to strings".into()),
    }
}
