//! Exposition-format parsers: Prometheus text 0.0.4 and OpenMetrics 1.0 text, working on the
//! scraped bytes without copying them.
//!
//! Principal items: [`Parser`] (pull parser: [`Parser::next`] yields [`Entry`]s borrowing
//! from the page), [`Format`] (chosen from the response's `Content-Type`), [`ParseError`]
//! (names the line).
//!
//! The scrape loop keys its series cache on [`Entry::Series`]'s raw `series` bytes and asks
//! for [`Parser::labels`] only on a cache miss, so a steady scrape allocates almost nothing.
//!
//! SKELETON: the contract below is implemented by the exposition helper.

use crate::model::Labels;
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
    pub fn from_content_type(content_type: Option<&str>) -> Format {
        match content_type {
            Some(ct) if ct.trim_start().starts_with("application/openmetrics-text") => Format::OpenMetrics,
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

/// A pull parser over one page.
pub struct Parser<'a> {
    buf: &'a [u8],
    format: Format,
}

impl<'a> Parser<'a> {
    /// A parser over `buf` in `format`.
    pub fn new(buf: &'a [u8], format: Format) -> Parser<'a> {
        Parser { buf, format }
    }

    /// The next entry; `Ok(None)` at the end of the page (after `# EOF` for OpenMetrics,
    /// where a missing `# EOF` is an error).
    #[allow(clippy::should_implement_trait)] // Borrowing entries with an error channel: not an Iterator.
    pub fn next(&mut self) -> Result<Option<Entry<'a>>, ParseError> {
        let _ = (self.buf, self.format);
        Err(ParseError { line: 1, msg: "exposition parser not built yet".into() })
    }

    /// The labels (with `__name__`) of the last [`Entry::Series`], validated and sorted.
    pub fn labels(&self) -> Result<Labels, ParseError> {
        Err(ParseError { line: 1, msg: "exposition parser not built yet".into() })
    }

    /// The exemplar of the last [`Entry::Series`], if it had one.
    pub fn exemplar(&self) -> Option<Exemplar> {
        None
    }
}
