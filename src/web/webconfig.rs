//! `--web.config.file`: TLS, extra response headers and HTTP basic auth, in the file format
//! of Prometheus's exporter-toolkit.
//!
//! [`load`] reads and validates the whole file once at start: unknown fields, bad values,
//! unreadable or invalid certificate files and malformed bcrypt hashes are all errors that
//! name the file and the field (and the line when known). Relative paths are resolved
//! against the directory of the file, as exporter-toolkit does. The result is a
//! [`WebConfig`] holding a ready [`rustls::ServerConfig`] (when `tls_server_config` is set)
//! and what [`layer`] needs to guard every route with basic auth and add the configured
//! headers.
//!
//! Options rustls cannot honour (`cipher_suites`, `curve_preferences`,
//! `prefer_server_cipher_suites`, a minimum below TLS 1.2, `rate_limit`, `http2`) are
//! accepted and reported in [`WebConfig::warnings`].

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use parking_lot::Mutex;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a web configuration file was rejected. Every message names the file; field errors
/// also name the field and, when the YAML parser knows it, the line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read.
    #[error("reading web config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid YAML for the format (syntax, unknown field, wrong type).
    #[error("parsing web config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A field has a value that is not allowed or does not work (e.g. a missing
    /// certificate file or a malformed bcrypt hash).
    #[error("web config file {path}: {field}{}: {message}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The field, as a dotted path (`tls_server_config.cert_file`).
        field: String,
        /// The line of the field's value, when known.
        line: Option<u64>,
        /// What is wrong.
        message: String,
    },
}

/// A TLS protocol version as the file names it (`TLS10` … `TLS13`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// `TLS10` (not supported by rustls; treated as TLS 1.2 when a minimum).
    Tls10,
    /// `TLS11` (not supported by rustls; treated as TLS 1.2 when a minimum).
    Tls11,
    /// `TLS12`.
    Tls12,
    /// `TLS13`.
    Tls13,
}

/// The server's client-certificate policy (`client_auth_type`), as Go's `tls.ClientAuthType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `NoClientCert` (default): no certificate is asked for.
    NoClientCert,
    /// `RequestClientCert`: one is asked for, not required, not verified.
    RequestClientCert,
    /// `RequireAnyClientCert` (or the old `RequireClientCert`): one is required, not verified
    /// against a CA.
    RequireAnyClientCert,
    /// `VerifyClientCertIfGiven`: optional, verified against `client_ca_file` when given.
    VerifyClientCertIfGiven,
    /// `RequireAndVerifyClientCert`: required and verified against `client_ca_file`.
    RequireAndVerifyClientCert,
}

/// Where PEM data comes from: a file (`*_file`, resolved to an absolute or config-relative
/// path) or inline text (`cert`, `key`, `client_ca`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PemSource {
    /// A file path, already joined with the config file's directory when relative.
    File(PathBuf),
    /// PEM text given in the config file.
    Inline(String),
}

/// The validated `tls_server_config` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// The server certificate chain.
    pub cert: PemSource,
    /// The server's private key.
    pub key: PemSource,
    /// CAs that client certificates are verified against.
    pub client_ca: Option<PemSource>,
    /// The client-certificate policy.
    pub client_auth: ClientAuth,
    /// The lowest protocol version offered (TLS 1.2 at least, whatever is configured).
    pub min_version: TlsVersion,
    /// The highest protocol version offered.
    pub max_version: TlsVersion,
}

/// A loaded, validated web configuration.
#[derive(Clone)]
pub struct WebConfig {
    /// The file it was read from.
    pub path: PathBuf,
    /// The TLS settings, when `tls_server_config` enables TLS.
    pub tls_settings: Option<TlsSettings>,
    /// The rustls configuration built from [`WebConfig::tls_settings`] (certificates and
    /// keys loaded); `None` serves plain HTTP.
    pub tls: Option<Arc<ServerConfig>>,
    /// Headers added to every response (`http_server_config.headers`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// User name → bcrypt hash (`basic_auth_users`); empty means no authentication.
    pub users: BTreeMap<String, String>,
    /// Options that were accepted but cannot be honoured, one sentence each (to be logged).
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The hashes and keys stay out of logs.
        f.debug_struct("WebConfig")
            .field("path", &self.path)
            .field("tls", &self.tls.is_some())
            .field("headers", &self.headers)
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    basic_auth_users: Option<BTreeMap<String, Spanned<String>>>,
    rate_limit: Option<RawRateLimit>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawTls {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<Spanned<String>>,
    key_file: Option<Spanned<String>>,
    client_ca_file: Option<Spanned<String>>,
    client_auth_type: Option<Spanned<String>>,
    client_allowed_sans: Option<Vec<String>>,
    min_version: Option<Spanned<String>>,
    max_version: Option<Spanned<String>>,
    cipher_suites: Option<Vec<Spanned<String>>>,
    prefer_server_cipher_suites: Option<bool>,
    curve_preferences: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawHttp {
    http2: Option<bool>,
    headers: Option<BTreeMap<String, Spanned<String>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawRateLimit {
    interval: Option<String>,
    burst: Option<u64>,
}

/// The headers exporter-toolkit lets a config add, with their allowed values (empty: any).
const ALLOWED_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// The curve names Go's `tls.CurveID` unmarshalling accepts.
const CURVES: &[&str] = &["CurveP256", "CurveP384", "CurveP521", "X25519"];

/// Reads and validates `path`, loading every certificate and key it names.
pub fn load(path: &Path) -> Result<WebConfig, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
    let dir = path.parent().unwrap_or(Path::new(""));
    parse(&text, path, dir)
}

/// Parses and validates `text` as the content of the file `path`, resolving relative
/// file names against `dir`, and loads the certificates and keys it names.
pub fn parse(text: &str, path: &Path, dir: &Path) -> Result<WebConfig, Error> {
    let raw: RawConfig = if text.trim().is_empty() {
        RawConfig::default()
    } else {
        serde_saphyr::from_str(text).map_err(|e| Error::Parse { path: path.to_path_buf(), message: e.to_string() })?
    };
    let invalid = |field: &str, line: Option<u64>, message: String| Error::Invalid {
        path: path.to_path_buf(),
        field: field.to_string(),
        line,
        message,
    };
    let mut warnings = Vec::new();

    let mut users = BTreeMap::new();
    for (user, hash) in raw.basic_auth_users.unwrap_or_default() {
        // Parsing checks the hash's form (`$2x$NN$` + 53 characters), as Go's bcrypt.Cost.
        let cost = hash.value.parse::<bcrypt::HashParts>().map(|p| p.get_cost());
        let problem = match cost {
            Ok(c) if (4..=31).contains(&c) => None,
            Ok(c) => Some(format!("bcrypt cost {c} is outside 4..=31")),
            Err(e) => Some(format!("not a bcrypt hash: {e}")),
        };
        if let Some(message) = problem {
            return Err(invalid(&format!("basic_auth_users.{user}"), line_of(&hash), message));
        }
        users.insert(user, hash.value);
    }

    let mut headers = Vec::new();
    let http = raw.http_server_config.unwrap_or_default();
    if http.http2 == Some(true) {
        warnings.push("http_server_config.http2 is accepted, but Cairn serves HTTP/1.1 only".to_string());
    }
    for (name, value) in http.headers.unwrap_or_default() {
        let field = format!("http_server_config.headers.{name}");
        let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(n, _)| *n == name) else {
            return Err(invalid(&field, line_of(&value), format!("HTTP header {name:?} can not be configured")));
        };
        if !allowed.is_empty() && !allowed.contains(&value.value.as_str()) {
            return Err(invalid(
                &field,
                line_of(&value),
                format!("invalid value {:?}: expected one of {allowed:?}", value.value),
            ));
        }
        // Go leaves a header unset when its value is blank.
        if value.value.is_empty() {
            continue;
        }
        let v = HeaderValue::from_str(&value.value)
            .map_err(|e| invalid(&field, line_of(&value), format!("invalid header value: {e}")))?;
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| invalid(&field, line_of(&value), format!("invalid header name: {e}")))?;
        headers.push((n, v));
    }

    if let Some(rl) = raw.rate_limit {
        let on = rl.interval.as_deref().is_some_and(|i| !i.is_empty() && i.trim_start_matches('0') != "s");
        if on || rl.burst.is_some_and(|b| b > 0) {
            warnings.push("rate_limit is accepted but not applied: Cairn does not rate-limit requests".to_string());
        }
    }

    let (tls_settings, tls) = match raw.tls_server_config {
        Some(t) => match tls_settings(t, dir, &invalid, &mut warnings)? {
            Some(s) => {
                let cfg = server_config(&s).map_err(|(field, message)| invalid(field, None, message))?;
                (Some(s), Some(cfg))
            }
            None => (None, None),
        },
        None => (None, None),
    };

    Ok(WebConfig { path: path.to_path_buf(), tls_settings, tls, headers, users, warnings })
}

/// The line of a spanned value, when the parser recorded one.
fn line_of<T>(s: &Spanned<T>) -> Option<u64> {
    let l = s.referenced.line();
    (l > 0).then_some(l)
}

/// Joins a relative path with the config file's directory (Go's `config.JoinDir`).
fn join_dir(dir: &Path, file: &str) -> PathBuf {
    let p = Path::new(file);
    if p.is_absolute() { p.to_path_buf() } else { dir.join(p) }
}

/// Validates the `tls_server_config` section; `None` when it does not enable TLS (every
/// TLS field empty), as exporter-toolkit then serves plain HTTP.
fn tls_settings(
    t: RawTls,
    dir: &Path,
    invalid: &dyn Fn(&str, Option<u64>, String) -> Error,
    warnings: &mut Vec<String>,
) -> Result<Option<TlsSettings>, Error> {
    let nonempty = |s: &Option<Spanned<String>>| s.as_ref().filter(|s| !s.value.is_empty()).cloned();
    let text = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    let (cert_file, key_file, ca_file) = (nonempty(&t.cert_file), nonempty(&t.key_file), nonempty(&t.client_ca_file));
    let (cert, key, ca) = (text(&t.cert), text(&t.key), text(&t.client_ca));
    let auth_type = nonempty(&t.client_auth_type);

    let client_auth = match &auth_type {
        None => ClientAuth::NoClientCert,
        Some(a) => match a.value.as_str() {
            "NoClientCert" => ClientAuth::NoClientCert,
            "RequestClientCert" => ClientAuth::RequestClientCert,
            "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            other => {
                return Err(invalid(
                    "tls_server_config.client_auth_type",
                    line_of(a),
                    format!(
                        "invalid value {other:?}: want NoClientCert, RequestClientCert, RequireAnyClientCert, \
                         VerifyClientCertIfGiven or RequireAndVerifyClientCert"
                    ),
                ));
            }
        },
    };
    let version = |field: &str, v: &Option<Spanned<String>>, default: TlsVersion| -> Result<TlsVersion, Error> {
        let Some(v) = v else { return Ok(default) };
        match v.value.as_str() {
            "TLS10" => Ok(TlsVersion::Tls10),
            "TLS11" => Ok(TlsVersion::Tls11),
            "TLS12" => Ok(TlsVersion::Tls12),
            "TLS13" => Ok(TlsVersion::Tls13),
            other => Err(invalid(
                &format!("tls_server_config.{field}"),
                line_of(v),
                format!("unknown TLS version {other:?}: want TLS10, TLS11, TLS12 or TLS13"),
            )),
        }
    };
    let min_version = version("min_version", &t.min_version, TlsVersion::Tls12)?;
    let max_version = version("max_version", &t.max_version, TlsVersion::Tls13)?;
    for c in t.curve_preferences.iter().flatten() {
        if !CURVES.contains(&c.value.as_str()) {
            return Err(invalid(
                "tls_server_config.curve_preferences",
                line_of(c),
                format!("unknown curve {:?}: want one of {CURVES:?}", c.value),
            ));
        }
    }

    let enabled = cert_file.is_some()
        || key_file.is_some()
        || ca_file.is_some()
        || cert.is_some()
        || key.is_some()
        || ca.is_some()
        || auth_type.is_some();
    if !enabled {
        return Ok(None);
    }
    if t.client_allowed_sans.as_ref().is_some_and(|s| !s.is_empty()) {
        return Err(invalid(
            "tls_server_config.client_allowed_sans",
            None,
            "is not supported by Cairn yet; remove it or terminate TLS in a proxy".to_string(),
        ));
    }
    if t.cipher_suites.as_ref().is_some_and(|c| !c.is_empty()) {
        warnings.push(
            "tls_server_config.cipher_suites is accepted but not applied: rustls's safe defaults are used".into(),
        );
    }
    if t.curve_preferences.as_ref().is_some_and(|c| !c.is_empty()) {
        warnings
            .push("tls_server_config.curve_preferences is accepted but not applied: rustls's defaults are used".into());
    }
    if t.prefer_server_cipher_suites == Some(false) {
        warnings.push("tls_server_config.prefer_server_cipher_suites: false is not applied".into());
    }
    if min_version < TlsVersion::Tls12 {
        warnings
            .push("tls_server_config.min_version below TLS12 is raised to TLS12: rustls has no older versions".into());
    }
    if max_version < TlsVersion::Tls12 {
        return Err(invalid(
            "tls_server_config.max_version",
            t.max_version.as_ref().and_then(line_of),
            "TLS10 and TLS11 are not supported: want TLS12 or TLS13".to_string(),
        ));
    }
    if min_version.max(TlsVersion::Tls12) > max_version {
        return Err(invalid(
            "tls_server_config.min_version",
            t.min_version.as_ref().and_then(line_of),
            "is above max_version".to_string(),
        ));
    }

    let source =
        |file: Option<Spanned<String>>, inline: Option<String>, field: &str, inline_field: &str| match (file, inline) {
            (Some(_), Some(_)) => Err(invalid(
                &format!("tls_server_config.{field}"),
                None,
                format!("at most one of {field} and {inline_field} may be given"),
            )),
            (Some(f), None) => Ok(Some(PemSource::File(join_dir(dir, &f.value)))),
            (None, Some(s)) => Ok(Some(PemSource::Inline(s))),
            (None, None) => Ok(None),
        };
    let Some(cert) = source(cert_file, cert, "cert_file", "cert")? else {
        return Err(invalid("tls_server_config.cert_file", None, "missing one of cert or cert_file".into()));
    };
    let Some(key) = source(key_file, key, "key_file", "key")? else {
        return Err(invalid("tls_server_config.key_file", None, "missing one of key or key_file".into()));
    };
    let client_ca = source(ca_file, ca, "client_ca_file", "client_ca")?;
    let line = auth_type.as_ref().and_then(line_of);
    match (&client_ca, client_auth) {
        (Some(_), ClientAuth::NoClientCert) => {
            return Err(invalid(
                "tls_server_config.client_ca_file",
                None,
                "client CAs have been configured without a client_auth_type".into(),
            ));
        }
        (None, ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert) => {
            return Err(invalid(
                "tls_server_config.client_auth_type",
                line,
                "verifying client certificates needs client_ca_file (or client_ca)".into(),
            ));
        }
        _ => {}
    }
    Ok(Some(TlsSettings { cert, key, client_ca, client_auth, min_version, max_version }))
}

/// Reads PEM data; `Err` is a message naming the file.
fn read_pem(src: &PemSource) -> Result<Vec<u8>, String> {
    match src {
        PemSource::File(p) => std::fs::read(p).map_err(|e| format!("reading {}: {e}", p.display())),
        PemSource::Inline(s) => Ok(s.clone().into_bytes()),
    }
}

fn describe(src: &PemSource) -> String {
    match src {
        PemSource::File(p) => p.display().to_string(),
        PemSource::Inline(_) => "inline PEM".to_string(),
    }
}

/// Builds the rustls server configuration: loads the certificate chain, the key and the
/// client CAs. `Err` holds the field at fault and a message.
pub fn server_config(s: &TlsSettings) -> Result<Arc<ServerConfig>, (&'static str, String)> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&read_pem(&s.cert).map_err(|e| ("tls_server_config.cert_file", e))?)
            .collect::<Result<_, _>>()
            .map_err(|e| ("tls_server_config.cert_file", format!("{}: bad PEM: {e}", describe(&s.cert))))?;
    if certs.is_empty() {
        return Err(("tls_server_config.cert_file", format!("{}: no certificate found", describe(&s.cert))));
    }
    let key = PrivateKeyDer::from_pem_slice(&read_pem(&s.key).map_err(|e| ("tls_server_config.key_file", e))?)
        .map_err(|e| ("tls_server_config.key_file", format!("{}: no usable private key: {e}", describe(&s.key))))?;

    let versions: &[&'static rustls::SupportedProtocolVersion] = match (s.min_version, s.max_version) {
        (TlsVersion::Tls13, _) => &[&rustls::version::TLS13],
        (_, TlsVersion::Tls13) => &[&rustls::version::TLS13, &rustls::version::TLS12],
        _ => &[&rustls::version::TLS12],
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| ("tls_server_config.min_version", e.to_string()))?;

    let ca_field = "tls_server_config.client_ca_file";
    let roots = match &s.client_ca {
        Some(src) => {
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&read_pem(src).map_err(|e| (ca_field, e))?) {
                let c = c.map_err(|e| (ca_field, format!("{}: bad PEM: {e}", describe(src))))?;
                roots.add(c).map_err(|e| (ca_field, format!("{}: bad CA certificate: {e}", describe(src))))?;
            }
            if roots.is_empty() {
                return Err((ca_field, format!("{}: no certificate found", describe(src))));
            }
            Some(Arc::new(roots))
        }
        None => None,
    };
    let verified = |roots: &Option<Arc<RootCertStore>>, optional: bool| {
        let Some(roots) = roots.clone() else {
            return Err((ca_field, "missing client CAs".to_string()));
        };
        let b = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
        let b = if optional { b.allow_unauthenticated() } else { b };
        b.build().map_err(|e| (ca_field, e.to_string()))
    };
    let verifier: Option<Arc<dyn ClientCertVerifier>> = match s.client_auth {
        ClientAuth::NoClientCert => None,
        ClientAuth::RequestClientCert => Some(Arc::new(AnyClientCert { mandatory: false, provider: provider.clone() })),
        ClientAuth::RequireAnyClientCert => {
            Some(Arc::new(AnyClientCert { mandatory: true, provider: provider.clone() }))
        }
        ClientAuth::VerifyClientCertIfGiven => Some(verified(&roots, true)?),
        ClientAuth::RequireAndVerifyClientCert => Some(verified(&roots, false)?),
    };
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| ("tls_server_config.key_file", format!("certificate and key do not work together: {e}")))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Go's `RequestClientCert`/`RequireAnyClientCert`: asks for a certificate and checks the
/// handshake signature made with it, but trusts no CA (exporter-toolkit warns these are
/// insecure; they exist for parity).
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Most successful verifications remembered; the cache is emptied when it is full.
const AUTH_CACHE_MAX: usize = 1024;

/// Basic-auth state shared by the middleware.
struct Auth {
    users: BTreeMap<String, String>,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// SHA-256 of (salt, user, hash, password) for credentials that verified. Keyed by a
    /// salted digest so neither passwords nor guessable keys sit in memory.
    cache: Mutex<HashSet<[u8; 32]>>,
    salt: [u8; 16],
    /// One bcrypt computation at a time: it is deliberately slow, and parallel guesses
    /// must not starve the server (exporter-toolkit serialises them the same way).
    bcrypt: tokio::sync::Semaphore,
}

impl Auth {
    fn cache_key(&self, user: &str, hash: &str, pass: &[u8]) -> [u8; 32] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&self.salt);
        for part in [user.as_bytes(), hash.as_bytes(), pass] {
            ctx.update(&(part.len() as u64).to_le_bytes());
            ctx.update(part);
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(ctx.finish().as_ref());
        key
    }

    /// Whether `authorization` (the header's value) carries a configured user's password.
    async fn check(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, pass)) = authorization.and_then(parse_basic) else { return false };
        let (hash, known) = match self.users.get(&user) {
            Some(h) => (h.clone(), true),
            // Unknown users cost a bcrypt computation too, against a real hash of this
            // file, so response times do not reveal which users exist.
            None => match self.users.values().next() {
                Some(h) => (h.clone(), false),
                None => return false,
            },
        };
        let key = self.cache_key(&user, &hash, &pass);
        if known && self.cache.lock().contains(&key) {
            return true;
        }
        let Ok(_permit) = self.bcrypt.acquire().await else { return false };
        let ok =
            tokio::task::spawn_blocking(move || bcrypt::verify(&pass, &hash).unwrap_or(false)).await.unwrap_or(false)
                && known;
        if ok {
            let mut cache = self.cache.lock();
            if cache.len() >= AUTH_CACHE_MAX {
                cache.clear();
            }
            cache.insert(key);
        }
        ok
    }
}

/// Splits `Basic <base64(user:password)>` as Go's `Request.BasicAuth` does: the scheme is
/// case-insensitive, the user ends at the first colon.
fn parse_basic(v: &HeaderValue) -> Option<(String, Vec<u8>)> {
    let v = v.to_str().ok()?;
    let (scheme, rest) = v.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case("basic ") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
    let colon = raw.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(raw[..colon].to_vec()).ok()?;
    Some((user, raw[colon + 1..].to_vec()))
}

/// Wraps `router` so every response carries the configured headers and, when
/// `basic_auth_users` is set, every request must carry a configured user's password:
/// otherwise the answer is 401 with `WWW-Authenticate: Basic` and no data.
pub fn layer(router: Router, cfg: &WebConfig) -> Router {
    if cfg.users.is_empty() && cfg.headers.is_empty() {
        return router;
    }
    let mut salt = [0u8; 16];
    // A fixed salt still keeps the cache correct; randomness only hides the keys.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt);
    let auth = Arc::new(Auth {
        users: cfg.users.clone(),
        headers: cfg.headers.clone(),
        cache: Mutex::new(HashSet::new()),
        salt,
        bcrypt: tokio::sync::Semaphore::new(1),
    });
    router.layer(middleware::from_fn_with_state(auth, guard))
}

async fn guard(State(auth): State<Arc<Auth>>, req: Request, next: Next) -> Response {
    let mut resp = if auth.users.is_empty() || auth.check(req.headers().get(header::AUTHORIZATION)).await {
        next.run(req).await
    } else {
        let mut r = (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
        r.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        r
    };
    for (n, v) in &auth.headers {
        resp.headers_mut().insert(n.clone(), v.clone());
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    /// The classic crypt_blowfish test vector: "U*U" hashed with cost 5.
    const U_STAR_U: &str = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
    /// exporter-toolkit's decoy hash (Go, `$2y$`, cost 10) of "fakepassword".
    const FAKEPASSWORD: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

    /// Writes `ca.crt`, `server.crt`, `server.key` and an unrelated `other.key` into `dir`.
    fn write_certs(dir: &Path) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().signed_by(&key, &ca).unwrap();
        std::fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
        std::fs::write(dir.join("server.crt"), cert.pem()).unwrap();
        std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
        std::fs::write(dir.join("other.key"), rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
    }

    fn parse_in(dir: &Path, text: &str) -> Result<WebConfig, Error> {
        parse(text, &dir.join("web.yml"), dir)
    }

    #[test]
    fn valid_files_parse_to_the_expected_settings() {
        let dir = tempfile::tempdir().unwrap();
        write_certs(dir.path());
        let d = dir.path();
        let abs_key = d.join("server.key").display().to_string();
        // (file text, expected TLS settings or None, number of users, number of headers, warnings)
        let cases: Vec<(String, Option<TlsSettings>, usize, usize, usize)> = vec![
            (String::new(), None, 0, 0, 0),
            ("tls_server_config: {}\n".into(), None, 0, 0, 0),
            (
                "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n".into(),
                Some(TlsSettings {
                    cert: PemSource::File(d.join("server.crt")),
                    key: PemSource::File(d.join("server.key")),
                    client_ca: None,
                    client_auth: ClientAuth::NoClientCert,
                    min_version: TlsVersion::Tls12,
                    max_version: TlsVersion::Tls13,
                }),
                0,
                0,
                0,
            ),
            (
                format!(
                    "tls_server_config:\n  cert_file: server.crt\n  key_file: {abs_key}\n  client_ca_file: ca.crt\n  \
                     client_auth_type: RequireAndVerifyClientCert\n  min_version: TLS13\n"
                ),
                Some(TlsSettings {
                    cert: PemSource::File(d.join("server.crt")),
                    key: PemSource::File(d.join("server.key")),
                    client_ca: Some(PemSource::File(d.join("ca.crt"))),
                    client_auth: ClientAuth::RequireAndVerifyClientCert,
                    min_version: TlsVersion::Tls13,
                    max_version: TlsVersion::Tls13,
                }),
                0,
                0,
                0,
            ),
            (
                "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireClientCert\n  \
                 min_version: TLS10\n  max_version: TLS12\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n  \
                 curve_preferences: [X25519, CurveP256]\n"
                    .into(),
                Some(TlsSettings {
                    cert: PemSource::File(d.join("server.crt")),
                    key: PemSource::File(d.join("server.key")),
                    client_ca: None,
                    client_auth: ClientAuth::RequireAnyClientCert,
                    min_version: TlsVersion::Tls10,
                    max_version: TlsVersion::Tls12,
                }),
                0,
                0,
                3,
            ),
            (
                format!("basic_auth_users:\n  alice: {U_STAR_U}\n  bob: '{FAKEPASSWORD}'\n"),
                None,
                2,
                0,
                0,
            ),
            (
                "http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n    \
                 Strict-Transport-Security: max-age=31536000\n    Content-Security-Policy: ''\n"
                    .into(),
                None,
                0,
                2,
                0,
            ),
            ("http_server_config:\n  http2: true\nrate_limit:\n  interval: 1s\n  burst: 5\n".into(), None, 0, 0, 2),
        ];
        for (text, tls, users, headers, warnings) in cases {
            let c = parse_in(d, &text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(c.tls_settings, tls, "{text}");
            assert_eq!(c.tls.is_some(), tls.is_some(), "{text}");
            assert_eq!(c.users.len(), users, "{text}");
            assert_eq!(c.headers.len(), headers, "{text}");
            assert_eq!(c.warnings.len(), warnings, "{text}: {:?}", c.warnings);
        }
    }

    #[test]
    fn invalid_files_are_rejected_naming_field_and_line() {
        let dir = tempfile::tempdir().unwrap();
        write_certs(dir.path());
        let tls = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
        // (file text, substrings the message must contain)
        let cases: Vec<(String, &[&str])> = vec![
            ("tls_server_confg: {}\n".into(), &["web.yml", "tls_server_confg"]),
            (format!("{tls}  cert_fle: x\n"), &["web.yml", "cert_fle", "line 4"]),
            ("basic_auth_users: [a, b]\n".into(), &["web.yml"]),
            ("basic_auth_users:\n  alice: notahash\n".into(), &["basic_auth_users.alice", "line 2", "bcrypt"]),
            (
                "basic_auth_users:\n  alice: $2a$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW\n".into(),
                &["basic_auth_users.alice", "cost 3"],
            ),
            (format!("{tls}  client_auth_type: Sometimes\n"), &["client_auth_type", "line 4", "Sometimes"]),
            (format!("{tls}  min_version: TLS14\n"), &["min_version", "line 4", "TLS14"]),
            (format!("{tls}  max_version: TLS11\n"), &["max_version", "TLS12 or TLS13"]),
            (format!("{tls}  min_version: TLS13\n  max_version: TLS12\n"), &["min_version", "above max_version"]),
            (format!("{tls}  curve_preferences: [CurveP1000]\n"), &["curve_preferences", "CurveP1000"]),
            (format!("{tls}  client_ca_file: ca.crt\n"), &["client_ca_file", "without a client_auth_type"]),
            (
                format!("{tls}  client_auth_type: RequireAndVerifyClientCert\n"),
                &["client_auth_type", "needs client_ca_file"],
            ),
            (format!("{tls}  client_allowed_sans: [a.example]\n"), &["client_allowed_sans", "not supported"]),
            ("tls_server_config:\n  key_file: server.key\n".into(), &["cert_file", "missing one of cert or cert_file"]),
            ("tls_server_config:\n  cert_file: server.crt\n".into(), &["key_file", "missing one of key"]),
            (
                "tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n".into(),
                &["tls_server_config.cert_file", "nope.crt", "No such file"],
            ),
            (
                "tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n".into(),
                &["cert_file", "no certificate"],
            ),
            (
                "tls_server_config:\n  cert_file: server.crt\n  key_file: server.crt\n".into(),
                &["key_file", "private key"],
            ),
            ("tls_server_config:\n  cert_file: server.crt\n  key_file: ca.crt\n".into(), &["key_file"]),
            (
                "tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n".into(),
                &["key_file", "do not work together"],
            ),
            (
                "http_server_config:\n  headers:\n    X-Powered-By: me\n".into(),
                &["headers.X-Powered-By", "can not be configured"],
            ),
            (
                "http_server_config:\n  headers:\n    X-Frame-Options: allow\n".into(),
                &["X-Frame-Options", "line 3", "allow"],
            ),
            ("http_server_config:\n  http2: maybe\n".into(), &["web.yml", "http2"]),
        ];
        for (text, wants) in cases {
            let e = match parse_in(dir.path(), &text) {
                Ok(_) => panic!("accepted:\n{text}"),
                Err(e) => e.to_string(),
            };
            for w in wants {
                assert!(e.contains(w), "{text}\nmessage {e:?} lacks {w:?}");
            }
        }
    }

    #[test]
    fn load_reports_a_missing_file() {
        let e = load(Path::new("/nonexistent/web.yml")).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/web.yml"), "{e}");
    }

    #[test]
    fn basic_credentials_are_split_as_go_does() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        type Case = (String, Option<(&'static str, &'static [u8])>);
        let cases: Vec<Case> = vec![
            (format!("Basic {}", b64("alice:secret")), Some(("alice", b"secret"))),
            (format!("basic {}", b64("alice:a:b")), Some(("alice", b"a:b"))),
            (format!("BASIC {}", b64(":")), Some(("", b""))),
            (format!("Basic {}", b64("nocolon")), None),
            (format!("Bearer {}", b64("alice:secret")), None),
            ("Basic !!!".into(), None),
            ("Basic".into(), None),
            (String::new(), None),
        ];
        for (header, want) in cases {
            let got = parse_basic(&HeaderValue::from_str(&header).unwrap());
            let got = got.as_ref().map(|(u, p)| (u.as_str(), p.as_slice()));
            assert_eq!(got, want, "{header}");
        }
    }

    async fn call(router: &Router, auth: Option<&str>) -> (StatusCode, axum::http::HeaderMap, String) {
        let mut req = Request::builder().uri("/secret");
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        let resp = router.clone().oneshot(req.body(axum::body::Body::empty()).unwrap()).await.unwrap();
        let (parts, body) = resp.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        (parts.status, parts.headers, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn basic_auth_guards_every_request_and_adds_headers() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "basic_auth_users:\n  alice: {U_STAR_U}\n  bob: '{FAKEPASSWORD}'\nhttp_server_config:\n  headers:\n    \
             X-Frame-Options: deny\n"
        );
        let cfg = parse_in(dir.path(), &text).unwrap();
        let router = layer(Router::new().route("/secret", axum::routing::get(|| async { "the data" })), &cfg);
        let b64 = |s: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(s));
        // (Authorization header, expected to pass)
        let cases: Vec<(Option<String>, bool)> = vec![
            (None, false),
            (Some(b64("alice:U*U")), true),
            // Twice: the second answer comes from the cache and must agree.
            (Some(b64("alice:U*U")), true),
            (Some(b64("alice:U*V")), false),
            (Some(b64("alice:")), false),
            (Some(b64("bob:fakepassword")), true),
            (Some(b64("bob:U*U")), false),
            (Some(b64("carol:U*U")), false),
            (Some(b64("carol:fakepassword")), false),
            (Some("Bearer abc".into()), false),
        ];
        for (auth, pass) in cases {
            let (status, headers, body) = call(&router, auth.as_deref()).await;
            assert_eq!(headers.get("x-frame-options").map(|v| v.as_bytes()), Some(&b"deny"[..]), "{auth:?}");
            if pass {
                assert_eq!((status, body.as_str()), (StatusCode::OK, "the data"), "{auth:?}");
            } else {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
                assert_eq!(headers.get(header::WWW_AUTHENTICATE).map(|v| v.as_bytes()), Some(&b"Basic"[..]));
                assert!(!body.contains("data"), "{auth:?}: {body}");
            }
        }
    }

    #[tokio::test]
    async fn no_users_means_no_authentication() {
        let dir = tempfile::tempdir().unwrap();
        let cfg =
            parse_in(dir.path(), "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n").unwrap();
        let router = layer(Router::new().route("/secret", axum::routing::get(|| async { "the data" })), &cfg);
        let (status, headers, body) = call(&router, None).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "the data"));
        assert_eq!(headers.get("x-content-type-options").map(|v| v.as_bytes()), Some(&b"nosniff"[..]));
    }
}
