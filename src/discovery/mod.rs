//! Service discovery: where scrape targets (and Alertmanagers) come from.
//!
//! Principal items: [`TargetGroup`] (what every discoverer yields: a source name, a list of
//! targets as label sets, labels common to the group), and one config type per mechanism:
//! [`StaticConfig`], [`FileSdConfig`], [`HttpSdConfig`], [`DnsSdConfig`].
//!
//! Running discovery: [`provider::spawn_providers`] starts one task per discovery section of a
//! scrape config; each sends [`provider::SdUpdate`]s (whole groups) to the scrape pool:
//! static groups once, [`file`](mod@file) re-read on change and on `refresh_interval`, [`http`] polled,
//! [`dns`] resolved (A/AAAA through the system resolver, SRV/MX/NS with a small DNS client
//! over UDP). [`metrics::SdMetrics`] holds the `prometheus_sd_*` metrics.

pub mod dns;
pub mod file;
pub mod http;
pub mod metrics;
pub mod provider;

use crate::config::HttpClientConfig;
use crate::model::Labels;
use std::path::PathBuf;
use std::time::Duration;

/// A group of targets from one source (a static entry, one file, one HTTP answer, one DNS
/// name). Discoverers always send whole groups; an empty `targets` list removes the group.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TargetGroup {
    /// Identifies the group within its discoverer (e.g. `path/to/file.json:0`).
    pub source: String,
    /// Each target's own labels (at least `__address__`).
    pub targets: Vec<Labels>,
    /// Labels every target of the group gets (target labels win on conflict).
    pub labels: Labels,
}

/// `static_configs` entry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StaticConfig {
    /// `targets`: `host:port` strings.
    pub targets: Vec<String>,
    /// `labels`.
    pub labels: Labels,
}

/// `file_sd_configs` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct FileSdConfig {
    /// `files`: paths or globs (last path element only), resolved against the config file's
    /// directory; `.json`, `.yml` or `.yaml`.
    pub files: Vec<PathBuf>,
    /// `refresh_interval`, default 5m (files are also watched for changes).
    pub refresh_interval: Duration,
}

/// `http_sd_configs` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpSdConfig {
    /// `url`.
    pub url: String,
    /// `refresh_interval`, default 1m.
    pub refresh_interval: Duration,
    /// HTTP client settings.
    pub http: HttpClientConfig,
}

/// DNS record types `dns_sd_configs` can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsRecordType {
    /// `SRV` (default).
    Srv,
    /// `A`.
    A,
    /// `AAAA`.
    Aaaa,
    /// `MX`.
    Mx,
    /// `NS`.
    Ns,
}

/// `dns_sd_configs` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct DnsSdConfig {
    /// `names`.
    pub names: Vec<String>,
    /// `type`, default SRV.
    pub record_type: DnsRecordType,
    /// `port` (required for A, AAAA, MX, NS).
    pub port: Option<u16>,
    /// `refresh_interval`, default 30s.
    pub refresh_interval: Duration,
}
