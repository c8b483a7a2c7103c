//! Snapshot on close, load on open: the head comes back as a full WAL replay would build
//! it, and anything wrong with the snapshot means a full replay instead.

use super::FILE_NAME;
use crate::model::{Labels, MatchType, Matcher};
use crate::tsdb::{Db, Options};
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;

const SERIES: u64 = 40;

fn opts() -> Options {
    Options { background_interval: None, wal_segment_size: 64 * 1024, ..Options::default() }
}

/// The value of series `s` at time `t` (a function, so the expected data is known).
fn value(s: u64, t: i64) -> f64 {
    (s as f64) * 1000.0 + (t as f64) / 7.0
}

/// Appends samples at `ts` to every series, one commit per timestamp.
fn ingest(db: &Db, ts: impl Iterator<Item = i64>) {
    let mut app = db.appender();
    for t in ts {
        for s in 0..SERIES {
            let l = Labels::from_pairs(&[("__name__", "m"), ("s", &s.to_string())]).unwrap();
            app.append(&l, t, value(s, t)).unwrap();
        }
        app.commit().unwrap();
    }
}

/// Every series with its samples (values as bits).
type Dump = Vec<(String, Vec<(i64, u64)>)>;

fn dump(db: &Db) -> Dump {
    let q = db.querier(i64::MIN, i64::MAX);
    let sel = q.select(&[Matcher::new(MatchType::Equal, "__name__", "m").unwrap()]).unwrap();
    let mut out: Dump = sel
        .iter()
        .map(|s| (format!("{:?}", s.labels()), s.samples().unwrap().iter().map(|x| (x.t, x.v.to_bits())).collect()))
        .collect();
    out.sort();
    out
}

/// What [`dump`] must return after [`ingest`] at `ts` and deleting `[del_a, del_b]` of s="3".
fn expected(ts: &[i64], del: (i64, i64)) -> Dump {
    let mut out: Dump = (0..SERIES)
        .map(|s| {
            let l = Labels::from_pairs(&[("__name__", "m"), ("s", &s.to_string())]).unwrap();
            let samples =
                ts.iter().filter(|&&t| s != 3 || t < del.0 || t > del.1).map(|&t| (t, value(s, t).to_bits())).collect();
            (format!("{l:?}"), samples)
        })
        .collect();
    out.sort();
    out
}

/// Copies a data directory (what a crash leaves behind: every committed write is in the
/// files), without the lock.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else if e.file_name() != "lock" {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// Writes 40 series × 300 samples (several chunks each, several WAL segments) plus a
/// deletion, and closes the database, which writes the snapshot.
fn setup(dir: &Path) -> (Vec<i64>, (i64, i64)) {
    let ts: Vec<i64> = (0..300).map(|i| i * 15_000).collect();
    let del = (30_000, 90_000);
    let db = Db::open(dir, opts()).unwrap();
    ingest(&db, ts.iter().copied());
    db.delete(&[Matcher::new(MatchType::Equal, "s", "3").unwrap()], del.0, del.1).unwrap();
    db.close().unwrap();
    assert!(dir.join(FILE_NAME).exists(), "close writes the snapshot");
    (ts, del)
}

#[test]
fn snapshot_restores_what_a_full_replay_restores() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let (ts, del) = setup(&a);
    let want = expected(&ts, del);
    // Without the WAL segments the snapshot covers, only the snapshot can bring data back.
    let covered = tmp.path().join("covered-wal-removed");
    copy_dir(&a, &covered);
    let mut segs: Vec<_> = std::fs::read_dir(covered.join("wal")).unwrap().map(|e| e.unwrap().path()).collect();
    segs.sort();
    assert!(segs.len() >= 3, "the test needs several segments: {segs:?}");
    let last = segs.pop().unwrap();
    assert_eq!(std::fs::metadata(&last).unwrap().len(), 0, "close cut an empty segment");
    for s in &segs {
        std::fs::remove_file(s).unwrap();
    }
    // The same directory without the snapshot: a full replay.
    let full = tmp.path().join("full");
    copy_dir(&a, &full);
    std::fs::remove_file(full.join(FILE_NAME)).unwrap();

    for (name, dir) in [("snapshot", &a), ("snapshot only", &covered), ("full replay", &full)] {
        let db = Db::open(dir, Options { head_snapshot_on_shutdown: false, ..opts() }).unwrap();
        assert_eq!(db.metrics().snapshot_replay_errors.load(Relaxed), 0, "{name}");
        assert!(dump(&db) == want, "{name}: head differs from what was written");
        assert_eq!(db.head().num_series() as u64, SERIES, "{name}");
        db.close().unwrap();
    }
}

#[test]
fn appends_after_a_snapshot_survive_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let (mut ts, del) = setup(&a);
    let db = Db::open(&a, opts()).unwrap();
    let more: Vec<i64> = (300..420).map(|i| i * 15_000).collect();
    ingest(&db, more.iter().copied());
    ts.extend(&more);
    // The state a kill -9 leaves: the snapshot of the last close plus the WAL written since.
    let crashed = tmp.path().join("crashed");
    copy_dir(&a, &crashed);
    drop(db);
    assert!(crashed.join(FILE_NAME).exists());
    let db = Db::open(&crashed, opts()).unwrap();
    assert!(dump(&db) == expected(&ts, del), "samples lost after a crash following a snapshot");
    // Persisting head data makes the snapshot stale, so it is removed first.
    db.flush_head().unwrap();
    assert!(!crashed.join(FILE_NAME).exists());
    assert!(dump(&db) == expected(&ts, del));
}

#[test]
fn a_bad_snapshot_means_a_full_replay() {
    type Damage = fn(&Path);
    let cases: &[(&str, Damage)] = &[
        ("byte flipped mid-file", |p| {
            let mut b = std::fs::read(p).unwrap();
            let i = b.len() / 2;
            b[i] ^= 0x40;
            std::fs::write(p, b).unwrap();
        }),
        ("truncated", |p| {
            let b = std::fs::read(p).unwrap();
            std::fs::write(p, &b[..b.len() - 5]).unwrap();
        }),
        ("not a snapshot", |p| std::fs::write(p, b"hello, world").unwrap()),
        ("empty", |p| std::fs::write(p, b"").unwrap()),
        ("WAL checkpointed after it", |p| {
            let wal = p.parent().unwrap().join("wal");
            let last = std::fs::read_dir(&wal).unwrap().filter_map(|e| e.ok()?.file_name().into_string().ok()).max();
            std::fs::create_dir(wal.join(format!("checkpoint.{}", last.unwrap()))).unwrap();
        }),
    ];
    for (name, damage) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        let (ts, del) = setup(&dir);
        damage(&dir.join(FILE_NAME));
        let db = Db::open(&dir, Options { head_snapshot_on_shutdown: false, ..opts() }).unwrap();
        assert_eq!(db.metrics().snapshot_replay_errors.load(Relaxed), 1, "{name}: reported");
        assert!(!dir.join(FILE_NAME).exists(), "{name}: removed");
        if *name != "WAL checkpointed after it" {
            assert!(dump(&db) == expected(&ts, del), "{name}: data lost");
        }
    }
}
