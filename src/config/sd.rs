//! Discovery sections of scrape and Alertmanager configs: `static_configs`, `file_sd_configs`,
//! `http_sd_configs`, `dns_sd_configs`, and the mechanisms we accept without implementing.

use super::Error;
use super::convert::Ctx;
use super::raw::{RawDnsSd, RawFileSd, RawHttpSd, RawStatic, SdFields, Sp};
use crate::discovery::{DnsRecordType, DnsSdConfig, FileSdConfig, HttpSdConfig, StaticConfig};
use crate::relabel::go_quote;
use std::time::Duration;

/// The converted discovery sections of one config.
pub(super) struct Discovery {
    pub static_configs: Vec<StaticConfig>,
    pub file_sd_configs: Vec<FileSdConfig>,
    pub http_sd_configs: Vec<HttpSdConfig>,
    pub dns_sd_configs: Vec<DnsSdConfig>,
    pub unsupported: Vec<String>,
}

impl Ctx<'_> {
    /// Converts the discovery sections; `owner` names the config in warnings
    /// (`scrape job "node"`).
    pub fn discovery<T>(&mut self, f: SdFields<'_>, owner: &str, section: &Sp<T>) -> Result<Discovery, Error> {
        let mut out = Discovery {
            static_configs: Vec::new(),
            file_sd_configs: Vec::new(),
            http_sd_configs: Vec::new(),
            dns_sd_configs: Vec::new(),
            unsupported: Vec::new(),
        };
        for s in f.static_configs {
            let Some(s) = s else {
                return Err(self.err_at(section, "empty or null section in static_configs"));
            };
            out.static_configs.push(self.static_config(s)?);
        }
        for s in f.file_sd_configs {
            let Some(s) = s else {
                return Err(self.err_at(section, "empty or null section in file_sd_configs"));
            };
            out.file_sd_configs.push(self.file_sd(s)?);
        }
        for s in f.http_sd_configs {
            let Some(s) = s else {
                return Err(self.err_at(section, "empty or null section in http_sd_configs"));
            };
            out.http_sd_configs.push(self.http_sd(s)?);
        }
        for s in f.dns_sd_configs {
            let Some(s) = s else {
                return Err(self.err_at(section, "empty or null section in dns_sd_configs"));
            };
            out.dns_sd_configs.push(self.dns_sd(s)?);
        }
        for name in f.unsupported {
            self.warn(format!("{owner}: {name} is not supported by Cairn; its targets will not be discovered"));
            out.unsupported.push(name.to_string());
        }
        Ok(out)
    }

    /// A `static_configs` entry.
    fn static_config(&self, s: &Sp<RawStatic>) -> Result<StaticConfig, Error> {
        Ok(StaticConfig {
            targets: s.value.targets.iter().flatten().map(|t| t.value.clone()).collect(),
            labels: self.label_map(s.value.labels.as_ref(), false)?,
        })
    }

    /// A `file_sd_configs` entry.
    fn file_sd(&self, s: &Sp<RawFileSd>) -> Result<FileSdConfig, Error> {
        let files = s.value.files.as_deref().unwrap_or_default();
        if files.is_empty() {
            return Err(self.err_at(s, "file service discovery config must contain at least one path name"));
        }
        for f in files {
            if !valid_sd_file(&f.value) {
                return Err(self.err_at(f, format!("path name {} is not valid for file discovery", go_quote(&f.value))));
            }
        }
        Ok(FileSdConfig {
            files: files.iter().map(|f| self.path(&f.value)).collect(),
            refresh_interval: self.duration(s.value.refresh_interval.as_ref())?.unwrap_or(Duration::from_secs(300)),
        })
    }

    /// An `http_sd_configs` entry.
    fn http_sd(&self, s: &Sp<RawHttpSd>) -> Result<HttpSdConfig, Error> {
        let url = match &s.value.url {
            Some(u) if !u.value.is_empty() => u,
            _ => return Err(self.err_at(s, "URL is missing")),
        };
        super::client::check_go_url(&url.value).map_err(|e| self.err_at(url, e))?;
        let (scheme, rest) = url.value.split_once("://").unwrap_or(("", ""));
        if scheme != "http" && scheme != "https" {
            return Err(self.err_at(url, "URL scheme must be 'http' or 'https'"));
        }
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        if host.is_empty() {
            return Err(self.err_at(url, "host is missing in URL"));
        }
        Ok(HttpSdConfig {
            url: url.value.clone(),
            refresh_interval: self.duration(s.value.refresh_interval.as_ref())?.unwrap_or(Duration::from_secs(60)),
            http: self.http(s.value.http(), &s.referenced)?,
        })
    }

    /// A `dns_sd_configs` entry.
    fn dns_sd(&self, s: &Sp<RawDnsSd>) -> Result<DnsSdConfig, Error> {
        let v = &s.value;
        let names = v.names.clone().unwrap_or_default();
        if names.is_empty() {
            return Err(self.err_at(s, "DNS-SD config must contain at least one SRV record name"));
        }
        let record_type = match v.record_type.as_ref().map(|t| (t, t.value.to_ascii_uppercase())) {
            None => DnsRecordType::Srv,
            Some((_, t)) if t == "SRV" => DnsRecordType::Srv,
            Some((_, t)) if t == "A" => DnsRecordType::A,
            Some((_, t)) if t == "AAAA" => DnsRecordType::Aaaa,
            Some((_, t)) if t == "MX" => DnsRecordType::Mx,
            Some((_, t)) if t == "NS" => DnsRecordType::Ns,
            Some((t, _)) => return Err(self.err_at(t, format!("invalid DNS-SD records type {}", t.value))),
        };
        let port = v.port.filter(|&p| p != 0);
        if record_type != DnsRecordType::Srv && port.is_none() {
            return Err(self.err_at(s, "a port is required in DNS-SD configs for all record types except SRV"));
        }
        Ok(DnsSdConfig {
            names,
            record_type,
            port,
            refresh_interval: self.duration(v.refresh_interval.as_ref())?.unwrap_or(Duration::from_secs(30)),
        })
    }
}

/// Prometheus's pattern for `file_sd_configs` files: `.json`, `.yml` or `.yaml` (either
/// case), with a `*` only in the last path element.
fn valid_sd_file(p: &str) -> bool {
    let ext_ok = ["json", "yml", "yaml", "JSON", "YML", "YAML"]
        .iter()
        .any(|ext| p.strip_suffix(ext).is_some_and(|rest| rest.ends_with('.')));
    let star_ok = match p.find('*') {
        None => true,
        Some(i) => !p[i..].contains('/'),
    };
    ext_ok && star_ok
}

#[cfg(test)]
mod tests {
    use super::valid_sd_file;

    #[test]
    fn sd_file_names() {
        for ok in ["a.json", "t/*.yml", "x.YAML", "/abs/*.yaml", "a*b.json"] {
            assert!(valid_sd_file(ok), "{ok}");
        }
        for bad in ["a.txt", "a/*/b.json", "json", "a.Json"] {
            assert!(!valid_sd_file(bad), "{bad}");
        }
    }
}
