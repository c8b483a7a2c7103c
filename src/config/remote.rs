//! `remote_write` and `remote_read` sections.

use super::client::check_go_url;
use super::convert::Ctx;
use super::raw::{RawQueue, RawRemoteRead, RawRemoteWrite, Sp};
use super::{Error, MetadataConfig, QueueConfig, RemoteReadConfig, RemoteWriteConfig};
use crate::relabel::{go_quote, is_valid_label_name};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// Headers a `headers` map may not set (Prometheus's list; `authorization` has its own
/// message).
const RESERVED_HEADERS: [&str; 16] = [
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// The protobuf messages a remote write may send.
const PROTOBUF_MESSAGES: [&str; 2] = ["prometheus.WriteRequest", "io.prometheus.write.v2.Request"];

impl Ctx<'_> {
    /// Every `remote_write` entry, names unique.
    pub fn remote_writes(&mut self, list: &[Option<Sp<RawRemoteWrite>>]) -> Result<Vec<RemoteWriteConfig>, Error> {
        let mut names = HashSet::new();
        let mut out = Vec::new();
        for rw in list {
            let Some(rw) = rw else {
                return Err(self.err(None, "empty or null remote write config section"));
            };
            let cfg = self.remote_write(rw)?;
            if !cfg.name.is_empty() && !names.insert(cfg.name.clone()) {
                let at = rw.value.name.as_ref().map_or(&rw.referenced, |n| &n.referenced);
                return Err(self.err(
                    Some(at),
                    format!("found multiple remote write configs with job name {}", go_quote(&cfg.name)),
                ));
            }
            out.push(cfg);
        }
        Ok(out)
    }

    /// One `remote_write` entry.
    fn remote_write(&mut self, raw: &Sp<RawRemoteWrite>) -> Result<RemoteWriteConfig, Error> {
        let r = &raw.value;
        let Some(url) = &r.url else {
            return Err(self.err_at(raw, "url for remote_write is empty"));
        };
        check_go_url(&url.value).map_err(|e| self.err_at(url, e))?;
        let write_relabel_configs =
            self.relabels(&r.write_relabel_configs, "empty or null relabeling rule in remote write config", raw)?;
        let headers = r.headers.clone().unwrap_or_default();
        self.check_headers(&headers, raw)?;
        let protobuf_message = match &r.protobuf_message {
            None => PROTOBUF_MESSAGES[0].to_string(),
            Some(m) if PROTOBUF_MESSAGES.contains(&m.value.as_str()) => m.value.clone(),
            Some(m) => {
                return Err(self.err_at(
                    m,
                    format!(
                        "invalid protobuf_message value: unknown type for remote write protobuf message {}, supported: {}",
                        m.value,
                        PROTOBUF_MESSAGES.join(", ")
                    ),
                ));
            }
        };
        let http = self.http(r.http(), &raw.referenced)?;
        if r.sigv4.is_some() {
            if http.basic_auth.is_some() || http.authorization.is_some() || http.oauth2.is_some() {
                return Err(
                    self.err_at(raw, "at most one of basic_auth, authorization, oauth2, & sigv4 must be configured")
                );
            }
            self.warn(format!(
                "remote_write {}: sigv4 is not supported by Cairn; requests will not be signed",
                url.value
            ));
        }
        Ok(RemoteWriteConfig {
            url: url.value.clone(),
            name: r.name.as_ref().map(|n| n.value.clone()).unwrap_or_default(),
            remote_timeout: self.duration(r.remote_timeout.as_ref())?.unwrap_or(Duration::from_secs(30)),
            headers,
            write_relabel_configs,
            send_exemplars: r.send_exemplars.unwrap_or(false),
            send_native_histograms: r.send_native_histograms.unwrap_or(false),
            protobuf_message,
            http,
            queue: self.queue(r.queue_config.as_ref())?,
            metadata: match &r.metadata_config {
                None => MetadataConfig::default(),
                Some(m) => MetadataConfig {
                    send: m.send.unwrap_or(true),
                    send_interval: self.duration(m.send_interval.as_ref())?.unwrap_or(Duration::from_secs(60)),
                    max_samples_per_send: m.max_samples_per_send.filter(|&n| n != 0).unwrap_or(500),
                },
            },
        })
    }

    /// `queue_config`: zero or absent values take the defaults.
    fn queue(&self, q: Option<&RawQueue>) -> Result<QueueConfig, Error> {
        let d = QueueConfig::default();
        let Some(q) = q else { return Ok(d) };
        let n = |v: Option<usize>, default: usize| v.filter(|&x| x != 0).unwrap_or(default);
        Ok(QueueConfig {
            capacity: n(q.capacity, d.capacity),
            max_shards: n(q.max_shards, d.max_shards),
            min_shards: n(q.min_shards, d.min_shards),
            max_samples_per_send: n(q.max_samples_per_send, d.max_samples_per_send),
            batch_send_deadline: self.duration(q.batch_send_deadline.as_ref())?.unwrap_or(d.batch_send_deadline),
            min_backoff: self.duration(q.min_backoff.as_ref())?.unwrap_or(d.min_backoff),
            max_backoff: self.duration(q.max_backoff.as_ref())?.unwrap_or(d.max_backoff),
            retry_on_http_429: q.retry_on_http_429.unwrap_or(false),
            sample_age_limit: self.duration(q.sample_age_limit.as_ref())?.unwrap_or(Duration::ZERO),
        })
    }

    /// Custom headers may not replace the ones remote write and read set themselves.
    fn check_headers<T>(&self, headers: &BTreeMap<String, String>, section: &Sp<T>) -> Result<(), Error> {
        for name in headers.keys() {
            let lower = name.to_ascii_lowercase();
            if lower == "authorization" {
                return Err(self.err_at(
                    section,
                    "authorization header must be changed via the basic_auth, authorization, oauth2, or sigv4 parameter",
                ));
            }
            if RESERVED_HEADERS.contains(&lower.as_str()) {
                return Err(self.err_at(section, format!("{name} is a reserved header. It must not be changed")));
            }
        }
        Ok(())
    }

    /// Every `remote_read` entry, names unique.
    pub fn remote_reads(&mut self, list: &[Option<Sp<RawRemoteRead>>]) -> Result<Vec<RemoteReadConfig>, Error> {
        let mut names = HashSet::new();
        let mut out = Vec::new();
        for rr in list {
            let Some(rr) = rr else {
                return Err(self.err(None, "empty or null remote read config section"));
            };
            let cfg = self.remote_read(rr)?;
            if !cfg.name.is_empty() && !names.insert(cfg.name.clone()) {
                let at = rr.value.name.as_ref().map_or(&rr.referenced, |n| &n.referenced);
                return Err(self.err(
                    Some(at),
                    format!("found multiple remote read configs with job name {}", go_quote(&cfg.name)),
                ));
            }
            out.push(cfg);
        }
        Ok(out)
    }

    /// One `remote_read` entry.
    fn remote_read(&self, raw: &Sp<RawRemoteRead>) -> Result<RemoteReadConfig, Error> {
        let r = &raw.value;
        let Some(url) = &r.url else {
            return Err(self.err_at(raw, "url for remote_read is empty"));
        };
        check_go_url(&url.value).map_err(|e| self.err_at(url, e))?;
        let headers = r.headers.clone().unwrap_or_default();
        self.check_headers(&headers, raw)?;
        let mut required_matchers = BTreeMap::new();
        for (k, v) in r.required_matchers.iter().flatten() {
            if !is_valid_label_name(&k.0.value) {
                return Err(self.err_at(&k.0, format!("{} is not a valid label name", go_quote(&k.0.value))));
            }
            required_matchers.insert(k.0.value.clone(), v.clone());
        }
        Ok(RemoteReadConfig {
            url: url.value.clone(),
            name: r.name.as_ref().map(|n| n.value.clone()).unwrap_or_default(),
            remote_timeout: self.duration(r.remote_timeout.as_ref())?.unwrap_or(Duration::from_secs(60)),
            headers,
            required_matchers,
            read_recent: r.read_recent.unwrap_or(false),
            filter_external_labels: r.filter_external_labels.unwrap_or(true),
            http: self.http(r.http(), &raw.referenced)?,
        })
    }
}
