//! The measured phases, run for one system at a time: [`ingest`] (remote-write at rising
//! rates, then the restart), [`scrape`] (synthetic targets) and [`disk`] (backfilled history,
//! bytes per sample, then the dashboard queries over it).
//!
//! [`Ctx`] is what every phase shares: the configuration, HTTP clients, the run directory.
//! A phase never fails the run: what it could not measure comes back as `Err(reason)`, which
//! the table shows as "n/a (reason)".

pub mod disk;
pub mod ingest;
pub mod scrape;

use crate::config::Config;
use crate::encoder::empty_body;
use crate::sender::{Outcome, post};
use crate::system::{Server, SystemKind};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A figure, or why it is missing.
pub type Figure = Result<f64, String>;

static START: OnceLock<Instant> = OnceLock::new();

/// Prints a progress line with the time since the run started.
pub fn log(msg: impl std::fmt::Display) {
    let t = START.get_or_init(Instant::now).elapsed().as_secs_f64();
    eprintln!("[{t:>7.1}s] {msg}");
}

/// Wall-clock time now, Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// What every phase shares.
#[derive(Debug)]
pub struct Ctx {
    /// The parameters.
    pub cfg: Config,
    /// Short control requests (readiness, probes, metrics, counts).
    pub client: reqwest::Client,
    /// Remote-write requests.
    pub write_client: reqwest::Client,
    /// Timed queries.
    pub query_client: reqwest::Client,
    /// This run's directory (data directories, logs, configuration files).
    pub run_dir: PathBuf,
    /// A configuration file without scrape jobs.
    pub empty_config: PathBuf,
    /// When the run started (Unix ms): the time base every system's history shares.
    pub run_start_ms: i64,
}

/// How long a server may take to become ready (a large WAL replay can take minutes).
pub const READY_LIMIT: Duration = Duration::from_secs(900);
/// How long a server may take to stop after SIGTERM before it is killed.
pub const STOP_LIMIT: Duration = Duration::from_secs(300);

impl Ctx {
    /// A fresh data directory and log path for `kind` in phase `what`.
    pub fn paths(&self, kind: SystemKind, what: &str) -> (PathBuf, PathBuf) {
        let base = format!("{}-{what}", kind.key());
        (self.run_dir.join(&base), self.run_dir.join(format!("{base}.log")))
    }

    /// Starts a server and waits until it is ready.
    pub async fn start(
        &self,
        kind: SystemKind,
        binary: &Path,
        data: &Path,
        config: Option<&Path>,
        log_path: &Path,
    ) -> Result<Server, String> {
        let mut s = Server::start(kind, binary, data, config, &self.empty_config, log_path).map_err(|e| {
            log(format!("{}: {e}", kind.name()));
            "could not start".to_string()
        })?;
        if let Err(e) = s.wait_ready(&self.client, READY_LIMIT).await {
            log(format!("{}: {e}", kind.name()));
            return Err("did not become ready, see its log".into());
        }
        Ok(s)
    }

    /// Stops a server and removes its data directory (unless `--keep`).
    pub fn finish(&self, server: Server) {
        let (kind, data) = (server.kind, server.data.clone());
        let (clean, took) = server.stop(STOP_LIMIT);
        if !clean {
            log(format!("{}: did not stop within {took:.0?} of SIGTERM; killed", kind.name()));
        }
        self.discard(&data);
    }

    /// Removes a data directory unless `--keep`.
    pub fn discard(&self, data: &Path) {
        if !self.cfg.keep {
            let _ = std::fs::remove_dir_all(data);
        }
    }
}

/// Checks that a server takes remote writes: an empty `WriteRequest` must be accepted.
pub async fn probe_write(ctx: &Ctx, s: &Server) -> Result<(), String> {
    let (outcome, _) = post(&ctx.write_client, &s.url("/api/v1/write"), &empty_body()).await;
    match outcome {
        Outcome::Accepted => Ok(()),
        Outcome::Rejected(code @ (404 | 405 | 501), _) => Err(format!("not supported: HTTP {code} on /api/v1/write")),
        Outcome::Rejected(code, text) => Err(format!("remote write refused: HTTP {code} {}", text.trim())),
        Outcome::Failed(e) => Err(format!("remote write failed: {e}")),
    }
}

/// Makes recently written data searchable (VictoriaMetrics buffers it for about a second).
pub async fn flush_if_needed(ctx: &Ctx, s: &Server) {
    if s.kind == SystemKind::VictoriaMetrics {
        let _ = ctx.client.get(s.url("/internal/force_flush")).send().await;
    }
}

/// The value of `count(selector)` at `t_ms` (0 when nothing matches).
pub async fn count(ctx: &Ctx, s: &Server, selector: &str, t_ms: i64) -> Result<u64, String> {
    flush_if_needed(ctx, s).await;
    let url = s.url(&format!(
        "/api/v1/query?query={}&time={}.{:03}",
        crate::queries::encode(&format!("count({selector})")),
        t_ms.div_euclid(1000),
        t_ms.rem_euclid(1000)
    ));
    let data = crate::queries::fetch(&ctx.query_client, &url).await.map_err(|e| format!("count query: {e}"))?;
    let first = data.get("result").and_then(Value::as_array).and_then(|r| r.first().cloned());
    let Some(first) = first else { return Ok(0) };
    let v = first
        .get("value")
        .and_then(|v| v.get(1))
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or_else(|| format!("count query: unexpected answer {first}"))?;
    Ok(v as u64)
}

/// The sum of the values of every series of metric `name` on the server's `/metrics`
/// (`None` when the metric is absent).
pub async fn self_metric(ctx: &Ctx, s: &Server, name: &str) -> Option<f64> {
    let text = ctx.client.get(s.url("/metrics")).send().await.ok()?.text().await.ok()?;
    metric_sum(&text, name)
}

/// The sum of metric `name`'s samples in a text exposition.
pub fn metric_sum(text: &str, name: &str) -> Option<f64> {
    let mut sum = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else { continue };
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            continue;
        }
        let value = if rest.starts_with('{') { rest.rsplit_once('}').map(|x| x.1) } else { Some(rest) };
        if let Some(v) = value.and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse::<f64>().ok()) {
            sum = Some(sum.unwrap_or(0.0) + v);
        }
    }
    sum
}

/// Formats a rate for the log.
pub fn rate_text(r: f64) -> String {
    crate::report::fmt_num(crate::report::Unit::Rate, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_sums() {
        let text = "# HELP vm_active_merges x\n\
                    vm_active_merges{type=\"storage/big\"} 1\n\
                    vm_active_merges{type=\"indexdb\"} 2\n\
                    vm_active_merges_total 9\n\
                    prometheus_tsdb_head_min_time 1.7e+12\n";
        assert_eq!(metric_sum(text, "vm_active_merges"), Some(3.0));
        assert_eq!(metric_sum(text, "prometheus_tsdb_head_min_time"), Some(1.7e12));
        assert_eq!(metric_sum(text, "absent"), None);
    }
}
