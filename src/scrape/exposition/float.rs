//! Number syntax as Prometheus reads it: Go's `strconv.ParseFloat` restricted to the pre-Go
//! 1.13 forms (no hex floats, no `_` digit separators), and `strconv.ParseInt` for the text
//! format's millisecond timestamps.
//!
//! Go accepts an optional sign, decimal digits with at most one `.`, an optional exponent
//! (`e`/`E`, optional sign, at least one digit), `inf`/`infinity` in any case with an optional
//! sign, and `nan` in any case without a sign. A finite literal too large for an `f64` is an
//! error (`value out of range`); one too small becomes zero. Prometheus refuses any number
//! containing `p`, `P` or `_` before Go sees it (`unsupported character in float`), which
//! rules out every hex float because Go needs the `p` exponent for them.

use std::fmt;

/// The bit pattern Prometheus stores for every NaN it parses (`value.NormalNaN`), so a scraped
/// NaN can never be mistaken for the stale marker.
pub(crate) const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// Why a number was refused, worded as Prometheus (and Go's `strconv`) word it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumberError {
    /// A `p`, `P` or `_`: Go would accept some of these, Prometheus does not.
    Unsupported,
    /// Not a number at all.
    Syntax,
    /// A finite literal beyond the type's range.
    Range,
}

/// A [`NumberError`] together with the text it was about, displayed like Go's errors.
pub(crate) struct NumberErrorText<'t> {
    /// The function Go would name (`ParseFloat` or `ParseInt`).
    pub func: &'static str,
    /// The refused text.
    pub text: &'t [u8],
    /// What was wrong.
    pub err: NumberError,
}

impl fmt::Display for NumberErrorText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = String::from_utf8_lossy(self.text);
        match self.err {
            NumberError::Unsupported => f.write_str("unsupported character in float"),
            NumberError::Syntax => write!(f, "strconv.{}: parsing {:?}: invalid syntax", self.func, text),
            NumberError::Range => write!(f, "strconv.{}: parsing {:?}: value out of range", self.func, text),
        }
    }
}

/// Parses a sample value, exemplar value or OpenMetrics timestamp as Prometheus does. NaN
/// comes back with the [`NORMAL_NAN_BITS`] pattern.
pub(crate) fn parse_float(s: &[u8]) -> Result<f64, NumberError> {
    if s.iter().any(|&b| matches!(b, b'p' | b'P' | b'_')) {
        return Err(NumberError::Unsupported);
    }
    let (negative, body) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        return Ok(if negative { f64::NEG_INFINITY } else { f64::INFINITY });
    }
    if s.eq_ignore_ascii_case(b"nan") {
        return Ok(f64::from_bits(NORMAL_NAN_BITS));
    }
    // What is left must be a decimal literal. Rust's grammar for those is Go's, but Rust also
    // takes the special words with signs Go refuses (`+nan`), so only digits and the decimal
    // punctuation are let through.
    if body.is_empty() || !body.iter().all(|&b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')) {
        return Err(NumberError::Syntax);
    }
    // The check above leaves only ASCII, so this conversion cannot fail.
    let text = std::str::from_utf8(s).map_err(|_| NumberError::Syntax)?;
    let v: f64 = text.parse().map_err(|_| NumberError::Syntax)?;
    if v.is_infinite() {
        return Err(NumberError::Range);
    }
    Ok(v)
}

/// Parses a run of ASCII digits (the text format's timestamp token) as a signed 64-bit
/// integer.
pub(crate) fn parse_int(digits: &[u8]) -> Result<i64, NumberError> {
    if digits.is_empty() {
        return Err(NumberError::Syntax);
    }
    let mut v: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return Err(NumberError::Syntax);
        }
        v = v.checked_mul(10).and_then(|v| v.checked_add(i64::from(b - b'0'))).ok_or(NumberError::Range)?;
    }
    Ok(v)
}

/// Converts an OpenMetrics timestamp in seconds to milliseconds as Prometheus 2.42 does:
/// multiply by 1000 and truncate toward zero (so `1.001` becomes 1000, because 1.001 is
/// slightly below itself in binary). Values beyond the `i64` range saturate.
pub(crate) fn seconds_to_ms(seconds: f64) -> i64 {
    (seconds * 1000.0) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_go_and_prometheus_read_them() {
        // Expected values follow Go's strconv.ParseFloat rules stated in the module docs.
        let ok: &[(&str, f64)] = &[
            ("1", 1.0),
            ("-1.5", -1.5),
            ("+2", 2.0),
            ("1.", 1.0),
            (".5", 0.5),
            ("-.5e1", -5.0),
            ("1e3", 1000.0),
            ("1E+03", 1000.0),
            ("007", 7.0),
            ("4.9351e-05", 4.9351e-05),
            ("1e-400", 0.0),
            ("Inf", f64::INFINITY),
            ("+inf", f64::INFINITY),
            ("-Inf", f64::NEG_INFINITY),
            ("INFINITY", f64::INFINITY),
            ("-infinity", f64::NEG_INFINITY),
        ];
        for (text, want) in ok {
            assert_eq!(parse_float(text.as_bytes()), Ok(*want), "{text}");
        }
        for nan in ["NaN", "nan", "NAN"] {
            assert_eq!(parse_float(nan.as_bytes()).map(f64::to_bits), Ok(NORMAL_NAN_BITS), "{nan}");
        }
        let bad: &[(&str, NumberError)] = &[
            ("", NumberError::Syntax),
            ("-", NumberError::Syntax),
            (".", NumberError::Syntax),
            ("1e", NumberError::Syntax),
            ("1e+", NumberError::Syntax),
            ("e5", NumberError::Syntax),
            ("1.2.3", NumberError::Syntax),
            ("--1", NumberError::Syntax),
            ("+nan", NumberError::Syntax),
            ("-NaN", NumberError::Syntax),
            ("infinit", NumberError::Syntax),
            ("infx", NumberError::Syntax),
            ("true", NumberError::Syntax),
            ("0x10", NumberError::Syntax),
            ("1\t2", NumberError::Syntax),
            ("1 ", NumberError::Syntax),
            ("١", NumberError::Syntax),
            ("0x1p-3", NumberError::Unsupported),
            ("0x1P-3", NumberError::Unsupported),
            ("1_000", NumberError::Unsupported),
            ("1e400", NumberError::Range),
            ("-1e400", NumberError::Range),
            ("1.7976931348623159e308", NumberError::Range),
        ];
        for (text, want) in bad {
            assert_eq!(parse_float(text.as_bytes()), Err(*want), "{text}");
        }
    }

    #[test]
    fn ints_and_millisecond_conversion() {
        assert_eq!(parse_int(b"0"), Ok(0));
        assert_eq!(parse_int(b"9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_int(b"9223372036854775808"), Err(NumberError::Range));
        assert_eq!(parse_int(b""), Err(NumberError::Syntax));
        assert_eq!(parse_int(b"1a"), Err(NumberError::Syntax));
        // 1520879607.789 is 1520879607.78900003... in binary; times 1000 rounds to an integer.
        assert_eq!(seconds_to_ms(1520879607.789), 1_520_879_607_789);
        // 1.001 is 1.00099999999999988987... in binary: Prometheus truncates to 1000.
        assert_eq!(seconds_to_ms(1.001), 1000);
        assert_eq!(seconds_to_ms(-0.5), -500);
        assert_eq!(seconds_to_ms(1e300), i64::MAX);
    }

    #[test]
    fn errors_read_like_go() {
        let e = NumberErrorText { func: "ParseFloat", text: b"1z", err: NumberError::Syntax };
        assert_eq!(e.to_string(), r#"strconv.ParseFloat: parsing "1z": invalid syntax"#);
        let e = NumberErrorText { func: "ParseInt", text: b"99999999999999999999", err: NumberError::Range };
        assert_eq!(e.to_string(), r#"strconv.ParseInt: parsing "99999999999999999999": value out of range"#);
        let e = NumberErrorText { func: "ParseFloat", text: b"1_2", err: NumberError::Unsupported };
        assert_eq!(e.to_string(), "unsupported character in float");
    }
}
