//! PromQL engine benchmarks: the dashboard queries over 10k series x 6h at 15s.
//!
//! `cargo bench --bench promql`; `CAIRN_BENCH_SERIES` changes the series count. Throughput is
//! reported in raw samples read per second (the samples of the selected series over the
//! queried range plus the longest window).

use cairn::model::Labels;
use cairn::promql::engine::{Engine, EngineOptions};
use cairn::tsdb::{Db, Options};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

const STEP: i64 = 15_000;
const HOURS: i64 = 6;

/// 90% `http_requests_total` counters over 10 jobs, 10% `h_bucket` histogram buckets.
fn load(n: usize) -> (tempfile::TempDir, Db, u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options { background_interval: None, retention_time: 0, ..Options::default() })
        .expect("open");
    let les = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];
    let labels: Vec<Labels> = (0..n)
        .map(|i| {
            if i % 10 == 9 {
                let h = i / 10;
                Labels::from_pairs(&[
                    ("__name__", "h_bucket"),
                    ("job", &format!("j{}", h % 10)),
                    ("instance", &format!("i{}", h / 10)),
                    ("le", les[h % 10]),
                ])
            } else {
                Labels::from_pairs(&[
                    ("__name__", "http_requests_total"),
                    ("job", &format!("j{}", i % 10)),
                    ("instance", &format!("i{i}")),
                ])
            }
            .expect("labels")
        })
        .collect();
    let mut refs = vec![0u64; n];
    let mut app = db.appender();
    let steps = HOURS * 3600 * 1000 / STEP;
    let mut rng = 0x2545_f491u64;
    for k in 0..steps {
        for (i, l) in labels.iter().enumerate() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let v = (k as f64) * ((i % 7) as f64 + 1.0) + (rng % 3) as f64 * (k as f64 / 100.0).floor();
            if k == 0 {
                refs[i] = app.append(l, 0, v).expect("append");
            } else {
                app.append_ref(refs[i], k * STEP, v).expect("append");
            }
        }
        app.commit().expect("commit");
    }
    db.flush_head().expect("flush");
    db.compact().expect("compact");
    (dir, db, steps as u64)
}

fn benches(c: &mut Criterion) {
    let n: usize = std::env::var("CAIRN_BENCH_SERIES").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let (_dir, db, per_series) = load(n);
    let engine = Engine::new(EngineOptions { max_samples: usize::MAX, ..EngineOptions::default() });
    let end = HOURS * 3600 * 1000;
    let counters = (n - n / 10) as u64;
    let buckets = (n / 10) as u64;
    let queries: &[(&str, &str, u64)] = &[
        ("rate", "rate(http_requests_total[5m])", counters),
        ("sum_by_rate", "sum by (job) (rate(http_requests_total[5m]))", counters),
        ("histogram_quantile", "histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))", buckets),
        ("topk", "topk(10, rate(http_requests_total[5m]))", counters),
        ("regex_selector", "sum(rate(http_requests_total{job=~\"j1|j3|j5\"}[5m]))", counters * 3 / 10),
        ("subquery", "max_over_time(rate(http_requests_total{job=\"j2\"}[5m])[30m:1m])", counters / 10),
        (
            "binary_join",
            "sum by (job) (rate(http_requests_total[5m])) / on(job) group_left sum by (job) (rate(h_bucket[5m]))",
            counters + buckets,
        ),
    ];
    let mut g = c.benchmark_group("promql_range_6h_step_1m");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for (name, q, series) in queries {
        g.throughput(Throughput::Elements(series * per_series));
        g.bench_function(*name, |b| b.iter(|| black_box(engine.range(&db, q, 0, end, 60_000).expect("query"))));
    }
    g.finish();
}

criterion_group!(promql, benches);
criterion_main!(promql);
