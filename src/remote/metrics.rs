//! The remote endpoints' self-metrics: Prometheus's receiver counters under their names, the
//! rest as `cairn_remote_*`. Relaxed atomics, rendered in the text format by
//! [`Metrics::render`].

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// Which ingestion protocol a counter is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Remote write 1.0 (`prometheus.WriteRequest`).
    V1,
    /// Remote write 2.0 (`io.prometheus.write.v2.Request`).
    V2,
    /// OTLP metrics.
    Otlp,
}

impl Protocol {
    const ALL: [Protocol; 3] = [Protocol::V1, Protocol::V2, Protocol::Otlp];

    /// The `protocol` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::V1 => "prometheus.WriteRequest",
            Protocol::V2 => "io.prometheus.write.v2.Request",
            Protocol::Otlp => "otlp",
        }
    }
}

/// Why received samples were not written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The series' labels are invalid.
    InvalidLabels,
    /// Older than the newest sample of its series.
    OutOfOrder,
    /// Outside the time range the head accepts (too old, or too far in the future).
    OutOfBounds,
    /// Older than the out-of-order window.
    TooOld,
    /// Same timestamp as a stored sample, another value.
    DuplicateTimestamp,
    /// Valid, but dropped with the rest of a remote write 1.0 request that failed.
    RolledBack,
    /// A kind of data Cairn does not store (delta temporality, exponential histograms).
    Unsupported,
}

impl Reason {
    const ALL: [Reason; 7] = [
        Reason::InvalidLabels,
        Reason::OutOfOrder,
        Reason::OutOfBounds,
        Reason::TooOld,
        Reason::DuplicateTimestamp,
        Reason::RolledBack,
        Reason::Unsupported,
    ];

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidLabels => "invalid_labels",
            Reason::OutOfOrder => "out_of_order",
            Reason::OutOfBounds => "out_of_bounds",
            Reason::TooOld => "too_old",
            Reason::DuplicateTimestamp => "duplicate_timestamp",
            Reason::RolledBack => "rolled_back",
            Reason::Unsupported => "unsupported",
        }
    }
}

const P: usize = Protocol::ALL.len();
const R: usize = Reason::ALL.len();

/// Counters of the receivers and the read server.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Float samples decoded from requests, by protocol.
    samples_received: [AtomicU64; P],
    /// Float samples written, by protocol.
    samples_written: [AtomicU64; P],
    /// Float samples not written, by protocol and reason.
    samples_rejected: [[AtomicU64; R]; P],
    /// Native histogram samples received (not stored yet), by protocol.
    histograms_unsupported: [AtomicU64; P],
    /// Exemplars received (not stored yet), by protocol.
    exemplars_received: [AtomicU64; P],
    /// Metadata entries received, by protocol.
    metadata_received: [AtomicU64; P],
    /// Remote read queries in flight.
    read_queries: AtomicI64,
    /// Remote read queries answered, SAMPLES and STREAMED_XOR_CHUNKS.
    read_queries_total: [AtomicU64; 2],
}

fn idx(p: Protocol) -> usize {
    Protocol::ALL.iter().position(|&x| x == p).unwrap_or(0)
}

fn ridx(r: Reason) -> usize {
    Reason::ALL.iter().position(|&x| x == r).unwrap_or(0)
}

impl Metrics {
    /// Counts `n` float samples received.
    pub fn received(&self, p: Protocol, n: usize) {
        self.samples_received[idx(p)].fetch_add(n as u64, Relaxed);
    }

    /// Counts `n` float samples written.
    pub fn written(&self, p: Protocol, n: usize) {
        self.samples_written[idx(p)].fetch_add(n as u64, Relaxed);
    }

    /// Counts `n` float samples rejected for `r`.
    pub fn rejected(&self, p: Protocol, r: Reason, n: usize) {
        self.samples_rejected[idx(p)][ridx(r)].fetch_add(n as u64, Relaxed);
    }

    /// Counts `n` native histogram samples received but not stored.
    pub fn histograms(&self, p: Protocol, n: usize) {
        self.histograms_unsupported[idx(p)].fetch_add(n as u64, Relaxed);
    }

    /// Counts `n` exemplars received.
    pub fn exemplars(&self, p: Protocol, n: usize) {
        self.exemplars_received[idx(p)].fetch_add(n as u64, Relaxed);
    }

    /// Counts `n` metadata entries received.
    pub fn metadata(&self, p: Protocol, n: usize) {
        self.metadata_received[idx(p)].fetch_add(n as u64, Relaxed);
    }

    /// Float samples written so far by `p`.
    pub fn samples_written(&self, p: Protocol) -> u64 {
        self.samples_written[idx(p)].load(Relaxed)
    }

    /// Float samples rejected so far by `p` for `r`.
    pub fn samples_rejected(&self, p: Protocol, r: Reason) -> u64 {
        self.samples_rejected[idx(p)][ridx(r)].load(Relaxed)
    }

    /// Marks a remote read query as started; the guard marks it done.
    pub fn read_started(&self, streamed: bool) -> ReadGuard<'_> {
        self.read_queries.fetch_add(1, Relaxed);
        self.read_queries_total[usize::from(streamed)].fetch_add(1, Relaxed);
        ReadGuard(self)
    }

    /// Appends the metrics in the text exposition format.
    pub fn render(&self, out: &mut String) {
        let family = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        let invalid: u64 = Protocol::ALL
            .iter()
            .map(|&p| self.samples_rejected[idx(p)][ridx(Reason::InvalidLabels)].load(Relaxed))
            .sum();
        family(
            out,
            "prometheus_api_remote_write_invalid_labels_samples_total",
            "counter",
            "The total number of received remote write samples and histogram samples which were rejected due to invalid labels.",
        );
        let _ = writeln!(out, "prometheus_api_remote_write_invalid_labels_samples_total {invalid}");
        let per_protocol = [
            ("cairn_remote_write_samples_received_total", "Float samples received by remote write and OTLP.", &self.samples_received),
            ("cairn_remote_write_samples_written_total", "Float samples written by remote write and OTLP.", &self.samples_written),
            (
                "cairn_remote_write_histograms_unsupported_total",
                "Native histogram samples received and not stored (not supported yet).",
                &self.histograms_unsupported,
            ),
            ("cairn_remote_write_exemplars_received_total", "Exemplars received (not stored yet).", &self.exemplars_received),
            ("cairn_remote_write_metadata_received_total", "Metric metadata entries received.", &self.metadata_received),
        ];
        for (name, help, counters) in per_protocol {
            family(out, name, "counter", help);
            for p in Protocol::ALL {
                let _ = writeln!(out, "{name}{{protocol=\"{}\"}} {}", p.as_str(), counters[idx(p)].load(Relaxed));
            }
        }
        let name = "cairn_remote_write_samples_rejected_total";
        family(out, name, "counter", "Float samples received and not written, by reason.");
        for p in Protocol::ALL {
            for r in Reason::ALL {
                let n = self.samples_rejected[idx(p)][ridx(r)].load(Relaxed);
                let _ = writeln!(out, "{name}{{protocol=\"{}\",reason=\"{}\"}} {n}", p.as_str(), r.as_str());
            }
        }
        family(
            out,
            "prometheus_remote_read_handler_queries",
            "gauge",
            "The current number of remote read queries that are either in execution or queued on the handler.",
        );
        let _ = writeln!(out, "prometheus_remote_read_handler_queries {}", self.read_queries.load(Relaxed));
        let name = "cairn_remote_read_queries_total";
        family(out, name, "counter", "Remote read requests answered, by response type.");
        for (i, t) in ["samples", "streamed_xor_chunks"].iter().enumerate() {
            let _ = writeln!(out, "{name}{{response_type=\"{t}\"}} {}", self.read_queries_total[i].load(Relaxed));
        }
    }
}

/// Decrements the in-flight remote read gauge when dropped.
pub struct ReadGuard<'a>(&'a Metrics);

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        self.0.read_queries.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_with_their_labels() {
        let m = Metrics::default();
        m.received(Protocol::V2, 5);
        m.written(Protocol::V2, 3);
        m.rejected(Protocol::V2, Reason::OutOfOrder, 1);
        m.rejected(Protocol::V1, Reason::InvalidLabels, 2);
        m.rejected(Protocol::Otlp, Reason::InvalidLabels, 4);
        let g = m.read_started(true);
        let mut out = String::new();
        m.render(&mut out);
        for line in [
            "prometheus_api_remote_write_invalid_labels_samples_total 6",
            "cairn_remote_write_samples_received_total{protocol=\"io.prometheus.write.v2.Request\"} 5",
            "cairn_remote_write_samples_written_total{protocol=\"io.prometheus.write.v2.Request\"} 3",
            "cairn_remote_write_samples_rejected_total{protocol=\"io.prometheus.write.v2.Request\",reason=\"out_of_order\"} 1",
            "prometheus_remote_read_handler_queries 1",
            "cairn_remote_read_queries_total{response_type=\"streamed_xor_chunks\"} 1",
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
        }
        drop(g);
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.lines().any(|l| l == "prometheus_remote_read_handler_queries 0"));
    }
}
