//! Reading the `index` file from a memory map, lazily (see `docs/format/index.md`).
//!
//! Opening decodes the TOC, the symbol offsets and the label-name table; series entries and
//! value blocks are decoded, and their CRCs checked once, when first asked for.

use super::ChunkMeta;
use super::chunks::pack_ref;
use super::enc::{DecError, Decbuf, add_diff};
use super::index_write::{MAGIC, SERIES_GROUP, TOC_LEN, VALUE_GROUP, VERSION};
use super::mmap::Map;
use crate::model::{Label, Labels};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A value block split into its value count, skip table and entries.
type ValueBlock<'a> = (usize, &'a [u8], &'a [u8]);

/// One label name: its symbol, where its value block is, and the block's CRC.
struct NameEntry {
    sym: u32,
    block: Range<usize>,
    crc: u32,
    verified: AtomicBool,
}

/// A validated, memory-mapped index.
pub(crate) struct IndexReader {
    map: Map,
    symbols: Range<usize>,
    /// Offset of each symbol's length prefix, relative to `symbols.start`.
    sym_offs: Vec<u32>,
    num_series: u32,
    base_t: i64,
    series: Range<usize>,
    groups: Range<usize>,
    names: Vec<NameEntry>,
    /// One bit per series group: its CRC has been checked.
    verified_groups: Vec<AtomicU64>,
}

/// Reads a `(offset, len)` pair from the TOC as a range that must start at or after `min`.
fn section(d: &mut Decbuf<'_>, min: usize, what: DecError) -> Result<Range<usize>, DecError> {
    let off = usize::try_from(d.u64(what)?).map_err(|_| what)?;
    let len = usize::try_from(d.u64(what)?).map_err(|_| what)?;
    let end = off.checked_add(len).ok_or(what)?;
    if off < min {
        return Err(what);
    }
    Ok(off..end)
}

/// Little-endian `u32` at `at`, or 0 when out of bounds (callers have checked the bounds).
fn le32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at.saturating_add(4)) {
        Some(s) => u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

impl IndexReader {
    /// Validates the header, TOC, symbols, group table and names table of `map`.
    pub(crate) fn open(map: Map) -> Result<IndexReader, DecError> {
        let b: &[u8] = &map;
        let mut h = Decbuf::new(b);
        if h.bytes(4, "index header")? != MAGIC {
            return Err("bad index magic number");
        }
        if h.u8("index version")? != VERSION {
            return Err("unsupported index version");
        }
        let toc_start = b.len().checked_sub(TOC_LEN).ok_or("index too short for its TOC")?;
        if toc_start < 8 {
            return Err("index too short for its TOC");
        }
        let toc = &b[toc_start..];
        if crc32c::crc32c(&toc[..TOC_LEN - 8]) != le32(toc, TOC_LEN - 8) {
            return Err("index TOC checksum mismatch");
        }
        if &toc[TOC_LEN - 4..] != MAGIC {
            return Err("bad index TOC magic number");
        }
        let mut d = Decbuf::new(toc);
        let num_series = d.u32("toc")?;
        let base_t = d.u64("toc")? as i64;
        let symbols = section(&mut d, 8, "symbols section out of bounds")?;
        let sym_crc = d.u32("toc")?;
        let series = section(&mut d, symbols.end, "series section out of bounds")?;
        let groups = section(&mut d, series.end, "group table out of bounds")?;
        let groups_crc = d.u32("toc")?;
        let values = section(&mut d, groups.end, "label values section out of bounds")?;
        let names = section(&mut d, values.end, "label names section out of bounds")?;
        let names_crc = d.u32("toc")?;
        if names.end > toc_start {
            return Err("sections overlap the TOC");
        }
        let check = |r: &Range<usize>, crc: u32, what: DecError| {
            if crc32c::crc32c(&b[r.clone()]) == crc { Ok(()) } else { Err(what) }
        };
        check(&symbols, sym_crc, "symbols checksum mismatch")?;
        check(&groups, groups_crc, "group table checksum mismatch")?;
        check(&names, names_crc, "label names checksum mismatch")?;
        let n_groups = (num_series as usize).div_ceil(SERIES_GROUP);
        if groups.len() != n_groups.checked_mul(12).ok_or("group count")? {
            return Err("group table size does not match the series count");
        }

        // Symbols: sorted, unique, UTF-8.
        let sb = &b[symbols.clone()];
        let mut d = Decbuf::new(sb);
        let n = d.uvarint_usize("symbol count")?;
        if n > d.remaining() {
            return Err("symbol count exceeds the section");
        }
        let mut sym_offs = Vec::with_capacity(n);
        let mut prev: Option<&[u8]> = None;
        for _ in 0..n {
            sym_offs.push(u32::try_from(d.pos()).map_err(|_| "symbols section exceeds 4 GiB")?);
            let len = d.uvarint_usize("symbol length")?;
            let s = d.bytes(len, "symbol runs past its section")?;
            std::str::from_utf8(s).map_err(|_| "symbol is not UTF-8")?;
            if prev.is_some_and(|p| p >= s) {
                return Err("symbols not sorted");
            }
            prev = Some(s);
        }
        if !d.is_empty() {
            return Err("trailing bytes in the symbols section");
        }

        // Label names, each with its value block.
        let nb = &b[names.clone()];
        let mut d = Decbuf::new(nb);
        let k = d.uvarint_usize("name count")?;
        if k > d.remaining() / 7 {
            return Err("name count exceeds the section");
        }
        let mut entries = Vec::with_capacity(k);
        let mut end = values.start;
        for _ in 0..k {
            let sym = d.uvarint32("name symbol")?;
            if sym as usize >= n || entries.last().is_some_and(|e: &NameEntry| e.sym >= sym) {
                return Err("label names not sorted or unknown");
            }
            let gap = d.uvarint_usize("value block offset")?;
            let len = d.uvarint_usize("value block length")?;
            let crc = d.u32("value block crc")?;
            let start = end.checked_add(gap).ok_or("value block offset")?;
            end = start.checked_add(len).ok_or("value block length")?;
            if end > values.end {
                return Err("value block out of bounds");
            }
            entries.push(NameEntry { sym, block: start..end, crc, verified: AtomicBool::new(false) });
        }
        if !d.is_empty() {
            return Err("trailing bytes in the label names section");
        }
        let verified_groups = (0..n_groups.div_ceil(64)).map(|_| AtomicU64::new(0)).collect();
        Ok(IndexReader { map, symbols, sym_offs, num_series, base_t, series, groups, names: entries, verified_groups })
    }

    /// Number of series.
    pub(crate) fn num_series(&self) -> u32 {
        self.num_series
    }

    /// The string of symbol `id`.
    fn symbol(&self, id: u32) -> Result<&str, DecError> {
        let off = *self.sym_offs.get(id as usize).ok_or("unknown symbol")? as usize;
        let sb = self.map.get(self.symbols.clone()).ok_or("symbols")?;
        let mut d = Decbuf::new(sb.get(off..).ok_or("symbol offset")?);
        let len = d.uvarint_usize("symbol length")?;
        std::str::from_utf8(d.bytes(len, "symbol")?).map_err(|_| "symbol is not UTF-8")
    }

    /// The ordinal of `s` in the symbol table, if present.
    fn lookup(&self, s: &str) -> Result<Option<u32>, DecError> {
        let (mut lo, mut hi) = (0usize, self.sym_offs.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.symbol(mid as u32)?.as_bytes().cmp(s.as_bytes()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Some(mid as u32)),
            }
        }
        Ok(None)
    }

    /// All label names, sorted.
    pub(crate) fn label_names(&self) -> Result<Vec<String>, DecError> {
        self.names.iter().map(|e| self.symbol(e.sym).map(str::to_owned)).collect()
    }

    /// The value block of `name`, CRC-checked, split into (count, skip table, entries).
    fn value_block(&self, name: &str) -> Result<Option<ValueBlock<'_>>, DecError> {
        let Some(sym) = self.lookup(name)? else {
            return Ok(None);
        };
        let Ok(i) = self.names.binary_search_by_key(&sym, |e| e.sym) else {
            return Ok(None);
        };
        let e = &self.names[i];
        let b = self.map.get(e.block.clone()).ok_or("value block out of bounds")?;
        if !e.verified.load(Ordering::Relaxed) {
            if crc32c::crc32c(b) != e.crc {
                return Err("value block checksum mismatch");
            }
            e.verified.store(true, Ordering::Relaxed);
        }
        let mut d = Decbuf::new(b);
        let n = d.uvarint_usize("value count")?;
        if n > d.remaining() {
            return Err("value count exceeds its block");
        }
        let skip = d.bytes(n.div_ceil(VALUE_GROUP) * 8, "skip table")?;
        let entries = d.bytes(d.remaining(), "entries")?;
        Ok(Some((n, skip, entries)))
    }

    /// All values of `name`, sorted; empty for an unknown name.
    pub(crate) fn label_values(&self, name: &str) -> Result<Vec<String>, DecError> {
        let Some((n, skip, entries)) = self.value_block(name)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(n);
        let mut d = Decbuf::new(entries);
        let mut prev: Option<u32> = None;
        for i in 0..n {
            let sym = if i % VALUE_GROUP == 0 {
                let g = i / VALUE_GROUP;
                if le32(skip, g * 8 + 4) as usize != d.pos() {
                    return Err("skip table offset does not match its entries");
                }
                le32(skip, g * 8)
            } else {
                let delta = d.uvarint32("value delta")?;
                let p = prev.ok_or("value delta")?;
                p.checked_add(delta).ok_or("value symbol overflows")?
            };
            if prev.is_some_and(|p| p >= sym) {
                return Err("label values not sorted");
            }
            prev = Some(sym);
            let len = d.uvarint_usize("postings length")?;
            d.skip(len, "postings run past their block")?;
            let s = self.symbol(sym)?;
            if s.is_empty() {
                return Err("empty label value");
            }
            out.push(s.to_owned());
        }
        if !d.is_empty() {
            return Err("trailing bytes in a value block");
        }
        Ok(out)
    }

    /// Ids of the series with `name="value"`, sorted; empty when there are none.
    pub(crate) fn postings(&self, name: &str, value: &str) -> Result<Vec<u32>, DecError> {
        let Some((n, skip, entries)) = self.value_block(name)? else {
            return Ok(Vec::new());
        };
        let Some(want) = self.lookup(value)? else {
            return Ok(Vec::new());
        };
        let n_groups = n.div_ceil(VALUE_GROUP);
        // The last group whose first value is at most `want`.
        let (mut lo, mut hi) = (0usize, n_groups);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if le32(skip, mid * 8) <= want { lo = mid + 1 } else { hi = mid }
        }
        let Some(g) = lo.checked_sub(1) else {
            return Ok(Vec::new());
        };
        let start = le32(skip, g * 8 + 4) as usize;
        let mut d = Decbuf::new(entries.get(start..).ok_or("skip table offset out of bounds")?);
        let mut sym = le32(skip, g * 8);
        let in_group = (n - g * VALUE_GROUP).min(VALUE_GROUP);
        for i in 0..in_group {
            if i > 0 {
                let delta = d.uvarint32("value delta")?;
                if delta == 0 {
                    return Err("label values not sorted");
                }
                sym = sym.checked_add(delta).ok_or("value symbol overflows")?;
            }
            let len = d.uvarint_usize("postings length")?;
            let pb = d.bytes(len, "postings run past their block")?;
            if sym == want {
                return self.decode_postings(pb);
            }
            if sym > want {
                break;
            }
        }
        Ok(Vec::new())
    }

    fn decode_postings(&self, b: &[u8]) -> Result<Vec<u32>, DecError> {
        let mut d = Decbuf::new(b);
        let mut out = Vec::with_capacity(b.len().min(self.num_series as usize));
        let mut prev: Option<u32> = None;
        while !d.is_empty() {
            let v = d.uvarint32("posting")?;
            let id = match prev {
                None => v,
                Some(_) if v == 0 => return Err("postings not increasing"),
                Some(p) => p.checked_add(v).ok_or("posting overflows")?,
            };
            if id >= self.num_series {
                return Err("posting beyond the series count");
            }
            out.push(id);
            prev = Some(id);
        }
        Ok(out)
    }

    /// The bytes of series group `g`, CRC-checked once.
    fn group(&self, g: usize) -> Result<&[u8], DecError> {
        let gt = self.map.get(self.groups.clone()).ok_or("group table")?;
        let (off, len, crc) = (le32(gt, g * 12), le32(gt, g * 12 + 4), le32(gt, g * 12 + 8));
        let sb = self.map.get(self.series.clone()).ok_or("series section")?;
        let end = (off as usize).checked_add(len as usize).ok_or("series group")?;
        let b = sb.get(off as usize..end).ok_or("series group out of bounds")?;
        let (word, bit) = (g / 64, 1u64 << (g % 64));
        let cell = self.verified_groups.get(word).ok_or("series group")?;
        if cell.load(Ordering::Relaxed) & bit == 0 {
            if crc32c::crc32c(b) != crc {
                return Err("series group checksum mismatch");
            }
            cell.fetch_or(bit, Ordering::Relaxed);
        }
        Ok(b)
    }

    /// The labels and chunk metas of series `id`; `id` must be below [`Self::num_series`].
    pub(crate) fn series(&self, id: u32) -> Result<(Labels, Vec<ChunkMeta>), DecError> {
        if id >= self.num_series {
            return Err("series id out of range");
        }
        let g = id as usize / SERIES_GROUP;
        let mut d = Decbuf::new(self.group(g)?);
        for _ in 0..id as usize % SERIES_GROUP {
            let len = d.uvarint_usize("series length")?;
            d.skip(len, "series entry runs past its group")?;
        }
        let len = d.uvarint_usize("series length")?;
        let mut d = Decbuf::new(d.bytes(len, "series entry runs past its group")?);
        let nl = d.uvarint_usize("label count")?;
        if nl > d.remaining() / 2 {
            return Err("label count exceeds the entry");
        }
        let mut labels = Vec::with_capacity(nl);
        let mut prev: Option<u32> = None;
        for _ in 0..nl {
            let n = d.uvarint32("label name")?;
            let v = d.uvarint32("label value")?;
            if prev.is_some_and(|p| p >= n) {
                return Err("series labels not sorted");
            }
            prev = Some(n);
            let (name, value) = (self.symbol(n)?, self.symbol(v)?);
            if name.is_empty() || value.is_empty() {
                return Err("empty label name or value");
            }
            labels.push(Label::new(name, value));
        }
        let nc = d.uvarint_usize("chunk count")?;
        if nc > d.remaining() / 4 {
            return Err("chunk count exceeds the entry");
        }
        let mut chunks = Vec::with_capacity(nc);
        let mut prev: Option<(i64, u32, u32)> = None;
        for _ in 0..nc {
            let min_t = match prev {
                None => self.base_t.checked_add(d.varint("chunk min time")?),
                Some((pmax, _, _)) => match d.uvarint("chunk gap")? {
                    0 => return Err("chunks overlap"),
                    gap => pmax.checked_add_unsigned(gap),
                },
            };
            let min_t = min_t.ok_or("chunk min time overflows")?;
            let max_t = add_diff(min_t, d.uvarint("chunk duration")?, "chunk max time overflows")?;
            let page_field = d.uvarint32("chunk page")?;
            let off_field = d.uvarint32("chunk offset")?;
            let (page, off) = match prev {
                None => (Some(page_field), Some(off_field)),
                Some((_, ppage, poff)) if page_field == 0 => (Some(ppage), poff.checked_add(off_field)),
                Some((_, ppage, _)) => (ppage.checked_add(page_field), Some(off_field)),
            };
            let page = page.ok_or("chunk page overflows")?;
            let off = off.ok_or("chunk offset overflows")?;
            chunks.push(ChunkMeta { min_t, max_t, chunk_ref: pack_ref(page, off) });
            prev = Some((max_t, page, off));
        }
        if !d.is_empty() {
            return Err("trailing bytes in a series entry");
        }
        Ok((Labels::from_sorted_unchecked(labels), chunks))
    }
}

/// Recomputes every CRC of an index file in place, as far as its TOC and tables can be read,
/// so that tests and fuzzers can reach the decoders behind the checksums. Never panics.
pub(crate) fn reseal(b: &mut [u8]) {
    let Some(toc_start) = b.len().checked_sub(TOC_LEN) else {
        return;
    };
    let field = |b: &[u8], at: usize| -> Option<usize> {
        let s = b.get(toc_start + at..toc_start + at + 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        usize::try_from(u64::from_le_bytes(a)).ok()
    };
    let range = |b: &[u8], at: usize| -> Option<Range<usize>> {
        let (off, len) = (field(b, at)?, field(b, at + 8)?);
        let end = off.checked_add(len)?;
        (end <= toc_start).then_some(off..end)
    };
    let (symbols, series, groups) = (range(b, 12), range(b, 32), range(b, 48));
    let (values, names) = (range(b, 68), range(b, 84));
    if let (Some(series), Some(groups)) = (series, groups.clone()) {
        let mut at = groups.start;
        while at + 12 <= groups.end {
            let (off, len) = (le32(b, at) as usize, le32(b, at + 4) as usize);
            let r = series.start.checked_add(off).and_then(|s| Some(s..s.checked_add(len)?));
            if let Some(r) = r.filter(|r| r.end <= series.end) {
                let crc = crc32c::crc32c(&b[r]);
                b[at + 8..at + 12].copy_from_slice(&crc.to_le_bytes());
            }
            at += 12;
        }
    }
    if let (Some(values), Some(names)) = (values, names.clone()) {
        let mut fixes = Vec::new();
        let mut d = Decbuf::new(&b[names.clone()]);
        let mut end = values.start;
        let k = d.uvarint("").unwrap_or(0);
        for _ in 0..k {
            let (Ok(_), Ok(gap), Ok(len)) = (d.uvarint(""), d.uvarint_usize(""), d.uvarint_usize("")) else {
                break;
            };
            let crc_at = names.start + d.pos();
            if d.skip(4, "").is_err() {
                break;
            }
            let Some(start) = end.checked_add(gap) else {
                break;
            };
            let Some(e) = start.checked_add(len) else {
                break;
            };
            end = e;
            if e <= values.end {
                fixes.push((crc_at, crc32c::crc32c(&b[start..e])));
            }
        }
        for (at, crc) in fixes {
            b[at..at + 4].copy_from_slice(&crc.to_le_bytes());
        }
    }
    for (r, crc_at) in [(symbols, 28), (groups, 64), (names, 100)] {
        if let Some(r) = r {
            let crc = crc32c::crc32c(&b[r]);
            b[toc_start + crc_at..toc_start + crc_at + 4].copy_from_slice(&crc.to_le_bytes());
        }
    }
    let crc = crc32c::crc32c(&b[toc_start..toc_start + TOC_LEN - 8]);
    b[toc_start + TOC_LEN - 8..toc_start + TOC_LEN - 4].copy_from_slice(&crc.to_le_bytes());
}
