//! Parses every `eval` expression of Prometheus' engine test scripts
//! (`../shared/promql-tests/upstream/*.test`, see `FORMAT.md` there) and round-trips each
//! through the printer.
//!
//! The directory is `$PROMQL_TEST_DIR` if set, else `../shared/promql-tests` next to the crate.
//! A missing directory fails the test when `CI=true` or when `PROMQL_TEST_DIR` was given, and
//! is otherwise skipped with a message saying so.

use std::path::PathBuf;

use super::{ParserOptions, parse_expr};

struct Eval {
    file: String,
    line: usize,
    expr: String,
}

fn test_dir() -> Option<PathBuf> {
    let explicit = std::env::var_os("PROMQL_TEST_DIR");
    let dir = match &explicit {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/promql-tests"),
    };
    let upstream = dir.join("upstream");
    if upstream.is_dir() {
        return Some(upstream);
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        explicit.is_none() && !ci,
        "PromQL test scripts not found at {} (PROMQL_TEST_DIR={:?}, CI={})",
        upstream.display(),
        explicit,
        ci
    );
    eprintln!(
        "SKIPPED: PromQL upstream test scripts not found at {}; set PROMQL_TEST_DIR to the \
         promql-tests directory to run this test",
        upstream.display()
    );
    None
}

/// The expression of an `eval` header, following FORMAT.md section 7.
fn eval_expr(line: &str) -> Option<String> {
    let instant = regex::Regex::new(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$").ok()?;
    let range =
        regex::Regex::new(r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$")
            .ok()?;
    if let Some(c) = instant.captures(line) {
        return c.get(3).map(|m| m.as_str().to_string());
    }
    range.captures(line).and_then(|c| c.get(5)).map(|m| m.as_str().to_string())
}

fn load_evals() -> Option<Vec<Eval>> {
    let dir = test_dir()?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read test dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read test file");
        let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for (i, raw) in text.split('\n').enumerate() {
            let line = raw.trim();
            if !line.to_ascii_lowercase().starts_with("eval") {
                continue;
            }
            let expr = eval_expr(line).unwrap_or_else(|| panic!("{file}:{}: unparsable eval header", i + 1));
            out.push(Eval { file: file.clone(), line: i + 1, expr });
        }
    }
    Some(out)
}

#[test]
fn every_upstream_eval_expression_parses() {
    let Some(evals) = load_evals() else { return };
    let opts = ParserOptions::all_enabled();
    let mut failures = Vec::new();
    for e in &evals {
        if let Err(err) = parse_expr(&e.expr, &opts) {
            failures.push(format!("{}:{}: {}\n    {err}", e.file, e.line, e.expr));
        }
    }
    eprintln!("upstream eval expressions: {} of {} parse", evals.len() - failures.len(), evals.len());
    assert!(evals.len() > 1500, "expected the full upstream set, found {}", evals.len());
    assert!(failures.is_empty(), "{} failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_upstream_eval_expression_round_trips() {
    let Some(evals) = load_evals() else { return };
    let opts = ParserOptions::all_enabled();
    let mut failures = Vec::new();
    let mut checked = 0;
    for e in &evals {
        let Ok(tree) = parse_expr(&e.expr, &opts) else { continue };
        let printed = tree.to_string();
        checked += 1;
        match parse_expr(&printed, &opts) {
            Ok(again) if again == tree => {
                // Printing is canonical: a second round gives the same text.
                assert_eq!(again.to_string(), printed, "{}:{}", e.file, e.line);
            }
            Ok(again) => failures.push(format!(
                "{}:{}: {}\n    printed: {printed} (different tree)\n{tree:?}\n{again:?}",
                e.file, e.line, e.expr
            )),
            Err(err) => failures.push(format!("{}:{}: {}\n    printed: {printed}\n    {err}", e.file, e.line, e.expr)),
        }
    }
    eprintln!("upstream eval expressions round-tripped: {checked}");
    assert!(failures.is_empty(), "{} failed:\n{}", failures.len(), failures.join("\n"));
}
