//! Wiring: serves the HTTP API on an already-bound listener, opens the storage engine in the
//! background (the server answers `/-/ready` with 503 until it is open) and then starts the
//! scrape manager on the configuration; reloads the configuration on SIGHUP and
//! `POST /-/reload` (a bad file is refused and the old configuration keeps running); on the
//! shutdown future, `/-/quit` or a storage failure stops scraping, stops serving and closes
//! the database cleanly.
//!
//! [`run`] takes the listener and the shutdown future from its caller (mini-redis style), so
//! tests bind `127.0.0.1:0` and stop the server with a channel; `main` binds
//! `--web.listen-address` and passes [`shutdown_signal`] (SIGTERM or SIGINT).

pub mod features;
pub mod metadata;
pub mod tls;
pub mod units;

pub use features::Features;

use crate::config::Config;
use crate::promql::engine::EngineOptions;
use crate::remote::sender::{encode, storage::WriteStorage};
use crate::scrape::Manager;
use crate::tsdb::{Db, Options};
use crate::web::webconfig::WebConfig;
use crate::web::{self, AppState, StateOptions, WebOptions};
use std::collections::BTreeMap;
use std::future::{Future, IntoFuture};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// The text of the configuration Cairn runs with when no `--config.file` is given, as
/// Prometheus's default: scrape the server itself every 15 s (shown by
/// `/api/v1/status/config` when the configuration in force has no text of its own).
pub fn default_config_yaml(target: &str) -> String {
    format!(
        "global:\n  scrape_interval: 15s\n  scrape_timeout: 10s\n  evaluation_interval: 15s\nscrape_configs:\n\
         - job_name: prometheus\n  honor_timestamps: true\n  scrape_interval: 15s\n  scrape_timeout: 10s\n  \
         metrics_path: /metrics\n  scheme: http\n  static_configs:\n  - targets:\n    - {target}\n"
    )
}

/// What the server runs with (from the command line).
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// `--storage.tsdb.path`.
    pub data_dir: PathBuf,
    /// Storage engine options.
    pub tsdb: Options,
    /// `--web.*` options.
    pub web: WebOptions,
    /// `--query.*` options.
    pub engine: EngineOptions,
    /// Every flag and its value, for `/api/v1/status/flags`.
    pub flags: BTreeMap<String, String>,
    /// The configuration text shown by `/api/v1/status/config` when [`ServerOptions::config`]
    /// has none.
    pub config_yaml: String,
    /// The configuration to start with (loaded from `--config.file`, or the built-in one).
    pub config: Arc<Config>,
    /// `--config.file`: re-read on reload. `None` reloads keep the configuration as it is.
    pub config_file: Option<PathBuf>,
    /// How long in-flight requests may take to finish once stopping begins; after that
    /// their connections are dropped.
    pub shutdown_grace: Duration,
    /// `--web.config.file`, loaded: TLS, basic auth and extra headers. `None` serves plain
    /// HTTP to everyone.
    pub web_config: Option<Arc<WebConfig>>,
    /// `--storage.remote.flush-deadline`: how long remote-write queues may keep sending what
    /// they hold when they stop (shutdown, or a reload that changed their entry).
    pub remote_flush_deadline: Duration,
    /// `--enable-feature`.
    pub features: Features,
}

impl ServerOptions {
    /// Defaults for everything but the data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> ServerOptions {
        ServerOptions {
            data_dir: data_dir.into(),
            tsdb: Options::default(),
            web: WebOptions::default(),
            engine: EngineOptions::default(),
            flags: BTreeMap::new(),
            config_yaml: default_config_yaml("localhost:9090"),
            config: Arc::new(Config::default_self_scrape("localhost:9090")),
            config_file: None,
            shutdown_grace: Duration::from_secs(10),
            remote_flush_deadline: crate::remote::sender::storage::DEFAULT_FLUSH_DEADLINE,
            web_config: None,
            features: Features::default(),
        }
    }
}

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The storage engine failed to open or to close.
    #[error("storage: {0}")]
    Storage(#[from] crate::tsdb::Error),
    /// Serving HTTP failed.
    #[error("serving HTTP: {0}")]
    Io(#[from] std::io::Error),
    /// The task opening the storage engine panicked or was cancelled.
    #[error("opening storage: {0}")]
    Task(String),
}

/// Serves on `listener` until `shutdown` resolves or `/-/quit` is called, then stops
/// accepting, lets in-flight requests finish (at most [`ServerOptions::shutdown_grace`]),
/// and closes the database (WAL fsynced). Returns an error if the database cannot be opened.
pub async fn run(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    opts: ServerOptions,
) -> Result<(), Error> {
    let retention = if opts.tsdb.retention_time > 0 {
        crate::model::duration::format_duration(opts.tsdb.retention_time)
    } else {
        String::new()
    };
    let state = AppState::new(StateOptions {
        web: opts.web.clone(),
        engine: opts.engine.clone(),
        flags: opts.flags.clone(),
        config_yaml: opts.config_yaml.clone(),
        data_dir: opts.data_dir.clone(),
        storage_retention: retention,
        wal_replay: opts.tsdb.replay_progress.clone(),
    });
    state.set_config(opts.config.clone());
    let mut reloads = state.take_reload_requests();
    let tls = opts.web_config.as_ref().and_then(|c| c.tls.clone());
    tracing::info!(address = %listener.local_addr()?, tls = tls.is_some(), "listening");

    let (open_err_tx, mut open_err_rx) = tokio::sync::mpsc::channel::<Error>(1);
    let opener = {
        let state = state.clone();
        let (dir, mut tsdb) = (opts.data_dir.clone(), opts.tsdb.clone());
        // As Prometheus: the ring size comes from the configuration loaded at start.
        if opts.features.exemplar_storage {
            tsdb.max_exemplars = Some(max_exemplars(&opts.config));
        }
        let dir2 = dir.clone();
        let flush_deadline = opts.remote_flush_deadline;
        tokio::spawn(async move {
            let started = Instant::now();
            let res = tokio::task::spawn_blocking(move || Db::open(&dir, tsdb)).await;
            let err = match res {
                Ok(Ok(db)) => {
                    tracing::info!(
                        series = db.head().num_series(),
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "storage engine ready; server is ready to receive web requests"
                    );
                    let db = Arc::new(db);
                    state.set_db(db.clone());
                    // Scraping starts once storage is open, on the configuration in force
                    // (a reload may have replaced it meanwhile; it then applies its own).
                    let manager = Manager::new(db);
                    state.set_scrape(manager.clone());
                    if let Err(e) = manager.apply_config(state.config()).await {
                        tracing::error!(error = %e, "applying the scrape configuration failed");
                        state.set_reload_result(false);
                    }
                    let mut rw = WriteStorage::new(dir2, tokio::runtime::Handle::current(), encode::for_config);
                    rw.set_flush_deadline(flush_deadline);
                    rw.set_metadata_source(Arc::new(metadata::ScrapeMetadata(manager.clone())));
                    let rw = Arc::new(tokio::sync::Mutex::new(rw));
                    state.set_remote_write(rw.clone());
                    if let Err(e) = apply_remote(&state, &state.config()).await {
                        tracing::error!(error = %e, "applying the remote storage configuration failed");
                        state.set_reload_result(false);
                    }
                    return;
                }
                Ok(Err(e)) => Error::Storage(e),
                Err(e) => Error::Task(e.to_string()),
            };
            let _ = open_err_tx.send(err).await;
        })
    };

    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let mut router = web::app(state.clone());
    if let Some(wc) = &opts.web_config {
        router = web::webconfig::layer(router, wc);
    }
    let stopped = async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    };
    let mut server = match tls {
        Some(cfg) => {
            let listener = tls::TlsListener::new(listener, cfg)?;
            tokio::spawn(axum::serve(listener, router).with_graceful_shutdown(stopped).into_future())
        }
        None => tokio::spawn(axum::serve(listener, router).with_graceful_shutdown(stopped).into_future()),
    };

    let mut result: Result<(), Error> = Ok(());
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => {
                tracing::info!("received shutdown signal");
                break;
            }
            _ = state.quit_requested() => {
                tracing::info!("termination requested via the web");
                break;
            }
            Some(e) = open_err_rx.recv() => {
                result = Err(e);
                break;
            }
            r = &mut server => {
                result = match r {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(Error::Io(e)),
                    Err(e) => Err(Error::Task(e.to_string())),
                };
                break;
            }
            Some(reply) = async { match reloads.as_mut() { Some(r) => r.recv().await, None => None } } => {
                let res = reload(&state, opts.config_file.as_deref()).await;
                let _ = reply.send(res);
            }
            Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => None } } => {
                tracing::info!("SIGHUP: reloading the configuration");
                let _ = reload(&state, opts.config_file.as_deref()).await;
            }
        }
    }
    // No more reloads: requests waiting get an error instead of hanging.
    drop(reloads);
    // Scraping stops first (no stale markers: the series resume on the next start).
    if let Some(m) = state.scrape() {
        m.stop().await;
    }

    tracing::info!("stopping the HTTP server");
    let _ = stop_tx.send(true);
    if !server.is_finished() && tokio::time::timeout(opts.shutdown_grace, &mut server).await.is_err() {
        tracing::warn!("in-flight requests did not finish in time; dropping their connections");
        server.abort();
    }
    // Wait for an open in progress to finish, so the database is closed, not abandoned (and
    // stop the scraping it may have started meanwhile).
    let _ = opener.await;
    if let Some(m) = state.scrape() {
        m.stop().await;
    }
    // Remote-write queues flush what they hold (bounded by their deadline) and save their
    // WAL positions before the database closes.
    if let Some(rw) = state.remote_write() {
        rw.lock().await.stop().await;
    }
    if let Some(db) = state.take_db() {
        drop(state);
        close_db(db, opts.shutdown_grace).await?;
    }
    result
}

/// Re-reads `file` and applies it: the web state first (status, config API), then the scrape
/// manager. A file that does not load leaves everything as it was. The outcome is recorded
/// for `prometheus_config_last_reload_successful` and returned as `/-/reload` reports it.
pub async fn reload(state: &AppState, file: Option<&Path>) -> Result<(), String> {
    let started = Instant::now();
    let res = reload_inner(state, file).await;
    match &res {
        Ok(()) => tracing::info!(
            file = ?file,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "completed loading of configuration file"
        ),
        Err(e) => tracing::error!(file = ?file, error = %e, "error reloading the configuration"),
    }
    state.set_reload_result(res.is_ok());
    res
}

async fn reload_inner(state: &AppState, file: Option<&Path>) -> Result<(), String> {
    let cfg = match file {
        None => state.config(),
        Some(path) => {
            let p = path.to_path_buf();
            let loaded = tokio::task::spawn_blocking(move || crate::config::load_file(&p))
                .await
                .map_err(|e| format!("loading the configuration: {e}"))?;
            match loaded {
                Ok((cfg, warnings)) => {
                    for w in warnings {
                        tracing::warn!(file = %path.display(), "{}", w.msg);
                    }
                    Arc::new(cfg)
                }
                Err(e) => {
                    return Err(format!(
                        "couldn't load configuration (--config.file={:?}): {e}",
                        path.display().to_string()
                    ));
                }
            }
        }
    };
    state.set_config(cfg.clone());
    if let Some(db) = state.db() {
        db.set_max_exemplars(max_exemplars(&cfg));
    }
    if let Some(m) = state.scrape() {
        m.apply_config(cfg.clone()).await.map_err(|e| e.to_string())?;
    }
    apply_remote(state, &cfg).await
}

/// `storage.exemplars.max_exemplars`, Prometheus's default when absent.
fn max_exemplars(cfg: &Config) -> i64 {
    cfg.storage.max_exemplars.map_or(crate::tsdb::exemplar::DEFAULT_MAX_EXEMPLARS, |n| n.min(i64::MAX as u64) as i64)
}

/// Applies `remote_write` (queues started, kept or stopped) and `remote_read` (clients
/// rebuilt) from `cfg`.
async fn apply_remote(state: &AppState, cfg: &crate::config::Config) -> Result<(), String> {
    let rt = tokio::runtime::Handle::current();
    let mut readers = Vec::new();
    let mut errors = Vec::new();
    for rr in &cfg.remote_read {
        match crate::remote::read_client::ReadClient::with_policy(rr, &cfg.global.external_labels, rt.clone()) {
            Ok(r) => readers.push(r),
            Err(e) => errors.push(format!("remote_read {}: {e}", rr.url)),
        }
    }
    state.set_remote_read(readers);
    if let Some(rw) = state.remote_write()
        && let Err(e) = rw.lock().await.apply_config(cfg).await
    {
        errors.push(e);
    }
    if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
}

/// Closes `db` once the blocking tasks still holding it (queries past the grace period)
/// have let go, waiting at most `grace`; otherwise the last holder's drop closes it.
async fn close_db(mut db: Arc<Db>, grace: Duration) -> Result<(), Error> {
    let deadline = Instant::now() + grace;
    loop {
        match Arc::try_unwrap(db) {
            Ok(db) => {
                tokio::task::spawn_blocking(move || db.close()).await.map_err(|e| Error::Task(e.to_string()))??;
                tracing::info!("storage engine closed");
                return Ok(());
            }
            Err(shared) if Instant::now() < deadline => {
                db = shared;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(_) => {
                tracing::warn!("storage still in use at shutdown; it closes when the last query ends");
                return Ok(());
            }
        }
    }
}

/// Resolves on SIGTERM or SIGINT. (SIGHUP, Prometheus's reload signal, is handled by
/// [`run`].)
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
