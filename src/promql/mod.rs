//! PromQL: lexer, parser, type checker and printer (the evaluator builds on [`Expr`]).
//!
//! [`parse_expr`] turns query text into a typed [`Expr`] tree ([`ast`]) or a [`ParseError`]
//! worded and positioned as Prometheus words it (`1:8: parse error: unexpected <op:+>`).
//! `Display` on [`Expr`] prints canonical PromQL as Prometheus' `String()` does, and
//! `parse_expr(&e.to_string())` gives back a tree equal to `e` (positions aside, see
//! [`PosRange`]). [`functions::FUNCTIONS`] is the function table.
//!
//! The grammar is Prometheus 3.x's, including the experimental parts, each behind a
//! [`ParserOptions`] switch: experimental functions, duration expressions (`x[5m+1m]`,
//! `offset step()`), `anchored`/`smoothed` range selectors and `fill` modifiers of binary
//! operators.

pub mod ast;
mod check;
mod error;
pub mod functions;
pub mod lexer;
mod parser;
mod printer;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod upstream_tests;

pub use ast::*;
pub use error::ParseError;
pub use parser::{MAX_NESTING_DEPTH, parse_number, unquote};
pub use printer::GoFloat;

pub mod engine;

/// Switches for Prometheus' experimental PromQL syntax. `Default` matches a Prometheus server
/// started without feature flags (everything off).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParserOptions {
    /// Experimental functions and aggregations (`--enable-feature=promql-experimental-functions`):
    /// `limitk`, `limit_ratio`, `info`, `sort_by_label`, `mad_over_time`, `ts_of_*_over_time`, ...
    pub enable_experimental_functions: bool,
    /// Duration expressions (`--enable-feature=promql-duration-expr`): `x[5m*2]`,
    /// `offset (1m+30s)`, `step()`, `range()`, `min_of`, `max_of`.
    pub enable_duration_expressions: bool,
    /// `anchored` and `smoothed` (`--enable-feature=promql-extended-range-selectors`).
    pub enable_extended_range_selectors: bool,
    /// `fill`, `fill_left`, `fill_right` on binary operators
    /// (`--enable-feature=promql-binop-fill-modifiers`).
    pub enable_binop_fill_modifiers: bool,
}

impl ParserOptions {
    /// Every experimental switch on, as Prometheus' engine test runner uses.
    pub fn all_enabled() -> Self {
        ParserOptions {
            enable_experimental_functions: true,
            enable_duration_expressions: true,
            enable_extended_range_selectors: true,
            enable_binop_fill_modifiers: true,
        }
    }
}

/// Parses and type-checks a PromQL expression.
///
/// Never panics; input nested deeper than [`MAX_NESTING_DEPTH`] is an error.
pub fn parse_expr(input: &str, opts: &ParserOptions) -> Result<Expr, ParseError> {
    let mut expr = parser::Parser::new(input, opts).parse_query()?;
    check::Checker { input }.check(&mut expr)?;
    Ok(expr)
}
