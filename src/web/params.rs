//! Request parameters as Prometheus reads them: form values from a urlencoded POST body first,
//! then from the URL's query string (Go's `r.Form`), times as unix float seconds or RFC 3339,
//! durations as float seconds or Prometheus durations, and `match[]` series selectors.

use crate::model::Matcher;
use crate::model::duration::parse_duration;
use crate::promql::{Expr, ParserOptions, parse_expr};
use axum::http::StatusCode;
use std::fmt;

/// The smallest time the API accepts or defaults to (ms): Prometheus's `minTime`, the
/// earliest instant Go can format (`math.MinInt64/1000 + 62135596801` seconds).
pub const MIN_TIME_MS: i64 = (i64::MIN / 1000 + 62_135_596_801) * 1000;
/// The largest time the API accepts or defaults to (ms): Prometheus's `maxTime`.
pub const MAX_TIME_MS: i64 = (i64::MAX / 1000 - 62_135_596_801) * 1000 + 999;

/// Prometheus's `errorType`, which also fixes the HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    /// `bad_data`: 400.
    BadData,
    /// `execution`: 422.
    Execution,
    /// `timeout`: 503.
    Timeout,
    /// `canceled`: 503.
    Canceled,
    /// `internal`: 500.
    Internal,
    /// `unavailable`: 503.
    Unavailable,
    /// `not_found`: 404.
    NotFound,
}

impl ErrorType {
    /// The `errorType` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::Canceled => "canceled",
            ErrorType::Internal => "internal",
            ErrorType::Unavailable => "unavailable",
            ErrorType::NotFound => "not_found",
        }
    }

    /// The HTTP status Prometheus answers with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Timeout | ErrorType::Canceled | ErrorType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::NotFound => StatusCode::NOT_FOUND,
        }
    }

    /// The type for an engine error type string (`QueryError::error_type`).
    pub fn from_engine(s: &str) -> ErrorType {
        match s {
            "bad_data" => ErrorType::BadData,
            "execution" => ErrorType::Execution,
            "timeout" => ErrorType::Timeout,
            "canceled" => ErrorType::Canceled,
            "not_found" => ErrorType::NotFound,
            "unavailable" => ErrorType::Unavailable,
            _ => ErrorType::Internal,
        }
    }
}

/// An API error: its type and message.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// The error type.
    pub typ: ErrorType,
    /// The message (`error` in the JSON).
    pub msg: String,
}

impl ApiError {
    /// A `bad_data` error.
    pub fn bad_data(msg: impl Into<String>) -> Self {
        ApiError { typ: ErrorType::BadData, msg: msg.into() }
    }

    /// An error of type `typ`.
    pub fn new(typ: ErrorType, msg: impl fmt::Display) -> Self {
        ApiError { typ, msg: msg.to_string() }
    }

    /// Prometheus's `invalid parameter "<name>": <err>` (`bad_data`).
    pub fn invalid_param(name: &str, err: impl fmt::Display) -> Self {
        ApiError::bad_data(format!("invalid parameter \"{name}\": {err}"))
    }
}

/// The most form values one request may carry; more is a `bad_data` error rather than
/// unbounded work.
pub const MAX_PARAMS: usize = 10_000;

/// A request's form values in Go's `r.Form` order: body values first, then the query string.
#[derive(Clone, Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses the query string and (when given) a urlencoded body.
    pub fn parse(query: Option<&str>, body: Option<&[u8]>) -> Result<Params, ApiError> {
        let mut pairs = Vec::new();
        for src in [body, query.map(str::as_bytes)].into_iter().flatten() {
            for (k, v) in form_urlencoded::parse(src) {
                if pairs.len() >= MAX_PARAMS {
                    return Err(ApiError::bad_data("error parsing form values: too many parameters"));
                }
                pairs.push((k.into_owned(), v.into_owned()));
            }
        }
        Ok(Params { pairs })
    }

    /// Params from `(name, value)` pairs (tests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Params {
        Params { pairs: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
    }

    /// The first value of `name`, or `""` as Go's `FormValue`.
    pub fn get(&self, name: &str) -> &str {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    /// The time parameter `name` (ms), or `default` when absent or empty. Errors as
    /// Prometheus's `parseTimeParam`.
    pub fn time_or(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        let v = self.get(name);
        if v.is_empty() {
            return Ok(default);
        }
        parse_time(v).map_err(|e| ApiError::invalid_param(name, format!("Invalid time value for '{name}': {e}")))
    }

    /// The required time parameter `name` (ms), as Prometheus's `parseTime` on a form value.
    pub fn time(&self, name: &str) -> Result<i64, ApiError> {
        parse_time(self.get(name)).map_err(|e| ApiError::invalid_param(name, e))
    }

    /// The optional `limit` parameter: `None` when absent or zero, an error when not a
    /// non-negative integer.
    pub fn limit(&self) -> Result<Option<usize>, ApiError> {
        let v = self.get("limit");
        if v.is_empty() {
            return Ok(None);
        }
        match v.parse::<i64>() {
            Ok(n) if n < 0 => Err(ApiError::invalid_param("limit", "limit must be non-negative")),
            Ok(0) => Ok(None),
            Ok(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
            Err(_) => Err(ApiError::invalid_param("limit", "cannot parse \"".to_string() + v + "\" to a valid limit")),
        }
    }
}

/// Parses a time as Prometheus's API does: unix seconds as a float (rounded to the
/// millisecond) or RFC 3339 with an optional fraction. Returns milliseconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let err = || format!("cannot parse \"{s}\" to a valid timestamp");
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() {
            return Err(err());
        }
        let secs = f.trunc();
        let ms = ((f - secs) * 1000.0).round();
        let total = secs * 1000.0 + ms;
        if !(MIN_TIME_MS as f64..=MAX_TIME_MS as f64).contains(&total) {
            return Err(err());
        }
        return Ok(secs as i64 * 1000 + ms as i64);
    }
    parse_rfc3339(s).ok_or_else(err)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` to milliseconds (the fraction is
/// truncated to milliseconds, as Prometheus's `timestamp.FromTime`).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let d = b.get(from..from + len)?;
        if !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(d.iter().fold(0i64, |a, c| a * 10 + i64::from(c - b'0')))
    };
    let sep = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, min, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) || hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let mut i = 19;
    let mut frac_ms = 0i64;
    if sep(i, b'.') || sep(i, b',') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = &b[start..i];
        if digits.is_empty() || digits.len() > 9 {
            return None;
        }
        for k in 0..3 {
            frac_ms = frac_ms * 10 + digits.get(k).map_or(0, |c| i64::from(c - b'0'));
        }
    }
    let offset_s = match b.get(i) {
        Some(b'Z') if i + 1 == b.len() => 0,
        Some(&c @ (b'+' | b'-')) if i + 6 == b.len() && sep(i + 3, b':') => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if c == b'+' { o } else { -o }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_s;
    Some(secs * 1000 + frac_ms)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses a duration as Prometheus's API does: float seconds or a Prometheus duration
/// (`5m`, `1h30m`). Returns milliseconds (truncated).
pub fn parse_duration_param(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>() {
        let ns = f * 1e9;
        if !ns.is_finite() || ns > i64::MAX as f64 || ns < i64::MIN as f64 {
            return Err(format!("cannot parse \"{s}\" to a valid duration. It overflows int64"));
        }
        return Ok((ns / 1e6).trunc() as i64);
    }
    parse_duration(s).map_err(|_| format!("cannot parse \"{s}\" to a valid duration"))
}

/// Parses a series selector (`up{job="a"}`, `{__name__=~"x.*"}`) into its matchers.
pub fn parse_metric_selector(s: &str) -> Result<Vec<Matcher>, String> {
    match parse_expr(s, &ParserOptions::default()) {
        Ok(Expr::VectorSelector(vs)) if vs.offset.is_none() && vs.at.is_none() => Ok(vs.matchers),
        Ok(_) => Err("1:1: parse error: expected a series selector".to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Parses every `match[]` value; each set must have a matcher that does not match the empty
/// string (Prometheus's `parseMatchersParam`).
pub fn parse_matchers(values: &[&str]) -> Result<Vec<Vec<Matcher>>, String> {
    let mut sets = Vec::with_capacity(values.len());
    for v in values {
        // The PromQL parser already refuses selectors without a non-empty matcher; report
        // that with the API's wording.
        let ms = parse_metric_selector(v).map_err(|e| {
            if e.ends_with("vector selector must contain at least one non-empty matcher") {
                "match[] must contain at least one non-empty matcher".to_string()
            } else {
                e
            }
        })?;
        if ms.iter().all(|m| m.matches("")) {
            return Err("match[] must contain at least one non-empty matcher".into());
        }
        sets.push(ms);
    }
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_prometheus() {
        let cases: &[(&str, Option<i64>)] = &[
            ("0", Some(0)),
            ("1435781451.781", Some(1_435_781_451_781)),
            ("1.5", Some(1500)),
            ("-1.5", Some(-1500)),
            ("1e3", Some(1_000_000)),
            ("2015-07-01T20:10:51.781Z", Some(1_435_781_451_781)),
            ("2015-07-01T20:10:51Z", Some(1_435_781_451_000)),
            ("2015-07-01T22:10:51.7819+02:00", Some(1_435_781_451_781)),
            ("1970-01-01T00:00:00-01:30", Some(5_400_000)),
            ("2000-02-29T00:00:00Z", Some(951_782_400_000)),
            ("1969-12-31T23:59:59Z", Some(-1000)),
            ("2001-02-29T00:00:00Z", None),
            ("2015-07-01 20:10:51Z", None),
            ("2015-07-01T20:10:51", None),
            ("2015-07-01T20:10:51.Z", None),
            ("", None),
            ("abc", None),
            ("NaN", None),
            ("Inf", None),
            ("1e300", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_time(s).ok(), *want, "{s:?}");
        }
        assert_eq!(parse_time("x").unwrap_err(), "cannot parse \"x\" to a valid timestamp");
    }

    #[test]
    fn min_max_times_are_prometheus_bounds() {
        // Go: time.Unix(math.MinInt64/1000+62135596801, 0) and
        // time.Unix(math.MaxInt64/1000-62135596801, 999999999), in milliseconds.
        assert_eq!(MIN_TIME_MS, -9_223_309_901_257_974_000);
        assert_eq!(MAX_TIME_MS, 9_223_309_901_257_974_999);
    }

    #[test]
    fn durations_parse_as_prometheus() {
        let cases: &[(&str, Option<i64>)] = &[
            ("15", Some(15_000)),
            ("0.5", Some(500)),
            ("1m", Some(60_000)),
            ("1h30m", Some(5_400_000)),
            ("-1", Some(-1000)),
            ("1e30", None),
            ("abc", None),
            ("", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_duration_param(s).ok(), *want, "{s:?}");
        }
    }

    #[test]
    fn form_values_body_first_then_query() {
        let p = Params::parse(Some("a=1&match%5B%5D=x&b=%20y"), Some(b"a=2&match[]=z")).unwrap();
        assert_eq!(p.get("a"), "2");
        assert_eq!(p.get("b"), " y");
        assert_eq!(p.get("missing"), "");
        assert_eq!(p.all("match[]"), vec!["z", "x"]);
    }

    #[test]
    fn matchers_need_a_non_empty_matcher() {
        assert_eq!(parse_matchers(&["up{job=\"a\"}"]).unwrap()[0].len(), 2);
        assert!(parse_matchers(&["{job=~\".*\"}"]).is_err());
        assert!(parse_matchers(&["up + 1"]).is_err());
        assert!(parse_matchers(&["up{"]).unwrap_err().contains("parse error"));
    }

    #[test]
    fn limit_parses() {
        assert_eq!(Params::from_pairs(&[]).limit().unwrap(), None);
        assert_eq!(Params::from_pairs(&[("limit", "5")]).limit().unwrap(), Some(5));
        assert_eq!(Params::from_pairs(&[("limit", "0")]).limit().unwrap(), None);
        assert!(Params::from_pairs(&[("limit", "-1")]).limit().is_err());
        assert!(Params::from_pairs(&[("limit", "x")]).limit().is_err());
    }
}
