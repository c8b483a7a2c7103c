//! Fuzzes WAL replay and record decoding with arbitrary file contents.
//!
//! The input is also decoded as one record: decoding must not panic, and re-encoding a
//! decoded record must be a fixed point of decode-then-encode. Then, by the first byte's top
//! bit, either:
//!
//! * raw mode: the rest becomes two segment files (split at a point chosen by the first
//!   byte). Replay must not panic; after its repair a second replay must find no corruption
//!   and deliver the same records; or
//! * framed mode: the rest is a list of `[n: u8][n bytes]` payloads written with `Wal::log`
//!   (valid frames, tiny segments), so the fuzzer reaches record decoding inside replay.
//!   Replay must deliver exactly the payloads before the first undecodable one, skipping
//!   unknown types, and report a corruption iff there is an undecodable one.

#![no_main]
use cairn::tsdb::wal::record::{self, Record};
use cairn::tsdb::wal::{Wal, WalOptions, replay};
use libfuzzer_sys::fuzz_target;

fn encode(rec: &Record) -> Option<Vec<u8>> {
    let mut b = Vec::new();
    match rec {
        Record::Series(s) => record::encode_series(s, &mut b),
        Record::Samples(s) => record::encode_samples(s, &mut b),
        Record::Tombstones(s) => record::encode_tombstones(s, &mut b),
        Record::Exemplars(e) => record::encode_exemplars(e, &mut b),
        Record::Unknown(_) => return None,
    }
    Some(b)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(rec) = record::decode(data)
        && let Some(enc1) = encode(&rec)
    {
        let again = record::decode(&enc1).expect("an encoded record decodes");
        assert_eq!(
            encode(&again),
            Some(enc1),
            "decode(encode(r)) is not stable"
        );
    }

    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    if first & 0x80 != 0 {
        framed(first, rest);
        return;
    }
    let split = rest.len() * usize::from(first) / 256;
    let dir = scratch();
    std::fs::write(dir.path().join("00000000"), &rest[..split]).expect("write segment");
    std::fs::write(dir.path().join("00000001"), &rest[split..]).expect("write segment");

    let mut first_pass = Vec::new();
    let stats = replay(dir.path(), &mut |r| first_pass.push(encode(&r))).expect("replay");
    let mut second_pass = Vec::new();
    let again = replay(dir.path(), &mut |r| second_pass.push(encode(&r))).expect("replay");
    assert_eq!(again.corruptions, 0, "repair left corruption behind");
    assert_eq!(first_pass, second_pass, "replay after repair differs");
    assert_eq!(stats.records, again.records);
});

/// A temp dir on tmpfs, which keeps the fsyncs cheap, else in the default place.
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("temp dir")
}

fn framed(first: u8, mut rest: &[u8]) {
    let mut payloads = Vec::new();
    while let Some((&n, tail)) = rest.split_first() {
        let n = usize::from(n).min(tail.len());
        payloads.push(&tail[..n]);
        rest = &tail[n..];
    }
    let dir = scratch();
    let opts = WalOptions {
        segment_size: u64::from(first & 0x7f) * 4,
        ..WalOptions::default()
    };
    let mut wal = Wal::open(dir.path(), opts).expect("open");
    for p in &payloads {
        let res = wal.log(&[p]);
        assert_eq!(
            res.is_err(),
            p.is_empty(),
            "log refuses exactly the empty records"
        );
    }
    drop(wal);

    let mut want = Vec::new();
    let mut bad = false;
    for p in payloads.iter().filter(|p| !p.is_empty()) {
        match record::decode(p) {
            Ok(Record::Unknown(_)) => {}
            Ok(r) => want.push(encode(&r)),
            Err(_) => {
                bad = true;
                break;
            }
        }
    }
    let mut got = Vec::new();
    let stats = replay(dir.path(), &mut |r| got.push(encode(&r))).expect("replay");
    assert_eq!(got, want);
    assert_eq!(stats.corruptions, u64::from(bad));
}
