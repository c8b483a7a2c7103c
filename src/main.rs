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
    /// Address to listen on for the web interface and API.
    #[arg(long = "web.listen-address", value_name = "ADDRESS", default_value = "0.0.0.0:9090")]
    listen_address: String,
    /// The URL under which Cairn is externally reachable (e.g. behind a reverse proxy).
    /// Defaults to http://<hostname>:<port>/.
    #[arg(long = "web.external-url", value_name = "URL")]
    external_url: Option<String>,
    /// Prefix for the internal routes of web endpoints. Defaults to the path of
    /// --web.external-url.
    #[arg(long = "web.route-prefix", value_name = "PATH")]
    route_prefix: Option<String>,
    /// Enable shutdown and reload via HTTP request (/-/quit, /-/reload).
    #[arg(long = "web.enable-lifecycle")]
    enable_lifecycle: bool,
    /// Enable API endpoints for admin control actions (/api/v1/admin/*).
    #[arg(long = "web.enable-admin-api")]
    enable_admin_api: bool,
    /// Accepted for compatibility: the remote write receiver (/api/v1/write, also
    /// /api/v1/otlp/v1/metrics) is always on in Cairn.
    #[arg(long = "web.enable-remote-write-receiver")]
    enable_remote_write_receiver: bool,
    /// Path to a web configuration file that can enable TLS, basic auth and extra response
    /// headers (exporter-toolkit's format).
    #[arg(long = "web.config.file", value_name = "FILE")]
    web_config_file: Option<PathBuf>,
    /// Maximum time a query may take before being aborted.
    #[arg(long = "query.timeout", value_name = "DURATION", default_value = "2m")]
    query_timeout: String,
    /// Maximum number of samples a single query can load into memory.
    #[arg(long = "query.max-samples", value_name = "N", default_value_t = 50_000_000)]
    query_max_samples: usize,
    /// The maximum lookback duration for retrieving metrics during expression evaluations
    /// and federation.
    #[arg(long = "query.lookback-delta", value_name = "DURATION", default_value = "5m")]
    query_lookback_delta: String,
    /// Maximum number of queries executed concurrently.
    #[arg(long = "query.max-concurrency", value_name = "N", default_value_t = 20)]
    query_max_concurrency: usize,
    /// How long to wait flushing sample on shutdown or config reload.
    #[arg(long = "storage.remote.flush-deadline", value_name = "DURATION", default_value = "1m")]
    remote_flush_deadline: String,
    /// Maximum overall number of samples to return via the remote read interface, in a single
    /// query. 0 means no limit. Ignored for streamed response types.
    #[arg(long = "storage.remote.read-sample-limit", value_name = "N", default_value_t = 50_000_000)]
    remote_read_sample_limit: usize,
    /// Maximum number of concurrent remote read calls. 0 means no limit.
    #[arg(long = "storage.remote.read-concurrent-limit", value_name = "N", default_value_t = 10)]
    remote_read_concurrent_limit: usize,
    /// Maximum number of bytes in a single frame for streaming remote read response types
    /// before marshalling (a frame may exceed it by one chunk).
    #[arg(long = "storage.remote.read-max-bytes-in-frame", value_name = "N", default_value_t = 1_048_576)]
    remote_read_max_bytes_in_frame: usize,
    /// Comma separated feature names to enable. Cairn knows `exemplar-storage`; other names
    /// are accepted and ignored with a warning, as Prometheus does with unknown ones.
    #[arg(long = "enable-feature", value_name = "FEATURES")]
    enable_feature: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check the resource for validity (as `promtool check`).
    Check {
        #[command(subcommand)]
        command: CheckCommand,
    },
    /// Developer tools.
    #[command(hide = true)]
    Debug {
        #[command(subcommand)]
        command: DebugCommand,
    },
}

#[derive(Subcommand, Debug)]
enum CheckCommand {
    /// Check if the config files are valid or not.
    Config {
        /// Only check the config file syntax, ignoring file and content validation referenced
        /// in the config.
        #[arg(long = "syntax-only")]
        syntax_only: bool,
        /// Linting checks to apply to the rules specified in the config: all,
        /// duplicate-rules, none.
        #[arg(long, default_value = "duplicate-rules")]
        lint: String,
        /// Make lint errors exit with exit code 3.
        #[arg(long = "lint-fatal")]
        lint_fatal: bool,
        /// Check config file for Prometheus in Agent mode.
        #[arg(long)]
        agent: bool,
        /// The config files to check.
        #[arg(required = true, value_name = "CONFIG-FILES")]
        files: Vec<PathBuf>,
    },
    /// Check if the rule files are valid or not.
    Rules {
        /// Linting checks to apply: all, duplicate-rules, none.
        #[arg(long, default_value = "duplicate-rules")]
        lint: String,
        /// Make lint errors exit with exit code 3.
        #[arg(long = "lint-fatal")]
        lint_fatal: bool,
        /// The rule files to check.
        #[arg(required = true, value_name = "RULE-FILES")]
        files: Vec<PathBuf>,
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
    // One rustls crypto provider (ring) for the whole process: the server's TLS and every
    // outgoing client (scrape, discovery, remote write) rely on it.
    server::tls::install_default_provider();
    let cli = Cli::parse();
    if let Err(e) = init_logging(&cli.server.log_level, &cli.server.log_format) {
        eprintln!("cairn: {e:#}");
        return ExitCode::from(2);
    }
    let res = match cli.command {
        None => run_server(cli.server),
        Some(Command::Check { command }) => return run_check(command),
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

/// Runs a `check` subcommand; its exit code is promtool's.
fn run_check(command: CheckCommand) -> ExitCode {
    use cairn::cli::{CheckOptions, Lint};
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    let lint_opts = |lint: &str| {
        let (lint, warnings) = Lint::parse(lint);
        for w in warnings {
            println!("{w}");
        }
        lint
    };
    let code = match command {
        CheckCommand::Config { syntax_only, lint, lint_fatal, agent, files } => {
            let opts = CheckOptions { syntax_only, lint: lint_opts(&lint), lint_fatal, agent };
            cairn::cli::check_config(&files, &opts, &mut out, &mut err)
        }
        CheckCommand::Rules { lint, lint_fatal, files } => {
            let opts = CheckOptions { lint: lint_opts(&lint), lint_fatal, ..CheckOptions::default() };
            cairn::cli::check_rules(&files, &opts, &mut out, &mut err)
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
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
    let features = server::Features::parse(&f.enable_feature);
    let mut opts = ServerOptions::new(&f.tsdb_path);
    opts.features = features;
    let port = f.listen_address.rsplit_once(':').map(|(_, p)| p).unwrap_or("9090");
    if let Some(c) = &f.config_file {
        // As Prometheus: a configuration that does not load stops the start, exit code 2.
        match cairn::config::load_file(c) {
            Ok((cfg, warnings)) => {
                for w in warnings {
                    tracing::warn!(file = %c.display(), "{}", w.msg);
                }
                opts.config = std::sync::Arc::new(cfg);
            }
            Err(e) => {
                let msg = format!("Error loading config (--config.file={}): {e}", c.display());
                tracing::error!(file = %c.display(), "{msg}");
                eprintln!("cairn: {msg}");
                std::process::exit(2);
            }
        }
        opts.config_file = Some(c.clone());
    } else {
        tracing::info!("no --config.file: using the built-in default configuration (self-scrape every 15s)");
        let target = format!("localhost:{port}");
        opts.config = std::sync::Arc::new(cairn::config::Config::default_self_scrape(&target));
        opts.config_yaml = server::default_config_yaml(&target);
    }
    if let Some(c) = &f.web_config_file {
        let wc = cairn::web::webconfig::load(c).context("invalid --web.config.file")?;
        for w in &wc.warnings {
            tracing::warn!(file = %c.display(), "{w}");
        }
        opts.web_config = Some(std::sync::Arc::new(wc));
    }
    opts.flags = flag_map(&f);
    opts.tsdb = tsdb;
    opts.engine.timeout = std::time::Duration::from_millis(
        parse_duration(&f.query_timeout).context("invalid --query.timeout")?.max(0) as u64,
    );
    opts.engine.max_samples = f.query_max_samples;
    opts.engine.lookback_delta_ms =
        parse_duration(&f.query_lookback_delta).context("invalid --query.lookback-delta")?;
    if opts.engine.lookback_delta_ms <= 0 {
        bail!("invalid --query.lookback-delta: must be positive");
    }
    let external = match &f.external_url {
        Some(u) => u.trim_end_matches('/').to_string() + "/",
        None => format!("http://{}:{port}/", hostname()),
    };
    let prefix = match &f.route_prefix {
        Some(p) => p.clone(),
        None => url_path(&external).to_string(),
    };
    let prefix = format!("/{}", prefix.trim_matches('/'));
    opts.web.listen_address = f.listen_address.clone();
    opts.web.external_url = external;
    opts.web.route_prefix = prefix;
    opts.web.enable_lifecycle = f.enable_lifecycle;
    opts.web.enable_admin_api = f.enable_admin_api;
    opts.web.enable_remote_write_receiver = f.enable_remote_write_receiver;
    opts.web.max_query_concurrency = f.query_max_concurrency.max(1);
    opts.remote_flush_deadline = std::time::Duration::from_millis(
        parse_duration(&f.remote_flush_deadline).context("invalid --storage.remote.flush-deadline")?.max(0) as u64,
    );
    cairn::remote::configure(cairn::remote::Options {
        read_sample_limit: f.remote_read_sample_limit,
        read_concurrent_limit: f.remote_read_concurrent_limit,
        read_max_bytes_in_frame: f.remote_read_max_bytes_in_frame,
        ..cairn::remote::Options::default()
    });

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&f.listen_address)
            .await
            .with_context(|| format!("listening on --web.listen-address={}", f.listen_address))?;
        server::run(listener, server::shutdown_signal(), opts).await?;
        anyhow::Ok(())
    })?;
    tracing::info!("see you next time!");
    Ok(())
}

/// Every server flag with its value as a string, as `/api/v1/status/flags` shows them.
fn flag_map(f: &ServerFlags) -> std::collections::BTreeMap<String, String> {
    // Unset flags show the zero of their type, as Prometheus prints it.
    let opt = |v: &Option<String>, zero: &str| v.clone().unwrap_or_else(|| zero.to_string());
    let path = |v: &Option<PathBuf>| v.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    [
        ("config.file", path(&f.config_file)),
        ("storage.tsdb.path", f.tsdb_path.display().to_string()),
        ("storage.tsdb.retention.time", opt(&f.retention_time, "0s")),
        ("storage.tsdb.retention.size", opt(&f.retention_size, "0B")),
        ("storage.tsdb.out-of-order-time-window", opt(&f.ooo_window, "0s")),
        ("storage.tsdb.wal-segment-size", opt(&f.wal_segment_size, "0B")),
        ("storage.tsdb.wal-fsync", f.wal_fsync.clone()),
        ("log.level", f.log_level.clone()),
        ("log.format", f.log_format.clone()),
        ("web.listen-address", f.listen_address.clone()),
        ("web.external-url", opt(&f.external_url, "")),
        ("web.route-prefix", opt(&f.route_prefix, "/")),
        ("web.enable-lifecycle", f.enable_lifecycle.to_string()),
        ("web.enable-admin-api", f.enable_admin_api.to_string()),
        ("web.enable-remote-write-receiver", f.enable_remote_write_receiver.to_string()),
        ("web.config.file", path(&f.web_config_file)),
        ("query.timeout", f.query_timeout.clone()),
        ("query.max-samples", f.query_max_samples.to_string()),
        ("query.lookback-delta", f.query_lookback_delta.clone()),
        ("query.max-concurrency", f.query_max_concurrency.to_string()),
        ("storage.remote.flush-deadline", f.remote_flush_deadline.clone()),
        ("storage.remote.read-sample-limit", f.remote_read_sample_limit.to_string()),
        ("storage.remote.read-concurrent-limit", f.remote_read_concurrent_limit.to_string()),
        ("storage.remote.read-max-bytes-in-frame", f.remote_read_max_bytes_in_frame.to_string()),
        // Prometheus shows every value given, joined by commas.
        ("enable-feature", f.enable_feature.join(",")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The machine's host name (for the default external URL).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The path of an absolute URL (`http://h:1/a/b` → `/a/b`), `/` when it has none.
fn url_path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map_or("/", |i| &rest[i..])
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
