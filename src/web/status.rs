//! `/api/v1` status, metadata and admin endpoints. Targets and metadata come from the scrape
//! manager ([`super::targets`]); rules and alerts answer with Prometheus's empty shapes until
//! the rule engine exists.

use super::json::Json;
use super::params::{ApiError, ErrorType, MAX_TIME_MS, MIN_TIME_MS, parse_matchers};
use super::{ApiOk, ApiRequest, AppState, success_response};
use crate::model::Matcher;
use crate::tsdb::Db;
use axum::extract::State;
use axum::response::Response;
use std::time::{SystemTime, UNIX_EPOCH};

/// The Prometheus version we report: Grafana reads it to pick API features (≥ 2.24 uses
/// `label/<name>/values?match[]`), and it must be valid semver.
pub const EMULATED_PROMETHEUS_VERSION: &str = "2.53.0";

/// `GET /api/v1/metadata`: metric metadata from the scrapes.
pub fn metadata(s: &AppState, db: &Db, r: &ApiRequest) -> Result<ApiOk, ApiError> {
    super::targets::metadata(s, db, r)
}

/// `GET /api/v1/targets`: the scrape targets.
pub fn targets(s: &AppState, db: &Db, r: &ApiRequest) -> Result<ApiOk, ApiError> {
    super::targets::targets(s, db, r)
}

/// `GET /api/v1/targets/metadata`: metadata per target.
pub fn target_metadata(s: &AppState, db: &Db, r: &ApiRequest) -> Result<ApiOk, ApiError> {
    super::targets::target_metadata(s, db, r)
}

/// `GET /api/v1/rules`: no rule groups yet; `type` is validated as Prometheus does.
pub fn rules(_s: &AppState, _db: &Db, r: &ApiRequest) -> Result<ApiOk, ApiError> {
    let typ = r.params.get("type").to_ascii_lowercase();
    if !typ.is_empty() && typ != "alert" && typ != "record" {
        return Err(ApiError::invalid_param("type", format!("not supported value {typ:?}")));
    }
    ApiOk::data(Json::obj(vec![("groups", Json::Arr(vec![]))]))
}

/// `GET /api/v1/alerts`: no alerts yet.
pub fn alerts(_s: &AppState, _db: &Db, _r: &ApiRequest) -> Result<ApiOk, ApiError> {
    ApiOk::data(Json::obj(vec![("alerts", Json::Arr(vec![]))]))
}

/// `GET /api/v1/alertmanagers`: none configured yet.
pub fn alertmanagers(_s: &AppState, _db: &Db, _r: &ApiRequest) -> Result<ApiOk, ApiError> {
    ApiOk::data(Json::obj(vec![
        ("activeAlertmanagers", Json::Arr(vec![])),
        ("droppedAlertmanagers", Json::Arr(vec![])),
    ]))
}

/// `GET /api/v1/status/config`: the text of the configuration in force (the built-in one's
/// when no file was given).
pub fn config(s: &AppState, _db: &Db, _r: &ApiRequest) -> Result<ApiOk, ApiError> {
    let cfg = s.config();
    let text = if cfg.original.is_empty() { s.shared().opts.config_yaml.as_str() } else { cfg.original.as_str() };
    // Secrets never leave the process: Prometheus renders them as `<secret>`.
    ApiOk::data(Json::obj(vec![("yaml", Json::str(crate::config::redact::redact(text)))]))
}

/// `GET /api/v1/status/flags`: every flag, values as strings.
pub fn flags(s: &AppState, _db: &Db, _r: &ApiRequest) -> Result<ApiOk, ApiError> {
    let pairs = s.shared().opts.flags.iter().map(|(k, v)| (k.clone(), Json::str(v))).collect();
    ApiOk::data(Json::Obj(pairs))
}

/// Formats a time as Go's `time.Time` JSON (RFC 3339 with nanoseconds, trailing zeros
/// trimmed, UTC).
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, dd) = civil_from_days(days);
    let mut s = format!("{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60);
    let nanos = d.subsec_nanos();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

/// `GET /api/v1/status/runtimeinfo`.
pub fn runtime_info(s: &AppState, db: &Db, _r: &ApiRequest) -> Result<ApiOk, ApiError> {
    let sh = s.shared();
    let cwd = std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let corruptions = db.metrics().wal_corruptions.load(std::sync::atomic::Ordering::Relaxed);
    let (reload_ok, last_config) = s.reload_status();
    ApiOk::data(Json::obj(vec![
        ("startTime", Json::str(rfc3339(sh.started))),
        ("CWD", Json::str(cwd)),
        ("reloadConfigSuccess", Json::Bool(reload_ok)),
        ("lastConfigTime", Json::str(rfc3339(last_config))),
        ("corruptionCount", Json::int(corruptions)),
        ("goroutineCount", Json::int(0u8)),
        ("GOMAXPROCS", Json::int(threads as u64)),
        ("GOMEMLIMIT", Json::int(i64::MAX)),
        ("GOGC", Json::str("")),
        ("GODEBUG", Json::str("")),
        ("storageRetention", Json::str(&sh.opts.storage_retention)),
    ]))
}

/// `GET /api/v1/status/buildinfo`: a Prometheus-compatible semver `version` (and no
/// `features` map, which would make Grafana treat us as Mimir).
pub fn build_info(_s: &AppState, _db: &Db, _r: &ApiRequest) -> Result<ApiOk, ApiError> {
    ApiOk::data(build_info_json())
}

/// The buildinfo object.
pub fn build_info_json() -> Json {
    Json::obj(vec![
        ("version", Json::str(EMULATED_PROMETHEUS_VERSION)),
        ("revision", Json::str(concat!("cairn-", env!("CARGO_PKG_VERSION")))),
        ("branch", Json::str("")),
        ("buildUser", Json::str("")),
        ("buildDate", Json::str("")),
        ("goVersion", Json::str("")),
        ("cairnVersion", Json::str(env!("CARGO_PKG_VERSION"))),
    ])
}

fn top(mut stats: Vec<(String, u64)>, n: usize) -> Json {
    stats.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    stats.truncate(n);
    Json::Arr(
        stats
            .into_iter()
            .map(|(name, v)| Json::obj(vec![("name", Json::str(name)), ("value", Json::int(v))]))
            .collect(),
    )
}

/// `GET /api/v1/status/tsdb`: head statistics and the top-`limit` (10) cardinality lists,
/// computed from the head's postings as Prometheus does.
pub fn tsdb(_s: &AppState, db: &Db, r: &ApiRequest) -> Result<ApiOk, ApiError> {
    let limit = match r.params.get("limit") {
        "" => 10,
        v => match v.parse::<usize>() {
            Ok(n) if n > 0 && n <= 10_000 => n,
            _ => return Err(ApiError::bad_data("limit must be a positive number")),
        },
    };
    let head = db.head();
    let (mut by_metric, mut by_name, mut mem_by_name, mut by_pair) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut num_pairs = 0u64;
    for name in head.label_names() {
        let values = head.label_values(&name);
        num_pairs += values.len() as u64;
        by_name.push((name.clone(), values.len() as u64));
        let mut bytes = 0u64;
        for v in values {
            let count = head.select_refs(&[Matcher::equal(name.clone(), v.clone())]).len();
            bytes += v.len() as u64 * count;
            if name == "__name__" {
                by_metric.push((v.clone(), count));
            }
            by_pair.push((format!("{name}={v}"), count));
        }
        mem_by_name.push((name, bytes));
    }
    let chunks = db.metrics().head_chunks.load(std::sync::atomic::Ordering::Relaxed);
    // An empty head starts where persisted time ends, as Prometheus reports it.
    let (head_min, head_max) = match db.blocks().iter().map(|b| b.max_time).max() {
        Some(end) if head.min_time() > head.max_time() => (end, end),
        _ => (head.min_time(), head.max_time()),
    };
    let head_stats = Json::obj(vec![
        ("numSeries", Json::int(head.num_series() as u64)),
        ("numLabelPairs", Json::int(num_pairs)),
        ("chunkCount", Json::int(chunks)),
        ("minTime", Json::int(head_min)),
        ("maxTime", Json::int(head_max)),
    ]);
    ApiOk::data(Json::obj(vec![
        ("headStats", head_stats),
        ("seriesCountByMetricName", top(by_metric, limit)),
        ("labelValueCountByLabelName", top(by_name, limit)),
        ("memoryInBytesByLabelName", top(mem_by_name, limit)),
        ("seriesCountByLabelValuePair", top(by_pair, limit)),
    ]))
}

/// `GET /api/v1/status/walreplay`: answers before the server is ready, with the first and
/// last WAL segment to replay and the one being read (all 0 before replay starts).
pub async fn wal_replay(State(s): State<AppState>) -> Response {
    let (min, max, current) = s.shared().opts.wal_replay.snapshot();
    success_response(ApiOk::Data {
        data: Json::obj(vec![("min", Json::int(min)), ("max", Json::int(max)), ("current", Json::int(current))]),
        warnings: Vec::new(),
        infos: Vec::new(),
    })
}

fn check_admin(s: &AppState) -> Result<(), ApiError> {
    if s.shared().opts.web.enable_admin_api {
        Ok(())
    } else {
        Err(ApiError::new(ErrorType::Unavailable, "admin APIs disabled"))
    }
}

/// `POST|PUT /api/v1/admin/tsdb/delete_series`: tombstones the samples of the series
/// matching any `match[]` in `[start, end]`; 204.
pub fn delete_series(s: &AppState, db: &Db, r: &ApiRequest) -> Result<ApiOk, ApiError> {
    check_admin(s)?;
    let matches = r.params.all("match[]");
    if matches.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let start = r.params.time_or("start", MIN_TIME_MS)?;
    let end = r.params.time_or("end", MAX_TIME_MS)?;
    let sets = parse_matchers(&matches).map_err(|e| ApiError::invalid_param("match[]", e))?;
    for set in sets {
        db.delete(&set, start, end).map_err(|e| ApiError::new(ErrorType::Internal, e))?;
    }
    Ok(ApiOk::NoContent)
}

/// `POST|PUT /api/v1/admin/tsdb/clean_tombstones`: rewrites blocks without deleted data; 204.
pub fn clean_tombstones(s: &AppState, db: &Db, _r: &ApiRequest) -> Result<ApiOk, ApiError> {
    check_admin(s)?;
    db.clean_tombstones().map_err(|e| ApiError::new(ErrorType::Internal, e))?;
    Ok(ApiOk::NoContent)
}

/// `POST|PUT /api/v1/admin/tsdb/snapshot`: writes `<data>/snapshots/<name>` (with the head
/// unless `skip_head=true`) and returns `{"name": ...}`.
pub fn snapshot(s: &AppState, db: &Db, r: &ApiRequest) -> Result<ApiOk, ApiError> {
    check_admin(s)?;
    let skip_head = match r.params.get("skip_head") {
        "" => false,
        v => parse_go_bool(v).ok_or_else(|| {
            ApiError::invalid_param(
                "skip_head",
                format!("unable to parse boolean: strconv.ParseBool: parsing {v:?}: invalid syntax"),
            )
        })?,
    };
    let now = SystemTime::now();
    let stamp = rfc3339(now).replace(['-', ':'], "");
    let stamp = stamp.split('.').next().unwrap_or(&stamp).trim_end_matches('Z').to_string() + "Z";
    let name = format!("{stamp}-{:016x}", random_u64());
    let dir = s.shared().opts.data_dir.join("snapshots").join(&name);
    db.snapshot(&dir, !skip_head).map_err(|e| ApiError::new(ErrorType::Internal, format!("create snapshot: {e}")))?;
    ApiOk::data(Json::obj(vec![("name", Json::str(name))]))
}

fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.finish() & (i64::MAX as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_matches_go_time_json() {
        let cases: &[(u64, u32, &str)] = &[
            (0, 0, "1970-01-01T00:00:00Z"),
            (1_435_781_451, 781_000_000, "2015-07-01T20:10:51.781Z"),
            (951_782_400, 5, "2000-02-29T00:00:00.000000005Z"),
        ];
        for (secs, nanos, want) in cases {
            let t = UNIX_EPOCH + Duration::new(*secs, *nanos);
            assert_eq!(rfc3339(t), *want);
        }
    }

    #[test]
    fn top_sorts_by_count_then_name() {
        let j = top(vec![("b".into(), 1), ("a".into(), 1), ("c".into(), 5)], 2);
        assert_eq!(j.render(), r#"[{"name":"c","value":5},{"name":"a","value":1}]"#);
    }
}
