//! The runner's own unit checks. This test target has no libtest harness, so instead of
//! `#[test]` functions these tables run at the start of `main`; any failure stops the run.
//! Expected values are worked out by hand from FORMAT.md.

use crate::compare::{check_annotations, compare_matrix, compare_vector, float_eq};
use crate::engine::{Outcome, Value};
use crate::runner::{calls_time_dependent, parse_index, pin_times, skip_reason};
use crate::script::{self, Command, EvalKind, Expected, Legacy, SeriesLine, TextMatch, parse_eval_header};
use crate::selftest::example_for;
use crate::series::{Item, expand_st, expand_values, parse_metric, split_metric, unquote_prefix};
use cairn::model::{Labels, is_stale_nan};

struct Checks {
    ok: usize,
    bad: usize,
}

impl Checks {
    fn check(&mut self, name: &str, cond: bool) {
        if cond {
            self.ok += 1;
        } else {
            self.bad += 1;
            println!("runner self-check FAILED: {name}");
        }
    }
}

fn lbl(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs).unwrap_or_default()
}

fn floats(items: &[Item]) -> Option<Vec<f64>> {
    items.iter().map(|i| if let Item::Float(f) = i { Some(*f) } else { None }).collect()
}

fn series(labels: Labels, vals: &[Item]) -> SeriesLine {
    SeriesLine { labels, items: vals.to_vec(), st: None }
}

fn expansion(c: &mut Checks) {
    let table: [(&str, &[f64]); 10] = [
        ("0+10x5", &[0.0, 10.0, 20.0, 30.0, 40.0, 50.0]),
        ("1-2x4", &[1.0, -1.0, -3.0, -5.0, -7.0]),
        ("1-1x3", &[1.0, 0.0, -1.0, -2.0]),
        ("3x2", &[3.0, 3.0, 3.0]),
        ("-1-1x2", &[-1.0, -2.0, -3.0]),
        ("1e3 0x1f -2.5 010", &[1000.0, 31.0, -2.5, 8.0]),
        ("1e-3+1x1", &[0.001, 1.001]),
        ("Inf -Inf +inf", &[f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY]),
        ("0x3", &[0.0, 0.0, 0.0, 0.0]),
        ("2-0.5x2 7", &[2.0, 1.5, 1.0, 7.0]),
    ];
    for (src, want) in table {
        let got = expand_values(src).ok().and_then(|v| floats(&v));
        c.check(&format!("expand {src:?}"), got.as_deref() == Some(want));
    }
    let nan = expand_values("NaN nan").ok().and_then(|v| floats(&v));
    c.check("expand NaN", nan.is_some_and(|v| v.len() == 2 && v.iter().all(|f| f.is_nan() && !is_stale_nan(*f))));
    let st = expand_values("stale").ok().and_then(|v| floats(&v));
    c.check("expand stale", st.is_some_and(|v| v.len() == 1 && is_stale_nan(v[0])));
    // Repeated addition, not multiplication: the third value is (0.1+0.1)+0.1.
    let rep = expand_values("0.1+0.1x2").ok().and_then(|v| floats(&v));
    c.check(
        "expand by repeated addition",
        rep.is_some_and(|v| v[2].to_bits() == (0.1f64 + 0.1 + 0.1).to_bits() && v[2] != 0.3),
    );
    c.check("expand _x3", expand_values("_x3").ok() == Some(vec![Item::Omit; 3]));
    let gap = expand_values("0 1 _ 3 stale").unwrap_or_default();
    c.check("expand gap", gap.len() == 5 && gap[2] == Item::Omit && gap[3] == Item::Float(3.0));
    c.check(
        "expand histogram xN",
        expand_values("{{schema:0 sum:5 count:4 buckets:[1 2 1]}}x2 1").ok()
            == Some(vec![Item::Histogram, Item::Histogram, Item::Histogram, Item::Float(1.0)]),
    );
    c.check("expand histogram A+BxN", expand_values("{{schema:0 sum:1}}+{{sum:1}}x3").map(|v| v.len()).ok() == Some(4));
    for bad in ["1 x3", "abc", "1+2", "{{bogus:1}}", "{{sum:1", "stalex2"] {
        c.check(&format!("reject {bad:?}"), expand_values(bad).is_err());
    }
    c.check(
        "expand @st",
        expand_st("_ _ -30s-1mx2 -1msx1").ok()
            == Some(vec![None, None, Some(-30_000), Some(-90_000), Some(-150_000), Some(-1), Some(-1)]),
    );
}

fn metrics(c: &mut Checks) {
    let table: [(&str, Labels); 6] = [
        (r#"reqs{code="200"}"#, lbl(&[("__name__", "reqs"), ("code", "200")])),
        ("{}", Labels::default()),
        (r#"{__name__="x", a='b'}"#, lbl(&[("__name__", "x"), ("a", "b")])),
        (r#"{"my.metric", "label.name"="v"}"#, lbl(&[("__name__", "my.metric"), ("label.name", "v")])),
        (r#"sum{a="\n\x41",}"#, lbl(&[("__name__", "sum"), ("a", "\nA")])),
        ("up", lbl(&[("__name__", "up")])),
    ];
    for (src, want) in table {
        c.check(&format!("metric {src:?}"), parse_metric(src).ok() == Some(want));
    }
    for bad in ["a{b}", "a{b=c}", r#"a{b="c""#, r#"a{b="1",b="2"}"#] {
        c.check(&format!("reject metric {bad:?}"), parse_metric(bad).is_err());
    }
    c.check("split metric with spaces in a value", split_metric(r#"a{b="x y"} 1 2"#) == (r#"a{b="x y"}"#, "1 2"));
    c.check("unquote raw", unquote_prefix("`a\\n` x").ok() == Some(("a\\n".to_string(), 5)));
    c.check("unquote escapes", unquote_prefix(r#""\"\u00e9\101""#).ok().map(|p| p.0) == Some("\"éA".to_string()));
}

fn headers(c: &mut Checks) {
    let ok = |h: &str| parse_eval_header(1, h).ok();
    let e = ok("eval instant at 3m reqs");
    c.check(
        "instant header",
        e.as_ref().is_some_and(|e| e.kind == EvalKind::Instant { at: 180_000 } && e.expr == "reqs"),
    );
    let e = ok("eval range from 0 to 4m step 2m sum(reqs)");
    c.check(
        "range header",
        e.as_ref().is_some_and(|e| {
            e.kind == EvalKind::Range { start: 0, end: 240_000, step: 120_000 } && e.expr == "sum(reqs)"
        }),
    );
    let e = ok(r#"eval_fail instant at 0 -{job="api"}"#);
    c.check(
        "eval_fail header",
        e.as_ref().is_some_and(|e| e.legacy == Legacy::Fail && e.fail.is_some() && e.expr == r#"-{job="api"}"#),
    );
    let e = ok("eval instant at 1h30m10ms sum by (a) (x)");
    c.check(
        "instant header with spaces",
        e.as_ref().is_some_and(|e| e.kind == EvalKind::Instant { at: 5_400_010 } && e.expr == "sum by (a) (x)"),
    );
    let e = ok("eval_ordered instant at 50m sort(x)");
    c.check("eval_ordered header", e.is_some_and(|e| e.ordered));
    for bad in [
        "eval range from 1m to 0 step 1m x",
        "eval instant x",
        "eval instant at 5q x",
        "eval range from 0 to 1m step 0 x",
    ] {
        c.check(&format!("reject header {bad:?}"), ok(bad).is_none());
    }
}

const EXAMPLE: &str = r#"
# two counters
load 1m
    reqs{code="200"} 0+10x5
    reqs{code="500"} 0 1 _ 3 stale
    reqs{code="500"} 9

eval instant at 3m reqs
    expect no_warn
    expect info msg: PromQL info: x (1:1)
    reqs{code="200"} 30
    reqs{code="500"} 3
# a comment ends the block
eval range from 0 to 4m step 2m sum(reqs)
    {} 0 21 40

eval instant at 1m reqs / on() group_left reqs
    expect fail regex: many.*

eval instant at 0 1
    0x10
clear
eval instant at 0 "a"
  expect string "a b"

eval instant at 1m foo[1m]
  expect range vector from 0 to 1m step 30s
  foo 1 _ 3
"#;

fn scripts(c: &mut Checks) {
    let s = script::parse(EXAMPLE);
    c.check("example parses", s.errors.is_empty());
    c.check("example has 8 commands", s.commands.len() == 8);
    let evals: Vec<_> =
        s.commands.iter().filter_map(|c| if let Command::Eval(e) = c { Some(e) } else { None }).collect();
    if let Some(Command::Load(l)) = s.commands.first() {
        c.check(
            "load replaces a repeated series",
            l.series.len() == 2 && l.series[1].items == vec![Item::Float(9.0)] && l.interval == 60_000,
        );
    } else {
        c.check("example starts with a load", false);
    }
    c.check("clear after a scalar body", matches!(s.commands.get(5), Some(Command::Clear)));
    if let [e1, e2, e3, e4, e5, e6] = evals.as_slice() {
        c.check("eval 1 line", e1.line == 8);
        c.check(
            "eval 1 expectations",
            e1.no_warn && e1.info.len() == 1 && matches!(&e1.expected, Expected::Series(v) if v.len() == 2),
        );
        c.check("eval 2 range", matches!(&e2.expected, Expected::Series(v) if v.len() == 1 && v[0].labels.is_empty() && v[0].items.len() == 3));
        c.check("eval 3 fail regex", matches!(&e3.fail, Some(TextMatch::Regex(r)) if r.is_match("xx many-to-many")));
        c.check("eval 4 scalar", matches!(e4.expected, Expected::Scalar(f) if f == 16.0));
        c.check("eval 5 string", matches!(&e5.expected, Expected::String(s) if s == "a b"));
        c.check(
            "eval 6 range vector",
            e6.range_vector == Some((0, 60_000, 30_000)) && e6.instant_time() == Some(60_000),
        );
    } else {
        c.check("example has 6 evals", false);
    }
    for bad in [
        "foo bar\n",
        "eval instant at 0 x\n  x 1 2\n",
        "eval instant at 0 x\n  expect warn\n  expect no_warn\n",
        "eval instant at 0 x\n  expect fail\n  expect fail\n",
        "eval range from 0 to 1m step 1m x\n  x 1 2 3\n",
        "eval instant at 0 x\n  expect sometimes\n",
        "load 1m\n  x 1 y\n",
    ] {
        c.check(&format!("reject script {bad:?}"), !script::parse(bad).errors.is_empty());
    }
}

fn floats_eq(c: &mut Checks) {
    let stale = cairn::model::stale_nan();
    let table: [(f64, f64, bool); 14] = [
        (1.0, 1.0, true),
        (1.0, 1.0 + 1e-7, true),
        (1.0, 1.00001, false),
        (0.0, 1e-300, false),
        (1e-300, 0.0, false),
        (0.0, -0.0, true),
        (f64::NAN, f64::NAN, true),
        (stale, f64::NAN, false),
        (f64::NAN, stale, false),
        (stale, stale, true),
        (f64::INFINITY, f64::INFINITY, true),
        (f64::INFINITY, f64::NEG_INFINITY, false),
        (f64::MAX, f64::MAX * (1.0 - 1e-9), true),
        (123456.7, 123456.8, true),
    ];
    for (a, b, want) in table {
        c.check(&format!("float_eq({a:e}, {b:e})"), float_eq(a, b) == want);
    }
}

fn comparisons(c: &mut Checks) {
    let (a, b) = (lbl(&[("x", "a")]), lbl(&[("x", "b")]));
    let exp = vec![series(a.clone(), &[Item::Float(1.0)]), series(b.clone(), &[Item::Float(2.0)])];
    let fwd = vec![(a.clone(), 1.0), (b.clone(), 2.0)];
    let rev = vec![(b.clone(), 2.0), (a.clone(), 1.0)];
    c.check("vector unordered", compare_vector(&exp, &rev, false).is_ok());
    c.check("vector ordered", compare_vector(&exp, &fwd, true).is_ok());
    c.check("vector ordered swapped", compare_vector(&exp, &rev, true).is_err());
    c.check("vector missing", compare_vector(&exp, &fwd[..1], false).is_err());
    c.check("vector extra", compare_vector(&exp[..1], &fwd, false).is_err());
    c.check("vector value", compare_vector(&exp, &[(a.clone(), 1.0), (b.clone(), 2.1)], false).is_err());
    c.check(
        "vector duplicate",
        compare_vector(&exp, &[(a.clone(), 1.0), (a.clone(), 1.0), (b.clone(), 2.0)], false).is_err(),
    );
    c.check("vector empty", compare_vector(&[], &[], false).is_ok());
    c.check(
        "vector {}",
        compare_vector(&[series(Labels::default(), &[Item::Float(5.0)])], &[(Labels::default(), 5.0)], false).is_ok(),
    );

    // Range: start 0, step 10; `1 _ 3` means points at 0 and 20 only.
    let exp = vec![
        series(a.clone(), &[Item::Float(1.0), Item::Omit, Item::Float(3.0)]),
        series(b.clone(), &[Item::Float(7.0)]),
    ];
    let good = vec![(a.clone(), vec![(0, 1.0), (20, 3.0)]), (b.clone(), vec![(0, 7.0)])];
    c.check("matrix good", compare_matrix(&exp, &good, 0, 10).is_ok());
    let unsorted = vec![good[1].clone(), good[0].clone()];
    c.check("matrix unsorted", compare_matrix(&exp, &unsorted, 0, 10).is_err());
    let gap_filled = vec![(a.clone(), vec![(0, 1.0), (10, 2.0), (20, 3.0)]), good[1].clone()];
    c.check("matrix point in a gap", compare_matrix(&exp, &gap_filled, 0, 10).is_err());
    let trailing = vec![good[0].clone(), (b.clone(), vec![(0, 7.0), (10, 7.0)])];
    c.check("matrix point after the listed values", compare_matrix(&exp, &trailing, 0, 10).is_err());
    let shifted = vec![(a.clone(), vec![(0, 1.0), (21, 3.0)]), good[1].clone()];
    c.check("matrix timestamp", compare_matrix(&exp, &shifted, 0, 10).is_err());
    let only_gaps = vec![series(a.clone(), &[Item::Omit])];
    c.check("matrix only gaps never matches", compare_matrix(&only_gaps, &[], 0, 10).is_err());
    // Sorting follows labels.Compare: {a="1"} < {a="1", b="0"} < {b="0"}.
    let l1 = lbl(&[("a", "1")]);
    let l2 = lbl(&[("a", "1"), ("b", "0")]);
    let l3 = lbl(&[("b", "0")]);
    let e3: Vec<_> = [&l1, &l2, &l3].iter().map(|l| series((*l).clone(), &[Item::Float(1.0)])).collect();
    let m = |ls: [&Labels; 3]| ls.iter().map(|l| ((*l).clone(), vec![(0, 1.0)])).collect::<Vec<_>>();
    c.check("matrix order prefix first", compare_matrix(&e3, &m([&l1, &l2, &l3]), 0, 10).is_ok());
    c.check("matrix order by name", compare_matrix(&e3, &m([&l1, &l3, &l2]), 0, 10).is_err());
}

fn annotations(c: &mut Checks) {
    let mut eval = parse_eval_header(1, "eval instant at 0 x").unwrap_or_else(|_| unreachable_eval());
    let out = |w: &[&str], i: &[&str]| Outcome {
        value: Value::Scalar(0.0),
        warnings: w.iter().map(|s| s.to_string()).collect(),
        infos: i.iter().map(|s| s.to_string()).collect(),
    };
    c.check("no expectations: anything goes", check_annotations(&eval, &out(&["w"], &["i"])).is_ok());
    eval.no_warn = true;
    c.check("no_warn with a warning", check_annotations(&eval, &out(&["w"], &[])).is_err());
    c.check("no_warn without", check_annotations(&eval, &out(&[], &["i"])).is_ok());
    eval.no_warn = false;
    eval.warn = vec![TextMatch::Exact("PromQL warning: a (1:1)".into())];
    c.check("warn msg exact", check_annotations(&eval, &out(&["PromQL warning: a (1:1)"], &[])).is_ok());
    c.check("warn msg position differs", check_annotations(&eval, &out(&["PromQL warning: a (1:2)"], &[])).is_err());
    c.check("warn missing", check_annotations(&eval, &out(&[], &[])).is_err());
    c.check(
        "warn unexpected extra",
        check_annotations(&eval, &out(&["PromQL warning: a (1:1)", "PromQL warning: b (1:1)"], &[])).is_err(),
    );
    eval.warn.push(TextMatch::Any);
    c.check(
        "warn Any covers extra",
        check_annotations(&eval, &out(&["PromQL warning: a (1:1)", "PromQL warning: b (1:1)"], &[])).is_ok(),
    );
    eval.warn.clear();
    eval.legacy = Legacy::Info;
    c.check("eval_info needs one", check_annotations(&eval, &out(&[], &[])).is_err());
    c.check("eval_info any", check_annotations(&eval, &out(&[], &["PromQL info: z (1:1)"])).is_ok());
}

fn unreachable_eval() -> script::Eval {
    // The header above is valid (checked by `headers`); this fallback only keeps the checks
    // from panicking if it ever is not.
    script::Eval {
        line: 0,
        kind: EvalKind::Instant { at: 0 },
        expr: String::new(),
        legacy: Legacy::None,
        fail: None,
        warn: Vec::new(),
        info: Vec::new(),
        no_warn: false,
        no_info: false,
        ordered: false,
        range_vector: None,
        expected: Expected::Series(Vec::new()),
    }
}

fn skipping(c: &mut Checks) {
    let tsv = "file\tline\tkind\tnative_histogram\texpr\na.test\t5\tinstant\ty\tx\na.test\t9\trange\tn\ty\n";
    let ix = parse_index(tsv);
    c.check("index parses", ix.is_ok());
    let ix = ix.ok();
    c.check("skip native histogram", skip_reason(ix.as_ref(), "a.test", 5).is_some());
    c.check("run float eval", skip_reason(ix.as_ref(), "a.test", 9).is_none());
    c.check("run unknown eval", skip_reason(ix.as_ref(), "a.test", 7).is_none());
    c.check("skip start_timestamps", skip_reason(None, "start_timestamps.test", 1).is_some());
    c.check("no index skips nothing", skip_reason(None, "a.test", 5).is_none());
    c.check("index without column", parse_index("file\tline\n").is_err());
    for (expr, want) in [
        ("time()", true),
        ("timestamp (x)", true),
        ("x @ start()", true),
        ("sum by (hour) (x)", false),
        (r#"label_replace(x, "time()", "", "", "")"#, false),
        ("rate(x[5m])", false),
        ("hour_total", false),
        ("avg(predict_linear(x[5m], 60))", true),
    ] {
        c.check(&format!("time-dependent {expr:?}"), calls_time_dependent(expr) == want);
    }
    c.check("pin times at 0", pin_times(0) == vec![-1000, 0, 1000]);
    c.check("pin times at 100s", pin_times(100_000) == vec![-1_000_000, 0, 20_000, 100_000, 1_000_000]);
}

fn regex_examples(c: &mut Checks) {
    for p in [
        r"PromQL warning: quantile value .* got NaN \([0-9]+:[0-9]+\)",
        r"conflicting label",
        r"(a|bc)+\d{2}$",
        r"^x[^y]?z",
    ] {
        let ok = example_for(p).zip(regex::Regex::new(p).ok()).is_some_and(|(s, r)| r.is_match(&s));
        c.check(&format!("regex example for {p:?}"), ok);
    }
}

/// Runs every check; returns (passed, failed).
pub fn run() -> (usize, usize) {
    let mut c = Checks { ok: 0, bad: 0 };
    expansion(&mut c);
    metrics(&mut c);
    headers(&mut c);
    scripts(&mut c);
    floats_eq(&mut c);
    comparisons(&mut c);
    annotations(&mut c);
    skipping(&mut c);
    regex_examples(&mut c);
    (c.ok, c.bad)
}
