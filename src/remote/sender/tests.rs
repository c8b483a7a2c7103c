//! The queue against a real HTTP receiver on loopback, with a real database writing the WAL.
//! The body encoding here is a test stand-in (one `labels t value` line per sample); the
//! protobuf encoders are tested with the receiver that decodes them.

use super::*;
use crate::tsdb::{Db, Options};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use std::collections::BTreeSet;
use std::sync::atomic::AtomicU16;

/// What the test receiver got, and how it answers.
#[derive(Default)]
struct Receiver {
    lines: Mutex<Vec<String>>,
    /// Answer with this status instead of 204 while non-zero.
    fail_with: AtomicU16,
    requests: std::sync::atomic::AtomicU64,
}

async fn receive(State(r): State<Arc<Receiver>>, body: Bytes) -> StatusCode {
    r.requests.fetch_add(1, Relaxed);
    let code = r.fail_with.load(Relaxed);
    if code != 0 {
        return StatusCode::from_u16(code).unwrap();
    }
    let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
    let text = String::from_utf8(raw).unwrap();
    r.lines.lock().extend(text.lines().map(str::to_string));
    StatusCode::NO_CONTENT
}

fn text_encoder() -> Encoder {
    Arc::new(|batch: &[Pending]| {
        let mut out = String::new();
        for p in batch {
            out.push_str(&format!("{} {} {}\n", p.series, p.t, p.v));
        }
        out.into_bytes()
    })
}

async fn start_receiver() -> (Arc<Receiver>, String) {
    let r = Arc::new(Receiver::default());
    let app = Router::new().route("/write", post(receive)).with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/write", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, url)
}

fn queue_opts(url: &str, db_dir: &std::path::Path, state: &std::path::Path) -> QueueOptions {
    crate::server::tls::install_default_provider();
    let queue = QueueConfig {
        max_samples_per_send: 7,
        batch_send_deadline: Duration::from_millis(20),
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(40),
        ..QueueConfig::default()
    };
    QueueOptions {
        send: SendConfig {
            name: "test".into(),
            url: url.into(),
            timeout: Duration::from_secs(5),
            queue,
            headers: BTreeMap::new(),
            client: reqwest::Client::builder().build().unwrap().into(),
            encoder: text_encoder(),
            content_type: "text/plain".into(),
            version_header: "0.1.0".into(),
            send_exemplars: false,
        },
        wal_dir: db_dir.join("wal"),
        state_dir: state.to_path_buf(),
        relabel: Vec::new(),
        external_labels: Labels::from_pairs(&[("cluster", "c1")]).unwrap(),
        flush_deadline: Duration::from_millis(300),
        poll_interval: Duration::from_millis(5),
        metadata: None,
    }
}

fn open_db(dir: &std::path::Path) -> Db {
    Db::open(dir, Options { background_interval: None, ..Options::default() }).unwrap()
}

/// Appends `n` samples per series for 3 series at timestamps `from..from+n`, one commit each.
fn write(db: &Db, from: i64, n: i64) {
    for t in from..from + n {
        let mut app = db.appender();
        for s in 0..3 {
            let l = Labels::from_pairs(&[("__name__", "m"), ("s", &s.to_string())]).unwrap();
            app.append(&l, t, t as f64).unwrap();
        }
        app.commit().unwrap();
    }
}

/// Every line expected for timestamps `range`, as the text encoder writes it.
fn expected(range: std::ops::Range<i64>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for t in range {
        for s in 0..3 {
            out.insert(format!("{{__name__=\"m\", cluster=\"c1\", s=\"{s}\"}} {t} {t}"));
        }
    }
    out
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn assert_exactly_once(lines: &[String], want: &BTreeSet<String>) {
    let got: BTreeSet<String> = lines.iter().cloned().collect();
    assert_eq!(got.len(), lines.len(), "no sample arrived twice");
    assert_eq!(&got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_queue_sends_what_is_written_after_it_starts_in_order() {
    let (rx, url) = start_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(&dir.path().join("db"));
    write(&db, 0, 5); // Before the queue exists: not sent (a new queue starts at the WAL's end).
    let q = QueueManager::start(
        queue_opts(&url, &dir.path().join("db"), &dir.path().join("q")),
        tokio::runtime::Handle::current(),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    write(&db, 5, 40);
    let want = expected(5..45);
    wait_for("all samples", || rx.lines.lock().len() >= want.len()).await;
    q.stop().await;
    let lines = rx.lines.lock().clone();
    assert_exactly_once(&lines, &want);
    // Per series, timestamps arrive in increasing order (one shard per series).
    for s in 0..3 {
        let tag = format!("s=\"{s}\"}}");
        let ts: Vec<i64> =
            lines.iter().filter(|l| l.contains(&tag)).map(|l| l.rsplit(' ').nth(1).unwrap().parse().unwrap()).collect();
        assert!(ts.windows(2).all(|w| w[0] < w[1]), "series {s}: {ts:?}");
    }
}

/// The loss test: the receiver fails (5xx) for a while, the queue is stopped (as on a
/// restart) with everything still undelivered, a new queue resumes from the saved position,
/// the receiver recovers, and every sample arrives exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_while_the_receiver_fails_loses_and_duplicates_nothing() {
    let (rx, url) = start_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("db");
    let db = open_db(&db_dir);
    let q = QueueManager::start(queue_opts(&url, &db_dir, &dir.path().join("q")), tokio::runtime::Handle::current());
    tokio::time::sleep(Duration::from_millis(100)).await;
    write(&db, 0, 10);
    wait_for("first samples", || rx.lines.lock().len() >= 30).await;
    rx.fail_with.store(503, Relaxed);
    write(&db, 10, 30);
    let before = rx.requests.load(Relaxed);
    wait_for("retries", || rx.requests.load(Relaxed) > before + 3).await;
    let retried = q.metrics().samples_retried.load(Relaxed);
    assert!(retried > 0);
    q.stop().await; // Gives up after the flush deadline; the position stays before the failures.
    write(&db, 40, 5); // Written while the sender is down.

    let q = QueueManager::start(queue_opts(&url, &db_dir, &dir.path().join("q")), tokio::runtime::Handle::current());
    tokio::time::sleep(Duration::from_millis(200)).await;
    rx.fail_with.store(0, Relaxed);
    let want = expected(0..45);
    wait_for("everything after recovery", || rx.lines.lock().len() >= want.len()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let m = q.metrics().clone();
    q.stop().await;
    assert_exactly_once(&rx.lines.lock(), &want);
    assert_eq!(m.samples_failed.load(Relaxed), 0);
    assert_eq!(m.samples_pending.load(Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_are_dropped_counted_and_the_queue_moves_on() {
    let (rx, url) = start_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("db");
    let db = open_db(&db_dir);
    let q = QueueManager::start(queue_opts(&url, &db_dir, &dir.path().join("q")), tokio::runtime::Handle::current());
    tokio::time::sleep(Duration::from_millis(100)).await;
    rx.fail_with.store(400, Relaxed);
    write(&db, 0, 4);
    let m = q.metrics().clone();
    wait_for("failures counted", || m.samples_failed.load(Relaxed) == 12).await;
    rx.fail_with.store(0, Relaxed);
    write(&db, 4, 4);
    wait_for("later samples", || rx.lines.lock().len() >= 12).await;
    q.stop().await;
    assert_exactly_once(&rx.lines.lock(), &expected(4..8));
    assert_eq!(m.samples_sent.load(Relaxed), 12);
    assert_eq!(m.samples_retried.load(Relaxed), 0, "4xx is not retried");
    // The saved position is past everything: a restarted queue sends nothing again.
    let saved = PositionFile::new(&dir.path().join("q")).load().unwrap();
    assert_eq!(saved, Watcher::end_position(&db_dir.join("wal")).unwrap());
}
