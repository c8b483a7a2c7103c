//! The parse error type.

use std::fmt;

use super::ast::PosRange;

/// A syntax or type error, worded and positioned like Prometheus' `ParseErr`.
///
/// `Display` gives Prometheus' text: `<line>:<col>: parse error: <msg>`, where the column is the
/// 1-based byte offset within the line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct ParseError {
    /// The offending byte range in the query.
    pub pos: PosRange,
    /// The message, without position.
    pub msg: String,
    /// 1-based line of `pos.start`.
    pub line: usize,
    /// 1-based byte column of `pos.start` within its line.
    pub col: usize,
}

impl ParseError {
    /// An error at `pos` in `query`.
    pub fn new(query: &str, pos: PosRange, msg: String) -> Self {
        let start = (pos.start as usize).min(query.len());
        let before = &query.as_bytes()[..start];
        let line = 1 + before.iter().filter(|b| **b == b'\n').count();
        let last_nl = before.iter().rposition(|b| *b == b'\n').map(|i| i as isize).unwrap_or(-1);
        let col = (start as isize - last_nl) as usize;
        ParseError { pos, msg, line, col }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: parse error: {}", self.line, self.col, self.msg)
    }
}
