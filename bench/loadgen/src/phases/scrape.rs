//! Scraping: the same synthetic targets (1,000 series each, every 15 s) scraped for a fixed
//! time by a fresh server.
//!
//! The server gets a configuration with one job listing every target. After a warm-up of one
//! interval (every target scraped once, so its series exist), CPU is measured over the window
//! and the samples are those the targets served in it (the servers' own `up`, `scrape_*`
//! series are not counted).
//! At the end the server must hold every target's series, else the figures are invalid; a
//! server that never scraped reports the phase as not supported.

use super::{Ctx, Figure, count, log, now_ms};
use crate::series::{INTERVAL_MS, Workload};
use crate::system::SystemKind;
use crate::targets::Targets;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long to wait for a first scrape before deciding the server does not scrape.
const NO_SCRAPE_LIMIT: Duration = Duration::from_secs(INTERVAL_MS as u64 / 1000 + 5);
/// Scraping before the measurement: one interval and a little more.
const WARM_UP: Duration = Duration::from_secs(INTERVAL_MS as u64 / 1000 + 3);

/// The figures of the scrape phase.
#[derive(Debug, Clone)]
pub struct ScrapeResult {
    /// CPU seconds per million scraped samples.
    pub cpu_per_million: Figure,
    /// Peak resident set size, bytes.
    pub rss_peak: Figure,
}

/// The Prometheus configuration of the scrape phase.
pub fn config_yaml(targets: &str) -> String {
    let secs = INTERVAL_MS / 1000;
    format!(
        "global:\n  scrape_interval: {secs}s\n  scrape_timeout: 10s\n\
         scrape_configs:\n  - job_name: scrape\n    static_configs:\n      - targets: {targets}\n"
    )
}

/// Runs the scrape phase against `kind`.
pub async fn run(ctx: &Ctx, kind: SystemKind, binary: &Path) -> ScrapeResult {
    let na = |why: String| ScrapeResult { cpu_per_million: Err(why.clone()), rss_peak: Err(why) };
    let series = ctx.cfg.scrape_series;
    let workload = Workload::new(series);
    let targets = match Targets::start(&workload, ctx.cfg.seed).await {
        Ok(t) => t,
        Err(e) => return na(format!("targets: {e}")),
    };
    let (data, log_path) = ctx.paths(kind, "scrape");
    let cfg_path = ctx.run_dir.join(format!("{}-scrape.yml", kind.key()));
    if let Err(e) = std::fs::write(&cfg_path, config_yaml(&targets.yaml_targets())) {
        return na(format!("config: {e}"));
    }
    let server = match ctx.start(kind, binary, &data, Some(&cfg_path), &log_path).await {
        Ok(s) => s,
        Err(e) => return na(e),
    };
    // Warm-up: one interval (and a bit), so every target has been scraped once and its series
    // exist; a server that has not scraped anything by then does not scrape.
    let warm = std::time::Instant::now();
    while warm.elapsed() < WARM_UP {
        if warm.elapsed() > NO_SCRAPE_LIMIT && targets.served.scrapes.load(Ordering::Relaxed) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let warm_scrapes = targets.served.scrapes.load(Ordering::Relaxed);
    let before = server.sample();
    let served_before = targets.served.samples.load(Ordering::Relaxed);
    let t = std::time::Instant::now();
    if warm_scrapes > 0 {
        tokio::time::sleep(ctx.cfg.scrape_time).await;
    }
    let after = server.sample();
    let served = targets.served.samples.load(Ordering::Relaxed) - served_before;
    let scrapes = targets.served.scrapes.load(Ordering::Relaxed);
    log(format!(
        "{}: scrape: {warm_scrapes} scrapes in the warm-up, then {served} samples served in {:.1?}",
        kind.name(),
        t.elapsed()
    ));
    let result = match (before, after) {
        _ if scrapes == 0 => na("not supported: no scrapes".into()),
        (Ok(a), Ok(b)) => {
            let stored = count(ctx, &server, r#"{__name__=~"app_.+"}"#, now_ms()).await;
            match stored {
                Ok(0) => na("not supported: scraped, nothing stored".into()),
                Ok(c) if c != series as u64 => na(format!("invalid: {c} of {series} series stored")),
                Ok(_) if served == 0 => na("no scrapes in the window".into()),
                Ok(_) => ScrapeResult {
                    cpu_per_million: Ok((b.cpu_secs - a.cpu_secs) / served as f64 * 1e6),
                    rss_peak: Ok(b.rss_peak as f64),
                },
                Err(e) => na(format!("invalid: {e}")),
            }
        }
        (Err(e), _) | (_, Err(e)) => na(e.to_string()),
    };
    targets.stop();
    ctx.finish(server);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_accepted_by_promtool() {
        let Some(promtool) = crate::system::find_on_path("promtool") else {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "promtool missing under CI=true");
            eprintln!("promtool not on PATH: skipping the config check");
            return;
        };
        let dir = std::env::temp_dir().join(format!("loadgen-scrape-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.yml");
        std::fs::write(&path, config_yaml("['127.0.0.1:1', '127.0.0.1:2']")).unwrap();
        let out = std::process::Command::new(promtool).args(["check", "config"]).arg(&path).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(out.status.success(), "{text}");
    }
}
