//! A synthetic node_exporter-like workload, shared by the density tests and the benchmarks.
//!
//! Not part of the stable API: it exists so `benches/` can reuse the generator.

/// A small deterministic pseudo-random generator (SplitMix64), so workloads are reproducible
/// without a dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform integer in `lo..=hi` (`lo <= hi`).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi - lo) as u64 + 1;
        lo + (self.next_u64() % span) as i64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// How scrape timestamps relate across series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timestamps {
    /// All series share one target's scrape times, as a real node_exporter scrape does.
    SharedScrape,
    /// Every series has its own jitter: the pessimistic case for the timestamp column.
    IndependentJitter,
}

/// Generates `series` series of `samples` samples each at a 15 s interval with 0–5 ms of
/// jitter (amplitude chosen per target or per series): 80% counters rising by 0–10 per step
/// (some flat), 15% gauges (from a small set, stepwise with two decimals, or constant), 5%
/// cumulative histogram `_bucket` counters in groups of ten. Deterministic for a given `seed`.
pub fn node_exporter_workload(
    seed: u64,
    series: usize,
    samples: usize,
    timestamps: Timestamps,
) -> Vec<Vec<(i64, f64)>> {
    let mut rng = Rng::new(seed);
    let start = 1_700_000_000_000i64;
    let scrape_times = |rng: &mut Rng| -> Vec<i64> {
        let amp = rng.range(0, 5);
        (0..samples as i64).map(|i| start + i * 15_000 + rng.range(-amp, amp)).collect()
    };
    let shared = scrape_times(&mut rng);
    let n_counters = series * 80 / 100;
    let n_gauges = series * 15 / 100;
    let mut out = Vec::with_capacity(series);
    let times = |rng: &mut Rng| match timestamps {
        Timestamps::SharedScrape => shared.clone(),
        Timestamps::IndependentJitter => scrape_times(rng),
    };
    for _ in 0..n_counters {
        let ts = times(&mut rng);
        let max_inc = rng.range(0, 10);
        let mut v = rng.range(0, 1_000_000) as f64;
        out.push(
            ts.into_iter()
                .map(|t| {
                    v += rng.range(0, max_inc) as f64;
                    (t, v)
                })
                .collect(),
        );
    }
    for g in 0..n_gauges {
        let ts = times(&mut rng);
        let kind = g % 3;
        let set: Vec<f64> = (0..rng.range(2, 5)).map(|_| rng.range(0, 64) as f64).collect();
        let mut v = match kind {
            0 => set[0],
            1 => rng.range(0, 10_000) as f64 / 100.0,
            _ => rng.range(0, 1 << 40) as f64,
        };
        out.push(
            ts.into_iter()
                .map(|t| {
                    match kind {
                        0 if rng.chance(0.1) => v = set[rng.range(0, set.len() as i64 - 1) as usize],
                        1 if rng.chance(0.1) => v = rng.range(0, 10_000) as f64 / 100.0,
                        _ => {}
                    }
                    (t, v)
                })
                .collect(),
        );
    }
    // Histogram buckets: each group of ten shares observations, bucket j counts those ≤ le_j.
    while out.len() < series {
        let group = (series - out.len()).min(10);
        let ts = times(&mut rng);
        let mut counts = vec![0f64; group];
        let mut rows: Vec<Vec<(i64, f64)>> = vec![Vec::with_capacity(samples); group];
        for &t in &ts {
            for _ in 0..rng.range(0, 20) {
                let bucket = rng.range(0, group as i64 - 1) as usize;
                for c in &mut counts[bucket..] {
                    *c += 1.0;
                }
            }
            for (row, &c) in rows.iter_mut().zip(&counts) {
                row.push((t, c));
            }
        }
        out.extend(rows);
    }
    out
}
