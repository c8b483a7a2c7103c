//! The scrape loop's per-scrape work without HTTP: a 10,000-series node_exporter-like page
//! through [`PageAppender::scrape_page`] (parse, label, relabel, append, staleness
//! tracking, synthetic series, commit to the WAL and head).
//!
//! `cargo bench --bench scrape` first prints bytes allocated per steady-state scrape (a
//! counting global allocator wraps the system one), then criterion timings in samples per
//! second: a steady scrape (every line a cache hit) with and without a metric relabeling
//! rule, and a scrape with a cold cache (every line parsed into labels and relabeled).
//! `CAIRN_BENCH_SERIES` sets the number of series (default 10000).

use cairn::config::{GlobalConfig, ScrapeConfig, load_str};
use cairn::model::Labels;
use cairn::scrape::metrics::ScrapeMetrics;
use cairn::scrape::{AppendOptions, Page, PageAppender};
use cairn::tsdb::{Appender, Db, Options};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// Counts bytes and calls of every allocation (reallocations count their new size).
struct Counting;

static BYTES: AtomicU64 = AtomicU64::new(0);
static CALLS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call forwards to the system allocator with the caller's arguments; the
// counters have no effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        CALLS.fetch_add(1, Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through `alloc`/`realloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        BYTES.fetch_add(new_size as u64, Relaxed);
        CALLS.fetch_add(1, Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A node_exporter-like page: families of counters and gauges with `# HELP`/`# TYPE`,
/// labelled like `node_cpu_seconds_total{cpu="3",mode="idle"}`, plus histograms.
fn page(n: usize, round: u64) -> String {
    let mut out = String::with_capacity(n * 60);
    let mut written = 0;
    let mut fam = 0;
    while written < n {
        let kind = match fam % 10 {
            0..=6 => "counter",
            7 | 8 => "gauge",
            _ => "histogram",
        };
        let name = format!("node_family{fam}_{}", if kind == "counter" { "seconds_total" } else { "bytes" });
        let _ = writeln!(out, "# HELP {name} Help text of family {fam}, as exporters write it.\n# TYPE {name} {kind}");
        for i in 0..50 {
            if written >= n {
                break;
            }
            let v = (fam as u64 * 7 + i as u64 + round) as f64 * 1.5;
            if kind == "histogram" {
                let _ = writeln!(out, "{name}_bucket{{device=\"sd{i}\",le=\"0.5\"}} {v}");
            } else {
                let _ = writeln!(out, "{name}{{cpu=\"{i}\",mode=\"m{}\"}} {v}", i % 8);
            }
            written += 1;
        }
        fam += 1;
    }
    out
}

fn job(extra: &str) -> ScrapeConfig {
    if extra.is_empty() {
        return ScrapeConfig::with_defaults("node", &GlobalConfig::default());
    }
    let text = format!("scrape_configs:\n- job_name: node\n{extra}");
    load_str(&text, std::path::Path::new("/nonexistent/prometheus.yml")).expect("config").0.scrape_configs.remove(0)
}

struct Setup {
    _dir: tempfile::TempDir,
    db: Db,
    opts: Arc<AppendOptions>,
    metrics: Arc<ScrapeMetrics>,
}

fn setup(extra: &str) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options { background_interval: None, ..Options::default() }).expect("open");
    let target = Labels::from_pairs(&[("instance", "host-0001:9100"), ("job", "node")]).expect("labels");
    let opts = Arc::new(AppendOptions::new(&job(extra), target));
    Setup { _dir: dir, db, opts, metrics: Arc::new(ScrapeMetrics::default()) }
}

const CT: Option<&str> = Some("text/plain; version=0.0.4; charset=utf-8");

fn scrape(pa: &mut PageAppender, app: &mut Appender, body: &[u8], ts: i64) {
    let out = pa.scrape_page(app, Page::Body(body, CT), None, ts, Instant::now());
    assert!(out.error.is_none(), "{:?}", out.error);
}

/// Scrapes before measuring (caches warm, chunk buffers past their first growth).
const WARM: u64 = 20;
/// Scrapes measured (averaged).
const MEASURED: u64 = 10;

fn allocation_report(n: usize) {
    let s = setup("");
    let mut pa = PageAppender::new(s.opts.clone(), s.metrics.clone());
    let mut app = s.db.appender();
    let pages: Vec<String> = (0..WARM + MEASURED).map(|r| page(n, r)).collect();
    let ts = |r: u64| 1_000_000 + r as i64 * 15_000;
    for r in 0..WARM {
        scrape(&mut pa, &mut app, pages[r as usize].as_bytes(), ts(r));
    }
    let (b0, c0) = (BYTES.load(Relaxed), CALLS.load(Relaxed));
    let t = Instant::now();
    for r in WARM..WARM + MEASURED {
        scrape(&mut pa, &mut app, pages[r as usize].as_bytes(), ts(r));
    }
    let el = t.elapsed() / MEASURED as u32;
    let (b, c) = ((BYTES.load(Relaxed) - b0) / MEASURED, (CALLS.load(Relaxed) - c0) / MEASURED);
    println!(
        "steady-state scrape of {n} series (mean of {MEASURED} after {WARM}): {b} bytes in {c} allocations \
         ({:.1} bytes/series), {:.2} ms",
        b as f64 / n as f64,
        el.as_secs_f64() * 1e3
    );
    // The storage's own share: the same values appended by reference and committed, with no
    // page, labels or cache (chunk buffers growing as samples accumulate, WAL records).
    let s = setup("");
    let mut app = s.db.appender();
    let values: Vec<Vec<f64>> = pages
        .iter()
        .map(|p| {
            p.lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| l.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0.0))
                .collect()
        })
        .collect();
    let mut refs = Vec::with_capacity(n);
    for (i, v) in values[0].iter().enumerate() {
        let l = Labels::from_pairs(&[("__name__", format!("m{i}").as_str()), ("job", "node")]).expect("labels");
        refs.push(app.append(&l, ts(0), *v).expect("append"));
    }
    app.commit().expect("commit");
    let mut round = |r: u64| {
        for (i, rf) in refs.iter().enumerate() {
            app.append_ref(*rf, ts(r), values[r as usize][i]).expect("append");
        }
        app.commit().expect("commit");
    };
    for r in 1..WARM {
        round(r);
    }
    let (b0, c0) = (BYTES.load(Relaxed), CALLS.load(Relaxed));
    for r in WARM..WARM + MEASURED {
        round(r);
    }
    let (b, c) = ((BYTES.load(Relaxed) - b0) / MEASURED, (CALLS.load(Relaxed) - c0) / MEASURED);
    println!("  of which storage alone (append_ref + commit of the same {n} samples): {b} bytes in {c} allocations");
}

fn bench(c: &mut Criterion) {
    let n: usize = std::env::var("CAIRN_BENCH_SERIES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    allocation_report(n);
    let mut g = c.benchmark_group("scrape");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(20);
    let relabel =
        "  metric_relabel_configs:\n  - source_labels: [__name__]\n    regex: 'node_family1_.*'\n    action: drop\n";
    for (name, extra) in [("steady", ""), ("steady_with_metric_relabel", relabel)] {
        let s = setup(extra);
        let mut pa = PageAppender::new(s.opts.clone(), s.metrics.clone());
        let mut app = s.db.appender();
        let body = page(n, 0);
        let mut ts = 1_000_000;
        g.bench_function(name, |b| {
            b.iter(|| {
                scrape(&mut pa, &mut app, body.as_bytes(), ts);
                ts += 15_000;
            })
        });
    }
    let s = setup("");
    let mut app = s.db.appender();
    let body = page(n, 0);
    let mut ts = 1_000_000;
    g.bench_function("cold_cache", |b| {
        b.iter(|| {
            let mut pa = PageAppender::new(s.opts.clone(), s.metrics.clone());
            scrape(&mut pa, &mut app, body.as_bytes(), ts);
            ts += 15_000;
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
