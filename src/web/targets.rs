//! Scrape-related endpoints, in Prometheus 2.42's JSON: `/api/v1/targets`,
//! `/api/v1/scrape_pools`, `/api/v1/targets/metadata`, `/api/v1/metadata`, and `/metrics`
//! with the scrape, discovery and config-reload metrics added.

use super::json::Json;
use super::params::ApiError;
use super::status::rfc3339;
use super::{ApiOk, ApiRequest, AppState};
use crate::model::Labels;
use crate::scrape::target::split_host_port;
use crate::scrape::{MetricMetadata, Target};
use crate::tsdb::Db;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::time::UNIX_EPOCH;

/// A label set as a JSON object (keys sorted, as Go marshals maps).
fn labels_json(l: &Labels) -> Json {
    Json::Obj(l.iter().map(|l| (l.name.clone(), Json::str(&l.value))).collect())
}

/// What Prometheus's `getGlobalURL` makes of a scrape URL: a target on localhost gets the
/// external URL's host (and, when it is this server's own port, its scheme and port too).
/// On an address that does not split, the URL stays and the error is returned.
pub fn global_url(scrape_url: &str, listen_address: &str, external_url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = scrape_url.split_once("://") else {
        return (scrape_url.to_string(), None);
    };
    let (host_port, tail) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let Some((host, port)) = split_host_port(host_port) else {
        return (scrape_url.to_string(), Some(format!("address {host_port}: missing port in address")));
    };
    if !["127.0.0.1", "localhost", "::1"].contains(&host) {
        return (scrape_url.to_string(), None);
    }
    let Some((_, own_port)) = split_host_port(listen_address) else {
        return (scrape_url.to_string(), Some(format!("address {listen_address}: missing port in address")));
    };
    let (ext_scheme, ext_host) = match external_url.split_once("://") {
        Some((s, r)) => (s, r.split(['/', '?']).next().unwrap_or("")),
        None => ("", ""),
    };
    if port == own_port {
        return (format!("{ext_scheme}://{ext_host}{tail}"), None);
    }
    match split_host_port(ext_host) {
        Some((h, _)) => (format!("{scheme}://{h}:{port}{tail}"), None),
        None => (scrape_url.to_string(), Some(format!("address {ext_host}: missing port in address"))),
    }
}

fn active_json(s: &AppState, pool: &str, t: &Target) -> Json {
    let st = t.status();
    let web = &s.shared().opts.web;
    let (global, url_err) = global_url(t.url(), &web.listen_address, &web.external_url);
    let last_error = match (st.last_error, url_err) {
        (e, None) => e.unwrap_or_default(),
        (e, Some(u)) => format!("{}: {u}", e.unwrap_or_default()),
    };
    let last_scrape = st.last_scrape.map_or_else(|| "0001-01-01T00:00:00Z".to_string(), rfc3339);
    Json::obj(vec![
        ("discoveredLabels", labels_json(&t.discovered_labels())),
        ("labels", labels_json(t.labels())),
        ("scrapePool", Json::str(pool)),
        ("scrapeUrl", Json::str(t.url())),
        ("globalUrl", Json::str(global)),
        ("lastError", Json::str(last_error)),
        ("lastScrape", Json::str(last_scrape)),
        ("lastScrapeDuration", Json::float(st.last_duration.as_secs_f64())),
        ("health", Json::str(st.health.as_str())),
        ("scrapeInterval", Json::str(t.get(crate::scrape::target::SCRAPE_INTERVAL_LABEL))),
        ("scrapeTimeout", Json::str(t.get(crate::scrape::target::SCRAPE_TIMEOUT_LABEL))),
    ])
}

/// `GET /api/v1/targets?state=active|dropped|any&scrapePool=<job>`. An unknown `state`
/// shows neither list, as Prometheus does.
pub fn targets(s: &AppState, _db: &Db, r: &ApiRequest) -> Result<ApiOk, ApiError> {
    let state = r.params.get("state").to_ascii_lowercase();
    let pool = r.params.get("scrapePool");
    let show_active = matches!(state.as_str(), "" | "any" | "active");
    let show_dropped = matches!(state.as_str(), "" | "any" | "dropped");
    let mut active = Vec::new();
    let mut dropped = Vec::new();
    if let Some(m) = s.scrape() {
        if show_active {
            for (job, ts) in m.targets_active() {
                if pool.is_empty() || job == pool {
                    active.extend(ts.iter().map(|t| active_json(s, &job, t)));
                }
            }
        }
        if show_dropped {
            for (job, ls) in m.targets_dropped() {
                if pool.is_empty() || job == pool {
                    dropped.extend(ls.iter().map(|l| Json::obj(vec![("discoveredLabels", labels_json(l))])));
                }
            }
        }
    }
    ApiOk::data(Json::obj(vec![("activeTargets", Json::Arr(active)), ("droppedTargets", Json::Arr(dropped))]))
}

/// `GET /api/v1/scrape_pools`: the jobs, sorted.
pub fn scrape_pools(s: &AppState, _db: &Db, _r: &ApiRequest) -> Result<ApiOk, ApiError> {
    let pools = s.scrape().map(|m| m.scrape_pools()).unwrap_or_default();
    ApiOk::data(Json::obj(vec![("scrapePools", Json::strs(&pools))]))
}

/// `limit` as Prometheus reads it: absent or negative means none.
fn limit_param(r: &ApiRequest, name: &str) -> Result<Option<usize>, ApiError> {
    match r.params.get(name) {
        "" => Ok(None),
        v => match v.parse::<i64>() {
            Ok(n) if n < 0 => Ok(None),
            Ok(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
            Err(_) => Err(ApiError::bad_data(format!("{name} must be a number"))),
        },
    }
}

fn meta_json(target: Option<&Labels>, m: &MetricMetadata, with_metric: bool) -> Json {
    let mut fields = Vec::with_capacity(5);
    if let Some(t) = target {
        fields.push(("target", labels_json(t)));
    }
    if with_metric {
        fields.push(("metric", Json::str(&m.metric)));
    }
    fields.push(("type", Json::str(m.kind)));
    fields.push(("help", Json::str(&m.help)));
    fields.push(("unit", Json::str(&m.unit)));
    Json::obj(fields)
}

/// `GET /api/v1/targets/metadata?match_target=&metric=&limit=`: metadata per target. As in
/// Prometheus, `limit` is checked before each target, so a target's entries come whole.
pub fn target_metadata(s: &AppState, _db: &Db, r: &ApiRequest) -> Result<ApiOk, ApiError> {
    let limit = limit_param(r, "limit")?;
    let mt = r.params.get("match_target");
    let matchers = if mt.is_empty() {
        Vec::new()
    } else {
        super::params::parse_metric_selector(mt).map_err(|e| ApiError::invalid_param("match_target", e))?
    };
    let metric = r.params.get("metric");
    let mut res = Vec::new();
    let targets = s.scrape().map(|m| m.targets_active()).unwrap_or_default();
    'pools: for (_, ts) in targets {
        for t in ts {
            if limit.is_some_and(|l| res.len() >= l) {
                break 'pools;
            }
            if !matchers.iter().all(|m| m.matches(t.labels().get(&m.name).unwrap_or(""))) {
                continue;
            }
            let store = t.metadata();
            if metric.is_empty() {
                res.extend(store.list().iter().map(|m| meta_json(Some(t.labels()), m, true)));
            } else if let Some(m) = store.get(metric) {
                res.push(meta_json(Some(t.labels()), &m, false));
            }
        }
    }
    ApiOk::data(Json::Arr(res))
}

/// `GET /api/v1/metadata?metric=&limit=&limit_per_metric=`: the distinct metadata of each
/// metric over all targets and what remote write and OTLP senders sent, metrics sorted.
pub fn metadata(s: &AppState, _db: &Db, r: &ApiRequest) -> Result<ApiOk, ApiError> {
    let limit = limit_param(r, "limit")?;
    let per_metric = limit_param(r, "limit_per_metric")?;
    let metric = r.params.get("metric");
    type Meta = (&'static str, String, String);
    let mut metrics: BTreeMap<String, BTreeSet<Meta>> = BTreeMap::new();
    for (_, ts) in s.scrape().map(|m| m.targets_active()).unwrap_or_default() {
        for t in ts {
            let store = t.metadata();
            let found = if metric.is_empty() { store.list() } else { store.get(metric).into_iter().collect() };
            for m in found {
                metrics.entry(m.metric).or_default().insert((m.kind, m.help, m.unit));
            }
        }
    }
    // Metadata received by remote write and OTLP joins the scraped one; identical entries
    // show once.
    let received = crate::remote::metadata().snapshot((!metric.is_empty()).then_some(metric), None, None);
    for (name, list) in received {
        let set = metrics.entry(name).or_default();
        for m in list {
            set.insert((m.kind.as_str(), m.help, m.unit));
        }
    }
    let mut out = Vec::new();
    for (name, set) in metrics {
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        let take = per_metric.unwrap_or(usize::MAX);
        let list = set
            .into_iter()
            .take(take)
            .map(|(kind, help, unit)| {
                Json::obj(vec![("type", Json::str(kind)), ("help", Json::str(help)), ("unit", Json::str(unit))])
            })
            .collect();
        out.push((name, Json::Arr(list)));
    }
    ApiOk::data(Json::Obj(out))
}

/// `GET /metrics`: the server's metrics plus the scrape manager's, discovery's and the
/// config reload gauges.
pub async fn metrics(State(s): State<AppState>) -> Response {
    let base = super::exposition::metrics(State(s.clone())).await;
    let (parts, body) = base.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let mut out = String::from_utf8_lossy(&bytes).into_owned();
    let (ok, last_success) = s.reload_status();
    let ts = last_success.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let _ = write!(
        out,
        "# HELP prometheus_config_last_reload_successful Whether the last configuration reload attempt was successful.\n\
         # TYPE prometheus_config_last_reload_successful gauge\n\
         prometheus_config_last_reload_successful {}\n\
         # HELP prometheus_config_last_reload_success_timestamp_seconds Timestamp of the last successful configuration reload.\n\
         # TYPE prometheus_config_last_reload_success_timestamp_seconds gauge\n\
         prometheus_config_last_reload_success_timestamp_seconds {}\n",
        u8::from(ok),
        crate::promql::GoFloat(ts)
    );
    if let Some(m) = s.scrape() {
        m.render_metrics(&mut out);
    }
    (parts, out).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_urls_as_prometheus() {
        // Cases from Prometheus's getGlobalURL: only localhost targets change.
        let cases: &[(&str, &str, &str, &str, Option<&str>)] = &[
            (
                "http://127.0.0.1:9090/metrics",
                "0.0.0.0:9090",
                "https://prom.example:443/",
                "https://prom.example:443/metrics",
                None,
            ),
            (
                "http://localhost:9100/metrics?a=b",
                "0.0.0.0:9090",
                "http://vm:9090/",
                "http://vm:9100/metrics?a=b",
                None,
            ),
            ("http://[::1]:9100/metrics", "0.0.0.0:9090", "http://vm:9090/", "http://vm:9100/metrics", None),
            ("http://10.0.0.1:9100/metrics", "0.0.0.0:9090", "http://vm:9090/", "http://10.0.0.1:9100/metrics", None),
            (
                "http://localhost:9100/metrics",
                "0.0.0.0:9090",
                "http://vm/",
                "http://localhost:9100/metrics",
                Some("address vm: missing port in address"),
            ),
        ];
        for (url, listen, ext, want, err) in cases {
            let (got, e) = global_url(url, listen, ext);
            assert_eq!((got.as_str(), e.as_deref()), (*want, *err), "{url}");
        }
    }
}
