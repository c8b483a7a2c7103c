//! OTLP → Prometheus name translation with Prometheus 3's default strategy
//! (`UnderscoreEscapingWithSuffixes`): metric names get unit and type suffixes, metric and
//! label names are escaped to the classic character set, and attribute values are rendered as
//! the OpenTelemetry collector renders them (`pcommon.Value.AsString`).

use super::pb::otlp::common::v1::{AnyValue, any_value};
use base64::Engine as _;

/// What kind of metric a name is built for (the suffix rules depend on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameKind {
    /// A gauge (gets `_ratio` when the unit is `1`).
    Gauge,
    /// A monotonic sum (gets `_total`).
    Counter,
    /// Anything else: non-monotonic sums, histograms, summaries.
    Other,
}

/// UCUM units and their Prometheus names.
const UNITS: &[(&str, &str)] = &[
    ("d", "days"),
    ("h", "hours"),
    ("min", "minutes"),
    ("s", "seconds"),
    ("ms", "milliseconds"),
    ("us", "microseconds"),
    ("ns", "nanoseconds"),
    ("By", "bytes"),
    ("KiBy", "kibibytes"),
    ("MiBy", "mebibytes"),
    ("GiBy", "gibibytes"),
    ("TiBy", "tibibytes"),
    ("KBy", "kilobytes"),
    ("MBy", "megabytes"),
    ("GBy", "gigabytes"),
    ("TBy", "terabytes"),
    ("m", "meters"),
    ("V", "volts"),
    ("A", "amperes"),
    ("J", "joules"),
    ("W", "watts"),
    ("g", "grams"),
    ("Cel", "celsius"),
    ("Hz", "hertz"),
    ("1", ""),
    ("%", "percent"),
];

/// Units after a `/` and their singular names.
const PER_UNITS: &[(&str, &str)] =
    &[("s", "second"), ("m", "minute"), ("h", "hour"), ("d", "day"), ("w", "week"), ("mo", "month"), ("y", "year")];

fn lookup<'a>(table: &[(&str, &'a str)], key: &'a str) -> &'a str {
    table.iter().find(|(k, _)| *k == key).map_or(key, |(_, v)| v)
}

/// Characters a classic metric name keeps (besides `_`, which separates tokens).
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':'
}

/// A unit suffix reduced to name characters: others become `_`, runs of `_` collapse, and a
/// leading `_` goes.
fn clean_unit(unit: &str) -> String {
    let mut out = String::with_capacity(unit.len());
    for c in unit.chars() {
        let c = if is_name_char(c) { c } else { '_' };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out.trim_start_matches('_').to_string()
}

/// The main and "per" suffixes of a UCUM unit (`By/s` → `bytes`, `per_second`). Parts in
/// braces (`{request}`) are annotations and give no suffix.
fn unit_suffixes(unit: &str) -> (String, String) {
    let (main, per) = match unit.split_once('/') {
        Some((m, p)) => (m, Some(p)),
        None => (unit, None),
    };
    let main = main.trim();
    let main_suffix = if main.is_empty() || main.contains(['{', '}']) { String::new() } else { lookup(UNITS, main).to_string() };
    let per_suffix = match per.map(str::trim) {
        Some(p) if !p.is_empty() && !p.contains(['{', '}']) => format!("per_{}", lookup(PER_UNITS, p)),
        _ => String::new(),
    };
    (clean_unit(&main_suffix), clean_unit(&per_suffix))
}

/// The Prometheus name of an OTLP metric, or why it has none.
///
/// The name is split into tokens at every character other than `[a-zA-Z0-9:]` (so runs of
/// `_` and leading or trailing ones disappear); the unit's suffixes are appended unless a
/// token already equals them; counters end in `_total` and gauges with unit `1` in `_ratio`
/// (moved to the end if present elsewhere); a leading digit gets a `_` prefix.
pub(crate) fn metric_name(name: &str, unit: &str, kind: NameKind) -> Result<String, String> {
    let mut tokens: Vec<&str> = name.split(|c: char| !is_name_char(c)).filter(|t| !t.is_empty()).collect();
    let (main, per) = unit_suffixes(unit);
    let mut main = main.as_str();
    let mut per = per.trim_end_matches('_');
    if per == "per" || tokens.contains(&per) {
        per = "";
    }
    if tokens.contains(&main) {
        main = "";
    }
    if !per.is_empty() {
        main = main.trim_end_matches('_');
    }
    for suffix in [main, per] {
        if !suffix.is_empty() {
            tokens.push(suffix);
        }
    }
    if kind == NameKind::Counter {
        tokens.retain(|t| *t != "total");
        tokens.push("total");
    }
    if unit == "1" && kind == NameKind::Gauge {
        tokens.retain(|t| *t != "ratio");
        tokens.push("ratio");
    }
    let mut out = tokens.join("_");
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if out.is_empty() {
        return Err(format!("normalization for metric {name:?} resulted in empty name"));
    }
    Ok(out)
}

/// The Prometheus label name of an attribute key: characters other than `[a-zA-Z0-9_]`
/// become `_`; a leading digit gets `key_`, a single leading `_` gets `key` (`__` stays).
pub(crate) fn label_name(key: &str) -> Result<String, String> {
    if key.is_empty() {
        return Err("normalization for label name \"\" resulted in empty name".into());
    }
    let mut out: String = key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    } else if out.starts_with('_') && !out.starts_with("__") {
        out.insert_str(0, "key");
    }
    if out != key && out.chars().all(|c| c == '_') {
        return Err(format!("normalization for label name {key:?} resulted in invalid name {out:?}"));
    }
    Ok(out)
}

/// A float as Go's `strconv.FormatFloat(f, 'f', -1, 64)` prints it: the shortest decimal that
/// round-trips, never in exponent notation (`le` and `quantile` label values).
pub(crate) fn format_float_f(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        // Rust's `Display` for floats is the shortest round-trip decimal without exponent.
        format!("{f}")
    }
}

/// A float as the collector renders a double attribute (ES6 number-to-string, as
/// `encoding/json`): plain decimal between 1e-6 and 1e21, else exponent notation such as
/// `1e+21` or `1.5e-7`.
fn format_float_json(f: f64) -> String {
    if !f.is_finite() {
        // The collector renders these as an error text; keep Go's `g` spelling.
        return if f.is_nan() { "NaN".into() } else if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let abs = f.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        return format!("{f}");
    }
    // `{:e}` gives the shortest mantissa and a bare exponent ("1.5e-7", "1e21"); Go writes
    // the exponent with a sign and, for positive ones, at least two digits.
    let s = format!("{f:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    if sign == '+' && digits.len() < 2 { format!("{mantissa}e+0{digits}") } else { format!("{mantissa}e{sign}{digits}") }
}

fn json_value(v: &AnyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match &v.value {
        None => J::Null,
        Some(any_value::Value::StringValue(s)) => J::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => J::Bool(*b),
        Some(any_value::Value::IntValue(i)) => J::from(*i),
        Some(any_value::Value::DoubleValue(d)) => serde_json::Number::from_f64(*d).map_or(J::Null, J::Number),
        Some(any_value::Value::BytesValue(b)) => J::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Some(any_value::Value::ArrayValue(a)) => J::Array(a.values.iter().map(json_value).collect()),
        Some(any_value::Value::KvlistValue(kv)) => J::Object(
            kv.values.iter().map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(J::Null, json_value))).collect(),
        ),
    }
}

/// An attribute value as a label value: strings as they are, numbers and booleans in their
/// usual spelling, bytes in base64, arrays and maps as JSON, an empty value as "".
pub(crate) fn attribute_value(v: Option<&AnyValue>) -> String {
    let Some(v) = v else { return String::new() };
    match &v.value {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => format_float_json(*d),
        Some(any_value::Value::BytesValue(b)) => base64::engine::general_purpose::STANDARD.encode(b),
        Some(any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_)) => json_value(v).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::pb::otlp::common::v1::{ArrayValue, KeyValue, KeyValueList};

    #[test]
    fn metric_names_follow_the_otlp_translation_rules() {
        use NameKind::*;
        // Expected names worked out by hand from Prometheus 3's translation rules (units map,
        // per-unit map, `_total` for monotonic sums, `_ratio` for unit-1 gauges).
        let cases: &[(&str, &str, NameKind, &str)] = &[
            ("http.server.duration", "s", Other, "http_server_duration_seconds"),
            ("http.server.request.count", "{request}", Counter, "http_server_request_count_total"),
            ("system.memory.usage", "By", Gauge, "system_memory_usage_bytes"),
            ("throughput", "By/s", Gauge, "throughput_bytes_per_second"),
            ("requests", "{request}/s", Gauge, "requests_per_second"),
            ("cpu.utilization", "1", Gauge, "cpu_utilization_ratio"),
            ("cpu.ratio.used", "1", Gauge, "cpu_used_ratio"),
            ("items", "1", Counter, "items_total"),
            ("requests_total", "", Counter, "requests_total"),
            ("total.requests", "", Counter, "requests_total"),
            ("latency_seconds", "s", Other, "latency_seconds"),
            ("__weird..name__", "", Gauge, "weird_name"),
            ("2xx.responses", "", Counter, "_2xx_responses_total"),
            ("température", "Cel", Gauge, "temp_rature_celsius"),
            ("energy", "kWh", Counter, "energy_kWh_total"),
            ("rate", "m/x", Gauge, "rate_meters_per_x"),
            ("odd", "/s", Gauge, "odd_per_second"),
            ("colons:kept", "ms", Gauge, "colons:kept_milliseconds"),
            ("disk.io", "By/{op}", Counter, "disk_io_bytes_total"),
            ("load", "%", Gauge, "load_percent"),
        ];
        for &(name, unit, kind, want) in cases {
            assert_eq!(metric_name(name, unit, kind).as_deref(), Ok(want), "{name:?} {unit:?} {kind:?}");
        }
        assert!(metric_name("...", "", Gauge).is_err());
        assert_eq!(metric_name("", "s", Gauge).as_deref(), Ok("seconds"));
    }

    #[test]
    fn label_names_are_escaped() {
        let cases = [
            ("http.method", "http_method"),
            ("service.instance.id", "service_instance_id"),
            ("123abc", "key_123abc"),
            ("_private", "key_private"),
            ("__reserved__", "__reserved__"),
            ("k8s-pod/name", "k8s_pod_name"),
            ("ünïcode", "key_n_code"),
        ];
        for (key, want) in cases {
            assert_eq!(label_name(key).as_deref(), Ok(want), "{key:?}");
        }
        assert!(label_name("").is_err());
        assert!(label_name("...").is_err());
    }

    #[test]
    fn attribute_values_render_like_the_collector() {
        let s = |v: any_value::Value| attribute_value(Some(&AnyValue { value: Some(v) }));
        use any_value::Value::*;
        assert_eq!(s(StringValue("x y".into())), "x y");
        assert_eq!(s(BoolValue(true)), "true");
        assert_eq!(s(IntValue(-42)), "-42");
        assert_eq!(s(DoubleValue(1.5)), "1.5");
        assert_eq!(s(DoubleValue(100.0)), "100");
        assert_eq!(s(DoubleValue(1e21)), "1e+21");
        assert_eq!(s(DoubleValue(1.5e-7)), "1.5e-7");
        assert_eq!(s(DoubleValue(0.000001)), "0.000001");
        assert_eq!(s(DoubleValue(123456789012345680000.0)), "123456789012345680000");
        assert_eq!(s(BytesValue(vec![1, 2, 3])), "AQID");
        assert_eq!(
            s(ArrayValue(ArrayValue {
                values: vec![AnyValue { value: Some(IntValue(1)) }, AnyValue { value: Some(StringValue("a".into())) }]
            })),
            "[1,\"a\"]"
        );
        assert_eq!(
            s(KvlistValue(KeyValueList {
                values: vec![
                    KeyValue { key: "z".into(), value: Some(AnyValue { value: Some(BoolValue(false)) }) },
                    KeyValue { key: "a".into(), value: None },
                ]
            })),
            "{\"a\":null,\"z\":false}"
        );
        assert_eq!(attribute_value(None), "");
        assert_eq!(attribute_value(Some(&AnyValue { value: None })), "");
    }

    #[test]
    fn floats_format_like_go_f_minus_one() {
        for (f, want) in [(0.5, "0.5"), (1.0, "1"), (1e6, "1000000"), (0.0001, "0.0001"), (f64::INFINITY, "+Inf")] {
            assert_eq!(format_float_f(f), want);
        }
    }
}
