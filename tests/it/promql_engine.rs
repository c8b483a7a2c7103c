//! Engine behaviour outside the upstream scripts: limits, error types, and results read
//! through the real storage engine after compaction.

use cairn::model::Labels;
use cairn::promql::engine::{Engine, EngineOptions, QueryError, Value};
use cairn::tsdb::{Db, Options};

fn db_with_counter(dir: &std::path::Path) -> Db {
    let db = Db::open(dir, Options { background_interval: None, retention_time: 0, ..Options::default() }).unwrap();
    let mut app = db.appender();
    let l = Labels::from_pairs(&[("__name__", "c_total"), ("job", "a")]).unwrap();
    // 10 per 15s for 3h: rate = 10/15 per second everywhere.
    for k in 0..720i64 {
        app.append(&l, k * 15_000, (k * 10) as f64).unwrap();
    }
    app.commit().unwrap();
    db
}

#[test]
fn range_query_limits_and_types() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_counter(dir.path());
    let e = Engine::default();
    let err = e.range(&db, "c_total", 0, 11_001 * 1000, 1000).unwrap_err();
    assert_eq!(err.error_type(), "bad_data");
    assert!(err.to_string().starts_with("exceeded maximum resolution of 11,000 points"), "{err}");
    let err = e.range(&db, "c_total[5m]", 0, 60_000, 1000).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"
    );
    let err = e.instant(&db, "sum(", 0).unwrap_err();
    assert!(matches!(err, QueryError::Parse(_)));
    assert_eq!(err.error_type(), "bad_data");
    let small = Engine::new(EngineOptions { max_samples: 10, ..EngineOptions::default() });
    let err = small.instant(&db, "count_over_time(c_total[1h])", 3_600_000).unwrap_err();
    assert_eq!(err, QueryError::TooManySamples("query execution"));
    assert_eq!(err.error_type(), "execution");
}

#[test]
fn rate_is_the_same_from_head_and_from_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_counter(dir.path());
    let e = Engine::default();
    let q = "rate(c_total[5m])";
    let before = e.range(&db, q, 600_000, 10_000_000, 60_000).unwrap();
    db.flush_head().unwrap();
    db.compact().unwrap();
    assert!(!db.blocks().is_empty());
    let after = e.range(&db, q, 600_000, 10_000_000, 60_000).unwrap();
    let (Value::Matrix(a), Value::Matrix(b)) = (before.value, after.value) else { panic!("matrix results") };
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].floats, b[0].floats);
    // 10 every 15 s is 2/3 per second; the name is dropped by rate.
    assert!(a[0].floats.iter().all(|p| (p.1 - 10.0 / 15.0).abs() < 1e-9), "{:?}", &a[0].floats[..3]);
    assert_eq!(a[0].metric.get("__name__"), None);
    // Steps 600s, 660s, ..., 9960s: 157 of them (the next, 10020s, is past the end).
    assert_eq!(a[0].floats.len(), 157);
}

#[test]
fn a_set_cancel_flag_stops_the_query() {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_counter(dir.path());
    let flag = Arc::new(AtomicBool::new(false));
    let e = Engine::default().with_cancel(flag.clone());
    assert!(e.instant(&db, "rate(c_total[5m])", 3_600_000).is_ok());
    flag.store(true, std::sync::atomic::Ordering::Relaxed);
    let err = e.instant(&db, "rate(c_total[5m])", 3_600_000).unwrap_err();
    assert_eq!(err, QueryError::Canceled("query execution"));
    assert_eq!(err.error_type(), "canceled");
}
