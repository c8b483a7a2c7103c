//! `http_sd_configs`: target groups fetched as JSON (`[{"targets": [...], "labels": {...}}]`)
//! from a URL every `refresh_interval`. Each group gets `__meta_url` and the source
//! `<url>:<index>`. A failed refresh (transport error, status other than 200, content type
//! other than `application/json`, bad JSON) keeps the last good groups and is counted in
//! `prometheus_sd_http_failures_total`.

use super::TargetGroup;
use super::file::{build_groups, parse_json};
use super::provider::Sink;
use std::time::{Duration, Instant};

/// The label naming the URL a target came from.
pub const URL_LABEL: &str = "__meta_url";

/// Whether `ct` is `application/json`, with or without parameters.
fn is_json(ct: &str) -> bool {
    let ct = ct.trim();
    ct == "application/json" || ct.starts_with("application/json;")
}

/// One refresh: the groups the URL serves now.
async fn fetch(
    client: &crate::config::http::HttpClient,
    url: &str,
    refresh: Duration,
) -> Result<Vec<TargetGroup>, String> {
    let req = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .header("X-Prometheus-Refresh-Interval-Seconds", format!("{}", refresh.as_secs_f64()));
    let req = client.authorize(req).await.map_err(|e| format!("Get {url:?}: {e}"))?;
    let resp = req.send().await.map_err(|e| crate::scrape::client::request_error(url, &e))?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(format!("server returned HTTP status {}", resp.status()));
    }
    let ct = resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    if !is_json(&ct) {
        return Err(format!("unsupported content type {ct:?}"));
    }
    let body = resp.bytes().await.map_err(|e| crate::scrape::client::request_error(url, &e))?;
    let raw = parse_json(&body).map_err(|e| e.to_string())?;
    build_groups(raw, url, (URL_LABEL, url)).map_err(|e| e.to_string())
}

/// Runs the provider until aborted or until the pool goes away.
pub(crate) async fn run(cfg: super::HttpSdConfig, sink: Sink) {
    let client = match crate::config::http::build_client(&cfg.http, cfg.refresh_interval) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(job = %sink.job, url = %cfg.url, error = %e, "http discovery: cannot build the client");
            return;
        }
    };
    let mut last_count = 0usize;
    let mut ticker = tokio::time::interval(cfg.refresh_interval.max(Duration::from_millis(100)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let started = Instant::now();
        let res = fetch(&client, &cfg.url, cfg.refresh_interval).await;
        sink.metrics.observe_refresh("http", &sink.job, started.elapsed().as_secs_f64(), res.is_err());
        match res {
            Ok(mut groups) => {
                // Sources the URL no longer serves are removed with empty groups.
                let n = groups.len();
                for i in n..last_count {
                    groups.push(TargetGroup { source: format!("{}:{i}", cfg.url), ..TargetGroup::default() });
                }
                last_count = n;
                if !sink.send(groups).await {
                    return;
                }
            }
            Err(e) => {
                sink.metrics.http_failures.inc();
                tracing::error!(job = %sink.job, url = %cfg.url, error = %e, "unable to refresh target groups");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        for (ct, ok) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("application/jsonx", false),
            ("text/plain", false),
            ("", false),
        ] {
            assert_eq!(is_json(ct), ok, "{ct}");
        }
    }
}
