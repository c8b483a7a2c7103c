//! WAL record encodings: series, samples, tombstones, exemplars (metadata reserved).
//!
//! Each encoded record starts with a one-byte [`RecordType`].

use crate::model::{Label, Labels};

/// Record type bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordType {
    /// Series definitions.
    Series = 1,
    /// Float samples.
    Samples = 2,
    /// Deletion intervals.
    Tombstones = 3,
    /// Exemplars.
    Exemplars = 4,
    /// Reserved for metadata.
    Metadata = 5,
}

/// A series definition: the head's reference for a label set.
#[derive(Clone, Debug, PartialEq)]
pub struct RefSeries {
    /// Head series reference.
    pub series_ref: u64,
    /// Its labels.
    pub labels: Labels,
}

/// A sample of a series by reference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RefSample {
    /// Head series reference.
    pub series_ref: u64,
    /// Timestamp, ms.
    pub t: i64,
    /// Value (bit-exact).
    pub v: f64,
}

/// A deletion of `[mint, maxt]` from a series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefTombstone {
    /// Head series reference.
    pub series_ref: u64,
    /// First deleted timestamp, inclusive.
    pub mint: i64,
    /// Last deleted timestamp, inclusive.
    pub maxt: i64,
}

/// An exemplar of a series by reference.
#[derive(Clone, Debug, PartialEq)]
pub struct RefExemplar {
    /// Head series reference.
    pub series_ref: u64,
    /// Timestamp, ms.
    pub t: i64,
    /// Value (bit-exact).
    pub v: f64,
    /// The exemplar's labels.
    pub labels: Labels,
}

/// A decoded record.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// Series definitions.
    Series(Vec<RefSeries>),
    /// Samples.
    Samples(Vec<RefSample>),
    /// Tombstones.
    Tombstones(Vec<RefTombstone>),
    /// Exemplars.
    Exemplars(Vec<RefExemplar>),
    /// A record of a type this version does not read (skipped on replay).
    Unknown(u8),
}

/// A record whose payload does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid wal record: {0}")]
pub struct RecordError(pub String);

/// Appends an encoded series record to `buf` (see `docs/format/wal.md`).
///
/// `buf` is not cleared, so callers can reuse one buffer; it grows as needed.
pub fn encode_series(series: &[RefSeries], buf: &mut Vec<u8>) {
    buf.push(RecordType::Series as u8);
    for s in series {
        put_uvarint(buf, s.series_ref);
        put_uvarint(buf, s.labels.len() as u64);
        for l in s.labels.iter() {
            put_str(buf, &l.name);
            put_str(buf, &l.value);
        }
    }
}

/// Appends an encoded samples record to `buf` (see `docs/format/wal.md`).
///
/// Refs and timestamps are stored as deltas from the first sample's; values bit-exactly.
/// `buf` is not cleared.
pub fn encode_samples(samples: &[RefSample], buf: &mut Vec<u8>) {
    buf.push(RecordType::Samples as u8);
    let Some(first) = samples.first() else {
        return;
    };
    buf.extend_from_slice(&first.series_ref.to_le_bytes());
    buf.extend_from_slice(&first.t.to_le_bytes());
    for s in samples {
        put_varint(buf, s.series_ref.wrapping_sub(first.series_ref) as i64);
        put_varint(buf, s.t.wrapping_sub(first.t));
        buf.extend_from_slice(&s.v.to_bits().to_le_bytes());
    }
}

/// Appends an encoded tombstones record to `buf` (see `docs/format/wal.md`).
///
/// `buf` is not cleared.
pub fn encode_tombstones(stones: &[RefTombstone], buf: &mut Vec<u8>) {
    buf.push(RecordType::Tombstones as u8);
    for s in stones {
        put_uvarint(buf, s.series_ref);
        put_varint(buf, s.mint);
        put_varint(buf, s.maxt);
    }
}

/// Appends an encoded exemplars record to `buf` (see `docs/format/wal.md`).
///
/// The layout is Prometheus's exemplar record (base reference and timestamp, then per
/// exemplar the deltas, the value bits and the labels), with fixed-width integers
/// little-endian like the rest of Cairn's WAL. `buf` is not cleared.
pub fn encode_exemplars(exemplars: &[RefExemplar], buf: &mut Vec<u8>) {
    buf.push(RecordType::Exemplars as u8);
    let Some(first) = exemplars.first() else {
        return;
    };
    buf.extend_from_slice(&first.series_ref.to_le_bytes());
    buf.extend_from_slice(&first.t.to_le_bytes());
    for e in exemplars {
        put_varint(buf, e.series_ref.wrapping_sub(first.series_ref) as i64);
        put_varint(buf, e.t.wrapping_sub(first.t));
        buf.extend_from_slice(&e.v.to_bits().to_le_bytes());
        put_uvarint(buf, e.labels.len() as u64);
        for l in e.labels.iter() {
            put_str(buf, &l.name);
            put_str(buf, &l.value);
        }
    }
}

/// Decodes one record. Never panics on any input.
///
/// Type bytes other than 1–4 (including the reserved 5) give [`Record::Unknown`]. An
/// empty input, or a body of type 1–4 that is truncated, has trailing garbage, overlong
/// varints, invalid UTF-8 or an invalid label set, is an error.
pub fn decode(bytes: &[u8]) -> Result<Record, RecordError> {
    let Some((&t, body)) = bytes.split_first() else {
        return Err(RecordError("empty record".into()));
    };
    let mut d = Decoder { buf: body, pos: 0 };
    match t {
        1 => decode_series(&mut d).map(Record::Series),
        2 => decode_samples(&mut d).map(Record::Samples),
        3 => decode_tombstones(&mut d).map(Record::Tombstones),
        4 => decode_exemplars(&mut d).map(Record::Exemplars),
        other => Ok(Record::Unknown(other)),
    }
}

/// The record type of an encoded record, if it is one this version knows.
pub fn record_type(bytes: &[u8]) -> Option<RecordType> {
    match bytes.first()? {
        1 => Some(RecordType::Series),
        2 => Some(RecordType::Samples),
        3 => Some(RecordType::Tombstones),
        4 => Some(RecordType::Exemplars),
        5 => Some(RecordType::Metadata),
        _ => None,
    }
}

fn decode_series(d: &mut Decoder<'_>) -> Result<Vec<RefSeries>, RecordError> {
    let mut out = Vec::new();
    while !d.is_empty() {
        let series_ref = d.uvarint("series ref")?;
        let labels = decode_labels(d)?;
        out.push(RefSeries { series_ref, labels });
    }
    Ok(out)
}

/// A label count followed by that many name/value pairs.
fn decode_labels(d: &mut Decoder<'_>) -> Result<Labels, RecordError> {
    let n = d.uvarint("label count")?;
    // Each label takes at least four bytes (two lengths, two non-empty strings), which
    // bounds the allocation by the input size whatever the count claims.
    let cap = usize::try_from(n).unwrap_or(usize::MAX).min(d.remaining() / 4);
    let mut labels: Vec<Label> = Vec::with_capacity(cap);
    for _ in 0..n {
        let name = d.str("label name")?;
        let value = d.str("label value")?;
        if name.is_empty() {
            return Err(d.err("empty label name"));
        }
        if value.is_empty() {
            return Err(d.err("empty label value"));
        }
        if let Some(prev) = labels.last()
            && prev.name.as_str() >= name
        {
            return Err(d.err("label names not strictly ascending"));
        }
        labels.push(Label::new(name, value));
    }
    // The loop above checked sortedness, uniqueness and non-empty values.
    Ok(Labels::from_sorted_unchecked(labels))
}

fn decode_exemplars(d: &mut Decoder<'_>) -> Result<Vec<RefExemplar>, RecordError> {
    if d.is_empty() {
        return Ok(Vec::new());
    }
    let base_ref = d.u64_le("base ref")?;
    let base_t = d.u64_le("base timestamp")? as i64;
    if d.is_empty() {
        return Err(d.err("exemplars base without exemplars"));
    }
    // An exemplar takes at least eleven bytes.
    let mut out = Vec::with_capacity(d.remaining() / 11);
    while !d.is_empty() {
        let dref = d.varint("ref delta")?;
        let dt = d.varint("timestamp delta")?;
        let v = f64::from_bits(d.u64_le("value")?);
        let labels = decode_labels(d)?;
        out.push(RefExemplar { series_ref: base_ref.wrapping_add(dref as u64), t: base_t.wrapping_add(dt), v, labels });
    }
    Ok(out)
}

fn decode_samples(d: &mut Decoder<'_>) -> Result<Vec<RefSample>, RecordError> {
    if d.is_empty() {
        return Ok(Vec::new());
    }
    let base_ref = d.u64_le("base ref")?;
    let base_t = d.u64_le("base timestamp")? as i64;
    if d.is_empty() {
        // The encoder writes a base only together with at least one sample.
        return Err(d.err("samples base without samples"));
    }
    // A sample takes at least ten bytes.
    let mut out = Vec::with_capacity(d.remaining() / 10);
    while !d.is_empty() {
        let dref = d.varint("ref delta")?;
        let dt = d.varint("timestamp delta")?;
        let v = f64::from_bits(d.u64_le("value")?);
        out.push(RefSample { series_ref: base_ref.wrapping_add(dref as u64), t: base_t.wrapping_add(dt), v });
    }
    Ok(out)
}

fn decode_tombstones(d: &mut Decoder<'_>) -> Result<Vec<RefTombstone>, RecordError> {
    let mut out = Vec::new();
    while !d.is_empty() {
        let series_ref = d.uvarint("tombstone ref")?;
        let mint = d.varint("tombstone mint")?;
        let maxt = d.varint("tombstone maxt")?;
        out.push(RefTombstone { series_ref, mint, maxt });
    }
    Ok(out)
}

pub(crate) use crate::tsdb::varint::{put_uvarint, put_varint};

fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_uvarint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

/// A bounds-checked cursor over a record body.
struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn err(&self, what: &str) -> RecordError {
        // The offset counts the type byte, so it is the offset within the whole record.
        RecordError(format!("{what} at offset {}", self.pos + 1))
    }

    fn uvarint(&mut self, what: &str) -> Result<u64, RecordError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.err(&format!("truncated {what}")));
            };
            self.pos += 1;
            // The tenth byte may only carry the 64th bit.
            if i == 9 && b > 1 {
                return Err(self.err(&format!("overflowing varint {what}")));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(self.err(&format!("overlong varint {what}")))
    }

    fn varint(&mut self, what: &str) -> Result<i64, RecordError> {
        let u = self.uvarint(what)?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], RecordError> {
        if n > self.remaining() {
            return Err(self.err(&format!("truncated {what}")));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u64_le(&mut self, what: &str) -> Result<u64, RecordError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn str(&mut self, what: &str) -> Result<&'a str, RecordError> {
        let n = self.uvarint(what)?;
        let n = usize::try_from(n).map_err(|_| self.err(&format!("oversized {what}")))?;
        let at = self.pos;
        let b = self.take(n, what)?;
        std::str::from_utf8(b).map_err(|_| RecordError(format!("invalid UTF-8 in {what} at offset {}", at + 1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ls(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs).unwrap()
    }

    /// Samples compared bit-exactly (NaN != NaN under `PartialEq`).
    fn sample_bits(s: &[RefSample]) -> Vec<(u64, i64, u64)> {
        s.iter().map(|s| (s.series_ref, s.t, s.v.to_bits())).collect()
    }

    #[test]
    fn golden_encodings() {
        // Expected bytes derived by hand from docs/format/wal.md.
        let mut b = Vec::new();
        encode_series(&[RefSeries { series_ref: 300, labels: ls(&[("a", "b")]) }], &mut b);
        assert_eq!(b, [1, 0xac, 0x02, 1, 1, b'a', 1, b'b']);

        let mut b = Vec::new();
        encode_samples(
            &[RefSample { series_ref: 5, t: 1000, v: 1.0 }, RefSample { series_ref: 7, t: 990, v: -0.0 }],
            &mut b,
        );
        let mut want = vec![2, 5, 0, 0, 0, 0, 0, 0, 0, 0xe8, 3, 0, 0, 0, 0, 0, 0];
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]);
        want.extend_from_slice(&[4, 0x13, 0, 0, 0, 0, 0, 0, 0, 0x80]);
        assert_eq!(b, want);

        let mut b = Vec::new();
        encode_tombstones(&[RefTombstone { series_ref: 1, mint: -1, maxt: 64 }], &mut b);
        assert_eq!(b, [3, 1, 1, 0x80, 1]);

        // Base ref 2 and base time 100 (LE), then per exemplar: zigzag ref and time deltas,
        // the value's bits (LE) and the labels (count, then length-prefixed names/values).
        let mut b = Vec::new();
        encode_exemplars(
            &[
                RefExemplar { series_ref: 2, t: 100, v: 1.0, labels: ls(&[("t", "x")]) },
                RefExemplar { series_ref: 1, t: 101, v: 2.0, labels: Labels::default() },
            ],
            &mut b,
        );
        let mut want = vec![4, 2, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0];
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 1, 1, b't', 1, b'x']);
        want.extend_from_slice(&[1, 2, 0, 0, 0, 0, 0, 0, 0, 0x40, 0]);
        assert_eq!(b, want);

        // Encoders append; they do not clear.
        let mut b = vec![9];
        encode_samples(&[], &mut b);
        assert_eq!(b, [9, 2]);
    }

    #[test]
    fn decode_table() {
        let ok: &[(&str, &[u8], Record)] = &[
            ("empty series", &[1], Record::Series(vec![])),
            ("empty samples", &[2], Record::Samples(vec![])),
            ("empty tombstones", &[3], Record::Tombstones(vec![])),
            ("empty exemplars", &[4], Record::Exemplars(vec![])),
            ("metadata reserved", &[5], Record::Unknown(5)),
            ("type zero", &[0], Record::Unknown(0)),
            ("future type", &[200, 0xff], Record::Unknown(200)),
            (
                "series without labels",
                &[1, 7, 0],
                Record::Series(vec![RefSeries { series_ref: 7, labels: Labels::default() }]),
            ),
            (
                "max uvarint ref",
                &[3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0],
                Record::Tombstones(vec![RefTombstone { series_ref: u64::MAX, mint: 0, maxt: 0 }]),
            ),
        ];
        for (name, input, want) in ok {
            assert_eq!(decode(input).as_ref(), Ok(want), "{name}");
        }
        let bad: &[(&str, &[u8])] = &[
            ("empty", &[]),
            ("series truncated ref", &[1, 0x80]),
            ("series missing labels count", &[1, 5]),
            ("series truncated name", &[1, 0, 1, 3, b'a']),
            ("series invalid utf8", &[1, 0, 1, 1, 0xff, 1, b'x']),
            ("series empty name", &[1, 0, 1, 0, 1, b'x']),
            ("series empty value", &[1, 0, 1, 1, b'x', 0]),
            ("series unsorted", &[1, 0, 2, 1, b'b', 1, b'x', 1, b'a', 1, b'x']),
            ("series duplicate", &[1, 0, 2, 1, b'a', 1, b'x', 1, b'a', 1, b'y']),
            ("series huge label count", &[1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            ("samples short base", &[2, 1, 2, 3]),
            ("samples base only", &[2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            ("samples truncated value", &[2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            ("tombstone missing maxt", &[3, 1, 2]),
            ("exemplars short base", &[4, 1, 2, 3]),
            ("exemplars base only", &[4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            (
                "exemplar missing labels",
                &[4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ),
            (
                "exemplar empty label value",
                &[4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, b'a', 0],
            ),
            ("overlong varint", &[3, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0, 0, 0]),
            ("overflowing varint", &[3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0]),
        ];
        for (name, input) in bad {
            assert!(decode(input).is_err(), "{name}: {:?}", decode(input));
        }
    }

    #[test]
    fn special_values_are_bit_exact() {
        let vals = [
            f64::from_bits(0x7ff0000000000002), // Prometheus stale marker.
            f64::from_bits(0x7ff8000000000001), // NaN with a payload.
            f64::from_bits(0xfff8000000000000), // Negative quiet NaN.
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE / 2.0, // Subnormal.
        ];
        let samples: Vec<_> =
            vals.iter().enumerate().map(|(i, &v)| RefSample { series_ref: i as u64, t: i as i64, v }).collect();
        let mut b = Vec::new();
        encode_samples(&samples, &mut b);
        let Ok(Record::Samples(got)) = decode(&b) else { panic!("not samples") };
        assert_eq!(sample_bits(&got), sample_bits(&samples));
    }

    fn arb_labels() -> impl Strategy<Value = Labels> {
        proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,6}", "\\PC{1,8}", 0..6)
            .prop_map(|m| Labels::new(m.into_iter().map(|(n, v)| Label::new(n, v)).collect()).unwrap())
    }

    proptest! {
        #[test]
        fn series_round_trip(
            series in proptest::collection::vec((any::<u64>(), arb_labels()), 0..20)
        ) {
            let series: Vec<RefSeries> = series
                .into_iter()
                .map(|(series_ref, labels)| RefSeries { series_ref, labels })
                .collect();
            let mut b = Vec::new();
            encode_series(&series, &mut b);
            prop_assert_eq!(decode(&b), Ok(Record::Series(series)));
        }

        #[test]
        fn samples_round_trip(
            s in proptest::collection::vec((any::<u64>(), any::<i64>(), any::<u64>()), 0..50)
        ) {
            let samples: Vec<RefSample> = s
                .iter()
                .map(|&(series_ref, t, bits)| RefSample { series_ref, t, v: f64::from_bits(bits) })
                .collect();
            let mut b = Vec::new();
            encode_samples(&samples, &mut b);
            let Ok(Record::Samples(got)) = decode(&b) else {
                return Err(TestCaseError::fail("not samples"));
            };
            prop_assert_eq!(sample_bits(&got), s);
        }

        #[test]
        fn tombstones_round_trip(
            s in proptest::collection::vec((any::<u64>(), any::<i64>(), any::<i64>()), 0..50)
        ) {
            let stones: Vec<RefTombstone> = s
                .into_iter()
                .map(|(series_ref, mint, maxt)| RefTombstone { series_ref, mint, maxt })
                .collect();
            let mut b = Vec::new();
            encode_tombstones(&stones, &mut b);
            prop_assert_eq!(decode(&b), Ok(Record::Tombstones(stones)));
        }

        #[test]
        fn exemplars_round_trip(
            e in proptest::collection::vec((any::<u64>(), any::<i64>(), any::<u64>(), arb_labels()), 0..30)
        ) {
            let exemplars: Vec<RefExemplar> = e
                .iter()
                .map(|(series_ref, t, bits, labels)| RefExemplar {
                    series_ref: *series_ref,
                    t: *t,
                    v: f64::from_bits(*bits),
                    labels: labels.clone(),
                })
                .collect();
            let mut b = Vec::new();
            encode_exemplars(&exemplars, &mut b);
            let Ok(Record::Exemplars(got)) = decode(&b) else {
                return Err(TestCaseError::fail("not exemplars"));
            };
            let bits = |x: &[RefExemplar]| -> Vec<(u64, i64, u64, Labels)> {
                x.iter().map(|x| (x.series_ref, x.t, x.v.to_bits(), x.labels.clone())).collect()
            };
            prop_assert_eq!(bits(&got), bits(&exemplars));
        }

        #[test]
        fn decode_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&b);
        }

        #[test]
        fn decode_never_panics_on_known_types(
            t in 1u8..=4,
            b in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut v = vec![t];
            v.extend_from_slice(&b);
            let _ = decode(&v);
        }
    }
}
