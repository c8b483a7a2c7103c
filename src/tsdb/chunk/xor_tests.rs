use super::*;
use proptest::prelude::*;

fn encode(samples: &[(i64, f64)]) -> XorChunk {
    let mut c = XorChunk::new();
    for &(t, v) in samples {
        c.append(t, v);
    }
    c
}

fn bits_of(samples: &[(i64, f64)]) -> Vec<(i64, u64)> {
    samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}

fn decode_all(bytes: &[u8]) -> (Vec<(i64, f64)>, Option<ChunkError>) {
    let mut it = XorIterator::new(bytes);
    let got: Vec<_> = it.by_ref().collect();
    (got, it.err().cloned())
}

const Z8: [u8; 8] = [0; 8];

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A table row: name, samples, the expected encoding.
type Case = (&'static str, Vec<(i64, f64)>, Vec<u8>);

#[test]
fn known_encodings() {
    // Every expected byte string was worked out by hand from docs/format/xor.md.
    let one = [0x3f, 0xf0, 0, 0, 0, 0, 0, 0];
    let cases: Vec<Case> = vec![
        ("empty", vec![], vec![0x00, 0x00]),
        // zigzag(1000) = 2000 → d0 0f.
        ("one sample", vec![(1000, 1.0)], cat(&[&[0, 1, 0xd0, 0x0f], &one])),
        // zigzag(−1) = 1.
        ("negative t0", vec![(-1, 0.0)], cat(&[&[0, 1, 0x01], &Z8])),
        // Δ1 = 1000 → e8 07, then a single 0 bit for the repeated value.
        ("two samples", vec![(1000, 1.0), (2000, 1.0)], cat(&[&[0, 2, 0xd0, 0x0f], &one, &[0xe8, 0x07, 0x00]])),
        // Bits 0 | 0 | 11 00001 001011 11111111111 → 30 97 ff c0.
        (
            "three samples",
            vec![(1000, 1.0), (2000, 1.0), (3000, 2.0)],
            cat(&[&[0, 3, 0xd0, 0x0f], &one, &[0xe8, 0x07, 0x30, 0x97, 0xff, 0xc0]]),
        ),
        // dod = 10: bits 0 (v1) | 10 00000000001010 | 0 (v2), 18 bits:
        // 01000000 00000101 00(pad) → 40 05 00.
        ("dod +10", vec![(0, 0.0), (10, 0.0), (30, 0.0)], cat(&[&[0, 3, 0x00], &Z8, &[0x0a, 0x40, 0x05, 0x00]])),
        // dod = −5: field 2^14 − 5 = 11111111111011; bits 0 | 10 11111111111011 | 0.
        ("dod -5", vec![(0, 0.0), (10, 0.0), (15, 0.0)], cat(&[&[0, 3, 0x00], &Z8, &[0x0a, 0x5f, 0xfd, 0x80]])),
        // dod = 2^20 (just outside the 20-bit range): bits 0 | 1111 <64-bit 2^20> | 0.
        // 0 1111 then 43 zero bits, a one at stream bit 48, 20 zeros, the value 0 bit, pad.
        (
            "dod 64-bit bucket",
            vec![(0, 0.0), (1, 0.0), (2 + (1 << 20), 0.0)],
            cat(&[&[0, 3, 0x00], &Z8, &[0x01, 0x78, 0, 0, 0, 0, 0, 0x80, 0, 0]]),
        ),
        // 1.0 → 1.5: x = 0x0008_0000_0000_0000, clz 12, ctz 51, sig 1, a new window:
        // 11 01100 000001 1. Then 1.5 → 1.0 (same x) after dod 0 reuses it: 0 | 10 1.
        // Stream: 11011000 00001101 01(pad) → d8 0d 40.
        ("window reuse", vec![(0, 1.0), (1, 1.5), (2, 1.0)], cat(&[&[0, 3, 0x00], &one, &[0x01, 0xd8, 0x0d, 0x40]])),
    ];
    for (name, samples, want) in cases {
        let c = encode(&samples);
        assert_eq!(c.bytes(), &want[..], "{name}: encoding");
        let (got, err) = decode_all(&want);
        assert_eq!(err, None, "{name}");
        assert_eq!(bits_of(&got), bits_of(&samples), "{name}: decoding");
    }
}

#[test]
fn dod_buckets_follow_bit_range() {
    let cases: &[(i64, u32)] = &[
        (0, 0),
        (1, 14),
        (-1, 14),
        (8192, 14),
        (-8191, 14),
        (-8192, 17),
        (8193, 17),
        (65536, 17),
        (-65535, 17),
        (65537, 20),
        (-65536, 20),
        (524288, 20),
        (-524287, 20),
        (524289, 64),
        (-524288, 64),
        (i64::MIN, 64),
        (i64::MAX, 64),
    ];
    for &(dod, want) in cases {
        assert_eq!(dod_bucket(dod).2, want, "dod {dod}");
        // Each boundary value must also survive the round trip through its bucket.
        let samples = [(0, 0.0), (1_000_000, 0.0), (2_000_000i64.wrapping_add(dod), 0.0)];
        if samples[2].0 > samples[1].0 {
            let (got, err) = decode_all(encode(&samples).bytes());
            assert_eq!(err, None, "dod {dod}");
            assert_eq!(bits_of(&got), bits_of(&samples), "dod {dod}");
        }
    }
}

#[test]
fn special_values_round_trip_bit_exact() {
    let specials = [
        f64::NAN.to_bits(),
        0x7ff0_0000_0000_0002, // stale marker
        0xfff8_0000_0000_0001, // negative NaN with payload
        0x7ff0_0000_0000_0001, // signalling NaN
        f64::INFINITY.to_bits(),
        f64::NEG_INFINITY.to_bits(),
        (-0.0f64).to_bits(),
        0.0f64.to_bits(),
        1, // smallest subnormal
        f64::MAX.to_bits(),
        f64::MIN.to_bits(),
    ];
    let samples: Vec<(i64, f64)> = specials
        .iter()
        .chain(specials.iter().rev())
        .enumerate()
        .map(|(i, &b)| (i as i64 * 15_000 - 7, f64::from_bits(b)))
        .collect();
    let (got, err) = decode_all(encode(&samples).bytes());
    assert_eq!(err, None);
    assert_eq!(bits_of(&got), bits_of(&samples));
}

#[test]
fn extreme_timestamps() {
    let cases: Vec<(&str, Vec<i64>)> = vec![
        ("full range", vec![i64::MIN, 0, i64::MAX]),
        ("huge deltas", vec![-(1 << 62), 0, 1 << 62, (1 << 62) + 1]),
        ("min then max", vec![i64::MIN, i64::MAX]),
        ("tiny deltas", vec![i64::MAX - 3, i64::MAX - 2, i64::MAX - 1, i64::MAX]),
        ("negative", vec![-50_000, -35_000, -20_001, -5_000, 10_000]),
    ];
    for (name, ts) in cases {
        let samples: Vec<(i64, f64)> = ts.iter().map(|&t| (t, t as f64)).collect();
        let c = encode(&samples);
        assert_eq!(c.first_time(), Some(ts[0]), "{name}");
        assert_eq!(c.last().map(|s| s.0), ts.last().copied(), "{name}");
        let (got, err) = decode_all(c.bytes());
        assert_eq!(err, None, "{name}");
        assert_eq!(bits_of(&got), bits_of(&samples), "{name}");
    }
}

fn mixed_samples() -> Vec<(i64, f64)> {
    let mut s = Vec::new();
    let mut t = -40_000i64;
    for i in 0..60i64 {
        t += 15_000 + (i * 7919 % 11) - 5;
        if i == 30 {
            t += 1 << 40;
        }
        let v = match i % 6 {
            0 => i as f64,
            1 => f64::from_bits(0x7ff0_0000_0000_0002),
            2 => 0.1 * i as f64,
            3 => -0.0,
            _ => 1e300 / (i as f64),
        };
        s.push((t, v));
    }
    s
}

#[test]
fn truncation_yields_a_prefix() {
    let samples = mixed_samples();
    let c = encode(&samples);
    let bytes = c.bytes();
    let want = bits_of(&samples);
    for cut in 0..bytes.len() {
        let (got, err) = decode_all(&bytes[..cut]);
        let got = bits_of(&got);
        assert!(got.len() < want.len(), "cut {cut}: decoded everything from a truncated chunk");
        assert_eq!(got[..], want[..got.len()], "cut {cut}");
        assert!(matches!(err, Some(ChunkError::Truncated(_))), "cut {cut}: {err:?}");
    }
    let (got, err) = decode_all(bytes);
    assert_eq!((bits_of(&got), err), (want, None));
}

#[test]
fn header_is_authoritative() {
    let samples = mixed_samples();
    let mut bytes = encode(&samples).bytes().to_vec();
    // Declare fewer samples: exactly that many decode, the rest of the stream is ignored.
    bytes[..2].copy_from_slice(&10u16.to_be_bytes());
    let (got, err) = decode_all(&bytes);
    assert_eq!(err, None);
    assert_eq!(bits_of(&got), bits_of(&samples[..10]));
    // Trailing garbage after the declared samples does not matter either.
    bytes.extend_from_slice(&[0xff; 5]);
    assert_eq!(decode_all(&bytes).0.len(), 10);
}

#[test]
fn corrupt_inputs_are_reported() {
    let mut overlong = vec![0, 1];
    overlong.extend_from_slice(&[0xff; 10]);
    overlong.extend_from_slice(&[0x01; 9]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("overlong varint", overlong),
        // Δ1 = 0: the second timestamp does not increase.
        ("zero delta", cat(&[&[0, 2, 0x00], &Z8, &[0x00, 0x00]])),
        // Value window with leading 31 and 0 (= 64) significant bits.
        ("window over 64 bits", cat(&[&[0, 2, 0x00], &Z8, &[0x01, 0xff, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0]])),
    ];
    for (name, bytes) in cases {
        let (_, err) = decode_all(&bytes);
        assert!(matches!(err, Some(ChunkError::Corrupt(_))), "{name}: {err:?}");
    }
    assert!(matches!(decode_all(&[0x00]).1, Some(ChunkError::Truncated(_))));
}

#[test]
fn from_bytes_continues_appending() {
    let samples = mixed_samples();
    let whole = encode(&samples);
    for split in [0, 1, 2, 3, 17, samples.len()] {
        let mut part = encode(&samples[..split]);
        part = XorChunk::from_bytes(part.bytes()).expect("valid chunk");
        for &(t, v) in &samples[split..] {
            part.append(t, v);
        }
        assert_eq!(part.bytes(), whole.bytes(), "split {split}");
    }
    // Garbage after the last sample (in the padding bits and beyond) is dropped before
    // appending continues. Only splits whose last byte has padding can test the first part.
    let mut padded_cases = 0;
    for split in 1..12 {
        let clean = encode(&samples[..split]).bytes().to_vec();
        let mut dirty = clean.clone();
        if let Some(last) = dirty.last_mut() {
            *last |= 0x01;
        }
        if bits_of(&decode_all(&dirty).0) != bits_of(&samples[..split]) {
            // The flipped bit was data, not padding: keep only the trailing garbage byte.
            dirty = clean;
        } else {
            padded_cases += 1;
        }
        dirty.push(0xaa);
        let mut c = XorChunk::from_bytes(&dirty).expect("valid chunk");
        for &(t, v) in &samples[split..] {
            c.append(t, v);
        }
        assert_eq!(c.bytes(), whole.bytes(), "dirty split {split}");
    }
    assert!(padded_cases > 0);
}

#[test]
fn saved_state_continues_appending_like_decoding() {
    let samples = mixed_samples();
    let whole = encode(&samples);
    for split in [0, 1, 2, 3, 17, 40, samples.len()] {
        let part = encode(&samples[..split]);
        let mut state = Vec::new();
        part.put_state(&mut state);
        let mut r = varint::ByteReader::new(&state);
        let mut c = XorChunk::from_state(part.bytes(), &mut r).expect("valid state");
        assert!(r.remaining().is_empty(), "split {split}: state not read whole");
        assert_eq!(c.first_time(), part.first_time(), "split {split}");
        assert_eq!(c.last().map(|(t, v)| (t, v.to_bits())), part.last().map(|(t, v)| (t, v.to_bits())));
        for &(t, v) in &samples[split..] {
            c.append(t, v);
        }
        assert_eq!(c.bytes(), whole.bytes(), "split {split}");
    }
}

#[test]
fn damaged_state_is_refused_or_harmless() {
    let samples = mixed_samples();
    let part = encode(&samples[..20]);
    let mut state = Vec::new();
    part.put_state(&mut state);
    // Every single-byte change and every truncation: refused, or a chunk that still takes
    // appends and iterates without panicking.
    for i in 0..state.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = state.clone();
            bad[i] ^= flip;
            if let Ok(mut c) = XorChunk::from_state(part.bytes(), &mut varint::ByteReader::new(&bad)) {
                for &(t, v) in &samples[20..] {
                    c.append(t, v);
                }
                let _ = c.iter().count();
            }
        }
        assert!(XorChunk::from_state(part.bytes(), &mut varint::ByteReader::new(&state[..i])).is_err(), "cut at {i}");
    }
    // A state whose window cannot exist, and bytes that do not match the sample count.
    let mut wide = state.clone();
    let n = wide.len();
    (wide[n - 2], wide[n - 1]) = (31, 40);
    assert!(XorChunk::from_state(part.bytes(), &mut varint::ByteReader::new(&wide)).is_err());
    assert!(XorChunk::from_state(&[0, 0], &mut varint::ByteReader::new(&state)).is_err());
    assert!(XorChunk::from_state(&[0], &mut varint::ByteReader::new(&state)).is_err());
}

#[test]
fn seek_finds_first_at_or_after() {
    let samples = mixed_samples();
    let c = encode(&samples);
    for (i, &(t, _)) in samples.iter().enumerate() {
        let mut it = c.iter();
        assert_eq!(it.seek(t).map(|s| s.0), Some(t));
        assert_eq!(it.seek(t + 1).map(|s| s.0), samples.get(i + 1).map(|s| s.0));
    }
    assert_eq!(c.iter().seek(i64::MAX), None);
}

#[test]
fn counter_density() {
    // A 120-sample counter at 15 s spacing: 1–2 bytes per sample.
    let mut c = XorChunk::new();
    let mut v = 1_234_567.0;
    for i in 0..120i64 {
        v += ((i * 37) % 11) as f64;
        c.append(1_700_000_000_000 + i * 15_000, v);
    }
    let per = c.bytes().len() as f64 / 120.0;
    assert!((1.0..=2.0).contains(&per), "{per} bytes/sample");
    assert!(c.heap_size() >= c.bytes().len());
    c.shrink_to_fit();
    assert_eq!(c.heap_size(), c.bytes().len());
}

fn increasing_samples() -> impl Strategy<Value = Vec<(i64, u64)>> {
    let delta = prop_oneof![
        1u64..=3,
        14_990u64..=15_010,
        1u64..=1 << 20,
        any::<u64>().prop_map(|d| d >> 1 | 1),
        Just(1u64 << 62),
    ];
    (any::<i64>(), proptest::collection::vec((delta, any::<u64>()), 0..200)).prop_map(|(t0, steps)| {
        let mut t = t0;
        let mut out = Vec::new();
        for (d, v) in steps {
            // Stop at the end of the i64 range rather than wrap.
            match t.checked_add_unsigned(d) {
                Some(next) if !out.is_empty() => t = next,
                _ if out.is_empty() => {}
                _ => break,
            }
            out.push((t, v));
        }
        out
    })
}

proptest! {
    #[test]
    fn round_trip(samples in increasing_samples()) {
        let samples: Vec<(i64, f64)> = samples.into_iter().map(|(t, b)| (t, f64::from_bits(b))).collect();
        let c = encode(&samples);
        let (got, err) = decode_all(c.bytes());
        prop_assert_eq!(err, None);
        prop_assert_eq!(bits_of(&got), bits_of(&samples));
        prop_assert_eq!(c.num_samples(), samples.len());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut it = XorIterator::new(&bytes);
        let mut prev = None;
        for (t, _) in it.by_ref() {
            if let Some(p) = prev {
                prop_assert!(t > p);
            }
            prev = Some(t);
        }
        let _ = it.err();
    }
}
