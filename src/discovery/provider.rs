//! Running discovery: one provider task per discovery section of a scrape config, each
//! sending whole [`TargetGroup`] lists to its pool as [`SdUpdate`]s.

use super::metrics::SdMetrics;
use super::{StaticConfig, TargetGroup};
use crate::config::ScrapeConfig;
use crate::model::{Label, Labels};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Groups from one provider. A group with no targets removes that source.
#[derive(Clone, Debug)]
pub struct SdUpdate {
    /// Which start of the providers sent it (older generations are ignored after a reload).
    pub generation: u64,
    /// Index of the provider within its pool.
    pub provider: usize,
    /// The groups that changed (or all of them).
    pub groups: Vec<TargetGroup>,
}

/// Where a provider sends its updates.
#[derive(Clone)]
pub struct Sink {
    tx: mpsc::Sender<SdUpdate>,
    generation: u64,
    provider: usize,
    /// Metrics shared by all providers.
    pub metrics: Arc<SdMetrics>,
    /// The scrape job (the `config` label of some metrics).
    pub job: Arc<str>,
}

impl Sink {
    /// Sends `groups`; false when the pool is gone (the provider should end).
    pub async fn send(&self, groups: Vec<TargetGroup>) -> bool {
        let u = SdUpdate { generation: self.generation, provider: self.provider, groups };
        self.tx.send(u).await.is_ok()
    }
}

/// Whether two scrape configs discover the same way (a reload keeps the providers then).
pub fn same_discovery(a: &ScrapeConfig, b: &ScrapeConfig) -> bool {
    a.static_configs == b.static_configs
        && a.file_sd_configs == b.file_sd_configs
        && a.http_sd_configs == b.http_sd_configs
        && a.dns_sd_configs == b.dns_sd_configs
}

/// The groups of `static_configs`, sources `"0"`, `"1"`, ... as Prometheus names them.
pub fn static_groups(cfgs: &[StaticConfig]) -> Vec<TargetGroup> {
    cfgs.iter()
        .enumerate()
        .map(|(i, c)| TargetGroup {
            source: i.to_string(),
            targets: c
                .targets
                .iter()
                .map(|t| Labels::from_sorted_unchecked(vec![Label::new(crate::scrape::ADDRESS_LABEL, t.as_str())]))
                .collect(),
            labels: c.labels.clone(),
        })
        .collect()
}

/// Starts every provider of `cfg` (must run inside a tokio runtime). Static groups are
/// sent at once; file, HTTP and DNS providers run until aborted or until the pool drops its
/// receiver.
pub fn spawn_providers(
    cfg: &ScrapeConfig,
    tx: &mpsc::Sender<SdUpdate>,
    generation: u64,
    metrics: &Arc<SdMetrics>,
) -> Vec<JoinHandle<()>> {
    let job: Arc<str> = Arc::from(cfg.job_name.as_str());
    let mut next = 0usize;
    let mut sink = || {
        let s = Sink { tx: tx.clone(), generation, provider: next, metrics: metrics.clone(), job: job.clone() };
        next += 1;
        s
    };
    let mut tasks = Vec::new();
    if !cfg.static_configs.is_empty() {
        let s = sink();
        let groups = static_groups(&cfg.static_configs);
        tasks.push(tokio::spawn(async move {
            s.send(groups).await;
        }));
    }
    for f in &cfg.file_sd_configs {
        tasks.push(tokio::spawn(super::file::run(f.clone(), sink())));
    }
    for h in &cfg.http_sd_configs {
        tasks.push(tokio::spawn(super::http::run(h.clone(), sink())));
    }
    for d in &cfg.dns_sd_configs {
        tasks.push(tokio::spawn(super::dns::run(d.clone(), sink())));
    }
    tasks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_sources_are_indexes() {
        let cfgs = vec![
            StaticConfig {
                targets: vec!["a:1".into(), "b:2".into()],
                labels: Labels::from_pairs(&[("x", "y")]).unwrap(),
            },
            StaticConfig { targets: vec![], labels: Labels::default() },
        ];
        let g = static_groups(&cfgs);
        assert_eq!(g.len(), 2);
        assert_eq!((g[0].source.as_str(), g[1].source.as_str()), ("0", "1"));
        assert_eq!(g[0].targets[1].get("__address__"), Some("b:2"));
        assert_eq!(g[0].labels.get("x"), Some("y"));
        assert!(g[1].targets.is_empty());
    }
}
