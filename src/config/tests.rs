//! Unit tests for config loading. Expected defaults come from Prometheus's documentation
//! of `prometheus.yml`; expected messages are the ones `promtool check config` 2.42 prints
//! for the same input (probed by hand; `tests/it/config_diff.rs` compares with the real
//! tool on fixture files).

use super::*;
use crate::discovery::DnsRecordType;
use crate::relabel::Action;

fn load(text: &str) -> Result<(Config, Vec<Warning>), Error> {
    load_str(text, Path::new("/etc/prom/prometheus.yml"))
}

fn load_ok(text: &str) -> Config {
    match load(text) {
        Ok((c, _)) => c,
        Err(e) => panic!("unexpected error: {e}\n{text}"),
    }
}

#[test]
fn empty_file_is_all_defaults() {
    for text in ["", "# just a comment\n", "global:\n", "scrape_configs:\n"] {
        let c = load_ok(text);
        assert_eq!(c.global, GlobalConfig::default(), "{text:?}");
        assert_eq!(c.global.scrape_interval, Duration::from_secs(60));
        assert_eq!(c.global.scrape_timeout, Duration::from_secs(10));
        assert_eq!(c.global.evaluation_interval, Duration::from_secs(60));
        assert!(c.scrape_configs.is_empty());
    }
}

#[test]
fn scrape_defaults_and_inheritance() {
    let c = load_ok(
        "global:\n  scrape_interval: 15s\n  scrape_timeout: 5s\n  sample_limit: 100\n  external_labels:\n    dc: eu1\n\
         scrape_configs:\n  - job_name: a\n  - job_name: b\n    scrape_interval: 2s\n    sample_limit: 7\n    \
         honor_timestamps: false\n    metrics_path: /m\n    scheme: https\n    params:\n      x: [1, 2]\n",
    );
    assert_eq!(c.global.external_labels, Labels::from_pairs(&[("dc", "eu1")]).unwrap());
    let a = &c.scrape_configs[0];
    assert_eq!(a.job_name, "a");
    assert_eq!(a.scrape_interval, Duration::from_secs(15));
    assert_eq!(a.scrape_timeout, Duration::from_secs(5));
    assert_eq!(a.metrics_path, "/metrics");
    assert_eq!(a.scheme, "http");
    assert!(a.honor_timestamps && !a.honor_labels && a.enable_compression && !a.track_timestamps_staleness);
    assert!(a.http.follow_redirects && a.http.enable_http2);
    assert_eq!(a.limits.sample_limit, 100);
    assert_eq!(a.scrape_protocols, ScrapeProtocol::DEFAULT);
    let b = &c.scrape_configs[1];
    assert_eq!(b.scrape_interval, Duration::from_secs(2));
    // The inherited timeout is capped at the job's interval.
    assert_eq!(b.scrape_timeout, Duration::from_secs(2));
    assert_eq!(b.limits.sample_limit, 7);
    assert!(!b.honor_timestamps);
    assert_eq!((b.metrics_path.as_str(), b.scheme.as_str()), ("/m", "https"));
    assert_eq!(b.params["x"], ["1", "2"]);
}

#[test]
fn global_timeout_defaults_to_interval_when_shorter() {
    let c = load_ok("global:\n  scrape_interval: 5s\n");
    assert_eq!(c.global.scrape_timeout, Duration::from_secs(5));
}

/// Each case: the file, the message (as promtool 2.42 words it, unless noted), and the
/// line and column we point at.
#[test]
fn validation_errors() {
    // (file text, message, line and column)
    type Case = (&'static str, &'static str, Option<(usize, usize)>);
    let cases: &[Case] = &[
        ("scrape_configs:\n  - job_name: \"\"\n", "job_name is empty", Some((2, 15))),
        ("scrape_configs:\n  - scrape_interval: 1m\n", "job_name is empty", Some((2, 5))),
        (
            "scrape_configs:\n  - job_name: a\n  - job_name: a\n",
            "found multiple scrape configs with job name \"a\"",
            Some((3, 15)),
        ),
        (
            "global:\n  scrape_interval: 5s\n  scrape_timeout: 10s\n",
            "global scrape timeout greater than scrape interval",
            Some((3, 19)),
        ),
        (
            "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n",
            "scrape timeout greater than scrape interval for scrape config with job name \"a\"",
            Some((4, 21)),
        ),
        ("global:\n  scrape_interval: 5x\n", "not a valid duration string: \"5x\"", Some((2, 20))),
        ("global:\n  external_labels:\n    \"1a\": b\n", "\"1a\" is not a valid label name", Some((3, 5))),
        (
            "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [a:1]\n        labels: {\"a-b\": c}\n",
            "\"a-b\" is not a valid label name",
            Some((5, 18)),
        ),
        (
            "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [http://a:1/]\n",
            "\"http://a:1/\" is not a valid hostname",
            Some((4, 19)),
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      -\n",
            "empty or null target relabeling rule in scrape config",
            Some((2, 5)),
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - regex: \"(a\"\n",
            "error parsing regexp: missing closing ): `^(?:(a)$`",
            Some((4, 16)),
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: foo\n",
            "unknown relabel action \"foo\"",
            Some((4, 17)),
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: hashmod\n        target_label: x\n",
            "relabel configuration for hashmod requires non-zero modulus",
            Some((4, 9)),
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: replace\n",
            "relabel configuration for replace action requires 'target_label' value",
            Some((4, 9)),
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: labeldrop\n        source_labels: []\n",
            "labeldrop action requires only 'regex', and no other fields",
            Some((4, 9)),
        ),
        (
            // Any written regex counts, even the default.
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: keepequal\n        source_labels: [a]\n        target_label: b\n        regex: (.*)\n",
            "keepequal action requires only 'source_labels' and `target_label`, and no other fields",
            Some((4, 9)),
        ),
        ("rule_files: [\"a/*/b.yml\"]\n", "invalid rule file path \"a/*/b.yml\"", Some((1, 14))),
        ("remote_write:\n  - name: x\n", "url for remote_write is empty", Some((2, 5))),
        (
            "remote_write:\n  - url: http://a\n    headers: {Authorization: x}\n",
            "authorization header must be changed via the basic_auth, authorization, oauth2, or sigv4 parameter",
            Some((2, 5)),
        ),
        (
            "remote_write:\n  - url: http://a\n    headers: {user-agent: x}\n",
            "user-agent is a reserved header. It must not be changed",
            Some((2, 5)),
        ),
        (
            "remote_write:\n  - url: http://a\n    name: x\n  - url: http://b\n    name: x\n",
            "found multiple remote write configs with job name \"x\"",
            Some((5, 11)),
        ),
        ("remote_write:\n  - url: \"::bad\"\n", "parse \"::bad\": missing protocol scheme", Some((2, 10))),
        (
            "alerting:\n  alertmanagers:\n    - api_version: v3\n",
            "expected Alertmanager api version to be one of [v1 v2] but got v3",
            Some((3, 20)),
        ),
        (
            "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: p, password_file: f}\n",
            "at most one of basic_auth password & password_file must be configured",
            Some((3, 17)),
        ),
        (
            "scrape_configs:\n  - job_name: a\n    bearer_token: x\n    bearer_token_file: y\n",
            "at most one of bearer_token & bearer_token_file must be configured",
            Some((2, 5)),
        ),
        (
            "scrape_configs:\n  - job_name: a\n    authorization: {type: basic}\n",
            "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
            Some((3, 20)),
        ),
        (
            "scrape_configs:\n  - job_name: a\n    basic_auth: {username: x}\n    authorization: {credentials: y}\n",
            "at most one of basic_auth, oauth2 & authorization must be configured",
            Some((4, 20)),
        ),
        (
            "scrape_configs:\n  - job_name: a\n    oauth2: {client_id: x}\n",
            "either oauth2 client_secret or client_secret_file must be configured",
            Some((3, 13)),
        ),
        (
            "scrape_configs:\n  - job_name: a\n    oauth2: {client_id: x, client_secret: y}\n",
            "oauth2 token_url must be configured",
            Some((3, 13)),
        ),
        (
            "scrape_configs:\n  - job_name: a\n    tls_config: {min_version: TLS14}\n",
            "unknown TLS version: TLS14",
            Some((3, 31)),
        ),
        (
            "scrape_configs:\n  - job_name: a\n    proxy_connect_header: {a: [b]}\n",
            "if proxy_connect_header is configured proxy_url must also be configured",
            Some((2, 5)),
        ),
        (
            "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: [a.txt]\n",
            "path name \"a.txt\" is not valid for file discovery",
            Some((4, 17)),
        ),
        (
            "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - {}\n",
            "file service discovery config must contain at least one path name",
            Some((4, 9)),
        ),
        (
            "scrape_configs:\n  - job_name: a\n    http_sd_configs:\n      - url: ftp://x\n",
            "URL scheme must be 'http' or 'https'",
            Some((4, 14)),
        ),
        ("scrape_configs:\n  - job_name: a\n    http_sd_configs:\n      - {}\n", "URL is missing", Some((4, 9))),
        (
            "scrape_configs:\n  - job_name: a\n    dns_sd_configs:\n      - names: [x]\n        type: A\n",
            "a port is required in DNS-SD configs for all record types except SRV",
            Some((4, 9)),
        ),
        (
            "scrape_configs:\n  - job_name: a\n    dns_sd_configs:\n      - names: [x]\n        type: TXT\n",
            "invalid DNS-SD records type TXT",
            Some((5, 15)),
        ),
        (
            "scrape_configs:\n  - job_name: a\n    static_configs:\n      -\n",
            "empty or null section in static_configs",
            Some((2, 5)),
        ),
        ("scrape_configs:\n  -\n", "empty or null scrape config section", None),
        (
            "remote_read:\n  - url: http://a\n    required_matchers: {\"1a\": b}\n",
            "\"1a\" is not a valid label name",
            Some((3, 25)),
        ),
    ];
    let mut failures = Vec::new();
    for (text, want, pos) in cases {
        match load(text) {
            Ok(_) => failures.push(format!("accepted:\n{text}")),
            Err(e) => {
                assert_eq!(e.file, Path::new("/etc/prom/prometheus.yml"));
                if e.msg != *want || e.line.zip(e.col) != *pos {
                    failures.push(format!(
                        "{text}\n  got  {:?} {:?}\n  want {want:?} {pos:?}",
                        e.msg,
                        e.line.zip(e.col)
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn unknown_and_duplicate_keys_name_file_line_column_and_key() {
    let err = load("scrape_configs:\n  - job_name: a\n    foo: bar\n").unwrap_err();
    assert_eq!((err.line, err.col), (Some(3), Some(5)));
    assert!(err.msg.contains("foo"), "{}", err.msg);
    assert!(err.msg.contains("unknown field"), "{}", err.msg);
    assert_eq!(err.to_string(), format!("/etc/prom/prometheus.yml:3:5: {}", err.msg));

    let err = load("global:\n  scrape_interval: 1m\n  scrape_interval: 2m\n").unwrap_err();
    assert_eq!((err.line, err.col), (Some(3), Some(3)));
    assert!(err.msg.contains("duplicate") && err.msg.contains("scrape_interval"), "{}", err.msg);

    let err = load("global:\n  scrape_interval: [1m]\n").unwrap_err();
    assert_eq!(err.line, Some(2));
}

#[test]
fn merge_keys() {
    let c = load_ok(
        "scrape_configs:\n  - &job\n    job_name: one\n    scrape_interval: 7s\n    metrics_path: /x\n  - <<: *job\n    job_name: two\n",
    );
    let two = &c.scrape_configs[1];
    assert_eq!((two.job_name.as_str(), two.metrics_path.as_str()), ("two", "/x"));
    assert_eq!(two.scrape_interval, Duration::from_secs(7));
}

#[test]
fn relative_paths_resolve_against_the_config_directory() {
    let c = load_ok(
        "global:\n  query_log_file: q.log\nrule_files: [rules/*.yml, /abs/r.yml]\nscrape_configs:\n  - job_name: a\n    \
         basic_auth: {username: u, password_file: secrets/p}\n    tls_config: {ca_file: ca.pem, cert_file: ../c.pem, key_file: k.pem}\n    \
         file_sd_configs: [{files: [sd/*.json]}]\n  - job_name: b\n    bearer_token_file: tok\n",
    );
    assert_eq!(c.global.query_log_file.as_deref(), Some(Path::new("/etc/prom/q.log")));
    assert_eq!(c.rule_files, ["/etc/prom/rules/*.yml", "/abs/r.yml"]);
    let a = &c.scrape_configs[0];
    let ba = a.http.basic_auth.as_ref().unwrap();
    assert_eq!(ba.password, Some(Secret::File(PathBuf::from("/etc/prom/secrets/p"))));
    assert_eq!(a.http.tls.ca_file.as_deref(), Some(Path::new("/etc/prom/ca.pem")));
    assert_eq!(a.http.tls.cert_file.as_deref(), Some(Path::new("/etc/c.pem")));
    assert_eq!(a.file_sd_configs[0].files, [PathBuf::from("/etc/prom/sd/*.json")]);
    assert_eq!(a.file_sd_configs[0].refresh_interval, Duration::from_secs(300));
    let b = &c.scrape_configs[1];
    let auth = b.http.authorization.as_ref().unwrap();
    assert_eq!(auth.kind, "Bearer");
    assert_eq!(auth.credentials, Some(Secret::File(PathBuf::from("/etc/prom/tok"))));
}

#[test]
fn unsupported_discovery_is_accepted_with_a_warning() {
    let (c, warnings) = load(
        "scrape_configs:\n  - job_name: k8s\n    kubernetes_sd_configs:\n      - role: pod\n        anything: [goes]\n    \
         ec2_sd_configs: [{region: x}]\n    static_configs: [{targets: [a:1]}]\nalerting:\n  alertmanagers:\n    - consul_sd_configs: [{}]\n",
    )
    .unwrap();
    assert_eq!(c.scrape_configs[0].unsupported_sd, ["ec2_sd_configs", "kubernetes_sd_configs"]);
    assert_eq!(c.scrape_configs[0].static_configs[0].targets, ["a:1"]);
    assert_eq!(c.alerting.alertmanagers[0].unsupported_sd, ["consul_sd_configs"]);
    let msgs: Vec<&str> = warnings.iter().map(|w| w.msg.as_str()).collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(msgs[0].contains("scrape job \"k8s\"") && msgs[0].contains("ec2_sd_configs"), "{msgs:?}");
    assert!(msgs[1].contains("kubernetes_sd_configs"), "{msgs:?}");
    assert!(msgs[2].contains("alertmanager config 0") && msgs[2].contains("consul_sd_configs"), "{msgs:?}");
}

#[test]
fn relabel_configs_are_parsed_with_defaults() {
    let c = load_ok(
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [__meta_x]\n        target_label: x\n      \
         - action: Keep\n        regex: a|b\n        source_labels: [y, z]\n        separator: \"-\"\n      - action: hashmod\n        \
         modulus: 8\n        target_label: h\n    metric_relabel_configs:\n      - action: labeldrop\n        regex: tmp_.*\n",
    );
    let r = &c.scrape_configs[0].relabel_configs;
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].action, Action::Replace);
    assert_eq!((r[0].separator.as_str(), r[0].replacement.as_str(), r[0].regex.as_str()), (";", "$1", "(.*)"));
    assert_eq!(r[1].action, Action::Keep);
    assert_eq!((r[1].separator.as_str(), r[1].regex.as_str()), ("-", "a|b"));
    assert_eq!((r[2].modulus, r[2].target_label.as_str()), (8, "h"));
    assert_eq!(c.scrape_configs[0].metric_relabel_configs[0].action, Action::LabelDrop);
}

#[test]
fn remote_and_alerting_defaults() {
    let c = load_ok(
        "remote_write:\n  - url: http://rw/api\n    queue_config: {max_shards: 3}\nremote_read:\n  - url: http://rr\n    \
         required_matchers: {job: x}\nalerting:\n  alertmanagers:\n    - static_configs: [{targets: [am:9093]}]\n\
         storage:\n  tsdb: {out_of_order_time_window: 1h}\n  exemplars: {max_exemplars: 5}\n",
    );
    let rw = &c.remote_write[0];
    assert_eq!(rw.remote_timeout, Duration::from_secs(30));
    assert_eq!(rw.queue.max_shards, 3);
    assert_eq!(rw.queue.capacity, 10_000);
    assert_eq!(rw.protobuf_message, "prometheus.WriteRequest");
    assert!(rw.metadata.send);
    let rr = &c.remote_read[0];
    assert_eq!(rr.remote_timeout, Duration::from_secs(60));
    assert!(rr.filter_external_labels && !rr.read_recent);
    assert_eq!(rr.required_matchers["job"], "x");
    let am = &c.alerting.alertmanagers[0];
    assert_eq!((am.scheme.as_str(), am.path_prefix.as_str(), am.api_version.as_str()), ("http", "/", "v2"));
    assert_eq!(am.timeout, Duration::from_secs(10));
    assert_eq!(c.storage.out_of_order_time_window, Some(Duration::from_secs(3600)));
    assert_eq!(c.storage.max_exemplars, Some(5));
}

#[test]
fn discovery_sections() {
    let c = load_ok(
        "scrape_configs:\n  - job_name: a\n    dns_sd_configs:\n      - names: [_x._tcp.example.org]\n      - names: [h]\n        \
         type: aaaa\n        port: 9100\n    http_sd_configs:\n      - url: http://sd:8080/targets\n        refresh_interval: 10s\n        \
         basic_auth: {username: u}\n",
    );
    let a = &c.scrape_configs[0];
    assert_eq!(a.dns_sd_configs[0].record_type, DnsRecordType::Srv);
    assert_eq!(a.dns_sd_configs[0].refresh_interval, Duration::from_secs(30));
    assert_eq!((a.dns_sd_configs[1].record_type, a.dns_sd_configs[1].port), (DnsRecordType::Aaaa, Some(9100)));
    assert_eq!(a.http_sd_configs[0].refresh_interval, Duration::from_secs(10));
    assert_eq!(a.http_sd_configs[0].http.basic_auth.as_ref().unwrap().username, "u");
}

#[test]
fn scrape_protocols_and_later_keys() {
    let c = load_ok(
        "global:\n  scrape_protocols: [PrometheusText0.0.4]\nscrape_configs:\n  - job_name: a\n  - job_name: b\n    \
         scrape_protocols: [OpenMetricsText1.0.0, PrometheusProto]\n    enable_compression: false\n    \
         track_timestamps_staleness: true\n",
    );
    assert_eq!(c.scrape_configs[0].scrape_protocols, [ScrapeProtocol::PrometheusText0]);
    let b = &c.scrape_configs[1];
    assert_eq!(b.scrape_protocols, [ScrapeProtocol::OpenMetricsText1, ScrapeProtocol::PrometheusProto]);
    assert!(!b.enable_compression && b.track_timestamps_staleness);
    let err = load("scrape_configs:\n  - job_name: a\n    scrape_protocols: []\n").unwrap_err();
    assert_eq!(err.msg, "scrape_protocols cannot be empty for scrape config with job name \"a\"");
}

#[test]
fn default_self_scrape() {
    let c = Config::default_self_scrape("localhost:9090");
    assert_eq!(c.global.scrape_interval, Duration::from_secs(15));
    assert_eq!(c.global.evaluation_interval, Duration::from_secs(15));
    assert_eq!(c.scrape_configs.len(), 1);
    let j = &c.scrape_configs[0];
    assert_eq!(j.job_name, "prometheus");
    assert_eq!(j.scrape_interval, Duration::from_secs(15));
    assert_eq!(j.scrape_timeout, Duration::from_secs(10));
    assert_eq!(j.static_configs[0].targets, ["localhost:9090"]);
    assert_eq!(j.metrics_path, "/metrics");
}

#[test]
fn rule_file_globs() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["r1.yml", "r2.yml", "other.txt"] {
        std::fs::write(dir.path().join(f), "").unwrap();
    }
    let cfg_path = dir.path().join("prometheus.yml");
    let (c, _) = load_str("rule_files: ['r*.yml', 'none*.yml', other.txt]\n", &cfg_path).unwrap();
    let names: Vec<String> =
        c.rule_file_paths().unwrap().iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["r1.yml", "r2.yml", "other.txt"]);
    let (c, _) = load_str("rule_files: [missing.yml]\n", &cfg_path).unwrap();
    let err = c.rule_file_paths().unwrap_err();
    assert!(err.msg.ends_with("missing.yml\" does not point to an existing file"), "{}", err.msg);
}

#[test]
fn loading_a_file_keeps_source_and_text() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.yml");
    std::fs::write(&p, "global:\n  scrape_interval: 30s\n").unwrap();
    let (c, _) = load_file(&p).unwrap();
    assert_eq!(c.source.as_deref(), Some(p.as_path()));
    assert_eq!(c.original, "global:\n  scrape_interval: 30s\n");
    let err = load_file(&dir.path().join("nope.yml")).unwrap_err();
    assert!(err.line.is_none() && err.file.ends_with("nope.yml"));
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let c = load_ok(
        "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: hunter2}\n  - job_name: b\n    \
         bearer_token: tok3n\n",
    );
    let shown = format!("{c:?}");
    assert!(!shown.contains("hunter2") && !shown.contains("tok3n"), "{shown}");
    assert!(shown.contains("<secret>"));
    let auth = c.scrape_configs[1].http.authorization.as_ref().unwrap();
    assert_eq!(auth.credentials, Some(Secret::Inline("tok3n".into())));
}
