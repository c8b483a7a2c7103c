//! Prometheus durations (`5m`, `1h30m`, `1y`): parsing and formatting.
//!
//! The grammar is that of Prometheus' `model.ParseDuration` (prometheus/common): one or more
//! `<integer><unit>` parts with units `y` (365 days), `w` (7 days), `d`, `h`, `m`, `s`, `ms`,
//! each unit at most once and in decreasing order; or a lone `0`. No sign, no fractions, no
//! spaces. Like Go's, the total must fit in `i64` nanoseconds (about 292 years), so every
//! parsed duration also fits in `i64` milliseconds.

/// A duration that failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid duration string: {0:?}")]
pub struct DurationError(pub String);

/// Units from the largest down, with their length in milliseconds.
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// The largest total Go accepts, in milliseconds: `i64::MAX` nanoseconds, rounded down.
pub const MAX_DURATION_MS: i64 = i64::MAX / 1_000_000;

/// Parses a Prometheus duration into milliseconds.
///
/// Errors (carrying the input) on the empty string, a missing or unknown unit, a unit that
/// repeats or comes after a smaller one (`30m1h`), any other character (signs, spaces, `.`),
/// and totals over [`MAX_DURATION_MS`]. The result is never negative.
pub fn parse_duration(s: &str) -> Result<i64, DurationError> {
    let err = || DurationError(s.to_string());
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(err());
    }
    let mut rest = s;
    // Index into `UNITS` the next unit must come after; units must strictly decrease.
    let mut next_unit = 0;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err());
        }
        let value: u64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        // The unit runs to the next digit (or the end), so `5mx` is the unknown unit `mx`.
        let unit_len = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let Some(index) = UNITS.iter().position(|&(name, _)| name == unit) else {
            return Err(err());
        };
        if index < next_unit {
            return Err(err());
        }
        next_unit = index + 1;
        total = value
            .checked_mul(UNITS[index].1)
            .and_then(|ms| total.checked_add(ms))
            .filter(|&t| t <= MAX_DURATION_MS as u64)
            .ok_or_else(err)?;
    }
    // `total` is at most `MAX_DURATION_MS`, so it fits.
    i64::try_from(total).map_err(|_| err())
}

/// Formats milliseconds as Prometheus does (`1h30m`, `0s`).
///
/// Units go from years down to milliseconds, leaving out zero parts. As in current
/// prometheus/common, years and weeks are only used when they divide the remainder exactly,
/// so 8 days is `8d` and 14 days `2w`. Negative values get a leading `-` (which
/// [`parse_duration`] does not accept). For `0 <= ms <= MAX_DURATION_MS`,
/// `parse_duration(&format_duration(ms)) == Ok(ms)`.
pub fn format_duration(ms: i64) -> String {
    use std::fmt::Write as _;
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
    }
    let mut left = ms.unsigned_abs();
    for (i, &(name, len)) in UNITS.iter().enumerate() {
        // Years and weeks only when exact: "90d" reads better than "12w6d".
        if i < 2 && !left.is_multiple_of(len) {
            continue;
        }
        let n = left / len;
        if n > 0 {
            let _ = write!(out, "{n}{name}");
            left -= n * len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: i64 = 1_000;
    const M: i64 = 60 * S;
    const H: i64 = 60 * M;
    const D: i64 = 24 * H;

    #[test]
    fn parse_table() {
        let ok: &[(&str, i64)] = &[
            ("0", 0),
            ("0s", 0),
            ("0ms", 0),
            ("1ms", 1),
            ("1s", S),
            ("5m", 5 * M),
            ("1h30m", H + 30 * M),
            ("1h0m", H),
            ("01h", H),
            ("1d", D),
            ("1w", 7 * D),
            ("1y", 365 * D),
            ("1y2w3d4h5m6s7ms", 365 * D + 14 * D + 3 * D + 4 * H + 5 * M + 6 * S + 7),
            ("90s", 90 * S),
            ("1500ms", 1_500),
            ("292y", 292 * 365 * D),
            ("9223372036854ms", MAX_DURATION_MS),
        ];
        for &(s, want) in ok {
            assert_eq!(parse_duration(s), Ok(want), "{s:?}");
        }
        let bad = [
            "",
            "30m1h",
            "1h1h",
            "1m1ms1s",
            "1.5h",
            "-1h",
            "+1h",
            "1",
            "00",
            "h",
            "1 h",
            " 1h",
            "1h ",
            "1H",
            "1M",
            "1µs",
            "1us",
            "1ns",
            "1mx",
            "1sm",
            "293y",
            "9223372036855ms",
            "99999999999999999999s",
            "1y1y",
            "1d1w",
        ];
        for s in bad {
            assert_eq!(parse_duration(s), Err(DurationError(s.to_string())), "{s:?}");
        }
    }

    #[test]
    fn format_table() {
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (1, "1ms"),
            (1_500, "1s500ms"),
            (90 * S, "1m30s"),
            (90 * M, "1h30m"),
            (D, "1d"),
            (7 * D, "1w"),
            (8 * D, "8d"), // weeks only when exact
            (14 * D, "2w"),
            (90 * D, "90d"),
            (365 * D, "1y"),
            (366 * D, "366d"), // years only when exact
            (730 * D, "2y"),
            (365 * D + H, "365d1h"),
            (D + H + M + S + 1, "1d1h1m1s1ms"),
            (-90 * M, "-1h30m"),
        ];
        for &(ms, want) in cases {
            assert_eq!(format_duration(ms), want, "{ms}");
        }
        // No panic at the extremes.
        assert!(format_duration(i64::MIN).starts_with('-'));
        assert!(!format_duration(i64::MAX).is_empty());
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(ms in 0..=MAX_DURATION_MS) {
            prop_assert_eq!(parse_duration(&format_duration(ms)), Ok(ms));
        }

        #[test]
        fn round_trips_on_whole_units(n in 0i64..10_000, unit in 0usize..7) {
            let ms = n * UNITS[unit].1 as i64;
            prop_assume!(ms <= MAX_DURATION_MS);
            prop_assert_eq!(parse_duration(&format_duration(ms)), Ok(ms));
        }

        #[test]
        fn parse_never_panics(s in "[0-9a-z.µ -]{0,12}") {
            if let Ok(ms) = parse_duration(&s) {
                prop_assert!((0..=MAX_DURATION_MS).contains(&ms));
            }
        }
    }
}
