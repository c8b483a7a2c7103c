//! Type checking of a parsed tree, with Prometheus' `checkAST` rules and messages.
//!
//! The checker also finishes the tree the way Prometheus does: set operators get many-to-many
//! matching, and binary operations that are not between two instant vectors lose their
//! [`VectorMatching`].

use super::ast::*;
use super::error::ParseError;
use super::lexer::go_quote;

type CResult = Result<ValueType, ParseError>;

pub(super) struct Checker<'a> {
    pub(super) input: &'a str,
}

impl Checker<'_> {
    fn err(&self, pos: PosRange, msg: String) -> ParseError {
        ParseError::new(self.input, pos, msg)
    }

    fn expect_type(&self, e: &mut Expr, want: ValueType, context: &str) -> Result<(), ParseError> {
        let got = self.check(e)?;
        if got != want {
            return Err(self
                .err(e.pos(), format!("expected type {} in {context}, got {}", want.documented(), got.documented())));
        }
        Ok(())
    }

    /// The range of a binary operation's operator and modifiers, trimmed of white space.
    fn op_range(&self, b: &BinaryExpr) -> PosRange {
        let bytes = self.input.as_bytes();
        let mut start = b.lhs.pos().end as usize;
        let mut end = (b.rhs.pos().start as usize).saturating_sub(1);
        while start < bytes.len() && bytes[start].is_ascii_whitespace() {
            start += 1;
        }
        while end > start && end < bytes.len() && bytes[end].is_ascii_whitespace() {
            end -= 1;
        }
        PosRange::new(start as u32, end as u32)
    }

    /// Checks `e` and returns its type, or the first type error.
    pub(super) fn check(&self, e: &mut Expr) -> CResult {
        let typ = e.value_type();
        let pos = e.pos();
        match e {
            Expr::Aggregate(a) => {
                self.expect_type(&mut a.expr, ValueType::Vector, "aggregation expression")?;
                if let Some(p) = a.param.as_deref_mut() {
                    if a.op == AggregateOp::CountValues {
                        self.expect_type(p, ValueType::String, "aggregation parameter")?;
                    } else {
                        self.expect_type(p, ValueType::Scalar, "aggregation parameter")?;
                    }
                }
            }
            Expr::Binary(b) => self.check_binary(b, pos)?,
            Expr::Call(c) => self.check_call(c, pos)?,
            Expr::Paren(p) => {
                self.check(&mut p.expr)?;
            }
            Expr::Unary(u) => {
                let t = self.check(&mut u.expr)?;
                if t != ValueType::Scalar && t != ValueType::Vector {
                    return Err(self.err(
                        pos,
                        format!(
                            "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                            go_quote(t.documented())
                        ),
                    ));
                }
            }
            Expr::Subquery(s) => {
                let t = self.check(&mut s.expr)?;
                if t != ValueType::Vector {
                    return Err(
                        self.err(pos, format!("subquery is only allowed on instant vector, got {} instead", t.name()))
                    );
                }
            }
            Expr::MatrixSelector(m) => self.check_selector(&m.selector)?,
            Expr::VectorSelector(vs) => self.check_selector(vs)?,
            Expr::Number(_) | Expr::String(_) | Expr::Duration(_) => {}
        }
        Ok(typ)
    }

    fn check_selector(&self, vs: &VectorSelector) -> Result<(), ParseError> {
        if !vs.name.is_empty() {
            let others = &vs.matchers[..vs.matchers.len().saturating_sub(1)];
            if let Some(m) = others.iter().find(|m| m.name == "__name__") {
                return Err(self.err(
                    vs.pos,
                    format!("metric name must not be set twice: {} or {}", go_quote(&vs.name), go_quote(&m.value)),
                ));
            }
            return Ok(());
        }
        if !vs.bypass_empty_matcher_check && vs.matchers.iter().all(|m| m.matches_empty()) {
            return Err(self.err(vs.pos, "vector selector must contain at least one non-empty matcher".into()));
        }
        Ok(())
    }

    fn check_binary(&self, b: &mut BinaryExpr, pos: PosRange) -> Result<(), ParseError> {
        let lt = self.check(&mut b.lhs)?;
        let rt = self.check(&mut b.rhs)?;
        if b.return_bool && !b.op.is_comparison() {
            return Err(self.err(self.op_range(b), "bool modifier can only be used on comparison operators".into()));
        }
        if b.op.is_comparison() && !b.return_bool && lt == ValueType::Scalar && rt == ValueType::Scalar {
            return Err(self.err(self.op_range(b), "comparisons between scalars must use BOOL modifier".into()));
        }
        let op_range = self.op_range(b);
        if let Some(m) = b.matching.as_mut() {
            if b.op.is_set_operator() && m.card == VectorMatchCardinality::OneToOne {
                m.card = VectorMatchCardinality::ManyToMany;
            }
            if m.on
                && let Some(l) = m.matching_labels.iter().find(|l| m.include.contains(l))
            {
                return Err(
                    self.err(op_range, format!("label {} must not occur in ON and GROUP clause at once", go_quote(l)))
                );
            }
        }
        if lt != ValueType::Scalar && lt != ValueType::Vector {
            return Err(
                self.err(b.lhs.pos(), "binary expression must contain only scalar and instant vector types".into())
            );
        }
        if rt != ValueType::Scalar && rt != ValueType::Vector {
            return Err(
                self.err(b.rhs.pos(), "binary expression must contain only scalar and instant vector types".into())
            );
        }
        let both_vectors = lt == ValueType::Vector && rt == ValueType::Vector;
        if let Some(m) = b.matching.as_ref() {
            if !both_vectors {
                if !m.matching_labels.is_empty() {
                    return Err(self.err(pos, "vector matching only allowed between instant vectors".into()));
                }
                if m.fill.lhs.is_some() || m.fill.rhs.is_some() {
                    return Err(self.err(pos, "filling in missing series only allowed between instant vectors".into()));
                }
            } else if b.op.is_set_operator() {
                if matches!(m.card, VectorMatchCardinality::OneToMany | VectorMatchCardinality::ManyToOne) {
                    return Err(self.err(pos, format!("no grouping allowed for {} operation", go_quote(b.op.as_str()))));
                }
                if m.card != VectorMatchCardinality::ManyToMany {
                    return Err(self.err(pos, "set operations must always be many-to-many".into()));
                }
                if m.fill.lhs.is_some() || m.fill.rhs.is_some() {
                    return Err(self.err(pos, "filling in missing series not allowed for set operators".into()));
                }
            }
        }
        if !both_vectors {
            b.matching = None;
        }
        if (lt == ValueType::Scalar || rt == ValueType::Scalar) && b.op.is_set_operator() {
            return Err(self.err(
                pos,
                format!("set operator {} not allowed in binary scalar expression", go_quote(b.op.as_str())),
            ));
        }
        Ok(())
    }

    fn check_call(&self, c: &mut Call, pos: PosRange) -> Result<(), ParseError> {
        let f = c.func;
        let nargs = f.arg_types.len();
        let got = c.args.len();
        if f.variadic == 0 {
            if nargs != got {
                return Err(
                    self.err(pos, format!("expected {nargs} argument(s) in call to {}, got {got}", go_quote(f.name)))
                );
            }
        } else {
            let min = nargs - 1;
            if min > got {
                return Err(self.err(
                    pos,
                    format!("expected at least {min} argument(s) in call to {}, got {got}", go_quote(f.name)),
                ));
            }
            let max = min as i64 + f.variadic as i64;
            if f.variadic > 0 && max < got as i64 {
                return Err(self.err(
                    pos,
                    format!("expected at most {max} argument(s) in call to {}, got {got}", go_quote(f.name)),
                ));
            }
        }
        if f.name == "info" && c.args.len() > 1 {
            let arg = &mut c.args[1];
            let t = arg.value_type();
            if t != ValueType::Vector {
                return Err(self.err(
                    pos,
                    format!(
                        "expected type {} in call to function {}, got {}",
                        ValueType::Vector.documented(),
                        go_quote(f.name),
                        t.documented()
                    ),
                ));
            }
            match arg {
                Expr::VectorSelector(vs) if !vs.name.is_empty() => {
                    return Err(self.err(vs.pos, "expected label selectors only, got vector selector instead".into()));
                }
                Expr::VectorSelector(vs) => vs.bypass_empty_matcher_check = true,
                other => return Err(self.err(other.pos(), "expected label selectors only".into())),
            }
        }
        for (i, arg) in c.args.iter_mut().enumerate() {
            let want = match f.arg_types.get(i) {
                Some(t) => *t,
                None if f.variadic == 0 => break,
                None => match f.arg_types.last() {
                    Some(t) => *t,
                    None => break,
                },
            };
            let t = self.check(arg)?;
            if t != want {
                return Err(self.err(
                    arg.pos(),
                    format!(
                        "expected type {} in call to function {}, got {}",
                        want.documented(),
                        go_quote(f.name),
                        t.documented()
                    ),
                ));
            }
        }
        Ok(())
    }
}
