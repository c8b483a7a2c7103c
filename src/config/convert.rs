//! From the file as written (`raw`) to the public types: defaults, inheritance from
//! `global`, path resolution and Prometheus's validation, with its messages.
//!
//! Errors point at the offending value when its position is known, else at the enclosing
//! section. Prometheus validates while decoding, so the first problem it reports can differ
//! from ours when a file has several.

use super::paths::{join_dir, join_dir_str};
use super::raw::{self, Key, RawConfig, Sp};
use super::{
    AlertingConfig, AlertmanagerConfig, Config, Error, GlobalConfig, ScrapeConfig, ScrapeLimits, ScrapeProtocol,
    StorageConfig, Warning,
};
use crate::model::duration::parse_duration;
use crate::model::{Label, Labels};
use crate::relabel::{self, Action, RelabelConfig, go_quote};
use crate::server::units::parse_bytes;
use serde_saphyr::{Location, MessageFormatter};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Limits on what one config file may make the YAML parser do (the file is trusted input,
/// but a fuzzer or a mistake should not exhaust memory).
fn parse_options() -> serde_saphyr::Options {
    serde_saphyr::Options::default()
}

/// Parses and converts `text`, read from `path`.
pub(super) fn load(text: &str, path: &Path) -> Result<(Config, Vec<Warning>), Error> {
    let raw: RawConfig =
        serde_saphyr::from_str_with_options(text, parse_options()).map_err(|e| yaml_error(path, &e))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut ctx = Ctx { file: path, dir, warnings: Vec::new() };
    let mut cfg = ctx.config(raw)?;
    cfg.source = Some(path.to_path_buf());
    cfg.original = text.to_string();
    Ok((cfg, ctx.warnings))
}

/// A parser error as a config [`Error`]: the message without the parser's own location
/// suffix or snippet, and without the (long) list of expected keys.
fn yaml_error(path: &Path, e: &serde_saphyr::Error) -> Error {
    let inner = e.without_snippet();
    let mut msg = serde_saphyr::UserMessageFormatter.format_message(inner).into_owned();
    if let Some(i) = msg.find(", expected one of") {
        msg.truncate(i);
    }
    if let Some(i) = msg.find(", expected ")
        && msg.starts_with("unknown field")
    {
        msg.truncate(i);
    }
    let msg = match msg.strip_prefix("unknown field ") {
        Some(rest) => format!("unknown field {}", rest.replace('`', "\"")),
        None => msg,
    };
    let loc = e.location().filter(|l| l.line() > 0);
    Error {
        file: path.to_path_buf(),
        line: loc.map(|l| l.line() as usize),
        col: loc.map(|l| l.column() as usize),
        msg: if msg.is_empty() { "invalid YAML".to_string() } else { msg },
    }
}

/// State while converting one file.
pub(super) struct Ctx<'a> {
    /// The file, for errors.
    pub file: &'a Path,
    /// Its directory, for relative paths.
    pub dir: PathBuf,
    /// Warnings so far.
    pub warnings: Vec<Warning>,
}

impl Ctx<'_> {
    /// An error at `loc` (when known).
    pub fn err(&self, loc: Option<&Location>, msg: impl Into<String>) -> Error {
        let loc = loc.filter(|l| l.line() > 0);
        Error {
            file: self.file.to_path_buf(),
            line: loc.map(|l| l.line() as usize),
            col: loc.map(|l| l.column() as usize),
            msg: msg.into(),
        }
    }

    /// An error at a value's position.
    pub fn err_at<T>(&self, v: &Sp<T>, msg: impl Into<String>) -> Error {
        self.err(Some(&v.referenced), msg)
    }

    /// Records a warning.
    pub fn warn(&mut self, msg: String) {
        self.warnings.push(Warning { msg });
    }

    /// A relative path joined to the config's directory.
    pub fn path(&self, p: &str) -> PathBuf {
        join_dir(&self.dir, p)
    }

    /// An optional duration; `None` when absent or zero (Prometheus treats 0 as unset).
    pub fn duration(&self, v: Option<&Sp<String>>) -> Result<Option<Duration>, Error> {
        let Some(v) = v else { return Ok(None) };
        let ms = parse_duration(&v.value).map_err(|e| self.err_at(v, e.to_string()))?;
        Ok((ms > 0).then(|| Duration::from_millis(ms as u64)))
    }

    /// A byte size (`body_size_limit`), 0 when absent.
    fn bytes(&self, v: Option<&Sp<String>>) -> Result<u64, Error> {
        let Some(v) = v else { return Ok(0) };
        parse_bytes(&v.value).map_err(|e| self.err_at(v, e))
    }

    /// The whole file.
    fn config(&mut self, raw: RawConfig) -> Result<Config, Error> {
        let global = match &raw.global {
            Some(g) => self.global(g)?,
            None => GlobalConfig::default(),
        };
        let mut rule_files = Vec::new();
        for rf in raw.rule_files.iter().flatten() {
            if !valid_rule_path(&rf.value) {
                return Err(self.err_at(rf, format!("invalid rule file path {}", go_quote(&rf.value))));
            }
            rule_files.push(join_dir_str(&self.dir, &rf.value));
        }
        let mut scrape_configs = Vec::new();
        let mut jobs = HashSet::new();
        for sc in raw.scrape_configs.iter().flatten() {
            let Some(sc) = sc else {
                return Err(self.err(None, "empty or null scrape config section"));
            };
            let job = self.scrape(sc, &global)?;
            if !jobs.insert(job.job_name.clone()) {
                let at = sc.value.job_name.as_ref().map(|j| &j.referenced);
                return Err(
                    self.err(at, format!("found multiple scrape configs with job name {}", go_quote(&job.job_name)))
                );
            }
            scrape_configs.push(job);
        }
        let alerting = match &raw.alerting {
            Some(a) => self.alerting(a)?,
            None => AlertingConfig::default(),
        };
        let remote_write = self.remote_writes(raw.remote_write.as_deref().unwrap_or_default())?;
        let remote_read = self.remote_reads(raw.remote_read.as_deref().unwrap_or_default())?;
        let storage = match &raw.storage {
            Some(s) => self.storage(s)?,
            None => StorageConfig::default(),
        };
        if let Some(t) = &raw.tracing {
            self.tracing(t)?;
        }
        Ok(Config {
            global,
            rule_files,
            scrape_configs,
            alerting,
            remote_write,
            remote_read,
            storage,
            source: None,
            original: String::new(),
        })
    }

    /// `global`.
    fn global(&self, raw: &Sp<raw::RawGlobal>) -> Result<GlobalConfig, Error> {
        let g = &raw.value;
        let external_labels = self.label_map(g.external_labels.as_ref(), false)?;
        let scrape_interval = self.duration(g.scrape_interval.as_ref())?.unwrap_or(Duration::from_secs(60));
        let timeout = self.duration(g.scrape_timeout.as_ref())?;
        if timeout.is_some_and(|t| t > scrape_interval) {
            let at = g.scrape_timeout.as_ref().map(|t| &t.referenced);
            return Err(self.err(at, "global scrape timeout greater than scrape interval"));
        }
        let scrape_timeout = timeout.unwrap_or_else(|| Duration::from_secs(10).min(scrape_interval));
        let evaluation_interval = self.duration(g.evaluation_interval.as_ref())?.unwrap_or(Duration::from_secs(60));
        let scrape_protocols = match &g.scrape_protocols {
            Some(p) => self.scrape_protocols(p, raw, " for global config")?,
            None => ScrapeProtocol::DEFAULT.to_vec(),
        };
        Ok(GlobalConfig {
            scrape_interval,
            scrape_timeout,
            evaluation_interval,
            external_labels,
            query_log_file: g.query_log_file.as_deref().filter(|f| !f.is_empty()).map(|f| self.path(f)),
            limits: ScrapeLimits {
                body_size_limit: self.bytes(g.body_size_limit.as_ref())?,
                sample_limit: g.sample_limit.unwrap_or(0),
                target_limit: g.target_limit.unwrap_or(0),
                label_limit: g.label_limit.unwrap_or(0),
                label_name_length_limit: g.label_name_length_limit.unwrap_or(0),
                label_value_length_limit: g.label_value_length_limit.unwrap_or(0),
            },
            scrape_protocols,
        })
    }

    /// A label map (`external_labels`, static `labels`): names checked, null values empty.
    pub fn label_map(&self, m: Option<&BTreeMap<Key, Option<String>>>, no_name: bool) -> Result<Labels, Error> {
        let mut out = Vec::new();
        for (k, v) in m.into_iter().flatten() {
            if !relabel::is_valid_label_name(&k.0.value) || (no_name && k.0.value == "__name__") {
                return Err(self.err_at(&k.0, format!("{} is not a valid label name", go_quote(&k.0.value))));
            }
            out.push(Label::new(k.0.value.clone(), v.clone().unwrap_or_default()));
        }
        // Names are unique (a map) and valid, so this cannot fail.
        Labels::new(out).map_err(|e| self.err(None, e.to_string()))
    }

    /// `scrape_protocols`, validated.
    fn scrape_protocols<T>(
        &self,
        list: &[Sp<String>],
        section: &Sp<T>,
        suffix: &str,
    ) -> Result<Vec<ScrapeProtocol>, Error> {
        if list.is_empty() {
            return Err(self.err_at(section, format!("scrape_protocols cannot be empty{suffix}")));
        }
        let mut out = Vec::new();
        for p in list {
            let Some(proto) = ScrapeProtocol::ALL.into_iter().find(|x| x.as_str() == p.value) else {
                let mut names: Vec<&str> = ScrapeProtocol::ALL.iter().map(|x| x.as_str()).collect();
                names.sort_unstable();
                return Err(self.err_at(
                    p,
                    format!(
                        "scrape_protocols: unknown scrape protocol {}, supported: [{}]{suffix}",
                        p.value,
                        names.join(" ")
                    ),
                ));
            };
            if out.contains(&proto) {
                let all: Vec<&str> = list.iter().map(|x| x.value.as_str()).collect();
                return Err(
                    self.err_at(p, format!("duplicated protocol in scrape_protocols, got [{}]{suffix}", all.join(" ")))
                );
            }
            out.push(proto);
        }
        Ok(out)
    }

    /// One `scrape_configs` entry.
    fn scrape(&mut self, raw: &Sp<raw::RawScrape>, global: &GlobalConfig) -> Result<ScrapeConfig, Error> {
        let s = &raw.value;
        let job_name = match &s.job_name {
            Some(j) if !j.value.is_empty() => j.value.clone(),
            Some(j) => return Err(self.err_at(j, "job_name is empty")),
            None => return Err(self.err_at(raw, "job_name is empty")),
        };
        let http = self.http(s.http(), &raw.referenced)?;
        let relabel_configs =
            self.relabels(&s.relabel_configs, "empty or null target relabeling rule in scrape config", raw)?;
        let metric_relabel_configs =
            self.relabels(&s.metric_relabel_configs, "empty or null metric relabeling rule in scrape config", raw)?;
        let sd = self.discovery(s.discovery(), &format!("scrape job {}", go_quote(&job_name)), raw)?;
        if relabel_configs.is_empty() {
            self.check_static_targets(s.discovery().static_configs)?;
        }
        let scrape_interval = self.duration(s.scrape_interval.as_ref())?.unwrap_or(global.scrape_interval);
        let timeout = self.duration(s.scrape_timeout.as_ref())?;
        if timeout.is_some_and(|t| t > scrape_interval) {
            let at = s.scrape_timeout.as_ref().map_or(&raw.referenced, |t| &t.referenced);
            return Err(self.err(
                Some(at),
                format!(
                    "scrape timeout greater than scrape interval for scrape config with job name {}",
                    go_quote(&job_name)
                ),
            ));
        }
        let scrape_timeout = timeout.unwrap_or_else(|| global.scrape_timeout.min(scrape_interval));
        let or_global = |v: Option<u64>, g: u64| v.filter(|&x| x != 0).unwrap_or(g);
        let gl = &global.limits;
        let body = self.bytes(s.body_size_limit.as_ref())?;
        let limits = ScrapeLimits {
            body_size_limit: or_global(Some(body), gl.body_size_limit),
            sample_limit: or_global(s.sample_limit, gl.sample_limit),
            target_limit: or_global(s.target_limit, gl.target_limit),
            label_limit: or_global(s.label_limit, gl.label_limit),
            label_name_length_limit: or_global(s.label_name_length_limit, gl.label_name_length_limit),
            label_value_length_limit: or_global(s.label_value_length_limit, gl.label_value_length_limit),
        };
        let suffix = format!(" for scrape config with job name {}", go_quote(&job_name));
        let scrape_protocols = match &s.scrape_protocols {
            Some(p) => self.scrape_protocols(p, raw, &suffix)?,
            None => global.scrape_protocols.clone(),
        };
        Ok(ScrapeConfig {
            job_name,
            honor_labels: s.honor_labels.unwrap_or(false),
            honor_timestamps: s.honor_timestamps.unwrap_or(true),
            track_timestamps_staleness: s.track_timestamps_staleness.unwrap_or(false),
            params: s.params.clone().unwrap_or_default(),
            scrape_interval,
            scrape_timeout,
            scrape_protocols,
            metrics_path: s.metrics_path.clone().unwrap_or_else(|| "/metrics".to_string()),
            scheme: s.scheme.as_ref().map_or_else(|| "http".to_string(), |v| v.value.clone()),
            enable_compression: s.enable_compression.unwrap_or(true),
            limits,
            http,
            relabel_configs,
            metric_relabel_configs,
            static_configs: sd.static_configs,
            file_sd_configs: sd.file_sd_configs,
            http_sd_configs: sd.http_sd_configs,
            dns_sd_configs: sd.dns_sd_configs,
            unsupported_sd: sd.unsupported,
        })
    }

    /// Prometheus's check for URLs written as static targets (only done when there is no
    /// relabeling that could fix them).
    fn check_static_targets(&self, statics: &[Option<Sp<raw::RawStatic>>]) -> Result<(), Error> {
        for t in statics.iter().flatten().flat_map(|s| s.value.targets.iter().flatten()) {
            if t.value.contains('/') {
                return Err(self.err_at(t, format!("{} is not a valid hostname", go_quote(&t.value))));
            }
        }
        Ok(())
    }

    /// A list of relabeling steps; `null_msg` is Prometheus's message for a null entry.
    pub fn relabels<T>(
        &self,
        list: &[Option<Sp<raw::RawRelabel>>],
        null_msg: &str,
        section: &Sp<T>,
    ) -> Result<Vec<RelabelConfig>, Error> {
        list.iter()
            .map(|r| match r {
                Some(r) => self.relabel(r),
                None => Err(self.err_at(section, null_msg)),
            })
            .collect()
    }

    /// One relabeling step: go-yaml's null handling, defaults, then Prometheus's checks.
    fn relabel(&self, raw: &Sp<raw::RawRelabel>) -> Result<RelabelConfig, Error> {
        let r = &raw.value;
        let at = |e: relabel::Error| self.err_at(raw, e.to_string());
        let action = match &r.action {
            None => Action::Replace,
            Some(None) => return Err(self.err_at(raw, "relabel action cannot be empty")),
            Some(Some(a)) => Action::parse(&a.value).map_err(|e| self.err_at(a, e.to_string()))?,
        };
        let regex = match &r.regex {
            None => relabel::Regex::default(),
            Some(None) => relabel::Regex::new("").map_err(|e| self.err_at(raw, e.to_string()))?,
            Some(Some(re)) => relabel::Regex::new(&re.value).map_err(|e| self.err_at(re, e.to_string()))?,
        };
        let text = |v: &Option<Option<String>>, default: &str| match v {
            None => default.to_string(),
            Some(v) => v.clone().unwrap_or_default(),
        };
        let cfg = RelabelConfig {
            source_labels: r.source_labels.clone().flatten().unwrap_or_default(),
            separator: text(&r.separator, ";"),
            regex,
            modulus: r.modulus.unwrap_or(0),
            target_label: text(&r.target_label, ""),
            replacement: text(&r.replacement, "$1"),
            action,
        };
        cfg.validate().map_err(at)?;
        // What `validate` cannot see: Prometheus compares the regex by identity with its
        // default, so any written regex counts; and an explicit empty `source_labels` list
        // counts as set.
        if matches!(action, Action::KeepEqual | Action::DropEqual) && r.regex.is_some() {
            return Err(at(relabel::Error::OnlySourceAndTarget(action)));
        }
        if matches!(action, Action::LabelDrop | Action::LabelKeep) && matches!(r.source_labels, Some(Some(_))) {
            return Err(at(relabel::Error::OnlyRegex(action)));
        }
        Ok(cfg)
    }

    /// `alerting`.
    fn alerting(&mut self, raw: &Sp<raw::RawAlerting>) -> Result<AlertingConfig, Error> {
        let a = &raw.value;
        let alert_relabel_configs =
            self.relabels(&a.alert_relabel_configs, "empty or null alert relabeling rule", raw)?;
        let mut alertmanagers = Vec::new();
        for (i, am) in a.alertmanagers.iter().enumerate() {
            let Some(am) = am else {
                return Err(self.err_at(raw, "empty or null alertmanager config section"));
            };
            alertmanagers.push(self.alertmanager(am, i)?);
        }
        Ok(AlertingConfig { alert_relabel_configs, alertmanagers })
    }

    /// One `alertmanagers` entry.
    fn alertmanager(&mut self, raw: &Sp<raw::RawAlertmanager>, index: usize) -> Result<AlertmanagerConfig, Error> {
        let a = &raw.value;
        let http = self.http(a.http(), &raw.referenced)?;
        let api_version = match &a.api_version {
            None => "v2".to_string(),
            Some(v) if v.value == "v1" || v.value == "v2" => v.value.clone(),
            Some(v) => {
                return Err(self
                    .err_at(v, format!("expected Alertmanager api version to be one of [v1 v2] but got {}", v.value)));
            }
        };
        let relabel_configs =
            self.relabels(&a.relabel_configs, "empty or null Alertmanager target relabeling rule", raw)?;
        let sd = self.discovery(a.discovery(), &format!("alertmanager config {index}"), raw)?;
        if relabel_configs.is_empty() {
            self.check_static_targets(a.discovery().static_configs)?;
        }
        Ok(AlertmanagerConfig {
            scheme: a.scheme.as_ref().map_or_else(|| "http".to_string(), |s| s.value.clone()),
            path_prefix: a.path_prefix.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| "/".to_string()),
            timeout: self.duration(a.timeout.as_ref())?.unwrap_or(Duration::from_secs(10)),
            api_version,
            http,
            relabel_configs,
            static_configs: sd.static_configs,
            file_sd_configs: sd.file_sd_configs,
            http_sd_configs: sd.http_sd_configs,
            dns_sd_configs: sd.dns_sd_configs,
            unsupported_sd: sd.unsupported,
        })
    }

    /// `storage`.
    fn storage(&self, raw: &raw::RawStorage) -> Result<StorageConfig, Error> {
        let window = match raw.tsdb.as_ref().and_then(|t| t.out_of_order_time_window.as_ref()) {
            Some(w) => Some(self.duration(Some(w))?.unwrap_or(Duration::ZERO)),
            None => None,
        };
        let max_exemplars = raw.exemplars.as_ref().and_then(|e| e.max_exemplars).map(|n| n.max(0) as u64);
        Ok(StorageConfig { out_of_order_time_window: window, max_exemplars })
    }

    /// `tracing`: validated as Prometheus does, then reported as unsupported.
    fn tracing(&mut self, raw: &Sp<raw::RawTracing>) -> Result<(), Error> {
        let t = &raw.value;
        if let Some(kind) = &t.client_type
            && kind != "http"
            && kind != "grpc"
        {
            return Err(
                self.err_at(raw, format!("expected tracing client type to be to be http or grpc, but got {kind}"))
            );
        }
        if t.endpoint.as_deref().unwrap_or("").is_empty() {
            return Err(self.err_at(raw, "tracing endpoint must be set"));
        }
        if let Some(c) = &t.compression
            && !c.is_empty()
            && c != "gzip"
        {
            return Err(self.err_at(raw, format!("invalid compression type {c} provided, valid options: gzip")));
        }
        self.duration(t.timeout.as_ref())?;
        self.warn("tracing is not supported by Cairn; no traces will be exported".to_string());
        Ok(())
    }
}

/// Prometheus's pattern for `rule_files` entries: a `*` only in the last path element.
fn valid_rule_path(p: &str) -> bool {
    match p.find('*') {
        None => true,
        Some(i) => !p[i..].contains('/'),
    }
}

#[cfg(test)]
mod tests {
    use super::valid_rule_path;

    #[test]
    fn rule_paths() {
        for ok in ["rules.yml", "rules/*.yml", "a/b/*", "*", "/abs/r*.yaml", "x?/[ab].yml"] {
            assert!(valid_rule_path(ok), "{ok}");
        }
        for bad in ["a/*/b.yml", "*/x", "a*/"] {
            assert!(!valid_rule_path(bad), "{bad}");
        }
    }
}
