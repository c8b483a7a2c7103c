//! Tests for classic-histogram functions, mirroring `histograms.test` blocks.

#![allow(clippy::type_complexity, clippy::excessive_precision)]

use super::super::Arg;
use super::super::test_util::*;
use super::{Bucket, bucket_fraction, bucket_quantile};
use crate::promql::engine::value::Sample;

/// `testhistogram_bucket` at 50m (`0+5x10` etc.: the value is 10 times the increment).
fn testhistogram() -> Vec<Sample> {
    let rows = [
        ("0.1", "positive", 50.0),
        (".2", "positive", 70.0),
        ("1e0", "positive", 110.0),
        ("+Inf", "positive", 120.0),
        ("-.2", "negative", 10.0),
        ("-0.1", "negative", 20.0),
        ("0.3", "negative", 20.0),
        ("+Inf", "negative", 30.0),
    ];
    rows.iter()
        .map(|(le, start, f)| {
            sample(&metric(&[("__name__", "testhistogram_bucket"), ("le", le), ("start", start)]), 0, *f)
        })
        .collect()
}

fn by_start(o: &Outcome) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = o.samples().iter().map(|s| (s.metric.to_string(), s.f)).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn histogram_quantile_matches_the_script() {
    let v = testhistogram();
    for (q, pos, neg) in [(0.5, 0.15, -0.15), (0.0, 0.0, -0.2), (1.0, 1.0, 0.3)] {
        let o =
            call("histogram_quantile(0.5, testhistogram_bucket)", &[Arg::Scalar(q), Arg::Vector(&v)], Opts::default());
        let got = by_start(&o);
        assert_eq!(got[0].0, r#"{__name__="testhistogram_bucket", start="negative"}"#);
        assert_close(got[0].1, neg, &format!("negative q={q}"));
        assert_close(got[1].1, pos, &format!("positive q={q}"));
        assert!(o.samples().iter().all(|s| s.drop_name));
        assert!(o.annotations.warnings().is_empty() && o.annotations.infos().is_empty());
    }
    let o = call(
        "histogram_quantile(NaN, testhistogram_bucket)",
        &[Arg::Scalar(f64::NAN), Arg::Vector(&[])],
        Opts::default(),
    );
    assert!(o.is_empty());
    assert_eq!(o.annotations.warnings(), ["PromQL warning: quantile value should be between 0 and 1, got NaN (1:20)"]);
}

#[test]
fn bucket_quantile_cases() {
    let b =
        |pairs: &[(f64, f64)]| -> Vec<Bucket> { pairs.iter().map(|&(upper, count)| Bucket { upper, count }).collect() };
    let inf = f64::INFINITY;
    // testhistogram2: le 0 2 4 6 +Inf with counts 0 1 2 3 3 (x10 is irrelevant).
    let h2 = [(0.0, 0.0), (2.0, 1.0), (4.0, 2.0), (6.0, 3.0), (inf, 3.0)];
    let cases: &[(f64, &[(f64, f64)], f64, bool)] = &[
        (1.0 / 6.0, &h2, 1.0, false),
        (0.5, &h2, 3.0, false),
        (5.0 / 6.0, &h2, 5.0, false),
        // No +Inf bucket, one bucket, no observations: NaN.
        (0.5, &[(1.0, 1.0)], f64::NAN, false),
        (0.5, &[(inf, 1.0)], f64::NAN, false),
        (0.5, &[(1.0, 0.0), (inf, 0.0)], f64::NAN, false),
        // The quantile in the +Inf bucket is the second-highest bound.
        (0.99, &[(1.0, 1.0), (inf, 10.0)], 1.0, false),
        // Out-of-range q.
        (-0.1, &h2, f64::NEG_INFINITY, false),
        (1.1, &h2, inf, false),
        // Non-monotonic counts are fixed (and reported): 1 3 2 -> 1 3 3.
        (0.5, &[(1.0, 1.0), (2.0, 3.0), (inf, 2.0)], 1.25, true),
        // Tiny relative differences are absorbed silently.
        (0.5, &[(1.0, 2.0), (2.0, 2.0 - 1e-15), (inf, 2.0)], 0.5, false),
        // Duplicate bounds are merged.
        (0.5, &[(1.0, 1.0), (1.0, 1.0), (inf, 2.0)], 0.5, false),
    ];
    for (q, pairs, want, forced) in cases {
        let mut buckets = b(pairs);
        let (got, f) = bucket_quantile(*q, &mut buckets);
        assert_close(got, *want, &format!("q={q} {pairs:?}"));
        assert_eq!(f, *forced, "forced for q={q} {pairs:?}");
    }
}

#[test]
fn bucket_fraction_cases() {
    let inf = f64::INFINITY;
    let b =
        |pairs: &[(f64, f64)]| -> Vec<Bucket> { pairs.iter().map(|&(upper, count)| Bucket { upper, count }).collect() };
    // histograms.test "Positive buckets, lower falls in the first bucket": 1 3 6 100 over
    // le 1 2 3 +Inf, (0, 1.5] -> 0.02.
    let pos = [(1.0, 1.0), (2.0, 3.0), (3.0, 6.0), (inf, 100.0)];
    // "Negative buckets": le -3 -2 -1 +Inf with 10 12 15 100.
    let neg = [(-3.0, 10.0), (-2.0, 12.0), (-1.0, 15.0), (inf, 100.0)];
    let cases: &[(f64, f64, &[(f64, f64)], f64)] = &[
        (0.0, 1.5, &pos, 0.02),
        (-4.0, -2.0, &neg, 0.02),
        (f64::NEG_INFINITY, -1.5, &neg, 0.135),
        (f64::NEG_INFINITY, inf, &pos, 1.0),
        (4.0, 5.0, &pos, 0.0),
        (2.0, 5.0, &pos, 0.03),
        (400.0, inf, &pos, 0.94),
        (2.0, 2.0, &pos, 0.0),
        (3.0, 2.0, &pos, 0.0),
        (0.5, 2.0, &pos, 0.025),
        (f64::NAN, 1.0, &pos, f64::NAN),
        (0.0, 5.0, &[(1.0, 0.0), (inf, 0.0)], f64::NAN),
    ];
    for (lo, hi, pairs, want) in cases {
        let mut buckets = b(pairs);
        assert_close(bucket_fraction(*lo, *hi, &mut buckets), *want, &format!("({lo}, {hi}] of {pairs:?}"));
    }
}

#[test]
fn histogram_quantiles_labels_each_quantile() {
    let v = testhistogram();
    let args = [Arg::Vector(&v), Arg::String("q"), Arg::Scalar(0.0), Arg::Scalar(0.5), Arg::Scalar(1.0)];
    let o = call(r#"histogram_quantiles(testhistogram_bucket, "q", 0, 0.5, 1)"#, &args, Opts::default());
    let got = by_start(&o);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            r#"{__name__="testhistogram_bucket", q="0.0", start="negative"}"#,
            r#"{__name__="testhistogram_bucket", q="0.0", start="positive"}"#,
            r#"{__name__="testhistogram_bucket", q="0.5", start="negative"}"#,
            r#"{__name__="testhistogram_bucket", q="0.5", start="positive"}"#,
            r#"{__name__="testhistogram_bucket", q="1.0", start="negative"}"#,
            r#"{__name__="testhistogram_bucket", q="1.0", start="positive"}"#,
        ]
    );
}

#[test]
fn annotations_for_bad_buckets_and_monotonicity() {
    // histograms.test: series{le="Hello World"} and series{ale="0.1"}.
    let bad = [sample(&metric(&[("__name__", "series"), ("le", "Hello World")]), 0, 2.0)];
    let o = call("histogram_quantile(0.8, series)", &[Arg::Scalar(0.8), Arg::Vector(&bad)], Opts::default());
    assert!(o.is_empty());
    assert_eq!(
        o.annotations.warnings(),
        [
            r#"PromQL warning: bucket label "le" is missing or has a malformed value of "Hello World" for metric name "series" (1:25)"#
        ]
    );
    let missing = [sample(&metric(&[("__name__", "series"), ("ale", "0.1")]), 0, 2.0)];
    let o = call(
        "histogram_fraction(-Inf, 1, series)",
        &[Arg::Scalar(f64::NEG_INFINITY), Arg::Scalar(1.0), Arg::Vector(&missing)],
        Opts::default(),
    );
    assert_eq!(
        o.annotations.warnings(),
        [
            r#"PromQL warning: bucket label "le" is missing or has a malformed value of "" for metric name "series" (1:29)"#
        ]
    );
    let nonmono: Vec<_> = [("1", 5.0), ("2", 3.0), ("+Inf", 6.0)]
        .iter()
        .map(|(le, f)| sample(&metric(&[("__name__", "nonmonotonic_bucket"), ("le", le)]), 0, *f))
        .collect();
    let o = call(
        "histogram_quantile(0.5, nonmonotonic_bucket)",
        &[Arg::Scalar(0.5), Arg::Vector(&nonmono)],
        Opts::default(),
    );
    assert_eq!(o.annotations.infos().len(), 1);
    let info = &o.annotations.infos()[0];
    assert!(
        info.starts_with("PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see "),
        "{info}"
    );
    assert!(info.ends_with(r#"for metric name "nonmonotonic_bucket" (1:25)"#), "{info}");
}
