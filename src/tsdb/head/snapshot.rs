//! Head snapshots: on a clean shutdown the head's series and chunks go to one file, so the
//! next start loads them instead of replaying the WAL they came from (Prometheus's
//! `--enable-feature=memory-snapshot-on-shutdown`).
//!
//! The file `<data>/head_snapshot` is written as `head_snapshot.tmp`, fsynced and renamed, so
//! it is either complete or absent. It covers every WAL segment before the one it names;
//! replay then reads only that segment and later ones.
//!
//! Layout: the magic `CAIRNHS2`, then frames `[kind: u8][len: u32 LE][crc32c(kind ‖ len ‖
//! payload): u32 LE][payload]`:
//! - kind 1, meta (first frame): the first WAL segment not covered (u32 LE) and the head's
//!   next series reference (u64 LE);
//! - kind 2, one per series: reference, labels, sealed chunks (range and bytes), the open
//!   chunk's bytes followed, when it has any, by its appender state (so loading does not
//!   decode it), and the out-of-order samples, as uvarints and length-prefixed bytes;
//! - kind 3, tombstones: (reference, mint, maxt) triples;
//! - kind 4, end (last frame): the number of series frames (u64 LE).

use super::chunk_mapper::{ChunkLoc, split_parts};
use super::{Head, MemSeries, SealedChunk};
use crate::model::{Label, Labels};
use crate::tsdb::chunk::XorChunk;
use crate::tsdb::varint::{self, ByteReader};
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

/// The snapshot's file name in the data directory.
pub(crate) const FILE_NAME: &str = "head_snapshot";
const TMP_NAME: &str = "head_snapshot.tmp";
// Version 1 (`CAIRNHS1`) had no appender state; such a file is refused like a damaged one,
// and the WAL it covers is replayed instead.
const MAGIC: &[u8; 8] = b"CAIRNHS2";

const KIND_META: u8 = 1;
const KIND_SERIES: u8 = 2;
const KIND_TOMBSTONES: u8 = 3;
const KIND_END: u8 = 4;

/// Frame header: kind, length, checksum.
const FRAME_HEADER: usize = 9;

/// The largest frame a reader accepts, so a damaged length cannot make it allocate wildly.
const MAX_FRAME: usize = 1 << 30;

/// Why a snapshot could not be written or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum SnapshotError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file does not decode (damaged, truncated, or not a snapshot).
    #[error("head snapshot corrupt at byte {offset}: {msg}")]
    Corrupt {
        /// Offset of the frame that does not decode.
        offset: u64,
        /// What is wrong.
        msg: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io { path: path.to_path_buf(), source }
}

/// Removes the snapshot (and a leftover temporary file) from `dir`. Call it before anything
/// makes the snapshot stale: persisting or truncating head data, or checkpointing the WAL.
pub(crate) fn remove(dir: &Path) -> Result<(), SnapshotError> {
    for name in [FILE_NAME, TMP_NAME] {
        let path = dir.join(name);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&path)(e)),
            _ => {}
        }
    }
    Ok(())
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    varint::put_uvarint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn write_frame(w: &mut impl Write, kind: u8, payload: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&l| (l as usize) <= MAX_FRAME)
        .ok_or_else(|| std::io::Error::other("head snapshot frame too large"))?;
    let mut header = [0u8; FRAME_HEADER];
    header[0] = kind;
    header[1..5].copy_from_slice(&len.to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&header[..5]), payload);
    header[5..9].copy_from_slice(&crc.to_le_bytes());
    w.write_all(&header)?;
    w.write_all(payload)
}

/// Encodes one series frame's payload into `buf` (cleared first).
fn encode_series(head: &Head, s: &MemSeries, buf: &mut Vec<u8>) {
    buf.clear();
    varint::put_uvarint(buf, s.series_ref);
    let labels = s.labels(&head.symbols.read());
    varint::put_uvarint(buf, labels.len() as u64);
    for l in labels.iter() {
        put_bytes(buf, l.name.as_bytes());
        put_bytes(buf, l.value.as_bytes());
    }
    let d = s.data.lock();
    varint::put_uvarint(buf, d.sealed.len() as u64);
    for c in &d.sealed {
        varint::put_varint(buf, c.min_t);
        varint::put_varint(buf, c.max_t);
        put_bytes(buf, head.chunk_bytes(c).as_slice());
    }
    put_bytes(buf, d.open.as_ref().map_or(&[][..], |c| c.bytes()));
    if let Some(c) = &d.open {
        c.put_state(buf);
    }
    varint::put_uvarint(buf, d.ooo.len() as u64);
    for &(t, v) in &d.ooo {
        varint::put_varint(buf, t);
        buf.extend_from_slice(&v.to_bits().to_le_bytes());
    }
}

/// Writes the head to `<dir>/head_snapshot`, replacing any previous snapshot, as covering
/// the WAL segments before `first_segment`. Returns the number of series written.
///
/// The caller must keep the head from changing meanwhile (hold the WAL lock, so no commit
/// lands between the WAL position and the head's contents).
pub(crate) fn write(head: &Head, dir: &Path, first_segment: u32) -> Result<u64, SnapshotError> {
    let tmp = dir.join(TMP_NAME);
    let file = File::create(&tmp).map_err(io(&tmp))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut buf = Vec::with_capacity(4096);
    let mut n = 0u64;
    let result = (|| -> std::io::Result<()> {
        w.write_all(MAGIC)?;
        buf.extend_from_slice(&first_segment.to_le_bytes());
        buf.extend_from_slice(&head.next_ref.load(Relaxed).to_le_bytes());
        write_frame(&mut w, KIND_META, &buf)?;
        // In reference order: the loader then appends to each postings list instead of
        // inserting in the middle (a third of the load time at 1M series before).
        let mut series: Vec<Arc<MemSeries>> = Vec::with_capacity(head.num_series());
        for st in head.stripes.iter() {
            series.extend(st.by_ref.read().values().cloned());
        }
        series.sort_unstable_by_key(|s| s.series_ref);
        for s in series {
            encode_series(head, &s, &mut buf);
            write_frame(&mut w, KIND_SERIES, &buf)?;
            n += 1;
        }
        buf.clear();
        for (r, iv) in head.tombstones.read().iter() {
            for &(a, b) in iv.as_slice() {
                varint::put_uvarint(&mut buf, r);
                varint::put_varint(&mut buf, a);
                varint::put_varint(&mut buf, b);
            }
        }
        write_frame(&mut w, KIND_TOMBSTONES, &buf)?;
        write_frame(&mut w, KIND_END, &n.to_le_bytes())?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io(&tmp)(e));
    }
    let path = dir.join(FILE_NAME);
    fs::rename(&tmp, &path).map_err(io(&path))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
    Ok(n)
}

/// What a loaded snapshot held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loaded {
    /// The first WAL segment to replay.
    pub(crate) first_segment: u32,
    /// Series restored.
    pub(crate) series: u64,
}

/// Reads frames, tracking the offset for error messages.
struct FrameReader<R> {
    r: R,
    offset: u64,
    buf: Vec<u8>,
}

impl<R: Read> FrameReader<R> {
    fn corrupt(&self, msg: impl Into<String>) -> SnapshotError {
        SnapshotError::Corrupt { offset: self.offset, msg: msg.into() }
    }

    /// The next frame's kind; its payload is in `self.buf`.
    fn next(&mut self, path: &Path) -> Result<u8, SnapshotError> {
        let mut header = [0u8; FRAME_HEADER];
        self.r.read_exact(&mut header).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => self.corrupt("file ends before the end frame"),
            _ => io(path)(e),
        })?;
        let [kind, l0, l1, l2, l3, c0, c1, c2, c3] = header;
        let len = u32::from_le_bytes([l0, l1, l2, l3]) as usize;
        if len > MAX_FRAME {
            return Err(self.corrupt(format!("frame length {len} too large")));
        }
        self.buf.clear();
        self.buf.resize(len, 0);
        self.r.read_exact(&mut self.buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => self.corrupt("truncated frame"),
            _ => io(path)(e),
        })?;
        let crc = crc32c::crc32c_append(crc32c::crc32c(&header[..5]), &self.buf);
        if crc != u32::from_le_bytes([c0, c1, c2, c3]) {
            return Err(self.corrupt("checksum mismatch"));
        }
        self.offset += (FRAME_HEADER + len) as u64;
        Ok(kind)
    }
}

/// Loads `<dir>/head_snapshot` into `head`, which must be empty. Returns `None` if there is
/// no snapshot.
///
/// On an error the head may hold part of the snapshot: the caller discards it (and the
/// file) and replays the whole WAL instead. Never panics on any file content.
pub(crate) fn load(head: &Head, dir: &Path) -> Result<Option<Loaded>, SnapshotError> {
    let tmp = dir.join(TMP_NAME);
    if tmp.exists() {
        fs::remove_file(&tmp).map_err(io(&tmp))?;
    }
    let path = dir.join(FILE_NAME);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path)(e)),
    };
    let mut fr = FrameReader { r: BufReader::with_capacity(1 << 20, file), offset: 0, buf: Vec::new() };
    let mut magic = [0u8; 8];
    fr.r.read_exact(&mut magic).map_err(|_| fr.corrupt("no magic"))?;
    if &magic != MAGIC {
        return Err(fr.corrupt("bad magic"));
    }
    fr.offset = MAGIC.len() as u64;
    if fr.next(&path)? != KIND_META {
        return Err(fr.corrupt("first frame is not the meta frame"));
    }
    let (first_segment, next_ref) = match fr.buf.as_slice() {
        [s0, s1, s2, s3, r @ ..] => (
            u32::from_le_bytes([*s0, *s1, *s2, *s3]),
            r.try_into().map(u64::from_le_bytes).map_err(|_| fr.corrupt("short meta frame"))?,
        ),
        _ => return Err(fr.corrupt("short meta frame")),
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, MAX_LOAD_WORKERS);
    let (series, mint, maxt) = std::thread::scope(|scope| -> Result<(u64, i64, i64), SnapshotError> {
        let (tx, rx) = crossbeam_channel::bounded::<SeriesBatch>(workers * 2);
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let rx = rx.clone();
                scope.spawn(move || {
                    let mut done = Restored::default();
                    let mut scratch = Scratch::default();
                    for batch in rx {
                        for (offset, payload) in batch.frames() {
                            match restore_series(head, payload, &mut scratch) {
                                Ok((lo, hi)) => {
                                    done.mint = done.mint.min(lo);
                                    done.maxt = done.maxt.max(hi);
                                    done.series += 1;
                                }
                                Err(msg) => {
                                    // Keep the first error in file order; stop this batch.
                                    if done.error.as_ref().is_none_or(|(o, _)| offset < *o) {
                                        done.error = Some((offset, msg));
                                    }
                                    break;
                                }
                            }
                        }
                    }
                    done
                })
            })
            .collect();
        drop(rx);
        let read = read_series_frames(&mut fr, &path, head, &tx);
        drop(tx);
        let mut total = Restored::default();
        for h in handles {
            let done =
                h.join().map_err(|_| SnapshotError::Corrupt { offset: 0, msg: "a loader thread panicked".into() })?;
            total.series += done.series;
            total.mint = total.mint.min(done.mint);
            total.maxt = total.maxt.max(done.maxt);
            if let Some((o, m)) = done.error
                && total.error.as_ref().is_none_or(|(to, _)| o < *to)
            {
                total.error = Some((o, m));
            }
        }
        let framed = read?;
        if let Some((offset, msg)) = total.error {
            return Err(SnapshotError::Corrupt { offset, msg });
        }
        if framed != total.series {
            return Err(SnapshotError::Corrupt {
                offset: fr.offset,
                msg: "series count does not match the end frame".into(),
            });
        }
        Ok((total.series, total.mint, total.maxt))
    })?;
    head.next_ref.fetch_max(next_ref, Relaxed);
    if mint <= maxt {
        head.update_time_bounds(mint, maxt);
    }
    Ok(Some(Loaded { first_segment, series }))
}

/// The most threads that restore series while the file is read.
const MAX_LOAD_WORKERS: usize = 4;

/// Series frames handed to a loader thread together, about this many bytes.
const BATCH_BYTES: usize = 1 << 20;

/// Several series frames' payloads, end to end, with each one's file offset.
#[derive(Default)]
struct SeriesBatch {
    bytes: Vec<u8>,
    /// (file offset of the frame, end of its payload in `bytes`).
    frames: Vec<(u64, usize)>,
}

impl SeriesBatch {
    fn frames(&self) -> impl Iterator<Item = (u64, &[u8])> {
        let mut start = 0;
        self.frames.iter().map(move |&(offset, end)| {
            let payload = self.bytes.get(start..end).unwrap_or(&[]);
            start = end;
            (offset, payload)
        })
    }
}

/// What one loader thread restored.
struct Restored {
    series: u64,
    /// Time range of the restored samples (empty: MAX, MIN).
    mint: i64,
    maxt: i64,
    /// The first frame (by file offset) that did not restore, and why.
    error: Option<(u64, String)>,
}

impl Default for Restored {
    fn default() -> Self {
        Restored { series: 0, mint: i64::MAX, maxt: i64::MIN, error: None }
    }
}

/// Reads the frames after the meta frame, sends series frames to the loaders in batches and
/// applies tombstones; returns the series count the end frame declares, once it has checked
/// that the number of series frames read matches it.
fn read_series_frames<R: Read>(
    fr: &mut FrameReader<R>,
    path: &Path,
    head: &Head,
    tx: &crossbeam_channel::Sender<SeriesBatch>,
) -> Result<u64, SnapshotError> {
    let mut batch = SeriesBatch::default();
    let mut framed = 0u64;
    loop {
        let offset = fr.offset;
        match fr.next(path)? {
            KIND_SERIES => {
                batch.bytes.extend_from_slice(&fr.buf);
                batch.frames.push((offset, batch.bytes.len()));
                framed += 1;
                if batch.bytes.len() >= BATCH_BYTES {
                    // The loaders only stop early if they panicked; the join reports that.
                    let _ = tx.send(std::mem::take(&mut batch));
                }
            }
            KIND_TOMBSTONES => {
                let mut r = ByteReader::new(&fr.buf);
                let mut ts = head.tombstones.write();
                while !r.remaining().is_empty() {
                    let (Ok(s), Ok(a), Ok(b)) = (r.uvarint(), r.varint(), r.varint()) else {
                        return Err(fr.corrupt("bad tombstone"));
                    };
                    ts.add(s, a, b);
                }
            }
            KIND_END => {
                let want: Option<[u8; 8]> = fr.buf.as_slice().try_into().ok();
                if want.map(u64::from_le_bytes) != Some(framed) {
                    return Err(fr.corrupt("series count does not match the end frame"));
                }
                if !batch.frames.is_empty() {
                    let _ = tx.send(batch);
                }
                return Ok(framed);
            }
            k => return Err(fr.corrupt(format!("unknown frame kind {k}"))),
        }
    }
}

fn read_str<'a>(r: &mut ByteReader<'a>) -> Result<&'a str, String> {
    let n = r.uvarint().map_err(|e| format!("{e:?}"))?;
    let b = read_bytes(r, n)?;
    std::str::from_utf8(b).map_err(|_| "label is not UTF-8".to_string())
}

fn read_bytes<'a>(r: &mut ByteReader<'a>, n: u64) -> Result<&'a [u8], String> {
    let rest = r.remaining();
    let b = usize::try_from(n).ok().and_then(|n| rest.get(..n)).ok_or("truncated bytes")?;
    r.skip(b.len()).ok_or("truncated bytes")?;
    Ok(b)
}

/// Buffers [`restore_series`] reuses from one series to the next.
#[derive(Default)]
struct Scratch {
    bytes: Vec<u8>,
    parts: Vec<(u32, i64)>,
    ranges: Vec<(i64, i64)>,
    locs: Vec<ChunkLoc>,
}

/// Restores one series frame; returns the time range of its samples (empty: MAX, MIN).
fn restore_series(head: &Head, payload: &[u8], scratch: &mut Scratch) -> Result<(i64, i64), String> {
    let r = &mut ByteReader::new(payload);
    let e = |e: varint::VarintError| format!("{e:?}");
    let series_ref = r.uvarint().map_err(e)?;
    let n = r.uvarint().map_err(e)?;
    // Each label takes at least two bytes, which bounds the allocation.
    let mut labels = Vec::with_capacity(usize::try_from(n).unwrap_or(0).min(payload.len() / 2));
    for _ in 0..n {
        let name = read_str(r)?;
        let value = read_str(r)?;
        labels.push(Label::new(name, value));
    }
    let labels = Labels::new(labels).map_err(|e| e.to_string())?;
    let (ms, created) = head.create(labels.stable_hash(), &labels, Some(series_ref));
    if !created || ms.series_ref != series_ref {
        return Err(format!("series {labels:?} twice"));
    }
    let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
    let mut d = ms.data.lock();
    let n = r.uvarint().map_err(e)?;
    // The sealed chunks go to the chunk files with one write per series.
    scratch.bytes.clear();
    scratch.parts.clear();
    scratch.ranges.clear();
    for _ in 0..n {
        let (min_t, max_t) = (r.varint().map_err(e)?, r.varint().map_err(e)?);
        let len = r.uvarint().map_err(e)?;
        let bytes = read_bytes(r, len)?;
        scratch.bytes.extend_from_slice(bytes);
        scratch.parts.push((bytes.len() as u32, max_t));
        scratch.ranges.push((min_t, max_t));
        mint = mint.min(min_t);
        maxt = maxt.max(max_t);
    }
    scratch.locs.clear();
    match &head.mapper {
        Some(m) => m.write_many(&scratch.bytes, &scratch.parts, &mut scratch.locs),
        None => scratch
            .locs
            .extend(split_parts(&scratch.bytes, &scratch.parts).map(|(chunk, _)| ChunkLoc::Heap(Arc::from(chunk)))),
    }
    d.sealed.reserve(scratch.ranges.len());
    for (&(min_t, max_t), loc) in scratch.ranges.iter().zip(scratch.locs.drain(..)) {
        d.sealed.push(SealedChunk { min_t, max_t, loc });
    }
    let len = r.uvarint().map_err(e)?;
    let open = read_bytes(r, len)?;
    if !open.is_empty() {
        let c = XorChunk::from_state(open, r).map_err(|e| e.to_string())?;
        if let (Some(a), Some((b, _))) = (c.first_time(), c.last()) {
            mint = mint.min(a);
            maxt = maxt.max(b);
        }
        d.open = Some(c);
    }
    let n = r.uvarint().map_err(e)?;
    for _ in 0..n {
        let t = r.varint().map_err(e)?;
        let v = f64::from_bits(r.u64_le().ok_or("truncated sample")?);
        if d.ooo.last().is_some_and(|&(lt, _)| lt >= t) {
            return Err("out-of-order samples not sorted".into());
        }
        d.ooo.push((t, v));
        mint = mint.min(t);
        maxt = maxt.max(t);
    }
    if !r.remaining().is_empty() {
        return Err("trailing bytes in series frame".into());
    }
    head.metrics.head_chunks.fetch_add(d.num_chunks() as i64, Relaxed);
    Ok((mint, maxt))
}

#[cfg(test)]
mod tests;
