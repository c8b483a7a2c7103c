//! Byte-level pieces both formats share: character classes, token scanners, escape handling
//! and the token names Prometheus's error messages use.

use super::Format;

/// Whether `b` may start a metric name (`[a-zA-Z_:]`).
#[inline]
pub(crate) fn is_metric_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

/// Whether `b` may continue a metric name (`[a-zA-Z0-9_:]`).
#[inline]
pub(crate) fn is_metric_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

/// Whether `b` may start a label name (`[a-zA-Z_]`).
#[inline]
pub(crate) fn is_label_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

/// Whether `b` may continue a label name (`[a-zA-Z0-9_]`).
#[inline]
pub(crate) fn is_label_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The end of the run of bytes from `from` that satisfy `class`.
#[inline]
pub(crate) fn scan_while(buf: &[u8], from: usize, class: impl Fn(u8) -> bool) -> usize {
    match buf.get(from..) {
        Some(rest) => from + rest.iter().position(|&b| !class(b)).unwrap_or(rest.len()),
        None => buf.len(),
    }
}

/// The end of a name starting at `from` (which must satisfy `start`), or `None`.
#[inline]
pub(crate) fn scan_name(buf: &[u8], from: usize, start: fn(u8) -> bool, cont: fn(u8) -> bool) -> Option<usize> {
    match buf.get(from) {
        Some(&b) if start(b) => Some(scan_while(buf, from + 1, cont)),
        _ => None,
    }
}

/// Skips spaces and tabs (the text format's whitespace).
#[inline]
pub(crate) fn skip_blanks(buf: &[u8], from: usize) -> usize {
    scan_while(buf, from, |b| b == b' ' || b == b'\t')
}

/// The end of the line holding `from`: the offset of its `\n`, or the buffer's length.
#[inline]
pub(crate) fn line_end(buf: &[u8], from: usize) -> usize {
    scan_while(buf, from, |b| b != b'\n')
}

/// A double-quoted string starting at `from` (on its opening quote).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quoted {
    /// Offset just past the closing quote.
    pub end: usize,
    /// How many raw line breaks it contains (only the text format allows them).
    pub newlines: usize,
}

/// Scans a quoted label value: any byte but `"` and `\`, or a backslash followed by any
/// byte but a line break. Raw line breaks are allowed only when `allow_newline` (the text
/// format's lexer lets them through; OpenMetrics does not). `None` when the string is not
/// closed.
pub(crate) fn scan_quoted(buf: &[u8], from: usize, allow_newline: bool) -> Option<Quoted> {
    if buf.get(from) != Some(&b'"') {
        return None;
    }
    let mut i = from + 1;
    let mut newlines = 0;
    loop {
        let rest = buf.get(i..)?;
        let k = rest.iter().position(|&b| b == b'"' || b == b'\\' || b == b'\n')?;
        i += k;
        match buf.get(i) {
            Some(b'"') => return Some(Quoted { end: i + 1, newlines }),
            Some(b'\\') => match buf.get(i + 1) {
                Some(b'\n') | None => return None,
                Some(_) => i += 2,
            },
            Some(b'\n') if allow_newline => {
                newlines += 1;
                i += 1;
            }
            _ => return None,
        }
    }
}

/// Which escapes a piece of text honours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escapes {
    /// `\\`, `\"` and `\n` (label values in both formats, `# HELP` in OpenMetrics).
    LabelValue,
    /// `\\` and `\n` only (`# HELP` in the text format).
    TextHelp,
}

/// Resolves escapes left to right. A backslash before any other character stays as written,
/// together with that character, as Go's `strings.Replacer` leaves it.
pub(crate) fn unescape(raw: &str, escapes: Escapes, out: &mut String) {
    out.reserve(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let replacement = match after.as_bytes().first() {
            Some(b'\\') => Some('\\'),
            Some(b'n') => Some('\n'),
            Some(b'"') if escapes == Escapes::LabelValue => Some('"'),
            _ => None,
        };
        match replacement {
            Some(c) => {
                out.push(c);
                rest = &after[1..];
            }
            None => {
                out.push('\\');
                rest = after;
            }
        }
    }
    out.push_str(rest);
}

/// Where in a line an error was found; it decides how the text found there is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ctx {
    /// The start of a line.
    Start,
    /// After `# HELP`/`# TYPE`/`# UNIT`, where the metric name goes.
    MetaName,
    /// After the metric name, where the text goes (OpenMetrics).
    MetaText,
    /// After the metric name or label set, where `{` or the value goes.
    Value,
    /// Inside a label set.
    Labels,
    /// After `=`, where the quoted value goes.
    LabelValue,
    /// After the value, where a timestamp, an exemplar or the line end goes.
    Timestamp,
    /// Inside an exemplar's label set.
    ExemplarLabels,
    /// After an exemplar's `=` or `}`.
    ExemplarValue,
    /// After an exemplar's value.
    ExemplarTimestamp,
}

/// Names what sits at `at` the way Prometheus's lexer would name the token there (`"MNAME"`,
/// `"BCLOSE"`, `"INVALID"`, ...), and how many bytes it spans.
pub(crate) fn classify(format: Format, ctx: Ctx, buf: &[u8], at: usize) -> (&'static str, usize) {
    let om = format == Format::OpenMetrics;
    let Some(&b) = buf.get(at) else {
        // Prometheus appends a line break to text pages, which no state expecting more takes.
        return (if om { "EOF" } else { "INVALID" }, 0);
    };
    // An OpenMetrics token that is one space and then non-space bytes.
    let spaced = || -> Option<usize> {
        if b != b' ' {
            return None;
        }
        let end = scan_while(buf, at + 1, |c| c != b' ' && c != b'\n');
        (end > at + 1).then_some(end - at)
    };
    let found = match ctx {
        Ctx::Start | Ctx::MetaName => {
            scan_name(buf, at, is_metric_name_start, is_metric_name_char).map(|end| ("MNAME", end - at))
        }
        Ctx::MetaText => None,
        Ctx::Value if b == b'{' => Some(("BOPEN", 1)),
        Ctx::Value if om => spaced().map(|n| ("VALUE", n)),
        Ctx::Value => {
            let end = scan_while(buf, at, |c| !matches!(c, b'{' | b' ' | b'\t' | b'\n'));
            (end > at).then(|| ("VALUE", end - at))
        }
        Ctx::Labels | Ctx::ExemplarLabels => match b {
            b'}' => Some(("BCLOSE", 1)),
            b'=' => Some(("EQUAL", 1)),
            b',' => Some(("COMMA", 1)),
            _ => scan_name(buf, at, is_label_name_start, is_label_name_char).map(|end| ("LNAME", end - at)),
        },
        Ctx::LabelValue | Ctx::ExemplarValue => match scan_quoted(buf, at, !om) {
            Some(q) => Some(("LVALUE", q.end - at)),
            None if ctx == Ctx::ExemplarValue => spaced().map(|n| ("VALUE", n)),
            None => None,
        },
        Ctx::Timestamp if b == b'\n' => Some(("LINEBREAK", 1)),
        Ctx::Timestamp if om => {
            if buf.get(at..at + 4) == Some(b" # {") {
                Some(("COMMENT", 4))
            } else if buf.get(at + 1) == Some(&b'#') {
                // No timestamp starts with `#`.
                None
            } else {
                spaced().map(|n| ("TIMESTAMP", n))
            }
        }
        Ctx::Timestamp => {
            let end = scan_while(buf, at, |c| c.is_ascii_digit());
            (end > at).then(|| ("TIMESTAMP", end - at))
        }
        Ctx::ExemplarTimestamp if b == b'\n' => Some(("LINEBREAK", 1)),
        Ctx::ExemplarTimestamp => spaced().map(|n| ("TIMESTAMP", n)),
    };
    found.unwrap_or_else(|| ("INVALID", utf8_char_len(&buf[at..])))
}

/// The length of the UTF-8 character at the start of `bytes` (1 for a stray byte).
fn utf8_char_len(bytes: &[u8]) -> usize {
    (1..=bytes.len().min(4)).find(|&n| std::str::from_utf8(&bytes[..n]).is_ok()).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_strings() {
        type Case<'c> = (&'c str, bool, Option<(usize, usize)>);
        let cases: &[Case] = &[
            (r#""abc" 1"#, false, Some((5, 0))),
            (r#""" 1"#, false, Some((2, 0))),
            (r#""a\"b" 1"#, false, Some((6, 0))),
            (r#""a\\" 1"#, false, Some((5, 0))),
            (r#""a\q" 1"#, false, Some((5, 0))),
            ("\"a\nb\" 1", false, None),
            ("\"a\nb\" 1", true, Some((5, 1))),
            ("\"a\\\nb\" 1", true, None),
            (r#""abc"#, false, None),
            (r#""abc\"#, false, None),
            (r#"abc""#, false, None),
        ];
        for (input, newline, want) in cases {
            let got = scan_quoted(input.as_bytes(), 0, *newline).map(|q| (q.end, q.newlines));
            assert_eq!(got, *want, "{input:?}");
        }
    }

    #[test]
    fn unescaping() {
        let cases: &[(&str, Escapes, &str)] = &[
            ("plain", Escapes::LabelValue, "plain"),
            (r#"a\"b"#, Escapes::LabelValue, "a\"b"),
            (r#"a\"b"#, Escapes::TextHelp, r#"a\"b"#),
            (r"a\\b", Escapes::TextHelp, r"a\b"),
            (r"a\nb", Escapes::TextHelp, "a\nb"),
            // Left to right: `\\` first, then a plain `n`.
            (r"a\\nb", Escapes::LabelValue, r"a\nb"),
            (r"\x \q", Escapes::LabelValue, r"\x \q"),
            ("trailing\\", Escapes::LabelValue, "trailing\\"),
            ("é\\né", Escapes::LabelValue, "é\né"),
        ];
        for (raw, escapes, want) in cases {
            let mut out = String::new();
            unescape(raw, *escapes, &mut out);
            assert_eq!(out, *want, "{raw:?}");
        }
    }

    #[test]
    fn token_names() {
        let t = Format::PrometheusText;
        let om = Format::OpenMetrics;
        let cases: &[(Format, Ctx, &str, (&str, usize))] = &[
            (t, Ctx::Labels, "}", ("BCLOSE", 1)),
            (t, Ctx::Labels, "=\"\"", ("EQUAL", 1)),
            (t, Ctx::Labels, "abc=", ("LNAME", 3)),
            (t, Ctx::Labels, "\u{e9}=", ("INVALID", 2)),
            (t, Ctx::Labels, "\u{ff}", ("INVALID", 2)),
            (t, Ctx::LabelValue, "'c'", ("INVALID", 1)),
            (t, Ctx::Value, "", ("INVALID", 0)),
            (om, Ctx::Value, "", ("EOF", 0)),
            (om, Ctx::Value, "\t1", ("INVALID", 1)),
            (om, Ctx::Value, " 1 2", ("VALUE", 2)),
            (t, Ctx::Value, "1 2", ("VALUE", 1)),
            (om, Ctx::Timestamp, " # {a}", ("COMMENT", 4)),
            (om, Ctx::Timestamp, " 12", ("TIMESTAMP", 3)),
            (t, Ctx::Timestamp, "12x", ("TIMESTAMP", 2)),
            (t, Ctx::Timestamp, "\n", ("LINEBREAK", 1)),
            (om, Ctx::ExemplarValue, " 5", ("VALUE", 2)),
            (om, Ctx::Start, "a_b 1", ("MNAME", 3)),
        ];
        for (format, ctx, input, want) in cases {
            assert_eq!(classify(*format, *ctx, input.as_bytes(), 0), *want, "{format:?} {ctx:?} {input:?}");
        }
        assert_eq!(classify(t, Ctx::Labels, b"\xff=", 0), ("INVALID", 1));
    }
}
