//! Scraping: discovery output turned into targets, one scrape loop per target, and the
//! exposition parsers the loops feed pages through.
//!
//! Principal types: [`Manager`] (one pool per job; applies configurations, serves the
//! targets and metadata APIs), [`Target`] (labels, URL, health of the last scrape),
//! [`PageAppender`] (one scrape's page turned into samples, stale markers and the synthetic
//! series, with the per-target [`ScrapeCache`]), and the loop in [`scrape_loop`]. How a
//! target's labels are built is in [`target`]; the HTTP side (client, headers) in [`client`];
//! `prometheus_target_*` metrics in [`metrics`].

pub mod append;
pub mod cache;
pub mod client;
pub mod exposition;
pub mod manager;
pub mod metrics;
pub mod pool;
pub mod scrape_loop;
pub mod target;

pub use append::{AppendOptions, Counts, Page, PageAppender, ScrapeOutcome};
pub use cache::ScrapeCache;
pub use manager::Manager;
pub use target::{ADDRESS_LABEL, MetricMetadata, Target, TargetHealth, TargetStatus};

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::config::{HttpClientConfig, ScrapeConfig, ScrapeLimits, ScrapeProtocol};
    use std::collections::BTreeMap;
    use std::time::Duration;

    /// A scrape config as the loader would fill it in for `job` with a 1s interval and
    /// timeout and nothing else set.
    pub(crate) fn scrape_config(job: &str) -> ScrapeConfig {
        ScrapeConfig {
            job_name: job.to_string(),
            honor_labels: false,
            honor_timestamps: true,
            track_timestamps_staleness: false,
            params: BTreeMap::new(),
            scrape_interval: Duration::from_secs(1),
            scrape_timeout: Duration::from_secs(1),
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
}
