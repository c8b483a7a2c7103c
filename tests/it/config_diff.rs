//! `cairn check config|rules` against `promtool check config|rules` (Prometheus 2.42) on the
//! fixture files under `testdata/config/`.
//!
//! For every case both tools run in the fixture directory with the same arguments. The exit
//! codes must be equal, and so must the output's structure: standard output exactly (the
//! `Checking`, `SUCCESS` and `WARNING` lines), standard error line by line with the text
//! after `FAILED:` and after a rule file's name left out. Where the message text is the
//! same too, the case says so and the whole of standard error is compared; the other cases
//! record how ours differs. Warnings only Cairn gives (discovery it does not implement) are
//! on standard error and left out of the comparison.

use crate::peer::{CommandOutput, peers_available, run_bounded};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// One comparison: the arguments after `check`, and how our message text differs (`None`:
/// identical).
struct Case {
    args: &'static [&'static str],
    differs: Option<&'static str>,
}

const POSITION: &str = "ours adds the line and column of the offending value";

const CASES: &[Case] = &[
    Case { args: &["config", "valid_full.yml"], differs: None },
    Case { args: &["config", "valid_minimal.yml"], differs: None },
    Case { args: &["config", "merge_keys.yml"], differs: None },
    Case { args: &["config", "missing_rule_file.yml"], differs: None },
    Case { args: &["config", "missing_sd_file.yml"], differs: None },
    Case { args: &["config", "no_address.yml"], differs: None },
    Case { args: &["config", "bad_expr_rules.yml"], differs: None },
    Case { args: &["config", "unsupported_sd.yml"], differs: None },
    Case {
        args: &["config", "valid_minimal.yml", "valid_full.yml", "timeout_gt_interval.yml"],
        differs: Some(POSITION),
    },
    Case {
        args: &["config", "unknown_field.yml"],
        differs: Some("ours: `3:5: unknown field \"scrape_intervall\"`; promtool names the Go type it was decoding"),
    },
    Case { args: &["config", "bad_duration.yml"], differs: Some(POSITION) },
    Case { args: &["config", "timeout_gt_interval.yml"], differs: Some(POSITION) },
    Case { args: &["config", "bad_relabel_regex.yml"], differs: Some(POSITION) },
    Case { args: &["config", "duplicate_job.yml"], differs: Some(POSITION) },
    Case { args: &["config", "url_target.yml"], differs: Some(POSITION) },
    Case { args: &["config", "--syntax-only", "missing_rule_file.yml"], differs: None },
    Case { args: &["config", "--lint=none", "bad_expr_rules.yml"], differs: None },
    Case { args: &["config", "--agent", "valid_full.yml"], differs: None },
    Case { args: &["rules", "rules/recording.yml", "rules/alerting.yml", "extra/explicit_rules.yml"], differs: None },
    Case { args: &["rules", "bad_rules/bad_expr.yml", "bad_rules/duplicates.yml"], differs: None },
    Case { args: &["rules", "--lint=none", "bad_rules/duplicates.yml"], differs: None },
    Case { args: &["rules", "--lint-fatal", "bad_rules/duplicates.yml"], differs: None },
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/config")
}

fn run(program: &str, args: &[&str], scratch: &Path) -> CommandOutput {
    let mut cmd = Command::new(program);
    cmd.arg("check").args(args).current_dir(fixtures());
    run_bounded(cmd, scratch, Duration::from_secs(60)).unwrap()
}

/// Standard error without Cairn's own warnings.
fn stderr_lines(o: &CommandOutput) -> Vec<&str> {
    o.stderr.lines().filter(|l| !(l.starts_with("  WARNING:") && l.contains("not supported by Cairn"))).collect()
}

/// Standard error with the message texts left out. go-yaml lists decoding errors on lines
/// of their own (`  line 3: field foo not found ...`); those belong to the FAILED line above.
fn structure(lines: &[&str]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| !l.starts_with("  line "))
        .map(|l| {
            if l.starts_with("  FAILED:") {
                "  FAILED: <text>".to_string()
            } else if let Some((file, _)) = l.split_once(".yml: ") {
                format!("{file}.yml: <text>")
            } else {
                l.to_string()
            }
        })
        .collect()
}

#[test]
fn check_matches_promtool() {
    if !peers_available("config_diff", &["promtool"], "prometheus") {
        return;
    }
    let cairn = env!("CARGO_BIN_EXE_cairn");
    let mut failures = Vec::new();
    for case in CASES {
        let scratch = tempfile::tempdir().unwrap();
        let theirs = run("promtool", case.args, scratch.path());
        let ours = run(cairn, case.args, scratch.path());
        let report = || {
            format!(
                "check {}:\n--- promtool (exit {:?})\n{}{}--- cairn (exit {:?})\n{}{}",
                case.args.join(" "),
                theirs.code,
                theirs.stdout,
                theirs.stderr,
                ours.code,
                ours.stdout,
                ours.stderr
            )
        };
        let (their_err, our_err) = (stderr_lines(&theirs), stderr_lines(&ours));
        if theirs.code != ours.code {
            failures.push(format!("exit codes differ: {}", report()));
        } else if theirs.stdout != ours.stdout {
            failures.push(format!("standard output differs: {}", report()));
        } else if structure(&their_err) != structure(&our_err) {
            failures.push(format!("FAILED structure differs: {}", report()));
        } else if case.differs.is_none() && their_err != our_err {
            failures.push(format!("message text differs: {}", report()));
        } else if let Some(why) = case.differs {
            // Recorded difference; make sure it still is one, so the table stays true.
            if their_err == our_err {
                failures.push(format!("now identical, drop the note {why:?}: {}", report()));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n\n{}", failures.len(), CASES.len(), failures.join("\n\n"));
}

/// Cairn's own warnings for unsupported discovery, which promtool does not give.
#[test]
fn unsupported_discovery_is_reported() {
    let scratch = tempfile::tempdir().unwrap();
    let out = run(env!("CARGO_BIN_EXE_cairn"), &["config", "unsupported_sd.yml"], scratch.path());
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("\"cloud\": ec2_sd_configs is not supported"), "{out:?}");
    assert!(out.stderr.contains("\"cloud\": docker_sd_configs is not supported"), "{out:?}");
}

/// Every fixture config loads through the library the same way the command reads it: valid
/// files load, invalid ones fail with a position when promtool's check is a load error.
#[test]
fn fixtures_load_through_the_library() {
    let dir = fixtures();
    for (file, ok) in [
        ("valid_full.yml", true),
        ("valid_minimal.yml", true),
        ("merge_keys.yml", true),
        ("unsupported_sd.yml", true),
        ("unknown_field.yml", false),
        ("bad_duration.yml", false),
        ("timeout_gt_interval.yml", false),
    ] {
        let res = cairn::config::load_file(&dir.join(file));
        assert_eq!(res.is_ok(), ok, "{file}: {:?}", res.as_ref().err().map(|e| e.to_string()));
        if let Err(e) = res {
            assert!(e.line.is_some() && e.col.is_some(), "{file}: {e}");
        }
    }
    let (cfg, _) = cairn::config::load_file(&dir.join("valid_full.yml")).unwrap();
    let rule_files = cfg.rule_file_paths().unwrap();
    assert_eq!(rule_files.len(), 3);
    for f in rule_files {
        let groups = cairn::rules::load_file(&f).unwrap();
        assert!(groups.rule_count() > 0, "{}", f.display());
    }
}
