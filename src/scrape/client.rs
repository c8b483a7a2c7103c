//! The scrape request: the headers Prometheus sends
//! (`Accept` built from `scrape_protocols`, `Accept-Encoding`, `User-Agent`,
//! `X-Prometheus-Scrape-Timeout-Seconds`), and errors rendered as Go's HTTP client words them.

use crate::config::ScrapeProtocol;
use std::time::Duration;

/// The media type each protocol asks for.
fn protocol_header(p: ScrapeProtocol) -> &'static str {
    match p {
        ScrapeProtocol::PrometheusProto => {
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
        }
        ScrapeProtocol::PrometheusText0 => "text/plain;version=0.0.4",
        ScrapeProtocol::OpenMetricsText0 => "application/openmetrics-text;version=0.0.1",
        ScrapeProtocol::OpenMetricsText1 => "application/openmetrics-text;version=1.0.0",
    }
}

/// The `Accept` header for `protocols`, as Prometheus builds it: each protocol in order with
/// a weight from `q=0.5` down (one more than the number of known protocols), then `*/*`.
pub fn accept_header(protocols: &[ScrapeProtocol]) -> String {
    // Four protocols are known, so weights start at 0.5.
    let mut weight = 5usize;
    let mut out = String::new();
    for p in protocols {
        out.push_str(protocol_header(*p));
        out.push_str(&format!(";q=0.{weight},"));
        weight = weight.saturating_sub(1);
    }
    out.push_str(&format!("*/*;q=0.{weight}"));
    out
}

/// `Accept-Encoding`: `gzip`, or `identity` when compression is off.
pub fn accept_encoding(enable_compression: bool) -> &'static str {
    if enable_compression { "gzip" } else { "identity" }
}

/// The timeout in seconds as Go's `strconv.FormatFloat(s, 'f', -1, 64)` writes it.
pub fn timeout_header(timeout: Duration) -> String {
    format!("{}", timeout.as_secs_f64())
}

/// A request error as Go's HTTP client words it: `Get "<url>": <cause>`.
pub fn request_error(url: &str, e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("Get {url:?}: context deadline exceeded");
    }
    // The innermost cause is the one Go's message names.
    let mut cause: &dyn std::error::Error = e;
    while let Some(s) = cause.source() {
        cause = s;
    }
    if let Some(io) = cause.downcast_ref::<std::io::Error>()
        && io.kind() == std::io::ErrorKind::ConnectionRefused
    {
        let host = e.url().and_then(|u| u.socket_addrs(|| None).ok()).and_then(|a| a.first().copied());
        if let Some(addr) = host {
            return format!("Get {url:?}: dial tcp {addr}: connect: connection refused");
        }
    }
    format!("Get {url:?}: {cause}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_as_prometheus() {
        use ScrapeProtocol::*;
        // Prometheus 2.49+ with its default protocols (scrape/scrape.go acceptHeader with the
        // four ScrapeProtocolsHeaders of that version).
        assert_eq!(
            accept_header(&[OpenMetricsText1, OpenMetricsText0, PrometheusText0]),
            "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        );
        assert_eq!(accept_header(&[PrometheusText0]), "text/plain;version=0.0.4;q=0.5,*/*;q=0.4");
        assert_eq!(accept_header(&[]), "*/*;q=0.5");
    }

    #[test]
    fn headers() {
        assert_eq!(timeout_header(Duration::from_secs(10)), "10");
        assert_eq!(timeout_header(Duration::from_millis(1500)), "1.5");
        assert_eq!(accept_encoding(false), "identity");
    }
}
