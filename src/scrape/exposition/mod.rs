//! Exposition-format parsers: Prometheus text 0.0.4 and OpenMetrics 1.0 text, working on the
//! scraped bytes without copying them.
//!
//! Principal items: [`Parser`] (pull parser: [`Parser::next`] yields [`Entry`]s borrowing
//! from the page), [`Format`] (chosen from the response's `Content-Type`), [`ParseError`]
//! (names the line).
//!
//! The scrape loop keys its series cache on [`Entry::Series`]'s raw `series` bytes and asks
//! for [`Parser::labels`] (or [`Parser::labels_into`]) only on a cache miss, so a steady
//! scrape allocates almost nothing: [`Parser::next`] reuses its buffers and allocates only
//! for a `# HELP` text that has escapes.
//!
//! What is accepted and refused follows Prometheus 2.42's `model/textparse` (`promparse`,
//! `openmetricsparse`) plus the checks its scrape loop and head appender apply to every
//! series, which [`Parser::labels`] makes here:
//!
//! - Text format: blank lines and `#` comments anywhere, spaces and tabs between tokens,
//!   label values that may hold raw line breaks, an optional trailing comma (or none at all)
//!   between labels, an optional integer timestamp in milliseconds, no final line break
//!   needed. `# HELP`/`# TYPE` take the rest of the line after one separator character. A NUL
//!   byte where a line (or a `#` comment not followed by a blank) starts ends the page, as
//!   Prometheus's lexer treats it as the end of input.
//! - OpenMetrics: exactly one space between tokens, no blank lines, no comments other than
//!   `# HELP`, `# TYPE`, `# UNIT` and `# EOF`, which must end the page. Timestamps are float
//!   seconds, converted to milliseconds by multiplying and truncating as Prometheus does.
//!   Exemplars (`# {labels} value [timestamp]`) are allowed only on series whose name ends
//!   in `_total` or `_bucket`, and `# UNIT` must be a `_`-separated suffix of the name.
//!   Prometheus 2.42 checks no other family rules (`_created`, `_info`, stateset values,
//!   bucket order): those series are ordinary samples.
//! - Both: values in Go float syntax without hex floats or `_` (`NaN`, `+Inf`, `-Inf`, any
//!   case); label values valid UTF-8; every NaN stored with Prometheus's normal NaN bits.
//!   [`Parser::labels`] drops a label with an empty value together with every other label
//!   of its name (as the scrape loop's label builder does), and refuses duplicate label names
//!   (`__name__` included) and a series left without its name. A text-format series line
//!   indented by blanks is refused: 2.42 keeps the indentation in the metric name and then
//!   refuses that name.
//!
//! `tests/it/exposition.rs` checks all of this against a real Prometheus 2.42 scrape loop,
//! page by page. Differences from Prometheus, all deliberate: error messages take the shape
//! of Prometheus 3's (`expected label value, got "'" ("INVALID") while parsing: "a{b='"`,
//! naming the text really found, where 2.42 names only the token kind and sometimes the
//! wrong one) and start with the line number; exemplar label values have their escapes
//! resolved (2.42 keeps them raw); an exemplar with duplicate label names is dropped by
//! [`Parser::exemplar`] rather than passed on to storage.

mod float;
mod lex;
mod openmetrics;
mod text;

#[cfg(test)]
mod tests;

use crate::model::{Label, Labels, METRIC_NAME};
use lex::{Ctx, Escapes};
use std::borrow::Cow;

/// Which text format a page is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain`).
    PrometheusText,
    /// OpenMetrics 1.0 text (`application/openmetrics-text`).
    OpenMetrics,
}

impl Format {
    /// The format a `Content-Type` header names (Prometheus text when absent or unknown).
    ///
    /// As in Prometheus, only the media type counts (compared without regard to case); its
    /// parameters (`version`, `charset`) are ignored.
    pub fn from_content_type(content_type: Option<&str>) -> Format {
        let media_type = content_type.and_then(|ct| ct.split(';').next()).map(str::trim);
        match media_type {
            Some(mt) if mt.eq_ignore_ascii_case("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::PrometheusText,
        }
    }
}

/// A metric family's type as declared by `# TYPE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `histogram`.
    Histogram,
    /// `gaugehistogram` (OpenMetrics).
    GaugeHistogram,
    /// `summary`.
    Summary,
    /// `info` (OpenMetrics).
    Info,
    /// `stateset` (OpenMetrics).
    StateSet,
    /// `unknown` / `untyped`.
    Unknown,
}

impl MetricType {
    /// The type a `# TYPE` line names in `format`, if that format has it.
    fn parse(format: Format, word: &[u8]) -> Option<MetricType> {
        let t = match word {
            b"counter" => MetricType::Counter,
            b"gauge" => MetricType::Gauge,
            b"histogram" => MetricType::Histogram,
            b"summary" => MetricType::Summary,
            b"untyped" if format == Format::PrometheusText => MetricType::Unknown,
            b"unknown" if format == Format::OpenMetrics => MetricType::Unknown,
            b"gaugehistogram" if format == Format::OpenMetrics => MetricType::GaugeHistogram,
            b"info" if format == Format::OpenMetrics => MetricType::Info,
            b"stateset" if format == Format::OpenMetrics => MetricType::StateSet,
            _ => return None,
        };
        Some(t)
    }
}

/// One exemplar attached to a sample (OpenMetrics).
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    /// The exemplar's labels.
    pub labels: Labels,
    /// Its value.
    pub value: f64,
    /// Its timestamp in milliseconds, when given.
    pub timestamp_ms: Option<i64>,
}

/// One thing the parser found.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry<'a> {
    /// A sample line.
    Series {
        /// The raw bytes naming the series (metric name and label text as written): the
        /// scrape cache's key.
        series: &'a [u8],
        /// The explicit timestamp in milliseconds, when the line has one.
        timestamp_ms: Option<i64>,
        /// The value.
        value: f64,
    },
    /// `# TYPE`.
    Type {
        /// Metric family name.
        metric: &'a str,
        /// Declared type.
        kind: MetricType,
    },
    /// `# HELP` (escapes resolved).
    Help {
        /// Metric family name.
        metric: &'a str,
        /// Help text.
        text: Cow<'a, str>,
    },
    /// `# UNIT` (OpenMetrics).
    Unit {
        /// Metric family name.
        metric: &'a str,
        /// Unit.
        unit: &'a str,
    },
    /// Any other comment line.
    Comment,
}

/// A malformed page: the line and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {msg}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong (Prometheus's wording where it has one).
    pub msg: String,
}

/// Byte offsets of one label's name and (still escaped) value in the page.
#[derive(Clone, Copy, Debug)]
struct LabelSpan {
    name: (usize, usize),
    value: (usize, usize),
}

/// Where the parser stands.
#[derive(Clone, Debug)]
enum Progress {
    /// More entries may follow.
    Reading,
    /// The page is done: `next` keeps answering `Ok(None)`.
    Done,
    /// The page is malformed: `next` keeps answering this error.
    Failed(ParseError),
}

/// A pull parser over one page.
///
/// Call [`Parser::next`] until it returns `Ok(None)` or an error. After an
/// [`Entry::Series`], [`Parser::labels`], [`Parser::metric_name`] and [`Parser::exemplar`]
/// describe that series until the next call to `next`. Once `next` has failed it keeps
/// returning the same error.
pub struct Parser<'a> {
    buf: &'a [u8],
    format: Format,
    /// Offset of the first unread byte.
    pos: usize,
    /// 1-based number of the line `pos` is on.
    line: usize,
    progress: Progress,
    /// Whether the spans below describe a series (`next` returned one).
    has_series: bool,
    /// Line of the last series.
    series_line: usize,
    /// Offset where the last series' metric name starts.
    name_start: usize,
    /// Offset where the last series' metric name ends.
    name_end: usize,
    /// The last series' labels, in page order; reused from line to line.
    labels: Vec<LabelSpan>,
    /// Whether the last series had an exemplar.
    has_exemplar: bool,
    /// The exemplar's labels, in page order; reused.
    exemplar_labels: Vec<LabelSpan>,
    exemplar_value: f64,
    exemplar_ts: Option<i64>,
}

impl<'a> Parser<'a> {
    /// A parser over `buf` in `format`.
    pub fn new(buf: &'a [u8], format: Format) -> Parser<'a> {
        Parser {
            buf,
            format,
            pos: 0,
            line: 1,
            progress: Progress::Reading,
            has_series: false,
            series_line: 0,
            name_start: 0,
            name_end: 0,
            labels: Vec::new(),
            has_exemplar: false,
            exemplar_labels: Vec::new(),
            exemplar_value: 0.0,
            exemplar_ts: None,
        }
    }

    /// The format this parser reads.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The next entry; `Ok(None)` at the end of the page (after `# EOF` for OpenMetrics,
    /// where a missing `# EOF` is an error).
    #[allow(clippy::should_implement_trait)] // Borrowing entries with an error channel: not an Iterator.
    pub fn next(&mut self) -> Result<Option<Entry<'a>>, ParseError> {
        match &self.progress {
            Progress::Reading => {}
            Progress::Done => return Ok(None),
            Progress::Failed(e) => return Err(e.clone()),
        }
        self.has_series = false;
        self.has_exemplar = false;
        let result = match self.format {
            Format::PrometheusText => self.next_text(),
            Format::OpenMetrics => self.next_openmetrics(),
        };
        match &result {
            Ok(Some(_)) => {}
            Ok(None) => self.progress = Progress::Done,
            Err(e) => {
                self.has_series = false;
                self.progress = Progress::Failed(e.clone());
            }
        }
        result
    }

    /// The metric name of the last [`Entry::Series`] (without allocating), or `None` when
    /// `next` did not just return a series.
    pub fn metric_name(&self) -> Option<&'a str> {
        if !self.has_series {
            return None;
        }
        // Metric names are ASCII by construction, so this never fails.
        std::str::from_utf8(self.buf.get(self.name_start..self.name_end)?).ok()
    }

    /// The labels (with `__name__`) of the last [`Entry::Series`], validated and sorted.
    ///
    /// Escapes in values are resolved, empty values dropped (with every other label of the
    /// same name, as Prometheus's scrape loop drops them), and duplicate label names refused
    /// as Prometheus's head appender refuses them. Allocates only the result.
    pub fn labels(&self) -> Result<Labels, ParseError> {
        let mut out = Vec::with_capacity(self.labels.len() + 1);
        self.labels_into(&mut out)?;
        Ok(Labels::from_sorted_unchecked(out))
    }

    /// As [`Parser::labels`], but into `out` (cleared first), so a caller can reuse one
    /// vector. On success `out` is sorted by name, free of empty values and of duplicate
    /// names, ready for [`Labels::from_sorted_unchecked`].
    pub fn labels_into(&self, out: &mut Vec<Label>) -> Result<(), ParseError> {
        out.clear();
        let name = self.metric_name().ok_or_else(|| ParseError {
            line: self.line,
            msg: "no series to take labels from: the last entry was not a series".into(),
        })?;
        out.push(Label::new(METRIC_NAME, name));
        self.spans_into(&self.labels, out).map_err(|msg| ParseError { line: self.series_line, msg })?;
        if out.iter().any(|l| l.value.is_empty()) {
            // An empty value removes the label, and Prometheus's scrape loop (through its label
            // builder) removes every label of that name: `a{b="",b="2"}` is stored as `a`.
            let empty: Vec<String> = out.iter().filter(|l| l.value.is_empty()).map(|l| l.name.clone()).collect();
            if empty.iter().any(|n| n == METRIC_NAME) {
                // `a{__name__=""}` loses its name that way, which fails the scrape.
                return Err(ParseError { line: self.series_line, msg: "missing metric name (__name__ label)".into() });
            }
            out.retain(|l| !empty.contains(&l.name));
        }
        out.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        if let Some(w) = out.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(ParseError {
                line: self.series_line,
                msg: format!("label name {:?} is not unique", w[0].name),
            });
        }
        Ok(())
    }

    /// The exemplar of the last [`Entry::Series`], if it had one.
    ///
    /// An exemplar whose label names repeat is dropped (`None`), as storage would refuse it;
    /// the sample itself stays valid.
    pub fn exemplar(&self) -> Option<Exemplar> {
        if !self.has_series || !self.has_exemplar {
            return None;
        }
        let mut labels = Vec::with_capacity(self.exemplar_labels.len());
        self.spans_into(&self.exemplar_labels, &mut labels).ok()?;
        let labels = Labels::new(labels).ok()?;
        Some(Exemplar { labels, value: self.exemplar_value, timestamp_ms: self.exemplar_ts })
    }

    /// Appends the labels `spans` point at, with escapes resolved.
    fn spans_into(&self, spans: &[LabelSpan], out: &mut Vec<Label>) -> Result<(), String> {
        for s in spans {
            let name = self.str_at(s.name)?;
            let raw = self.str_at(s.value)?;
            let value = if raw.contains('\\') {
                let mut v = String::with_capacity(raw.len());
                lex::unescape(raw, Escapes::LabelValue, &mut v);
                v
            } else {
                raw.to_owned()
            };
            out.push(Label { name: name.to_owned(), value });
        }
        Ok(())
    }

    /// The page text in `span`, which `next` checked to be UTF-8.
    fn str_at(&self, (start, end): (usize, usize)) -> Result<&'a str, String> {
        let bytes = self.buf.get(start..end).ok_or("label offsets out of range")?;
        std::str::from_utf8(bytes)
            .map_err(|_| format!("invalid UTF-8 label value: {:?}", String::from_utf8_lossy(bytes)))
    }

    /// Records the label (or exemplar label) whose name is at `name` and whose quoted value
    /// (quotes included) is at `quoted`, after checking the value is UTF-8.
    fn push_label(&mut self, exemplar: bool, name: (usize, usize), quoted: (usize, usize)) -> Result<(), String> {
        let value = (quoted.0 + 1, quoted.1 - 1);
        let bytes = self.buf.get(value.0..value.1).unwrap_or_default();
        if std::str::from_utf8(bytes).is_err() {
            let raw = self.buf.get(quoted.0..quoted.1).unwrap_or_default();
            return Err(format!("invalid UTF-8 label value: {:?}", String::from_utf8_lossy(raw)));
        }
        let span = LabelSpan { name, value };
        if exemplar {
            self.exemplar_labels.push(span)
        } else {
            self.labels.push(span)
        }
        Ok(())
    }

    /// The page text at `start..end` as `&str` when it is UTF-8 (names always are).
    fn text_at(&self, start: usize, end: usize) -> Option<&'a str> {
        std::str::from_utf8(self.buf.get(start..end)?).ok()
    }

    /// A help text: checked to be UTF-8, escapes resolved (copying only when there are any).
    fn help_text(&self, bytes: &'a [u8], escapes: Escapes) -> Result<Cow<'a, str>, String> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| format!("help text {:?} is not a valid utf8 string", String::from_utf8_lossy(bytes)))?;
        if !text.contains('\\') {
            return Ok(Cow::Borrowed(text));
        }
        let mut out = String::new();
        lex::unescape(text, escapes, &mut out);
        Ok(Cow::Owned(out))
    }

    /// Fails the page at offset `at` of the line starting at `line_start` with `msg`.
    fn fail(&self, line_start: usize, at: usize, msg: String) -> ParseError {
        let upto = at.min(self.buf.len());
        let extra = self.buf.get(line_start..upto).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count());
        ParseError { line: self.line + extra, msg }
    }

    /// Fails with Prometheus's `<expected>, got <text> (<TOKEN>) while parsing: <line>`.
    fn expected(&self, line_start: usize, what: &str, ctx: Ctx, at: usize) -> ParseError {
        let (token, len) = lex::classify(self.format, ctx, self.buf, at);
        let end = (at + len).min(self.buf.len());
        let got = self.buf.get(at..end).map(String::from_utf8_lossy).unwrap_or_default();
        let context = self.context(line_start, end);
        self.fail(line_start, at, format!("{what}, got {got:?} ({token:?}) while parsing: {context:?}"))
    }

    /// The page from `line_start` up to `end`, shortened to its last 120 bytes if longer.
    fn context(&self, line_start: usize, end: usize) -> String {
        let end = end.min(self.buf.len());
        let start = line_start.min(end).max(end.saturating_sub(120));
        let text = String::from_utf8_lossy(self.buf.get(start..end).unwrap_or_default());
        if start > line_start { format!("...{text}") } else { text.into_owned() }
    }

    /// Starts recording a new series whose name spans `name_start..name_end`.
    fn begin_series(&mut self, name_start: usize, name_end: usize) {
        self.series_line = self.line;
        self.name_start = name_start;
        self.name_end = name_end;
        self.labels.clear();
        self.exemplar_labels.clear();
        self.exemplar_ts = None;
    }
}
