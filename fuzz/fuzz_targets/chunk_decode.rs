//! Feeds arbitrary bytes to both sample decoders: neither may panic, and whatever decodes must
//! have strictly increasing timestamps.
#![no_main]
use cairn::tsdb::chunk::{XorIterator, columnar};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut it = XorIterator::new(data);
    let samples: Vec<(i64, f64)> = it.by_ref().collect();
    assert!(samples.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(samples.len() <= it.num_samples());
    if samples.len() < it.num_samples() {
        assert!(it.err().is_some());
    }

    let mut out = vec![(i64::MIN, 0.0)];
    match columnar::decode(data, &mut out) {
        Ok(()) => assert!(out[1..].windows(2).all(|w| w[0].0 < w[1].0)),
        Err(_) => assert_eq!(out.len(), 1),
    }
    let mut prefix = Vec::new();
    if let Ok(used) = columnar::decode_prefix(data, &mut prefix) {
        assert!(used <= data.len());
    }
});
