//! Router tests through `oneshot`: every endpoint's happy path and its main errors, against
//! a small database whose expected answers are worked out by hand in the comments.

use super::*;
use crate::model::Labels;
use crate::tsdb::Options;
use axum::body::Body;
use axum::http::Request as HttpRequest;
use tower::ServiceExt;

/// The fixture: every 15 s from 0 to 300 s,
/// - `up{instance="x",job="a"}` = 1,
/// - `up{instance="y",job="a"}` = 0,
/// - `http_requests_total{code="200"}` = t in seconds (a counter growing 1/s).
fn fixture_db(dir: &std::path::Path) -> Db {
    let db = Db::open(dir, Options { background_interval: None, ..Options::default() }).unwrap();
    let up_x = Labels::from_pairs(&[("__name__", "up"), ("instance", "x"), ("job", "a")]).unwrap();
    let up_y = Labels::from_pairs(&[("__name__", "up"), ("instance", "y"), ("job", "a")]).unwrap();
    let req = Labels::from_pairs(&[("__name__", "http_requests_total"), ("code", "200")]).unwrap();
    let mut app = db.appender();
    for i in 0..=20i64 {
        let t = i * 15_000;
        app.append(&up_x, t, 1.0).unwrap();
        app.append(&up_y, t, 0.0).unwrap();
        app.append(&req, t, (t / 1000) as f64).unwrap();
    }
    app.commit().unwrap();
    db
}

struct Fixture {
    _dir: tempfile::TempDir,
    state: AppState,
    router: Router,
}

fn fixture_with(web: WebOptions) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = fixture_db(dir.path());
    let mut flags = BTreeMap::new();
    flags.insert("web.enable-lifecycle".to_string(), web.enable_lifecycle.to_string());
    let state = AppState::new(StateOptions {
        web,
        flags,
        config_yaml: "global: {}\n".into(),
        data_dir: dir.path().to_path_buf(),
        storage_retention: "15d".into(),
        // A replay that stopped half-way, so the status shows distinct numbers.
        wal_replay: Arc::new(crate::tsdb::wal::ReplayProgress { min: 3.into(), max: 5.into(), current: 4.into() }),
        ..StateOptions::default()
    });
    state.set_db(Arc::new(db));
    let router = app(state.clone());
    Fixture { _dir: dir, state, router }
}

fn fixture() -> Fixture {
    fixture_with(WebOptions::default())
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn send(router: &Router, req: HttpRequest<Body>) -> Resp {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20).await.unwrap();
    Resp { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

async fn get(router: &Router, uri: &str) -> Resp {
    send(router, HttpRequest::get(uri).body(Body::empty()).unwrap()).await
}

async fn post_form(router: &Router, uri: &str, form: &str) -> Resp {
    let req = HttpRequest::post(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .unwrap();
    send(router, req).await
}

fn ok(data: &str) -> String {
    format!(r#"{{"status":"success","data":{data}}}"#)
}

fn err(typ: &str, msg: &str) -> String {
    Json::obj(vec![("status", Json::str("error")), ("errorType", Json::str(typ)), ("error", Json::str(msg))]).render()
}

#[tokio::test]
async fn query_endpoints_answer_exact_json() {
    let f = fixture();
    let cases: &[(&str, &str)] = &[
        // Both `up` series at t=300 s, sorted by labels; instant samples carry the eval time.
        (
            "/api/v1/query?query=up&time=300",
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","instance":"x","job":"a"},"value":[300,"1"]},{"metric":{"__name__":"up","instance":"y","job":"a"},"value":[300,"0"]}]}"#,
        ),
        // 1 + 0.
        (
            "/api/v1/query?query=sum(up)&time=300",
            r#"{"resultType":"vector","result":[{"metric":{},"value":[300,"1"]}]}"#,
        ),
        // Grafana's health check.
        ("/api/v1/query?query=1%2B1&time=4", r#"{"resultType":"scalar","result":[4,"2"]}"#),
        // A counter growing 1/s with samples every 15 s: over (240, 300] the samples at
        // 255..300 give an increase of 45 over 45 s, extrapolated by 15 s to the window start;
        // Prometheus computes 45 * ((60/45) / 60), which is 0.9999999999999999 in float64.
        (
            "/api/v1/query?query=rate(http_requests_total%5B1m%5D)&time=300",
            r#"{"resultType":"vector","result":[{"metric":{"code":"200"},"value":[300,"0.9999999999999999"]}]}"#,
        ),
        // RFC 3339 time, fractional seconds kept to the millisecond.
        (
            "/api/v1/query?query=time()&time=1970-01-01T00:01:40.5Z",
            r#"{"resultType":"scalar","result":[100.500,"100.5"]}"#,
        ),
        ("/api/v1/query?query=%22hi%22&time=1", r#"{"resultType":"string","result":[1,"hi"]}"#),
        // A range vector at t=30 s: the samples in (0, 30].
        (
            "/api/v1/query?query=up%7Binstance%3D%22x%22%7D%5B30s%5D&time=30",
            r#"{"resultType":"matrix","result":[{"metric":{"__name__":"up","instance":"x","job":"a"},"values":[[15,"1"],[30,"1"]]}]}"#,
        ),
        // Range query: steps 0, 30, 60.
        (
            "/api/v1/query_range?query=up%7Binstance%3D%22x%22%7D&start=0&end=60&step=30",
            r#"{"resultType":"matrix","result":[{"metric":{"__name__":"up","instance":"x","job":"a"},"values":[[0,"1"],[30,"1"],[60,"1"]]}]}"#,
        ),
        // Step as a duration; values of the counter at 0 and 60 s.
        (
            "/api/v1/query_range?query=http_requests_total&start=0&end=60&step=1m",
            r#"{"resultType":"matrix","result":[{"metric":{"__name__":"http_requests_total","code":"200"},"values":[[0,"0"],[60,"60"]]}]}"#,
        ),
        // Division by zero renders as Go does.
        ("/api/v1/query?query=1%2F0&time=1", r#"{"resultType":"scalar","result":[1,"+Inf"]}"#),
        ("/api/v1/query?query=-1%2F0&time=1", r#"{"resultType":"scalar","result":[1,"-Inf"]}"#),
        ("/api/v1/query?query=0%2F0&time=1", r#"{"resultType":"scalar","result":[1,"NaN"]}"#),
        ("/api/v1/format_query?query=sum(up)by(job)", r#""sum by (job) (up)""#),
    ];
    for (uri, want) in cases {
        let r = get(&f.router, uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.body);
        assert_eq!(r.body, ok(want), "{uri}");
        assert_eq!(r.headers.get("content-type").unwrap(), "application/json");
    }
}

#[tokio::test]
async fn post_form_equals_get() {
    let f = fixture();
    let g = get(&f.router, "/api/v1/query_range?query=sum(up)&start=0&end=30&step=15").await;
    let p = post_form(&f.router, "/api/v1/query_range", "query=sum(up)&start=0&end=30&step=15").await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.body, p.body);
    assert_eq!(p.body, ok(r#"{"resultType":"matrix","result":[{"metric":{},"values":[[0,"1"],[15,"1"],[30,"1"]]}]}"#));
    // Body values win over the query string, as in Go's r.Form.
    let p = post_form(&f.router, "/api/v1/query?query=sum(up)&time=1", "query=count(up)").await;
    assert_eq!(p.body, ok(r#"{"resultType":"vector","result":[{"metric":{},"value":[1,"2"]}]}"#));
}

#[tokio::test]
async fn query_errors_have_prometheus_types_and_statuses() {
    let f = fixture();
    let bad = |m: &str| (StatusCode::BAD_REQUEST, err("bad_data", m));
    let cases: Vec<(&str, (StatusCode, String))> = vec![
        (
            "/api/v1/query_range?query=up&start=abc&end=1&step=1",
            bad(r#"invalid parameter "start": cannot parse "abc" to a valid timestamp"#),
        ),
        (
            "/api/v1/query_range?query=up&start=1&end=&step=1",
            bad(r#"invalid parameter "end": cannot parse "" to a valid timestamp"#),
        ),
        (
            "/api/v1/query_range?query=up&start=10&end=1&step=1",
            bad(r#"invalid parameter "end": end timestamp must not be before start time"#),
        ),
        (
            "/api/v1/query_range?query=up&start=1&end=10&step=x",
            bad(r#"invalid parameter "step": cannot parse "x" to a valid duration"#),
        ),
        (
            "/api/v1/query_range?query=up&start=1&end=10&step=0",
            bad(
                r#"invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer"#,
            ),
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=100000&step=1",
            bad(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            ),
        ),
        (
            "/api/v1/query?query=up&time=1e400",
            bad(
                r#"invalid parameter "time": Invalid time value for 'time': cannot parse "1e400" to a valid timestamp"#,
            ),
        ),
        (
            "/api/v1/query?query=up&timeout=zz",
            bad(r#"invalid parameter "timeout": cannot parse "zz" to a valid duration"#),
        ),
        ("/api/v1/series", bad("no match[] parameter provided")),
        ("/api/v1/label/1bad/values", bad(r#"invalid label name: "1bad""#)),
        ("/api/v1/metadata?limit=x", bad("limit must be a number")),
        ("/api/v1/rules?type=x", bad(r#"invalid parameter "type": not supported value "x""#)),
        (
            "/api/v1/series?match[]=%7Bjob%3D~%22.*%22%7D",
            bad(r#"invalid parameter "match[]": match[] must contain at least one non-empty matcher"#),
        ),
        (
            "/api/v1/admin/tsdb/clean_tombstones",
            (StatusCode::SERVICE_UNAVAILABLE, err("unavailable", "admin APIs disabled")),
        ),
    ];
    for (uri, (status, body)) in cases {
        let r = if uri.contains("/admin/") { post_form(&f.router, uri, "").await } else { get(&f.router, uri).await };
        assert_eq!(r.status, status, "{uri}: {}", r.body);
        assert_eq!(r.body, body, "{uri}");
    }
    // Parse errors keep the parser's position and text behind Prometheus's prefix.
    let r = get(&f.router, "/api/v1/query?query=sum(").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains(r#""errorType":"bad_data","error":"invalid parameter \"query\": 1:"#), "{}", r.body);
    // A range query of a range vector.
    let r = get(&f.router, "/api/v1/query_range?query=up%5B1m%5D&start=0&end=1&step=1").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    // Too many samples is an execution error (422).
    let small = fixture_with(WebOptions { max_query_concurrency: 1, ..WebOptions::default() });
    let mut opts = small.state.shared().opts.engine.clone();
    opts.max_samples = 1;
    let state = AppState::new(StateOptions { engine: opts, ..StateOptions::default() });
    state.set_db(small.state.db().unwrap());
    let r = get(&app(state), "/api/v1/query?query=up&time=300").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains(r#""errorType":"execution""#));
}

#[tokio::test]
async fn series_labels_and_values() {
    let f = fixture();
    let cases: &[(&str, &str)] = &[
        (
            "/api/v1/series?match[]=up",
            r#"[{"__name__":"up","instance":"x","job":"a"},{"__name__":"up","instance":"y","job":"a"}]"#,
        ),
        // Two selectors, one overlapping: deduplicated and sorted.
        (
            "/api/v1/series?match[]=up%7Binstance%3D%22y%22%7D&match[]=%7Bcode%3D%22200%22%7D&match[]=up%7Bjob%3D%22a%22%7D&start=0&end=300",
            r#"[{"__name__":"http_requests_total","code":"200"},{"__name__":"up","instance":"x","job":"a"},{"__name__":"up","instance":"y","job":"a"}]"#,
        ),
        // Nothing in a window after the data.
        ("/api/v1/series?match[]=up&start=1000&end=2000", "[]"),
        ("/api/v1/labels", r#"["__name__","code","instance","job"]"#),
        ("/api/v1/labels?match[]=up", r#"["__name__","instance","job"]"#),
        ("/api/v1/label/__name__/values", r#"["http_requests_total","up"]"#),
        ("/api/v1/label/instance/values?match[]=up%7Binstance%3D%22x%22%7D", r#"["x"]"#),
        ("/api/v1/label/nope/values", "[]"),
    ];
    for (uri, want) in cases {
        let r = get(&f.router, uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.body);
        assert_eq!(r.body, ok(want), "{uri}");
    }
    let r = get(&f.router, "/api/v1/label/__name__/values?limit=1").await;
    assert_eq!(
        r.body,
        r#"{"status":"success","data":["http_requests_total"],"warnings":["results truncated due to limit"]}"#
    );
    let r = post_form(&f.router, "/api/v1/series", "match[]=http_requests_total").await;
    assert_eq!(r.body, ok(r#"[{"__name__":"http_requests_total","code":"200"}]"#));
}

#[tokio::test]
async fn stub_and_status_endpoints() {
    let f = fixture();
    let cases: &[(&str, &str)] = &[
        // Metadata received by remote write is process-wide (other tests write some), so
        // ask for a family nobody writes: no scrape manager, nothing scraped.
        ("/api/v1/metadata?metric=web_tests_nothing_scraped", "{}"),
        ("/api/v1/query_exemplars?query=test&start=1600000000000&end=1600000001000", "[]"),
        ("/api/v1/targets", r#"{"activeTargets":[],"droppedTargets":[]}"#),
        ("/api/v1/targets/metadata", "[]"),
        ("/api/v1/rules", r#"{"groups":[]}"#),
        ("/api/v1/alerts", r#"{"alerts":[]}"#),
        ("/api/v1/alertmanagers", r#"{"activeAlertmanagers":[],"droppedAlertmanagers":[]}"#),
        ("/api/v1/status/config", r#"{"yaml":"global: {}\n"}"#),
        ("/api/v1/status/flags", r#"{"web.enable-lifecycle":"false"}"#),
        ("/api/v1/status/walreplay", r#"{"min":3,"max":5,"current":4}"#),
        // By hand: 3 series; label pairs __name__ x2, code x1, instance x2, job x1 = 6;
        // bytes by name: __name__ 2*len("up") + len("http_requests_total") = 23, code 3,
        // instance 1+1, job 2*1.
        (
            "/api/v1/status/tsdb",
            concat!(
                r#"{"headStats":{"numSeries":3,"numLabelPairs":6,"chunkCount":3,"minTime":0,"maxTime":300000},"#,
                r#""seriesCountByMetricName":[{"name":"up","value":2},{"name":"http_requests_total","value":1}],"#,
                r#""labelValueCountByLabelName":[{"name":"__name__","value":2},{"name":"instance","value":2},{"name":"code","value":1},{"name":"job","value":1}],"#,
                r#""memoryInBytesByLabelName":[{"name":"__name__","value":23},{"name":"code","value":3},{"name":"instance","value":2},{"name":"job","value":2}],"#,
                r#""seriesCountByLabelValuePair":[{"name":"__name__=up","value":2},{"name":"job=a","value":2},{"name":"__name__=http_requests_total","value":1},{"name":"code=200","value":1},{"name":"instance=x","value":1},{"name":"instance=y","value":1}]}"#
            ),
        ),
    ];
    for (uri, want) in cases {
        let r = get(&f.router, uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.body);
        assert_eq!(r.body, ok(want), "{uri}");
    }
    let r = get(&f.router, "/api/v1/status/buildinfo").await;
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let version = v["data"]["version"].as_str().unwrap();
    let parts: Vec<u64> = version.split('.').map(|p| p.parse().unwrap()).collect();
    assert!(parts.len() == 3 && parts[0] == 2 && parts[1] >= 24, "semver Prometheus >= 2.24: {version}");
    assert!(v["data"].get("features").is_none(), "a features map makes Grafana assume Mimir");
    let r = get(&f.router, "/api/v1/status/runtimeinfo").await;
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["data"]["storageRetention"], "15d");
    assert!(v["data"]["startTime"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn lifecycle_routes() {
    let f = fixture();
    assert_eq!(get(&f.router, "/-/healthy").await.body, "Prometheus Server is Healthy.\n");
    assert_eq!(get(&f.router, "/-/ready").await.body, "Prometheus Server is Ready.\n");
    let r = post_form(&f.router, "/-/reload", "").await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::FORBIDDEN, "Lifecycle API is not enabled."));
    assert_eq!(get(&f.router, "/-/reload").await.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post_form(&f.router, "/-/quit", "").await.status, StatusCode::FORBIDDEN);
    assert_eq!(get(&f.router, "/nope").await.status, StatusCode::NOT_FOUND);

    let f = fixture_with(WebOptions { enable_lifecycle: true, ..WebOptions::default() });
    assert_eq!(post_form(&f.router, "/-/reload", "").await.status, StatusCode::OK);
    let quit = f.state.clone();
    let waiter = tokio::spawn(async move { quit.quit_requested().await });
    let r = post_form(&f.router, "/-/quit", "").await;
    assert_eq!(r.status, StatusCode::OK);
    tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await.unwrap().unwrap();
}

#[tokio::test]
async fn not_ready_until_the_database_is_open() {
    let state = AppState::new(StateOptions::default());
    let router = app(state.clone());
    for uri in ["/-/ready", "/api/v1/query?query=1", "/api/v1/status/buildinfo", "/federate?match[]=up"] {
        let r = get(&router, uri).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{uri}");
    }
    assert_eq!(get(&router, "/-/healthy").await.status, StatusCode::OK);
    let r = get(&router, "/api/v1/status/walreplay").await;
    assert_eq!(r.body, ok(r#"{"min":0,"max":0,"current":0}"#));
    assert_eq!(get(&router, "/metrics").await.status, StatusCode::OK);
}

#[tokio::test]
async fn admin_endpoints_with_the_flag() {
    let f = fixture_with(WebOptions { enable_admin_api: true, ..WebOptions::default() });
    let r = post_form(&f.router, "/api/v1/admin/tsdb/delete_series", "").await;
    assert_eq!(r.body, err("bad_data", "no match[] parameter provided"));
    let r = post_form(&f.router, "/api/v1/admin/tsdb/delete_series", "match[]=up%7Binstance%3D%22y%22%7D").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    // The deleted series has no samples left. (It is still listed by /series until its head
    // data is truncated: the querier does not drop fully tombstoned series.)
    let r = get(&f.router, "/api/v1/query?query=up&time=300").await;
    assert_eq!(
        r.body,
        ok(
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","instance":"x","job":"a"},"value":[300,"1"]}]}"#
        )
    );
    let r = send(&f.router, HttpRequest::put("/api/v1/admin/tsdb/clean_tombstones").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = post_form(&f.router, "/api/v1/admin/tsdb/snapshot", "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let name = v["data"]["name"].as_str().unwrap();
    // 20060102T150405Z-<16 hex digits>.
    assert_eq!(name.len(), 16 + 1 + 16, "{name}");
    assert_eq!(&name[8..9], "T");
    assert!(f._dir.path().join("snapshots").join(name).is_dir());
    let r = post_form(&f.router, "/api/v1/admin/tsdb/snapshot", "skip_head=maybe").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(get(&f.router, "/api/v1/admin/tsdb/snapshot").await.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn federate_latest_samples_in_text_format() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options { background_interval: None, ..Options::default() }).unwrap();
    let now = api::now_ms();
    let a = Labels::from_pairs(&[("__name__", "b_metric"), ("x", "1")]).unwrap();
    let b = Labels::from_pairs(&[("__name__", "a_metric"), ("q", "a\"b")]).unwrap();
    let stale = Labels::from_pairs(&[("__name__", "c_metric")]).unwrap();
    let mut ap = db.appender();
    ap.append(&a, now - 20_000, 1.0).unwrap();
    ap.append(&a, now - 10_000, 2.5).unwrap();
    ap.append(&b, now - 1000, 7.0).unwrap();
    ap.append(&stale, now - 2000, 1.0).unwrap();
    ap.append(&stale, now - 1000, crate::model::stale_nan()).unwrap();
    ap.commit().unwrap();
    let state = AppState::new(StateOptions::default());
    state.set_db(Arc::new(db));
    let router = app(state);
    let r = get(&router, "/federate?match[]=%7B__name__%3D~%22.%2B_metric%22%7D").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers.get("content-type").unwrap(), exposition::TEXT_CONTENT_TYPE);
    // Series without an instance get `instance=""` appended, as Prometheus federates them.
    let want = format!(
        "# TYPE a_metric untyped\na_metric{{q=\"a\\\"b\",instance=\"\"}} 7 {}\n# TYPE b_metric untyped\nb_metric{{x=\"1\",instance=\"\"}} 2.5 {}\n",
        now - 1000,
        now - 10_000
    );
    assert_eq!(r.body, want);
    assert_eq!(get(&router, "/federate").await.body, "");
    assert_eq!(get(&router, "/federate?match[]=up%7B").await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn metrics_gzip_and_limits() {
    let f = fixture();
    let _ = get(&f.router, "/api/v1/labels").await;
    let r = get(&f.router, "/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    for needle in [
        "prometheus_tsdb_head_series 3\n",
        "# TYPE process_resident_memory_bytes gauge\n",
        "process_open_fds ",
        "process_start_time_seconds ",
        "process_cpu_seconds_total ",
        "cairn_build_info{version=",
        "prometheus_http_requests_total{code=\"200\",handler=\"/api/v1/labels\"} 1\n",
    ] {
        assert!(r.body.contains(needle), "missing {needle:?} in\n{}", r.body);
    }
    // gzip when asked.
    let req = HttpRequest::get("/api/v1/labels").header("accept-encoding", "gzip").body(Body::empty()).unwrap();
    let r = f.router.clone().oneshot(req).await.unwrap();
    assert_eq!(r.headers().get("content-encoding").unwrap(), "gzip");
    // Oversized bodies are refused before being read whole.
    let big = "query=".to_string() + &"1".repeat(9 << 20);
    let r = post_form(&f.router, "/api/v1/query", &big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Absurd parameters get 4xx, never a panic.
    for uri in [
        "/api/v1/query_range?query=up&start=-1e18&end=1e18&step=1e-9",
        "/api/v1/query_range?query=up&start=0&end=1&step=1e300",
        "/api/v1/query?query=up&time=-9223372036854775808",
        "/api/v1/series?match[]=up&start=9999-12-31T23:59:59Z&end=0001-01-01T00:00:00Z",
        "/api/v1/query?query=up&limit=99999999999999999999",
        "/api/v1/label/%FF/values",
    ] {
        let r = get(&f.router, uri).await;
        assert!(r.status.is_client_error() || r.status.is_success(), "{uri}: {} {}", r.status, r.body);
    }
}

#[tokio::test]
async fn routes_live_under_the_route_prefix() {
    let f = fixture_with(WebOptions { route_prefix: "/prom".into(), ..WebOptions::default() });
    assert_eq!(get(&f.router, "/prom/-/ready").await.status, StatusCode::OK);
    let r = get(&f.router, "/prom/api/v1/label/job/values").await;
    assert_eq!(r.body, ok(r#"["a"]"#));
    assert_eq!(get(&f.router, "/api/v1/label/job/values").await.status, StatusCode::NOT_FOUND);
    let m = get(&f.router, "/prom/metrics").await;
    assert!(m.body.contains("handler=\"/api/v1/label/{name}/values\"} 1\n"), "{}", m.body);
}
