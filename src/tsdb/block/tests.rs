//! Tests of the block format against an in-memory model, and corruption tests.

use super::*;
use crate::model::Labels;
use std::collections::{BTreeMap, BTreeSet};

type Model = BTreeMap<Labels, Vec<(i64, f64)>>;
/// Named inputs to `write_block`.
type Cases = Vec<(&'static str, Vec<(Labels, Vec<(i64, f64)>)>)>;

/// A small deterministic generator (xorshift64*), so tests need no seeds.
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

const SPECIAL: [f64; 6] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0, 1e-300];
const STALE: u64 = 0x7ff0_0000_0000_0002;

/// A few hundred series over several label names, some with many samples.
fn model(n_series: usize, long_every: usize, max_n: u64, seed: u64) -> (Model, i64, i64) {
    let (min_t, max_t) = (1_700_000_000_000i64, 1_700_000_000_000i64 + 40_000_000);
    let mut rng = Rng(seed);
    let mut m = Model::new();
    for i in 0..n_series {
        let mut pairs = vec![
            ("__name__".to_string(), format!("metric_{}", i % 7)),
            ("instance".to_string(), format!("host-{}:9100", i)),
            ("job".to_string(), ["node", "api", "db"][i % 3].to_string()),
        ];
        if i % 4 == 0 {
            pairs.push(("env".to_string(), format!("zone-ü-{}", i % 5)));
        }
        if i % 9 == 0 {
            pairs.push(("le".to_string(), "+Inf".to_string()));
        }
        let labels = Labels::from_pairs(&pairs).expect("valid labels");
        let n = if long_every > 0 && i % long_every == 0 { 5000 } else { 1 + rng.below(max_n) as usize };
        let mut t = min_t + rng.below(1000) as i64;
        let mut samples = Vec::with_capacity(n);
        for k in 0..n {
            let v = match rng.below(20) {
                0 => SPECIAL[k % SPECIAL.len()],
                1 => f64::from_bits(STALE),
                2 => f64::from_bits(rng.next()),
                _ => (rng.below(1000) as f64) * 0.5,
            };
            samples.push((t, v));
            t += 1 + rng.below(8000) as i64;
        }
        assert!(t < max_t);
        m.insert(labels, samples);
    }
    (m, min_t, max_t)
}

fn write_model(dir: &Path, m: &Model, min_t: i64, max_t: i64) -> BlockMeta {
    let cm = CompactionMeta { level: 1, sources: vec!["src".into()], parents: vec![] };
    let mut it = m.iter().map(|(l, s)| (l.clone(), s.clone()));
    write_block(dir, min_t, max_t, cm, &mut it).expect("write").expect("some samples")
}

fn bits(s: &[(i64, f64)]) -> Vec<(i64, u64)> {
    s.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}

#[test]
fn block_matches_model() {
    let tmp = tempfile::tempdir().unwrap();
    let (m, min_t, max_t) = model(300, 50, 200, 1);
    let meta = write_model(tmp.path(), &m, min_t, max_t);
    let dir = tmp.path().join(&meta.ulid);
    let block = reader::Block::open(&dir).unwrap();
    let b: &dyn BlockReader = &block;

    // meta.json, as written and as read back.
    let total: usize = m.values().map(Vec::len).sum();
    assert_eq!(meta.stats.num_samples, total as u64);
    assert_eq!(meta.stats.num_series, m.len() as u64);
    assert_eq!((meta.min_time, meta.max_time, meta.version), (min_t, max_t, 1));
    assert_eq!(b.meta(), &meta);
    assert_eq!(read_meta(&dir).unwrap(), meta);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap();
    for key in ["ulid", "minTime", "maxTime", "stats", "compaction", "version"] {
        assert!(json.get(key).is_some(), "meta.json lacks {key}");
    }
    assert_eq!(json["stats"]["numSamples"], total);
    assert_eq!(json["compaction"]["level"], 1);

    // Label names and values.
    let mut names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for l in m.keys() {
        for lb in l {
            names.entry(lb.name.clone()).or_default().insert(lb.value.clone());
        }
    }
    assert_eq!(b.label_names().unwrap(), names.keys().cloned().collect::<Vec<_>>());
    for (n, vs) in &names {
        assert_eq!(b.label_values(n).unwrap(), vs.iter().cloned().collect::<Vec<_>>(), "{n}");
        for v in vs {
            let want: Vec<u32> =
                m.keys().enumerate().filter(|(_, l)| l.get(n) == Some(v.as_str())).map(|(i, _)| i as u32).collect();
            assert_eq!(b.postings(n, v).unwrap(), want, "{n}={v}");
        }
    }
    assert!(b.label_values("nope").unwrap().is_empty());
    assert!(b.postings("nope", "node").unwrap().is_empty());
    assert!(b.postings("job", "nope").unwrap().is_empty());
    assert!(b.postings("job", "metric_1").unwrap().is_empty(), "a symbol of another name");
    assert!(b.postings("job", "").unwrap().is_empty());
    assert!(b.postings("instance", "host-0:9099").unwrap().is_empty(), "between values");
    assert_eq!(b.all_postings().unwrap(), (0..m.len() as u32).collect::<Vec<_>>());

    // Series and samples, bit for bit.
    let mut chunks_total = 0;
    for (id, (labels, samples)) in m.iter().enumerate() {
        let (got, metas) = b.series(id as u32).unwrap();
        assert_eq!(&got, labels);
        assert!(metas.len() >= samples.len().div_ceil(writer::MAX_RUN_SAMPLES));
        assert!(metas.windows(2).all(|w| w[0].max_t < w[1].min_t), "chunks ordered");
        assert_eq!(metas[0].min_t, samples[0].0);
        assert_eq!(metas.last().unwrap().max_t, samples.last().unwrap().0);
        let mut out = Vec::new();
        for c in &metas {
            assert!(c.min_t <= c.max_t);
            b.read_chunk(c, &mut out).unwrap();
        }
        assert_eq!(bits(&out), bits(samples), "samples of {labels}");
        chunks_total += metas.len();
    }
    assert_eq!(meta.stats.num_chunks, chunks_total as u64);
    assert!(matches!(b.series(m.len() as u32), Err(BlockError::InvalidInput(_))));

    // Reading in order decompressed each page once.
    let (pages, decompressed) = block.page_stats();
    assert!(pages > 3, "the test block should span several pages, has {pages}");
    assert_eq!(decompressed, pages as u64);

    let files: u64 =
        ["meta.json", "index", "chunks"].iter().map(|f| std::fs::metadata(dir.join(f)).unwrap().len()).sum();
    assert_eq!(b.size_bytes(), files);
    assert_eq!(b.dir(), dir.as_path());
}

#[test]
fn tombstones_persist() {
    let tmp = tempfile::tempdir().unwrap();
    let (m, min_t, max_t) = model(20, 0, 200, 2);
    let meta = write_model(tmp.path(), &m, min_t, max_t);
    let dir = tmp.path().join(&meta.ulid);
    let b = open_block(&dir).unwrap();
    assert!(b.tombstones().is_empty());
    let before = b.size_bytes();
    let mut t = Tombstones::default();
    t.add(3, min_t, min_t + 10);
    t.add(7, min_t + 100, max_t);
    b.set_tombstones(t.clone()).unwrap();
    assert_eq!(*b.tombstones(), t);
    assert!(b.size_bytes() > before);
    assert!(!dir.join("tombstones.tmp").exists());
    drop(b);
    let b = open_block(&dir).unwrap();
    assert_eq!(*b.tombstones(), t);
}

#[test]
fn invalid_input_is_rejected_and_leaves_nothing() {
    let l = |v: &str| Labels::from_pairs(&[("a", v)]).unwrap();
    let ok = vec![(10, 1.0), (20, 2.0)];
    let cases: Cases = vec![
        ("unsorted series", vec![(l("b"), ok.clone()), (l("a"), ok.clone())]),
        ("duplicate series", vec![(l("a"), ok.clone()), (l("a"), ok.clone())]),
        ("unsorted samples", vec![(l("a"), vec![(20, 1.0), (10, 2.0)])]),
        ("duplicate timestamps", vec![(l("a"), vec![(10, 1.0), (10, 2.0)])]),
        ("before min_t", vec![(l("a"), vec![(-1, 1.0)])]),
        ("at max_t", vec![(l("a"), vec![(100, 1.0)])]),
        ("unsorted after an empty series", vec![(l("b"), vec![]), (l("a"), ok.clone())]),
    ];
    for (name, input) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let mut it = input.into_iter();
        let res = write_block(tmp.path(), 0, 100, CompactionMeta::default(), &mut it);
        assert!(matches!(res, Err(BlockError::InvalidInput(_))), "{name}: {res:?}");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "{name}: left files");
    }
}

#[test]
fn no_samples_writes_nothing() {
    let l = |v: &str| Labels::from_pairs(&[("a", v)]).unwrap();
    let cases: Cases = vec![("no series", vec![]), ("only empty series", vec![(l("a"), vec![]), (l("b"), vec![])])];
    for (name, input) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let mut it = input.into_iter();
        let res = write_block(tmp.path(), 0, 100, CompactionMeta::default(), &mut it);
        assert!(matches!(res, Ok(None)), "{name}: {res:?}");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "{name}: left files");
    }
}

#[test]
fn empty_series_are_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let l = |v: &str| Labels::from_pairs(&[("a", v)]).unwrap();
    let input = vec![(l("a"), vec![]), (l("b"), vec![(5, 1.5)]), (l("c"), vec![])];
    let mut it = input.into_iter();
    let meta = write_block(tmp.path(), 0, 10, CompactionMeta::default(), &mut it).unwrap().unwrap();
    assert_eq!((meta.stats.num_series, meta.stats.num_samples), (1, 1));
    let b = open_block(&tmp.path().join(&meta.ulid)).unwrap();
    assert_eq!(b.label_values("a").unwrap(), vec!["b".to_string()]);
    assert_eq!(b.series(0).unwrap().0, l("b"));
}

#[test]
fn leftovers_are_never_opened_and_are_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let (m, min_t, max_t) = model(5, 0, 200, 3);
    let meta = write_model(tmp.path(), &m, min_t, max_t);
    let good = tmp.path().join(&meta.ulid);
    let leftover = tmp.path().join(format!("{}.tmp", ulid::Ulid::new()));
    std::fs::create_dir(&leftover).unwrap();
    for f in ["meta.json", "index", "chunks"] {
        std::fs::copy(good.join(f), leftover.join(f)).unwrap();
    }
    assert!(open_block(&leftover).is_err());
    assert_eq!(list_block_dirs(tmp.path()).unwrap(), vec![good.clone()]);
    delete_leftovers(tmp.path());
    assert!(!leftover.exists());
    assert!(open_block(&good).is_ok());
}

/// Opens the block and runs every read API over everything it claims to hold. Errors are
/// fine; panics are not.
fn exercise(dir: &Path) {
    let Ok(b) = open_block(dir) else { return };
    let names = b.label_names().unwrap_or_default();
    for n in names.iter().map(String::as_str).chain(["a", "zzz", ""]) {
        for v in b.label_values(n).unwrap_or_default().iter().map(String::as_str).chain(["x"]) {
            let _ = b.postings(n, v);
        }
    }
    let ids = b.all_postings().unwrap_or_default();
    let mut out = Vec::new();
    for id in ids.iter().copied().chain([u32::MAX]) {
        if let Ok((_, metas)) = b.series(id) {
            for c in metas {
                let _ = b.read_chunk(&c, &mut out);
            }
        }
    }
    for r in [0, u64::MAX, 1 << 32] {
        let _ = b.read_chunk(&ChunkMeta { min_t: 0, max_t: 0, chunk_ref: r }, &mut out);
    }
    let _ = (b.tombstones(), b.size_bytes(), b.meta(), b.dir());
}

/// Positions to corrupt: every byte of the first and last 512, every `stride`th in between.
fn positions(len: usize, stride: usize) -> Vec<usize> {
    (0..len).filter(|&i| i < 512 || i + 512 >= len || i % stride == 0).collect()
}

#[test]
fn corrupt_files_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let (m, min_t, max_t) = model(30, 0, 12, 4);
    let meta = write_model(tmp.path(), &m, min_t, max_t);
    let dir = tmp.path().join(&meta.ulid);
    let mut t = Tombstones::default();
    t.add(1, min_t, min_t + 5);
    t.add(2, min_t + 50, min_t + 60);
    t.add(2, min_t + 70, min_t + 80);
    open_block(&dir).unwrap().set_tombstones(t).unwrap();
    let work = tmp.path().join(ulid::Ulid::new().to_string());
    std::fs::create_dir(&work).unwrap();
    let mut opened = 0;
    for file in ["index", "chunks", "meta.json", "tombstones"] {
        let orig = std::fs::read(dir.join(file)).unwrap();
        for f in ["index", "chunks", "meta.json", "tombstones"] {
            std::fs::copy(dir.join(f), work.join(f)).unwrap();
        }
        let stride = (orig.len() / 400).max(1);
        // Rewriting in place (not truncating to zero first) avoids ext4's flush-on-close
        // heuristic for replaced files, which costs milliseconds per write.
        let path = work.join(file);
        let write = |bytes: &[u8]| {
            let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            std::io::Write::write_all(&mut f, bytes).unwrap();
            f.set_len(bytes.len() as u64).unwrap();
        };
        for cut in positions(orig.len(), stride) {
            write(&orig[..cut]);
            if open_block(&work).is_ok() {
                opened += 1;
            }
            exercise(&work);
        }
        for at in positions(orig.len(), stride) {
            for mask in [0xff, 1 << (at % 8)] {
                let mut bytes = orig.clone();
                bytes[at] ^= mask;
                write(&bytes);
                exercise(&work);
                // With checksums recomputed, the flip reaches the decoders.
                if file == "index" || file == "chunks" {
                    reseal_for_fuzzing(file, &mut bytes);
                    write(&bytes);
                    exercise(&work);
                }
            }
        }
        write(&orig);
        exercise(&work);
        assert!(open_block(&work).is_ok(), "{file} restored");
    }
    // Truncated index/chunks never open; some truncations of the optional files might.
    assert!(opened < 10, "{opened} truncated blocks opened");
}

#[test]
fn encode_series_matches_hand_derived_bytes() {
    let rec = index_write::SeriesRec {
        labels: vec![(0, 3), (2, 1)],
        chunks: vec![
            ChunkMeta { min_t: 1005, max_t: 1010, chunk_ref: chunks::pack_ref(0, 7) },
            ChunkMeta { min_t: 1012, max_t: 1020, chunk_ref: chunks::pack_ref(0, 200) },
            ChunkMeta { min_t: 1030, max_t: 1030, chunk_ref: chunks::pack_ref(2, 3) },
        ],
    };
    let mut got = Vec::new();
    index_write::encode_series(&mut got, &rec, 1000);
    let want: Vec<u8> = vec![
        2, 0, 3, 2, 1, // two labels
        3, // three chunks
        10, 5, 0, 7, // min_t - base = 5 (zigzag 10), duration 5, page 0, offset 7
        2, 8, 0, 0xc1, 0x01, // gap 2, duration 8, same page, offset delta 193
        10, 0, 2, 3, // gap 10, duration 0, page +2, offset 3
    ];
    assert_eq!(got, want);
}

/// Prints size and speed figures for a node-exporter-like block (10,000 series, 2 h at 15 s).
/// Run with `cargo test --release --lib tsdb::block::tests::measure -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure() {
    let tmp = tempfile::tempdir().unwrap();
    let (n_series, n_samples, step) = (10_000usize, 480i64, 15_000i64);
    let mut rng = Rng(9);
    let input: Vec<(Labels, Vec<(i64, f64)>)> = {
        let mut v: Vec<_> = (0..n_series)
            .map(|i| {
                let labels = Labels::from_pairs(&[
                    ("__name__", format!("node_metric_{}_total", i % 250)),
                    ("cpu", format!("{}", i % 8)),
                    ("instance", format!("10.0.{}.{}:9100", i / 2000, (i / 40) % 50)),
                    ("job", "node".to_string()),
                    ("mode", ["idle", "user", "system", "iowait", "irq"][i % 5].to_string()),
                ])
                .unwrap();
                let counter = i % 2 == 0;
                let mut value = 0.0f64;
                let samples = (0..n_samples)
                    .map(|k| {
                        value =
                            if counter { value + rng.below(1000) as f64 } else { (rng.below(10_000) as f64) / 100.0 };
                        (k * step + rng.below(3) as i64, value)
                    })
                    .collect();
                (labels, samples)
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.dedup_by(|a, b| a.0 == b.0);
        v
    };
    let total: usize = input.iter().map(|s| s.1.len()).sum();
    let t0 = std::time::Instant::now();
    let mut it = input.iter().cloned();
    let meta = write_block(tmp.path(), 0, 1 << 40, CompactionMeta::default(), &mut it).unwrap().unwrap();
    let write = t0.elapsed();
    let dir = tmp.path().join(&meta.ulid);
    let size = |f: &str| std::fs::metadata(dir.join(f)).unwrap().len();
    let t0 = std::time::Instant::now();
    let b = open_block(&dir).unwrap();
    let open = t0.elapsed();
    let t0 = std::time::Instant::now();
    let mut out = Vec::new();
    for id in b.all_postings().unwrap() {
        for c in b.series(id).unwrap().1 {
            b.read_chunk(&c, &mut out).unwrap();
        }
    }
    let read = t0.elapsed();
    assert_eq!(out.len(), total);
    eprintln!(
        "series {} samples {total}: chunks {} B ({:.3} B/sample), index {} B ({:.1} B/series), \
         write {write:?}, open {open:?}, read all {read:?} ({:.1} M samples/s)",
        input.len(),
        size("chunks"),
        size("chunks") as f64 / total as f64,
        size("index"),
        size("index") as f64 / input.len() as f64,
        total as f64 / read.as_secs_f64() / 1e6,
    );
}
