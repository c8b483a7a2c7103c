//! Synthetic scrape targets: one loopback HTTP listener per instance of the workload, each
//! serving its 1,000 series in the Prometheus text format (0.0.4) at `/metrics`.
//!
//! Every scrape moves the target one round forward (counters rise, gauges sometimes change,
//! histograms observe), so each system scraping a fresh [`Targets`] sees the same sequence of
//! values. [`Targets`] counts the scrapes it answered and the samples in them.

use crate::series::{Kind, State, TemplateSeries, Workload, template};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The largest request head a target reads before giving up on the connection.
const MAX_HEAD: usize = 16 * 1024;

/// Counters of what the targets served.
#[derive(Debug, Default)]
pub struct Served {
    /// Scrapes answered.
    pub scrapes: AtomicU64,
    /// Samples in the answered scrapes.
    pub samples: AtomicU64,
}

/// The exposition text of one template series, split around the value.
#[derive(Debug, Clone)]
struct Line {
    /// `# HELP`/`# TYPE` lines to write first (the first series of a family), or empty.
    header: String,
    /// `name{labels} `.
    prefix: String,
}

fn lines(t: &[TemplateSeries]) -> Vec<Line> {
    let mut out = Vec::with_capacity(t.len());
    let mut family = "";
    for s in t {
        let (fam, typ, help) = match s.kind {
            Kind::Counter(_) => ("app_requests_total", "counter", "Requests handled."),
            Kind::Gauge(_) if s.name == "app_memory_bytes" => (s.name, "gauge", "Memory in use."),
            Kind::Gauge(_) => (s.name, "gauge", "Items waiting."),
            _ => ("app_request_duration_seconds", "histogram", "Request latency."),
        };
        let header = if fam == family { String::new() } else { format!("# HELP {fam} {help}\n# TYPE {fam} {typ}\n") };
        family = fam;
        let mut prefix = s.name.to_string();
        if !s.labels.is_empty() {
            prefix.push('{');
            for (k, (n, v)) in s.labels.iter().enumerate() {
                if k > 0 {
                    prefix.push(',');
                }
                let _ = write!(prefix, "{n}=\"{v}\"");
            }
            prefix.push('}');
        }
        prefix.push(' ');
        out.push(Line { header, prefix });
    }
    out
}

/// One target's evolving values.
#[derive(Debug)]
struct Target {
    state: State,
    series: usize,
}

/// Renders the target's next round.
fn render(lines: &[Line], t: &mut Target, tmpl: &[TemplateSeries], buf: &mut String) {
    t.state.advance();
    buf.clear();
    for (line, s) in lines.iter().zip(tmpl).take(t.series) {
        buf.push_str(&line.header);
        buf.push_str(&line.prefix);
        let _ = writeln!(buf, "{}", t.state.value(0, s.kind));
    }
}

/// Running scrape targets.
#[derive(Debug)]
pub struct Targets {
    /// Their addresses, one per instance.
    pub addrs: Vec<SocketAddr>,
    /// What they served.
    pub served: Arc<Served>,
    stop: watch::Sender<bool>,
}

impl Targets {
    /// Starts the targets of `workload` on loopback ports; their values come from `seed`.
    pub async fn start(workload: &Workload, seed: u64) -> std::io::Result<Targets> {
        let tmpl: Arc<Vec<TemplateSeries>> = Arc::new(template());
        let lines: Arc<Vec<Line>> = Arc::new(lines(&tmpl));
        let served = Arc::new(Served::default());
        let (stop, stop_rx) = watch::channel(false);
        let mut addrs = Vec::new();
        for i in 0..workload.instances() {
            let l = TcpListener::bind("127.0.0.1:0").await?;
            addrs.push(l.local_addr()?);
            let target = Arc::new(Mutex::new(Target {
                state: State::new(1, 0, seed ^ (i as u64).wrapping_mul(0x9e37_79b9)),
                series: workload.instance_len(i),
            }));
            let (tmpl, lines, served, mut stop_rx) = (tmpl.clone(), lines.clone(), served.clone(), stop_rx.clone());
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop_rx.changed() => return,
                        acc = l.accept() => {
                            let Ok((conn, _)) = acc else { continue };
                            let ctx = (tmpl.clone(), lines.clone(), served.clone(), target.clone());
                            tokio::spawn(serve_conn(conn, ctx, stop_rx.clone()));
                        }
                    }
                }
            });
        }
        Ok(Targets { addrs, served, stop })
    }

    /// Stops every listener and connection.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// The `static_configs` target list for a Prometheus configuration file.
    pub fn yaml_targets(&self) -> String {
        let items: Vec<String> = self.addrs.iter().map(|a| format!("'{a}'")).collect();
        format!("[{}]", items.join(", "))
    }
}

impl Drop for Targets {
    fn drop(&mut self) {
        self.stop();
    }
}

type Ctx = (Arc<Vec<TemplateSeries>>, Arc<Vec<Line>>, Arc<Served>, Arc<Mutex<Target>>);

/// Answers requests on one keep-alive connection until it closes or the targets stop.
async fn serve_conn(mut conn: TcpStream, ctx: Ctx, mut stop: watch::Receiver<bool>) {
    let (tmpl, lines, served, target) = ctx;
    let mut have: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 4096];
    let mut body = String::new();
    loop {
        // Read one request head (GET has no body).
        let end = loop {
            if let Some(p) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            if have.len() > MAX_HEAD {
                return;
            }
            tokio::select! {
                _ = stop.changed() => return,
                r = conn.read(&mut buf) => match r {
                    Ok(0) | Err(_) => return,
                    Ok(n) => have.extend_from_slice(buf.get(..n).unwrap_or_default()),
                },
            }
        };
        let request_line =
            String::from_utf8_lossy(have.get(..end).unwrap_or_default()).lines().next().map(str::to_owned);
        have.drain(..end);
        let ok = request_line.as_deref().is_some_and(|l| l.starts_with("GET /metrics"));
        let head = if ok {
            let n = {
                let Ok(mut t) = target.lock() else { return };
                render(&lines, &mut t, &tmpl, &mut body);
                t.series as u64
            };
            served.scrapes.fetch_add(1, Ordering::Relaxed);
            served.samples.fetch_add(n, Ordering::Relaxed);
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
        } else {
            body.clear();
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string()
        };
        if conn.write_all(head.as_bytes()).await.is_err() || conn.write_all(body.as_bytes()).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: SocketAddr, conn: &mut Option<TcpStream>, path: &str) -> (String, String) {
        let c = match conn {
            Some(c) => c,
            None => conn.insert(TcpStream::connect(addr).await.unwrap()),
        };
        c.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n").as_bytes()).await.unwrap();
        let mut have = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            let n = c.read(&mut buf).await.unwrap();
            assert!(n > 0);
            have.extend_from_slice(&buf[..n]);
            if let Some(p) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&have[..p]).to_string();
                let len: usize =
                    head.lines().find_map(|l| l.strip_prefix("Content-Length: ")).unwrap().parse().unwrap();
                if have.len() >= p + 4 + len {
                    return (head, String::from_utf8(have[p + 4..p + 4 + len].to_vec()).unwrap());
                }
            }
        }
    }

    #[tokio::test]
    async fn targets_serve_text_format_and_count() {
        let w = Workload::new(1500);
        let t = Targets::start(&w, 5).await.unwrap();
        assert_eq!(t.addrs.len(), 2);
        let mut conn = None;
        let (head, b1) = get(t.addrs[0], &mut conn, "/metrics").await;
        assert!(head.starts_with("HTTP/1.1 200"));
        assert!(head.contains("text/plain; version=0.0.4"));
        // Same connection (keep-alive): the next round.
        let (_, b2) = get(t.addrs[0], &mut conn, "/metrics").await;
        let samples = |b: &str| b.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(samples(&b1), 1000);
        assert_ne!(b1, b2);
        assert_eq!(b1.matches("# TYPE ").count(), 4);
        assert!(b1.contains("# TYPE app_request_duration_seconds histogram\n"));
        assert!(b1.contains("app_requests_total{code=\"200\",handler=\"/api/h0\",method=\"GET\"} "));
        assert!(b1.contains("app_request_duration_seconds_bucket{handler=\"/api/h19\",le=\"+Inf\"} "));
        let (_, b3) = get(t.addrs[1], &mut None, "/metrics").await;
        assert_eq!(samples(&b3), 500);
        let (head, _) = get(t.addrs[1], &mut None, "/other").await;
        assert!(head.starts_with("HTTP/1.1 404"));
        assert_eq!(t.served.scrapes.load(Ordering::Relaxed), 3);
        assert_eq!(t.served.samples.load(Ordering::Relaxed), 2500);
        assert_eq!(t.yaml_targets(), format!("['{}', '{}']", t.addrs[0], t.addrs[1]));
    }

    #[test]
    fn exposition_parses_with_promtool() {
        // The real parser decides: `promtool check metrics` reads the text format from stdin.
        let Some(promtool) = crate::system::find_on_path("promtool") else {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "promtool missing under CI=true");
            eprintln!("promtool not on PATH: skipping the exposition check");
            return;
        };
        let tmpl = template();
        let mut t = Target { state: State::new(1, 0, 1), series: 1000 };
        let mut body = String::new();
        render(&lines(&tmpl), &mut t, &tmpl, &mut body);
        let mut child = std::process::Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        // promtool exits 0 on a valid exposition (lint warnings only with exit 3); a parse
        // error exits 1 and says "error while linting".
        assert!(!text.contains("error while linting"), "{text}");
        assert!(out.status.code() == Some(0) || out.status.code() == Some(3), "{:?} {text}", out.status);
    }
}
