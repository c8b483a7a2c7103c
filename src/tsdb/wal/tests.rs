//! Tests of the writer, replay and repair, and checkpoints, on real files in temp dirs.

use super::record::*;
use super::segment::{checkpoint_name, segment_name};
use super::*;
use crate::model::Labels;
use std::fs;

fn opts(segment_size: u64) -> WalOptions {
    WalOptions { segment_size, sync: SyncPolicy::OnSegmentClose }
}

fn series(r: u64) -> RefSeries {
    let name = format!("metric_{r}");
    RefSeries { series_ref: r, labels: Labels::from_pairs(&[("__name__", name.as_str())]).unwrap() }
}

fn enc(rec: &Record) -> Vec<u8> {
    let mut b = Vec::new();
    match rec {
        Record::Series(s) => encode_series(s, &mut b),
        Record::Samples(s) => encode_samples(s, &mut b),
        Record::Tombstones(s) => encode_tombstones(s, &mut b),
        Record::Exemplars(e) => crate::tsdb::wal::record::encode_exemplars(e, &mut b),
        Record::Unknown(t) => b.push(*t),
    }
    b
}

/// `n` commits as the head makes them: a series record for a new series and a samples record.
/// Every fifth commit also carries a tombstone. Values are finite so `PartialEq` is exact.
fn commits(n: u64) -> Vec<Vec<Record>> {
    (0..n)
        .map(|i| {
            let mut c = vec![
                Record::Series(vec![series(i)]),
                Record::Samples(vec![
                    RefSample { series_ref: i, t: 1000 * i as i64, v: i as f64 * 0.5 },
                    RefSample { series_ref: i / 2, t: 1000 * i as i64 + 7, v: -(i as f64) },
                ]),
            ];
            if i % 5 == 4 {
                c.push(Record::Tombstones(vec![RefTombstone { series_ref: i, mint: -5, maxt: i as i64 }]));
            }
            c
        })
        .collect()
}

fn log_commits(wal: &mut Wal, commits: &[Vec<Record>]) {
    for c in commits {
        let bufs: Vec<Vec<u8>> = c.iter().map(enc).collect();
        let refs: Vec<&[u8]> = bufs.iter().map(|b| b.as_slice()).collect();
        wal.log(&refs).unwrap();
    }
}

fn collect(dir: &Path) -> (Vec<Record>, ReplayStats) {
    let mut out = Vec::new();
    let stats = replay(dir, &mut |r| out.push(r)).unwrap();
    (out, stats)
}

/// A temp dir for the byte-by-byte tests, on tmpfs when there is one: each of their ~1,000
/// cases fsyncs several times, which costs seconds on a disk and nothing on tmpfs.
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new().tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir()).unwrap()
}

fn segment_files(dir: &Path) -> Vec<(u32, Vec<u8>)> {
    let mut v: Vec<(u32, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let idx = name.parse::<u32>().ok()?;
            Some((idx, fs::read(e.path()).unwrap()))
        })
        .collect();
    v.sort();
    v
}

/// A WAL of a few segments and a few dozen records, and the records in write order.
fn small_wal(dir: &Path) -> Vec<Record> {
    let cs = commits(12);
    let mut wal = Wal::open(dir, opts(160)).unwrap();
    log_commits(&mut wal, &cs);
    drop(wal);
    cs.into_iter().flatten().collect()
}

/// Where each record's frame ends in the concatenation of the segments, derived from the
/// format alone (a frame is 8 header bytes plus the record) and the segment lengths.
/// Returns, per record, (segment position in `segs`, frame start, frame end) in local offsets.
fn frame_layout(segs: &[(u32, Vec<u8>)], recs: &[Record]) -> Vec<(usize, u64, u64)> {
    let mut out = Vec::new();
    let mut it = recs.iter().peekable();
    for (i, (_, bytes)) in segs.iter().enumerate() {
        let mut off = 0u64;
        while off < bytes.len() as u64 {
            let len = 8 + enc(it.next().unwrap()).len() as u64;
            out.push((i, off, off + len));
            off += len;
        }
        assert_eq!(off, bytes.len() as u64, "segment {i} is not whole frames");
    }
    assert!(it.peek().is_none());
    out
}

/// After a repair: a second replay gives the same records and no corruption, and the WAL can
/// be opened and written again.
fn check_after_repair(dir: &Path, want: &[Record], ctx: &str) {
    let (again, stats) = collect(dir);
    assert_eq!(again, want, "{ctx}: second replay");
    assert_eq!(stats.corruptions, 0, "{ctx}: second replay");
    let extra = Record::Samples(vec![RefSample { series_ref: 99, t: 99, v: 9.5 }]);
    let mut wal = Wal::open(dir, opts(160)).unwrap();
    wal.log(&[&enc(&extra)]).unwrap();
    drop(wal);
    let (after, stats) = collect(dir);
    assert_eq!(stats.corruptions, 0, "{ctx}: after reopen");
    assert_eq!(after.len(), want.len() + 1, "{ctx}: after reopen");
    assert_eq!(&after[..want.len()], want, "{ctx}: after reopen");
    assert_eq!(after[want.len()], extra, "{ctx}: after reopen");
}

#[test]
fn log_replay_round_trip_across_segments() {
    let d = tempfile::tempdir().unwrap();
    let cs = commits(40);
    let mut wal = Wal::open(d.path(), opts(256)).unwrap();
    assert_eq!(wal.current_segment(), 0);
    log_commits(&mut wal, &cs);
    // A record larger than the segment size goes alone into a fresh segment.
    let big = Record::Series(vec![RefSeries {
        series_ref: 1,
        labels: Labels::from_pairs(&[("a", "x".repeat(1000).as_str())]).unwrap(),
    }]);
    let seg_before = wal.current_segment();
    wal.log(&[&enc(&big)]).unwrap();
    assert_eq!(wal.current_segment(), seg_before + 1);
    let after = Record::Tombstones(vec![RefTombstone { series_ref: 3, mint: 1, maxt: 2 }]);
    wal.log(&[&enc(&after)]).unwrap();
    assert_eq!(wal.current_segment(), seg_before + 2);
    drop(wal);

    let segs = segment_files(d.path());
    assert!(segs.len() > 5, "want several segments, got {}", segs.len());
    for (i, (idx, bytes)) in segs.iter().enumerate() {
        assert_eq!(*idx, i as u32);
        // Only the segment holding the big record may exceed the size.
        if *idx != seg_before + 1 {
            assert!(bytes.len() <= 256, "segment {idx} has {} bytes", bytes.len());
        }
    }
    let mut want: Vec<Record> = cs.into_iter().flatten().collect();
    want.push(big);
    want.push(after);
    frame_layout(&segs, &want);
    let (got, stats) = collect(d.path());
    assert_eq!(got, want);
    assert_eq!(stats, ReplayStats { records: want.len() as u64, corruptions: 0, cut_at: None, unknown_records: 0 });
}

#[test]
fn commit_batch_stays_in_one_segment() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(d.path(), opts(100)).unwrap();
    let a = enc(&Record::Samples(vec![RefSample { series_ref: 1, t: 2, v: 3.0 }])); // 27 bytes
    wal.log(&[&a, &a]).unwrap(); // 70 bytes with frames.
    wal.log(&[&a]).unwrap(); // 105 would exceed 100: a new segment.
    assert_eq!(wal.current_segment(), 1);
    wal.log(&[&a, &a, &a, &a]).unwrap(); // 140 bytes: cut again, then written whole.
    assert_eq!(wal.current_segment(), 2);
    drop(wal);
    let lens: Vec<usize> = segment_files(d.path()).iter().map(|(_, b)| b.len()).collect();
    assert_eq!(lens, [70, 35, 140]);
}

#[test]
fn logged_bytes_are_in_the_file_before_drop() {
    // What `kill -9` would leave: the file as another handle sees it while the writer lives.
    let d = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(d.path(), WalOptions::default()).unwrap();
    let rec = enc(&Record::Samples(vec![RefSample { series_ref: 7, t: 8, v: 9.0 }]));
    wal.log(&[&rec]).unwrap();
    let on_disk = fs::read(d.path().join(segment_name(0))).unwrap();
    let mut want = (rec.len() as u32).to_le_bytes().to_vec();
    let crc = crc32c::crc32c(&[want.clone(), rec.clone()].concat());
    want.extend_from_slice(&crc.to_le_bytes());
    want.extend_from_slice(&rec);
    assert_eq!(on_disk, want);
    // A replay of the live directory sees the record too.
    let (got, _) = collect(d.path());
    assert_eq!(got, [Record::Samples(vec![RefSample { series_ref: 7, t: 8, v: 9.0 }])]);
    drop(wal);
}

#[test]
fn open_starts_a_new_segment() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("wal");
    assert_eq!(collect(&dir).1, ReplayStats::default(), "a missing dir replays nothing");
    drop(Wal::open(&dir, opts(1000)).unwrap());
    let wal = Wal::open(&dir, opts(1000)).unwrap();
    assert_eq!(wal.current_segment(), 1);
    drop(wal);
    // Empty segments, trailing or not, are not corruption.
    let (got, stats) = collect(&dir);
    assert!(got.is_empty());
    assert_eq!(stats, ReplayStats::default());
    // With only a checkpoint left, the next segment comes after it.
    let e = tempfile::tempdir().unwrap();
    fs::create_dir(e.path().join(checkpoint_name(5))).unwrap();
    assert_eq!(Wal::open(e.path(), opts(1000)).unwrap().current_segment(), 6);
}

#[test]
fn truncate_at_every_byte() {
    let d = tempfile::tempdir().unwrap();
    let recs = small_wal(d.path());
    let segs = segment_files(d.path());
    assert!(segs.len() >= 3 && recs.len() >= 24, "{} segments", segs.len());
    let layout = frame_layout(&segs, &recs);
    for (si, (idx, bytes)) in segs.iter().enumerate() {
        for cut in 0..bytes.len() as u64 {
            let ctx = format!("segment {idx} truncated to {cut}");
            let t = scratch();
            for (i, b) in &segs[..si] {
                fs::write(t.path().join(segment_name(*i)), b).unwrap();
            }
            fs::write(t.path().join(segment_name(*idx)), &bytes[..cut as usize]).unwrap();
            let (got, stats) = collect(t.path());
            // Records whose frames are whole; a partial frame is a torn write.
            let n = layout.iter().take_while(|&&(s, _, end)| s < si || end <= cut).count();
            assert_eq!(got, recs[..n], "{ctx}");
            let torn = layout.iter().find(|&&(s, start, end)| s == si && start < cut && cut < end);
            match torn {
                Some(&(_, start, _)) => {
                    assert_eq!(stats.corruptions, 1, "{ctx}");
                    assert_eq!(stats.cut_at, Some((*idx, start)), "{ctx}");
                    let len = fs::metadata(t.path().join(segment_name(*idx))).unwrap().len();
                    assert_eq!(len, start, "{ctx}: repaired length");
                }
                None => assert_eq!((stats.corruptions, stats.cut_at), (0, None), "{ctx}"),
            }
            check_after_repair(t.path(), &recs[..n], &ctx);
        }
    }
}

#[test]
fn flip_every_byte() {
    let d = tempfile::tempdir().unwrap();
    let recs = small_wal(d.path());
    let segs = segment_files(d.path());
    let layout = frame_layout(&segs, &recs);
    for (si, (idx, bytes)) in segs.iter().enumerate() {
        for pos in 0..bytes.len() {
            let ctx = format!("segment {idx} byte {pos} flipped");
            let t = scratch();
            for (i, b) in &segs {
                let mut b = b.clone();
                if i == idx {
                    b[pos] ^= 0xff;
                }
                fs::write(t.path().join(segment_name(*i)), b).unwrap();
            }
            let (got, stats) = collect(t.path());
            // The damaged frame and everything after it are gone.
            let n = layout
                .iter()
                .position(|&(s, start, end)| s == si && start <= pos as u64 && (pos as u64) < end)
                .unwrap();
            assert_eq!(got, recs[..n], "{ctx}");
            assert_eq!(stats.corruptions, 1, "{ctx}");
            assert_eq!(stats.cut_at, Some((*idx, layout[n].1)), "{ctx}");
            let left: Vec<u32> = segment_files(t.path()).iter().map(|s| s.0).collect();
            assert_eq!(left, (0..=*idx).collect::<Vec<_>>(), "{ctx}: later segments deleted");
            check_after_repair(t.path(), &recs[..n], &ctx);
        }
    }
}

#[test]
fn repair_table() {
    // Three segments of one series record each. A record `series(i)` for i < 10 is
    // 1 (type) + 1 (ref) + 1 (count) + 9 ("__name__") + 9 ("metric_i") = 21 bytes, so each
    // segment is one 29-byte frame.
    const SEG_LEN: u64 = 29;
    fn append(p: &Path, bytes: &[u8]) {
        let mut b = fs::read(p.join(segment_name(1))).unwrap();
        b.extend_from_slice(bytes);
        fs::write(p.join(segment_name(1)), b).unwrap();
    }
    /// (name, damage, records left, cut).
    type Case = (&'static str, fn(&Path), usize, Option<(u32, u64)>);
    let cases: &[Case] = &[
        ("intact", |_| {}, 3, None),
        ("zero-filled tail", |p| append(p, &[0; 64]), 2, Some((1, SEG_LEN))),
        ("garbage tail", |p| append(p, b"not a frame at all"), 2, Some((1, SEG_LEN))),
        ("short header tail", |p| append(p, &[5, 0, 0]), 2, Some((1, SEG_LEN))),
        ("gap in segments", |p| fs::remove_file(p.join(segment_name(1))).unwrap(), 1, Some((1, 0))),
        (
            "undecodable record with a good crc",
            |p| {
                let mut b = Vec::new();
                append_frame(&mut b, &[2, 1, 2, 3]); // Samples with a truncated base.
                fs::write(p.join(segment_name(1)), b).unwrap();
            },
            1,
            Some((1, 0)),
        ),
        ("empty middle segment", |p| fs::write(p.join(segment_name(1)), b"").unwrap(), 2, None),
    ];
    for &(name, damage, n, cut) in cases {
        let d = tempfile::tempdir().unwrap();
        let recs: Vec<Record> = (0..3).map(|i| Record::Series(vec![series(i)])).collect();
        let mut wal = Wal::open(d.path(), opts(1)).unwrap();
        for r in &recs {
            wal.log(&[&enc(r)]).unwrap();
        }
        drop(wal);
        assert_eq!(fs::metadata(d.path().join(segment_name(1))).unwrap().len(), SEG_LEN);
        damage(d.path());
        let (got, stats) = collect(d.path());
        let want: Vec<Record> =
            if name == "empty middle segment" { vec![recs[0].clone(), recs[2].clone()] } else { recs[..n].to_vec() };
        assert_eq!(got, want, "{name}");
        assert_eq!(stats.cut_at, cut, "{name}");
        assert_eq!(stats.corruptions, u64::from(cut.is_some()), "{name}");
        if cut.is_some() {
            assert!(!d.path().join(segment_name(2)).exists(), "{name}: later segment deleted");
        }
        check_after_repair(d.path(), &want, name);
    }
}

#[test]
fn unknown_records_are_skipped_and_counted() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(d.path(), opts(1000)).unwrap();
    let s = enc(&Record::Series(vec![series(1)]));
    wal.log(&[&[6, 1, 2], &s, &[5], &[250, 0]]).unwrap();
    drop(wal);
    let (got, stats) = collect(d.path());
    assert_eq!(got, [Record::Series(vec![series(1)])]);
    assert_eq!(stats.records, 1);
    assert_eq!(stats.unknown_records, 3);
}

#[test]
fn rejects_empty_and_oversized_records() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(d.path(), opts(1000)).unwrap();
    let ok = enc(&Record::Series(vec![series(1)]));
    assert!(matches!(wal.log(&[&ok, &[]]), Err(WalError::EmptyRecord)));
    let huge = vec![1u8; MAX_RECORD_SIZE + 1];
    assert!(matches!(wal.log(&[&huge]), Err(WalError::RecordTooLarge(n)) if n == huge.len()));
    // Nothing of a refused batch was written.
    assert_eq!(fs::metadata(d.path().join(segment_name(0))).unwrap().len(), 0);
    wal.log(&[]).unwrap();
    wal.log(&[&ok]).unwrap();
    drop(wal);
    assert_eq!(collect(d.path()).0, [Record::Series(vec![series(1)])]);
}

#[test]
fn sync_policies() {
    let rec = enc(&Record::Series(vec![series(1)]));
    let cases: &[(&str, SyncPolicy, bool)] = &[
        ("on segment close", SyncPolicy::OnSegmentClose, true),
        ("always", SyncPolicy::Always, false),
        ("interval elapsed", SyncPolicy::Interval(Duration::ZERO), false),
        ("interval pending", SyncPolicy::Interval(Duration::from_secs(3600)), true),
    ];
    for &(name, sync, unsynced_after_log) in cases {
        let d = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(d.path(), WalOptions { segment_size: 1 << 20, sync }).unwrap();
        assert!(!wal.unsynced, "{name}");
        wal.log(&[&rec]).unwrap();
        assert_eq!(wal.unsynced, unsynced_after_log, "{name}: after log");
        wal.sync_if_due().unwrap();
        assert_eq!(wal.unsynced, unsynced_after_log, "{name}: after sync_if_due");
        wal.log(&[&rec]).unwrap();
        assert_eq!(wal.cut_segment().unwrap(), 1, "{name}");
        assert!(!wal.unsynced, "{name}: a cut fsyncs");
        wal.log(&[&rec]).unwrap();
        wal.sync().unwrap();
        assert!(!wal.unsynced, "{name}: after sync");
        wal.log(&[&rec]).unwrap();
        wal.close().unwrap();
        assert_eq!(collect(d.path()).0.len(), 4, "{name}");
    }
}

#[test]
fn truncate_before_and_size_bytes() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(d.path(), opts(1)).unwrap();
    let rec = enc(&Record::Series(vec![series(1)]));
    for _ in 0..5 {
        wal.log(&[&rec]).unwrap();
    }
    assert_eq!(wal.current_segment(), 4);
    let frame = 8 + rec.len() as u64;
    assert_eq!(wal.size_bytes(), 5 * frame);
    wal.truncate_before(3).unwrap();
    assert_eq!(segment_files(d.path()).iter().map(|s| s.0).collect::<Vec<_>>(), [3, 4]);
    assert_eq!(wal.size_bytes(), 2 * frame);
    // A checkpoint's files count too.
    let cp = d.path().join(checkpoint_name(2));
    fs::create_dir(&cp).unwrap();
    fs::write(cp.join(segment_name(0)), [0u8; 10]).unwrap();
    assert_eq!(wal.size_bytes(), 2 * frame + 10);
    // The current segment survives any truncation.
    wal.truncate_before(u32::MAX).unwrap();
    assert_eq!(segment_files(d.path()).iter().map(|s| s.0).collect::<Vec<_>>(), [4]);
    wal.log(&[&rec]).unwrap();
    // Segment 4 already holds a record, so with a size of 1 this one opens segment 5.
    assert_eq!(wal.current_segment(), 5);
}

/// Writes, per series 0..4, a series record and samples at t = 0, 10, ..., 90 (value t + ref),
/// plus a tombstone per series ending at 40 + 10 * ref; one commit per series per segment.
fn checkpoint_fixture(wal: &mut Wal, refs: std::ops::Range<u64>) {
    for r in refs {
        let s = enc(&Record::Series(vec![series(r)]));
        let samples: Vec<RefSample> =
            (0..10).map(|i| RefSample { series_ref: r, t: i * 10, v: (i * 10) as f64 + r as f64 }).collect();
        let t = RefTombstone { series_ref: r, mint: 0, maxt: 40 + 10 * r as i64 };
        wal.log(&[&s, &enc(&Record::Samples(samples)), &enc(&Record::Tombstones(vec![t]))]).unwrap();
        wal.cut_segment().unwrap();
    }
}

/// Flattens records into (series refs, samples as (ref, t), tombstones as (ref, maxt)).
type Flat = (Vec<u64>, Vec<(u64, i64)>, Vec<(u64, i64)>);
fn flatten(recs: &[Record]) -> Flat {
    let mut f: Flat = Default::default();
    for r in recs {
        match r {
            Record::Series(s) => f.0.extend(s.iter().map(|s| s.series_ref)),
            Record::Samples(s) => f.1.extend(s.iter().map(|s| (s.series_ref, s.t))),
            Record::Tombstones(s) => f.2.extend(s.iter().map(|s| (s.series_ref, s.maxt))),
            Record::Exemplars(_) | Record::Unknown(_) => {}
        }
    }
    f
}

#[test]
fn checkpoint_filters_and_replays() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(d.path(), opts(1 << 20)).unwrap();
    checkpoint_fixture(&mut wal, 0..4); // Segments 0..=3, one series each; 4 is current.
    let keep = |r: u64| r != 1;
    let stats = checkpoint(d.path(), 2, &keep, 45).unwrap();
    // Series 0 and 2 kept; samples t >= 45: 50..=90, five each; tombstones ending >= 45:
    // series 2 (maxt 60) only (series 0 ends at 40).
    assert_eq!(stats, CheckpointStats { series: 2, samples: 10, tombstones: 1 });
    wal.truncate_before(3).unwrap();
    checkpoint_fixture(&mut wal, 4..5); // Segment 4; 5 is current.
    drop(wal);
    // A leftover from a crashed checkpoint is removed by replay.
    fs::create_dir(d.path().join("checkpoint.00000004.tmp")).unwrap();

    let (got, rstats) = collect(d.path());
    assert_eq!(rstats.corruptions, 0);
    assert!(!d.path().join("checkpoint.00000004.tmp").exists());
    let ts = |r: u64, from: i64| (0..10).map(move |i| (r, i * 10)).filter(move |s| s.1 >= from);
    let mut want: Flat = (vec![0, 2], ts(0, 45).chain(ts(2, 45)).collect(), vec![(2, 60)]);
    for r in 3..5 {
        want.0.push(r);
        want.1.extend(ts(r, i64::MIN));
        want.2.push((r, 40 + 10 * r as i64));
    }
    assert_eq!(flatten(&got), want);
    // Series precede their samples.
    assert!(matches!(got[0], Record::Series(_)));

    // A second checkpoint builds on the first and replaces it; a stale `to` is a no-op.
    assert_eq!(checkpoint(d.path(), 1, &keep, 0).unwrap(), CheckpointStats::default());
    let stats = checkpoint(d.path(), 4, &|r| r >= 2, 65).unwrap();
    // Series 2, 3, 4; samples at 70, 80, 90 of each; tombstones ending at 70 (3) and 80 (4).
    assert_eq!(stats, CheckpointStats { series: 3, samples: 9, tombstones: 2 });
    assert!(!d.path().join(checkpoint_name(2)).exists());
    let mut wal = Wal::open(d.path(), opts(1 << 20)).unwrap();
    assert_eq!(wal.current_segment(), 6);
    wal.truncate_before(5).unwrap();
    drop(wal);
    let (got, _) = collect(d.path());
    let samples: Vec<(u64, i64)> = (2..5).flat_map(|r| ts(r, 65)).collect();
    assert_eq!(flatten(&got), (vec![2, 3, 4], samples, vec![(3, 70), (4, 80)]));
}

#[test]
fn checkpoint_skips_older_segments_still_present() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(d.path(), opts(1 << 20)).unwrap();
    checkpoint_fixture(&mut wal, 0..3);
    checkpoint(d.path(), 1, &|_| true, i64::MIN).unwrap();
    drop(wal);
    // Segments 0 and 1 were not truncated: replay must not read them twice.
    let (got, _) = collect(d.path());
    assert_eq!(flatten(&got).0, [0, 1, 2]);
}

#[test]
fn checkpoint_corruption_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(d.path(), opts(1 << 20)).unwrap();
    checkpoint_fixture(&mut wal, 0..2);
    checkpoint(d.path(), 1, &|_| true, i64::MIN).unwrap();
    drop(wal);
    let seg = d.path().join(checkpoint_name(1)).join(segment_name(0));
    let mut b = fs::read(&seg).unwrap();
    b[20] ^= 0x01;
    fs::write(&seg, &b).unwrap();
    match replay(d.path(), &mut |_| {}) {
        Err(WalError::Corrupt { path, offset: 0, .. }) => assert_eq!(path, seg),
        other => panic!("want Corrupt, got {other:?}"),
    }
    // The checkpoint was not cut: the damage stays for the operator to see.
    assert_eq!(fs::read(&seg).unwrap(), b);
    // Nor can a newer checkpoint be built on top of it.
    assert!(matches!(checkpoint(d.path(), 2, &|_| true, i64::MIN), Err(WalError::Corrupt { .. })));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]

    /// Any batches of sample records, any segment size: replay gives back what was logged.
    #[test]
    fn log_replay_property(
        segment_size in 1u64..400,
        batches in proptest::collection::vec(
            proptest::collection::vec(
                proptest::collection::vec((0u64..1000, -1000i64..1000, -1e6f64..1e6), 0..8),
                1..4,
            ),
            0..20,
        ),
    ) {
        let d = scratch();
        let mut wal = Wal::open(d.path(), opts(segment_size)).unwrap();
        let mut want = Vec::new();
        for batch in &batches {
            let recs: Vec<Record> = batch
                .iter()
                .map(|s| {
                    Record::Samples(
                        s.iter().map(|&(series_ref, t, v)| RefSample { series_ref, t, v }).collect(),
                    )
                })
                .collect();
            let bufs: Vec<Vec<u8>> = recs.iter().map(enc).collect();
            let refs: Vec<&[u8]> = bufs.iter().map(|b| b.as_slice()).collect();
            wal.log(&refs).unwrap();
            want.extend(recs);
        }
        drop(wal);
        let (got, stats) = collect(d.path());
        proptest::prop_assert_eq!(stats.corruptions, 0);
        proptest::prop_assert_eq!(got, want);
    }
}

/// Replay throughput: 1M samples in 10k-sample records. A measurement, not a check; run with
/// `cargo test --release --lib tsdb::wal::tests::replay_throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn replay_throughput() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(d.path(), WalOptions::default()).unwrap();
    let mut buf = Vec::new();
    let mut samples = Vec::with_capacity(10_000);
    let start = std::time::Instant::now();
    for rec in 0..100u64 {
        samples.clear();
        samples.extend((0..10_000u64).map(|i| RefSample {
            series_ref: i,
            t: 1_700_000_000_000 + rec as i64 * 15_000,
            v: (i * rec) as f64 * 0.25,
        }));
        buf.clear();
        encode_samples(&samples, &mut buf);
        wal.log(&[&buf]).unwrap();
    }
    let write = start.elapsed();
    drop(wal);
    let start = std::time::Instant::now();
    let mut n = 0usize;
    let stats = replay(d.path(), &mut |r| {
        if let Record::Samples(s) = r {
            n += s.len();
        }
    })
    .unwrap();
    let read = start.elapsed();
    assert_eq!((n, stats.records), (1_000_000, 100));
    println!(
        "encode+log: {:.1} M samples/s; replay: {:.1} M samples/s ({} bytes)",
        1.0 / write.as_secs_f64(),
        1.0 / read.as_secs_f64(),
        fs::metadata(d.path().join(segment_name(0))).unwrap().len()
    );
}

#[test]
fn replay_reports_progress_in_segments() {
    let dir = scratch();
    small_wal(dir.path());
    let segs: Vec<u32> = segment_files(dir.path()).iter().map(|(n, _)| *n).collect();
    assert!(segs.len() >= 2, "the fixture spans several segments: {segs:?}");
    let progress = ReplayProgress::default();
    assert_eq!(progress.snapshot(), (0, 0, 0), "nothing replayed yet");
    let mut seen = Vec::new();
    replay_with_progress(dir.path(), &progress, &mut |_| seen.push(progress.current.load(Ordering::Relaxed))).unwrap();
    let (first, last) = (i64::from(segs[0]), i64::from(*segs.last().unwrap()));
    assert_eq!(progress.snapshot(), (first, last, last));
    // While records were delivered, `current` named the segment being read, in order.
    assert_eq!(seen.first(), Some(&first));
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert_eq!(seen.last(), Some(&last));
}
