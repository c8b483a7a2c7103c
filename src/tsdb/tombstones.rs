//! Deletion intervals per series, applied at query time and removed at compaction.
//!
//! The file format is in `docs/format/tombstones.md`.

use crate::tsdb::block::enc::{Decbuf, add_diff, diff, put_uvarint, put_varint};
use std::collections::HashMap;

/// The magic number opening a `tombstones` file.
const MAGIC: &[u8; 4] = b"CRNT";
/// The `tombstones` file format version.
const VERSION: u8 = 1;

/// Sorted, non-overlapping, non-adjacent closed intervals `[mint, maxt]` of deleted time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Intervals(Vec<(i64, i64)>);

impl Intervals {
    /// Adds `[mint, maxt]`, merging with overlapping or adjacent intervals.
    ///
    /// An empty interval (`mint > maxt`) is ignored.
    pub fn add(&mut self, mint: i64, maxt: i64) {
        if mint > maxt {
            return;
        }
        // The first interval that could touch `[mint, maxt]`: its end reaches `mint - 1`.
        let lo = self.0.partition_point(|&(_, b)| b < mint.saturating_sub(1));
        // One past the last interval that could touch: its start is at most `maxt + 1`.
        let hi = self.0.partition_point(|&(a, _)| a <= maxt.saturating_add(1));
        if lo >= hi {
            self.0.insert(lo, (mint, maxt));
            return;
        }
        let merged = (mint.min(self.0[lo].0), maxt.max(self.0[hi - 1].1));
        self.0.splice(lo..hi, std::iter::once(merged));
    }

    /// Builds from intervals already sorted, non-overlapping and non-adjacent, or `None`.
    fn from_sorted(v: Vec<(i64, i64)>) -> Option<Intervals> {
        let ok = v.iter().all(|&(a, b)| a <= b)
            && v.windows(2).all(|w| w[0].1.checked_add(1).is_some_and(|next| next < w[1].0));
        ok.then_some(Intervals(v))
    }

    /// Whether `t` lies in a deleted interval.
    pub fn contains(&self, t: i64) -> bool {
        self.0.iter().any(|&(a, b)| a <= t && t <= b)
    }

    /// Whether `[mint, maxt]` is wholly deleted.
    pub fn covers(&self, mint: i64, maxt: i64) -> bool {
        self.0.iter().any(|&(a, b)| a <= mint && maxt <= b)
    }

    /// The intervals, sorted.
    pub fn as_slice(&self) -> &[(i64, i64)] {
        &self.0
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Deleted intervals keyed by series reference (a block's series id or a head series ref).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tombstones {
    map: HashMap<u64, Intervals>,
}

impl Tombstones {
    /// Marks `[mint, maxt]` of series `r` deleted.
    pub fn add(&mut self, r: u64, mint: i64, maxt: i64) {
        self.map.entry(r).or_default().add(mint, maxt);
    }

    /// The deleted intervals of series `r`.
    pub fn get(&self, r: u64) -> Option<&Intervals> {
        self.map.get(&r)
    }

    /// Number of series with tombstones.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every series and its intervals, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Intervals)> {
        self.map.iter().map(|(k, v)| (*k, v))
    }

    /// Encodes for the `tombstones` file (with a CRC32C); see `docs/format/tombstones.md`.
    ///
    /// The encoding is deterministic: series are written by increasing reference. Series with
    /// no intervals are left out.
    pub fn encode(&self) -> Vec<u8> {
        let mut refs: Vec<u64> = self.map.iter().filter(|(_, iv)| !iv.is_empty()).map(|(r, _)| *r).collect();
        refs.sort_unstable();
        let mut out = Vec::with_capacity(16 + refs.len() * 8);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        put_uvarint(&mut out, refs.len() as u64);
        let mut prev_ref = 0u64;
        for r in refs {
            put_uvarint(&mut out, r - prev_ref);
            prev_ref = r;
            let iv = self.map.get(&r).map(|iv| iv.as_slice()).unwrap_or(&[]);
            put_uvarint(&mut out, iv.len() as u64);
            let mut prev_max: Option<i64> = None;
            for &(a, b) in iv {
                match prev_max {
                    None => put_varint(&mut out, a),
                    Some(p) => put_uvarint(&mut out, diff(p, a)),
                }
                put_uvarint(&mut out, diff(a, b));
                prev_max = Some(b);
            }
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes a `tombstones` file. Never panics on any input.
    ///
    /// Fails on a wrong magic number, version or CRC, on trailing bytes, and on intervals that
    /// are not sorted, disjoint and non-adjacent.
    pub fn decode(bytes: &[u8]) -> Result<Tombstones, String> {
        decode_inner(bytes).map_err(|e| format!("tombstones: {e}"))
    }
}

fn decode_inner(bytes: &[u8]) -> Result<Tombstones, &'static str> {
    let body_len = bytes.len().checked_sub(4).ok_or("file too short")?;
    let (body, crc) = bytes.split_at(body_len);
    let mut d = Decbuf::new(body);
    if d.bytes(4, "magic")? != MAGIC {
        return Err("bad magic number");
    }
    if d.u8("version")? != VERSION {
        return Err("unsupported version");
    }
    if Decbuf::new(crc).u32("crc")? != crc32c::crc32c(body) {
        return Err("checksum mismatch");
    }
    let n = d.uvarint("series count")?;
    let mut map = HashMap::new();
    let mut prev_ref: Option<u64> = None;
    for _ in 0..n {
        let delta = d.uvarint("series ref")?;
        let r = match prev_ref {
            None => delta,
            Some(p) if delta >= 1 => p.checked_add(delta).ok_or("series ref overflows")?,
            Some(_) => return Err("series refs not increasing"),
        };
        prev_ref = Some(r);
        let k = d.uvarint("interval count")?;
        // Each interval takes at least two bytes; this bounds the allocation.
        if k == 0 || k > (d.remaining() / 2) as u64 {
            return Err("bad interval count");
        }
        let mut v = Vec::with_capacity(k as usize);
        let mut prev_max: Option<i64> = None;
        for _ in 0..k {
            let a = match prev_max {
                None => d.varint("interval start")?,
                Some(p) => add_diff(p, d.uvarint("interval gap")?, "interval gap overflows")?,
            };
            let b = add_diff(a, d.uvarint("interval length")?, "interval end overflows")?;
            v.push((a, b));
            prev_max = Some(b);
        }
        let iv = Intervals::from_sorted(v).ok_or("intervals overlap or touch")?;
        map.insert(r, iv);
    }
    if !d.is_empty() {
        return Err("trailing bytes");
    }
    Ok(Tombstones { map })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn intervals(adds: &[(i64, i64)]) -> Vec<(i64, i64)> {
        let mut iv = Intervals::default();
        for &(a, b) in adds {
            iv.add(a, b);
        }
        iv.as_slice().to_vec()
    }

    #[test]
    fn add_table() {
        type Case = (&'static str, &'static [(i64, i64)], &'static [(i64, i64)]);
        let cases: &[Case] = &[
            ("empty", &[], &[]),
            ("one", &[(1, 3)], &[(1, 3)]),
            ("reversed is ignored", &[(3, 1)], &[]),
            ("disjoint sorted", &[(1, 2), (5, 6)], &[(1, 2), (5, 6)]),
            ("disjoint unsorted", &[(5, 6), (1, 2)], &[(1, 2), (5, 6)]),
            ("adjacent right", &[(1, 2), (3, 4)], &[(1, 4)]),
            ("adjacent left", &[(3, 4), (1, 2)], &[(1, 4)]),
            ("overlap", &[(1, 5), (3, 8)], &[(1, 8)]),
            ("contained", &[(1, 10), (3, 4)], &[(1, 10)]),
            ("containing", &[(3, 4), (6, 7), (1, 10)], &[(1, 10)]),
            ("bridge", &[(1, 2), (6, 7), (3, 5)], &[(1, 7)]),
            ("gap of one stays", &[(1, 2), (4, 5)], &[(1, 2), (4, 5)]),
            ("point", &[(5, 5), (4, 4), (6, 6)], &[(4, 6)]),
            ("extremes", &[(i64::MIN, 0), (1, i64::MAX)], &[(i64::MIN, i64::MAX)]),
            ("max edge", &[(i64::MAX, i64::MAX), (i64::MIN, i64::MIN)], &[(i64::MIN, i64::MIN), (i64::MAX, i64::MAX)]),
            ("middle of three", &[(1, 1), (10, 10), (20, 20), (9, 11)], &[(1, 1), (9, 11), (20, 20)]),
        ];
        for (name, adds, want) in cases {
            assert_eq!(intervals(adds), want.to_vec(), "{name}");
        }
    }

    #[test]
    fn encode_is_deterministic_and_known() {
        let mut t = Tombstones::default();
        t.add(3, -1, 1);
        t.add(1, 5, 5);
        t.add(1, 8, 9);
        // Derived by hand from docs/format/tombstones.md.
        let mut want = b"CRNT\x01".to_vec();
        want.extend_from_slice(&[2]); // two series
        want.extend_from_slice(&[1, 2, 10, 0, 3, 1]); // ref 1: [5,5], gap 3 -> [8,9]
        want.extend_from_slice(&[2, 1, 1, 2]); // ref 3 (delta 2): [-1,1]
        let crc = crc32c::crc32c(&want);
        want.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(t.encode(), want);
        assert_eq!(Tombstones::decode(&want), Ok(t));
    }

    #[test]
    fn decode_rejects_bad_files() {
        let mut t = Tombstones::default();
        t.add(7, 10, 20);
        let good = t.encode();
        let mut bad_crc = good.clone();
        let last = bad_crc.len() - 1;
        bad_crc[last] ^= 1;
        let mut bad_magic = good.clone();
        bad_magic[0] = b'X';
        let mut trailing = good[..good.len() - 4].to_vec();
        trailing.push(0);
        let crc = crc32c::crc32c(&trailing);
        trailing.extend_from_slice(&crc.to_le_bytes());
        // Two touching intervals, encoded by hand with a valid CRC.
        let mut touching = b"CRNT\x01".to_vec();
        touching.extend_from_slice(&[1, 0, 2, 2, 0, 1, 0]);
        let crc = crc32c::crc32c(&touching);
        touching.extend_from_slice(&crc.to_le_bytes());
        let cases: &[(&str, &[u8])] = &[
            ("empty", &[]),
            ("short", &good[..3]),
            ("bad crc", &bad_crc),
            ("bad magic", &bad_magic),
            ("trailing", &trailing),
            ("touching", &touching),
        ];
        for (name, bytes) in cases {
            assert!(Tombstones::decode(bytes).is_err(), "{name}");
        }
        for cut in 0..good.len() {
            assert!(Tombstones::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
    }

    proptest! {
        #[test]
        fn add_matches_point_set_model(adds in proptest::collection::vec((0i64..40, 0i64..8), 0..12)) {
            let mut iv = Intervals::default();
            let mut model = BTreeSet::new();
            for &(a, len) in &adds {
                iv.add(a, a + len);
                model.extend(a..=a + len);
            }
            // The invariant: sorted, disjoint, non-adjacent.
            for w in iv.as_slice().windows(2) {
                prop_assert!(w[0].1 + 1 < w[1].0);
            }
            for t in -2..52 {
                prop_assert_eq!(iv.contains(t), model.contains(&t), "t={}", t);
            }
        }

        #[test]
        fn encode_decode_round_trips(entries in proptest::collection::vec(
            (any::<u64>(), proptest::collection::vec((any::<i64>(), any::<i64>()), 1..5)), 0..8)) {
            let mut t = Tombstones::default();
            for (r, ivs) in &entries {
                for &(a, b) in ivs {
                    t.add(*r, a.min(b), a.max(b));
                }
            }
            let bytes = t.encode();
            prop_assert_eq!(Tombstones::decode(&bytes), Ok(t));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut framed = b"CRNT\x01".to_vec();
            framed.extend_from_slice(&bytes);
            let crc = crc32c::crc32c(&framed);
            framed.extend_from_slice(&crc.to_le_bytes());
            let _ = Tombstones::decode(&framed);
            let _ = Tombstones::decode(&bytes);
        }
    }
}
