//! Go-vs-Rust behaviour tables and fast-path properties.
//!
//! Expected values in the tables below were derived by hand from Go's `regexp/syntax` parser
//! (Go 1.22+, `Perl` flags) and Prometheus' `^(?s:` + re + `)$` anchoring, not from our output.

use super::analyze::Strategy as Path;
use super::{FastRegex, compile_go, translate_go};
use proptest::prelude::*;

fn compile(p: &str) -> FastRegex {
    FastRegex::new(p).unwrap_or_else(|e| panic!("{p:?} should compile: {e}"))
}

/// Patterns whose Go meaning differs from a naive Rust compile, with inputs and Go's answer.
#[test]
fn go_semantics_table() {
    let cases: &[(&str, &str, bool)] = &[
        // \Q...\E quoting; an unterminated \Q runs to the end.
        (r"\Qa.b\E", "a.b", true),
        (r"\Qa.b\E", "axb", false),
        (r"\Qa.b", "a.b", true),
        (r"\Qab\E*", "abbb", true),
        (r"\Qab\E*", "abab", false),
        (r"x*\Q\E*", "xxx", true), // `\Q\E` is nothing: the second `*` repeats `x*`
        // A brace that does not start a valid repetition is literal.
        ("a{", "a{", true),
        ("x{y}", "x{y}", true),
        ("a{,3}", "a{,3}", true),
        ("a{,3}", "aaa", false),
        ("a{01}", "a{01}", true), // leading zeros are not a count
        ("a{1,", "a{1,", true),
        ("a{2}", "aa", true),
        ("a{2,}", "aaaa", true),
        ("a{0}", "", true),
        ("(?:x{10}){100}", &"x".repeat(1000), true),
        // Brackets inside classes.
        ("[[]", "[", true),
        ("[]a]", "]", true),
        ("[]a]", "a", true),
        ("[^]a]", "]", false),
        ("[^]a]", "b", true),
        ("[a-]", "-", true),
        ("[a-b-c]", "-", true),
        ("[a-b-c]", "c", true),
        ("[a-b-c]", "B", false),
        // Rust's class set operators are plain characters in Go.
        ("[a&&b]", "&", true),
        ("[a&&b]", "a", true),
        ("[a&&b]", "b", true),
        ("[!--]", ",", true), // a range from `!` to `-`, where Rust would see `--`
        ("[!--]", "-", true),
        ("[!--]", ".", false),
        ("[a~~b]", "~", true),
        ("[a~~b]", "b", true),
        // Perl classes and word boundaries are ASCII-only.
        (r"\d", "5", true),
        (r"\d", "٣", false),
        (r"\D", "٣", true),
        (r"\w", "_", true),
        (r"\w", "é", false),
        (r"\W", "é", true),
        (r"\s", " ", true),
        (r"\s", "\u{b}", false), // Go's \s has no vertical tab
        (r"\s", "\u{a0}", false),
        (r"\S", "\u{b}", true),
        (r"[\d]", "٣", false),
        (r"[^\d]", "٣", true),
        (r"[\D]", "5", false),
        (r"[\W\d]", "5", true),
        (r"[\W\d]", "a", false),
        (r"\bfoo\b", "foo", true),
        (r"é\b", "é", false), // é is not a word character for Go
        (r"a\b", "a", true),
        (r"\Bé", "é", true),
        (r"a\Bb", "ab", true),
        // Octal and hex escapes.
        (r"\101", "A", true),
        (r"\0", "\0", true),
        (r"\08", "\u{0}8", true),
        (r"\12", "\n", true),
        (r"\141\142", "ab", true),
        (r"\400", "Ā", true),
        (r"\x41", "A", true),
        (r"\x{1F600}", "😀", true),
        (r"\v\a\f", "\u{b}\u{7}\u{c}", true),
        (r"\x{D800}", "", false), // a surrogate matches nothing
        (r"\x{D800}|a", "a", true),
        (r"[\x{D800}-\x{E000}]", "\u{E000}", true),
        // Escaped punctuation is literal, including characters Rust gives meaning to.
        (r"\<", "<", true),
        (r"\>", ">", true),
        (r"a\ b", "a b", true),
        (r"\_", "_", true),
        (r"\.", ".", true),
        (r"\.", "a", false),
        // Flags.
        ("(?i)abc", "ABC", true),
        ("(?i:a)b", "Ab", true),
        ("(?i:a)b", "AB", false),
        ("a(?i)b", "aB", true),
        ("a(?i)b", "AB", false),
        ("a(?i)*", "aaa", true), // the `*` applies to `a`
        ("a(?i)*", "", true),
        ("(?i)k", "\u{212A}", true), // Kelvin sign folds to k
        (r"(?i)\w", "\u{212A}", true),
        (r"(?i)\W", "\u{212A}", false),
        ("(?i)[^k]", "\u{212A}", false),
        ("(?ii)a", "A", true),
        ("(?i-i)a", "A", false),
        ("(?)a", "a", true),
        ("(?i)a|b", "B", true), // flags last to the end of the group, across `|`
        ("((?i)a)b", "AB", false),
        ("a.b", "a\nb", true), // the (?s: wrapper
        ("(?-s:.)", "\n", false),
        ("(?-s:.)", "a", true),
        ("(?m)^a$", "a", true),
        ("(?U)a+", "aaa", true),
        ("[^a]", "\n", true),
        // Groups.
        ("(?P<name>a)b", "ab", true),
        ("(?<n>a)", "a", true),
        ("(?P<1>a)", "a", true),
        ("(?P<x>a)(?P<x>b)", "ab", true),
        ("()", "", true),
        ("(|a)", "", true),
        ("a|", "", true),
        ("^*a", "a", true),
        ("(a*)*", "aa", true),
        ("a*?", "aaa", true),
        // Unicode classes.
        (r"\pL", "é", true),
        (r"\pL", "1", false),
        (r"\p{Greek}", "α", true),
        (r"\p{^Greek}", "α", false),
        (r"\p{^Greek}", "a", true),
        (r"\PL", "1", true),
        (r"\P{^L}", "a", true),
        (r"[\p{Greek}\d]", "α", true),
        (r"[\p{Greek}\d]", "5", true),
        (r"[^\P{Greek}]", "α", true),
        // POSIX classes (only inside brackets).
        ("[[:alpha:]]", "a", true),
        ("[[:alpha:]]", "é", false),
        ("[[:^alpha:]]", "1", true),
        ("[[:word:]]", "_", true),
        ("[[:space:]]", "\u{b}", true),
        ("[[:punct:]]", "`", true),
        ("[:alpha:]", ":", true),
        ("[:alpha:]", "b", false),
        // Anchoring: Prometheus matches the whole value.
        ("b", "abc", false),
        ("a|b", "ab", false),
    ];
    for &(pat, input, want) in cases {
        let re = compile(pat);
        assert_eq!(re.is_match(input), want, "{pat:?} on {input:?} (translated {:?})", translate_go(pat));
    }
}

/// Patterns Go rejects, with Go's exact message.
#[test]
fn go_error_table() {
    let cases: &[(&str, &str)] = &[
        ("(a", "missing closing ): `(a`"),
        ("a(b|c", "missing closing ): `a(b|c`"),
        ("a)", "unexpected ): `a)`"),
        ("a)|(b", "unexpected ): `a)|(b`"),
        ("[a", "missing closing ]: `[a`"),
        ("x[ab", "missing closing ]: `[ab`"),
        ("[]", "missing closing ]: `[]`"),
        ("[a-", "missing closing ]: `[a-`"),
        ("a**", "invalid nested repetition operator: `**`"),
        ("a*+", "invalid nested repetition operator: `*+`"),
        ("a{2}{3}", "invalid nested repetition operator: `{2}{3}`"),
        ("a*??", "invalid nested repetition operator: `*??`"),
        ("*", "missing argument to repetition operator: `*`"),
        ("a|*", "missing argument to repetition operator: `*`"),
        ("(*)", "missing argument to repetition operator: `*`"),
        ("(?i)*", "missing argument to repetition operator: `*`"),
        ("+?", "missing argument to repetition operator: `+?`"),
        ("{2}", "missing argument to repetition operator: `{2}`"),
        ("a{1001}", "invalid repeat count: `{1001}`"),
        ("a{2,1}", "invalid repeat count: `{2,1}`"),
        ("a{1,1001}", "invalid repeat count: `{1,1001}`"),
        ("a{100000000000}", "invalid repeat count: `{100000000000}`"),
        ("(a{100}){100}", "invalid repeat count: `{100}`"),
        ("((a{10}){10}){11}", "invalid repeat count: `{11}`"),
        ("((a{10}){10}){11}?", "invalid repeat count: `{11}?`"),
        (r"\q", "invalid escape sequence: `\\q`"),
        (r"\1", "invalid escape sequence: `\\1`"),
        (r"(a)\1", "invalid escape sequence: `\\1`"),
        (r"\8", "invalid escape sequence: `\\8`"),
        (r"\C", "invalid escape sequence: `\\C`"),
        (r"\Z", "invalid escape sequence: `\\Z`"),
        (r"a\E", "invalid escape sequence: `\\E`"),
        (r"[\b]", "invalid escape sequence: `\\b`"),
        (r"[a-\d]", "invalid escape sequence: `\\d`"),
        (r"\xZZ", "invalid escape sequence: `\\xZZ`"),
        (r"\x{110000}", "invalid escape sequence: `\\x{110000`"),
        (r"\x{}", "invalid escape sequence: `\\x{}`"),
        (r"\x", "invalid escape sequence: `\\x`"),
        ("a\\", "trailing backslash at end of expression: ``"),
        ("(?x)a", "invalid or unsupported Perl syntax: `(?x`"),
        ("(?=a)", "invalid or unsupported Perl syntax: `(?=`"),
        ("(?!a)", "invalid or unsupported Perl syntax: `(?!`"),
        ("(?P=n)", "invalid or unsupported Perl syntax: `(?P`"),
        ("(?i-)", "invalid or unsupported Perl syntax: `(?i-)`"),
        ("(?-)", "invalid or unsupported Perl syntax: `(?-)`"),
        ("(?i--s)", "invalid or unsupported Perl syntax: `(?i--`"),
        ("(?", "invalid or unsupported Perl syntax: `(?`"),
        ("(?<=a)", "invalid named capture: `(?<=a)`"),
        ("(?P<>a)", "invalid named capture: `(?P<>`"),
        ("(?P<a-b>x)", "invalid named capture: `(?P<a-b>`"),
        ("(?P<ab", "invalid named capture: `(?P<ab`"),
        ("[z-a]", "invalid character class range: `z-a`"),
        ("[a--b]", "invalid character class range: `a--`"), // `a` to `-` is backwards
        ("[[:foo:]]", "invalid character class range: `[:foo:]`"),
        (r"\p{Foo}", "invalid character class range: `\\p{Foo}`"),
        (r"\p{Greek", "invalid character class range: `\\p{Greek`"),
        (r"\p{gc=L}", "invalid character class range: `\\p{gc=L}`"),
        (r"\pé", "invalid character class range: `\\pé`"),
        (r"\p", "invalid character class range: `\\p`"),
    ];
    for &(pat, want) in cases {
        match FastRegex::new(pat) {
            Ok(_) => panic!("{pat:?} compiled, want error {want:?}"),
            Err(e) => assert_eq!(e.0, format!("error parsing regexp: {want}"), "pattern {pat:?}"),
        }
    }
    // Our own limits (Go accepts these), reported in Go's words.
    let e = FastRegex::new(r"\pL{1000}").unwrap_err();
    assert_eq!(e.0, r"error parsing regexp: expression too large: `\pL{1000}`");
    let deep = format!("{}a{}", "(".repeat(300), ")".repeat(300));
    let e = FastRegex::new(&deep).unwrap_err();
    assert!(e.0.starts_with("error parsing regexp: expression nests too deeply: `((("), "{}", e.0);
}

#[test]
fn set_matches_table() {
    let cases: &[(&str, Option<&[&str]>)] = &[
        ("foo|bar|baz", Some(&["bar", "baz", "foo"])),
        ("(foo|bar)", Some(&["bar", "foo"])),
        ("(?:foo|bar)", Some(&["bar", "foo"])),
        ("foo", Some(&["foo"])),
        ("", Some(&[""])),
        ("a|b", Some(&["a", "b"])),
        ("foo|foo", Some(&["foo"])),
        ("foo(bar|baz)", Some(&["foobar", "foobaz"])),
        ("[ab]c", Some(&["ac", "bc"])),
        ("foo|", Some(&["", "foo"])),
        ("colou?r", Some(&["color", "colour"])),
        (r"\Qa.b\E|c", Some(&["a.b", "c"])),
        (r"a\.b", Some(&["a.b"])),
        ("é|ü", Some(&["é", "ü"])),
        (r"[^\x{0}-\x{10FFFF}]", Some(&[])),
        ("(?i)foo", None),
        ("(?i:f)oo", None),
        ("fo.|bar", None),
        ("foo.*", None),
        ("a+", None),
        (r"a\b", None),
        ("^foo", None),
        ("[a-z]{2}", None), // 676 strings: too many
    ];
    for &(pat, want) in cases {
        let re = compile(pat);
        let mut got: Option<Vec<&str>> = re.set_matches().map(|s| s.iter().map(String::as_str).collect());
        if let Some(g) = &mut got {
            g.sort_unstable();
        }
        assert_eq!(got.as_deref(), want, "{pat:?}");
    }
    // A set holding duplicates only once, with a hashed lookup past the linear limit.
    let many: Vec<String> = (0..40).map(|i| format!("v{i}")).collect();
    let re = compile(&many.join("|"));
    assert_eq!(re.set_matches().map(<[String]>::len), Some(40));
    assert!(matches!(re.analysis.strategy, Path::Hashed(_)));
    assert!(re.is_match("v39") && re.is_match("v0") && !re.is_match("v40") && !re.is_match("v"));
}

#[test]
fn prefix_and_suffix_table() {
    // (pattern, prefix, suffix)
    let cases: &[(&str, &str, &str)] = &[
        ("foo.*", "foo", ""),
        ("foo(bar|baz)", "fooba", ""),
        ("foo|foobar", "foo", ""),
        ("a+", "a", "a"),
        (".*foo", "", "foo"),
        ("(?i)foo", "", ""),
        ("1(?i)foo", "1", ""),
        ("é|ê", "", ""), // they share a first byte, not a first character
        ("aé|bé", "", "é"),
        ("(abc)*", "", ""),
        ("foo.*bar", "foo", "bar"),
        ("", "", ""),
        ("x", "x", "x"),
    ];
    for &(pat, prefix, suffix) in cases {
        let re = compile(pat);
        assert_eq!((re.prefix(), re.suffix()), (prefix, suffix), "{pat:?}");
    }
}

#[test]
fn strategy_table() {
    let cases: &[(&str, &str)] = &[
        (".*", "Any"),
        ("(.*)", "Any"),
        (".*?", "Any"),
        (".+", "NonEmpty"),
        ("foo.*", "StartsWith"),
        (".*foo", "EndsWith"),
        (".*foo.*", "Contains"),
        ("(.*)foo(.*)", "Contains"),
        ("foo|bar", "List"),
        ("(?-s:.*)", "Regex"),
        ("(?i)foo", "Regex"),
        (".*foo.*bar.*", "Regex"),
    ];
    for &(pat, want) in cases {
        let got = format!("{:?}", compile(pat).analysis.strategy);
        assert!(got.starts_with(want), "{pat:?}: {got}");
    }
    // Spot checks that the fast paths give the anchored answers, newlines included.
    assert!(compile(".*").is_match("a\nb"));
    assert!(!compile(".+").is_match(""));
    assert!(compile(".*foo.*").is_match("x\nfoo\n"));
    assert!(!compile("foo.*").is_match("xfoo"));
    assert!(!compile("(?-s:.*)").is_match("a\nb"));
}

#[test]
fn translation_keeps_capture_numbers() {
    let re = compile_go(r"(?P<1>a)(b)(?P<x>c)(?P<x>d)\w{2}{3}").unwrap_err();
    assert!(re.0.contains("invalid nested repetition operator"), "{}", re.0);
    let re = compile_go(r"(?P<1>a)(b)(?P<x>c)(?P<x>d)").unwrap();
    let caps = re.captures("abcd").unwrap();
    assert_eq!(caps.len(), 5);
    assert_eq!(&caps[4], "d");
    assert_eq!(caps.name("x").map(|m| m.as_str()), Some("c"));
    assert!(translate_go("(a").is_err());
}

/// Pieces to build patterns from: literals, fast-path shapes and Go-specific syntax.
fn piece() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "a",
        "b",
        "ab",
        "foo",
        "é",
        r"\n",
        " ",
        ".*",
        ".+",
        ".",
        ".*?",
        "[ab]",
        "[^a]",
        r"\d",
        r"\w",
        r"\s",
        "a?",
        "(a|b)",
        "(?:foo|bar)",
        "(?-s:.)",
        r"\b",
        "(?i:a)",
        "x{2}",
        "[é-ü]",
        r"\.",
        "(?:)",
        "b*",
    ])
    .prop_map(str::to_string)
}

fn pattern() -> impl Strategy<Value = String> {
    let concat = prop::collection::vec(piece(), 1..4).prop_map(|v| v.concat());
    prop::collection::vec(concat, 1..3).prop_map(|v| v.join("|"))
}

fn input() -> impl Strategy<Value = String> {
    let tokens = prop::sample::select(vec![
        "a", "b", "ab", "foo", "bar", "é", "\n", " ", "1", "٣", "K", "x", "xx", ".", "ü", "\u{212A}",
    ]);
    prop::collection::vec(tokens, 0..6).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Every fast path agrees with the plain anchored regex of the translated pattern.
    #[test]
    fn fast_paths_agree_with_regex(pat in pattern(), inputs in prop::collection::vec(input(), 12)) {
        let re = compile(&pat);
        let translated = translate_go(&pat).unwrap();
        let oracle = regex::Regex::new(&format!("^(?s:{translated})$")).unwrap();
        for s in &inputs {
            let want = oracle.is_match(s);
            prop_assert_eq!(re.is_match(s), want, "{:?} on {:?}", pat, s);
            if let Some(set) = re.set_matches() {
                prop_assert_eq!(set.iter().any(|x| x == s), want, "set of {:?} on {:?}", pat, s);
            }
            if want {
                prop_assert!(s.starts_with(re.prefix()) && s.ends_with(re.suffix()), "{:?} on {:?}", pat, s);
            }
        }
        // Every member of a literal set matches.
        for s in re.set_matches().unwrap_or(&[]) {
            prop_assert!(oracle.is_match(s), "{:?} member {:?}", pat, s);
        }
    }

    /// Arbitrary pattern text never panics: it compiles, or Go's parser rejects it. A Rust
    /// parse error would mean the translator wrote invalid Rust syntax for valid Go syntax.
    #[test]
    fn arbitrary_patterns_do_not_panic(pat in r"[\\\[\](){}|*+?.^$abc019:PpQExdw<>,=!&~ -]{0,14}") {
        match FastRegex::new(&pat) {
            Ok(re) => {
                let _ = re.is_match("abc");
                let _ = re.is_match("");
            }
            Err(e) => prop_assert!(e.0.starts_with("error parsing regexp: "), "{:?}: {}", pat, e.0),
        }
    }
}
