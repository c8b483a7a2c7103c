//! Prometheus durations (`5m`, `1h30m`, `1y`): parsing and formatting.
//!
//! OWNER: helper "model-regex" fills this file in. The public API below is fixed.

/// A duration that failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid duration string: {0:?}")]
pub struct DurationError(pub String);

/// Parses a Prometheus duration into milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, DurationError> {
    Err(DurationError(s.to_string()))
}

/// Formats milliseconds as Prometheus does (`1h30m`, `0s`).
pub fn format_duration(ms: i64) -> String {
    format!("{ms}ms")
}
