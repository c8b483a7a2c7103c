//! OAuth 2.0 client credentials (`oauth2:` in HTTP client settings), as Prometheus gets its
//! tokens through golang.org/x/oauth2's `clientcredentials` package.
//!
//! Principal items: [`TokenSource`] (fetches, caches and refreshes one token) and [`Error`].
//!
//! What is sent, as x/oauth2 does with its default "auto-detect" authentication style: a
//! `POST` to `token_url` with an `application/x-www-form-urlencoded` body holding
//! `grant_type=client_credentials`, `scope` (the scopes joined by spaces, when there are any)
//! and the `endpoint_params`, keys sorted; the client id and secret go in HTTP Basic auth,
//! each query-escaped first. If that attempt fails in any way (transport error, non-2xx
//! answer, unreadable answer), it is tried once more with `client_id` and `client_secret` in
//! the form instead of Basic auth; the style that worked is kept for later fetches.
//!
//! The answer is JSON (`access_token`, `token_type`, `expires_in`), or a form body when the
//! answer's type is `application/x-www-form-urlencoded` or `text/plain`. A token is reused
//! until 10 s before it expires (so one with `expires_in` under 10 s is fetched again for
//! every request); one without `expires_in` is reused for ever. `client_secret_file` is read
//! again at every fetch. The token is sent as `Authorization: <type> <token>`, the type
//! normalised as x/oauth2 does (`Bearer` when empty).

use super::{OAuth2, Secret};
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

/// A token this close to its expiry is fetched again (x/oauth2's `expiryDelta`).
const EXPIRY_DELTA: Duration = Duration::from_secs(10);

/// Largest token answer read (x/oauth2 reads at most 1 MiB).
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `client_secret_file` could not be read.
    #[error("unable to read oauth2 client secret file {path}: {msg}")]
    SecretFile {
        /// The file.
        path: String,
        /// The cause.
        msg: String,
    },
    /// An `endpoint_params` key collides with one the grant sets (`scope`).
    #[error("oauth2: cannot overwrite parameter {0:?}")]
    Param(String),
    /// The token request failed (transport, status, or answer).
    #[error("oauth2: cannot fetch token from {url:?}: {msg}")]
    Fetch {
        /// The token URL.
        url: String,
        /// The cause.
        msg: String,
    },
}

/// Where the client id and secret go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AuthStyle {
    /// HTTP Basic auth, query-escaped (tried first).
    Header,
    /// `client_id` and `client_secret` form fields.
    Params,
}

/// A token in hand.
#[derive(Clone)]
struct Token {
    /// `Authorization` header value.
    header: HeaderValue,
    /// `None`: never expires.
    expiry: Option<Instant>,
}

impl Token {
    fn valid(&self, now: Instant) -> bool {
        self.expiry.is_none_or(|e| e.checked_sub(EXPIRY_DELTA).is_some_and(|e| e >= now))
    }
}

#[derive(Default)]
struct State {
    token: Option<Token>,
    /// The style that worked last (probed again while `None`).
    style: Option<AuthStyle>,
}

/// Fetches and caches the token of one `oauth2` block. Concurrent callers wait for one fetch.
pub struct TokenSource {
    cfg: OAuth2,
    client: reqwest::Client,
    state: tokio::sync::Mutex<State>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource").field("token_url", &self.cfg.token_url).finish_non_exhaustive()
    }
}

impl TokenSource {
    /// A source for `cfg`, fetching with `client` (built from the block's `tls_config` and
    /// `proxy_url`).
    pub fn new(cfg: OAuth2, client: reqwest::Client) -> TokenSource {
        TokenSource { cfg, client, state: tokio::sync::Mutex::new(State::default()) }
    }

    /// The `Authorization` header value to send now: the cached token while it is valid,
    /// else a freshly fetched one.
    pub async fn header(&self) -> Result<HeaderValue, Error> {
        let mut st = self.state.lock().await;
        if let Some(t) = &st.token
            && t.valid(Instant::now())
        {
            return Ok(t.header.clone());
        }
        let token = self.fetch(&mut st).await?;
        let header = token.header.clone();
        st.token = Some(token);
        Ok(header)
    }

    async fn fetch(&self, st: &mut State) -> Result<Token, Error> {
        let secret = match &self.cfg.client_secret {
            Some(Secret::Inline(s)) => s.clone(),
            Some(Secret::File(p)) => tokio::fs::read_to_string(p)
                .await
                .map(|s| s.trim().to_string())
                .map_err(|e| Error::SecretFile { path: p.display().to_string(), msg: e.to_string() })?,
            None => String::new(),
        };
        let params = grant_params(&self.cfg)?;
        match st.style {
            Some(style) => self.attempt(style, &params, &secret).await,
            None => {
                let (style, res) = match self.attempt(AuthStyle::Header, &params, &secret).await {
                    Ok(t) => (AuthStyle::Header, Ok(t)),
                    Err(_) => (AuthStyle::Params, self.attempt(AuthStyle::Params, &params, &secret).await),
                };
                if res.is_ok() {
                    st.style = Some(style);
                }
                res
            }
        }
    }

    async fn attempt(&self, style: AuthStyle, params: &BTreeMap<String, String>, secret: &str) -> Result<Token, Error> {
        let url = &self.cfg.token_url;
        let fail = |msg: String| Error::Fetch { url: url.clone(), msg };
        let mut form = params.clone();
        if style == AuthStyle::Params {
            if !self.cfg.client_id.is_empty() {
                form.insert("client_id".into(), self.cfg.client_id.clone());
            }
            if !secret.is_empty() {
                form.insert("client_secret".into(), secret.to_string());
            }
        }
        let mut req =
            self.client.post(url).header(CONTENT_TYPE, "application/x-www-form-urlencoded").body(encode_form(&form));
        if style == AuthStyle::Header {
            req = req.basic_auth(query_escape(&self.cfg.client_id), Some(query_escape(secret)));
        }
        let resp = req.send().await.map_err(|e| fail(crate::scrape::client::request_error(url, &e)))?;
        let status = resp.status();
        let ct = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let mut body = Vec::new();
        let mut resp = resp;
        while let Some(chunk) = resp.chunk().await.map_err(|e| fail(format!("reading the answer: {e}")))? {
            let room = MAX_ANSWER_BYTES.saturating_sub(body.len());
            body.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
            if room < chunk.len() {
                break;
            }
        }
        let answer = parse_answer(&ct, &body);
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(fail(format!("{status}\nResponse: {}", text.trim_end())));
        }
        let answer = answer.map_err(fail)?;
        if let Some(code) = answer.error.filter(|c| !c.is_empty()) {
            return Err(fail(format!("{code:?}")));
        }
        if answer.access_token.is_empty() {
            return Err(fail("server response missing access_token".into()));
        }
        let value = format!("{} {}", token_type(&answer.token_type), answer.access_token);
        let mut header =
            HeaderValue::from_str(&value).map_err(|_| fail("the token is not a valid HTTP header value".into()))?;
        header.set_sensitive(true);
        let expiry = match answer.expires_in {
            0 => None,
            s if s < 0 => Some(Instant::now()),
            s => Some(Instant::now() + Duration::from_secs(s as u64)),
        };
        Ok(Token { header, expiry })
    }
}

/// The grant's form fields before client authentication.
fn grant_params(cfg: &OAuth2) -> Result<BTreeMap<String, String>, Error> {
    let mut v = BTreeMap::new();
    v.insert("grant_type".to_string(), "client_credentials".to_string());
    if !cfg.scopes.is_empty() {
        v.insert("scope".to_string(), cfg.scopes.join(" "));
    }
    for (k, p) in &cfg.endpoint_params {
        // `grant_type` may be overridden (for servers that want another); `scope` may not.
        if v.contains_key(k) && k != "grant_type" {
            return Err(Error::Param(k.clone()));
        }
        v.insert(k.clone(), p.clone());
    }
    Ok(v)
}

/// The parts of a token answer that matter.
#[derive(Debug, Default, PartialEq, Eq)]
struct Answer {
    access_token: String,
    token_type: String,
    expires_in: i64,
    error: Option<String>,
}

/// Parses a token answer: a form body for `application/x-www-form-urlencoded` and
/// `text/plain`, JSON otherwise.
fn parse_answer(content_type: &str, body: &[u8]) -> Result<Answer, String> {
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media == "application/x-www-form-urlencoded" || media == "text/plain" {
        let mut a = Answer::default();
        for (k, v) in form_urlencoded::parse(body) {
            match &*k {
                "access_token" => a.access_token = v.into_owned(),
                "token_type" => a.token_type = v.into_owned(),
                "expires_in" => a.expires_in = v.trim().parse().unwrap_or(0),
                "error" => a.error = Some(v.into_owned()),
                _ => {}
            }
        }
        return Ok(a);
    }
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("cannot parse json: {e}"))?;
    let text = |k: &str| json.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let expires_in = match json.get("expires_in") {
        None | Some(serde_json::Value::Null) => 0,
        Some(serde_json::Value::Number(n)) => n.as_i64().ok_or_else(|| format!("cannot parse json: expires_in {n}"))?,
        Some(serde_json::Value::String(s)) => {
            s.trim().parse::<i64>().map_err(|_| format!("cannot parse json: expires_in {s:?}"))?
        }
        Some(other) => return Err(format!("cannot parse json: expires_in {other}")),
    };
    Ok(Answer {
        access_token: text("access_token"),
        token_type: text("token_type"),
        expires_in: expires_in.min(i64::from(i32::MAX)),
        error: json.get("error").and_then(|v| v.as_str()).map(str::to_string),
    })
}

/// The header's auth scheme for a `token_type`, as x/oauth2's `Token.Type`.
fn token_type(t: &str) -> &str {
    if t.eq_ignore_ascii_case("bearer") || t.is_empty() {
        "Bearer"
    } else if t.eq_ignore_ascii_case("mac") {
        "MAC"
    } else if t.eq_ignore_ascii_case("basic") {
        "Basic"
    } else {
        t
    }
}

/// Go's `url.QueryEscape`: letters, digits and `-_.~` stay, a space becomes `+`, every
/// other byte `%XX`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
    out
}

/// Go's `url.Values.Encode` for one value per key (keys come sorted from the map).
fn encode_form(v: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (k, val) in v {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&query_escape(k));
        out.push('=');
        out.push_str(&query_escape(val));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(scopes: &[&str], params: &[(&str, &str)]) -> OAuth2 {
        OAuth2 {
            client_id: "id".into(),
            client_secret: Some(Secret::Inline("s".into())),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            token_url: "http://127.0.0.1:1/token".into(),
            endpoint_params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            tls: Default::default(),
            proxy_url: None,
        }
    }

    #[test]
    fn escaping_matches_go() {
        // Go: url.QueryEscape("a b+c/~*é") == "a+b%2Bc%2F~%2A%C3%A9".
        assert_eq!(query_escape("a b+c/~*é"), "a+b%2Bc%2F~%2A%C3%A9");
        let form =
            grant_params(&cfg(&["read", "write all"], &[("audience", "x y"), ("grant_type", "custom")])).unwrap();
        // Keys sorted, scopes joined by one space, grant_type overridable.
        assert_eq!(encode_form(&form), "audience=x+y&grant_type=custom&scope=read+write+all");
        assert_eq!(grant_params(&cfg(&["a"], &[("scope", "b")])), Err(Error::Param("scope".into())));
        // Without scopes, `scope` is an ordinary endpoint parameter.
        assert!(grant_params(&cfg(&[], &[("scope", "b")])).is_ok());
    }

    #[test]
    fn answers_parse_as_x_oauth2() {
        let cases: &[(&str, &str, Result<Answer, ()>)] = &[
            (
                "application/json",
                r#"{"access_token":"t","token_type":"bearer","expires_in":3600}"#,
                Ok(Answer { access_token: "t".into(), token_type: "bearer".into(), expires_in: 3600, error: None }),
            ),
            (
                "application/json; charset=utf-8",
                r#"{"access_token":"t","expires_in":"60"}"#,
                Ok(Answer { access_token: "t".into(), expires_in: 60, ..Answer::default() }),
            ),
            (
                "text/plain",
                "access_token=a%20b&token_type=mac&expires_in=5",
                Ok(Answer { access_token: "a b".into(), token_type: "mac".into(), expires_in: 5, error: None }),
            ),
            (
                "",
                r#"{"error":"invalid_client"}"#,
                Ok(Answer { error: Some("invalid_client".into()), ..Answer::default() }),
            ),
            ("application/json", "not json", Err(())),
            ("application/json", r#"{"access_token":"t","expires_in":1.5}"#, Err(())),
        ];
        for (ct, body, want) in cases {
            assert_eq!(parse_answer(ct, body.as_bytes()).map_err(|_| ()), *want, "{ct} {body}");
        }
        assert_eq!(token_type("BEARER"), "Bearer");
        assert_eq!(token_type(""), "Bearer");
        assert_eq!(token_type("MaC"), "MAC");
        assert_eq!(token_type("DPoP"), "DPoP");
    }

    #[test]
    fn tokens_expire_ten_seconds_early() {
        let now = Instant::now();
        let t = |secs: u64| Token {
            header: HeaderValue::from_static("Bearer x"),
            expiry: Some(now + Duration::from_secs(secs)),
        };
        // Go: expired when `expiry - 10s` is before now.
        assert!(!t(1).valid(now), "under 10 s left: fetched again");
        assert!(!t(9).valid(now));
        assert!(t(10).valid(now));
        assert!(t(11).valid(now));
        assert!(Token { header: HeaderValue::from_static("Bearer x"), expiry: None }.valid(now));
    }
}
