//! The target checks `promtool check config` makes on static and file-discovered targets:
//! reading `file_sd` files, and turning each target group into targets the way the scrape
//! manager would (job and scrape labels added, relabeling, address and interval checks).

use crate::config::{AlertmanagerConfig, ScrapeConfig};
use crate::discovery::StaticConfig;
use crate::model::duration::{format_duration, parse_duration};
use crate::model::{Label, Labels};
use crate::relabel::{go_quote, is_valid_label_name, process_owned};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One target group as a `file_sd` file holds it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGroup {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// The JSON form; unknown keys are ignored there, as Go's `encoding/json` does.
#[derive(Deserialize)]
struct JsonGroup {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// A target group's targets and labels as read, before validation.
type RawGroup = (Vec<String>, BTreeMap<String, String>);

/// Reads a `file_sd` file (`.json`, `.yml`, `.yaml`) into target groups.
pub(super) fn read_sd_file(path: &Path) -> Result<Vec<StaticConfig>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
    let groups: Vec<Option<RawGroup>> = match ext.as_str() {
        "json" => serde_json::from_str::<Vec<Option<JsonGroup>>>(&text)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|g| g.map(|g| (g.targets, g.labels)))
            .collect(),
        "yml" | "yaml" => serde_saphyr::from_str::<Option<Vec<Option<FileGroup>>>>(&text)
            .map_err(|e| e.without_snippet().to_string())?
            .unwrap_or_default()
            .into_iter()
            .map(|g| g.map(|g| (g.targets, g.labels)))
            .collect(),
        _ => return Err(format!("invalid file extension: {}", go_quote(&format!(".{ext}")))),
    };
    let mut out = Vec::new();
    for (i, g) in groups.into_iter().enumerate() {
        let Some((targets, labels)) = g else {
            return Err(format!("nil target group item found (index {i})"));
        };
        if let Some(bad) = labels.keys().find(|k| !is_valid_label_name(k)) {
            return Err(format!("{} is not a valid label name", go_quote(bad)));
        }
        let labels =
            Labels::new(labels.into_iter().map(|(k, v)| Label::new(k, v)).collect()).map_err(|e| e.to_string())?;
        out.push(StaticConfig { targets, labels });
    }
    Ok(out)
}

/// A target's labels before relabeling: its own address, the group's labels.
fn discovered(target: &str, group: &StaticConfig) -> Vec<Label> {
    let mut labels: Vec<Label> = group.labels.iter().filter(|l| l.name != "__address__").cloned().collect();
    labels.push(Label::new("__address__", target));
    labels
}

/// Sets `name` to `value` unless it already has a non-empty value.
fn set_default(labels: &mut Vec<Label>, name: &str, value: &str) {
    if !labels.iter().any(|l| l.name == name && !l.value.is_empty()) {
        labels.retain(|l| l.name != name);
        labels.push(Label::new(name, value));
    }
}

/// Turns the groups into targets for `job` as the scrape manager would, returning the first
/// problem as promtool words it (`instance 0 in group 0: no address`). `source` names a
/// group: its index for static configs, `None` (empty) for groups read from a file.
pub(super) fn check_scrape_targets(groups: &[StaticConfig], job: &ScrapeConfig, indexed: bool) -> Result<(), String> {
    for (gi, group) in groups.iter().enumerate() {
        let source = if indexed { gi.to_string() } else { String::new() };
        for (i, target) in group.targets.iter().enumerate() {
            populate(target, group, job).map_err(|e| format!("instance {i} in group {source}: {e}"))?;
        }
    }
    Ok(())
}

/// Prometheus's `PopulateLabels` checks for one target (default ports are not added).
fn populate(target: &str, group: &StaticConfig, job: &ScrapeConfig) -> Result<(), String> {
    let mut labels = discovered(target, group);
    let interval = format_duration(job.scrape_interval.as_millis() as i64);
    let timeout = format_duration(job.scrape_timeout.as_millis() as i64);
    set_default(&mut labels, "job", &job.job_name);
    set_default(&mut labels, "__scrape_interval__", &interval);
    set_default(&mut labels, "__scrape_timeout__", &timeout);
    set_default(&mut labels, "__metrics_path__", &job.metrics_path);
    set_default(&mut labels, "__scheme__", &job.scheme);
    for (k, v) in &job.params {
        if let Some(first) = v.first() {
            let name = format!("__param_{k}");
            labels.retain(|l| l.name != name);
            labels.push(Label::new(name, first.clone()));
        }
    }
    let labels = Labels::new(labels).map_err(|e| e.to_string())?;
    let Some(labels) = process_owned(labels, &job.relabel_configs) else {
        return Ok(());
    };
    let addr = labels.get("__address__").unwrap_or("");
    if addr.is_empty() {
        return Err("no address".into());
    }
    if addr.contains('/') {
        return Err(format!("{} is not a valid hostname", go_quote(addr)));
    }
    let interval = labels.get("__scrape_interval__").unwrap_or("");
    let interval_ms = parse_duration(interval).map_err(|e| format!("error parsing scrape interval: {e}"))?;
    if interval_ms == 0 {
        return Err("scrape interval cannot be 0".into());
    }
    let timeout = labels.get("__scrape_timeout__").unwrap_or("");
    let timeout_ms = parse_duration(timeout).map_err(|e| format!("error parsing scrape timeout: {e}"))?;
    if timeout_ms == 0 {
        return Err("scrape timeout cannot be 0".into());
    }
    if timeout_ms > interval_ms {
        return Err(format!(
            "scrape timeout cannot be greater than scrape interval ({} > {})",
            go_quote(timeout),
            go_quote(interval)
        ));
    }
    Ok(())
}

/// Prometheus's checks on Alertmanager targets: after relabeling, the address must not be
/// a URL.
pub(super) fn check_alertmanager_targets(groups: &[StaticConfig], am: &AlertmanagerConfig) -> Result<(), String> {
    for group in groups {
        for target in &group.targets {
            let mut labels = discovered(target, group);
            labels.retain(|l| l.name != "__scheme__" && l.name != "__alerts_path__");
            labels.push(Label::new("__scheme__", am.scheme.clone()));
            let path = format!("{}/api/{}/alerts", am.path_prefix.trim_end_matches('/'), am.api_version);
            labels.push(Label::new("__alerts_path__", path));
            let labels = Labels::new(labels).map_err(|e| e.to_string())?;
            if let Some(l) = process_owned(labels, &am.relabel_configs) {
                let addr = l.get("__address__").unwrap_or("");
                if addr.contains('/') {
                    return Err(format!("{} is not a valid hostname", go_quote(addr)));
                }
            }
        }
    }
    Ok(())
}
