//! The file as written: serde structs mirroring `prometheus.yml` key for key.
//!
//! Every struct rejects unknown keys. Values whose position an error may need to name are
//! wrapped in [`Spanned`]. Nothing here applies defaults or validates; `convert` turns these
//! into the public types. Prometheus inlines its HTTP client settings into several sections;
//! serde's `flatten` would lose both unknown-key detection and positions, so the
//! [`raw_struct!`] macro writes those keys into each struct instead.

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// A value with its position in the file.
pub(super) type Sp<T> = Spanned<T>;

/// A mapping key with its position, ordered by its text (for label maps).
#[derive(Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub(super) struct Key(pub Sp<String>);

impl Ord for Key {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.value.cmp(&other.0.value)
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// For `#[serde(default, deserialize_with = "nullable")]` on an `Option<Option<T>>` field:
/// absent is `None`, an explicit YAML null is `Some(None)`. Prometheus (go-yaml v2) gives a
/// field written as null its zero value, which for some fields differs from the default.
pub(super) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The discovery sections of Prometheus 2.42 that Cairn accepts without implementing. Their
/// contents are not validated; each present section produces a warning.
pub(super) const UNSUPPORTED_SD: [&str; 25] = [
    "azure_sd_configs",
    "consul_sd_configs",
    "digitalocean_sd_configs",
    "docker_sd_configs",
    "dockerswarm_sd_configs",
    "ec2_sd_configs",
    "eureka_sd_configs",
    "gce_sd_configs",
    "hetzner_sd_configs",
    "ionos_sd_configs",
    "kubernetes_sd_configs",
    "kuma_sd_configs",
    "lightsail_sd_configs",
    "linode_sd_configs",
    "marathon_sd_configs",
    "nerve_sd_configs",
    "nomad_sd_configs",
    "openstack_sd_configs",
    "ovhcloud_sd_configs",
    "puppetdb_sd_configs",
    "scaleway_sd_configs",
    "serverset_sd_configs",
    "triton_sd_configs",
    "uyuni_sd_configs",
    "vultr_sd_configs",
];

/// The HTTP client keys of one section, borrowed, whichever struct they were read into.
pub(super) struct HttpFields<'a> {
    pub basic_auth: Option<&'a Sp<RawBasicAuth>>,
    pub authorization: Option<&'a Sp<RawAuthorization>>,
    pub oauth2: Option<&'a Sp<RawOAuth2>>,
    pub bearer_token: Option<&'a String>,
    pub bearer_token_file: Option<&'a String>,
    pub tls_config: Option<&'a Sp<RawTls>>,
    pub proxy_url: Option<&'a Sp<String>>,
    pub proxy_connect_header: Option<&'a BTreeMap<String, Vec<String>>>,
    pub follow_redirects: Option<bool>,
    pub enable_http2: Option<bool>,
}

/// The discovery keys of a scrape config or an Alertmanager config, borrowed.
pub(super) struct SdFields<'a> {
    pub static_configs: &'a [Option<Sp<RawStatic>>],
    pub file_sd_configs: &'a [Option<Sp<RawFileSd>>],
    pub http_sd_configs: &'a [Option<Sp<RawHttpSd>>],
    pub dns_sd_configs: &'a [Option<Sp<RawDnsSd>>],
    /// The unsupported sections present, by name.
    pub unsupported: Vec<&'static str>,
}

/// Defines a raw struct (all keys optional, unknown keys rejected) with the HTTP client keys
/// added, plus the discovery keys when `discovery` is given.
macro_rules! raw_struct {
    (@http $(#[$doc:meta])* $name:ident { $($field:ident : $ty:ty),* $(,)? } $($sd:ident)?) => {
        raw_struct!(@def $(#[$doc])* $name { $($field: $ty),* } $($sd)?);
        impl $name {
            /// The HTTP client keys.
            pub(super) fn http(&self) -> HttpFields<'_> {
                HttpFields {
                    basic_auth: self.basic_auth.as_ref(),
                    authorization: self.authorization.as_ref(),
                    oauth2: self.oauth2.as_ref(),
                    bearer_token: self.bearer_token.as_ref(),
                    bearer_token_file: self.bearer_token_file.as_ref(),
                    tls_config: self.tls_config.as_ref(),
                    proxy_url: self.proxy_url.as_ref(),
                    proxy_connect_header: self.proxy_connect_header.as_ref(),
                    follow_redirects: self.follow_redirects,
                    enable_http2: self.enable_http2,
                }
            }
        }
    };
    (@def $(#[$doc:meta])* $name:ident { $($field:ident : $ty:ty),* } discovery) => {
        $(#[$doc])*
        #[derive(Deserialize, Default)]
        #[serde(deny_unknown_fields, default)]
        pub(super) struct $name {
            $(pub $field: $ty,)*
            pub basic_auth: Option<Sp<RawBasicAuth>>,
            pub authorization: Option<Sp<RawAuthorization>>,
            pub oauth2: Option<Sp<RawOAuth2>>,
            pub bearer_token: Option<String>,
            pub bearer_token_file: Option<String>,
            pub tls_config: Option<Sp<RawTls>>,
            pub proxy_url: Option<Sp<String>>,
            pub proxy_connect_header: Option<BTreeMap<String, Vec<String>>>,
            pub follow_redirects: Option<bool>,
            pub enable_http2: Option<bool>,
            pub static_configs: Vec<Option<Sp<RawStatic>>>,
            pub file_sd_configs: Vec<Option<Sp<RawFileSd>>>,
            pub http_sd_configs: Vec<Option<Sp<RawHttpSd>>>,
            pub dns_sd_configs: Vec<Option<Sp<RawDnsSd>>>,
            pub azure_sd_configs: Option<IgnoredAny>,
            pub consul_sd_configs: Option<IgnoredAny>,
            pub digitalocean_sd_configs: Option<IgnoredAny>,
            pub docker_sd_configs: Option<IgnoredAny>,
            pub dockerswarm_sd_configs: Option<IgnoredAny>,
            pub ec2_sd_configs: Option<IgnoredAny>,
            pub eureka_sd_configs: Option<IgnoredAny>,
            pub gce_sd_configs: Option<IgnoredAny>,
            pub hetzner_sd_configs: Option<IgnoredAny>,
            pub ionos_sd_configs: Option<IgnoredAny>,
            pub kubernetes_sd_configs: Option<IgnoredAny>,
            pub kuma_sd_configs: Option<IgnoredAny>,
            pub lightsail_sd_configs: Option<IgnoredAny>,
            pub linode_sd_configs: Option<IgnoredAny>,
            pub marathon_sd_configs: Option<IgnoredAny>,
            pub nerve_sd_configs: Option<IgnoredAny>,
            pub nomad_sd_configs: Option<IgnoredAny>,
            pub openstack_sd_configs: Option<IgnoredAny>,
            pub ovhcloud_sd_configs: Option<IgnoredAny>,
            pub puppetdb_sd_configs: Option<IgnoredAny>,
            pub scaleway_sd_configs: Option<IgnoredAny>,
            pub serverset_sd_configs: Option<IgnoredAny>,
            pub triton_sd_configs: Option<IgnoredAny>,
            pub uyuni_sd_configs: Option<IgnoredAny>,
            pub vultr_sd_configs: Option<IgnoredAny>,
        }
        impl $name {
            /// The discovery keys.
            pub(super) fn discovery(&self) -> SdFields<'_> {
                let present = [
                    self.azure_sd_configs.is_some(),
                    self.consul_sd_configs.is_some(),
                    self.digitalocean_sd_configs.is_some(),
                    self.docker_sd_configs.is_some(),
                    self.dockerswarm_sd_configs.is_some(),
                    self.ec2_sd_configs.is_some(),
                    self.eureka_sd_configs.is_some(),
                    self.gce_sd_configs.is_some(),
                    self.hetzner_sd_configs.is_some(),
                    self.ionos_sd_configs.is_some(),
                    self.kubernetes_sd_configs.is_some(),
                    self.kuma_sd_configs.is_some(),
                    self.lightsail_sd_configs.is_some(),
                    self.linode_sd_configs.is_some(),
                    self.marathon_sd_configs.is_some(),
                    self.nerve_sd_configs.is_some(),
                    self.nomad_sd_configs.is_some(),
                    self.openstack_sd_configs.is_some(),
                    self.ovhcloud_sd_configs.is_some(),
                    self.puppetdb_sd_configs.is_some(),
                    self.scaleway_sd_configs.is_some(),
                    self.serverset_sd_configs.is_some(),
                    self.triton_sd_configs.is_some(),
                    self.uyuni_sd_configs.is_some(),
                    self.vultr_sd_configs.is_some(),
                ];
                SdFields {
                    static_configs: &self.static_configs,
                    file_sd_configs: &self.file_sd_configs,
                    http_sd_configs: &self.http_sd_configs,
                    dns_sd_configs: &self.dns_sd_configs,
                    unsupported: UNSUPPORTED_SD.iter().zip(present).filter(|(_, p)| *p).map(|(n, _)| *n).collect(),
                }
            }
        }
    };
    (@def $(#[$doc:meta])* $name:ident { $($field:ident : $ty:ty),* }) => {
        $(#[$doc])*
        #[derive(Deserialize, Default)]
        #[serde(deny_unknown_fields, default)]
        pub(super) struct $name {
            $(pub $field: $ty,)*
            pub basic_auth: Option<Sp<RawBasicAuth>>,
            pub authorization: Option<Sp<RawAuthorization>>,
            pub oauth2: Option<Sp<RawOAuth2>>,
            pub bearer_token: Option<String>,
            pub bearer_token_file: Option<String>,
            pub tls_config: Option<Sp<RawTls>>,
            pub proxy_url: Option<Sp<String>>,
            pub proxy_connect_header: Option<BTreeMap<String, Vec<String>>>,
            pub follow_redirects: Option<bool>,
            pub enable_http2: Option<bool>,
        }
    };
}

/// The whole file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawConfig {
    pub global: Option<Sp<RawGlobal>>,
    pub alerting: Option<Sp<RawAlerting>>,
    pub rule_files: Option<Vec<Sp<String>>>,
    pub scrape_configs: Option<Vec<Option<Sp<RawScrape>>>>,
    pub storage: Option<RawStorage>,
    pub tracing: Option<Sp<RawTracing>>,
    pub remote_write: Option<Vec<Option<Sp<RawRemoteWrite>>>>,
    pub remote_read: Option<Vec<Option<Sp<RawRemoteRead>>>>,
}

/// `global`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawGlobal {
    pub scrape_interval: Option<Sp<String>>,
    pub scrape_timeout: Option<Sp<String>>,
    pub evaluation_interval: Option<Sp<String>>,
    pub external_labels: Option<BTreeMap<Key, Option<String>>>,
    pub query_log_file: Option<String>,
    pub scrape_protocols: Option<Vec<Sp<String>>>,
    pub body_size_limit: Option<Sp<String>>,
    pub sample_limit: Option<u64>,
    pub target_limit: Option<u64>,
    pub label_limit: Option<u64>,
    pub label_name_length_limit: Option<u64>,
    pub label_value_length_limit: Option<u64>,
}

raw_struct!(@http
    /// One `scrape_configs` entry.
    RawScrape {
        job_name: Option<Sp<String>>,
        honor_labels: Option<bool>,
        honor_timestamps: Option<bool>,
        track_timestamps_staleness: Option<bool>,
        params: Option<BTreeMap<String, Vec<String>>>,
        scrape_interval: Option<Sp<String>>,
        scrape_timeout: Option<Sp<String>>,
        scrape_protocols: Option<Vec<Sp<String>>>,
        metrics_path: Option<String>,
        scheme: Option<Sp<String>>,
        enable_compression: Option<bool>,
        body_size_limit: Option<Sp<String>>,
        sample_limit: Option<u64>,
        target_limit: Option<u64>,
        label_limit: Option<u64>,
        label_name_length_limit: Option<u64>,
        label_value_length_limit: Option<u64>,
        relabel_configs: Vec<Option<Sp<RawRelabel>>>,
        metric_relabel_configs: Vec<Option<Sp<RawRelabel>>>,
    } discovery
);

/// One relabeling step.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawRelabel {
    #[serde(deserialize_with = "nullable")]
    pub source_labels: Option<Option<Vec<String>>>,
    #[serde(deserialize_with = "nullable")]
    pub separator: Option<Option<String>>,
    #[serde(deserialize_with = "nullable")]
    pub regex: Option<Option<Sp<String>>>,
    pub modulus: Option<u64>,
    #[serde(deserialize_with = "nullable")]
    pub target_label: Option<Option<String>>,
    #[serde(deserialize_with = "nullable")]
    pub replacement: Option<Option<String>>,
    #[serde(deserialize_with = "nullable")]
    pub action: Option<Option<Sp<String>>>,
}

/// `basic_auth`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawBasicAuth {
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<String>,
}

/// `authorization`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAuthorization {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub credentials: Option<String>,
    pub credentials_file: Option<String>,
}

/// `oauth2`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawOAuth2 {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_secret_file: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub token_url: Option<String>,
    pub endpoint_params: Option<BTreeMap<String, String>>,
    pub tls_config: Option<Sp<RawTls>>,
    pub proxy_url: Option<Sp<String>>,
}

/// `tls_config`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTls {
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub server_name: Option<String>,
    pub insecure_skip_verify: Option<bool>,
    pub min_version: Option<Sp<String>>,
    pub max_version: Option<Sp<String>>,
}

/// A `static_configs` entry.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawStatic {
    pub targets: Option<Vec<Sp<String>>>,
    pub labels: Option<BTreeMap<Key, Option<String>>>,
}

/// A `file_sd_configs` entry.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawFileSd {
    pub files: Option<Vec<Sp<String>>>,
    pub refresh_interval: Option<Sp<String>>,
}

raw_struct!(@http
    /// An `http_sd_configs` entry.
    RawHttpSd {
        url: Option<Sp<String>>,
        refresh_interval: Option<Sp<String>>,
    }
);

/// A `dns_sd_configs` entry.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDnsSd {
    pub names: Option<Vec<String>>,
    #[serde(rename = "type")]
    pub record_type: Option<Sp<String>>,
    pub port: Option<u16>,
    pub refresh_interval: Option<Sp<String>>,
}

/// `alerting`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAlerting {
    pub alert_relabel_configs: Vec<Option<Sp<RawRelabel>>>,
    pub alertmanagers: Vec<Option<Sp<RawAlertmanager>>>,
}

raw_struct!(@http
    /// One `alertmanagers` entry.
    RawAlertmanager {
        scheme: Option<Sp<String>>,
        path_prefix: Option<String>,
        timeout: Option<Sp<String>>,
        api_version: Option<Sp<String>>,
        relabel_configs: Vec<Option<Sp<RawRelabel>>>,
    } discovery
);

raw_struct!(@http
    /// One `remote_write` entry.
    RawRemoteWrite {
        url: Option<Sp<String>>,
        remote_timeout: Option<Sp<String>>,
        headers: Option<BTreeMap<String, String>>,
        write_relabel_configs: Vec<Option<Sp<RawRelabel>>>,
        name: Option<Sp<String>>,
        send_exemplars: Option<bool>,
        send_native_histograms: Option<bool>,
        protobuf_message: Option<Sp<String>>,
        queue_config: Option<RawQueue>,
        metadata_config: Option<RawMetadata>,
        sigv4: Option<IgnoredAny>,
    }
);

/// `queue_config`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawQueue {
    pub capacity: Option<usize>,
    pub max_shards: Option<usize>,
    pub min_shards: Option<usize>,
    pub max_samples_per_send: Option<usize>,
    pub batch_send_deadline: Option<Sp<String>>,
    pub min_backoff: Option<Sp<String>>,
    pub max_backoff: Option<Sp<String>>,
    pub retry_on_http_429: Option<bool>,
    pub sample_age_limit: Option<Sp<String>>,
}

/// `metadata_config`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawMetadata {
    pub send: Option<bool>,
    pub send_interval: Option<Sp<String>>,
    pub max_samples_per_send: Option<usize>,
}

raw_struct!(@http
    /// One `remote_read` entry.
    RawRemoteRead {
        url: Option<Sp<String>>,
        remote_timeout: Option<Sp<String>>,
        headers: Option<BTreeMap<String, String>>,
        read_recent: Option<bool>,
        name: Option<Sp<String>>,
        required_matchers: Option<BTreeMap<Key, String>>,
        filter_external_labels: Option<bool>,
    }
);

/// `storage`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawStorage {
    pub tsdb: Option<RawTsdb>,
    pub exemplars: Option<RawExemplars>,
}

/// `storage.tsdb`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTsdb {
    pub out_of_order_time_window: Option<Sp<String>>,
}

/// `storage.exemplars`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawExemplars {
    pub max_exemplars: Option<i64>,
}

/// `tracing` (accepted and validated; Cairn does not export traces).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTracing {
    pub client_type: Option<String>,
    pub endpoint: Option<String>,
    pub sampling_fraction: Option<f64>,
    pub insecure: Option<bool>,
    pub tls_config: Option<Sp<RawTls>>,
    pub headers: Option<BTreeMap<String, String>>,
    pub compression: Option<String>,
    pub timeout: Option<Sp<String>>,
}
