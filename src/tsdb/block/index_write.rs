//! Writing the `index` file (see `docs/format/index.md`).

use super::ChunkMeta;
use super::chunks::unpack_ref;
use super::enc::{diff, put_u32, put_u64, put_uvarint, put_varint};
use std::collections::BTreeMap;
use std::io::{self, Write};

/// The magic number opening and closing an `index` file.
pub(crate) const MAGIC: &[u8; 4] = b"CRNI";
/// The `index` file format version.
pub(crate) const VERSION: u8 = 1;
/// Series per group (one group-table entry and CRC each).
pub(crate) const SERIES_GROUP: usize = 16;
/// Values per skip-table entry in a value block.
pub(crate) const VALUE_GROUP: usize = 16;
/// Size of the TOC at the end of the file.
pub(crate) const TOC_LEN: usize = 112;

/// One series as the index writer needs it: label symbol refs (by name) and chunk metas.
pub(crate) struct SeriesRec {
    /// `(name symbol, value symbol)` pairs, by increasing name symbol.
    pub(crate) labels: Vec<(u32, u32)>,
    /// Chunk metas, strictly increasing in time.
    pub(crate) chunks: Vec<ChunkMeta>,
}

/// A writer that counts the bytes written through it.
struct Counting<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Counting<W> {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.inner.write_all(b)?;
        self.n += b.len() as u64;
        Ok(())
    }
}

fn too_large(what: &str) -> io::Error {
    io::Error::other(format!("index {what} exceeds 4 GiB"))
}

/// Appends the encoding of one series entry (without its length prefix).
pub(crate) fn encode_series(buf: &mut Vec<u8>, s: &SeriesRec, base_t: i64) {
    put_uvarint(buf, s.labels.len() as u64);
    for &(n, v) in &s.labels {
        put_uvarint(buf, u64::from(n));
        put_uvarint(buf, u64::from(v));
    }
    put_uvarint(buf, s.chunks.len() as u64);
    let mut prev: Option<(i64, u32, u32)> = None;
    for c in &s.chunks {
        let (page, off) = unpack_ref(c.chunk_ref);
        match prev {
            None => {
                put_varint(buf, c.min_t.wrapping_sub(base_t));
                put_uvarint(buf, diff(c.min_t, c.max_t));
                put_uvarint(buf, u64::from(page));
                put_uvarint(buf, u64::from(off));
            }
            Some((pmax, ppage, poff)) => {
                put_uvarint(buf, diff(pmax, c.min_t));
                put_uvarint(buf, diff(c.min_t, c.max_t));
                put_uvarint(buf, u64::from(page - ppage));
                let o = if page == ppage { off - poff } else { off };
                put_uvarint(buf, u64::from(o));
            }
        }
        prev = Some((c.max_t, page, off));
    }
}

/// Writes a whole index. `symbols` must be sorted and unique and every symbol ref in `series`
/// must point into it; series must be in label order with chunks increasing in time and
/// chunk refs increasing (the block writer guarantees all of this).
pub(crate) fn write_index<W: Write>(out: W, symbols: &[String], series: &[SeriesRec], base_t: i64) -> io::Result<W> {
    let mut w = Counting { inner: out, n: 0 };
    let mut header = MAGIC.to_vec();
    header.extend_from_slice(&[VERSION, 0, 0, 0]);
    w.put(&header)?;
    let num_series = u32::try_from(series.len()).map_err(|_| io::Error::other("too many series"))?;

    // Symbols.
    let sym_off = w.n;
    let mut buf = Vec::new();
    put_uvarint(&mut buf, symbols.len() as u64);
    for s in symbols {
        put_uvarint(&mut buf, s.len() as u64);
        buf.extend_from_slice(s.as_bytes());
    }
    let sym_crc = crc32c::crc32c(&buf);
    w.put(&buf)?;
    let sym_len = w.n - sym_off;

    // Series, in groups, remembering each group's place and CRC.
    let series_off = w.n;
    let mut groups = Vec::with_capacity(series.len().div_ceil(SERIES_GROUP) * 12);
    let mut entry = Vec::new();
    for group in series.chunks(SERIES_GROUP) {
        buf.clear();
        for s in group {
            entry.clear();
            encode_series(&mut entry, s, base_t);
            put_uvarint(&mut buf, entry.len() as u64);
            buf.extend_from_slice(&entry);
        }
        let rel = u32::try_from(w.n - series_off).map_err(|_| too_large("series section"))?;
        put_u32(&mut groups, rel);
        put_u32(&mut groups, u32::try_from(buf.len()).map_err(|_| too_large("series group"))?);
        put_u32(&mut groups, crc32c::crc32c(&buf));
        w.put(&buf)?;
    }
    let series_len = w.n - series_off;
    let groups_off = w.n;
    let groups_crc = crc32c::crc32c(&groups);
    w.put(&groups)?;

    // Postings by name, then value; ids come out sorted because series are visited in order.
    let mut postings: BTreeMap<u32, BTreeMap<u32, Vec<u32>>> = BTreeMap::new();
    for (id, s) in series.iter().enumerate() {
        for &(n, v) in &s.labels {
            postings.entry(n).or_default().entry(v).or_default().push(id as u32);
        }
    }
    let values_off = w.n;
    let mut names = Vec::new();
    put_uvarint(&mut names, postings.len() as u64);
    let mut prev_end = 0u64;
    let mut entries = Vec::new();
    let mut plist = Vec::new();
    for (name, values) in &postings {
        buf.clear();
        entries.clear();
        let mut skip = Vec::with_capacity(values.len().div_ceil(VALUE_GROUP) * 8);
        let mut prev_v = 0u32;
        for (i, (v, ids)) in values.iter().enumerate() {
            if i % VALUE_GROUP == 0 {
                put_u32(&mut skip, *v);
                put_u32(&mut skip, u32::try_from(entries.len()).map_err(|_| too_large("value block"))?);
            } else {
                put_uvarint(&mut entries, u64::from(v - prev_v));
            }
            prev_v = *v;
            plist.clear();
            let mut prev_id = 0u32;
            for (j, &id) in ids.iter().enumerate() {
                put_uvarint(&mut plist, u64::from(if j == 0 { id } else { id - prev_id }));
                prev_id = id;
            }
            put_uvarint(&mut entries, plist.len() as u64);
            entries.extend_from_slice(&plist);
        }
        put_uvarint(&mut buf, values.len() as u64);
        buf.extend_from_slice(&skip);
        buf.extend_from_slice(&entries);
        let rel = w.n - values_off;
        put_uvarint(&mut names, u64::from(*name));
        put_uvarint(&mut names, rel - prev_end);
        put_uvarint(&mut names, buf.len() as u64);
        put_u32(&mut names, crc32c::crc32c(&buf));
        prev_end = rel + buf.len() as u64;
        w.put(&buf)?;
    }
    let values_len = w.n - values_off;
    let names_off = w.n;
    let names_crc = crc32c::crc32c(&names);
    w.put(&names)?;
    let names_len = w.n - names_off;

    let mut toc = Vec::with_capacity(TOC_LEN);
    put_u32(&mut toc, num_series);
    put_u64(&mut toc, base_t as u64);
    for (off, len, crc) in [
        (sym_off, sym_len, Some(sym_crc)),
        (series_off, series_len, None),
        (groups_off, groups.len() as u64, Some(groups_crc)),
        (values_off, values_len, None),
        (names_off, names_len, Some(names_crc)),
    ] {
        put_u64(&mut toc, off);
        put_u64(&mut toc, len);
        if let Some(c) = crc {
            put_u32(&mut toc, c);
        }
    }
    let toc_crc = crc32c::crc32c(&toc);
    put_u32(&mut toc, toc_crc);
    toc.extend_from_slice(MAGIC);
    debug_assert_eq!(toc.len(), TOC_LEN);
    w.put(&toc)?;
    w.inner.flush()?;
    Ok(w.inner)
}
