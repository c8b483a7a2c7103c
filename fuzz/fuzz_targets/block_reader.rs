//! Fuzzes the block reader with corrupt `index` and `chunks` files.
//!
//! The first input byte is a mode: bit 0 picks the file (0 = `index`, 1 = `chunks`); bit 2
//! picks how the rest of the input is used: 0 = as the whole file, 1 = as patches
//! (`offset <u16 LE>`, `xor <u8>`) applied to the file of a valid block, which keeps most of
//! its structure; bit 1 recomputes the file's checksums afterwards so that mutations reach
//! the decoders behind them. The other files are those of the valid block. The block is then
//! opened and every read API run over everything it claims to hold: errors are fine, a panic
//! is a bug.

#![no_main]

use cairn::model::Labels;
use cairn::tsdb::block::{ChunkMeta, CompactionMeta, open_block, reseal_for_fuzzing, write_block};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

struct Fixture {
    _tmp: tempfile::TempDir,
    work: PathBuf,
    index: Vec<u8>,
    chunks: Vec<u8>,
}

/// A small valid block (a few series, labels spanning skip-table groups, several chunks),
/// written once, and a work directory holding a copy of it.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let tmp = tempfile::tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())
            .expect("temp dir");
        let mut series = Vec::new();
        for i in 0..40u32 {
            let labels = Labels::from_pairs(&[
                ("__name__", format!("m{}", i % 3)),
                ("instance", format!("i{i:02}")),
                (
                    "job",
                    if i % 2 == 0 {
                        "a".to_string()
                    } else {
                        "b".to_string()
                    },
                ),
            ])
            .expect("labels");
            let n = 1 + (i as i64 * 7) % 30;
            let samples = (0..n)
                .map(|k| (k * 1000 + i as i64, k as f64 * 0.5))
                .collect();
            series.push((labels, samples));
        }
        series.sort_by(|a, b| a.0.cmp(&b.0));
        let mut it = series.into_iter();
        let meta = write_block(tmp.path(), 0, 1_000_000, CompactionMeta::default(), &mut it)
            .expect("write")
            .expect("samples");
        let good = tmp.path().join(&meta.ulid);
        // Any valid ULID not equal to the block's own.
        let work = tmp.path().join("01ARZ3NDEKTSV4RRFFQ69G5FAV");
        std::fs::create_dir(&work).expect("work dir");
        for f in ["meta.json", "index", "chunks"] {
            std::fs::copy(good.join(f), work.join(f)).expect("copy");
        }
        let index = std::fs::read(good.join("index")).expect("index");
        let chunks = std::fs::read(good.join("chunks")).expect("chunks");
        Fixture {
            _tmp: tmp,
            work,
            index,
            chunks,
        }
    })
}

fn put(path: &std::path::Path, bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .open(path)
        .expect("open");
    f.write_all(bytes).expect("write");
    f.set_len(bytes.len() as u64).expect("set_len");
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let (name, valid, other, other_bytes) = if mode & 1 == 0 {
        ("index", &f.index, "chunks", &f.chunks)
    } else {
        ("chunks", &f.chunks, "index", &f.index)
    };
    let mut bytes = if mode & 4 == 0 {
        rest.to_vec()
    } else {
        let mut b = valid.clone();
        for p in rest.chunks_exact(3) {
            let at = u16::from_le_bytes([p[0], p[1]]) as usize;
            if let Some(x) = b.get_mut(at) {
                *x ^= p[2];
            }
        }
        b
    };
    if mode & 2 != 0 {
        reseal_for_fuzzing(name, &mut bytes);
    }
    put(&f.work.join(name), &bytes);
    put(&f.work.join(other), other_bytes);

    let Ok(b) = open_block(&f.work) else { return };
    let names = b.label_names().unwrap_or_default();
    for n in names.iter().map(String::as_str).chain(["zz", ""]) {
        let values = b.label_values(n).unwrap_or_default();
        for v in values.iter().map(String::as_str).chain(["i05x"]) {
            let _ = b.postings(n, v);
        }
    }
    let mut out = Vec::new();
    for id in b
        .all_postings()
        .unwrap_or_default()
        .into_iter()
        .chain([u32::MAX])
    {
        if let Ok((_, metas)) = b.series(id) {
            for c in metas.iter().take(64) {
                out.clear();
                let _ = b.read_chunk(c, &mut out);
            }
        }
    }
    let _ = b.read_chunk(
        &ChunkMeta {
            min_t: 0,
            max_t: 0,
            chunk_ref: u64::MAX,
        },
        &mut out,
    );
    let _ = (b.tombstones(), b.size_bytes(), b.meta());
});
