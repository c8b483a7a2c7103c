//! The scrape loop: one tokio task per target. It waits for the target's offset in the
//! interval, then every interval fetches the page (bounded by the timeout and the body size
//! limit) and hands it to its [`PageAppender`] on the blocking pool. When the target goes
//! away it writes stale markers for everything the target had, two intervals later, as
//! Prometheus does (so a target that comes straight back never sees them land); at shutdown
//! it writes none.

use super::append::{Page, PageAppender};
use super::cache::ScrapeCache;
use super::client;
use super::metrics::ScrapeMetrics;
use super::target::Target;
use crate::tsdb::Appender;
use parking_lot::Mutex;
use reqwest::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_TYPE, USER_AGENT};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// Prometheus aligns scrape timestamps to the interval when the tick is this close (or 1%
/// of the interval, if more), so the TSDB compresses them better.
const TIMESTAMP_TOLERANCE: Duration = Duration::from_millis(2);

/// The `User-Agent` scrapes send.
pub const USER_AGENT_VALUE: &str = concat!("Cairn/", env!("CARGO_PKG_VERSION"));

/// How a loop scrapes: fixed for its life (a reload makes a new loop).
#[derive(Clone)]
pub struct LoopConfig {
    /// The target.
    pub target: Arc<Target>,
    /// The pool's client.
    pub client: crate::config::http::HttpClient,
    /// Scrape interval.
    pub interval: Duration,
    /// Scrape timeout.
    pub timeout: Duration,
    /// `Accept` header.
    pub accept: String,
    /// `Accept-Encoding` header.
    pub accept_encoding: &'static str,
    /// `body_size_limit` in bytes (0 = none).
    pub body_size_limit: u64,
    /// Spreads targets of several servers apart (hash of the host name and external labels).
    pub offset_seed: u64,
    /// Metrics.
    pub metrics: Arc<ScrapeMetrics>,
}

/// Shared between a loop and its pool.
#[derive(Default)]
pub struct LoopControl {
    /// Fails every scrape with this error while set (target limit exceeded, bad interval).
    pub forced_error: Mutex<Option<String>>,
    /// Skip the stale markers at the end (the cache goes on to the next loop).
    pub no_end_of_run_staleness: AtomicBool,
}

/// A running loop.
pub struct LoopHandle {
    stop: watch::Sender<bool>,
    /// Shared state.
    pub control: Arc<LoopControl>,
    join: JoinHandle<Option<ScrapeCache>>,
}

impl LoopHandle {
    /// Starts a loop for `cfg` appending through `app` with `pa`; `shutdown` ends it
    /// without stale markers.
    pub fn spawn(
        cfg: LoopConfig,
        pa: PageAppender,
        app: Appender,
        control: Arc<LoopControl>,
        shutdown: watch::Receiver<bool>,
    ) -> LoopHandle {
        cfg.target.set_metadata_store(pa.cache().metadata().clone());
        let (stop, stop_rx) = watch::channel(false);
        let state = LoopState { pa, app, buf: Vec::new() };
        let join = tokio::spawn(run(state, cfg, control.clone(), stop_rx, shutdown));
        LoopHandle { stop, control, join }
    }

    /// Asks the loop to stop (it finishes the scrape in progress, then writes its stale
    /// markers in the background unless told not to).
    pub fn signal_stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops the loop, keeping its cache for the next one (no stale markers): returns once
    /// the loop has ended.
    pub async fn stop_for_reuse(self) -> Option<ScrapeCache> {
        self.control.no_end_of_run_staleness.store(true, Relaxed);
        let _ = self.stop.send(true);
        self.join.await.ok().flatten()
    }

    /// Stops the loop; it writes stale markers two intervals from now (in the background).
    pub fn stop(self) -> JoinHandle<Option<ScrapeCache>> {
        let _ = self.stop.send(true);
        self.join
    }
}

/// What a loop owns between scrapes; moved to the blocking pool for appending.
struct LoopState {
    pa: PageAppender,
    app: Appender,
    buf: Vec<u8>,
}

/// Resolves once `rx` holds `true` or its sender is gone.
pub(crate) async fn signalled(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

fn now_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

fn to_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

async fn run(
    mut st: LoopState,
    cfg: LoopConfig,
    control: Arc<LoopControl>,
    mut stop: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
) -> Option<ScrapeCache> {
    let offset = cfg.target.offset(cfg.interval, cfg.offset_seed, now_ns());
    tokio::select! {
        _ = tokio::time::sleep(offset) => {}
        _ = signalled(&mut stop) => return Some(st.pa.into_cache()),
        _ = signalled(&mut shutdown) => return Some(st.pa.into_cache()),
    }
    let interval_name = crate::model::duration::format_duration(cfg.interval.as_millis() as i64);
    let mut ticker = tokio::time::interval(cfg.interval.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    ticker.tick().await;
    let mut aligned = SystemTime::now();
    let tolerance = TIMESTAMP_TOLERANCE.max(cfg.interval / 100);
    let mut last: Option<Instant> = None;
    loop {
        if *shutdown.borrow() {
            return Some(st.pa.into_cache());
        }
        if *stop.borrow() {
            break;
        }
        // Snap the timestamp to the interval grid when the tick is within the tolerance.
        let mut scrape_time = SystemTime::now();
        while scrape_time.duration_since(aligned).is_ok_and(|d| d >= cfg.interval) {
            aligned += cfg.interval;
        }
        if scrape_time.duration_since(aligned).is_ok_and(|d| d <= tolerance) {
            scrape_time = aligned;
        }
        let start = Instant::now();
        if let Some(prev) = last {
            cfg.metrics.observe_interval(&interval_name, start.duration_since(prev).as_secs_f64());
        }
        last = Some(start);
        st = match scrape_and_report(st, &cfg, &control, scrape_time, start, &mut shutdown).await {
            Some(s) => s,
            None => return None,
        };
        tokio::select! {
            _ = signalled(&mut shutdown) => return Some(st.pa.into_cache()),
            _ = signalled(&mut stop) => break,
            _ = ticker.tick() => {}
        }
    }
    if control.no_end_of_run_staleness.load(Relaxed) || last.is_none() {
        return Some(st.pa.into_cache());
    }
    // Wait for when the next scrape would have been and take its time for the markers,
    // then one more interval (a recreated target has scraped by then, so the markers come
    // out of order and are ignored), plus 10%.
    let stale_time = tokio::select! {
        _ = signalled(&mut shutdown) => return Some(st.pa.into_cache()),
        _ = ticker.tick() => SystemTime::now(),
    };
    tokio::select! {
        _ = signalled(&mut shutdown) => return Some(st.pa.into_cache()),
        _ = ticker.tick() => {}
    }
    tokio::select! {
        _ = signalled(&mut shutdown) => return Some(st.pa.into_cache()),
        _ = tokio::time::sleep(cfg.interval / 10) => {}
    }
    let ts = to_ms(stale_time);
    let res = tokio::task::spawn_blocking(move || {
        st.pa.end_of_run(&mut st.app, ts);
        st.pa.into_cache()
    })
    .await;
    res.ok()
}

/// One scrape: fetch, append on the blocking pool, record the outcome on the target.
async fn scrape_and_report(
    mut st: LoopState,
    cfg: &LoopConfig,
    control: &LoopControl,
    scrape_time: SystemTime,
    start: Instant,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<LoopState> {
    let forced = control.forced_error.lock().clone();
    let fetched = if forced.is_some() {
        Err(String::new())
    } else {
        st.buf.clear();
        tokio::select! {
            r = fetch(cfg, &mut st.buf) => r,
            // Shutting down: the page no longer matters.
            _ = signalled(shutdown) => return Some(st),
        }
    };
    let ts = to_ms(scrape_time);
    let res = tokio::task::spawn_blocking(move || {
        let page = match &fetched {
            Ok(ct) => Page::Body(&st.buf, ct.as_deref()),
            Err(e) => Page::Failed(e),
        };
        let out = st.pa.scrape_page(&mut st.app, page, forced.as_deref(), ts, start);
        // Keep the buffer's capacity for the next scrape unless a huge page blew it up.
        if st.buf.capacity() > 4 * st.buf.len().max(1 << 16) {
            st.buf = Vec::new();
        }
        (st, out)
    })
    .await;
    match res {
        Ok((st, out)) => {
            cfg.target.report(scrape_time, out.duration, out.error);
            Some(st)
        }
        Err(e) => {
            tracing::error!(target = cfg.target.url(), error = %e, "scrape loop failed; stopping it");
            cfg.target.report(scrape_time, start.elapsed(), Some(format!("internal error: {e}")));
            None
        }
    }
}

/// GETs the page into `buf`; returns its `Content-Type`.
async fn fetch(cfg: &LoopConfig, buf: &mut Vec<u8>) -> Result<Option<String>, String> {
    let url = cfg.target.url();
    let work = async {
        let req = cfg
            .client
            .get(url)
            .header(ACCEPT, &cfg.accept)
            .header(ACCEPT_ENCODING, cfg.accept_encoding)
            .header(USER_AGENT, USER_AGENT_VALUE)
            .header("X-Prometheus-Scrape-Timeout-Seconds", client::timeout_header(cfg.timeout))
            .timeout(cfg.timeout);
        let req = cfg.client.authorize(req).await.map_err(|e| format!("Get {url:?}: {e}"))?;
        let resp = req.send().await.map_err(|e| client::request_error(url, &e))?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(format!("server returned HTTP status {}", resp.status()));
        }
        let ct = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
        let limit = if cfg.body_size_limit == 0 { u64::MAX } else { cfg.body_size_limit };
        let mut resp = resp;
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    buf.extend_from_slice(&c);
                    if buf.len() as u64 >= limit {
                        cfg.metrics.exceeded_body_size_limit.inc();
                        return Err("body size limit exceeded".to_string());
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(client::request_error(url, &e)),
            }
        }
        Ok(ct)
    };
    match tokio::time::timeout(cfg.timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(format!("Get {url:?}: context deadline exceeded")),
    }
}
