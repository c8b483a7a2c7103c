//! Persisted blocks: immutable, time-partitioned directories of an index, chunk data,
//! tombstones and `meta.json`, memory-mapped for reading.
//!
//! Principal items: [`BlockReader`] (the one interface every block format is read through),
//! [`open_block`], [`write_block`], [`BlockMeta`].
//!
//! See `docs/format/index.md`, `docs/format/chunks.md`, `docs/format/tombstones.md`.
//!
//! OWNER: helper "block" fills this module in. The public API below is fixed.

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
}

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
pub fn open_block(dir: &Path) -> Result<Arc<dyn BlockReader>, BlockError> {
    Err(BlockError::Corrupt { path: dir.to_path_buf(), msg: "unimplemented".into() })
}

/// Writes a new block under `parent` (as `parent/<ulid>`), crash-safely: into `<ulid>.tmp`,
/// fsynced, then renamed. `series` must come sorted by labels, each with its samples sorted by
/// time inside `[min_t, max_t)`. Returns `None` (and writes nothing) when there are no samples.
pub fn write_block(
    _parent: &Path,
    _min_t: i64,
    _max_t: i64,
    _compaction: CompactionMeta,
    _series: &mut dyn Iterator<Item = (Labels, Vec<(i64, f64)>)>,
) -> Result<Option<BlockMeta>, BlockError> {
    Ok(None)
}
