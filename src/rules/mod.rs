//! Rule files: recording and alerting rules in groups, read and validated as Prometheus
//! 2.42 reads them (`model/rulefmt`).
//!
//! Principal items: [`RuleGroups`] (one file), [`RuleGroup`], [`Rule`] with
//! [`RecordingRule`] and [`AlertingRule`], [`parse`]/[`load_file`], and [`Error`], which
//! words and positions each problem as `promtool check rules` does
//! (`5:15: group "g", rule 1, "job:up": could not parse expression: ...`). Validation returns
//! every problem in the file, not just the first. Rule evaluation lives elsewhere; this
//! module only reads files.
//!
//! Not checked yet: that alert label and annotation templates parse (Prometheus parses them
//! with Go's `text/template`).

use crate::model::duration::parse_duration;
use crate::promql::{Expr, ParserOptions, parse_expr};
use crate::relabel::{is_valid_label_name, is_valid_metric_name};
use serde::Deserialize;
use serde_saphyr::{Location, MessageFormatter, Spanned};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// The rules of one file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleGroups {
    /// The groups, in file order.
    pub groups: Vec<RuleGroup>,
}

impl RuleGroups {
    /// The number of rules in all groups.
    pub fn rule_count(&self) -> usize {
        self.groups.iter().map(|g| g.rules.len()).sum()
    }
}

/// A group of rules evaluated together, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleGroup {
    /// `name` (unique within the file).
    pub name: String,
    /// `interval`; `None` means the global `evaluation_interval`.
    pub interval: Option<Duration>,
    /// `limit`: the most series a rule may produce (alerts, for alerting rules); 0 = none.
    pub limit: u64,
    /// `rules`.
    pub rules: Vec<Rule>,
}

/// One rule.
#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    /// A `record` rule.
    Recording(RecordingRule),
    /// An `alert` rule.
    Alerting(AlertingRule),
}

impl Rule {
    /// The recorded metric or the alert name.
    pub fn name(&self) -> &str {
        match self {
            Rule::Recording(r) => &r.record,
            Rule::Alerting(a) => &a.alert,
        }
    }

    /// The rule's `labels`.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        match self {
            Rule::Recording(r) => &r.labels,
            Rule::Alerting(a) => &a.labels,
        }
    }
}

/// A recording rule.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordingRule {
    /// `record`: the metric name written.
    pub record: String,
    /// `expr` as written.
    pub expr_text: String,
    /// `expr`, parsed.
    pub expr: Expr,
    /// `labels` added to (or replacing those of) the result.
    pub labels: BTreeMap<String, String>,
}

/// An alerting rule.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertingRule {
    /// `alert`: the alert name.
    pub alert: String,
    /// `expr` as written.
    pub expr_text: String,
    /// `expr`, parsed.
    pub expr: Expr,
    /// `for`: how long the condition must hold before the alert fires (0 = at once).
    pub for_duration: Duration,
    /// `keep_firing_for`: how long the alert keeps firing after the condition clears.
    pub keep_firing_for: Duration,
    /// `labels` (templates).
    pub labels: BTreeMap<String, String>,
    /// `annotations` (templates).
    pub annotations: BTreeMap<String, String>,
}

/// A 1-based position in the file; `0:0` when the key is absent (as Prometheus prints it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    /// Line.
    pub line: usize,
    /// Column.
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

impl Pos {
    fn of(loc: &Location) -> Pos {
        Pos { line: loc.line() as usize, col: loc.column() as usize }
    }

    fn of_opt<T>(v: &Option<Spanned<T>>) -> Pos {
        v.as_ref().map_or(Pos::default(), |s| Pos::of(&s.referenced))
    }
}

/// A problem in a rule file, displayed as `promtool check rules` prints it (after the
/// file name).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read.
    #[error("{0}")]
    Read(String),
    /// Not valid YAML for the format (syntax, unknown key, wrong type, bad duration).
    #[error("{}{msg}", pos.map(|p| format!("{p}: ")).unwrap_or_default())]
    Yaml {
        /// Where, when known.
        pos: Option<Pos>,
        /// What.
        msg: String,
    },
    /// A group-level problem (empty or repeated name).
    #[error("{pos}: {msg}")]
    Group {
        /// The group's position.
        pos: Pos,
        /// What.
        msg: String,
    },
    /// A problem with one rule.
    #[error("{}group {}, rule {index}, {}: {msg}", positions(pos, alt), go_quote(group), go_quote(name))]
    Rule {
        /// The group's name.
        group: String,
        /// The rule's 1-based index in its group.
        index: usize,
        /// The rule's `record` or `alert` name.
        name: String,
        /// The position of the key at fault, when the problem has one.
        pos: Option<Pos>,
        /// A second position (`record` and `alert` both set).
        alt: Option<Pos>,
        /// What.
        msg: String,
    },
}

fn positions(pos: &Option<Pos>, alt: &Option<Pos>) -> String {
    match (pos, alt) {
        (Some(p), Some(a)) => format!("{p}: {a}: "),
        (Some(p), None) => format!("{p}: "),
        _ => String::new(),
    }
}

fn go_quote(s: &str) -> String {
    crate::relabel::go_quote(s)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawFile {
    groups: Option<Vec<Option<Spanned<RawGroup>>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawGroup {
    name: Option<String>,
    interval: Option<Spanned<String>>,
    limit: Option<u64>,
    rules: Option<Vec<Option<Spanned<RawRule>>>>,
    source_tenants: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawRule {
    record: Option<Spanned<String>>,
    alert: Option<Spanned<String>>,
    expr: Option<Spanned<String>>,
    #[serde(rename = "for")]
    for_duration: Option<Spanned<String>>,
    keep_firing_for: Option<Spanned<String>>,
    labels: Option<BTreeMap<String, Option<String>>>,
    annotations: Option<BTreeMap<String, Option<String>>>,
}

/// Reads and validates a rule file.
pub fn load_file(path: &Path) -> Result<RuleGroups, Vec<Error>> {
    let text = std::fs::read_to_string(path).map_err(|e| vec![Error::Read(e.to_string())])?;
    parse(&text)
}

/// Parses and validates rule-file text, returning every problem found.
pub fn parse(text: &str) -> Result<RuleGroups, Vec<Error>> {
    let raw: RawFile = serde_saphyr::from_str(text).map_err(|e| vec![yaml_error(&e)])?;
    // Durations fail the whole file, as a decoding error does in Prometheus.
    let dur = |v: &Option<Spanned<String>>| -> Result<Duration, Vec<Error>> {
        match v {
            None => Ok(Duration::ZERO),
            Some(s) => parse_duration(&s.value)
                .map(|ms| Duration::from_millis(ms as u64))
                .map_err(|e| vec![Error::Yaml { pos: Some(Pos::of(&s.referenced)), msg: e.to_string() }]),
        }
    };
    let mut errors = Vec::new();
    let mut groups = Vec::new();
    let mut seen = HashSet::new();
    let empty = RawGroup::default();
    for g in raw.groups.iter().flatten() {
        let (pos, rg) = match g {
            Some(g) => (Pos::of(&g.referenced), &g.value),
            None => (Pos::default(), &empty),
        };
        let name = rg.name.clone().unwrap_or_default();
        if name.is_empty() {
            errors.push(Error::Group { pos, msg: "Groupname must not be empty".into() });
        }
        if !seen.insert(name.clone()) {
            errors.push(Error::Group { pos, msg: format!("groupname: \"{name}\" is repeated in the same file") });
        }
        let interval = dur(&rg.interval)?;
        let mut rules = Vec::new();
        for (i, r) in rg.rules.iter().flatten().enumerate() {
            let empty_rule = RawRule::default();
            let r = r.as_ref().map_or(&empty_rule, |r| &r.value);
            let for_duration = dur(&r.for_duration)?;
            let keep_firing_for = dur(&r.keep_firing_for)?;
            match rule(r, for_duration, keep_firing_for) {
                Ok(rule) => rules.push(rule),
                Err(problems) => {
                    let rule_name = [&r.alert, &r.record]
                        .into_iter()
                        .flatten()
                        .map(|s| s.value.clone())
                        .find(|n| !n.is_empty())
                        .unwrap_or_default();
                    errors.extend(problems.into_iter().map(|(pos, alt, msg)| Error::Rule {
                        group: name.clone(),
                        index: i + 1,
                        name: rule_name.clone(),
                        pos,
                        alt,
                        msg,
                    }));
                }
            }
        }
        groups.push(RuleGroup {
            name,
            interval: (!interval.is_zero()).then_some(interval),
            limit: rg.limit.unwrap_or(0),
            rules,
        });
    }
    if errors.is_empty() { Ok(RuleGroups { groups }) } else { Err(errors) }
}

/// A problem with a rule: its position, a second position, and the message.
type Problem = (Option<Pos>, Option<Pos>, String);

/// Validates one rule (Prometheus's checks, in its order) and builds it.
fn rule(r: &RawRule, for_duration: Duration, keep_firing_for: Duration) -> Result<Rule, Vec<Problem>> {
    let mut problems: Vec<Problem> = Vec::new();
    let text = |v: &Option<Spanned<String>>| v.as_ref().map_or("", |s| s.value.as_str()).to_string();
    let (record, alert, expr_text) = (text(&r.record), text(&r.alert), text(&r.expr));
    let (record_pos, alert_pos, expr_pos) = (Pos::of_opt(&r.record), Pos::of_opt(&r.alert), Pos::of_opt(&r.expr));
    if !record.is_empty() && !alert.is_empty() {
        problems.push((Some(record_pos), Some(alert_pos), "only one of 'record' and 'alert' must be set".into()));
    }
    if record.is_empty() && alert.is_empty() {
        problems.push((Some(record_pos), None, "one of 'record' or 'alert' must be set".into()));
    }
    let mut expr = None;
    if expr_text.is_empty() {
        problems.push((Some(expr_pos), None, "field 'expr' must be set in rule".into()));
    } else {
        match parse_expr(&expr_text, &ParserOptions::default()) {
            Ok(e) => expr = Some(e),
            Err(e) => problems.push((Some(expr_pos), None, format!("could not parse expression: {e}"))),
        }
    }
    let annotations: BTreeMap<String, String> =
        r.annotations.iter().flatten().map(|(k, v)| (k.clone(), v.clone().unwrap_or_default())).collect();
    let labels: BTreeMap<String, String> =
        r.labels.iter().flatten().map(|(k, v)| (k.clone(), v.clone().unwrap_or_default())).collect();
    if !record.is_empty() {
        if !annotations.is_empty() {
            problems.push((Some(record_pos), None, "invalid field 'annotations' in recording rule".into()));
        }
        if !for_duration.is_zero() {
            problems.push((Some(record_pos), None, "invalid field 'for' in recording rule".into()));
        }
        if !keep_firing_for.is_zero() {
            problems.push((Some(record_pos), None, "invalid field 'keep_firing_for' in recording rule".into()));
        }
        if !is_valid_metric_name(&record) {
            problems.push((Some(record_pos), None, format!("invalid recording rule name: {record}")));
        }
    }
    for k in labels.keys() {
        if !is_valid_label_name(k) || k == "__name__" {
            problems.push((None, None, format!("invalid label name: {k}")));
        }
    }
    for k in annotations.keys() {
        if !is_valid_label_name(k) {
            problems.push((None, None, format!("invalid annotation name: {k}")));
        }
    }
    match expr {
        Some(expr) if problems.is_empty() => Ok(if record.is_empty() {
            Rule::Alerting(AlertingRule { alert, expr_text, expr, for_duration, keep_firing_for, labels, annotations })
        } else {
            Rule::Recording(RecordingRule { record, expr_text, expr, labels })
        }),
        _ => Err(problems),
    }
}

/// A parser error without the parser's location suffix.
fn yaml_error(e: &serde_saphyr::Error) -> Error {
    let msg = serde_saphyr::UserMessageFormatter.format_message(e.without_snippet()).into_owned();
    let msg = match msg.find(", expected one of") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    };
    let msg = match msg.strip_prefix("unknown field ") {
        Some(rest) => format!("unknown field {}", rest.replace('`', "\"")),
        None => msg,
    };
    let pos = e.location().filter(|l| l.line() > 0).map(|l| Pos::of(&l));
    Error::Yaml { pos, msg }
}

/// Rules that record the same metric (or alert name) with the same labels, as promtool's
/// `duplicate-rules` lint finds them: each duplicated (name, labels) once, sorted.
pub fn duplicate_rules(groups: &RuleGroups) -> Vec<(String, BTreeMap<String, String>)> {
    let mut all: Vec<(String, &BTreeMap<String, String>)> =
        groups.groups.iter().flat_map(|g| g.rules.iter()).map(|r| (r.name().to_string(), r.labels())).collect();
    all.sort();
    let mut dups: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    for w in all.windows(2) {
        if w[0] == w[1] && dups.last().is_none_or(|d| d.0 != w[0].0 || &d.1 != w[0].1) {
            dups.push((w[1].0.clone(), w[1].1.clone()));
        }
    }
    dups
}

#[cfg(test)]
mod tests;
