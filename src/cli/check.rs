//! `check config` and `check rules`.

use super::targets::{check_alertmanager_targets, check_scrape_targets, read_sd_file};
use super::{CheckOptions, FAILURE, LINT_FAILURE, Lint, SUCCESS};
use crate::config::{self, Config, Secret, TlsConfig, glob};
use crate::discovery::FileSdConfig;
use crate::relabel::go_quote;
use crate::rules;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `cairn check config FILE...`: checks each config file and the rule files it names, as
/// `promtool check config` does. Returns the exit code.
///
/// Progress and successes go to `out`, failures to `err`. Warnings Cairn adds (discovery
/// mechanisms it does not implement) go to `err`, so that `out` carries exactly what
/// promtool prints.
pub fn check_config(files: &[PathBuf], opts: &CheckOptions, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let mut failed = false;
    let mut has_errors = false;
    for f in files {
        let _ = writeln!(out, "Checking {}", f.display());
        let rule_files = match check_one_config(f, opts, out, err) {
            Ok(rule_files) => {
                if !rule_files.is_empty() {
                    let _ = writeln!(out, "  SUCCESS: {} rule files found", rule_files.len());
                }
                let _ = writeln!(out, " SUCCESS: {} is valid prometheus config file syntax", f.display());
                rule_files
            }
            Err(e) => {
                let _ = writeln!(err, "  FAILED: {e}");
                failed = true;
                has_errors = true;
                Vec::new()
            }
        };
        let _ = writeln!(out);
        let (rules_failed, rules_errors) = check_rule_files(&rule_files, opts.lint, CONFIG_INDENT, out, err);
        failed |= rules_failed;
        has_errors |= rules_errors;
    }
    exit_code(failed, has_errors, opts.lint_fatal)
}

/// `cairn check rules FILE...`: checks each rule file, as `promtool check rules` does.
/// Like promtool, every file must exist before any is checked.
pub fn check_rules(files: &[PathBuf], opts: &CheckOptions, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    if let Some(missing) = files.iter().find(|f| !f.exists()) {
        let _ = writeln!(err, "cairn: error: path '{}' does not exist, try --help", missing.display());
        return FAILURE;
    }
    let (failed, has_errors) = check_rule_files(files, opts.lint, "", out, err);
    exit_code(failed, has_errors, opts.lint_fatal)
}

fn exit_code(failed: bool, has_errors: bool, lint_fatal: bool) -> i32 {
    match (failed, has_errors) {
        (true, true) => FAILURE,
        (true, false) if lint_fatal => LINT_FAILURE,
        _ => SUCCESS,
    }
}

/// How promtool 2.42 indents rule-file problems under `check config` (under `check rules`
/// they are not indented).
const CONFIG_INDENT: &str = "     ";

/// Checks rule files; returns (failed, has errors other than lint). Each problem's first
/// line is prefixed with `indent`.
fn check_rule_files(
    files: &[PathBuf],
    lint: Lint,
    indent: &str,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> (bool, bool) {
    let mut failed = false;
    let mut has_errors = false;
    for f in files {
        let _ = writeln!(out, "Checking {}", f.display());
        match rules::load_file(f) {
            Err(errors) => {
                failed = true;
                has_errors = true;
                let _ = writeln!(err, "  FAILED:");
                for e in errors {
                    let _ = writeln!(err, "{indent}{}: {e}", f.display());
                }
            }
            Ok(groups) => {
                let dups = if lint == Lint::DuplicateRules { rules::duplicate_rules(&groups) } else { Vec::new() };
                if dups.is_empty() {
                    let _ = writeln!(out, "  SUCCESS: {} rules found", groups.rule_count());
                } else {
                    failed = true;
                    let mut msg = format!("lint error {} duplicate rule(s) found.\n", dups.len());
                    for (metric, labels) in &dups {
                        msg.push_str(&format!("Metric: {metric}\nLabel(s):\n"));
                        for (k, v) in labels {
                            msg.push_str(&format!("\t{k}: {v}\n"));
                        }
                    }
                    msg.push_str("Might cause inconsistency while recording expressions");
                    let _ = writeln!(err, "  FAILED:\n{indent}{msg}");
                }
            }
        }
        let _ = writeln!(out);
    }
    (failed, has_errors)
}

/// Loads and checks one config file; returns the rule files its patterns match.
fn check_one_config(
    f: &Path,
    opts: &CheckOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Vec<PathBuf>, String> {
    let (cfg, warnings) = config::load_file(f).map_err(|e| load_error(f, &e))?;
    for w in &warnings {
        let _ = writeln!(err, "  WARNING: {w}");
    }
    if opts.agent {
        agent_checks(&cfg)?;
    }
    if opts.syntax_only {
        for job in &cfg.scrape_configs {
            check_tls_pairs(&job.http.tls)?;
        }
        return Ok(Vec::new());
    }
    let mut rule_files = Vec::new();
    for pattern in &cfg.rule_files {
        let found = glob(pattern).map_err(|e| e.to_string())?;
        // An explicit file (no `*`) must exist.
        if !pattern.contains('*') && found.is_empty() {
            return Err(format!("{} does not point to an existing file", go_quote(pattern)));
        }
        rule_files.extend(found);
    }
    for job in &cfg.scrape_configs {
        if let Some(auth) = &job.http.authorization
            && let Some(Secret::File(p)) = &auth.credentials
        {
            stat(p).map_err(|e| {
                format!(
                    "error checking authorization credentials or bearer token file {}: {e}",
                    go_quote(&p.to_string_lossy())
                )
            })?;
        }
        check_tls(&job.http.tls)?;
        for sd in &job.file_sd_configs {
            let what = format!("scrape job {}", go_quote(&job.job_name));
            for groups in file_sd_groups(sd, &what, out)? {
                check_scrape_targets(&groups, job, false)?;
            }
        }
        check_scrape_targets(&job.static_configs, job, true)?;
    }
    for am in &cfg.alerting.alertmanagers {
        for sd in &am.file_sd_configs {
            for groups in file_sd_groups(sd, "alertmanager config", out)? {
                check_alertmanager_targets(&groups, am)?;
            }
        }
        check_alertmanager_targets(&am.static_configs, am)?;
    }
    Ok(rule_files)
}

/// A load error in promtool's wording: `parsing YAML file FILE: ...`, with our position.
fn load_error(f: &Path, e: &config::Error) -> String {
    let pos = match (e.line, e.col) {
        (Some(l), Some(c)) => format!("{l}:{c}: "),
        _ => String::new(),
    };
    if e.file == f { format!("parsing YAML file {}: {pos}{}", f.display(), e.msg) } else { e.to_string() }
}

/// What Prometheus's agent mode does not allow.
fn agent_checks(cfg: &Config) -> Result<(), String> {
    if !cfg.alerting.alertmanagers.is_empty() || !cfg.alerting.alert_relabel_configs.is_empty() {
        return Err("field alerting is not allowed in agent mode".into());
    }
    if !cfg.rule_files.is_empty() {
        return Err("field rule_files is not allowed in agent mode".into());
    }
    if !cfg.remote_read.is_empty() {
        return Err("field remote_read is not allowed in agent mode".into());
    }
    Ok(())
}

/// Each existing file a `file_sd_configs` entry names, read into target groups; a pattern
/// matching nothing gets promtool's warning on `out`.
fn file_sd_groups(
    sd: &FileSdConfig,
    what: &str,
    out: &mut dyn Write,
) -> Result<Vec<Vec<crate::discovery::StaticConfig>>, String> {
    let mut all = Vec::new();
    for pattern in &sd.files {
        let p = pattern.to_string_lossy();
        let files = glob(&p).map_err(|e| e.to_string())?;
        if files.is_empty() {
            let _ = writeln!(out, "  WARNING: file {} for file_sd in {what} does not exist", go_quote(&p));
            continue;
        }
        for f in files {
            all.push(read_sd_file(&f).map_err(|e| format!("checking SD file {}: {e}", go_quote(&p)))?);
        }
    }
    Ok(all)
}

/// A client certificate needs its key and the other way round.
fn check_tls_pairs(tls: &TlsConfig) -> Result<(), String> {
    match (&tls.cert_file, &tls.key_file) {
        (Some(c), None) => {
            Err(format!("client cert file {} specified without client key file", go_quote(&c.to_string_lossy())))
        }
        (None, Some(k)) => {
            Err(format!("client key file {} specified without client cert file", go_quote(&k.to_string_lossy())))
        }
        _ => Ok(()),
    }
}

/// [`check_tls_pairs`], and the files must exist.
fn check_tls(tls: &TlsConfig) -> Result<(), String> {
    check_tls_pairs(tls)?;
    if let Some(c) = &tls.cert_file {
        stat(c).map_err(|e| format!("error checking client cert file {}: {e}", go_quote(&c.to_string_lossy())))?;
    }
    if let Some(k) = &tls.key_file {
        stat(k).map_err(|e| format!("error checking client key file {}: {e}", go_quote(&k.to_string_lossy())))?;
    }
    Ok(())
}

/// Whether a file exists, with Go's `os.Stat` wording for the common failures.
fn stat(p: &Path) -> Result<(), String> {
    match std::fs::metadata(p) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("stat {}: no such file or directory", p.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            Err(format!("stat {}: permission denied", p.display()))
        }
        Err(e) => Err(format!("stat {}: {e}", p.display())),
    }
}
