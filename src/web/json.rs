//! JSON as Prometheus writes it: a tiny value tree with Go's string escaping, sample values
//! as `strconv.FormatFloat(f, 'f', -1, 64)` strings, and timestamps as seconds with the
//! millisecond fraction written out (`1435781451.781`, `1.500`).
//!
//! We write JSON ourselves rather than through `serde_json` so that object keys keep
//! Prometheus's order and strings are escaped byte for byte as Go's `encoding/json` does
//! (`<`, `>`, `&`, U+2028 and U+2029 as `\u` escapes).

use crate::model::Labels;
use crate::promql::engine::Value;
use std::fmt::Write;

/// A JSON value with ordered object keys.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, already rendered.
    Num(String),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, keys in the order given.
    Obj(Vec<(String, Json)>),
    /// Pre-rendered JSON text (for large query results written straight into a buffer).
    Raw(String),
}

impl Json {
    /// An object from `(key, value)` pairs.
    pub fn obj<K: Into<String>>(pairs: Vec<(K, Json)>) -> Json {
        Json::Obj(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A string value.
    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    /// An integer value.
    pub fn int(n: impl Into<i128>) -> Json {
        Json::Num(n.into().to_string())
    }

    /// A float value as Go's `encoding/json` writes a `float64` (no exponent for ordinary
    /// magnitudes); non-finite values become `null` (Go would refuse to encode them).
    pub fn float(f: f64) -> Json {
        if f.is_finite() { Json::Num(format!("{f}")) } else { Json::Null }
    }

    /// An array of strings.
    pub fn strs<S: AsRef<str>>(items: &[S]) -> Json {
        Json::Arr(items.iter().map(|s| Json::str(s.as_ref())).collect())
    }

    /// Appends the rendered value to `out`.
    pub fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n) => out.push_str(n),
            Json::Str(s) => write_str(out, s),
            Json::Raw(r) => out.push_str(r),
            Json::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Json::Obj(pairs) => {
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(out, k);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }

    /// The rendered value.
    pub fn render(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }
}

/// Appends `s` as a JSON string escaped as Go's `encoding/json` escapes it.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Formats a sample value as Go's `strconv.FormatFloat(f, 'f', -1, 64)`: the shortest digits
/// that round-trip, never an exponent, and `+Inf`, `-Inf`, `NaN`.
pub fn format_value(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        // Rust's `Display` for floats prints the shortest round-tripping digits without an
        // exponent, which is exactly Go's 'f' format with precision -1.
        format!("{f}")
    }
}

/// Appends a millisecond timestamp as seconds, as Prometheus writes it: the integer part, and
/// the millisecond fraction as three digits when it is not zero (`1.5` s is `1.500`).
pub fn write_timestamp(out: &mut String, t_ms: i64) {
    if t_ms < 0 {
        out.push('-');
    }
    let t = t_ms.unsigned_abs();
    let _ = write!(out, "{}", t / 1000);
    let frac = t % 1000;
    if frac != 0 {
        let _ = write!(out, ".{frac:03}");
    }
}

/// Appends a label set as a JSON object, labels in their (sorted) order.
pub fn write_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, &l.name);
        out.push(':');
        write_str(out, &l.value);
    }
    out.push('}');
}

fn write_point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    write_timestamp(out, t);
    out.push(',');
    write_str(out, &format_value(v));
    out.push(']');
}

/// The `resultType` name of a value.
pub fn result_type(v: &Value) -> &'static str {
    match v {
        Value::Scalar { .. } => "scalar",
        Value::String { .. } => "string",
        Value::Vector(_) => "vector",
        Value::Matrix(_) => "matrix",
    }
}

/// Appends a query result as the `result` member of Prometheus's query data.
pub fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Scalar { t, v } => write_point(out, *t, *v),
        Value::String { t, s } => {
            out.push('[');
            write_timestamp(out, *t);
            out.push(',');
            write_str(out, s);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push('[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(out, &s.metric);
                out.push_str(",\"value\":");
                write_point(out, s.t, s.f);
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push('[');
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(out, &s.metric);
                out.push_str(",\"values\":[");
                for (j, &(t, f)) in s.floats.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    write_point(out, t, f);
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::engine::{Sample, Series};
    use std::sync::Arc;

    #[test]
    fn values_format_like_go_format_float_f_minus_one() {
        // Expected strings are what Go's strconv.FormatFloat(f, 'f', -1, 64) prints.
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1e21, "1000000000000000000000"),
            (1.5e-7, "0.00000015"),
            (123456789.125, "123456789.125"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (-0.0, "-0"),
            (0.30000000000000004, "0.30000000000000004"),
        ];
        for (f, want) in cases {
            assert_eq!(format_value(*f), *want, "value {f:?}");
        }
    }

    #[test]
    fn timestamps_as_seconds_with_millisecond_fraction() {
        let cases: &[(i64, &str)] = &[
            (1435781451781, "1435781451.781"),
            (1000, "1"),
            (1500, "1.500"),
            (1005, "1.005"),
            (0, "0"),
            (-1500, "-1.500"),
            (-5, "-0.005"),
            (i64::MIN, "-9223372036854775.808"),
        ];
        for (t, want) in cases {
            let mut s = String::new();
            write_timestamp(&mut s, *t);
            assert_eq!(s, *want, "timestamp {t}");
        }
    }

    #[test]
    fn strings_escape_like_go_encoding_json() {
        let cases: &[(&str, &str)] = &[
            ("plain", r#""plain""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("<a&b>", r#""\u003ca\u0026b\u003e""#),
            ("\n\t\r\u{1}", r#""\n\t\r\u0001""#),
            ("\u{2028}é", "\"\\u2028é\""),
        ];
        for (input, want) in cases {
            let mut s = String::new();
            write_str(&mut s, input);
            assert_eq!(s, *want);
        }
    }

    #[test]
    fn query_values_render_as_prometheus() {
        let m = Arc::new(Labels::from_pairs(&[("__name__", "up"), ("job", "a")]).unwrap());
        let cases: Vec<(Value, &str)> = vec![
            (Value::Scalar { t: 4000, v: 2.0 }, r#"[4,"2"]"#),
            (Value::String { t: 1001, s: "x".into() }, r#"[1.001,"x"]"#),
            (
                Value::Vector(vec![Sample { metric: m.clone(), t: 10_000, f: 1.0, drop_name: false }]),
                r#"[{"metric":{"__name__":"up","job":"a"},"value":[10,"1"]}]"#,
            ),
            (
                Value::Matrix(vec![Series { metric: m, floats: vec![(0, f64::NAN), (15_000, 0.5)], drop_name: false }]),
                r#"[{"metric":{"__name__":"up","job":"a"},"values":[[0,"NaN"],[15,"0.5"]]}]"#,
            ),
            (Value::Vector(vec![]), "[]"),
        ];
        for (v, want) in cases {
            let mut s = String::new();
            write_value(&mut s, &v);
            assert_eq!(s, want);
        }
    }

    #[test]
    fn json_tree_keeps_key_order() {
        let j = Json::obj(vec![
            ("b", Json::int(1)),
            ("a", Json::Arr(vec![Json::Null, Json::Bool(true), Json::float(0.5)])),
            ("c", Json::strs(&["x"])),
        ]);
        assert_eq!(j.render(), r#"{"b":1,"a":[null,true,0.5],"c":["x"]}"#);
    }
}
