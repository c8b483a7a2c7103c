//! The `cairn` command: the server (default) and promtool-style subcommands.
//!
//! This file only parses the command line, sets up logging and the allocator, and maps
//! errors to exit codes.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context, Result, bail};
use cairn::model::duration::parse_duration;
use cairn::server::{self, ServerOptions, units::parse_bytes};
use cairn::tsdb::{Options, SyncPolicy};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Cairn: a drop-in Prometheus replacement (server, promtool and Alertmanager in one binary).
#[derive(Parser, Debug)]
#[command(name = "cairn", version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(flatten)]
    server: ServerFlags,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The server's flags, under Prometheus's names.
#[derive(clap::Args, Debug)]
struct ServerFlags {
    /// Prometheus configuration file path (read once the scrape manager lands).
    #[arg(long = "config.file", value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// Base path for metrics storage.
    #[arg(long = "storage.tsdb.path", value_name = "DIR", default_value = "data/")]
    tsdb_path: PathBuf,
    /// How long to retain samples in storage (e.g. 15d, 1y). 0 keeps everything unless a
    /// size limit is set.
    #[arg(long = "storage.tsdb.retention.time", value_name = "DURATION")]
    retention_time: Option<String>,
    /// Maximum number of bytes of blocks and WAL to keep (e.g. 512MB; units base 1024).
    #[arg(long = "storage.tsdb.retention.size", value_name = "SIZE")]
    retention_size: Option<String>,
    /// Accept samples up to this much older than the newest one (out-of-order ingestion).
    #[arg(long = "storage.tsdb.out-of-order-time-window", value_name = "DURATION")]
    ooo_window: Option<String>,
    /// Size of a WAL segment file (e.g. 128MB).
    #[arg(long = "storage.tsdb.wal-segment-size", value_name = "SIZE")]
    wal_segment_size: Option<String>,
    /// When the WAL is fsynced: `segment` (when a segment is closed: a power loss may lose
    /// the open segment's recent writes), `always` (every commit), or a duration such as `1s`
    /// (at most that much is lost to a power loss). A killed process loses nothing committed
    /// under any policy.
    #[arg(long = "storage.tsdb.wal-fsync", value_name = "POLICY", default_value = "segment")]
    wal_fsync: String,
    /// Only log messages with the given severity or above: debug, info, warn, error.
    #[arg(long = "log.level", value_name = "LEVEL", default_value = "info")]
    log_level: String,
    /// Output format of log messages: logfmt or json.
    #[arg(long = "log.format", value_name = "FORMAT", default_value = "logfmt")]
    log_format: String,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Developer tools.
    #[command(hide = true)]
    Debug {
        #[command(subcommand)]
        command: DebugCommand,
    },
}

#[derive(Subcommand, Debug)]
enum DebugCommand {
    /// Appends batches forever (or `--batches` of them), printing `committed N` after each
    /// commit returns. Batch N holds, for each of `--series` series, one sample at
    /// t = N*1000 ms with value N. Used by the crash test.
    Ingest {
        /// Data directory.
        #[arg(long)]
        dir: PathBuf,
        /// Series per batch.
        #[arg(long, default_value_t = 100)]
        series: usize,
        /// Stop after this many batches.
        #[arg(long)]
        batches: Option<u64>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = init_logging(&cli.server.log_level, &cli.server.log_format) {
        eprintln!("cairn: {e:#}");
        return ExitCode::from(2);
    }
    let res = match cli.command {
        None => run_server(cli.server),
        Some(Command::Debug { command: DebugCommand::Ingest { dir, series, batches } }) => {
            debug_ingest(&dir, series, batches)
        }
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("cairn: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(level: &str, format: &str) -> Result<()> {
    let level: tracing::Level = match level {
        "debug" => tracing::Level::DEBUG,
        "info" => tracing::Level::INFO,
        "warn" => tracing::Level::WARN,
        "error" => tracing::Level::ERROR,
        other => bail!("invalid --log.level {other:?}: want debug, info, warn or error"),
    };
    let builder = tracing_subscriber::fmt().with_max_level(level).with_writer(std::io::stderr);
    match format {
        "logfmt" => builder.with_ansi(false).init(),
        "json" => builder.json().init(),
        other => bail!("invalid --log.format {other:?}: want logfmt or json"),
    }
    Ok(())
}

fn duration_flag(name: &str, v: &Option<String>) -> Result<Option<i64>> {
    v.as_deref().map(|s| parse_duration(s).with_context(|| format!("invalid --{name}"))).transpose()
}

fn run_server(f: ServerFlags) -> Result<()> {
    let mut tsdb = Options::default();
    let retention_size = match &f.retention_size {
        Some(s) => parse_bytes(s).map_err(anyhow::Error::msg).context("invalid --storage.tsdb.retention.size")?,
        None => 0,
    };
    tsdb.retention_size = retention_size;
    match duration_flag("storage.tsdb.retention.time", &f.retention_time)? {
        Some(t) => tsdb.retention_time = t,
        // As Prometheus: a size limit alone turns the default time limit off.
        None if retention_size > 0 => tsdb.retention_time = 0,
        None => {}
    }
    if let Some(w) = duration_flag("storage.tsdb.out-of-order-time-window", &f.ooo_window)? {
        tsdb.ooo_window = w;
    }
    if let Some(s) = &f.wal_segment_size {
        tsdb.wal_segment_size =
            parse_bytes(s).map_err(anyhow::Error::msg).context("invalid --storage.tsdb.wal-segment-size")?;
    }
    tsdb.wal_sync = match f.wal_fsync.as_str() {
        "segment" => SyncPolicy::OnSegmentClose,
        "always" => SyncPolicy::Always,
        d => {
            let ms =
                parse_duration(d).context("invalid --storage.tsdb.wal-fsync: want segment, always or a duration")?;
            SyncPolicy::Interval(std::time::Duration::from_millis(ms.max(1) as u64))
        }
    };
    if let Some(c) = &f.config_file {
        tracing::warn!(file = %c.display(), "--config.file is accepted but not read yet: scraping and rules are not built");
    }
    server::run(ServerOptions { data_dir: f.tsdb_path, tsdb })?;
    Ok(())
}

fn debug_ingest(dir: &std::path::Path, series: usize, batches: Option<u64>) -> Result<()> {
    use std::io::Write;
    let opts = Options { background_interval: None, ..Options::default() };
    let db = cairn::tsdb::Db::open(dir, opts)?;
    let labels: Vec<cairn::model::Labels> = (0..series)
        .map(|i| cairn::model::Labels::from_pairs(&[("__name__", "crash_test"), ("series", &i.to_string())]))
        .collect::<Result<_, _>>()?;
    // Continue after the last batch a previous run committed.
    let start = db.head().max_time().max(-1000) / 1000 + 1;
    let mut app = db.appender();
    let mut out = std::io::stdout().lock();
    let mut n = start as u64;
    loop {
        if batches.is_some_and(|b| n >= start as u64 + b) {
            return Ok(());
        }
        for l in &labels {
            app.append(l, n as i64 * 1000, n as f64)?;
        }
        app.commit()?;
        writeln!(out, "committed {n}")?;
        out.flush()?;
        n += 1;
    }
}
