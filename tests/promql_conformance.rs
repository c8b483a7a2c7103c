//! Runs Prometheus's own PromQL engine test scripts (`*.test`) against Cairn's engine.
//!
//! Run with `cargo test --release --test promql_conformance -- --nocapture`. Environment:
//! `PROMQL_TEST_DIR` (the scripts; default `<crate>/../shared/promql-tests/upstream`),
//! `PROMQL_TEST_FILTER` (only files whose name contains it), `PROMQL_MAX_REPORTS` (print at
//! most this many failure details), `PROMQL_RUNNER_SELFTEST=1` (answer every eval with the
//! fake engine of `selftest.rs`, to check the runner itself). The script format is described
//! in `FORMAT.md` beside the scripts. The last line printed is
//! `promql conformance: N passed, M failed, K skipped`; the process fails when M > 0.

#[path = "promql_conformance/compare.rs"]
mod compare;
#[path = "promql_conformance/engine.rs"]
mod engine;
#[path = "promql_conformance/runner.rs"]
mod runner;
#[path = "promql_conformance/script.rs"]
mod script;
#[path = "promql_conformance/selfcheck.rs"]
mod selfcheck;
#[path = "promql_conformance/selftest.rs"]
mod selftest;
#[path = "promql_conformance/series.rs"]
mod series;

use runner::{Mode, Tally};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let (ok, bad) = selfcheck::run();
    println!("runner self-checks: {ok} passed, {bad} failed");
    if bad > 0 {
        return ExitCode::FAILURE;
    }

    let explicit = std::env::var_os("PROMQL_TEST_DIR");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let dir = match &explicit {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/promql-tests/upstream")),
    };
    if !dir.is_dir() {
        if explicit.is_some() || ci {
            eprintln!(
                "promql conformance: test directory {} does not exist (PROMQL_TEST_DIR or CI=true demand it)",
                dir.display()
            );
            return ExitCode::FAILURE;
        }
        println!(
            "promql conformance: SKIPPED everything: test directory {} does not exist; set PROMQL_TEST_DIR to run the scripts",
            dir.display()
        );
        return ExitCode::SUCCESS;
    }

    let index_path = dir.join("../eval-index.tsv");
    let index = match std::fs::read_to_string(&index_path) {
        Ok(text) => match runner::parse_index(&text) {
            Ok(ix) => Some(ix),
            Err(e) => {
                eprintln!("promql conformance: {}: {e}", index_path.display());
                return ExitCode::FAILURE;
            }
        },
        Err(_) => {
            println!("note: {} not found: no eval is skipped for native histograms", index_path.display());
            None
        }
    };

    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => {
            rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "test")).collect()
        }
        Err(e) => {
            eprintln!("promql conformance: cannot list {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    };
    files.sort();
    let filter = std::env::var("PROMQL_TEST_FILTER").unwrap_or_default();

    let selftest = std::env::var("PROMQL_RUNNER_SELFTEST").is_ok_and(|v| v == "1");
    let engine = engine::engine();
    let mode = if selftest { Mode::SelfTest } else { Mode::Real(engine.as_ref()) };
    let mut tally = Tally::default();
    for path in &files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !name.contains(&filter) {
            continue;
        }
        match std::fs::read_to_string(path) {
            Ok(text) => runner::run_file(&name, &text, index.as_ref(), &mode, &mut tally),
            Err(e) => {
                println!("FAIL {name}: cannot read: {e}");
                tally.failed += 1;
            }
        }
    }

    println!(
        "parsed {} evals in {} files; skipped: native-histogram evals (eval-index.tsv) and {}",
        tally.parsed,
        tally.files,
        runner::SKIPPED_FILE
    );
    if tally.histogram_samples_dropped > 0 {
        println!(
            "note: {} native-histogram samples were not loaded (no histogram storage yet)",
            tally.histogram_samples_dropped
        );
    }
    if tally.nhcb_loads > 0 {
        println!(
            "note: {} load_with_nhcb blocks loaded only their float series (no NHCB synthesis yet)",
            tally.nhcb_loads
        );
    }
    if tally.not_in_index > 0 {
        println!("note: {} evals are not listed in eval-index.tsv (so none of them was skipped)", tally.not_in_index);
    }
    if tally.pin_unsupported > 0 {
        println!(
            "note: {} instant evals ran without their @-pinned re-evaluations (FORMAT.md 9b): the engine cannot rewrite queries yet, so this is not the full conformance figure",
            tally.pin_unsupported
        );
    }
    let prefix =
        if selftest { "promql conformance (runner self-test with the fake engine)" } else { "promql conformance" };
    println!("{prefix}: {} passed, {} failed, {} skipped", tally.passed, tally.failed, tally.skipped);
    if tally.failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
