//! Tests for [`build_client`](super::build_client): requests go to a one-shot server on
//! 127.0.0.1 that records the request head (over TLS with a certificate from a throwaway
//! CA, where the case needs it).

use super::*;
use crate::config::{Authorization, BasicAuth, OAuth2};
use std::collections::BTreeMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A CA and a server certificate for `localhost` signed by it, written to `dir`.
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
}

/// Serves one request (TLS when `tls_dir` holds certificates) and returns its head.
async fn serve_once(listener: tokio::net::TcpListener, tls_dir: Option<std::path::PathBuf>) -> String {
    let (tcp, _) = listener.accept().await.unwrap();
    async fn handle<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut s: S) -> String {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await.unwrap();
        s.shutdown().await.ok();
        String::from_utf8_lossy(&buf).into_owned()
    }
    match tls_dir {
        None => handle(tcp).await,
        Some(dir) => {
            let certs: Vec<CertificateDer<'static>> =
                CertificateDer::pem_file_iter(dir.join("server.crt")).unwrap().collect::<Result<_, _>>().unwrap();
            let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
            let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap();
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
            match acceptor.accept(tcp).await {
                Ok(s) => handle(s).await,
                Err(e) => format!("handshake failed: {e}"),
            }
        }
    }
}

/// Sends `GET /metrics` to a fresh one-shot server with a client built from `cfg`; returns
/// the client's result and the head the server saw.
fn roundtrip(cfg: &HttpClientConfig, tls_dir: Option<&Path>, host: &str) -> (Result<String, String>, String) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(serve_once(listener, tls_dir.map(Path::to_path_buf)));
        let client = build_client(cfg, Duration::from_secs(10)).unwrap();
        let scheme = if tls_dir.is_some() { "https" } else { "http" };
        let res = client.get(format!("{scheme}://{host}:{port}/metrics")).send().await;
        let res = match res {
            Ok(r) => Ok(r.text().await.unwrap_or_default()),
            Err(e) => Err(format!("{e:?}")),
        };
        let head = tokio::time::timeout(Duration::from_secs(10), server).await.unwrap().unwrap();
        (res, head)
    })
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn authorization_headers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "pass\n").unwrap();
    std::fs::write(dir.path().join("tok"), "  t0ken  \n").unwrap();
    let cases = [
        // base64("user:pass") = dXNlcjpwYXNz; the file's trailing newline is trimmed.
        (
            HttpClientConfig {
                basic_auth: Some(BasicAuth {
                    username: "user".into(),
                    password: Some(Secret::File(dir.path().join("pw"))),
                }),
                ..HttpClientConfig::default()
            },
            Some("Basic dXNlcjpwYXNz"),
        ),
        // base64("user:") = dXNlcjo=
        (
            HttpClientConfig {
                basic_auth: Some(BasicAuth { username: "user".into(), password: None }),
                ..HttpClientConfig::default()
            },
            Some("Basic dXNlcjo="),
        ),
        (
            HttpClientConfig {
                authorization: Some(Authorization {
                    kind: "Bearer".into(),
                    credentials: Some(Secret::File(dir.path().join("tok"))),
                }),
                ..HttpClientConfig::default()
            },
            Some("Bearer t0ken"),
        ),
        (
            HttpClientConfig {
                authorization: Some(Authorization {
                    kind: "Custom".into(),
                    credentials: Some(Secret::Inline("x y".into())),
                }),
                ..HttpClientConfig::default()
            },
            Some("Custom x y"),
        ),
        (HttpClientConfig::default(), None),
    ];
    for (cfg, want) in cases {
        let (res, head) = roundtrip(&cfg, None, "127.0.0.1");
        assert_eq!(res.as_deref(), Ok("ok"), "{head}");
        assert_eq!(header(&head, "authorization"), want, "{head}");
        assert!(header(&head, "user-agent").is_some_and(|u| u.starts_with("Cairn/")), "{head}");
        assert!(header(&head, "accept-encoding").is_some_and(|a| a.contains("gzip")), "{head}");
    }
}

#[test]
fn tls_verification() {
    crate::server::tls::install_default_provider();
    let dir = tempfile::tempdir().unwrap();
    write_certs(dir.path());
    let with_ca = TlsConfig { ca_file: Some(dir.path().join("ca.crt")), ..TlsConfig::default() };
    let cases: Vec<(&str, TlsConfig, &str, bool)> = vec![
        ("trusted CA", with_ca.clone(), "localhost", true),
        ("unknown CA (web roots only)", TlsConfig::default(), "localhost", false),
        ("name mismatch", with_ca.clone(), "127.0.0.1", false),
        (
            "server_name fixes the name checked",
            TlsConfig { server_name: Some("localhost".into()), ..with_ca.clone() },
            "127.0.0.1",
            true,
        ),
        ("insecure_skip_verify", TlsConfig { insecure_skip_verify: true, ..TlsConfig::default() }, "127.0.0.1", true),
        ("TLS 1.3 only", TlsConfig { min_version: Some("TLS13".into()), ..with_ca.clone() }, "localhost", true),
    ];
    for (name, tls, host, ok) in cases {
        let cfg = HttpClientConfig { tls, ..HttpClientConfig::default() };
        let (res, head) = roundtrip(&cfg, Some(dir.path()), host);
        assert_eq!(res.is_ok(), ok, "{name}: {res:?} / server saw {head:?}");
        if ok {
            assert!(head.starts_with("GET /metrics HTTP/1.1"), "{name}: {head}");
        }
    }
}

#[test]
fn build_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let cases = [
        (
            HttpClientConfig {
                tls: TlsConfig { ca_file: Some(missing.clone()), ..TlsConfig::default() },
                ..HttpClientConfig::default()
            },
            "unable to read CA cert",
        ),
        (
            HttpClientConfig {
                tls: TlsConfig { cert_file: Some(missing.clone()), ..TlsConfig::default() },
                ..HttpClientConfig::default()
            },
            "client cert file specified without client key file",
        ),
        (
            HttpClientConfig {
                basic_auth: Some(BasicAuth { username: "u".into(), password: Some(Secret::File(missing.clone())) }),
                ..HttpClientConfig::default()
            },
            "unable to read secret file",
        ),
        (
            HttpClientConfig {
                oauth2: Some(OAuth2 {
                    client_id: "c".into(),
                    client_secret: None,
                    scopes: vec![],
                    token_url: "http://t".into(),
                    endpoint_params: BTreeMap::new(),
                    // The token request's own TLS settings are loaded with the client.
                    tls: TlsConfig { ca_file: Some(missing.clone()), ..TlsConfig::default() },
                    proxy_url: None,
                }),
                ..HttpClientConfig::default()
            },
            "unable to read CA cert",
        ),
        (HttpClientConfig { proxy_url: Some("::not a url".into()), ..HttpClientConfig::default() }, "proxy_url"),
        (
            HttpClientConfig {
                tls: TlsConfig {
                    min_version: Some("TLS13".into()),
                    max_version: Some("TLS12".into()),
                    ..TlsConfig::default()
                },
                ..HttpClientConfig::default()
            },
            "min_version TLS13 is above max_version",
        ),
    ];
    for (cfg, want) in cases {
        let err = build_client(&cfg, Duration::from_secs(1)).unwrap_err();
        assert!(err.msg.contains(want), "{err} does not contain {want:?}");
    }
}
