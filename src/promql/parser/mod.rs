//! The PromQL parser: precedence climbing over the [`Lexer`]'s tokens, producing the typed
//! tree of [`super::ast`], with Prometheus' error messages and positions.
//!
//! The first error ends the parse (Prometheus reports only its first error too). Type checking
//! runs afterwards, in [`super::check`], only on a tree without syntax errors.

use crate::model::{MatchType, Matcher};

mod duration;
mod literals;

use literals::{go_percent_f, short_quote};
pub use literals::{parse_number, unquote};

use super::ParserOptions;
use super::ast::*;
use super::error::ParseError;
use super::functions::get_function;
use super::lexer::{Keyword, LexError, Lexer, Token, TokenKind, go_quote};

/// Deepest nesting (parentheses, calls, operator chains, unary signs) the parser accepts; deeper
/// input gets an error instead of overflowing the stack in the parser, checker or printer.
pub const MAX_NESTING_DEPTH: usize = 128;

/// The largest duration (in seconds) that fits Go's `time.Duration`.
const MAX_DURATION_SECS: f64 = 9_223_372_036.854_775;

type PResult<T> = Result<T, ParseError>;

pub(super) struct Parser<'a> {
    input: &'a str,
    lexer: Lexer<'a>,
    /// The current token and one token of lookahead (lexer errors are kept until reached).
    tok: Result<Token, LexError>,
    next: Option<Result<Token, LexError>>,
    last_closing: u32,
    opts: &'a ParserOptions,
    depth: usize,
}

impl<'a> Parser<'a> {
    pub(super) fn new(input: &'a str, opts: &'a ParserOptions) -> Self {
        let mut lexer = Lexer::new(input);
        let tok = lexer.next_token();
        Parser { input, lexer, tok, next: None, last_closing: 0, opts, depth: 0 }
    }

    // ---- Token handling. ----

    fn err_at(&self, pos: PosRange, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.input, pos, msg.into())
    }

    /// The current token; a lexer error becomes the parse error.
    fn cur(&self) -> PResult<Token> {
        match &self.tok {
            Ok(t) => Ok(*t),
            Err(e) => Err(self.err_at(PosRange::new(e.pos, self.input.len() as u32), e.msg.clone())),
        }
    }

    fn kind(&self) -> Option<TokenKind> {
        self.tok.as_ref().ok().map(|t| t.kind)
    }

    fn peek_kind(&mut self) -> Option<TokenKind> {
        if self.next.is_none() {
            if self.tok.is_err() {
                return None;
            }
            self.next = Some(self.lexer.next_token());
        }
        self.next.as_ref().and_then(|r| r.as_ref().ok()).map(|t| t.kind)
    }

    fn advance(&mut self) -> PResult<Token> {
        let t = self.cur()?;
        if matches!(
            t.kind,
            TokenKind::RightBrace
                | TokenKind::RightParen
                | TokenKind::RightBracket
                | TokenKind::Number
                | TokenKind::Duration
        ) {
            self.last_closing = t.end;
        }
        self.tok = match self.next.take() {
            Some(n) => n,
            None => self.lexer.next_token(),
        };
        Ok(t)
    }

    fn text(&self, t: Token) -> &'a str {
        &self.input[t.start as usize..t.end as usize]
    }

    fn range(t: Token) -> PosRange {
        PosRange::new(t.start, t.end)
    }

    /// Prometheus' `unexpected(context, expected)` for the current token.
    fn unexpected(&self, context: &str, expected: &str) -> ParseError {
        let t = match self.cur() {
            Ok(t) => t,
            Err(e) => return e,
        };
        let mut msg = format!("unexpected {}", self.describe(t));
        if !context.is_empty() {
            msg.push_str(" in ");
            msg.push_str(context);
        }
        if !expected.is_empty() {
            msg.push_str(", expected ");
            msg.push_str(expected);
        }
        self.err_at(Self::range(t), msg)
    }

    /// Go's `Item.desc()`.
    fn describe(&self, t: Token) -> String {
        let text = self.text(t);
        match t.kind {
            TokenKind::Eof => "end of input".into(),
            TokenKind::Identifier => format!("identifier {}", go_quote(text)),
            TokenKind::MetricIdentifier => format!("metric identifier {}", go_quote(text)),
            TokenKind::Number if text.eq_ignore_ascii_case("inf") || text.eq_ignore_ascii_case("nan") => go_quote(text),
            TokenKind::Number => format!("number {}", short_quote(text)),
            TokenKind::Duration => format!("duration {}", short_quote(text)),
            TokenKind::String => format!("string {}", short_quote(text)),
            TokenKind::Keyword(Keyword::Aggregate(_)) => format!("<aggr:{text}>"),
            TokenKind::Keyword(Keyword::And | Keyword::Or | Keyword::Unless | Keyword::Atan2) => {
                format!("<op:{text}>")
            }
            TokenKind::Keyword(Keyword::Start | Keyword::End | Keyword::Step | Keyword::Range) => go_quote(text),
            TokenKind::Keyword(_) => format!("<{text}>"),
            TokenKind::LeftParen
            | TokenKind::RightParen
            | TokenKind::LeftBrace
            | TokenKind::RightBrace
            | TokenKind::LeftBracket
            | TokenKind::RightBracket
            | TokenKind::Comma
            | TokenKind::Colon
            | TokenKind::Eql => go_quote(text),
            _ => format!("<op:{text}>"),
        }
    }

    fn expect_token(&mut self, kind: TokenKind, context: &str, expected: &str) -> PResult<Token> {
        if self.kind() == Some(kind) { self.advance() } else { Err(self.unexpected(context, expected)) }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING_DEPTH {
            let pos = self.cur().map(|t| t.start).unwrap_or(0);
            return Err(self.err_at(
                PosRange::new(pos, pos),
                format!("expression nesting exceeds the maximum depth of {MAX_NESTING_DEPTH}"),
            ));
        }
        Ok(())
    }

    // ---- Expressions. ----

    /// Parses a whole query.
    pub(super) fn parse_query(&mut self) -> PResult<Expr> {
        if self.cur()?.kind == TokenKind::Eof {
            return Err(self.err_at(PosRange::default(), "no expression found in input"));
        }
        let e = self.parse_expr(0)?;
        if self.cur()?.kind != TokenKind::Eof {
            return Err(self.unexpected("", ""));
        }
        Ok(e)
    }

    fn binary_op(&self) -> Option<BinaryOp> {
        Some(match self.kind()? {
            TokenKind::Add => BinaryOp::Add,
            TokenKind::Sub => BinaryOp::Sub,
            TokenKind::Mul => BinaryOp::Mul,
            TokenKind::Div => BinaryOp::Div,
            TokenKind::Mod => BinaryOp::Mod,
            TokenKind::Pow => BinaryOp::Pow,
            TokenKind::Eqlc => BinaryOp::Eql,
            TokenKind::Neq => BinaryOp::Neq,
            TokenKind::Lss => BinaryOp::Lss,
            TokenKind::Lte => BinaryOp::Lte,
            TokenKind::Gtr => BinaryOp::Gtr,
            TokenKind::Gte => BinaryOp::Gte,
            TokenKind::TrimUpper => BinaryOp::TrimUpper,
            TokenKind::TrimLower => BinaryOp::TrimLower,
            TokenKind::Keyword(Keyword::And) => BinaryOp::And,
            TokenKind::Keyword(Keyword::Or) => BinaryOp::Or,
            TokenKind::Keyword(Keyword::Unless) => BinaryOp::Unless,
            TokenKind::Keyword(Keyword::Atan2) => BinaryOp::Atan2,
            _ => return None,
        })
    }

    fn parse_expr(&mut self, min_prec: u8) -> PResult<Expr> {
        self.enter()?;
        let saved = self.depth;
        let mut lhs = self.parse_unary()?;
        while let Some(op) = self.binary_op() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.advance()?;
            let (return_bool, matching) = self.parse_bin_modifiers()?;
            let next_min = if op.is_right_associative() { prec } else { prec + 1 };
            // Each operator in a left-associative chain nests the tree one level deeper.
            self.enter()?;
            let rhs = self.parse_expr(next_min)?;
            let bin = BinaryExpr { op, lhs: Box::new(lhs), rhs: Box::new(rhs), return_bool, matching: Some(matching) };
            let has_fill = bin.matching.as_ref().is_some_and(|m| m.fill.lhs.is_some() || m.fill.rhs.is_some());
            lhs = Expr::Binary(bin);
            if has_fill && !self.opts.enable_binop_fill_modifiers {
                return Err(self.err_at(lhs.pos(), "binop fill modifiers are experimental and not enabled"));
            }
        }
        self.depth = saved - 1;
        Ok(lhs)
    }

    fn parse_bin_modifiers(&mut self) -> PResult<(bool, VectorMatching)> {
        let mut m = VectorMatching {
            card: VectorMatchCardinality::OneToOne,
            matching_labels: Vec::new(),
            on: false,
            include: Vec::new(),
            fill: FillValues::default(),
        };
        let mut return_bool = false;
        if self.kind() == Some(TokenKind::Keyword(Keyword::Bool)) {
            self.advance()?;
            return_bool = true;
        }
        if let Some(TokenKind::Keyword(kw @ (Keyword::On | Keyword::Ignoring))) = self.kind() {
            self.advance()?;
            m.on = kw == Keyword::On;
            m.matching_labels = self.parse_grouping()?;
            if let Some(TokenKind::Keyword(kw @ (Keyword::GroupLeft | Keyword::GroupRight))) = self.kind() {
                self.advance()?;
                m.card = if kw == Keyword::GroupLeft {
                    VectorMatchCardinality::ManyToOne
                } else {
                    VectorMatchCardinality::OneToMany
                };
                if self.kind() == Some(TokenKind::LeftParen) {
                    m.include = self.parse_grouping()?;
                }
            }
        }
        // `fill`, `fill_left` and `fill_right` are modifiers only when followed by `(`; otherwise
        // they are metric names.
        while self.kind() == Some(TokenKind::Identifier) && self.peek_kind() == Some(TokenKind::LeftParen) {
            let t = self.cur()?;
            let which = self.text(t);
            if !matches!(which, "fill" | "fill_left" | "fill_right") {
                break;
            }
            self.advance()?;
            self.advance()?;
            let v = self.parse_signed_number("fill modifier", "number")?;
            self.expect_token(TokenKind::RightParen, "fill modifier", "\")\"")?;
            match which {
                "fill" => m.fill = FillValues { lhs: Some(v), rhs: Some(v) },
                "fill_left" => m.fill.lhs = Some(v),
                _ => m.fill.rhs = Some(v),
            }
        }
        Ok((return_bool, m))
    }

    /// An optionally signed number or duration (in seconds).
    fn parse_signed_number(&mut self, context: &str, expected: &str) -> PResult<f64> {
        let mut sign = 1.0;
        if let Some(k @ (TokenKind::Add | TokenKind::Sub)) = self.kind() {
            self.advance()?;
            if k == TokenKind::Sub {
                sign = -1.0;
            }
        }
        match self.kind() {
            Some(TokenKind::Number) => {
                let t = self.advance()?;
                Ok(sign * self.number_value(t)?)
            }
            Some(TokenKind::Duration) => {
                let t = self.advance()?;
                Ok(sign * self.duration_value(t)?)
            }
            _ => Err(self.unexpected(context, expected)),
        }
    }

    fn parse_unary(&mut self) -> PResult<Expr> {
        if let Some(k @ (TokenKind::Add | TokenKind::Sub)) = self.kind() {
            let t = self.advance()?;
            // The operand binds everything tighter than `*`, i.e. only `^`.
            let operand = self.parse_expr(BinaryOp::Pow.precedence())?;
            let neg = k == TokenKind::Sub;
            return Ok(match operand {
                Expr::Number(mut n) => {
                    if neg {
                        n.value = -n.value;
                    }
                    n.pos.start = t.start;
                    Expr::Number(n)
                }
                other => Expr::Unary(UnaryExpr {
                    op: if neg { UnaryOp::Neg } else { UnaryOp::Pos },
                    pos: PosRange::new(t.start, other.pos().end),
                    expr: Box::new(other),
                }),
            });
        }
        let primary = self.parse_primary()?;
        self.parse_postfix(primary)
    }

    fn parse_primary(&mut self) -> PResult<Expr> {
        let t = self.cur()?;
        match t.kind {
            TokenKind::Number => {
                self.advance()?;
                Ok(Expr::Number(NumberLiteral { value: self.number_value(t)?, duration: false, pos: Self::range(t) }))
            }
            TokenKind::Duration => {
                self.advance()?;
                Ok(Expr::Number(NumberLiteral { value: self.duration_value(t)?, duration: true, pos: Self::range(t) }))
            }
            TokenKind::String => {
                self.advance()?;
                let value = self.unquote(t)?;
                Ok(Expr::String(StringLiteral { value, pos: Self::range(t) }))
            }
            TokenKind::LeftParen => {
                self.advance()?;
                let inner = self.parse_expr(0)?;
                let close = self.expect_token(TokenKind::RightParen, "", "")?;
                Ok(Expr::Paren(ParenExpr { expr: Box::new(inner), pos: PosRange::new(t.start, close.end) }))
            }
            TokenKind::LeftBrace => self.parse_vector_selector(None),
            TokenKind::Identifier => {
                let name = self.text(t);
                if self.peek_kind() == Some(TokenKind::LeftParen) {
                    if matches!(name, "min_of" | "max_of") {
                        let d = self.parse_duration_primary("", "")?;
                        return Ok(Expr::Duration(d));
                    }
                    return self.parse_call();
                }
                self.advance()?;
                self.parse_vector_selector(Some((name.to_string(), Self::range(t))))
            }
            TokenKind::MetricIdentifier => {
                self.advance()?;
                self.parse_vector_selector(Some((self.text(t).to_string(), Self::range(t))))
            }
            TokenKind::Keyword(Keyword::Aggregate(op)) => {
                if matches!(
                    self.peek_kind(),
                    Some(TokenKind::LeftParen | TokenKind::Keyword(Keyword::By | Keyword::Without))
                ) {
                    return self.parse_aggregate(op);
                }
                self.advance()?;
                self.parse_vector_selector(Some((self.text(t).to_string(), Self::range(t))))
            }
            TokenKind::Keyword(Keyword::Start | Keyword::End | Keyword::Step | Keyword::Range)
                if self.peek_kind() == Some(TokenKind::LeftParen) =>
            {
                let d = self.parse_duration_primary("", "")?;
                Ok(Expr::Duration(d))
            }
            TokenKind::Keyword(
                Keyword::By
                | Keyword::Without
                | Keyword::Offset
                | Keyword::And
                | Keyword::Or
                | Keyword::Unless
                | Keyword::Start
                | Keyword::End
                | Keyword::Step
                | Keyword::Range
                | Keyword::Anchored
                | Keyword::Smoothed,
            ) => {
                self.advance()?;
                self.parse_vector_selector(Some((self.text(t).to_string(), Self::range(t))))
            }
            _ => Err(self.unexpected("", "")),
        }
    }

    fn parse_call(&mut self) -> PResult<Expr> {
        let name_tok = self.advance()?;
        let args = self.parse_call_body()?;
        let name = self.text(name_tok);
        let Some(func) = get_function(name) else {
            return Err(self.err_at(Self::range(name_tok), format!("unknown function with name {}", go_quote(name))));
        };
        if func.experimental && !self.opts.enable_experimental_functions {
            return Err(self.err_at(Self::range(name_tok), format!("function {} is not enabled", go_quote(name))));
        }
        Ok(Expr::Call(Call { func, args, pos: PosRange::new(name_tok.start, self.last_closing) }))
    }

    /// `( [expr {, expr}] )`.
    fn parse_call_body(&mut self) -> PResult<Vec<Expr>> {
        self.expect_token(TokenKind::LeftParen, "", "")?;
        let mut args = Vec::new();
        if self.kind() == Some(TokenKind::RightParen) {
            self.advance()?;
            return Ok(args);
        }
        loop {
            args.push(self.parse_expr(0)?);
            match self.kind() {
                Some(TokenKind::Comma) => {
                    let comma = self.advance()?;
                    if self.kind() == Some(TokenKind::RightParen) {
                        return Err(
                            self.err_at(Self::range(comma), "trailing commas not allowed in function call args")
                        );
                    }
                }
                Some(TokenKind::RightParen) => {
                    self.advance()?;
                    return Ok(args);
                }
                _ => return Err(self.unexpected("", "")),
            }
        }
    }

    fn parse_aggregate(&mut self, op: AggregateOp) -> PResult<Expr> {
        let op_tok = self.advance()?;
        let mut grouping = Vec::new();
        let mut without = false;
        let mut modifier_first = false;
        if let Some(TokenKind::Keyword(kw @ (Keyword::By | Keyword::Without))) = self.kind() {
            self.advance()?;
            without = kw == Keyword::Without;
            grouping = self.parse_grouping()?;
            modifier_first = true;
        }
        if self.kind() != Some(TokenKind::LeftParen) {
            return Err(self.unexpected("aggregation", ""));
        }
        let mut args = self.parse_call_body()?;
        if !modifier_first && let Some(TokenKind::Keyword(kw @ (Keyword::By | Keyword::Without))) = self.kind() {
            self.advance()?;
            without = kw == Keyword::Without;
            grouping = self.parse_grouping()?;
        }
        let pos = PosRange::new(op_tok.start, self.last_closing);
        if args.is_empty() {
            return Err(self.err_at(pos, "no arguments for aggregate expression provided"));
        }
        let mut desired = 1;
        if op.has_param() {
            if op.is_experimental() && !self.opts.enable_experimental_functions {
                return Err(self.err_at(
                    pos,
                    format!(
                        "{op}() is experimental and must be enabled with --enable-feature=promql-experimental-functions"
                    ),
                ));
            }
            desired = 2;
        }
        if args.len() != desired {
            return Err(self.err_at(
                pos,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected {desired}, got {}",
                    args.len()
                ),
            ));
        }
        let expr = args.pop().map(Box::new);
        let param = args.pop().map(Box::new);
        let Some(expr) = expr else {
            return Err(self.err_at(pos, "no arguments for aggregate expression provided"));
        };
        Ok(Expr::Aggregate(AggregateExpr { op, expr, param, grouping, without, pos }))
    }

    /// `( label {, label} [,] )` after `by`, `without`, `on`, `ignoring`, `group_left`, `group_right`.
    fn parse_grouping(&mut self) -> PResult<Vec<String>> {
        self.expect_token(TokenKind::LeftParen, "grouping opts", "\"(\"")?;
        let mut labels = Vec::new();
        if self.kind() == Some(TokenKind::RightParen) {
            self.advance()?;
            return Ok(labels);
        }
        loop {
            let t = self.cur()?;
            match t.kind {
                TokenKind::Identifier | TokenKind::MetricIdentifier | TokenKind::Keyword(_) => {
                    self.advance()?;
                    labels.push(self.text(t).to_string());
                }
                TokenKind::String => {
                    self.advance()?;
                    labels.push(self.unquote(t)?);
                }
                _ => return Err(self.unexpected("grouping opts", "label")),
            }
            match self.kind() {
                Some(TokenKind::Comma) => {
                    self.advance()?;
                    if self.kind() == Some(TokenKind::RightParen) {
                        self.advance()?;
                        return Ok(labels);
                    }
                }
                Some(TokenKind::RightParen) => {
                    self.advance()?;
                    return Ok(labels);
                }
                _ => return Err(self.unexpected("grouping opts", "\",\" or \")\"")),
            }
        }
    }

    fn parse_vector_selector(&mut self, name: Option<(String, PosRange)>) -> PResult<Expr> {
        let mut matchers = Vec::new();
        let (name, mut pos) = match name {
            Some((n, p)) => (n, p),
            None => (String::new(), PosRange::new(self.cur()?.start, self.cur()?.start)),
        };
        if self.kind() == Some(TokenKind::LeftBrace) {
            let open = self.advance()?;
            if name.is_empty() {
                pos.start = open.start;
            }
            loop {
                if self.kind() == Some(TokenKind::RightBrace) {
                    break;
                }
                matchers.push(self.parse_matcher()?);
                match self.kind() {
                    Some(TokenKind::Comma) => {
                        self.advance()?;
                    }
                    Some(TokenKind::RightBrace) => break,
                    _ => return Err(self.unexpected("label matching", "\",\" or \"}\"")),
                }
            }
            pos.end = self.advance()?.end;
        }
        if !name.is_empty() {
            matchers.push(Matcher::equal("__name__", name.clone()));
        }
        Ok(Expr::VectorSelector(VectorSelector {
            name,
            matchers,
            offset: None,
            at: None,
            anchored: false,
            smoothed: false,
            bypass_empty_matcher_check: false,
            pos,
        }))
    }

    fn parse_matcher(&mut self) -> PResult<Matcher> {
        let t = self.cur()?;
        let label = match t.kind {
            TokenKind::Identifier => self.text(t).to_string(),
            TokenKind::String => self.unquote(t)?,
            _ => return Err(self.unexpected("label matching", "identifier or \"}\"")),
        };
        self.advance()?;
        let kind = match self.kind() {
            Some(TokenKind::Eql) => MatchType::Equal,
            Some(TokenKind::Neq) => MatchType::NotEqual,
            Some(TokenKind::EqlRegex) => MatchType::Regex,
            Some(TokenKind::NeqRegex) => MatchType::NotRegex,
            _ if t.kind == TokenKind::String => {
                // A lone quoted name inside braces is the metric name.
                return Matcher::new(MatchType::Equal, "__name__", label)
                    .map_err(|e| self.err_at(Self::range(t), e.to_string()));
            }
            _ => return Err(self.unexpected("label matching", "label matching operator")),
        };
        self.advance()?;
        if self.kind() != Some(TokenKind::String) {
            return Err(self.unexpected("label matching", "string"));
        }
        let v = self.advance()?;
        let value = self.unquote(v)?;
        Matcher::new(kind, label, value).map_err(|e| self.err_at(PosRange::new(t.start, v.end), e.to_string()))
    }

    // ---- Postfix modifiers: ranges, subqueries, offset, @, anchored, smoothed. ----

    fn parse_postfix(&mut self, mut e: Expr) -> PResult<Expr> {
        let saved = self.depth;
        loop {
            match self.kind() {
                Some(TokenKind::LeftBracket) => {
                    self.enter()?;
                    e = self.parse_range_or_subquery(e)?;
                }
                Some(TokenKind::Keyword(Keyword::Offset)) => {
                    self.advance()?;
                    let d = self.parse_offset_duration()?;
                    self.set_offset(&mut e, d)?;
                }
                Some(TokenKind::At) => {
                    self.advance()?;
                    let at = self.parse_at(e.pos())?;
                    self.set_at(&mut e, at)?;
                }
                Some(TokenKind::Keyword(kw @ (Keyword::Anchored | Keyword::Smoothed))) => {
                    self.advance()?;
                    self.set_extended(&mut e, kw == Keyword::Anchored)?;
                }
                _ => break,
            }
        }
        self.depth = saved;
        Ok(e)
    }

    fn parse_range_or_subquery(&mut self, e: Expr) -> PResult<Expr> {
        let open = self.advance()?;
        const CTX: &str = "subquery or range selector";
        const EXP: &str = "number, duration, step(), or range()";
        if !self.can_start_duration() {
            return Err(self.unexpected(CTX, EXP));
        }
        let range = self.parse_positive_duration(CTX, EXP)?;
        match self.kind() {
            Some(TokenKind::RightBracket) => {
                let close = self.advance()?;
                let msg = match &e {
                    Expr::VectorSelector(vs) if vs.offset.is_some() => Some("no offset modifiers allowed before range"),
                    Expr::VectorSelector(vs) if vs.at.is_some() => Some("no @ modifiers allowed before range"),
                    Expr::VectorSelector(_) => None,
                    _ => Some("ranges only allowed for vector selectors"),
                };
                if let Some(msg) = msg {
                    return Err(self.err_at(PosRange::new(open.start, close.end), msg));
                }
                let Expr::VectorSelector(selector) = e else {
                    return Err(
                        self.err_at(PosRange::new(open.start, close.end), "ranges only allowed for vector selectors")
                    );
                };
                let pos = PosRange::new(selector.pos.start, close.end);
                Ok(Expr::MatrixSelector(MatrixSelector { selector, range, pos }))
            }
            Some(TokenKind::Colon) => {
                self.advance()?;
                let step = if self.kind() == Some(TokenKind::RightBracket) {
                    None
                } else if self.can_start_duration() {
                    Some(self.parse_positive_duration("subquery selector", "\"]\"")?)
                } else {
                    return Err(self.unexpected("subquery selector", "number, duration, step(), range(), or \"]\""));
                };
                let close = self.expect_token(TokenKind::RightBracket, "subquery selector", "\"]\"")?;
                Ok(Expr::Subquery(SubqueryExpr {
                    pos: PosRange::new(e.pos().start, close.end),
                    expr: Box::new(e),
                    range,
                    step,
                    offset: None,
                    at: None,
                }))
            }
            _ => Err(self.unexpected("subquery or range", "\":\" or \"]\"")),
        }
    }

    fn parse_at(&mut self, target: PosRange) -> PResult<AtModifier> {
        if let Some(TokenKind::Keyword(kw @ (Keyword::Start | Keyword::End))) = self.kind() {
            self.advance()?;
            self.expect_token(TokenKind::LeftParen, "@", "timestamp")?;
            self.expect_token(TokenKind::RightParen, "@", "timestamp")?;
            return Ok(if kw == Keyword::Start { AtModifier::Start } else { AtModifier::End });
        }
        let secs = self.parse_signed_number("@", "timestamp")?;
        if !secs.is_finite() || secs >= i64::MAX as f64 || secs <= i64::MIN as f64 {
            return Err(self.err_at(target, format!("timestamp out of bounds for @ modifier: {}", go_percent_f(secs))));
        }
        Ok(AtModifier::Timestamp(secs_to_ms(secs)))
    }

    fn set_at(&self, e: &mut Expr, at: AtModifier) -> PResult<()> {
        let pos = e.pos();
        let end = self.last_closing;
        let (slot, end_slot) = match e {
            Expr::VectorSelector(vs) => (&mut vs.at, &mut vs.pos.end),
            Expr::MatrixSelector(ms) => (&mut ms.selector.at, &mut ms.pos.end),
            Expr::Subquery(sq) => (&mut sq.at, &mut sq.pos.end),
            _ => {
                return Err(self.err_at(
                    pos,
                    "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ));
            }
        };
        if slot.is_some() {
            return Err(self.err_at(pos, "@ <timestamp> may not be set multiple times"));
        }
        *slot = Some(at);
        *end_slot = end;
        Ok(())
    }

    fn set_offset(&self, e: &mut Expr, d: DurationValue) -> PResult<()> {
        let pos = e.pos();
        let end = self.last_closing;
        let (slot, end_slot) = match e {
            Expr::VectorSelector(vs) => (&mut vs.offset, &mut vs.pos.end),
            Expr::MatrixSelector(ms) => (&mut ms.selector.offset, &mut ms.pos.end),
            Expr::Subquery(sq) => (&mut sq.offset, &mut sq.pos.end),
            _ => {
                return Err(self.err_at(
                    pos,
                    "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ));
            }
        };
        if slot.is_some() {
            return Err(self.err_at(pos, "offset may not be set multiple times"));
        }
        if d != DurationValue::Fixed(0) {
            *slot = Some(d);
        }
        *end_slot = end;
        Ok(())
    }

    fn set_extended(&self, e: &mut Expr, anchored: bool) -> PResult<()> {
        let name = if anchored { "anchored" } else { "smoothed" };
        let pos = e.pos();
        if !self.opts.enable_extended_range_selectors {
            return Err(self.err_at(pos, format!("{name} modifier is experimental and not enabled")));
        }
        let vs = match e {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(ms) => &mut ms.selector,
            Expr::Subquery(_) => {
                return Err(self.err_at(pos, format!("{name} modifier is not supported for subqueries")));
            }
            _ => return Err(self.err_at(pos, format!("{name} modifier not implemented"))),
        };
        if anchored {
            vs.anchored = true;
        } else {
            vs.smoothed = true;
        }
        if vs.anchored && vs.smoothed {
            return Err(self.err_at(pos, "anchored and smoothed modifiers cannot be used together"));
        }
        Ok(())
    }

    // ---- Literals. ----

    fn number_value(&self, t: Token) -> PResult<f64> {
        parse_number(self.text(t)).map_err(|msg| self.err_at(Self::range(t), msg))
    }

    fn duration_value(&self, t: Token) -> PResult<f64> {
        match crate::model::duration::parse_duration(self.text(t)) {
            Ok(ms) => Ok(ms as f64 / 1000.0),
            Err(e) => Err(self.err_at(Self::range(t), e.to_string())),
        }
    }

    fn unquote(&self, t: Token) -> PResult<String> {
        unquote(self.text(t)).map_err(|msg| self.err_at(Self::range(t), msg))
    }
}

/// Seconds to milliseconds, rounded like Prometheus' `timestamp.FromFloatSeconds`.
pub(super) fn secs_to_ms(secs: f64) -> i64 {
    // The float-to-int cast saturates; callers bound `secs` beforehand where it matters.
    (secs * 1000.0).round() as i64
}
