//! Relabeling: Prometheus's `relabel_configs` actions, shared by scraping (target and metric
//! relabeling), remote write (`write_relabel_configs`) and alerting.
//!
//! Principal items: [`RelabelConfig`] (one step, Prometheus's defaults filled in), [`Action`],
//! [`Regex`] (a relabeling regex: Go RE2 syntax, anchored as `^(?:re)$`, with capture groups)
//! and [`process`], which runs a list of steps over a label set. [`RelabelConfig::validate`]
//! checks a step the way Prometheus does when it loads a config, with Prometheus's messages
//! ([`Error`]).
//!
//! Semantics follow Prometheus 2.42 (`model/relabel`), checked against the real server by
//! `tests/it/relabel_diff.rs`:
//! - the source value is the source labels' values (empty for a missing label) joined with
//!   `separator`;
//! - `replace` writes the regex-expanded `replacement` to the regex-expanded `target_label`
//!   only when the regex matches; an empty result deletes the label named by the unexpanded
//!   `target_label`, and so does an expanded target that is not a valid label name;
//! - `hashmod` takes the last eight bytes of the MD5 of the source value, big-endian, modulo
//!   `modulus`;
//! - `labelmap`, `labeldrop` and `labelkeep` look at the label names as they were when the
//!   step started, in name order;
//! - setting a label to the empty string deletes it.

mod expand;
mod md5;

use crate::model::regex::{RegexError, translate_go};
use crate::model::{Label, Labels};
use std::borrow::Cow;
use std::fmt;

/// The largest compiled program we accept for one relabeling regex (patterns come from
/// config files; Go's own limit is about 3 million instructions).
const SIZE_LIMIT: usize = 16 << 20;
/// The deepest nesting we accept (the Rust regex compiler recurses over the pattern).
const NEST_LIMIT: u32 = 250;
/// The default regex, `(.*)`.
const DEFAULT_REGEX: &str = "(.*)";
/// The default separator.
const DEFAULT_SEPARATOR: &str = ";";
/// The default replacement.
const DEFAULT_REPLACEMENT: &str = "$1";

/// A relabeling action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `replace` (default).
    Replace,
    /// `keep`.
    Keep,
    /// `drop`.
    Drop,
    /// `keepequal`.
    KeepEqual,
    /// `dropequal`.
    DropEqual,
    /// `hashmod`.
    HashMod,
    /// `labelmap`.
    LabelMap,
    /// `labeldrop`.
    LabelDrop,
    /// `labelkeep`.
    LabelKeep,
    /// `lowercase`.
    Lowercase,
    /// `uppercase`.
    Uppercase,
}

impl Action {
    /// Every action, in the order Prometheus documents them.
    pub const ALL: [Action; 11] = [
        Action::Replace,
        Action::Keep,
        Action::Drop,
        Action::KeepEqual,
        Action::DropEqual,
        Action::HashMod,
        Action::LabelMap,
        Action::LabelDrop,
        Action::LabelKeep,
        Action::Lowercase,
        Action::Uppercase,
    ];

    /// The action's name in a config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    /// Reads an action name; like Prometheus, case does not matter (`Keep`, `KEEP`).
    pub fn parse(s: &str) -> Result<Action, Error> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::UnknownAction(s.to_string()))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a relabeling step is invalid, in Prometheus's words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `action` is not one of the known actions.
    #[error("unknown relabel action {}", go_quote(.0))]
    UnknownAction(String),
    /// `hashmod` without a `modulus`.
    #[error("relabel configuration for hashmod requires non-zero modulus")]
    ZeroModulus,
    /// An action that writes a label has no `target_label`.
    #[error("relabel configuration for {0} action requires 'target_label' value")]
    MissingTargetLabel(Action),
    /// `target_label` is not a valid label name (or template, for `replace`).
    #[error("{} is invalid 'target_label' for {action} action", go_quote(.target))]
    InvalidTargetLabel {
        /// The target label as written.
        target: String,
        /// The step's action.
        action: Action,
    },
    /// `replacement` given for an action that does not use it.
    #[error("'replacement' can not be set for {0} action")]
    ReplacementNotAllowed(Action),
    /// `labelmap`'s `replacement` is not a valid label name template.
    #[error("{} is invalid 'replacement' for {action} action", go_quote(.replacement))]
    InvalidReplacement {
        /// The replacement as written.
        replacement: String,
        /// The step's action.
        action: Action,
    },
    /// `keepequal`/`dropequal` with fields other than `source_labels` and `target_label`.
    #[error("{0} action requires only 'source_labels' and `target_label`, and no other fields")]
    OnlySourceAndTarget(Action),
    /// `labeldrop`/`labelkeep` with fields other than `regex`.
    #[error("{0} action requires only 'regex', and no other fields")]
    OnlyRegex(Action),
    /// A `source_labels` entry is not a valid label name.
    #[error("{} is not a valid label name", go_quote(.0))]
    InvalidSourceLabel(String),
    /// The regex does not compile (Go's message, quoting the anchored pattern).
    #[error("{0}")]
    Regex(RegexError),
}

/// A relabeling regex: Go RE2 syntax, matched against the whole string as Prometheus does
/// (`^(?:re)$`, so `.` does not match a newline), with capture groups for `$1` and `$name`.
#[derive(Clone, Debug)]
pub struct Regex {
    source: String,
    re: regex::Regex,
    /// The pattern is exactly `(.*)`: matches any string without a newline, group 1 being the
    /// whole string. Skips the regex engine for the most common relabeling step.
    any: bool,
}

impl Regex {
    /// Compiles `pattern` the way Prometheus does: `^(?:` + pattern + `)$` in Go RE2 syntax.
    ///
    /// Errors carry Go's wording, which quotes the anchored pattern
    /// (``error parsing regexp: missing closing ): `^(?:(a)$` ``).
    pub fn new(pattern: &str) -> Result<Regex, RegexError> {
        let anchored = format!("^(?:{pattern})$");
        let translated = translate_go(&anchored)?;
        let re = regex::RegexBuilder::new(&translated).size_limit(SIZE_LIMIT).nest_limit(NEST_LIMIT).build().map_err(
            |e| match e {
                regex::Error::CompiledTooBig(_) => {
                    RegexError(format!("error parsing regexp: expression too large: `{anchored}`"))
                }
                other => RegexError(format!("error parsing regexp: {other}")),
            },
        )?;
        Ok(Regex { source: pattern.to_string(), re, any: pattern == DEFAULT_REGEX })
    }

    /// The pattern as written (without the anchors).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the whole of `s` matches.
    pub fn is_match(&self, s: &str) -> bool {
        if self.any {
            return !s.contains('\n');
        }
        self.re.is_match(s)
    }

    /// Matches `s`; on a match, the groups for expanding `$1`/`$name` templates.
    fn captures<'s>(&'s self, s: &'s str) -> Option<Match<'s>> {
        if self.any {
            return (!s.contains('\n')).then_some(Match::Whole(s));
        }
        // The cheap test first, so that a step that does not match allocates nothing.
        if !self.re.is_match(s) {
            return None;
        }
        let mut locs = self.re.capture_locations();
        self.re.captures_read(&mut locs, s)?;
        Some(Match::Groups { re: &self.re, s, locs })
    }
}

impl Default for Regex {
    /// `(.*)`, Prometheus's default.
    fn default() -> Self {
        // A constant pattern that compiles; this cannot fail.
        let re = regex::Regex::new("^(?:(.*))$").expect("the default relabel regex compiles");
        Regex { source: DEFAULT_REGEX.to_string(), re, any: true }
    }
}

impl PartialEq for Regex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// A successful match, for expanding templates.
enum Match<'a> {
    /// A `(.*)` match: group 0 and group 1 are the whole string.
    Whole(&'a str),
    /// A regex match with its capture positions.
    Groups { re: &'a regex::Regex, s: &'a str, locs: regex::CaptureLocations },
}

impl expand::Groups for Match<'_> {
    fn group(&self, i: usize) -> Option<&str> {
        match self {
            Match::Whole(s) => (i <= 1).then_some(*s),
            Match::Groups { s, locs, .. } => {
                let (start, end) = locs.get(i)?;
                s.get(start..end)
            }
        }
    }
    fn named(&self, name: &str) -> Option<&str> {
        match self {
            Match::Whole(_) => None,
            Match::Groups { re, .. } => {
                re.capture_names().enumerate().filter(|(_, n)| *n == Some(name)).find_map(|(i, _)| self.group(i))
            }
        }
    }
}

/// One relabeling step with Prometheus's defaults (separator `;`, regex `(.*)`,
/// replacement `$1`, action `replace`).
#[derive(Clone, Debug, PartialEq)]
pub struct RelabelConfig {
    /// `source_labels`.
    pub source_labels: Vec<String>,
    /// `separator`.
    pub separator: String,
    /// `regex`, fully anchored, RE2 syntax.
    pub regex: Regex,
    /// `modulus` (hashmod).
    pub modulus: u64,
    /// `target_label`.
    pub target_label: String,
    /// `replacement`.
    pub replacement: String,
    /// `action`.
    pub action: Action,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            source_labels: Vec::new(),
            separator: DEFAULT_SEPARATOR.to_string(),
            regex: Regex::default(),
            modulus: 0,
            target_label: String::new(),
            replacement: DEFAULT_REPLACEMENT.to_string(),
            action: Action::Replace,
        }
    }
}

impl RelabelConfig {
    /// Checks the step as Prometheus does when loading a config (`relabel.Config.Validate`),
    /// returning the first problem in Prometheus's wording.
    ///
    /// A `keepequal`/`dropequal` step with an explicitly written `regex` is also rejected by
    /// Prometheus even when it is `(.*)`; this function can only see the value, so the
    /// config loader checks that case itself.
    pub fn validate(&self) -> Result<(), Error> {
        use Action::*;
        let a = self.action;
        for name in &self.source_labels {
            if !is_valid_label_name(name) {
                return Err(Error::InvalidSourceLabel(name.clone()));
            }
        }
        if a == HashMod && self.modulus == 0 {
            return Err(Error::ZeroModulus);
        }
        let writes_target = matches!(a, Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual);
        if writes_target && self.target_label.is_empty() {
            return Err(Error::MissingTargetLabel(a));
        }
        let invalid_target = || Error::InvalidTargetLabel { target: self.target_label.clone(), action: a };
        if a == Replace {
            let ok = if self.target_label.contains('$') {
                is_valid_target_template(&self.target_label)
            } else {
                is_valid_label_name(&self.target_label)
            };
            if !ok {
                return Err(invalid_target());
            }
        }
        if matches!(a, Lowercase | Uppercase | KeepEqual | DropEqual) {
            if !is_valid_label_name(&self.target_label) {
                return Err(invalid_target());
            }
            if self.replacement != DEFAULT_REPLACEMENT {
                return Err(Error::ReplacementNotAllowed(a));
            }
        }
        if a == LabelMap && !is_valid_target_template(&self.replacement) {
            return Err(Error::InvalidReplacement { replacement: self.replacement.clone(), action: a });
        }
        if a == HashMod && !is_valid_label_name(&self.target_label) {
            return Err(invalid_target());
        }
        if matches!(a, KeepEqual | DropEqual)
            && (self.regex.as_str() != DEFAULT_REGEX
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(Error::OnlySourceAndTarget(a));
        }
        if matches!(a, LabelDrop | LabelKeep)
            && (!self.source_labels.is_empty()
                || !self.target_label.is_empty()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(Error::OnlyRegex(a));
        }
        Ok(())
    }
}

/// Whether `s` is a valid label name in Prometheus 2.42: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether `s` is a valid metric name in Prometheus 2.42: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// Whether `s` is a label name template Prometheus accepts as a `replace` target or a
/// `labelmap` replacement: label-name characters and `$name`/`${name}` references, not
/// starting with a digit (its `relabelTarget` pattern).
fn is_valid_target_template(s: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = s.as_bytes();
    if b.first().is_none_or(|c| c.is_ascii_digit()) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            c if word(c) => i += 1,
            b'$' if b.get(i + 1) == Some(&b'{') => {
                let n = b[i + 2..].iter().take_while(|&&c| word(c)).count();
                if n == 0 || b.get(i + 2 + n) != Some(&b'}') {
                    return false;
                }
                i += n + 3;
            }
            b'$' => {
                let n = b[i + 1..].iter().take_while(|&&c| word(c)).count();
                if n == 0 {
                    return false;
                }
                i += n + 1;
            }
            _ => return false,
        }
    }
    true
}

/// Quotes `s` as Go's `%q` does for the strings in config errors: double quotes, `\"` and
/// `\\`, the usual `\n`-style escapes, `\x..` for other control bytes and `\u....` for other
/// non-printable characters.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Runs `cfgs` over `labels` in order. `None` when a step dropped the set (keep/drop
/// actions) or when the result has no labels left.
///
/// Steps that change nothing allocate nothing; the returned set is a copy of `labels` when
/// no step changed it (use [`process_owned`] to avoid that copy).
pub fn process(labels: &Labels, cfgs: &[RelabelConfig]) -> Option<Labels> {
    let mut cur = Cow::Borrowed(labels.as_slice());
    if !run(&mut cur, cfgs) {
        return None;
    }
    match cur {
        Cow::Borrowed([]) => None,
        Cow::Borrowed(_) => Some(labels.clone()),
        Cow::Owned(v) if v.is_empty() => None,
        Cow::Owned(v) => Some(Labels::from_sorted_unchecked(v)),
    }
}

/// Like [`process`], consuming `labels` so that an unchanged set is returned without a copy.
pub fn process_owned(labels: Labels, cfgs: &[RelabelConfig]) -> Option<Labels> {
    let mut cur: Cow<'_, [Label]> = Cow::Owned(labels.into_vec());
    if !run(&mut cur, cfgs) {
        return None;
    }
    let v = cur.into_owned();
    (!v.is_empty()).then(|| Labels::from_sorted_unchecked(v))
}

/// Applies every step; false when one dropped the set.
fn run(cur: &mut Cow<'_, [Label]>, cfgs: &[RelabelConfig]) -> bool {
    let mut scratch = String::new();
    cfgs.iter().all(|cfg| step(cfg, cur, &mut scratch))
}

/// The value of `name` in a sorted label slice ("" when absent, as Prometheus's builder).
fn get<'a>(labels: &'a [Label], name: &str) -> &'a str {
    labels.binary_search_by(|l| l.name.as_str().cmp(name)).map_or("", |i| labels[i].value.as_str())
}

/// Sets `name` to `value` (deleting it when `value` is empty), copying the set on first change.
fn set(cur: &mut Cow<'_, [Label]>, name: &str, value: &str) {
    match cur.binary_search_by(|l| l.name.as_str().cmp(name)) {
        Ok(i) if value.is_empty() => {
            cur.to_mut().remove(i);
        }
        Ok(i) if cur[i].value == value => {}
        Ok(i) => cur.to_mut()[i].value = value.to_string(),
        Err(_) if value.is_empty() => {}
        Err(i) => {
            // An empty name cannot be represented in a label set; Prometheus would later
            // reject the target or series for it, we leave the label out.
            if !name.is_empty() {
                cur.to_mut().insert(i, Label::new(name, value));
            }
        }
    }
}

/// The joined source value; borrowed from the labels when there is a single source label.
fn source_value<'a>(labels: &'a [Label], cfg: &RelabelConfig, scratch: &'a mut String) -> &'a str {
    match cfg.source_labels.as_slice() {
        [] => "",
        [one] => get(labels, one),
        many => {
            scratch.clear();
            for (i, name) in many.iter().enumerate() {
                if i > 0 {
                    scratch.push_str(&cfg.separator);
                }
                scratch.push_str(get(labels, name));
            }
            scratch.as_str()
        }
    }
}

/// Applies one step; false when it dropped the set.
fn step(cfg: &RelabelConfig, cur: &mut Cow<'_, [Label]>, scratch: &mut String) -> bool {
    use Action::*;
    match cfg.action {
        Drop => !cfg.regex.is_match(source_value(cur, cfg, scratch)),
        Keep => cfg.regex.is_match(source_value(cur, cfg, scratch)),
        DropEqual => get(cur, &cfg.target_label) != source_value(cur, cfg, scratch),
        KeepEqual => get(cur, &cfg.target_label) == source_value(cur, cfg, scratch),
        Replace => {
            replace(cfg, cur, scratch);
            true
        }
        Lowercase | Uppercase => {
            let val = source_value(cur, cfg, scratch);
            let mapped = if cfg.action == Lowercase { go_lower(val) } else { go_upper(val) };
            if get(cur, &cfg.target_label) != mapped.as_ref() {
                let mapped = mapped.into_owned();
                set(cur, &cfg.target_label, &mapped);
            }
            true
        }
        HashMod => {
            let digest = md5::digest(source_value(cur, cfg, scratch).as_bytes());
            let mut last8 = [0u8; 8];
            last8.copy_from_slice(&digest[8..]);
            let m = u64::from_be_bytes(last8) % cfg.modulus.max(1);
            set(cur, &cfg.target_label, &m.to_string());
            true
        }
        LabelMap => {
            labelmap(cfg, cur);
            true
        }
        LabelDrop | LabelKeep => {
            let keep_matching = cfg.action == LabelKeep;
            let doomed = |l: &Label| cfg.regex.is_match(&l.name) != keep_matching;
            if let Some(first) = cur.iter().position(doomed) {
                let v = cur.to_mut();
                let mut w = first;
                for r in first + 1..v.len() {
                    if !doomed(&v[r]) {
                        v.swap(w, r);
                        w += 1;
                    }
                }
                v.truncate(w);
            }
            true
        }
    }
}

/// The `replace` action.
fn replace(cfg: &RelabelConfig, cur: &mut Cow<'_, [Label]>, scratch: &mut String) {
    let val = source_value(cur, cfg, scratch);
    let Some(m) = cfg.regex.captures(val) else {
        return;
    };
    let mut expanded_target = String::new();
    let target = if expand::has_references(&cfg.target_label) {
        expand::expand(&cfg.target_label, &m, &mut expanded_target);
        expanded_target.as_str()
    } else {
        cfg.target_label.as_str()
    };
    let mut value = String::new();
    expand::expand(&cfg.replacement, &m, &mut value);
    if !is_valid_label_name(target) || value.is_empty() {
        // Prometheus 2.42 deletes the label named by the unexpanded target here.
        set(cur, &cfg.target_label, "");
        return;
    }
    let target = target.to_string();
    set(cur, &target, &value);
}

/// The `labelmap` action: every label whose name matches is copied to the expanded
/// replacement, in name order (a later copy to the same name wins).
fn labelmap(cfg: &RelabelConfig, cur: &mut Cow<'_, [Label]>) {
    let mut copies: Vec<(String, String)> = Vec::new();
    for l in cur.iter() {
        if let Some(m) = cfg.regex.captures(&l.name) {
            let mut name = String::new();
            expand::expand(&cfg.replacement, &m, &mut name);
            copies.push((name, l.value.clone()));
        }
    }
    for (name, value) in copies {
        set(cur, &name, &value);
    }
}

/// Go's `strings.ToLower`: each character mapped on its own (no context-dependent rules such
/// as the final sigma). Borrows when nothing changes.
fn go_lower(s: &str) -> Cow<'_, str> {
    // A character whose full lower-case form is several characters (only `İ`) maps to the
    // first of them, which is its simple mapping.
    let map = |c: char| c.to_lowercase().next().unwrap_or(c);
    if s.chars().all(|c| map(c) == c) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().map(map).collect())
}

/// Go's `strings.ToUpper`: each character mapped on its own. A character whose full
/// upper-case form is several characters (`ß` → `SS`) has no simple mapping and stays as it
/// is, as in Go. Borrows when nothing changes.
fn go_upper(s: &str) -> Cow<'_, str> {
    let map = |c: char| {
        let mut up = c.to_uppercase();
        match (up.next(), up.next()) {
            (Some(u), None) => u,
            _ => c,
        }
    };
    if s.chars().all(|c| map(c) == c) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().map(map).collect())
}

#[cfg(test)]
mod tests;
