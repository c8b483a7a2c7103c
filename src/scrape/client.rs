//! The scrape request: the HTTP client a pool scrapes with, the headers Prometheus sends
//! (`Accept` built from `scrape_protocols`, `Accept-Encoding`, `User-Agent`,
//! `X-Prometheus-Scrape-Timeout-Seconds`), and errors rendered as Go's HTTP client words them.

use crate::config::{Authorization, BasicAuth, HttpClientConfig, ScrapeProtocol, Secret};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use std::time::Duration;

/// Why a client could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A secret or certificate file could not be read.
    #[error("unable to read {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A certificate or header value is invalid.
    #[error("{0}")]
    Invalid(String),
    /// reqwest refused the settings.
    #[error("error creating HTTP client: {0}")]
    Build(#[from] reqwest::Error),
}

fn read_secret(s: &Secret) -> Result<String, ClientError> {
    match s {
        Secret::Inline(v) => Ok(v.clone()),
        Secret::File(p) => std::fs::read_to_string(p)
            .map(|v| v.trim_end_matches(['\r', '\n']).to_string())
            .map_err(|source| ClientError::File { path: p.display().to_string(), source }),
    }
}

fn auth_header(basic: Option<&BasicAuth>, authz: Option<&Authorization>) -> Result<Option<HeaderValue>, ClientError> {
    use base64::Engine as _;
    let text = if let Some(b) = basic {
        let pw = b.password.as_ref().map(read_secret).transpose()?.unwrap_or_default();
        let enc = base64::engine::general_purpose::STANDARD.encode(format!("{}:{pw}", b.username));
        format!("Basic {enc}")
    } else if let Some(a) = authz {
        let cred = a.credentials.as_ref().map(read_secret).transpose()?.unwrap_or_default();
        format!("{} {cred}", a.kind)
    } else {
        return Ok(None);
    };
    let mut v =
        HeaderValue::from_str(&text).map_err(|e| ClientError::Invalid(format!("invalid authorization: {e}")))?;
    v.set_sensitive(true);
    Ok(Some(v))
}

/// A client for `cfg`: authorization, redirects, HTTP/2, proxy and TLS (CA file, client
/// certificate, `insecure_skip_verify`). Secrets in files are read now, as Prometheus reads
/// them when it builds a pool's client. `timeout` bounds every request.
///
/// This stands in for the config module's `config::http::build_client` until it lands; the
/// OAuth 2 client-credentials flow is not done here.
pub fn build_client(cfg: &HttpClientConfig, timeout: Duration) -> Result<reqwest::Client, ClientError> {
    crate::server::tls::install_default_provider();
    let mut headers = HeaderMap::new();
    if let Some(v) = auth_header(cfg.basic_auth.as_ref(), cfg.authorization.as_ref())? {
        headers.insert(AUTHORIZATION, v);
    }
    let mut b = reqwest::Client::builder().default_headers(headers).timeout(timeout).gzip(true).redirect(
        if cfg.follow_redirects { reqwest::redirect::Policy::limited(10) } else { reqwest::redirect::Policy::none() },
    );
    if !cfg.enable_http2 {
        b = b.http1_only();
    }
    match &cfg.proxy_url {
        Some(p) => b = b.proxy(reqwest::Proxy::all(p.as_str())?),
        None => b = b.no_proxy(),
    }
    let tls = &cfg.tls;
    if tls.insecure_skip_verify {
        b = b.tls_danger_accept_invalid_certs(true);
    }
    if let Some(ca) = &tls.ca_file {
        let pem = std::fs::read(ca).map_err(|source| ClientError::File { path: ca.display().to_string(), source })?;
        for c in reqwest::Certificate::from_pem_bundle(&pem)? {
            b = b.add_root_certificate(c);
        }
    }
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        let mut pem =
            std::fs::read(cert).map_err(|source| ClientError::File { path: cert.display().to_string(), source })?;
        pem.push(b'\n');
        pem.extend(std::fs::read(key).map_err(|source| ClientError::File { path: key.display().to_string(), source })?);
        b = b.identity(reqwest::Identity::from_pem(&pem)?);
    }
    Ok(b.build()?)
}

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

    #[test]
    fn auth_headers() {
        let b = BasicAuth { username: "u".into(), password: Some(Secret::Inline("p".into())) };
        assert_eq!(auth_header(Some(&b), None).unwrap().unwrap(), "Basic dTpw");
        let a = Authorization { kind: "Bearer".into(), credentials: Some(Secret::Inline("t".into())) };
        assert_eq!(auth_header(None, Some(&a)).unwrap().unwrap(), "Bearer t");
        let missing = BasicAuth { username: "u".into(), password: Some(Secret::File("/nonexistent/x".into())) };
        assert!(matches!(auth_header(Some(&missing), None), Err(ClientError::File { .. })));
    }
}
