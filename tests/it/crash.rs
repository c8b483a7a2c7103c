//! Durability: a child process ingesting is killed with SIGKILL at random points; every
//! batch it reported as committed must be there after reopening.

use crate::Rng;
use cairn::model::{MatchType, Matcher};
use cairn::tsdb::{Db, Options};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const SERIES: usize = 20;

/// Reads the child's stdout until it is killed; returns the last committed batch number.
fn run_and_kill(dir: &std::path::Path, kill_after: Duration) -> Option<u64> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["debug", "ingest", "--series", &SERIES.to_string(), "--dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cairn debug ingest");
    let stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut last = None;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(n) = line.strip_prefix("committed ") {
                last = n.parse::<u64>().ok();
            }
        }
        last
    });
    std::thread::sleep(kill_after);
    // `Child::kill` sends SIGKILL on Unix.
    child.kill().expect("kill child");
    child.wait().expect("reap child");
    reader.join().expect("reader thread")
}

#[test]
fn sigkill_never_loses_a_committed_batch() {
    let mut rng = Rng::from_env("sigkill_never_loses_a_committed_batch");
    let dir = tempfile::tempdir().unwrap();
    let mut best_committed: Option<u64> = None;
    let rounds = 12;
    for round in 0..rounds {
        let wait = Duration::from_millis(rng.range(30, 400));
        let committed = run_and_kill(dir.path(), wait);
        if let Some(c) = committed {
            best_committed = Some(best_committed.map_or(c, |b: u64| b.max(c)));
        }
        // Reopen and check: every series holds batches 0..=M without gaps, M >= committed.
        let db = Db::open(dir.path(), Options { background_interval: None, ..Options::default() }).unwrap();
        let q = db.querier(i64::MIN, i64::MAX);
        let sel = q.select(&[Matcher::new(MatchType::Equal, "__name__", "crash_test").unwrap()]).unwrap();
        let Some(want) = best_committed else {
            drop(db);
            continue;
        };
        assert_eq!(sel.len(), SERIES, "round {round}: every series present");
        for s in &sel {
            let samples = s.samples().unwrap();
            for (i, smp) in samples.iter().enumerate() {
                assert_eq!(smp.t, i as i64 * 1000, "round {round}: {} has a gap at {i}", s.labels());
                assert_eq!(smp.v, i as f64, "round {round}: {} value at {i}", s.labels());
            }
            let max = samples.len() as u64 - 1;
            assert!(max >= want, "round {round}: {} ends at batch {max}, but batch {want} was committed", s.labels());
        }
        db.close().unwrap();
    }
    assert!(best_committed.is_some(), "the child never committed anything");
}
