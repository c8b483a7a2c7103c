//! The HTTP client settings Prometheus inlines into scrape, discovery, Alertmanager and
//! remote sections (`basic_auth`, `authorization`, `oauth2`, `bearer_token`, `tls_config`,
//! `proxy_url`, ...): validation as prometheus/common does it, and path resolution.

use super::convert::Ctx;
use super::raw::{HttpFields, RawTls, Sp};
use super::{Authorization, BasicAuth, Error, HttpClientConfig, OAuth2, Secret, TlsConfig};
use serde_saphyr::Location;

/// TLS versions a `tls_config` may name.
const TLS_VERSIONS: [&str; 4] = ["TLS10", "TLS11", "TLS12", "TLS13"];

impl Ctx<'_> {
    /// Converts and validates one section's HTTP client keys; `at` is the section, for errors
    /// whose key has no position of its own.
    pub fn http(&self, f: HttpFields<'_>, at: &Location) -> Result<HttpClientConfig, Error> {
        let err = |msg: &str| self.err(Some(at), msg);
        let bearer = f.bearer_token.filter(|t| !t.is_empty());
        let bearer_file = f.bearer_token_file.filter(|t| !t.is_empty());
        if bearer.is_some() && bearer_file.is_some() {
            return Err(err("at most one of bearer_token & bearer_token_file must be configured"));
        }
        if (f.basic_auth.is_some() || f.oauth2.is_some()) && (bearer.is_some() || bearer_file.is_some()) {
            return Err(err("at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"));
        }
        let basic_auth = match f.basic_auth {
            Some(b) => Some(self.basic_auth(b)?),
            None => None,
        };
        let authorization = match f.authorization {
            Some(a) => {
                if bearer.is_some() || bearer_file.is_some() {
                    return Err(self.err_at(a, "authorization is not compatible with bearer_token & bearer_token_file"));
                }
                let auth = self.authorization(a)?;
                if f.basic_auth.is_some() || f.oauth2.is_some() {
                    return Err(self.err_at(a, "at most one of basic_auth, oauth2 & authorization must be configured"));
                }
                Some(auth)
            }
            None => match (bearer, bearer_file) {
                (Some(t), _) => {
                    Some(Authorization { kind: "Bearer".into(), credentials: Some(Secret::Inline(t.clone())) })
                }
                (_, Some(p)) => {
                    Some(Authorization { kind: "Bearer".into(), credentials: Some(Secret::File(self.path(p))) })
                }
                _ => None,
            },
        };
        let oauth2 = match f.oauth2 {
            Some(o) => {
                if f.basic_auth.is_some() {
                    return Err(self.err_at(o, "at most one of basic_auth, oauth2 & authorization must be configured"));
                }
                Some(self.oauth2(o)?)
            }
            None => None,
        };
        let proxy_url = match f.proxy_url.filter(|p| !p.value.is_empty()) {
            Some(p) => {
                check_go_url(&p.value).map_err(|e| self.err_at(p, e))?;
                Some(p.value.clone())
            }
            None => None,
        };
        let proxy_connect_header = f.proxy_connect_header.cloned().unwrap_or_default();
        if !proxy_connect_header.is_empty() && proxy_url.is_none() {
            return Err(err("if proxy_connect_header is configured proxy_url must also be configured"));
        }
        Ok(HttpClientConfig {
            basic_auth,
            authorization,
            oauth2,
            tls: match f.tls_config {
                Some(t) => self.tls(t)?,
                None => TlsConfig::default(),
            },
            proxy_url,
            proxy_connect_header,
            follow_redirects: f.follow_redirects.unwrap_or(true),
            enable_http2: f.enable_http2.unwrap_or(true),
        })
    }

    /// `basic_auth`.
    fn basic_auth(&self, b: &Sp<super::raw::RawBasicAuth>) -> Result<BasicAuth, Error> {
        let v = &b.value;
        let password = self.secret(v.password.as_ref(), v.password_file.as_ref(), || {
            self.err_at(b, "at most one of basic_auth password & password_file must be configured")
        })?;
        Ok(BasicAuth { username: v.username.clone().unwrap_or_default(), password })
    }

    /// `authorization`.
    fn authorization(&self, a: &Sp<super::raw::RawAuthorization>) -> Result<Authorization, Error> {
        let v = &a.value;
        let credentials = self.secret(v.credentials.as_ref(), v.credentials_file.as_ref(), || {
            self.err_at(a, "at most one of authorization credentials & credentials_file must be configured")
        })?;
        let kind = v.kind.as_deref().map(str::trim).filter(|k| !k.is_empty()).unwrap_or("Bearer").to_string();
        if kind.eq_ignore_ascii_case("basic") {
            return Err(self.err_at(a, "authorization type cannot be set to \"basic\", use \"basic_auth\" instead"));
        }
        Ok(Authorization { kind, credentials })
    }

    /// `oauth2`.
    fn oauth2(&self, o: &Sp<super::raw::RawOAuth2>) -> Result<OAuth2, Error> {
        let v = &o.value;
        let client_id = v.client_id.clone().unwrap_or_default();
        if client_id.is_empty() {
            return Err(self.err_at(o, "oauth2 client_id must be configured"));
        }
        let has = |s: &Option<String>| s.as_ref().is_some_and(|s| !s.is_empty());
        if !has(&v.client_secret) && !has(&v.client_secret_file) {
            return Err(self.err_at(o, "either oauth2 client_secret or client_secret_file must be configured"));
        }
        let client_secret = self.secret(v.client_secret.as_ref(), v.client_secret_file.as_ref(), || {
            self.err_at(o, "at most one of oauth2 client_secret & client_secret_file must be configured")
        })?;
        let token_url = v.token_url.clone().unwrap_or_default();
        if token_url.is_empty() {
            return Err(self.err_at(o, "oauth2 token_url must be configured"));
        }
        let tls = match &v.tls_config {
            Some(t) => self.tls(t)?,
            None => TlsConfig::default(),
        };
        let proxy_url = match v.proxy_url.as_ref().filter(|p| !p.value.is_empty()) {
            Some(p) => {
                check_go_url(&p.value).map_err(|e| self.err_at(p, e))?;
                Some(p.value.clone())
            }
            None => None,
        };
        Ok(OAuth2 {
            client_id,
            client_secret,
            scopes: v.scopes.clone().unwrap_or_default(),
            token_url,
            endpoint_params: v.endpoint_params.clone().unwrap_or_default(),
            tls,
            proxy_url,
        })
    }

    /// An inline-or-file secret; `both` is the error when both are given.
    fn secret(
        &self,
        inline: Option<&String>,
        file: Option<&String>,
        both: impl FnOnce() -> Error,
    ) -> Result<Option<Secret>, Error> {
        match (inline.filter(|s| !s.is_empty()), file.filter(|s| !s.is_empty())) {
            (Some(_), Some(_)) => Err(both()),
            (Some(s), None) => Ok(Some(Secret::Inline(s.clone()))),
            (None, Some(f)) => Ok(Some(Secret::File(self.path(f)))),
            (None, None) => Ok(None),
        }
    }

    /// `tls_config`.
    pub fn tls(&self, t: &Sp<RawTls>) -> Result<TlsConfig, Error> {
        let v = &t.value;
        for version in [&v.min_version, &v.max_version].into_iter().flatten() {
            if !TLS_VERSIONS.contains(&version.value.as_str()) {
                return Err(self.err_at(version, format!("unknown TLS version: {}", version.value)));
            }
        }
        let file = |f: &Option<String>| f.as_deref().filter(|f| !f.is_empty()).map(|f| self.path(f));
        Ok(TlsConfig {
            ca_file: file(&v.ca_file),
            cert_file: file(&v.cert_file),
            key_file: file(&v.key_file),
            server_name: v.server_name.clone().filter(|s| !s.is_empty()),
            insecure_skip_verify: v.insecure_skip_verify.unwrap_or(false),
            min_version: v.min_version.as_ref().map(|m| m.value.clone()),
            max_version: v.max_version.as_ref().map(|m| m.value.clone()),
        })
    }
}

/// The few things Go's lenient `url.Parse` rejects, with its wording: a leading `:` (no
/// scheme), control characters, and malformed `%` escapes.
pub(super) fn check_go_url(s: &str) -> Result<(), String> {
    let quoted = crate::relabel::go_quote(s);
    if s.starts_with(':') {
        return Err(format!("parse {quoted}: missing protocol scheme"));
    }
    if s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(format!("parse {quoted}: net/url: invalid control character in URL"));
    }
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok = b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
            if !ok {
                let end = (i + 3).min(b.len());
                let bad = String::from_utf8_lossy(&b[i..end]);
                return Err(format!("parse {quoted}: invalid URL escape {}", crate::relabel::go_quote(&bad)));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}
