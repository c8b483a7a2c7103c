//! LEB128 varints and zigzag, byte-aligned, as Go's `encoding/binary` writes them: the one
//! varint writer that the WAL, block and chunk encodings share.

/// The longest encoding of a `u64`.
pub(crate) const MAX_LEN: usize = 10;

/// Maps signed to unsigned so that small magnitudes stay small: 0, −1, 1, −2 → 0, 1, 2, 3.
#[inline]
pub(crate) fn zigzag(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

/// The inverse of [`zigzag`].
#[inline]
pub(crate) fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// Encodes `x` into `buf`, returning the number of bytes used (1–10).
#[inline]
pub(crate) fn encode_uvarint(mut x: u64, buf: &mut [u8; MAX_LEN]) -> usize {
    let mut i = 0;
    while x >= 0x80 && i < MAX_LEN - 1 {
        buf[i] = (x as u8) | 0x80;
        x >>= 7;
        i += 1;
    }
    // Nine 7-bit groups hold 63 bits, so at most one bit is left here.
    buf[i] = x as u8;
    i + 1
}

/// Appends `x` as a uvarint.
#[inline]
pub(crate) fn put_uvarint(out: &mut Vec<u8>, x: u64) {
    let mut buf = [0u8; MAX_LEN];
    let n = encode_uvarint(x, &mut buf);
    out.extend_from_slice(&buf[..n]);
}

/// Appends `x` zigzag-encoded as a uvarint.
#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, x: i64) {
    put_uvarint(out, zigzag(x));
}

/// Why a varint did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarintError {
    /// The input ended inside the varint.
    Truncated,
    /// More than 10 bytes, or a 10th byte above 1: the value overflows 64 bits.
    Overflow,
}

/// Decodes a uvarint one byte at a time from `next`, as Go's `binary.ReadUvarint` does.
#[inline]
pub(crate) fn read_uvarint_with(mut next: impl FnMut() -> Option<u8>) -> Result<u64, VarintError> {
    let mut x: u64 = 0;
    for i in 0..MAX_LEN {
        let b = next().ok_or(VarintError::Truncated)?;
        if i == MAX_LEN - 1 && b > 1 {
            return Err(VarintError::Overflow);
        }
        x |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok(x);
        }
    }
    Err(VarintError::Overflow)
}

/// A cursor over a byte slice for the byte-aligned columnar encoding.
#[derive(Debug, Clone)]
pub(crate) struct ByteReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    /// A cursor at the start of `data`.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        ByteReader { data, pos: 0 }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// The bytes not yet consumed.
    pub(crate) fn remaining(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or(&[])
    }

    /// Skips `n` bytes, or returns `None` if fewer remain.
    pub(crate) fn skip(&mut self, n: usize) -> Option<()> {
        let end = self.pos.checked_add(n)?;
        if end > self.data.len() {
            return None;
        }
        self.pos = end;
        Some(())
    }

    /// Reads one byte.
    #[inline]
    pub(crate) fn byte(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// Reads eight bytes as a little-endian `u64`.
    #[inline]
    pub(crate) fn u64_le(&mut self) -> Option<u64> {
        let bytes: [u8; 8] = self.data.get(self.pos..self.pos.checked_add(8)?)?.try_into().ok()?;
        self.pos += 8;
        Some(u64::from_le_bytes(bytes))
    }

    /// Reads a uvarint.
    #[inline]
    pub(crate) fn uvarint(&mut self) -> Result<u64, VarintError> {
        // Fast path: a one-byte varint.
        if let Some(&b) = self.data.get(self.pos)
            && b < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(b));
        }
        read_uvarint_with(|| self.byte())
    }

    /// Reads a zigzag varint.
    #[inline]
    pub(crate) fn varint(&mut self) -> Result<i64, VarintError> {
        self.uvarint().map(unzigzag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings() {
        // Expected bytes worked out by hand from the LEB128 rule.
        let cases: &[(u64, &[u8])] = &[
            (0, &[0x00]),
            (1, &[0x01]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (300, &[0xac, 0x02]),
            (1000, &[0xe8, 0x07]),
            (u64::MAX, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        ];
        for &(x, want) in cases {
            let mut out = Vec::new();
            put_uvarint(&mut out, x);
            assert_eq!(out, want, "{x}");
            assert_eq!(ByteReader::new(want).uvarint(), Ok(x));
        }
        let zz: &[(i64, u64)] = &[(0, 0), (-1, 1), (1, 2), (-2, 3), (i64::MAX, u64::MAX - 1), (i64::MIN, u64::MAX)];
        for &(x, want) in zz {
            assert_eq!(zigzag(x), want);
            assert_eq!(unzigzag(want), x);
        }
    }

    #[test]
    fn bad_varints() {
        let cases: &[(&[u8], VarintError)] = &[
            (&[], VarintError::Truncated),
            (&[0x80], VarintError::Truncated),
            (&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], VarintError::Overflow),
            (&[0x80; 11], VarintError::Overflow),
        ];
        for &(bytes, want) in cases {
            assert_eq!(ByteReader::new(bytes).uvarint(), Err(want), "{bytes:?}");
        }
    }

    proptest! {
        #[test]
        fn round_trip(xs in proptest::collection::vec(any::<i64>(), 0..20)) {
            let mut out = Vec::new();
            for &x in &xs {
                put_varint(&mut out, x);
            }
            let mut r = ByteReader::new(&out);
            for &x in &xs {
                prop_assert_eq!(r.varint(), Ok(x));
            }
            prop_assert!(r.remaining().is_empty());
        }
    }
}
