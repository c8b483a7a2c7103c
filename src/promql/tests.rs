//! Parser, checker and printer tests.

use super::*;

fn all() -> ParserOptions {
    ParserOptions::all_enabled()
}

#[test]
fn smoke() {
    let e = parse_expr("sum by (job) (rate(foo{bar=\"baz\"}[5m] offset 1m))", &all()).unwrap();
    assert_eq!(e.to_string(), "sum by (job) (rate(foo{bar=\"baz\"}[5m] offset 1m))");
}

#[test]
fn debug_rt() {
    for q in ["-10^3 * - SUM(http_requests_total) BY (job) ^ -1", "sum_over_time(metric{job=\"1\"}[100s] @ 100)", "increase(metric[1h30m])", "-10^3 * - SUM(x) BY (job) ^ -1", "sum_over_time(metric{job=\"1\"}[100s] @ 100 offset 50s)", "-10^3 * - SUM(http_requests_total) BY (job) ^ -1", "increase(metric[1h30m])"] {
        let e = parse_expr(q, &all()).unwrap();
        let p = e.to_string();
        let e2 = parse_expr(&p, &all()).unwrap();
        assert!(e == e2, "{q}"); if e != e2 { eprintln!("{q}\n{e:?}\n{e2:?}\n"); }
    }
}
