//! The real `cairn` binary serving the HTTP API on a loopback port: exact JSON for the main
//! query endpoints over data written beforehand, Grafana's data-source calls in order, flag
//! errors, and a clean stop on SIGTERM. Every wait is bounded.

use cairn::model::Labels;
use cairn::tsdb::{Db, Options};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the server if a test fails before stopping it.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Writes the fixture and closes the database: every 15 s from 0 to 300 s,
/// `up{instance="x",job="a"}` = 1, `up{instance="y",job="a"}` = 0, and
/// `http_requests_total{code="200"}` = t in seconds.
fn populate(dir: &Path) {
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
    db.close().unwrap();
}

fn start(dir: &Path, extra: &[&str]) -> Server {
    let port = free_port();
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = Server { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, _, _)) = request(port, "GET", "/-/ready", None) {
            return server;
        }
        assert!(Instant::now() < deadline, "server not ready in 30s: {}", server_log(dir));
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn server_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
}

/// A minimal HTTP/1.1 client: one request per connection, 10 s timeouts. Returns status,
/// raw headers and body (chunked bodies decoded).
fn request(port: u16, method: &str, path: &str, form: Option<&str>) -> std::io::Result<(u16, String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if let Some(f) = form {
        req += &format!("Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n", f.len());
    }
    req += "\r\n";
    req += form.unwrap_or("");
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.into() };
    Ok((status, head.to_string(), body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn get_ok(port: u16, path: &str) -> String {
    let (status, _, body) = request(port, "GET", path, None).unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    body
}

fn ok(data: &str) -> String {
    format!(r#"{{"status":"success","data":{data}}}"#)
}

fn stop(mut server: Server, dir: &Path) {
    let pid = server.child.id().to_string();
    let st = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}: {}", server_log(dir));
            return;
        }
        assert!(Instant::now() < deadline, "no exit within 15s of SIGTERM: {}", server_log(dir));
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn binary_serves_the_query_api_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    populate(&dir.path().join("data"));
    let server = start(dir.path(), &[]);
    let port = server.port;
    let cases: &[(&str, &str)] = &[
        (
            "/api/v1/query?query=up&time=300",
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","instance":"x","job":"a"},"value":[300,"1"]},{"metric":{"__name__":"up","instance":"y","job":"a"},"value":[300,"0"]}]}"#,
        ),
        // The counter is t seconds, so at 150.5 s the latest sample (150 s) is 150.
        (
            "/api/v1/query?query=http_requests_total&time=150.5",
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"http_requests_total","code":"200"},"value":[150.500,"150"]}]}"#,
        ),
        (
            "/api/v1/query_range?query=sum(up)&start=0&end=60&step=30",
            r#"{"resultType":"matrix","result":[{"metric":{},"values":[[0,"1"],[30,"1"],[60,"1"]]}]}"#,
        ),
        (
            "/api/v1/series?match[]=up&start=0&end=300",
            r#"[{"__name__":"up","instance":"x","job":"a"},{"__name__":"up","instance":"y","job":"a"}]"#,
        ),
        ("/api/v1/labels", r#"["__name__","code","instance","job"]"#),
        ("/api/v1/label/__name__/values", r#"["http_requests_total","up"]"#),
    ];
    for (path, want) in cases {
        assert_eq!(get_ok(port, path), ok(want), "{path}");
    }
    let (status, _, body) = request(port, "GET", "/api/v1/query_range?query=up&start=2&end=1&step=1", None).unwrap();
    assert_eq!(status, 400);
    assert_eq!(
        body,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"end\": end timestamp must not be before start time"}"#
    );
    // Lifecycle is off by default.
    assert_eq!(request(port, "POST", "/-/quit", Some("")).unwrap().0, 403);
    stop(server, dir.path());
    // The database was closed cleanly: it opens again (lock released) with every series.
    let db = Db::open(dir.path().join("data"), Options { background_interval: None, ..Options::default() }).unwrap();
    assert_eq!(db.head().num_series(), 3);
}

#[test]
fn grafana_data_source_calls_in_order() {
    let dir = tempfile::tempdir().unwrap();
    populate(&dir.path().join("data"));
    let server = start(dir.path(), &[]);
    let port = server.port;
    let json = |body: String| -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "success", "{body}");
        v["data"].clone()
    };
    // 1. Health check: buildinfo, then `1+1` at time 4 must be a scalar.
    let info = json(get_ok(port, "/api/v1/status/buildinfo"));
    let version = info["version"].as_str().unwrap();
    assert_eq!(version.split('.').filter(|p| p.parse::<u64>().is_ok()).count(), 3, "semver: {version}");
    assert!(info.get("features").is_none());
    let (status, _, body) = request(port, "POST", "/api/v1/query", Some("query=1%2B1&time=4")).unwrap();
    assert_eq!(status, 200);
    assert_eq!(json(body), serde_json::json!({"resultType": "scalar", "result": [4, "2"]}));
    // 2. Label names for the time range.
    let labels = json(get_ok(port, "/api/v1/labels?start=0&end=300"));
    assert!(labels.as_array().unwrap().iter().any(|l| l == "__name__"));
    // 3. Metric names.
    let names = json(get_ok(port, "/api/v1/label/__name__/values?start=0&end=300"));
    assert_eq!(names, serde_json::json!(["http_requests_total", "up"]));
    // 4. Series for the metric browser.
    let series = json(get_ok(port, "/api/v1/series?match%5B%5D=%7B__name__%21%3D%22%22%7D&start=0&end=300"));
    let series = series.as_array().unwrap();
    assert_eq!(series.len(), 3);
    assert!(series.iter().all(|s| s.is_object() && s["__name__"].is_string()));
    // 5. Metadata: an object (empty until scraping exists).
    assert!(json(get_ok(port, "/api/v1/metadata")).is_object());
    // 6. The panel query: POST form, step in seconds.
    let (status, _, body) =
        request(port, "POST", "/api/v1/query_range", Some("query=up&start=0&end=300&step=60")).unwrap();
    assert_eq!(status, 200, "{body}");
    let data = json(body);
    assert_eq!(data["resultType"], "matrix");
    for s in data["result"].as_array().unwrap() {
        let values = s["values"].as_array().unwrap();
        assert_eq!(values.len(), 6, "steps 0, 60, ..., 300");
        assert!(values.iter().all(|p| p[0].is_number() && p[1].is_string()));
    }
    // 7. Exemplars probe with millisecond times.
    let ex = json(get_ok(port, "/api/v1/query_exemplars?query=test&start=1600000000000&end=1600000300000"));
    assert_eq!(ex, serde_json::json!([]));
    stop(server, dir.path());
}

#[test]
fn quit_endpoint_with_the_lifecycle_flag() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), &["--web.enable-lifecycle", "--web.enable-admin-api"]);
    let (status, _, _) = request(server.port, "PUT", "/-/quit", None).unwrap();
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(st) = server.child.try_wait().unwrap() {
            assert!(st.success(), "{}", server_log(dir.path()));
            break;
        }
        assert!(Instant::now() < deadline, "no exit after /-/quit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn unknown_flags_are_errors_naming_the_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn")).arg("--web.no-such-flag=1").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--web.no-such-flag"));
    let out = Command::new(env!("CARGO_BIN_EXE_cairn")).arg("--query.timeout=forever").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--query.timeout"));
}
