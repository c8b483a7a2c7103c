//! `--web.config.file` on the real binary: HTTPS with a CA made in the test, basic auth,
//! required client certificates, a TLS 1.3 minimum, and invalid files refused at start.
//! The client is rustls over a blocking `TcpStream` writing raw HTTP/1.1. Every wait is
//! bounded.

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The classic crypt_blowfish test vector: "U*U" hashed with cost 5.
const U_STAR_U: &str = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";

/// Kills the server if a test fails before it exits.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// PEM files of a test PKI: a CA, a server certificate for 127.0.0.1 and a client
/// certificate, both issued by the CA.
struct Pki {
    ca: CertificateDer<'static>,
    client_cert: CertificateDer<'static>,
    client_key: Vec<u8>,
}

/// Writes `ca.crt`, `server.crt` and `server.key` into `dir`.
fn make_pki(dir: &Path) -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "cairn test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();

    let server_key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let server = params.signed_by(&server_key, &ca).unwrap();

    let client_key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["client.test".to_string()]).unwrap();
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client = params.signed_by(&client_key, &ca).unwrap();

    std::fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.crt"), server.pem()).unwrap();
    std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
    Pki { ca: ca.der().clone(), client_cert: client.der().clone(), client_key: client_key.serialize_der() }
}

/// A rustls client trusting the test CA, optionally presenting the client certificate and
/// limited to `versions`.
fn client(pki: &Pki, with_cert: bool, versions: &[&'static rustls::SupportedProtocolVersion]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca.clone()).unwrap();
    let b = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let cfg = if with_cert {
        let key = PrivateKeyDer::try_from(pki.client_key.clone()).unwrap();
        b.with_client_auth_cert(vec![pki.client_cert.clone()], key).unwrap()
    } else {
        b.with_no_client_auth()
    };
    Arc::new(cfg)
}

fn all_versions() -> &'static [&'static rustls::SupportedProtocolVersion] {
    rustls::ALL_VERSIONS
}

/// One HTTPS request (connection closed after it), 10 s timeouts. Returns status, raw
/// headers and body.
fn https(port: u16, cfg: &Arc<ClientConfig>, path: &str, auth: Option<&str>) -> std::io::Result<(u16, String, String)> {
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(10)))?;
    let name = ServerName::try_from("127.0.0.1").map_err(std::io::Error::other)?;
    let conn = ClientConnection::new(cfg.clone(), name).map_err(std::io::Error::other)?;
    let mut tls = StreamOwned::new(conn, tcp);
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if let Some(a) = auth {
        req += &format!("Authorization: {a}\r\n");
    }
    req += "\r\n";
    tls.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    tls.read_to_end(&mut raw)?;
    Ok(parse_response(&raw))
}

fn parse_response(raw: &[u8]) -> (u16, String, String) {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.strip_prefix("HTTP/1.1 ").and_then(|r| r.get(..3)).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

fn basic(user_pass: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_pass))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spawn(dir: &Path, config: &str) -> Server {
    std::fs::write(dir.join("web.yml"), config).unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.config.file={}", dir.join("web.yml").display()))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Server { child, port }
}

fn server_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
}

/// Starts the server and waits (at most 30 s) until `/-/ready` answers 200 over HTTPS
/// with `cfg` and `auth`.
fn start(dir: &Path, config: &str, cfg: &Arc<ClientConfig>, auth: Option<&str>) -> Server {
    let server = spawn(dir, config);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, _, _)) = https(server.port, cfg, "/-/ready", auth) {
            return server;
        }
        assert!(Instant::now() < deadline, "server not ready in 30s: {}", server_log(dir));
        std::thread::sleep(Duration::from_millis(50));
    }
}

const TLS: &str = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";

#[test]
fn https_serves_the_api_and_plain_http_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let cfg = client(&pki, false, all_versions());
    // Relative file names resolve against the config file's directory, not the cwd.
    let server = start(dir.path(), TLS, &cfg, None);
    let (status, _, body) = https(server.port, &cfg, "/-/healthy", None).unwrap();
    assert_eq!((status, body.as_str()), (200, "Prometheus Server is Healthy.\n"));
    let (status, _, body) = https(server.port, &cfg, "/api/v1/query?query=vector(7)&time=100", None).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""result":[{"metric":{},"value":[100,"7"]}]"#), "{body}");

    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let _ = tcp.read_to_end(&mut raw);
    assert!(!raw.starts_with(b"HTTP/"), "plain HTTP was answered: {:?}", String::from_utf8_lossy(&raw));

    // A client that does not trust the CA fails the handshake.
    let stranger = Arc::new(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth(),
    );
    assert!(https(server.port, &stranger, "/-/healthy", None).is_err());
    // The server still serves after the failed handshakes.
    assert_eq!(https(server.port, &cfg, "/-/healthy", None).unwrap().0, 200);

    // SIGTERM still stops the TLS server cleanly.
    let mut server = server;
    let st = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}: {}", server_log(dir.path()));
            break;
        }
        assert!(Instant::now() < deadline, "no exit within 15s of SIGTERM: {}", server_log(dir.path()));
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn basic_auth_requires_a_configured_password() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let cfg = client(&pki, false, all_versions());
    let config = format!(
        "{TLS}basic_auth_users:\n  alice: {U_STAR_U}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n"
    );
    let server = start(dir.path(), &config, &cfg, Some(&basic("alice:U*U")));
    let path = "/api/v1/query?query=vector(7)&time=100";
    // (Authorization header, expected status)
    let cases: Vec<(Option<String>, u16)> = vec![
        (None, 401),
        (Some(basic("alice:wrong")), 401),
        (Some(basic("mallory:U*U")), 401),
        (Some("Bearer U*U".to_string()), 401),
        (Some(basic("alice:U*U")), 200),
    ];
    for (auth, want) in cases {
        let (status, head, body) = https(server.port, &cfg, path, auth.as_deref()).unwrap();
        assert_eq!(status, want, "{auth:?}: {head}\n{body}");
        assert!(head.to_ascii_lowercase().contains("x-frame-options: deny"), "{auth:?}: {head}");
        if want == 401 {
            assert!(head.contains("www-authenticate: Basic"), "{head}");
            assert!(!body.contains("result") && !body.contains('7'), "{auth:?}: {body}");
        } else {
            assert!(body.contains(r#""value":[100,"7"]"#), "{body}");
        }
    }
    // Health and readiness are protected too, as exporter-toolkit protects everything.
    assert_eq!(https(server.port, &cfg, "/-/healthy", None).unwrap().0, 401);
}

#[test]
fn required_client_certificates_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let with_cert = client(&pki, true, all_versions());
    let config = format!("{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n");
    let server = start(dir.path(), &config, &with_cert, None);
    assert_eq!(https(server.port, &with_cert, "/-/healthy", None).unwrap().0, 200);
    for versions in [all_versions(), &[&rustls::version::TLS12][..]] {
        let without = client(&pki, false, versions);
        let r = https(server.port, &without, "/-/healthy", None);
        assert!(!matches!(r, Ok((s, _, _)) if s != 0), "served without a client certificate: {r:?}");
    }
}

#[test]
fn min_version_tls13_refuses_tls12_clients() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let tls13 = client(&pki, false, &[&rustls::version::TLS13]);
    let tls12 = client(&pki, false, &[&rustls::version::TLS12]);
    let server = start(dir.path(), &format!("{TLS}  min_version: TLS13\n"), &tls13, None);
    assert_eq!(https(server.port, &tls13, "/-/healthy", None).unwrap().0, 200);
    assert!(https(server.port, &tls12, "/-/healthy", None).is_err());

    // And the default (TLS12 minimum) does serve a TLS 1.2 client: the refusal above is the
    // setting's doing.
    drop(server);
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let tls12 = client(&pki, false, &[&rustls::version::TLS12]);
    let server = start(dir.path(), TLS, &tls12, None);
    assert_eq!(https(server.port, &tls12, "/-/healthy", None).unwrap().0, 200);
}

#[test]
fn invalid_web_config_files_stop_the_server_with_a_clear_message() {
    // (file text, substrings stderr must contain)
    let cases: &[(&str, &[&str])] = &[
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  cert_fil: x\n",
            &["web.yml", "cert_fil"],
        ),
        ("tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n", &["cert_file", "missing.crt"]),
        ("basic_auth_users:\n  alice: plaintext\n", &["web.yml", "basic_auth_users.alice", "bcrypt"]),
    ];
    for (config, wants) in cases {
        let dir = tempfile::tempdir().unwrap();
        make_pki(dir.path());
        let mut server = spawn(dir.path(), config);
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = server.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "{config}: still running after 30s");
            std::thread::sleep(Duration::from_millis(20));
        };
        let log = server_log(dir.path());
        assert!(!status.success(), "{config}: exited 0: {log}");
        for w in *wants {
            assert!(log.contains(w), "{config}: stderr lacks {w:?}: {log}");
        }
    }
}
