//! The PromQL lexer: a state machine over the query text that yields [`Token`]s with byte
//! positions, with Prometheus' error messages for malformed input.
//!
//! Like Prometheus' lexer it tracks open parentheses, braces and brackets: inside braces
//! keywords are plain identifiers and `=~`/`!~` are operators; inside brackets `:` separates a
//! subquery's range from its step.

use std::fmt::Write as _;

/// Keywords and aggregation operators (matched case-insensitively).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Keyword {
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
    /// `atan2`
    Atan2,
    /// `sum`, `avg`, ...: an aggregation operator.
    Aggregate(super::ast::AggregateOp),
    /// `bool`
    Bool,
    /// `by`
    By,
    /// `group_left`
    GroupLeft,
    /// `group_right`
    GroupRight,
    /// `ignoring`
    Ignoring,
    /// `offset`
    Offset,
    /// `on`
    On,
    /// `without`
    Without,
    /// `start`
    Start,
    /// `end`
    End,
    /// `step`
    Step,
    /// `range`
    Range,
    /// `anchored`
    Anchored,
    /// `smoothed`
    Smoothed,
}

impl Keyword {
    fn lookup(word: &str) -> Option<Keyword> {
        use super::ast::AggregateOp as A;
        let lower = word.to_ascii_lowercase();
        Some(match lower.as_str() {
            "and" => Keyword::And,
            "or" => Keyword::Or,
            "unless" => Keyword::Unless,
            "atan2" => Keyword::Atan2,
            "sum" => Keyword::Aggregate(A::Sum),
            "avg" => Keyword::Aggregate(A::Avg),
            "count" => Keyword::Aggregate(A::Count),
            "min" => Keyword::Aggregate(A::Min),
            "max" => Keyword::Aggregate(A::Max),
            "group" => Keyword::Aggregate(A::Group),
            "stddev" => Keyword::Aggregate(A::Stddev),
            "stdvar" => Keyword::Aggregate(A::Stdvar),
            "topk" => Keyword::Aggregate(A::Topk),
            "bottomk" => Keyword::Aggregate(A::Bottomk),
            "count_values" => Keyword::Aggregate(A::CountValues),
            "quantile" => Keyword::Aggregate(A::Quantile),
            "limitk" => Keyword::Aggregate(A::Limitk),
            "limit_ratio" => Keyword::Aggregate(A::LimitRatio),
            "bool" => Keyword::Bool,
            "by" => Keyword::By,
            "group_left" => Keyword::GroupLeft,
            "group_right" => Keyword::GroupRight,
            "ignoring" => Keyword::Ignoring,
            "offset" => Keyword::Offset,
            "on" => Keyword::On,
            "without" => Keyword::Without,
            "start" => Keyword::Start,
            "end" => Keyword::End,
            "step" => Keyword::Step,
            "range" => Keyword::Range,
            "anchored" => Keyword::Anchored,
            "smoothed" => Keyword::Smoothed,
            _ => return None,
        })
    }
}

/// Token kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// End of input.
    Eof,
    /// A name without `:`.
    Identifier,
    /// A name containing `:` (only valid as a metric name).
    MetricIdentifier,
    /// A number, including `Inf` and `NaN`.
    Number,
    /// A duration such as `1h30m`.
    Duration,
    /// A quoted string, quotes included in the text.
    String,
    /// A keyword or aggregation operator.
    Keyword(Keyword),
    /// `(`
    LeftParen,
    /// `)`
    RightParen,
    /// `{`
    LeftBrace,
    /// `}`
    RightBrace,
    /// `[`
    LeftBracket,
    /// `]`
    RightBracket,
    /// `,`
    Comma,
    /// `:` inside brackets.
    Colon,
    /// `=`
    Eql,
    /// `==`
    Eqlc,
    /// `!=`
    Neq,
    /// `<`
    Lss,
    /// `<=`
    Lte,
    /// `>`
    Gtr,
    /// `>=`
    Gte,
    /// `=~`
    EqlRegex,
    /// `!~`
    NeqRegex,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `@`
    At,
    /// `</`
    TrimUpper,
    /// `>/`
    TrimLower,
}

/// A token: its kind and byte range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// The kind.
    pub kind: TokenKind,
    /// Offset of the first byte.
    pub start: u32,
    /// Offset one past the last byte.
    pub end: u32,
}

/// A lexer error: message and the offset Prometheus reports it at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexError {
    /// Byte offset.
    pub pos: u32,
    /// Prometheus' wording.
    pub msg: String,
}

/// The lexer.
pub struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    paren_depth: usize,
    brace_open: bool,
    bracket_open: bool,
    got_colon: bool,
}

fn is_alpha(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_alnum(c: char) -> bool {
    is_alpha(c) || c.is_ascii_digit()
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

impl<'a> Lexer<'a> {
    /// A lexer over `input`.
    pub fn new(input: &'a str) -> Self {
        Lexer { input, pos: 0, paren_depth: 0, brace_open: false, bracket_open: false, got_colon: false }
    }

    fn peek(&self) -> Option<char> {
        self.input[self.pos..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        let mut it = self.input[self.pos..].chars();
        it.next();
        it.next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.peek() {
            Some(c) if valid.contains(c) => {
                self.pos += c.len_utf8();
                true
            }
            _ => false,
        }
    }

    fn is(&self, valid: &str) -> bool {
        matches!(self.peek(), Some(c) if valid.contains(c))
    }

    fn err<T>(&self, start: usize, msg: String) -> Result<T, LexError> {
        Err(LexError { pos: start as u32, msg })
    }

    fn tok(&self, kind: TokenKind, start: usize) -> Result<Token, LexError> {
        Ok(Token { kind, start: start as u32, end: self.pos as u32 })
    }

    /// Skips white space and `#` comments.
    fn skip_trivia(&mut self) {
        loop {
            match self.peek() {
                Some(c) if is_space(c) => {
                    self.pos += 1;
                }
                Some('#') => {
                    while let Some(c) = self.peek() {
                        if c == '\n' || c == '\r' {
                            break;
                        }
                        self.pos += c.len_utf8();
                    }
                }
                _ => return,
            }
        }
    }

    /// The next token, or the lexer error Prometheus would report.
    pub fn next_token(&mut self) -> Result<Token, LexError> {
        self.skip_trivia();
        if self.brace_open {
            return self.next_inside_braces();
        }
        let start = self.pos;
        let Some(c) = self.bump() else {
            if self.paren_depth != 0 {
                return self.err(start, "unclosed left parenthesis".into());
            }
            if self.bracket_open {
                return self.err(start, "unclosed left bracket".into());
            }
            return self.tok(TokenKind::Eof, start);
        };
        let kind = match c {
            ',' => TokenKind::Comma,
            '*' => TokenKind::Mul,
            '/' => TokenKind::Div,
            '%' => TokenKind::Mod,
            '+' => TokenKind::Add,
            '-' => TokenKind::Sub,
            '^' => TokenKind::Pow,
            '@' => TokenKind::At,
            '=' => match self.peek() {
                Some('=') => {
                    self.pos += 1;
                    TokenKind::Eqlc
                }
                Some('~') => return self.err(start, "unexpected character after '=': '~'".into()),
                _ => TokenKind::Eql,
            },
            '!' => match self.bump() {
                Some('=') => TokenKind::Neq,
                other => {
                    let shown = other.map(go_quote_rune).unwrap_or_else(|| "'\\x00'".into());
                    return self.err(start, format!("unexpected character after '!': {shown}"));
                }
            },
            '<' => {
                if self.accept("/") {
                    TokenKind::TrimUpper
                } else if self.accept("=") {
                    TokenKind::Lte
                } else {
                    TokenKind::Lss
                }
            }
            '>' => {
                if self.accept("/") {
                    TokenKind::TrimLower
                } else if self.accept("=") {
                    TokenKind::Gte
                } else {
                    TokenKind::Gtr
                }
            }
            '0'..='9' => {
                self.pos = start;
                return self.number_or_duration(start);
            }
            '.' if self.peek().is_some_and(|d| d.is_ascii_digit()) => {
                self.pos = start;
                return self.number_or_duration(start);
            }
            '"' | '\'' => return self.string(start, c),
            '`' => return self.raw_string(start),
            ':' if self.bracket_open => {
                if self.got_colon {
                    return self.err(start, "unexpected colon ':'".into());
                }
                self.got_colon = true;
                TokenKind::Colon
            }
            c if is_alpha(c) || c == ':' => {
                self.pos = start;
                return self.keyword_or_identifier(start);
            }
            '(' => {
                self.paren_depth += 1;
                TokenKind::LeftParen
            }
            ')' => {
                if self.paren_depth == 0 {
                    return self.err(start, "unexpected right parenthesis ')'".into());
                }
                self.paren_depth -= 1;
                TokenKind::RightParen
            }
            '{' => {
                self.brace_open = true;
                TokenKind::LeftBrace
            }
            '[' => {
                if self.bracket_open {
                    return self.err(start, "unexpected left bracket '['".into());
                }
                self.bracket_open = true;
                self.got_colon = false;
                TokenKind::LeftBracket
            }
            ']' => {
                if !self.bracket_open {
                    return self.err(start, "unexpected right bracket ']'".into());
                }
                self.bracket_open = false;
                TokenKind::RightBracket
            }
            other => return self.err(start, format!("unexpected character: {}", go_quote_rune(other))),
        };
        self.tok(kind, start)
    }

    fn next_inside_braces(&mut self) -> Result<Token, LexError> {
        let start = self.pos;
        let Some(c) = self.bump() else {
            return self.err(start, "unexpected end of input inside braces".into());
        };
        let kind = match c {
            c if is_alpha(c) => {
                while self.peek().is_some_and(is_alnum) {
                    self.pos += 1;
                }
                TokenKind::Identifier
            }
            ',' => TokenKind::Comma,
            '"' | '\'' => return self.string(start, c),
            '`' => return self.raw_string(start),
            '=' => {
                if self.accept("~") {
                    TokenKind::EqlRegex
                } else {
                    TokenKind::Eql
                }
            }
            '!' => match self.bump() {
                Some('~') => TokenKind::NeqRegex,
                Some('=') => TokenKind::Neq,
                other => {
                    let shown = other.map(go_quote_rune).unwrap_or_else(|| "'\\x00'".into());
                    return self.err(start, format!("unexpected character after '!' inside braces: {shown}"));
                }
            },
            '{' => return self.err(start, "unexpected left brace '{'".into()),
            '}' => {
                self.brace_open = false;
                TokenKind::RightBrace
            }
            other => return self.err(start, format!("unexpected character inside braces: {}", go_quote_rune(other))),
        };
        self.tok(kind, start)
    }

    fn keyword_or_identifier(&mut self, start: usize) -> Result<Token, LexError> {
        // Inside brackets `:` separates a subquery's range from its step.
        let colon_ok = !self.bracket_open;
        while self.peek().is_some_and(|c| is_alnum(c) || (colon_ok && c == ':')) {
            self.pos += 1;
        }
        let word = &self.input[start..self.pos];
        let lower = word.to_ascii_lowercase();
        let kind = if lower == "inf" || lower == "nan" {
            TokenKind::Number
        } else if let Some(kw) = Keyword::lookup(word) {
            TokenKind::Keyword(kw)
        } else if word.contains(':') {
            TokenKind::MetricIdentifier
        } else {
            TokenKind::Identifier
        };
        self.tok(kind, start)
    }

    /// Scans a number the way Prometheus' `scanNumber` does; `false` means "not a number".
    fn scan_number(&mut self) -> bool {
        let initial = self.pos;
        let mut digits = "0123456789";
        if self.peek() == Some('0') && matches!(self.peek2(), Some('x' | 'X')) {
            self.pos += 2;
            self.accept("_");
            digits = "0123456789abcdefABCDEF";
        }
        let hex = digits.len() > 10;
        self.accept(".");
        self.accept(digits);
        let (mut dot, mut exp) = (false, false);
        loop {
            let more = self.is(digits) || self.is("._eE");
            if !more {
                break;
            }
            if self.is(".") && dot {
                self.accept(".");
                return false;
            }
            if !hex && self.is("eE") && exp {
                self.accept("eE");
                return false;
            }
            if self.accept(".") {
                dot = true;
                if self.accept("_.") || hex {
                    return false;
                }
                continue;
            }
            if !hex && self.accept("eE") {
                exp = true;
                self.accept("+-");
                if self.accept("._eE") || self.peek().is_none() {
                    return false;
                }
                continue;
            }
            if self.accept("_") {
                if self.accept("._eE") || self.peek().is_none() {
                    return false;
                }
                continue;
            }
            while self.accept(digits) {}
        }
        if self.pos == initial {
            return false;
        }
        !self.peek().is_some_and(is_alnum)
    }

    fn remaining_duration(&mut self) -> bool {
        if !self.accept("smhdwy") {
            return false;
        }
        self.accept("s");
        while self.accept("0123456789") {
            while self.accept("0123456789") {}
            if !self.accept("smhdw") {
                return false;
            }
            self.accept("s");
        }
        match self.bump() {
            Some(c) if is_alnum(c) => false,
            Some(c) => {
                self.pos -= c.len_utf8();
                true
            }
            None => true,
        }
    }

    fn number_or_duration(&mut self, start: usize) -> Result<Token, LexError> {
        if self.scan_number() {
            return self.tok(TokenKind::Number, start);
        }
        if self.remaining_duration() {
            return self.tok(TokenKind::Duration, start);
        }
        let text = &self.input[start..self.pos];
        self.err(start, format!("bad number or duration syntax: {}", go_quote(text)))
    }

    fn string(&mut self, start: usize, quote: char) -> Result<Token, LexError> {
        loop {
            match self.bump() {
                None | Some('\n') => return self.err(start, "unterminated quoted string".into()),
                Some('\\') => self.escape(start, quote)?,
                Some(c) if c == quote => return self.tok(TokenKind::String, start),
                Some(_) => {}
            }
        }
    }

    fn escape(&mut self, start: usize, quote: char) -> Result<(), LexError> {
        let (n, base, max): (u32, u32, u32) = match self.bump() {
            Some('a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\') => return Ok(()),
            Some(c) if c == quote => return Ok(()),
            Some('0'..='7') => {
                self.pos -= 1;
                (3, 8, 255)
            }
            Some('x') => (2, 16, 255),
            Some('u') => (4, 16, 0x10FFFF),
            Some('U') => (8, 16, 0x10FFFF),
            None => return self.err(start, "escape sequence not terminated".into()),
            Some(c) => return self.err(start, format!("unknown escape sequence {}", go_sharp_u(c))),
        };
        let mut x: u32 = 0;
        for _ in 0..n {
            let Some(c) = self.bump() else {
                return self.err(start, "escape sequence not terminated".into());
            };
            match c.to_digit(16).filter(|d| *d < base) {
                Some(d) => x = x.wrapping_mul(base).wrapping_add(d),
                None => return self.err(start, format!("illegal character {} in escape sequence", go_sharp_u(c))),
            }
        }
        if x > max || (0xD800..0xE000).contains(&x) {
            return self.err(start, "escape sequence is an invalid Unicode code point".into());
        }
        Ok(())
    }

    fn raw_string(&mut self, start: usize) -> Result<Token, LexError> {
        loop {
            match self.bump() {
                None => return self.err(start, "unterminated raw string".into()),
                Some('`') => return self.tok(TokenKind::String, start),
                Some(_) => {}
            }
        }
    }
}

/// Go's `%q` of a string (`strconv.Quote`).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped(&mut out, c, '"');
    }
    out.push('"');
    out
}

/// Go's `%q` of a rune (`strconv.QuoteRune`).
pub fn go_quote_rune(c: char) -> String {
    let mut out = String::from("'");
    push_escaped(&mut out, c, '\'');
    out.push('\'');
    out
}

/// Go's `%#U` of a rune: `U+0071 'q'`.
fn go_sharp_u(c: char) -> String {
    if c.is_control() { format!("U+{:04X}", c as u32) } else { format!("U+{:04X} '{c}'", c as u32) }
}

fn push_escaped(out: &mut String, c: char, quote: char) {
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if c.is_control() || is_unprintable(c) => {
            if (c as u32) < 0x10000 {
                let _ = write!(out, "\\u{:04x}", c as u32);
            } else {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
        c => out.push(c),
    }
}

/// A rough stand-in for Go's `unicode.IsPrint` negation on non-control characters: format
/// characters and separators other than the ASCII space.
fn is_unprintable(c: char) -> bool {
    matches!(c as u32, 0x00AD | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x2064 | 0xFEFF | 0xFFF9..=0xFFFB)
        || (c != ' ' && c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(input: &str) -> Result<Vec<(TokenKind, &str)>, LexError> {
        let mut l = Lexer::new(input);
        let mut out = Vec::new();
        loop {
            let t = l.next_token()?;
            if t.kind == TokenKind::Eof {
                return Ok(out);
            }
            out.push((t.kind, &input[t.start as usize..t.end as usize]));
        }
    }

    #[test]
    fn numbers_and_durations() {
        use TokenKind::*;
        let cases: &[(&str, TokenKind)] = &[
            ("1", Number),
            ("4.5", Number),
            (".5", Number),
            ("5.", Number),
            ("0x1F", Number),
            ("1e-3", Number),
            ("1E+3", Number),
            ("Inf", Number),
            ("nAn", Number),
            ("1_000", Number),
            ("5m", Duration),
            ("1h30m", Duration),
            ("5ms", Duration),
            ("1y2w3d", Duration),
        ];
        for (input, want) in cases {
            assert_eq!(kinds(input).unwrap(), vec![(*want, *input)], "{input}");
        }
    }

    #[test]
    fn lexer_errors_use_prometheus_wording() {
        // Expected messages from upstream lex_test.go / parse_test.go.
        let cases: &[(&str, &str, u32)] = &[
            ("2.5.", "bad number or duration syntax: \"2.5.\"", 0),
            ("100..4", "bad number or duration syntax: \"100..\"", 0),
            ("0deadbeef", "bad number or duration syntax: \"0de\"", 0),
            ("5mm", "bad number or duration syntax: \"5mm\"", 0),
            (".", "unexpected character: '.'", 0),
            ("(1))", "unexpected right parenthesis ')'", 3),
            ("((1)", "unclosed left parenthesis", 4),
            ("1 =~ 1", "unexpected character after '=': '~'", 2),
            ("1 !~ 1", "unexpected character after '!': '~'", 2),
            ("foo{", "unexpected end of input inside braces", 4),
            ("foo{a{", "unexpected left brace '{'", 5),
            ("foo{a;", "unexpected character inside braces: ';'", 5),
            ("\"abc", "unterminated quoted string", 0),
            ("`abc", "unterminated raw string", 0),
            ("\"\\q\"", "unknown escape sequence U+0071 'q'", 0),
            ("foo]", "unexpected right bracket ']'", 3),
        ];
        for (input, msg, pos) in cases {
            let err = kinds(input).unwrap_err();
            assert_eq!((err.msg.as_str(), err.pos), (*msg, *pos), "{input}");
        }
    }

    #[test]
    fn keywords_are_case_insensitive_and_plain_inside_braces() {
        let toks = kinds("SUM by{by=\"x\"}").unwrap();
        assert_eq!(toks[0].0, TokenKind::Keyword(Keyword::Aggregate(super::super::ast::AggregateOp::Sum)));
        assert_eq!(toks[1].0, TokenKind::Keyword(Keyword::By));
        assert_eq!(toks[3].0, TokenKind::Identifier);
        assert_eq!(kinds("a:b").unwrap(), vec![(TokenKind::MetricIdentifier, "a:b")]);
        assert_eq!(kinds("x[5m:1m]").unwrap()[3], (TokenKind::Colon, ":"));
    }

    #[test]
    fn go_quoting() {
        assert_eq!(go_quote("a\"b\n"), "\"a\\\"b\\n\"");
        assert_eq!(go_quote_rune('\''), "'\\''");
        assert_eq!(go_quote("ü"), "\"ü\"");
    }
}
