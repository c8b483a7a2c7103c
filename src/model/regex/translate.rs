//! Translation of Go RE2 syntax into the Rust `regex` crate's syntax.
//!
//! The translator reads a pattern the way Go's `regexp/syntax` parser does with the `Perl`
//! flags (the flags `regexp.Compile` uses), and writes an equivalent pattern in which every
//! construct is spelled so that the Rust crate gives it Go's meaning: literals are escaped,
//! `\d \s \w \b \B` become their ASCII-only forms, octal and `\Q...\E` quoting are expanded,
//! class set operators (`&&`, `--`, `~~`) come out as plain characters, and flags are
//! normalised. Errors use Go's codes and the same offending text Go reports.
//!
//! The translator is a flat loop with an explicit group stack, so it uses no recursion and
//! cannot overflow the stack on deeply nested input.

use std::collections::HashSet;
use std::fmt;

use super::syntax::{
    NOTHING, class_char, flag_bit, parse_escape, parse_repeat, perl_class, posix_class, push_codepoint, push_range,
    render_flags, unicode_class,
};

/// Go's limit on a counted repetition, and on the product of nested counted repetitions.
const MAX_REPEAT: u64 = 1000;

/// Go's error code texts (`regexp/syntax.ErrorCode`) that the translator can report.
pub(super) mod code {
    pub const INVALID_CHAR_RANGE: &str = "invalid character class range";
    pub const INVALID_ESCAPE: &str = "invalid escape sequence";
    pub const INVALID_NAMED_CAPTURE: &str = "invalid named capture";
    pub const INVALID_PERL_OP: &str = "invalid or unsupported Perl syntax";
    pub const INVALID_REPEAT_OP: &str = "invalid nested repetition operator";
    pub const INVALID_REPEAT_SIZE: &str = "invalid repeat count";
    pub const MISSING_BRACKET: &str = "missing closing ]";
    pub const MISSING_PAREN: &str = "missing closing )";
    pub const MISSING_REPEAT_ARGUMENT: &str = "missing argument to repetition operator";
    pub const TRAILING_BACKSLASH: &str = "trailing backslash at end of expression";
    pub const UNEXPECTED_PAREN: &str = "unexpected )";
    pub const NESTING_DEPTH: &str = "expression nests too deeply";
    pub const LARGE: &str = "expression too large";
}

/// A parse error in Go's words; it displays as ``error parsing regexp: <code>: `<expr>` ``.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct GoError {
    /// One of the texts in [`code`].
    pub code: &'static str,
    /// The offending part of the pattern, as Go quotes it.
    pub expr: String,
}

impl GoError {
    pub(super) fn new(code: &'static str, expr: &str) -> Self {
        GoError { code, expr: expr.to_string() }
    }
}

impl fmt::Display for GoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error parsing regexp: {}: `{}`", self.code, self.expr)
    }
}

/// The translated pattern and what the translation learnt on the way.
#[derive(Debug, Clone)]
pub(super) struct Translation {
    /// An equivalent pattern in the Rust `regex` crate's syntax, not anchored.
    pub rust: String,
    /// Whether any flag group turned on case-insensitive matching.
    pub case_insensitive: bool,
}

/// Translates Go syntax into Rust syntax, or reports the error Go's parser would report.
pub(super) fn translate(pattern: &str) -> Result<Translation, GoError> {
    let mut t = Translator {
        src: pattern,
        pos: 0,
        out: String::with_capacity(pattern.len() + 16),
        frames: vec![Frame { out_start: 0, product: 1 }],
        last: None,
        last_repeat: None,
        pending_flags: String::new(),
        names: HashSet::new(),
        case_insensitive: false,
    };
    t.run()?;
    Ok(Translation { rust: t.out, case_insensitive: t.case_insensitive })
}

/// The most recent operand of the current concatenation: what a repetition operator applies to.
#[derive(Debug, Clone, Copy)]
struct Atom {
    /// Where the operand's text starts in the output.
    start: usize,
    /// Whether the operand already carries a repetition operator (it must then be wrapped in a
    /// group before the next one, as Rust rejects `a{2}{3}` where Go reads `(?:a{2}){3}`).
    repeated: bool,
    /// The largest product of counted repetitions on any path inside the operand, for Go's
    /// rule that nested counts must not multiply past 1000.
    product: u64,
}

/// An open group (the root of the pattern is frame 0).
#[derive(Debug, Clone, Copy)]
struct Frame {
    /// Where the group's `(` is in the output.
    out_start: usize,
    /// The largest repetition product of any operand inside the group so far.
    product: u64,
}

/// A repetition operator.
#[derive(Debug, Clone, Copy)]
enum Repeat {
    /// `*`, `+` or `?`: these do not count towards Go's repetition limit.
    Simple(char),
    /// `{min}`, `{min,}` (max `None`) or `{min,max}`.
    Counted { min: u64, max: Option<u64> },
}

struct Translator<'a> {
    src: &'a str,
    pos: usize,
    out: String,
    frames: Vec<Frame>,
    last: Option<Atom>,
    /// Where the previous token started if it was a repetition operator (Go rejects `a**`).
    last_repeat: Option<usize>,
    /// Flag settings like `(?i)` not written yet. They are written just before the next
    /// operand, so that an operator after them still applies to the operand before them, as
    /// in Go (`a(?i)*` repeats `a`).
    pending_flags: String,
    names: HashSet<String>,
    case_insensitive: bool,
}

impl Translator<'_> {
    fn run(&mut self) -> Result<(), GoError> {
        let src = self.src;
        while let Some(c) = src[self.pos..].chars().next() {
            let start = self.pos;
            let mut was_repeat = false;
            match c {
                '(' => self.open_group()?,
                '|' => {
                    // Flags set before `|` stay in force for the rest of the group, in Go and
                    // in Rust alike, so write them out now.
                    self.flush_flags();
                    self.out.push('|');
                    self.last = None;
                    self.pos += 1;
                }
                ')' => self.close_group()?,
                '^' | '$' | '.' => {
                    self.pos += 1;
                    self.push_atom(&src[start..start + 1], 1);
                }
                '[' => {
                    let class = self.class()?;
                    self.push_atom(&class, 1);
                }
                '*' | '+' | '?' => {
                    self.repeat(Repeat::Simple(c), start + 1)?;
                    was_repeat = true;
                }
                '{' => match parse_repeat(&src[start..]) {
                    None => {
                        // Not a valid repetition: Go reads the brace as a literal.
                        self.pos += 1;
                        self.literal('{' as u32);
                    }
                    Some((min, max, len)) => {
                        let too_big =
                            min < 0 || min > MAX_REPEAT as i64 || max > MAX_REPEAT as i64 || (max >= 0 && min > max);
                        if too_big {
                            let expr = &src[start..start + len];
                            return Err(GoError::new(code::INVALID_REPEAT_SIZE, expr));
                        }
                        let (min, max) = (min as u64, u64::try_from(max).ok());
                        self.repeat(Repeat::Counted { min, max }, start + len)?;
                        was_repeat = true;
                    }
                },
                '\\' => self.escape()?,
                _ => {
                    self.pos += c.len_utf8();
                    self.literal(c as u32);
                }
            }
            self.last_repeat = if was_repeat { Some(start) } else { None };
        }
        if self.frames.len() > 1 {
            return Err(GoError::new(code::MISSING_PAREN, self.src));
        }
        Ok(())
    }

    fn flush_flags(&mut self) {
        if !self.pending_flags.is_empty() {
            self.out.push_str(&self.pending_flags);
            self.pending_flags.clear();
        }
    }

    fn note_product(&mut self, product: u64) {
        if let Some(frame) = self.frames.last_mut() {
            frame.product = frame.product.max(product);
        }
    }

    /// Appends one operand (already in Rust syntax) and makes it the current operand.
    fn push_atom(&mut self, text: &str, product: u64) {
        self.flush_flags();
        let start = self.out.len();
        self.out.push_str(text);
        self.last = Some(Atom { start, repeated: false, product });
        self.note_product(product);
    }

    /// Appends a literal code point.
    fn literal(&mut self, cp: u32) {
        let mut text = String::new();
        push_codepoint(&mut text, cp);
        self.push_atom(&text, 1);
    }

    fn begin_group(&mut self, text: &str) {
        self.flush_flags();
        let out_start = self.out.len();
        self.out.push_str(text);
        self.frames.push(Frame { out_start, product: 1 });
        self.last = None;
    }

    fn close_group(&mut self) -> Result<(), GoError> {
        if self.frames.len() <= 1 {
            return Err(GoError::new(code::UNEXPECTED_PAREN, self.src));
        }
        self.pos += 1;
        // Flags set at the end of a group affect nothing.
        self.pending_flags.clear();
        self.out.push(')');
        if let Some(frame) = self.frames.pop() {
            self.last = Some(Atom { start: frame.out_start, repeated: false, product: frame.product });
            self.note_product(frame.product);
        }
        Ok(())
    }

    /// Handles `(`: a capture, a named capture, a non-capturing group or a flag setting.
    fn open_group(&mut self) -> Result<(), GoError> {
        let rest = &self.src[self.pos..];
        let b = rest.as_bytes();
        if b.get(1) != Some(&b'?') {
            self.pos += 1;
            self.begin_group("(");
            return Ok(());
        }
        let p_name = b.len() > 4 && b[2] == b'P' && b[3] == b'<';
        let bare_name = b.len() > 3 && b[2] == b'<';
        if p_name || bare_name {
            let name_start = if p_name { 4 } else { 3 };
            let Some(end) = rest.find('>') else {
                return Err(GoError::new(code::INVALID_NAMED_CAPTURE, rest));
            };
            let name = rest.get(name_start..end).unwrap_or("");
            if name.is_empty() || !name.bytes().all(|c| c == b'_' || c.is_ascii_alphanumeric()) {
                return Err(GoError::new(code::INVALID_NAMED_CAPTURE, &rest[..=end]));
            }
            // Rust wants names to start with a letter or `_` and to be unique; Go does not.
            // Otherwise-unusable names become plain captures, which keeps the group numbers.
            let usable = !name.starts_with(|c: char| c.is_ascii_digit()) && self.names.insert(name.to_string());
            let open = if usable { format!("(?P<{name}>") } else { "(".to_string() };
            self.pos += end + 1;
            self.begin_group(&open);
            return Ok(());
        }
        // Flags, as Go reads them: `(?flags)` or `(?flags:`, where flags are `imsU` with at
        // most one `-`, which must be followed by at least one flag.
        let (mut on, mut off) = (0u8, 0u8);
        let mut negated = false;
        let mut saw_flag = false;
        let mut i = 2;
        let invalid = |end: usize| GoError::new(code::INVALID_PERL_OP, &rest[..end]);
        loop {
            let Some(c) = rest[i..].chars().next() else {
                return Err(invalid(rest.len()));
            };
            i += c.len_utf8();
            match c {
                'i' | 'm' | 's' | 'U' => {
                    let bit = flag_bit(c);
                    if negated {
                        off |= bit;
                    } else {
                        on |= bit;
                    }
                    saw_flag = true;
                }
                '-' if !negated => {
                    negated = true;
                    saw_flag = false;
                }
                ':' | ')' => {
                    if negated && !saw_flag {
                        return Err(invalid(i));
                    }
                    // Clearing wins over setting, as in Go's parser.
                    on &= !off;
                    if on & flag_bit('i') != 0 {
                        self.case_insensitive = true;
                    }
                    let flags = render_flags(on, off);
                    self.pos += i;
                    if c == ':' {
                        self.begin_group(&format!("(?{flags}:"));
                    } else if !flags.is_empty() {
                        self.pending_flags.push_str(&format!("(?{flags})"));
                    }
                    return Ok(());
                }
                _ => return Err(invalid(i)),
            }
        }
    }

    /// Applies a repetition operator ending at byte `end` to the current operand.
    fn repeat(&mut self, op: Repeat, end: usize) -> Result<(), GoError> {
        let start = self.pos;
        let mut after = end;
        let lazy = self.src[after..].starts_with('?');
        if lazy {
            after += 1;
        }
        if let Some(prev) = self.last_repeat {
            return Err(GoError::new(code::INVALID_REPEAT_OP, &self.src[prev..after]));
        }
        let Some(mut atom) = self.last else {
            return Err(GoError::new(code::MISSING_REPEAT_ARGUMENT, &self.src[start..after]));
        };
        let text = match op {
            Repeat::Simple(c) => c.to_string(),
            Repeat::Counted { min, max } => {
                atom.product = match max {
                    // `x{0}` matches only the empty string; Go does not look inside it.
                    Some(0) => 1,
                    _ => atom.product.saturating_mul(max.unwrap_or(min).max(1)),
                };
                let counts = min >= 2 || max.is_some_and(|m| m >= 2);
                if counts && atom.product > MAX_REPEAT {
                    return Err(GoError::new(code::INVALID_REPEAT_SIZE, &self.src[start..after]));
                }
                match max {
                    Some(m) if m == min => format!("{{{min}}}"),
                    Some(m) => format!("{{{min},{m}}}"),
                    None => format!("{{{min},}}"),
                }
            }
        };
        if atom.repeated {
            self.out.insert_str(atom.start, "(?:");
            self.out.push(')');
        }
        self.out.push_str(&text);
        if lazy {
            self.out.push('?');
        }
        atom.repeated = true;
        self.last = Some(atom);
        self.note_product(atom.product);
        self.pos = after;
        Ok(())
    }

    /// Handles a backslash outside a class.
    fn escape(&mut self) -> Result<(), GoError> {
        let rest = &self.src[self.pos..];
        let b = rest.as_bytes();
        if b.len() >= 2 {
            let fixed = match b[1] {
                b'A' => Some(r"\A"),
                b'z' => Some(r"\z"),
                // Go's word boundaries are ASCII-only.
                b'b' => Some(r"(?-u:\b)"),
                b'B' => Some(r"(?-u:\B)"),
                _ => None,
            };
            if let Some(text) = fixed {
                self.pos += 2;
                self.push_atom(text, 1);
                return Ok(());
            }
            match b[1] {
                b'C' => return Err(GoError::new(code::INVALID_ESCAPE, &rest[..2])),
                b'Q' => {
                    // Everything up to `\E` (or the end) is literal, one operand per character.
                    let body = &rest[2..];
                    let (lit, used) = match body.find(r"\E") {
                        Some(i) => (&body[..i], 2 + i + 2),
                        None => (body, rest.len()),
                    };
                    self.pos += used;
                    for c in lit.chars() {
                        self.literal(c as u32);
                    }
                    return Ok(());
                }
                b'p' | b'P' => {
                    let (item, used) = unicode_class(rest)?;
                    self.pos += used;
                    self.push_atom(&item, 1);
                    return Ok(());
                }
                _ => {}
            }
            if let Some((body, negated)) = perl_class(b[1]) {
                self.pos += 2;
                let text = format!("[{}{body}]", if negated { "^" } else { "" });
                self.push_atom(&text, 1);
                return Ok(());
            }
        }
        let (cp, used) = parse_escape(rest)?;
        self.pos += used;
        self.literal(cp);
        Ok(())
    }

    /// Parses a bracketed class starting at `[` and returns it in Rust syntax.
    fn class(&mut self) -> Result<String, GoError> {
        let whole = &self.src[self.pos..];
        let mut i = 1;
        let negated = whole[i..].starts_with('^');
        if negated {
            i += 1;
        }
        let mut items = String::new();
        let mut first = true;
        loop {
            let t = &whole[i..];
            if t.starts_with(']') && !first {
                i += 1;
                break;
            }
            first = false;
            if t.is_empty() {
                return Err(GoError::new(code::MISSING_BRACKET, whole));
            }
            // POSIX classes like `[:alpha:]`.
            if t.len() > 2
                && t.starts_with("[:")
                && let Some(j) = t[2..].find(":]")
            {
                let name = &t[..j + 4];
                let Some(body) = posix_class(name) else {
                    return Err(GoError::new(code::INVALID_CHAR_RANGE, name));
                };
                items.push_str(&body);
                i += name.len();
                continue;
            }
            if t.starts_with(r"\p") || t.starts_with(r"\P") {
                let (item, used) = unicode_class(t)?;
                items.push_str(&item);
                i += used;
                continue;
            }
            if t.starts_with('\\')
                && let Some((body, negated)) = t.as_bytes().get(1).and_then(|&c| perl_class(c))
            {
                if negated {
                    items.push_str(&format!("[^{body}]"));
                } else {
                    items.push_str(body);
                }
                i += 2;
                continue;
            }
            // A single character or a range.
            let (lo, used) = class_char(t, whole)?;
            i += used;
            let mut hi = lo;
            let r = &whole.as_bytes()[i..];
            if r.len() >= 2 && r[0] == b'-' && r[1] != b']' {
                let (h, used_hi) = class_char(&whole[i + 1..], whole)?;
                if h < lo {
                    return Err(GoError::new(code::INVALID_CHAR_RANGE, &t[..used + 1 + used_hi]));
                }
                hi = h;
                i += 1 + used_hi;
            }
            push_range(&mut items, lo, hi);
        }
        self.pos += i;
        Ok(match (items.is_empty(), negated) {
            // Only surrogates were named: the class is empty (or, negated, everything).
            (true, false) => NOTHING.to_string(),
            (true, true) => r"[\x{0}-\x{10FFFF}]".to_string(),
            (false, _) => format!("[{}{items}]", if negated { "^" } else { "" }),
        })
    }
}
