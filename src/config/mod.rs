//! `prometheus.yml`: types, Prometheus's defaults and validation, loading and reloading.
//!
//! Principal items: [`Config`] (the whole file, defaults filled in), [`load_file`] (read,
//! validate, resolve relative paths against the file's directory) and [`Error`] (file, line,
//! column and field of what is wrong). Other modules take what they need from here:
//! [`ScrapeConfig`] feeds `scrape`, [`RemoteWriteConfig`]/[`RemoteReadConfig`] feed `remote`,
//! [`HttpClientConfig`] builds every outgoing HTTP client ([`http::build_client`]).
//!
//! The file is read with Prometheus 2.42's keys (plus a few later ones: `scrape_protocols`,
//! `enable_compression`, `track_timestamps_staleness`, `protobuf_message`,
//! `sample_age_limit` and the global scrape limits), its defaults, and its validation
//! messages where it has them. Unknown and duplicate keys are errors; YAML merge keys work.
//! Discovery mechanisms Cairn does not implement (`kubernetes_sd_configs`, ...) are accepted
//! without validating their contents and reported as [`Warning`]s. Relative paths are
//! resolved against the config file's directory. [`glob`] expands `rule_files` patterns as
//! Go's `filepath.Glob` does.
//!
//! Internals: `raw` (serde structs mirroring the file), `convert` (defaults and validation
//! into the public types, with `client`, `sd` and `remote` for those sections), `paths`.

mod client;
mod convert;
pub mod http;
pub mod oauth2;
mod paths;
mod raw;
pub mod redact;
mod remote;
mod sd;

use crate::discovery::{DnsSdConfig, FileSdConfig, HttpSdConfig, StaticConfig};
use crate::model::Labels;
use crate::relabel::RelabelConfig;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use paths::{GlobError, glob};

/// A loaded `prometheus.yml` with every default filled in.
///
/// `Debug` leaves out [`Config::original`] (the file's text holds secrets in the clear).
#[derive(Clone, Default, PartialEq)]
pub struct Config {
    /// `global`.
    pub global: GlobalConfig,
    /// `rule_files`, as written (globs, resolved against the config file's directory).
    pub rule_files: Vec<String>,
    /// `scrape_configs`, in file order, each with the global defaults applied.
    pub scrape_configs: Vec<ScrapeConfig>,
    /// `alerting`.
    pub alerting: AlertingConfig,
    /// `remote_write`.
    pub remote_write: Vec<RemoteWriteConfig>,
    /// `remote_read`.
    pub remote_read: Vec<RemoteReadConfig>,
    /// `storage` (`tsdb.out_of_order_time_window`, `exemplars.max_exemplars`).
    pub storage: StorageConfig,
    /// The file this was read from (None for the built-in default).
    pub source: Option<PathBuf>,
    /// The file's text as read (served by `/api/v1/status/config` until we render our own).
    pub original: String,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("global", &self.global)
            .field("rule_files", &self.rule_files)
            .field("scrape_configs", &self.scrape_configs)
            .field("alerting", &self.alerting)
            .field("remote_write", &self.remote_write)
            .field("remote_read", &self.remote_read)
            .field("storage", &self.storage)
            .field("source", &self.source)
            .field("original", &format_args!("<{} bytes>", self.original.len()))
            .finish()
    }
}

/// `global`.
#[derive(Clone, Debug, PartialEq)]
pub struct GlobalConfig {
    /// Default 1m.
    pub scrape_interval: Duration,
    /// Default 10s.
    pub scrape_timeout: Duration,
    /// Default 1m.
    pub evaluation_interval: Duration,
    /// `external_labels`.
    pub external_labels: Labels,
    /// `query_log_file`.
    pub query_log_file: Option<PathBuf>,
    /// Scrape limits that scrape configs inherit (0 = no limit).
    pub limits: ScrapeLimits,
    /// `scrape_protocols` that scrape configs inherit; default
    /// `[OpenMetricsText1, OpenMetricsText0, PrometheusText0]`.
    pub scrape_protocols: Vec<ScrapeProtocol>,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: Duration::from_secs(60),
            scrape_timeout: Duration::from_secs(10),
            evaluation_interval: Duration::from_secs(60),
            external_labels: Labels::default(),
            query_log_file: None,
            limits: ScrapeLimits::default(),
            scrape_protocols: ScrapeProtocol::DEFAULT.to_vec(),
        }
    }
}

/// Per-scrape limits; 0 means no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScrapeLimits {
    /// `body_size_limit` in bytes.
    pub body_size_limit: u64,
    /// `sample_limit`.
    pub sample_limit: u64,
    /// `target_limit`.
    pub target_limit: u64,
    /// `label_limit`.
    pub label_limit: u64,
    /// `label_name_length_limit`.
    pub label_name_length_limit: u64,
    /// `label_value_length_limit`.
    pub label_value_length_limit: u64,
}

/// Exposition formats a scrape may ask for, in `scrape_protocols` order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScrapeProtocol {
    /// `OpenMetricsText1.0.0`.
    OpenMetricsText1,
    /// `OpenMetricsText0.0.1`.
    OpenMetricsText0,
    /// `PrometheusText0.0.4`.
    PrometheusText0,
    /// `PrometheusProto` (accepted in config; we do not parse protobuf pages yet).
    PrometheusProto,
}

/// One `scrape_configs` entry, global defaults applied.
#[derive(Clone, Debug, PartialEq)]
pub struct ScrapeConfig {
    /// `job_name` (unique across the file).
    pub job_name: String,
    /// Default false.
    pub honor_labels: bool,
    /// Default true.
    pub honor_timestamps: bool,
    /// Default false.
    pub track_timestamps_staleness: bool,
    /// `params`: URL query parameters, repeated values kept in order.
    pub params: BTreeMap<String, Vec<String>>,
    /// Inherits `global.scrape_interval`.
    pub scrape_interval: Duration,
    /// Inherits `global.scrape_timeout`, capped at `scrape_interval`.
    pub scrape_timeout: Duration,
    /// Default `[OpenMetricsText1, OpenMetricsText0, PrometheusText0]`.
    pub scrape_protocols: Vec<ScrapeProtocol>,
    /// Default `/metrics`.
    pub metrics_path: String,
    /// Default `http`.
    pub scheme: String,
    /// Default true (`enable_compression`: ask for gzip).
    pub enable_compression: bool,
    /// Limits (inherit the global ones when unset).
    pub limits: ScrapeLimits,
    /// The inlined HTTP client settings.
    pub http: HttpClientConfig,
    /// `relabel_configs`.
    pub relabel_configs: Vec<RelabelConfig>,
    /// `metric_relabel_configs`.
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// `static_configs`.
    pub static_configs: Vec<StaticConfig>,
    /// `file_sd_configs`.
    pub file_sd_configs: Vec<FileSdConfig>,
    /// `http_sd_configs`.
    pub http_sd_configs: Vec<HttpSdConfig>,
    /// `dns_sd_configs`.
    pub dns_sd_configs: Vec<DnsSdConfig>,
    /// Names of discovery sections we accept but do not implement (e.g.
    /// `kubernetes_sd_configs`); each produced a warning at load.
    pub unsupported_sd: Vec<String>,
}

/// Prometheus's common HTTP client settings (`basic_auth`, `authorization`, `oauth2`,
/// `tls_config`, `proxy_url`, `follow_redirects`, `enable_http2`), with file references
/// resolved against the config file's directory.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpClientConfig {
    /// `basic_auth`.
    pub basic_auth: Option<BasicAuth>,
    /// `authorization` (and the legacy `bearer_token`/`bearer_token_file`).
    pub authorization: Option<Authorization>,
    /// `oauth2` (client credentials grant).
    pub oauth2: Option<OAuth2>,
    /// `tls_config`.
    pub tls: TlsConfig,
    /// `proxy_url`.
    pub proxy_url: Option<String>,
    /// `proxy_connect_header`: headers sent to the proxy on `CONNECT` (name → values).
    pub proxy_connect_header: BTreeMap<String, Vec<String>>,
    /// Default true.
    pub follow_redirects: bool,
    /// Default true.
    pub enable_http2: bool,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            oauth2: None,
            tls: TlsConfig::default(),
            proxy_url: None,
            proxy_connect_header: BTreeMap::new(),
            follow_redirects: true,
            enable_http2: true,
        }
    }
}

/// A secret given inline or as a file to read at use time. `Debug` shows `<secret>` instead
/// of an inline value, so configs can be logged.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// Written in the config (rendered as `<secret>`).
    Inline(String),
    /// `*_file`: read when the client is built.
    File(PathBuf),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Inline(_) => f.write_str("Inline(<secret>)"),
            Secret::File(p) => f.debug_tuple("File").field(p).finish(),
        }
    }
}

/// `basic_auth`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BasicAuth {
    /// `username`.
    pub username: String,
    /// `password` or `password_file`.
    pub password: Option<Secret>,
}

/// `authorization`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    /// Default `Bearer`.
    pub kind: String,
    /// `credentials` or `credentials_file`.
    pub credentials: Option<Secret>,
}

/// `oauth2` (client credentials).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuth2 {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret` or `client_secret_file`.
    pub client_secret: Option<Secret>,
    /// `scopes`.
    pub scopes: Vec<String>,
    /// `token_url`.
    pub token_url: String,
    /// `endpoint_params`.
    pub endpoint_params: BTreeMap<String, String>,
    /// `tls_config` of the token request.
    pub tls: TlsConfig,
    /// `proxy_url` of the token request.
    pub proxy_url: Option<String>,
}

/// `tls_config`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// `ca_file`.
    pub ca_file: Option<PathBuf>,
    /// `cert_file`.
    pub cert_file: Option<PathBuf>,
    /// `key_file`.
    pub key_file: Option<PathBuf>,
    /// `server_name`.
    pub server_name: Option<String>,
    /// `insecure_skip_verify`.
    pub insecure_skip_verify: bool,
    /// `min_version` (`TLS10` … `TLS13`).
    pub min_version: Option<String>,
    /// `max_version` (`TLS10` … `TLS13`).
    pub max_version: Option<String>,
}

/// `alerting`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertingConfig {
    /// `alert_relabel_configs`.
    pub alert_relabel_configs: Vec<RelabelConfig>,
    /// `alertmanagers`.
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

/// One `alerting.alertmanagers` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertmanagerConfig {
    /// Default `http`.
    pub scheme: String,
    /// `path_prefix`, default `/`.
    pub path_prefix: String,
    /// Default 10s.
    pub timeout: Duration,
    /// `api_version`, default `v2`.
    pub api_version: String,
    /// HTTP client settings.
    pub http: HttpClientConfig,
    /// `relabel_configs`.
    pub relabel_configs: Vec<RelabelConfig>,
    /// `static_configs`.
    pub static_configs: Vec<StaticConfig>,
    /// `file_sd_configs`.
    pub file_sd_configs: Vec<FileSdConfig>,
    /// `http_sd_configs`.
    pub http_sd_configs: Vec<HttpSdConfig>,
    /// `dns_sd_configs`.
    pub dns_sd_configs: Vec<DnsSdConfig>,
    /// Names of discovery sections we accept but do not implement; each produced a warning.
    pub unsupported_sd: Vec<String>,
}

/// One `remote_write` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteWriteConfig {
    /// `url`.
    pub url: String,
    /// `name` (default: a hash of the entry, as Prometheus names queues).
    pub name: String,
    /// Default 30s.
    pub remote_timeout: Duration,
    /// `headers`.
    pub headers: BTreeMap<String, String>,
    /// `write_relabel_configs`.
    pub write_relabel_configs: Vec<RelabelConfig>,
    /// `send_exemplars`.
    pub send_exemplars: bool,
    /// `send_native_histograms`.
    pub send_native_histograms: bool,
    /// `protobuf_message`: `prometheus.WriteRequest` (default) or `io.prometheus.write.v2.Request`.
    pub protobuf_message: String,
    /// HTTP client settings.
    pub http: HttpClientConfig,
    /// `queue_config`.
    pub queue: QueueConfig,
    /// `metadata_config`.
    pub metadata: MetadataConfig,
}

/// `queue_config` with Prometheus's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueConfig {
    /// Default 10000.
    pub capacity: usize,
    /// Default 50.
    pub max_shards: usize,
    /// Default 1.
    pub min_shards: usize,
    /// Default 2000.
    pub max_samples_per_send: usize,
    /// Default 5s.
    pub batch_send_deadline: Duration,
    /// Default 30ms.
    pub min_backoff: Duration,
    /// Default 5s.
    pub max_backoff: Duration,
    /// Default false.
    pub retry_on_http_429: bool,
    /// `sample_age_limit` (0 = none).
    pub sample_age_limit: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2_000,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: false,
            sample_age_limit: Duration::ZERO,
        }
    }
}

/// `metadata_config`.
#[derive(Clone, Debug, PartialEq)]
pub struct MetadataConfig {
    /// Default true.
    pub send: bool,
    /// Default 1m.
    pub send_interval: Duration,
    /// Default 500.
    pub max_samples_per_send: usize,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig { send: true, send_interval: Duration::from_secs(60), max_samples_per_send: 500 }
    }
}

/// One `remote_read` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteReadConfig {
    /// `url`.
    pub url: String,
    /// `name`.
    pub name: String,
    /// Default 1m.
    pub remote_timeout: Duration,
    /// `headers`.
    pub headers: BTreeMap<String, String>,
    /// `required_matchers`: label name → value every query must select for this remote to be asked.
    pub required_matchers: BTreeMap<String, String>,
    /// Default false.
    pub read_recent: bool,
    /// Default true.
    pub filter_external_labels: bool,
    /// HTTP client settings.
    pub http: HttpClientConfig,
}

/// `storage`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StorageConfig {
    /// `tsdb.out_of_order_time_window`.
    pub out_of_order_time_window: Option<Duration>,
    /// `exemplars.max_exemplars`.
    pub max_exemplars: Option<u64>,
}

/// Something wrong with a config file: where, and what.
///
/// Displays as `file:line:col: message` (or `file: message` when the position is unknown).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub struct Error {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub col: Option<usize>,
    /// What is wrong (names the field).
    pub msg: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.col) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file.display(), self.msg),
            (Some(l), None) => write!(f, "{}:{l}: {}", self.file.display(), self.msg),
            _ => write!(f, "{}: {}", self.file.display(), self.msg),
        }
    }
}

impl Error {
    /// An error about `file` with no position.
    pub fn new(file: &Path, msg: impl Into<String>) -> Error {
        Error { file: file.to_path_buf(), line: None, col: None, msg: msg.into() }
    }
}

/// Something acceptable but worth saying (e.g. an unsupported discovery section).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The message.
    pub msg: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

/// Reads, validates and fills in `path`.
pub fn load_file(path: &Path) -> Result<(Config, Vec<Warning>), Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::new(path, e.to_string()))?;
    load_str(&text, path)
}

/// Parses `text` as if read from `path` (relative paths resolve against its directory).
pub fn load_str(text: &str, path: &Path) -> Result<(Config, Vec<Warning>), Error> {
    convert::load(text, path)
}

impl Config {
    /// The built-in configuration `cairn` runs with when no `--config.file` is given: scrape
    /// and evaluation interval 15s, and one job, `prometheus`, scraping `target` (the
    /// server's own `host:port`) every 15s.
    pub fn default_self_scrape(target: &str) -> Config {
        let interval = Duration::from_secs(15);
        let global =
            GlobalConfig { scrape_interval: interval, evaluation_interval: interval, ..GlobalConfig::default() };
        let job = ScrapeConfig {
            static_configs: vec![StaticConfig { targets: vec![target.to_string()], labels: Labels::default() }],
            ..ScrapeConfig::with_defaults("prometheus", &global)
        };
        Config { global, scrape_configs: vec![job], ..Config::default() }
    }

    /// The rule files the `rule_files` patterns match now, in pattern order, each pattern's
    /// matches sorted (as Prometheus reads them). A pattern without `*` that matches nothing
    /// is an error, as `promtool check config` reports it.
    pub fn rule_file_paths(&self) -> Result<Vec<PathBuf>, Error> {
        let file = self.source.clone().unwrap_or_default();
        let mut out = Vec::new();
        for pattern in &self.rule_files {
            let found = glob(pattern).map_err(|e| Error::new(&file, e.to_string()))?;
            if !pattern.contains('*') && found.is_empty() {
                return Err(Error::new(
                    &file,
                    format!("{} does not point to an existing file", crate::relabel::go_quote(pattern)),
                ));
            }
            out.extend(found);
        }
        Ok(out)
    }
}

impl ScrapeConfig {
    /// A scrape config for `job_name` with Prometheus's defaults and `global`'s interval,
    /// timeout and limits, and no targets.
    pub fn with_defaults(job_name: &str, global: &GlobalConfig) -> ScrapeConfig {
        ScrapeConfig {
            job_name: job_name.to_string(),
            honor_labels: false,
            honor_timestamps: true,
            track_timestamps_staleness: false,
            params: BTreeMap::new(),
            scrape_interval: global.scrape_interval,
            scrape_timeout: global.scrape_timeout.min(global.scrape_interval),
            scrape_protocols: global.scrape_protocols.clone(),
            metrics_path: "/metrics".to_string(),
            scheme: "http".to_string(),
            enable_compression: true,
            limits: global.limits,
            http: HttpClientConfig::default(),
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
            static_configs: Vec::new(),
            file_sd_configs: Vec::new(),
            http_sd_configs: Vec::new(),
            dns_sd_configs: Vec::new(),
            unsupported_sd: Vec::new(),
        }
    }
}

impl ScrapeProtocol {
    /// Every protocol, in the default preference order.
    pub const ALL: [ScrapeProtocol; 4] = [
        ScrapeProtocol::OpenMetricsText1,
        ScrapeProtocol::OpenMetricsText0,
        ScrapeProtocol::PrometheusText0,
        ScrapeProtocol::PrometheusProto,
    ];

    /// The default `scrape_protocols`.
    pub const DEFAULT: [ScrapeProtocol; 3] =
        [ScrapeProtocol::OpenMetricsText1, ScrapeProtocol::OpenMetricsText0, ScrapeProtocol::PrometheusText0];

    /// The name used in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            ScrapeProtocol::OpenMetricsText1 => "OpenMetricsText1.0.0",
            ScrapeProtocol::OpenMetricsText0 => "OpenMetricsText0.0.1",
            ScrapeProtocol::PrometheusText0 => "PrometheusText0.0.4",
            ScrapeProtocol::PrometheusProto => "PrometheusProto",
        }
    }

    /// The media type (with parameters) to put in `Accept`.
    pub fn media_type(self) -> &'static str {
        match self {
            ScrapeProtocol::OpenMetricsText1 => "application/openmetrics-text;version=1.0.0",
            ScrapeProtocol::OpenMetricsText0 => "application/openmetrics-text;version=0.0.1",
            ScrapeProtocol::PrometheusText0 => "text/plain;version=0.0.4",
            ScrapeProtocol::PrometheusProto => {
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
            }
        }
    }
}

#[cfg(test)]
mod tests;
