//! `dns_sd_configs`: targets from DNS, every `refresh_interval`. A and AAAA names are
//! resolved by the system resolver; SRV, MX and NS records are asked of the first
//! `nameserver` in `/etc/resolv.conf` with a small DNS client ([`wire`]) over UDP (TCP when
//! the answer is truncated). Each name is one group (source: the name) whose targets carry
//! `__meta_dns_name` and, for SRV, `__meta_dns_srv_record_target` and
//! `__meta_dns_srv_record_port`. A refresh where any lookup fails keeps the last good groups.

pub mod wire;

use super::provider::Sink;
use super::{DnsRecordType, DnsSdConfig, TargetGroup};
use crate::model::{Label, Labels};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use wire::{Record, RecordType};

/// `__meta_dns_name`.
pub const NAME_LABEL: &str = "__meta_dns_name";
/// `__meta_dns_srv_record_target`.
pub const SRV_TARGET_LABEL: &str = "__meta_dns_srv_record_target";
/// `__meta_dns_srv_record_port`.
pub const SRV_PORT_LABEL: &str = "__meta_dns_srv_record_port";
/// `__meta_dns_mx_record_target`.
pub const MX_TARGET_LABEL: &str = "__meta_dns_mx_record_target";
/// `__meta_dns_ns_record_target`.
pub const NS_TARGET_LABEL: &str = "__meta_dns_ns_record_target";

/// How long one DNS exchange may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// `host:port`, with brackets around IPv6 addresses (Go's `net.JoinHostPort`).
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// The first nameserver of a `resolv.conf` text (port 53), or 127.0.0.1:53 when none is
/// named, as Go's resolver defaults.
pub fn nameserver(resolv_conf: &str) -> SocketAddr {
    for line in resolv_conf.lines() {
        let mut f = line.split_whitespace();
        if f.next() == Some("nameserver")
            && let Some(ip) = f.next().and_then(|a| a.split('%').next()).and_then(|a| a.parse::<IpAddr>().ok())
        {
            return SocketAddr::new(ip, 53);
        }
    }
    SocketAddr::from(([127, 0, 0, 1], 53))
}

/// One target from a record.
fn target(name: &str, address: String, meta: &[(&str, String)]) -> Labels {
    let mut v = vec![Label::new(crate::scrape::ADDRESS_LABEL, address), Label::new(NAME_LABEL, name)];
    v.extend(meta.iter().map(|(k, val)| Label::new(*k, val.as_str())));
    Labels::new(v).unwrap_or_default()
}

/// The group for `name` from the records of a record-type query (CNAMEs and other types
/// are skipped).
pub fn group_from_records(name: &str, records: &[Record], port: u16) -> TargetGroup {
    let mut targets = Vec::new();
    for r in records {
        match r {
            Record::Srv { port: p, target: t, .. } => {
                let host = t.trim_end_matches('.');
                targets.push(target(
                    name,
                    join_host_port(host, *p),
                    &[(SRV_TARGET_LABEL, t.clone()), (SRV_PORT_LABEL, p.to_string())],
                ));
            }
            Record::Mx { exchange, .. } => {
                let host = exchange.trim_end_matches('.');
                targets.push(target(name, join_host_port(host, port), &[(MX_TARGET_LABEL, exchange.clone())]));
            }
            Record::Ns { host: h } => {
                let host = h.trim_end_matches('.');
                targets.push(target(name, join_host_port(host, port), &[(NS_TARGET_LABEL, h.clone())]));
            }
            Record::Other => {}
        }
    }
    TargetGroup { source: name.to_string(), targets, labels: Labels::default() }
}

/// Looks `name` up as `cfg` asks.
async fn lookup(cfg: &DnsSdConfig, name: &str, server: SocketAddr) -> Result<TargetGroup, String> {
    let port = cfg.port.unwrap_or(0);
    let qtype = match cfg.record_type {
        DnsRecordType::A | DnsRecordType::Aaaa => {
            let want_v4 = cfg.record_type == DnsRecordType::A;
            let addrs = tokio::time::timeout(QUERY_TIMEOUT, tokio::net::lookup_host((name, port)))
                .await
                .map_err(|_| format!("could not resolve {name:?}: timeout"))?
                .map_err(|e| format!("could not resolve {name:?}: {e}"))?;
            let mut seen = Vec::new();
            for a in addrs.filter(|a| a.is_ipv4() == want_v4) {
                if !seen.contains(&a.ip()) {
                    seen.push(a.ip());
                }
            }
            let targets = seen.iter().map(|ip| target(name, join_host_port(&ip.to_string(), port), &[])).collect();
            return Ok(TargetGroup { source: name.to_string(), targets, labels: Labels::default() });
        }
        DnsRecordType::Srv => RecordType::Srv,
        DnsRecordType::Mx => RecordType::Mx,
        DnsRecordType::Ns => RecordType::Ns,
    };
    let records = wire::query(server, name, qtype, QUERY_TIMEOUT)
        .await
        .map_err(|e| format!("could not resolve {name:?}: {e}"))?;
    Ok(group_from_records(name, &records, port))
}

/// Runs the provider until aborted or until the pool goes away.
pub(crate) async fn run(cfg: DnsSdConfig, sink: Sink) {
    let mut ticker = tokio::time::interval(cfg.refresh_interval.max(Duration::from_millis(100)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let server = nameserver(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
        let started = Instant::now();
        let mut groups = Vec::with_capacity(cfg.names.len());
        let mut failed = false;
        for name in &cfg.names {
            sink.metrics.dns_lookups.inc();
            match lookup(&cfg, name, server).await {
                Ok(g) => groups.push(g),
                Err(e) => {
                    sink.metrics.dns_lookup_failures.inc();
                    tracing::error!(job = %sink.job, error = %e, "DNS resolution failed");
                    failed = true;
                }
            }
        }
        sink.metrics.observe_refresh("dns", &sink.job, started.elapsed().as_secs_f64(), failed);
        if !failed && !sink.send(groups).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_become_targets() {
        let recs = vec![
            Record::Srv { priority: 1, weight: 1, port: 9100, target: "node1.example.".into() },
            Record::Other,
            Record::Srv { priority: 1, weight: 1, port: 9101, target: "::1".into() },
        ];
        let g = group_from_records("_x._tcp.example.", &recs, 0);
        assert_eq!(g.source, "_x._tcp.example.");
        assert_eq!(
            g.targets[0],
            Labels::from_pairs(&[
                ("__address__", "node1.example:9100"),
                ("__meta_dns_name", "_x._tcp.example."),
                ("__meta_dns_srv_record_port", "9100"),
                ("__meta_dns_srv_record_target", "node1.example."),
            ])
            .unwrap()
        );
        assert_eq!(g.targets[1].get("__address__"), Some("[::1]:9101"));
        let mx = group_from_records("m", &[Record::Mx { preference: 5, exchange: "mail.example.".into() }], 25);
        assert_eq!(mx.targets[0].get("__address__"), Some("mail.example:25"));
    }

    #[test]
    fn resolv_conf() {
        assert_eq!(
            nameserver("# x\nsearch a\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n"),
            "10.0.0.2:53".parse().unwrap()
        );
        assert_eq!(nameserver("nameserver fe80::1%eth0\n"), "[fe80::1]:53".parse().unwrap());
        assert_eq!(nameserver(""), "127.0.0.1:53".parse().unwrap());
    }
}
