//! Old on-disk formats keep opening: `testdata/blocks/v<N>/` holds a block written by format
//! version N from the generator below; the test reads it back and compares with the generator.
//! `UPDATE_GOLDEN=1` rewrites the fixture of the current version.

use cairn::model::Labels;
use cairn::tsdb::block::{self, CompactionMeta};
use cairn::tsdb::tombstones::Tombstones;
use std::path::{Path, PathBuf};

/// The fixture's content: a counter, a gauge with special values, a long series spanning
/// several runs.
fn generate() -> Vec<(Labels, Vec<(i64, f64)>)> {
    let mut out = vec![
        (
            Labels::from_pairs(&[("__name__", "fixture_counter_total"), ("job", "a")]).unwrap(),
            (0..50).map(|i| (i * 15_000, (i * 3) as f64)).collect(),
        ),
        (
            Labels::from_pairs(&[("__name__", "fixture_gauge"), ("job", "b"), ("path", "/x y")]).unwrap(),
            vec![
                (0, 0.25),
                (1_000, f64::NAN),
                (2_000, f64::from_bits(0x7ff0_0000_0000_0002)),
                (3_000, f64::INFINITY),
                (4_000, f64::NEG_INFINITY),
                (5_000, -0.0),
                (6_000, 1e-300),
            ],
        ),
        (
            Labels::from_pairs(&[("__name__", "fixture_long"), ("job", "a")]).unwrap(),
            (0..5000).map(|i| (i * 1000 + i % 7, (i % 13) as f64 * 0.5)).collect(),
        ),
    ];
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn fixture_dir(version: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("testdata/blocks/v{version}"))
}

fn only_block(dir: &Path) -> PathBuf {
    let blocks = block::list_block_dirs(dir).expect("list fixture blocks");
    assert_eq!(blocks.len(), 1, "one block in {}", dir.display());
    blocks[0].clone()
}

#[test]
fn format_v1_blocks_still_open() {
    let dir = fixture_dir(1);
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") && block::FORMAT_VERSION == 1 {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut it = generate().into_iter();
        let cm = CompactionMeta { level: 1, ..CompactionMeta::default() };
        let meta = block::write_block(&dir, 0, 5_000_000, cm, &mut it).unwrap().unwrap();
        let b = block::open_block(&dir.join(&meta.ulid)).unwrap();
        let mut t = Tombstones::default();
        t.add(0, 30_000, 45_000);
        b.set_tombstones(t).unwrap();
    }
    let b = block::open_block(&only_block(&dir)).expect("v1 block opens");
    assert_eq!(b.meta().version, 1);
    let want = generate();
    assert_eq!(b.all_postings().unwrap().len(), want.len());
    for (id, (labels, samples)) in want.iter().enumerate() {
        let (got_labels, metas) = b.series(id as u32).unwrap();
        assert_eq!(&got_labels, labels);
        let mut got = Vec::new();
        for m in &metas {
            b.read_chunk(m, &mut got).unwrap();
        }
        let bits = |v: &[(i64, f64)]| v.iter().map(|&(t, v)| (t, v.to_bits())).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(samples), "{labels}");
    }
    let t = b.tombstones();
    assert_eq!(t.get(0).map(|iv| iv.as_slice().to_vec()), Some(vec![(30_000, 45_000)]));
    assert_eq!(b.label_values("job").unwrap(), ["a", "b"]);
    assert_eq!(b.postings("job", "a").unwrap(), [0, 2]);
}
