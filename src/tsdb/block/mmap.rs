//! Read-only memory maps of block files: the one place the block code uses `unsafe`.

use std::fs::File;
use std::io;
use std::ops::Deref;

/// A read-only map of a whole file, or an empty slice for an empty file.
pub(crate) struct Map(Option<memmap2::Mmap>);

impl Map {
    /// Maps `file` read-only.
    pub(crate) fn new(file: &File) -> io::Result<Map> {
        if file.metadata()?.len() == 0 {
            return Ok(Map(None));
        }
        // SAFETY: block files are immutable once their directory is renamed into place: the
        // writer never reopens them, and deletion only unlinks them (the map stays valid).
        // The only file that changes, `tombstones`, is read into memory, never mapped. A file
        // truncated behind our back by another process is outside this contract.
        let m = unsafe { memmap2::Mmap::map(file)? };
        Ok(Map(Some(m)))
    }
}

impl Deref for Map {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.as_deref().unwrap_or(&[])
    }
}
