//! `write_block`: streams series into a new block directory, crash-safely.

use super::chunks::ChunkWriter;
use super::index_write::{SeriesRec, write_index};
use super::{BlockError, BlockMeta, BlockStats, ChunkMeta, CompactionMeta, FORMAT_VERSION};
use crate::model::Labels;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// At most this many samples go in one run.
pub(crate) const MAX_RUN_SAMPLES: usize = 2048;
/// A run whose encoding exceeds this is split in half (down to one sample).
pub(crate) const MAX_RUN_BYTES: usize = 32 * 1024;

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BlockError + '_ {
    move |source| BlockError::Io { path: path.to_path_buf(), source }
}

/// Fsyncs a directory so that entries created or renamed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), BlockError> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(io_err(dir))
}

/// Writes `bytes` to `path` and fsyncs it.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), BlockError> {
    let mut f = File::create(path).map_err(io_err(path))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(io_err(path))
}

/// Interns label strings with provisional ids, renumbered in sorted order at the end.
#[derive(Default)]
struct Symbols {
    ids: HashMap<String, u32, foldhash::fast::RandomState>,
    strings: Vec<String>,
}

impl Symbols {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(s.to_owned());
        self.ids.insert(s.to_owned(), id);
        id
    }

    /// The sorted symbols and, for each provisional id, its final ordinal.
    fn finish(self) -> (Vec<String>, Vec<u32>) {
        let mut order: Vec<u32> = (0..self.strings.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| self.strings[a as usize].cmp(&self.strings[b as usize]));
        let mut remap = vec![0u32; order.len()];
        for (ordinal, &prov) in order.iter().enumerate() {
            remap[prov as usize] = ordinal as u32;
        }
        let mut strings: Vec<Option<String>> = self.strings.into_iter().map(Some).collect();
        let sorted = order.iter().filter_map(|&p| strings[p as usize].take()).collect();
        (sorted, remap)
    }
}

fn invalid(msg: String) -> BlockError {
    BlockError::InvalidInput(msg)
}

/// Checks that `labels` are sorted by name with non-empty, unique names and non-empty values.
fn check_labels(labels: &Labels) -> Result<(), BlockError> {
    let s = labels.as_slice();
    if s.iter().any(|l| l.name.is_empty() || l.value.is_empty()) {
        return Err(invalid(format!("series {labels} has an empty label name or value")));
    }
    if s.windows(2).any(|w| w[0].name >= w[1].name) {
        return Err(invalid(format!("series {labels} has unsorted or duplicate label names")));
    }
    Ok(())
}

/// Writes the block's files into `tmp` (which must not exist). Returns `None` when there were
/// no samples; the caller then removes `tmp`.
pub(crate) fn write_into(
    tmp: &Path,
    ulid: &str,
    min_t: i64,
    max_t: i64,
    compaction: CompactionMeta,
    series: &mut dyn Iterator<Item = (Labels, Vec<(i64, f64)>)>,
) -> Result<Option<BlockMeta>, BlockError> {
    fs::create_dir(tmp).map_err(io_err(tmp))?;
    let chunks_path = tmp.join("chunks");
    let file = File::create(&chunks_path).map_err(io_err(&chunks_path))?;
    let mut cw = ChunkWriter::new(BufWriter::with_capacity(1 << 16, file)).map_err(io_err(&chunks_path))?;
    let mut symbols = Symbols::default();
    let mut recs: Vec<SeriesRec> = Vec::new();
    let mut stats = BlockStats::default();
    let mut prev: Option<Labels> = None;

    for (labels, samples) in series {
        if prev.as_ref().is_some_and(|p| *p >= labels) {
            return Err(invalid(format!("series {labels} is not after the previous series")));
        }
        check_labels(&labels)?;
        for (i, &(t, _)) in samples.iter().enumerate() {
            if t < min_t || t >= max_t {
                return Err(invalid(format!("series {labels}: sample at {t} outside [{min_t}, {max_t})")));
            }
            if i > 0 && samples[i - 1].0 >= t {
                return Err(invalid(format!("series {labels}: timestamps not increasing at {t}")));
            }
        }
        if samples.is_empty() {
            prev = Some(labels);
            continue;
        }
        // Balanced runs of at most MAX_RUN_SAMPLES; halve a run whose encoding is too big.
        let n_runs = samples.len().div_ceil(MAX_RUN_SAMPLES);
        let target = samples.len().div_ceil(n_runs);
        let mut chunks = Vec::with_capacity(n_runs);
        let mut i = 0;
        while i < samples.len() {
            let mut k = target.min(samples.len() - i);
            // The last `encode` leaves the run to commit pending.
            while cw.encode(&samples[i..i + k]) > MAX_RUN_BYTES && k > 1 {
                k = k.div_ceil(2);
            }
            let run = &samples[i..i + k];
            let chunk_ref = cw.commit().map_err(io_err(&chunks_path))?;
            chunks.push(ChunkMeta { min_t: run[0].0, max_t: run[k - 1].0, chunk_ref });
            i += k;
        }
        stats.num_samples += samples.len() as u64;
        stats.num_chunks += chunks.len() as u64;
        let syms = labels.iter().map(|l| (symbols.intern(&l.name), symbols.intern(&l.value))).collect();
        recs.push(SeriesRec { labels: syms, chunks });
        prev = Some(labels);
    }
    if stats.num_samples == 0 {
        return Ok(None);
    }
    stats.num_series = recs.len() as u64;

    let w = cw.finish().map_err(io_err(&chunks_path))?;
    let file = w.into_inner().map_err(|e| io_err(&chunks_path)(e.into_error()))?;
    file.sync_all().map_err(io_err(&chunks_path))?;
    drop(file);

    let (sorted, remap) = symbols.finish();
    for r in &mut recs {
        for (n, v) in &mut r.labels {
            *n = remap[*n as usize];
            *v = remap[*v as usize];
        }
    }
    let index_path = tmp.join("index");
    let file = File::create(&index_path).map_err(io_err(&index_path))?;
    let w = write_index(BufWriter::with_capacity(1 << 16, file), &sorted, &recs, min_t).map_err(io_err(&index_path))?;
    let file = w.into_inner().map_err(|e| io_err(&index_path)(e.into_error()))?;
    file.sync_all().map_err(io_err(&index_path))?;
    drop(file);

    let meta = BlockMeta {
        ulid: ulid.to_owned(),
        min_time: min_t,
        max_time: max_t,
        stats,
        compaction,
        version: FORMAT_VERSION,
    };
    let meta_path = tmp.join("meta.json");
    let json =
        serde_json::to_vec_pretty(&meta).map_err(|e| BlockError::Io { path: meta_path.clone(), source: e.into() })?;
    write_synced(&meta_path, &json)?;
    sync_dir(tmp)?;
    Ok(Some(meta))
}

/// Writes a block under `parent`; see [`super::write_block`].
pub(crate) fn write_block(
    parent: &Path,
    min_t: i64,
    max_t: i64,
    compaction: CompactionMeta,
    series: &mut dyn Iterator<Item = (Labels, Vec<(i64, f64)>)>,
) -> Result<Option<BlockMeta>, BlockError> {
    if min_t > max_t {
        return Err(invalid(format!("block range [{min_t}, {max_t}) is reversed")));
    }
    let ulid = ulid::Ulid::new().to_string();
    let tmp: PathBuf = parent.join(format!("{ulid}.tmp"));
    let result = write_into(&tmp, &ulid, min_t, max_t, compaction, series);
    match result {
        Ok(Some(meta)) => {
            let dir = parent.join(&ulid);
            fs::rename(&tmp, &dir).map_err(io_err(&dir))?;
            sync_dir(parent)?;
            Ok(Some(meta))
        }
        other => {
            // Nothing to keep: no samples, or a failed write. Removal is best effort; a
            // leftover `.tmp` directory is never opened and `delete_leftovers` removes it.
            if let Err(e) = fs::remove_dir_all(&tmp) {
                tracing::warn!(path = %tmp.display(), error = %e, "removing unfinished block");
            }
            other
        }
    }
}
