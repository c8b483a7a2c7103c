//! `file_sd_configs`: target groups read from JSON or YAML files named by glob patterns.
//!
//! Every few seconds (at most the refresh interval) the patterns are expanded again and each
//! file whose modification time changed is re-read; every `refresh_interval` all files are
//! re-read. Each group gets `__meta_filepath` and the source `<file>:<index>`. A file that
//! fails to read or parse keeps its last good groups (the failure is logged and counted in
//! `prometheus_sd_file_read_errors_total`); a file that disappears takes its groups with it.

use super::TargetGroup;
use super::provider::Sink;
use crate::model::{Label, Labels};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The longest time between two checks of the files' modification times.
pub const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// The label naming the file a target came from.
pub const FILEPATH_LABEL: &str = "__meta_filepath";

/// A file's groups could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupsError {
    /// The file's extension is not `.json`, `.yml` or `.yaml`.
    #[error("retrieval.FileDiscovery.readFile: unsupported file extension {0:?}")]
    Extension(String),
    /// Reading the file failed.
    #[error("{0}")]
    Io(String),
    /// The content is not a list of `{targets, labels}` groups.
    #[error("{0}")]
    Syntax(String),
    /// A label name is not valid.
    #[error("{0:?} is not a valid label name")]
    LabelName(String),
}

/// A group as read: its targets and labels.
pub type RawGroup = (Vec<String>, BTreeMap<String, String>);

/// One group as written (YAML: unknown keys refused, as Prometheus's strict YAML read).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictGroup {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// One group as written in JSON (unknown keys ignored, as Go's `encoding/json`).
#[derive(Deserialize)]
struct LooseGroup {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

fn valid_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter().enumerate().all(|(i, &c)| c.is_ascii_alphabetic() || c == b'_' || (i > 0 && c.is_ascii_digit()))
}

/// Groups from `(targets, labels)` pairs: each target becomes `__address__`, `extra` joins
/// every group's labels, sources are `<source_prefix>:<index>`.
pub(crate) fn build_groups(
    raw: Vec<RawGroup>,
    source_prefix: &str,
    extra: (&str, &str),
) -> Result<Vec<TargetGroup>, GroupsError> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, (targets, labels)) in raw.into_iter().enumerate() {
        let mut ls = Vec::with_capacity(labels.len() + 1);
        for (k, v) in labels {
            if !valid_label_name(&k) {
                return Err(GroupsError::LabelName(k));
            }
            ls.push(Label { name: k, value: v });
        }
        ls.retain(|l| l.name != extra.0);
        ls.push(Label::new(extra.0, extra.1));
        let labels = Labels::new(ls).map_err(|e| GroupsError::Syntax(e.to_string()))?;
        let targets = targets
            .into_iter()
            .map(|t| Labels::from_sorted_unchecked(vec![Label::new(crate::scrape::ADDRESS_LABEL, t)]))
            .collect();
        out.push(TargetGroup { source: format!("{source_prefix}:{i}"), targets, labels });
    }
    Ok(out)
}

/// Parses JSON groups (`[{"targets": [...], "labels": {...}}]`).
pub fn parse_json(body: &[u8]) -> Result<Vec<RawGroup>, GroupsError> {
    let gs: Vec<LooseGroup> = serde_json::from_slice(body).map_err(|e| GroupsError::Syntax(e.to_string()))?;
    Ok(gs.into_iter().map(|g| (g.targets, g.labels)).collect())
}

/// Parses YAML groups (unknown keys refused).
pub fn parse_yaml(body: &str) -> Result<Vec<RawGroup>, GroupsError> {
    if body.trim().is_empty() {
        return Ok(Vec::new());
    }
    let gs: Vec<StrictGroup> = serde_saphyr::from_str(body).map_err(|e| GroupsError::Syntax(e.to_string()))?;
    Ok(gs.into_iter().map(|g| (g.targets, g.labels)).collect())
}

/// The groups in `path`'s content, by extension.
pub fn parse_file(path: &Path, content: &[u8]) -> Result<Vec<TargetGroup>, GroupsError> {
    let name = path.display().to_string();
    let raw = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => parse_json(content)?,
        Some("yml" | "yaml") => parse_yaml(&String::from_utf8_lossy(content))?,
        _ => {
            let ext = path.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
            return Err(GroupsError::Extension(ext));
        }
    };
    build_groups(raw, &name, (FILEPATH_LABEL, &name))
}

/// What is known about one file.
#[derive(Clone, Debug)]
struct Known {
    mtime: Option<SystemTime>,
    /// Number of groups last sent for it.
    groups: usize,
}

/// The file provider's memory between scans.
#[derive(Debug, Default)]
pub struct FileState {
    known: BTreeMap<PathBuf, Known>,
}

impl FileState {
    /// Expands `patterns` and reads what changed (everything with `full`): the groups to send
    /// (empty groups for sources that went away) and the errors met.
    pub fn scan(&mut self, patterns: &[PathBuf], full: bool) -> (Vec<TargetGroup>, Vec<String>) {
        let mut files: Vec<PathBuf> = Vec::new();
        let mut errors = Vec::new();
        for p in patterns {
            match crate::config::glob(&p.to_string_lossy()) {
                Ok(found) => files.extend(found),
                Err(e) => errors.push(format!("error expanding glob {:?}: {e}", p.display().to_string())),
            }
        }
        files.sort();
        files.dedup();
        let mut out = Vec::new();
        let mut seen = BTreeMap::new();
        for f in files {
            let mtime = std::fs::metadata(&f).and_then(|m| m.modified()).ok();
            let old = self.known.get(&f).cloned();
            if !full && old.as_ref().is_some_and(|o| o.mtime == mtime) {
                seen.insert(f, old.unwrap_or(Known { mtime, groups: 0 }));
                continue;
            }
            let read = std::fs::read(&f).map_err(|e| GroupsError::Io(e.to_string())).and_then(|b| parse_file(&f, &b));
            match read {
                Ok(groups) => {
                    let n = groups.len();
                    let name = f.display().to_string();
                    out.extend(groups);
                    for i in n..old.as_ref().map_or(0, |o| o.groups) {
                        out.push(TargetGroup { source: format!("{name}:{i}"), ..TargetGroup::default() });
                    }
                    seen.insert(f, Known { mtime, groups: n });
                }
                Err(e) => {
                    errors.push(format!("error reading file {:?}: {e}", f.display().to_string()));
                    // Keep the last good groups (and retry on the next scan).
                    if let Some(o) = old {
                        seen.insert(f, Known { mtime: None, groups: o.groups });
                    }
                }
            }
        }
        for (f, k) in &self.known {
            if !seen.contains_key(f) {
                let name = f.display().to_string();
                out.extend(
                    (0..k.groups).map(|i| TargetGroup { source: format!("{name}:{i}"), ..TargetGroup::default() }),
                );
            }
        }
        self.known = seen;
        (out, errors)
    }

    /// The files read and their modification times (seconds), for the metric.
    fn mtimes(&self) -> Vec<(String, Option<f64>)> {
        self.known
            .iter()
            .map(|(f, k)| {
                let t = k.mtime.and_then(|m| m.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_secs_f64());
                (f.display().to_string(), t)
            })
            .collect()
    }
}

/// Runs the provider until aborted or until the pool goes away.
pub(crate) async fn run(cfg: super::FileSdConfig, sink: Sink) {
    let poll = POLL_INTERVAL.min(cfg.refresh_interval).max(Duration::from_millis(100));
    let mut state = FileState::default();
    let mut last_full: Option<Instant> = None;
    let mut first = true;
    let mut sent_mtimes: Vec<String> = Vec::new();
    loop {
        let full = last_full.is_none_or(|t| t.elapsed() >= cfg.refresh_interval);
        let patterns = cfg.files.clone();
        let started = Instant::now();
        let res = tokio::task::spawn_blocking(move || {
            let r = state.scan(&patterns, full);
            (state, r)
        })
        .await;
        let Ok((s, (groups, errors))) = res else {
            return;
        };
        state = s;
        sink.metrics.observe_file_scan(started.elapsed().as_secs_f64());
        if full {
            last_full = Some(Instant::now());
        }
        for e in errors {
            sink.metrics.file_read_errors.inc();
            tracing::error!(job = %sink.job, error = %e, "file discovery");
        }
        let mtimes = state.mtimes();
        for f in &sent_mtimes {
            if !mtimes.iter().any(|(g, _)| g == f) {
                sink.metrics.set_file_mtime(f, None);
            }
        }
        for (f, t) in &mtimes {
            if let Some(t) = t {
                sink.metrics.set_file_mtime(f, Some(*t));
            }
        }
        sent_mtimes = mtimes.into_iter().map(|(f, _)| f).collect();
        if (first || !groups.is_empty()) && !sink.send(groups).await {
            return;
        }
        first = false;
        tokio::time::sleep(poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Path, s: &str) {
        std::fs::write(p, s).unwrap();
    }

    #[test]
    fn json_and_yaml_groups() {
        let j = parse_file(
            Path::new("/d/a.json"),
            br#"[{"targets":["h:1","h:2"],"labels":{"env":"prod"},"extra":1},{"targets":[]}]"#,
        )
        .unwrap();
        assert_eq!(j.len(), 2);
        assert_eq!(j[0].source, "/d/a.json:0");
        assert_eq!(j[0].targets[1].get("__address__"), Some("h:2"));
        assert_eq!(j[0].labels, Labels::from_pairs(&[("__meta_filepath", "/d/a.json"), ("env", "prod")]).unwrap());
        let y = parse_file(Path::new("b.yml"), b"- targets: [x:1]\n  labels: {a: b}\n").unwrap();
        assert_eq!(y[0].labels.get("a"), Some("b"));
        let bad: &[(&str, &[u8], &str)] = &[
            ("c.yaml", b"- targets: [x]\n  extra: 1\n", ""),
            ("d.json", b"[{\"labels\":{\"0bad\":\"v\"}}]", "\"0bad\" is not a valid label name"),
            ("e.txt", b"[]", "retrieval.FileDiscovery.readFile: unsupported file extension \".txt\""),
            ("f.json", b"{", ""),
        ];
        for (name, body, want) in bad {
            let e = parse_file(Path::new(name), body).unwrap_err().to_string();
            assert!(e.contains(want), "{name}: {e}");
        }
    }

    #[test]
    fn scans_follow_changes_and_keep_the_last_good_groups() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.json");
        write(&a, r#"[{"targets":["h:1"]},{"targets":["h:2"]}]"#);
        let pattern = vec![dir.path().join("*.json")];
        let mut st = FileState::default();
        let (g, e) = st.scan(&pattern, true);
        assert!(e.is_empty());
        assert_eq!(g.len(), 2);
        // Nothing changed: nothing to send.
        let (g, _) = st.scan(&pattern, false);
        assert!(g.is_empty());
        // A broken file keeps its groups (no update), and says why.
        write(&a, "[{");
        let (g, e) = st.scan(&pattern, true);
        assert!(g.is_empty());
        assert_eq!(e.len(), 1);
        // Fixed with one group fewer: the second source is removed with an empty group.
        write(&a, r#"[{"targets":["h:9"]}]"#);
        let (g, e) = st.scan(&pattern, false);
        assert!(e.is_empty());
        let a_name = a.display().to_string();
        assert_eq!(
            g.iter().map(|g| (g.source.clone(), g.targets.len())).collect::<Vec<_>>(),
            vec![(format!("{a_name}:0"), 1), (format!("{a_name}:1"), 0)]
        );
        // A new file matching the glob appears; the old one goes.
        let b = dir.path().join("b.json");
        write(&b, r#"[{"targets":["k:1"]}]"#);
        std::fs::remove_file(&a).unwrap();
        let (g, _) = st.scan(&pattern, false);
        let mut got: Vec<_> = g.iter().map(|g| (g.source.clone(), g.targets.len())).collect();
        got.sort();
        assert_eq!(got, vec![(format!("{a_name}:0"), 0), (format!("{}:0", b.display()), 1)]);
    }
}
