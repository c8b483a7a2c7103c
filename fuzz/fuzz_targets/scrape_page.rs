//! A scraped page through the scrape loop's page appender (parse, label, relabel, limits,
//! append, staleness, synthetic series) into a real database: never panics, and the reported
//! counts are consistent. The first byte picks the content type.
#![no_main]
use cairn::model::Labels;
use cairn::scrape::metrics::ScrapeMetrics;
use cairn::scrape::{AppendOptions, Page, PageAppender};
use cairn::tsdb::{Appender, Db, Options};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

struct State {
    _dir: tempfile::TempDir,
    _db: Db,
    app: Appender,
    pa: PageAppender,
    ts: i64,
}

fn state() -> &'static Mutex<State> {
    static S: OnceLock<Mutex<State>> = OnceLock::new();
    S.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options { background_interval: None, ..Options::default() }).unwrap();
        let mut cfg = cairn::config::ScrapeConfig::with_defaults("fuzz", &cairn::config::GlobalConfig::default());
        cfg.limits.sample_limit = 50;
        cfg.limits.label_limit = 8;
        let target = Labels::from_pairs(&[("instance", "t:1"), ("job", "fuzz")]).unwrap();
        let pa = PageAppender::new(Arc::new(AppendOptions::new(&cfg, target)), Arc::new(ScrapeMetrics::default()));
        let app = db.appender();
        Mutex::new(State { _dir: dir, _db: db, app, pa, ts: 1_000_000 })
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, page)) = data.split_first() else { return };
    let ct = match sel % 3 {
        0 => Some("text/plain; version=0.0.4"),
        1 => Some("application/openmetrics-text; version=1.0.0"),
        _ => None,
    };
    let mut s = state().lock().unwrap();
    s.ts += 1000;
    let ts = s.ts;
    let State { app, pa, .. } = &mut *s;
    let out = pa.scrape_page(app, Page::Body(page, ct), None, ts, Instant::now());
    assert!(out.counts.added <= out.counts.total);
    assert!(out.counts.series_added <= out.counts.added);
    if out.error.is_none() {
        assert!(out.counts.added <= 50, "over the sample limit without an error");
    }
});
