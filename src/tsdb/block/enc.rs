//! Byte-level helpers shared by the block files: varint writers and a bounds-checked read
//! cursor that reports malformed input as an error instead of panicking.

pub(crate) use crate::tsdb::varint::{put_uvarint, put_varint};

/// Appends a little-endian `u32`.
pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a little-endian `u64`.
pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A read cursor over a byte slice. Every read is bounds-checked and fails with a static
/// message naming what was being read.
#[derive(Clone, Debug)]
pub(crate) struct Decbuf<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// The error of a [`Decbuf`] read: what was being decoded.
pub(crate) type DecError = &'static str;

impl<'a> Decbuf<'a> {
    /// A cursor at the start of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Decbuf { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The current position from the start of the slice.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Whether everything has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Reads `n` bytes.
    pub(crate) fn bytes(&mut self, n: usize, what: DecError) -> Result<&'a [u8], DecError> {
        let end = self.pos.checked_add(n).ok_or(what)?;
        let s = self.buf.get(self.pos..end).ok_or(what)?;
        self.pos = end;
        Ok(s)
    }

    /// Skips `n` bytes.
    pub(crate) fn skip(&mut self, n: usize, what: DecError) -> Result<(), DecError> {
        self.bytes(n, what).map(|_| ())
    }

    /// Reads one byte.
    pub(crate) fn u8(&mut self, what: DecError) -> Result<u8, DecError> {
        Ok(self.bytes(1, what)?[0])
    }

    /// Reads a little-endian `u32`.
    pub(crate) fn u32(&mut self, what: DecError) -> Result<u32, DecError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.bytes(4, what)?);
        Ok(u32::from_le_bytes(a))
    }

    /// Reads a little-endian `u64`.
    pub(crate) fn u64(&mut self, what: DecError) -> Result<u64, DecError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.bytes(8, what)?);
        Ok(u64::from_le_bytes(a))
    }

    /// Reads an unsigned LEB128 of at most 10 bytes that fits a `u64`.
    pub(crate) fn uvarint(&mut self, what: DecError) -> Result<u64, DecError> {
        let mut v: u64 = 0;
        for i in 0..10u32 {
            let b = self.u8(what)?;
            let low = u64::from(b & 0x7f);
            if i == 9 && low > 1 {
                return Err(what);
            }
            v |= low << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(what)
    }

    /// Reads an unsigned LEB128 that must fit a `u32`.
    pub(crate) fn uvarint32(&mut self, what: DecError) -> Result<u32, DecError> {
        u32::try_from(self.uvarint(what)?).map_err(|_| what)
    }

    /// Reads an unsigned LEB128 that must fit a `usize`.
    pub(crate) fn uvarint_usize(&mut self, what: DecError) -> Result<usize, DecError> {
        usize::try_from(self.uvarint(what)?).map_err(|_| what)
    }

    /// Reads a zigzag LEB128.
    pub(crate) fn varint(&mut self, what: DecError) -> Result<i64, DecError> {
        let u = self.uvarint(what)?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
}

/// `a + d` where `d` is an unsigned 64-bit difference, failing on overflow.
pub(crate) fn add_diff(a: i64, d: u64, what: DecError) -> Result<i64, DecError> {
    a.checked_add_unsigned(d).ok_or(what)
}

/// `b - a` as an unsigned 64-bit difference; requires `b >= a`.
pub(crate) fn diff(a: i64, b: i64) -> u64 {
    debug_assert!(b >= a);
    b.wrapping_sub(a) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn uvarint_table() {
        let cases: &[(u64, &[u8])] = &[
            (0, &[0]),
            (1, &[1]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (300, &[0xac, 0x02]),
            (u64::MAX, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        ];
        for (v, want) in cases {
            let mut out = Vec::new();
            put_uvarint(&mut out, *v);
            assert_eq!(&out[..], *want, "encode {v}");
            assert_eq!(Decbuf::new(want).uvarint("x"), Ok(*v), "decode {v}");
        }
    }

    #[test]
    fn malformed_varints_are_errors() {
        let cases: &[&[u8]] =
            &[&[], &[0x80], &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], &[0xff; 11]];
        for c in cases {
            assert!(Decbuf::new(c).uvarint("x").is_err(), "{c:?}");
        }
    }

    #[test]
    fn zigzag_table() {
        let cases: &[(i64, u8)] = &[(0, 0), (-1, 1), (1, 2), (-2, 3), (2, 4)];
        for (v, byte) in cases {
            let mut out = Vec::new();
            put_varint(&mut out, *v);
            assert_eq!(out, vec![*byte]);
        }
    }

    #[test]
    fn fixed_reads_check_bounds() {
        let mut d = Decbuf::new(&[1, 0, 0, 0, 2]);
        assert_eq!(d.u32("a"), Ok(1));
        assert_eq!(d.u32("b"), Err("b"));
        assert_eq!(d.u8("c"), Ok(2));
        assert!(d.is_empty());
        assert_eq!(d.bytes(usize::MAX, "d"), Err("d"));
    }

    proptest! {
        #[test]
        fn varints_round_trip(us in proptest::collection::vec(any::<u64>(), 0..20),
                              is in proptest::collection::vec(any::<i64>(), 0..20)) {
            let mut out = Vec::new();
            for &u in &us { put_uvarint(&mut out, u); }
            for &i in &is { put_varint(&mut out, i); }
            let mut d = Decbuf::new(&out);
            for &u in &us { prop_assert_eq!(d.uvarint("u"), Ok(u)); }
            for &i in &is { prop_assert_eq!(d.varint("i"), Ok(i)); }
            prop_assert!(d.is_empty());
        }

        #[test]
        fn diff_round_trips(a in any::<i64>(), b in any::<i64>()) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert_eq!(add_diff(lo, diff(lo, hi), "x"), Ok(hi));
        }
    }
}
