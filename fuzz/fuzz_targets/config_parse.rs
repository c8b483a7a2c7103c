//! `prometheus.yml` loading on arbitrary text: never panics (errors are fine). Relabeling
//! steps that load are also run over a small label set, and rule-file parsing gets the same
//! text. Paths resolve under a directory that does not exist, so no real file is read.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok((cfg, _)) = cairn::config::load_str(text, Path::new("/nonexistent/prometheus.yml")) {
        let labels = cairn::model::Labels::from_pairs(&[("__address__", "a:1"), ("job", "j"), ("x", "é\n")]).unwrap();
        for job in &cfg.scrape_configs {
            let _ = cairn::relabel::process(&labels, &job.relabel_configs);
            let _ = cairn::relabel::process(&labels, &job.metric_relabel_configs);
        }
    }
    let _ = cairn::rules::parse(text);
});
