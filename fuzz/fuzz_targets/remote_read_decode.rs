//! Remote read requests (snappy + protobuf) answered from a small fixed database in both
//! response types: never panics, and the streamed frames carry exactly the samples of the
//! `SAMPLES` answer. The raw input is also read as a streamed response body (frame parsing
//! must not panic). The first byte's bit 0 compresses the rest first, so the fuzzer reaches
//! protobuf decoding.

#![no_main]
use cairn::model::Labels;
use cairn::remote::{codec, read};
use cairn::tsdb::{Db, Options};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// `m{i="0".."3"}` every 10 s over 2,000 s, and `other` once.
fn db() -> &'static Db {
    static DB: OnceLock<Db> = OnceLock::new();
    DB.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let db = Db::open(dir, Options { background_interval: None, ..Options::default() }).expect("open");
        let mut app = db.appender();
        for i in 0..4 {
            let l = Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]).expect("labels");
            for k in 0..200i64 {
                app.append(&l, k * 10_000, (k * i) as f64).expect("append");
            }
        }
        app.append(&Labels::from_pairs(&[("__name__", "other")]).expect("labels"), 0, 1.0).expect("append");
        app.commit().expect("commit");
        db
    })
}

type Dump = BTreeMap<(i64, String), Vec<(i64, u64)>>;

fuzz_target!(|data: &[u8]| {
    let _ = codec::decode_chunked_responses(data, 1 << 16);
    let Some((&mode, rest)) = data.split_first() else { return };
    let body = if mode & 1 != 0 { codec::snappy_encode(rest) } else { rest.to_vec() };
    let Ok(mut req) = codec::decode_read_request(&body, 1 << 20) else { return };
    req.queries.truncate(4);
    let _ = read::negotiate(&req.accepted_response_types);
    let db = db();
    let Ok(samples) = read::read_samples(db, &req, 100_000) else { return };
    let mut want = Dump::new();
    for (qi, res) in samples.results.iter().enumerate() {
        for ts in &res.timeseries {
            let key = (qi as i64, format!("{:?}", ts.labels));
            want.entry(key).or_default().extend(ts.samples.iter().map(|s| (s.timestamp, s.value.to_bits())));
        }
    }
    let mut got = Dump::new();
    let res = read::stream_chunks(db, &req, 512, |frame| {
        for msg in codec::decode_chunked_responses(&frame, usize::MAX).expect("own frame") {
            for s in msg.chunked_series {
                let e = got.entry((msg.query_index, format!("{:?}", s.labels))).or_default();
                for c in &s.chunks {
                    e.extend(codec::decode_xor_chunk(c).expect("own chunk").into_iter().map(|(t, v)| (t, v.to_bits())));
                }
            }
        }
        true
    });
    assert!(res.is_ok());
    assert_eq!(got, want);
});
