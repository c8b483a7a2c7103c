//! Duration expressions: `[5m+1m]`, `[step()*2:]`, `offset (1m+2m)`, `min_of`, `max_of`.

use super::super::ast::*;
use super::super::lexer::{Keyword, TokenKind};
use super::{MAX_DURATION_SECS, PResult, Parser, secs_to_ms};

impl Parser<'_> {
    pub(super) fn can_start_duration(&mut self) -> bool {
        match self.kind() {
            Some(
                TokenKind::Number
                | TokenKind::Duration
                | TokenKind::Add
                | TokenKind::Sub
                | TokenKind::LeftParen
                | TokenKind::Keyword(Keyword::Step | Keyword::Range | Keyword::Start | Keyword::End),
            ) => true,
            Some(TokenKind::Identifier) => {
                let t = self.tok.as_ref().ok().copied();
                t.is_some_and(|t| matches!(self.text(t), "min_of" | "max_of"))
            }
            _ => false,
        }
    }

    /// A range or subquery step: a duration expression whose literal value must be positive.
    pub(super) fn parse_positive_duration(&mut self, ctx: &str, exp: &str) -> PResult<DurationValue> {
        let d = self.parse_duration_expr(0, ctx, exp)?;
        if let DurationExprKind::Number(n) = &d.kind
            && n.value <= 0.0
        {
            return Err(self.err_at(n.pos, "duration must be greater than 0"));
        }
        self.to_duration_value(d)
    }

    pub(super) fn to_duration_value(&self, d: DurationExpr) -> PResult<DurationValue> {
        match d.kind {
            DurationExprKind::Number(n) => Ok(DurationValue::Fixed(secs_to_ms(n.value))),
            _ => {
                if !self.opts.enable_duration_expressions {
                    return Err(self.err_at(d.pos, "experimental duration expression is not enabled"));
                }
                Ok(DurationValue::Expr(Box::new(d)))
            }
        }
    }

    /// The value of `offset`: a signed literal, `step()`, `range()`, `min_of`/`max_of`, or a
    /// parenthesised duration expression. Unlike inside brackets, a bare literal is not
    /// continued by arithmetic: `x offset 1m + 1m` is `(x offset 1m) + 1m`.
    pub(super) fn parse_offset_duration(&mut self) -> PResult<DurationValue> {
        const CTX: &str = "offset";
        const EXP: &str = "number, duration, step(), or range()";
        if !self.can_start_duration() {
            return Err(self.unexpected(CTX, EXP));
        }
        let mut neg = None;
        if let Some(k @ (TokenKind::Add | TokenKind::Sub)) = self.kind() {
            let t = self.advance()?;
            neg = Some((k == TokenKind::Sub, t.start));
        }
        let wrapped = self.kind() == Some(TokenKind::LeftParen);
        let mut d = self.parse_duration_primary(CTX, EXP)?;
        if wrapped && neg.is_none() {
            // A parenthesised expression may continue with duration arithmetic.
            d = self.continue_duration_binary(d, 0, CTX, EXP)?;
        }
        if let Some((is_neg, start)) = neg {
            d = negate_duration(d, is_neg, start);
        }
        if let DurationExprKind::Number(n) = &d.kind
            && n.value.abs() > MAX_DURATION_SECS
        {
            return Err(self.err_at(n.pos, "duration out of range"));
        }
        self.to_duration_value(d)
    }

    pub(super) fn duration_op(&self) -> Option<DurationOp> {
        Some(match self.kind()? {
            TokenKind::Add => DurationOp::Add,
            TokenKind::Sub => DurationOp::Sub,
            TokenKind::Mul => DurationOp::Mul,
            TokenKind::Div => DurationOp::Div,
            TokenKind::Mod => DurationOp::Mod,
            TokenKind::Pow => DurationOp::Pow,
            _ => return None,
        })
    }

    pub(super) fn parse_duration_expr(&mut self, min_prec: u8, ctx: &str, exp: &str) -> PResult<DurationExpr> {
        self.enter()?;
        let saved = self.depth;
        let lhs = if let Some(k @ (TokenKind::Add | TokenKind::Sub)) = self.kind() {
            let t = self.advance()?;
            let operand = self.parse_duration_expr(DurationOp::Pow.precedence(), ctx, exp)?;
            negate_duration(operand, k == TokenKind::Sub, t.start)
        } else {
            self.parse_duration_primary(ctx, exp)?
        };
        let out = self.continue_duration_binary(lhs, min_prec, ctx, exp)?;
        self.depth = saved - 1;
        Ok(out)
    }

    pub(super) fn continue_duration_binary(
        &mut self,
        mut lhs: DurationExpr,
        min_prec: u8,
        ctx: &str,
        exp: &str,
    ) -> PResult<DurationExpr> {
        while let Some(op) = self.duration_op() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            let op_tok = self.advance()?;
            self.enter()?;
            let rhs = self.parse_duration_expr(if op == DurationOp::Pow { prec } else { prec + 1 }, ctx, exp)?;
            if let DurationExprKind::Number(n) = &rhs.kind {
                if n.value == 0.0 && op == DurationOp::Div {
                    return Err(self.err_at(Self::range(op_tok), "division by zero"));
                }
                if n.value == 0.0 && op == DurationOp::Mod {
                    return Err(self.err_at(Self::range(op_tok), "modulo by zero"));
                }
            }
            let pos = PosRange::new(lhs.pos.start, rhs.pos.end);
            lhs = DurationExpr {
                kind: DurationExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) },
                wrapped: false,
                pos,
            };
        }
        Ok(lhs)
    }

    pub(super) fn parse_duration_primary(&mut self, ctx: &str, exp: &str) -> PResult<DurationExpr> {
        let t = self.cur()?;
        match t.kind {
            TokenKind::Number | TokenKind::Duration => {
                self.advance()?;
                let (v, is_dur) = if t.kind == TokenKind::Number {
                    (self.number_value(t)?, false)
                } else {
                    (self.duration_value(t)?, true)
                };
                if v.abs() > MAX_DURATION_SECS {
                    return Err(self.err_at(Self::range(t), "duration out of range"));
                }
                Ok(DurationExpr::number(v, is_dur, Self::range(t)))
            }
            TokenKind::LeftParen => {
                self.advance()?;
                let mut inner = self.parse_duration_expr(0, ctx, exp)?;
                let close = self.expect_token(TokenKind::RightParen, ctx, "\")\"")?;
                if !matches!(inner.kind, DurationExprKind::Number(_)) {
                    inner.wrapped = true;
                    inner.pos = PosRange::new(t.start, close.end);
                }
                Ok(inner)
            }
            TokenKind::Keyword(kw @ (Keyword::Step | Keyword::Range | Keyword::Start | Keyword::End)) => {
                self.advance()?;
                self.expect_token(TokenKind::LeftParen, ctx, "\"(\"")?;
                let close = self.expect_token(TokenKind::RightParen, ctx, "\")\"")?;
                let kind = match kw {
                    Keyword::Step => DurationExprKind::Step,
                    Keyword::Range => DurationExprKind::Range,
                    Keyword::Start => DurationExprKind::Start,
                    _ => DurationExprKind::End,
                };
                self.gate_duration(PosRange::new(t.start, close.end))?;
                Ok(DurationExpr { kind, wrapped: false, pos: PosRange::new(t.start, close.end) })
            }
            TokenKind::Identifier if matches!(self.text(t), "min_of" | "max_of") => {
                let is_min = self.text(t) == "min_of";
                self.advance()?;
                self.expect_token(TokenKind::LeftParen, ctx, "\"(\"")?;
                let a = self.parse_duration_expr(0, ctx, exp)?;
                self.expect_token(TokenKind::Comma, ctx, "\",\"")?;
                let b = self.parse_duration_expr(0, ctx, exp)?;
                let close = self.expect_token(TokenKind::RightParen, ctx, "\")\"")?;
                let pos = PosRange::new(t.start, close.end);
                self.gate_duration(pos)?;
                let kind = if is_min {
                    DurationExprKind::MinOf(Box::new(a), Box::new(b))
                } else {
                    DurationExprKind::MaxOf(Box::new(a), Box::new(b))
                };
                Ok(DurationExpr { kind, wrapped: false, pos })
            }
            _ => Err(self.unexpected(ctx, exp)),
        }
    }

    pub(super) fn gate_duration(&self, pos: PosRange) -> PResult<()> {
        if self.opts.enable_duration_expressions {
            Ok(())
        } else {
            Err(self.err_at(pos, "experimental duration expression is not enabled"))
        }
    }
}

fn negate_duration(d: DurationExpr, neg: bool, start: u32) -> DurationExpr {
    match d.kind {
        DurationExprKind::Number(mut n) => {
            if neg {
                n.value = -n.value;
            }
            n.pos.start = start;
            let pos = n.pos;
            DurationExpr { kind: DurationExprKind::Number(n), wrapped: false, pos }
        }
        _ if !neg => d,
        _ => {
            let pos = PosRange::new(start, d.pos.end);
            DurationExpr { kind: DurationExprKind::Neg(Box::new(d)), wrapped: false, pos }
        }
    }
}
