//! Tests for the rate family. Cases name the `functions.test` / `extended_vectors.test` block
//! they mirror; expected values come from those scripts or are worked out in the comments.

#![allow(clippy::type_complexity, clippy::excessive_precision)]

use super::super::test_util::*;
use super::super::{Arg, Window, counter_name};

/// Evaluates `query` at `ts` over `points`, cutting the window as the engine does.
fn eval(query: &str, points: &[(i64, f64)], ts: i64, range: i64) -> Outcome {
    let m = metric(&[("__name__", "x_total")]);
    let w = window_of(points, ts, range);
    call_window(query, &m, &w, Opts { ts, range_ms: range, ..Opts::default() })
}

#[test]
fn increase_and_rate_match_the_scripts() {
    let m5 = 5 * MIN;
    // functions.test "Tests for increase()": 0+10x10, 0+18x5 0+18x5, 10+10x10, 1+10x10.
    let foo = ramp(0, m5, 0.0, 10.0, 10);
    let mut bar = ramp(0, m5, 0.0, 18.0, 5);
    bar.extend(ramp(6 * m5, m5, 0.0, 18.0, 5));
    let dings = ramp(0, m5, 10.0, 10.0, 10);
    let bumms = ramp(0, m5, 1.0, 10.0, 10);
    let cases: &[(&str, &[(i64, f64)], i64, i64, f64)] = &[
        ("increase(x[50m])", &foo, 50 * MIN, 50 * MIN, 100.0),
        ("increase(x[50m])", &bar, 50 * MIN, 50 * MIN, 160.0),
        ("increase(x[50m])", &dings, 50 * MIN, 50 * MIN, 100.0),
        ("increase(x[50m])", &bumms, 50 * MIN, 50 * MIN, 100.0),
        ("increase(x[100m])", &foo, 50 * MIN, 100 * MIN, 100.0),
        ("increase(x[100m])", &bar, 50 * MIN, 100 * MIN, 162.0),
        ("increase(x[100m])", &dings, 50 * MIN, 100 * MIN, 105.0),
        ("increase(x[100m])", &bumms, 50 * MIN, 100 * MIN, 101.0),
        // "Test for increase() with counter reset": 0 1 2 3 2 3 4 -> 7.
        ("increase(x[30m])", &every(m5, &[0., 1., 2., 3., 2., 3., 4.].map(Some)), 30 * MIN, 30 * MIN, 7.0),
        // "Counter resets at in the middle of range are handled correctly by rate()".
        (
            "rate(x[50m])",
            &[ramp(0, m5, 0.0, 27.0, 4), ramp(5 * m5, m5, 0.0, 27.0, 5)].concat(),
            50 * MIN,
            50 * MIN,
            0.08,
        ),
        // "Rates should calculate per-second rates": 0+80x10 over 50m.
        ("rate(x[50m])", &ramp(0, m5, 0.0, 80.0, 10), 50 * MIN, 50 * MIN, 0.26666666666666666),
        // "Zero cutoff for left-side extrapolation" (load 4m, eval at 10m over 20m).
        ("rate(x[20m])", &ramp(0, 4 * MIN, 0.0, 240.0, 10), 10 * MIN, 20 * MIN, 0.5),
        ("rate(x[20m])", &ramp(0, 4 * MIN, 60.0, 240.0, 10), 10 * MIN, 20 * MIN, 0.55),
        ("rate(x[20m])", &ramp(0, 4 * MIN, 120.0, 240.0, 10), 10 * MIN, 20 * MIN, 0.6),
        ("rate(x[20m])", &ramp(0, 4 * MIN, 300.0, 240.0, 10), 10 * MIN, 20 * MIN, 0.6),
        ("rate(x[20m])", &ramp(0, 4 * MIN, 0.0, 240.0, 10), 50 * MIN, 20 * MIN, 0.6),
        // "Counter resets at end of range are ignored by rate()": 0+10x9 0 10 over [6m] -> 0.
        ("rate(x[6m])", &[ramp(0, m5, 0.0, 10.0, 9), ramp(10 * m5, m5, 0.0, 10.0, 1)].concat(), 50 * MIN, 6 * MIN, 0.0),
        // delta does not treat drops as resets: the window (0, 30m] of 0 1 2 3 2 3 4 holds
        // 1 .. 4 from 5m to 30m, a difference of 3 over 25m; the first sample is one interval
        // (5m < 1.1 intervals) after the start, so it extrapolates all the way: 3 * 30/25.
        ("delta(x[30m])", &every(m5, &[0., 1., 2., 3., 2., 3., 4.].map(Some)), 30 * MIN, 30 * MIN, 3.6),
    ];
    for (q, pts, ts, range, want) in cases {
        let o = eval(q, pts, *ts, *range);
        assert_close(o.value(), *want, &format!("{q} at {ts}"));
        assert!(o.samples()[0].drop_name, "{q} drops the name");
    }
}

#[test]
fn rate_needs_two_samples() {
    let pts = [(50 * MIN, 1.0)];
    assert!(eval("rate(x[5m])", &pts, 50 * MIN, 5 * MIN).is_empty());
    assert!(eval("irate(x[5m])", &pts, 50 * MIN, 5 * MIN).is_empty());
    assert!(eval("deriv(x[5m])", &pts, 50 * MIN, 5 * MIN).is_empty());
}

#[test]
fn rate_with_offset_extrapolates_towards_the_shifted_window() {
    // functions.test: rate(calculate_rate_offset_total[10m] offset 5m) at 50m, 0+10x10.
    let pts = ramp(0, 5 * MIN, 0.0, 10.0, 10);
    let m = metric(&[("__name__", "calculate_rate_offset_total")]);
    let w = window_of(&pts, 45 * MIN, 10 * MIN);
    let o = call_window("rate(x[10m] offset 5m)", &m, &w, Opts { ts: 50 * MIN, range_ms: 10 * MIN, ..Opts::default() });
    assert_close(o.value(), 0.03333333333333333, "offset rate");
}

#[test]
fn non_counter_info_only_for_rate_and_increase() {
    let m = metric(&[("__name__", "some_gauge")]);
    let pts = [(0, 1.0), (60_000, 2.0)];
    for (q, want) in
        [("rate(some_gauge[5m])", true), ("increase(some_gauge[5m])", true), ("delta(some_gauge[5m])", false)]
    {
        let o = call_window(q, &m, &pts, Opts { ts: 60_000, range_ms: 5 * MIN, ..Opts::default() });
        let infos = o.annotations.infos();
        if want {
            assert_eq!(
                infos,
                vec![
                    "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"some_gauge\" (1:6)"
                        .to_string()
                ]
                .into_iter()
                .map(|s| if q.starts_with("increase") { s.replace("(1:6)", "(1:10)") } else { s })
                .collect::<Vec<_>>(),
                "{q}"
            );
        } else {
            assert!(infos.is_empty(), "{q}");
        }
    }
    let ok = metric(&[("__name__", "x_bucket")]);
    let o = call_window("rate(x_bucket[5m])", &ok, &pts, Opts { ts: 60_000, range_ms: 5 * MIN, ..Opts::default() });
    assert!(o.annotations.infos().is_empty());
}

#[test]
fn irate_and_idelta() {
    let m5 = 5 * MIN;
    let foo = ramp(0, m5, 0.0, 10.0, 10);
    let mut bar = ramp(0, m5, 0.0, 10.0, 5);
    bar.extend(ramp(6 * m5, m5, 0.0, 10.0, 5));
    // functions.test "Tests for irate()".
    assert_close(eval("irate(x[50m])", &foo, 50 * MIN, 50 * MIN).value(), 10.0 / 300.0, "foo");
    assert_close(eval("irate(x[50m])", &bar, 50 * MIN, 50 * MIN).value(), 10.0 / 300.0, "bar");
    // At 30m bar just reset to 0: the rate is the new value over the interval.
    assert_close(eval("irate(x[50m])", &bar, 30 * MIN, 50 * MIN).value(), 0.0, "bar reset");
    // 1 NaN NaN 5 11: at 20m the last two are 5 and 11 -> 6/300.
    let nan = every(m5, &[Some(1.0), Some(f64::NAN), Some(f64::NAN), Some(5.0), Some(11.0)]);
    assert_close(eval("irate(x[15m1s])", &nan, 20 * MIN, 15 * MIN + 1000).value(), 0.02, "nan");
    assert!(eval("irate(x[15m1s])", &nan, 10 * MIN, 15 * MIN + 1000).value().is_nan());
    // idelta keeps drops as negative differences.
    let drop = every(m5, &[Some(5.0), Some(2.0)]);
    assert_close(eval("idelta(x[10m])", &drop, 5 * MIN, 10 * MIN).value(), -3.0, "idelta");
    assert_close(eval("irate(x[10m])", &drop, 5 * MIN, 10 * MIN).value(), 2.0 / 300.0, "irate reset");
}

#[test]
fn changes_and_resets() {
    let m5 = 5 * MIN;
    // functions.test "Tests for resets()/changes()".
    let foo = every(m5, &[1., 2., 3., 0., 1., 0., 0., 1., 2., 0.].map(Some));
    let bar = every(m5, &[1., 2., 3., 4., 5., 1., 2., 3., 4., 5.].map(Some));
    let biz = every(m5, &[0., 0., 0., 0., 0., 1., 1., 1., 1., 1.].map(Some));
    let nans = every(m5, &[f64::NAN; 3].map(Some));
    let zero_nan = every(m5, &[0.0, f64::NAN, 0.0].map(Some));
    let cases: &[(&str, &[(i64, f64)], i64, f64)] = &[
        ("resets(x[5m])", &foo, 5 * MIN, f64::NAN),
        ("resets(x[10m])", &foo, 10 * MIN, 0.0),
        ("resets(x[20m])", &foo, 20 * MIN, 1.0),
        ("resets(x[32m])", &foo, 32 * MIN, 2.0),
        ("resets(x[32m])", &bar, 32 * MIN, 1.0),
        ("resets(x[50m])", &foo, 50 * MIN, 3.0),
        ("changes(x[20m])", &foo, 20 * MIN, 2.0),
        ("changes(x[20m])", &bar, 20 * MIN, 2.0),
        ("changes(x[30m])", &foo, 30 * MIN, 3.0),
        ("changes(x[30m])", &bar, 30 * MIN, 4.0),
        ("changes(x[50m])", &foo, 50 * MIN, 7.0),
        ("changes(x[50m])", &bar, 50 * MIN, 8.0),
        ("changes(x[50m])", &biz, 50 * MIN, 1.0),
    ];
    // All evaluated at 50m (the last sample is at 45m); NaN stands for "no result".
    for (q, pts, range, want) in cases {
        let o = eval(q, pts, 50 * MIN, *range);
        if want.is_nan() {
            assert!(o.is_empty(), "{q}");
        } else {
            assert_close(o.value(), *want, q);
        }
    }
    // "changes(x[20m])" at 15m with NaN NaN NaN and 0 NaN 0.
    assert_eq!(eval("changes(x[20m])", &nans, 15 * MIN, 20 * MIN).value(), 0.0);
    assert_eq!(eval("changes(x[20m])", &zero_nan, 15 * MIN, 20 * MIN).value(), 2.0);
}

#[test]
fn deriv_and_predict_linear() {
    // functions.test "Tests for deriv() and predict_linear()": testcounter_reset_middle_total
    // 0+10x4 0+10x5 (load 5m), whose regression is worked out in the script's comments.
    let reset = [ramp(0, 5 * MIN, 0.0, 10.0, 4), ramp(25 * MIN, 5 * MIN, 0.0, 10.0, 5)].concat();
    assert_close(eval("deriv(x[100m])", &reset, 50 * MIN, 100 * MIN).value(), 0.010606060606060607, "deriv");
    // "deriv should return the same as rate in simple cases": 0+80x10.
    let line = ramp(0, 5 * MIN, 0.0, 80.0, 10);
    assert_close(eval("deriv(x[50m])", &line, 50 * MIN, 50 * MIN).value(), 0.26666666666666666, "deriv line");
    // "deriv should return NaN in case of +Inf or -Inf found".
    let inf =
        [vec![(0, f64::NEG_INFINITY)], ramp(5 * MIN, 5 * MIN, 0.0, 80.0, 10), vec![(55 * MIN, f64::INFINITY)]].concat();
    assert!(eval("deriv(x[100m])", &inf, 100 * MIN, 100 * MIN).value().is_nan());
    // A constant series has slope 0.
    assert_eq!(eval("deriv(x[100m])", &ramp(0, MIN, 3.0, 0.0, 5), 5 * MIN, 100 * MIN).value(), 0.0);

    let m = metric(&[]);
    let cases: &[(&str, i64, i64, i64, f64)] = &[
        // (query, step time, window end, range, want)
        ("predict_linear(x[50m], 3600)", 50 * MIN, 50 * MIN, 50 * MIN, 70.0),
        ("predict_linear(x[55m] @ 3000, 3600)", 50 * MIN, 50 * MIN, 55 * MIN, 76.81818181818181),
        ("predict_linear(x[55m] @ 3000, 3600)", 10 * MIN, 50 * MIN, 55 * MIN, 51.36363636363637),
        ("predict_linear(x[55m] @ 3000, 3600)", 70 * MIN, 50 * MIN, 55 * MIN, 89.54545454545455),
    ];
    for (q, ts, end, range, want) in cases {
        let f = window_of(&reset, *end, *range);
        let w = [Window {
            metric: &m,
            floats: &f,
            before: None,
            after: None,
            drop_name: false,
            counter_name: counter_name(&m),
        }];
        let o = call(q, &[Arg::Matrix(&w), Arg::Scalar(3600.0)], Opts { ts: *ts, range_ms: *range, ..Opts::default() });
        assert_close(o.value(), *want, q);
    }
}

#[test]
fn double_exponential_smoothing_cases() {
    let m = metric(&[]);
    let run = |f: &[(i64, f64)], sf: f64, tf: f64| {
        let w = [Window {
            metric: &m,
            floats: f,
            before: None,
            after: None,
            drop_name: false,
            counter_name: counter_name(&m),
        }];
        call(
            "double_exponential_smoothing(x[5m], 0.5, 0.5)",
            &[Arg::Matrix(&w), Arg::Scalar(sf), Arg::Scalar(tf)],
            Opts { ts: 0, range_ms: 5 * MIN, ..Opts::default() },
        )
    };
    // A straight line is reproduced exactly: 0, 10, 20 -> 20.
    assert_close(run(&ramp(0, MIN, 0.0, 10.0, 2), 0.5, 0.5).value(), 20.0, "line");
    // By hand, sf = tf = 0.5 on 0, 10, 0: s1 = 0, b = 10; i=1: s = 5 + 0.5*(0+10) = 10;
    // i=2: b = 0.5*(10-0) + 0.5*10 = 10, s = 0 + 0.5*(10+10) = 10.
    assert_close(run(&[(0, 0.0), (1, 10.0), (2, 0.0)], 0.5, 0.5).value(), 10.0, "by hand");
    assert!(run(&[(0, 1.0)], 0.5, 0.5).is_empty());
    let err = run(&ramp(0, MIN, 0.0, 1.0, 2), 1.0, 0.5).out.unwrap_err();
    assert_eq!(err.0, "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000");
    let err = run(&ramp(0, MIN, 0.0, 1.0, 2), 0.5, 0.0).out.unwrap_err();
    assert_eq!(err.0, "invalid trend factor. Expected: 0 < tf < 1, got: 0.000000");
}

/// `extended_vectors.test` "Reference from PROM-52": `metric 1+1x4 9+1x4` every 15 s.
fn prom52_complete() -> Vec<(i64, f64)> {
    [ramp(0, 15_000, 1.0, 1.0, 4), ramp(75_000, 15_000, 9.0, 1.0, 4)].concat()
}

/// The same with a gap: `metric 1+1x2 _ _ 9+1x4`.
fn prom52_partial() -> Vec<(i64, f64)> {
    [ramp(0, 15_000, 1.0, 1.0, 2), ramp(75_000, 15_000, 9.0, 1.0, 4)].concat()
}

fn eval_extended(query: &str, pts: &[(i64, f64)], ts: i64, anchored: bool, smoothed: bool) -> Outcome {
    let m = metric(&[]);
    let range = MIN;
    let f = window_of(pts, ts, range);
    let w = [Window {
        metric: &m,
        floats: &f,
        before: last_at_or_before(pts, ts - range),
        after: first_after(pts, ts),
        drop_name: false,
        counter_name: counter_name(&m),
    }];
    call(query, &[Arg::Matrix(&w)], Opts { ts, range_ms: range, anchored, smoothed })
}

#[test]
fn anchored_and_smoothed_increase_match_prom52() {
    let s = 1000;
    // (eval time, plain, anchored, smoothed) from extended_vectors.test.
    let complete: &[(i64, Option<f64>, f64, f64)] = &[
        (5 * s, None, 0.0, 0.333333333),
        (20 * s, Some(1.833333333), 1.0, 1.333333333),
        (35 * s, Some(2.833333333), 2.0, 2.333333333),
        (50 * s, Some(4.0), 3.0, 3.333333333),
        (65 * s, Some(4.0), 4.0, 5.0),
        (80 * s, Some(8.0), 7.0, 7.0),
        (95 * s, Some(8.0), 7.0, 7.0),
        (110 * s, Some(8.0), 7.0, 7.0),
        (125 * s, Some(4.0), 7.0, 6.0),
    ];
    let pts = prom52_complete();
    for &(ts, plain, anchored, smoothed) in complete {
        let o = eval_extended("increase(metric[1m])", &pts, ts, false, false);
        match plain {
            Some(v) => assert_close(o.value(), v, &format!("plain at {ts}")),
            None => assert!(o.is_empty(), "plain at {ts}"),
        }
        let o = eval_extended("increase(metric[1m] anchored)", &pts, ts, true, false);
        assert_close(o.value(), anchored, &format!("anchored at {ts}"));
        let o = eval_extended("increase(metric[1m] smoothed)", &pts, ts, false, true);
        assert_close((o.value() * 1e9).round() / 1e9, smoothed, &format!("smoothed at {ts}"));
    }
    let partial: &[(i64, Option<f64>, f64)] = &[
        (5 * s, None, 0.0),
        (20 * s, Some(1.833333333), 1.0),
        (35 * s, Some(2.833333333), 2.0),
        (50 * s, Some(3.166666666), 2.0),
        (65 * s, Some(2.166666666), 2.0),
        (80 * s, Some(8.0), 7.0),
        (95 * s, Some(1.833333333), 7.0),
        (110 * s, Some(2.833333333), 8.0),
    ];
    let pts = prom52_partial();
    for &(ts, plain, anchored) in partial {
        let o = eval_extended("increase(metric[1m])", &pts, ts, false, false);
        match plain {
            Some(v) => assert_close((o.value() * 1e9).trunc() / 1e9, v, &format!("plain at {ts}")),
            None => assert!(o.is_empty(), "plain at {ts}"),
        }
        let o = eval_extended("increase(metric[1m] anchored)", &pts, ts, true, false);
        assert_close(o.value(), anchored, &format!("anchored at {ts}"));
    }
}
