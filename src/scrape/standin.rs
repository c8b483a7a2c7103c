//! Stand-ins for the config module's `Config::default_self_scrape` until it lands (the lead
//! keeps one of the two when merging).

use crate::config::{Config, HttpClientConfig, ScrapeConfig, ScrapeLimits, ScrapeProtocol};
use crate::discovery::StaticConfig;
use std::collections::BTreeMap;
use std::time::Duration;

/// A scrape config for `job` as the loader fills one in when only the job name, interval
/// and timeout are given.
pub fn scrape_config(job: &str, interval: Duration, timeout: Duration) -> ScrapeConfig {
    ScrapeConfig {
        job_name: job.to_string(),
        honor_labels: false,
        honor_timestamps: true,
        track_timestamps_staleness: false,
        params: BTreeMap::new(),
        scrape_interval: interval,
        scrape_timeout: timeout,
        scrape_protocols: vec![
            ScrapeProtocol::OpenMetricsText1,
            ScrapeProtocol::OpenMetricsText0,
            ScrapeProtocol::PrometheusText0,
        ],
        metrics_path: "/metrics".into(),
        scheme: "http".into(),
        enable_compression: true,
        limits: ScrapeLimits::default(),
        http: HttpClientConfig::default(),
        relabel_configs: Vec::new(),
        metric_relabel_configs: Vec::new(),
        static_configs: Vec::new(),
        file_sd_configs: Vec::new(),
        http_sd_configs: Vec::new(),
        dns_sd_configs: Vec::new(),
        unsupported_sd: Vec::new(),
    }
}

/// The configuration Cairn runs with when no `--config.file` is given, as Prometheus's
/// example: job `prometheus` scraping `target` (the server itself) every 15 s.
pub fn default_self_scrape(target: &str) -> Config {
    let mut c = Config::default();
    c.global.scrape_interval = Duration::from_secs(15);
    c.global.evaluation_interval = Duration::from_secs(15);
    let mut sc = scrape_config("prometheus", Duration::from_secs(15), Duration::from_secs(10));
    sc.static_configs.push(StaticConfig { targets: vec![target.to_string()], ..StaticConfig::default() });
    c.scrape_configs.push(sc);
    c.original = format!(
        "global:\n  scrape_interval: 15s\n  scrape_timeout: 10s\n  evaluation_interval: 15s\nscrape_configs:\n\
         - job_name: prometheus\n  honor_timestamps: true\n  scrape_interval: 15s\n  scrape_timeout: 10s\n  \
         metrics_path: /metrics\n  scheme: http\n  static_configs:\n  - targets:\n    - {target}\n"
    );
    c
}
