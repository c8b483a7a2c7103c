//! The HTTP server's routes: Prometheus's `/api/v1`, `/federate`, `/metrics` and the
//! lifecycle endpoints `/-/healthy`, `/-/ready`, `/-/reload`, `/-/quit`.
//!
//! Principal items: [`AppState`] (what handlers share: the database once it is open, the
//! scrape manager, the configuration in force and reload requests, engine options, flags), [`WebOptions`] (the `--web.*` flags) and [`app`], which builds the axum
//! [`Router`] that [`crate::server::run`] serves and tests drive with `oneshot`.
//!
//! Handlers that touch storage or run queries do so on tokio's blocking pool, so the async
//! workers never wait on the TSDB. Until the database is open every route except
//! `/-/healthy`, `/api/v1/status/walreplay` and `/metrics` answers 503, as Prometheus's
//! readiness wrapper does.

pub mod api;
pub mod exposition;
pub mod json;
pub mod params;
pub mod parse_query;
pub mod status;
pub mod targets;
pub mod webconfig;

use crate::config::Config;
use crate::promql::engine::EngineOptions;
use crate::scrape::Manager;
use crate::tsdb::Db;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, on};
use json::Json;
use params::{ApiError, Params};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};

/// A configuration reload request: the server answers on the channel.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

/// The `--web.*` options.
#[derive(Clone, Debug)]
pub struct WebOptions {
    /// `--web.listen-address`, as given (shown in flags; the server binds it).
    pub listen_address: String,
    /// `--web.external-url`, resolved (`http://<host>:<port>/` by default).
    pub external_url: String,
    /// `--web.route-prefix`: where the routes are mounted, `/` or `/<path>` without a
    /// trailing slash.
    pub route_prefix: String,
    /// `--web.enable-lifecycle`: allow `/-/reload` and `/-/quit`.
    pub enable_lifecycle: bool,
    /// `--web.enable-admin-api`: allow `/api/v1/admin/*`.
    pub enable_admin_api: bool,
    /// `--web.enable-remote-write-receiver` (accepted for compatibility: the remote write,
    /// OTLP and remote read endpoints are always on).
    pub enable_remote_write_receiver: bool,
    /// Largest request body accepted (bytes); larger bodies get 413.
    pub max_body_bytes: usize,
    /// `--query.max-concurrency`: queries evaluated at once; more wait their turn.
    pub max_query_concurrency: usize,
}

impl Default for WebOptions {
    fn default() -> Self {
        WebOptions {
            listen_address: "0.0.0.0:9090".into(),
            external_url: "http://localhost:9090/".into(),
            route_prefix: "/".into(),
            enable_lifecycle: false,
            enable_admin_api: false,
            enable_remote_write_receiver: false,
            max_body_bytes: 8 << 20,
            max_query_concurrency: 20,
        }
    }
}

/// Everything [`AppState::new`] needs.
#[derive(Clone, Debug, Default)]
pub struct StateOptions {
    /// Web options.
    pub web: WebOptions,
    /// Engine options (`--query.*`).
    pub engine: EngineOptions,
    /// Every flag with its value as a string, for `/api/v1/status/flags`.
    pub flags: BTreeMap<String, String>,
    /// The configuration's text, for `/api/v1/status/config`.
    pub config_yaml: String,
    /// `--storage.tsdb.path` (snapshots go under `<dir>/snapshots`).
    pub data_dir: PathBuf,
    /// Retention as shown by `/api/v1/status/runtimeinfo` (e.g. `15d`).
    pub storage_retention: String,
    /// WAL replay progress (`/api/v1/status/walreplay`), shared with the opening database.
    pub wal_replay: Arc<crate::tsdb::wal::ReplayProgress>,
}

/// State shared by all handlers; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The shared state behind [`AppState`].
pub struct Shared {
    /// Options given at start.
    pub opts: StateOptions,
    /// The database, set once it is open (the server is "ready" from then on) and taken
    /// back at shutdown.
    db: parking_lot::RwLock<Option<Arc<Db>>>,
    /// When the process started.
    pub started: SystemTime,
    /// Notified by `/-/quit`.
    quit: Notify,
    /// Bounds concurrent query evaluation (`--query.max-concurrency`).
    queries: Semaphore,
    /// Requests served, by handler (route pattern) and status code.
    http_requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// The scrape manager, once storage is open.
    scrape: OnceLock<Arc<Manager>>,
    /// The remote-write queues, once storage is open.
    remote_write: OnceLock<Arc<tokio::sync::Mutex<crate::remote::sender::storage::WriteStorage>>>,
    /// The `remote_read` endpoints of the configuration in force, with their policies.
    remote_read: parking_lot::RwLock<Arc<crate::remote::fanout::RemoteReaders>>,
    /// The configuration in force (`/api/v1/status/config`).
    config: arc_swap::ArcSwap<Config>,
    /// Whether the last reload succeeded, and when one last did.
    reload_status: Mutex<(bool, SystemTime)>,
    /// Reload requests (`/-/reload`) for the server loop.
    reload_tx: mpsc::Sender<ReloadRequest>,
    /// Held here until the server takes it; while nobody has, a reload has nothing to do.
    reload_rx: Mutex<Option<mpsc::Receiver<ReloadRequest>>>,
}

impl AppState {
    /// State with no database yet (not ready).
    pub fn new(opts: StateOptions) -> AppState {
        let permits = opts.web.max_query_concurrency.clamp(1, Semaphore::MAX_PERMITS);
        let (reload_tx, reload_rx) = mpsc::channel(4);
        let now = SystemTime::now();
        AppState(Arc::new(Shared {
            opts,
            db: parking_lot::RwLock::new(None),
            started: SystemTime::now(),
            quit: Notify::new(),
            queries: Semaphore::new(permits),
            http_requests: Mutex::new(BTreeMap::new()),
            scrape: OnceLock::new(),
            remote_write: OnceLock::new(),
            remote_read: parking_lot::RwLock::new(Arc::new(Vec::new())),
            config: arc_swap::ArcSwap::from_pointee(Config::default()),
            reload_status: Mutex::new((true, now)),
            reload_tx,
            reload_rx: Mutex::new(Some(reload_rx)),
        }))
    }

    /// Hands the running scrape manager over (once).
    pub fn set_scrape(&self, m: Arc<Manager>) {
        let _ = self.0.scrape.set(m);
    }

    /// The scrape manager, once running.
    pub fn scrape(&self) -> Option<Arc<Manager>> {
        self.0.scrape.get().cloned()
    }

    /// Hands the remote-write queues over (once).
    pub fn set_remote_write(&self, w: Arc<tokio::sync::Mutex<crate::remote::sender::storage::WriteStorage>>) {
        let _ = self.0.remote_write.set(w);
    }

    /// The remote-write queues, once running.
    pub fn remote_write(&self) -> Option<Arc<tokio::sync::Mutex<crate::remote::sender::storage::WriteStorage>>> {
        self.0.remote_write.get().cloned()
    }

    /// Replaces the `remote_read` endpoints (on start and reload).
    pub fn set_remote_read(&self, r: crate::remote::fanout::RemoteReaders) {
        *self.0.remote_read.write() = Arc::new(r);
    }

    /// The `remote_read` endpoints in force.
    pub fn remote_read(&self) -> Arc<crate::remote::fanout::RemoteReaders> {
        self.0.remote_read.read().clone()
    }

    /// Sets the configuration in force.
    pub fn set_config(&self, c: Arc<Config>) {
        self.0.config.store(c);
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.0.config.load_full()
    }

    /// Records a reload's outcome.
    pub fn set_reload_result(&self, ok: bool) {
        let mut s = self.0.reload_status.lock();
        s.0 = ok;
        if ok {
            s.1 = SystemTime::now();
        }
    }

    /// Whether the last reload succeeded, and when one last did (start time before any).
    pub fn reload_status(&self) -> (bool, SystemTime) {
        *self.0.reload_status.lock()
    }

    /// Takes the reload requests: from now on `/-/reload` waits for the taker's answer.
    pub fn take_reload_requests(&self) -> Option<mpsc::Receiver<ReloadRequest>> {
        self.0.reload_rx.lock().take()
    }

    /// Asks the server to reload its configuration and waits for the outcome. Succeeds at
    /// once when no server loop takes requests (a bare router in tests).
    pub async fn request_reload(&self) -> Result<(), String> {
        if self.0.reload_rx.lock().is_some() {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        self.0.reload_tx.send(tx).await.map_err(|_| "the server is shutting down".to_string())?;
        rx.await.map_err(|_| "the server is shutting down".to_string())?
    }

    /// Hands the open database over; the server is ready from now on.
    pub fn set_db(&self, db: Arc<Db>) {
        *self.0.db.write() = Some(db);
    }

    /// Takes the database back (at shutdown); requests answer 503 from then on.
    pub fn take_db(&self) -> Option<Arc<Db>> {
        self.0.db.write().take()
    }

    /// The database, while open.
    pub fn db(&self) -> Option<Arc<Db>> {
        self.0.db.read().clone()
    }

    /// Whether the database is open.
    pub fn is_ready(&self) -> bool {
        self.0.db.read().is_some()
    }

    /// Resolves when `/-/quit` is called.
    pub async fn quit_requested(&self) {
        self.0.quit.notified().await;
    }

    /// The shared state.
    pub fn shared(&self) -> &Shared {
        &self.0
    }

    /// Requests served so far, by (handler, status code).
    pub fn http_requests(&self) -> BTreeMap<(String, u16), u64> {
        self.0.http_requests.lock().clone()
    }
}

/// Builds the router with every route, mounted under the route prefix.
pub fn app(state: AppState) -> Router {
    let max_body = state.0.opts.web.max_body_bytes;
    let prefix = state.0.opts.web.route_prefix.trim_end_matches('/').to_string();
    let routes = Router::new()
        .route("/-/healthy", get(healthy).head(healthy))
        .route("/-/ready", get(ready).head(ready))
        .route("/-/reload", on(post_put(), reload))
        .route("/-/quit", on(post_put(), quit))
        .route("/metrics", get(targets::metrics))
        .route("/federate", get(exposition::federate))
        .nest("/api/v1", api::routes().merge(crate::remote::http::routes()))
        .route("/api/v1/scrape_pools", endpoint(&[Method::GET], Kind::Other, targets::scrape_pools))
        .layer(middleware::from_fn_with_state(state.clone(), count_requests))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(max_body))
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(state);
    if prefix.is_empty() { routes } else { Router::new().nest(&prefix, routes) }
}

fn post_put() -> axum::routing::MethodFilter {
    axum::routing::MethodFilter::POST.or(axum::routing::MethodFilter::PUT)
}

async fn healthy() -> &'static str {
    "Prometheus Server is Healthy.\n"
}

async fn ready(State(s): State<AppState>) -> Response {
    if s.is_ready() { "Prometheus Server is Ready.\n".into_response() } else { not_ready() }
}

/// Prometheus's answer while the storage is not open yet.
pub(crate) fn not_ready() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response()
}

async fn reload(State(s): State<AppState>) -> Response {
    if !s.0.opts.web.enable_lifecycle {
        return (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.").into_response();
    }
    match s.request_reload().await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => {
            let mut r = (StatusCode::INTERNAL_SERVER_ERROR, format!("failed to reload config: {e}\n")).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
            r.headers_mut().insert("x-content-type-options", HeaderValue::from_static("nosniff"));
            r
        }
    }
}

async fn quit(State(s): State<AppState>) -> Response {
    if !s.0.opts.web.enable_lifecycle {
        return (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.").into_response();
    }
    s.0.quit.notify_one();
    "Requesting termination... Goodbye!".into_response()
}

async fn count_requests(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let handler = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let resp = next.run(req).await;
    // Handlers are named without the route prefix, as Prometheus names them.
    let prefix = s.0.opts.web.route_prefix.trim_end_matches('/');
    let handler = match handler {
        Some(h) => h.strip_prefix(prefix).filter(|h| h.starts_with('/')).map(str::to_string).unwrap_or(h),
        None => "other".into(),
    };
    *s.0.http_requests.lock().entry((handler, resp.status().as_u16())).or_default() += 1;
    resp
}

/// What an API function returns on success.
pub enum ApiOk {
    /// `{"status":"success","data":...}` with optional warnings and infos.
    Data {
        /// The `data` member.
        data: Json,
        /// `warnings` (omitted when empty).
        warnings: Vec<String>,
        /// `infos` (omitted when empty).
        infos: Vec<String>,
    },
    /// 204 with no body (admin endpoints).
    NoContent,
}

impl ApiOk {
    /// Success with `data` and no annotations.
    pub fn data(data: Json) -> Result<ApiOk, ApiError> {
        Ok(ApiOk::Data { data, warnings: Vec::new(), infos: Vec::new() })
    }
}

/// One API request: form values and the path argument (the label name of
/// `/label/<name>/values`).
pub struct ApiRequest {
    /// Form values.
    pub params: Params,
    /// The path argument, empty for routes without one.
    pub path_arg: String,
    /// Set when the client goes away before the answer is ready.
    pub cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Sets its flag when dropped: the handler's future is dropped when the client disconnects,
/// which cancels the query running on the blocking pool.
struct CancelOnDrop(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// An API function: runs on the blocking pool with the open database.
pub type ApiFn = fn(&AppState, &Db, &ApiRequest) -> Result<ApiOk, ApiError>;

/// Whether an API function is a query (bounded by `--query.max-concurrency`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A PromQL query.
    Query,
    /// Anything else.
    Other,
    /// Answered from in-memory indexes in about the time a thread hand-off takes (label names
    /// and values without `match[]`, build and flag information): run on the connection's
    /// task instead of the blocking pool, which halves their latency. With `match[]` they
    /// select series and go to the pool like [`Kind::Other`].
    Light,
}

/// A method router running `f` for `methods`, reading form values from the query string
/// and, for POST and PUT, a urlencoded body.
pub fn endpoint(methods: &[Method], kind: Kind, f: ApiFn) -> MethodRouter<AppState> {
    let mut filter: Option<axum::routing::MethodFilter> = None;
    for m in methods {
        if let Ok(mf) = axum::routing::MethodFilter::try_from(m.clone()) {
            filter = Some(filter.map_or(mf, |f| f.or(mf)));
        }
    }
    let filter = filter.unwrap_or(axum::routing::MethodFilter::GET);
    on(
        filter,
        move |State(s): State<AppState>,
              path: Option<axum::extract::Path<String>>,
              method: Method,
              uri: Uri,
              headers: HeaderMap,
              body: Bytes| async move {
            let path_arg = path.map(|p| p.0).unwrap_or_default();
            dispatch(s, kind, f, &method, &uri, &headers, &body, path_arg).await
        },
    )
}

#[allow(clippy::too_many_arguments)]
async fn dispatch(
    s: AppState,
    kind: Kind,
    f: ApiFn,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    path_arg: String,
) -> Response {
    let Some(db) = s.db() else {
        return not_ready();
    };
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    let body = (is_form && (method == Method::POST || method == Method::PUT)).then_some(body.as_ref());
    let params = match Params::parse(uri.query(), body) {
        Ok(p) => p,
        Err(e) => return error_response(&e),
    };
    let _permit = match kind {
        Kind::Query => match s.0.queries.acquire().await {
            Ok(p) => Some(p),
            Err(_) => return error_response(&ApiError::new(params::ErrorType::Unavailable, "query queue closed")),
        },
        Kind::Other | Kind::Light => None,
    };
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let _cancel_on_drop = CancelOnDrop(cancel.clone());
    let req = ApiRequest { params, path_arg, cancel };
    let res = if kind == Kind::Light && req.params.all("match[]").is_empty() {
        Ok(f(&s, &db, &req))
    } else {
        let state = s.clone();
        tokio::task::spawn_blocking(move || f(&state, &db, &req)).await
    };
    match res {
        Ok(Ok(ok)) => success_response(ok),
        Ok(Err(e)) => error_response(&e),
        Err(join) => {
            tracing::error!(error = %join, "API handler failed");
            error_response(&ApiError::new(params::ErrorType::Internal, "handler failed"))
        }
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Renders a success envelope.
pub fn success_response(ok: ApiOk) -> Response {
    match ok {
        ApiOk::NoContent => StatusCode::NO_CONTENT.into_response(),
        ApiOk::Data { data, warnings, infos } => {
            let mut out = String::from("{\"status\":\"success\",\"data\":");
            data.write(&mut out);
            if !warnings.is_empty() {
                out.push_str(",\"warnings\":");
                Json::strs(&warnings).write(&mut out);
            }
            if !infos.is_empty() {
                out.push_str(",\"infos\":");
                Json::strs(&infos).write(&mut out);
            }
            out.push('}');
            json_response(StatusCode::OK, out)
        }
    }
}

/// Renders an error envelope with the status of its type.
pub fn error_response(e: &ApiError) -> Response {
    let j = Json::obj(vec![
        ("status", Json::str("error")),
        ("errorType", Json::str(e.typ.as_str())),
        ("error", Json::str(&e.msg)),
    ]);
    json_response(e.typ.status(), j.render())
}

#[cfg(test)]
pub(crate) mod tests;
