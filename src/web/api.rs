//! `/api/v1` query endpoints: `query`, `query_range`, `format_query`, `series`, `labels`,
//! `label/<name>/values`, `query_exemplars`, and the routing table for all of `/api/v1`
//! (status and admin endpoints live in [`super::status`]).

use super::json::{self, Json};
use super::params::{ApiError, ErrorType, MAX_TIME_MS, MIN_TIME_MS, parse_duration_param, parse_matchers};
use super::{ApiOk, ApiRequest, AppState, Kind, endpoint, status};
use crate::model::Labels;
use crate::promql::ast::Expr;
use crate::promql::engine::{Engine, QueryError, QueryResult};
use crate::promql::parse_expr;
use crate::remote::fanout::RemoteReaders;
use crate::tsdb::Db;
use axum::Router;
use axum::http::Method;
use std::collections::BTreeSet;
use std::time::Duration;

/// Every `/api/v1` route.
pub fn routes() -> Router<AppState> {
    let gp = &[Method::GET, Method::POST][..];
    let g = &[Method::GET][..];
    let pp = &[Method::POST, Method::PUT][..];
    Router::new()
        .route("/query", endpoint(gp, Kind::Query, query))
        .route("/query_range", endpoint(gp, Kind::Query, query_range))
        .route("/query_exemplars", endpoint(gp, Kind::Other, query_exemplars))
        .route("/format_query", endpoint(gp, Kind::Light, format_query))
        .route("/parse_query", endpoint(gp, Kind::Light, parse_query))
        .route("/series", endpoint(gp, Kind::Other, series))
        .route("/labels", endpoint(gp, Kind::Light, labels))
        .route("/label/{name}/values", endpoint(g, Kind::Light, label_values))
        .route("/metadata", endpoint(g, Kind::Other, status::metadata))
        .route("/targets", endpoint(g, Kind::Other, status::targets))
        .route("/targets/metadata", endpoint(g, Kind::Other, status::target_metadata))
        .route("/rules", endpoint(g, Kind::Other, status::rules))
        .route("/alerts", endpoint(g, Kind::Other, status::alerts))
        .route("/alertmanagers", endpoint(g, Kind::Other, status::alertmanagers))
        .route("/status/config", endpoint(g, Kind::Other, status::config))
        .route("/status/flags", endpoint(g, Kind::Light, status::flags))
        .route("/status/runtimeinfo", endpoint(g, Kind::Light, status::runtime_info))
        .route("/status/buildinfo", endpoint(g, Kind::Light, status::build_info))
        .route("/status/tsdb", endpoint(g, Kind::Other, status::tsdb))
        .route("/status/walreplay", axum::routing::get(status::wal_replay))
        .route("/admin/tsdb/delete_series", endpoint(pp, Kind::Other, status::delete_series))
        .route("/admin/tsdb/clean_tombstones", endpoint(pp, Kind::Other, status::clean_tombstones))
        .route("/admin/tsdb/snapshot", endpoint(pp, Kind::Other, status::snapshot))
}

/// An engine for one request: the server's options with the request's `timeout` (never
/// longer than `--query.timeout`) and `lookback_delta`.
fn request_engine(s: &AppState, r: &ApiRequest) -> Result<Engine, ApiError> {
    let mut opts = s.shared().opts.engine.clone();
    let to = r.params.get("timeout");
    if !to.is_empty() {
        let ms = parse_duration_param(to).map_err(|e| ApiError::invalid_param("timeout", e))?;
        let asked = Duration::from_millis(ms.max(0) as u64);
        opts.timeout = opts.timeout.min(asked);
    }
    let lb = r.params.get("lookback_delta");
    if !lb.is_empty() {
        let ms = parse_duration_param(lb).map_err(|e| ApiError::invalid_param("lookback_delta", e))?;
        if ms < 0 {
            return Err(ApiError::invalid_param("lookback_delta", "lookback delta must be positive"));
        }
        if ms > 0 {
            opts.lookback_delta_ms = ms;
        }
    }
    Ok(Engine::new(opts).with_cancel(r.cancel.clone()))
}

fn query_error(e: QueryError) -> ApiError {
    match e {
        QueryError::Parse(p) => ApiError::invalid_param("query", p),
        QueryError::BadQuery(m) => ApiError::bad_data(m),
        other => ApiError::new(ErrorType::from_engine(other.error_type()), other),
    }
}

fn query_data(res: QueryResult, limit: Option<usize>) -> Result<ApiOk, ApiError> {
    use crate::promql::engine::Value;
    let mut value = res.value;
    let mut warnings = res.annotations.warnings();
    // Prometheus 3.2's `limit`: truncate vectors and matrices, with a warning.
    if let Some(n) = limit {
        let truncated = match &mut value {
            Value::Vector(v) if v.len() > n => {
                v.truncate(n);
                true
            }
            Value::Matrix(m) if m.len() > n => {
                m.truncate(n);
                true
            }
            _ => false,
        };
        if truncated {
            warnings.push(format!("results truncated due to limit of {n}"));
        }
    }
    let mut out = String::from("{\"resultType\":\"");
    out.push_str(json::result_type(&value));
    out.push_str("\",\"result\":");
    json::write_value(&mut out, &value);
    out.push('}');
    Ok(ApiOk::Data { data: Json::Raw(out), warnings, infos: res.annotations.infos() })
}

/// Local storage plus the configured `remote_read` endpoints.
fn fanout<'a>(db: &'a Db, remotes: &'a RemoteReaders) -> crate::remote::fanout::Fanout<'a, Db> {
    // The oldest sample held locally: the first block's start, else the head's.
    let local_start = db.blocks().iter().map(|b| b.min_time).min().or_else(|| {
        let t = db.head().min_time();
        (t != i64::MAX).then_some(t)
    });
    crate::remote::fanout::Fanout { local: db, local_start, remotes }
}

/// `GET|POST /api/v1/query`: `query`, `time` (default now), `timeout`, `lookback_delta`,
/// `limit`.
pub fn query(s: &AppState, db: &Db, r: &ApiRequest) -> Result<ApiOk, ApiError> {
    let now = now_ms();
    let t = r.params.time_or("time", now)?;
    let limit = r.params.limit()?;
    let engine = request_engine(s, r)?;
    let remotes = s.remote_read();
    let res = if remotes.is_empty() {
        engine.instant(db, r.params.get("query"), t)
    } else {
        engine.instant(&fanout(db, &remotes), r.params.get("query"), t)
    }
    .map_err(query_error)?;
    query_data(res, limit)
}

/// `GET|POST /api/v1/query_range`: `query`, `start`, `end`, `step`, `timeout`,
/// `lookback_delta`, `limit`.
pub fn query_range(s: &AppState, db: &Db, r: &ApiRequest) -> Result<ApiOk, ApiError> {
    let p = &r.params;
    let start = p.time("start")?;
    let end = p.time("end")?;
    if end < start {
        return Err(ApiError::invalid_param("end", "end timestamp must not be before start time"));
    }
    let step = parse_duration_param(p.get("step")).map_err(|e| ApiError::invalid_param("step", e))?;
    if step <= 0 {
        return Err(ApiError::invalid_param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    // Prometheus compares durations in nanoseconds; milliseconds give the same quotient.
    if (end - start) / step > crate::promql::engine::MAX_POINTS_PER_SERIES {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let limit = p.limit()?;
    let engine = request_engine(s, r)?;
    let remotes = s.remote_read();
    let res = if remotes.is_empty() {
        engine.range(db, p.get("query"), start, end, step)
    } else {
        engine.range(&fanout(db, &remotes), p.get("query"), start, end, step)
    }
    .map_err(query_error)?;
    query_data(res, limit)
}

/// `GET|POST /api/v1/format_query`: the query printed in canonical form.
pub fn format_query(s: &AppState, _db: &Db, r: &ApiRequest) -> Result<ApiOk, ApiError> {
    let expr = parse_expr(r.params.get("query"), &s.shared().opts.engine.parser)
        .map_err(|e| ApiError::invalid_param("query", e))?;
    ApiOk::data(Json::str(expr.to_string()))
}

/// `GET|POST /api/v1/parse_query`: the query's syntax tree as JSON.
pub fn parse_query(s: &AppState, _db: &Db, r: &ApiRequest) -> Result<ApiOk, ApiError> {
    ApiOk::data(super::parse_query::parse_query(r.params.get("query"), &s.shared().opts.engine.parser)?)
}

/// `GET|POST /api/v1/query_exemplars`: the stored exemplars in `[start, end]` of the series
/// selected by any vector selector in `query`, as Prometheus 2.42's `queryExemplars`: a query
/// without selectors answers 204, an empty or disabled storage `[]`.
pub fn query_exemplars(s: &AppState, db: &Db, r: &ApiRequest) -> Result<ApiOk, ApiError> {
    let start = r.params.time_or("start", MIN_TIME_MS)?;
    let end = r.params.time_or("end", MAX_TIME_MS)?;
    if end < start {
        return Err(ApiError::bad_data("end timestamp must not be before start timestamp"));
    }
    let expr = parse_expr(r.params.get("query"), &s.shared().opts.engine.parser)
        .map_err(|e| ApiError::bad_data(e.to_string()))?;
    let mut sets = Vec::new();
    extract_selectors(&expr, &mut sets);
    if sets.is_empty() {
        return Ok(ApiOk::NoContent);
    }
    let mut out = String::from("[");
    for (i, series) in db.select_exemplars(start, end, &sets).iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"seriesLabels\":");
        json::write_labels(&mut out, &series.series_labels);
        out.push_str(",\"exemplars\":[");
        for (j, e) in series.exemplars.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push_str("{\"labels\":");
            json::write_labels(&mut out, &e.labels);
            out.push_str(",\"value\":");
            json::write_str(&mut out, &json::format_value(e.value));
            out.push_str(",\"timestamp\":");
            json::write_timestamp(&mut out, e.ts);
            out.push('}');
        }
        out.push_str("]}");
    }
    out.push(']');
    ApiOk::data(Json::Raw(out))
}

/// The matchers of every vector selector in `expr` (range selectors' included), as
/// Prometheus's `parser.ExtractSelectors`.
fn extract_selectors(expr: &Expr, out: &mut Vec<Vec<crate::model::Matcher>>) {
    match expr {
        Expr::VectorSelector(v) => out.push(v.matchers.clone()),
        Expr::MatrixSelector(m) => out.push(m.selector.matchers.clone()),
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                extract_selectors(p, out);
            }
            extract_selectors(&a.expr, out);
        }
        Expr::Binary(b) => {
            extract_selectors(&b.lhs, out);
            extract_selectors(&b.rhs, out);
        }
        Expr::Call(c) => c.args.iter().for_each(|a| extract_selectors(a, out)),
        Expr::Subquery(sq) => extract_selectors(&sq.expr, out),
        Expr::Paren(p) => extract_selectors(&p.expr, out),
        Expr::Unary(u) => extract_selectors(&u.expr, out),
        Expr::Number(_) | Expr::String(_) | Expr::Duration(_) => {}
    }
}

fn range_params(r: &ApiRequest) -> Result<(i64, i64), ApiError> {
    let start = r.params.time_or("start", MIN_TIME_MS)?;
    let end = r.params.time_or("end", MAX_TIME_MS)?;
    Ok((start, end))
}

fn storage_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorType::Execution, e)
}

/// `GET|POST /api/v1/series`: the label sets of series matching any `match[]` in
/// `[start, end]`, sorted and deduplicated; `limit` truncates with a warning.
pub fn series(_s: &AppState, db: &Db, r: &ApiRequest) -> Result<ApiOk, ApiError> {
    let matches = r.params.all("match[]");
    if matches.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let (start, end) = range_params(r)?;
    let limit = r.params.limit()?;
    let sets = parse_matchers(&matches).map_err(|e| ApiError::invalid_param("match[]", e))?;
    let q = db.querier(start, end);
    // Each selection comes sorted and unique; several are merged by one stable sort.
    let mut all: Vec<Labels> = Vec::new();
    for set in &sets {
        all.extend(q.select(set).map_err(storage_error)?.into_iter().map(|s| s.into_labels()));
    }
    if sets.len() > 1 {
        all.sort();
        all.dedup();
    }
    let mut warnings = Vec::new();
    let mut out = String::from("[");
    for (i, l) in all.iter().enumerate() {
        if limit.is_some_and(|n| i >= n) {
            warnings.push("results truncated due to limit".to_string());
            break;
        }
        if i > 0 {
            out.push(',');
        }
        json::write_labels(&mut out, l);
    }
    out.push(']');
    Ok(ApiOk::Data { data: Json::Raw(out), warnings, infos: Vec::new() })
}

fn truncated(mut items: Vec<String>, limit: Option<usize>) -> ApiOk {
    let mut warnings = Vec::new();
    if let Some(n) = limit
        && items.len() > n
    {
        items.truncate(n);
        warnings.push("results truncated due to limit".to_string());
    }
    ApiOk::Data { data: Json::strs(&items), warnings, infos: Vec::new() }
}

/// `GET|POST /api/v1/labels`: label names, of the series matching any `match[]` when given.
pub fn labels(_s: &AppState, db: &Db, r: &ApiRequest) -> Result<ApiOk, ApiError> {
    let (start, end) = range_params(r)?;
    let limit = r.params.limit()?;
    let sets = parse_matchers(&r.params.all("match[]")).map_err(ApiError::bad_data)?;
    let q = db.querier(start, end);
    let names: Vec<String> = if sets.is_empty() {
        q.label_names(&[]).map_err(storage_error)?
    } else {
        let mut all = BTreeSet::new();
        for set in &sets {
            all.extend(q.label_names(set).map_err(storage_error)?);
        }
        all.into_iter().collect()
    };
    Ok(truncated(names, limit))
}

/// Whether `name` is a legacy label name (`[a-zA-Z_][a-zA-Z0-9_]*`), as Prometheus 2.x
/// requires in `/label/<name>/values`.
fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `GET /api/v1/label/<name>/values`: values of a label, of the series matching any
/// `match[]` when given.
pub fn label_values(_s: &AppState, db: &Db, r: &ApiRequest) -> Result<ApiOk, ApiError> {
    let name = r.path_arg.as_str();
    if !is_label_name(name) {
        return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
    }
    let (start, end) = range_params(r)?;
    let limit = r.params.limit()?;
    let sets = parse_matchers(&r.params.all("match[]")).map_err(ApiError::bad_data)?;
    let q = db.querier(start, end);
    let values: Vec<String> = if sets.is_empty() {
        q.label_values(name, &[]).map_err(storage_error)?
    } else {
        let mut all = BTreeSet::new();
        for set in &sets {
            all.extend(q.label_values(name, set).map_err(storage_error)?);
        }
        all.into_iter().collect()
    };
    Ok(truncated(values, limit))
}

/// Milliseconds since the epoch now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
