//! The lexical pieces of Go's regex syntax, one function per Go parser helper: repetition
//! counts, escapes, and the items of bracketed classes, each written out in Rust syntax.

use super::translate::{GoError, code};

/// A class that matches no character.
pub(super) const NOTHING: &str = r"[^\x{0}-\x{10FFFF}]";

pub(super) fn flag_bit(c: char) -> u8 {
    match c {
        'i' => 1,
        'm' => 2,
        's' => 4,
        _ => 8,
    }
}

pub(super) fn render_flags(on: u8, off: u8) -> String {
    let mut s = String::new();
    for (bit, c) in [(1, 'i'), (2, 'm'), (4, 's'), (8, 'U')] {
        if on & bit != 0 {
            s.push(c);
        }
    }
    if off != 0 {
        s.push('-');
        for (bit, c) in [(1, 'i'), (2, 'm'), (4, 's'), (8, 'U')] {
            if off & bit != 0 {
                s.push(c);
            }
        }
    }
    s
}

/// Go's `parseInt` for repetition counts: no leading zeros; `-1` when the value is huge.
pub(super) fn parse_int(s: &str) -> Option<(i64, usize)> {
    let b = s.as_bytes();
    if !b.first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    if b.len() >= 2 && b[0] == b'0' && b[1].is_ascii_digit() {
        return None;
    }
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut n: i64 = 0;
    for &d in &b[..digits] {
        if n >= 100_000_000 {
            n = -1;
            break;
        }
        n = n * 10 + i64::from(d - b'0');
    }
    Some((n, digits))
}

/// Go's `parseRepeat`: `{min}`, `{min,}` (max -1) or `{min,max}` at the start of `s`, with the
/// length of that text; `None` when `s` does not have that form (the brace is then literal).
pub(super) fn parse_repeat(s: &str) -> Option<(i64, i64, usize)> {
    let b = s.as_bytes();
    let mut i = 1;
    let (mut min, used) = parse_int(&s[i..])?;
    i += used;
    let max;
    match b.get(i) {
        None => return None,
        Some(b',') => {
            i += 1;
            match b.get(i) {
                None => return None,
                Some(b'}') => max = -1,
                Some(_) => {
                    let (m, used) = parse_int(&s[i..])?;
                    i += used;
                    if m < 0 {
                        min = -1;
                    }
                    max = m;
                }
            }
        }
        Some(_) => max = min,
    }
    if b.get(i) != Some(&b'}') {
        return None;
    }
    Some((min, max, i + 1))
}

/// Go's `parseEscape`: the code point of a single-character escape at the start of `s` (which
/// begins with a backslash) and the bytes it used. The code point may be a surrogate.
pub(super) fn parse_escape(s: &str) -> Result<(u32, usize), GoError> {
    let Some(c) = s[1..].chars().next() else {
        return Err(GoError::new(code::TRAILING_BACKSLASH, ""));
    };
    let mut i = 1 + c.len_utf8();
    let invalid = |end: usize| Err(GoError::new(code::INVALID_ESCAPE, &s[..end]));
    let octal = |b: Option<&u8>| b.is_some_and(|d| (b'0'..=b'7').contains(d));
    match c {
        '0'..='7' => {
            // A lone non-zero digit would be a backreference, which Go does not support.
            if c != '0' && !octal(s.as_bytes().get(i)) {
                return invalid(i);
            }
            let mut r = c as u32 - '0' as u32;
            for _ in 1..3 {
                match s.as_bytes().get(i) {
                    Some(&d) if octal(Some(&d)) => {
                        r = r * 8 + u32::from(d - b'0');
                        i += 1;
                    }
                    _ => break,
                }
            }
            Ok((r, i))
        }
        'x' => {
            let Some(c2) = s[i..].chars().next() else {
                return invalid(i);
            };
            i += c2.len_utf8();
            if c2 == '{' {
                let mut r: u32 = 0;
                let mut digits = 0;
                loop {
                    let Some(d) = s[i..].chars().next() else {
                        return invalid(i);
                    };
                    i += d.len_utf8();
                    if d == '}' {
                        break;
                    }
                    let Some(v) = d.to_digit(16) else {
                        return invalid(i);
                    };
                    r = r * 16 + v;
                    if r > 0x10FFFF {
                        return invalid(i);
                    }
                    digits += 1;
                }
                if digits == 0 {
                    return invalid(i);
                }
                return Ok((r, i));
            }
            let c3 = s[i..].chars().next();
            if let Some(c3) = c3 {
                i += c3.len_utf8();
            }
            match (c2.to_digit(16), c3.and_then(|c| c.to_digit(16))) {
                (Some(x), Some(y)) => Ok((x * 16 + y, i)),
                _ => invalid(i),
            }
        }
        'a' => Ok((0x07, i)),
        'f' => Ok((0x0C, i)),
        'n' => Ok((0x0A, i)),
        'r' => Ok((0x0D, i)),
        't' => Ok((0x09, i)),
        'v' => Ok((0x0B, i)),
        // Escaped ASCII punctuation, space and control characters are themselves.
        c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok((c as u32, i)),
        _ => invalid(i),
    }
}

/// One character of a class (escaped or not) and the bytes it used.
pub(super) fn class_char(t: &str, whole_class: &str) -> Result<(u32, usize), GoError> {
    match t.chars().next() {
        None => Err(GoError::new(code::MISSING_BRACKET, whole_class)),
        Some('\\') => parse_escape(t),
        Some(c) => Ok((c as u32, c.len_utf8())),
    }
}

/// Go's Perl classes (ASCII only): the class body and whether it is negated.
pub(super) fn perl_class(c: u8) -> Option<(&'static str, bool)> {
    const DIGIT: &str = "0-9";
    // Go's `\s` is `[\t\n\f\r ]`: unlike Rust's ASCII `\s` it has no vertical tab.
    const SPACE: &str = r"\x{9}\x{A}\x{C}\x{D}\x{20}";
    const WORD: &str = "0-9A-Za-z_";
    Some(match c {
        b'd' => (DIGIT, false),
        b'D' => (DIGIT, true),
        b's' => (SPACE, false),
        b'S' => (SPACE, true),
        b'w' => (WORD, false),
        b'W' => (WORD, true),
        _ => return None,
    })
}

/// A POSIX class such as `[:alpha:]` or `[:^alpha:]` as a Rust class item.
pub(super) fn posix_class(name: &str) -> Option<String> {
    let inner = name.strip_prefix("[:")?.strip_suffix(":]")?;
    let (negated, inner) = match inner.strip_prefix('^') {
        Some(n) => (true, n),
        None => (false, inner),
    };
    let body = match inner {
        "alnum" => "0-9A-Za-z",
        "alpha" => "A-Za-z",
        "ascii" => r"\x{0}-\x{7F}",
        "blank" => r"\x{9}\x{20}",
        "cntrl" => r"\x{0}-\x{1F}\x{7F}",
        "digit" => "0-9",
        "graph" => r"\x{21}-\x{7E}",
        "lower" => "a-z",
        "print" => r"\x{20}-\x{7E}",
        "punct" => r"\x{21}-\x{2F}\x{3A}-\x{40}\x{5B}-\x{60}\x{7B}-\x{7E}",
        "space" => r"\x{9}-\x{D}\x{20}",
        "upper" => "A-Z",
        "word" => "0-9A-Za-z_",
        "xdigit" => "0-9A-Fa-f",
        _ => return None,
    };
    Some(if negated { format!("[^{body}]") } else { body.to_string() })
}

/// Go's `parseUnicodeClass` for `\pN`, `\p{Name}`, `\p{^Name}` and the `\P` forms at the start
/// of `t`: the Rust item and the bytes used.
pub(super) fn unicode_class(t: &str) -> Result<(String, usize), GoError> {
    let mut positive = t.as_bytes().get(1) == Some(&b'p');
    let (used, name) = match t[2..].chars().next() {
        None => (2, ""),
        Some('{') => {
            let Some(end) = t.find('}') else {
                return Err(GoError::new(code::INVALID_CHAR_RANGE, t));
            };
            (end + 1, &t[3..end])
        }
        Some(c) => (2 + c.len_utf8(), &t[2..2 + c.len_utf8()]),
    };
    let mut name = name;
    if let Some(n) = name.strip_prefix('^') {
        positive = !positive;
        name = n;
    }
    // Go looks names up loosely (ignoring case, `_`, `-` and spaces) among general
    // categories, scripts, `Any`, `Assigned` and `ASCII`; Rust's loose lookup agrees on all
    // of those. Anything with other characters (Rust's `gc=L` forms) is not Go syntax.
    let plausible = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' '));
    let item = format!(r"\{}{{{name}}}", if positive { 'p' } else { 'P' });
    if !plausible || regex_syntax::Parser::new().parse(&item).is_err() {
        return Err(GoError::new(code::INVALID_CHAR_RANGE, &t[..used]));
    }
    Ok((item, used))
}

/// Appends `cp` as a Rust literal; a surrogate (which no text contains) becomes an empty class.
pub(super) fn push_codepoint(out: &mut String, cp: u32) {
    match char::from_u32(cp) {
        Some(c) => push_char(out, c),
        None => out.push_str(NOTHING),
    }
}

/// Appends `c` so that Rust reads it as that literal character, inside or outside a class.
pub(super) fn push_char(out: &mut String, c: char) {
    use std::fmt::Write as _;
    if c.is_ascii_punctuation() && c != '<' && c != '>' {
        // Rust allows escaping any ASCII punctuation except `<` and `>` (`\<` is a word
        // boundary there), and these two mean nothing special unescaped.
        out.push('\\');
        out.push(c);
    } else if c.is_control() {
        let _ = write!(out, r"\x{{{:X}}}", c as u32);
    } else {
        out.push(c);
    }
}

/// Appends the range `lo-hi` (code points) to a class body, leaving out surrogates.
pub(super) fn push_range(items: &mut String, lo: u32, hi: u32) {
    let lo = if (0xD800..=0xDFFF).contains(&lo) { 0xE000 } else { lo };
    let hi = if (0xD800..=0xDFFF).contains(&hi) { 0xD7FF } else { hi };
    let (Some(l), Some(h)) = (char::from_u32(lo), char::from_u32(hi)) else {
        return;
    };
    if l > h {
        return;
    }
    push_char(items, l);
    if h != l {
        items.push('-');
        push_char(items, h);
    }
}
