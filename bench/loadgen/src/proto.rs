//! A hand-written encoder for the few protobuf messages of Prometheus remote write 1.0.
//!
//! The wire shapes (field numbers and types are facts of the protocol):
//!
//! ```text
//! WriteRequest { repeated TimeSeries timeseries = 1; }
//! TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//! Label        { string name = 1; string value = 2; }
//! Sample       { double value = 1; int64 timestamp = 2; }
//! ```
//!
//! A `WriteRequest` is nothing but its `TimeSeries` fields one after the other, so a request
//! body is built by appending [`encode_series`] outputs to one buffer. Labels are encoded once
//! per series ([`encode_label`]) and the bytes are reused for every sample.

/// The tag of a length-delimited field 1 (`TimeSeries.labels`, `WriteRequest.timeseries`,
/// `Label.name`).
const TAG_1_LEN: u8 = 0x0a;
/// The tag of a length-delimited field 2 (`TimeSeries.samples`, `Label.value`).
const TAG_2_LEN: u8 = 0x12;
/// The tag of `Sample.value`: field 1, wire type 1 (64-bit).
const TAG_SAMPLE_VALUE: u8 = 0x09;
/// The tag of `Sample.timestamp`: field 2, wire type 0 (varint).
const TAG_SAMPLE_TS: u8 = 0x10;

/// Appends `v` as a protobuf base-128 varint.
pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// The number of bytes [`put_varint`] writes for `v`.
pub fn varint_len(v: u64) -> usize {
    // One byte per started group of 7 bits; zero still takes one byte.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends one `TimeSeries.labels` entry (tag, length and the `Label` message).
pub fn encode_label(buf: &mut Vec<u8>, name: &str, value: &str) {
    let inner = 1 + varint_len(name.len() as u64) + name.len() + 1 + varint_len(value.len() as u64) + value.len();
    buf.push(TAG_1_LEN);
    put_varint(buf, inner as u64);
    buf.push(TAG_1_LEN);
    put_varint(buf, name.len() as u64);
    buf.extend_from_slice(name.as_bytes());
    buf.push(TAG_2_LEN);
    put_varint(buf, value.len() as u64);
    buf.extend_from_slice(value.as_bytes());
}

/// The encoded size of one `Sample` message (without its own tag and length).
fn sample_len(t: i64) -> usize {
    1 + 8 + 1 + varint_len(t as u64)
}

/// Appends one `WriteRequest.timeseries` entry: the series' pre-encoded label entries (the
/// concatenation of `parts`, each made by [`encode_label`]) and its samples, oldest first.
/// `int64` timestamps are encoded as the two's-complement varint protobuf prescribes.
pub fn encode_series(buf: &mut Vec<u8>, parts: &[&[u8]], samples: &[(i64, f64)]) {
    let labels: usize = parts.iter().map(|p| p.len()).sum();
    let samples_len: usize = samples.iter().map(|&(t, _)| 1 + 1 + sample_len(t)).sum();
    buf.push(TAG_1_LEN);
    put_varint(buf, (labels + samples_len) as u64);
    for p in parts {
        buf.extend_from_slice(p);
    }
    for &(t, v) in samples {
        buf.push(TAG_2_LEN);
        // A sample is at most 1 + 8 + 1 + 10 = 20 bytes, so its length fits one varint byte.
        buf.push(sample_len(t) as u8);
        buf.push(TAG_SAMPLE_VALUE);
        buf.extend_from_slice(&v.to_bits().to_le_bytes());
        buf.push(TAG_SAMPLE_TS);
        put_varint(buf, t as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        // Expected bytes from the protobuf encoding rules: 7 bits per byte, least significant
        // group first, high bit set on every byte but the last (300 = 0b10_0101100).
        let cases: &[(u64, &[u8])] = &[
            (0, &[0x00]),
            (1, &[0x01]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (300, &[0xac, 0x02]),
            (u64::MAX, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        ];
        for &(v, want) in cases {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(buf, want, "varint of {v}");
            assert_eq!(varint_len(v), want.len(), "varint_len of {v}");
        }
    }

    #[test]
    fn one_series_by_hand() {
        // Label{name:"a", value:"bc"}: 0a 01 'a' 12 02 'b' 'c' (7 bytes), as a TimeSeries
        // field 1: 0a 07 + those 7 bytes.
        let mut label = Vec::new();
        encode_label(&mut label, "a", "bc");
        assert_eq!(label, [0x0a, 0x07, 0x0a, 0x01, b'a', 0x12, 0x02, b'b', b'c']);

        // Sample{value: 1.0, timestamp: 1000}: 09 + 1.0 as little-endian IEEE 754
        // (00 00 00 00 00 00 f0 3f) + 10 + varint(1000) = e8 07; 12 bytes in all.
        let mut buf = Vec::new();
        encode_series(&mut buf, &[&label], &[(1000, 1.0)]);
        let mut want = vec![0x0a, 9 + 2 + 12];
        want.extend_from_slice(&label);
        want.extend_from_slice(&[0x12, 12, 0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x10, 0xe8, 0x07]);
        assert_eq!(buf, want);
    }

    #[test]
    fn negative_timestamp_takes_ten_bytes() {
        // int64 -1 is encoded as the varint of its two's complement: ten bytes.
        let mut buf = Vec::new();
        encode_series(&mut buf, &[], &[(-1, 0.0)]);
        assert_eq!(buf[1] as usize, 2 + 1 + 8 + 1 + 10);
        assert_eq!(buf.len(), 2 + 2 + 20);
        assert_eq!(&buf[buf.len() - 10..], &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    }
}
