//! Discovery's own metrics, named as Prometheus names them (`prometheus_sd_*`).

use crate::scrape::metrics::{Counter, escape, family};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Failures, duration sum and count of one mechanism's refreshes for one job.
type RefreshStats = (u64, f64, u64);

/// See the module documentation.
#[derive(Debug, Default)]
pub struct SdMetrics {
    /// `prometheus_sd_received_updates_total{name="scrape"}`.
    pub received_updates: Counter,
    /// `prometheus_sd_updates_total{name="scrape"}`.
    pub updates: Counter,
    /// `prometheus_sd_file_read_errors_total`.
    pub file_read_errors: Counter,
    /// `prometheus_sd_http_failures_total`.
    pub http_failures: Counter,
    /// `prometheus_sd_dns_lookups_total`.
    pub dns_lookups: Counter,
    /// `prometheus_sd_dns_lookup_failures_total`.
    pub dns_lookup_failures: Counter,
    /// `prometheus_sd_file_scan_duration_seconds` sum and count.
    file_scans: Mutex<(f64, u64)>,
    /// `prometheus_sd_file_mtime_seconds`, by file.
    file_mtimes: Mutex<BTreeMap<String, f64>>,
    /// `prometheus_sd_discovered_targets{config}`.
    discovered: Mutex<BTreeMap<String, u64>>,
    /// `prometheus_sd_refresh_failures_total` and `prometheus_sd_refresh_duration_seconds`
    /// (sum, count), by (mechanism, config).
    refreshes: Mutex<BTreeMap<(String, String), RefreshStats>>,
}

impl SdMetrics {
    /// Records a file SD scan of `seconds`.
    pub fn observe_file_scan(&self, seconds: f64) {
        let mut s = self.file_scans.lock();
        s.0 += seconds;
        s.1 += 1;
    }

    /// Records a file's modification time, or forgets it (`None`: the file is gone).
    pub fn set_file_mtime(&self, file: &str, seconds: Option<f64>) {
        let mut m = self.file_mtimes.lock();
        match seconds {
            Some(s) => {
                m.insert(file.to_string(), s);
            }
            None => {
                m.remove(file);
            }
        }
    }

    /// Sets how many targets job `config` discovered (`None` removes it).
    pub fn set_discovered(&self, config: &str, n: Option<u64>) {
        let mut m = self.discovered.lock();
        match n {
            Some(n) => {
                m.insert(config.to_string(), n);
            }
            None => {
                m.remove(config);
            }
        }
    }

    /// Records a refresh of `mechanism` (`http`, `dns`) for job `config`.
    pub fn observe_refresh(&self, mechanism: &str, config: &str, seconds: f64, failed: bool) {
        let mut m = self.refreshes.lock();
        let e = m.entry((mechanism.to_string(), config.to_string())).or_default();
        e.0 += u64::from(failed);
        e.1 += seconds;
        e.2 += 1;
    }

    /// Appends every metric in the text format.
    pub fn render(&self, out: &mut String) {
        family(out, "prometheus_sd_discovered_targets", "gauge", "Current number of discovered targets.");
        for (c, n) in self.discovered.lock().iter() {
            let _ = writeln!(out, "prometheus_sd_discovered_targets{{config=\"{}\",name=\"scrape\"}} {n}", escape(c));
        }
        family(
            out,
            "prometheus_sd_failed_configs",
            "gauge",
            "Current number of service discovery configurations that failed to load.",
        );
        let _ = writeln!(out, "prometheus_sd_failed_configs{{name=\"scrape\"}} 0");
        let named: [(&str, &str, &Counter); 2] = [
            (
                "prometheus_sd_received_updates_total",
                "Total number of update events received from the SD providers.",
                &self.received_updates,
            ),
            ("prometheus_sd_updates_total", "Total number of update events sent to the SD consumers.", &self.updates),
        ];
        for (name, help, c) in named {
            family(out, name, "counter", help);
            let _ = writeln!(out, "{name}{{name=\"scrape\"}} {}", c.get());
        }
        let plain: [(&str, &str, &Counter); 4] = [
            ("prometheus_sd_file_read_errors_total", "The number of File-SD read errors.", &self.file_read_errors),
            (
                "prometheus_sd_http_failures_total",
                "Number of HTTP service discovery refresh failures.",
                &self.http_failures,
            ),
            ("prometheus_sd_dns_lookups_total", "The number of DNS-SD lookups.", &self.dns_lookups),
            (
                "prometheus_sd_dns_lookup_failures_total",
                "The number of DNS-SD lookup failures.",
                &self.dns_lookup_failures,
            ),
        ];
        for (name, help, c) in plain {
            family(out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", c.get());
        }
        let (sum, count) = *self.file_scans.lock();
        family(
            out,
            "prometheus_sd_file_scan_duration_seconds",
            "summary",
            "The duration of the File-SD scan in seconds.",
        );
        let _ = writeln!(
            out,
            "prometheus_sd_file_scan_duration_seconds_sum {sum}\nprometheus_sd_file_scan_duration_seconds_count {count}"
        );
        family(
            out,
            "prometheus_sd_file_mtime_seconds",
            "gauge",
            "Timestamp (mtime) of files read by FileSD. Timestamp is set at read time.",
        );
        for (f, t) in self.file_mtimes.lock().iter() {
            let _ = writeln!(out, "prometheus_sd_file_mtime_seconds{{filename=\"{}\"}} {t}", escape(f));
        }
        let refreshes = self.refreshes.lock().clone();
        family(
            out,
            "prometheus_sd_refresh_failures_total",
            "counter",
            "Number of refresh failures for the given SD mechanism.",
        );
        for ((m, c), (fails, _, _)) in &refreshes {
            let _ = writeln!(
                out,
                "prometheus_sd_refresh_failures_total{{config=\"{}\",mechanism=\"{m}\"}} {fails}",
                escape(c)
            );
        }
        family(
            out,
            "prometheus_sd_refresh_duration_seconds",
            "summary",
            "The duration of a refresh in seconds for the given SD mechanism.",
        );
        for ((m, c), (_, sum, count)) in &refreshes {
            let c = escape(c);
            let _ =
                writeln!(out, "prometheus_sd_refresh_duration_seconds_sum{{config=\"{c}\",mechanism=\"{m}\"}} {sum}");
            let _ = writeln!(
                out,
                "prometheus_sd_refresh_duration_seconds_count{{config=\"{c}\",mechanism=\"{m}\"}} {count}"
            );
        }
    }
}
