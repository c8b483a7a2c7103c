//! `--web.config.file` parsing on arbitrary text: never panics (errors are fine). Files it
//! names are resolved under a directory that does not exist, so no real file is read.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = cairn::web::webconfig::parse(text, Path::new("/nonexistent/web.yml"), Path::new("/nonexistent"));
    }
});
