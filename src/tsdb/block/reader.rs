//! The block reader: `meta.json`, a memory-mapped `index` and `chunks`, and tombstones.

use super::chunks::ChunkFile;
use super::index_read::IndexReader;
use super::mmap::Map;
use super::writer::{io_err, sync_dir, write_synced};
use super::{BlockError, BlockMeta, BlockReader, ChunkMeta, FORMAT_VERSION};
use crate::model::Labels;
use crate::tsdb::tombstones::Tombstones;
use parking_lot::{Mutex, RwLock};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

fn corrupt(path: &Path, msg: impl Into<String>) -> BlockError {
    BlockError::Corrupt { path: path.to_path_buf(), msg: msg.into() }
}

/// Reads and validates `dir/meta.json`.
pub(crate) fn read_meta(dir: &Path) -> Result<BlockMeta, BlockError> {
    let path = dir.join("meta.json");
    let bytes = fs::read(&path).map_err(io_err(&path))?;
    let meta: BlockMeta = serde_json::from_slice(&bytes).map_err(|e| corrupt(&path, format!("meta.json: {e}")))?;
    if meta.version != FORMAT_VERSION {
        return Err(corrupt(&path, format!("unsupported block version {}", meta.version)));
    }
    if meta.min_time > meta.max_time {
        return Err(corrupt(&path, "minTime after maxTime"));
    }
    if ulid::Ulid::from_string(&meta.ulid).is_err() {
        return Err(corrupt(&path, format!("bad ulid {:?}", meta.ulid)));
    }
    Ok(meta)
}

fn map_file(path: &Path) -> Result<Map, BlockError> {
    let file = File::open(path).map_err(io_err(path))?;
    Map::new(&file).map_err(io_err(path))
}

/// Total size of the regular files directly in `dir`.
fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(dir) else { return 0 };
    rd.filter_map(Result::ok).filter_map(|e| e.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum()
}

/// An open block of this crate's format.
pub(crate) struct Block {
    dir: PathBuf,
    index_path: PathBuf,
    chunks_path: PathBuf,
    meta: BlockMeta,
    index: IndexReader,
    chunks: ChunkFile,
    tombstones: RwLock<Arc<Tombstones>>,
    /// Serialises `set_tombstones` calls so their file writes do not interleave.
    tombstones_write: Mutex<()>,
    size: AtomicU64,
}

impl Block {
    /// Opens and validates the block in `dir`.
    pub(crate) fn open(dir: &Path) -> Result<Block, BlockError> {
        if dir.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".tmp")) {
            return Err(corrupt(dir, "an unfinished block write (.tmp); not opened"));
        }
        let meta = read_meta(dir)?;
        let index_path = dir.join("index");
        let index = IndexReader::open(map_file(&index_path)?).map_err(|m| corrupt(&index_path, m))?;
        let chunks_path = dir.join("chunks");
        let chunks = ChunkFile::open(map_file(&chunks_path)?).map_err(|m| corrupt(&chunks_path, m))?;
        let ts_path = dir.join("tombstones");
        let tombstones = match fs::read(&ts_path) {
            Ok(b) => Tombstones::decode(&b).map_err(|m| corrupt(&ts_path, m))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Tombstones::default(),
            Err(e) => return Err(io_err(&ts_path)(e)),
        };
        Ok(Block {
            dir: dir.to_path_buf(),
            index_path,
            chunks_path,
            meta,
            index,
            chunks,
            tombstones: RwLock::new(Arc::new(tombstones)),
            tombstones_write: Mutex::new(()),
            size: AtomicU64::new(dir_size(dir)),
        })
    }

    /// Number of pages in the chunks file and how many were decompressed so far.
    #[cfg(test)]
    pub(crate) fn page_stats(&self) -> (usize, u64) {
        (self.chunks.num_pages(), self.chunks.decompressed())
    }
}

impl BlockReader for Block {
    fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn label_names(&self) -> Result<Vec<String>, BlockError> {
        self.index.label_names().map_err(|m| corrupt(&self.index_path, m))
    }

    fn label_values(&self, name: &str) -> Result<Vec<String>, BlockError> {
        self.index.label_values(name).map_err(|m| corrupt(&self.index_path, m))
    }

    fn postings(&self, name: &str, value: &str) -> Result<Vec<u32>, BlockError> {
        self.index.postings(name, value).map_err(|m| corrupt(&self.index_path, m))
    }

    fn all_postings(&self) -> Result<Vec<u32>, BlockError> {
        Ok((0..self.index.num_series()).collect())
    }

    fn series(&self, id: u32) -> Result<(Labels, Vec<ChunkMeta>), BlockError> {
        if id >= self.index.num_series() {
            return Err(BlockError::InvalidInput(format!(
                "series id {id} out of range (block {} has {} series)",
                self.meta.ulid,
                self.index.num_series()
            )));
        }
        self.index.series(id).map_err(|m| corrupt(&self.index_path, m))
    }

    fn read_chunk(&self, meta: &ChunkMeta, out: &mut Vec<(i64, f64)>) -> Result<(), BlockError> {
        let start = out.len();
        let res = self.chunks.read_run(meta.chunk_ref, out).and_then(|()| {
            let run = &out[start..];
            let ordered = run.windows(2).all(|w| w[0].0 < w[1].0);
            let bounds = run.first().map(|s| s.0) == Some(meta.min_t) && run.last().map(|s| s.0) == Some(meta.max_t);
            if ordered && bounds { Ok(()) } else { Err("chunk does not match its meta") }
        });
        res.map_err(|m| {
            out.truncate(start);
            corrupt(&self.chunks_path, m)
        })
    }

    fn tombstones(&self) -> Arc<Tombstones> {
        Arc::clone(&self.tombstones.read())
    }

    fn set_tombstones(&self, t: Tombstones) -> Result<(), BlockError> {
        let _writer = self.tombstones_write.lock();
        let tmp = self.dir.join("tombstones.tmp");
        let path = self.dir.join("tombstones");
        write_synced(&tmp, &t.encode())?;
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        sync_dir(&self.dir)?;
        *self.tombstones.write() = Arc::new(t);
        self.size.store(dir_size(&self.dir), Ordering::Relaxed);
        Ok(())
    }

    fn size_bytes(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
    }
}
