//! Fast paths found in the parsed (translated) pattern: literal sets, `.*`, `.+`, prefix,
//! suffix and contains checks, in the spirit of Prometheus' `FastRegexMatcher`.
//!
//! Every fast path is exactly equivalent to the fully anchored regex; the tests in `mod.rs`
//! check this against the regex itself.

use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Class, Hir, HirKind};

/// The most strings a literal set may hold before we stop treating the pattern as one.
const MAX_SET: usize = 256;
/// The most characters a class may hold to be expanded into a literal set.
const MAX_CLASS: usize = 32;
/// The most exact repetitions (`x{n}`) expanded into a literal set.
const MAX_EXACT_REPEAT: u32 = 8;
/// Sets at most this large are searched linearly; larger ones through a hash set.
const LINEAR_SET: usize = 8;

/// How [`super::FastRegex::is_match`] decides.
#[derive(Clone, Debug)]
pub(super) enum Strategy {
    /// `.*`: every string matches.
    Any,
    /// `.+`: every non-empty string matches.
    NonEmpty,
    /// A few exact strings, compared one by one.
    List(Vec<String>),
    /// Many exact strings.
    Hashed(foldhash::HashSet<String>),
    /// `lit.*`.
    StartsWith(String),
    /// `.*lit`.
    EndsWith(String),
    /// `.*lit.*`.
    Contains(String),
    /// The regex, after quick checks of the required prefix and suffix.
    Regex,
}

/// What the analysis found.
#[derive(Clone, Debug)]
pub(super) struct Analysis {
    pub strategy: Strategy,
    /// The exact set of matching strings, when the pattern is a case-sensitive literal set.
    pub set: Option<Vec<String>>,
    /// A prefix every match starts with.
    pub prefix: String,
    /// A suffix every match ends with.
    pub suffix: String,
}

impl Analysis {
    /// The analysis that knows nothing: always run the regex.
    pub(super) fn none() -> Self {
        Analysis { strategy: Strategy::Regex, set: None, prefix: String::new(), suffix: String::new() }
    }
}

/// Analyses `hir`, the unanchored pattern parsed with `.` matching newlines. Literal sets are
/// only reported when `allow_set` (the pattern has no case-insensitive part).
pub(super) fn analyze(hir: &Hir, allow_set: bool) -> Analysis {
    let prefix = Extractor::new()
        .kind(ExtractKind::Prefix)
        .extract(hir)
        .longest_common_prefix()
        .map(prefix_str)
        .unwrap_or_default();
    let suffix = Extractor::new()
        .kind(ExtractKind::Suffix)
        .extract(hir)
        .longest_common_suffix()
        .map(suffix_str)
        .unwrap_or_default();
    let set = if allow_set { literal_set(hir) } else { None };
    let strategy = match &set {
        Some(s) if s.len() <= LINEAR_SET => Strategy::List(s.clone()),
        Some(s) => Strategy::Hashed(s.iter().cloned().collect()),
        None => shape(hir),
    };
    Analysis { strategy, set, prefix, suffix }
}

/// Recognises `.*`, `.+`, `lit.*`, `.*lit` and `.*lit.*`.
fn shape(hir: &Hir) -> Strategy {
    let hir = strip(hir);
    if is_dot_repeat(hir, 0) {
        return Strategy::Any;
    }
    if is_dot_repeat(hir, 1) {
        return Strategy::NonEmpty;
    }
    let HirKind::Concat(subs) = hir.kind() else {
        return Strategy::Regex;
    };
    let subs: Vec<&Hir> = subs.iter().map(strip).collect();
    match subs.as_slice() {
        [a, lit, b] if is_dot_repeat(a, 0) && is_dot_repeat(b, 0) => {
            literal(lit).map_or(Strategy::Regex, Strategy::Contains)
        }
        [lit, b] if is_dot_repeat(b, 0) => literal(lit).map_or(Strategy::Regex, Strategy::StartsWith),
        [a, lit] if is_dot_repeat(a, 0) => literal(lit).map_or(Strategy::Regex, Strategy::EndsWith),
        _ => Strategy::Regex,
    }
}

/// Removes capture groups, which do not change what matches.
fn strip(mut hir: &Hir) -> &Hir {
    while let HirKind::Capture(c) = hir.kind() {
        hir = &c.sub;
    }
    hir
}

/// Whether `hir` is `(?s:.){min,}`: any character, any number of times (at least `min`).
fn is_dot_repeat(hir: &Hir, min: u32) -> bool {
    let HirKind::Repetition(rep) = hir.kind() else {
        return false;
    };
    if rep.min != min || rep.max.is_some() {
        return false;
    }
    match strip(&rep.sub).kind() {
        HirKind::Class(Class::Unicode(c)) => {
            let r = c.ranges();
            r.len() == 1 && r[0].start() == '\0' && r[0].end() == char::MAX
        }
        _ => false,
    }
}

fn literal(hir: &Hir) -> Option<String> {
    match hir.kind() {
        HirKind::Literal(lit) => std::str::from_utf8(&lit.0).ok().map(str::to_string),
        _ => None,
    }
}

/// The exact, finite set of strings `hir` matches, if it is small and built only from
/// literals, small classes, alternations, concatenations, `?` and small exact repetitions.
fn literal_set(hir: &Hir) -> Option<Vec<String>> {
    let mut set = strings(hir)?;
    let mut seen = std::collections::HashSet::with_capacity(set.len());
    set.retain(|s| seen.insert(s.clone()));
    Some(set)
}

/// The recursion is bounded by the parser's nesting limit.
fn strings(hir: &Hir) -> Option<Vec<String>> {
    match hir.kind() {
        HirKind::Empty => Some(vec![String::new()]),
        HirKind::Literal(_) => literal(hir).map(|s| vec![s]),
        HirKind::Class(Class::Unicode(c)) => {
            let mut out = Vec::new();
            for r in c.ranges() {
                for ch in r.start()..=r.end() {
                    if out.len() == MAX_CLASS {
                        return None;
                    }
                    out.push(ch.to_string());
                }
            }
            Some(out)
        }
        HirKind::Capture(c) => strings(&c.sub),
        HirKind::Concat(subs) => {
            let mut acc = vec![String::new()];
            for sub in subs {
                acc = product(&acc, &strings(sub)?)?;
            }
            Some(acc)
        }
        HirKind::Alternation(subs) => {
            let mut acc = Vec::new();
            for sub in subs {
                acc.extend(strings(sub)?);
                if acc.len() > MAX_SET {
                    return None;
                }
            }
            Some(acc)
        }
        HirKind::Repetition(rep) => {
            let sub = strings(&rep.sub)?;
            match (rep.min, rep.max) {
                (0, Some(1)) => {
                    let mut out = sub;
                    out.push(String::new());
                    (out.len() <= MAX_SET).then_some(out)
                }
                (n, Some(m)) if n == m && n <= MAX_EXACT_REPEAT => {
                    let mut acc = vec![String::new()];
                    for _ in 0..n {
                        acc = product(&acc, &sub)?;
                    }
                    Some(acc)
                }
                _ => None,
            }
        }
        // The parser writes a class that can match nothing as an empty byte class; other
        // byte classes cannot occur in a UTF-8 pattern. Look-arounds are not literals.
        HirKind::Class(Class::Bytes(c)) if c.ranges().is_empty() => Some(Vec::new()),
        HirKind::Class(Class::Bytes(_)) | HirKind::Look(_) => None,
    }
}

/// Every `a + b`, or `None` past [`MAX_SET`].
fn product(a: &[String], b: &[String]) -> Option<Vec<String>> {
    if a.len().saturating_mul(b.len()) > MAX_SET {
        return None;
    }
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            out.push(format!("{x}{y}"));
        }
    }
    Some(out)
}

/// The longest valid UTF-8 start of `b` (literal extraction works on bytes and may cut a
/// character in two).
fn prefix_str(b: &[u8]) -> String {
    let valid = match std::str::from_utf8(b) {
        Ok(_) => b.len(),
        Err(e) => e.valid_up_to(),
    };
    std::str::from_utf8(&b[..valid]).map(str::to_string).unwrap_or_default()
}

/// The longest valid UTF-8 end of `b`.
fn suffix_str(b: &[u8]) -> String {
    let start = b.iter().position(|&x| x & 0xC0 != 0x80).unwrap_or(b.len());
    std::str::from_utf8(&b[start..]).map(str::to_string).unwrap_or_default()
}
