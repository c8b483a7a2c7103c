//! Nothing acknowledged is lost on the way out: the real `cairn` binary remote-writes to a
//! receiver served by this test that fails with 503 for a while. Meanwhile Cairn is stopped
//! gracefully and restarted, then killed with SIGKILL and restarted, with samples written
//! into it before each restart; then the receiver recovers. Every sample must arrive exactly
//! once. Afterwards a series the receiver refuses with 400 must be counted in
//! `prometheus_remote_storage_samples_failed_total` and never retried.
//!
//! The samples enter Cairn through its own `/api/v1/write`, so the test knows every sample
//! the WAL holds, and the expectations follow from that set alone.

use crate::peer::{PeerProcess, free_addr, http_get};
use crate::remote::{Client, SeriesSpec, V1_HEADERS, v1_request};
use crate::scrape::{cairn_pid, wait_for};
use cairn::remote::codec;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SERIES: usize = 20;
const PER_PHASE: i64 = 10;

/// What the receiver saw.
#[derive(Default)]
struct Seen {
    /// `true`: answer 503 to everything.
    failing: bool,
    /// Requests answered 503.
    refused: u64,
    /// Requests answered 400 (they carried a `poison` series).
    rejected: u64,
    /// Accepted samples: (series labels, timestamp) → values received (one per delivery).
    samples: BTreeMap<(String, i64), Vec<f64>>,
}

/// A remote-write receiver on 127.0.0.1 (HTTP/1.1 with keep-alive, one thread per connection).
struct Receiver {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen { failing: true, ..Seen::default() }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            while !sp.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (st, sp) = (st.clone(), sp.clone());
                        std::thread::spawn(move || serve(conn, &st, &sp));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Receiver { addr, seen, stop }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Seen) -> T) -> T {
        f(&mut self.seen.lock().unwrap())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Serves requests on one connection until it closes or the receiver stops.
fn serve(mut conn: TcpStream, seen: &Mutex<Seen>, stop: &AtomicBool) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        // Head, then the body by Content-Length.
        let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match conn.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return,
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if buf.len() < head_end + 4 + len {
            match conn.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return,
            }
            continue;
        }
        let body: Vec<u8> = buf[head_end + 4..head_end + 4 + len].to_vec();
        buf.drain(..head_end + 4 + len);
        let status = handle(&body, seen);
        let reason = match status {
            204 => "No Content",
            400 => "Bad Request",
            _ => "Service Unavailable",
        };
        if conn.write_all(format!("HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\n\r\n").as_bytes()).is_err() {
            return;
        }
    }
}

/// Decides the answer to one write request and records what it accepted.
fn handle(body: &[u8], seen: &Mutex<Seen>) -> u16 {
    let mut s = seen.lock().unwrap();
    if s.failing {
        s.refused += 1;
        return 503;
    }
    let Ok(req) = codec::decode_write_request(body, 64 << 20) else { return 400 };
    if req.timeseries.iter().any(|ts| ts.labels.iter().any(|l| l.name == "poison")) {
        s.rejected += 1;
        return 400;
    }
    for ts in &req.timeseries {
        let labels: Vec<String> = ts.labels.iter().map(|l| format!("{}={}", l.name, l.value)).collect();
        for smp in &ts.samples {
            s.samples.entry((labels.join(","), smp.timestamp)).or_default().push(smp.value);
        }
    }
    204
}

fn start(dir: &Path, n: u32) -> PeerProcess {
    let addr = free_addr().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
    cmd.arg(format!("--config.file={}", dir.join("cairn.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("cairn-data").display()))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--storage.remote.flush-deadline=1s");
    let mut p = PeerProcess::spawn("cairn", cmd, addr, &dir.join(format!("cairn-{n}.log"))).unwrap();
    p.wait_ready("/-/ready", Duration::from_secs(60)).unwrap();
    p
}

/// Samples `phase*PER_PHASE .. (phase+1)*PER_PHASE` of every series, one second apart.
fn push_phase(c: &Client, cairn: SocketAddr, base: i64, phase: i64) {
    let names: Vec<String> = (0..SERIES).map(|s| s.to_string()).collect();
    let samples: Vec<Vec<(i64, f64)>> = (0..SERIES)
        .map(|s| {
            (phase * PER_PHASE..(phase + 1) * PER_PHASE)
                .map(|i| (base + i * 1000, (s as i64 * 1000 + i) as f64))
                .collect()
        })
        .collect();
    let labels: Vec<[(&str, &str); 2]> = names.iter().map(|n| [("__name__", "loss_test"), ("s", n.as_str())]).collect();
    let specs: Vec<SeriesSpec> = labels.iter().zip(&samples).map(|(l, s)| (&l[..], &s[..])).collect();
    let r = c.post(cairn, "/api/v1/write", V1_HEADERS, v1_request(&specs));
    assert_eq!(r.status, 204, "{}", r.text());
}

/// Sum of a counter over all its label sets in Cairn's `/metrics`.
fn counter(addr: SocketAddr, name: &str) -> f64 {
    let text = http_get(addr, "/metrics", Duration::from_secs(10)).unwrap().text();
    text.lines()
        .filter(|l| l.strip_prefix(name).is_some_and(|r| r.starts_with('{') || r.starts_with(' ')))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until the receiver has refused `more` further requests (so the queue is retrying).
fn wait_refusals(rx: &Receiver, more: u64) {
    let from = rx.with(|s| s.refused);
    wait_for("the sender to retry", Duration::from_secs(30), || (rx.with(|s| s.refused) >= from + more).then_some(()));
}

fn signal_and_wait(dir: &Path, signal: &str) {
    let pid = cairn_pid(dir);
    assert!(Command::new("kill").args([signal, &pid.to_string()]).status().unwrap().success());
    wait_for("cairn to exit", Duration::from_secs(60), || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
        (stat.is_err() || stat.is_ok_and(|s| s.contains(") Z "))).then_some(())
    });
}

#[test]
fn samples_survive_failing_receiver_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start();
    std::fs::write(
        dir.path().join("cairn.yml"),
        format!(
            "global: {{}}\nremote_write:\n  - url: http://{}/receive\n    queue_config:\n      \
             batch_send_deadline: 100ms\n      max_samples_per_send: 50\n      min_backoff: 50ms\n      \
             max_backoff: 200ms\n",
            rx.addr
        ),
    )
    .unwrap();
    let c = Client::new();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let base = now - 120_000;

    // 1. Written while the receiver fails; the queue retries; a graceful stop gives up after
    //    the 1 s flush deadline without losing the position.
    let cairn = start(dir.path(), 1);
    push_phase(&c, cairn.addr(), base, 0);
    wait_refusals(&rx, 3);
    assert!(counter(cairn.addr(), "prometheus_remote_storage_samples_retried_total") > 0.0);
    signal_and_wait(dir.path(), "-TERM");
    drop(cairn);

    // 2. Restarted, more samples, still failing; then killed without warning.
    let cairn = start(dir.path(), 2);
    push_phase(&c, cairn.addr(), base, 1);
    wait_refusals(&rx, 3);
    // Past the one-second position save, so the kill tests the saved position too.
    std::thread::sleep(Duration::from_millis(1500));
    signal_and_wait(dir.path(), "-KILL");
    drop(cairn);

    // 3. Restarted again; the receiver recovers after a few more refusals.
    let cairn = start(dir.path(), 3);
    push_phase(&c, cairn.addr(), base, 2);
    wait_refusals(&rx, 2);
    assert_eq!(rx.with(|s| s.samples.len()), 0, "nothing accepted while failing");
    rx.with(|s| s.failing = false);
    let want = SERIES * 3 * PER_PHASE as usize;
    wait_for("every sample delivered", Duration::from_secs(60), || {
        (rx.with(|s| s.samples.len()) >= want).then_some(())
    });
    // Late duplicates would come within a few batch deadlines.
    std::thread::sleep(Duration::from_secs(2));
    rx.with(|s| {
        assert_eq!(s.samples.len(), want, "exactly the samples written, no others");
        for s_i in 0..SERIES {
            for i in 0..3 * PER_PHASE {
                let key = (format!("__name__=loss_test,s={s_i}"), base + i * 1000);
                let got = s.samples.get(&key).unwrap_or_else(|| panic!("missing {key:?}"));
                assert_eq!(got, &vec![(s_i as i64 * 1000 + i) as f64], "{key:?} delivered exactly once");
            }
        }
    });
    assert_eq!(counter(cairn.addr(), "prometheus_remote_storage_samples_failed_total"), 0.0);
    assert_eq!(counter(cairn.addr(), "prometheus_remote_storage_samples_dropped_total"), 0.0);

    // 4. A refused (400) batch is counted as failed and not retried.
    let poison: Vec<(i64, f64)> = (0..5).map(|i| (base + 40_000 + i * 1000, i as f64)).collect();
    let r = c.post(
        cairn.addr(),
        "/api/v1/write",
        V1_HEADERS,
        v1_request(&[(&[("__name__", "loss_poison"), ("poison", "1")], &poison)]),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    wait_for("the 400 to be counted", Duration::from_secs(30), || {
        (counter(cairn.addr(), "prometheus_remote_storage_samples_failed_total") == 5.0).then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(rx.with(|s| s.rejected), 1, "a 400 is not retried");
    assert_eq!(rx.with(|s| s.samples.len()), want);
    drop(cairn);
}
