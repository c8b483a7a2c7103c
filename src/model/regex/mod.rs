//! Go RE2 regexes as Prometheus uses them: fully anchored, `.` matching newlines, with literal
//! fast paths.
//!
//! Principal type: [`FastRegex`], the compiled form of a label-matcher regex. Prometheus 3
//! parses a matcher's regex with Go's `regexp/syntax` (Perl flags) and matches it as
//! `^(?s:` + re + `)$`. We read the pattern with a translator that follows Go's parser
//! (`translate`), write it out in the Rust `regex` crate's syntax with Go's meaning, and compile
//! that anchored. Errors carry Go's wording (``error parsing regexp: missing closing ): `(a` ``).
//! The parsed pattern is then searched for fast paths (`analyze`): literal sets (`a|b|c`),
//! `.*`, `.+`, `lit.*`, `.*lit`, `.*lit.*`, plus a required prefix and suffix.
//!
//! [`compile_go`] and [`translate_go`] expose the same translation to callers that need capture
//! groups (relabelling, `label_replace`).

mod analyze;
mod syntax;
mod translate;

use analyze::{Analysis, Strategy};
use translate::{GoError, code};

/// The largest compiled program we accept for one regex. Patterns are user input; Go's own
/// limit is about 3 million instructions.
const SIZE_LIMIT: usize = 16 << 20;
/// The lazy DFA's cache budget per regex.
const DFA_SIZE_LIMIT: usize = 4 << 20;
/// The deepest nesting of groups, classes and repetitions we accept (Go allows 1000, but the
/// Rust compiler recurses over the pattern, so we keep the crate's safe default).
const NEST_LIMIT: u32 = 250;

/// A regex that failed to compile, with Go's wording where we can match it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RegexError(pub String);

impl From<GoError> for RegexError {
    fn from(e: GoError) -> Self {
        RegexError(e.to_string())
    }
}

/// A compiled, fully anchored (`^(?s:...)$`) Go-syntax regex with fast paths for literal
/// alternations and prefixes.
#[derive(Clone, Debug)]
pub struct FastRegex {
    source: String,
    re: regex::Regex,
    analysis: Analysis,
}

impl FastRegex {
    /// Compiles `pattern` with Go RE2 syntax, anchored at both ends.
    ///
    /// Fails with Go's message for syntax Go rejects (including `(?x)`, back-references,
    /// look-arounds and repeat counts over 1000), and when the compiled program would exceed
    /// our size or nesting limits.
    pub fn new(pattern: &str) -> Result<Self, RegexError> {
        let t = translate::translate(pattern)?;
        let re = build(&t.rust, pattern)?;
        // The regex compiled, so the translated pattern parses; should it still fail here, we
        // merely go without fast paths.
        let analysis = regex_syntax::ParserBuilder::new()
            .dot_matches_new_line(true)
            .nest_limit(NEST_LIMIT)
            .build()
            .parse(&t.rust)
            .map(|hir| analyze::analyze(&hir, !t.case_insensitive))
            .unwrap_or_else(|_| Analysis::none());
        Ok(FastRegex { source: pattern.to_string(), re, analysis })
    }

    /// Whether the whole of `s` matches.
    pub fn is_match(&self, s: &str) -> bool {
        let a = &self.analysis;
        match &a.strategy {
            Strategy::Any => true,
            Strategy::NonEmpty => !s.is_empty(),
            Strategy::List(list) => list.iter().any(|x| x == s),
            Strategy::Hashed(set) => set.contains(s),
            Strategy::StartsWith(p) => s.starts_with(p.as_str()),
            Strategy::EndsWith(p) => s.ends_with(p.as_str()),
            Strategy::Contains(p) => s.contains(p.as_str()),
            Strategy::Regex => {
                s.starts_with(a.prefix.as_str()) && s.ends_with(a.suffix.as_str()) && self.re.is_match(s)
            }
        }
    }

    /// When the pattern is a plain alternation of literals (`a|b|c`), those literals.
    ///
    /// More precisely: when the pattern matches exactly a small finite set of strings (at most
    /// 256; literals, alternations, small classes like `[ab]`, `?`) and is case-sensitive,
    /// those strings, without duplicates. The set may contain `""` (`foo|`), and is empty when
    /// the pattern can match nothing.
    pub fn set_matches(&self) -> Option<&[String]> {
        self.analysis.set.as_deref()
    }

    /// A literal prefix every match starts with, or `""`.
    pub fn prefix(&self) -> &str {
        &self.analysis.prefix
    }

    /// A literal suffix every match ends with, or `""`.
    pub fn suffix(&self) -> &str {
        &self.analysis.suffix
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

/// Translates a Go RE2 pattern into an equivalent, unanchored Rust `regex` pattern.
///
/// Capture groups keep their numbers; a named group keeps its name unless Rust cannot use it
/// (a name starting with a digit, or a repeated name), in which case it becomes unnamed.
pub fn translate_go(pattern: &str) -> Result<String, RegexError> {
    Ok(translate::translate(pattern)?.rust)
}

/// Compiles a Go RE2 pattern as Prometheus does (`^(?s:` + pattern + `)$`), with our size
/// limits, for callers that need captures (relabelling, `label_replace`).
pub fn compile_go(pattern: &str) -> Result<regex::Regex, RegexError> {
    build(&translate::translate(pattern)?.rust, pattern)
}

/// Compiles the translated pattern anchored, mapping Rust's errors to Go's where they
/// correspond.
fn build(translated: &str, original: &str) -> Result<regex::Regex, RegexError> {
    regex::RegexBuilder::new(&format!("^(?s:{translated})$"))
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(DFA_SIZE_LIMIT)
        .nest_limit(NEST_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => GoError::new(code::LARGE, original).into(),
            regex::Error::Syntax(msg) if msg.contains("nested parentheses") => {
                GoError::new(code::NESTING_DEPTH, original).into()
            }
            other => RegexError(other.to_string()),
        })
}

#[cfg(test)]
mod tests;
