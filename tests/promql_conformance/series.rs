//! Series descriptions (FORMAT.md section 5): the metric part and the value items, shared by
//! `load` lines and expected-result lines.

use cairn::model::{Label, Labels, stale_nan};

/// One time slot of a series description.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Item {
    /// A float sample (a staleness marker is the stale NaN).
    Float(f64),
    /// No sample at this position (`_`).
    Omit,
    /// A native histogram sample; its literal was checked for syntax but is not modelled.
    Histogram,
}

/// Parses a number the way PromQL's lexer reads one: a Go integer with base prefixes first
/// (`0x10`, `010`, `0b1`, `0o7`), otherwise a float (`1.5`, `-2e-3`, `Inf`, `NaN`, any case).
pub fn parse_number(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        u64::from_str_radix(b, 2).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        u64::from_str_radix(o, 8).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit()) {
        u64::from_str_radix(&lower[1..], 8).ok()
    } else if lower.bytes().all(|b| b.is_ascii_digit()) {
        lower.parse::<u64>().ok()
    } else {
        None
    };
    let v = match int {
        Some(i) => i as f64,
        None => {
            // Rust accepts `inf`, `infinity` and `nan` in any case, as Go's ParseFloat does;
            // it does not accept Go's digit separators or hex floats, which the files do not use.
            if !lower.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'+') {
                return None;
            }
            lower.parse::<f64>().ok()?
        }
    };
    Some(if neg { -v } else { v })
}

/// Unquotes a PromQL string literal (`"..."` and `'...'` with Go escapes, `` `...` `` raw).
/// Returns the value and the number of bytes of `s` the literal occupied.
pub fn unquote_prefix(s: &str) -> Result<(String, usize), String> {
    let bytes = s.as_bytes();
    let quote = *bytes.first().ok_or("expected a string literal")?;
    if quote == b'`' {
        let end = s[1..].find('`').ok_or("unterminated raw string")?;
        return Ok((s[1..1 + end].to_string(), end + 2));
    }
    if quote != b'"' && quote != b'\'' {
        return Err(format!("expected a string literal at {s:?}"));
    }
    let mut out: Vec<u8> = Vec::new();
    let mut i = 1;
    while i < bytes.len() {
        let b = bytes[i];
        if b == quote {
            return Ok((String::from_utf8_lossy(&out).into_owned(), i + 1));
        }
        if b == b'\n' {
            break;
        }
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let e = *bytes.get(i + 1).ok_or("unterminated escape")?;
        i += 2;
        let simple = match e {
            b'a' => Some(7u8),
            b'b' => Some(8),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(11),
            b'\\' => Some(b'\\'),
            b'\'' | b'"' if e == quote => Some(e),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            continue;
        }
        let hex = |n: usize, i: usize| -> Result<u32, String> {
            let digits = s.get(i..i + n).ok_or("short escape")?;
            u32::from_str_radix(digits, 16).map_err(|_| format!("bad escape {digits:?}"))
        };
        match e {
            b'x' => {
                out.push(hex(2, i)? as u8);
                i += 2;
            }
            b'0'..=b'7' => {
                let digits = s.get(i - 1..i + 2).ok_or("short octal escape")?;
                let v = u32::from_str_radix(digits, 8).map_err(|_| format!("bad octal escape {digits:?}"))?;
                out.push(u8::try_from(v).map_err(|_| "octal escape out of range")?);
                i += 2;
            }
            b'u' | b'U' => {
                let n = if e == b'u' { 4 } else { 8 };
                let c = char::from_u32(hex(n, i)?).ok_or("escape is not a character")?;
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                i += n;
            }
            _ => return Err(format!("unknown escape \\{}", e as char)),
        }
    }
    Err("unterminated string literal".to_string())
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Splits a series line into its metric part and the rest (value items).
pub fn split_metric(line: &str) -> (&str, &str) {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            c if c.is_whitespace() && depth == 0 => return (&line[..i], line[i..].trim_start()),
            _ => {}
        }
    }
    (line, "")
}

/// Parses the metric part: `name`, `name{l="v", ...}`, `{__name__="n", ...}`, `{"quoted.name", ...}`.
pub fn parse_metric(s: &str) -> Result<Labels, String> {
    let mut pairs: Vec<Label> = Vec::new();
    let name_len = s.char_indices().find(|&(i, c)| !(if i == 0 { is_name_start(c) } else { is_name_char(c) }));
    let name_len = name_len.map_or(s.len(), |(i, _)| i);
    if name_len > 0 {
        pairs.push(Label::new("__name__", &s[..name_len]));
    }
    let rest = &s[name_len..];
    if rest.is_empty() {
        if name_len == 0 {
            return Err("empty metric".into());
        }
        return Labels::new(pairs).map_err(|e| e.to_string());
    }
    let inner = rest.strip_prefix('{').and_then(|r| r.strip_suffix('}')).ok_or_else(|| format!("bad metric {s:?}"))?;
    let mut p = inner.trim_start();
    while !p.is_empty() {
        // A label name, or a quoted name that is either the metric name or a label name.
        let (lname, used) = if p.starts_with(['"', '\'', '`']) {
            unquote_prefix(p)?
        } else {
            let n = p.char_indices().find(|&(i, c)| {
                !(if i == 0 { c.is_ascii_alphabetic() || c == '_' } else { c.is_ascii_alphanumeric() || c == '_' })
            });
            let n = n.map_or(p.len(), |(i, _)| i);
            if n == 0 {
                return Err(format!("bad label name at {p:?}"));
            }
            (p[..n].to_string(), n)
        };
        p = p[used..].trim_start();
        if let Some(after) = p.strip_prefix('=') {
            let after = after.trim_start();
            if !after.starts_with(['"', '\'', '`']) {
                return Err(format!("label {lname:?} needs a quoted value"));
            }
            let (value, used) = unquote_prefix(after)?;
            pairs.push(Label::new(lname, value));
            p = after[used..].trim_start();
        } else if name_len == 0 && !pairs.iter().any(|l| l.name == "__name__") {
            pairs.push(Label::new("__name__", lname));
        } else {
            return Err(format!("label {lname:?} without value"));
        }
        match p.strip_prefix(',') {
            Some(r) => p = r.trim_start(),
            None if p.is_empty() => {}
            None => return Err(format!("expected ',' or '}}' at {p:?}")),
        }
    }
    Labels::new(pairs).map_err(|e| e.to_string())
}

/// Splits the value part into items; a `{{...}}` histogram literal (which contains spaces) is
/// kept together with whatever is glued to it (`{{A}}+{{B}}x3`).
pub fn split_items(s: &str) -> Result<Vec<&str>, String> {
    let mut items = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() {
            if b[i..].starts_with(b"{{") {
                let end = s[i..].find("}}").ok_or("unterminated histogram literal")?;
                i += end + 2;
            } else {
                i += 1;
            }
        }
        items.push(&s[start..i]);
    }
    Ok(items)
}

/// Splits a trailing `x<digits>` repetition off an item.
fn split_times(tok: &str) -> (&str, Option<usize>) {
    if let Some(p) = tok.rfind('x') {
        let n = &tok[p + 1..];
        if p > 0
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = n.parse()
        {
            return (&tok[..p], Some(n));
        }
    }
    (tok, None)
}

/// Finds the `+`/`-` between the two numbers of `a+b` / `a-b` (not a leading sign, not an
/// exponent sign).
fn split_op(head: &str) -> Option<(&str, char, &str)> {
    let b = head.as_bytes();
    (1..b.len()).find_map(|i| {
        let c = b[i];
        let prev = b[i - 1];
        if (c == b'+' || c == b'-') && prev != b'e' && prev != b'E' && prev != b'+' && prev != b'-' {
            Some((&head[..i], c as char, &head[i + 1..]))
        } else {
            None
        }
    })
}

/// Checks the syntax of a `{{...}}` histogram literal (FORMAT.md 5.3).
fn check_histogram(lit: &str) -> Result<(), String> {
    let inner = lit
        .strip_prefix("{{")
        .and_then(|r| r.strip_suffix("}}"))
        .ok_or_else(|| format!("bad histogram literal {lit:?}"))?;
    let mut rest = inner.trim();
    let mut seen: Vec<&str> = Vec::new();
    while !rest.is_empty() {
        let colon = rest.find(':').ok_or_else(|| format!("histogram field without ':' in {lit:?}"))?;
        let key = &rest[..colon];
        rest = &rest[colon + 1..];
        if seen.contains(&key) {
            return Err(format!("histogram key {key:?} repeated"));
        }
        seen.push(key);
        let value = if rest.starts_with('[') {
            let end = rest.find(']').ok_or("unterminated bucket list")?;
            let v = &rest[1..end];
            rest = &rest[end + 1..];
            v
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            let v = &rest[..end];
            rest = &rest[end..];
            v
        };
        rest = rest.trim_start();
        let numbers_ok = |v: &str| v.split_whitespace().all(|n| parse_number(n).is_some());
        let ok = match key {
            "schema" | "offset" | "n_offset" => value.parse::<i64>().is_ok(),
            "sum" | "count" | "z_bucket" | "z_bucket_w" => parse_number(value).is_some(),
            "buckets" | "n_buckets" | "custom_values" => numbers_ok(value),
            "counter_reset_hint" => matches!(value, "unknown" | "reset" | "not_reset" | "gauge"),
            _ => false,
        };
        if !ok {
            return Err(format!("bad histogram field {key}:{value}"));
        }
    }
    Ok(())
}

/// Expands one value item into its positions (FORMAT.md 5.2).
pub fn expand_item(tok: &str, out: &mut Vec<Item>) -> Result<(), String> {
    if tok.starts_with("{{") {
        let (head, times) = split_times(tok);
        let n = times.unwrap_or(0) + 1;
        let lits: Vec<&str> = match head.find("}}") {
            Some(p) if p + 2 < head.len() => {
                let (a, b) = head.split_at(p + 2);
                let b = b.strip_prefix('+').or_else(|| b.strip_prefix('-')).ok_or("bad histogram expression")?;
                if times.is_none() {
                    return Err("histogram `A+B` needs a repetition count".into());
                }
                vec![a, b]
            }
            _ => vec![head],
        };
        for l in lits {
            check_histogram(l)?;
        }
        out.extend(std::iter::repeat_n(Item::Histogram, n));
        return Ok(());
    }
    let (head, times) = split_times(tok);
    if head == "_" {
        out.extend(std::iter::repeat_n(Item::Omit, times.unwrap_or(1)));
        return Ok(());
    }
    if head.eq_ignore_ascii_case("stale") {
        if times.is_some() {
            return Err(format!("bad value item {tok:?}"));
        }
        out.push(Item::Float(stale_nan()));
        return Ok(());
    }
    if let Some(n) = times {
        let (a, step) = match split_op(head) {
            Some((a, op, b)) => {
                let b = parse_number(b).ok_or_else(|| format!("bad value item {tok:?}"))?;
                (a, if op == '+' { b } else { -b })
            }
            None => (head, 0.0),
        };
        let mut v = parse_number(a).ok_or_else(|| format!("bad value item {tok:?}"))?;
        out.push(Item::Float(v));
        for _ in 0..n {
            v += step;
            out.push(Item::Float(v));
        }
        return Ok(());
    }
    // A whole-token number comes first so that `0x1f` is hex rather than a repetition.
    let v = parse_number(tok).ok_or_else(|| format!("bad value item {tok:?}"))?;
    out.push(Item::Float(v));
    Ok(())
}

/// Expands all value items of a series line.
pub fn expand_values(s: &str) -> Result<Vec<Item>, String> {
    let mut out = Vec::new();
    for tok in split_items(s)? {
        expand_item(tok, &mut out)?;
    }
    Ok(out)
}

/// Parses the value part of an `@st` line into per-position start-timestamp offsets
/// (`None` = no start timestamp), FORMAT.md 4.2.
pub fn expand_st(s: &str) -> Result<Vec<Option<i64>>, String> {
    let mut out = Vec::new();
    for tok in s.split_whitespace() {
        let (head, times) = split_times(tok);
        if head == "_" {
            out.extend(std::iter::repeat_n(None, times.unwrap_or(1)));
            continue;
        }
        let signed = |d: &str| -> Result<i64, String> {
            let (neg, body) = match d.strip_prefix('-') {
                Some(b) => (true, b),
                None => (false, d.strip_prefix('+').unwrap_or(d)),
            };
            let ms = cairn::model::duration::parse_duration(body).map_err(|e| e.to_string())?;
            Ok(if neg { -ms } else { ms })
        };
        let (base, step) = match split_op(head) {
            Some((a, op, b)) if times.is_some() => {
                let b = signed(b)?;
                (signed(a)?, if op == '+' { b } else { -b })
            }
            _ => (signed(head)?, 0),
        };
        let mut v = base;
        out.push(Some(v));
        for _ in 0..times.unwrap_or(0) {
            v += step;
            out.push(Some(v));
        }
    }
    Ok(out)
}
