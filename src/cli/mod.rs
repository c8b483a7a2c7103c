//! promtool's jobs as `cairn` subcommands.
//!
//! Principal items: [`check_config`] and [`check_rules`] (`cairn check config|rules`), which
//! print what `promtool check config|rules` 2.42 prints (`Checking FILE`, `  SUCCESS: ...`,
//! `  FAILED: ...`, on the same streams) and return its exit code, and [`CheckOptions`] for
//! their flags. Output goes to the writers given, so tests can capture it.

mod check;
mod targets;

pub use check::{check_config, check_rules};

/// Exit code: everything checked out.
pub const SUCCESS: i32 = 0;
/// Exit code: something is invalid.
pub const FAILURE: i32 = 1;
/// Exit code: only lint problems, and `--lint-fatal` was given.
pub const LINT_FAILURE: i32 = 3;

/// Which lint checks to run on rules (promtool's `--lint`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lint {
    /// `none`.
    None,
    /// `duplicate-rules` (the default) or `all`: rules recording the same metric with the
    /// same labels.
    #[default]
    DuplicateRules,
}

impl Lint {
    /// Reads promtool's comma-separated `--lint` value (`all`, `duplicate-rules`, `none`).
    /// Unknown names are reported in the returned warnings, as promtool prints them.
    pub fn parse(s: &str) -> (Lint, Vec<String>) {
        let mut lint = Lint::None;
        let mut warnings = Vec::new();
        for item in s.split(',') {
            match item {
                "all" | "duplicate-rules" => lint = Lint::DuplicateRules,
                "none" => {}
                other => warnings.push(format!("WARNING: unknown lint option {other}")),
            }
        }
        (lint, warnings)
    }
}

/// The flags of `check config` and `check rules`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckOptions {
    /// `--syntax-only`: only the config's syntax, not the files it refers to (config only).
    pub syntax_only: bool,
    /// `--lint`.
    pub lint: Lint,
    /// `--lint-fatal`: lint problems give exit code 3.
    pub lint_fatal: bool,
    /// `--agent`: reject what agent mode does not allow (config only).
    pub agent: bool,
}
