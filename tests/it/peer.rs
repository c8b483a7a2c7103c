//! Helpers for tests that compare Cairn with a real peer (Prometheus, Alertmanager,
//! VictoriaMetrics, ...): finding the peer's binaries, picking a free loopback port, running a
//! peer process that is killed when the test ends, running a short command with a time limit,
//! and a tiny HTTP/1.1 GET client over `std::net::TcpStream`.
//!
//! Every wait here is bounded in time, so a broken peer fails a test instead of hanging it.

#![allow(dead_code)] // Not every test module uses every helper.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The full path of `name` on `PATH`, if it is there and is a file.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// Whether the binaries a test needs are installed. When one is missing, prints what the test
/// skips and why; under CI (`CI=true`) a missing peer is a failure instead, because CI installs
/// the peers (`scripts/install-peers.sh`) and a silent skip would hide a broken setup.
pub fn peers_available(test: &str, binaries: &[&str], package: &str) -> bool {
    let missing: Vec<&str> = binaries.iter().copied().filter(|b| find_binary(b).is_none()).collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "{test}: peer binaries {missing:?} not found on PATH (install the Debian package `{package}`, \
         e.g. `CAIRN_PEERS={package} scripts/install-peers.sh`)"
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}; CI=true, so this is a failure");
    }
    eprintln!("{msg}; skipping the test");
    false
}

/// A loopback address with a port that was free a moment ago. The port is released before
/// returning, so another process could take it in between; peers started on it fail to bind
/// in that (rare) case and the test reports the peer's log.
pub fn free_addr() -> io::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    l.local_addr()
}

/// The output of a finished command.
#[derive(Debug)]
pub struct CommandOutput {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

/// Runs `cmd` to completion, killing it after `timeout`. Output is collected through files in
/// `scratch` (so a chatty command cannot block on a full pipe).
pub fn run_bounded(mut cmd: Command, scratch: &Path, timeout: Duration) -> io::Result<CommandOutput> {
    let out_path = scratch.join("cmd.stdout");
    let err_path = scratch.join("cmd.stderr");
    cmd.stdin(Stdio::null()).stdout(std::fs::File::create(&out_path)?).stderr(std::fs::File::create(&err_path)?);
    let mut child = cmd.spawn()?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(io::ErrorKind::TimedOut, format!("{cmd:?} did not finish in {timeout:?}")));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |p: &Path| std::fs::read(p).map(|b| String::from_utf8_lossy(&b).into_owned());
    Ok(CommandOutput { code: status.code(), stdout: read(&out_path)?, stderr: read(&err_path)? })
}

/// A peer process listening on a loopback address. Dropping it kills the process (by its id)
/// and reaps it.
pub struct PeerProcess {
    name: String,
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl PeerProcess {
    /// Starts `cmd` (which must already carry the flags that make it listen on `addr`), with
    /// stdout and stderr going to `log`.
    pub fn spawn(name: &str, mut cmd: Command, addr: SocketAddr, log: &Path) -> io::Result<PeerProcess> {
        let f = std::fs::File::create(log)?;
        cmd.stdin(Stdio::null()).stdout(f.try_clone()?).stderr(f);
        let child = cmd.spawn()?;
        Ok(PeerProcess { name: name.to_string(), child, addr, log: log.to_path_buf() })
    }

    /// The address the peer listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The peer's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read(&self.log).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }

    /// Polls `GET path` until it answers 200, for at most `timeout`. Fails early, with the log,
    /// when the process exits.
    pub fn wait_ready(&mut self, path: &str, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut last = String::from("no attempt");
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("{} exited with {status} before it was ready; log:\n{}", self.name, self.log()));
            }
            match http_get(self.addr, path, Duration::from_secs(2)) {
                Ok(r) if r.status == 200 => return Ok(()),
                Ok(r) => last = format!("status {}", r.status),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("{} not ready after {timeout:?} (last: {last}); log:\n{}", self.name, self.log()))
    }

    /// `GET path` from the peer.
    pub fn get(&self, path: &str, timeout: Duration) -> io::Result<HttpResponse> {
        http_get(self.addr, path, timeout)
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header fields, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body, with any chunked transfer coding removed.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// The body as text (lossily decoded).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Percent-encodes `s` for a URL query component: everything but RFC 3986's unreserved
/// characters is escaped.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `k1=v1&k2=v2`, percent-encoded.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect::<Vec<_>>().join("&")
}

/// `GET path_and_query` over HTTP/1.1 with `Connection: close`, reading the response to the
/// end. Every socket operation is bounded by `timeout`, and the whole exchange by a few times
/// that.
pub fn http_get(addr: SocketAddr, path_and_query: &str, timeout: Duration) -> io::Result<HttpResponse> {
    http_request(addr, "GET", path_and_query, None, timeout)
}

/// `method path_and_query` over HTTP/1.1 with `Connection: close`; when `form` is given it is
/// sent as an `application/x-www-form-urlencoded` body. Bounded like [`http_get`].
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    form: Option<&str>,
    timeout: Duration,
) -> io::Result<HttpResponse> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut req = format!("{method} {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: */*\r\n");
    if let Some(f) = form {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{f}",
            f.len()
        ));
    } else if method != "GET" && method != "HEAD" {
        req.push_str("Content-Length: 0\r\n\r\n");
    } else {
        req.push_str("\r\n");
    }
    s.write_all(req.as_bytes())?;
    let deadline = Instant::now() + timeout * 4;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if Instant::now() > deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "response took too long"));
        }
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    parse_response(&raw)
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Parses a complete response read up to the end of the connection.
fn parse_response(raw: &[u8]) -> io::Result<HttpResponse> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| bad("no end of header"))?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| bad("header is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| bad(&format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    for l in lines {
        let (n, v) = l.split_once(':').ok_or_else(|| bad(&format!("bad header line {l:?}")))?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let rest = &raw[head_end + 4..];
    let mut resp = HttpResponse { status, headers, body: Vec::new() };
    if resp.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        resp.body = dechunk(rest)?;
    } else if let Some(len) = resp.header("content-length") {
        let len: usize = len.parse().map_err(|_| bad("bad content-length"))?;
        if rest.len() < len {
            return Err(bad("body shorter than content-length"));
        }
        resp.body = rest[..len].to_vec();
    } else {
        resp.body = rest.to_vec();
    }
    Ok(resp)
}

/// Removes the chunked transfer coding (trailers are ignored).
fn dechunk(mut rest: &[u8]) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n").ok_or_else(|| bad("unterminated chunk size"))?;
        let size_text = std::str::from_utf8(&rest[..eol]).map_err(|_| bad("chunk size is not UTF-8"))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 {
            return Err(bad("truncated chunk"));
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

#[test]
fn http_response_parsing() {
    let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello trailing").unwrap();
    assert_eq!((r.status, r.text().as_str(), r.header("x-a")), (200, "hello", Some("b")));
    let r = parse_response(
        b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    )
    .unwrap();
    assert_eq!((r.status, r.text().as_str()), (404, "abcde"));
    let r = parse_response(b"HTTP/1.0 500 Oops\r\n\r\nto the end").unwrap();
    assert_eq!((r.status, r.text().as_str()), (500, "to the end"));
    assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").is_err());
    assert!(parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab").is_err());
    assert!(parse_response(b"garbage").is_err());
    assert_eq!(percent_encode("a b{c=\"d\"}[5m]/é"), "a%20b%7Bc%3D%22d%22%7D%5B5m%5D%2F%C3%A9");
    assert_eq!(query_string(&[("query", "up"), ("time", "1.5")]), "query=up&time=1.5");
}

/// Starts Prometheus on blocks that `promtool tsdb create-blocks-from openmetrics` builds from
/// `openmetrics` (written to `dir/data.om`), with `extra` flags, and waits until it is ready.
pub fn prometheus_on_openmetrics(dir: &Path, openmetrics: &str, extra: &[&str]) -> PeerProcess {
    let om = dir.join("data.om");
    std::fs::write(&om, openmetrics).unwrap();
    let tsdb = dir.join("prom-data");
    let mut cmd = Command::new("promtool");
    cmd.args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"]).arg(&om).arg(&tsdb);
    let out = run_bounded(cmd, dir, Duration::from_secs(60)).unwrap();
    assert_eq!(out.code, Some(0), "promtool failed: {}{}", out.stdout, out.stderr);
    let cfg = dir.join("prometheus.yml");
    // The evaluation interval is the step of subqueries written without one: 1m, as Cairn's
    // default (`EngineOptions::default_subquery_step_ms`).
    std::fs::write(&cfg, "global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\n").unwrap();
    let addr = free_addr().unwrap();
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", tsdb.display()))
        .arg(format!("--web.listen-address={addr}"))
        .args(extra);
    let mut p = PeerProcess::spawn("prometheus", cmd, addr, &dir.join("prometheus.log")).unwrap();
    p.wait_ready("/-/ready", Duration::from_secs(30)).unwrap();
    p
}
