//! Bit streams, most significant bit first, as the Gorilla encodings use them.
//!
//! [`BitWriter`] appends to a caller-owned `Vec<u8>` so an appendable chunk can keep its bytes
//! and its writer state in one struct. [`BitReader`] reads a borrowed slice and never panics: a
//! read past the end returns `None`.

/// The write position of a bit stream held in a `Vec<u8>`: how many low bits of the last byte
/// are still free (0 means the next bit starts a new byte).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BitWriter {
    free: u8,
}

impl BitWriter {
    /// A writer whose last byte still has `free` unused low bits (clamped to 0–7), for
    /// continuing a stream that was written earlier.
    pub(crate) fn with_free(free: u8) -> Self {
        BitWriter { free: free.min(7) }
    }

    /// Unused low bits of the last byte.
    pub(crate) fn free(self) -> u8 {
        self.free
    }

    /// Writes the low `n` bits of `value` (`n` ≤ 64), most significant first.
    #[inline]
    pub(crate) fn write_bits(&mut self, buf: &mut Vec<u8>, value: u64, n: u32) {
        debug_assert!(n <= 64);
        let mut left = n.min(64);
        while left > 0 {
            if self.free == 0 {
                // Grow by a quarter (at least 32 bytes): head chunks stay open for hours, and
                // doubling would leave up to half of every open chunk's buffer unused, while
                // fixed small steps would reallocate every few samples of a large chunk.
                if buf.len() == buf.capacity() {
                    buf.reserve_exact((buf.len() / 4).max(32));
                }
                buf.push(0);
                self.free = 8;
            }
            let take = left.min(u32::from(self.free));
            // The `take` bits below position `left` of `value`.
            let chunk = (value >> (left - take)) & low_mask(take);
            if let Some(last) = buf.last_mut() {
                // `chunk` < 2^take and take ≤ free ≤ 8, so the shifted value fits a byte.
                *last |= (chunk << (u32::from(self.free) - take)) as u8;
            }
            self.free -= take as u8;
            left -= take;
        }
    }

    /// Writes one bit.
    #[inline]
    pub(crate) fn write_bit(&mut self, buf: &mut Vec<u8>, bit: bool) {
        self.write_bits(buf, u64::from(bit), 1);
    }

    /// Writes a whole byte (used for the varints embedded in the XOR stream).
    #[inline]
    pub(crate) fn write_byte(&mut self, buf: &mut Vec<u8>, byte: u8) {
        self.write_bits(buf, u64::from(byte), 8);
    }
}

/// A mask of the low `n` bits (`n` ≤ 64).
#[inline]
pub(crate) fn low_mask(n: u32) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

/// Reads bits from a borrowed slice, most significant first.
#[derive(Clone, Debug)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// A reader at the first bit of `data`.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        BitReader { data, pos: 0 }
    }

    /// Bits consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Reads `n` bits (`n` ≤ 64) as the low bits of the result, or `None` if fewer remain (the
    /// position is then unchanged).
    #[inline]
    pub(crate) fn read_bits(&mut self, n: u32) -> Option<u64> {
        if n > 64 {
            return None;
        }
        let end = self.pos.checked_add(n as usize)?;
        if end > self.data.len().saturating_mul(8) {
            return None;
        }
        let mut out: u64 = 0;
        let mut left = n;
        let mut pos = self.pos;
        while left > 0 {
            let byte = *self.data.get(pos / 8)?;
            let avail = 8 - (pos % 8) as u32;
            let take = avail.min(left);
            let chunk = (u64::from(byte) >> (avail - take)) & low_mask(take);
            // `out` holds at most n − left bits, so shifting by `take` never loses a bit.
            out = (out << take) | chunk;
            left -= take;
            pos += take as usize;
        }
        self.pos = pos;
        Some(out)
    }

    /// Reads one bit.
    #[inline]
    pub(crate) fn read_bit(&mut self) -> Option<bool> {
        self.read_bits(1).map(|b| b == 1)
    }

    /// Reads eight bits.
    #[inline]
    pub(crate) fn read_byte(&mut self) -> Option<u8> {
        // Eight bits always fit a byte.
        self.read_bits(8).map(|b| b as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A table row: name, writes as (value, bit count), the expected bytes.
    type WriteCase = (&'static str, &'static [(u64, u32)], &'static [u8]);

    #[test]
    fn writes_msb_first() {
        let cases: &[WriteCase] = &[
            ("one bit", &[(1, 1)], &[0x80]),
            ("two fields", &[(0b10, 2), (0b111, 3)], &[0b1011_1000]),
            ("crosses a byte", &[(0, 3), (0x1ff, 9)], &[0b0001_1111, 0b1111_0000]),
            ("masks high bits", &[(0xff, 4)], &[0xf0]),
            ("64 bits", &[(0x0123_4567_89ab_cdef, 64)], &[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]),
            ("64 bits unaligned", &[(1, 1), (u64::MAX, 64)], &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80]),
        ];
        for (name, writes, want) in cases {
            let mut buf = Vec::new();
            let mut w = BitWriter::default();
            for &(v, n) in *writes {
                w.write_bits(&mut buf, v, n);
            }
            assert_eq!(&buf[..], *want, "{name}");
        }
    }

    #[test]
    fn reader_stops_at_end() {
        let mut r = BitReader::new(&[0xa5]);
        assert_eq!(r.read_bits(3), Some(0b101));
        assert_eq!(r.read_bits(6), None);
        assert_eq!(r.position(), 3);
        assert_eq!(r.read_bits(5), Some(0b00101));
        assert_eq!(r.read_bit(), None);
        assert_eq!(r.read_bits(65), None);
    }

    proptest! {
        #[test]
        fn round_trip(fields in proptest::collection::vec((any::<u64>(), 0u32..=64), 0..50)) {
            let mut buf = Vec::new();
            let mut w = BitWriter::default();
            for &(v, n) in &fields {
                w.write_bits(&mut buf, v, n);
            }
            let total: u32 = fields.iter().map(|f| f.1).sum();
            prop_assert_eq!(buf.len(), total.div_ceil(8) as usize);
            let mut r = BitReader::new(&buf);
            for &(v, n) in &fields {
                prop_assert_eq!(r.read_bits(n), Some(v & low_mask(n)));
            }
        }
    }
}
