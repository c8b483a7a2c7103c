//! Relabeling against Prometheus 2.42: one Prometheus runs a scrape job per case (one static
//! target, the case's labels and `relabel_configs`, an address nobody listens on so the
//! scrapes just fail), and its `/api/v1/targets?state=any` says what became of each target.
//!
//! For each job, the peer's `discoveredLabels` (the labels before relabeling, with `job`
//! and the `__scrape_*` labels it adds) go through `cairn::relabel::process` with the
//! relabel configs Cairn's own loader read from the same file; then Prometheus's
//! post-processing (`instance` defaults to `__address__`, `__`-prefixed labels go). The
//! result must equal the peer's target `labels`, or the target must be among the peer's
//! dropped ones. Expected values come only from the peer.

use crate::peer::{PeerProcess, free_addr, http_get, peers_available};
use cairn::model::{Label, Labels};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

/// One case: a job name, the target's labels, and its relabel configs (YAML flow items).
struct Case {
    name: &'static str,
    labels: &'static [(&'static str, &'static str)],
    relabel: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case { name: "replace_defaults", labels: &[("a", "foo")], relabel: &["{source_labels: [a], target_label: x}"] },
    Case {
        name: "replace_two_sources",
        labels: &[("a", "foo"), ("b", "bar")],
        relabel: &[
            r#"{source_labels: [a, b], separator: "-", regex: "(.*)-(.*)", target_label: y, replacement: "$2_$1"}"#,
        ],
    },
    Case {
        name: "replace_missing_source",
        labels: &[("a", "foo")],
        relabel: &["{source_labels: [missing, a], target_label: z}"],
    },
    Case {
        name: "replace_no_match",
        labels: &[("a", "foo")],
        relabel: &["{source_labels: [a], regex: nomatch, target_label: w, replacement: v}"],
    },
    Case {
        name: "replace_empty_regex_match",
        labels: &[("a", "foo")],
        relabel: &[r#"{source_labels: [missing], regex: "", target_label: e, replacement: was_empty}"#],
    },
    Case {
        name: "replace_braces_vs_1x",
        labels: &[("a", "foo")],
        relabel: &[
            r#"{source_labels: [a], regex: "(f)(o+)", target_label: t1, replacement: "${1}x"}"#,
            r#"{source_labels: [a], regex: "(f)(o+)", target_label: t2, replacement: "$1x"}"#,
            r#"{source_labels: [a], regex: "(f)(o+)", target_label: t3, replacement: "$1x-$2"}"#,
        ],
    },
    Case {
        name: "replace_named_groups",
        labels: &[],
        relabel: &[
            r#"{source_labels: [__address__], regex: "(?P<host>[^:]+):(?P<port>\\d+)", target_label: hp, replacement: "${port}-$host"}"#,
        ],
    },
    Case {
        name: "replace_dollar_dollar",
        labels: &[("a", "x")],
        relabel: &[r#"{source_labels: [a], target_label: d, replacement: "$$1 $$ $"}"#],
    },
    Case {
        name: "replace_templated_target",
        labels: &[("a", "foo")],
        relabel: &[r#"{source_labels: [a], target_label: "t_$1", replacement: v}"#],
    },
    Case {
        name: "replace_invalid_templated_target",
        labels: &[("a", "f-o"), ("keep", "k")],
        relabel: &[r#"{source_labels: [a], target_label: "t_${1}", replacement: v}"#],
    },
    Case {
        name: "replace_empty_value_deletes",
        labels: &[("a", "foo"), ("c", "old")],
        relabel: &[r#"{source_labels: [a], regex: "f.*", target_label: c, replacement: ""}"#],
    },
    Case {
        name: "replace_empty_value_templated_target",
        labels: &[("a", "b"), ("xb", "keep")],
        relabel: &[r#"{source_labels: [a], target_label: "x$1", replacement: ""}"#],
    },
    Case {
        name: "replace_address_changes_instance",
        labels: &[],
        relabel: &[
            r#"{source_labels: [__address__], regex: "[^:]+:(\\d+)", target_label: __address__, replacement: "10.1.2.3:$1"}"#,
        ],
    },
    Case {
        name: "replace_sets_instance",
        labels: &[("name", "web-1")],
        relabel: &["{source_labels: [name], target_label: instance}"],
    },
    Case {
        name: "replace_newline_not_matched_by_dot",
        labels: &[("a", "l1\nl2")],
        relabel: &[
            r#"{source_labels: [a], regex: "l1.l2", target_label: dot, replacement: matched}"#,
            r#"{source_labels: [a], regex: "l1\\nl2", target_label: nl, replacement: matched}"#,
        ],
    },
    Case {
        name: "replace_case_insensitive_flag",
        labels: &[("a", "FOO")],
        relabel: &[r#"{source_labels: [a], regex: "(?i)foo", target_label: ci, replacement: yes}"#],
    },
    Case {
        name: "replace_meta_and_tmp",
        labels: &[("__meta_zone", "z1"), ("__tmp_x", "t")],
        relabel: &["{source_labels: [__meta_zone], target_label: zone}"],
    },
    Case {
        name: "keep_match",
        labels: &[("a", "foo")],
        relabel: &[r#"{source_labels: [a], regex: "f.*", action: keep}"#],
    },
    Case {
        name: "keep_no_match",
        labels: &[("a", "foo")],
        relabel: &["{source_labels: [a], regex: bar, action: keep}"],
    },
    Case {
        name: "keep_missing_source_empty_regex",
        labels: &[("a", "foo")],
        relabel: &[r#"{source_labels: [missing], regex: "", action: keep}"#],
    },
    Case {
        name: "keep_uppercase_action",
        labels: &[("a", "foo")],
        relabel: &["{source_labels: [a], regex: foo, action: KEEP}"],
    },
    Case {
        name: "keep_joined_default_separator",
        labels: &[("a", "x"), ("b", "y")],
        relabel: &[r#"{source_labels: [a, b], regex: "x;y", action: keep}"#],
    },
    Case { name: "drop_match", labels: &[("a", "foo")], relabel: &["{source_labels: [a], regex: foo, action: drop}"] },
    Case {
        name: "drop_no_match",
        labels: &[("a", "foo")],
        relabel: &["{source_labels: [a], regex: bar, action: drop}"],
    },
    Case {
        name: "keepequal_equal",
        labels: &[("a", "1"), ("b", "1")],
        relabel: &["{source_labels: [a], target_label: b, action: keepequal}"],
    },
    Case {
        name: "keepequal_differ",
        labels: &[("a", "1"), ("b", "2")],
        relabel: &["{source_labels: [a], target_label: b, action: keepequal}"],
    },
    Case {
        name: "dropequal_equal",
        labels: &[("a", "1"), ("b", "1")],
        relabel: &["{source_labels: [a], target_label: b, action: dropequal}"],
    },
    Case {
        name: "dropequal_differ",
        labels: &[("a", "1"), ("b", "2")],
        relabel: &["{source_labels: [a], target_label: b, action: dropequal}"],
    },
    Case {
        name: "hashmod_values",
        labels: &[("a", "foo"), ("b", "some/longer value ünïcode")],
        relabel: &[
            "{source_labels: [a], modulus: 10, target_label: h10, action: hashmod}",
            "{source_labels: [a], modulus: 1000003, target_label: h1m, action: hashmod}",
            "{source_labels: [b], modulus: 18446744073709551615, target_label: hmax, action: hashmod}",
            "{source_labels: [a, b], modulus: 97, target_label: hab, action: hashmod}",
            "{source_labels: [missing], modulus: 7, target_label: hempty, action: hashmod}",
        ],
    },
    Case {
        name: "labelmap_meta",
        labels: &[("__meta_rack", "r1"), ("__meta_dc", "d1"), ("plain", "p")],
        relabel: &[r#"{regex: "__meta_(.+)", action: labelmap}"#],
    },
    Case {
        name: "labelmap_template",
        labels: &[("__meta_rack", "r1")],
        relabel: &[r#"{regex: "__meta_(.+)", replacement: "m_${1}_x", action: labelmap}"#],
    },
    Case {
        name: "labelmap_collision",
        labels: &[("a_k", "1"), ("b_k", "2")],
        relabel: &[r#"{regex: "[ab]_(.+)", action: labelmap}"#],
    },
    Case {
        name: "labeldrop",
        labels: &[("tmp_a", "1"), ("tmp_b", "2"), ("keep", "3")],
        relabel: &[r#"{regex: "tmp_.*", action: labeldrop}"#],
    },
    Case {
        name: "labelkeep",
        labels: &[("drop_me", "1"), ("keepme", "2")],
        relabel: &[r#"{regex: "__.*|job|keepme", action: labelkeep}"#],
    },
    Case {
        name: "lower_upper",
        labels: &[("a", "MiXeD Ünï"), ("b", "straße")],
        relabel: &[
            "{source_labels: [a], target_label: low, action: lowercase}",
            "{source_labels: [a, b], target_label: up, action: uppercase}",
            "{source_labels: [missing], target_label: a, action: lowercase}",
        ],
    },
    Case {
        name: "chain",
        labels: &[("env", "prod"), ("team", "db")],
        relabel: &[
            r#"{source_labels: [env, team], separator: "/", target_label: __tmp_key}"#,
            r#"{source_labels: [__tmp_key], regex: "prod/.*", action: keep}"#,
            r#"{source_labels: [__tmp_key], regex: "(.*)/(.*)", target_label: owner, replacement: "$2@$1"}"#,
            r#"{regex: "env", action: labeldrop}"#,
        ],
    },
];

/// The whole config: one job per case, each target at `target` (where nothing listens).
fn config_text(target: &str) -> String {
    let mut s = String::from("global:\n  scrape_interval: 1h\n  scrape_timeout: 5s\nscrape_configs:\n");
    for c in CASES {
        s.push_str(&format!("  - job_name: {}\n    static_configs:\n      - targets: [\"{target}\"]\n", c.name));
        if !c.labels.is_empty() {
            s.push_str("        labels:\n");
            for (k, v) in c.labels {
                s.push_str(&format!("          {k}: {}\n", serde_json::to_string(v).unwrap()));
            }
        }
        s.push_str("    relabel_configs:\n");
        for r in c.relabel {
            s.push_str(&format!("      - {r}\n"));
        }
    }
    s
}

fn labels_of(v: &serde_json::Value) -> Labels {
    let map: BTreeMap<String, String> = serde_json::from_value(v.clone()).unwrap();
    Labels::new(map.into_iter().map(|(k, v)| Label::new(k, v)).collect()).unwrap()
}

/// Prometheus's post-processing of relabeled target labels as the targets API shows them.
fn target_labels(l: &Labels) -> Labels {
    let mut out: Vec<Label> = l.iter().filter(|l| !l.name.starts_with("__")).cloned().collect();
    if l.get("instance").is_none()
        && let Some(addr) = l.get("__address__")
    {
        out.push(Label::new("instance", addr));
    }
    Labels::new(out).unwrap()
}

#[test]
fn relabeling_matches_prometheus() {
    if !peers_available("relabel_diff", &["prometheus"], "prometheus") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A port that was free a moment ago: the scrapes fail, the targets stay.
    let target = free_addr().unwrap().to_string();
    let cfg_path = dir.path().join("prometheus.yml");
    std::fs::write(&cfg_path, config_text(&target)).unwrap();
    let (cfg, warnings) = cairn::config::load_file(&cfg_path).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");

    let addr = free_addr().unwrap();
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!("--config.file={}", cfg_path.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address={addr}"));
    let mut peer = PeerProcess::spawn("prometheus", cmd, addr, &dir.path().join("prometheus.log")).unwrap();
    peer.wait_ready("/-/ready", Duration::from_secs(30)).unwrap();

    // The scrape manager picks targets up a few seconds after start.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (active, dropped) = loop {
        let r = http_get(addr, "/api/v1/targets?state=any", Duration::from_secs(5)).unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        let v: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
        let active = v["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
        let dropped = v["data"]["droppedTargets"].as_array().cloned().unwrap_or_default();
        if active.len() + dropped.len() >= CASES.len() {
            break (active, dropped);
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {} targets after 60s; log:\n{}",
            active.len() + dropped.len(),
            CASES.len(),
            peer.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    };

    let mut failures = Vec::new();
    let mut dropped_seen = 0;
    for (case, job) in CASES.iter().zip(&cfg.scrape_configs) {
        assert_eq!(case.name, job.job_name);
        let peer_active = active.iter().find(|t| t["scrapePool"] == case.name);
        let peer_dropped = dropped.iter().find(|t| t["discoveredLabels"]["job"] == case.name);
        let discovered = match (peer_active, peer_dropped) {
            (Some(t), None) | (None, Some(t)) => labels_of(&t["discoveredLabels"]),
            other => {
                failures.push(format!("{}: peer has {other:?}", case.name));
                continue;
            }
        };
        let ours = cairn::relabel::process(&discovered, &job.relabel_configs);
        match (ours, peer_active) {
            (None, None) => dropped_seen += 1,
            (Some(l), Some(t)) => {
                let want = labels_of(&t["labels"]);
                let got = target_labels(&l);
                if got != want {
                    failures.push(format!("{}:\n  input {discovered}\n  peer  {want}\n  ours  {got}", case.name));
                }
            }
            (Some(l), None) => failures.push(format!("{}: peer dropped it, ours kept {l}", case.name)),
            (None, Some(t)) => failures.push(format!("{}: ours dropped it, peer kept {}", case.name, t["labels"])),
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), CASES.len(), failures.join("\n"));
    // The table has targets that must be dropped; make sure the comparison saw them.
    assert_eq!(dropped_seen, 4, "dropped targets");
}
