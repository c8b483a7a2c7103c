use super::*;
use crate::model::MatchType;
use crate::tsdb::{Db, Options};

fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs).unwrap()
}

fn series(name: &str) -> Labels {
    ls(&[("__name__", name)])
}

fn ex(trace: &str, value: f64, ts: i64) -> Exemplar {
    Exemplar { labels: ls(&[("trace_id", trace)]), value, ts, has_ts: true }
}

fn storage(max: i64) -> (ExemplarStorage, Arc<Metrics>) {
    let m = Arc::new(Metrics::default());
    (ExemplarStorage::new(max, m.clone()), m)
}

fn all() -> Vec<Vec<Matcher>> {
    vec![vec![Matcher::new(MatchType::Regex, "__name__", ".+").unwrap()]]
}

/// `(series name, [(trace, ts)])` of a select over everything, for compact comparisons.
fn dump(s: &ExemplarStorage) -> Vec<(String, Vec<(String, i64)>)> {
    s.select(i64::MIN, i64::MAX, &all())
        .into_iter()
        .map(|r| {
            let name = r.series_labels.metric_name().unwrap_or_default().to_string();
            let e = r.exemplars.iter().map(|e| (e.labels.get("trace_id").unwrap_or("").to_string(), e.ts)).collect();
            (name, e)
        })
        .collect()
}

fn owned(v: &[(&str, &[(&str, i64)])]) -> Vec<(String, Vec<(String, i64)>)> {
    v.iter().map(|(n, e)| (n.to_string(), e.iter().map(|(t, ts)| (t.to_string(), *ts)).collect())).collect()
}

#[test]
fn ring_wraps_and_index_follows_the_oldest_entry() {
    let (s, m) = storage(3);
    // Ring after each add (slot 0, 1, 2): a1 b1 a2, then a3 overwrites a1 (slot 0), b2 b1.
    s.add(series("a"), ex("a1", 1.0, 10)).unwrap();
    s.add(series("b"), ex("b1", 1.0, 11)).unwrap();
    s.add(series("a"), ex("a2", 1.0, 12)).unwrap();
    assert_eq!(dump(&s), owned(&[("a", &[("a1", 10), ("a2", 12)]), ("b", &[("b1", 11)])]));
    s.add(series("a"), ex("a3", 1.0, 13)).unwrap();
    assert_eq!(dump(&s), owned(&[("a", &[("a2", 12), ("a3", 13)]), ("b", &[("b1", 11)])]));
    s.add(series("b"), ex("b2", 1.0, 14)).unwrap();
    // b1 (slot 1) was overwritten by b2: b keeps one exemplar.
    assert_eq!(dump(&s), owned(&[("a", &[("a2", 12), ("a3", 13)]), ("b", &[("b2", 14)])]));
    s.add(series("c"), ex("c1", 1.0, 15)).unwrap();
    // a2 (slot 2) overwritten.
    assert_eq!(dump(&s), owned(&[("a", &[("a3", 13)]), ("b", &[("b2", 14)]), ("c", &[("c1", 15)])]));
    s.add(series("c"), ex("c2", 1.0, 16)).unwrap();
    // a3 (slot 0) overwritten: series a is gone from the index.
    assert_eq!(dump(&s), owned(&[("b", &[("b2", 14)]), ("c", &[("c1", 15), ("c2", 16)])]));
    assert_eq!(m.exemplars_appended.load(Relaxed), 7);
    assert_eq!(m.exemplars_in_storage.load(Relaxed), 3);
    assert_eq!(m.series_with_exemplars.load(Relaxed), 2);
    assert_eq!(m.max_exemplars.load(Relaxed), 3);
    // The oldest left is b2 at 14 ms.
    assert_eq!(m.last_exemplars_ts_ms.load(Relaxed), 14);
}

#[test]
fn ring_of_one_keeps_only_the_newest() {
    let (s, _) = storage(1);
    s.add(series("a"), ex("1", 1.0, 1)).unwrap();
    s.add(series("a"), ex("2", 1.0, 2)).unwrap();
    s.add(series("b"), ex("3", 1.0, 3)).unwrap();
    assert_eq!(dump(&s), owned(&[("b", &[("3", 3)])]));
}

#[test]
fn duplicates_are_skipped_and_out_of_order_refused() {
    let (s, m) = storage(10);
    assert_eq!(s.add(series("a"), ex("x", 1.0, 100)), Ok(true));
    // Identical to the newest: silently skipped.
    assert_eq!(s.validate(&series("a"), &ex("x", 1.0, 100)), Ok(false));
    assert_eq!(s.add(series("a"), ex("x", 1.0, 100)), Ok(false));
    // Same time, other value or labels: out of order (2.42 wants strictly newer).
    assert_eq!(s.add(series("a"), ex("x", 2.0, 100)), Err(ExemplarError::OutOfOrder));
    assert_eq!(s.add(series("a"), ex("y", 1.0, 100)), Err(ExemplarError::OutOfOrder));
    assert_eq!(s.add(series("a"), ex("x", 1.0, 99)), Err(ExemplarError::OutOfOrder));
    // Validation alone does not count.
    assert_eq!(s.validate(&series("a"), &ex("x", 1.0, 50)), Err(ExemplarError::OutOfOrder));
    assert_eq!(m.exemplars_out_of_order.load(Relaxed), 3);
    // Other series are independent; a newer one is fine.
    assert_eq!(s.add(series("b"), ex("x", 1.0, 1)), Ok(true));
    assert_eq!(s.add(series("a"), ex("x", 1.0, 101)), Ok(true));
    assert_eq!(m.exemplars_appended.load(Relaxed), 3);
    // Only the newest counts as a duplicate: an older equal one is out of order.
    assert_eq!(s.add(series("a"), ex("x", 1.0, 100)), Err(ExemplarError::OutOfOrder));
    // NaN never equals itself, so it is not a duplicate but out of order.
    s.add(series("c"), ex("x", f64::NAN, 5)).unwrap();
    assert_eq!(s.add(series("c"), ex("x", f64::NAN, 5)), Err(ExemplarError::OutOfOrder));
}

#[test]
fn label_length_limit_counts_characters_not_bytes() {
    let (s, _) = storage(10);
    // 8 characters of name plus 120 of value: exactly 128, allowed.
    let ok = Exemplar { labels: ls(&[("trace_id", &"é".repeat(120))]), value: 1.0, ts: 1, has_ts: true };
    assert_eq!(s.add(series("a"), ok), Ok(true));
    let long = Exemplar { labels: ls(&[("trace_id", &"é".repeat(121))]), value: 1.0, ts: 2, has_ts: true };
    assert_eq!(s.validate(&series("a"), &long), Err(ExemplarError::LabelLength));
    assert_eq!(s.add(series("a"), long), Err(ExemplarError::LabelLength));
    assert_eq!(ExemplarError::LabelLength.to_string(), "exemplar label length exceeds maximum of 128 UTF-8 characters");
}

#[test]
fn disabled_storage_refuses() {
    let (s, m) = storage(0);
    assert_eq!(s.add(series("a"), ex("x", 1.0, 1)), Err(ExemplarError::Disabled));
    assert!(s.select(i64::MIN, i64::MAX, &all()).is_empty());
    assert_eq!(m.max_exemplars.load(Relaxed), 0);
    let (s, m) = storage(-5);
    assert!(!s.is_enabled());
    assert_eq!(m.max_exemplars.load(Relaxed), 0);
}

#[test]
fn select_filters_by_time_and_matcher_sets() {
    let (s, _) = storage(100);
    let a = ls(&[("__name__", "req_total"), ("job", "api")]);
    let b = ls(&[("__name__", "req_total"), ("job", "db")]);
    let c = ls(&[("__name__", "other")]);
    for t in 1..=5 {
        s.add(a.clone(), ex(&format!("a{t}"), t as f64, t * 10)).unwrap();
        s.add(b.clone(), ex(&format!("b{t}"), t as f64, t * 10 + 1)).unwrap();
    }
    s.add(c.clone(), ex("c", 1.0, 30)).unwrap();
    let eq = |n: &str, v: &str| Matcher::new(MatchType::Equal, n, v).unwrap();
    // One set: job="api", time [20, 40].
    let got = s.select(20, 40, &[vec![eq("__name__", "req_total"), eq("job", "api")]]);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].series_labels, a);
    assert_eq!(got[0].exemplars.iter().map(|e| e.ts).collect::<Vec<_>>(), [20, 30, 40]);
    assert!(got[0].exemplars.iter().all(|e| e.has_ts));
    // Two sets: union, sorted by series labels.
    let got = s.select(31, 31, &[vec![eq("job", "db")], vec![eq("__name__", "other")]]);
    let names: Vec<_> = got.iter().map(|r| r.series_labels.clone()).collect();
    assert_eq!(names, std::slice::from_ref(&b));
    let got = s.select(30, 31, &[vec![eq("job", "db")], vec![eq("__name__", "other")]]);
    let names: Vec<_> = got.iter().map(|r| r.series_labels.clone()).collect();
    assert_eq!(names, [c.clone(), b.clone()], "sorted by labels: other < req_total");
    // A matcher on a missing label matches the empty value.
    let got = s.select(0, 100, &[vec![eq("job", "")]]);
    assert_eq!(got.iter().map(|r| r.series_labels.clone()).collect::<Vec<_>>(), [c]);
    // A window between exemplars selects nothing; no matcher sets selects nothing.
    assert!(s.select(12, 19, &[vec![eq("job", "api")]]).is_empty());
    assert!(s.select(0, 100, &[]).is_empty());
}

#[test]
fn resize_keeps_the_newest() {
    let (s, m) = storage(4);
    for t in 1..=6 {
        // Alternate series a, b: a1 b2 a3 b4 a5 b6; the ring (4) holds a3 b4 a5 b6.
        let name = if t % 2 == 1 { "a" } else { "b" };
        s.add(series(name), ex(&t.to_string(), 1.0, t)).unwrap();
    }
    assert_eq!(dump(&s), owned(&[("a", &[("3", 3), ("5", 5)]), ("b", &[("4", 4), ("6", 6)])]));
    // Shrinking to 3 keeps b4 a5 b6.
    assert_eq!(s.resize(3), 3);
    assert_eq!(dump(&s), owned(&[("a", &[("5", 5)]), ("b", &[("4", 4), ("6", 6)])]));
    assert_eq!(m.max_exemplars.load(Relaxed), 3);
    assert_eq!(m.exemplars_in_storage.load(Relaxed), 3);
    // Growing keeps everything, and new ones go after the newest.
    assert_eq!(s.resize(10), 3);
    s.add(series("a"), ex("7", 1.0, 7)).unwrap();
    assert_eq!(dump(&s), owned(&[("a", &[("5", 5), ("7", 7)]), ("b", &[("4", 4), ("6", 6)])]));
    // Out-of-order checks still see the newest per series after a resize.
    assert_eq!(s.add(series("b"), ex("x", 1.0, 6)), Err(ExemplarError::OutOfOrder));
    // Resizing to 0 drops everything.
    assert_eq!(s.resize(0), 0);
    assert!(dump(&s).is_empty());
    assert_eq!(m.series_with_exemplars.load(Relaxed), 0);
}

#[test]
fn index_stays_consistent_under_random_workloads() {
    use proptest::prelude::*;
    proptest!(|(ops in proptest::collection::vec((0u8..4, 1i64..4), 1..200), cap in 1i64..8)| {
        let (s, _) = storage(cap);
        // A model: every stored exemplar in append order, then keep the last `cap`.
        let mut model: Vec<(u8, i64)> = Vec::new();
        let mut last: [i64; 4] = [0; 4];
        for (t, (series_id, step)) in ops.iter().enumerate() {
            let ts = last[*series_id as usize] + step;
            last[*series_id as usize] = ts;
            let name = format!("s{series_id}");
            s.add(series(&name), ex(&t.to_string(), 0.0, ts)).unwrap();
            model.push((*series_id, ts));
        }
        let keep = &model[model.len().saturating_sub(cap as usize)..];
        let mut want: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
        for (id, ts) in keep {
            want.entry(format!("s{id}")).or_default().push(*ts);
        }
        let got: std::collections::BTreeMap<String, Vec<i64>> =
            dump(&s).into_iter().map(|(n, e)| (n, e.into_iter().map(|x| x.1).collect())).collect();
        prop_assert_eq!(got, want);
    });
}

fn db_opts(max: Option<i64>) -> Options {
    Options { background_interval: None, max_exemplars: max, ..Options::default() }
}

#[test]
fn appender_logs_exemplars_and_reopen_replays_them() {
    let dir = tempfile::tempdir().unwrap();
    let a = ls(&[("__name__", "h_bucket"), ("le", "1")]);
    let b = ls(&[("__name__", "c_total")]);
    {
        let db = Db::open(dir.path(), db_opts(Some(100))).unwrap();
        let mut app = db.appender();
        assert!(app.exemplars_enabled());
        let ra = app.append(&a, 1000, 1.0).unwrap();
        let rb = app.append(&b, 1000, 5.0).unwrap();
        app.append_exemplar(ra, &ex("t1", 0.5, 900)).unwrap();
        app.append_exemplar(rb, &ex("t2", 1.0, 950)).unwrap();
        // Nothing is visible before commit.
        assert!(db.select_exemplars(i64::MIN, i64::MAX, &all()).is_empty());
        app.commit().unwrap();
        app.append(&a, 2000, 2.0).unwrap();
        app.append_exemplar(ra, &ex("t3", 0.7, 1900)).unwrap();
        // Refused on append: older than the stored newest.
        assert_eq!(app.append_exemplar(ra, &ex("old", 0.1, 800)), Err(ExemplarError::OutOfOrder));
        assert_eq!(app.append_exemplar(999, &ex("x", 0.1, 800)), Err(ExemplarError::UnknownRef(999)));
        app.commit().unwrap();
        // A rolled-back exemplar is neither stored nor logged.
        app.append(&a, 3000, 3.0).unwrap();
        app.append_exemplar(ra, &ex("gone", 0.9, 2900)).unwrap();
        app.rollback();
        assert_eq!(
            dump(&db.head().exemplars),
            owned(&[("c_total", &[("t2", 950)]), ("h_bucket", &[("t1", 900), ("t3", 1900)])])
        );
        db.close().unwrap();
    }
    let db = Db::open(dir.path(), db_opts(Some(100))).unwrap();
    let got = db.select_exemplars(i64::MIN, i64::MAX, &all());
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].series_labels, a);
    assert_eq!(got[1].exemplars, [ex("t1", 0.5, 900), ex("t3", 0.7, 1900)]);
    assert_eq!(got[0].exemplars, [ex("t2", 1.0, 950)]);
    // Replay re-validates: the next exemplar must still be newer.
    let mut app = db.appender();
    let ra = app.append(&a, 4000, 4.0).unwrap();
    assert_eq!(app.append_exemplar(ra, &ex("t3", 0.7, 1900)), Ok(ra), "duplicate of the newest: no-op");
    assert_eq!(app.pending_exemplars(), 0);
    drop(app);
    db.close().unwrap();
    // Opened without the feature, the WAL still replays (exemplars ignored).
    let db = Db::open(dir.path(), db_opts(None)).unwrap();
    assert!(db.select_exemplars(i64::MIN, i64::MAX, &all()).is_empty());
    let mut app = db.appender();
    assert!(!app.exemplars_enabled());
    let ra = app.append(&a, 5000, 5.0).unwrap();
    assert_eq!(app.append_exemplar(ra, &ex("t9", 1.0, 4900)), Ok(ra));
    app.commit().unwrap();
    assert_eq!(db.head().max_time(), 5000);
}

#[test]
fn exemplar_only_commit_logs_its_series() {
    let dir = tempfile::tempdir().unwrap();
    let a = series("only_exemplar");
    {
        let db = Db::open(dir.path(), db_opts(Some(10))).unwrap();
        let mut app = db.appender();
        let r = app.append(&a, 10_000, 1.0).unwrap();
        app.commit().unwrap();
        // A commit holding just an exemplar.
        app.append_exemplar(r, &ex("e", 2.0, 9_000)).unwrap();
        assert!(app.is_empty());
        app.commit().unwrap();
        db.close().unwrap();
    }
    let db = Db::open(dir.path(), db_opts(Some(10))).unwrap();
    assert_eq!(dump(&db.head().exemplars), owned(&[("only_exemplar", &[("e", 9_000)])]));
}

#[test]
fn reload_resize_through_the_db() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), db_opts(Some(5))).unwrap();
    let mut app = db.appender();
    let r = app.append(&series("a"), 1, 1.0).unwrap();
    app.commit().unwrap();
    for t in 1..=5 {
        app.append_exemplar(r, &ex(&t.to_string(), 1.0, t)).unwrap();
        app.commit().unwrap();
    }
    db.set_max_exemplars(2);
    assert_eq!(dump(&db.head().exemplars), owned(&[("a", &[("4", 4), ("5", 5)])]));
    assert_eq!(db.metrics().max_exemplars.load(Relaxed), 2);
    // Off: resizing is ignored.
    let dir2 = tempfile::tempdir().unwrap();
    let off = Db::open(dir2.path(), db_opts(None)).unwrap();
    off.set_max_exemplars(10);
    assert_eq!(off.metrics().max_exemplars.load(Relaxed), 0);
}
