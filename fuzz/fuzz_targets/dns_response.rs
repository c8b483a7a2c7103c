//! DNS discovery's response decoder on arbitrary bytes: never panics, and every decoded
//! name is fully qualified and within DNS's length limit.
#![no_main]
use cairn::discovery::dns::wire::{Record, parse_response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(r) = parse_response(data) else { return };
    for rec in &r.answers {
        let name = match rec {
            Record::Srv { target, .. } => target,
            Record::Mx { exchange, .. } => exchange,
            Record::Ns { host } => host,
            _ => continue,
        };
        assert!(name.ends_with('.'), "{name:?}");
        assert!(name.len() <= 256 + 64, "{}", name.len());
    }
});
