//! What a server process costs: CPU time and peak memory from `/proc`, disk use of a directory.
//!
//! CPU time is `utime + stime` of `/proc/<pid>/stat` (all threads, in clock ticks), peak memory
//! is `VmHWM` of `/proc/<pid>/status` (the resident set's high-water mark), and disk use is the
//! space allocated to every file under a directory (what `du` counts).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Errors reading `/proc` or walking a directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `/proc` file or a directory could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A `/proc` file did not have the expected shape.
    #[error("unexpected contents of {0}")]
    Format(String),
}

/// One reading of a process's counters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcSample {
    /// User plus system CPU seconds since the process started.
    pub cpu_secs: f64,
    /// Peak resident set size, bytes.
    pub rss_peak: u64,
    /// Current resident set size, bytes.
    pub rss: u64,
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`, asked once; 100 on
/// Linux).
pub fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// `utime + stime` (ticks) from the text of `/proc/<pid>/stat`. The command name in field 2 is
/// parenthesised and may hold spaces or parentheses, so fields are counted after its last `)`.
pub fn parse_stat(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    // After the name: field 3 (state) is the first; utime and stime are fields 14 and 15.
    let mut f = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime + stime)
}

/// A `kB` field of `/proc/<pid>/status`, in bytes.
pub fn parse_status_kb(text: &str, field: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?;
    let v = line.split_once(':')?.1.trim().strip_suffix("kB")?.trim();
    v.parse::<u64>().ok().map(|kb| kb * 1024)
}

fn read(path: &str) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_string(), source })
}

/// Reads the counters of process `pid`.
pub fn sample(pid: u32, ticks: f64) -> Result<ProcSample, Error> {
    let stat_path = format!("/proc/{pid}/stat");
    let status_path = format!("/proc/{pid}/status");
    let ticks_used = parse_stat(&read(&stat_path)?).ok_or(Error::Format(stat_path))?;
    let status = read(&status_path)?;
    let rss_peak = parse_status_kb(&status, "VmHWM").ok_or_else(|| Error::Format(status_path.clone()))?;
    let rss = parse_status_kb(&status, "VmRSS").ok_or(Error::Format(status_path))?;
    Ok(ProcSample { cpu_secs: ticks_used as f64 / ticks, rss_peak, rss })
}

/// Disk use under a directory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirUsage {
    /// Bytes allocated to regular files (512-byte blocks, as `du`).
    pub allocated: u64,
    /// Sum of regular files' lengths.
    pub apparent: u64,
    /// Number of regular files.
    pub files: u64,
}

impl std::ops::AddAssign for DirUsage {
    fn add_assign(&mut self, o: DirUsage) {
        self.allocated += o.allocated;
        self.apparent += o.apparent;
        self.files += o.files;
    }
}

/// Disk use of every regular file under `dir` (symbolic links are not followed). Files that
/// vanish during the walk (a server compacting) are skipped.
pub fn dir_usage(dir: &Path) -> Result<DirUsage, Error> {
    let mut total = DirUsage::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(total),
        Err(source) => return Err(Error::Io { path: dir.display().to_string(), source }),
    };
    for e in entries.flatten() {
        let Ok(md) = e.path().symlink_metadata() else { continue };
        if md.is_dir() {
            total += dir_usage(&e.path())?;
        } else if md.is_file() {
            total += DirUsage { allocated: md.blocks() * 512, apparent: md.len(), files: 1 };
        }
    }
    Ok(total)
}

/// Whether a directory name is a block's: a ULID (26 characters of Crockford base32).
pub fn is_block_dir(name: &str) -> bool {
    name.len() == 26 && name.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

/// Disk use of the block directories directly under `dir` (Prometheus's and Cairn's layout).
pub fn blocks_usage(dir: &Path) -> Result<DirUsage, Error> {
    let mut total = DirUsage::default();
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io { path: dir.display().to_string(), source })?;
    for e in entries.flatten() {
        let name = e.file_name();
        if name.to_str().is_some_and(is_block_dir) && e.path().is_dir() {
            total += dir_usage(&e.path())?;
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines() {
        // Shapes of /proc/<pid>/stat (proc(5)): pid, (comm), state, ppid, pgrp, session,
        // tty_nr, tpgid, flags, minflt, cminflt, majflt, cmajflt, utime, stime, ...
        let cases: &[(&str, Option<u64>)] = &[
            ("1234 (prometheus) S 1 1234 1234 0 -1 4194560 5000 0 3 0 250 75 0 0 20 0 12 0", Some(325)),
            ("77 (a b) c) (d) R 1 2 3 4 5 6 7 8 9 10 11 12 0 0 20 0", Some(23)),
            ("1 (x) S 1 2", None),
            ("no parenthesis at all", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_stat(text), *want, "{text}");
        }
    }

    #[test]
    fn status_fields() {
        let text = "Name:\tcairn\nVmPeak:\t  900 kB\nVmHWM:\t  5120 kB\nVmRSS:\t  4096 kB\nVmHWMx:\t1 kB\n";
        assert_eq!(parse_status_kb(text, "VmHWM"), Some(5120 * 1024));
        assert_eq!(parse_status_kb(text, "VmRSS"), Some(4096 * 1024));
        assert_eq!(parse_status_kb(text, "VmSwap"), None);
        assert_eq!(parse_status_kb("VmHWM:\tlots\n", "VmHWM"), None);
    }

    #[test]
    fn this_process() {
        let s = sample(std::process::id(), clock_ticks()).unwrap();
        assert!(s.rss_peak >= s.rss && s.rss > 0, "{s:?}");
        // Burn CPU until the counter has moved by 50 ms (ticks are 10 ms); on a busy machine
        // that takes longer than 50 ms of wall time, but never 10 s.
        let t = std::time::Instant::now();
        let mut x = 0u64;
        let mut s2 = s;
        while s2.cpu_secs < s.cpu_secs + 0.05 && t.elapsed() < std::time::Duration::from_secs(10) {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            s2 = sample(std::process::id(), clock_ticks()).unwrap();
        }
        assert!(s2.cpu_secs >= s.cpu_secs + 0.05, "{s:?} {s2:?}");
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        assert!(s2.cpu_secs <= s.cpu_secs + t.elapsed().as_secs_f64() * cores + 0.5, "{s:?} {s2:?}");
    }

    #[test]
    fn directory_usage_and_blocks() {
        let d = std::env::temp_dir().join(format!("loadgen-procstat-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let block = d.join("01HZY7Q8X3M4N5P6Q7R8S9T0VW");
        std::fs::create_dir_all(block.join("chunks")).unwrap();
        std::fs::create_dir_all(d.join("wal")).unwrap();
        std::fs::write(block.join("index"), vec![1u8; 10_000]).unwrap();
        std::fs::write(block.join("chunks/000001"), vec![1u8; 5000]).unwrap();
        std::fs::write(d.join("wal/00000000"), vec![1u8; 3000]).unwrap();
        let all = dir_usage(&d).unwrap();
        assert_eq!((all.apparent, all.files), (18_000, 3));
        assert!(all.allocated >= 18_000);
        let blocks = blocks_usage(&d).unwrap();
        assert_eq!((blocks.apparent, blocks.files), (15_000, 2));
        assert!(is_block_dir("01HZY7Q8X3M4N5P6Q7R8S9T0VW"));
        assert!(!is_block_dir("wal") && !is_block_dir("01hzy7q8x3m4n5p6q7r8s9t0vw"));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
