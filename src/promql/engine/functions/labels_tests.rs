//! Tests for the label and sorting functions, mirroring `functions.test` blocks.

use super::super::test_util::*;
use super::super::{Arg, FnError};
use super::natural_cmp;
use crate::promql::engine::value::Sample;
use std::cmp::Ordering;

fn testmetric() -> Vec<Sample> {
    let a = metric(&[("__name__", "testmetric"), ("src", "source-value-10"), ("dst", "original-destination-value")]);
    let b = metric(&[("__name__", "testmetric"), ("src", "source-value-20"), ("dst", "original-destination-value")]);
    vec![sample(&a, 0, 0.0), sample(&b, 0, 1.0)]
}

fn relabel(query: &str, strings: &[&str]) -> Result<Vec<String>, FnError> {
    let v = testmetric();
    let mut args = vec![Arg::Vector(&v)];
    args.extend(strings.iter().map(|s| Arg::String(s)));
    let o = call(query, &args, Opts::default());
    o.out.map(|s| s.iter().map(|s| s.metric.to_string()).collect())
}

#[test]
fn label_replace_cases() {
    let orig =
        |v: &str| format!(r#"{{__name__="testmetric", dst="original-destination-value", src="source-value-{v}"}}"#);
    let q = r#"label_replace(testmetric, "dst", "x", "src", "y")"#;
    let cases: &[(&[&str], Vec<String>)] = &[
        (
            &["dst", "destination-value-$1", "src", "source-value-(.*)"],
            vec![
                r#"{__name__="testmetric", dst="destination-value-10", src="source-value-10"}"#.into(),
                r#"{__name__="testmetric", dst="destination-value-20", src="source-value-20"}"#.into(),
            ],
        ),
        // Not a substring match.
        (&["dst", "destination-value-$1", "src", "value-(.*)"], vec![orig("10"), orig("20")]),
        (
            &["dst", "$1-value-$2", "src", "(.*)-value-(.*)"],
            vec![
                r#"{__name__="testmetric", dst="source-value-10", src="source-value-10"}"#.into(),
                r#"{__name__="testmetric", dst="source-value-20", src="source-value-20"}"#.into(),
            ],
        ),
        (&["dst", "value-$1", "nonexistent-src", "source-value-(.*)"], vec![orig("10"), orig("20")]),
        (
            &["dst", "value-$1", "nonexistent-src", "(.*)"],
            vec![
                r#"{__name__="testmetric", dst="value-", src="source-value-10"}"#.into(),
                r#"{__name__="testmetric", dst="value-", src="source-value-20"}"#.into(),
            ],
        ),
        // An empty result removes the label.
        (
            &["dst", "", "dst", ".*"],
            vec![
                r#"{__name__="testmetric", src="source-value-10"}"#.into(),
                r#"{__name__="testmetric", src="source-value-20"}"#.into(),
            ],
        ),
        // Named groups, `$$`, `${1}x` and a name that runs on (`$1x` is group "1x": empty).
        (
            &["dst", "${num}-$$-${1}x-$1x", "src", "source-value-(?P<num>.*)"],
            vec![
                r#"{__name__="testmetric", dst="10-$-10x-", src="source-value-10"}"#.into(),
                r#"{__name__="testmetric", dst="20-$-20x-", src="source-value-20"}"#.into(),
            ],
        ),
    ];
    for (strings, want) in cases {
        assert_eq!(&relabel(q, strings).unwrap(), want, "{strings:?}");
    }
    assert_eq!(
        relabel(q, &["dst", "value-$1", "src", "(.*"]).unwrap_err().0,
        "invalid regular expression in label_replace(): (.*"
    );
    assert_eq!(
        relabel(q, &["\u{FFFD}", "", "src", "(.*)"]).unwrap_err().0,
        "invalid destination label name in label_replace(): \u{FFFD}"
    );
}

#[test]
fn label_join_cases() {
    let a = metric(&[("src", "a"), ("src1", "b"), ("src2", "c"), ("dst", "orig")]);
    let v = [sample(&a, 0, 0.0)];
    let q = r#"label_join(testmetric, "dst", "-", "src")"#;
    let run = |strings: &[&str]| {
        let mut args = vec![Arg::Vector(&v)];
        args.extend(strings.iter().map(|s| Arg::String(s)));
        call(q, &args, Opts::default()).out.map(|s| s[0].metric.to_string())
    };
    assert_eq!(run(&["dst", "-", "src", "src1", "src2"]).unwrap(), r#"{dst="a-b-c", src="a", src1="b", src2="c"}"#);
    assert_eq!(run(&["dst", "-", "src", "src3", "src1"]).unwrap(), r#"{dst="a--b", src="a", src1="b", src2="c"}"#);
    assert_eq!(run(&["dst", ", "]).unwrap(), r#"{src="a", src1="b", src2="c"}"#);
    assert_eq!(run(&["", "-", "src"]).unwrap_err().0, "invalid destination label name in label_join(): ");
    assert_eq!(run(&["dst", "-", ""]).unwrap_err().0, "invalid source label name in label_join(): ");
}

#[test]
fn relabelling_name_clears_drop_name() {
    // name_label_dropping.test: label_replace(rate(...), "__name__", ...) keeps the new name.
    let m = metric(&[("__name__", "metric_total"), ("env", "1")]);
    let v = [Sample { metric: m, t: 0, f: 1.0, drop_name: true }];
    let args = [
        Arg::Vector(&v),
        Arg::String("__name__"),
        Arg::String("rate_$1"),
        Arg::String("__name__"),
        Arg::String("(.+)"),
    ];
    let o = call(r#"label_replace(x, "a", "b", "c", "d")"#, &args, Opts::default());
    assert_eq!(o.samples()[0].metric.to_string(), r#"{__name__="rate_metric_total", env="1"}"#);
    assert!(!o.samples()[0].drop_name);
    let args =
        [Arg::Vector(&v), Arg::String("my_name"), Arg::String("rate_$1"), Arg::String("__name__"), Arg::String("(.+)")];
    let o = call(r#"label_replace(x, "a", "b", "c", "d")"#, &args, Opts::default());
    assert!(o.samples()[0].drop_name);
}

#[test]
fn sort_puts_nan_last() {
    let m: Vec<_> = (0..5).map(|i| metric(&[("i", &i.to_string())])).collect();
    let vals = [3.0, f64::NAN, 1.0, 2.0, f64::NAN];
    let v: Vec<_> = m.iter().zip(vals).map(|(m, f)| sample(m, 0, f)).collect();
    let vals_of = |q: &str| -> Vec<String> {
        call(q, &[Arg::Vector(&v)], Opts::default()).samples().iter().map(|s| s.f.to_string()).collect()
    };
    assert_eq!(vals_of("sort(x)"), ["1", "2", "3", "NaN", "NaN"]);
    assert_eq!(vals_of("sort_desc(x)"), ["3", "2", "1", "NaN", "NaN"]);
}

#[test]
fn sort_by_label_mirrors_the_script() {
    // functions.test "Tests for sort_by_label/sort_by_label_desc" (a subset of the series).
    let mk = |g: &str, i: &str, j: &str| metric(&[("group", g), ("instance", i), ("job", j)]);
    let series = [
        mk("production", "1", "api-server"),
        mk("canary", "2", "api-server"),
        mk("production", "0", "app-server"),
        mk("canary", "0", "api-server"),
        mk("canary", "10", "api-server"),
    ];
    let v: Vec<_> = series.iter().map(|m| sample(m, 0, 1.0)).collect();
    let order = |q: &str, labels: &[&str]| -> Vec<String> {
        let mut args = vec![Arg::Vector(&v)];
        args.extend(labels.iter().map(|s| Arg::String(s)));
        call(q, &args, Opts::default())
            .samples()
            .iter()
            .map(|s| format!("{}/{}", s.metric.get("group").unwrap_or(""), s.metric.get("instance").unwrap_or("")))
            .collect()
    };
    assert_eq!(
        order("sort_by_label(x, \"instance\")", &["instance"]),
        ["canary/0", "production/0", "production/1", "canary/2", "canary/10"]
    );
    assert_eq!(
        order("sort_by_label_desc(x, \"instance\")", &["instance"]),
        ["canary/10", "canary/2", "production/1", "production/0", "canary/0"]
    );
    assert_eq!(
        order("sort_by_label(x, \"group\", \"instance\")", &["group", "instance"]),
        ["canary/0", "canary/2", "canary/10", "production/0", "production/1"]
    );
}

#[test]
fn natural_order() {
    let cases = [
        ("a", "b", Ordering::Less),
        ("2", "10", Ordering::Less),
        ("cpu2", "cpu10", Ordering::Less),
        ("cpu10", "cpu2", Ordering::Greater),
        ("a1", "a1b", Ordering::Less),
        ("x", "x", Ordering::Equal),
        ("", "a", Ordering::Less),
        ("a-1", "a1", Ordering::Greater),
    ];
    for (a, b, want) in cases {
        assert_eq!(natural_cmp(a, b), want, "{a} vs {b}");
    }
}

#[test]
fn absent_cases() {
    let m = metric(&[("__name__", "x")]);
    let present = [sample(&m, 0, 1.0)];
    assert!(call("absent(x)", &[Arg::Vector(&present)], Opts::default()).is_empty());
    // functions.test "Tests for absent()".
    let cases = [
        ("absent(nonexistent)", "{}"),
        (
            r#"absent(nonexistent{job="testjob", instance="testinstance", method=~".x"})"#,
            r#"{instance="testinstance", job="testjob"}"#,
        ),
        (r#"absent(nonexistent{job="testjob",job="testjob2",foo="bar"})"#, r#"{foo="bar"}"#),
        (r#"absent(nonexistent{job="testjob",job!="testjob2",foo="bar"})"#, r#"{foo="bar"}"#),
        (r#"absent(sum(nonexistent{job="testjob"}))"#, "{}"),
        (r#"absent(nonexistent{job=""})"#, "{}"),
    ];
    for (q, want) in cases {
        let o = call(q, &[Arg::Vector(&[])], Opts::default());
        assert_eq!(o.value(), 1.0, "{q}");
        assert_eq!(o.samples()[0].metric.to_string(), want, "{q}");
    }
}
