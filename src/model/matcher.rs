//! Label matchers: `=`, `!=`, `=~`, `!~`.

use super::regex::{FastRegex, RegexError};
use std::fmt;

/// The four matcher kinds of PromQL selectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchType {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (fully anchored regex)
    Regex,
    /// `!~` (fully anchored regex)
    NotRegex,
}

impl fmt::Display for MatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regex => "=~",
            MatchType::NotRegex => "!~",
        })
    }
}

/// A matcher of one label against a value or a regex.
///
/// A missing label matches as the empty string, as in Prometheus: `{foo=""}` selects series
/// without `foo`, and `{foo!~".+"}` too.
#[derive(Clone, Debug)]
pub struct Matcher {
    /// The kind of comparison.
    pub kind: MatchType,
    /// The label name.
    pub name: String,
    /// The value or the regex source.
    pub value: String,
    re: Option<FastRegex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.name == other.name && self.value == other.value
    }
}

impl Matcher {
    /// Builds a matcher; regex kinds compile `value` with Go RE2 syntax, fully anchored.
    pub fn new(kind: MatchType, name: impl Into<String>, value: impl Into<String>) -> Result<Self, RegexError> {
        let value = value.into();
        let re = match kind {
            MatchType::Regex | MatchType::NotRegex => Some(FastRegex::new(&value)?),
            _ => None,
        };
        Ok(Matcher { kind, name: name.into(), value, re })
    }

    /// Shorthand for an `=` matcher (never fails).
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher { kind: MatchType::Equal, name: name.into(), value: value.into(), re: None }
    }

    /// Whether `value` (the empty string for a missing label) satisfies the matcher.
    #[inline]
    pub fn matches(&self, value: &str) -> bool {
        match (self.kind, &self.re) {
            (MatchType::Equal, _) => self.value == value,
            (MatchType::NotEqual, _) => self.value != value,
            (MatchType::Regex, Some(re)) => re.is_match(value),
            (MatchType::NotRegex, Some(re)) => !re.is_match(value),
            // Regex kinds always carry a compiled regex (see `new`).
            (_, None) => false,
        }
    }

    /// Whether the matcher selects series that lack the label.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// For `=` the value, for `=~` on a literal alternation (`a|b|c`) its members: the exact
    /// values that can match, so postings can be looked up directly instead of scanning.
    pub fn set_matches(&self) -> Option<Vec<&str>> {
        match (self.kind, &self.re) {
            (MatchType::Equal, _) => Some(vec![self.value.as_str()]),
            (MatchType::Regex, Some(re)) => re.set_matches().map(|s| s.iter().map(String::as_str).collect()),
            _ => None,
        }
    }

    /// A literal prefix every matching value has (`=~"foo.*"` gives `foo`), or `""`.
    pub fn prefix(&self) -> &str {
        match (self.kind, &self.re) {
            (MatchType::Regex, Some(re)) => re.prefix(),
            (MatchType::Equal, _) => &self.value,
            _ => "",
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.kind, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matcher_table() {
        // (kind, pattern, input, want)
        let cases: &[(MatchType, &str, &str, bool)] = &[
            (MatchType::Equal, "a", "a", true),
            (MatchType::Equal, "a", "b", false),
            (MatchType::Equal, "", "", true),
            (MatchType::NotEqual, "a", "b", true),
            (MatchType::NotEqual, "a", "a", false),
            (MatchType::Regex, "a.*", "abc", true),
            (MatchType::Regex, "a.*", "xabc", false), // anchored at the start
            (MatchType::Regex, "b", "abc", false),    // anchored at both ends
            (MatchType::Regex, "a|b", "b", true),
            (MatchType::Regex, ".*", "", true),
            (MatchType::Regex, ".+", "", false),
            (MatchType::NotRegex, ".+", "", true),
            (MatchType::NotRegex, "a.*", "abc", false),
            (MatchType::Regex, "a.b", "a\nb", true), // (?s): dot matches newline
        ];
        for &(kind, pat, input, want) in cases {
            let m = Matcher::new(kind, "l", pat).unwrap();
            assert_eq!(m.matches(input), want, "{kind} {pat:?} on {input:?}");
        }
    }

    #[test]
    fn set_matches_for_alternations() {
        let m = Matcher::new(MatchType::Regex, "l", "foo|bar").unwrap();
        let mut s = m.set_matches().unwrap();
        s.sort();
        assert_eq!(s, ["bar", "foo"]);
        assert!(Matcher::new(MatchType::Regex, "l", "fo.|bar").unwrap().set_matches().is_none());
    }
}
