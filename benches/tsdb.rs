//! Storage engine benchmarks on a node_exporter-like workload.
//!
//! `cargo bench --bench tsdb` prints a density/memory report first (bytes per sample on
//! disk after compaction, resident bytes per active head series), then criterion timings:
//! append (1 and 2 threads), XOR encode/decode, WAL replay, select+decode.
//! `CAIRN_BENCH_SERIES` sets the number of series (default 10000).

use cairn::model::{Labels, MatchType, Matcher};
use cairn::tsdb::chunk::{XorChunk, XorIterator};
use cairn::tsdb::{Db, Options};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::{Duration, Instant};

const STEP: i64 = 15_000;

/// What kind of series, which decides how its values move.
#[derive(Clone, Copy)]
enum Kind {
    /// Rises by small integers, sometimes flat.
    Counter,
    /// Often repeats a value from a small set; some with two decimals.
    Gauge,
    /// A cumulative histogram bucket: monotone, slower than its `+Inf` sibling.
    Bucket(u32),
}

struct Workload {
    labels: Vec<Labels>,
    kinds: Vec<Kind>,
    state: Vec<f64>,
    rng: u64,
}

impl Workload {
    /// `n` series: 80% counters, 15% gauges, 5% histogram buckets (10 buckets per histogram).
    fn new(n: usize) -> Workload {
        let mut labels = Vec::with_capacity(n);
        let mut kinds = Vec::with_capacity(n);
        let les = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];
        let mut i = 0;
        while labels.len() < n {
            let instance = format!("host-{:04}:9100", i / 1000);
            let bucket = i % 100 >= 95;
            let gauge = !bucket && i % 100 >= 80;
            if bucket {
                for (b, le) in les.iter().enumerate() {
                    if labels.len() == n {
                        break;
                    }
                    labels.push(
                        Labels::from_pairs(&[
                            ("__name__", "node_request_duration_seconds_bucket"),
                            ("instance", instance.as_str()),
                            ("job", "node"),
                            ("handler", &format!("h{}", i % 1000)),
                            ("le", le),
                        ])
                        .expect("valid labels"),
                    );
                    kinds.push(Kind::Bucket(b as u32));
                }
            } else {
                // Within a host, (metric, cpu) is unique: metric = local % k, cpu = local / k.
                let local = i % 1000;
                let k = if gauge { 37 } else { 53 };
                let name = if gauge {
                    format!("node_gauge_{}", local % k)
                } else {
                    format!("node_cpu_seconds_total_{}", local % k)
                };
                labels.push(
                    Labels::from_pairs(&[
                        ("__name__", name.as_str()),
                        ("instance", instance.as_str()),
                        ("job", "node"),
                        ("cpu", &(local / k).to_string()),
                        ("mode", ["user", "system", "idle", "iowait"][i % 4]),
                    ])
                    .expect("valid labels"),
                );
                kinds.push(if gauge { Kind::Gauge } else { Kind::Counter });
            }
            i += 1;
        }
        let state = vec![0.0; n];
        Workload { labels, kinds, state, rng: 0x9e37_79b9_7f4a_7c15 }
    }

    fn rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// The next value of series `i`.
    fn next_value(&mut self, i: usize) -> f64 {
        let r = self.rand();
        let v = match self.kinds[i] {
            Kind::Counter => self.state[i] + if r.is_multiple_of(5) { 0.0 } else { (r % 10) as f64 },
            Kind::Gauge => {
                if r.is_multiple_of(10) {
                    [0.25, 1.5, 3.0, 42.0, 7.75, 100.0][(r >> 8) as usize % 6]
                } else {
                    self.state[i]
                }
            }
            Kind::Bucket(b) => self.state[i] + ((r % 4) * u64::from(b + 1) / 3) as f64,
        };
        self.state[i] = v;
        v
    }

    /// The scrape time of step `k` for series `i`: 15s spacing with 0–5ms of jitter.
    fn time(&mut self, k: i64) -> i64 {
        k * STEP + (self.rand() % 6) as i64
    }
}

fn opts() -> Options {
    Options { background_interval: None, retention_time: 0, ..Options::default() }
}

/// Appends `steps` scrapes of every series, one commit per scrape.
fn ingest(db: &Db, w: &mut Workload, from_step: i64, steps: i64) -> u64 {
    let mut app = db.appender();
    let mut refs: Vec<Option<u64>> = vec![None; w.labels.len()];
    let mut n = 0;
    for k in from_step..from_step + steps {
        let t = w.time(k);
        for (i, cached) in refs.iter_mut().enumerate() {
            let v = w.next_value(i);
            let r = match *cached {
                Some(r) => app.append_ref(r, t, v),
                None => app.append(&w.labels[i].clone(), t, v),
            }
            .expect("append");
            *cached = Some(r);
            n += 1;
        }
        app.commit().expect("commit");
    }
    n
}

fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| if e.path().is_dir() { dir_size(&e.path()) } else { e.metadata().map_or(0, |m| m.len()) })
                .sum()
        })
        .unwrap_or(0)
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        .map_or(0, |kb| kb * 1024)
}

fn series_count() -> usize {
    std::env::var("CAIRN_BENCH_SERIES").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000)
}

/// Density and memory figures, printed once.
fn report() {
    let n = series_count();
    // Head memory: 2h of samples per series (a steady-state head holds 1.5–3h).
    let dir = tempfile::tempdir().expect("tempdir");
    // The workload's own label strings are allocated before the baseline.
    let mut w = Workload::new(n);
    let rss0 = rss_bytes();
    let db = Db::open(dir.path(), opts()).expect("open");
    let samples = ingest(&db, &mut w, 0, 480);
    let rss1 = rss_bytes();
    let heap = db.head().heap_size();
    println!(
        "report: head with {n} series x 480 samples: heap {:.0} B/series (accounted), RSS delta {:.0} B/series",
        heap as f64 / n as f64,
        rss1.saturating_sub(rss0) as f64 / n as f64
    );
    // Disk: 8h more, then everything persisted and compacted.
    let samples = samples + ingest(&db, &mut w, 480, 4 * 480);
    db.flush_head().expect("flush");
    db.compact().expect("compact");
    let blocks: u64 = db.blocks().iter().map(|b| dir_size(&dir.path().join(&b.ulid))).sum();
    println!(
        "report: {samples} samples in {} blocks: {blocks} bytes = {:.3} bytes/sample on disk after compaction",
        db.blocks().len(),
        blocks as f64 / samples as f64
    );
}

fn bench_append(c: &mut Criterion) {
    let n = series_count();
    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    for threads in [1usize, 2] {
        g.bench_function(format!("{threads}_thread_scrape_of_{n}_series"), |b| {
            b.iter_custom(|iters| {
                let dir = tempfile::tempdir().expect("tempdir");
                let db = Db::open(dir.path(), opts()).expect("open");
                let mut w = Workload::new(n);
                let values: Vec<Vec<f64>> = (0..iters).map(|_| (0..n).map(|i| w.next_value(i)).collect()).collect();
                let labels = &w.labels;
                // Warm-up: create the series and cache their refs.
                let mut refs = vec![0u64; n];
                let mut app = db.appender();
                for (i, l) in labels.iter().enumerate() {
                    refs[i] = app.append(l, 0, 0.0).expect("append");
                }
                app.commit().expect("commit");
                let start = Instant::now();
                std::thread::scope(|s| {
                    for th in 0..threads {
                        let (db, refs, values) = (&db, &refs, &values);
                        s.spawn(move || {
                            let mut app = db.appender();
                            for (k, vals) in values.iter().enumerate() {
                                let t = (k as i64 + 1) * STEP;
                                for i in (th..n).step_by(threads) {
                                    app.append_ref(refs[i], t, vals[i]).expect("append");
                                }
                                app.commit().expect("commit");
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
    }
    g.finish();
}

fn bench_chunk(c: &mut Criterion) {
    let mut w = Workload::new(100);
    let samples: Vec<(i64, f64)> = (0..120).map(|k| (w.time(k), w.next_value(0))).collect();
    let mut g = c.benchmark_group("xor_chunk");
    g.throughput(Throughput::Elements(samples.len() as u64));
    g.bench_function("encode_120", |b| {
        b.iter(|| {
            let mut ch = XorChunk::new();
            for &(t, v) in &samples {
                ch.append(t, v);
            }
            black_box(ch.bytes().len())
        })
    });
    let mut ch = XorChunk::new();
    for &(t, v) in &samples {
        ch.append(t, v);
    }
    let bytes = ch.bytes().to_vec();
    g.bench_function("decode_120", |b| b.iter(|| black_box(XorIterator::new(&bytes).fold(0.0, |a, (_, v)| a + v))));
    g.finish();
}

fn bench_replay_and_select(c: &mut Criterion) {
    let n = series_count();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut w = Workload::new(n);
    let samples = {
        let db = Db::open(dir.path(), opts()).expect("open");
        ingest(&db, &mut w, 0, 120)
    };
    let mut g = c.benchmark_group("wal");
    g.throughput(Throughput::Elements(samples));
    g.sample_size(10);
    g.bench_function(format!("replay_{samples}_samples"), |b| {
        b.iter(|| {
            let db = Db::open(dir.path(), opts()).expect("open");
            black_box(db.head().num_series())
        })
    });
    g.finish();

    // Select + decode from blocks: 4h persisted, one metric family.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), opts()).expect("open");
    let mut w = Workload::new(n);
    ingest(&db, &mut w, 0, 960);
    db.flush_head().expect("flush");
    db.compact().expect("compact");
    let m = [Matcher::new(MatchType::Regex, "__name__", "node_cpu_seconds_total_.*").expect("regex")];
    let q = db.querier(i64::MIN, i64::MAX);
    let total: u64 = q.select(&m).expect("select").iter().map(|s| s.iter().count() as u64).sum();
    let mut g = c.benchmark_group("select");
    g.throughput(Throughput::Elements(total));
    g.sample_size(10);
    g.bench_function(format!("select_decode_{total}_samples_from_blocks"), |b| {
        b.iter(|| {
            let q = db.querier(i64::MIN, i64::MAX);
            let sum: f64 = q.select(&m).expect("select").iter().map(|s| s.iter().map(|x| x.1).sum::<f64>()).sum();
            black_box(sum)
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    report();
    bench_chunk(c);
    bench_append(c);
    bench_replay_and_select(c);
}

criterion_group!(tsdb, benches);
criterion_main!(tsdb);
