//! Go RE2 regexes as Prometheus uses them: fully anchored, `.` matching newlines, with literal
//! fast paths.
//!
//! OWNER: helper "model-regex" fills this file in. The public API below is fixed.

/// A regex that failed to compile, with Go's wording where we can match it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RegexError(pub String);

/// A compiled, fully anchored (`^(?s:...)$`) Go-syntax regex with fast paths for literal
/// alternations and prefixes.
#[derive(Clone, Debug)]
pub struct FastRegex {
    source: String,
    re: regex::Regex,
}

impl FastRegex {
    /// Compiles `pattern` with Go RE2 syntax, anchored at both ends.
    pub fn new(pattern: &str) -> Result<Self, RegexError> {
        let re = regex::Regex::new(&format!("^(?s:{pattern})$")).map_err(|e| RegexError(e.to_string()))?;
        Ok(FastRegex { source: pattern.to_string(), re })
    }

    /// Whether the whole of `s` matches.
    pub fn is_match(&self, s: &str) -> bool {
        self.re.is_match(s)
    }

    /// When the pattern is a plain alternation of literals (`a|b|c`), those literals.
    pub fn set_matches(&self) -> Option<&[String]> {
        None
    }

    /// A literal prefix every match starts with, or `""`.
    pub fn prefix(&self) -> &str {
        ""
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}
