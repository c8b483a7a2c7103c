//! Metric metadata over remote write, and OAuth2 client credentials, against Prometheus 2.42.
//!
//! * `metadata_over_remote_write`: an OpenMetrics fixture (TYPE, HELP and UNIT lines) is
//!   scraped by a Prometheus 2.42 writing to Cairn A and by a Cairn writing to Cairn B, both
//!   with `metadata_config: {send_interval: 1s}`; `/api/v1/metadata` of A, of B and of the
//!   Prometheus itself agree.
//! * `oauth2_client_credentials`: a loopback token server and a target that wants the token
//!   it issued; Prometheus and Cairn scrape with the same `oauth2` blocks. Both get `up` 1,
//!   their token requests are equal (method, content type, form fields, basic auth), a token
//!   valid for an hour is fetched once and one valid for 1 s (under x/oauth2's 10 s margin)
//!   again for each scrape. Cairn's remote write with `oauth2` reaches a receiver that checks
//!   the token, and a token URL nobody serves fails the scrape naming that URL.

use crate::peer::{self, PeerProcess, free_addr, http_get};
use crate::scrape::{api, query, wait_for};
use base64::Engine as _;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

/// One request a test server received.
#[derive(Clone, Debug)]
struct Req {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn header(&self, name: &str) -> String {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()).unwrap_or_default()
    }
}

type Handler = Arc<dyn Fn(&Req) -> (u16, &'static str, Vec<u8>) + Send + Sync>;

/// A loopback HTTP/1.1 server answering each request (one per connection) with `handler`.
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(handler: Handler) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let sp = stop.clone();
        let thread = std::thread::spawn(move || {
            while !sp.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let h = handler.clone();
                        std::thread::spawn(move || serve(conn, &h));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server { addr, stop, thread: Some(thread) }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut conn: TcpStream, handler: &Handler) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let (method, path) = (first.next().unwrap_or("").to_string(), first.next().unwrap_or("").to_string());
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':').map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))).collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let req = Req { method, path, headers, body: buf[head_end..head_end + len].to_vec() };
    let (status, ct, body) = handler(&req);
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(&body);
}

fn start_cairn(dir: &Path, name: &str, config: &str) -> PeerProcess {
    let cfg = dir.join(format!("{name}.yml"));
    std::fs::write(&cfg, config).unwrap();
    let addr = free_addr().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
    cmd.arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join(format!("{name}-data")).display()))
        .arg(format!("--web.listen-address={addr}"));
    let mut p = PeerProcess::spawn(name, cmd, addr, &dir.join(format!("{name}.log"))).unwrap();
    p.wait_ready("/-/ready", Duration::from_secs(30)).unwrap();
    p
}

fn start_prometheus(dir: &Path, config: &str) -> PeerProcess {
    let cfg = dir.join("prom.yml");
    std::fs::write(&cfg, config).unwrap();
    let addr = free_addr().unwrap();
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("prom-data").display()))
        .arg(format!("--web.listen-address={addr}"));
    let mut p = PeerProcess::spawn("prometheus", cmd, addr, &dir.join("prom.log")).unwrap();
    p.wait_ready("/-/ready", Duration::from_secs(30)).unwrap();
    p
}

/// `/api/v1/metadata` data with each metric's entries sorted (Prometheus lists them in map
/// order).
fn metadata(addr: SocketAddr, query: &str) -> BTreeMap<String, Vec<String>> {
    let data = api(addr, &format!("/api/v1/metadata{query}"));
    let mut out = BTreeMap::new();
    for (name, entries) in data.as_object().unwrap() {
        let mut list: Vec<String> = entries.as_array().unwrap().iter().map(Value::to_string).collect();
        list.sort();
        out.insert(name.clone(), list);
    }
    out
}

const OPENMETRICS_PAGE: &str = "# TYPE http_requests counter\n# HELP http_requests Requests served.\n\
http_requests_total{code=\"200\"} 10\n\
# TYPE room_temperature_celsius gauge\n# UNIT room_temperature_celsius celsius\n\
# HELP room_temperature_celsius Temperature of the room.\nroom_temperature_celsius 21.5\n\
# TYPE rpc_duration_seconds histogram\n# UNIT rpc_duration_seconds seconds\n# HELP rpc_duration_seconds RPC latency.\n\
rpc_duration_seconds_bucket{le=\"1.0\"} 1\nrpc_duration_seconds_bucket{le=\"+Inf\"} 2\n\
rpc_duration_seconds_sum 1.5\nrpc_duration_seconds_count 2\n\
# TYPE build info\n# HELP build Build facts.\nbuild_info{version=\"1\"} 1\n# EOF\n";

#[test]
fn metadata_over_remote_write() {
    if !peer::peers_available("metadata_over_remote_write", &["prometheus"], "prometheus") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let target = Server::start(Arc::new(|_req: &Req| {
        (200, "application/openmetrics-text; version=1.0.0; charset=utf-8", OPENMETRICS_PAGE.as_bytes().to_vec())
    }));
    let receiver_a = start_cairn(dir.path(), "cairn-a", "global: {}\n");
    let receiver_b = start_cairn(dir.path(), "cairn-b", "global: {}\n");
    // Two jobs scrape the same page: each family's entry is sent (and shown) once.
    let config = |receiver: SocketAddr| {
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
             \x20 - job_name: one\n    static_configs: [{{targets: ['{t}']}}]\n\
             \x20 - job_name: two\n    static_configs: [{{targets: ['{t}']}}]\n\
             remote_write:\n  - url: http://{receiver}/api/v1/write\n    metadata_config:\n      send_interval: 1s\n",
            t = target.addr
        )
    };
    let prom = start_prometheus(dir.path(), &config(receiver_a.addr()));
    let sender = start_cairn(dir.path(), "cairn-sender", &config(receiver_b.addr()));

    let want_families = ["build", "http_requests", "room_temperature_celsius", "rpc_duration_seconds"];
    let has_all = |m: &BTreeMap<String, Vec<String>>| want_families.iter().all(|f| m.contains_key(*f));
    let from_prom = wait_for("Prometheus's own metadata", Duration::from_secs(30), || {
        Some(metadata(prom.addr(), "")).filter(has_all)
    });
    let a = wait_for("metadata sent by Prometheus", Duration::from_secs(30), || {
        Some(metadata(receiver_a.addr(), "")).filter(has_all)
    });
    let b = wait_for("metadata sent by Cairn", Duration::from_secs(30), || {
        Some(metadata(receiver_b.addr(), "")).filter(has_all)
    });
    assert_eq!(a, from_prom, "Cairn A (fed by Prometheus) vs Prometheus's own /api/v1/metadata");
    assert_eq!(b, a, "Cairn B (fed by Cairn) vs Cairn A (fed by Prometheus)");
    // Spot checks of what the peer reported, so the comparison is not of empty things.
    assert_eq!(
        a["room_temperature_celsius"],
        vec![r#"{"help":"Temperature of the room.","type":"gauge","unit":"celsius"}"#.to_string()]
    );
    assert_eq!(a["build"], vec![r#"{"help":"Build facts.","type":"info","unit":""}"#.to_string()]);
    // The filter works on received metadata as on Prometheus's scraped one.
    let q = "?metric=rpc_duration_seconds";
    assert_eq!(metadata(receiver_b.addr(), q), metadata(prom.addr(), q));
    assert_eq!(metadata(receiver_b.addr(), "?limit=1").len(), 1);

    // The sender counts what it sent, under Prometheus's metric names.
    let m = http_get(sender.addr(), "/metrics", TIMEOUT).unwrap().text();
    let sent: f64 = m
        .lines()
        .find(|l| l.starts_with("prometheus_remote_storage_metadata_total{"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metadata_total in\n{m}"));
    assert!(sent >= 4.0, "metadata entries sent: {sent}");
    assert!(m.contains("prometheus_remote_storage_metadata_bytes_total{"));
}

/// What a client sent to the token endpoint, for comparison between peers.
#[derive(Clone, Debug, PartialEq, Eq)]
struct TokenRequest {
    method: String,
    path: String,
    content_type: String,
    form: BTreeMap<String, String>,
    basic_auth: String,
}

/// The token endpoint (`/token/<expires_in>`) and a target that wants a token it issued.
struct OAuthWorld {
    server: Server,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
    /// Target requests with a valid token, by the token's `expires_in`.
    authorized: Arc<Mutex<BTreeMap<String, u64>>>,
    /// Remote write requests with a valid token.
    writes: Arc<Mutex<u64>>,
}

fn oauth_world() -> OAuthWorld {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let issued: Arc<Mutex<BTreeMap<String, String>>> = Arc::new(Mutex::new(BTreeMap::new()));
    let authorized = Arc::new(Mutex::new(BTreeMap::new()));
    let writes = Arc::new(Mutex::new(0u64));
    let (rq, iss, auth, wr) = (requests.clone(), issued.clone(), authorized.clone(), writes.clone());
    let server = Server::start(Arc::new(move |req: &Req| {
        if let Some(expires) = req.path.strip_prefix("/token/") {
            let basic = req.header("authorization");
            let basic = basic
                .strip_prefix("Basic ")
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            rq.lock().unwrap().push(TokenRequest {
                method: req.method.clone(),
                path: req.path.clone(),
                content_type: req.header("content-type"),
                form: form_urlencoded::parse(&req.body).into_owned().collect(),
                basic_auth: basic,
            });
            let mut iss = iss.lock().unwrap();
            let token = format!("tok-{}", iss.len());
            iss.insert(token.clone(), expires.to_string());
            let body = format!(r#"{{"access_token":"{token}","token_type":"bearer","expires_in":{expires}}}"#);
            return (200, "application/json", body.into_bytes());
        }
        let token = req.header("authorization").strip_prefix("Bearer ").unwrap_or("").to_string();
        let Some(expires) = iss.lock().unwrap().get(&token).cloned() else {
            return (401, "text/plain", b"no valid token\n".to_vec());
        };
        if req.path.starts_with("/api/v1/write") {
            if req.header("content-encoding") == "snappy" && !req.body.is_empty() {
                *wr.lock().unwrap() += 1;
            }
            return (204, "text/plain", Vec::new());
        }
        *auth.lock().unwrap().entry(expires).or_default() += 1;
        (200, "text/plain; version=0.0.4", b"# TYPE guarded gauge\nguarded 1\n".to_vec())
    }));
    OAuthWorld { server, requests, authorized, writes }
}

fn oauth_config(world: &OAuthWorld, secret_file: &Path, extra: &str) -> String {
    let a = world.server.addr;
    let oauth = |expires: u32, secret: &str| {
        format!(
            "    oauth2:\n      client_id: 'the client'\n      {secret}\n      scopes: [read, 'write:all']\n\
             \x20     token_url: http://{a}/token/{expires}\n      endpoint_params: {{audience: 'https://api.example/x y'}}\n"
        )
    };
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
         \x20 - job_name: hour\n    static_configs: [{{targets: ['{a}']}}]\n{}\
         \x20 - job_name: second\n    static_configs: [{{targets: ['{a}']}}]\n{}{extra}",
        oauth(3600, "client_secret: 's3cr3t/+='"),
        oauth(1, &format!("client_secret_file: {}", secret_file.display())),
    )
}

fn up(addr: SocketAddr, job: &str) -> Option<String> {
    query(addr, &format!("up{{job=\"{job}\"}}"), None).into_iter().next().map(|(_, v)| v)
}

#[test]
fn oauth2_client_credentials() {
    if !peer::peers_available("oauth2_client_credentials", &["prometheus"], "prometheus") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, "from file\n").unwrap();
    let (for_prom, for_cairn) = (oauth_world(), oauth_world());
    let prom = start_prometheus(dir.path(), &oauth_config(&for_prom, &secret_file, ""));
    let dead = free_addr().unwrap();
    let extra = format!(
        "  - job_name: no_token\n    static_configs: [{{targets: ['{a}']}}]\n    oauth2:\n      client_id: c\n\
         \x20     client_secret: s\n      token_url: http://{dead}/token\n\
         remote_write:\n  - url: http://{a}/api/v1/write\n    queue_config: {{batch_send_deadline: 200ms}}\n\
         \x20   oauth2: {{client_id: w, client_secret: s, token_url: 'http://{a}/token/3600'}}\n",
        a = for_cairn.server.addr
    );
    let cairn = start_cairn(dir.path(), "cairn", &oauth_config(&for_cairn, &secret_file, &extra));

    // Both scrape with tokens: `up` is 1 and the target saw several authorized scrapes per job.
    for (name, p, world) in [("prometheus", &prom, &for_prom), ("cairn", &cairn, &for_cairn)] {
        wait_for(&format!("{name}: authorized scrapes"), Duration::from_secs(40), || {
            let a = world.authorized.lock().unwrap().clone();
            (a.get("3600").copied().unwrap_or(0) >= 4 && a.get("1").copied().unwrap_or(0) >= 4).then_some(())
        });
        for job in ["hour", "second"] {
            assert_eq!(up(p.addr(), job).as_deref(), Some("1"), "{name} {job}: {}", p.log());
        }
    }

    let by_path = |w: &OAuthWorld, path: &str| -> Vec<TokenRequest> {
        w.requests.lock().unwrap().iter().filter(|r| r.path == path).cloned().collect()
    };
    // An hour-long token is fetched once (Cairn's remote write fetches its own, as client `w`).
    let hour_p = by_path(&for_prom, "/token/3600");
    let hour_c: Vec<TokenRequest> =
        by_path(&for_cairn, "/token/3600").into_iter().filter(|r| !r.basic_auth.starts_with("w:")).collect();
    assert_eq!(hour_p.len(), 1, "Prometheus: {hour_p:?}");
    assert_eq!(hour_c, hour_p, "Cairn's token request equals Prometheus's");
    // What x/oauth2 sent (and Cairn must too): a form POST, credentials query-escaped in basic auth.
    assert_eq!(hour_p[0].method, "POST");
    assert_eq!(hour_p[0].content_type, "application/x-www-form-urlencoded");
    assert_eq!(hour_p[0].basic_auth, "the+client:s3cr3t%2F%2B%3D");
    // A 1 s token is within the 10 s expiry margin: fetched again for (nearly) every scrape.
    let sec_p = by_path(&for_prom, "/token/1");
    let sec_c = by_path(&for_cairn, "/token/1");
    assert!(sec_p.len() >= 3 && sec_c.len() >= 3, "refetches: prometheus {} cairn {}", sec_p.len(), sec_c.len());
    assert_eq!(sec_c[0], sec_p[0]);
    assert_eq!(sec_p[0].basic_auth, "the+client:from+file", "client_secret_file, trimmed");

    // The secret file is read again at each fetch.
    std::fs::write(&secret_file, "rotated").unwrap();
    wait_for("the rotated secret in use", Duration::from_secs(20), || {
        by_path(&for_cairn, "/token/1").last().filter(|r| r.basic_auth == "the+client:rotated").map(|_| ())
    });

    // Remote write with oauth2 reaches the receiver that checks the token.
    wait_for("authorized remote writes", Duration::from_secs(30), || {
        (*for_cairn.writes.lock().unwrap() > 0).then_some(())
    });
    // A token URL nobody serves fails the scrape, naming the URL.
    let err = wait_for("no_token scrape error", Duration::from_secs(20), || {
        let targets = api(cairn.addr(), "/api/v1/targets?state=active");
        targets["activeTargets"]
            .as_array()?
            .iter()
            .find(|t| t["labels"]["job"] == "no_token")
            .and_then(|t| t["lastError"].as_str().filter(|e| !e.is_empty()).map(str::to_string))
    });
    assert!(err.contains(&format!("http://{dead}/token")), "{err}");
    assert_eq!(up(cairn.addr(), "no_token").as_deref(), Some("0"));
}
