//! Turns the workload's sample stream into ready-to-send remote-write request bodies.
//!
//! [`Stream`] walks the workload round by round (or window by window, when every `TimeSeries`
//! carries several consecutive samples, as a backfill does) and cuts the samples into
//! snappy-compressed [`Body`]s, one list per *shard*. Series `g` always goes to shard
//! `g % shards`, and every shard sends its bodies one after the other, so the samples of one
//! series arrive in time order, as Prometheus's own sender guarantees with its queue shards.
//!
//! Encoding is done before a measurement starts (and spread over the machine's cores), so the
//! load generator's own CPU use while sending is only the HTTP client's.

use crate::proto::{encode_label, encode_series};
use crate::series::{JOB, State, TEMPLATE_LEN, Workload, instance_label};
use bytes::Bytes;

/// One request body: a snappy-compressed `WriteRequest`.
#[derive(Debug, Clone)]
pub struct Body {
    /// The compressed bytes.
    pub data: Bytes,
    /// How many samples it carries.
    pub samples: u32,
}

/// The bodies of one batch of work, per shard, each list in sending order.
pub type ShardBodies = Vec<Vec<Body>>;

/// The pending, not yet compressed request of one shard.
#[derive(Debug, Default)]
struct ShardBuf {
    raw: Vec<u8>,
    samples: u32,
    out: Vec<Body>,
}

impl ShardBuf {
    fn flush(&mut self, enc: &mut snap::raw::Encoder) {
        if self.samples == 0 {
            return;
        }
        // Compression of a buffer held in memory cannot fail short of running out of memory;
        // an error would only mean an absurd input length, which a batch never has.
        let data = enc.compress_vec(&self.raw).unwrap_or_default();
        self.out.push(Body { data: Bytes::from(data), samples: self.samples });
        self.raw.clear();
        self.samples = 0;
    }
}

/// Encodes the sample stream of a workload into request bodies.
#[derive(Debug)]
pub struct Stream {
    workload: Workload,
    state: State,
    /// Samples per `TimeSeries` (consecutive rounds of the same series).
    window: usize,
    /// Samples per request.
    batch: u32,
    /// Encoded labels of each template series that sort before `instance`.
    pre: Vec<Vec<u8>>,
    /// Encoded labels of each template series that sort after `job`.
    post: Vec<Vec<u8>>,
    /// Encoded `instance` and `job` labels of each instance.
    inst_job: Vec<Vec<u8>>,
    /// Values of the current window: `window` rows of `workload.series` values.
    vals: Vec<f64>,
    /// Timestamps of the current window: `window` rows of one per instance.
    ts: Vec<i64>,
    /// The next series of the current window to encode; `workload.series` when the window is
    /// used up (or before the first one).
    pos: usize,
    /// The first round of the current window.
    window_round: Option<u64>,
    shards: Vec<ShardBuf>,
    threads: usize,
}

impl Stream {
    /// A stream over `workload` starting at round 0 at about `t0`, with `window` samples per
    /// series in each `TimeSeries`, `batch` samples per request and `shards` shards.
    pub fn new(workload: Workload, t0: i64, seed: u64, window: usize, batch: u32, shards: usize) -> Stream {
        let mut pre = Vec::with_capacity(TEMPLATE_LEN);
        let mut post = Vec::with_capacity(TEMPLATE_LEN);
        for s in &workload.template {
            let mut a = Vec::new();
            let mut b = Vec::new();
            encode_label(&mut a, "__name__", s.name);
            for (n, v) in &s.labels {
                if *n < "instance" {
                    encode_label(&mut a, n, v);
                } else {
                    encode_label(&mut b, n, v);
                }
            }
            pre.push(a);
            post.push(b);
        }
        let inst_job = (0..workload.instances())
            .map(|i| {
                let mut b = Vec::new();
                encode_label(&mut b, "instance", &instance_label(i));
                encode_label(&mut b, "job", JOB);
                b
            })
            .collect();
        let state = State::new(workload.instances(), t0, seed);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(shards.max(1));
        Stream {
            pos: workload.series,
            workload,
            state,
            window: window.max(1),
            batch: batch.max(1),
            pre,
            post,
            inst_job,
            vals: Vec::new(),
            ts: Vec::new(),
            window_round: None,
            shards: (0..shards.max(1)).map(|_| ShardBuf::default()).collect(),
            threads,
        }
    }

    /// The number of samples taken so far.
    pub fn samples_taken(&self) -> u64 {
        let Some(r) = self.window_round else { return 0 };
        r * self.workload.series as u64 + (self.pos * self.window) as u64
    }

    /// The round the next sample belongs to (the first round of the current window).
    pub fn next_round(&self) -> u64 {
        match self.window_round {
            None => 0,
            Some(r) if self.pos >= self.workload.series => r + self.window as u64,
            Some(r) => r,
        }
    }

    /// The latest timestamp encoded so far (`None` before anything was taken).
    pub fn last_timestamp(&self) -> Option<i64> {
        let r = self.window_round?;
        if self.pos == 0 {
            return None;
        }
        let last = r + self.window as u64 - 1;
        (0..self.workload.instances()).map(|i| self.state.timestamp(i, last)).max()
    }

    /// Computes the values of the next window.
    fn next_window(&mut self) {
        let n = self.workload.series;
        let inst = self.workload.instances();
        self.vals.clear();
        self.ts.clear();
        let first = self.next_round();
        for _ in 0..self.window {
            self.state.advance();
            let round = self.state.round().unwrap_or(0);
            for i in 0..inst {
                self.ts.push(self.state.timestamp(i, round));
            }
            for g in 0..n {
                let kind = self.workload.template[g % TEMPLATE_LEN].kind;
                self.vals.push(self.state.value(g / TEMPLATE_LEN, kind));
            }
        }
        self.window_round = Some(first);
        self.pos = 0;
    }

    /// Encodes the next `n` series-windows (`n * window` samples; with a window of 1, simply
    /// the next `n` samples) and returns the bodies, per shard. Partial batches are sent as
    /// they are, so the result holds exactly these samples.
    pub fn take(&mut self, mut n: u64) -> ShardBodies {
        while n > 0 {
            if self.pos >= self.workload.series {
                self.next_window();
            }
            let end = (self.pos as u64 + n).min(self.workload.series as u64) as usize;
            self.encode_range(self.pos, end);
            n -= (end - self.pos) as u64;
            self.pos = end;
        }
        self.finish()
    }

    /// Encodes the next `rounds` rounds entirely (rounded up to whole windows).
    pub fn take_rounds(&mut self, rounds: u64) -> ShardBodies {
        let windows = rounds.div_ceil(self.window as u64);
        let mut n = windows * self.workload.series as u64;
        // Finish a partly taken window first.
        if self.pos < self.workload.series {
            n = n.saturating_sub(self.workload.series as u64).saturating_add((self.workload.series - self.pos) as u64);
        }
        self.take(n)
    }

    /// Flushes every shard's partial batch and hands out the bodies.
    fn finish(&mut self) -> ShardBodies {
        let mut enc = snap::raw::Encoder::new();
        self.shards
            .iter_mut()
            .map(|s| {
                s.flush(&mut enc);
                std::mem::take(&mut s.out)
            })
            .collect()
    }

    /// Encodes series `a..b` of the current window into the shards' batches, in parallel.
    fn encode_range(&mut self, a: usize, b: usize) {
        let nshards = self.shards.len();
        let per_thread = nshards.div_ceil(self.threads);
        let ctx = EncodeCtx {
            pre: &self.pre,
            post: &self.post,
            inst_job: &self.inst_job,
            vals: &self.vals,
            ts: &self.ts,
            series: self.workload.series,
            instances: self.workload.instances(),
            window: self.window,
            batch: self.batch,
            nshards,
        };
        std::thread::scope(|scope| {
            for (t, chunk) in self.shards.chunks_mut(per_thread).enumerate() {
                let ctx = &ctx;
                scope.spawn(move || ctx.encode(chunk, t * per_thread, a, b));
            }
        });
    }
}

/// What the encoding threads read.
struct EncodeCtx<'a> {
    pre: &'a [Vec<u8>],
    post: &'a [Vec<u8>],
    inst_job: &'a [Vec<u8>],
    vals: &'a [f64],
    ts: &'a [i64],
    series: usize,
    instances: usize,
    window: usize,
    batch: u32,
    nshards: usize,
}

impl EncodeCtx<'_> {
    /// Encodes the series of `a..b` that belong to `shards` (numbered from `first`).
    fn encode(&self, shards: &mut [ShardBuf], first: usize, a: usize, b: usize) {
        let mut enc = snap::raw::Encoder::new();
        let mut samples: Vec<(i64, f64)> = Vec::with_capacity(self.window);
        for (k, sh) in shards.iter_mut().enumerate() {
            let s = first + k;
            // The first series at or after `a` that belongs to shard `s`.
            let start = a + (s + self.nshards - a % self.nshards) % self.nshards;
            for g in (start..b).step_by(self.nshards) {
                let (inst, j) = (g / TEMPLATE_LEN, g % TEMPLATE_LEN);
                samples.clear();
                for r in 0..self.window {
                    let t = self.ts.get(r * self.instances + inst).copied().unwrap_or(0);
                    let v = self.vals.get(r * self.series + g).copied().unwrap_or(0.0);
                    samples.push((t, v));
                }
                let parts: [&[u8]; 3] = [&self.pre[j], &self.inst_job[inst], &self.post[j]];
                encode_series(&mut sh.raw, &parts, &samples);
                sh.samples += self.window as u32;
                if sh.samples >= self.batch {
                    sh.flush(&mut enc);
                }
            }
        }
    }
}

/// One request body carrying a single sample of a series with the given labels (sorted by
/// name): the disk phase's clock tick.
pub fn single_sample_body(labels: &[(&str, &str)], t: i64, v: f64) -> Body {
    let mut l = Vec::new();
    for (n, val) in labels {
        encode_label(&mut l, n, val);
    }
    let mut raw = Vec::new();
    encode_series(&mut raw, &[&l], &[(t, v)]);
    let data = snap::raw::Encoder::new().compress_vec(&raw).unwrap_or_default();
    Body { data: Bytes::from(data), samples: 1 }
}

/// An empty `WriteRequest`: probes whether a server has the remote-write receiver, without
/// writing anything.
pub fn empty_body() -> Body {
    let data = snap::raw::Encoder::new().compress_vec(&[]).unwrap_or_default();
    Body { data: Bytes::from(data), samples: 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::{Kind, template};

    /// A minimal decoder for the test: per `TimeSeries`, its labels and samples.
    type Decoded = Vec<(Vec<(String, String)>, Vec<(i64, f64)>)>;

    fn varint(b: &[u8], i: &mut usize) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let x = b[*i];
            *i += 1;
            v |= u64::from(x & 0x7f) << shift;
            if x < 0x80 {
                return v;
            }
            shift += 7;
        }
    }

    fn decode(body: &Body) -> Decoded {
        let raw = snap::raw::Decoder::new().decompress_vec(&body.data).unwrap();
        let mut out = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            assert_eq!(raw[i], 0x0a);
            i += 1;
            let end = varint(&raw, &mut i) as usize + i;
            let (mut labels, mut samples) = (Vec::new(), Vec::new());
            while i < end {
                let tag = raw[i];
                i += 1;
                let len = varint(&raw, &mut i) as usize;
                let m = &raw[i..i + len];
                i += len;
                if tag == 0x0a {
                    let nl = m[1] as usize;
                    let name = String::from_utf8(m[2..2 + nl].to_vec()).unwrap();
                    let vl = m[3 + nl] as usize;
                    let value = String::from_utf8(m[4 + nl..4 + nl + vl].to_vec()).unwrap();
                    labels.push((name, value));
                } else {
                    assert_eq!(tag, 0x12);
                    assert_eq!(m[0], 0x09);
                    let v = f64::from_le_bytes(m[1..9].try_into().unwrap());
                    assert_eq!(m[9], 0x10);
                    let mut k = 10;
                    let t = varint(m, &mut k) as i64;
                    samples.push((t, v));
                }
            }
            out.push((labels, samples));
        }
        out
    }

    fn all(bodies: &ShardBodies) -> Decoded {
        bodies.iter().flatten().flat_map(decode).collect()
    }

    #[test]
    fn stream_covers_every_series_in_order_per_shard() {
        let w = Workload::new(2500);
        let mut s = Stream::new(w.clone(), 1_000_000, 3, 1, 300, 4);
        // 1.5 rounds in three takes that cross the round boundary.
        let mut got = Vec::new();
        for n in [1000u64, 1000, 1750] {
            let b = s.take(n);
            assert_eq!(b.len(), 4);
            assert_eq!(b.iter().flatten().map(|x| u64::from(x.samples)).sum::<u64>(), n);
            assert!(b.iter().flatten().all(|x| x.samples <= 300));
            got.extend(all(&b));
        }
        assert_eq!(s.samples_taken(), 3750);
        assert_eq!(s.next_round(), 1);
        assert_eq!(got.len(), 3750);
        // Every series of round 0 exactly once, and its labels sorted with job and instance.
        let mut per_series: std::collections::HashMap<Vec<(String, String)>, Vec<i64>> = Default::default();
        for (l, smp) in &got {
            assert!(l.windows(2).all(|w| w[0].0 < w[1].0), "{l:?}");
            assert!(l.iter().any(|(n, v)| n == "job" && v == JOB));
            per_series.entry(l.clone()).or_default().extend(smp.iter().map(|x| x.0));
        }
        assert_eq!(per_series.len(), 2500);
        // Within each series, time only moves forward (bodies of one shard are in order).
        for ts in per_series.values() {
            assert!(ts.windows(2).all(|w| w[0] < w[1]));
        }
    }

    #[test]
    fn values_match_the_state() {
        let w = Workload::new(1000);
        let t = template();
        let mut s = Stream::new(w, 0, 9, 3, 2000, 2);
        let got = all(&s.take_rounds(3));
        let mut st = State::new(1, 0, 9);
        let mut want = vec![Vec::new(); 1000];
        for round in 0..3 {
            st.advance();
            for (j, x) in t.iter().enumerate() {
                want[j].push((st.timestamp(0, round), st.value(0, x.kind)));
            }
        }
        assert_eq!(got.len(), 1000);
        for (labels, samples) in got {
            let name = &labels[0].1;
            let j = t
                .iter()
                .position(|x| {
                    x.name == name && x.labels.iter().all(|(n, v)| labels.iter().any(|(a, b)| a == n && b == v))
                })
                .unwrap();
            assert_eq!(samples, want[j], "{labels:?}");
        }
        assert!(matches!(t[0].kind, Kind::Counter(0)));
        assert_eq!(s.next_round(), 3);
    }

    #[test]
    fn clock_and_probe_bodies() {
        let b = single_sample_body(&[("__name__", "x"), ("job", "clock")], 42, 1.5);
        let d = decode(&b);
        assert_eq!(d, vec![(vec![("__name__".into(), "x".into()), ("job".into(), "clock".into())], vec![(42, 1.5)])]);
        let e = empty_body();
        assert!(snap::raw::Decoder::new().decompress_vec(&e.data).unwrap().is_empty());
    }
}
