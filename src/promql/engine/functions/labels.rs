//! Functions on label sets and order: `label_replace`, `label_join`, `sort`, `sort_desc`,
//! `sort_by_label`, `sort_by_label_desc` and `absent`.

use super::{Arg, FnCtx, FnError, out_sample, string_arg, vector_arg};
use crate::model::{Label, Labels, METRIC_NAME, MatchType};
use crate::promql::ast::Expr;
use crate::promql::engine::value::{Metric, Sample};
use std::cell::RefCell;
use std::cmp::Ordering;
use std::sync::Arc;

/// Whether `name` may be a label name. With Prometheus 3's UTF-8 names any non-empty valid
/// UTF-8 string may; our strings are always valid UTF-8, but the parser turns invalid bytes of a
/// string literal (`"\xff"`) into U+FFFD, so that character stands for invalid input.
fn valid_label_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('\u{FFFD}')
}

/// `labels` with `name` set to `value` (removed if `value` is empty).
fn with_label(labels: &Labels, name: &str, value: &str) -> Labels {
    let mut v: Vec<Label> = Vec::with_capacity(labels.len() + 1);
    let mut placed = value.is_empty();
    for l in labels.iter() {
        match l.name.as_str().cmp(name) {
            Ordering::Less => v.push(l.clone()),
            Ordering::Equal => {}
            Ordering::Greater => {
                if !placed {
                    v.push(Label::new(name, value));
                    placed = true;
                }
                v.push(l.clone());
            }
        }
    }
    if !placed {
        v.push(Label::new(name, value));
    }
    // Sorted by construction: the input was sorted and `name` went in at its place.
    Labels::from_sorted_unchecked(v)
}

/// The drop-name mark of a relabelled sample: writing `__name__` makes the name explicit.
fn relabelled_drop_name(dst: &str, before: bool) -> bool {
    if dst == METRIC_NAME { false } else { before }
}

thread_local! {
    /// Recently compiled `label_replace` regexes, so that a query does not recompile per step.
    static REGEX_CACHE: RefCell<Vec<(String, regex::Regex)>> = const { RefCell::new(Vec::new()) };
}

/// The compiled anchored regex for `pattern`, from the cache when possible.
fn compiled(pattern: &str) -> Option<regex::Regex> {
    REGEX_CACHE.with(|c| {
        let mut cache = c.try_borrow_mut().ok();
        if let Some(cache) = cache.as_deref()
            && let Some((_, re)) = cache.iter().find(|(p, _)| p == pattern)
        {
            return Some(re.clone());
        }
        let re = crate::model::regex::compile_go(pattern).ok()?;
        if let Some(cache) = cache.as_deref_mut() {
            if cache.len() >= 16 {
                cache.remove(0);
            }
            cache.push((pattern.to_string(), re.clone()));
        }
        Some(re)
    })
}

/// `label_replace(v, dst, replacement, src, regex)`: where `regex` matches the whole of the
/// `src` value, sets `dst` to `replacement` with `$1`/`${name}` expanded (as Go's
/// `Regexp.Expand`); other series pass unchanged.
pub(super) fn label_replace(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    let v = vector_arg(args, 0)?;
    let dst = string_arg(args, 1)?;
    let repl = string_arg(args, 2)?;
    let src = string_arg(args, 3)?;
    let pattern = string_arg(args, 4)?;
    let Some(re) = compiled(pattern) else {
        return Err(FnError(format!("invalid regular expression in label_replace(): {pattern}")));
    };
    if !valid_label_name(dst) {
        return Err(FnError(format!("invalid destination label name in label_replace(): {dst}")));
    }
    let mut buf = String::new();
    for s in v {
        let value = s.metric.get(src).unwrap_or("");
        match re.captures(value) {
            Some(caps) => {
                buf.clear();
                expand(&re, &caps, repl, &mut buf);
                let metric = Arc::new(with_label(&s.metric, dst, &buf));
                out.push(Sample { metric, t: ctx.ts, f: s.f, drop_name: relabelled_drop_name(dst, s.drop_name) });
            }
            None => out.push(out_sample(&s.metric, ctx, s.f, s.drop_name)),
        }
    }
    Ok(())
}

/// Appends `template` to `dst` with `$name`, `${name}` and `$$` expanded as Go's
/// `Regexp.Expand`: a name is the longest run of letters, digits and `_`; a number (without a
/// leading zero) is a group index; an unknown or unmatched group expands to nothing; a `$` not
/// followed by a valid name is kept literally.
fn expand(re: &regex::Regex, caps: &regex::Captures<'_>, template: &str, dst: &mut String) {
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        dst.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            dst.push('$');
            rest = r;
            continue;
        }
        let (braced, body) = match rest.strip_prefix('{') {
            Some(b) => (true, b),
            None => (false, rest),
        };
        let name_len: usize = body.chars().take_while(|c| c.is_alphanumeric() || *c == '_').map(char::len_utf8).sum();
        if name_len == 0 || (braced && !body[name_len..].starts_with('}')) {
            dst.push('$');
            continue;
        }
        let name = &body[..name_len];
        rest = &body[name_len + usize::from(braced)..];
        let as_index = if name.bytes().all(|b| b.is_ascii_digit()) && !(name.len() > 1 && name.starts_with('0')) {
            name.parse::<usize>().ok().filter(|n| *n < 100_000_000)
        } else {
            None
        };
        match as_index {
            Some(n) => {
                if let Some(m) = caps.get(n) {
                    dst.push_str(m.as_str());
                }
            }
            None => {
                let hit =
                    re.capture_names().enumerate().filter(|(_, n)| *n == Some(name)).find_map(|(i, _)| caps.get(i));
                if let Some(m) = hit {
                    dst.push_str(m.as_str());
                }
            }
        }
    }
    dst.push_str(rest);
}

/// `label_join(v, dst, separator, src...)`: sets `dst` to the `src` values joined by
/// `separator` (a missing label counts as empty).
pub(super) fn label_join(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    let v = vector_arg(args, 0)?;
    let dst = string_arg(args, 1)?;
    let sep = string_arg(args, 2)?;
    let mut srcs = Vec::with_capacity(args.len().saturating_sub(3));
    for i in 3..args.len() {
        let src = string_arg(args, i)?;
        if !valid_label_name(src) {
            return Err(FnError(format!("invalid source label name in label_join(): {src}")));
        }
        srcs.push(src);
    }
    if !valid_label_name(dst) {
        return Err(FnError(format!("invalid destination label name in label_join(): {dst}")));
    }
    let mut buf = String::new();
    for s in v {
        buf.clear();
        for (i, src) in srcs.iter().enumerate() {
            if i > 0 {
                buf.push_str(sep);
            }
            buf.push_str(s.metric.get(src).unwrap_or(""));
        }
        let metric = Arc::new(with_label(&s.metric, dst, &buf));
        out.push(Sample { metric, t: ctx.ts, f: s.f, drop_name: relabelled_drop_name(dst, s.drop_name) });
    }
    Ok(())
}

/// Compares values so that NaN sorts after every number.
fn nan_last(a: f64, b: f64, desc: bool) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => {
            let o = a.partial_cmp(&b).unwrap_or(Ordering::Equal);
            if desc { o.reverse() } else { o }
        }
    }
}

/// Appends the samples of argument 0 to `out` (keeping their name marks) and sorts the
/// appended part with `cmp`.
fn sorted_by(
    args: &[Arg<'_>],
    ctx: &FnCtx<'_>,
    out: &mut Vec<Sample>,
    cmp: impl FnMut(&Sample, &Sample) -> Ordering,
) -> Result<(), FnError> {
    let v = vector_arg(args, 0)?;
    let start = out.len();
    out.extend(v.iter().map(|s| out_sample(&s.metric, ctx, s.f, s.drop_name)));
    out[start..].sort_by(cmp);
    Ok(())
}

/// `sort(v)`: ascending by value, NaN last.
pub(super) fn sort(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    sorted_by(args, ctx, out, |a, b| nan_last(a.f, b.f, false))
}

/// `sort_desc(v)`: descending by value, NaN last.
pub(super) fn sort_desc(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    sorted_by(args, ctx, out, |a, b| nan_last(a.f, b.f, true))
}

/// `sort_by_label(v, label...)`: ascending by the labels' values in natural order, then by the
/// whole label set.
pub(super) fn sort_by_label(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    by_label(args, ctx, out, false)
}

/// `sort_by_label_desc(v, label...)`: the reverse of `sort_by_label`.
pub(super) fn sort_by_label_desc(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    by_label(args, ctx, out, true)
}

fn by_label(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>, desc: bool) -> Result<(), FnError> {
    let mut names = Vec::with_capacity(args.len().saturating_sub(1));
    for i in 1..args.len() {
        names.push(string_arg(args, i)?);
    }
    sorted_by(args, ctx, out, |a, b| {
        let o = names
            .iter()
            .map(|n| natural_cmp(a.metric.get(n).unwrap_or(""), b.metric.get(n).unwrap_or("")))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| a.metric.cmp(&b.metric));
        if desc { o.reverse() } else { o }
    })
}

/// Natural order as `facette/natsort` (which `sort_by_label` uses): both strings are split
/// into runs of ASCII digits and of other characters; two digit runs that fit an `i64` compare
/// as numbers, anything else byte-wise. When one string's runs are a prefix of the other's,
/// the shorter sorts first.
pub(super) fn natural_cmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut ca, mut cb) = (Chunks(a), Chunks(b));
    loop {
        match (ca.next(), cb.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = match (x.parse::<i64>(), y.parse::<i64>()) {
                    (Ok(nx), Ok(ny)) if x.as_bytes()[0].is_ascii_digit() && y.as_bytes()[0].is_ascii_digit() => {
                        nx.cmp(&ny)
                    }
                    _ => x.cmp(y),
                };
                if o.is_ne() {
                    return o;
                }
            }
        }
    }
}

/// Splits a string into maximal runs of ASCII digits and of non-digits.
struct Chunks<'a>(&'a str);

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        let first = *self.0.as_bytes().first()?;
        let digits = first.is_ascii_digit();
        let end = self.0.bytes().position(|b| b.is_ascii_digit() != digits).unwrap_or(self.0.len());
        // `end` falls on a char boundary: ASCII digits are single bytes.
        let (chunk, rest) = self.0.split_at(end);
        self.0 = rest;
        Some(chunk)
    }
}

/// `absent(v)`: `1` labelled from the selector's equality matchers when `v` is empty.
pub(super) fn absent(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    if !vector_arg(args, 0)?.is_empty() {
        return Ok(());
    }
    let metric = absent_labels(ctx.args.first());
    out.push(Sample { metric, t: ctx.ts, f: 1.0, drop_name: false });
    Ok(())
}

/// The labels `absent` and `absent_over_time` give their result: for a (range) selector, each
/// label matched with `=` exactly once and by no other matcher (`__name__` excluded); for any
/// other expression, none.
pub(super) fn absent_labels(arg: Option<&Expr>) -> Metric {
    let matchers = match arg {
        Some(Expr::VectorSelector(vs)) => &vs.matchers,
        Some(Expr::MatrixSelector(ms)) => &ms.selector.matchers,
        _ => return Arc::new(Labels::default()),
    };
    let mut set: Vec<(&str, &str)> = Vec::new();
    let mut has: Vec<&str> = Vec::new();
    for m in matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if m.kind == MatchType::Equal && !has.contains(&m.name.as_str()) {
            set.retain(|(n, _)| *n != m.name);
            set.push((&m.name, &m.value));
            has.push(&m.name);
        } else {
            set.retain(|(n, _)| *n != m.name);
        }
    }
    // Names are unique and non-empty (the parser rejects empty names), so this cannot fail.
    Arc::new(Labels::from_pairs(&set).unwrap_or_default())
}

#[cfg(test)]
#[path = "labels_tests.rs"]
mod tests;
