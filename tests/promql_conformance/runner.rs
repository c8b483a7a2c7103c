//! Executing scripts: storage per `load`/`clear`, the runs of FORMAT.md section 9, skipping,
//! counting and reporting.

use crate::compare::{check_annotations, check_failure, check_range_mode, check_value};
use crate::engine::Engine;
use crate::script::{self, Command, Eval, EvalKind, Expected, Load};
use crate::selftest::FakeEngine;
use crate::series::Item;
use cairn::tsdb::{Db, Options};
use std::collections::HashMap;

/// The file whose evals are skipped as a whole (start timestamps, a 3.x development feature).
pub const SKIPPED_FILE: &str = "start_timestamps.test";

/// Functions whose results depend on the evaluation time itself; evals calling them get no
/// `@`-pinned re-evaluations (FORMAT.md 9b).
const TIME_DEPENDENT: [&str; 15] = [
    "time",
    "timestamp",
    "minute",
    "hour",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "month",
    "year",
    "predict_linear",
    "start",
    "end",
    "range",
    "step",
];

/// The per-eval tags of `eval-index.tsv` that the runner uses.
#[derive(Debug, Default)]
pub struct Index {
    /// `(file, header line)` to "touches native histograms".
    pub native_histogram: HashMap<(String, usize), bool>,
}

/// Parses `eval-index.tsv` (FORMAT.md 16); columns are found by header name.
pub fn parse_index(text: &str) -> Result<Index, String> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("empty index")?.split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).ok_or(format!("index has no column {name:?}"));
    let (fc, lc, nc) = (col("file")?, col("line")?, col("native_histogram")?);
    let mut index = Index::default();
    for (i, row) in lines.enumerate() {
        if row.is_empty() {
            continue;
        }
        let cells: Vec<&str> = row.split('\t').collect();
        let cell = |c: usize| cells.get(c).copied().ok_or(format!("index row {} is short", i + 2));
        let line = cell(lc)?.parse().map_err(|_| format!("index row {}: bad line number", i + 2))?;
        index.native_histogram.insert((cell(fc)?.to_string(), line), cell(nc)? == "y");
    }
    Ok(index)
}

/// Why an eval is skipped, if it is.
pub fn skip_reason(index: Option<&Index>, file: &str, line: usize) -> Option<&'static str> {
    if file == SKIPPED_FILE {
        return Some("start timestamps");
    }
    match index?.native_histogram.get(&(file.to_string(), line)) {
        Some(true) => Some("native histograms"),
        _ => None,
    }
}

/// Whether the expression calls one of [`TIME_DEPENDENT`] (an identifier followed by `(`,
/// outside string literals). Textual, so it may over-match (a skipped re-evaluation only costs
/// coverage), for example `@ start()`, which upstream does not count as a call.
pub fn calls_time_dependent(expr: &str) -> bool {
    let b = expr.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' || c == b'`' {
            i += 1;
            while i < b.len() && b[i] != c {
                i += if b[i] == b'\\' && c != b'`' { 2 } else { 1 };
            }
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
                i += 1;
            }
            let word = &expr[s..i];
            let next = expr[i..].trim_start();
            if next.starts_with('(') && TIME_DEPENDENT.contains(&word) {
                return true;
            }
        } else {
            i += 1;
        }
    }
    false
}

/// The evaluation times of the `@`-pinned variants for eval time `t` (FORMAT.md 9b).
pub fn pin_times(t: i64) -> Vec<i64> {
    if t == 0 { vec![-1000, 0, 1000] } else { vec![-10 * t, 0, t / 5, t, 10 * t] }
}

/// Whether the range-mode check (FORMAT.md 9c) applies to an instant eval.
pub fn range_mode_applies(eval: &Eval) -> bool {
    eval.fail.is_none()
        && !matches!(eval.expected, Expected::String(_))
        && eval.range_vector.is_none()
        && !eval.ordered
        && !["start()", "end()", "range()", "step()"].iter().any(|f| eval.expr.contains(f))
}

/// Counters over a run.
#[derive(Debug, Default)]
pub struct Tally {
    /// Evals that passed every run.
    pub passed: usize,
    /// Evals (or file-level problems) that failed.
    pub failed: usize,
    /// Evals skipped by rule.
    pub skipped: usize,
    /// Evals parsed.
    pub parsed: usize,
    /// Files read.
    pub files: usize,
    /// Instant evals whose `@`-pinned runs were not done because the engine cannot pin.
    pub pin_unsupported: usize,
    /// Histogram samples that `load` could not store.
    pub histogram_samples_dropped: usize,
    /// `load_with_nhcb` blocks loaded without synthesizing their NHCB series.
    pub nhcb_loads: usize,
    /// Evals found in the files but not in the index.
    pub not_in_index: usize,
    /// Failure details printed so far.
    pub printed: usize,
}

/// Which engine answers.
pub enum Mode<'a> {
    /// A real engine.
    Real(&'a dyn Engine),
    /// The fake engine that answers from each eval's own expectations.
    SelfTest,
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes more)", &s[..end], s.len() - end)
}

fn report(tally: &mut Tally, file: &str, line: usize, query: &str, msg: &str) {
    tally.failed += 1;
    let limit = std::env::var("PROMQL_MAX_REPORTS").ok().and_then(|v| v.parse().ok()).unwrap_or(usize::MAX);
    if tally.printed < limit {
        tally.printed += 1;
        println!("FAIL {file}:{line}: {}\n    {}", truncate(query, 300), truncate(msg, 1500));
    }
}

/// A database in its own temporary directory.
struct Storage {
    db: Db,
    _dir: tempfile::TempDir,
    /// A load that failed: every eval until the next `clear` fails with it.
    load_error: Option<String>,
}

/// Out-of-order window for loads: later `load` blocks start again at t=0 (1000 years).
const OOO_WINDOW_MS: i64 = 1000 * 365 * 24 * 3_600_000;

fn fresh_storage() -> Result<Storage, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let opts =
        Options { background_interval: None, retention_time: 0, ooo_window: OOO_WINDOW_MS, ..Default::default() };
    let db = Db::open(dir.path(), opts).map_err(|e| format!("open db: {e}"))?;
    Ok(Storage { db, _dir: dir, load_error: None })
}

/// Appends a load block in one batch; returns how many histogram samples were dropped.
fn apply_load(db: &Db, load: &Load) -> Result<usize, String> {
    let mut app = db.appender();
    let mut dropped = 0;
    for s in &load.series {
        for (k, it) in s.items.iter().enumerate() {
            let t = k as i64 * load.interval;
            match it {
                Item::Float(v) => {
                    app.append(&s.labels, t, *v).map_err(|e| format!("append {} at {t}: {e}", s.labels))?;
                }
                Item::Omit => {}
                Item::Histogram => dropped += 1,
            }
        }
    }
    app.commit().map_err(|e| format!("commit: {e}"))?;
    Ok(dropped)
}

fn run_instant(engine: &dyn Engine, db: &Db, eval: &Eval, query: &str, t: i64) -> Result<(), String> {
    let res = engine.instant(db, query, t);
    if let Some(o) = check_failure(eval, &res)? {
        check_annotations(eval, o)?;
        check_value(eval, &o.value)?;
    }
    Ok(())
}

/// Runs one eval per FORMAT.md section 9: (a) the main query, (b) the `@`-pinned variants,
/// (c) the range-mode checks. Returns the first difference.
pub fn run_eval(engine: &dyn Engine, db: &Db, eval: &Eval, tally: &mut Tally) -> Result<(), String> {
    engine.check_syntax(&eval.expr).map_err(|e| format!("does not parse: {e}"))?;
    let (start, end, step) = match eval.kind {
        EvalKind::Range { start, end, step } => (start, end, step),
        EvalKind::Instant { at } => {
            let t = eval.instant_time().unwrap_or(at);
            run_instant(engine, db, eval, &eval.expr, t)?;
            let mut variants = vec![(eval.expr.clone(), t)];
            if !calls_time_dependent(&eval.expr) {
                match engine.pin_at(&eval.expr, t) {
                    Some(q) => {
                        for ti in pin_times(t) {
                            run_instant(engine, db, eval, &q, ti)
                                .map_err(|e| format!("@-pinned {q:?} at {ti}: {e}"))?;
                            variants.push((q.clone(), ti));
                        }
                    }
                    None => tally.pin_unsupported += 1,
                }
            }
            if range_mode_applies(eval) {
                for (q, ti) in variants {
                    let ctx = |e: String| format!("range mode of {q:?} around {ti}: {e}");
                    let o = engine
                        .range(db, &q, ti - 60_000, ti + 60_000, 60_000)
                        .map_err(|e| ctx(format!("error {e}")))?;
                    check_range_mode(eval, &o.value, ti).map_err(ctx)?;
                }
            }
            return Ok(());
        }
    };
    if eval.ordered {
        return Err("`expect ordered` on a range eval".into());
    }
    let res = engine.range(db, &eval.expr, start, end, step);
    if let Some(o) = check_failure(eval, &res)? {
        check_annotations(eval, o)?;
        check_value(eval, &o.value)?;
    }
    Ok(())
}

/// Parses and runs one file.
pub fn run_file(file: &str, text: &str, index: Option<&Index>, mode: &Mode<'_>, tally: &mut Tally) {
    tally.files += 1;
    let script = script::parse(text);
    let evals: Vec<&Eval> = script
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Eval(e) => Some(&**e),
            _ => None,
        })
        .collect();
    tally.parsed += evals.len();
    if let Some(ix) = index {
        tally.not_in_index +=
            evals.iter().filter(|e| !ix.native_histogram.contains_key(&(file.to_string(), e.line))).count();
    }
    if !script.errors.is_empty() {
        // Upstream rejects the whole file on any parse problem.
        let msg: Vec<String> = script.errors.iter().map(|(l, e)| format!("line {l}: {e}")).collect();
        let msg = format!("file rejected: {}", msg.join("; "));
        for e in &evals {
            if skip_reason(index, file, e.line).is_some() {
                tally.skipped += 1;
            } else {
                report(tally, file, e.line, &e.expr, &msg);
            }
        }
        let stray = script.errors.iter().filter(|(l, _)| !evals.iter().any(|e| e.line == *l)).count();
        for _ in 0..stray {
            report(tally, file, 0, "", &msg);
        }
        return;
    }
    let mut storage: Option<Storage> = None;
    for cmd in &script.commands {
        match cmd {
            Command::Clear => storage = None,
            Command::Load(load) => {
                let st = match &mut storage {
                    Some(s) => s,
                    None => match fresh_storage() {
                        Ok(s) => storage.insert(s),
                        Err(e) => {
                            report(tally, file, load.line, "load", &e);
                            continue;
                        }
                    },
                };
                if load.nhcb {
                    tally.nhcb_loads += 1;
                }
                match apply_load(&st.db, load) {
                    Ok(n) => tally.histogram_samples_dropped += n,
                    Err(e) => st.load_error = Some(format!("load at line {} failed: {e}", load.line)),
                }
            }
            Command::Eval(eval) => {
                if skip_reason(index, file, eval.line).is_some() {
                    tally.skipped += 1;
                    continue;
                }
                if storage.is_none() {
                    match fresh_storage() {
                        Ok(s) => storage = Some(s),
                        Err(e) => {
                            report(tally, file, eval.line, &eval.expr, &e);
                            continue;
                        }
                    }
                }
                let Some(st) = &storage else { continue };
                let result = match &st.load_error {
                    Some(e) => Err(e.clone()),
                    None => match mode {
                        Mode::Real(engine) => run_eval(*engine, &st.db, eval, tally),
                        Mode::SelfTest => run_eval(&FakeEngine::new(eval), &st.db, eval, tally),
                    },
                };
                match result {
                    Ok(()) => tally.passed += 1,
                    Err(e) => report(tally, file, eval.line, &eval.expr, &e),
                }
            }
        }
    }
}
