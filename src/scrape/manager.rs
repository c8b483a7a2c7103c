//! The scrape manager: one pool per job of the configuration. [`Manager::apply_config`]
//! keeps unchanged pools running as they are (same loops, same caches), reloads changed ones
//! and stops removed ones; [`Manager::stop`] ends everything at shutdown without stale
//! markers. The API reads targets and metadata through it.

use super::cache::ScrapeCache;
use super::metrics::ScrapeMetrics;
use super::pool::{PoolDeps, PoolHandle, PoolView};
use super::target::Target;
use crate::config::Config;
use crate::config::http::build_client;
use crate::discovery::metrics::SdMetrics;
use crate::model::Labels;
use crate::tsdb::Db;
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why a configuration could not be applied in full (the rest of it was).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A job's HTTP client could not be built; the job keeps its old settings (or does not
    /// start).
    #[error("error creating HTTP client for scrape job {job:?}: {source}")]
    Client {
        /// The job.
        job: String,
        /// Why.
        source: crate::config::Error,
    },
    /// The manager was stopped.
    #[error("scrape manager is stopped")]
    Stopped,
}

/// See the module documentation.
pub struct Manager {
    /// Storage, until [`Manager::stop`] lets go of it.
    db: Mutex<Option<Arc<Db>>>,
    metrics: Arc<ScrapeMetrics>,
    sd_metrics: Arc<SdMetrics>,
    shutdown: watch::Sender<bool>,
    /// Pools by job; the async mutex serializes configuration changes.
    pools: tokio::sync::Mutex<Option<BTreeMap<String, PoolHandle>>>,
    /// What the API reads, by job.
    views: RwLock<BTreeMap<String, Arc<PoolView>>>,
    lingering: Arc<Mutex<Vec<JoinHandle<Option<ScrapeCache>>>>>,
    offset_seed: AtomicU64,
}

impl Manager {
    /// A manager appending to `db`, with no pools until [`Manager::apply_config`].
    pub fn new(db: Arc<Db>) -> Arc<Manager> {
        let (shutdown, _) = watch::channel(false);
        Arc::new(Manager {
            db: Mutex::new(Some(db)),
            metrics: Arc::new(ScrapeMetrics::default()),
            sd_metrics: Arc::new(SdMetrics::default()),
            shutdown,
            pools: tokio::sync::Mutex::new(Some(BTreeMap::new())),
            views: RwLock::new(BTreeMap::new()),
            lingering: Arc::new(Mutex::new(Vec::new())),
            offset_seed: AtomicU64::new(0),
        })
    }

    /// Makes the pools match `cfg` (must run inside a tokio runtime). A job whose client
    /// cannot be built is reported and left as it was; everything else is applied.
    pub async fn apply_config(&self, cfg: Arc<Config>) -> Result<(), Error> {
        let mut guard = self.pools.lock().await;
        let (Some(pools), Some(db)) = (guard.as_mut(), self.db.lock().clone()) else {
            return Err(Error::Stopped);
        };
        // Pools started from now on spread their targets with this seed; running ones keep
        // theirs (their loops are not restarted for it).
        self.offset_seed.store(offset_seed(&cfg.global.external_labels), Relaxed);
        let wanted: BTreeMap<&str, _> = cfg.scrape_configs.iter().map(|c| (c.job_name.as_str(), c)).collect();
        let removed: Vec<String> = pools.keys().filter(|j| !wanted.contains_key(j.as_str())).cloned().collect();
        for job in removed {
            if let Some(p) = pools.remove(&job) {
                tracing::info!(job = %job, "stopping scrape pool");
                p.stop(true).await;
            }
        }
        let mut first_err = None;
        for sc in &cfg.scrape_configs {
            let job = &sc.job_name;
            match pools.get_mut(job) {
                Some(p) if *p.config == *sc => {}
                Some(p) => match build_client(&sc.http, sc.scrape_timeout) {
                    Ok(client) => {
                        tracing::info!(job = %job, "reloading scrape pool");
                        p.reload(Arc::new(sc.clone()), client).await;
                    }
                    Err(e) => {
                        self.metrics.pool_reloads_failed.inc();
                        tracing::error!(job = %job, error = %e, "reloading scrape pool failed");
                        first_err.get_or_insert(Error::Client { job: job.clone(), source: e });
                    }
                },
                None => {
                    self.metrics.pools.inc();
                    match build_client(&sc.http, sc.scrape_timeout) {
                        Ok(client) => {
                            let deps = PoolDeps {
                                db: db.clone(),
                                metrics: self.metrics.clone(),
                                sd_metrics: self.sd_metrics.clone(),
                                offset_seed: self.offset_seed.load(Relaxed),
                                shutdown: self.shutdown.subscribe(),
                                lingering: self.lingering.clone(),
                            };
                            pools.insert(job.clone(), PoolHandle::spawn(Arc::new(sc.clone()), client, deps));
                        }
                        Err(e) => {
                            self.metrics.pools_failed.inc();
                            tracing::error!(job = %job, error = %e, "creating scrape pool failed");
                            first_err.get_or_insert(Error::Client { job: job.clone(), source: e });
                        }
                    }
                }
            }
        }
        *self.views.write() = pools.iter().map(|(j, p)| (j.clone(), p.view.clone())).collect();
        first_err.map_or(Ok(()), Err)
    }

    /// Stops every pool and loop without stale markers (the server is shutting down) and
    /// waits for them, so storage can close after.
    pub async fn stop(&self) {
        let _ = self.shutdown.send(true);
        self.db.lock().take();
        let pools = self.pools.lock().await.take();
        for (_, p) in pools.into_iter().flatten() {
            p.join().await;
        }
        let lingering: Vec<_> = self.lingering.lock().drain(..).collect();
        for j in lingering {
            let _ = j.await;
        }
        self.views.write().clear();
    }

    /// The jobs, sorted.
    pub fn scrape_pools(&self) -> Vec<String> {
        self.views.read().keys().cloned().collect()
    }

    /// Active targets by job (jobs sorted, targets by URL).
    pub fn targets_active(&self) -> Vec<(String, Vec<Arc<Target>>)> {
        self.views.read().iter().map(|(j, v)| (j.clone(), v.active())).collect()
    }

    /// Dropped targets' discovered labels by job.
    pub fn targets_dropped(&self) -> Vec<(String, Vec<Labels>)> {
        self.views.read().iter().map(|(j, v)| (j.clone(), v.dropped())).collect()
    }

    /// The scrape metrics.
    pub fn metrics(&self) -> &Arc<ScrapeMetrics> {
        &self.metrics
    }

    /// The discovery metrics.
    pub fn sd_metrics(&self) -> &Arc<SdMetrics> {
        &self.sd_metrics
    }

    /// Appends the `prometheus_target_*` and `prometheus_sd_*` metrics in the text format.
    pub fn render_metrics(&self, out: &mut String) {
        let mut meta = BTreeMap::new();
        for (job, targets) in self.targets_active() {
            let e: &mut (usize, usize) = meta.entry(job).or_default();
            for t in targets {
                let (n, b) = t.metadata().size();
                e.0 += n;
                e.1 += b;
            }
        }
        self.metrics.render(out, &meta);
        self.sd_metrics.render(out);
    }
}

/// FNV-1a, 64 bits (Prometheus hashes targets and the offset seed with it).
pub(crate) fn fnv64a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// Prometheus's offset seed: FNV-1a of the host name and the external labels, so several
/// servers scraping the same targets spread apart.
pub fn offset_seed(external_labels: &Labels) -> u64 {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    fnv64a(&[host.trim().as_bytes(), external_labels.to_string().as_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;
    use crate::model::{Matcher, is_stale_nan};
    use crate::tsdb::Options;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves `page` at every path, forever (the test's runtime ends it).
    async fn serve(page: &'static str) -> std::net::SocketAddr {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut c, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = c.read(&mut buf).await;
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                        page.len()
                    );
                    let _ = c.write_all(resp.as_bytes()).await;
                });
            }
        });
        addr
    }

    fn config(jobs: &[(&str, std::net::SocketAddr, &str)]) -> Arc<Config> {
        let mut text = String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 500ms\nscrape_configs:\n");
        for (job, addr, extra) in jobs {
            text.push_str(&format!("- job_name: {job}\n  static_configs: [{{targets: ['{addr}']}}]\n{extra}"));
        }
        Arc::new(load_str(&text, std::path::Path::new("/nonexistent/p.yml")).unwrap().0)
    }

    async fn wait<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        for _ in 0..100 {
            if let Some(v) = f() {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reload_keeps_unchanged_pools_and_stales_removed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Db::open(dir.path(), Options { background_interval: None, ..Options::default() }).unwrap());
        let a = serve("m 1\n").await;
        let m = Manager::new(db.clone());
        m.apply_config(config(&[("a", a, ""), ("b", a, "")])).await.unwrap();
        let count = |job: &str| {
            let q = db.querier(i64::MIN, i64::MAX);
            let s = q.select(&[Matcher::equal("__name__", "m"), Matcher::equal("job", job)]).unwrap();
            s.first().map(|s| s.iter().collect::<Vec<_>>()).unwrap_or_default()
        };
        wait("both jobs scraped", || (!count("a").is_empty() && !count("b").is_empty()).then_some(())).await;
        let target_a = m.targets_active()[0].1[0].clone();

        // Job a unchanged, job b gone, job c new: a keeps its very target (same loop).
        let c = serve("n 2\n").await;
        m.apply_config(config(&[("a", a, ""), ("c", c, "")])).await.unwrap();
        assert_eq!(m.scrape_pools(), ["a", "c"]);
        assert!(Arc::ptr_eq(&m.targets_active()[0].1[0], &target_a));
        // b's series get stale markers about two intervals later.
        wait("b stale", || count("b").last().filter(|(_, v)| is_stale_nan(*v)).map(|_| ())).await;
        assert!(!count("a").last().is_some_and(|(_, v)| is_stale_nan(*v)));

        // Changing a's interval changes its `__scrape_interval__` label, so it is a new target
        // scraped at the new interval.
        m.apply_config(config(&[("a", a, "  scrape_interval: 2s\n"), ("c", c, "")])).await.unwrap();
        let t = m.targets_active()[0].1[0].clone();
        assert_eq!(t.get("__scrape_interval__"), "2s");
        m.stop().await;
        assert!(m.scrape_pools().is_empty());
        assert!(matches!(m.apply_config(config(&[])).await, Err(Error::Stopped)));
    }

    #[test]
    fn fnv_matches_reference_vectors() {
        // FNV-1a 64 test vectors from the reference implementation.
        assert_eq!(fnv64a(&[b""]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv64a(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv64a(&[b"foo", b"bar"]), fnv64a(&[b"foobar"]));
        assert_eq!(fnv64a(&[b"foobar"]), 0x8594_4171_f739_67e8);
    }
}
