//! HTTP API parameter parsing (times, durations, `match[]` selectors) on arbitrary text:
//! never panics, and a parsed selector is never empty.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = cairn::web::params::parse_time(s);
    let _ = cairn::web::params::parse_duration_param(s);
    if let Ok(ms) = cairn::web::params::parse_metric_selector(s) {
        assert!(!ms.is_empty(), "an accepted selector has matchers: {s:?}");
    }
    let parts: Vec<&str> = s.split('\n').collect();
    let _ = cairn::web::params::parse_matchers(&parts);
});
