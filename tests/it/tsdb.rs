//! Storage engine behaviour through its public API: isolation under concurrency,
//! compaction equivalence, retention, deletion, out-of-order ingestion, snapshots.

use cairn::model::{Labels, MatchType, Matcher, Sample};
use cairn::tsdb::{AppendError, Db, Options};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn opts() -> Options {
    Options { background_interval: None, wal_segment_size: 256 * 1024, ..Options::default() }
}

fn lbl(name: &str, i: usize) -> Labels {
    Labels::from_pairs(&[
        ("__name__", name),
        ("i", &i.to_string()),
        ("parity", if i.is_multiple_of(2) { "even" } else { "odd" }),
    ])
    .unwrap()
}

fn eq(name: &str, value: &str) -> Matcher {
    Matcher::new(MatchType::Equal, name, value).unwrap()
}

/// Everything the database returns for `matchers`, as a map from labels to samples.
fn dump(db: &Db, matchers: &[Matcher]) -> BTreeMap<Labels, Vec<(i64, u64)>> {
    let q = db.querier(i64::MIN, i64::MAX);
    q.select(matchers)
        .unwrap()
        .into_iter()
        .map(|s| {
            let v = s.samples().unwrap().into_iter().map(|Sample { t, v }| (t, v.to_bits())).collect();
            (s.labels().clone(), v)
        })
        .collect()
}

/// The value series `i` has at time `t` in the generated workload (a counter).
fn value(i: usize, t: i64) -> f64 {
    (t / 15_000) as f64 * (i % 7 + 1) as f64
}

/// Ingests `series` series every 15s over `[from, to)`, compacting every simulated hour.
/// Returns the model of what was committed.
fn ingest(db: &Db, series: usize, from: i64, to: i64) -> BTreeMap<Labels, Vec<(i64, u64)>> {
    let mut model: BTreeMap<Labels, Vec<(i64, u64)>> = BTreeMap::new();
    let mut app = db.appender();
    let mut t = from;
    while t < to {
        for i in 0..series {
            let v = value(i, t);
            app.append(&lbl("m", i), t, v).unwrap();
            model.entry(lbl("m", i)).or_default().push((t, v.to_bits()));
        }
        app.commit().unwrap();
        if t % HOUR == 0 {
            db.compact().unwrap();
        }
        t += 15_000;
    }
    model
}

#[test]
fn compaction_and_restart_keep_every_sample() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let model = ingest(&db, 30, 0, 13 * HOUR);
    let all = [eq("__name__", "m")];
    assert_eq!(dump(&db, &all), model, "before compaction");
    assert!(!db.blocks().is_empty(), "head compaction cut blocks");
    db.compact().unwrap();
    assert_eq!(dump(&db, &all), model, "after compaction");
    // 6h windows fully passed must have been merged into level-2 blocks.
    assert!(db.blocks().iter().any(|b| b.compaction.level >= 2), "{:?}", db.blocks());
    db.close().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(dump(&db, &all), model, "after restart (blocks + WAL replay)");
    db.flush_head().unwrap();
    db.compact().unwrap();
    assert_eq!(dump(&db, &all), model, "after flushing the head");
    // Blocks never overlap after compaction.
    let blocks = db.blocks();
    for w in blocks.windows(2) {
        assert!(w[0].max_time <= w[1].min_time, "overlap: {:?} {:?}", w[0], w[1]);
    }
    // Label lookups agree with the model.
    let q = db.querier(i64::MIN, i64::MAX);
    assert_eq!(q.label_names(&[]).unwrap(), ["__name__", "i", "parity"]);
    assert_eq!(q.label_values("parity", &[]).unwrap(), ["even", "odd"]);
    assert_eq!(q.label_values("i", &[eq("parity", "odd")]).unwrap().len(), 15);
}

#[test]
fn append_errors_are_typed_and_leave_state_intact() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let l = lbl("m", 1);
    let mut app = db.appender();
    app.append(&l, 10_000, 1.0).unwrap();
    app.commit().unwrap();
    let cases: Vec<(i64, f64, Result<(), AppendError>)> = vec![
        (10_000, 1.0, Ok(())),                               // same value: accepted silently
        (10_000, 2.0, Err(AppendError::DuplicateTimestamp)), // same time, other value
        (5_000, 1.0, Err(AppendError::OutOfOrder)),
        (20_000, 3.0, Ok(())),
        (15_000, 3.0, Err(AppendError::OutOfOrder)), // against the pending sample
    ];
    for (t, v, want) in cases {
        assert_eq!(app.append(&l, t, v).map(|_| ()), want, "t={t} v={v}");
    }
    assert!(matches!(app.append(&Labels::default(), 1, 1.0), Err(AppendError::InvalidLabels(_))));
    assert!(matches!(app.append_ref(999_999, 1, 1.0), Err(AppendError::UnknownRef(_))));
    app.commit().unwrap();
    let got = dump(&db, &[eq("i", "1")]);
    assert_eq!(got[&l], vec![(10_000, 1f64.to_bits()), (20_000, 3f64.to_bits())]);
    // Far older than the head accepts once data is 3h ahead and persisted.
    app.append(&l, 4 * HOUR, 4.0).unwrap();
    app.commit().unwrap();
    db.compact().unwrap();
    assert_eq!(app.append(&l, 1_000, 0.5).map(|_| ()), Err(AppendError::OutOfBounds));
    let m = db.metrics();
    assert_eq!(m.duplicate_samples.load(Ordering::Relaxed), 1);
    assert_eq!(m.out_of_order_samples.load(Ordering::Relaxed), 2);
    assert_eq!(m.out_of_bound_samples.load(Ordering::Relaxed), 1);
    // Rollback discards.
    app.append(&l, 5 * HOUR, 9.0).unwrap();
    app.rollback();
    app.commit().unwrap();
    assert_eq!(dump(&db, &[eq("i", "1")])[&l].len(), 3);
}

#[test]
fn special_values_round_trip_through_wal_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let specials = [
        f64::NAN,
        f64::from_bits(0x7ff0_0000_0000_0002),
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        f64::MIN_POSITIVE,
        1e308,
    ];
    let l = lbl("special", 0);
    let want: Vec<(i64, u64)> = specials.iter().enumerate().map(|(i, v)| (i as i64 * 1000, v.to_bits())).collect();
    {
        let db = Db::open(dir.path(), opts()).unwrap();
        let mut app = db.appender();
        for &(t, v) in &want {
            app.append(&l, t, f64::from_bits(v)).unwrap();
        }
        app.commit().unwrap();
        assert_eq!(dump(&db, &[eq("__name__", "special")])[&l], want, "head");
    }
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(dump(&db, &[eq("__name__", "special")])[&l], want, "after WAL replay");
    db.flush_head().unwrap();
    assert_eq!(dump(&db, &[eq("__name__", "special")])[&l], want, "from a block");
}

#[test]
fn queries_see_whole_commits_under_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), opts()).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    const GROUP: usize = 40;
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let db = db.clone();
            std::thread::spawn(move || {
                let name = format!("w{w}");
                let mut app = db.appender();
                for n in 0..400i64 {
                    for i in 0..GROUP {
                        app.append(&lbl(&name, i), n * 1000, n as f64).unwrap();
                    }
                    app.commit().unwrap();
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let db = db.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut checks = 0;
                while !stop.load(Ordering::Relaxed) || checks == 0 {
                    let name = format!("w{}", r % 2);
                    let got = dump(&db, &[eq("__name__", &name)]);
                    let lasts: Vec<Option<&(i64, u64)>> = got.values().map(|v| v.last()).collect();
                    if !got.is_empty() {
                        assert_eq!(got.len(), GROUP, "every series of a commit is visible");
                        assert!(lasts.windows(2).all(|w| w[0] == w[1]), "a query saw part of a commit: {lasts:?}");
                        for v in got.values() {
                            assert!(v.iter().enumerate().all(|(k, s)| s.0 == k as i64 * 1000), "gap in a series");
                        }
                    }
                    checks += 1;
                }
                checks
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    for w in 0..2 {
        let got = dump(&db, &[eq("__name__", &format!("w{w}"))]);
        assert!(got.values().all(|v| v.len() == 400));
    }
}

#[test]
fn time_and_size_retention_drop_old_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options { retention_time: 6 * HOUR, ..opts() }).unwrap();
    ingest(&db, 5, 0, 14 * HOUR);
    db.compact().unwrap();
    let blocks = db.blocks();
    let newest = blocks.iter().map(|b| b.max_time).max().unwrap().max(db.head().max_time());
    assert!(blocks.iter().all(|b| b.max_time > newest - 6 * HOUR), "{blocks:?}");
    assert!(db.metrics().time_retentions.load(Ordering::Relaxed) > 0);
    let got = dump(&db, &[eq("__name__", "m")]);
    let first = got.values().next().unwrap()[0].0;
    assert!(first >= newest - 8 * HOUR, "old data gone, first sample at {first}");
    drop(db);

    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options { retention_time: 0, ..opts() }).unwrap();
    ingest(&db, 5, 0, 14 * HOUR);
    db.compact().unwrap();
    let all_blocks = db.blocks().len();
    assert!(all_blocks >= 2);
    drop(db);
    let total: u64 = walk_size(dir.path());
    // Reopen with a limit below the current size: the oldest blocks go first.
    let db = Db::open(dir.path(), Options { retention_time: 0, retention_size: total / 2, ..opts() }).unwrap();
    db.compact().unwrap();
    assert!(db.blocks().len() < all_blocks);
    assert!(db.metrics().size_retentions.load(Ordering::Relaxed) > 0);
    let got = dump(&db, &[eq("__name__", "m")]);
    assert!(got.values().next().unwrap()[0].0 > 0, "the oldest data was dropped");
}

/// Bytes of blocks and WAL under `p` (head chunk files are preallocated sparse files).
fn walk_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name() != "chunks_head")
        .map(|e| if e.path().is_dir() { walk_size(&e.path()) } else { e.metadata().map_or(0, |m| m.len()) })
        .sum()
}

#[test]
fn deletion_hides_data_in_head_and_blocks_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let model = ingest(&db, 10, 0, 6 * HOUR);
    assert!(!db.blocks().is_empty());
    // Delete [1h, 5h] of the even series: spans a block and the head.
    db.delete(&[eq("parity", "even")], HOUR, 5 * HOUR).unwrap();
    let expect = |model: &BTreeMap<Labels, Vec<(i64, u64)>>| -> BTreeMap<Labels, Vec<(i64, u64)>> {
        model
            .iter()
            .map(|(l, v)| {
                let even = l.get("parity") == Some("even");
                (l.clone(), v.iter().copied().filter(|s| !(even && s.0 >= HOUR && s.0 <= 5 * HOUR)).collect())
            })
            .collect()
    };
    let want = expect(&model);
    assert_eq!(dump(&db, &[eq("__name__", "m")]), want, "after delete");
    db.close().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(dump(&db, &[eq("__name__", "m")]), want, "after restart");
    db.clean_tombstones().unwrap();
    assert_eq!(dump(&db, &[eq("__name__", "m")]), want, "after clean_tombstones");
    db.flush_head().unwrap();
    db.compact().unwrap();
    assert_eq!(dump(&db, &[eq("__name__", "m")]), want, "after flushing the head");
    // A series deleted over all time is no longer selected at all (blocks and head).
    let mut app = db.appender();
    app.append(&lbl("m", 3), 7 * HOUR, 1.0).unwrap();
    app.commit().unwrap();
    db.delete(&[eq("i", "3")], i64::MIN, i64::MAX).unwrap();
    let got = dump(&db, &[eq("__name__", "m")]);
    assert!(!got.contains_key(&lbl("m", 3)), "fully deleted series still selected");
    assert_eq!(got.len(), 9);
}

#[test]
fn out_of_order_window_accepts_late_samples() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options { ooo_window: 30 * MIN, ..opts() }).unwrap();
    let l = lbl("ooo", 0);
    let mut app = db.appender();
    app.append(&l, 60 * MIN, 1.0).unwrap();
    app.commit().unwrap();
    app.append(&l, 40 * MIN, 2.0).unwrap(); // within the window
    assert_eq!(app.append(&l, 20 * MIN, 3.0).map(|_| ()), Err(AppendError::TooOld));
    app.commit().unwrap();
    let want = vec![(40 * MIN, 2f64.to_bits()), (60 * MIN, 1f64.to_bits())];
    assert_eq!(dump(&db, &[eq("__name__", "ooo")])[&l], want);
    db.close().unwrap();
    let db = Db::open(dir.path(), Options { ooo_window: 30 * MIN, ..opts() }).unwrap();
    assert_eq!(dump(&db, &[eq("__name__", "ooo")])[&l], want, "after replay");
    db.flush_head().unwrap();
    assert_eq!(dump(&db, &[eq("__name__", "ooo")])[&l], want, "after persisting");
}

#[test]
fn snapshot_is_a_consistent_openable_copy() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let model = ingest(&db, 8, 0, 5 * HOUR);
    let snap = tempfile::tempdir().unwrap();
    db.snapshot(snap.path().join("s1"), true).unwrap();
    // Writes after the snapshot do not reach it.
    ingest(&db, 8, 5 * HOUR, 6 * HOUR);
    let copy = Db::open(snap.path().join("s1"), opts()).unwrap();
    assert_eq!(dump(&copy, &[eq("__name__", "m")]), model);
}
