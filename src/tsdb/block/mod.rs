//! Persisted blocks: immutable, time-partitioned directories of an index, chunk data,
//! tombstones and `meta.json`, memory-mapped for reading.
//!
//! Principal items: [`BlockReader`] (the one interface every block format is read through),
//! [`open_block`], [`write_block`], [`BlockMeta`].
//!
//! Formats: `docs/format/block.md` (directory, `meta.json`, the `chunks` file),
//! `docs/format/index.md`, `docs/format/tombstones.md`; samples inside chunks use
//! [`crate::tsdb::chunk::columnar`] (`docs/format/chunks.md`).
//!
//! Helpers for the database: [`delete_leftovers`] (remove interrupted writes on open),
//! [`read_meta`], [`list_block_dirs`].

mod chunks;
pub(crate) mod enc;
mod index_read;
mod index_write;
mod mmap;
mod reader;
mod writer;

#[cfg(test)]
mod tests;

use crate::model::Labels;
use crate::tsdb::tombstones::Tombstones;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Block statistics, as in Prometheus's `meta.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    /// Samples in the block.
    pub num_samples: u64,
    /// Series in the block.
    pub num_series: u64,
    /// Chunks in the block.
    pub num_chunks: u64,
    /// Tombstoned intervals.
    #[serde(default)]
    pub num_tombstones: u64,
}

/// How the block came to be.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactionMeta {
    /// 1 for a block cut from the head, parents' max + 1 for compacted blocks.
    pub level: u32,
    /// ULIDs of the level-1 blocks this one holds the data of.
    pub sources: Vec<String>,
    /// ULIDs of the blocks merged into this one.
    #[serde(default)]
    pub parents: Vec<String>,
}

/// The block's `meta.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    /// The block's ULID (its directory name).
    pub ulid: String,
    /// First timestamp covered, inclusive (ms).
    pub min_time: i64,
    /// End of the covered range, exclusive (ms), as Prometheus.
    pub max_time: i64,
    /// Statistics.
    pub stats: BlockStats,
    /// Compaction lineage.
    pub compaction: CompactionMeta,
    /// Format version of this block.
    pub version: u32,
}

/// Where a run of samples of one series lives in the block, and its time range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkMeta {
    /// First sample's timestamp.
    pub min_t: i64,
    /// Last sample's timestamp.
    pub max_t: i64,
    /// Opaque reference understood by the block's [`BlockReader::read_chunk`].
    pub chunk_ref: u64,
}

/// Block failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
    /// An I/O error.
    #[error("block {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The block's files do not decode.
    #[error("block {path}: corrupt: {msg}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// The caller's input breaks a contract (unsorted series or samples, samples outside the
    /// block's range, a series id out of range).
    #[error("invalid block input: {0}")]
    InvalidInput(String),
}

/// The `version` this crate writes in `meta.json` (the `index` magic number tells the format
/// apart from Prometheus's, which also says 1).
pub const FORMAT_VERSION: u32 = 1;

/// Read access to one persisted block. Every block format implements this.
pub trait BlockReader: Send + Sync {
    /// The block's meta.
    fn meta(&self) -> &BlockMeta;
    /// The block's directory.
    fn dir(&self) -> &Path;
    /// All label names, sorted.
    fn label_names(&self) -> Result<Vec<String>, BlockError>;
    /// All values of `name`, sorted.
    fn label_values(&self, name: &str) -> Result<Vec<String>, BlockError>;
    /// Series ids (sorted ascending; ids are in label order) having `name="value"`.
    fn postings(&self, name: &str, value: &str) -> Result<Vec<u32>, BlockError>;
    /// Every series id, sorted.
    fn all_postings(&self) -> Result<Vec<u32>, BlockError>;
    /// The labels and chunk metas (sorted by time) of series `id`.
    fn series(&self, id: u32) -> Result<(Labels, Vec<ChunkMeta>), BlockError>;
    /// Appends the samples of one chunk to `out`.
    fn read_chunk(&self, meta: &ChunkMeta, out: &mut Vec<(i64, f64)>) -> Result<(), BlockError>;
    /// The current tombstones (keyed by series id).
    fn tombstones(&self) -> Arc<Tombstones>;
    /// Replaces the tombstones, writing the `tombstones` file atomically first.
    fn set_tombstones(&self, t: Tombstones) -> Result<(), BlockError>;
    /// Bytes on disk.
    fn size_bytes(&self) -> u64;
}

/// Opens the block in `dir`.
///
/// Checks `meta.json`, the magic numbers and versions of `index` and `chunks`, the index TOC
/// and the CRCs of its small sections, and the chunk page table; the rest is checked when
/// read. Any malformed content yields [`BlockError::Corrupt`], never a panic. A directory named
/// `*.tmp` (an interrupted write) is refused.
pub fn open_block(dir: &Path) -> Result<Arc<dyn BlockReader>, BlockError> {
    Ok(Arc::new(reader::Block::open(dir)?))
}

/// Writes a new block under `parent` (as `parent/<ulid>`), crash-safely: into `<ulid>.tmp`,
/// fsynced, then renamed. `series` must come sorted by labels, each with its samples sorted by
/// time inside `[min_t, max_t)`. Returns `None` (and writes nothing) when there are no samples.
///
/// Series with no samples are skipped. Fails with [`BlockError::InvalidInput`] (leaving
/// nothing behind) when series are not strictly increasing by labels, when timestamps are not
/// strictly increasing, or when a sample lies outside `[min_t, max_t)`. Memory use is one
/// series' samples, one page, and the label symbols, chunk metas and postings of the block.
pub fn write_block(
    parent: &Path,
    min_t: i64,
    max_t: i64,
    compaction: CompactionMeta,
    series: &mut dyn Iterator<Item = (Labels, Vec<(i64, f64)>)>,
) -> Result<Option<BlockMeta>, BlockError> {
    writer::write_block(parent, min_t, max_t, compaction, series)
}

/// Recomputes, in place, every checksum of a block file's bytes (`file_name` is `"index"` or
/// `"chunks"`; other names are left alone), as far as its structure can be read. For fuzzing
/// and corruption tests only: it lets mutated bytes reach the decoders behind the CRCs.
/// Never panics.
#[doc(hidden)]
pub fn reseal_for_fuzzing(file_name: &str, bytes: &mut [u8]) {
    match file_name {
        "index" => index_read::reseal(bytes),
        "chunks" => chunks::reseal(bytes),
        _ => {}
    }
}

/// Reads and validates `dir/meta.json`.
pub fn read_meta(dir: &Path) -> Result<BlockMeta, BlockError> {
    reader::read_meta(dir)
}

/// Removes interrupted block writes (`*.tmp` directories) under `parent`. Call it when the
/// database opens, before anything writes blocks. Failures are logged and skipped.
pub fn delete_leftovers(parent: &Path) {
    let Ok(rd) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in rd.filter_map(Result::ok) {
        let path = entry.path();
        let is_tmp = entry.file_name().to_str().is_some_and(|n| n.ends_with(".tmp"));
        if is_tmp
            && entry.file_type().is_ok_and(|t| t.is_dir())
            && let Err(e) = std::fs::remove_dir_all(&path)
        {
            tracing::warn!(path = %path.display(), error = %e, "removing leftover block");
        }
    }
}

/// The block directories under `parent`: subdirectories whose name is a ULID, sorted by
/// name (hence by creation time). `*.tmp` leftovers and other entries are ignored.
pub fn list_block_dirs(parent: &Path) -> Result<Vec<PathBuf>, BlockError> {
    let rd = std::fs::read_dir(parent).map_err(writer::io_err(parent))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(writer::io_err(parent))?;
        let is_ulid = entry.file_name().to_str().is_some_and(|n| ulid::Ulid::from_string(n).is_ok());
        if is_ulid && entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}
