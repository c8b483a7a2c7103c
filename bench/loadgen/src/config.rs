//! Command-line parameters of a comparison run, with the `default` and `quick` presets.
//!
//! [`Config::parse`] reads `--name=value` or `--name value` options; `--quick` picks the small
//! preset first, and any explicit option overrides a preset value. `--help` prints
//! [`USAGE`].

use crate::system::{SystemKind, find_on_path};
use std::path::PathBuf;
use std::time::Duration;

/// Errors in the command line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An option this tool does not know.
    #[error("unknown option {0} (see --help)")]
    Unknown(String),
    /// An option without its value.
    #[error("option {0} needs a value")]
    MissingValue(String),
    /// A value that does not parse.
    #[error("bad value {value:?} for {option}: {why}")]
    BadValue {
        /// The option.
        option: String,
        /// The value.
        value: String,
        /// Why it is bad.
        why: String,
    },
    /// `--help` was given.
    #[error("help requested")]
    Help,
}

/// The usage text.
pub const USAGE: &str = "\
cairn-compare: Cairn, Prometheus and VictoriaMetrics side by side (run through bench/compare)

Options (a preset value is overridden by an explicit option):
  --quick                       small sizes, about 5 minutes (default preset: about 30 minutes)
  --systems=LIST                cairn,prometheus,victoria-metrics (default: all)
  --phases=LIST                 ingest,scrape,disk,queries (default: all; queries need disk)
  --cairn=PATH                  Cairn binary (default: target/release/cairn)
  --prometheus=PATH             (default: prometheus on PATH)
  --victoria-metrics=PATH       (default: victoria-metrics on PATH)
  --ingest-series=LIST          active series of the remote-write ingest runs (100000,1000000)
  --ingest-step-secs=N          seconds per rate step (8)
  --ingest-start-rate=N         first rate, samples/s (100000)
  --ingest-factor=X             rate multiplier between steps (2)
  --ingest-max-rate=N           highest rate tried, samples/s (3200000)
  --shards=N                    concurrent remote-write connections (8)
  --batch=N                     samples per remote-write request (2000)
  --scrape-series=N             series of the scrape targets, 1000 per target (100000)
  --scrape-secs=N               seconds of scraping measured (60)
  --disk-series=N               series of the backfilled history (100000)
  --disk-hours=X                hours of history (2)
  --backfill-window=N           samples per series in each backfill TimeSeries (8)
  --settle-secs=N               longest wait for the history to be persisted (420)
  --query-runs=N                timed runs per query after one warm-up (5)
  --out=DIR                     where results go (bench/results)
  --work-dir=DIR                where data directories go (system temp dir)
  --keep                        keep data directories and logs
  --seed=N                      workload seed (1)
";

/// The phases a run can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Remote-write ingest at rising rates, then the restart.
    Ingest,
    /// Scraping synthetic targets.
    Scrape,
    /// Backfilled history, bytes per sample.
    Disk,
    /// Dashboard queries over the backfilled history.
    Queries,
}

/// A run's parameters.
#[derive(Debug, Clone)]
pub struct Config {
    /// `quick` or `default`.
    pub preset: &'static str,
    /// Systems to run, in table order.
    pub systems: Vec<SystemKind>,
    /// Phases to run.
    pub phases: Vec<Phase>,
    /// Binaries, in [`SystemKind::ALL`] order (`None`: not found).
    pub binaries: [Option<PathBuf>; 3],
    /// Active series of each ingest run.
    pub ingest_series: Vec<usize>,
    /// Duration of one rate step.
    pub ingest_step: Duration,
    /// First rate, samples/s.
    pub ingest_start_rate: f64,
    /// Rate multiplier between steps.
    pub ingest_factor: f64,
    /// Highest rate tried.
    pub ingest_max_rate: f64,
    /// Concurrent remote-write connections.
    pub shards: usize,
    /// Samples per request.
    pub batch: u32,
    /// Series scraped.
    pub scrape_series: usize,
    /// Scrape measurement time.
    pub scrape_time: Duration,
    /// Series of the history.
    pub disk_series: usize,
    /// Hours of history.
    pub disk_hours: f64,
    /// Samples per series per backfill `TimeSeries`.
    pub backfill_window: usize,
    /// Timed runs per query.
    pub query_runs: usize,
    /// How long the disk phase waits for a server to persist and compact the history.
    pub settle_limit: Duration,
    /// Result directory.
    pub out: PathBuf,
    /// Parent of the data directories.
    pub work_dir: PathBuf,
    /// Keep data and logs.
    pub keep: bool,
    /// Workload seed.
    pub seed: u64,
}

impl Config {
    /// The default preset (fits in 30 minutes on 2 cores).
    pub fn default_preset() -> Config {
        Config {
            preset: "default",
            systems: SystemKind::ALL.to_vec(),
            phases: vec![Phase::Ingest, Phase::Scrape, Phase::Disk, Phase::Queries],
            binaries: [
                Some(PathBuf::from("target/release/cairn")),
                find_on_path("prometheus"),
                find_on_path("victoria-metrics"),
            ],
            ingest_series: vec![100_000, 1_000_000],
            ingest_step: Duration::from_secs(8),
            ingest_start_rate: 100_000.0,
            ingest_factor: 2.0,
            ingest_max_rate: 3_200_000.0,
            shards: 8,
            batch: 2000,
            scrape_series: 100_000,
            scrape_time: Duration::from_secs(60),
            disk_series: 100_000,
            disk_hours: 2.0,
            backfill_window: 8,
            query_runs: 5,
            settle_limit: Duration::from_secs(420),
            out: PathBuf::from("bench/results"),
            work_dir: std::env::temp_dir(),
            keep: false,
            seed: 1,
        }
    }

    /// The quick preset (about 5 minutes).
    pub fn quick_preset() -> Config {
        Config {
            preset: "quick",
            ingest_series: vec![20_000],
            ingest_step: Duration::from_secs(3),
            ingest_start_rate: 50_000.0,
            ingest_factor: 2.0,
            ingest_max_rate: 1_600_000.0,
            scrape_series: 20_000,
            scrape_time: Duration::from_secs(20),
            disk_series: 10_000,
            disk_hours: 1.0,
            query_runs: 3,
            settle_limit: Duration::from_secs(150),
            ..Config::default_preset()
        }
    }

    /// Parses the arguments (without the program name).
    pub fn parse(args: &[String]) -> Result<Config, Error> {
        let mut c = if args.iter().any(|a| a == "--quick") { Config::quick_preset() } else { Config::default_preset() };
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            i += 1;
            if a == "--quick" {
                continue;
            }
            if a == "--keep" {
                c.keep = true;
                continue;
            }
            if a == "--help" || a == "-h" {
                return Err(Error::Help);
            }
            let (name, value) = match a.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => {
                    if !a.starts_with("--") {
                        return Err(Error::Unknown(a.clone()));
                    }
                    let v = args.get(i).ok_or_else(|| Error::MissingValue(a.clone()))?.clone();
                    i += 1;
                    (a.clone(), v)
                }
            };
            c.set(&name, &value)?;
        }
        Ok(c)
    }

    fn set(&mut self, name: &str, value: &str) -> Result<(), Error> {
        let bad =
            |why: &str| Error::BadValue { option: name.to_string(), value: value.to_string(), why: why.to_string() };
        let num = |v: &str| v.replace('_', "").parse::<f64>().ok().filter(|x| x.is_finite() && *x > 0.0);
        let count = |v: &str| num(v).filter(|x| x.fract() == 0.0).map(|x| x as usize);
        match name {
            "--systems" => {
                let mut s = Vec::new();
                for k in value.split(',').filter(|x| !x.is_empty()) {
                    s.push(
                        SystemKind::from_key(k)
                            .ok_or_else(|| bad("systems are cairn, prometheus, victoria-metrics"))?,
                    );
                }
                // Table order, whatever the order given.
                self.systems = SystemKind::ALL.into_iter().filter(|k| s.contains(k)).collect();
            }
            "--phases" => {
                let mut p = Vec::new();
                for x in value.split(',').filter(|x| !x.is_empty()) {
                    p.push(match x {
                        "ingest" => Phase::Ingest,
                        "scrape" => Phase::Scrape,
                        "disk" => Phase::Disk,
                        "queries" => Phase::Queries,
                        _ => return Err(bad("phases are ingest, scrape, disk, queries")),
                    });
                }
                if p.contains(&Phase::Queries) && !p.contains(&Phase::Disk) {
                    p.push(Phase::Disk);
                }
                p.sort();
                p.dedup();
                self.phases = p;
            }
            "--cairn" => self.binaries[0] = Some(PathBuf::from(value)),
            "--prometheus" => self.binaries[1] = Some(PathBuf::from(value)),
            "--victoria-metrics" => self.binaries[2] = Some(PathBuf::from(value)),
            "--ingest-series" => {
                let v: Option<Vec<usize>> = value.split(',').map(count).collect();
                self.ingest_series = v.filter(|v| !v.is_empty()).ok_or_else(|| bad("a list of positive integers"))?;
            }
            "--ingest-step-secs" => {
                self.ingest_step = Duration::from_secs_f64(num(value).ok_or_else(|| bad("seconds > 0"))?)
            }
            "--ingest-start-rate" => self.ingest_start_rate = num(value).ok_or_else(|| bad("samples/s > 0"))?,
            "--ingest-factor" => {
                self.ingest_factor = num(value).filter(|f| *f > 1.0).ok_or_else(|| bad("a factor > 1"))?;
            }
            "--ingest-max-rate" => self.ingest_max_rate = num(value).ok_or_else(|| bad("samples/s > 0"))?,
            "--shards" => self.shards = count(value).ok_or_else(|| bad("a positive integer"))?,
            "--batch" => {
                self.batch =
                    count(value).and_then(|b| u32::try_from(b).ok()).ok_or_else(|| bad("a positive integer"))?;
            }
            "--scrape-series" => self.scrape_series = count(value).ok_or_else(|| bad("a positive integer"))?,
            "--scrape-secs" => {
                self.scrape_time = Duration::from_secs_f64(num(value).ok_or_else(|| bad("seconds > 0"))?)
            }
            "--disk-series" => self.disk_series = count(value).ok_or_else(|| bad("a positive integer"))?,
            "--disk-hours" => {
                self.disk_hours = num(value).filter(|h| *h >= 0.75).ok_or_else(|| bad("hours >= 0.75"))?;
            }
            "--backfill-window" => {
                self.backfill_window = count(value).filter(|w| *w <= 240).ok_or_else(|| bad("1..=240"))?;
            }
            "--settle-secs" => {
                self.settle_limit = Duration::from_secs_f64(num(value).ok_or_else(|| bad("seconds > 0"))?);
            }
            "--query-runs" => self.query_runs = count(value).ok_or_else(|| bad("a positive integer"))?,
            "--out" => self.out = PathBuf::from(value),
            "--work-dir" => self.work_dir = PathBuf::from(value),
            "--seed" => self.seed = value.parse().map_err(|_| bad("an unsigned integer"))?,
            _ => return Err(Error::Unknown(name.to_string())),
        }
        Ok(())
    }

    /// Whether `p` is to run.
    pub fn has(&self, p: Phase) -> bool {
        self.phases.contains(&p)
    }

    /// The parameters that shape the figures, for the report.
    pub fn params(&self) -> Vec<(String, String)> {
        let list = |v: &[usize]| v.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
        vec![
            ("ingest-series".into(), list(&self.ingest_series)),
            ("ingest-step-secs".into(), format!("{}", self.ingest_step.as_secs_f64())),
            ("ingest-start-rate".into(), format!("{}", self.ingest_start_rate)),
            ("ingest-factor".into(), format!("{}", self.ingest_factor)),
            ("ingest-max-rate".into(), format!("{}", self.ingest_max_rate)),
            ("shards".into(), self.shards.to_string()),
            ("batch".into(), self.batch.to_string()),
            ("scrape-series".into(), self.scrape_series.to_string()),
            ("scrape-secs".into(), format!("{}", self.scrape_time.as_secs_f64())),
            ("disk-series".into(), self.disk_series.to_string()),
            ("disk-hours".into(), format!("{}", self.disk_hours)),
            ("backfill-window".into(), self.backfill_window.to_string()),
            ("query-runs".into(), self.query_runs.to_string()),
            ("seed".into(), self.seed.to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn presets_and_overrides() {
        let c = Config::parse(&[]).unwrap();
        assert_eq!(c.preset, "default");
        assert_eq!(c.ingest_series, [100_000, 1_000_000]);
        let q = Config::parse(&args("--scrape-secs 10 --quick --ingest-series=5000,10_000")).unwrap();
        assert_eq!(q.preset, "quick");
        assert_eq!(q.scrape_time, Duration::from_secs(10));
        assert_eq!(q.ingest_series, [5000, 10_000]);
        assert_eq!(q.disk_series, 10_000);
        let s = Config::parse(&args("--systems=victoria-metrics,cairn --phases=queries,ingest --keep")).unwrap();
        assert_eq!(s.systems, [SystemKind::Cairn, SystemKind::VictoriaMetrics]);
        assert_eq!(s.phases, [Phase::Ingest, Phase::Disk, Phase::Queries]);
        assert!(s.keep && s.has(Phase::Disk) && !s.has(Phase::Scrape));
    }

    #[test]
    fn bad_command_lines() {
        let cases = [
            ("--nope=1", "unknown option --nope"),
            ("--shards", "needs a value"),
            ("--shards=0", "bad value"),
            ("--batch=1.5", "bad value"),
            ("--ingest-factor=1", "bad value"),
            ("--systems=graphite", "bad value"),
            ("--phases=everything", "bad value"),
            ("--disk-hours=0.1", "bad value"),
            ("stray", "unknown option stray"),
        ];
        for (a, want) in cases {
            let e = Config::parse(&args(a)).unwrap_err().to_string();
            assert!(e.contains(want), "{a}: {e}");
        }
        assert!(matches!(Config::parse(&args("--help")), Err(Error::Help)));
    }
}
