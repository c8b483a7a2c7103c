//! File and HTTP discovery's group parsing (JSON and YAML) on arbitrary bytes: never panics,
//! and every accepted group carries `__meta_filepath` and an `__address__` per target.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    for name in ["/sd/targets.json", "/sd/targets.yml"] {
        let Ok(groups) = cairn::discovery::file::parse_file(Path::new(name), data) else { continue };
        for (i, g) in groups.iter().enumerate() {
            assert_eq!(g.source, format!("{name}:{i}"));
            assert_eq!(g.labels.get("__meta_filepath"), Some(name));
            assert!(g.targets.iter().all(|t| t.get("__address__").is_some()));
        }
    }
});
