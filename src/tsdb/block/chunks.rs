//! The `chunks` file: encoded runs packed into zstd-compressed pages (see
//! `docs/format/block.md`), written streamingly and read from a memory map.

use super::enc::{Decbuf, put_u32, put_u64, put_uvarint};
use super::mmap::Map;
use crate::tsdb::chunk::columnar;
use parking_lot::Mutex;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The magic number opening and closing a `chunks` file.
pub(crate) const MAGIC: &[u8; 4] = b"CRNC";
/// The `chunks` file format version.
pub(crate) const VERSION: u8 = 1;
/// A page is flushed once its uncompressed size reaches this.
pub(crate) const PAGE_TARGET: usize = 64 * 1024;
/// The largest decompressed page a reader accepts.
pub(crate) const MAX_PAGE: usize = 16 * 1024 * 1024;
/// zstd compression level for pages.
pub(crate) const ZSTD_LEVEL: i32 = 3;
/// Size of the footer: table offset, page count, table CRC, magic.
const FOOTER_LEN: usize = 8 + 4 + 4 + 4;
/// Size of the header: magic, version, reserved.
pub(crate) const HEADER_LEN: usize = 8;
/// Size of a page header: compressed length, raw length, CRC.
const PAGE_HEADER_LEN: usize = 12;
/// How many decompressed pages a reader keeps.
const CACHE_PAGES: usize = 4;

/// Packs a page number and an offset in the decompressed page into a chunk reference.
pub(crate) fn pack_ref(page: u32, offset: u32) -> u64 {
    (u64::from(page) << 32) | u64::from(offset)
}

/// Splits a chunk reference into page number and offset.
pub(crate) fn unpack_ref(r: u64) -> (u32, u32) {
    ((r >> 32) as u32, r as u32)
}

/// Writes a `chunks` file: runs are appended to the current page, which is compressed and
/// written out when it reaches [`PAGE_TARGET`].
pub(crate) struct ChunkWriter<W: Write> {
    out: W,
    written: u64,
    page: Vec<u8>,
    page_offsets: Vec<u64>,
    encoded: Vec<u8>,
    compressor: zstd::bulk::Compressor<'static>,
}

impl<W: Write> ChunkWriter<W> {
    /// Starts a file, writing its header.
    pub(crate) fn new(mut out: W) -> io::Result<Self> {
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&[VERSION, 0, 0, 0]);
        out.write_all(&header)?;
        Ok(ChunkWriter {
            out,
            written: HEADER_LEN as u64,
            page: Vec::with_capacity(PAGE_TARGET + 64 * 1024),
            page_offsets: Vec::new(),
            encoded: Vec::new(),
            compressor: zstd::bulk::Compressor::new(ZSTD_LEVEL)?,
        })
    }

    /// Encodes `samples` as the pending run, returning its encoded size. Nothing is appended
    /// until [`Self::commit`]; a second `encode` replaces the pending run.
    pub(crate) fn encode(&mut self, samples: &[(i64, f64)]) -> usize {
        self.encoded.clear();
        columnar::encode(samples, &mut self.encoded);
        self.encoded.len()
    }

    /// Appends the pending run to the current page, returning its chunk reference.
    pub(crate) fn commit(&mut self) -> io::Result<u64> {
        let page = u32::try_from(self.page_offsets.len()).map_err(|_| io::Error::other("too many chunk pages"))?;
        // Pages are flushed at PAGE_TARGET and runs are bounded by the block writer, so the
        // offset fits a u32; check anyway rather than wrap.
        let offset = u32::try_from(self.page.len()).map_err(|_| io::Error::other("chunk page too large"))?;
        put_uvarint(&mut self.page, self.encoded.len() as u64);
        self.page.extend_from_slice(&self.encoded);
        self.encoded.clear();
        if self.page.len() >= PAGE_TARGET {
            self.flush_page()?;
        }
        Ok(pack_ref(page, offset))
    }

    fn flush_page(&mut self) -> io::Result<()> {
        if self.page.is_empty() {
            return Ok(());
        }
        if self.page.len() > MAX_PAGE {
            return Err(io::Error::other("chunk page exceeds the maximum page size"));
        }
        let frame = self.compressor.compress(&self.page)?;
        let clen = u32::try_from(frame.len()).map_err(|_| io::Error::other("page too large"))?;
        let mut header = Vec::with_capacity(PAGE_HEADER_LEN);
        put_u32(&mut header, clen);
        put_u32(&mut header, self.page.len() as u32);
        put_u32(&mut header, crc32c::crc32c(&frame));
        self.out.write_all(&header)?;
        self.out.write_all(&frame)?;
        self.page_offsets.push(self.written);
        self.written += (PAGE_HEADER_LEN + frame.len()) as u64;
        self.page.clear();
        Ok(())
    }

    /// Flushes the last page, writes the page table and footer, and returns the writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.flush_page()?;
        let mut tail = Vec::with_capacity(self.page_offsets.len() * 8 + FOOTER_LEN);
        for &o in &self.page_offsets {
            put_u64(&mut tail, o);
        }
        put_u64(&mut tail, self.written);
        put_u32(&mut tail, self.page_offsets.len() as u32);
        let crc = crc32c::crc32c(&tail);
        put_u32(&mut tail, crc);
        tail.extend_from_slice(MAGIC);
        self.out.write_all(&tail)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A memory-mapped `chunks` file with a small cache of decompressed pages.
pub(crate) struct ChunkFile {
    map: Map,
    /// Byte offset of each page header; the page table validated on open.
    pages: Vec<u64>,
    /// End of the last page (the page table's offset).
    table_off: u64,
    cache: Mutex<Vec<(u32, Arc<Vec<u8>>)>>,
    /// Pages decompressed so far (cache misses).
    decompressed: AtomicU64,
}

impl ChunkFile {
    /// Validates the header, footer and page table of `map`.
    pub(crate) fn open(map: Map) -> Result<ChunkFile, &'static str> {
        let b: &[u8] = &map;
        let mut h = Decbuf::new(b);
        if h.bytes(4, "chunks header")? != MAGIC {
            return Err("bad chunks magic number");
        }
        if h.u8("chunks version")? != VERSION {
            return Err("unsupported chunks version");
        }
        let footer_start = b.len().checked_sub(FOOTER_LEN).ok_or("chunks file too short")?;
        if footer_start < HEADER_LEN {
            return Err("chunks file too short");
        }
        let mut f = Decbuf::new(&b[footer_start..]);
        let table_off = f.u64("footer")?;
        let n = f.u32("footer")? as usize;
        let crc = f.u32("footer")?;
        if f.bytes(4, "footer")? != MAGIC {
            return Err("bad chunks footer magic number");
        }
        let table_len = n.checked_mul(8).ok_or("page table too large")?;
        let table_start = usize::try_from(table_off).map_err(|_| "bad page table offset")?;
        if table_start.checked_add(table_len) != Some(footer_start) || table_start < HEADER_LEN {
            return Err("page table out of bounds");
        }
        if crc32c::crc32c(&b[table_start..footer_start + 12]) != crc {
            return Err("page table checksum mismatch");
        }
        let mut t = Decbuf::new(&b[table_start..footer_start]);
        let mut pages = Vec::with_capacity(n);
        let mut min_next = HEADER_LEN as u64;
        for _ in 0..n {
            let o = t.u64("page table")?;
            if o < min_next || o >= table_off {
                return Err("page offsets out of order or bounds");
            }
            min_next = o.checked_add(PAGE_HEADER_LEN as u64).ok_or("page offset overflows")?;
            pages.push(o);
        }
        Ok(ChunkFile { map, pages, table_off, cache: Mutex::new(Vec::new()), decompressed: AtomicU64::new(0) })
    }

    /// Number of pages.
    #[cfg(test)]
    pub(crate) fn num_pages(&self) -> usize {
        self.pages.len()
    }

    /// Pages decompressed so far (cache misses).
    #[cfg(test)]
    pub(crate) fn decompressed(&self) -> u64 {
        self.decompressed.load(Ordering::Relaxed)
    }

    /// The decompressed page `p`, from the cache or decompressed (checking its CRC).
    pub(crate) fn page(&self, p: u32) -> Result<Arc<Vec<u8>>, &'static str> {
        {
            let mut cache = self.cache.lock();
            if let Some(i) = cache.iter().position(|(q, _)| *q == p) {
                let hit = cache.remove(i);
                let data = Arc::clone(&hit.1);
                cache.push(hit);
                return Ok(data);
            }
        }
        let data = Arc::new(self.decompress(p)?);
        self.decompressed.fetch_add(1, Ordering::Relaxed);
        let mut cache = self.cache.lock();
        if !cache.iter().any(|(q, _)| *q == p) {
            if cache.len() >= CACHE_PAGES {
                cache.remove(0);
            }
            cache.push((p, Arc::clone(&data)));
        }
        Ok(data)
    }

    fn decompress(&self, p: u32) -> Result<Vec<u8>, &'static str> {
        let start = *self.pages.get(p as usize).ok_or("chunk reference to a missing page")?;
        let end = self.pages.get(p as usize + 1).copied().unwrap_or(self.table_off);
        let start = usize::try_from(start).map_err(|_| "page offset")?;
        let end = usize::try_from(end).map_err(|_| "page offset")?;
        let region = self.map.get(start..end).ok_or("page out of bounds")?;
        let mut d = Decbuf::new(region);
        let clen = d.u32("page header")? as usize;
        let raw_len = d.u32("page header")? as usize;
        let crc = d.u32("page header")?;
        let frame = d.bytes(clen, "page truncated")?;
        if !d.is_empty() {
            return Err("page length does not match the page table");
        }
        if crc32c::crc32c(frame) != crc {
            return Err("page checksum mismatch");
        }
        if raw_len > MAX_PAGE {
            return Err("page too large");
        }
        // One decompression context per thread instead of one per page.
        thread_local! {
            static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
                const { std::cell::RefCell::new(None) };
        }
        let raw = DECOMPRESSOR
            .with(|d| {
                let mut d = d.borrow_mut();
                if d.is_none() {
                    *d = zstd::bulk::Decompressor::new().ok();
                }
                match d.as_mut() {
                    Some(d) => d.decompress(frame, raw_len).ok(),
                    None => zstd::bulk::decompress(frame, raw_len).ok(),
                }
            })
            .ok_or("page does not decompress")?;
        if raw.len() != raw_len {
            return Err("page decompresses to the wrong length");
        }
        Ok(raw)
    }

    /// Decodes the run at `chunk_ref`, appending its samples to `out`.
    pub(crate) fn read_run(&self, chunk_ref: u64, out: &mut Vec<(i64, f64)>) -> Result<(), &'static str> {
        let (p, off) = unpack_ref(chunk_ref);
        let page = self.page(p)?;
        let run = page.get(off as usize..).ok_or("chunk offset beyond its page")?;
        let mut d = Decbuf::new(run);
        let len = d.uvarint_usize("chunk length")?;
        let bytes = d.bytes(len, "chunk runs past its page")?;
        columnar::decode(bytes, out).map_err(|_| "chunk data does not decode")
    }
}

/// Recomputes every CRC of a `chunks` file in place, as far as its footer and page table can
/// be read, so that tests and fuzzers can reach the decoders behind the checksums. Never
/// panics.
pub(crate) fn reseal(b: &mut [u8]) {
    let Some(footer) = b.len().checked_sub(FOOTER_LEN) else {
        return;
    };
    let mut f = Decbuf::new(&b[footer..]);
    let (Ok(table_off), Ok(n)) = (f.u64(""), f.u32("")) else {
        return;
    };
    let Ok(table) = usize::try_from(table_off) else {
        return;
    };
    let Some(table_end) = (n as usize).checked_mul(8).and_then(|l| table.checked_add(l)) else {
        return;
    };
    if table_end > footer {
        return;
    }
    for i in 0..n as usize {
        let at = table + i * 8;
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[at..at + 8]);
        let Ok(p) = usize::try_from(u64::from_le_bytes(a)) else {
            continue;
        };
        let Some(hdr) = b.get(p..p.saturating_add(PAGE_HEADER_LEN)) else {
            continue;
        };
        let clen = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
        let start = p + PAGE_HEADER_LEN;
        let Some(frame) = start.checked_add(clen).and_then(|e| b.get(start..e)) else {
            continue;
        };
        let crc = crc32c::crc32c(frame);
        b[p + 8..p + 12].copy_from_slice(&crc.to_le_bytes());
    }
    // The footer's CRC covers the page table, the table offset and the page count.
    let crc = crc32c::crc32c(&b[table..footer + 12]);
    b[footer + 12..footer + 16].copy_from_slice(&crc.to_le_bytes());
}
