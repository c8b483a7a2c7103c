//! Remote-write ingest at a fixed number of active series, at rising rates until the server
//! falls behind; then the restart (WAL replay) time.
//!
//! One run, on a fresh server: a warm-up round creates every series (one sample each, sent as
//! fast as the server takes it, not measured); then rate steps of `ingest_step` each, the
//! rate multiplied by `ingest_factor` after every step the server kept up with, until one it
//! did not (then one more step halfway, geometrically, between the two) or the maximum rate.
//! When the first step already falls behind, the rate is divided by the factor instead, up to
//! three times, until a step keeps up.
//! A step *kept up* when every sample was accepted and the last answer came no later than
//! 10 % (plus 0.25 s) after the step's scheduled end. The sample stream is continuous across
//! steps: every step carries on where the previous stopped, at 15 s per round of virtual time,
//! starting 24 hours ago.
//!
//! Figures: the highest accepted samples/s of a step that kept up; CPU seconds per million
//! samples over the steps that kept up; the peak RSS at the end; and, after stopping the
//! server with SIGTERM, the time from starting it again to ready. Before the restart the run
//! checks that the server holds every series (`count({job="bench"})`), else the figures are
//! reported as invalid.

use super::{Ctx, Figure, count, log, now_ms, probe_write, rate_text};
use crate::encoder::Stream;
use crate::sender::send;
use crate::series::{INTERVAL_MS, JOB, Workload};
use crate::system::SystemKind;
use std::path::Path;
use std::time::{Duration, Instant};

/// This process's CPU seconds so far (NaN if `/proc` cannot be read).
fn own_cpu() -> f64 {
    crate::procstat::sample(std::process::id(), crate::procstat::clock_ticks()).map_or(f64::NAN, |s| s.cpu_secs)
}

/// How many times the rate is lowered when the first step does not keep up.
const MAX_STEPS_DOWN: i32 = 3;

/// Chooses the rate of each step from the outcomes of the steps before.
#[derive(Debug, Clone)]
struct Ladder {
    /// The rate of the current step.
    rate: f64,
    factor: f64,
    max: f64,
    last_pass: Option<f64>,
    lowest_fail: Option<f64>,
    downs: i32,
    refining: bool,
    /// The ladder's top was reached (or the stream's time ran out) while keeping up.
    hit_cap: bool,
}

impl Ladder {
    fn new(start: f64, factor: f64, max: f64) -> Ladder {
        Ladder {
            rate: start.min(max),
            factor,
            max,
            last_pass: None,
            lowest_fail: None,
            downs: 0,
            refining: false,
            hit_cap: false,
        }
    }

    /// Records whether the server kept up at the current rate; returns the next rate, or
    /// `None` when the ladder is done.
    fn next(&mut self, kept_up: bool) -> Option<f64> {
        if kept_up {
            self.last_pass = Some(self.last_pass.map_or(self.rate, |p| p.max(self.rate)));
        } else {
            self.lowest_fail = Some(self.lowest_fail.map_or(self.rate, |f| f.min(self.rate)));
        }
        if self.refining {
            return None;
        }
        if kept_up {
            if self.rate >= self.max {
                self.hit_cap = true;
                return None;
            }
            let next = (self.rate * self.factor).min(self.max);
            self.rate = match self.lowest_fail {
                // Never retry a rate it already fell behind at: go halfway (geometrically).
                Some(f) if next >= f => {
                    self.refining = true;
                    (self.rate * f).sqrt()
                }
                _ => next,
            };
        } else if let Some(p) = self.last_pass {
            self.refining = true;
            self.rate = (p * self.rate).sqrt();
        } else if self.downs < MAX_STEPS_DOWN {
            self.downs += 1;
            self.rate /= self.factor;
        } else {
            return None;
        }
        Some(self.rate)
    }
}

/// The figures of one ingest run.
#[derive(Debug, Clone)]
pub struct IngestResult {
    /// Highest sustained samples/s, and whether the ladder's top was reached (a lower bound).
    pub max_rate: Result<(f64, bool), String>,
    /// CPU seconds per million samples over the sustained steps.
    pub cpu_per_million: Figure,
    /// Peak resident set size, bytes.
    pub rss_peak: Figure,
    /// Seconds from start to ready after the ingest.
    pub restart: Figure,
}

impl IngestResult {
    fn all_na(why: &str) -> IngestResult {
        IngestResult {
            max_rate: Err(why.to_string()),
            cpu_per_million: Err(why.to_string()),
            rss_peak: Err(why.to_string()),
            restart: Err(why.to_string()),
        }
    }
}

/// Runs one ingest at `series` active series against `kind`.
pub async fn run(ctx: &Ctx, kind: SystemKind, binary: &Path, series: usize) -> IngestResult {
    let (data, log_path) = ctx.paths(kind, &format!("ingest-{series}"));
    let server = match ctx.start(kind, binary, &data, None, &log_path).await {
        Ok(s) => s,
        Err(e) => return IngestResult::all_na(&e),
    };
    if let Err(e) = probe_write(ctx, &server).await {
        log(format!("{}: {e}", kind.name()));
        ctx.finish(server);
        return IngestResult::all_na(&e);
    }
    let cfg = &ctx.cfg;
    let url = server.url("/api/v1/write");
    // Virtual time starts 24 hours ago on a whole interval, and must stay in the past.
    let t0 = (now_ms() - 24 * 3_600_000).div_euclid(INTERVAL_MS) * INTERVAL_MS;
    let mut stream = Stream::new(Workload::new(series), t0, cfg.seed, 1, cfg.batch, cfg.shards);

    // Warm-up: every series once.
    let bodies = stream.take(series as u64);
    let rep = send(&ctx.write_client, &url, bodies, None, Duration::from_secs(600)).await;
    log(format!(
        "{} ingest {series}: warm-up round (series creation) {} samples at {}/s",
        kind.name(),
        rep.samples_ok,
        rate_text(rep.rate())
    ));
    if rep.samples_ok != series as u64 {
        let why = format!("warm-up rejected: {}", rep.first_error.unwrap_or_else(|| "samples not accepted".into()));
        ctx.finish(server);
        return IngestResult::all_na(&why);
    }

    let step = cfg.ingest_step.as_secs_f64();
    let mut ladder = Ladder::new(cfg.ingest_start_rate, cfg.ingest_factor, cfg.ingest_max_rate);
    let (mut best, mut cpu, mut samples) = (None::<f64>, 0.0, 0u64);
    let mut rate = ladder.rate;
    loop {
        let n = ((rate * step) as u64).max(u64::from(cfg.batch));
        // Stop before virtual time would pass the present.
        let rounds_after = (stream.samples_taken() + n).div_ceil(series as u64);
        if t0 + rounds_after as i64 * INTERVAL_MS > now_ms() - 60_000 {
            log(format!("{} ingest {series}: the stream reached the present; stopping the ladder", kind.name()));
            ladder.hit_cap = ladder.lowest_fail.is_none();
            break;
        }
        let enc = Instant::now();
        let bodies = stream.take(n);
        let enc = enc.elapsed();
        let before = server.sample();
        let own_before = own_cpu();
        let rep = send(&ctx.write_client, &url, bodies, Some(rate), Duration::from_secs_f64(step * 3.0 + 5.0)).await;
        let after = server.sample();
        let own = own_cpu() - own_before;
        let used = match (before, after) {
            (Ok(a), Ok(b)) => b.cpu_secs - a.cpu_secs,
            _ => f64::NAN,
        };
        let on_time = rep.elapsed.as_secs_f64() <= step * 1.1 + 0.25;
        let kept_up = on_time && rep.samples_failed == 0 && rep.samples_unsent == 0;
        log(format!(
            "{} ingest {series}: step {}/s → {}/s accepted in {:.1}s, CPU {used:.1}s (sender {own:.1}s, encoding {:.1}s before), {} retries{}{}",
            kind.name(),
            rate_text(rate),
            rate_text(rep.rate()),
            rep.elapsed.as_secs_f64(),
            enc.as_secs_f64(),
            rep.retries,
            if kept_up { ", kept up" } else { ", fell behind" },
            rep.first_error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()
        ));
        if kept_up {
            best = Some(best.map_or(rep.rate(), |b: f64| b.max(rep.rate())));
            cpu += used;
            samples += rep.samples_ok;
        }
        match ladder.next(kept_up) {
            Some(r) => rate = r,
            None => break,
        }
    }

    let rss = server.sample().map(|s| s.rss_peak as f64).map_err(|e| e.to_string());
    // Every series must be there at the last timestamp written.
    let t_last = stream.last_timestamp().unwrap_or(t0) + 1000;
    let stored = count(ctx, &server, &format!("{{job=\"{JOB}\"}}"), t_last).await;
    let invalid = match &stored {
        Ok(c) if *c == series as u64 => None,
        Ok(c) => Some(format!("invalid: {c} of {series} series stored")),
        Err(e) => Some(format!("invalid: {e}")),
    };
    if let Some(why) = &invalid {
        log(format!("{} ingest {series}: {why}", kind.name()));
    }

    // Restart: stop cleanly, start on the same data, time to ready.
    let (clean, took) = server.stop(super::STOP_LIMIT);
    log(format!("{} ingest {series}: stopped in {took:.1?}{}", kind.name(), if clean { "" } else { " (killed)" }));
    let restart = match ctx.start(kind, binary, &data, None, &log_path).await {
        Ok(s) => {
            let t = s.started.elapsed().as_secs_f64();
            log(format!("{} ingest {series}: ready {t:.2}s after restart", kind.name()));
            ctx.finish(s);
            Ok(t)
        }
        Err(e) => {
            ctx.discard(&data);
            Err(e)
        }
    };

    let max_rate = match best {
        Some(b) => Ok((b, ladder.hit_cap)),
        None => Err(format!("fell behind even at {}/s", rate_text(rate))),
    };
    let cpu_per_million = if samples > 0 && cpu.is_finite() {
        Ok(cpu / samples as f64 * 1e6)
    } else {
        Err("no step kept up".to_string())
    };
    match invalid {
        Some(why) => {
            IngestResult { max_rate: Err(why.clone()), cpu_per_million: Err(why.clone()), rss_peak: Err(why), restart }
        }
        None => IngestResult { max_rate, cpu_per_million, rss_peak: rss, restart },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladder_steps() {
        // (outcomes of successive steps, rates tried, hit_cap), start 100, factor 2, max 1600.
        let cases: &[(&[bool], &[f64], bool)] = &[
            // Up until a failure, then one step halfway between the last pass and the failure.
            (&[true, true, false, true], &[100.0, 200.0, 400.0, 282.842_712_474_619], false),
            (&[true, false, false], &[100.0, 200.0, 141.421_356_237_309_5], false),
            // Everything kept up: the top, marked as a lower bound.
            (&[true, true, true, true, true], &[100.0, 200.0, 400.0, 800.0, 1600.0], true),
            // The first step fails: down until one passes, then halfway up to the failure.
            (&[false, false, true, true], &[100.0, 50.0, 25.0, 35.355_339_059_327_38], false),
            // Down three times at most.
            (&[false, false, false, false], &[100.0, 50.0, 25.0, 12.5], false),
        ];
        for (outcomes, rates, cap) in cases {
            let mut l = Ladder::new(100.0, 2.0, 1600.0);
            let mut tried = vec![l.rate];
            for (i, &ok) in outcomes.iter().enumerate() {
                match l.next(ok) {
                    Some(r) => tried.push(r),
                    None => assert_eq!(i, outcomes.len() - 1, "{outcomes:?}: ended early"),
                }
            }
            assert_eq!(tried.len(), rates.len(), "{outcomes:?}: {tried:?}");
            for (a, b) in tried.iter().zip(rates.iter()) {
                assert!((a - b).abs() < 1e-9, "{outcomes:?}: {tried:?}");
            }
            assert_eq!(l.hit_cap, *cap, "{outcomes:?}");
        }
    }
}
