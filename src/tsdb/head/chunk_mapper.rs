//! Full head chunks written to disk and memory-mapped for reading, so the head's resident
//! memory holds only open chunks and metadata (Prometheus's `chunks_head`).
//!
//! Files `chunks_head/000001`, ... are preallocated (sparse) to [`FILE_SIZE`] and mapped
//! read-only once; chunks are appended with positioned writes, which the shared page cache
//! makes visible through the map. The directory is scratch space: the head is rebuilt from
//! the WAL on start, so the files are removed on open. A file is deleted once every chunk in
//! it is older than the head; readers still holding its map keep it valid.

use parking_lot::Mutex;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Size of each chunk file.
pub(crate) const FILE_SIZE: u64 = 128 << 20;

/// Where a sealed chunk's bytes are.
#[derive(Clone, Debug)]
pub(crate) enum ChunkLoc {
    /// On the heap (no mapper, or writing to disk failed).
    Heap(Arc<[u8]>),
    /// In chunk file `file` at `off`, `len` bytes.
    Mapped { file: u32, off: u32, len: u32 },
}

/// A chunk's bytes as handed to a query: shared, immutable.
#[derive(Clone, Debug)]
pub(crate) enum ChunkBytes {
    /// Heap bytes.
    Heap(Arc<[u8]>),
    /// A range of a mapped file.
    Mapped { map: Arc<memmap2::Mmap>, off: u32, len: u32 },
}

impl ChunkBytes {
    /// The bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            ChunkBytes::Heap(b) => b,
            ChunkBytes::Mapped { map, off, len } => {
                let (s, e) = (*off as usize, *off as usize + *len as usize);
                map.get(s..e).unwrap_or(&[])
            }
        }
    }
}

struct MappedFile {
    index: u32,
    map: Arc<memmap2::Mmap>,
    /// Newest sample time of any chunk in the file.
    max_t: i64,
}

struct Inner {
    files: Vec<MappedFile>,
    current: Option<File>,
    offset: u64,
    next_index: u32,
}

/// The chunks laid end to end in `bytes`, as [`ChunkMapper::write_many`] takes them: each with
/// its newest sample time. Lengths past the end give short (or empty) slices, never a panic.
pub(crate) fn split_parts<'a>(bytes: &'a [u8], parts: &'a [(u32, i64)]) -> impl Iterator<Item = (&'a [u8], i64)> {
    let mut at = 0usize;
    parts.iter().map(move |&(len, max_t)| {
        let end = at.saturating_add(len as usize).min(bytes.len());
        let chunk = bytes.get(at..end).unwrap_or(&[]);
        at = end;
        (chunk, max_t)
    })
}

/// Writes sealed chunks to disk and resolves their locations.
pub(crate) struct ChunkMapper {
    dir: PathBuf,
    inner: Mutex<Inner>,
}

impl ChunkMapper {
    /// Prepares `dir`, removing files of a previous run.
    pub(crate) fn open(dir: &Path) -> std::io::Result<ChunkMapper> {
        if dir.exists() {
            fs::remove_dir_all(dir)?;
        }
        fs::create_dir_all(dir)?;
        Ok(ChunkMapper {
            dir: dir.to_path_buf(),
            inner: Mutex::new(Inner { files: Vec::new(), current: None, offset: 0, next_index: 1 }),
        })
    }

    fn cut(&self, inner: &mut Inner) -> std::io::Result<()> {
        let index = inner.next_index;
        let path = self.dir.join(format!("{index:06}"));
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
        file.set_len(FILE_SIZE)?;
        // SAFETY: the file is private to this process (a scratch directory recreated on
        // open). Regions are written once, before any location pointing into them is handed
        // out, and never rewritten; deleting the file only unlinks it, the map stays valid.
        let map = unsafe { memmap2::MmapOptions::new().len(FILE_SIZE as usize).map(&file)? };
        inner.files.push(MappedFile { index, map: Arc::new(map), max_t: i64::MIN });
        inner.current = Some(file);
        inner.offset = 0;
        inner.next_index += 1;
        Ok(())
    }

    /// Writes a full chunk whose newest sample is at `max_t`; falls back to the heap if the
    /// disk write fails.
    pub(crate) fn write(&self, bytes: &[u8], max_t: i64) -> ChunkLoc {
        match self.try_write(bytes, max_t) {
            Ok(loc) => loc,
            Err(e) => {
                tracing::warn!(error = %e, "writing a head chunk to disk failed; keeping it in memory");
                ChunkLoc::Heap(Arc::from(bytes))
            }
        }
    }

    fn try_write(&self, bytes: &[u8], max_t: i64) -> std::io::Result<ChunkLoc> {
        let len = bytes.len() as u64;
        if len >= FILE_SIZE {
            return Ok(ChunkLoc::Heap(Arc::from(bytes)));
        }
        let (file, off) = self.try_write_many(bytes, &[(len as u32, max_t)])?;
        Ok(ChunkLoc::Mapped { file, off, len: len as u32 })
    }

    /// Writes several full chunks, laid end to end in `bytes` (`parts` gives each one's length
    /// and newest sample time), with one write; pushes their locations to `out` in order.
    /// Falls back to [`ChunkMapper::write`] per chunk if they do not fit one file or the write
    /// fails.
    pub(crate) fn write_many(&self, bytes: &[u8], parts: &[(u32, i64)], out: &mut Vec<ChunkLoc>) {
        let total = bytes.len() as u64;
        let sum: u64 = parts.iter().map(|&(len, _)| u64::from(len)).sum();
        let written = (sum == total && total < FILE_SIZE).then(|| self.try_write_many(bytes, parts)).and_then(|r| {
            r.map_err(|e| tracing::warn!(error = %e, "writing head chunks to disk failed; writing them one by one"))
                .ok()
        });
        match written {
            Some((file, start)) => {
                let mut off = start;
                for &(len, _) in parts {
                    out.push(ChunkLoc::Mapped { file, off, len });
                    off += len;
                }
            }
            None => {
                for (chunk, max_t) in split_parts(bytes, parts) {
                    out.push(self.write(chunk, max_t));
                }
            }
        }
    }

    fn try_write_many(&self, bytes: &[u8], parts: &[(u32, i64)]) -> std::io::Result<(u32, u32)> {
        let len = bytes.len() as u64;
        let mut inner = self.inner.lock();
        if inner.current.is_none() || inner.offset + len > FILE_SIZE {
            self.cut(&mut inner)?;
        }
        let off = inner.offset;
        if let Some(f) = &inner.current {
            f.write_all_at(bytes, off)?;
        }
        inner.offset += len;
        let last = inner.files.len() - 1;
        let file = &mut inner.files[last];
        file.max_t = parts.iter().fold(file.max_t, |m, &(_, t)| m.max(t));
        Ok((file.index, off as u32))
    }

    /// The bytes at `loc`.
    pub(crate) fn resolve(&self, loc: &ChunkLoc) -> ChunkBytes {
        match loc {
            ChunkLoc::Heap(b) => ChunkBytes::Heap(b.clone()),
            ChunkLoc::Mapped { file, off, len } => {
                let inner = self.inner.lock();
                match inner.files.binary_search_by_key(file, |f| f.index) {
                    Ok(i) => ChunkBytes::Mapped { map: inner.files[i].map.clone(), off: *off, len: *len },
                    // Only files whose chunks were all truncated away are deleted, so a live
                    // location always resolves; an empty chunk is the safe answer otherwise.
                    Err(_) => ChunkBytes::Heap(Arc::from(&[0u8, 0][..])),
                }
            }
        }
    }

    /// Deletes files whose chunks are all older than `mint`. When that includes the file being
    /// written, the next chunk starts a new file, so a head that has persisted everything keeps
    /// no chunk bytes on disk.
    pub(crate) fn truncate(&self, mint: i64) {
        let mut inner = self.inner.lock();
        let current = inner.files.last().map(|f| f.index);
        let mut removed = Vec::new();
        inner.files.retain(|f| {
            let old = f.max_t < mint && f.max_t != i64::MIN;
            if old {
                removed.push(f.index);
            }
            !old
        });
        if current.is_some_and(|c| removed.contains(&c)) {
            inner.current = None;
            inner.offset = 0;
        }
        drop(inner);
        for index in removed {
            let path = self.dir.join(format!("{index:06}"));
            if let Err(e) = fs::remove_file(&path) {
                tracing::warn!(file = %path.display(), error = %e, "removing a head chunk file");
            }
        }
    }

    /// Bytes of chunk files on disk (written so far).
    pub(crate) fn size_bytes(&self) -> u64 {
        let inner = self.inner.lock();
        match inner.current {
            Some(_) => inner.files.len().saturating_sub(1) as u64 * FILE_SIZE + inner.offset,
            None => inner.files.len() as u64 * FILE_SIZE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_resolve_and_truncate() {
        let dir = tempfile::tempdir().unwrap();
        let m = ChunkMapper::open(&dir.path().join("chunks_head")).unwrap();
        let a = m.write(&[1, 2, 3], 10);
        let b = m.write(&[4, 5], 20);
        assert_eq!(m.resolve(&a).as_slice(), &[1, 2, 3]);
        assert_eq!(m.resolve(&b).as_slice(), &[4, 5]);
        assert!(matches!(a, ChunkLoc::Mapped { file: 1, off: 0, len: 3 }));
        // Newer chunks keep the file.
        m.truncate(15);
        assert_eq!(m.resolve(&a).as_slice(), &[1, 2, 3]);
        assert!(dir.path().join("chunks_head/000001").exists());
        // Once every chunk is older, the file being written goes too and the next chunk
        // starts a new one.
        m.truncate(100);
        assert!(!dir.path().join("chunks_head/000001").exists());
        assert_eq!(m.size_bytes(), 0);
        let c = m.write(&[6], 110);
        assert!(matches!(c, ChunkLoc::Mapped { file: 2, off: 0, len: 1 }));
        assert_eq!(m.resolve(&c).as_slice(), &[6]);
        // Reopening clears the scratch directory.
        drop(m);
        let m = ChunkMapper::open(&dir.path().join("chunks_head")).unwrap();
        assert_eq!(m.size_bytes(), 0);
        assert_eq!(fs::read_dir(dir.path().join("chunks_head")).unwrap().count(), 0);
    }

    #[test]
    fn many_chunks_in_one_write_resolve_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let m = ChunkMapper::open(dir.path()).unwrap();
        let first = m.write(&[9, 9], 5);
        let mut locs = Vec::new();
        m.write_many(&[1, 2, 3, 4, 5, 6], &[(1, 10), (3, 20), (2, 30)], &mut locs);
        let got: Vec<Vec<u8>> = locs.iter().map(|l| m.resolve(l).as_slice().to_vec()).collect();
        assert_eq!(got, vec![vec![1], vec![2, 3, 4], vec![5, 6]]);
        assert_eq!(m.resolve(&first).as_slice(), &[9, 9]);
        // The file's newest time covers the whole batch: truncating before 30 keeps it.
        m.truncate(25);
        assert_eq!(m.resolve(&locs[2]).as_slice(), &[5, 6]);
        // Lengths that do not add up to the bytes fall back to one write per chunk.
        locs.clear();
        m.write_many(&[7, 8], &[(1, 40), (5, 50)], &mut locs);
        let got: Vec<Vec<u8>> = locs.iter().map(|l| m.resolve(l).as_slice().to_vec()).collect();
        assert_eq!(got, vec![vec![7], vec![8]]);
    }

    #[test]
    fn old_files_are_deleted_but_held_maps_stay_valid() {
        let dir = tempfile::tempdir().unwrap();
        let m = ChunkMapper::open(dir.path()).unwrap();
        let big = vec![7u8; (FILE_SIZE / 2 + 1) as usize];
        let a = m.write(&big, 10); // file 1
        let held = m.resolve(&a);
        let b = m.write(&big, 20); // file 2 (does not fit in file 1)
        assert!(matches!(b, ChunkLoc::Mapped { file: 2, .. }));
        m.truncate(15);
        assert!(!dir.path().join("000001").exists());
        assert!(dir.path().join("000002").exists());
        assert_eq!(held.as_slice().len(), big.len());
        assert!(held.as_slice().iter().all(|&x| x == 7));
    }
}
