//! The Gorilla XOR chunk, bit-compatible with Prometheus's `EncXOR` chunk data.
//!
//! The layout is written down in `docs/format/xor.md`.

use super::ChunkError;
use super::bstream::{BitReader, BitWriter, low_mask};
use crate::tsdb::varint::{self, VarintError};

/// Marks "no value window yet" in the appender.
pub(super) const NO_WINDOW: u8 = 0xff;

/// Bytes of the big-endian sample count at the start of every chunk.
const HEADER_LEN: usize = 2;

/// Initial buffer size of a new chunk: 120 samples at about one byte each, the common size
/// of a full chunk of slowly changing values (Prometheus starts with 128).
const DEFAULT_CAPACITY: usize = 128;

/// The largest initial buffer [`XorChunk::with_capacity`] allocates.
const MAX_INITIAL_CAPACITY: usize = 4096;

/// An appendable Gorilla XOR chunk.
///
/// Layout: a 2-byte big-endian sample count, then the bit stream (first timestamp as varint,
/// first value as 64 raw bits, second timestamp delta as uvarint, then delta-of-delta
/// timestamps and XOR'd values), as Prometheus's `chunkenc.XORChunk`.
///
/// The appender state (last timestamp, last delta, last value, value window) lives in the
/// struct, so appending is O(1) amortised and allocates only when the byte vector grows.
#[derive(Clone, Debug)]
pub struct XorChunk {
    bytes: Vec<u8>,
    /// Write position inside the last byte of `bytes`.
    writer: BitWriter,
    /// Samples appended; mirrors the header.
    num: u16,
    /// Timestamp of the first sample.
    first_t: i64,
    /// Timestamp of the last sample.
    t: i64,
    /// Last timestamp delta, as the unsigned wrapping difference.
    t_delta: u64,
    /// Bits of the last value.
    v_bits: u64,
    /// Current value window, or [`NO_WINDOW`].
    leading: u8,
    trailing: u8,
}

impl Default for XorChunk {
    fn default() -> Self {
        XorChunk::new()
    }
}

impl XorChunk {
    /// An empty chunk, with room for a typical full chunk.
    pub fn new() -> Self {
        XorChunk::with_capacity(DEFAULT_CAPACITY)
    }

    /// An empty chunk whose byte buffer starts with room for `bytes` bytes (header included),
    /// so appends up to that size do not reallocate. The head passes the size of the
    /// series' previous chunk, which is usually close to the size of the next one.
    pub fn with_capacity(bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(bytes.clamp(HEADER_LEN, MAX_INITIAL_CAPACITY));
        buf.extend_from_slice(&[0, 0]);
        XorChunk {
            bytes: buf,
            writer: BitWriter::default(),
            num: 0,
            first_t: 0,
            t: 0,
            t_delta: 0,
            v_bits: 0,
            leading: NO_WINDOW,
            trailing: 0,
        }
    }

    /// Rebuilds an appendable chunk from encoded bytes (for example a chunk read back from disk
    /// or written by Prometheus), so appending can continue where it stopped. Bits after the
    /// last declared sample are dropped. Fails if the bytes do not decode.
    pub fn from_bytes(bytes: &[u8]) -> Result<XorChunk, ChunkError> {
        let mut it = XorIterator::new(bytes);
        for _ in it.by_ref() {}
        if let Some(err) = it.err {
            return Err(err);
        }
        let used_bits = it.reader.position();
        let used_bytes = HEADER_LEN + used_bits.div_ceil(8);
        let mut kept = bytes.get(..used_bytes).ok_or(ChunkError::Truncated("xor stream"))?.to_vec();
        let pad = (used_bytes - HEADER_LEN) * 8 - used_bits;
        if let Some(last) = kept.last_mut()
            && pad > 0
        {
            // The writer ORs new bits into the last byte, so its padding must be zero.
            *last &= !(low_mask(pad as u32) as u8);
        }
        Ok(XorChunk {
            bytes: kept,
            writer: BitWriter::with_free(pad as u8),
            num: it.total,
            first_t: it.first_t,
            t: it.t,
            t_delta: it.t_delta,
            v_bits: it.v_bits,
            leading: if it.window_seen { it.leading } else { NO_WINDOW },
            trailing: it.trailing,
        })
    }

    /// Appends the appender state (everything [`XorChunk::from_bytes`] would recover by
    /// decoding) to `out`, for [`XorChunk::from_state`].
    pub(crate) fn put_state(&self, out: &mut Vec<u8>) {
        out.push(self.writer.free());
        varint::put_varint(out, self.first_t);
        varint::put_varint(out, self.t);
        varint::put_uvarint(out, self.t_delta);
        out.extend_from_slice(&self.v_bits.to_le_bytes());
        out.push(self.leading);
        out.push(self.trailing);
    }

    /// Rebuilds an appendable chunk from its bytes and the state [`XorChunk::put_state`]
    /// wrote, without decoding the samples. The state is checked only as far as appending
    /// needs (so a damaged state can give wrong samples later, never a panic); callers keep
    /// it under a checksum.
    pub(crate) fn from_state(bytes: &[u8], state: &mut varint::ByteReader<'_>) -> Result<XorChunk, ChunkError> {
        const BAD: ChunkError = ChunkError::Corrupt("appender state");
        let free = state.byte().ok_or(BAD)?;
        let first_t = state.varint().map_err(|_| BAD)?;
        let t = state.varint().map_err(|_| BAD)?;
        let t_delta = state.uvarint().map_err(|_| BAD)?;
        let v_bits = state.u64_le().ok_or(BAD)?;
        let (leading, trailing) = (state.byte().ok_or(BAD)?, state.byte().ok_or(BAD)?);
        let num = match bytes {
            [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
            _ => return Err(ChunkError::Truncated("chunk header")),
        };
        let window_ok = leading == NO_WINDOW || (leading <= 31 && u32::from(leading) + u32::from(trailing) < 64);
        if free > 7 || !window_ok || (num == 0) != (bytes.len() == HEADER_LEN) || (free > 0 && num == 0) {
            return Err(BAD);
        }
        let mut kept = Vec::with_capacity(bytes.len() + bytes.len() / 4);
        kept.extend_from_slice(bytes);
        if let Some(last) = kept.last_mut()
            && free > 0
        {
            *last &= !(low_mask(u32::from(free)) as u8);
        }
        Ok(XorChunk {
            bytes: kept,
            writer: BitWriter::with_free(free),
            num,
            first_t,
            t,
            t_delta,
            v_bits,
            leading,
            trailing,
        })
    }

    /// Appends a sample. The caller guarantees `t` is greater than the last timestamp; if it
    /// is not, the sample is still encoded, and iteration will stop there with
    /// [`ChunkError::Corrupt`].
    ///
    /// A chunk holds at most `u16::MAX` samples (see [`XorChunk::is_full`]); appends beyond
    /// that are dropped. The head cuts chunks long before, at
    /// [`MAX_SAMPLES_PER_CHUNK`](super::MAX_SAMPLES_PER_CHUNK).
    pub fn append(&mut self, t: i64, v: f64) {
        if self.is_full() {
            return;
        }
        let v_bits = v.to_bits();
        let mut buf = [0u8; varint::MAX_LEN];
        match self.num {
            0 => {
                let n = varint::encode_uvarint(varint::zigzag(t), &mut buf);
                for &b in &buf[..n] {
                    self.writer.write_byte(&mut self.bytes, b);
                }
                self.writer.write_bits(&mut self.bytes, v_bits, 64);
                self.first_t = t;
                self.t_delta = 0;
            }
            1 => {
                let delta = t.wrapping_sub(self.t) as u64;
                let n = varint::encode_uvarint(delta, &mut buf);
                for &b in &buf[..n] {
                    self.writer.write_byte(&mut self.bytes, b);
                }
                self.write_value(v_bits);
                self.t_delta = delta;
            }
            _ => {
                let delta = t.wrapping_sub(self.t) as u64;
                let dod = delta.wrapping_sub(self.t_delta) as i64;
                let (prefix, prefix_len, field_len) = dod_bucket(dod);
                self.writer.write_bits(&mut self.bytes, prefix, prefix_len);
                self.writer.write_bits(&mut self.bytes, dod as u64, field_len);
                self.write_value(v_bits);
                self.t_delta = delta;
            }
        }
        self.t = t;
        self.v_bits = v_bits;
        self.num += 1;
        let [hi, lo] = self.num.to_be_bytes();
        // `new` and `from_bytes` always leave at least the two header bytes.
        if let [h0, h1, ..] = self.bytes.as_mut_slice() {
            *h0 = hi;
            *h1 = lo;
        }
    }

    /// Writes the XOR of `v_bits` against the previous value, updating the window.
    fn write_value(&mut self, v_bits: u64) {
        let x = v_bits ^ self.v_bits;
        write_xor_value(&mut self.writer, &mut self.bytes, x, &mut self.leading, &mut self.trailing);
    }

    /// Number of samples in the chunk.
    pub fn num_samples(&self) -> usize {
        usize::from(self.num)
    }

    /// Whether the 16-bit sample count is exhausted, so [`XorChunk::append`] would drop.
    pub fn is_full(&self) -> bool {
        self.num == u16::MAX
    }

    /// The encoded bytes (count header + bit stream), valid for [`XorIterator::new`].
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Timestamp of the first sample, if any.
    pub fn first_time(&self) -> Option<i64> {
        (self.num > 0).then_some(self.first_t)
    }

    /// The last sample appended, if any.
    pub fn last(&self) -> Option<(i64, f64)> {
        (self.num > 0).then(|| (self.t, f64::from_bits(self.v_bits)))
    }

    /// Iterates the samples.
    pub fn iter(&self) -> XorIterator<'_> {
        XorIterator::new(&self.bytes)
    }

    /// Heap bytes held (for memory accounting): the byte vector's capacity.
    pub fn heap_size(&self) -> usize {
        self.bytes.capacity()
    }

    /// Releases spare capacity once the chunk is full.
    pub fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
    }
}

/// How one XOR'd value is coded, given the writer's current window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ValueCode {
    /// `0`: the value repeats.
    Same,
    /// `10` and the significant bits inside the current window.
    Reuse,
    /// `11`, a new window, and its significant bits.
    NewWindow {
        /// Leading zeros, clamped to 31.
        leading: u8,
        /// Trailing zeros.
        trailing: u8,
    },
}

impl ValueCode {
    /// Chooses the code for `x = bits(v) ^ bits(prev)` given the window
    /// (`leading == NO_WINDOW` for none).
    #[inline]
    pub(super) fn plan(x: u64, leading: u8, trailing: u8) -> ValueCode {
        if x == 0 {
            return ValueCode::Same;
        }
        let new_leading = (x.leading_zeros() as u8).min(31);
        let new_trailing = x.trailing_zeros() as u8;
        if leading != NO_WINDOW && new_leading >= leading && new_trailing >= trailing {
            ValueCode::Reuse
        } else {
            ValueCode::NewWindow { leading: new_leading, trailing: new_trailing }
        }
    }

    /// The number of bits this code takes, given the window before it.
    #[inline]
    pub(super) fn bits(self, leading: u8, trailing: u8) -> u32 {
        match self {
            ValueCode::Same => 1,
            ValueCode::Reuse => 2 + 64 - u32::from(leading) - u32::from(trailing),
            ValueCode::NewWindow { leading, trailing } => 2 + 5 + 6 + 64 - u32::from(leading) - u32::from(trailing),
        }
    }
}

/// Writes `x = bits(v) ^ bits(prev)` in the XOR value coding, updating the window
/// (`leading == NO_WINDOW` for none).
#[inline]
pub(super) fn write_xor_value(w: &mut BitWriter, buf: &mut Vec<u8>, x: u64, leading: &mut u8, trailing: &mut u8) {
    match ValueCode::plan(x, *leading, *trailing) {
        ValueCode::Same => w.write_bit(buf, false),
        ValueCode::Reuse => {
            w.write_bits(buf, 0b10, 2);
            let sig = 64 - u32::from(*leading) - u32::from(*trailing);
            w.write_bits(buf, x >> *trailing, sig);
        }
        ValueCode::NewWindow { leading: l, trailing: t } => {
            *leading = l;
            *trailing = t;
            let sig = 64 - u32::from(l) - u32::from(t);
            w.write_bits(buf, 0b11, 2);
            w.write_bits(buf, u64::from(l), 5);
            // 64 significant bits are written as 0 (6 bits hold 0..=63).
            w.write_bits(buf, u64::from(sig) & 0x3f, 6);
            w.write_bits(buf, x >> t, sig);
        }
    }
}

/// Reads one value in the XOR value coding and applies it to `v_bits`. The reader's window
/// starts at `(0, 0)`. Returns whether a new window was read.
#[inline]
pub(super) fn read_xor_value(
    r: &mut BitReader<'_>,
    v_bits: &mut u64,
    leading: &mut u8,
    trailing: &mut u8,
) -> Result<bool, ChunkError> {
    const TRUNC: ChunkError = ChunkError::Truncated("value");
    if !r.read_bit().ok_or(TRUNC)? {
        return Ok(false);
    }
    let new_window = r.read_bit().ok_or(TRUNC)?;
    if new_window {
        let l = r.read_bits(5).ok_or(TRUNC)? as u8;
        let mut sig = r.read_bits(6).ok_or(TRUNC)? as u8;
        if sig == 0 {
            sig = 64;
        }
        if u32::from(l) + u32::from(sig) > 64 {
            return Err(ChunkError::Corrupt("xor value window exceeds 64 bits"));
        }
        *leading = l;
        *trailing = 64 - l - sig;
    }
    let sig = 64 - u32::from(*leading) - u32::from(*trailing);
    let x = r.read_bits(sig).ok_or(TRUNC)?;
    // `trailing` ≤ 63: it is 0 until a window is read, and a window has at least one
    // significant bit.
    *v_bits ^= x << *trailing;
    Ok(new_window)
}

/// The bucket for a delta-of-delta: (prefix bits, prefix length, field length).
fn dod_bucket(dod: i64) -> (u64, u32, u32) {
    // A field of n bits holds −(2^(n−1) − 1) ..= 2^(n−1), as Prometheus's `bitRange`.
    let fits = |n: u32| -((1i64 << (n - 1)) - 1) <= dod && dod <= 1i64 << (n - 1);
    if dod == 0 {
        (0b0, 1, 0)
    } else if fits(14) {
        (0b10, 2, 14)
    } else if fits(17) {
        (0b110, 3, 17)
    } else if fits(20) {
        (0b1110, 4, 20)
    } else {
        (0b1111, 4, 64)
    }
}

/// Iterates a XOR chunk's encoded bytes. Never panics on corrupt input: it stops and reports
/// the fault through [`XorIterator::err`].
///
/// The count header is authoritative: exactly that many samples are decoded and any bits
/// after them are ignored.
pub struct XorIterator<'a> {
    reader: BitReader<'a>,
    total: u16,
    read: u16,
    first_t: i64,
    t: i64,
    t_delta: u64,
    v_bits: u64,
    leading: u8,
    trailing: u8,
    /// Whether a `11` window has been read (for [`XorChunk::from_bytes`]).
    window_seen: bool,
    err: Option<ChunkError>,
}

impl<'a> XorIterator<'a> {
    /// Iterates `bytes` as produced by [`XorChunk::bytes`].
    pub fn new(bytes: &'a [u8]) -> Self {
        let (total, body, err) = match bytes {
            [hi, lo, body @ ..] => (u16::from_be_bytes([*hi, *lo]), body, None),
            _ => (0, &[][..], Some(ChunkError::Truncated("xor header"))),
        };
        XorIterator {
            reader: BitReader::new(body),
            total,
            read: 0,
            first_t: 0,
            t: 0,
            t_delta: 0,
            v_bits: 0,
            leading: 0,
            trailing: 0,
            window_seen: false,
            err,
        }
    }

    /// The fault that stopped iteration early, if any.
    pub fn err(&self) -> Option<&ChunkError> {
        self.err.as_ref()
    }

    /// The number of samples the header declares.
    pub fn num_samples(&self) -> usize {
        usize::from(self.total)
    }

    /// Advances to the first remaining sample with timestamp `>= t` and returns it, or `None`
    /// if there is none (or the chunk is corrupt; see [`XorIterator::err`]).
    pub fn seek(&mut self, t: i64) -> Option<(i64, f64)> {
        self.find(|&(ts, _)| ts >= t)
    }

    fn fail(&mut self, err: ChunkError) -> Option<(i64, f64)> {
        self.err = Some(err);
        None
    }

    fn read_uvarint(&mut self, what: &'static str) -> Result<u64, ChunkError> {
        let reader = &mut self.reader;
        varint::read_uvarint_with(|| reader.read_byte()).map_err(|e| match e {
            VarintError::Truncated => ChunkError::Truncated(what),
            VarintError::Overflow => ChunkError::Corrupt("varint overflows 64 bits"),
        })
    }

    /// Reads a delta-of-delta.
    fn read_dod(&mut self) -> Result<i64, ChunkError> {
        const TRUNC: ChunkError = ChunkError::Truncated("timestamp");
        let mut ones = 0;
        while ones < 4 {
            if !self.reader.read_bit().ok_or(TRUNC)? {
                break;
            }
            ones += 1;
        }
        let n = match ones {
            0 => return Ok(0),
            1 => 14,
            2 => 17,
            3 => 20,
            _ => return self.reader.read_bits(64).map(|b| b as i64).ok_or(TRUNC),
        };
        let field = self.reader.read_bits(n).ok_or(TRUNC)?;
        // Fields above 2^(n−1) are negative (see `dod_bucket`).
        let dod = if field > 1 << (n - 1) { field as i64 - (1i64 << n) } else { field as i64 };
        Ok(dod)
    }

    /// Reads an XOR'd value and applies it.
    fn read_value(&mut self) -> Result<(), ChunkError> {
        let new_window = read_xor_value(&mut self.reader, &mut self.v_bits, &mut self.leading, &mut self.trailing)?;
        self.window_seen |= new_window;
        Ok(())
    }

    /// Decodes the next sample.
    fn step(&mut self) -> Result<(i64, f64), ChunkError> {
        match self.read {
            0 => {
                let t = varint::unzigzag(self.read_uvarint("first timestamp")?);
                self.v_bits = self.reader.read_bits(64).ok_or(ChunkError::Truncated("first value"))?;
                self.first_t = t;
                self.t = t;
            }
            _ => {
                let delta = if self.read == 1 {
                    self.read_uvarint("second timestamp")?
                } else {
                    self.t_delta.wrapping_add(self.read_dod()? as u64)
                };
                // Wrapping addition of an unsigned delta moves forward unless it overflowed
                // i64 or the delta is zero; either means corrupt input.
                let t = self.t.wrapping_add(delta as i64);
                if t <= self.t {
                    return Err(ChunkError::Corrupt("timestamps not increasing"));
                }
                self.read_value()?;
                self.t = t;
                self.t_delta = delta;
            }
        }
        self.read += 1;
        Ok((self.t, f64::from_bits(self.v_bits)))
    }
}

impl Iterator for XorIterator<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        if self.err.is_some() || self.read >= self.total {
            return None;
        }
        match self.step() {
            Ok(sample) => Some(sample),
            Err(err) => self.fail(err),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.err.is_some() {
            return (0, Some(0));
        }
        (0, Some(usize::from(self.total - self.read.min(self.total))))
    }
}

#[cfg(test)]
#[path = "xor_tests.rs"]
mod tests;
