//! Canonical PromQL text for a tree, as Prometheus' `String()` methods print it (the output of
//! `/api/v1/format_query`).
//!
//! A parsed tree prints as Prometheus prints it. For trees built by hand the printer also adds
//! the parentheses that operator precedence requires, so that parsing the output always gives
//! the tree back.

use std::fmt::{self, Display, Formatter, Write as _};

use crate::model::duration::format_duration;
use crate::model::{MatchType, Matcher};

use super::ast::*;
use super::lexer::go_quote;

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Aggregate(a) => {
                f.write_str(a.op.name())?;
                if a.without {
                    write!(f, " without ({}) ", Labels(&a.grouping))?;
                } else if !a.grouping.is_empty() {
                    write!(f, " by ({}) ", Labels(&a.grouping))?;
                }
                f.write_char('(')?;
                if let Some(p) = &a.param {
                    write!(f, "{p}, ")?;
                }
                write!(f, "{})", a.expr)
            }
            Expr::Binary(b) => fmt_binary(b, f),
            Expr::Call(c) => {
                write!(f, "{}(", c.func.name)?;
                for (i, a) in c.args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_char(')')
            }
            Expr::MatrixSelector(m) => {
                fmt_selector_body(&m.selector, f)?;
                f.write_char('[')?;
                fmt_duration_value(&m.range, f)?;
                f.write_char(']')?;
                fmt_selector_modifiers(&m.selector, f)
            }
            Expr::Subquery(s) => {
                if needs_parens_as_operand(&s.expr) {
                    write!(f, "({})", s.expr)?;
                } else {
                    write!(f, "{}", s.expr)?;
                }
                f.write_char('[')?;
                fmt_duration_value(&s.range, f)?;
                f.write_char(':')?;
                if let Some(step) = &s.step {
                    fmt_duration_value(step, f)?;
                }
                f.write_char(']')?;
                fmt_at(s.at, f)?;
                fmt_offset(s.offset.as_ref(), f)
            }
            Expr::Number(n) => fmt_number(n, f),
            Expr::Paren(p) => write!(f, "({})", p.expr),
            Expr::String(s) => f.write_str(&go_quote(&s.value)),
            Expr::Unary(u) => {
                f.write_char(if u.op == UnaryOp::Neg { '-' } else { '+' })?;
                let paren = match &*u.expr {
                    Expr::Binary(b) => b.op != BinaryOp::Pow,
                    Expr::Number(n) => n.value.is_sign_negative(),
                    _ => false,
                };
                if paren { write!(f, "({})", u.expr) } else { write!(f, "{}", u.expr) }
            }
            Expr::VectorSelector(vs) => {
                fmt_selector_body(vs, f)?;
                fmt_selector_modifiers(vs, f)
            }
            Expr::Duration(d) => write!(f, "{d}"),
        }
    }
}

/// Whether `e` must be parenthesised before a postfix (`[...]`, `offset`) to keep its meaning.
fn needs_parens_as_operand(e: &Expr) -> bool {
    match e {
        Expr::Binary(_) | Expr::Unary(_) => true,
        Expr::Number(n) => n.value.is_sign_negative(),
        Expr::Duration(d) => !d.wrapped && matches!(d.kind, DurationExprKind::Binary { .. } | DurationExprKind::Neg(_)),
        _ => false,
    }
}

fn fmt_binary(b: &BinaryExpr, f: &mut Formatter<'_>) -> fmt::Result {
    let prec = b.op.precedence();
    let lhs_paren = match &*b.lhs {
        Expr::Binary(l) => l.op.precedence() < prec || (l.op.precedence() == prec && b.op.is_right_associative()),
        // `-a ^ b` parses as `-(a ^ b)`.
        Expr::Unary(_) => b.op == BinaryOp::Pow,
        Expr::Number(n) => b.op == BinaryOp::Pow && n.value.is_sign_negative(),
        _ => false,
    };
    let rhs_paren = match &*b.rhs {
        Expr::Binary(r) => r.op.precedence() < prec || (r.op.precedence() == prec && !b.op.is_right_associative()),
        _ => false,
    };
    if lhs_paren {
        write!(f, "({})", b.lhs)?;
    } else if matches!(&*b.lhs, Expr::Number(n) if b.op == BinaryOp::Pow && n.value == f64::INFINITY && !n.duration) {
        // Go prints `+Inf`, but `+Inf ^ x` parses as `+(Inf ^ x)`: print it unsigned so the
        // output parses back to the same tree (found by the promql_parse fuzz target).
        f.write_str("Inf")?;
    } else {
        write!(f, "{}", b.lhs)?;
    }
    write!(f, " {}", b.op)?;
    if b.return_bool {
        f.write_str(" bool")?;
    }
    if let Some(m) = &b.matching {
        let grouped = matches!(m.card, VectorMatchCardinality::ManyToOne | VectorMatchCardinality::OneToMany);
        if !m.matching_labels.is_empty() || m.on || grouped {
            let tag = if m.on { "on" } else { "ignoring" };
            write!(f, " {tag} ({})", Labels(&m.matching_labels))?;
            if grouped {
                let side = if m.card == VectorMatchCardinality::ManyToOne { "left" } else { "right" };
                write!(f, " group_{side}")?;
                if !m.include.is_empty() {
                    write!(f, " ({})", Labels(&m.include))?;
                }
            }
        }
        match (m.fill.lhs, m.fill.rhs) {
            (Some(l), Some(r)) if l == r || (l.is_nan() && r.is_nan()) => write!(f, " fill({})", GoFloat(l))?,
            (l, r) => {
                if let Some(l) = l {
                    write!(f, " fill_left({})", GoFloat(l))?;
                }
                if let Some(r) = r {
                    write!(f, " fill_right({})", GoFloat(r))?;
                }
            }
        }
    }
    f.write_char(' ')?;
    if rhs_paren { write!(f, "({})", b.rhs) } else { write!(f, "{}", b.rhs) }
}

/// A list of label names, quoted where the plain form would not parse back.
struct Labels<'a>(&'a [String]);

impl Display for Labels<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, l) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            let plain = is_legacy_label_name(l) && !l.eq_ignore_ascii_case("inf") && !l.eq_ignore_ascii_case("nan");
            if plain {
                f.write_str(l)?;
            } else {
                f.write_str(&go_quote(l))?;
            }
        }
        Ok(())
    }
}

fn is_legacy_label_name(s: &str) -> bool {
    let mut it = s.bytes();
    matches!(it.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_')) && it.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_legacy_metric_name(s: &str) -> bool {
    let mut it = s.bytes();
    matches!(it.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_' | b':'))
        && it.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

fn fmt_matcher(m: &Matcher, f: &mut Formatter<'_>) -> fmt::Result {
    if is_legacy_label_name(&m.name) {
        f.write_str(&m.name)?;
    } else {
        f.write_str(&go_quote(&m.name))?;
    }
    write!(f, "{}{}", m.kind, go_quote(&m.value))
}

/// The name and matchers of a selector, without modifiers.
fn fmt_selector_body(vs: &VectorSelector, f: &mut Formatter<'_>) -> fmt::Result {
    let shown: Vec<&Matcher> = vs
        .matchers
        .iter()
        .filter(|m| !(m.name == "__name__" && m.kind == MatchType::Equal && m.value == vs.name && !m.value.is_empty()))
        .collect();
    let legacy = vs.name.is_empty() || is_legacy_metric_name(&vs.name);
    if legacy {
        f.write_str(&vs.name)?;
    }
    if shown.is_empty() && legacy && !vs.name.is_empty() {
        return Ok(());
    }
    f.write_char('{')?;
    let mut first = true;
    if !legacy {
        f.write_str(&go_quote(&vs.name))?;
        first = false;
    }
    for m in shown {
        if !first {
            f.write_char(',')?;
        }
        first = false;
        fmt_matcher(m, f)?;
    }
    f.write_char('}')
}

fn fmt_selector_modifiers(vs: &VectorSelector, f: &mut Formatter<'_>) -> fmt::Result {
    fmt_at(vs.at, f)?;
    fmt_offset(vs.offset.as_ref(), f)?;
    if vs.anchored {
        f.write_str(" anchored")?;
    }
    if vs.smoothed {
        f.write_str(" smoothed")?;
    }
    Ok(())
}

fn fmt_at(at: Option<AtModifier>, f: &mut Formatter<'_>) -> fmt::Result {
    match at {
        None => Ok(()),
        Some(AtModifier::Start) => f.write_str(" @ start()"),
        Some(AtModifier::End) => f.write_str(" @ end()"),
        Some(AtModifier::Timestamp(ms)) => {
            let sign = if ms < 0 { "-" } else { "" };
            let abs = ms.unsigned_abs();
            write!(f, " @ {sign}{}.{:03}", abs / 1000, abs % 1000)
        }
    }
}

fn fmt_offset(offset: Option<&DurationValue>, f: &mut Formatter<'_>) -> fmt::Result {
    match offset {
        None => Ok(()),
        Some(DurationValue::Fixed(ms)) => write!(f, " offset {}", format_duration(*ms)),
        Some(DurationValue::Expr(d)) => {
            // Only a single term may follow `offset` without parentheses.
            let single = d.wrapped
                || match &d.kind {
                    DurationExprKind::Binary { .. } => false,
                    DurationExprKind::Neg(inner) => {
                        inner.wrapped
                            || !matches!(inner.kind, DurationExprKind::Binary { .. } | DurationExprKind::Neg(_))
                    }
                    _ => true,
                };
            if single { write!(f, " offset {d}") } else { write!(f, " offset ({d})") }
        }
    }
}

fn fmt_duration_value(d: &DurationValue, f: &mut Formatter<'_>) -> fmt::Result {
    match d {
        DurationValue::Fixed(ms) => f.write_str(&format_duration(*ms)),
        DurationValue::Expr(e) => write!(f, "{e}"),
    }
}

fn fmt_number(n: &NumberLiteral, f: &mut Formatter<'_>) -> fmt::Result {
    let ms = n.value * 1000.0;
    if n.duration && n.value.is_finite() && ms == ms.round() && ms.abs() < 9.2e18 {
        return f.write_str(&format_duration(ms as i64));
    }
    write!(f, "{}", GoFloat(n.value))
}

impl Display for DurationExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.wrapped {
            f.write_char('(')?;
        }
        match &self.kind {
            DurationExprKind::Number(n) => fmt_number(n, f)?,
            DurationExprKind::Binary { op, lhs, rhs } => {
                let prec = op.precedence();
                let right = *op == DurationOp::Pow;
                let lp = match &lhs.kind {
                    _ if lhs.wrapped => false,
                    DurationExprKind::Binary { op: l, .. } => {
                        l.precedence() < prec || (l.precedence() == prec && right)
                    }
                    DurationExprKind::Neg(_) => right,
                    DurationExprKind::Number(n) => right && n.value.is_sign_negative(),
                    _ => false,
                };
                let rp = match &rhs.kind {
                    _ if rhs.wrapped => false,
                    DurationExprKind::Binary { op: r, .. } => {
                        r.precedence() < prec || (r.precedence() == prec && !right)
                    }
                    _ => false,
                };
                fmt_paren_if(lhs, lp, f)?;
                write!(f, " {} ", op.as_str())?;
                fmt_paren_if(rhs, rp, f)?;
            }
            DurationExprKind::Neg(inner) => {
                f.write_char('-')?;
                let p = !inner.wrapped
                    && match &inner.kind {
                        DurationExprKind::Binary { op, .. } => *op != DurationOp::Pow,
                        DurationExprKind::Number(n) => n.value.is_sign_negative(),
                        DurationExprKind::Neg(_) => true,
                        _ => false,
                    };
                fmt_paren_if(inner, p, f)?;
            }
            DurationExprKind::Step => f.write_str("step()")?,
            DurationExprKind::Range => f.write_str("range()")?,
            DurationExprKind::Start => f.write_str("start()")?,
            DurationExprKind::End => f.write_str("end()")?,
            DurationExprKind::MinOf(a, b) => write!(f, "min_of({a}, {b})")?,
            DurationExprKind::MaxOf(a, b) => write!(f, "max_of({a}, {b})")?,
        }
        if self.wrapped {
            f.write_char(')')?;
        }
        Ok(())
    }
}

fn fmt_paren_if(d: &DurationExpr, paren: bool, f: &mut Formatter<'_>) -> fmt::Result {
    if paren { write!(f, "({d})") } else { write!(f, "{d}") }
}

/// A float formatted like Go's `fmt.Sprint(float64)`: the shortest digits that round-trip, in
/// exponent form (`1e+06`, `1.5e-05`) when the decimal exponent is below -4 or at least 6, and
/// `+Inf`, `-Inf`, `NaN`.
pub struct GoFloat(pub f64);

impl Display for GoFloat {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v.is_nan() {
            return f.write_str("NaN");
        }
        if v.is_infinite() {
            return f.write_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        }
        // Rust's `{:e}` gives the shortest round-trip digits: `d.ddde<exp>`.
        let s = format!("{:e}", v.abs());
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let digits: String = mant.chars().filter(|c| *c != '.').collect();
        if v.is_sign_negative() {
            f.write_char('-')?;
        }
        if !(-4..6).contains(&exp) {
            let (first, rest) = digits.split_at(1);
            f.write_str(first)?;
            if !rest.is_empty() {
                write!(f, ".{rest}")?;
            }
            let sign = if exp < 0 { '-' } else { '+' };
            return write!(f, "e{sign}{:02}", exp.unsigned_abs());
        }
        if exp < 0 {
            f.write_str("0.")?;
            for _ in 0..(-exp - 1) {
                f.write_char('0')?;
            }
            return f.write_str(&digits);
        }
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            f.write_str(&digits)?;
            for _ in digits.len()..int_len {
                f.write_char('0')?;
            }
            Ok(())
        } else {
            write!(f, "{}.{}", &digits[..int_len], &digits[int_len..])
        }
    }
}
