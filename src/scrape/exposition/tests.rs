//! Table-driven tests of both parsers. Expected values are derived by hand from the grammar
//! of Prometheus 2.42's lexers (`promlex.l`, `openmetricslex.l`) and parsers, as described in
//! the module documentation; the comments say why where it is not obvious.

use super::*;
use proptest::prelude::*;

/// Drains a page into one line of text per entry: series as `labels = value [@ts] [# exemplar]`.
fn drain(input: &[u8], format: Format) -> Result<Vec<String>, ParseError> {
    let mut p = Parser::new(input, format);
    let mut out = Vec::new();
    while let Some(e) = p.next()? {
        out.push(match e {
            Entry::Series { timestamp_ms, value, .. } => {
                let mut s = format!("{} = {value:?}", p.labels()?);
                if let Some(t) = timestamp_ms {
                    s.push_str(&format!(" @{t}"));
                }
                if let Some(ex) = p.exemplar() {
                    s.push_str(&format!(" # {} {:?}", ex.labels, ex.value));
                    if let Some(t) = ex.timestamp_ms {
                        s.push_str(&format!(" @{t}"));
                    }
                }
                s
            }
            Entry::Type { metric, kind } => format!("TYPE {metric} {kind:?}"),
            Entry::Help { metric, text } => format!("HELP {metric} {text}"),
            Entry::Unit { metric, unit } => format!("UNIT {metric} {unit}"),
            Entry::Comment => "COMMENT".into(),
        });
    }
    // A finished parser stays finished.
    assert_eq!(p.next(), Ok(None));
    Ok(out)
}

fn check_valid(format: Format, cases: &[(&str, &str, &[&str])]) {
    for (name, input, want) in cases {
        match drain(input.as_bytes(), format) {
            Ok(got) => assert_eq!(got, *want, "{format:?} case {name:?}"),
            Err(e) => panic!("{format:?} case {name:?}: unexpected error {e}"),
        }
    }
}

fn check_invalid(format: Format, cases: &[(&str, usize, &str)]) {
    for (input, line, want) in cases {
        match drain(input.as_bytes(), format) {
            Ok(got) => panic!("{format:?} {input:?}: accepted as {got:?}, want line {line}: {want}"),
            Err(e) => {
                assert_eq!(e.line, *line, "{format:?} {input:?}: {e}");
                assert!(e.msg.contains(want), "{format:?} {input:?}: message {:?} lacks {want:?}", e.msg);
                // The error sticks.
                let mut p = Parser::new(input.as_bytes(), format);
                let first = loop {
                    match p.next() {
                        Ok(Some(_)) => continue,
                        Ok(None) => break None,
                        Err(e) => break Some(e),
                    }
                };
                if let Some(first) = first {
                    assert_eq!(p.next(), Err(first));
                }
            }
        }
    }
}

#[test]
fn text_valid() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("empty page", "", &[]),
        ("no final line break", "a 1", &[r#"{__name__="a"} = 1.0"#]),
        ("blank lines", "\n\n \t\na 1\n\n", &[r#"{__name__="a"} = 1.0"#]),
        (
            "comments",
            "#\n# just words\n#x\n# HELPx y\n# HELP\n\t# TYPE\n# UNIT a b\n",
            &["COMMENT", "COMMENT", "COMMENT", "COMMENT", "COMMENT", "COMMENT", "COMMENT"],
        ),
        // In the text format `\"` is not an escape in HELP: it stays as written.
        ("help escapes", "# HELP m a\\\\b\\nc\\\"d\n", &["HELP m a\\b\nc\\\"d"]),
        // The text is the rest of the line minus one separator; only blanks make it empty.
        (
            "help spacing",
            "# HELP m   \n# HELP m  two\n# HELP m\tx\n#\tHELP\tm\t\ty\n# HELP m\n",
            &["HELP m ", "HELP m  two", "HELP m x", "HELP m \ty", "HELP m "],
        ),
        (
            "types",
            "# TYPE a counter\n# TYPE b gauge\n#  TYPE c histogram\n# TYPE d summary\n# TYPE e untyped\n",
            &["TYPE a Counter", "TYPE b Gauge", "TYPE c Histogram", "TYPE d Summary", "TYPE e Unknown"],
        ),
        (
            "label separators",
            "a{b=\"1\",c=\"2\",} 1\na { b = \"1\" , c=\"2\" } 2\na{b=\"1\"c=\"2\"}3\na{} 4\na\t{c=\"2\",\tb=\"1\"}\t5\n",
            &[
                r#"{__name__="a", b="1", c="2"} = 1.0"#,
                r#"{__name__="a", b="1", c="2"} = 2.0"#,
                r#"{__name__="a", b="1", c="2"} = 3.0"#,
                r#"{__name__="a"} = 4.0"#,
                r#"{__name__="a", b="1", c="2"} = 5.0"#,
            ],
        ),
        // `\"`, `\\` and `\n` are resolved; `\t` stays a backslash and a `t`.
        ("value escapes", "a{b=\"q\\\"x\\\\y\\nz\\t\"} 1\n", &[r#"{__name__="a", b="q\"x\\y\nz\\t"} = 1.0"#]),
        (
            "raw line break in value",
            "a{b=\"x\ny\"} 1\nc 2\n",
            &[r#"{__name__="a", b="x\ny"} = 1.0"#, r#"{__name__="c"} = 2.0"#],
        ),
        (
            "values",
            "a NaN\na +Inf\na -Inf\na inf\na 1e3\na -0.5\na .5\na 4.9e-324\n",
            &[
                r#"{__name__="a"} = NaN"#,
                r#"{__name__="a"} = inf"#,
                r#"{__name__="a"} = -inf"#,
                r#"{__name__="a"} = inf"#,
                r#"{__name__="a"} = 1000.0"#,
                r#"{__name__="a"} = -0.5"#,
                r#"{__name__="a"} = 0.5"#,
                r#"{__name__="a"} = 5e-324"#,
            ],
        ),
        (
            "timestamps",
            "a 1 0\na 2\t1395066363000 \t\na 3 9223372036854775807",
            &[
                r#"{__name__="a"} = 1.0 @0"#,
                r#"{__name__="a"} = 2.0 @1395066363000"#,
                r#"{__name__="a"} = 3.0 @9223372036854775807"#,
            ],
        ),
        ("name characters", "a:b_c9 1\n_x 2\n", &[r#"{__name__="a:b_c9"} = 1.0"#, r#"{__name__="_x"} = 2.0"#]),
        // The value token is any run without blanks or `{`, so a sign can follow the name.
        ("value glued to name", "a+1\n", &[r#"{__name__="a"} = 1.0"#]),
        // A NUL where a token starts is Prometheus's end of input.
        ("NUL at a line start ends the page", "a 1\n\0garbage{\n", &[r#"{__name__="a"} = 1.0"#]),
        ("NUL after blanks ends the page", "a 1\n  \0x\n", &[r#"{__name__="a"} = 1.0"#]),
        ("NUL in a #comment ends the page", "a 1\n#x\0y\nb 2\n", &[r#"{__name__="a"} = 1.0"#]),
        (
            "NUL inside values, help and blank comments",
            "# HELP m x\0y\n# a\0b\na{b=\"\0\"} 1\n",
            &["HELP m x\0y", "COMMENT", "{__name__=\"a\", b=\"\\0\"} = 1.0"],
        ),
        ("OpenMetrics words are comments", "# EOF\na 1\n", &["COMMENT", r#"{__name__="a"} = 1.0"#]),
    ];
    check_valid(Format::PrometheusText, cases);
}

#[test]
fn text_invalid() {
    let cases: &[(&str, usize, &str)] = &[
        ("a\n", 1, r#"expected value after metric, got "\n" ("INVALID") while parsing: "a\n""#),
        ("a", 1, r#"expected value after metric, got "" ("INVALID")"#),
        ("a{b='c'} 1\n", 1, r#"expected label value, got "'" ("INVALID") while parsing: "a{b='""#),
        ("a{b=\n", 1, "expected label value"),
        ("a{\u{ff}=\"foo\"} 1\n", 1, r#"expected label name, got "ÿ" ("INVALID")"#),
        ("a true\n", 1, r#"strconv.ParseFloat: parsing "true": invalid syntax while parsing: "a true""#),
        ("something_weird{problem=\"", 1, "expected label value"),
        ("empty_label_name{=\"\"} 0", 1, r#"expected label name, got "=" ("EQUAL")"#),
        ("foo 1_2\n", 1, "unsupported character in float"),
        ("foo 0x1p-3\n", 1, "unsupported character in float"),
        ("foo 0x10\n", 1, "invalid syntax"),
        ("foo 0 1_2\n", 1, r#"expected next entry after timestamp, got "_" ("INVALID")"#),
        ("{a=\"b\"} 1\n", 1, r#"expected a valid start token, got "{" ("INVALID")"#),
        ("a 1 2 3\n", 1, r#"expected next entry after timestamp, got "3" ("TIMESTAMP")"#),
        ("a 1 -2\n", 1, r#"expected timestamp or new record, got "-" ("INVALID")"#),
        ("a 1 2.5\n", 1, "expected next entry after timestamp"),
        ("a 1\r\n", 1, r#"parsing "1\r": invalid syntax"#),
        ("a 1 99999999999999999999\n", 1, r#"strconv.ParseInt: parsing "99999999999999999999": value out of range"#),
        ("a 1e999\n", 1, "value out of range"),
        ("# TYPE a meter\n", 1, r#"invalid metric type "meter""#),
        ("# TYPE a counter \n", 1, r#"invalid metric type "counter ""#),
        ("# TYPE a  counter\n", 1, r#"invalid metric type " counter""#),
        ("# TYPE a gaugehistogram\n", 1, r#"invalid metric type "gaugehistogram""#),
        ("# TYPE a unknown\n", 1, r#"invalid metric type "unknown""#),
        ("# TYPE a\n", 1, r#"invalid metric type """#),
        ("# HELP 1a x\n", 1, r#"expected metric name after HELP, got "1" ("INVALID")"#),
        ("# TYPE {a} x\n", 1, "expected metric name after TYPE"),
        ("a{b=\"c\",,} 1", 1, r#"expected label name, got "," ("COMMA")"#),
        ("a{,b=\"c\"} 1", 1, "expected label name, got \",\""),
        ("a{b} 1", 1, r#"expected equal, got "}" ("BCLOSE")"#),
        ("a{b:c=\"d\"} 1", 1, r#"expected equal, got ":" ("INVALID")"#),
        ("  a 1\n", 1, "invalid metric name or label names"),
        ("a 1\n\n# c\nb{\n", 4, r#"expected label name, got "\n" ("INVALID")"#),
        ("a{b=\"x\ny\"} 1\nc{ 2\n", 3, "expected label name"),
        ("a{b=\"x\ny\" 1\n", 2, r#"expected label name, got "1" ("INVALID")"#),
        ("a{b=\"c\"} 1 # {x=\"y\"} 1\n", 1, "expected timestamp or new record"),
    ];
    // Invalid UTF-8 cannot be written in a `&str` literal, so those cases are bytes.
    let byte_cases: &[(&[u8], usize, &str)] = &[
        (b"a{b=\"\xff\"} 1\n", 1, "invalid UTF-8 label value"),
        (b"a 1\na{b=\"\xc3\x28\"} 1\n", 2, "invalid UTF-8 label value"),
        (b"# HELP a \xffx\n", 1, "is not a valid utf8 string"),
        // The first byte after the name is the separator, even when it starts a character.
        ("# HELP a\u{e9}x\n".as_bytes(), 1, "is not a valid utf8 string"),
        (b"a{\xff=\"foo\"} 1\n", 1, "expected label name, got \"\u{fffd}\" (\"INVALID\")"),
    ];
    check_invalid(Format::PrometheusText, cases);
    for (input, line, want) in byte_cases {
        let e = drain(input, Format::PrometheusText).expect_err("must fail");
        assert_eq!(e.line, *line, "{input:?}: {e}");
        assert!(e.msg.contains(want), "{input:?}: {:?} lacks {want:?}", e.msg);
    }
}

#[test]
fn openmetrics_valid() {
    let om = Format::OpenMetrics;
    let cases: &[(&str, &str, &[&str])] = &[
        ("only EOF", "# EOF\n", &[]),
        ("EOF without line break", "a 1\n# EOF", &[r#"{__name__="a"} = 1.0"#]),
        (
            "histogram with metadata and exemplar",
            "# HELP rpc_seconds RPC latency.\n# TYPE rpc_seconds histogram\n# UNIT rpc_seconds seconds\n\
             rpc_seconds_bucket{le=\"0.1\"} 3 # {trace_id=\"abc\"} 0.05 1700000000.5\n\
             rpc_seconds_bucket{le=\"+Inf\"} 5\nrpc_seconds_count 5\nrpc_seconds_sum 1.5\n\
             rpc_seconds_created 1.7e9\n# EOF\n",
            &[
                "HELP rpc_seconds RPC latency.",
                "TYPE rpc_seconds Histogram",
                "UNIT rpc_seconds seconds",
                r#"{__name__="rpc_seconds_bucket", le="0.1"} = 3.0 # {trace_id="abc"} 0.05 @1700000000500"#,
                r#"{__name__="rpc_seconds_bucket", le="+Inf"} = 5.0"#,
                r#"{__name__="rpc_seconds_count"} = 5.0"#,
                r#"{__name__="rpc_seconds_sum"} = 1.5"#,
                r#"{__name__="rpc_seconds_created"} = 1700000000.0"#,
            ],
        ),
        // Seconds times 1000, truncated: 1.001 is just below itself in binary, so 1000.
        (
            "timestamps",
            "a 1 1520879607.789\na 2 -1.5\na 3 1.001\na 4 1e3\na 5 0\n# EOF\n",
            &[
                r#"{__name__="a"} = 1.0 @1520879607789"#,
                r#"{__name__="a"} = 2.0 @-1500"#,
                r#"{__name__="a"} = 3.0 @1000"#,
                r#"{__name__="a"} = 4.0 @1000000"#,
                r#"{__name__="a"} = 5.0 @0"#,
            ],
        ),
        (
            "exemplars",
            "c_total 1 # {} 2\nc_total 1 10 # {a=\"b\",c=\"d\"} 2 11\nc_total 1 # {a=\"x\\\"y\"} NaN\n# EOF\n",
            &[
                r#"{__name__="c_total"} = 1.0 # {} 2.0"#,
                r#"{__name__="c_total"} = 1.0 @10000 # {a="b", c="d"} 2.0 @11000"#,
                r#"{__name__="c_total"} = 1.0 # {a="x\"y"} NaN"#,
            ],
        ),
        // OpenMetrics HELP resolves `\"` too.
        ("help escapes", "# HELP m a\\\"b\\\\c\\nd\\x\n# EOF\n", &["HELP m a\"b\\c\nd\\x"]),
        ("empty help and unit", "# HELP m \n# UNIT m \n# EOF\n", &["HELP m ", "UNIT m "]),
        (
            "all types",
            "# TYPE a counter\n# TYPE b gauge\n# TYPE c histogram\n# TYPE d gaugehistogram\n# TYPE e summary\n\
             # TYPE f info\n# TYPE g stateset\n# TYPE h unknown\n# EOF\n",
            &[
                "TYPE a Counter",
                "TYPE b Gauge",
                "TYPE c Histogram",
                "TYPE d GaugeHistogram",
                "TYPE e Summary",
                "TYPE f Info",
                "TYPE g StateSet",
                "TYPE h Unknown",
            ],
        ),
        // Prometheus 2.42 checks no stateset, info or counter family rules: these are samples.
        (
            "family rules Prometheus does not check",
            "# TYPE s stateset\ns{s=\"a\"} 7\n# TYPE i info\ni_info{v=\"1\"} 2\n# TYPE c counter\nc 1\nc_total -1\n# EOF\n",
            &[
                "TYPE s StateSet",
                r#"{__name__="s", s="a"} = 7.0"#,
                "TYPE i Info",
                r#"{__name__="i_info", v="1"} = 2.0"#,
                "TYPE c Counter",
                r#"{__name__="c"} = 1.0"#,
                r#"{__name__="c_total"} = -1.0"#,
            ],
        ),
        (
            "unit suffix",
            "# UNIT a_b_seconds seconds\n# UNIT x_y y\n# EOF\n",
            &["UNIT a_b_seconds seconds", "UNIT x_y y"],
        ),
        (
            "value forms",
            "a -Inf\na nan\na 17.0\n# EOF\n",
            &[r#"{__name__="a"} = -inf"#, r#"{__name__="a"} = NaN"#, r#"{__name__="a"} = 17.0"#],
        ),
    ];
    check_valid(om, cases);
}

#[test]
fn openmetrics_invalid() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 1, "data does not end with # EOF"),
        ("a 1\n", 2, "data does not end with # EOF"),
        ("a 1", 1, "data does not end with # EOF"),
        ("c_total 1 # {a=\"b\"} 4", 1, "data does not end with # EOF"),
        ("\n", 1, r#"expected a valid start token, got "\n" ("INVALID")"#),
        ("a 1\n\n# EOF\n", 2, "expected a valid start token"),
        (" a 1\n# EOF\n", 1, r#"expected a valid start token, got " " ("INVALID")"#),
        ("9\n", 1, "expected a valid start token"),
        ("# comment\n# EOF\n", 1, "expected a valid start token"),
        ("#  TYPE c counter\n", 1, "expected a valid start token"),
        ("#\tTYPE c counter\n", 1, "expected a valid start token"),
        ("# TYPE u untyped\n", 1, r#"invalid metric type "untyped""#),
        ("# TYPE c counter \n", 1, r#"invalid metric type "counter ""#),
        ("# TYPE c  counter\n", 1, r#"invalid metric type " counter""#),
        ("# TYPE  c counter\n", 1, r#"expected metric name after TYPE, got " " ("INVALID")"#),
        ("# UNIT metric suffix\n", 1, r#"unit not a suffix of metric "metric""#),
        ("# UNIT metricsuffix suffix\n", 1, "unit not a suffix"),
        ("# UNIT seconds seconds\n", 1, "unit not a suffix"),
        ("# HELP m\n", 1, r#"expected text in HELP, got "\n" ("INVALID")"#),
        ("# UNIT m x", 1, "expected text in UNIT"),
        ("a\t1\n", 1, r#"expected value after metric, got "\t" ("INVALID")"#),
        ("a  1\n", 1, "expected value after metric"),
        ("a\n", 1, "expected value after metric"),
        ("a", 1, r#"expected value after metric, got "" ("EOF")"#),
        ("a 1\t2\n", 1, r#"parsing "1\t2": invalid syntax"#),
        ("a 1 2 \n", 1, r#"expected next entry after timestamp, got " " ("INVALID")"#),
        ("a 1 2 3\n", 1, r#"expected next entry after timestamp, got " 3" ("TIMESTAMP")"#),
        ("a 1  2\n", 1, "expected timestamp or # symbol"),
        ("a 1 1z\n", 1, r#"parsing "1z": invalid syntax"#),
        ("a 1 NaN\n", 1, "invalid timestamp NaN"),
        ("a 1 -Inf\n", 1, "invalid timestamp -Inf"),
        ("a 1 0x1p3\n", 1, "unsupported character in float"),
        ("# EOF\na 1", 2, "unexpected data after # EOF"),
        ("# EOF\n\n", 2, "unexpected data after # EOF"),
        ("# EOFa 1", 1, "unexpected data after # EOF"),
        ("# EOF \n", 1, "unexpected data after # EOF"),
        ("a{b=\"c\",} 1\n", 1, r#"expected label name, got "}" ("BCLOSE")"#),
        ("a{,b=\"c\"} 1\n", 1, r#"expected label name or left brace, got "," ("COMMA")"#),
        ("a{b=\"c\"d=\"e\"} 1\n", 1, r#"expected comma, got "d" ("LNAME")"#),
        ("a{b=\"c\",,d=\"e\"} 1\n", 1, r#"expected label name, got "," ("COMMA")"#),
        ("a{b=\"c\" } 1\n", 1, "expected comma or left brace"),
        ("a{ b=\"c\"} 1\n", 1, "expected label name or left brace"),
        ("a{b =\"c\"} 1\n", 1, "expected equal"),
        ("a{b=\"x\ny\"} 1\n# EOF\n", 1, "expected label value"),
        ("a{b='c'} 1\n", 1, "expected label value"),
        ("empty_label_name{=\"\"} 0\n", 1, r#"expected label name or left brace, got "=" ("EQUAL")"#),
        ("a {b=\"c\"} 1\n", 1, "invalid syntax"),
        ("a 1 # {a=\"b\"} 1\n# EOF\n", 1, "metric name a does not support exemplars"),
        ("a_count 1 # {a=\"b\"} 1\n", 1, "metric name a_count does not support exemplars"),
        ("a_total 1 # {a=\"b\"}\n", 1, r#"expected value after exemplar labels, got "\n" ("INVALID")"#),
        ("a_total 1 # {a=\"b\"} 1 2 3\n", 1, "expected next entry after exemplar timestamp"),
        ("a_total 1 # {a=\"b\"} 1 NaN\n", 1, "invalid exemplar timestamp NaN"),
        ("a_total 1 # {a} 1\n", 1, r#"expected equal, got "}" ("BCLOSE")"#),
        ("a_total 1 # {a=\"b\"} 1  2\n", 1, "expected timestamp or comment"),
        ("a_total 1 # x\n", 1, r#"expected timestamp or # symbol, got " " ("INVALID")"#),
        ("a 1 #\n", 1, "expected timestamp or # symbol"),
        ("# comment\n", 1, r#"expected a valid start token, got "c" ("INVALID")"#),
        ("#\tTYPE c counter\n", 1, r#"expected a valid start token, got "\t" ("INVALID")"#),
        ("# TYPE a gauge\na 1\na x\n# EOF\n", 3, r#"parsing "x": invalid syntax"#),
    ];
    check_invalid(Format::OpenMetrics, cases);
    let e = drain(b"a{b=\"\xff\"} 1\n# EOF\n", Format::OpenMetrics).expect_err("must fail");
    assert_eq!((e.line, e.msg.contains("invalid UTF-8 label value")), (1, true), "{e}");
    let e = drain(b"# HELP m \xff\n# EOF\n", Format::OpenMetrics).expect_err("must fail");
    assert!(e.msg.contains("is not a valid utf8 string"), "{e}");
}

#[test]
fn labels_validation() {
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let eof = if format == Format::OpenMetrics { "# EOF\n" } else { "" };
        let page = format!("# HELP a x\na{{b=\"1\",b=\"2\"}} 1\na{{__name__=\"x\"}} 1\na{{b=\"\",b=\"2\"}} 1\n{eof}");
        let mut p = Parser::new(page.as_bytes(), format);
        assert!(matches!(p.next(), Ok(Some(Entry::Help { .. }))));
        assert_eq!(p.metric_name(), None);
        assert!(p.labels().is_err(), "no series yet");

        assert!(matches!(p.next(), Ok(Some(Entry::Series { .. }))));
        assert_eq!(p.metric_name(), Some("a"));
        let e = p.labels().expect_err("duplicate b");
        assert_eq!((e.line, e.msg.as_str()), (2, r#"label name "b" is not unique"#));

        assert!(matches!(p.next(), Ok(Some(Entry::Series { .. }))));
        let e = p.labels().expect_err("duplicate __name__");
        assert_eq!((e.line, e.msg.as_str()), (3, r#"label name "__name__" is not unique"#));

        // An empty value removes every label of its name before the duplicate check: what
        // Prometheus 2.42 stores for this line is `a` (tests/it/exposition.rs checks that
        // against a real scrape).
        assert!(matches!(p.next(), Ok(Some(Entry::Series { .. }))));
        assert_eq!(p.labels().unwrap(), Labels::from_pairs(&[("__name__", "a")]).unwrap());

        // Found by the text_parse fuzz target: an empty `__name__` takes the metric name away
        // too, which fails Prometheus's scrape (checked in tests/it/exposition.rs).
        let page = format!("a{{b=\"\",__name__=\"\",c=\"1\"}} 1\n{eof}");
        let mut p = Parser::new(page.as_bytes(), format);
        assert!(matches!(p.next(), Ok(Some(Entry::Series { .. }))));
        assert_eq!(p.labels().unwrap_err().msg, "missing metric name (__name__ label)");
        assert_eq!(p.next(), Ok(None));
        assert_eq!(p.metric_name(), None);
    }
}

#[test]
fn labels_into_sorts_and_reuses() {
    let page = b"m{z=\"1\",b=\"\",c=\"3\",A=\"4\"} 1\nn 2\n";
    let mut p = Parser::new(page, Format::PrometheusText);
    let mut out = vec![Label::new("stale", "x")];
    assert!(p.next().unwrap().is_some());
    p.labels_into(&mut out).unwrap();
    let names: Vec<&str> = out.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["A", "__name__", "c", "z"]);
    assert!(p.next().unwrap().is_some());
    p.labels_into(&mut out).unwrap();
    assert_eq!(out, [Label::new("__name__", "n")]);
}

#[test]
fn series_bytes_are_the_text_as_written() {
    let cases: &[(Format, &str, &[&str])] = &[
        (Format::PrometheusText, "a {b=\"c\"}  1\nd 2 3\ne{} 4\n", &["a {b=\"c\"}", "d", "e{}"]),
        (Format::OpenMetrics, "a_total{b=\"c\"} 1 # {x=\"y\"} 1\nd 2 3\n# EOF\n", &["a_total{b=\"c\"}", "d"]),
    ];
    for (format, page, want) in cases {
        let mut p = Parser::new(page.as_bytes(), *format);
        let mut got = Vec::new();
        while let Some(e) = p.next().unwrap() {
            if let Entry::Series { series, .. } = e {
                got.push(String::from_utf8(series.to_vec()).unwrap());
            }
        }
        assert_eq!(got, *want, "{format:?}");
    }
}

#[test]
fn exemplar_details() {
    let page = b"a_total 1 # {b=\"1\",b=\"2\"} 3\na_total 2\na_bucket{le=\"1\"} 3 # {} 4 5.5\n# EOF\n";
    let mut p = Parser::new(page, Format::OpenMetrics);
    assert!(p.next().unwrap().is_some());
    // Duplicate exemplar label names drop the exemplar, not the sample.
    assert_eq!(p.exemplar(), None);
    assert!(p.labels().is_ok());
    assert!(p.next().unwrap().is_some());
    assert_eq!(p.exemplar(), None);
    assert!(p.next().unwrap().is_some());
    let want = Exemplar { labels: Labels::default(), value: 4.0, timestamp_ms: Some(5500) };
    assert_eq!(p.exemplar(), Some(want));
    // The text format has no exemplars.
    let mut p = Parser::new(b"a_total 1\n", Format::PrometheusText);
    assert!(p.next().unwrap().is_some());
    assert_eq!(p.exemplar(), None);
}

#[test]
fn nan_values_carry_prometheus_bits() {
    for (format, page) in [(Format::PrometheusText, "a NaN\n"), (Format::OpenMetrics, "a nan\n# EOF\n")] {
        let mut p = Parser::new(page.as_bytes(), format);
        let Some(Entry::Series { value, .. }) = p.next().unwrap() else { panic!("no series") };
        assert_eq!(value.to_bits(), float::NORMAL_NAN_BITS);
    }
}

#[test]
fn content_types() {
    let cases: &[(Option<&str>, Format)] = &[
        (None, Format::PrometheusText),
        (Some(""), Format::PrometheusText),
        (Some("text/plain; version=0.0.4; charset=utf-8"), Format::PrometheusText),
        (Some("application/openmetrics-text; version=1.0.0; charset=utf-8"), Format::OpenMetrics),
        (Some("application/openmetrics-text;version=0.0.1"), Format::OpenMetrics),
        (Some("Application/OpenMetrics-Text"), Format::OpenMetrics),
        (Some(" application/openmetrics-text "), Format::OpenMetrics),
        (Some("application/openmetrics-textual"), Format::PrometheusText),
        (Some("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily"), Format::PrometheusText),
    ];
    for (ct, want) in cases {
        assert_eq!(Format::from_content_type(*ct), *want, "{ct:?}");
    }
}

/// A generated exemplar: labels, value, timestamp in whole seconds.
type GenExemplar = (Vec<(String, String)>, f64, Option<i64>);

/// One generated series for the round trip.
#[derive(Debug, Clone)]
struct GenSeries {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
    /// Text: milliseconds (non-negative: the text format has no sign there). OpenMetrics:
    /// whole seconds, which convert to milliseconds exactly.
    timestamp: Option<i64>,
    exemplar: Option<GenExemplar>,
    /// Text format only: extra blanks and a trailing comma.
    sloppy: bool,
}

fn label_pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,6}", any::<String>(), 0..4)
        .prop_map(|m| m.into_iter().filter(|(k, _)| k != METRIC_NAME).collect())
}

fn gen_value() -> impl Strategy<Value = f64> {
    prop_oneof![any::<f64>(), Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(0.0), -1e6..1e6f64]
}

fn gen_series() -> impl Strategy<Value = GenSeries> {
    (
        "[a-zA-Z_:][a-zA-Z0-9_:]{0,10}",
        any::<bool>(),
        label_pairs(),
        gen_value(),
        prop::option::of(-10_000_000_000i64..10_000_000_000),
        prop::option::of((label_pairs(), gen_value(), prop::option::of(0i64..10_000_000_000))),
        any::<bool>(),
    )
        .prop_map(|(name, counter, labels, value, timestamp, exemplar, sloppy)| GenSeries {
            name: if counter { format!("{name}_total") } else { name },
            labels,
            value,
            timestamp,
            exemplar,
            sloppy,
        })
}

fn render_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v:?}")
    }
}

fn render_labels(labels: &[(String, String)], sloppy: bool) -> String {
    let sep = if sloppy { " ,\t" } else { "," };
    let body: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")))
        .collect();
    let trailing = if sloppy && !labels.is_empty() { "," } else { "" };
    format!("{{{}{trailing}}}", body.join(sep))
}

fn render(series: &[GenSeries], format: Format) -> String {
    let mut page = String::new();
    for s in series {
        page.push_str(&s.name);
        let sloppy = s.sloppy && format == Format::PrometheusText;
        if !s.labels.is_empty() || sloppy {
            page.push_str(if sloppy { " \t" } else { "" });
            page.push_str(&render_labels(&s.labels, sloppy));
        }
        page.push_str(if sloppy { "\t " } else { " " });
        page.push_str(&render_value(s.value));
        match (format, s.timestamp) {
            (Format::PrometheusText, Some(t)) => page.push_str(&format!(" {}", t.abs())),
            (Format::OpenMetrics, Some(t)) => page.push_str(&format!(" {t}")),
            _ => {}
        }
        if let (Format::OpenMetrics, Some((labels, v, ts))) = (format, &s.exemplar)
            && s.name.ends_with("_total")
        {
            page.push_str(&format!(" # {} {}", render_labels(labels, false), render_value(*v)));
            if let Some(ts) = ts {
                page.push_str(&format!(" {ts}"));
            }
        }
        page.push('\n');
    }
    if format == Format::OpenMetrics {
        page.push_str("# EOF\n");
    }
    page
}

fn same_value(got: f64, want: f64) -> bool {
    if want.is_nan() { got.to_bits() == float::NORMAL_NAN_BITS } else { got.to_bits() == want.to_bits() }
}

fn expected_labels(pairs: &[(String, String)], name: Option<&str>) -> Labels {
    let mut all: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    if let Some(n) = name {
        all.push((METRIC_NAME, n));
    }
    Labels::from_pairs(&all).unwrap()
}

proptest! {
    #[test]
    fn round_trip(series in prop::collection::vec(gen_series(), 0..8), om in any::<bool>()) {
        let format = if om { Format::OpenMetrics } else { Format::PrometheusText };
        let page = render(&series, format);
        let mut p = Parser::new(page.as_bytes(), format);
        for s in &series {
            let entry = p.next();
            let Ok(Some(Entry::Series { timestamp_ms, value, .. })) = entry else {
                return Err(TestCaseError::fail(format!("{entry:?} for {s:?} in {page:?}")));
            };
            prop_assert_eq!(p.labels().unwrap(), expected_labels(&s.labels, Some(&s.name)));
            prop_assert!(same_value(value, s.value), "{} vs {}", value, s.value);
            let want_ts = match format {
                Format::PrometheusText => s.timestamp.map(i64::abs),
                Format::OpenMetrics => s.timestamp.map(|t| t * 1000),
            };
            prop_assert_eq!(timestamp_ms, want_ts);
            let want_ex = match (&s.exemplar, format) {
                (Some((l, v, ts)), Format::OpenMetrics) if s.name.ends_with("_total") => Some((l, *v, ts.map(|t| t * 1000))),
                _ => None,
            };
            match (p.exemplar(), want_ex) {
                (None, None) => {}
                (Some(got), Some((l, v, ts))) => {
                    prop_assert_eq!(got.labels, expected_labels(l, None));
                    prop_assert!(same_value(got.value, v));
                    prop_assert_eq!(got.timestamp_ms, ts);
                }
                (got, want) => return Err(TestCaseError::fail(format!("exemplar {got:?}, want {want:?}"))),
            }
        }
        prop_assert_eq!(p.next(), Ok(None));
    }

    #[test]
    fn help_round_trip(text in any::<String>(), om in any::<bool>()) {
        let format = if om { Format::OpenMetrics } else { Format::PrometheusText };
        let mut escaped = text.replace('\\', r"\\").replace('\n', r"\n");
        if om {
            escaped = escaped.replace('"', "\\\"");
        }
        let page = format!("# HELP m {escaped}\n{}", if om { "# EOF\n" } else { "" });
        let mut p = Parser::new(page.as_bytes(), format);
        let entry = p.next().unwrap();
        // The text format drops a help made only of blanks (Prometheus's lexer reads it as
        // whitespace).
        let want = if !om && text.bytes().all(|b| b == b' ' || b == b'\t') { "" } else { text.as_str() };
        prop_assert_eq!(entry, Some(Entry::Help { metric: "m", text: Cow::Borrowed(want) }));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200), om in any::<bool>()) {
        let format = if om { Format::OpenMetrics } else { Format::PrometheusText };
        drain_all(&bytes, format);
    }

    #[test]
    fn mutated_pages_never_panic(series in prop::collection::vec(gen_series(), 1..4), om in any::<bool>(), at in any::<prop::sample::Index>(), byte in any::<u8>(), insert in any::<bool>()) {
        let format = if om { Format::OpenMetrics } else { Format::PrometheusText };
        let mut page = render(&series, format).into_bytes();
        let i = at.index(page.len());
        if insert { page.insert(i, byte) } else { page[i] = byte }
        drain_all(&page, format);
        drain_all(&page[..i], format);
    }
}

/// Reads a page to its end or first error, asking for everything on every series.
fn drain_all(bytes: &[u8], format: Format) {
    let mut p = Parser::new(bytes, format);
    for _ in 0..=bytes.len() {
        match p.next() {
            Ok(Some(Entry::Series { .. })) => {
                let _ = p.labels();
                let _ = p.exemplar();
                let _ = p.metric_name();
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return,
        }
    }
    panic!("parser did not finish a {}-byte page", bytes.len());
}

/// Inputs the fuzz targets crashed on, kept with their root cause.
#[test]
fn fuzz_regressions() {
    // text_parse: `ikzzzzk{XXX="" X="" __name__ =""} 6` — dropping every label whose name
    // has an empty value also dropped `__name__`, so `labels()` returned a set without a
    // metric name. Prometheus fails such a scrape ("missing metric name"), and so do we now.
    let page = include_bytes!("../../../testdata/exposition/fuzz/text_parse-empty-metric-name");
    let mut p = Parser::new(page, Format::PrometheusText);
    assert!(matches!(p.next(), Ok(Some(Entry::Series { .. }))));
    assert_eq!(p.metric_name(), Some("ikzzzzk"));
    let e = p.labels().unwrap_err();
    assert_eq!((e.line, e.msg.as_str()), (1, "missing metric name (__name__ label)"));
    drain_all(page, Format::PrometheusText);
}
