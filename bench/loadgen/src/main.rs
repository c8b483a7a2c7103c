//! `cairn-compare`: the driver behind `bench/compare`. It runs Cairn, Prometheus and
//! VictoriaMetrics in turn, each on loopback with its own empty data directory, through the
//! same phases, and prints one table (also written as Markdown and JSON).
//!
//! Modules: [`series`] (the synthetic workload), [`proto`] and [`encoder`] (remote-write
//! bodies), [`sender`] (paced remote-write client), [`targets`] (scrape targets), [`system`]
//! (running a server), [`procstat`] (CPU, memory, disk), [`queries`] (the dashboard queries
//! and the answer check), [`phases`] (what is measured), [`report`] (the table) and
//! [`config`] (the command line).

#![warn(missing_docs)]

mod config;
#[cfg(test)]
mod e2e_tests;
mod encoder;
mod phases;
mod procstat;
mod proto;
mod queries;
mod report;
mod sender;
mod series;
mod system;
mod targets;

use config::{Config, Phase, USAGE};
use phases::disk::DiskResult;
use phases::ingest::IngestResult;
use phases::scrape::ScrapeResult;
use phases::{Ctx, log};
use report::{Better, Cell, Machine, Report, Row, Unit};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use system::SystemKind;

/// Relative tolerance of the answer check.
const REL_TOLERANCE: f64 = 1e-6;

/// Everything measured for one system.
#[derive(Debug, Default)]
struct SystemResults {
    /// Why the whole column is missing (binary not found).
    missing: Option<String>,
    ingest: Vec<IngestResult>,
    scrape: Option<ScrapeResult>,
    disk: Option<DiskResult>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = match Config::parse(&args) {
        Ok(c) => c,
        Err(config::Error::Help) => {
            print!("{USAGE}");
            return;
        }
        Err(e) => {
            eprintln!("cairn-compare: {e}");
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cairn-compare: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(cfg)) {
        eprintln!("cairn-compare: {e}");
        std::process::exit(1);
    }
}

async fn run(cfg: Config) -> Result<(), Box<dyn std::error::Error>> {
    log(format!("preset {}, systems {:?}, phases {:?}", cfg.preset, cfg.systems, cfg.phases));
    let started_unix = phases::now_ms() / 1000;
    let t_start = Instant::now();
    let machine = Machine::detect();
    let run_dir = cfg.work_dir.join(format!("cairn-compare-{}-{}", std::process::id(), started_unix));
    std::fs::create_dir_all(&run_dir)?;
    let empty_config = run_dir.join("empty.yml");
    std::fs::write(&empty_config, "global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n")?;
    let ctx = Ctx {
        client: sender::client(Duration::from_secs(30))?,
        write_client: sender::client(Duration::from_secs(120))?,
        query_client: sender::client(queries::QUERY_TIMEOUT)?,
        run_dir: run_dir.clone(),
        empty_config,
        run_start_ms: phases::now_ms(),
        cfg,
    };
    log(format!("data directories and logs under {}", run_dir.display()));

    let mut versions = Vec::new();
    let mut results: HashMap<SystemKind, SystemResults> = HashMap::new();
    for (i, kind) in SystemKind::ALL.into_iter().enumerate() {
        let bin = ctx.cfg.binaries[i].clone().filter(|b| b.is_file());
        versions.push(bin.as_ref().map_or_else(|| "not installed".to_string(), |b| system::version(kind, b)));
        let mut r = SystemResults::default();
        if !ctx.cfg.systems.contains(&kind) {
            r.missing = Some("not selected".into());
        } else if let Some(bin) = bin {
            run_system(&ctx, kind, &bin, &mut r).await;
        } else {
            r.missing = Some("not installed".into());
        }
        results.insert(kind, r);
    }

    let mut report = Report {
        started: report::rfc3339(started_unix),
        wall_secs: t_start.elapsed().as_secs_f64(),
        preset: ctx.cfg.preset.to_string(),
        machine,
        versions,
        params: ctx.cfg.params(),
        ..Report::default()
    };
    build_rows(&ctx.cfg, &results, &mut report);
    add_notes(&ctx.cfg, &mut report);

    println!("\n{}", report.to_text());
    for m in &report.mismatches {
        println!("MISMATCH {m}");
    }
    let written = write_results(&ctx.cfg, &report)?;
    for p in written {
        log(format!("wrote {}", p.display()));
    }
    if !ctx.cfg.keep {
        let _ = std::fs::remove_dir_all(&run_dir);
    }
    Ok(())
}

async fn run_system(ctx: &Ctx, kind: SystemKind, bin: &std::path::Path, r: &mut SystemResults) {
    log(format!("=== {} ({})", kind.name(), bin.display()));
    if ctx.cfg.has(Phase::Ingest) {
        for &s in &ctx.cfg.ingest_series {
            r.ingest.push(phases::ingest::run(ctx, kind, bin, s).await);
        }
    }
    if ctx.cfg.has(Phase::Scrape) {
        r.scrape = Some(phases::scrape::run(ctx, kind, bin).await);
    }
    if ctx.cfg.has(Phase::Disk) {
        r.disk = Some(phases::disk::run(ctx, kind, bin, ctx.cfg.has(Phase::Queries)).await);
    }
}

/// Short text for a series count: 100k, 1M.
fn series_text(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

/// Builds one row from a per-system cell function.
fn row(
    figure: String,
    unit: Unit,
    better: Better,
    results: &HashMap<SystemKind, SystemResults>,
    f: impl Fn(&SystemResults) -> Cell,
) -> Row {
    let cells = SystemKind::ALL.map(|k| match results.get(&k) {
        Some(r) => match &r.missing {
            Some(why) => Cell::Na(why.clone()),
            None => f(r),
        },
        None => Cell::Na("not run".into()),
    });
    Row { figure, unit, better, cells }
}

fn build_rows(cfg: &Config, results: &HashMap<SystemKind, SystemResults>, report: &mut Report) {
    let rows = &mut report.rows;
    let not_run = || Cell::Na("phase not run".into());
    if cfg.has(Phase::Ingest) {
        for (i, &s) in cfg.ingest_series.iter().enumerate() {
            let n = series_text(s);
            let get = |r: &SystemResults| r.ingest.get(i).cloned();
            rows.push(row(
                format!("remote write @{n} series: max sustained"),
                Unit::Rate,
                Better::Higher,
                results,
                |r| match get(r).map(|x| x.max_rate) {
                    Some(Ok((v, at_least))) => Cell::Value { v, p90: None, at_least },
                    Some(Err(e)) => Cell::Na(e),
                    None => not_run(),
                },
            ));
            rows.push(row(
                format!("remote write @{n} series: CPU"),
                Unit::CpuPerMillion,
                Better::Lower,
                results,
                |r| get(r).map_or_else(not_run, |x| Cell::from_result(&x.cpu_per_million)),
            ));
            rows.push(row(format!("remote write @{n} series: peak RSS"), Unit::MiB, Better::Lower, results, |r| {
                get(r).map_or_else(not_run, |x| Cell::from_result(&x.rss_peak))
            }));
            rows.push(row(
                format!("restart after ingest @{n}: start to ready"),
                Unit::Secs,
                Better::Lower,
                results,
                |r| get(r).map_or_else(not_run, |x| Cell::from_result(&x.restart)),
            ));
        }
    }
    if cfg.has(Phase::Scrape) {
        let n = series_text(cfg.scrape_series);
        rows.push(row(format!("scrape {n} series: CPU"), Unit::CpuPerMillion, Better::Lower, results, |r| {
            r.scrape.as_ref().map_or_else(not_run, |x| Cell::from_result(&x.cpu_per_million))
        }));
        rows.push(row(format!("scrape {n} series: peak RSS"), Unit::MiB, Better::Lower, results, |r| {
            r.scrape.as_ref().map_or_else(not_run, |x| Cell::from_result(&x.rss_peak))
        }));
    }
    if cfg.has(Phase::Disk) {
        let n = format!("{} series × {} h", series_text(cfg.disk_series), cfg.disk_hours);
        rows.push(row(format!("backfill {n}: remote write (unpaced)"), Unit::Rate, Better::Higher, results, |r| {
            r.disk.as_ref().map_or_else(not_run, |x| Cell::from_result(&x.backfill_rate))
        }));
        rows.push(row(format!("disk {n}: whole data dir"), Unit::BytesPerSample, Better::Lower, results, |r| {
            r.disk.as_ref().map_or_else(not_run, |x| Cell::from_result(&x.bytes_all))
        }));
        rows.push(row(format!("disk {n}: blocks only"), Unit::BytesPerSample, Better::Lower, results, |r| {
            r.disk.as_ref().map_or_else(not_run, |x| Cell::from_result(&x.bytes_blocks))
        }));
    }
    if cfg.has(Phase::Queries) {
        query_rows(results, report);
    }
}

/// The query rows, with Cairn's answers checked against Prometheus's.
fn query_rows(results: &HashMap<SystemKind, SystemResults>, report: &mut Report) {
    let outcomes = |k: SystemKind| -> Result<&Vec<phases::disk::QueryOutcome>, String> {
        let r = results.get(&k).ok_or("not run")?;
        if let Some(m) = &r.missing {
            return Err(m.clone());
        }
        let d = r.disk.as_ref().ok_or("phase not run")?;
        d.queries.as_ref().map_err(|e| e.clone())
    };
    let (cairn, prom) = (outcomes(SystemKind::Cairn), outcomes(SystemKind::Prometheus));
    let (mut compared, mut equal) = (0, 0);
    for (qi, q) in queries::query_set().iter().enumerate() {
        let mut cells = SystemKind::ALL.map(|k| match outcomes(k) {
            Err(e) => Cell::Na(e),
            Ok(v) => match v.get(qi).map(|o| &o.timing) {
                Some(Ok((m, p))) => Cell::Value { v: *m, p90: Some(*p), at_least: false },
                Some(Err(e)) => Cell::Na(e.clone()),
                None => Cell::Na("not run".into()),
            },
        });
        let got = cairn.as_ref().ok().and_then(|v| v.get(qi)).and_then(|o| o.answer.as_ref());
        let want = prom.as_ref().ok().and_then(|v| v.get(qi)).and_then(|o| o.answer.as_ref());
        if let (Some(g), Some(w)) = (got, want) {
            compared += 1;
            if w.is_empty() {
                // Agreeing on nothing proves nothing: the workload makes every query answer.
                report.mismatches.push(format!("{}: Prometheus's answer is empty (check the workload)", q.name));
            }
            let diffs = queries::compare(g, w, REL_TOLERANCE, 5);
            if diffs.is_empty() {
                equal += 1;
            } else {
                if let Cell::Value { v, .. } = cells[0] {
                    cells[0] = Cell::Wrong(v);
                }
                for d in diffs {
                    report.mismatches.push(format!("{}: {d}", q.name));
                }
            }
        }
        report.rows.push(Row { figure: q.name.clone(), unit: Unit::Millis, better: Better::Lower, cells });
    }
    let total = queries::query_set().len();
    let check = if compared == 0 {
        Cell::Na("nothing to compare".into())
    } else {
        Cell::Text(format!("{equal} of {compared} equal"))
    };
    report.rows.push(Row {
        figure: format!("answers equal to Prometheus's (of {total})"),
        unit: Unit::None,
        better: Better::Neither,
        cells: [check, Cell::Text("reference".into()), Cell::Text("not checked".into())],
    });
}

fn add_notes(cfg: &Config, report: &mut Report) {
    let notes = [
        "Each system runs alone, in turn, on 127.0.0.1 with an empty data directory; the load generator runs on the same machine.".to_string(),
        format!(
            "Remote write: realistic series (counters rising by small integers, gauges that repeat 70 % of the time, classic histograms; 15 s apart with jitter), {} shards, {} samples per request, one sample per series per request. Rates rise ×{} per {:.0} s step from {}/s until a step is not accepted in full within 110 % of its time; max sustained is the best accepted rate of a step that kept up (≥: the ladder's top was reached).",
            cfg.shards,
            cfg.batch,
            cfg.ingest_factor,
            cfg.ingest_step.as_secs_f64(),
            phases::rate_text(cfg.ingest_start_rate)
        ),
        "CPU is utime+stime of the server process (/proc/<pid>/stat) over the measured steps, per million accepted samples; peak RSS is VmHWM (/proc/<pid>/status) at the end of the phase.".to_string(),
        "Restart: SIGTERM after the ingest, then the time from starting the process again to the first 200 of /-/ready (VictoriaMetrics: /health).".to_string(),
        format!(
            "Scrape: {} targets of 1,000 series, 15 s interval, {:.0} s measured after an 18 s warm-up (every target scraped once); samples are those the targets served (not the servers' own up/scrape_* series).",
            cfg.scrape_series.div_ceil(1000),
            cfg.scrape_time.as_secs_f64()
        ),
        format!(
            "Disk: {} series × {} h (the same history for every system, ending 5 h before the run started) backfilled by remote write ({} samples per series per TimeSeries), then persisted: a sample 5 h later moves Prometheus's and Cairn's head so all history goes to blocks; VictoriaMetrics gets force_flush and force_merge. Bytes are allocated bytes (du): the whole data directory (blocks, WAL, head chunks, indexes), and block directories only (VictoriaMetrics has no WAL: its whole directory).",
            cfg.disk_series, cfg.disk_hours, cfg.backfill_window
        ),
        format!(
            "Queries: over the backfilled history, timed from request to last byte, sequentially, {} runs after one warm-up ({} for labels and label values, which take well under a millisecond); cells are median / p90. VictoriaMetrics runs with -search.disableCache and -search.latencyOffset=0s; its answers are not checked (its PromQL dialect differs). A Cairn answer that differs from Prometheus's (series sets, timestamps, values beyond 1e-6 relative) shows as \"wrong answer\" and has no ratio.",
            cfg.query_runs,
            cfg.query_runs.max(crate::phases::disk::METADATA_RUNS)
        ),
        "n/a (not supported …) means the server does not offer that path yet (HTTP 404 on /api/v1/write, or no scrapes); n/a (invalid …) means it answered but did not store every series.".to_string(),
    ];
    report.notes.extend(notes);
}

/// Writes `<preset>-<time>.{md,json}` and the preset's `latest` pair under the result
/// directory; returns the paths written.
fn write_results(cfg: &Config, report: &Report) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(&cfg.out)?;
    let stamp = report.started.replace([':', '-'], "");
    let latest = if cfg.preset == "quick" { "latest-quick" } else { "latest" };
    let md = report.to_markdown();
    let json = serde_json::to_string_pretty(&report.to_json()).unwrap_or_default() + "\n";
    let mut out = Vec::new();
    for base in [format!("{}-{stamp}", cfg.preset), latest.to_string()] {
        for (ext, text) in [("md", &md), ("json", &json)] {
            let p = cfg.out.join(format!("{base}.{ext}"));
            std::fs::write(&p, text)?;
            out.push(p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use phases::disk::QueryOutcome;
    use queries::Answer;

    fn disk(answers: &[(f64, Option<Answer>)]) -> DiskResult {
        DiskResult {
            backfill_rate: Ok(1.0),
            bytes_all: Ok(2.0),
            bytes_blocks: Ok(1.5),
            queries: Ok(answers
                .iter()
                .map(|(t, a)| QueryOutcome { timing: Ok((*t, *t * 2.0)), answer: a.clone() })
                .collect()),
        }
    }

    #[test]
    fn wrong_answers_do_not_count() {
        let n = queries::query_set().len();
        let one = |v: f64| Some(Answer::Series([("{a=b}".to_string(), vec![(1000, v)])].into()));
        // Cairn agrees with Prometheus on every query but the first.
        let mut cairn: Vec<(f64, Option<Answer>)> = (0..n).map(|_| (0.1, one(1.0))).collect();
        cairn[0].1 = one(2.0);
        let prom: Vec<(f64, Option<Answer>)> = (0..n).map(|_| (0.2, one(1.0))).collect();
        let mut results = HashMap::new();
        results.insert(SystemKind::Cairn, SystemResults { disk: Some(disk(&cairn)), ..SystemResults::default() });
        results.insert(SystemKind::Prometheus, SystemResults { disk: Some(disk(&prom)), ..SystemResults::default() });
        results.insert(
            SystemKind::VictoriaMetrics,
            SystemResults { missing: Some("not installed".into()), ..SystemResults::default() },
        );
        let cfg = Config::parse(&["--phases=queries".to_string()]).unwrap();
        let mut report = Report::default();
        build_rows(&cfg, &results, &mut report);

        // Three disk rows, one per query, and the check row.
        assert_eq!(report.rows.len(), 3 + n + 1);
        assert_eq!(report.rows[0].ratio(), Some(1.0));
        let first = &report.rows[3];
        assert_eq!(first.cells[0], Cell::Wrong(0.1));
        assert_eq!(first.ratio(), None);
        assert_eq!(first.cells[2], Cell::Na("not installed".into()));
        let second = &report.rows[4];
        assert_eq!(second.cells[0], Cell::Value { v: 0.1, p90: Some(0.2), at_least: false });
        assert_eq!(second.ratio(), Some(0.5));
        let check = report.rows.last().unwrap();
        assert_eq!(check.cells[0], Cell::Text(format!("{} of {n} equal", n - 1)));
        assert_eq!(report.mismatches, vec!["query_range: rate: {a=b} @1000: 2, want 1".to_string()]);
    }

    #[test]
    fn series_texts() {
        assert_eq!(series_text(100_000), "100k");
        assert_eq!(series_text(1_000_000), "1M");
        assert_eq!(series_text(1500), "1500");
        assert_eq!(series_text(2_500_000), "2500k");
    }
}
