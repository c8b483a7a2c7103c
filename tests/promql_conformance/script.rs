//! The test-script language (FORMAT.md sections 2-8): lines, blocks, commands.

use crate::series::{self, Item};
use cairn::model::Labels;
use cairn::model::duration::parse_duration;
use regex::Regex;
use std::sync::LazyLock;

/// How an expected text (error or annotation) is matched.
#[derive(Clone, Debug)]
pub enum TextMatch {
    /// Anything matches.
    Any,
    /// The text must be equal.
    Exact(String),
    /// The regex must match somewhere in the text.
    Regex(Regex),
}

impl TextMatch {
    /// Whether `text` fits.
    pub fn matches(&self, text: &str) -> bool {
        match self {
            TextMatch::Any => true,
            TextMatch::Exact(s) => s == text,
            TextMatch::Regex(r) => r.is_match(text),
        }
    }
}

impl std::fmt::Display for TextMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TextMatch::Any => write!(f, "<anything>"),
            TextMatch::Exact(s) => write!(f, "msg {s:?}"),
            TextMatch::Regex(r) => write!(f, "regex {:?}", r.as_str()),
        }
    }
}

/// One series line: labels, expanded positions, its 1-based file line.
#[derive(Clone, Debug)]
pub struct SeriesLine {
    /// The label set as written.
    pub labels: Labels,
    /// The positions after expansion.
    pub items: Vec<Item>,
    /// Start-timestamp offsets from a preceding `@st` line (start_timestamps.test only).
    pub st: Option<Vec<Option<i64>>>,
}

/// A `load` block.
#[derive(Clone, Debug)]
pub struct Load {
    /// 1-based line of the header.
    pub line: usize,
    /// Spacing of the positions (ms).
    pub interval: i64,
    /// `load_with_nhcb`.
    pub nhcb: bool,
    /// The series, a later line with the same labels having replaced the earlier.
    pub series: Vec<SeriesLine>,
}

/// Instant or range evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EvalKind {
    /// `eval instant at <at>`.
    Instant { at: i64 },
    /// `eval range from <start> to <end> step <step>`.
    Range { start: i64, end: i64, step: i64 },
}

/// What the query must return.
#[derive(Clone, Debug)]
pub enum Expected {
    /// Series lines (possibly none: an empty result).
    Series(Vec<SeriesLine>),
    /// A scalar.
    Scalar(f64),
    /// A string.
    String(String),
}

/// Which deprecated `eval_*` form the header used.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Legacy {
    /// Plain `eval`.
    None,
    /// `eval_fail`.
    Fail,
    /// `eval_warn`: at least one warning.
    Warn,
    /// `eval_info`: at least one info.
    Info,
    /// `eval_ordered`.
    Ordered,
}

/// One `eval` command.
#[derive(Clone, Debug)]
pub struct Eval {
    /// 1-based line of the header.
    pub line: usize,
    /// Instant or range.
    pub kind: EvalKind,
    /// The PromQL text.
    pub expr: String,
    /// The deprecated header form.
    pub legacy: Legacy,
    /// `expect fail` (or `eval_fail`).
    pub fail: Option<TextMatch>,
    /// `expect warn` lines.
    pub warn: Vec<TextMatch>,
    /// `expect info` lines.
    pub info: Vec<TextMatch>,
    /// `expect no_warn`.
    pub no_warn: bool,
    /// `expect no_info`.
    pub no_info: bool,
    /// `expect ordered` (or `eval_ordered`).
    pub ordered: bool,
    /// `expect range vector from <t1> to <t2> step <d>`.
    pub range_vector: Option<(i64, i64, i64)>,
    /// The expected result.
    pub expected: Expected,
}

impl Eval {
    /// The instant evaluation time (`<t2>` of `expect range vector` overrides `at`).
    pub fn instant_time(&self) -> Option<i64> {
        match self.kind {
            EvalKind::Instant { at } => Some(self.range_vector.map_or(at, |(_, t2, _)| t2)),
            EvalKind::Range { .. } => None,
        }
    }
}

/// A command of a script.
#[derive(Clone, Debug)]
pub enum Command {
    /// Append data.
    Load(Load),
    /// Drop all data.
    Clear,
    /// Run a query.
    Eval(Box<Eval>),
}

/// A parsed file. Parse errors do not stop parsing; the runner fails the file if any.
#[derive(Debug, Default)]
pub struct Script {
    /// Commands in file order.
    pub commands: Vec<Command>,
    /// `(line, message)` for every problem found.
    pub errors: Vec<(usize, String)>,
}

static INSTANT: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern, compiled by every run of the self-checks: `unwrap` cannot fail.
    Regex::new(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$").unwrap()
});
static RANGE: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern, compiled by every run of the self-checks: `unwrap` cannot fail.
    Regex::new(r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$").unwrap()
});

fn duration(s: &str) -> Result<i64, String> {
    parse_duration(s.trim()).map_err(|e| e.to_string())
}

/// Parses an `eval` header line into an [`Eval`] with an empty body.
pub fn parse_eval_header(line_no: usize, header: &str) -> Result<Eval, String> {
    let legacy = |m: Option<regex::Match<'_>>| match m.map(|m| m.as_str()) {
        Some("fail") => Legacy::Fail,
        Some("warn") => Legacy::Warn,
        Some("info") => Legacy::Info,
        Some("ordered") => Legacy::Ordered,
        _ => Legacy::None,
    };
    let (kind, expr, legacy) = if let Some(c) = INSTANT.captures(header) {
        let at = c.get(2).map(|m| m.as_str()).ok_or("instant eval without `at <time>`")?;
        (EvalKind::Instant { at: duration(at)? }, c.get(3), legacy(c.get(1)))
    } else if let Some(c) = RANGE.captures(header) {
        let g = |i: usize| c.get(i).map_or("", |m| m.as_str());
        let (start, end, step) = (duration(g(2))?, duration(g(3))?, duration(g(4))?);
        if end < start {
            return Err("range eval ends before it starts".into());
        }
        if step <= 0 {
            return Err("range eval step must be positive".into());
        }
        (EvalKind::Range { start, end, step }, c.get(5), legacy(c.get(1)))
    } else {
        return Err(format!("invalid eval header {header:?}"));
    };
    let expr = expr.map(|m| m.as_str().to_string()).ok_or("eval without expression")?;
    Ok(Eval {
        line: line_no,
        kind,
        expr,
        legacy,
        fail: (legacy == Legacy::Fail).then_some(TextMatch::Any),
        warn: Vec::new(),
        info: Vec::new(),
        no_warn: false,
        no_info: false,
        ordered: legacy == Legacy::Ordered,
        range_vector: None,
        expected: Expected::Series(Vec::new()),
    })
}

fn text_match(arg: &str) -> Result<TextMatch, String> {
    let arg = arg.trim();
    if arg.is_empty() {
        Ok(TextMatch::Any)
    } else if let Some(m) = arg.strip_prefix("msg:") {
        Ok(TextMatch::Exact(m.trim().to_string()))
    } else if let Some(r) = arg.strip_prefix("regex:") {
        Regex::new(r.trim()).map(TextMatch::Regex).map_err(|e| format!("bad regex: {e}"))
    } else {
        Err(format!("bad expect argument {arg:?}"))
    }
}

/// Adds one `expect <type> ...` line to `eval`.
fn parse_expect(eval: &mut Eval, rest: &str) -> Result<(), String> {
    let rest = rest.trim();
    let (ty, arg) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let m = text_match(arg)?;
    match ty {
        "fail" if eval.fail.is_some() => return Err("two `expect fail` lines".into()),
        "fail" => eval.fail = Some(m),
        "warn" => eval.warn.push(m),
        "info" => eval.info.push(m),
        "no_warn" => eval.no_warn = true,
        "no_info" => eval.no_info = true,
        "ordered" => eval.ordered = true,
        _ => return Err(format!("unknown expectation {ty:?}")),
    }
    if (eval.no_warn && !eval.warn.is_empty()) || (eval.no_info && !eval.info.is_empty()) {
        return Err("`expect warn|info` combined with `expect no_warn|no_info`".into());
    }
    Ok(())
}

/// Parses a series line (metric and values).
pub fn parse_series_line(line: &str) -> Result<SeriesLine, String> {
    let (metric, values) = series::split_metric(line);
    Ok(SeriesLine { labels: series::parse_metric(metric)?, items: series::expand_values(values)?, st: None })
}

/// Parses the body of an eval; returns how many lines it used (the rest of the block, if
/// any, starts a new command).
fn parse_eval_body(eval: &mut Eval, lines: &[(usize, &str)]) -> Result<usize, String> {
    let mut series: Vec<SeriesLine> = Vec::new();
    let mut used = 0;
    for &(_, text) in lines {
        used += 1;
        let first = text.split_whitespace().next().unwrap_or("");
        if eval.legacy == Legacy::Fail && (first == "expected_fail_message" || first == "expected_fail_regexp") {
            let arg = text[first.len()..].trim();
            eval.fail = Some(if first == "expected_fail_message" {
                TextMatch::Exact(arg.to_string())
            } else {
                TextMatch::Regex(Regex::new(arg).map_err(|e| format!("bad regex: {e}"))?)
            });
            break;
        }
        if let Some(r) = text.strip_prefix("expect range vector from ") {
            let (t1, r) = r.split_once(" to ").ok_or("bad `expect range vector`")?;
            let (t2, d) = r.split_once(" step ").ok_or("bad `expect range vector`")?;
            let (t1, t2, d) = (duration(t1)?, duration(t2)?, duration(d)?);
            if d <= 0 || t2 < t1 {
                return Err("bad `expect range vector` times".into());
            }
            eval.range_vector = Some((t1, t2, d));
            continue;
        }
        if let Some(r) = text.strip_prefix("expect string ") {
            let r = r.trim();
            if !(r.starts_with('"') || r.starts_with('`')) {
                return Err("`expect string` needs a double-quoted or raw string".into());
            }
            let (s, n) = series::unquote_prefix(r)?;
            if n != r.len() {
                return Err("text after the string of `expect string`".into());
            }
            eval.expected = Expected::String(s);
            continue;
        }
        if first == "expect" {
            parse_expect(eval, &text[first.len()..])?;
            continue;
        }
        if let Some(v) = series::parse_number(text) {
            eval.expected = Expected::Scalar(v);
            break;
        }
        let s = parse_series_line(text)?;
        match eval.kind {
            EvalKind::Instant { .. } if eval.range_vector.is_none() => {
                if s.items.len() != 1 {
                    return Err("an instant eval expects exactly one value per series".into());
                }
            }
            EvalKind::Instant { .. } => {}
            EvalKind::Range { start, end, step } => {
                let steps = (end - start) / step + 1;
                if s.items.len() as i64 > steps {
                    return Err(format!("expected {} values but the range has only {steps} steps", s.items.len()));
                }
            }
        }
        series.push(s);
    }
    if !series.is_empty() {
        if !matches!(eval.expected, Expected::Series(_)) {
            return Err("series lines mixed with a scalar or string expectation".into());
        }
        eval.expected = Expected::Series(series);
    }
    Ok(used)
}

fn parse_load(line_no: usize, header: &str, body: &[(usize, &str)]) -> Result<Load, String> {
    let mut words = header.split_whitespace();
    let cmd = words.next().unwrap_or("");
    let nhcb = match cmd {
        "load" => false,
        "load_with_nhcb" => true,
        _ => return Err(format!("invalid load command {cmd:?}")),
    };
    let interval = duration(words.next().ok_or("load without interval")?)?;
    if words.next().is_some() {
        return Err("text after the load interval".into());
    }
    let mut load = Load { line: line_no, interval, nhcb, series: Vec::new() };
    let mut pending_st: Option<(Labels, Vec<Option<i64>>)> = None;
    for &(_, text) in body {
        let (metric, values) = series::split_metric(text);
        if let Some(m) = metric.strip_suffix("@st") {
            pending_st = Some((series::parse_metric(m)?, series::expand_st(values)?));
            continue;
        }
        let mut s = parse_series_line(text)?;
        if let Some((labels, st)) = pending_st.take() {
            if labels != s.labels || st.len() != s.items.len() {
                return Err("an @st line must be followed by its series with as many values".into());
            }
            s.st = Some(st);
        }
        match load.series.iter_mut().find(|o| o.labels == s.labels) {
            Some(old) => *old = s,
            None => load.series.push(s),
        }
    }
    if pending_st.is_some() {
        return Err("an @st line without its series line".into());
    }
    Ok(load)
}

/// Parses a whole file.
pub fn parse(text: &str) -> Script {
    let lines: Vec<(usize, &str)> = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| {
            let t = l.trim();
            (i + 1, if t.starts_with('#') { "" } else { t })
        })
        .collect();
    let mut script = Script::default();
    let mut i = 0;
    while i < lines.len() {
        let (line_no, header) = lines[i];
        i += 1;
        if header.is_empty() {
            continue;
        }
        let body_len = lines[i..].iter().take_while(|(_, t)| !t.is_empty()).count();
        let body = &lines[i..i + body_len];
        let first = header.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
        let result = if first == "clear" {
            script.commands.push(Command::Clear);
            // A `clear` takes no body; further lines are commands of their own.
            Ok(0)
        } else if first.starts_with("load") {
            parse_load(line_no, header, body).map(|l| {
                script.commands.push(Command::Load(l));
                body_len
            })
        } else if first.starts_with("eval") {
            parse_eval_header(line_no, header).and_then(|mut e| {
                // The eval is kept even when its body is bad, so that it is counted (as a
                // failure, because the file is rejected).
                let used = parse_eval_body(&mut e, body);
                script.commands.push(Command::Eval(Box::new(e)));
                used
            })
        } else {
            Err(format!("unknown command {header:?}"))
        };
        match result {
            Ok(used) => i += used,
            Err(e) => {
                script.errors.push((line_no, e));
                i += body_len;
            }
        }
    }
    script
}
