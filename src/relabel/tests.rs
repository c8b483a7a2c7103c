//! Unit tests for relabeling. Expected values are derived by hand from Prometheus 2.42's
//! documented semantics (each case says why); `tests/it/relabel_diff.rs` checks the same
//! behaviour against the real server.

use super::*;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs).unwrap()
}

fn cfg(action: Action) -> RelabelConfig {
    RelabelConfig { action, ..RelabelConfig::default() }
}

fn with(action: Action, source: &[&str], regex: &str, target: &str, replacement: &str, modulus: u64) -> RelabelConfig {
    RelabelConfig {
        source_labels: source.iter().map(|s| s.to_string()).collect(),
        regex: Regex::new(regex).unwrap(),
        target_label: target.to_string(),
        replacement: replacement.to_string(),
        modulus,
        ..cfg(action)
    }
}

type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    Vec<RelabelConfig>,
    Option<&'static [(&'static str, &'static str)]>,
);

#[test]
fn actions() {
    use Action::*;
    let cases: Vec<Case> = vec![
        (
            // The default regex `(.*)` and replacement `$1` copy the joined value.
            "replace copies",
            &[("a", "foo"), ("b", "bar")],
            vec![with(Replace, &["a", "b"], "(.*)", "c", "$1", 0)],
            Some(&[("a", "foo"), ("b", "bar"), ("c", "foo;bar")]),
        ),
        (
            // A missing source label contributes an empty string: "" ; "bar".
            "replace missing source",
            &[("b", "bar")],
            vec![with(Replace, &["a", "b"], "(.*)", "c", "$1", 0)],
            Some(&[("b", "bar"), ("c", ";bar")]),
        ),
        (
            // No match: nothing changes.
            "replace no match",
            &[("a", "foo")],
            vec![with(Replace, &["a"], "bar", "c", "x", 0)],
            Some(&[("a", "foo")]),
        ),
        (
            // The regex is anchored at both ends, so `fo` does not match `foo`.
            "replace anchored",
            &[("a", "foo")],
            vec![with(Replace, &["a"], "fo", "c", "x", 0)],
            Some(&[("a", "foo")]),
        ),
        (
            // `${1}x` is group 1 then `x`; `$1x` would be the (missing) group named `1x`.
            "replace braces",
            &[("a", "foo")],
            vec![with(Replace, &["a"], "(f)(o+)", "c", "${1}x$2", 0), with(Replace, &["a"], "(f)(o+)", "d", "$1x", 0)],
            Some(&[("a", "foo"), ("c", "fxoo")]),
        ),
        (
            // An empty result deletes the target.
            "replace empty deletes",
            &[("a", "foo"), ("c", "old")],
            vec![with(Replace, &["a"], "foo", "c", "", 0)],
            Some(&[("a", "foo")]),
        ),
        (
            // A templated target: the label name comes from the match.
            "replace templated target",
            &[("a", "foo")],
            vec![with(Replace, &["a"], "(.*)", "x_$1", "v", 0)],
            Some(&[("a", "foo"), ("x_foo", "v")]),
        ),
        (
            // An expanded target that is not a label name changes nothing (2.42 deletes the
            // literal `x_$1`, which cannot exist).
            "replace invalid expanded target",
            &[("a", "f-o")],
            vec![with(Replace, &["a"], "(.*)", "x_$1", "v", 0)],
            Some(&[("a", "f-o")]),
        ),
        (
            // An empty value with a templated target deletes the unexpanded name, so `xb`
            // survives (peer-checked in relabel_diff).
            "replace empty with template",
            &[("a", "b"), ("xb", "keep")],
            vec![with(Replace, &["a"], "(.*)", "x$1", "", 0)],
            Some(&[("a", "b"), ("xb", "keep")]),
        ),
        (
            // `.` does not match a newline in relabeling regexes (`^(?:...)$`, no `s` flag).
            "newline not matched by dot",
            &[("a", "l1\nl2")],
            vec![with(Replace, &["a"], "l1.l2", "c", "m", 0), with(Replace, &["a"], "(.*)", "d", "$1", 0)],
            Some(&[("a", "l1\nl2")]),
        ),
        (
            "named groups",
            &[("a", "host:9100")],
            vec![with(Replace, &["a"], "(?P<host>[^:]+):(?P<port>\\d+)", "c", "${port}-$host", 0)],
            Some(&[("a", "host:9100"), ("c", "9100-host")]),
        ),
        (
            // `$$` is a literal dollar.
            "dollar dollar",
            &[("a", "x")],
            vec![with(Replace, &["a"], "(.*)", "c", "$$1", 0)],
            Some(&[("a", "x"), ("c", "$1")]),
        ),
        ("keep match", &[("a", "foo")], vec![with(Keep, &["a"], "f.*", "", "$1", 0)], Some(&[("a", "foo")])),
        ("keep no match", &[("a", "foo")], vec![with(Keep, &["a"], "bar", "", "$1", 0)], None),
        (
            // A missing source label is the empty string, which `.*` matches.
            "keep empty source",
            &[("a", "foo")],
            vec![with(Keep, &["missing"], ".*", "", "$1", 0)],
            Some(&[("a", "foo")]),
        ),
        ("drop match", &[("a", "foo")], vec![with(Drop, &["a"], "foo", "", "$1", 0)], None),
        ("drop no match", &[("a", "foo")], vec![with(Drop, &["a"], "bar", "", "$1", 0)], Some(&[("a", "foo")])),
        (
            "keepequal equal",
            &[("a", "1"), ("b", "1")],
            vec![RelabelConfig { source_labels: vec!["a".into()], target_label: "b".into(), ..cfg(KeepEqual) }],
            Some(&[("a", "1"), ("b", "1")]),
        ),
        (
            "keepequal differ",
            &[("a", "1"), ("b", "2")],
            vec![RelabelConfig { source_labels: vec!["a".into()], target_label: "b".into(), ..cfg(KeepEqual) }],
            None,
        ),
        (
            "dropequal equal",
            &[("a", "1"), ("b", "1")],
            vec![RelabelConfig { source_labels: vec!["a".into()], target_label: "b".into(), ..cfg(DropEqual) }],
            None,
        ),
        (
            // Both missing: "" == "", so dropequal drops.
            "dropequal both missing",
            &[("z", "1")],
            vec![RelabelConfig { source_labels: vec!["a".into()], target_label: "b".into(), ..cfg(DropEqual) }],
            None,
        ),
        (
            // md5("foo") = acbd18db4cc2f85c edef654fccc4a4d8; the last eight bytes as a
            // big-endian integer modulo 1000000007 is 819793643 (Python's hashlib; the peer
            // agrees).
            "hashmod",
            &[("a", "foo")],
            vec![with(HashMod, &["a"], "(.*)", "h", "$1", 1_000_000_007)],
            Some(&[("a", "foo"), ("h", "819793643")]),
        ),
        (
            "lowercase",
            &[("a", "FoO"), ("b", "ÀB")],
            vec![
                RelabelConfig { source_labels: vec!["a".into()], target_label: "l".into(), ..cfg(Lowercase) },
                RelabelConfig { source_labels: vec!["b".into()], target_label: "m".into(), ..cfg(Lowercase) },
            ],
            Some(&[("a", "FoO"), ("b", "ÀB"), ("l", "foo"), ("m", "àb")]),
        ),
        (
            // Go keeps `ß` (no single-character upper case).
            "uppercase",
            &[("a", "foß")],
            vec![RelabelConfig { source_labels: vec!["a".into()], target_label: "u".into(), ..cfg(Uppercase) }],
            Some(&[("a", "foß"), ("u", "FOß")]),
        ),
        (
            // Lower-casing an empty value deletes the target.
            "lowercase empty deletes",
            &[("a", "x"), ("l", "old")],
            vec![RelabelConfig { source_labels: vec!["missing".into()], target_label: "l".into(), ..cfg(Lowercase) }],
            Some(&[("a", "x")]),
        ),
        (
            "labelmap",
            &[("__meta_x", "1"), ("__meta_y", "2"), ("z", "3")],
            vec![with(LabelMap, &[], "__meta_(.+)", "", "$1", 0)],
            Some(&[("__meta_x", "1"), ("__meta_y", "2"), ("x", "1"), ("y", "2"), ("z", "3")]),
        ),
        (
            // Two sources map to one name: name order, the later (`b_k`) wins.
            "labelmap collision",
            &[("a_k", "1"), ("b_k", "2")],
            vec![with(LabelMap, &[], "[ab]_(.+)", "", "$1", 0)],
            Some(&[("a_k", "1"), ("b_k", "2"), ("k", "2")]),
        ),
        (
            "labeldrop",
            &[("a", "1"), ("b1", "2"), ("b2", "3"), ("c", "4")],
            vec![with(LabelDrop, &[], "b.", "", "$1", 0)],
            Some(&[("a", "1"), ("c", "4")]),
        ),
        (
            "labelkeep",
            &[("a", "1"), ("b1", "2"), ("b2", "3"), ("c", "4")],
            vec![with(LabelKeep, &[], "b.|c", "", "$1", 0)],
            Some(&[("b1", "2"), ("b2", "3"), ("c", "4")]),
        ),
        ("labeldrop everything", &[("a", "1")], vec![with(LabelDrop, &[], ".*", "", "$1", 0)], None),
    ];
    for (name, input, cfgs, want) in cases {
        let got = process(&labels(input), &cfgs);
        assert_eq!(got, want.map(labels), "{name}");
        let owned = process_owned(labels(input), &cfgs);
        assert_eq!(owned, want.map(labels), "{name} (owned)");
    }
}

#[test]
fn no_steps_returns_input() {
    let l = labels(&[("a", "1")]);
    assert_eq!(process(&l, &[]), Some(l.clone()));
    assert_eq!(process(&Labels::default(), &[]), None);
}

#[test]
fn validation_messages() {
    use Action::*;
    // Messages as promtool 2.42 prints them (probed with `promtool check config`).
    let cases: Vec<(RelabelConfig, &str)> = vec![
        (cfg(Replace), "relabel configuration for replace action requires 'target_label' value"),
        (
            RelabelConfig { target_label: "1x".into(), ..cfg(Replace) },
            "\"1x\" is invalid 'target_label' for replace action",
        ),
        (
            RelabelConfig { target_label: "${1".into(), ..cfg(Replace) },
            "\"${1\" is invalid 'target_label' for replace action",
        ),
        (
            RelabelConfig { target_label: "x".into(), ..cfg(HashMod) },
            "relabel configuration for hashmod requires non-zero modulus",
        ),
        (
            RelabelConfig { source_labels: vec!["a".into()], ..cfg(LabelDrop) },
            "labeldrop action requires only 'regex', and no other fields",
        ),
        (
            RelabelConfig {
                source_labels: vec!["a".into()],
                target_label: "b".into(),
                regex: Regex::new("x").unwrap(),
                ..cfg(KeepEqual)
            },
            "keepequal action requires only 'source_labels' and `target_label`, and no other fields",
        ),
        (
            RelabelConfig { target_label: "b".into(), replacement: "x".into(), ..cfg(Lowercase) },
            "'replacement' can not be set for lowercase action",
        ),
        (
            RelabelConfig { replacement: "-".into(), ..cfg(LabelMap) },
            "\"-\" is invalid 'replacement' for labelmap action",
        ),
        (
            RelabelConfig { source_labels: vec!["a-b".into()], target_label: "x".into(), ..cfg(Replace) },
            "\"a-b\" is not a valid label name",
        ),
    ];
    for (c, want) in cases {
        assert_eq!(c.validate().unwrap_err().to_string(), want);
    }
    let ok = [
        RelabelConfig { target_label: "x_${1}_$name".into(), ..cfg(Replace) },
        RelabelConfig { target_label: "x".into(), modulus: 3, ..cfg(HashMod) },
        cfg(LabelMap),
        cfg(LabelKeep),
        cfg(Keep),
    ];
    for c in ok {
        assert_eq!(c.validate(), Ok(()), "{c:?}");
    }
}

#[test]
fn regex_errors_quote_the_anchored_pattern() {
    // promtool 2.42: error parsing regexp: missing closing ): `^(?:(a)$`
    assert_eq!(Regex::new("(a").unwrap_err().to_string(), "error parsing regexp: missing closing ): `^(?:(a)$`");
    // Go compiles the wrapped text, so `a)|(b` is accepted as `^(?:a)|(b)$`: a prefix `a`
    // or a suffix `b`.
    let r = Regex::new("a)|(b").unwrap();
    assert!(r.is_match("a") && r.is_match("xb") && r.is_match("ax") && !r.is_match("xa"));
}

#[test]
fn actions_parse_case_insensitively() {
    assert_eq!(Action::parse("KEEP"), Ok(Action::Keep));
    assert_eq!(Action::parse("LabelMap"), Ok(Action::LabelMap));
    assert_eq!(Action::parse("foo").unwrap_err().to_string(), "unknown relabel action \"foo\"");
}

#[test]
fn target_templates() {
    for ok in ["a", "_a", "a$1", "$1", "${1}", "${name}x", "a_${1}_$2b", "$a$b"] {
        assert!(is_valid_target_template(ok), "{ok}");
    }
    for bad in ["", "1a", "a-b", "$", "${}", "${1", "$-", "a$$b", "a{b}"] {
        assert!(!is_valid_target_template(bad), "{bad}");
    }
}

#[test]
fn go_quoting() {
    assert_eq!(go_quote("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\x01\"");
    assert_eq!(go_quote("é"), "\"é\"");
}

#[test]
fn unchanged_steps_do_not_copy() {
    let l = labels(&[("a", "1"), ("b", "2")]);
    let mut cur = Cow::Borrowed(l.as_slice());
    let steps = [
        with(Action::Keep, &["a"], "1", "", "$1", 0),
        with(Action::Replace, &["a"], "9", "c", "x", 0),
        with(Action::LabelDrop, &[], "zz", "", "$1", 0),
        with(Action::Replace, &["a"], "(.*)", "a", "$1", 0),
    ];
    assert!(run(&mut cur, &steps));
    assert!(matches!(cur, Cow::Borrowed(_)), "a step that changes nothing copied the labels");
}
