//! A scrape pool: one job's discovery providers, targets and scrape loops, run as one task
//! (an actor) that owns all of it. Discovery updates and the manager's commands (reload,
//! stop) arrive on channels; the targets the API shows are published in a [`PoolView`].

use super::append::{AppendOptions, PageAppender};
use super::cache::ScrapeCache;
use super::client;
use super::metrics::ScrapeMetrics;
use super::scrape_loop::{LoopConfig, LoopControl, LoopHandle};
use super::target::{PopulatedTarget, Target, targets_from_group};
use crate::config::ScrapeConfig;
use crate::discovery::TargetGroup;
use crate::discovery::metrics::SdMetrics;
use crate::discovery::provider::{SdUpdate, same_discovery, spawn_providers};
use crate::model::Labels;
use crate::tsdb::Db;
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// How long the pool waits after a discovery update for more before syncing its targets.
const SYNC_DEBOUNCE: Duration = Duration::from_millis(200);

/// The targets of a pool as the API shows them.
#[derive(Debug, Default)]
pub struct PoolView {
    active: RwLock<Vec<Arc<Target>>>,
    dropped: RwLock<Vec<Labels>>,
}

impl PoolView {
    /// Targets being scraped, sorted by URL.
    pub fn active(&self) -> Vec<Arc<Target>> {
        self.active.read().clone()
    }

    /// Discovered labels of the targets relabeling dropped.
    pub fn dropped(&self) -> Vec<Labels> {
        self.dropped.read().clone()
    }
}

/// Commands from the manager.
enum PoolCmd {
    Reload(Arc<ScrapeConfig>, crate::config::http::HttpClient, oneshot::Sender<()>),
    /// Stop every loop (with stale markers when `stale`), then end.
    Stop {
        stale: bool,
        done: oneshot::Sender<()>,
    },
}

/// What a pool needs from the manager.
#[derive(Clone)]
pub(crate) struct PoolDeps {
    pub(crate) db: Arc<Db>,
    pub(crate) metrics: Arc<ScrapeMetrics>,
    pub(crate) sd_metrics: Arc<SdMetrics>,
    pub(crate) offset_seed: u64,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Loops stopping in the background (waiting to write stale markers); the manager waits
    /// for them at shutdown.
    pub(crate) lingering: Arc<Mutex<Vec<JoinHandle<Option<ScrapeCache>>>>>,
}

/// The manager's handle on a running pool.
pub(crate) struct PoolHandle {
    cmd: mpsc::Sender<PoolCmd>,
    join: JoinHandle<()>,
    pub(crate) view: Arc<PoolView>,
    pub(crate) config: Arc<ScrapeConfig>,
}

impl PoolHandle {
    /// Starts a pool for `config` scraping with `client`.
    pub(crate) fn spawn(
        config: Arc<ScrapeConfig>,
        client: crate::config::http::HttpClient,
        deps: PoolDeps,
    ) -> PoolHandle {
        let (cmd, cmd_rx) = mpsc::channel(4);
        let (sd_tx, sd_rx) = mpsc::channel(64);
        let view = Arc::new(PoolView::default());
        deps.metrics.with_pool(&config.job_name, |s| s.target_limit = config.limits.target_limit);
        let providers = spawn_providers(&config, &sd_tx, 0, &deps.sd_metrics);
        let pool = Pool {
            config: config.clone(),
            client,
            deps,
            view: view.clone(),
            loops: HashMap::new(),
            groups: BTreeMap::new(),
            generation: 0,
            replace_groups: false,
            providers,
            sd_tx,
        };
        let join = tokio::spawn(pool.run(cmd_rx, sd_rx));
        PoolHandle { cmd, join, view, config }
    }

    /// Applies a changed config: loops restart with it (keeping their caches when the
    /// change cannot alter labels), discovery restarts if its sections changed.
    pub(crate) async fn reload(&mut self, config: Arc<ScrapeConfig>, client: crate::config::http::HttpClient) {
        self.config = config.clone();
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(PoolCmd::Reload(config, client, tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Stops the pool; with `stale`, its loops write stale markers first (in the
    /// background, two intervals later).
    pub(crate) async fn stop(self, stale: bool) {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(PoolCmd::Stop { stale, done: tx }).await.is_ok() {
            let _ = rx.await;
        }
        let _ = self.join.await;
    }

    /// Waits for the pool task to end (after shutdown was signalled).
    pub(crate) async fn join(self) {
        let _ = self.join.await;
    }
}

/// A loop and what it was started with.
struct Running {
    target: Arc<Target>,
    handle: LoopHandle,
    /// An error found when the loop was made (bad interval label), forced on every scrape.
    label_error: Option<String>,
}

struct Pool {
    config: Arc<ScrapeConfig>,
    client: crate::config::http::HttpClient,
    deps: PoolDeps,
    view: Arc<PoolView>,
    loops: HashMap<u64, Running>,
    /// The latest groups by (provider, source).
    groups: BTreeMap<(usize, String), TargetGroup>,
    generation: u64,
    /// After discovery restarted: the old groups go once the new providers report.
    replace_groups: bool,
    providers: Vec<JoinHandle<()>>,
    sd_tx: mpsc::Sender<SdUpdate>,
}

impl Pool {
    async fn run(mut self, mut cmd_rx: mpsc::Receiver<PoolCmd>, mut sd_rx: mpsc::Receiver<SdUpdate>) {
        let mut shutdown = self.deps.shutdown.clone();
        let mut sync_at: Option<tokio::time::Instant> = None;
        loop {
            let due = sync_at;
            tokio::select! {
                _ = super::scrape_loop::signalled(&mut shutdown) => break,
                Some(u) = sd_rx.recv() => {
                    if u.generation != self.generation {
                        continue;
                    }
                    self.deps.sd_metrics.received_updates.inc();
                    if self.replace_groups {
                        self.groups.clear();
                        self.replace_groups = false;
                    }
                    for g in u.groups {
                        let key = (u.provider, g.source.clone());
                        if g.targets.is_empty() {
                            self.groups.remove(&key);
                        } else {
                            self.groups.insert(key, g);
                        }
                    }
                    sync_at.get_or_insert_with(|| tokio::time::Instant::now() + SYNC_DEBOUNCE);
                }
                _ = async { if let Some(d) = due { tokio::time::sleep_until(d).await } }, if due.is_some() => {
                    sync_at = None;
                    self.deps.sd_metrics.updates.inc();
                    self.sync(false, false).await;
                }
                cmd = cmd_rx.recv() => match cmd {
                    Some(PoolCmd::Reload(cfg, client, done)) => {
                        self.reload(cfg, client).await;
                        let _ = done.send(());
                    }
                    Some(PoolCmd::Stop { stale, done }) => {
                        self.stop_all(stale).await;
                        let _ = done.send(());
                        return;
                    }
                    None => break,
                },
            }
        }
        // Shutdown: loops end without stale markers; wait for them so storage can close.
        self.stop_all(false).await;
    }

    fn abort_providers(&mut self) {
        for p in self.providers.drain(..) {
            p.abort();
        }
    }

    async fn stop_all(&mut self, stale: bool) {
        self.abort_providers();
        let mut waits = Vec::new();
        for (_, r) in self.loops.drain() {
            if stale {
                self.deps.lingering.lock().push(r.handle.stop());
            } else {
                waits.push(r.handle.stop_for_reuse());
            }
        }
        for w in waits {
            w.await;
        }
        self.view.active.write().clear();
        self.view.dropped.write().clear();
        self.deps.metrics.remove_pool(&self.config.job_name);
        self.deps.sd_metrics.set_discovered(&self.config.job_name, None);
    }

    async fn reload(&mut self, cfg: Arc<ScrapeConfig>, client: crate::config::http::HttpClient) {
        self.deps.metrics.pool_reloads.inc();
        let reuse = reusable_cache(&self.config, &cfg);
        if !same_discovery(&self.config, &cfg) {
            self.abort_providers();
            self.generation += 1;
            self.replace_groups = true;
            self.providers = spawn_providers(&cfg, &self.sd_tx, self.generation, &self.deps.sd_metrics);
        }
        self.config = cfg;
        self.client = client;
        self.deps.metrics.with_pool(&self.config.job_name, |s| s.target_limit = self.config.limits.target_limit);
        self.sync(true, reuse).await;
    }

    /// Prometheus's `Sync`: targets from every group, deduplicated; new ones start a loop,
    /// vanished ones stop theirs (stale markers two intervals later). With `restart`
    /// (a reload) every kept target's loop is replaced by one with the new config, handing
    /// its cache over when `reuse_cache`.
    async fn sync(&mut self, restart: bool, reuse_cache: bool) {
        let started = Instant::now();
        let job = self.config.job_name.clone();
        let mut found: HashMap<u64, Target> = HashMap::new();
        let mut dropped = Vec::new();
        let mut failures = 0u64;
        let mut discovered = 0u64;
        for tg in self.groups.values() {
            discovered += tg.targets.len() as u64;
            let (targets, fails) = targets_from_group(tg, &self.config);
            for f in &fails {
                tracing::error!(job = %job, error = %f, "creating target failed");
            }
            failures += fails.len() as u64;
            for t in targets {
                match t {
                    PopulatedTarget::Active(t) => {
                        found.entry(t.hash()).or_insert(t);
                    }
                    PopulatedTarget::Dropped(l) => dropped.push(l),
                }
            }
        }
        // Stop the loops of vanished targets.
        let gone: Vec<u64> = self.loops.keys().filter(|h| !found.contains_key(h)).copied().collect();
        for h in gone {
            if let Some(r) = self.loops.remove(&h) {
                self.deps.lingering.lock().push(r.handle.stop());
            }
        }
        // Same target, new config: the old loops go (all at once), their caches may go on.
        let mut restarting = tokio::task::JoinSet::new();
        for (h, t) in found {
            match self.loops.remove(&h) {
                Some(r) if !restart => {
                    r.target.set_discovered_labels(t.discovered_labels());
                    self.loops.insert(h, r);
                }
                Some(r) => {
                    r.target.set_discovered_labels(t.discovered_labels());
                    if reuse_cache {
                        restarting.spawn(async move { (h, r.target, r.handle.stop_for_reuse().await) });
                    } else {
                        self.deps.lingering.lock().push(r.handle.stop());
                        let run = self.start_loop(r.target, None);
                        self.loops.insert(h, run);
                    }
                }
                None => {
                    let run = self.start_loop(Arc::new(t), None);
                    self.loops.insert(h, run);
                }
            }
        }
        while let Some(res) = restarting.join_next().await {
            if let Ok((h, target, cache)) = res {
                let run = self.start_loop(target, cache);
                self.loops.insert(h, run);
            }
        }
        // The target limit fails every scrape of the pool while exceeded.
        let limit = self.config.limits.target_limit;
        let limit_err = (limit > 0 && self.loops.len() as u64 > limit).then(|| {
            self.deps.metrics.exceeded_target_limit.inc();
            format!("target_limit exceeded (number of targets: {}, limit: {limit})", self.loops.len())
        });
        for r in self.loops.values() {
            *r.handle.control.forced_error.lock() = limit_err.clone().or_else(|| r.label_error.clone());
        }
        let mut active: Vec<Arc<Target>> = self.loops.values().map(|r| r.target.clone()).collect();
        active.sort_by(|a, b| a.url().cmp(b.url()));
        *self.view.active.write() = active;
        *self.view.dropped.write() = dropped;
        self.deps.sd_metrics.set_discovered(&job, Some(discovered));
        let n = self.loops.len() as u64;
        let secs = started.elapsed().as_secs_f64();
        self.deps.metrics.with_pool(&job, |s| {
            s.syncs += 1;
            s.targets = n;
            s.sync_failed += failures;
            s.sync_seconds.0 += secs;
            s.sync_seconds.1 += 1;
        });
        self.deps.lingering.lock().retain(|j| !j.is_finished());
    }

    fn start_loop(&self, target: Arc<Target>, cache: Option<ScrapeCache>) -> Running {
        let cfg = &self.config;
        let (interval, timeout, label_error) = target.interval_and_timeout(cfg.scrape_interval, cfg.scrape_timeout);
        let opts = Arc::new(AppendOptions::new(cfg, target.labels().clone()));
        let pa = match cache {
            Some(c) => PageAppender::with_cache(c, opts, self.deps.metrics.clone()),
            None => PageAppender::new(opts, self.deps.metrics.clone()),
        };
        let control = Arc::new(LoopControl::default());
        *control.forced_error.lock() = label_error.clone();
        let lc = LoopConfig {
            target: target.clone(),
            client: self.client.clone(),
            interval,
            timeout,
            accept: client::accept_header(&cfg.scrape_protocols),
            accept_encoding: client::accept_encoding(cfg.enable_compression),
            body_size_limit: cfg.limits.body_size_limit,
            offset_seed: self.deps.offset_seed,
            metrics: self.deps.metrics.clone(),
        };
        let handle = LoopHandle::spawn(lc, pa, self.deps.db.appender(), control, self.deps.shutdown.clone());
        Running { target, handle, label_error }
    }
}

/// Whether a loop's cache stays valid across a config change: only the interval, timeout,
/// sample limit and HTTP client settings may differ (Prometheus's `reusableCache`).
pub(crate) fn reusable_cache(a: &ScrapeConfig, b: &ScrapeConfig) -> bool {
    let zero = |c: &ScrapeConfig| {
        let mut z = c.clone();
        z.scrape_interval = Duration::ZERO;
        z.scrape_timeout = Duration::ZERO;
        z.limits.sample_limit = 0;
        z.http = Default::default();
        z
    };
    zero(a) == zero(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_reuse_rules() {
        let a = crate::scrape::tests::scrape_config("j");
        let mut b = a.clone();
        b.scrape_interval = Duration::from_secs(5);
        b.scrape_timeout = Duration::from_secs(5);
        b.limits.sample_limit = 10;
        b.http.follow_redirects = false;
        assert!(reusable_cache(&a, &b));
        let mut c = a.clone();
        c.honor_labels = true;
        assert!(!reusable_cache(&a, &c));
        let mut d = a.clone();
        d.limits.label_limit = 3;
        assert!(!reusable_cache(&a, &d));
    }
}
