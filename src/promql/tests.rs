//! Parser, checker and printer tests.

use proptest::prelude::*;

use super::*;
use crate::model::{MatchType, Matcher};

fn all() -> ParserOptions {
    ParserOptions::all_enabled()
}

fn err(q: &str) -> String {
    match parse_expr(q, &all()) {
        Ok(e) => panic!("{q:?} parsed as {e}"),
        Err(e) => e.to_string(),
    }
}

/// One case per class of syntax and type error. The expected strings are Prometheus' own, taken
/// from upstream `promql/parser/parse_test.go` (and `lex.go` for the lexer messages); a few
/// cases for the 3.x experimental syntax follow the messages in upstream `parse.go`.
#[test]
fn error_messages_match_prometheus() {
    let cases: &[(&str, &str)] = &[
        ("", "1:1: parse error: no expression found in input"),
        ("  # just a comment", "1:1: parse error: no expression found in input"),
        ("1+", "1:3: parse error: unexpected end of input"),
        (".", "1:1: parse error: unexpected character: '.'"),
        ("2.5.", "1:1: parse error: bad number or duration syntax: \"2.5.\""),
        ("100..4", "1:1: parse error: bad number or duration syntax: \"100..\""),
        ("0deadbeef", "1:1: parse error: bad number or duration syntax: \"0de\""),
        ("1 /", "1:4: parse error: unexpected end of input"),
        ("*1", "1:1: parse error: unexpected <op:*>"),
        ("(1))", "1:4: parse error: unexpected right parenthesis ')'"),
        ("((1)", "1:5: parse error: unclosed left parenthesis"),
        ("(", "1:2: parse error: unclosed left parenthesis"),
        ("1 and 1", "1:1: parse error: set operator \"and\" not allowed in binary scalar expression"),
        ("1 == 1", "1:3: parse error: comparisons between scalars must use BOOL modifier"),
        ("1 or 1", "1:1: parse error: set operator \"or\" not allowed in binary scalar expression"),
        ("1 !~ 1", "1:3: parse error: unexpected character after '!': '~'"),
        ("1 =~ 1", "1:3: parse error: unexpected character after '=': '~'"),
        (
            "-\"string\"",
            "1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got \"string\"",
        ),
        (
            "-test[5m]",
            "1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got \"range vector\"",
        ),
        ("*test", "1:1: parse error: unexpected <op:*>"),
        (
            "1 offset 1d",
            "1:1: parse error: offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
        ),
        ("foo offset 1s offset 2s", "1:1: parse error: offset may not be set multiple times"),
        ("a - on(b) ignoring(c) d", "1:11: parse error: unexpected <ignoring>"),
        ("foo and 1", "1:1: parse error: set operator \"and\" not allowed in binary scalar expression"),
        ("foo and on(bar) group_left(baz) bar", "1:1: parse error: no grouping allowed for \"and\" operation"),
        (
            "http_requests{group=\"production\"} + on(instance) group_left(job,instance) cpu_count{type=\"smp\"}",
            "1:35: parse error: label \"instance\" must not occur in ON and GROUP clause at once",
        ),
        ("foo + bool bar", "1:5: parse error: bool modifier can only be used on comparison operators"),
        ("foo and bool 10", "1:5: parse error: bool modifier can only be used on comparison operators"),
        ("foo{", "1:5: parse error: unexpected end of input inside braces"),
        ("{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"),
        ("{x=\"\"}", "1:1: parse error: vector selector must contain at least one non-empty matcher"),
        ("{x=~\".*\"}", "1:1: parse error: vector selector must contain at least one non-empty matcher"),
        ("foo{__name__=\"bar\"}", "1:1: parse error: metric name must not be set twice: \"foo\" or \"bar\""),
        ("foo{__name__= =}", "1:15: parse error: unexpected \"=\" in label matching, expected string"),
        ("foo{,}", "1:5: parse error: unexpected \",\" in label matching, expected identifier or \"}\""),
        (
            "foo{__name__=\"bar\" lol}",
            "1:20: parse error: unexpected identifier \"lol\" in label matching, expected \",\" or \"}\"",
        ),
        ("foo[5mm]", "1:5: parse error: bad number or duration syntax: \"5mm\""),
        ("foo[0m]", "1:5: parse error: duration must be greater than 0"),
        ("foo[5m] @ start() @ end()", "1:1: parse error: @ <timestamp> may not be set multiple times"),
        ("rate(food[1m])[1h] offset 1h", "1:15: parse error: ranges only allowed for vector selectors"),
        ("foo offset 1m[5m]", "1:14: parse error: no offset modifiers allowed before range"),
        ("foo @ 1[5m]", "1:8: parse error: no @ modifiers allowed before range"),
        (
            "test[5d] OFFSET 10s [10m:5s]",
            "1:1: parse error: subquery is only allowed on instant vector, got matrix instead",
        ),
        ("sum without(==)(some_metric)", "1:13: parse error: unexpected <op:==> in grouping opts, expected label"),
        ("sum without(,)(some_metric)", "1:13: parse error: unexpected \",\" in grouping opts, expected label"),
        ("sum without(foo,,)(some_metric)", "1:17: parse error: unexpected \",\" in grouping opts, expected label"),
        ("sum some_metric by (test)", "1:5: parse error: unexpected identifier \"some_metric\""),
        (
            "sum (some_metric) by test",
            "1:22: parse error: unexpected identifier \"test\" in grouping opts, expected \"(\"",
        ),
        ("sum () by (test)", "1:1: parse error: no arguments for aggregate expression provided"),
        ("MIN keep_common (some_metric)", "1:5: parse error: unexpected identifier \"keep_common\""),
        ("sum (some_metric) without (test) by (test)", "1:34: parse error: unexpected <by>"),
        (
            "topk(some_metric)",
            "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, got 1",
        ),
        ("topk(some_metric,)", "1:17: parse error: trailing commas not allowed in function call args"),
        (
            "topk(some_metric, other_metric)",
            "1:6: parse error: expected type scalar in aggregation parameter, got instant vector",
        ),
        (
            "count_values(5, other_metric)",
            "1:14: parse error: expected type string in aggregation parameter, got scalar",
        ),
        (
            "rate(some_metric[5m]) @ 1234",
            "1:1: parse error: @ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
        ),
        ("floor()", "1:1: parse error: expected 1 argument(s) in call to \"floor\", got 0"),
        ("floor(some_metric, other_metric)", "1:1: parse error: expected 1 argument(s) in call to \"floor\", got 2"),
        ("floor(1)", "1:7: parse error: expected type instant vector in call to function \"floor\", got scalar"),
        (
            "hour(some_metric, some_metric, some_metric)",
            "1:1: parse error: expected at most 1 argument(s) in call to \"hour\", got 3",
        ),
        ("time(some_metric)", "1:1: parse error: expected 0 argument(s) in call to \"time\", got 1"),
        (
            "non_existent_function_far_bar()",
            "1:1: parse error: unknown function with name \"non_existent_function_far_bar\"",
        ),
        (
            "rate(some_metric)",
            "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector",
        ),
        ("label_join(a)", "1:1: parse error: expected at least 3 argument(s) in call to \"label_join\", got 1"),
        ("-=", "1:2: parse error: unexpected \"=\""),
        ("++-++-+-+-<", "1:11: parse error: unexpected <op:<>"),
        ("e-+=/(0)", "1:4: parse error: unexpected \"=\""),
        ("a>b()", "1:3: parse error: unknown function with name \"b\""),
        ("rate(avg)", "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector"),
        ("foo @ +Inf", "1:1: parse error: timestamp out of bounds for @ modifier: +Inf"),
        ("foo @ NaN", "1:1: parse error: timestamp out of bounds for @ modifier: NaN"),
        ("\"abc", "1:1: parse error: unterminated quoted string"),
        ("`abc", "1:1: parse error: unterminated raw string"),
        ("foo 1", "1:5: parse error: unexpected number \"1\""),
        ("foo bar", "1:5: parse error: unexpected identifier \"bar\""),
        ("foo[5m:1m:1m]", "1:10: parse error: unexpected colon ':'"),
        (
            "foo[]",
            "1:5: parse error: unexpected \"]\" in subquery or range selector, expected number, duration, step(), or range()",
        ),
        (
            "foo offset",
            "1:11: parse error: unexpected end of input in offset, expected number, duration, step(), or range()",
        ),
        ("foo @", "1:6: parse error: unexpected end of input in @, expected timestamp"),
        ("1 + 1 bool", "1:7: parse error: unexpected <bool>"),
        // 3.x experimental syntax (messages from upstream parse.go / generated_parser.y).
        ("foo[5m] anchored smoothed", "1:1: parse error: anchored and smoothed modifiers cannot be used together"),
        ("foo[5m:1m] anchored", "1:1: parse error: anchored modifier is not supported for subqueries"),
        ("foo + fill(0) 1", "1:1: parse error: filling in missing series only allowed between instant vectors"),
        ("foo and fill(0) bar", "1:1: parse error: filling in missing series not allowed for set operators"),
        ("foo[1m/0]", "1:7: parse error: division by zero"),
        ("foo[1m%0]", "1:7: parse error: modulo by zero"),
        ("info(foo, bar)", "1:11: parse error: expected label selectors only, got vector selector instead"),
    ];
    let mut failures = Vec::new();
    for (q, want) in cases {
        let got = match parse_expr(q, &all()) {
            Ok(e) => format!("<parsed as {e}>"),
            Err(e) => e.to_string(),
        };
        if got != *want {
            failures.push(format!("{q:?}\n   want {want}\n    got {got}"));
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn experimental_syntax_is_off_by_default() {
    let off = ParserOptions::default();
    let cases: &[(&str, &str)] = &[
        ("sort_by_label(foo, \"a\")", "1:1: parse error: function \"sort_by_label\" is not enabled"),
        (
            "limitk(1, foo)",
            "1:1: parse error: limitk() is experimental and must be enabled with --enable-feature=promql-experimental-functions",
        ),
        ("foo[5m+1m]", "1:5: parse error: experimental duration expression is not enabled"),
        ("foo offset step()", "1:12: parse error: experimental duration expression is not enabled"),
        ("foo[5m] anchored", "1:1: parse error: anchored modifier is experimental and not enabled"),
        ("a + fill(0) b", "1:1: parse error: binop fill modifiers are experimental and not enabled"),
    ];
    for (q, want) in cases {
        assert_eq!(parse_expr(q, &off).unwrap_err().to_string(), *want, "{q}");
        assert!(parse_expr(q, &all()).is_ok(), "{q} with everything enabled");
    }
}

#[test]
fn error_positions_count_lines_and_columns() {
    assert_eq!(err("foo +\n  bar baz"), "2:7: parse error: unexpected identifier \"baz\"");
    let e = parse_expr("foo +\n  bar baz", &all()).unwrap_err();
    assert_eq!((e.pos.start, e.pos.end, e.line, e.col), (12, 15, 2, 7));
}

fn vs(name: &str) -> Expr {
    parse_expr(name, &all()).unwrap()
}

#[test]
fn tree_shapes() {
    // Precedence: `^` is right-associative and binds tighter than unary minus; `*` binds tighter
    // than `+`; comparisons, `and`/`unless` and `or` follow.
    let e = parse_expr("a + b * c ^ d ^ e or f and g", &all()).unwrap();
    assert_eq!(e.to_string(), "a + b * c ^ d ^ e or f and g");
    let Expr::Binary(or) = &e else { panic!() };
    assert_eq!(or.op, BinaryOp::Or);
    let Expr::Binary(plus) = &*or.lhs else { panic!() };
    assert_eq!(plus.op, BinaryOp::Add);
    let Expr::Binary(mul) = &*plus.rhs else { panic!() };
    let Expr::Binary(pow) = &*mul.rhs else { panic!() };
    assert_eq!(pow.op, BinaryOp::Pow);
    assert!(matches!(&*pow.rhs, Expr::Binary(b) if b.op == BinaryOp::Pow), "right-associative");

    // Unary minus: `-a ^ b` is `-(a ^ b)`, `-a * b` is `(-a) * b`, `-1` is a literal.
    assert!(matches!(parse_expr("-a ^ b", &all()).unwrap(), Expr::Unary(_)));
    assert!(matches!(parse_expr("-a * b", &all()).unwrap(), Expr::Binary(b) if matches!(*b.lhs, Expr::Unary(_))));
    assert!(matches!(parse_expr("-1", &all()).unwrap(), Expr::Number(n) if n.value == -1.0));

    // Numbers: hex, octal, exponent, Inf/NaN in any case.
    for (q, v) in [("0x1F", 31.0), ("010", 8.0), ("1e3", 1000.0), (".5", 0.5), ("1_000", 1000.0)] {
        assert!(matches!(parse_expr(q, &all()).unwrap(), Expr::Number(n) if n.value == v), "{q}");
    }
    assert!(matches!(parse_expr("iNf", &all()).unwrap(), Expr::Number(n) if n.value == f64::INFINITY));
    assert!(matches!(parse_expr("NaN", &all()).unwrap(), Expr::Number(n) if n.value.is_nan()));

    // Selectors: the metric name becomes a trailing `__name__` matcher; quoted UTF-8 names.
    let Expr::VectorSelector(s) = vs("foo{a=~\"b.*\"}") else { panic!() };
    assert_eq!(
        s.matchers,
        vec![Matcher::new(MatchType::Regex, "a", "b.*").unwrap(), Matcher::equal("__name__", "foo")]
    );
    let Expr::VectorSelector(s) = vs("{\"my.metric\", \"label.name\"=\"x\"}") else { panic!() };
    assert_eq!(s.name, "");
    assert_eq!(s.matchers, vec![Matcher::equal("__name__", "my.metric"), Matcher::equal("label.name", "x")]);

    // Keywords are metric names where an expression is expected.
    assert!(matches!(vs("sum"), Expr::VectorSelector(s) if s.name == "sum"));
    assert!(
        matches!(vs("foo * sum"), Expr::Binary(b) if matches!(&*b.rhs, Expr::VectorSelector(s) if s.name == "sum"))
    );
    assert!(
        matches!(vs("other + fill"), Expr::Binary(b) if b.matching.as_ref().unwrap().fill == FillValues::default())
    );

    // Modifiers of a range selector live on its vector selector.
    let Expr::MatrixSelector(m) = vs("foo[5m] offset -1m @ 10.5 anchored") else { panic!() };
    assert_eq!(m.range, DurationValue::Fixed(300_000));
    assert_eq!(m.selector.offset, Some(DurationValue::Fixed(-60_000)));
    assert_eq!(m.selector.at, Some(AtModifier::Timestamp(10_500)));
    assert!(m.selector.anchored);

    // Float seconds are durations in 3.x.
    assert!(matches!(vs("foo[1.5]"), Expr::MatrixSelector(m) if m.range == DurationValue::Fixed(1500)));

    // `x offset 1m + 1m` is `(x offset 1m) + 1m`; inside brackets arithmetic continues.
    assert!(matches!(vs("x offset 1m + 1m"), Expr::Binary(_)));
    assert!(matches!(vs("x[1m + 1m]"), Expr::MatrixSelector(m) if matches!(m.range, DurationValue::Expr(_))));
    assert!(matches!(vs("x offset -2 ^ 2"), Expr::Binary(b) if b.op == BinaryOp::Pow));

    // Subqueries, with and without step.
    let Expr::Subquery(s) = vs("rate(x[1m])[30m:]") else { panic!() };
    assert_eq!((s.range.clone(), s.step.clone()), (DurationValue::Fixed(1_800_000), None));

    // Set operators get many-to-many matching; scalar operands lose matching.
    let Expr::Binary(b) = vs("a and on(x) b") else { panic!() };
    assert_eq!(b.matching.unwrap().card, VectorMatchCardinality::ManyToMany);
    let Expr::Binary(b) = vs("a + 1") else { panic!() };
    assert!(b.matching.is_none());

    // Fill modifiers.
    let Expr::Binary(b) = vs("a + on(x) group_left(y) fill_left(5) fill_right(-Inf) b") else { panic!() };
    let m = b.matching.unwrap();
    assert_eq!((m.card, m.include.clone()), (VectorMatchCardinality::ManyToOne, vec!["y".to_string()]));
    assert_eq!(m.fill, FillValues { lhs: Some(5.0), rhs: Some(f64::NEG_INFINITY) });

    // Aggregations with the grouping before or after, and parameters.
    assert_eq!(vs("sum(x) by (a)"), vs("sum by (a) (x)"));
    let Expr::Aggregate(a) = vs("topk without (b) (3, x)") else { panic!() };
    assert!(a.without && a.param.is_some());
}

#[test]
fn printer_matches_prometheus_format() {
    // Expected outputs follow upstream printer_test.go conventions.
    let cases: &[(&str, &str)] = &[
        ("sum by(job)(rate(foo{bar=\"baz\"}[5m] offset 1m))", "sum by (job) (rate(foo{bar=\"baz\"}[5m] offset 1m))"),
        ("sum without(a,b)(x)", "sum without (a, b) (x)"),
        ("topk(5, x)", "topk(5, x)"),
        ("a - on(b) c", "a - on (b) c"),
        ("a - ignoring(b) c", "a - ignoring (b) c"),
        ("a - ignoring() c", "a - c"),
        ("up > bool 0", "up > bool 0"),
        ("a + on(b) group_left(c) d", "a + on (b) group_left (c) d"),
        ("foo[5m:]", "foo[5m:]"),
        ("foo[1h30m:1m] @ 100 offset -5m", "foo[1h30m:1m] @ 100.000 offset -5m"),
        ("foo @ start()", "foo @ start()"),
        ("1e6", "1e+06"),
        ("123456", "123456"),
        ("0.0001", "0.0001"),
        ("0.00001", "1e-05"),
        ("-Inf", "-Inf"),
        ("nan", "NaN"),
        ("5m", "5m"),
        ("'a\"b'", "\"a\\\"b\""),
        ("{__name__=\"foo\"}", "{__name__=\"foo\"}"),
        ("{\"my.metric\"}", "{__name__=\"my.metric\"}"),
        ("sum by (\"a.b\") (x)", "sum by (\"a.b\") (x)"),
        ("x[5m+1m]", "x[5m + 1m]"),
        ("x offset (1m*2)", "x offset (1m * 2)"),
        ("a + fill(0) b", "a + fill(0) b"),
        ("a + fill_left(1) fill_right(2) b", "a + fill_left(1) fill_right(2) b"),
        ("increase(x[1m] anchored)", "increase(x[1m] anchored)"),
    ];
    for (q, want) in cases {
        assert_eq!(parse_expr(q, &all()).unwrap().to_string(), *want, "{q}");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let opts = all();
    for input in [
        "(".repeat(100_000),
        format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000)),
        format!("{}1", "-".repeat(100_000)),
        "1+".repeat(100_000) + "1",
        "2^".repeat(100_000) + "2",
        format!("{}x{}", "sum(".repeat(50_000), ")".repeat(50_000)),
        format!("x{}", "[1m:]".repeat(100_000)),
        format!("x[{}1m{}]", "(".repeat(100_000), ")".repeat(100_000)),
    ] {
        let e = parse_expr(&input, &opts).unwrap_err();
        assert!(
            e.msg.contains("maximum depth") || e.msg.contains("unclosed"),
            "{}...: {e}",
            &input[..20.min(input.len())]
        );
    }
    // Nesting within the limit parses.
    let ok = format!("{}1{}", "(".repeat(60), ")".repeat(60));
    assert!(parse_expr(&ok, &opts).is_ok());
}

// ---- Property test: print → parse gives the tree back. ----

fn label_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_][a-z0-9_]{0,5}",
        Just("by".to_string()),
        Just("on".to_string()),
        Just("a.b".to_string()),
        Just("nan".to_string())
    ]
}

/// Words that Prometheus's grammar never reads as a metric name where an expression starts
/// (`on`, `ignoring`, `group_left`, `group_right`, `bool` are not in its `metric_identifier`
/// rule; `inf` and `nan` are numbers): printed bare, they cannot parse back, there as here.
const NOT_METRIC_NAMES: &[&str] = &["on", "ignoring", "group_left", "group_right", "bool", "inf", "nan"];

fn selector() -> impl Strategy<Value = Expr> {
    (
        "[a-z_:][a-z0-9_:]{0,6}"
            .prop_filter("a name Prometheus parses as a metric name", |n| !NOT_METRIC_NAMES.contains(&n.as_str())),
        prop::collection::vec((label_name(), 0..4usize, "[a-z\"\\\\\n ]{0,4}"), 0..3),
        prop::option::of(-100_000i64..100_000),
        prop::option::of(prop_oneof![
            (-10_000_000i64..10_000_000).prop_map(AtModifier::Timestamp),
            Just(AtModifier::Start),
            Just(AtModifier::End)
        ]),
    )
        .prop_map(|(name, ms, offset, at)| {
            let mut matchers: Vec<Matcher> = ms
                .into_iter()
                .map(|(n, k, v)| {
                    let kind = [MatchType::Equal, MatchType::NotEqual, MatchType::Regex, MatchType::NotRegex][k];
                    Matcher::new(kind, n.clone(), v.clone()).unwrap_or_else(|_| Matcher::equal(n, v))
                })
                .collect();
            matchers.push(Matcher::equal("__name__", name.clone()));
            Expr::VectorSelector(VectorSelector {
                name,
                matchers,
                offset: offset.filter(|o| *o != 0).map(DurationValue::Fixed),
                at,
                anchored: false,
                smoothed: false,
                bypass_empty_matcher_check: false,
                pos: PosRange::default(),
            })
        })
}

fn number() -> impl Strategy<Value = Expr> {
    prop_oneof![
        any::<f64>().prop_filter("finite or special", |v| !v.is_nan()),
        Just(f64::NAN),
        (0i64..1_000_000).prop_map(|v| v as f64),
    ]
    .prop_map(|value| Expr::Number(NumberLiteral { value, duration: false, pos: PosRange::default() }))
}

fn binary_op() -> impl Strategy<Value = BinaryOp> {
    prop::sample::select(vec![
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Mod,
        BinaryOp::Pow,
        BinaryOp::Atan2,
        BinaryOp::Eql,
        BinaryOp::Gtr,
        BinaryOp::Lte,
        BinaryOp::TrimUpper,
    ])
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![selector(), number()];
    leaf.prop_recursive(5, 40, 3, |inner| {
        prop_oneof![
            (binary_op(), inner.clone(), inner.clone(), any::<bool>(), prop::collection::vec(label_name(), 0..2))
                .prop_filter("scalar or vector operands", |(_, l, r, _, _)| {
                    l.value_type() != ValueType::Matrix && r.value_type() != ValueType::Matrix
                })
                .prop_map(|(op, lhs, rhs, on, labels)| {
                    let both_vectors = lhs.value_type() == ValueType::Vector && rhs.value_type() == ValueType::Vector;
                    let scalars = lhs.value_type() == ValueType::Scalar && rhs.value_type() == ValueType::Scalar;
                    Expr::Binary(BinaryExpr {
                        op,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                        return_bool: op.is_comparison() && scalars,
                        matching: both_vectors.then(|| VectorMatching {
                            card: VectorMatchCardinality::OneToOne,
                            matching_labels: labels,
                            on,
                            include: Vec::new(),
                            fill: FillValues::default(),
                        }),
                    })
                }),
            (
                prop::sample::select(vec![AggregateOp::Sum, AggregateOp::Max]),
                inner.clone(),
                prop::collection::vec(label_name(), 0..3),
                any::<bool>()
            )
                .prop_filter("vector operand", |(_, e, _, _)| e.value_type() == ValueType::Vector)
                .prop_map(|(op, e, grouping, without)| {
                    Expr::Aggregate(AggregateExpr {
                        op,
                        expr: Box::new(e),
                        param: None,
                        grouping,
                        without,
                        pos: PosRange::default(),
                    })
                }),
            inner.clone().prop_map(|e| Expr::Paren(ParenExpr { expr: Box::new(e), pos: PosRange::default() })),
            inner
                .clone()
                .prop_filter("scalar or vector, not a literal", |e| {
                    !matches!(e, Expr::Number(_)) && e.value_type() != ValueType::Matrix
                })
                .prop_map(|e| {
                    Expr::Unary(UnaryExpr { op: UnaryOp::Neg, expr: Box::new(e), pos: PosRange::default() })
                }),
            (inner, 1i64..10_000_000)
                .prop_filter("vector operand", |(e, _)| e.value_type() == ValueType::Vector)
                .prop_map(|(e, range)| Expr::Subquery(SubqueryExpr {
                    expr: Box::new(e),
                    range: DurationValue::Fixed(range),
                    step: None,
                    offset: None,
                    at: None,
                    pos: PosRange::default(),
                })),
        ]
    })
}

/// The tree without parentheses: generated trees need not contain the `Paren` nodes that the
/// printer adds (and parsing then keeps) where precedence requires them.
fn strip_parens(e: &Expr) -> Expr {
    let b = |e: &Expr| Box::new(strip_parens(e));
    match e {
        Expr::Paren(p) => strip_parens(&p.expr),
        Expr::Binary(x) => Expr::Binary(BinaryExpr { lhs: b(&x.lhs), rhs: b(&x.rhs), ..x.clone() }),
        Expr::Unary(x) => Expr::Unary(UnaryExpr { expr: b(&x.expr), ..x.clone() }),
        Expr::Aggregate(x) => Expr::Aggregate(AggregateExpr { expr: b(&x.expr), ..x.clone() }),
        Expr::Subquery(x) => Expr::Subquery(SubqueryExpr { expr: b(&x.expr), ..x.clone() }),
        other => other.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn printed_trees_parse_back_equal(e in expr()) {
        let text = e.to_string();
        let back = parse_expr(&text, &all());
        prop_assert!(back.is_ok(), "{text}: {:?}", back.err().map(|e| e.to_string()));
        prop_assert_eq!(strip_parens(&back.unwrap()), strip_parens(&e), "{}", text);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,40}") {
        if let Ok(e) = parse_expr(&s, &all()) {
            let text = e.to_string();
            prop_assert_eq!(parse_expr(&text, &all()).ok(), Some(e), "{} -> {}", s, text);
        }
    }
}

/// Regression (fuzz target `promql_parse`, input `88889e00977777777776_^8_^1444...^:`): a
/// positive-infinity literal on the left of `^` printed as Go does (`+Inf ^ 8`) parsed back
/// as `+(Inf ^ 8)`. The printer now writes it unsigned there.
#[test]
fn fuzz_regression_positive_inf_base_of_pow() {
    let opts = ParserOptions::all_enabled();
    for q in ["Inf ^ 8", "88889e00977777777776 ^ 8 ^ x", "Inf ^ 2 + 1"] {
        let e = parse_expr(q, &opts).unwrap();
        let printed = e.to_string();
        assert_eq!(parse_expr(&printed, &opts).unwrap(), e, "{q} printed as {printed}");
    }
    // Elsewhere positive infinity keeps Go's spelling.
    assert_eq!(parse_expr("x + Inf", &opts).unwrap().to_string(), "x + +Inf");
}
