//! Replay on worker threads must rebuild exactly the head a single-threaded replay builds.

use super::*;
use crate::model::Labels;
use crate::tsdb::chunk::XorIterator;
use crate::tsdb::head::HeadOptions;
use crate::tsdb::wal::record::{self, RefSeries, RefTombstone};
use crate::tsdb::wal::{self, Wal, WalOptions};
use std::path::Path;

/// A deterministic pseudo-random sequence (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Writes a WAL exercising what replay must get right: several records per series, series
/// defined twice under different references (samples on both), samples for references no
/// series record defines, out-of-order and duplicate samples, samples before the persisted
/// time, chunk cuts at 120 samples and at range boundaries, and tombstones.
fn write_wal(dir: &Path, seed: u64, n_series: u64) {
    let mut rng = Rng(seed);
    let mut wal = Wal::open(dir, WalOptions { segment_size: 1 << 20, ..WalOptions::default() }).unwrap();
    let mut buf = Vec::new();
    let log = |buf: &mut Vec<u8>, wal: &mut Wal| {
        wal.log(&[buf]).unwrap();
        buf.clear();
    };
    // References are dense from 1, with a few huge ones that must take the sparse path.
    let mut refs: Vec<u64> = (1..=n_series).collect();
    refs.extend([1 << 40, u64::MAX - 3]);
    for chunk in refs.chunks(97) {
        let series: Vec<RefSeries> = chunk
            .iter()
            .map(|&r| RefSeries {
                series_ref: r,
                labels: Labels::from_pairs(&[("__name__", "m"), ("i", &r.to_string())]).unwrap(),
            })
            .collect();
        record::encode_series(&series, &mut buf);
        log(&mut buf, &mut wal);
    }
    // Series 1..=10 logged again under new references: their samples merge into one series.
    let dup_base = n_series + 1000;
    let dups: Vec<RefSeries> = (1..=10u64)
        .map(|r| RefSeries {
            series_ref: dup_base + r,
            labels: Labels::from_pairs(&[("__name__", "m"), ("i", &r.to_string())]).unwrap(),
        })
        .collect();
    let mut all_refs = refs.clone();
    all_refs.extend(dups.iter().map(|s| s.series_ref));
    // Never defined: dropped and counted.
    all_refs.extend([n_series + 5, 1 << 50]);
    let mut t = vec![0i64; all_refs.len()];
    for round in 0..300 {
        if round == 150 {
            record::encode_series(&dups, &mut buf);
            log(&mut buf, &mut wal);
        }
        let mut samples = Vec::new();
        for _ in 0..(all_refs.len() as u64 * 2 / 3) {
            let i = rng.below(all_refs.len() as u64) as usize;
            let step = match rng.below(20) {
                0 => -7,    // Out of order.
                1 => 0,     // Duplicate timestamp (value may differ).
                2 => 4_000, // Crosses a chunk range boundary now and then.
                _ => 10 + rng.below(20) as i64,
            };
            t[i] += step;
            let v = match rng.below(4) {
                0 => f64::from_bits(rng.next()),
                1 => f64::NAN,
                _ => (rng.below(1000) as f64) / 8.0,
            };
            samples.push(RefSample { series_ref: all_refs[i], t: t[i], v });
        }
        record::encode_samples(&samples, &mut buf);
        log(&mut buf, &mut wal);
        if round % 100 == 50 {
            let stones: Vec<RefTombstone> = (0..5)
                .map(|_| {
                    let r = all_refs[rng.below(all_refs.len() as u64) as usize];
                    let a = rng.below(2000) as i64;
                    RefTombstone { series_ref: r, mint: a, maxt: a + rng.below(500) as i64 }
                })
                .collect();
            record::encode_tombstones(&stones, &mut buf);
            log(&mut buf, &mut wal);
        }
    }
    wal.sync().unwrap();
}

/// Everything observable about a replayed head.
#[derive(Debug, PartialEq)]
struct Dump {
    counts: ReplayCounts,
    min_time: i64,
    max_time: i64,
    num_series: usize,
    head_chunks: i64,
    ooo_appended: u64,
    next_ref: u64,
    series: Vec<SeriesDump>,
    tombstones: Vec<(u64, Vec<(i64, i64)>)>,
}

/// One series: labels, reference, each sealed chunk's range and samples (values as bits),
/// the open chunk's samples and the out-of-order samples.
type Samples = Vec<(i64, u64)>;

#[derive(Debug, PartialEq)]
struct SeriesDump {
    labels: Labels,
    series_ref: u64,
    sealed: Vec<(i64, i64, Samples)>,
    open: Samples,
    ooo: Samples,
}

fn bits(it: impl Iterator<Item = (i64, f64)>) -> Samples {
    it.map(|(t, v)| (t, v.to_bits())).collect()
}

fn replay(wal_dir: &Path, chunks_dir: &Path, opts: HeadOptions, min_valid: i64, workers: usize) -> Dump {
    let metrics = Arc::new(crate::tsdb::metrics::Metrics::default());
    let head = Arc::new(Head::with_chunks_dir(opts, metrics.clone(), chunks_dir).unwrap());
    head.set_min_valid_time(min_valid);
    let mut r = Replayer::new(head.clone(), workers);
    wal::replay(wal_dir, &mut |rec| r.apply(rec)).unwrap();
    let counts = r.finish();
    let series = head
        .all_series_sorted()
        .iter()
        .map(|s| {
            let d = s.data.lock();
            SeriesDump {
                labels: s.labels(&head.symbols.read()),
                series_ref: s.series_ref,
                sealed: d
                    .sealed
                    .iter()
                    .map(|c| (c.min_t, c.max_t, bits(XorIterator::new(head.chunk_bytes(c).as_slice()))))
                    .collect(),
                open: d.open.as_ref().map_or_else(Vec::new, |c| bits(c.iter())),
                ooo: bits(d.ooo.iter().copied()),
            }
        })
        .collect();
    let mut tombstones: Vec<_> = head.tombstones.read().iter().map(|(r, iv)| (r, iv.as_slice().to_vec())).collect();
    tombstones.sort();
    Dump {
        counts,
        min_time: head.min_time(),
        max_time: head.max_time(),
        num_series: head.num_series(),
        head_chunks: metrics.head_chunks.load(Relaxed),
        ooo_appended: metrics.ooo_samples_appended.load(Relaxed),
        next_ref: head.next_ref.load(Relaxed),
        series,
        tombstones,
    }
}

/// Asserts two dumps are equal, naming the first difference (a whole-dump `assert_eq!`
/// would print megabytes).
fn assert_same(a: &Dump, b: &Dump, what: &str) {
    assert_eq!(a.series.len(), b.series.len(), "{what}: number of series");
    for (x, y) in a.series.iter().zip(&b.series) {
        assert_eq!(x, y, "{what}: series {:?}", x.labels);
    }
    assert_eq!(a.counts, b.counts, "{what}: counts");
    assert_eq!((a.min_time, a.max_time), (b.min_time, b.max_time), "{what}: time bounds");
    assert_eq!((a.num_series, a.head_chunks), (b.num_series, b.head_chunks), "{what}: series, chunks");
    assert_eq!((a.ooo_appended, a.next_ref), (b.ooo_appended, b.next_ref), "{what}: ooo, next ref");
    assert_eq!(a.tombstones, b.tombstones, "{what}: tombstones");
    assert!(a == b, "{what}: dumps differ");
}

#[test]
fn threads_rebuild_the_same_head_as_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    let wal_dir = dir.path().join("wal");
    write_wal(&wal_dir, 0x9e37_79b9_7f4a_7c15, 600);
    let cases: &[(&str, HeadOptions, i64)] = &[
        ("defaults", HeadOptions { chunk_range: 10_000, ..HeadOptions::default() }, i64::MIN),
        ("persisted time drops old samples", HeadOptions { chunk_range: 10_000, ..HeadOptions::default() }, 3_000),
        (
            "out-of-order window keeps them",
            HeadOptions { chunk_range: 10_000, ooo_window: 60_000, ..HeadOptions::default() },
            3_000,
        ),
    ];
    for (name, opts, min_valid) in cases {
        let one = replay(&wal_dir, &dir.path().join("c1"), opts.clone(), *min_valid, 1);
        // The WAL is what the test thinks it is: every kind of record had an effect.
        assert_eq!(one.num_series, 602, "{name}");
        assert!(one.counts.unknown_refs > 0, "{name}");
        let cut = one.series.iter().filter(|s| s.sealed.len() >= 2).count();
        assert!(cut * 10 >= one.series.len() * 9, "{name}: only {cut} series cut chunks");
        assert!(!one.tombstones.is_empty(), "{name}");
        if opts.ooo_window > 0 {
            assert!(one.ooo_appended > 0, "{name}");
        }
        for workers in [2, 3, 8] {
            let many = replay(&wal_dir, &dir.path().join(format!("c{workers}")), opts.clone(), *min_valid, workers);
            assert_same(&one, &many, &format!("{name}, {workers} workers"));
        }
    }
}

#[test]
fn duplicate_series_records_merge_samples_in_wal_order() {
    // Hand-made: series {a="1"} logged as ref 5 and again as ref 9; samples at t=1 (ref 5),
    // t=2 (ref 9), t=3 (ref 5) all belong to the one series, in that order, and a tombstone
    // on ref 9 lands on the series' reference 5. A sample for ref 7 (never defined) is
    // dropped.
    let dir = tempfile::tempdir().unwrap();
    let wal_dir = dir.path().join("wal");
    let mut wal = Wal::open(&wal_dir, WalOptions::default()).unwrap();
    let labels = Labels::from_pairs(&[("a", "1")]).unwrap();
    let mut buf = Vec::new();
    let s = |r: u64, t: i64| RefSample { series_ref: r, t, v: t as f64 };
    for rec in [
        Record::Series(vec![RefSeries { series_ref: 5, labels: labels.clone() }]),
        Record::Samples(vec![s(5, 1), s(7, 1)]),
        Record::Series(vec![RefSeries { series_ref: 9, labels: labels.clone() }]),
        Record::Samples(vec![s(9, 2)]),
        Record::Samples(vec![s(5, 3)]),
        Record::Tombstones(vec![RefTombstone { series_ref: 9, mint: 2, maxt: 2 }]),
    ] {
        buf.clear();
        match rec {
            Record::Series(x) => record::encode_series(&x, &mut buf),
            Record::Samples(x) => record::encode_samples(&x, &mut buf),
            Record::Tombstones(x) => record::encode_tombstones(&x, &mut buf),
            Record::Exemplars(_) | Record::Unknown(_) => unreachable!(),
        }
        wal.log(&[&buf]).unwrap();
    }
    wal.sync().unwrap();
    for workers in [1, 2, 4] {
        let d = replay(&wal_dir, &dir.path().join(format!("c{workers}")), HeadOptions::default(), i64::MIN, workers);
        // Four samples in three records, one of them for the undefined ref 7.
        assert_eq!(d.counts, ReplayCounts { samples: 4, unknown_refs: 1, exemplars: 0 }, "{workers}");
        assert_eq!(d.series.len(), 1);
        assert_eq!(d.series[0].series_ref, 5);
        assert_eq!(d.series[0].open, vec![(1, 1f64.to_bits()), (2, 2f64.to_bits()), (3, 3f64.to_bits())]);
        assert_eq!(d.tombstones, vec![(5, vec![(2, 2)])]);
        assert_eq!((d.min_time, d.max_time), (1, 3));
    }
}
