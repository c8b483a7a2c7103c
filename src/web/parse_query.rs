//! `GET|POST /api/v1/parse_query`: the syntax tree of a query as JSON, in the shape
//! Prometheus's UI tree view reads (`type`, `op`, `lhs`/`rhs`, `matchers`, ...).
//!
//! Keys of each node are sorted, as Go's `encoding/json` sorts map keys. Durations are in
//! milliseconds; a duration written as an expression (`foo[5m+1m]`) is not evaluated at
//! parse time and shows as 0, as in Prometheus, where it is only resolved at evaluation.

use super::json::Json;
use super::params::ApiError;
use crate::promql::ast::{
    AggregateExpr, AtModifier, BinaryExpr, Call, DurationValue, Expr, UnaryOp, ValueType, VectorMatchCardinality,
    VectorSelector,
};
use crate::promql::{ParserOptions, parse_expr};

/// Parses `query` and renders its tree.
pub fn parse_query(query: &str, opts: &ParserOptions) -> Result<Json, ApiError> {
    let expr = parse_expr(query, opts).map_err(|e| ApiError::invalid_param("query", e))?;
    Ok(node(&expr))
}

/// An object with its keys sorted.
fn sorted(mut pairs: Vec<(&'static str, Json)>) -> Json {
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    Json::obj(pairs)
}

fn node(e: &Expr) -> Json {
    match e {
        Expr::Aggregate(a) => aggregate(a),
        Expr::Binary(b) => binary(b),
        Expr::Call(c) => call(c),
        Expr::MatrixSelector(m) => {
            let mut pairs = selector_fields(&m.selector, "matrixSelector");
            pairs.push(("range", Json::int(fixed_ms(&Some(m.range.clone())))));
            sorted(pairs)
        }
        Expr::Subquery(s) => sorted(vec![
            ("type", Json::str("subquery")),
            ("expr", node(&s.expr)),
            ("range", Json::int(fixed_ms(&Some(s.range.clone())))),
            ("offset", Json::int(fixed_ms(&s.offset))),
            ("step", Json::int(fixed_ms(&s.step))),
            ("timestamp", timestamp(&s.at)),
            ("startOrEnd", start_or_end(&s.at)),
            // Step-aligned evaluation of subqueries is a newer Prometheus option we do not
            // have; our subqueries always align to the step, like Prometheus's default.
            ("alignEvalTime", Json::Bool(false)),
        ]),
        Expr::Number(n) => sorted(vec![("type", Json::str("numberLiteral")), ("val", Json::str(go_float(n.value)))]),
        Expr::Paren(p) => sorted(vec![("type", Json::str("parenExpr")), ("expr", node(&p.expr))]),
        Expr::String(s) => sorted(vec![("type", Json::str("stringLiteral")), ("val", Json::str(s.value.clone()))]),
        Expr::Unary(u) => sorted(vec![
            ("type", Json::str("unaryExpr")),
            ("op", Json::str(if u.op == UnaryOp::Neg { "-" } else { "+" })),
            ("expr", node(&u.expr)),
        ]),
        Expr::VectorSelector(vs) => sorted(selector_fields(vs, "vectorSelector")),
        // A bare duration expression only appears where a number may stand (e.g. the
        // argument of a function taking a scalar); show it as the number it is when it is a
        // literal, else as a literal of 0 like an unevaluated range.
        Expr::Duration(d) => {
            let v = match &d.kind {
                crate::promql::ast::DurationExprKind::Number(n) => n.value,
                _ => 0.0,
            };
            sorted(vec![("type", Json::str("numberLiteral")), ("val", Json::str(go_float(v)))])
        }
    }
}

fn aggregate(a: &AggregateExpr) -> Json {
    sorted(vec![
        ("type", Json::str("aggregation")),
        ("op", Json::str(a.op.to_string())),
        ("expr", node(&a.expr)),
        ("param", a.param.as_deref().map(node).unwrap_or(Json::Null)),
        ("grouping", Json::strs(&a.grouping)),
        ("without", Json::Bool(a.without)),
    ])
}

fn binary(b: &BinaryExpr) -> Json {
    let matching = match &b.matching {
        // Prometheus drops the matching of any operation that is not vector-vector.
        Some(m) if b.lhs.value_type() == ValueType::Vector && b.rhs.value_type() == ValueType::Vector => {
            let card = match m.card {
                VectorMatchCardinality::OneToOne => "one-to-one",
                VectorMatchCardinality::ManyToOne => "many-to-one",
                VectorMatchCardinality::OneToMany => "one-to-many",
                VectorMatchCardinality::ManyToMany => "many-to-many",
            };
            let fill = |v: Option<f64>| v.map(Json::float).unwrap_or(Json::Null);
            sorted(vec![
                ("card", Json::str(card)),
                ("labels", Json::strs(&m.matching_labels)),
                ("on", Json::Bool(m.on)),
                ("include", Json::strs(&m.include)),
                ("fillValues", sorted(vec![("lhs", fill(m.fill.lhs)), ("rhs", fill(m.fill.rhs))])),
            ])
        }
        _ => Json::Null,
    };
    sorted(vec![
        ("type", Json::str("binaryExpr")),
        ("op", Json::str(b.op.as_str())),
        ("lhs", node(&b.lhs)),
        ("rhs", node(&b.rhs)),
        ("matching", matching),
        ("bool", Json::Bool(b.return_bool)),
    ])
}

fn call(c: &Call) -> Json {
    let arg_types: Vec<Json> = c.func.arg_types.iter().map(|t| Json::str(t.name())).collect();
    sorted(vec![
        ("type", Json::str("call")),
        (
            "func",
            sorted(vec![
                ("name", Json::str(c.func.name)),
                ("argTypes", Json::Arr(arg_types)),
                ("variadic", Json::int(c.func.variadic)),
                ("returnType", Json::str(c.func.return_type.name())),
            ]),
        ),
        ("args", Json::Arr(c.args.iter().map(node).collect())),
    ])
}

fn selector_fields(vs: &VectorSelector, kind: &'static str) -> Vec<(&'static str, Json)> {
    let matchers = vs
        .matchers
        .iter()
        .map(|m| {
            sorted(vec![
                ("name", Json::str(m.name.clone())),
                ("value", Json::str(m.value.clone())),
                ("type", Json::str(m.kind.to_string())),
            ])
        })
        .collect();
    vec![
        ("type", Json::str(kind)),
        ("name", Json::str(vs.name.clone())),
        ("offset", Json::int(fixed_ms(&vs.offset))),
        ("matchers", Json::Arr(matchers)),
        ("timestamp", timestamp(&vs.at)),
        ("startOrEnd", start_or_end(&vs.at)),
        ("anchored", Json::Bool(vs.anchored)),
        ("smoothed", Json::Bool(vs.smoothed)),
    ]
}

fn fixed_ms(d: &Option<DurationValue>) -> i64 {
    match d {
        Some(DurationValue::Fixed(ms)) => *ms,
        _ => 0,
    }
}

fn timestamp(at: &Option<AtModifier>) -> Json {
    match at {
        Some(AtModifier::Timestamp(ms)) => Json::int(*ms),
        _ => Json::Null,
    }
}

fn start_or_end(at: &Option<AtModifier>) -> Json {
    match at {
        Some(AtModifier::Start) => Json::str("start"),
        Some(AtModifier::End) => Json::str("end"),
        _ => Json::Null,
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: shortest round-trip digits, never an
/// exponent, `+Inf`/`-Inf`/`NaN`.
fn go_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        // Rust's Display prints the shortest round-trip digits without an exponent.
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(q: &str) -> String {
        parse_query(q, &ParserOptions::all_enabled()).map(|j| j.render()).unwrap_or_else(|e| format!("error: {e:?}"))
    }

    /// Expected trees written by hand from Prometheus's `translateAST`
    /// (`web/api/v1/translate_ast.go`): Go sorts map keys, durations are milliseconds, a
    /// binary operation has `matching` only between two instant vectors.
    #[test]
    fn trees() {
        let cases: &[(&str, &str)] = &[
            ("1.5", r#"{"type":"numberLiteral","val":"1.5"}"#),
            ("-Inf", r#"{"type":"numberLiteral","val":"-Inf"}"#),
            ("1e21", r#"{"type":"numberLiteral","val":"1000000000000000000000"}"#),
            (r#""a""#, r#"{"type":"stringLiteral","val":"a"}"#),
            (
                "foo offset 5m",
                r#"{"anchored":false,"matchers":[{"name":"__name__","type":"=","value":"foo"}],"name":"foo","offset":300000,"smoothed":false,"startOrEnd":null,"timestamp":null,"type":"vectorSelector"}"#,
            ),
            (
                r#"{job=~"a.*"}[1m] @ end()"#,
                r#"{"anchored":false,"matchers":[{"name":"job","type":"=~","value":"a.*"}],"name":"","offset":0,"range":60000,"smoothed":false,"startOrEnd":"end","timestamp":null,"type":"matrixSelector"}"#,
            ),
            (
                "1 + 2",
                r#"{"bool":false,"lhs":{"type":"numberLiteral","val":"1"},"matching":null,"op":"+","rhs":{"type":"numberLiteral","val":"2"},"type":"binaryExpr"}"#,
            ),
            (
                "sum without (a) (x)",
                r#"{"expr":{"anchored":false,"matchers":[{"name":"__name__","type":"=","value":"x"}],"name":"x","offset":0,"smoothed":false,"startOrEnd":null,"timestamp":null,"type":"vectorSelector"},"grouping":["a"],"op":"sum","param":null,"type":"aggregation","without":true}"#,
            ),
            (
                "-(1)",
                r#"{"expr":{"expr":{"type":"numberLiteral","val":"1"},"type":"parenExpr"},"op":"-","type":"unaryExpr"}"#,
            ),
            (
                "time()",
                r#"{"args":[],"func":{"argTypes":[],"name":"time","returnType":"scalar","variadic":0},"type":"call"}"#,
            ),
        ];
        for (q, want) in cases {
            assert_eq!(&render(q), want, "{q}");
        }
    }

    #[test]
    fn vector_matching_and_subquery() {
        let got = render("a / on (x) group_left (y) b");
        assert!(got.contains(r#""matching":{"card":"many-to-one","fillValues":{"lhs":null,"rhs":null},"include":["y"],"labels":["x"],"on":true}"#), "{got}");
        let got = render("a and b");
        assert!(got.contains(r#""card":"many-to-many""#), "{got}");
        let got = render("rate(x[5m])[30m:1m] @ 100");
        assert!(got.starts_with(r#"{"alignEvalTime":false,"expr":{"args":[{"anchored""#), "{got}");
        assert!(
            got.ends_with(
                r#""offset":0,"range":1800000,"startOrEnd":null,"step":60000,"timestamp":100000,"type":"subquery"}"#
            ),
            "{got}"
        );
        assert!(
            got.contains(r#""func":{"argTypes":["matrix"],"name":"rate","returnType":"vector","variadic":0}"#),
            "{got}"
        );
    }

    #[test]
    fn errors_are_bad_data() {
        let e = parse_query("sum(", &ParserOptions::all_enabled()).unwrap_err();
        assert_eq!(e.typ, crate::web::params::ErrorType::BadData);
        assert!(e.msg.starts_with("invalid parameter \"query\": 1:5: parse error"), "{}", e.msg);
    }
}
