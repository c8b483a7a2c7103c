//! Disk: hours of history backfilled through remote write, bytes per sample once the server
//! has persisted and compacted it; then the dashboard queries over that history.
//!
//! The history (the same for every system) ends five hours before the run started and is
//! sent oldest first, in chunks of 10 minutes of
//! virtual time (all shards finish a chunk before the next starts, so Prometheus's head
//! window is never outrun). Every `TimeSeries` carries `backfill_window` consecutive samples.
//!
//! Then one sample of a separate series (`cairn_bench_clock{job="clock"}`) five hours after
//! the history moves the head forward, so Prometheus and Cairn persist all of the history
//! into blocks (their head keeps at most 1.5 block ranges); the run waits until
//! `prometheus_tsdb_head_min_time` is past the history and the directory size is steady.
//! VictoriaMetrics is told to flush (`/internal/force_flush`) and to merge
//! (`/internal/force_merge`), and the run waits until `vm_active_merges` is 0 and the size is
//! steady. Bytes are then counted two ways: the whole data directory, and the block
//! directories only (Prometheus and Cairn; VictoriaMetrics keeps no WAL, so both are its
//! whole directory).

use super::{Ctx, Figure, count, log, probe_write, rate_text, self_metric};
use crate::encoder::{ShardBodies, Stream, single_sample_body};
use crate::procstat::{blocks_usage, dir_usage};
use crate::queries::{self, Answer, Endpoint, QuerySpec, Window, query_set};
use crate::sender::{Outcome, SendReport, post, send};
use crate::series::{INTERVAL_MS, JOB, Workload, timestamp};
use crate::system::{Server, SystemKind};
use std::path::Path;
use std::time::{Duration, Instant};

/// Rounds per backfill chunk: 10 minutes of virtual time.
const CHUNK_ROUNDS: u64 = 40;
/// How far after the history the clock tick is: more than 1.5 block ranges (3 h), so the
/// head's whole history is due for persistence.
const CLOCK_AHEAD_MS: i64 = 5 * 3_600_000;
/// Timed runs of the label-name and label-value requests (at least).
pub const METADATA_RUNS: usize = 100;

/// How long the data directory's size must stay unchanged to count as settled.
const STEADY: Duration = Duration::from_secs(6);

/// The counter Prometheus and Cairn raise when they have checkpointed the WAL.
const WAL_TRUNCATIONS: &str = "prometheus_tsdb_wal_truncations_total";

/// How long after the head was persisted to wait for a WAL truncation that may not come (too
/// few segments to checkpoint, or it finished before the first look); at the default sizes a
/// checkpoint takes a few seconds.
const TRUNCATION_WAIT: Duration = Duration::from_secs(20);

/// The outcome of one query on one system.
#[derive(Debug, Clone)]
pub struct QueryOutcome {
    /// Median and p90 seconds, or the error.
    pub timing: Result<(f64, f64), String>,
    /// The reduced answer (for the check against Prometheus).
    pub answer: Option<Answer>,
}

/// The figures of the disk phase, and the query outcomes (in [`query_set`] order).
#[derive(Debug, Clone)]
pub struct DiskResult {
    /// Backfill samples/s (as fast as the server takes them).
    pub backfill_rate: Figure,
    /// Whole data directory, bytes per sample.
    pub bytes_all: Figure,
    /// Block directories only, bytes per sample.
    pub bytes_blocks: Figure,
    /// One per query, or `Err` for all of them.
    pub queries: Result<Vec<QueryOutcome>, String>,
}

impl DiskResult {
    fn all_na(why: &str) -> DiskResult {
        DiskResult {
            backfill_rate: Err(why.to_string()),
            bytes_all: Err(why.to_string()),
            bytes_blocks: Err(why.to_string()),
            queries: Err(why.to_string()),
        }
    }
}

/// Runs the disk phase (and, when `with_queries`, the queries) against `kind`.
pub async fn run(ctx: &Ctx, kind: SystemKind, binary: &Path, with_queries: bool) -> DiskResult {
    let (data, log_path) = ctx.paths(kind, "disk");
    let server = match ctx.start(kind, binary, &data, None, &log_path).await {
        Ok(s) => s,
        Err(e) => return DiskResult::all_na(&e),
    };
    if let Err(e) = probe_write(ctx, &server).await {
        ctx.finish(server);
        return DiskResult::all_na(&e);
    }
    let cfg = &ctx.cfg;
    let series = cfg.disk_series;
    let rounds = (cfg.disk_hours * 3600.0 * 1000.0 / INTERVAL_MS as f64).round() as u64;
    // A whole number of windows, so every series has the same samples everywhere.
    let rounds = rounds.div_ceil(cfg.backfill_window as u64) * cfg.backfill_window as u64;
    // The same history for every system: it ends five hours and a minute before the run
    // started, so the clock tick five hours later is still in the past (Cairn, like newer
    // Prometheus, refuses samples more than 10 minutes in the future).
    let end = (ctx.run_start_ms - CLOCK_AHEAD_MS - 60_000).div_euclid(60_000) * 60_000;
    let t0 = end - rounds as i64 * INTERVAL_MS;
    let total = rounds * series as u64;
    log(format!(
        "{}: backfilling {series} series × {rounds} rounds ({total} samples, {:.1} h)",
        kind.name(),
        cfg.disk_hours
    ));

    let rep = backfill(
        ctx,
        &server,
        Stream::new(Workload::new(series), t0, cfg.seed, cfg.backfill_window, cfg.batch, cfg.shards),
        rounds,
    )
    .await;
    log(format!(
        "{}: backfill {} samples accepted at {}/s{}",
        kind.name(),
        rep.samples_ok,
        rate_text(rep.rate()),
        rep.first_error.as_deref().map(|e| format!(" (first error: {e})")).unwrap_or_default()
    ));
    if rep.samples_ok != total {
        let why = format!(
            "backfill incomplete: {} of {total} accepted{}",
            rep.samples_ok,
            rep.first_error.map(|e| format!(", {e}")).unwrap_or_default()
        );
        ctx.finish(server);
        return DiskResult::all_na(&why);
    }
    let backfill_rate = Ok(rep.rate());
    // The last sample of the history (instances are "scraped" at different offsets).
    let last_ts =
        (0..Workload::new(series).instances()).map(|i| timestamp(cfg.seed, t0, i, rounds - 1)).max().unwrap_or(end);
    let first_ts = (0..Workload::new(series).instances()).map(|i| timestamp(cfg.seed, t0, i, 0)).min().unwrap_or(t0);

    let stored = count(ctx, &server, &format!("{{job=\"{JOB}\"}}"), last_ts).await;
    if stored != Ok(series as u64) {
        let why = format!("invalid: stored {stored:?} of {series} series");
        ctx.finish(server);
        return DiskResult::all_na(&why);
    }

    settle(ctx, &server, last_ts).await;
    let samples = total as f64;
    let bytes_all = dir_usage(&data).map(|u| u.allocated as f64 / samples).map_err(|e| e.to_string());
    let bytes_blocks = if kind == SystemKind::VictoriaMetrics {
        bytes_all.clone()
    } else {
        blocks_usage(&data).map(|u| u.allocated as f64 / samples).map_err(|e| e.to_string())
    };
    log(format!(
        "{}: on disk {} bytes/sample (whole directory), {} (blocks)",
        kind.name(),
        bytes_all.as_ref().map_or_else(|e| e.clone(), |b| format!("{b:.3}")),
        bytes_blocks.as_ref().map_or_else(|e| e.clone(), |b| format!("{b:.3}"))
    ));

    let queries = if with_queries {
        Ok(run_queries(ctx, &server, Window::over(first_ts, last_ts)).await)
    } else {
        Err("not run".to_string())
    };
    ctx.finish(server);
    DiskResult { backfill_rate, bytes_all, bytes_blocks, queries }
}

/// Sends the history chunk by chunk; the next chunk is encoded on another thread while the
/// current one is sent.
async fn backfill(ctx: &Ctx, server: &Server, mut stream: Stream, rounds: u64) -> SendReport {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<ShardBodies>(1);
    let producer = std::thread::spawn(move || {
        let mut done = 0;
        while done < rounds {
            let n = CHUNK_ROUNDS.min(rounds - done);
            let bodies = stream.take_rounds(n);
            done = stream.next_round();
            if tx.blocking_send(bodies).is_err() {
                return;
            }
        }
    });
    let url = server.url("/api/v1/write");
    let start = Instant::now();
    let mut total = SendReport::default();
    while let Some(bodies) = rx.recv().await {
        let rep = send(&ctx.write_client, &url, bodies, None, Duration::from_secs(600)).await;
        let failed = rep.samples_failed + rep.samples_unsent > 0;
        total.samples_ok += rep.samples_ok;
        total.samples_failed += rep.samples_failed;
        total.samples_unsent += rep.samples_unsent;
        total.retries += rep.retries;
        if total.first_error.is_none() {
            total.first_error = rep.first_error;
        }
        if failed {
            break;
        }
    }
    drop(rx);
    let _ = producer.join();
    total.elapsed = start.elapsed();
    total
}

/// Makes the server persist and compact the history, and waits (bounded) until it has.
async fn settle(ctx: &Ctx, server: &Server, last_ts: i64) {
    let t = Instant::now();
    let clock =
        single_sample_body(&[("__name__", "cairn_bench_clock"), ("job", "clock")], last_ts + CLOCK_AHEAD_MS, 1.0);
    let (outcome, _) = post(&ctx.write_client, &server.url("/api/v1/write"), &clock).await;
    if !matches!(outcome, Outcome::Accepted) {
        log(format!("{}: the clock tick was not accepted: {outcome:?}", server.kind.name()));
    }
    let limit = ctx.cfg.settle_limit;
    if server.kind == SystemKind::VictoriaMetrics {
        let _ = ctx.client.get(server.url("/internal/force_flush")).send().await;
        let _ = ctx.client.get(server.url("/internal/force_merge")).send().await;
    }
    // Prometheus and Cairn checkpoint the WAL and delete its old segments just after they drop
    // the persisted range from the head; measuring before that counts WAL they are about to
    // drop. So once the head has moved, wait for the truncation counter to move past the value
    // it had then (or for TRUNCATION_WAIT, when the truncation finished before the first look).
    let mut persisted_since: Option<(Instant, Option<f64>)> = None;
    let mut last_size = 0u64;
    let mut steady_since = Instant::now();
    loop {
        let persisted = match server.kind {
            SystemKind::VictoriaMetrics => self_metric(ctx, server, "vm_active_merges").await.is_some_and(|m| m == 0.0),
            _ => {
                let head_moved =
                    self_metric(ctx, server, "prometheus_tsdb_head_min_time").await.is_some_and(|m| m > last_ts as f64);
                let truncations = self_metric(ctx, server, WAL_TRUNCATIONS).await;
                persisted_since =
                    if head_moved { persisted_since.or(Some((Instant::now(), truncations))) } else { None };
                persisted_since.is_some_and(|(since, at_move)| {
                    let truncated = matches!((at_move, truncations), (Some(a), Some(n)) if n > a);
                    truncated || since.elapsed() >= TRUNCATION_WAIT
                })
            }
        };
        let size = dir_usage(&server.data).map_or(0, |u| u.allocated);
        if size != last_size {
            last_size = size;
            steady_since = Instant::now();
        }
        if persisted && steady_since.elapsed() >= STEADY {
            log(format!("{}: history persisted and steady after {:.0?}", server.kind.name(), t.elapsed()));
            return;
        }
        if t.elapsed() > limit {
            log(format!(
                "{}: not persisted and steady within {limit:.0?} (persisted: {persisted}); measuring anyway",
                server.kind.name()
            ));
            return;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Times every query of the set over `w`.
async fn run_queries(ctx: &Ctx, server: &Server, w: Window) -> Vec<QueryOutcome> {
    let mut out = Vec::new();
    for q in query_set() {
        out.push(run_query(ctx, server, &q, &w).await);
    }
    out
}

async fn run_query(ctx: &Ctx, server: &Server, q: &QuerySpec, w: &Window) -> QueryOutcome {
    let url = server.url(&queries::request_path(q, w));
    // Label names and values answer in well under a millisecond, where a handful of runs
    // leaves the median to one scheduler hiccup; they take many runs at no real cost.
    let runs = match q.endpoint {
        Endpoint::Labels | Endpoint::LabelValues => ctx.cfg.query_runs.max(METADATA_RUNS),
        _ => ctx.cfg.query_runs,
    };
    match queries::run(&ctx.query_client, &url, runs).await {
        Ok(t) => {
            let answer = Answer::from_data(q.endpoint, &t.answer);
            log(format!(
                "{}: {:<40} median {:>9.1} ms, p90 {:>9.1} ms ({})",
                server.kind.name(),
                q.name,
                t.median() * 1e3,
                t.p90() * 1e3,
                answer.as_ref().map_or_else(|e| e.to_string(), Answer::size_text)
            ));
            match answer {
                Ok(a) => QueryOutcome { timing: Ok((t.median(), t.p90())), answer: Some(a) },
                Err(e) => QueryOutcome { timing: Err(e.to_string()), answer: None },
            }
        }
        Err(e) => {
            log(format!("{}: {} failed: {e}", server.kind.name(), q.name));
            QueryOutcome { timing: Err(format!("error: {e}")), answer: None }
        }
    }
}
