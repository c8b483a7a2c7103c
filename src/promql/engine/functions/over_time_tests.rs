//! Tests for `<agg>_over_time`, mirroring `functions.test` blocks where they exist.

#![allow(clippy::type_complexity, clippy::excessive_precision)]

use super::super::test_util::*;
use super::super::{Arg, Window, counter_name};

fn run(query: &str, values: &[f64]) -> Outcome {
    let m = metric(&[("__name__", "metric")]);
    let pts: Vec<(i64, f64)> = values.iter().enumerate().map(|(i, v)| (i as i64 * 10_000, *v)).collect();
    call_window(query, &m, &pts, Opts { ts: 55_000, range_ms: MIN, ..Opts::default() })
}

#[test]
fn aggregations_over_windows() {
    let (inf, nan) = (f64::INFINITY, f64::NAN);
    let big = 9.988465674311579e307;
    let cases: &[(&str, &[f64], f64)] = &[
        // functions.test "Tests for avg_over_time" (metric .. metric11).
        ("avg_over_time(metric[1m])", &[1., 2., 3., 4., 5.], 3.0),
        ("avg_over_time(metric[1m])", &[1., 2., 3., 4., inf], inf),
        ("avg_over_time(metric[1m])", &[1., 2., 3., 4., -inf], -inf),
        ("avg_over_time(metric[1m])", &[1., 2., 3., inf, -inf], nan),
        ("avg_over_time(metric[1m])", &[inf, 0., inf], inf),
        ("avg_over_time(metric[1m])", &[inf, inf, inf, -inf], nan),
        ("avg_over_time(metric[1m])", &[-inf, 0., -inf], -inf),
        ("avg_over_time(metric[1m])", &[1., 2., -inf, -inf, inf], nan),
        // The sum overflows, the incremental mean does not.
        ("avg_over_time(metric[1m])", &[big, big], big),
        ("avg_over_time(metric[1m])", &[-big, -big, -big], -big),
        ("avg_over_time(metric[1m])", &[-big, big], 0.0),
        ("avg_over_time(metric[1m])", &[1., 2., 3., nan, nan], nan),
        ("sum_over_time(metric[1m])", &[1., 2., 3., 4., 5.], 15.0),
        ("sum_over_time(metric[1m])", &[1e100, 1.0, -1e100], 1.0),
        ("count_over_time(metric[1m])", &[1., nan, 3.], 3.0),
        ("present_over_time(metric[1m])", &[7.], 1.0),
        ("min_over_time(metric[1m])", &[3., 1., 2.], 1.0),
        ("max_over_time(metric[1m])", &[3., 1., 2.], 3.0),
        // NaN only wins when everything is NaN.
        ("max_over_time(metric[1m])", &[nan, 1., nan], 1.0),
        ("min_over_time(metric[1m])", &[nan, nan], nan),
        ("last_over_time(metric[1m])", &[3., 1., 2.], 2.0),
        ("first_over_time(metric[1m])", &[3., 1., 2.], 3.0),
        ("ts_of_first_over_time(metric[1m])", &[3., 1., 2.], 0.0),
        ("ts_of_last_over_time(metric[1m])", &[3., 1., 2.], 20.0),
        ("ts_of_max_over_time(metric[1m])", &[3., 1., 3.], 20.0),
        ("ts_of_min_over_time(metric[1m])", &[1., 1., 3.], 10.0),
        // Population variance of 1..5 is 2.
        ("stdvar_over_time(metric[1m])", &[1., 2., 3., 4., 5.], 2.0),
        ("stddev_over_time(metric[1m])", &[1., 2., 3., 4., 5.], 2f64.sqrt()),
        ("stdvar_over_time(metric[1m])", &[4.], 0.0),
        // Median 3, deviations 2 1 0 1 97 -> median 1.
        ("mad_over_time(metric[1m])", &[1., 2., 3., 4., 100.], 1.0),
    ];
    for (q, vals, want) in cases {
        let o = run(q, vals);
        assert_close(o.value(), *want, &format!("{q} {vals:?}"));
        let keeps = q.starts_with("last_") || q.starts_with("first_");
        assert_eq!(o.samples()[0].drop_name, !keeps, "{q}");
    }
}

#[test]
fn empty_windows_give_nothing() {
    let m = metric(&[("__name__", "metric")]);
    let o = call_window("sum_over_time(metric[1m])", &m, &[], Opts::default());
    assert!(o.is_empty());
}

#[test]
fn quantile_over_time_warns_about_bad_quantiles() {
    let m = metric(&[("__name__", "metric")]);
    let pts = [(0, 0.0), (10_000, 10.0), (20_000, 20.0), (30_000, 30.0)];
    let w = [Window {
        metric: &m,
        floats: &pts,
        before: None,
        after: None,
        drop_name: false,
        counter_name: counter_name(&m),
    }];
    for (q, want, warn) in
        [(0.5, 15.0, false), (0.75, 22.5, false), (-1.0, f64::NEG_INFINITY, true), (f64::NAN, f64::NAN, true)]
    {
        let o = call("quantile_over_time(0.5, metric[1m])", &[Arg::Scalar(q), Arg::Matrix(&w)], Opts::default());
        assert_close(o.value(), want, &format!("q={q}"));
        let warnings = o.annotations.warnings();
        if warn {
            let shown = if q.is_nan() { "NaN".to_string() } else { q.to_string() };
            assert_eq!(
                warnings,
                vec![format!("PromQL warning: quantile value should be between 0 and 1, got {shown} (1:20)")]
            );
        } else {
            assert!(warnings.is_empty());
        }
    }
}

#[test]
fn absent_over_time_labels_from_equality_matchers() {
    let m = metric(&[("__name__", "x")]);
    let pts = [(0, 1.0)];
    let present = [Window {
        metric: &m,
        floats: &pts,
        before: None,
        after: None,
        drop_name: false,
        counter_name: counter_name(&m),
    }];
    let o = call("absent_over_time(x{job=\"a\"}[5m])", &[Arg::Matrix(&present)], Opts::default());
    assert!(o.is_empty());
    // functions.test "absent_over_time(nonexistent{job="mysql", instance=~".*"}[...])": only `=`.
    let o =
        call("absent_over_time(nonexistent{job=\"mysql\",instance=~\".*\"}[5m])", &[Arg::Matrix(&[])], Opts::default());
    assert_eq!(o.value(), 1.0);
    assert_eq!(o.samples()[0].metric.to_string(), r#"{job="mysql"}"#);
}
