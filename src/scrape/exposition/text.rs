//! The Prometheus text format 0.0.4, one line (or blank line run) per call.
//!
//! A line is, after optional blanks (spaces and tabs): nothing; `#` and a comment; `# HELP`
//! or `# TYPE` (after `#` and at least one blank, each keyword followed by at least one
//! blank), a metric name and the rest of the line; or a series: metric name, optional
//! `{label="value", ...}`, value, optional integer millisecond timestamp. Blanks may separate
//! any two tokens. The page need not end with a line break.

use super::float::{NumberErrorText, parse_float, parse_int};
use super::lex::{self, Ctx, Escapes};
use super::{Entry, MetricType, Parser};

impl<'a> Parser<'a> {
    /// Reads the next entry of a text-format page.
    pub(super) fn next_text(&mut self) -> Result<Option<Entry<'a>>, super::ParseError> {
        let buf = self.buf;
        loop {
            let line_start = self.pos;
            let p = lex::skip_blanks(buf, line_start);
            let Some(&b) = buf.get(p) else {
                self.pos = p;
                return Ok(None);
            };
            match b {
                b'\n' => {
                    self.pos = p + 1;
                    self.line += 1;
                }
                // Prometheus's lexer reads a NUL where a token starts as the end of input.
                0 => return Ok(None),
                b'#' => return self.text_comment(line_start, p),
                _ if lex::is_metric_name_start(b) => {
                    if p != line_start {
                        let name_end = lex::scan_while(buf, p, lex::is_metric_name_char);
                        let name = String::from_utf8_lossy(&buf[p..name_end]);
                        return Err(self.fail(
                            line_start,
                            p,
                            format!(
                                "invalid metric name or label names: blanks before the metric name {name:?} \
                                 (Prometheus keeps them in the name, which makes it invalid)"
                            ),
                        ));
                    }
                    return self.text_series(line_start).map(Some);
                }
                _ => return Err(self.expected(line_start, "expected a valid start token", Ctx::Start, p)),
            }
        }
    }

    /// A line starting (after blanks) with `#` at `hash`.
    fn text_comment(&mut self, line_start: usize, hash: usize) -> Result<Option<Entry<'a>>, super::ParseError> {
        let buf = self.buf;
        let eol = lex::line_end(buf, hash);
        let after = lex::skip_blanks(buf, hash + 1);
        if after == hash + 1 {
            // `#` without a blank: a plain comment, in which Prometheus's lexer takes a NUL
            // for the end of input.
            if buf[hash..eol].contains(&0) {
                return Ok(None);
            }
            self.finish_line(eol);
            return Ok(Some(Entry::Comment));
        }
        let keyword = buf.get(after..after + 4);
        let is_help = keyword == Some(b"HELP");
        let is_type = keyword == Some(b"TYPE");
        let keyword_blank = matches!(buf.get(after + 4), Some(b' ' | b'\t'));
        if !(is_help || is_type) || !keyword_blank {
            self.finish_line(eol);
            return Ok(Some(Entry::Comment));
        }
        let name_start = lex::skip_blanks(buf, after + 4);
        let what = if is_help { "expected metric name after HELP" } else { "expected metric name after TYPE" };
        let Some(name_end) = lex::scan_name(buf, name_start, lex::is_metric_name_start, lex::is_metric_name_char)
        else {
            return Err(self.expected(line_start, what, Ctx::MetaName, name_start));
        };
        let metric = self.text_at(name_start, name_end).unwrap_or_default();
        // The text is the rest of the line without its first byte; a rest made only of
        // blanks is an empty text (Prometheus's lexer takes it as whitespace).
        let rest = &buf[name_end..eol];
        let text = if rest.iter().all(|&c| c == b' ' || c == b'\t') { &rest[..0] } else { &rest[1..] };
        let entry = if is_help {
            let text = self.help_text(text, Escapes::TextHelp).map_err(|msg| self.fail(line_start, name_end, msg))?;
            Entry::Help { metric, text }
        } else {
            let Some(kind) = MetricType::parse(self.format, text) else {
                let msg = format!("invalid metric type {:?}", String::from_utf8_lossy(text));
                return Err(self.fail(line_start, name_end, msg));
            };
            Entry::Type { metric, kind }
        };
        self.finish_line(eol);
        Ok(Some(entry))
    }

    /// A series line starting with its metric name at `line_start`.
    fn text_series(&mut self, line_start: usize) -> Result<Entry<'a>, super::ParseError> {
        let buf = self.buf;
        let name_end = lex::scan_while(buf, line_start + 1, lex::is_metric_name_char);
        self.begin_series(line_start, name_end);
        let mut series_end = name_end;
        let mut p = lex::skip_blanks(buf, name_end);
        let mut newlines = 0;
        if buf.get(p) == Some(&b'{') {
            (p, newlines) = self.text_labels(line_start, p + 1)?;
            series_end = p;
            p = lex::skip_blanks(buf, p);
        }

        let value_end = lex::scan_while(buf, p, |c| !matches!(c, b'{' | b' ' | b'\t' | b'\n' | 0));
        if value_end == p {
            return Err(self.expected(line_start, "expected value after metric", Ctx::Value, p));
        }
        let value = parse_float(&buf[p..value_end]).map_err(|err| {
            let msg = NumberErrorText { func: "ParseFloat", text: &buf[p..value_end], err };
            let context = self.context(line_start, value_end);
            self.fail(line_start, p, format!("{msg} while parsing: {context:?}"))
        })?;

        p = lex::skip_blanks(buf, value_end);
        let mut timestamp_ms = None;
        if buf.get(p).is_some_and(u8::is_ascii_digit) {
            let ts_end = lex::scan_while(buf, p, |c| c.is_ascii_digit());
            let ts = parse_int(&buf[p..ts_end]).map_err(|err| {
                let msg = NumberErrorText { func: "ParseInt", text: &buf[p..ts_end], err };
                let context = self.context(line_start, ts_end);
                self.fail(line_start, p, format!("{msg} while parsing: {context:?}"))
            })?;
            timestamp_ms = Some(ts);
            p = lex::skip_blanks(buf, ts_end);
            if !matches!(buf.get(p), None | Some(b'\n')) {
                return Err(self.expected(line_start, "expected next entry after timestamp", Ctx::Timestamp, p));
            }
        } else if !matches!(buf.get(p), None | Some(b'\n')) {
            return Err(self.expected(line_start, "expected timestamp or new record", Ctx::Timestamp, p));
        }

        self.line += newlines;
        self.finish_line(p);
        self.has_series = true;
        Ok(Entry::Series { series: &buf[line_start..series_end], timestamp_ms, value })
    }

    /// The label set whose `{` is just before `from`: returns the offset after its `}` and
    /// the number of raw line breaks inside its values.
    fn text_labels(&mut self, line_start: usize, from: usize) -> Result<(usize, usize), super::ParseError> {
        let buf = self.buf;
        let mut p = lex::skip_blanks(buf, from);
        let mut newlines = 0;
        loop {
            if buf.get(p) == Some(&b'}') {
                return Ok((p + 1, newlines));
            }
            let Some(name_end) = lex::scan_name(buf, p, lex::is_label_name_start, lex::is_label_name_char) else {
                return Err(self.expected(line_start, "expected label name", Ctx::Labels, p));
            };
            let name = (p, name_end);
            p = lex::skip_blanks(buf, name_end);
            if buf.get(p) != Some(&b'=') {
                return Err(self.expected(line_start, "expected equal", Ctx::Labels, p));
            }
            p = lex::skip_blanks(buf, p + 1);
            let Some(q) = lex::scan_quoted(buf, p, true) else {
                return Err(self.expected(line_start, "expected label value", Ctx::LabelValue, p));
            };
            self.push_label(false, name, (p, q.end)).map_err(|msg| self.fail(line_start, p, msg))?;
            newlines += q.newlines;
            p = lex::skip_blanks(buf, q.end);
            if buf.get(p) == Some(&b',') {
                p = lex::skip_blanks(buf, p + 1);
            }
        }
    }

    /// Moves past the line break at `eol` (if any: the last line may lack one).
    fn finish_line(&mut self, eol: usize) {
        if buf_has_newline(self.buf, eol) {
            self.pos = eol + 1;
            self.line += 1;
        } else {
            self.pos = eol;
        }
    }
}

/// Whether `buf[at]` is a line break.
#[inline]
fn buf_has_newline(buf: &[u8], at: usize) -> bool {
    buf.get(at) == Some(&b'\n')
}
