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
    use crate::config::{GlobalConfig, ScrapeConfig};
    use std::time::Duration;

    /// A scrape config as the loader would fill it in for `job` with a 1s interval and
    /// timeout and nothing else set.
    pub(crate) fn scrape_config(job: &str) -> ScrapeConfig {
        let global = GlobalConfig {
            scrape_interval: Duration::from_secs(1),
            scrape_timeout: Duration::from_secs(1),
            ..GlobalConfig::default()
        };
        ScrapeConfig::with_defaults(job, &global)
    }
}
