//! Exposition parser throughput on a generated node_exporter-like page of 10,000 series, in
//! the Prometheus text format and in OpenMetrics.
//!
//! `cargo bench --bench exposition` first prints how many heap allocations one page costs
//! (counted by a wrapping global allocator), then criterion timings in samples per second:
//! `next` alone (the steady scrape, where the series cache hits) and `next` plus
//! `labels_into` on every series (every series a cache miss). `CAIRN_BENCH_SERIES` sets the
//! number of series (default 10000).

use cairn::model::Label;
use cairn::scrape::exposition::{Entry, Format, Parser};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting allocations.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a side
// effect that touches no memory the allocator hands out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this `layout` (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `dealloc`; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A deterministic page of about `n` series: node_exporter's shapes (CPU mode counters,
/// per-device counters and gauges with several labels, a summary, histograms), with HELP and
/// TYPE lines. Returns the page and its number of samples.
fn page(n: usize, format: Format) -> (String, usize) {
    let om = format == Format::OpenMetrics;
    let mut out = String::with_capacity(n * 100);
    let mut samples = 0;
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let (meta_name, kind) = match (om, kind) {
            (true, "counter") => (name.trim_end_matches("_total"), kind),
            (false, "unknown") => (name, "untyped"),
            _ => (name, kind),
        };
        let _ = writeln!(out, "# HELP {meta_name} {help}");
        let _ = writeln!(out, "# TYPE {meta_name} {kind}");
    };
    let mut i = 0;
    while samples < n {
        match i % 5 {
            0 => {
                let name = format!("node_cpu_seconds_{i}_total");
                family(&mut out, &name, "counter", "Seconds the CPUs spent in each mode.");
                for cpu in 0..16 {
                    for mode in ["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"] {
                        let v = (next() % 100_000_000) as f64 / 100.0;
                        let _ = writeln!(out, "{name}{{cpu=\"{cpu}\",mode=\"{mode}\"}} {v}");
                        samples += 1;
                    }
                }
            }
            1 => {
                let name = format!("node_network_receive_bytes_{i}_total");
                family(&mut out, &name, "counter", "Network device statistic receive_bytes.");
                for dev in 0..40 {
                    let _ = writeln!(out, "{name}{{device=\"veth{dev:04x}a1\"}} {:e}", next() % 10_000_000_000);
                    samples += 1;
                }
            }
            2 => {
                let name = format!("node_filesystem_avail_bytes_{i}");
                family(&mut out, &name, "gauge", "Filesystem space available to non-root users in bytes.");
                for fs in 0..30 {
                    let _ = writeln!(
                        out,
                        "{name}{{device=\"/dev/mapper/vg0-lv{fs}\",fstype=\"ext4\",mountpoint=\"/var/lib/docker/overlay2/{:016x}/merged\"}} {}",
                        next(),
                        next() % 1_000_000_000_000
                    );
                    samples += 1;
                }
            }
            3 => {
                let name = format!("go_gc_duration_seconds_{i}");
                family(&mut out, &name, "summary", "A summary of the pause duration of garbage collection cycles.");
                for q in ["0", "0.25", "0.5", "0.75", "1"] {
                    let _ = writeln!(out, "{name}{{quantile=\"{q}\"}} {}e-05", next() % 1000);
                }
                let _ = writeln!(out, "{name}_sum 0.{}", next() % 1_000_000);
                let _ = writeln!(out, "{name}_count {}", next() % 100_000);
                samples += 7;
            }
            _ => {
                let name = format!("http_request_duration_seconds_{i}");
                family(&mut out, &name, "histogram", "Request latency.");
                for handler in ["/metrics", "/api/v1/query", "/api/v1/query_range"] {
                    let mut c = 0;
                    for le in ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"] {
                        c += next() % 50;
                        let _ = writeln!(out, "{name}_bucket{{handler=\"{handler}\",le=\"{le}\"}} {c}");
                    }
                    let _ = writeln!(out, "{name}_sum{{handler=\"{handler}\"}} {}.{}", c / 7, next() % 1000);
                    let _ = writeln!(out, "{name}_count{{handler=\"{handler}\"}} {c}");
                    samples += 14;
                }
            }
        }
        i += 1;
    }
    if om {
        out.push_str("# EOF\n");
    }
    (out, samples)
}

/// Reads the whole page; with `labels`, builds every series' label set into one reused
/// vector. Returns the number of series (checked against the generator).
fn parse(page: &[u8], format: Format, labels: Option<&mut Vec<Label>>) -> usize {
    let mut p = Parser::new(page, format);
    let mut n = 0;
    let mut labels = labels;
    while let Some(e) = p.next().expect("generated page parses") {
        if let Entry::Series { series, value, .. } = e {
            black_box((series, value));
            if let Some(out) = labels.as_deref_mut() {
                p.labels_into(out).expect("valid labels");
            }
            n += 1;
        }
    }
    n
}

fn benches(c: &mut Criterion) {
    let n: usize = std::env::var("CAIRN_BENCH_SERIES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let mut group = c.benchmark_group("exposition");
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let (page, samples) = page(n, format);
        let name = if format == Format::OpenMetrics { "openmetrics" } else { "text" };
        assert_eq!(parse(page.as_bytes(), format, None), samples);

        // Allocations for one page, after one warm-up read of the reused label vector.
        let mut reuse = Vec::new();
        parse(page.as_bytes(), format, Some(&mut reuse));
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        parse(page.as_bytes(), format, None);
        let next_only = ALLOCATIONS.load(Ordering::Relaxed) - before;
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        parse(page.as_bytes(), format, Some(&mut reuse));
        let with_labels = ALLOCATIONS.load(Ordering::Relaxed) - before;
        println!(
            "exposition/{name}: {samples} samples, {} bytes; allocations per page: next only {next_only}, \
             next + labels_into {with_labels} ({:.1} per series)",
            page.len(),
            with_labels as f64 / samples as f64
        );

        group.throughput(Throughput::Elements(samples as u64));
        group.bench_function(format!("{name}/next"), |b| b.iter(|| parse(black_box(page.as_bytes()), format, None)));
        group.bench_function(format!("{name}/next+labels"), |b| {
            let mut out = Vec::new();
            b.iter(|| parse(black_box(page.as_bytes()), format, Some(&mut out)))
        });
    }
    group.finish();
}

criterion_group!(exposition, benches);
criterion_main!(exposition);
