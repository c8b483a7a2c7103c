//! HTTP API benchmark: Cairn against Prometheus 2.42 on the same data.
//!
//! `cargo bench --bench api` generates a deterministic dataset (2,000 counter series over
//! 24 hours at a 30 s interval, ending on a whole hour a day ago), loads it into Prometheus
//! (OpenMetrics text, `promtool tsdb create-blocks-from openmetrics`) and into Cairn (appended
//! through `cairn::tsdb::Db`, flushed to blocks and compacted), starts both servers on
//! loopback ports, checks that both answer every benchmarked request with the same JSON
//! `data`, and then measures requests/s and latency percentiles with a small keep-alive
//! HTTP/1.1 client from several threads, one server after the other.
//!
//! The endpoints are what a dashboard does: `query_range` of
//! `sum by (job) (rate(http_requests_total[5m]))` over the 24 h at a 60 s step, `labels` over
//! the 24 h, and `series` with `match[]=http_requests_total{job="j1"}` over the 24 h.
//!
//! The table is printed and also written to `target/api-bench.md`. When `prometheus` or
//! `promtool` is not on `PATH`, or the `cairn` binary is missing, the bench prints what it
//! skips and exits successfully: benches are not tests.
//!
//! Environment: `CAIRN_BENCH_SECS` sets the measured seconds per endpoint and server
//! (default 10), `CAIRN_BENCH_THREADS` the client threads (default 4).

use cairn::model::Labels;
use cairn::tsdb::{Db, Options};
use serde_json::Value;
use std::fmt::Write as _;
use std::io::{self, BufWriter, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const HOUR_MS: i64 = 3_600_000;
/// The sample interval of the dataset.
const INTERVAL_MS: i64 = 30_000;
/// The span of the dataset and of every benchmarked request.
const SPAN_MS: i64 = 24 * HOUR_MS;
/// Per-socket-operation time limit of the HTTP client.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

type BoxError = Box<dyn std::error::Error>;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing but expects a
    // quick exit. Only run the (minutes-long) benchmark under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("api bench: not run without --bench (use `cargo bench --bench api`)");
        return;
    }
    if let Err(e) = run() {
        eprintln!("api bench failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), BoxError> {
    let missing: Vec<&str> = ["prometheus", "promtool"].into_iter().filter(|b| find_binary(b).is_none()).collect();
    if !missing.is_empty() {
        println!(
            "api bench: {missing:?} not found on PATH (Debian package `prometheus`, e.g. \
             `CAIRN_PEERS=prometheus scripts/install-peers.sh`); skipping the comparison"
        );
        return Ok(());
    }
    let cairn_bin = PathBuf::from(env!("CARGO_BIN_EXE_cairn"));
    if !cairn_bin.is_file() {
        println!(
            "api bench: the cairn binary {} is missing (run `cargo build --release`); skipping",
            cairn_bin.display()
        );
        return Ok(());
    }
    let secs: u64 = env_num("CAIRN_BENCH_SECS", 10);
    let threads: usize = env_num("CAIRN_BENCH_THREADS", 4).max(1);

    let now_ms = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?;
    // Ends on a whole hour a day ago, so both servers hold only blocks (no head data) and the
    // range is well inside any retention.
    let end = now_ms.div_euclid(HOUR_MS) * HOUR_MS - SPAN_MS;
    let start = end - SPAN_MS;
    let data = Dataset::new(start, end);
    println!(
        "api bench: {} series x {} samples ({} samples), [{start}, {end}) ms",
        data.series.len(),
        data.times().count(),
        data.series.len() * data.times().count()
    );

    let dir = tempfile::Builder::new().prefix("cairn-api-bench").tempdir()?;
    let cfg = dir.path().join("empty.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n")?;

    let t0 = Instant::now();
    let prom_dir = dir.path().join("prom-data");
    load_prometheus(&data, dir.path(), &prom_dir)?;
    println!("api bench: Prometheus blocks written in {:.1?} ({} blocks)", t0.elapsed(), count_blocks(&prom_dir));
    let t0 = Instant::now();
    let cairn_dir = dir.path().join("cairn-data");
    let cairn_blocks = load_cairn(&data, &cairn_dir)?;
    println!("api bench: Cairn blocks written in {:.1?} ({cairn_blocks} blocks)", t0.elapsed());

    let prom_addr = free_addr()?;
    let mut prom = Server::spawn(
        "prometheus",
        Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", prom_dir.display()))
            .arg(format!("--web.listen-address={prom_addr}"))
            .arg("--storage.tsdb.retention.time=100y"),
        prom_addr,
        &dir.path().join("prometheus.log"),
    )?;
    let cairn_addr = free_addr()?;
    let mut cairn = Server::spawn(
        "cairn",
        Command::new(&cairn_bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", cairn_dir.display()))
            .arg(format!("--web.listen-address={cairn_addr}"))
            .arg("--storage.tsdb.retention.time=100y"),
        cairn_addr,
        &dir.path().join("cairn.log"),
    )?;
    prom.wait_ready(Duration::from_secs(120))?;
    cairn.wait_ready(Duration::from_secs(120))?;

    let (s, e) = (secs_str(start), secs_str(end));
    let endpoints = [
        Endpoint {
            name: "query_range 24h, step 60s",
            path: format!(
                "/api/v1/query_range?{}",
                query_string(&[
                    ("query", "sum by (job) (rate(http_requests_total[5m]))"),
                    ("start", &s),
                    ("end", &e),
                    ("step", "60"),
                ])
            ),
        },
        Endpoint {
            name: "labels 24h",
            path: format!("/api/v1/labels?{}", query_string(&[("start", &s), ("end", &e)])),
        },
        Endpoint {
            name: "series job=\"j1\" 24h",
            path: format!(
                "/api/v1/series?{}",
                query_string(&[("match[]", "http_requests_total{job=\"j1\"}"), ("start", &s), ("end", &e)])
            ),
        },
    ];

    // A speed figure for a wrong answer does not count: compare first.
    for ep in &endpoints {
        let c = fetch_data(cairn_addr, &ep.path).map_err(|err| format!("cairn {}: {err}", ep.name))?;
        let p = fetch_data(prom_addr, &ep.path).map_err(|err| format!("prometheus {}: {err}", ep.name))?;
        let (c, p) = (normalize(c), normalize(p));
        if let Err(diff) = json_close(&c, &p, "data") {
            return Err(format!("{}: Cairn and Prometheus disagree: {diff}", ep.name).into());
        }
        println!("api bench: {} — same data from both ({} bytes of JSON)", ep.name, p.to_string().len());
    }

    let load_before = loadavg();
    let mut rows = Vec::new();
    for ep in &endpoints {
        let c = measure(cairn_addr, &ep.path, threads, Duration::from_secs(secs))?;
        println!("  cairn      {:<28} {}", ep.name, c.summary());
        let p = measure(prom_addr, &ep.path, threads, Duration::from_secs(secs))?;
        println!("  prometheus {:<28} {}", ep.name, p.summary());
        rows.push((ep.name, c, p));
    }
    drop(cairn);
    drop(prom);

    let load = format!("{load_before} before, {} after", loadavg());
    let table = render_table(&rows, &data, threads, secs, &load);
    println!("\n{table}");
    let out = target_dir().join("api-bench.md");
    match std::fs::write(&out, &table) {
        Ok(()) => println!("api bench: table written to {}", out.display()),
        Err(err) => eprintln!("api bench: could not write {}: {err}", out.display()),
    }
    Ok(())
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `target/` of this workspace: `CARGO_TARGET_DIR` when set, else beside `Cargo.toml`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
    }
}

/// Unix seconds of a millisecond timestamp, as the API takes them.
fn secs_str(ms: i64) -> String {
    if ms % 1000 == 0 { (ms / 1000).to_string() } else { format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000)) }
}

// ---------------------------------------------------------------------------------------------
// The dataset.

/// One series: its label pairs (name included) and what drives its counter.
struct SeriesDef {
    pairs: Vec<(&'static str, String)>,
    seed: u64,
    /// Whether the counter restarts from zero at the middle of the span.
    resets: bool,
}

/// 1,000 `http_requests_total{job,instance,code}` and 1,000
/// `node_cpu_seconds_total{instance,cpu,mode}` counters, sampled every 30 s over `[start, end)`.
struct Dataset {
    series: Vec<SeriesDef>,
    start: i64,
    end: i64,
}

impl Dataset {
    fn new(start: i64, end: i64) -> Dataset {
        let mut series = Vec::with_capacity(2000);
        let codes = ["200", "404", "500", "503"];
        for job in 0..10 {
            for inst in 0..25 {
                for code in codes {
                    let n = series.len() as u64;
                    series.push(SeriesDef {
                        pairs: vec![
                            ("__name__", "http_requests_total".to_string()),
                            ("job", format!("j{job}")),
                            ("instance", format!("app-{inst:02}:8080")),
                            ("code", code.to_string()),
                        ],
                        seed: n,
                        resets: n % 10 == 3,
                    });
                }
            }
        }
        let modes = ["user", "system", "idle", "iowait", "steal"];
        for inst in 0..25 {
            for cpu in 0..8 {
                for mode in modes {
                    let n = series.len() as u64;
                    series.push(SeriesDef {
                        pairs: vec![
                            ("__name__", "node_cpu_seconds_total".to_string()),
                            ("instance", format!("node-{inst:02}:9100")),
                            ("cpu", cpu.to_string()),
                            ("mode", mode.to_string()),
                        ],
                        seed: n,
                        resets: false,
                    });
                }
            }
        }
        Dataset { series, start, end }
    }

    fn times(&self) -> impl Iterator<Item = i64> + use<> {
        (self.start..self.end).step_by(INTERVAL_MS as usize)
    }

    /// The samples of series `i` in time order. Values are exact binary fractions (multiples
    /// of 1/4), so their decimal text round-trips in every parser.
    fn samples(&self, i: usize) -> impl Iterator<Item = (i64, f64)> + use<'_> {
        let def = &self.series[i];
        let mid = self.start + SPAN_MS / 2;
        // Each series is scraped at its own offset of 2..=26 s into every 30 s interval, so no
        // sample sits on a window edge of the benchmarked query (multiples of 60 s): there
        // Prometheus 2.42's left-closed range windows and the left-open windows of 3.x (which
        // Cairn follows) see different samples.
        let offset = 2_000 + (def.seed % 25) as i64 * 1_000;
        // Counters start well above zero: at the first steps, 2.42 and 3.x differ in how far
        // `rate` extrapolates towards the window start for a counter that began near zero.
        let mut v = 1000.0 + (def.seed % 97) as f64 * 100.0;
        self.times().enumerate().map(move |(k, t)| {
            let t = t + offset;
            if def.resets && t - offset == mid {
                v = 0.0;
            } else {
                v += (splitmix(def.seed.wrapping_mul(1_000_003).wrapping_add(k as u64)) % 200) as f64 * 0.25;
            }
            (t, v)
        })
    }
}

/// A small, fixed pseudo-random mix (SplitMix64's finaliser).
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Writes the dataset as OpenMetrics text, runs `promtool` on it, and removes the text.
fn load_prometheus(data: &Dataset, scratch: &Path, out: &Path) -> Result<(), BoxError> {
    let om = scratch.join("data.om");
    {
        let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&om)?);
        let mut last_name = "";
        for (i, def) in data.series.iter().enumerate() {
            let name = def.pairs[0].1.as_str();
            if name != last_name {
                writeln!(w, "# TYPE {name} unknown")?;
                last_name = name;
            }
            let ls: Vec<String> = def.pairs[1..].iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            let prefix = format!("{name}{{{}}}", ls.join(","));
            for (t, v) in data.samples(i) {
                writeln!(w, "{prefix} {v} {}", secs_str(t))?;
            }
        }
        w.write_all(b"# EOF\n")?;
        w.flush()?;
    }
    let mut cmd = Command::new("promtool");
    // Blocks as large as promtool makes them (18h): Prometheus would compact its 2h blocks
    // into these on its own, so this is its steady state.
    cmd.args(["tsdb", "create-blocks-from", "openmetrics", "--quiet", "--max-block-duration=24h"]).arg(&om).arg(out);
    let status = cmd.stdin(Stdio::null()).status()?;
    let _ = std::fs::remove_file(&om);
    if !status.success() {
        return Err(format!("promtool failed: {status}").into());
    }
    Ok(())
}

fn count_blocks(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).filter(|e| e.path().join("meta.json").is_file()).count())
        .unwrap_or(0)
}

/// Appends the dataset to a fresh Cairn database, persists it as blocks, compacts, closes.
/// Returns the number of blocks.
fn load_cairn(data: &Dataset, dir: &Path) -> Result<usize, BoxError> {
    let db = Db::open(dir, Options { background_interval: None, retention_time: 0, ..Default::default() })?;
    let labels: Vec<Labels> = data
        .series
        .iter()
        .map(|d| Labels::from_pairs(&d.pairs))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("dataset labels: {e:?}"))?;
    let mut iters: Vec<_> = (0..data.series.len()).map(|i| data.samples(i)).collect();
    let mut refs: Vec<Option<u64>> = vec![None; labels.len()];
    let mut app = db.appender();
    // The head refuses samples far behind its newest one, so append in time order: one
    // commit per timestamp across all series.
    for _ in data.times() {
        for (i, it) in iters.iter_mut().enumerate() {
            let Some((t, v)) = it.next() else { continue };
            let r = match refs[i] {
                Some(r) => app.append_ref(r, t, v),
                None => app.append(&labels[i], t, v),
            }
            .map_err(|e| format!("append: {e:?}"))?;
            refs[i] = Some(r);
        }
        app.commit()?;
    }
    drop(app);
    db.flush_head()?;
    db.compact()?;
    let n = db.blocks().len();
    db.close()?;
    Ok(n)
}

// ---------------------------------------------------------------------------------------------
// Processes.

fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// A loopback address whose port was free a moment ago.
fn free_addr() -> io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// A server process; dropping it kills the process (by its id) and reaps it.
struct Server {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    fn spawn(name: &'static str, cmd: &mut Command, addr: SocketAddr, log: &Path) -> Result<Server, BoxError> {
        let f = std::fs::File::create(log)?;
        let child = cmd.stdin(Stdio::null()).stdout(f.try_clone()?).stderr(f).spawn()?;
        Ok(Server { name, child, addr, log: log.to_path_buf() })
    }

    /// Polls `/-/ready` until it answers 200, failing with the log if the process exits.
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), BoxError> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                return Err(format!("{} exited with {status}; log:\n{log}", self.name).into());
            }
            if let Ok(mut c) = Conn::connect(self.addr)
                && let Ok((200, _)) = c.get("/-/ready")
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        Err(format!("{} not ready after {timeout:?}; log:\n{log}", self.name).into())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// A keep-alive HTTP/1.1 client.

/// One keep-alive connection.
struct Conn {
    addr: SocketAddr,
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Conn { addr, stream, buf: Vec::with_capacity(64 * 1024) })
    }

    /// `GET path` on this connection; reconnects once if the server closed it while idle.
    fn get(&mut self, path: &str) -> io::Result<(u16, Vec<u8>)> {
        match self.get_once(path) {
            Ok(r) => Ok(r),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                ) =>
            {
                *self = Conn::connect(self.addr)?;
                self.get_once(path)
            }
            Err(e) => Err(e),
        }
    }

    fn get_once(&mut self, path: &str) -> io::Result<(u16, Vec<u8>)> {
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: keep-alive\r\nAccept: application/json\r\n\r\n",
            self.addr
        );
        self.stream.write_all(req.as_bytes())?;
        self.buf.clear();
        let head_end = loop {
            if let Some(p) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p;
            }
            self.fill()?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).map_err(|_| bad("header is not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| bad("bad status line"))?;
        let (mut length, mut chunked, mut close) = (None, false, false);
        for l in lines {
            let Some((n, v)) = l.split_once(':') else { return Err(bad("bad header line")) };
            let (n, v) = (n.trim(), v.trim());
            if n.eq_ignore_ascii_case("content-length") {
                length = Some(v.parse::<usize>().map_err(|_| bad("bad content-length"))?);
            } else if n.eq_ignore_ascii_case("transfer-encoding") {
                chunked = v.eq_ignore_ascii_case("chunked");
            } else if n.eq_ignore_ascii_case("connection") {
                close = v.eq_ignore_ascii_case("close");
            }
        }
        let body_start = head_end + 4;
        let body = if chunked {
            loop {
                if let Some(body) = dechunk(&self.buf[body_start..])? {
                    break body;
                }
                self.fill()?;
            }
        } else if let Some(len) = length {
            while self.buf.len() < body_start + len {
                self.fill()?;
            }
            self.buf[body_start..body_start + len].to_vec()
        } else {
            return Err(bad("response without Content-Length or chunked coding"));
        };
        if close {
            *self = Conn::connect(self.addr)?;
        }
        Ok((status, body))
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed")),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Decodes a chunked body: `Ok(None)` while incomplete.
fn dechunk(mut raw: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") else { return Ok(None) };
        let line = std::str::from_utf8(&raw[..eol]).map_err(|_| bad("bad chunk size"))?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size"))?;
        let rest = &raw[eol + 2..];
        if size == 0 {
            // No trailers are expected; the final CRLF ends the body.
            return Ok(rest.starts_with(b"\r\n").then_some(out));
        }
        if rest.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&rest[..size]);
        raw = &rest[size + 2..];
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect::<Vec<_>>().join("&")
}

// ---------------------------------------------------------------------------------------------
// Checking answers.

/// The `data` of a successful API answer.
fn fetch_data(addr: SocketAddr, path: &str) -> Result<Value, BoxError> {
    let (status, body) = Conn::connect(addr)?.get(path)?;
    let text = String::from_utf8_lossy(&body);
    if status != 200 {
        return Err(format!("status {status}: {text}").into());
    }
    let mut v: Value = serde_json::from_slice(&body)?;
    if v.get("status").and_then(Value::as_str) != Some("success") {
        return Err(format!("not a success: {text}").into());
    }
    v.get_mut("data").map(Value::take).ok_or_else(|| format!("no data: {text}").into())
}

/// Sorts lists whose order the API does not promise to clients (matrix results by metric,
/// series by labels), so that only content is compared.
fn normalize(mut v: Value) -> Value {
    let list = match &mut v {
        Value::Array(a) => Some(a),
        Value::Object(o) => o.get_mut("result").and_then(Value::as_array_mut),
        _ => None,
    };
    if let Some(a) = list {
        a.sort_by_key(|x| x.get("metric").unwrap_or(x).to_string());
    }
    v
}

/// Whether two numbers agree within 1e-9 relative (exactly for zero and non-finite values).
fn num_close(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Compares JSON structurally; numbers, and strings that both parse as numbers, within 1e-9
/// relative. Returns the path and both sides of the first difference.
fn json_close(a: &Value, b: &Value, path: &str) -> Result<(), String> {
    let differ = || Err(format!("at {path}: {} vs {}", short(a), short(b)));
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) if num_close(x, y) => Ok(()),
            _ => differ(),
        },
        (Value::String(x), Value::String(y)) => {
            if x == y {
                return Ok(());
            }
            match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(x), Ok(y)) if num_close(x, y) => Ok(()),
                _ => differ(),
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Err(format!("at {path}: {} elements vs {}", x.len(), y.len()));
            }
            x.iter().zip(y).enumerate().try_for_each(|(i, (x, y))| json_close(x, y, &format!("{path}[{i}]")))
        }
        (Value::Object(x), Value::Object(y)) => {
            let (mut kx, mut ky): (Vec<&String>, Vec<&String>) = (x.keys().collect(), y.keys().collect());
            kx.sort();
            ky.sort();
            if kx != ky {
                return Err(format!("at {path}: keys {kx:?} vs {ky:?}"));
            }
            x.iter().try_for_each(|(k, xv)| match y.get(k) {
                Some(yv) => json_close(xv, yv, &format!("{path}.{k}")),
                None => differ(),
            })
        }
        _ if a == b => Ok(()),
        _ => differ(),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 200 { format!("{}...", s.chars().take(200).collect::<String>()) } else { s }
}

// ---------------------------------------------------------------------------------------------
// Measuring.

struct Endpoint {
    name: &'static str,
    path: String,
}

/// The outcome of one endpoint on one server.
struct Measurement {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    /// Per-request latencies of successful requests, sorted.
    latencies: Vec<Duration>,
}

impl Measurement {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q`-quantile latency (nearest rank).
    fn quantile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((q * self.latencies.len() as f64).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[rank - 1]
    }

    fn summary(&self) -> String {
        format!(
            "{:>9.1} req/s  p50 {:>9}  p99 {:>9}  ({} requests in {:.0?}, {} errors, load {})",
            self.rate(),
            fmt_dur(self.quantile(0.50)),
            fmt_dur(self.quantile(0.99)),
            self.requests,
            self.elapsed,
            self.errors,
            loadavg()
        )
    }
}

fn fmt_dur(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 1.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{:.0} µs", ms * 1e3)
    }
}

/// Runs `threads` clients, each on its own keep-alive connection, issuing `GET path` back to
/// back. One request is timed alone first (it also warms caches), then all clients run for a
/// warm-up second and a measured window of at least `dur`, stretched for slow requests so that
/// about 40 of them complete (at most 60 s). Requests count when they complete inside the
/// window, whenever they started, so the rate is not biased against slow requests; only 200
/// answers count.
fn measure(addr: SocketAddr, path: &str, threads: usize, dur: Duration) -> Result<Measurement, BoxError> {
    let t0 = Instant::now();
    Conn::connect(addr)?.get(path)?;
    let alone = t0.elapsed();
    let window = dur.max((alone * 25).min(Duration::from_secs(60)));
    let measure_from = Instant::now() + Duration::from_secs(1);
    let stop = measure_from + window;
    let results: Vec<io::Result<(Vec<Duration>, usize)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || -> io::Result<(Vec<Duration>, usize)> {
                    let mut conn = Conn::connect(addr)?;
                    let mut lat = Vec::new();
                    let mut errors = 0;
                    loop {
                        let t0 = Instant::now();
                        if t0 >= stop {
                            break;
                        }
                        let (status, _) = conn.get(path)?;
                        let t1 = Instant::now();
                        if t1 >= measure_from && t1 < stop {
                            if status == 200 {
                                lat.push(t1 - t0);
                            } else {
                                errors += 1;
                            }
                        }
                    }
                    Ok((lat, errors))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(bad("client thread panicked")))).collect()
    });
    let mut latencies = Vec::new();
    let mut errors = 0;
    for r in results {
        let (l, e) = r?;
        latencies.extend(l);
        errors += e;
    }
    latencies.sort();
    Ok(Measurement { requests: latencies.len(), errors, elapsed: window, latencies })
}

/// The 1-minute load average, to tell whether other work shared the CPUs.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn render_table(
    rows: &[(&str, Measurement, Measurement)],
    data: &Dataset,
    threads: usize,
    secs: u64,
    load: &str,
) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "# API benchmark: Cairn vs Prometheus 2.42\n");
    let _ = writeln!(
        t,
        "{} series, 24 h at 30 s ({} samples), both servers on blocks only; {threads} keep-alive \
         client threads, at least {secs} s per endpoint and server (longer for slow requests, \
         see the requests column) after 1 s of warm-up; {} CPUs, load average {load}.\n\
         Ratio = Cairn req/s / Prometheus req/s (above 1: Cairn is faster).\n",
        data.series.len(),
        data.series.len() * data.times().count(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
    );
    let _ = writeln!(
        t,
        "| endpoint | Cairn req/s | Prometheus req/s | ratio | Cairn p50 | Prometheus p50 | Cairn p99 | Prometheus p99 | requests |"
    );
    let _ = writeln!(t, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, c, p) in rows {
        let ratio = if p.rate() > 0.0 { format!("{:.2}", c.rate() / p.rate()) } else { "-".into() };
        let _ = writeln!(
            t,
            "| {name} | {:.1} | {:.1} | {ratio} | {} | {} | {} | {} | {} in {:.0?} / {} in {:.0?} |",
            c.rate(),
            p.rate(),
            fmt_dur(c.quantile(0.5)),
            fmt_dur(p.quantile(0.5)),
            fmt_dur(c.quantile(0.99)),
            fmt_dur(p.quantile(0.99)),
            c.requests,
            c.elapsed,
            p.requests,
            p.elapsed,
        );
    }
    let errs: usize = rows.iter().map(|(_, c, p)| c.errors + p.errors).sum();
    if errs > 0 {
        let _ = writeln!(t, "\n{errs} non-200 answers during the runs (not counted above).");
    }
    t
}
