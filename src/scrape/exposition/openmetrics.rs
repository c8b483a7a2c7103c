//! OpenMetrics 1.0 text, one line per call.
//!
//! A line is `# HELP name text`, `# TYPE name type`, `# UNIT name unit`, `# EOF` (the last
//! line, with or without its line break), or a series: metric name, optional
//! `{label="value",...}` with no blanks and no trailing comma, one space, value, optionally
//! one space and a timestamp in seconds, optionally ` # {labels} value [timestamp]` (an
//! exemplar), and a line break. Anything else, blank lines included, is an error.

use super::float::{NumberError, NumberErrorText, parse_float, seconds_to_ms};
use super::lex::{self, Ctx, Escapes};
use super::{Entry, MetricType, ParseError, Parser};

impl<'a> Parser<'a> {
    /// Reads the next entry of an OpenMetrics page.
    pub(super) fn next_openmetrics(&mut self) -> Result<Option<Entry<'a>>, ParseError> {
        let buf = self.buf;
        let start = self.pos;
        match buf.get(start) {
            None => Err(self.fail(start, start, "data does not end with # EOF".into())),
            Some(b'#') if buf.get(start + 1) == Some(&b' ') => self.om_comment(start),
            // Prometheus names the byte after the `#`.
            Some(b'#') => Err(self.expected(start, "expected a valid start token", Ctx::MetaText, start + 1)),
            Some(&b) if lex::is_metric_name_start(b) => self.om_series(start).map(Some),
            Some(_) => Err(self.expected(start, "expected a valid start token", Ctx::Start, start)),
        }
    }

    /// A line starting with `# ` at `start`.
    fn om_comment(&mut self, start: usize) -> Result<Option<Entry<'a>>, ParseError> {
        let buf = self.buf;
        let word = start + 2;
        if buf.get(word..word + 3) == Some(b"EOF") {
            let mut end = word + 3;
            if buf.get(end) == Some(&b'\n') {
                end += 1;
            }
            if end != buf.len() {
                return Err(self.fail(start, end, "unexpected data after # EOF".into()));
            }
            self.pos = end;
            return Ok(None);
        }
        let keyword = match buf.get(word..word + 5) {
            Some(b"HELP ") => "HELP",
            Some(b"TYPE ") => "TYPE",
            Some(b"UNIT ") => "UNIT",
            // Prometheus names the byte after `# `.
            _ => return Err(self.expected(start, "expected a valid start token", Ctx::MetaText, word)),
        };
        let name_start = word + 5;
        let Some(name_end) = lex::scan_name(buf, name_start, lex::is_metric_name_start, lex::is_metric_name_char)
        else {
            let what = format!("expected metric name after {keyword}");
            return Err(self.expected(start, &what, Ctx::MetaName, name_start));
        };
        // The text: one space, then everything up to a line break that must be there.
        let eol = lex::line_end(buf, name_end);
        if buf.get(name_end) != Some(&b' ') || eol == buf.len() {
            let what = format!("expected text in {keyword}");
            return Err(self.expected(start, &what, Ctx::MetaText, name_end));
        }
        let metric = self.text_at(name_start, name_end).unwrap_or_default();
        let text = &buf[name_end + 1..eol];
        let entry = match keyword {
            "HELP" => {
                let text = self.help_text(text, Escapes::LabelValue).map_err(|m| self.fail(start, name_end, m))?;
                Entry::Help { metric, text }
            }
            "TYPE" => match MetricType::parse(self.format, text) {
                Some(kind) => Entry::Type { metric, kind },
                None => {
                    let msg = format!("invalid metric type {:?}", String::from_utf8_lossy(text));
                    return Err(self.fail(start, name_end, msg));
                }
            },
            _ => {
                // A unit must be the end of the name, after an underscore.
                let name = &buf[name_start..name_end];
                let fits = text.is_empty()
                    || (name.len() > text.len()
                        && name.ends_with(text)
                        && name.get(name.len() - text.len() - 1) == Some(&b'_'));
                if !fits {
                    return Err(self.fail(start, name_end, format!("unit not a suffix of metric {metric:?}")));
                }
                // A fitting unit is part of an ASCII name.
                let unit = self.text_at(name_end + 1, eol).unwrap_or_default();
                Entry::Unit { metric, unit }
            }
        };
        self.pos = eol + 1;
        self.line += 1;
        Ok(Some(entry))
    }

    /// A series line starting with its metric name at `start`.
    fn om_series(&mut self, start: usize) -> Result<Entry<'a>, ParseError> {
        let buf = self.buf;
        let name_end = lex::scan_while(buf, start + 1, lex::is_metric_name_char);
        self.begin_series(start, name_end);
        let mut p = name_end;
        if buf.get(p) == Some(&b'{') {
            p = self.om_labels(start, p + 1, false)?;
        }
        let series_end = p;

        let Some(value_end) = spaced_token(buf, p) else {
            return Err(self.expected(start, "expected value after metric", Ctx::Value, p));
        };
        let value = self.om_float(start, p + 1, value_end)?;
        p = value_end;

        let mut timestamp_ms = None;
        let mut exemplar_at = None;
        match buf.get(p) {
            None => return Err(self.fail(start, p, "data does not end with # EOF".into())),
            Some(b'\n') => {}
            _ if is_exemplar_start(buf, p) => exemplar_at = Some(p + 4),
            _ => {
                // Prometheus's lexer takes no timestamp starting with `#`.
                let ts_end = spaced_token(buf, p).filter(|_| buf.get(p + 1) != Some(&b'#'));
                let Some(ts_end) = ts_end else {
                    return Err(self.expected(start, "expected timestamp or # symbol", Ctx::Timestamp, p));
                };
                let seconds = self.om_float(start, p + 1, ts_end)?;
                if !seconds.is_finite() {
                    return Err(self.fail(start, p + 1, format!("invalid timestamp {}", go_float(seconds))));
                }
                timestamp_ms = Some(seconds_to_ms(seconds));
                p = ts_end;
                match buf.get(p) {
                    Some(b'\n') => {}
                    _ if is_exemplar_start(buf, p) => exemplar_at = Some(p + 4),
                    _ => {
                        let what = "expected next entry after timestamp";
                        return Err(self.expected(start, what, Ctx::Timestamp, p));
                    }
                }
            }
        }
        if let Some(at) = exemplar_at {
            p = self.om_exemplar(start, at)?;
            self.has_exemplar = true;
        }
        // `p` is on the line break here.
        self.pos = p + 1;
        self.line += 1;
        self.has_series = true;
        Ok(Entry::Series { series: &buf[start..series_end], timestamp_ms, value })
    }

    /// The exemplar whose label set's `{` is just before `from`; returns the offset of the
    /// line break ending it.
    fn om_exemplar(&mut self, start: usize, from: usize) -> Result<usize, ParseError> {
        let buf = self.buf;
        let name = &buf[self.name_start..self.name_end];
        if !(name.ends_with(b"_total") || name.ends_with(b"_bucket")) {
            let msg = format!("metric name {} does not support exemplars", String::from_utf8_lossy(name));
            return Err(self.fail(start, from, msg));
        }
        let mut p = self.om_labels(start, from, true)?;
        let Some(value_end) = spaced_token(buf, p) else {
            return Err(self.expected(start, "expected value after exemplar labels", Ctx::ExemplarValue, p));
        };
        self.exemplar_value = self.om_float(start, p + 1, value_end)?;
        p = value_end;
        match buf.get(p) {
            None => return Err(self.fail(start, p, "data does not end with # EOF".into())),
            Some(b'\n') => {}
            _ => {
                let Some(ts_end) = spaced_token(buf, p) else {
                    return Err(self.expected(start, "expected timestamp or comment", Ctx::ExemplarTimestamp, p));
                };
                let seconds = self.om_float(start, p + 1, ts_end)?;
                if !seconds.is_finite() {
                    return Err(self.fail(start, p + 1, format!("invalid exemplar timestamp {}", go_float(seconds))));
                }
                self.exemplar_ts = Some(seconds_to_ms(seconds));
                p = ts_end;
                if buf.get(p) != Some(&b'\n') {
                    let what = "expected next entry after exemplar timestamp";
                    return Err(self.expected(start, what, Ctx::ExemplarTimestamp, p));
                }
            }
        }
        Ok(p)
    }

    /// A label set (of the series, or of its exemplar) whose `{` is just before `from`;
    /// returns the offset after its `}`.
    fn om_labels(&mut self, start: usize, from: usize, exemplar: bool) -> Result<usize, ParseError> {
        let buf = self.buf;
        let ctx = if exemplar { Ctx::ExemplarLabels } else { Ctx::Labels };
        let mut p = from;
        let mut first = true;
        loop {
            match buf.get(p) {
                Some(b'}') => return Ok(p + 1),
                Some(b',') if !first => {
                    p += 1;
                    if !buf.get(p).is_some_and(|&b| lex::is_label_name_start(b)) {
                        return Err(self.expected(start, "expected label name", ctx, p));
                    }
                }
                Some(&b) if first && lex::is_label_name_start(b) => {}
                _ if first => return Err(self.expected(start, "expected label name or left brace", ctx, p)),
                Some(&b) if lex::is_label_name_start(b) => return Err(self.expected(start, "expected comma", ctx, p)),
                _ => return Err(self.expected(start, "expected comma or left brace", ctx, p)),
            }
            first = false;
            let name_end = lex::scan_while(buf, p + 1, lex::is_label_name_char);
            if buf.get(name_end) != Some(&b'=') {
                return Err(self.expected(start, "expected equal", ctx, name_end));
            }
            let value_at = name_end + 1;
            let Some(q) = lex::scan_quoted(buf, value_at, false) else {
                let value_ctx = if exemplar { Ctx::ExemplarValue } else { Ctx::LabelValue };
                return Err(self.expected(start, "expected label value", value_ctx, value_at));
            };
            self.push_label(exemplar, (p, name_end), (value_at, q.end)).map_err(|m| self.fail(start, value_at, m))?;
            p = q.end;
        }
    }

    /// Parses the number at `from..to`, failing the line starting at `start` if it is not one.
    fn om_float(&self, start: usize, from: usize, to: usize) -> Result<f64, ParseError> {
        let text = &self.buf[from..to];
        parse_float(text).map_err(|err: NumberError| {
            let msg = NumberErrorText { func: "ParseFloat", text, err };
            let context = self.context(start, to);
            self.fail(start, from, format!("{msg} while parsing: {context:?}"))
        })
    }
}

/// The end of an OpenMetrics token made of one space and at least one byte that is neither a
/// space nor a line break, starting at `at`; `None` when there is none.
fn spaced_token(buf: &[u8], at: usize) -> Option<usize> {
    if buf.get(at) != Some(&b' ') {
        return None;
    }
    let end = lex::scan_while(buf, at + 1, |b| b != b' ' && b != b'\n');
    (end > at + 1).then_some(end)
}

/// Whether ` # {` (the start of an exemplar) is at `at`.
fn is_exemplar_start(buf: &[u8], at: usize) -> bool {
    buf.get(at..at + 4) == Some(b" # {")
}

/// Formats a non-finite float as Go's `%f` does (`NaN`, `+Inf`, `-Inf`).
fn go_float(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "+Inf"
    } else {
        "-Inf"
    }
}
