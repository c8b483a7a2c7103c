//! Arbitrary UTF-8 → PromQL parser. Parsing must never panic; an accepted query must print as
//! text that parses back to an equal tree.

#![no_main]

use cairn::promql::{ParserOptions, parse_expr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let opts = ParserOptions::all_enabled();
    if let Ok(expr) = parse_expr(text, &opts) {
        let printed = expr.to_string();
        match parse_expr(&printed, &opts) {
            Ok(again) => assert_eq!(again, expr, "{text:?} printed as {printed:?}"),
            Err(e) => panic!("{text:?} printed as {printed:?}, which fails to parse: {e}"),
        }
    }
});
