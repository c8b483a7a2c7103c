use super::*;
use crate::tsdb::chunk::XorChunk;
use crate::tsdb::chunk::testutil::{Timestamps, node_exporter_workload};
use proptest::prelude::*;

const STALE: u64 = 0x7ff0_0000_0000_0002;

fn enc(samples: &[(i64, f64)]) -> Vec<u8> {
    let mut out = Vec::new();
    encode(samples, &mut out);
    out
}

fn bits_of(samples: &[(i64, f64)]) -> Vec<(i64, u64)> {
    samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}

fn round_trip(samples: &[(i64, f64)]) -> Vec<(i64, u64)> {
    let bytes = enc(samples);
    // Decoding appends: keep a sentinel in front to check that.
    let mut out = vec![(-1, 7.0)];
    decode(&bytes, &mut out).expect("own encoding decodes");
    assert_eq!(out.first().map(|s| s.0), Some(-1));
    bits_of(&out[1..])
}

/// A table row: name, samples, the expected encoding.
type Case = (&'static str, Vec<(i64, f64)>, Vec<u8>);

#[test]
fn known_encodings() {
    // Every expected byte string was worked out by hand from docs/format/columnar.md and the
    // cost rules there.
    let cases: Vec<Case> = vec![
        ("empty", vec![], vec![0x00, 0x00]),
        // t0 = zigzag(1000) → d0 0f; exponent 0; mantissa zigzag(1) = 2; no exceptions.
        ("one sample", vec![(1000, 1.0)], vec![0x00, 0x01, 0xd0, 0x0f, 0x00, 0x02, 0x00]),
        // Delta-of-delta timestamps (Δ1 = 15000 → 98 75, dod 0) and mantissas (2, 2, 0).
        (
            "linear counter",
            vec![(0, 1.0), (15_000, 2.0), (30_000, 3.0)],
            vec![0x10, 0x03, 0x00, 0x98, 0x75, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00],
        ),
        // Grid step 15000 with residuals 3, −2, 1 (zigzag 6, 3, 2); all-zero mantissas.
        (
            "jittered grid",
            vec![(0, 0.0), (15_003, 0.0), (29_998, 0.0), (45_001, 0.0)],
            vec![0x01, 0x04, 0x00, 0x98, 0x75, 0x06, 0x03, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
        ),
        // Exponent −2 (zigzag 3); mantissas 25, 50, 150 as 25, +25, +100 (zigzag 200 → c8 01).
        (
            "two decimals",
            vec![(0, 0.25), (1, 0.5), (2, 1.5)],
            vec![0x00, 0x03, 0x00, 0x01, 0x00, 0x03, 0x32, 0x32, 0xc8, 0x01, 0x00],
        ),
        // The stale marker is an exception at position 1; its mantissa repeats 5.
        (
            "stale exception",
            vec![(0, 5.0), (10, f64::from_bits(STALE))],
            vec![0x00, 0x02, 0x00, 0x0a, 0x00, 0x0a, 0x00, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f],
        ),
        // 0.1 + 0.2 needs 17 digits, beyond 2^53: XOR scheme, 64 raw bits.
        ("xor fallback", vec![(0, 0.1 + 0.2)], vec![0x20, 0x01, 0x00, 0x3f, 0xd3, 0x33, 0x33, 0x33, 0x33, 0x33, 0x34]),
    ];
    for (name, samples, want) in cases {
        assert_eq!(enc(&samples), want, "{name}: encoding");
        let mut got = Vec::new();
        decode(&want, &mut got).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(bits_of(&got), bits_of(&samples), "{name}: decoding");
    }
}

#[test]
fn decimal_conversion() {
    let cases: &[(f64, Option<(i64, i32)>)] = &[
        (0.0, Some((0, 0))),
        (-0.0, None),
        (42.0, Some((42, 0))),
        (-7.0, Some((-7, 0))),
        (0.1, Some((1, -1))),
        (0.25, Some((25, -2))),
        (-1234.5678, Some((-12_345_678, -4))),
        (1e20, Some((1_000_000_000_000_000, 5))),
        (std::f64::consts::PI, Some((3_141_592_653_589_793, -15))),
        (0.1 + 0.2, None),
        (f64::NAN, None),
        (f64::INFINITY, None),
        (f64::from_bits(1), None),
    ];
    for &(v, want) in cases {
        assert_eq!(to_decimal(v), want, "{v:?}");
        if let Some((m, e)) = want {
            assert_eq!(from_decimal(m, e).to_bits(), v.to_bits(), "{v:?}");
        }
    }
}

#[test]
fn special_values_round_trip() {
    let specials = [
        f64::NAN.to_bits(),
        STALE,
        0xfff8_0000_0000_0001,
        f64::INFINITY.to_bits(),
        f64::NEG_INFINITY.to_bits(),
        (-0.0f64).to_bits(),
        1,
    ];
    let runs: Vec<Vec<(i64, f64)>> = vec![
        // Only specials: XOR scheme.
        specials.iter().enumerate().map(|(i, &b)| (i as i64, f64::from_bits(b))).collect(),
        // A counter ending in a stale marker, and one with each special sprinkled in.
        (0..100).map(|i| (i * 15_000, if i == 99 { f64::from_bits(STALE) } else { i as f64 })).collect(),
        (0..100)
            .map(|i| {
                let v = if i % 15 == 3 { f64::from_bits(specials[i as usize / 15]) } else { i as f64 / 4.0 };
                (i * 15_000, v)
            })
            .collect(),
    ];
    for run in runs {
        assert_eq!(round_trip(&run), bits_of(&run));
    }
    // The counter with a stale marker stays on the decimal scheme.
    let run: Vec<(i64, f64)> =
        (0..100).map(|i| (i * 15_000, if i == 99 { f64::from_bits(STALE) } else { i as f64 })).collect();
    assert_eq!(enc(&run)[0] >> 4, V_DEC_DOD);
}

#[test]
fn extreme_timestamps() {
    let cases: Vec<Vec<i64>> = vec![
        vec![i64::MIN, 0, i64::MAX],
        vec![i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX],
        vec![-(1 << 62), 0, 1 << 62],
        vec![-45_000, -30_000, -15_000, 0, 15_000],
        // A grid with a gap of several missed scrapes.
        vec![0, 15_001, 30_000, 105_002, 120_000, 134_999, 150_000],
    ];
    for ts in cases {
        let run: Vec<(i64, f64)> = ts.iter().map(|&t| (t, 1.0)).collect();
        assert_eq!(round_trip(&run), bits_of(&run), "{ts:?}");
    }
}

#[test]
fn malformed_inputs_are_errors() {
    let good = enc(&[(0, 1.0), (15_000, 2.0), (30_000, 3.0)]);
    let mut trailing = good.clone();
    trailing.push(0);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty input", vec![]),
        ("unknown timestamp scheme", vec![0x02, 0x00]),
        ("unknown value scheme", vec![0x30, 0x00]),
        ("trailing bytes", trailing),
        ("zero delta", vec![0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]),
        ("exponent 23", vec![0x00, 0x01, 0x00, 0x2e, 0x00, 0x00]),
        ("exception past the end", vec![0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("more exceptions than samples", vec![0x00, 0x01, 0x00, 0x00, 0x00, 0x02]),
        ("grid step 0", vec![0x01, 0x03, 0x00, 0x00, 0x00, 0x00]),
        ("forged count", vec![0x00, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]),
    ];
    for (name, bytes) in cases {
        let mut out = vec![(1, 1.0)];
        assert!(decode(&bytes, &mut out).is_err(), "{name}");
        assert_eq!(out.len(), 1, "{name}: output changed on error");
    }
    for cut in 0..good.len() {
        let mut out = Vec::new();
        assert!(decode(&good[..cut], &mut out).is_err(), "cut {cut}");
        assert!(out.is_empty());
    }
}

#[test]
fn decode_prefix_splits_concatenated_runs() {
    let runs: Vec<Vec<(i64, f64)>> = vec![vec![], vec![(5, 0.5)], vec![(1, 1.0), (2, f64::NAN), (3, 3.0)]];
    let mut bytes = Vec::new();
    for run in &runs {
        encode(run, &mut bytes);
    }
    let mut rest = &bytes[..];
    for run in &runs {
        let mut out = Vec::new();
        let used = decode_prefix(rest, &mut out).expect("valid run");
        assert_eq!(bits_of(&out), bits_of(run));
        rest = &rest[used..];
    }
    assert!(rest.is_empty());
}

/// Packs encoded runs into pages of at most 64 KiB (a run never splits) and returns the
/// total zstd level-3 compressed size.
fn paged_zstd_size(runs: impl IntoIterator<Item = Vec<u8>>) -> usize {
    const PAGE: usize = 64 << 10;
    let mut total = 0;
    let mut page = Vec::with_capacity(PAGE);
    let mut flush = |page: &mut Vec<u8>| {
        if !page.is_empty() {
            total += zstd::bulk::compress(page, 3).expect("zstd compresses").len();
            page.clear();
        }
    };
    for run in runs {
        if page.len() + run.len() > PAGE {
            flush(&mut page);
        }
        page.extend_from_slice(&run);
    }
    flush(&mut page);
    total
}

#[test]
fn density_on_node_exporter_workload() {
    for (mode, bound) in [(Timestamps::SharedScrape, 1.0), (Timestamps::IndependentJitter, 1.5)] {
        let workload = node_exporter_workload(42, 1000, 480, mode);
        let samples: usize = workload.iter().map(Vec::len).sum();
        let started = std::time::Instant::now();
        let runs: Vec<Vec<u8>> = workload.iter().map(|s| enc(s)).collect();
        let encode_ns = started.elapsed().as_nanos() as f64 / samples as f64;
        let started = std::time::Instant::now();
        let mut decoded = Vec::with_capacity(480);
        for (run, series) in runs.iter().zip(&workload) {
            decoded.clear();
            decode(run, &mut decoded).expect("own encoding decodes");
            assert_eq!(decoded.len(), series.len());
        }
        let decode_ns = started.elapsed().as_nanos() as f64 / samples as f64;
        let raw: usize = runs.iter().map(Vec::len).sum();
        let columnar = paged_zstd_size(runs) as f64 / samples as f64;
        let xor_chunks: Vec<Vec<u8>> = workload
            .iter()
            .flat_map(|s| s.chunks(120))
            .map(|c| {
                let mut x = XorChunk::new();
                c.iter().for_each(|&(t, v)| x.append(t, v));
                x.bytes().to_vec()
            })
            .collect();
        let xor_raw: usize = xor_chunks.iter().map(Vec::len).sum();
        let xor_zstd = paged_zstd_size(xor_chunks) as f64 / samples as f64;
        println!(
            "{mode:?}: columnar {:.3} B/sample raw, {columnar:.3} B/sample zstd; \
             xor {:.3} B/sample raw, {xor_zstd:.3} B/sample zstd; \
             encode {encode_ns:.1} ns/sample, decode {decode_ns:.1} ns/sample",
            raw as f64 / samples as f64,
            xor_raw as f64 / samples as f64,
        );
        assert!(columnar < bound, "{mode:?}: {columnar} bytes/sample");
        assert!(columnar < xor_zstd, "{mode:?}: columnar should beat XOR");
    }
}

fn increasing_run() -> impl Strategy<Value = Vec<(i64, f64)>> {
    let delta = prop_oneof![1u64..=3, 14_995u64..=15_005, 1u64..=1 << 20, any::<u64>().prop_map(|d| d >> 1 | 1),];
    let value = prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        (-1000i64..1000).prop_map(|i| i as f64),
        (-100_000i64..100_000).prop_map(|i| i as f64 / 100.0),
        prop::sample::select(vec![f64::NAN, f64::from_bits(STALE), f64::INFINITY, -0.0, 0.0]),
    ];
    // Decimal-friendly runs (counters and gauges) and arbitrary ones.
    let values = prop_oneof![
        proptest::collection::vec(value.clone(), 0..300),
        (0i64..1 << 40, proptest::collection::vec(0i64..20, 0..300)).prop_map(|(start, incs)| {
            let mut v = start;
            incs.into_iter()
                .map(|i| {
                    v += i;
                    v as f64
                })
                .collect()
        }),
    ];
    (any::<i64>(), values, proptest::collection::vec(delta, 300)).prop_map(|(t0, values, deltas)| {
        let mut t = t0;
        let mut out = Vec::new();
        for (v, d) in values.into_iter().zip(deltas) {
            if !out.is_empty() {
                match t.checked_add_unsigned(d) {
                    Some(next) => t = next,
                    None => break,
                }
            }
            out.push((t, v));
        }
        out
    })
}

proptest! {
    #[test]
    fn advance_grid_matches_exact_arithmetic(
        g in any::<i64>(),
        step in prop_oneof![1i64..100_000, 1i64..=i64::MAX],
        r in prop_oneof![-100_000i64..100_000, any::<i64>()],
    ) {
        // The definition from docs/format/columnar.md, in 128 bits, wrapped to 64.
        let (gw, sw, rw) = (i128::from(g), i128::from(step), i128::from(r));
        let exact = (gw + (1 + (rw + sw / 2).div_euclid(sw)) * sw) as i64;
        prop_assert_eq!(advance_grid(g, step, r), exact);
    }

    #[test]
    fn round_trips_exactly(run in increasing_run()) {
        prop_assert_eq!(round_trip(&run), bits_of(&run));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut out = vec![(0, 0.0)];
        match decode(&bytes, &mut out) {
            Ok(()) => prop_assert!(out[1..].windows(2).all(|w| w[0].0 < w[1].0)),
            Err(_) => prop_assert_eq!(out.len(), 1),
        }
    }

    #[test]
    fn mutated_encodings_never_panic(run in increasing_run(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        let mut bytes = enc(&run);
        for (pos, x) in flips {
            let len = bytes.len();
            bytes[pos % len] ^= x;
        }
        let mut out = Vec::new();
        let _ = decode(&bytes, &mut out);
    }
}
