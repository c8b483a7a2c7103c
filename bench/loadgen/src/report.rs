//! The result table: rows of figures, one column per system, and Cairn's ratio to the best
//! peer; rendered as console text, Markdown and JSON.
//!
//! A [`Row`] holds one [`Cell`] per system. A cell is a number (with an optional 90th
//! percentile, for query latencies), a number whose answer was wrong (it does not count), a
//! piece of text, or "n/a" with the reason.

use crate::system::SystemKind;
use serde_json::{Value, json};
use std::fmt::Write as _;

/// Which direction of a figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Throughput.
    Higher,
    /// Costs and latencies.
    Lower,
    /// Not a figure of merit (no ratio).
    Neither,
}

/// One cell of the table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// A measured figure; `p90` for latencies; `at_least` when the measurement hit its cap.
    Value {
        /// The figure (median for latencies).
        v: f64,
        /// The 90th percentile, for latencies.
        p90: Option<f64>,
        /// The true figure is at least `v` (the load did not go higher).
        at_least: bool,
    },
    /// A figure whose answer differed from Prometheus's: shown, but it does not count.
    Wrong(f64),
    /// Text instead of a number.
    Text(String),
    /// Not measured, and why.
    Na(String),
}

impl Cell {
    /// A plain figure.
    pub fn value(v: f64) -> Cell {
        Cell::Value { v, p90: None, at_least: false }
    }

    /// A cell from a result: the figure, or n/a with the error.
    pub fn from_result(r: &Result<f64, String>) -> Cell {
        match r {
            Ok(v) => Cell::value(*v),
            Err(e) => Cell::Na(e.clone()),
        }
    }

    /// The figure, if it counts.
    pub fn counted(&self) -> Option<f64> {
        match self {
            Cell::Value { v, .. } if v.is_finite() => Some(*v),
            _ => None,
        }
    }
}

/// How a figure is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Samples per second (k/M suffixes).
    Rate,
    /// Seconds.
    Secs,
    /// Milliseconds (cells hold seconds).
    Millis,
    /// Bytes, shown as MiB.
    MiB,
    /// Bytes per sample.
    BytesPerSample,
    /// CPU seconds per million samples.
    CpuPerMillion,
    /// No unit.
    None,
}

impl Unit {
    fn label(self) -> &'static str {
        match self {
            Unit::Rate => "samples/s",
            Unit::Secs => "s",
            Unit::Millis => "ms (median / p90)",
            Unit::MiB => "MiB",
            Unit::BytesPerSample => "bytes/sample",
            Unit::CpuPerMillion => "CPU s / 1M samples",
            Unit::None => "",
        }
    }

    fn scale(self, v: f64) -> f64 {
        match self {
            Unit::Millis => v * 1000.0,
            Unit::MiB => v / (1024.0 * 1024.0),
            _ => v,
        }
    }
}

/// Three significant digits, or k/M for rates.
pub fn fmt_num(unit: Unit, v: f64) -> String {
    let v = unit.scale(v);
    if unit == Unit::Rate {
        if v >= 1e6 {
            return format!("{:.2}M", v / 1e6);
        }
        if v >= 1e3 {
            return format!("{:.0}k", v / 1e3);
        }
        return format!("{v:.0}");
    }
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 || a == 0.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// One figure across the systems.
#[derive(Debug, Clone)]
pub struct Row {
    /// What is measured.
    pub figure: String,
    /// How it is written.
    pub unit: Unit,
    /// Which direction is better.
    pub better: Better,
    /// One cell per system, in [`SystemKind::ALL`] order.
    pub cells: [Cell; 3],
}

impl Row {
    /// Cairn's figure divided by the best peer's, when both count.
    pub fn ratio(&self) -> Option<f64> {
        let cairn = self.cells[0].counted()?;
        let peers = self.cells[1..].iter().filter_map(Cell::counted);
        let best = match self.better {
            Better::Higher => peers.fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x)))),
            Better::Lower => peers.fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.min(x)))),
            Better::Neither => None,
        }?;
        (best != 0.0).then(|| cairn / best)
    }

    fn cell_text(&self, c: &Cell) -> String {
        match c {
            Cell::Value { v, p90, at_least } => {
                let mut s = if *at_least { format!("≥ {}", fmt_num(self.unit, *v)) } else { fmt_num(self.unit, *v) };
                if let Some(p) = p90 {
                    let _ = write!(s, " / {}", fmt_num(self.unit, *p));
                }
                s
            }
            Cell::Wrong(v) => format!("wrong answer ({})", fmt_num(self.unit, *v)),
            Cell::Text(t) => t.clone(),
            Cell::Na(why) => format!("n/a ({why})"),
        }
    }

    fn ratio_text(&self) -> String {
        match self.ratio() {
            Some(r) => format!("{r:.2}×"),
            None => "–".into(),
        }
    }

    fn figure_text(&self) -> String {
        let u = self.unit.label();
        if u.is_empty() { self.figure.clone() } else { format!("{}, {u}", self.figure) }
    }
}

/// The machine a run was on.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Usable cores.
    pub cores: usize,
    /// Total memory, bytes.
    pub memory: u64,
    /// Operating system.
    pub os: String,
    /// Kernel release.
    pub kernel: String,
    /// The 1/5/15-minute load averages when the run started.
    pub load_at_start: String,
}

impl Machine {
    /// Reads `/proc` and `/etc/os-release`.
    pub fn detect() -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|x| x.1.trim().to_string()))
            .unwrap_or_else(|| "unknown".into());
        let memory = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|r| r.trim().strip_suffix("kB"))
            .and_then(|r| r.trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024);
        let os = read("/etc/os-release")
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|s| s.trim_matches('"').to_string())
            .unwrap_or_default();
        let load = read("/proc/loadavg");
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory,
            os,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            load_at_start: load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        }
    }

    /// One line describing it.
    pub fn summary(&self) -> String {
        format!(
            "{} cores ({}), {:.0} GiB memory, {}, Linux {}; load average at start {}",
            self.cores,
            self.cpu,
            self.memory as f64 / (1u64 << 30) as f64,
            self.os,
            self.kernel,
            self.load_at_start
        )
    }
}

/// A whole run's results.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// UTC start time, RFC 3339.
    pub started: String,
    /// Wall time of the run, seconds.
    pub wall_secs: f64,
    /// The preset (`quick` or `default`).
    pub preset: String,
    /// Where it ran.
    pub machine: Machine,
    /// Each system's version line, in [`SystemKind::ALL`] order.
    pub versions: Vec<String>,
    /// Parameters as (name, value).
    pub params: Vec<(String, String)>,
    /// The figures.
    pub rows: Vec<Row>,
    /// Differences between Cairn's and Prometheus's answers.
    pub mismatches: Vec<String>,
    /// What the figures mean.
    pub notes: Vec<String>,
}

impl Report {
    fn header_cells() -> Vec<String> {
        let mut h = vec!["figure".to_string()];
        h.extend(SystemKind::ALL.iter().map(|k| k.name().to_string()));
        h.push("Cairn / best peer".into());
        h
    }

    fn body_cells(&self) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .map(|r| {
                let mut v = vec![r.figure_text()];
                v.extend(r.cells.iter().map(|c| r.cell_text(c)));
                v.push(r.ratio_text());
                v
            })
            .collect()
    }

    /// The table as aligned console text.
    pub fn to_text(&self) -> String {
        let mut rows = vec![Report::header_cells()];
        rows.extend(self.body_cells());
        let cols = rows[0].len();
        let widths: Vec<usize> =
            (0..cols).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
        let mut out = String::new();
        for (i, r) in rows.iter().enumerate() {
            for (c, cell) in r.iter().enumerate() {
                let pad = widths[c] - cell.chars().count();
                if c == 0 {
                    let _ = write!(out, "{cell}{}", " ".repeat(pad));
                } else {
                    let _ = write!(out, "  {}{cell}", " ".repeat(pad));
                }
            }
            out.push('\n');
            if i == 0 {
                out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (cols - 1)));
                out.push('\n');
            }
        }
        out
    }

    /// The report as Markdown: context, the table, notes and mismatches.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Cairn vs Prometheus vs VictoriaMetrics\n");
        let _ = writeln!(
            out,
            "Run `{}` of `bench/compare`, started {}, took {:.0} s.\n",
            self.preset, self.started, self.wall_secs
        );
        let _ = writeln!(out, "Machine: {}.\n", self.machine.summary());
        for (k, v) in SystemKind::ALL.iter().zip(&self.versions) {
            let _ = writeln!(out, "- {}: `{}`", k.name(), v);
        }
        let params: Vec<String> = self.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "\nParameters: `{}`.\n", params.join(" "));
        let esc = |s: &str| s.replace('|', "\\|");
        let h = Report::header_cells();
        let _ = writeln!(out, "| {} |", h.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(h.len()));
        for r in self.body_cells() {
            let cells: Vec<String> = r.iter().map(|c| esc(c)).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out, "\nNotes:\n");
            for n in &self.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        let _ = writeln!(out, "\nAnswer check (Cairn against Prometheus, values within 1e-6 relative):\n");
        if self.mismatches.is_empty() {
            let _ = writeln!(out, "- no mismatches found among the answers compared.");
        }
        for m in &self.mismatches {
            let _ = writeln!(out, "- {}", esc(m));
        }
        out
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        let cell = |r: &Row, c: &Cell| match c {
            Cell::Value { v, p90, at_least } => {
                json!({"value": r.unit.scale(*v), "p90": p90.map(|p| r.unit.scale(p)), "at_least": at_least})
            }
            Cell::Wrong(v) => json!({"value": r.unit.scale(*v), "wrong_answer": true}),
            Cell::Text(t) => json!({"text": t}),
            Cell::Na(why) => json!({"na": why}),
        };
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                let mut cells = serde_json::Map::new();
                for (k, c) in SystemKind::ALL.iter().zip(&r.cells) {
                    cells.insert(k.key().to_string(), cell(r, c));
                }
                json!({
                    "figure": r.figure,
                    "unit": r.unit.label(),
                    "better": match r.better { Better::Higher => "higher", Better::Lower => "lower", Better::Neither => "" },
                    "systems": cells,
                    "cairn_to_best_peer": r.ratio(),
                })
            })
            .collect();
        let versions: serde_json::Map<String, Value> =
            SystemKind::ALL.iter().zip(&self.versions).map(|(k, v)| (k.key().to_string(), json!(v))).collect();
        json!({
            "started": self.started,
            "wall_secs": self.wall_secs,
            "preset": self.preset,
            "machine": {
                "cpu": self.machine.cpu,
                "cores": self.machine.cores,
                "memory_bytes": self.machine.memory,
                "os": self.machine.os,
                "kernel": self.machine.kernel,
                "load_at_start": self.machine.load_at_start,
            },
            "versions": versions,
            "params": self.params.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "rows": rows,
            "mismatches": self.mismatches,
            "notes": self.notes,
        })
    }
}

/// Formats Unix seconds as an RFC 3339 UTC time (proleptic Gregorian calendar).
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let rem = unix.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (eras of 400 years, March-based years).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(better: Better, cells: [Cell; 3]) -> Row {
        Row { figure: "f".into(), unit: Unit::Secs, better, cells }
    }

    #[test]
    fn ratios_against_the_best_peer() {
        let v = Cell::value;
        let cases = [
            (row(Better::Lower, [v(2.0), v(4.0), v(1.0)]), Some(2.0)),
            (row(Better::Higher, [v(2.0), v(4.0), v(1.0)]), Some(0.5)),
            (row(Better::Lower, [v(2.0), Cell::Na("x".into()), v(4.0)]), Some(0.5)),
            (row(Better::Lower, [Cell::Wrong(1.0), v(4.0), v(4.0)]), None),
            (row(Better::Lower, [v(1.0), Cell::Na("x".into()), Cell::Text("t".into())]), None),
            (row(Better::Neither, [v(1.0), v(1.0), v(1.0)]), None),
            (row(Better::Lower, [v(1.0), v(0.0), v(f64::NAN)]), None),
        ];
        for (r, want) in cases {
            assert_eq!(r.ratio(), want, "{:?}", r.cells);
        }
    }

    #[test]
    fn number_formats() {
        let cases = [
            (Unit::Rate, 1_234_567.0, "1.23M"),
            (Unit::Rate, 412_345.0, "412k"),
            (Unit::Rate, 999.0, "999"),
            (Unit::Millis, 0.01234, "12.3"),
            (Unit::Millis, 1.5, "1500"),
            (Unit::MiB, 3.0 * 1024.0 * 1024.0, "3.00"),
            (Unit::BytesPerSample, 1.234, "1.23"),
            (Unit::Secs, 0.0123, "0.012"),
            (Unit::Secs, 0.0, "0.00"),
        ];
        for (u, v, want) in cases {
            assert_eq!(fmt_num(u, v), want, "{u:?} {v}");
        }
    }

    #[test]
    fn renderings() {
        let r = Report {
            started: rfc3339(0),
            preset: "quick".into(),
            versions: vec!["a".into(), "b".into(), "c".into()],
            rows: vec![
                Row {
                    figure: "query_range: rate".into(),
                    unit: Unit::Millis,
                    better: Better::Lower,
                    cells: [
                        Cell::Value { v: 0.010, p90: Some(0.012), at_least: false },
                        Cell::Value { v: 0.020, p90: Some(0.030), at_least: false },
                        Cell::Na("not supported".into()),
                    ],
                },
                Row {
                    figure: "max ingest".into(),
                    unit: Unit::Rate,
                    better: Better::Higher,
                    cells: [Cell::Value { v: 2e6, p90: None, at_least: true }, Cell::value(1e6), Cell::Wrong(5.0)],
                },
            ],
            mismatches: vec!["q: a|b".into()],
            ..Report::default()
        };
        let text = r.to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[2].contains("10.0 / 12.0") && lines[2].contains("20.0 / 30.0") && lines[2].ends_with("0.50×"));
        assert!(lines[3].contains("≥ 2.00M") && lines[3].contains("wrong answer (5)") && lines[3].ends_with("2.00×"));
        let md = r.to_markdown();
        assert!(md.contains(
            "| query_range: rate, ms (median / p90) | 10.0 / 12.0 | 20.0 / 30.0 | n/a (not supported) | 0.50× |"
        ));
        assert!(md.contains("- q: a\\|b"));
        assert!(md.contains("started 1970-01-01T00:00:00Z"));
        let j = r.to_json();
        assert_eq!(j["rows"][0]["systems"]["cairn"]["value"], json!(10.0));
        assert_eq!(j["rows"][0]["systems"]["victoria-metrics"]["na"], json!("not supported"));
        assert_eq!(j["rows"][1]["systems"]["cairn"]["at_least"], json!(true));
        assert_eq!(j["rows"][1]["cairn_to_best_peer"], json!(2.0));
        assert_eq!(j["versions"]["prometheus"], json!("b"));
    }

    #[test]
    fn dates() {
        // 1,700,000,000 s is 2023-11-14 22:13:20 UTC; 951,782,400 s is 2000-02-29 00:00 UTC
        // (11,016 days after 1970-01-01: 30 years with 7 leap days, plus 31 + 28 days).
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }
}
