//! Remote write bodies (snappy + protobuf, 1.0 and 2.0) through decoding, validation and a
//! write into a scratch database: never panics, decoded requests re-encode to themselves, the
//! borrowed 1.0 decoder agrees with prost, and a write never claims more samples than the
//! request carried.
//!
//! The first byte chooses: bit 0, 2.0 instead of 1.0; bit 1, compress the rest first (so the
//! fuzzer reaches protobuf decoding and validation) instead of taking it as a snappy block.

#![no_main]
use cairn::remote::flat_v1::FlatWrite;
use cairn::remote::{Remote, codec, write};
use cairn::tsdb::{Db, Options};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const NOW: i64 = 1_700_000_000_000;

fn db() -> &'static (Db, Remote) {
    static DB: OnceLock<(Db, Remote)> = OnceLock::new();
    DB.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let db = Db::open(dir, Options { background_interval: None, ..Options::default() }).expect("open");
        (db, Remote::default())
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let body = if mode & 2 != 0 { codec::snappy_encode(rest) } else { rest.to_vec() };
    let max = 1 << 20;
    let (db, remote) = db();
    if mode & 1 == 0 {
        // The borrowed decoder (the receiver's fast path) accepts only what prost accepts,
        // with the same content.
        let raw = codec::snappy_decode(&body, max);
        let flat = raw.as_deref().map(FlatWrite::decode);
        let Ok(req) = codec::decode_write_request(&body, max) else {
            assert!(!matches!(flat, Ok(Ok(_))), "the borrowed decoder took a body prost refuses");
            return;
        };
        if let Ok(Ok(f)) = &flat {
            assert_eq!(format!("{f:?}"), format!("{:?}", FlatWrite::from_request(&req)));
        }
        let again = codec::decode_write_request(&codec::encode_write_request(&req), usize::MAX).expect("re-decode");
        assert_eq!(format!("{again:?}"), format!("{req:?}"));
        let total: usize = req.timeseries.iter().map(|t| t.samples.len()).sum();
        if let Ok(stats) = write::write_v1(db, remote, req, NOW) {
            assert!(stats.samples as usize <= total);
        }
    } else {
        let Ok(req) = codec::decode_write_request_v2(&body, max) else { return };
        let again = codec::decode_write_request_v2(&codec::encode_write_request_v2(&req), usize::MAX).expect("re-decode");
        assert_eq!(format!("{again:?}"), format!("{req:?}"));
        let total: usize = req.timeseries.iter().map(|t| t.samples.len()).sum();
        let (stats, err) = write::write_v2(db, remote, req, NOW);
        assert!(stats.samples as usize <= total);
        if let Some(e) = err {
            assert!(e.status() == 400 || stats.samples == 0, "a storage failure writes nothing");
        }
    }
});
