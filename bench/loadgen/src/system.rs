//! The three systems under comparison and how to run one: command line, readiness, stopping.
//!
//! [`SystemKind`] says what differs between Cairn, Prometheus and VictoriaMetrics (flags,
//! readiness endpoint, how to make it persist everything); [`Server`] is one running process
//! on a loopback port with its own data directory and log file. A `Server` that is dropped
//! without [`Server::stop`] kills its process, so an aborted run leaves nothing behind.

use crate::procstat::{self, ProcSample};
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Errors starting, probing or stopping a server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The process could not be started.
    #[error("starting {what}: {source}")]
    Spawn {
        /// The binary.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The server did not become ready in time, or exited first.
    #[error("{what} not ready after {waited:.1?}{exited} (log: {log})")]
    NotReady {
        /// The system.
        what: &'static str,
        /// How long we waited.
        waited: Duration,
        /// Text saying it exited, or empty.
        exited: String,
        /// Its log file.
        log: String,
    },
    /// A local I/O failure (port, log file, directory).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Reading `/proc` failed.
    #[error(transparent)]
    Proc(#[from] procstat::Error),
}

/// One of the compared systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SystemKind {
    /// Cairn, this project.
    Cairn,
    /// Prometheus (Debian's 2.42).
    Prometheus,
    /// VictoriaMetrics single-node (Debian's 1.79).
    VictoriaMetrics,
}

impl SystemKind {
    /// All systems, in the order they run and appear in the table.
    pub const ALL: [SystemKind; 3] = [SystemKind::Cairn, SystemKind::Prometheus, SystemKind::VictoriaMetrics];

    /// The display name.
    pub fn name(self) -> &'static str {
        match self {
            SystemKind::Cairn => "Cairn",
            SystemKind::Prometheus => "Prometheus",
            SystemKind::VictoriaMetrics => "VictoriaMetrics",
        }
    }

    /// The key used on the command line and in the JSON report.
    pub fn key(self) -> &'static str {
        match self {
            SystemKind::Cairn => "cairn",
            SystemKind::Prometheus => "prometheus",
            SystemKind::VictoriaMetrics => "victoria-metrics",
        }
    }

    /// The system with this key.
    pub fn from_key(key: &str) -> Option<SystemKind> {
        SystemKind::ALL.into_iter().find(|k| k.key() == key)
    }

    /// The path that answers 200 once the server serves queries.
    pub fn ready_path(self) -> &'static str {
        match self {
            SystemKind::VictoriaMetrics => "/health",
            _ => "/-/ready",
        }
    }

    /// The command line for a server on `addr` with data in `data`. `config` is a Prometheus
    /// configuration file (scrape jobs), or `None` for a server that only receives pushes.
    fn args(self, addr: SocketAddr, data: &Path, config: Option<&Path>, empty_config: &Path) -> Vec<String> {
        match self {
            SystemKind::Cairn | SystemKind::Prometheus => {
                let mut a = vec![
                    format!("--config.file={}", config.unwrap_or(empty_config).display()),
                    format!("--storage.tsdb.path={}", data.display()),
                    format!("--web.listen-address={addr}"),
                    "--web.enable-remote-write-receiver".to_string(),
                    "--query.timeout=10m".to_string(),
                ];
                if self == SystemKind::Prometheus {
                    a.push("--web.enable-admin-api".to_string());
                }
                a
            }
            SystemKind::VictoriaMetrics => {
                let mut a = vec![
                    format!("-storageDataPath={}", data.display()),
                    format!("-httpListenAddr={addr}"),
                    "-retentionPeriod=100y".to_string(),
                    // Answer with data up to now (default: 30 s behind) and without the
                    // result cache, so answers and timings are of the query itself.
                    "-search.latencyOffset=0s".to_string(),
                    "-search.disableCache".to_string(),
                    // Lift the default caps on series per query and per answer, which the
                    // 1M-series checks and the dashboard queries exceed.
                    "-search.maxUniqueTimeseries=100000000".to_string(),
                    "-search.maxSeries=100000000".to_string(),
                    "-search.maxQueryDuration=10m".to_string(),
                ];
                if let Some(c) = config {
                    a.push(format!("-promscrape.config={}", c.display()));
                }
                a
            }
        }
    }
}

/// A loopback address with a port that was free a moment ago.
pub fn free_addr() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    /// Which system.
    pub kind: SystemKind,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its data directory.
    pub data: PathBuf,
    /// Its log file (standard output and error).
    pub log: PathBuf,
    /// When the process was started.
    pub started: Instant,
    child: Option<Child>,
    ticks: f64,
}

impl Server {
    /// Starts `binary` as `kind` on a fresh loopback port. The log is appended to `log`.
    pub fn start(
        kind: SystemKind,
        binary: &Path,
        data: &Path,
        config: Option<&Path>,
        empty_config: &Path,
        log: &Path,
    ) -> Result<Server, Error> {
        std::fs::create_dir_all(data)?;
        let addr = free_addr()?;
        let out = File::options().create(true).append(true).open(log)?;
        let err = out.try_clone()?;
        let child = Command::new(binary)
            .args(kind.args(addr, data, config, empty_config))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|source| Error::Spawn { what: binary.display().to_string(), source })?;
        Ok(Server {
            kind,
            addr,
            data: data.to_path_buf(),
            log: log.to_path_buf(),
            started: Instant::now(),
            child: Some(child),
            ticks: procstat::clock_ticks(),
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// `http://addr` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Waits until the readiness endpoint answers 200, polling every 20 ms, at most `limit`.
    /// Returns the time from the process start to the first 200.
    pub async fn wait_ready(&mut self, client: &reqwest::Client, limit: Duration) -> Result<Duration, Error> {
        let url = self.url(self.kind.ready_path());
        loop {
            if let Ok(r) = client.get(&url).timeout(Duration::from_secs(2)).send().await
                && r.status().is_success()
            {
                return Ok(self.started.elapsed());
            }
            let exited = match self.child.as_mut().map(Child::try_wait) {
                Some(Ok(Some(st))) => format!(" (exited: {st})"),
                _ => String::new(),
            };
            if !exited.is_empty() || self.started.elapsed() > limit {
                return Err(Error::NotReady {
                    what: self.kind.name(),
                    waited: self.started.elapsed(),
                    exited,
                    log: self.log.display().to_string(),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The process's CPU and memory counters now.
    pub fn sample(&self) -> Result<ProcSample, Error> {
        Ok(procstat::sample(self.pid(), self.ticks)?)
    }

    /// Stops the server with SIGTERM and waits for it to exit, at most `limit`; then kills
    /// it. Returns whether it exited by itself, and how long that took.
    pub fn stop(mut self, limit: Duration) -> (bool, Duration) {
        let Some(mut child) = self.child.take() else { return (true, Duration::ZERO) };
        let t = Instant::now();
        // std has no signal API; `kill` from procps (or the shell builtin) sends SIGTERM.
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        while t.elapsed() < limit {
            if let Ok(Some(_)) = child.try_wait() {
                return (true, t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        (false, t.elapsed())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The version line a binary prints (`--version` / `-version`), for the report.
pub fn version(kind: SystemKind, binary: &Path) -> String {
    let flag = if kind == SystemKind::VictoriaMetrics { "-version" } else { "--version" };
    let out = Command::new(binary).arg(flag).stdin(Stdio::null()).output();
    let line = match out {
        Ok(o) => {
            let text = if o.stdout.is_empty() { o.stderr } else { o.stdout };
            let s = String::from_utf8_lossy(&text);
            s.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string()
        }
        Err(e) => return format!("unknown ({e})"),
    };
    if kind == SystemKind::Cairn {
        // Name the commit when run from a checkout (the binary is built from it).
        let rev = Command::new("git").args(["describe", "--always", "--dirty"]).output().ok();
        let rev = rev.filter(|o| o.status.success()).map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        return match rev {
            Some(r) if !r.is_empty() => format!("{line} (git {r})"),
            _ => line,
        };
    }
    if !line.is_empty() {
        return line;
    }
    // Debian's VictoriaMetrics prints an empty version; its package knows it.
    let pkg = if kind == SystemKind::Prometheus { "prometheus" } else { "victoria-metrics" };
    Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", pkg])
        .output()
        .ok()
        .map(|o| format!("{pkg} {} (Debian package)", String::from_utf8_lossy(&o.stdout).trim()))
        .unwrap_or_default()
}

/// Finds `name` on `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}
