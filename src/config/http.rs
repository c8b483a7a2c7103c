//! Outgoing HTTP clients from [`HttpClientConfig`]: TLS, authentication, proxy, redirects,
//! HTTP/2 and gzip, as Prometheus's common HTTP client sets them up.
//!
//! Principal items: [`build_client`] and the [`HttpClient`] it returns. Files named in the
//! config (CA, client certificate and key, password and credentials files) are read when the
//! client is built; a reload builds new clients. With `oauth2`, every request must go through
//! [`HttpClient::authorize`], which adds the token ([`super::oauth2`]); without it that call
//! costs nothing. Limits: `server_name` changes the name the server certificate
//! is verified against but not the SNI sent (reqwest sends the URL's host); TLS 1.0 and 1.1
//! are not offered (a `min_version` below TLS 1.2 means TLS 1.2).

use super::oauth2::{Error as OAuth2Error, TokenSource};
use super::{Error, HttpClientConfig, Secret, TlsConfig};
use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The most redirects followed, as Go's HTTP client.
const MAX_REDIRECTS: usize = 10;

/// Builds a client for `cfg`. `timeout` bounds each whole request (zero: no bound).
///
/// Gzip responses are decompressed; a caller that must not ask for gzip (a scrape with
/// `enable_compression: false`) sets its own `Accept-Encoding` on the request, which the
/// client then leaves alone.
pub fn build_client(cfg: &HttpClientConfig, timeout: Duration) -> Result<HttpClient, Error> {
    let client = build_reqwest(cfg, timeout)?;
    let oauth2 = match &cfg.oauth2 {
        Some(o) => {
            // The token request has its own TLS and proxy settings, nothing else.
            let token_cfg =
                HttpClientConfig { tls: o.tls.clone(), proxy_url: o.proxy_url.clone(), ..HttpClientConfig::default() };
            let token_client = build_reqwest(&token_cfg, timeout)?;
            Some(Arc::new(TokenSource::new(o.clone(), token_client)))
        }
        None => None,
    };
    Ok(HttpClient { client, oauth2 })
}

/// An outgoing HTTP client: a `reqwest::Client` plus, with `oauth2`, the token source whose
/// token [`HttpClient::authorize`] adds to each request.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    oauth2: Option<Arc<TokenSource>>,
}

impl From<reqwest::Client> for HttpClient {
    fn from(client: reqwest::Client) -> Self {
        HttpClient { client, oauth2: None }
    }
}

impl HttpClient {
    /// The underlying client (requests built on it still need [`HttpClient::authorize`]).
    pub fn inner(&self) -> &reqwest::Client {
        &self.client
    }

    /// A `GET` request (send it through [`HttpClient::authorize`]).
    pub fn get<U: reqwest::IntoUrl>(&self, url: U) -> reqwest::RequestBuilder {
        self.client.get(url)
    }

    /// A `POST` request (send it through [`HttpClient::authorize`]).
    pub fn post<U: reqwest::IntoUrl>(&self, url: U) -> reqwest::RequestBuilder {
        self.client.post(url)
    }

    /// Whether requests carry an OAuth2 token.
    pub fn has_oauth2(&self) -> bool {
        self.oauth2.is_some()
    }

    /// Adds the OAuth2 token (fetched or refreshed when needed) as the `Authorization`
    /// header; returns `req` untouched when there is no `oauth2`.
    pub async fn authorize(&self, req: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder, OAuth2Error> {
        match &self.oauth2 {
            None => Ok(req),
            Some(ts) => Ok(req.header(AUTHORIZATION, ts.header().await?)),
        }
    }
}

/// The `reqwest` client for everything in `cfg` but `oauth2`.
fn build_reqwest(cfg: &HttpClientConfig, timeout: Duration) -> Result<reqwest::Client, Error> {
    let tls = rustls_config(&cfg.tls, cfg.enable_http2)?;
    let mut b = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .user_agent(concat!("Cairn/", env!("CARGO_PKG_VERSION")))
        .gzip(true)
        .redirect(if cfg.follow_redirects {
            reqwest::redirect::Policy::limited(MAX_REDIRECTS)
        } else {
            reqwest::redirect::Policy::none()
        });
    if !timeout.is_zero() {
        b = b.timeout(timeout);
    }
    if !cfg.enable_http2 {
        b = b.http1_only();
    }
    if let Some(auth) = authorization_header(cfg)? {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, auth);
        b = b.default_headers(h);
    }
    match &cfg.proxy_url {
        Some(url) => {
            let mut proxy =
                reqwest::Proxy::all(url.as_str()).map_err(|e| Error::new(Path::new(""), format!("proxy_url: {e}")))?;
            if !cfg.proxy_connect_header.is_empty() {
                proxy = proxy.headers(header_map(&cfg.proxy_connect_header)?);
            }
            b = b.proxy(proxy);
        }
        // Prometheus 2.42 uses a proxy only when `proxy_url` says so, never the environment.
        None => b = b.no_proxy(),
    }
    b.build().map_err(|e| Error::new(Path::new(""), format!("building HTTP client: {e}")))
}

/// The `Authorization` header for `basic_auth` or `authorization` (files read now).
fn authorization_header(cfg: &HttpClientConfig) -> Result<Option<HeaderValue>, Error> {
    let value = if let Some(b) = &cfg.basic_auth {
        let password = match &b.password {
            Some(s) => read_secret(s)?,
            None => String::new(),
        };
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{}:{password}", b.username));
        format!("Basic {token}")
    } else if let Some(a) = &cfg.authorization {
        let credentials = match &a.credentials {
            Some(s) => read_secret(s)?,
            None => String::new(),
        };
        format!("{} {credentials}", a.kind)
    } else {
        return Ok(None);
    };
    let mut v = HeaderValue::from_str(&value)
        .map_err(|_| Error::new(Path::new(""), "credentials contain characters not allowed in an HTTP header"))?;
    v.set_sensitive(true);
    Ok(Some(v))
}

/// A secret's value; a file's content is trimmed of surrounding white space, as Prometheus
/// does.
pub fn read_secret(s: &Secret) -> Result<String, Error> {
    match s {
        Secret::Inline(v) => Ok(v.clone()),
        Secret::File(p) => std::fs::read_to_string(p)
            .map(|t| t.trim().to_string())
            .map_err(|e| Error::new(p, format!("unable to read secret file: {e}"))),
    }
}

/// Headers from a name → values map.
fn header_map(m: &std::collections::BTreeMap<String, Vec<String>>) -> Result<HeaderMap, Error> {
    let mut h = HeaderMap::new();
    for (name, values) in m {
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::new(Path::new(""), format!("invalid header name {name:?}")))?;
        for v in values {
            let v = HeaderValue::from_str(v)
                .map_err(|_| Error::new(Path::new(""), format!("invalid value for header {name:?}")))?;
            h.append(n.clone(), v);
        }
    }
    Ok(h)
}

/// The rustls configuration for `tls`.
fn rustls_config(tls: &TlsConfig, http2: bool) -> Result<ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls13_only = tls.min_version.as_deref() == Some("TLS13");
    let tls12_max = matches!(tls.max_version.as_deref(), Some("TLS10" | "TLS11" | "TLS12"));
    let versions: &[&'static rustls::SupportedProtocolVersion] = match (tls13_only, tls12_max) {
        (true, true) => {
            return Err(Error::new(Path::new(""), "tls_config: min_version TLS13 is above max_version"));
        }
        (true, false) => &[&rustls::version::TLS13],
        (false, true) => &[&rustls::version::TLS12],
        (false, false) => &[&rustls::version::TLS13, &rustls::version::TLS12],
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| Error::new(Path::new(""), format!("tls_config: {e}")))?;

    let mut roots = RootCertStore::empty();
    match &tls.ca_file {
        Some(ca) => {
            for c in
                CertificateDer::pem_file_iter(ca).map_err(|e| Error::new(ca, format!("unable to read CA cert: {e}")))?
            {
                let c = c.map_err(|e| Error::new(ca, format!("unable to read CA cert: {e}")))?;
                roots.add(c).map_err(|e| Error::new(ca, format!("unable to use CA cert: {e}")))?;
            }
            if roots.is_empty() {
                return Err(Error::new(ca, "unable to use specified CA cert: no certificate found"));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify {
        Arc::new(NoVerification { provider: provider.clone() })
    } else {
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| Error::new(Path::new(""), format!("tls_config: {e}")))?;
        match &tls.server_name {
            Some(name) => {
                let name = ServerName::try_from(name.clone())
                    .map_err(|e| Error::new(Path::new(""), format!("tls_config: server_name: {e}")))?;
                Arc::new(FixedName { inner, name })
            }
            None => inner,
        }
    };
    let builder = builder.dangerous().with_custom_certificate_verifier(verifier);
    let mut cfg = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<_, _>>())
                .map_err(|e| Error::new(cert, format!("unable to read client cert: {e}")))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| Error::new(key, format!("unable to read client key: {e}")))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| Error::new(cert, format!("unable to use client cert and key: {e}")))?
        }
        (Some(cert), None) => {
            return Err(Error::new(cert, "client cert file specified without client key file"));
        }
        (None, Some(key)) => {
            return Err(Error::new(key, "client key file specified without client cert file"));
        }
        (None, None) => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = if http2 { vec![b"h2".to_vec(), b"http/1.1".to_vec()] } else { vec![b"http/1.1".to_vec()] };
    Ok(cfg)
}

/// Verifies the server certificate against a configured name instead of the URL's host
/// (`tls_config.server_name`).
#[derive(Debug)]
struct FixedName {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for FixedName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner.verify_server_cert(end_entity, intermediates, &self.name, ocsp, now)
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `insecure_skip_verify: true`: any certificate is accepted (the handshake signature is
/// still checked, so the peer holds the key of the certificate it shows).
#[derive(Debug)]
struct NoVerification {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
