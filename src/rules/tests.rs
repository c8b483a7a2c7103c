//! Unit tests for rule files. Expected messages and positions are what `promtool check
//! rules` 2.42 prints for the same text (probed by hand).

use super::*;

#[test]
fn valid_file() {
    let text = "groups:\n  - name: g\n    interval: 30s\n    limit: 10\n    rules:\n      - record: job:up:sum\n        \
                expr: sum by (job) (up)\n        labels: {team: a}\n      - alert: Down\n        expr: up == 0\n        \
                for: 5m\n        keep_firing_for: 1m\n        labels: {severity: page}\n        annotations:\n          \
                summary: \"{{ $labels.instance }} down\"\n  - name: h\n    rules: []\n";
    let g = parse(text).unwrap();
    assert_eq!(g.rule_count(), 2);
    assert_eq!(g.groups[0].interval, Some(Duration::from_secs(30)));
    assert_eq!(g.groups[0].limit, 10);
    assert_eq!(g.groups[1].interval, None);
    match &g.groups[0].rules[0] {
        Rule::Recording(r) => {
            assert_eq!(r.record, "job:up:sum");
            assert_eq!(r.expr_text, "sum by (job) (up)");
            assert_eq!(r.labels["team"], "a");
        }
        other => panic!("{other:?}"),
    }
    match &g.groups[0].rules[1] {
        Rule::Alerting(a) => {
            assert_eq!(a.alert, "Down");
            assert_eq!(a.for_duration, Duration::from_secs(300));
            assert_eq!(a.keep_firing_for, Duration::from_secs(60));
            assert_eq!(a.annotations["summary"], "{{ $labels.instance }} down");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn empty_files_have_no_rules() {
    for text in ["", "groups:\n", "groups: []\n"] {
        assert_eq!(parse(text).unwrap().rule_count(), 0, "{text:?}");
    }
}

#[test]
fn all_problems_reported_like_promtool() {
    // The same text promtool 2.42 was run on; its output, line by line (after the file name).
    let text = "groups:\n  - name: g\n    rules:\n      - record: \"job:up{x}\"\n        expr: sum(up) by (job\n        \
                annotations: {a: b}\n      - alert: Down\n        record: x\n        expr: up == 0\n      - expr: up\n        \
                labels: {\"1a\": x}\n  - name: g\n    rules: []\n  - name: \"\"\n    rules: []\n";
    let want = [
        "5:15: group \"g\", rule 1, \"job:up{x}\": could not parse expression: 1:16: parse error: unclosed left parenthesis",
        "4:17: group \"g\", rule 1, \"job:up{x}\": invalid field 'annotations' in recording rule",
        "4:17: group \"g\", rule 1, \"job:up{x}\": invalid recording rule name: job:up{x}",
        "8:17: 7:16: group \"g\", rule 2, \"Down\": only one of 'record' and 'alert' must be set",
        "0:0: group \"g\", rule 3, \"\": one of 'record' or 'alert' must be set",
        "group \"g\", rule 3, \"\": invalid label name: 1a",
        "12:5: groupname: \"g\" is repeated in the same file",
        "14:5: Groupname must not be empty",
    ];
    let got: Vec<String> = parse(text).unwrap_err().iter().map(|e| e.to_string()).collect();
    assert_eq!(got, want);
}

#[test]
fn decoding_errors_fail_the_whole_file() {
    let errs = parse("groups:\n  - name: g\n    interval: 1x\n    rules:\n      - expr: up\n").unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].to_string(), "3:15: not a valid duration string: \"1x\"");
    let errs = parse("groups:\n - name: a\n   foo: 1\n   rules: []\n").unwrap_err();
    assert_eq!(errs.len(), 1);
    let msg = errs[0].to_string();
    assert!(msg.starts_with("3:4: ") && msg.contains("unknown field \"foo\""), "{msg}");
}

#[test]
fn recording_rule_field_checks() {
    let errs = parse("groups:\n- name: g\n  rules:\n  - record: r\n    expr: up\n    for: 1m\n    keep_firing_for: 1m\n    labels: {__name__: x}\n")
        .unwrap_err();
    let got: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        got,
        [
            "4:13: group \"g\", rule 1, \"r\": invalid field 'for' in recording rule",
            "4:13: group \"g\", rule 1, \"r\": invalid field 'keep_firing_for' in recording rule",
            "group \"g\", rule 1, \"r\": invalid label name: __name__",
        ]
    );
    let errs = parse("groups:\n- name: g\n  rules:\n  - alert: a\n    annotations: {\"x-y\": z}\n").unwrap_err();
    let got: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        got,
        [
            "0:0: group \"g\", rule 1, \"a\": field 'expr' must be set in rule",
            "group \"g\", rule 1, \"a\": invalid annotation name: x-y"
        ]
    );
}

#[test]
fn duplicates_for_the_lint() {
    let g = parse(
        "groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n    labels: {x: \"1\"}\n  - record: a\n    expr: up + 1\n    \
         labels: {x: \"1\"}\n  - record: a\n    expr: up\n    labels: {x: \"1\"}\n  - alert: a\n    expr: up\n",
    )
    .unwrap();
    let d = duplicate_rules(&g);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].0, "a");
    assert_eq!(d[0].1["x"], "1");
}
