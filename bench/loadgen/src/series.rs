//! The synthetic workload every phase uses: what a fleet of application exporters exposes.
//!
//! Each *instance* (one exporter) has the same [`TEMPLATE_LEN`] series:
//!
//! - 400 counters `app_requests_total{handler, method, code}` rising by small integers,
//! - 320 gauges `app_memory_bytes{area}` and `app_queue_length{queue}` that keep their value
//!   most of the time (70 %) and otherwise jump to a new one,
//! - 280 series of 20 classic histograms `app_request_duration_seconds{handler}` (12 `_bucket`
//!   series with cumulative counts, `_sum` and `_count`).
//!
//! A workload of `n` series is the first `n` series of instances 0, 1, 2, ... in that order.
//! [`Workload`] describes the series; [`State`] evolves their values one *round* (one scrape,
//! 15 s) at a time. Everything is derived from a fixed seed, so every system receives exactly
//! the same samples.
//!
//! Timestamps of round `k` of instance `i` are `t0 + 15 s * k + offset(i) + jitter(i, k)`:
//! each instance is "scraped" at its own offset within the interval with a jitter of a few
//! milliseconds, and no timestamp falls on a whole second. Queries are evaluated on whole
//! seconds, so no sample ever sits on a range boundary, where Prometheus 2.x (closed ranges)
//! and 3.x (left-open ranges) differ.

/// The number of series of one instance.
pub const TEMPLATE_LEN: usize = 1000;
/// Milliseconds between two rounds (the scrape interval).
pub const INTERVAL_MS: i64 = 15_000;

const HANDLERS: usize = 50;
const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];
const CODES: [&str; 2] = ["200", "500"];
const COUNTERS: usize = HANDLERS * 4 * 2;
const MEMORY_AREAS: usize = 120;
const QUEUES: usize = 200;
const GAUGES: usize = MEMORY_AREAS + QUEUES;
const HIST_HANDLERS: usize = 20;
/// The classic bucket bounds of the histograms, the last one `+Inf`.
const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, f64::INFINITY];
/// Series per histogram: the buckets, `_sum` and `_count`.
const HIST_SERIES: usize = BUCKETS.len() + 2;
const HISTOGRAMS: usize = HIST_HANDLERS * HIST_SERIES;
const _: () = assert!(COUNTERS + GAUGES + HISTOGRAMS == TEMPLATE_LEN);

/// What one template series is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A counter: index into the instance's counters.
    Counter(usize),
    /// A gauge: index into the instance's gauges.
    Gauge(usize),
    /// The cumulative count of bucket `b` of histogram `h`.
    Bucket(usize, usize),
    /// The `_sum` of histogram `h`.
    Sum(usize),
    /// The `_count` of histogram `h`.
    Count(usize),
}

/// One series of the per-instance template: its kind, metric name and labels other than
/// `job` and `instance`, sorted by name.
#[derive(Debug, Clone)]
pub struct TemplateSeries {
    /// What the series is.
    pub kind: Kind,
    /// The metric name.
    pub name: &'static str,
    /// The other labels, sorted by name.
    pub labels: Vec<(&'static str, String)>,
}

/// Formats a bucket bound as Prometheus exposes `le`.
pub fn le_text(b: f64) -> String {
    if b.is_infinite() { "+Inf".to_string() } else { format!("{b}") }
}

/// The template, in a fixed order: counters, gauges, then histograms.
pub fn template() -> Vec<TemplateSeries> {
    let mut out = Vec::with_capacity(TEMPLATE_LEN);
    for h in 0..HANDLERS {
        for (m, method) in METHODS.iter().enumerate() {
            for (c, code) in CODES.iter().enumerate() {
                out.push(TemplateSeries {
                    kind: Kind::Counter((h * METHODS.len() + m) * CODES.len() + c),
                    name: "app_requests_total",
                    labels: vec![
                        ("code", (*code).to_string()),
                        ("handler", format!("/api/h{h}")),
                        ("method", (*method).to_string()),
                    ],
                });
            }
        }
    }
    for a in 0..MEMORY_AREAS {
        out.push(TemplateSeries {
            kind: Kind::Gauge(a),
            name: "app_memory_bytes",
            labels: vec![("area", format!("a{a}"))],
        });
    }
    for q in 0..QUEUES {
        out.push(TemplateSeries {
            kind: Kind::Gauge(MEMORY_AREAS + q),
            name: "app_queue_length",
            labels: vec![("queue", format!("q{q}"))],
        });
    }
    for h in 0..HIST_HANDLERS {
        let handler = format!("/api/h{h}");
        for (b, &bound) in BUCKETS.iter().enumerate() {
            out.push(TemplateSeries {
                kind: Kind::Bucket(h, b),
                name: "app_request_duration_seconds_bucket",
                labels: vec![("handler", handler.clone()), ("le", le_text(bound))],
            });
        }
        out.push(TemplateSeries {
            kind: Kind::Sum(h),
            name: "app_request_duration_seconds_sum",
            labels: vec![("handler", handler.clone())],
        });
        out.push(TemplateSeries {
            kind: Kind::Count(h),
            name: "app_request_duration_seconds_count",
            labels: vec![("handler", handler.clone())],
        });
    }
    out
}

/// The `instance` label of instance `i` in pushed data (scraped data gets the target's
/// address from the scraper instead).
pub fn instance_label(i: usize) -> String {
    format!("app-{i:05}:9100")
}

/// The `job` label of all pushed series.
pub const JOB: &str = "bench";

/// A small, fast, deterministic generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
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

    /// A uniform integer in `0..n` (`n > 0`; the tiny modulo bias does not matter here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The values of one instance after some number of rounds.
#[derive(Debug, Clone)]
struct InstanceState {
    counters: Vec<f64>,
    gauges: Vec<f64>,
    /// Per histogram: cumulative bucket counts, then sum, then count.
    hists: Vec<[f64; HIST_SERIES]>,
}

/// The shape of a workload: how many series, hence how many instances.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The total number of series.
    pub series: usize,
    /// The template every instance follows.
    pub template: Vec<TemplateSeries>,
}

impl Workload {
    /// A workload of `series` series.
    pub fn new(series: usize) -> Workload {
        Workload { series, template: template() }
    }

    /// The number of instances (the last one may be partial).
    pub fn instances(&self) -> usize {
        self.series.div_ceil(TEMPLATE_LEN)
    }

    /// The number of template series instance `i` has.
    pub fn instance_len(&self, i: usize) -> usize {
        self.series.saturating_sub(i * TEMPLATE_LEN).min(TEMPLATE_LEN)
    }
}

/// The evolving values of every series of a workload, one round at a time.
#[derive(Debug, Clone)]
pub struct State {
    seed: u64,
    t0: i64,
    /// The round the current values belong to (`None` before the first [`State::advance`]).
    round: Option<u64>,
    instances: Vec<InstanceState>,
}

/// Mixes an instance number and a round into a seed.
fn mix(seed: u64, a: u64, b: u64) -> u64 {
    let mut r = Rng::new(seed ^ a.wrapping_mul(0xa076_1d64_78bd_642f) ^ b.wrapping_mul(0xe703_7ed1_a0b4_28db));
    r.next_u64()
}

impl State {
    /// The state before round 0 of `instances` instances whose round 0 is at about `t0` (ms).
    pub fn new(instances: usize, t0: i64, seed: u64) -> State {
        let instances = (0..instances)
            .map(|i| {
                let mut r = Rng::new(mix(seed, i as u64, u64::MAX));
                InstanceState {
                    // Counters start far from zero, as long-running processes' do.
                    counters: (0..COUNTERS).map(|_| r.below(100_000) as f64).collect(),
                    gauges: (0..GAUGES).map(|g| new_gauge(&mut r, g)).collect(),
                    hists: vec![[0.0; HIST_SERIES]; HIST_HANDLERS],
                }
            })
            .collect();
        State { seed, t0, round: None, instances }
    }

    /// The round the current values belong to.
    pub fn round(&self) -> Option<u64> {
        self.round
    }

    /// Moves every instance to the next round.
    pub fn advance(&mut self) {
        let round = self.round.map_or(0, |r| r + 1);
        self.round = Some(round);
        for (i, inst) in self.instances.iter_mut().enumerate() {
            let mut r = Rng::new(mix(self.seed, i as u64, round));
            step_instance(inst, &mut r);
        }
    }

    /// The current value of template series `kind` of instance `i` (0 for an unknown instance).
    pub fn value(&self, i: usize, kind: Kind) -> f64 {
        let Some(inst) = self.instances.get(i) else { return 0.0 };
        let v = match kind {
            Kind::Counter(c) => inst.counters.get(c),
            Kind::Gauge(g) => inst.gauges.get(g),
            Kind::Bucket(h, b) => inst.hists.get(h).and_then(|x| x.get(b)),
            Kind::Sum(h) => inst.hists.get(h).map(|x| &x[BUCKETS.len()]),
            Kind::Count(h) => inst.hists.get(h).map(|x| &x[BUCKETS.len() + 1]),
        };
        v.copied().unwrap_or(0.0)
    }

    /// The timestamp (ms) of instance `i`'s samples in `round`: never on a whole second.
    pub fn timestamp(&self, i: usize, round: u64) -> i64 {
        timestamp(self.seed, self.t0, i, round)
    }
}

/// The timestamp (ms) of instance `i`'s samples in `round` for a workload starting at `t0`.
pub fn timestamp(seed: u64, t0: i64, i: usize, round: u64) -> i64 {
    let offset = (mix(seed, i as u64, u64::MAX - 1) % INTERVAL_MS as u64) as i64;
    let jitter = (mix(seed, i as u64, round ^ 0x5555) % 41) as i64 - 20;
    let t = t0 + round as i64 * INTERVAL_MS + offset + jitter;
    if t.rem_euclid(1000) == 0 { t + 1 } else { t }
}

fn new_gauge(r: &mut Rng, g: usize) -> f64 {
    if g < MEMORY_AREAS {
        // Memory in whole pages, 4 MiB to 4 GiB.
        (r.below(1 << 20) + 1024) as f64 * 4096.0
    } else {
        // Queue lengths: small integers.
        r.below(200) as f64
    }
}

fn step_instance(inst: &mut InstanceState, r: &mut Rng) {
    for (c, v) in inst.counters.iter_mut().enumerate() {
        // Busier handlers (low numbers) count faster; 5xx codes (odd indices) rarely move.
        let max = if c % 2 == 1 { 2 } else { 2 + (HANDLERS - c / 8) as u64 / 5 };
        *v += r.below(max) as f64;
    }
    for (g, v) in inst.gauges.iter_mut().enumerate() {
        if r.below(10) >= 7 {
            *v = new_gauge(r, g);
        }
    }
    for h in inst.hists.iter_mut() {
        let n = r.below(12);
        for _ in 0..n {
            // Latencies spread log-uniformly over 1 ms .. ~16 s.
            let v = 0.001 * 2f64.powf(r.unit() * 14.0);
            for (b, &bound) in BUCKETS.iter().enumerate() {
                if v <= bound {
                    h[b] += 1.0;
                }
            }
            h[BUCKETS.len()] += v;
            h[BUCKETS.len() + 1] += 1.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_shape() {
        let t = template();
        assert_eq!(t.len(), TEMPLATE_LEN);
        let mut seen = std::collections::HashSet::new();
        for s in &t {
            let mut names: Vec<&str> = s.labels.iter().map(|l| l.0).collect();
            let sorted = {
                let mut x = names.clone();
                x.sort_unstable();
                x
            };
            assert_eq!(names, sorted, "labels of {} sorted", s.name);
            names.dedup();
            assert_eq!(names.len(), s.labels.len());
            assert!(seen.insert((s.name, s.labels.clone())), "duplicate series {s:?}");
        }
        assert_eq!(t.iter().filter(|s| matches!(s.kind, Kind::Counter(_))).count(), 400);
        assert_eq!(t.iter().filter(|s| matches!(s.kind, Kind::Bucket(..))).count(), 240);
    }

    #[test]
    fn workload_instances() {
        let cases = [(1, 1, 1), (1000, 1, 1000), (1001, 2, 1), (2500, 3, 500)];
        for (series, instances, last) in cases {
            let w = Workload::new(series);
            assert_eq!(w.instances(), instances, "{series}");
            assert_eq!(w.instance_len(instances - 1), last, "{series}");
            assert_eq!((0..instances).map(|i| w.instance_len(i)).sum::<usize>(), series);
        }
    }

    #[test]
    fn values_behave_like_their_kind() {
        let t = template();
        let mut s = State::new(3, 1_700_000_000_000, 7);
        let mut prev: Option<Vec<f64>> = None;
        let mut gauge_repeats = 0usize;
        let mut gauge_total = 0usize;
        for round in 0..50u64 {
            s.advance();
            assert_eq!(s.round(), Some(round));
            let cur: Vec<f64> =
                (0..3).flat_map(|i| t.iter().map(move |x| (i, x.kind))).map(|(i, k)| s.value(i, k)).collect();
            for i in 0..3 {
                for h in 0..HIST_HANDLERS {
                    // Cumulative buckets never decrease with `le`, and `+Inf` equals `_count`.
                    let b: Vec<f64> = (0..BUCKETS.len()).map(|b| s.value(i, Kind::Bucket(h, b))).collect();
                    assert!(b.windows(2).all(|w| w[0] <= w[1]), "{b:?}");
                    assert_eq!(b[BUCKETS.len() - 1], s.value(i, Kind::Count(h)));
                }
            }
            if let Some(p) = &prev {
                for (j, x) in t.iter().enumerate().chain(t.iter().enumerate().map(|(j, x)| (j + 1000, x))) {
                    match x.kind {
                        Kind::Counter(_) | Kind::Bucket(..) | Kind::Sum(_) | Kind::Count(_) => {
                            assert!(cur[j] >= p[j], "{} fell", x.name);
                            if !matches!(x.kind, Kind::Sum(_)) {
                                assert_eq!(cur[j].fract(), 0.0, "{} counts whole events", x.name);
                            }
                        }
                        Kind::Gauge(_) => {
                            gauge_total += 1;
                            gauge_repeats += usize::from(cur[j] == p[j]);
                        }
                    }
                }
            }
            prev = Some(cur);
        }
        // 70 % of gauge updates keep the value (plus chance repeats of small queue lengths).
        let share = gauge_repeats as f64 / gauge_total as f64;
        assert!((0.65..0.8).contains(&share), "gauge repeat share {share}");
    }

    #[test]
    fn same_seed_same_values() {
        let t = template();
        let mut a = State::new(2, 0, 42);
        let mut b = State::new(2, 0, 42);
        let mut c = State::new(2, 0, 43);
        for _ in 0..5 {
            a.advance();
            b.advance();
            c.advance();
        }
        let va: Vec<f64> = t.iter().map(|x| a.value(1, x.kind)).collect();
        let vb: Vec<f64> = t.iter().map(|x| b.value(1, x.kind)).collect();
        let vc: Vec<f64> = t.iter().map(|x| c.value(1, x.kind)).collect();
        assert_eq!(va, vb);
        assert_ne!(va, vc);
    }

    #[test]
    fn timestamps_are_spaced_and_off_whole_seconds() {
        let t0 = 1_700_000_000_000;
        for i in 0..200 {
            let mut last = i64::MIN;
            for round in 0..100 {
                let t = timestamp(1, t0, i, round);
                assert_ne!(t.rem_euclid(1000), 0);
                assert!(t > last);
                if last != i64::MIN {
                    assert!((INTERVAL_MS - 41..=INTERVAL_MS + 41).contains(&(t - last)), "{}", t - last);
                }
                assert!(
                    (t0 + round as i64 * INTERVAL_MS - 20..t0 + (round as i64 + 1) * INTERVAL_MS + 21).contains(&t)
                );
                last = t;
            }
        }
    }

    #[test]
    fn le_texts() {
        assert_eq!(le_text(0.005), "0.005");
        assert_eq!(le_text(1.0), "1");
        assert_eq!(le_text(2.5), "2.5");
        assert_eq!(le_text(f64::INFINITY), "+Inf");
    }
}
