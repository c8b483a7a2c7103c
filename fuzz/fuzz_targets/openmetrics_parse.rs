//! Arbitrary bytes → OpenMetrics parser. Reading a page must never panic and must finish; after
//! every series the labels, exemplar and metric name must be answerable, and what is
//! answered must hold whatever the input (sorted unique labels, no empty values, the name
//! first in the raw series bytes, sticky errors with a line inside the page).

#![no_main]

use cairn::scrape::exposition::{Entry, Format, Parser};
use libfuzzer_sys::fuzz_target;

const FORMAT: Format = Format::OpenMetrics;

fuzz_target!(|data: &[u8]| {
    let mut p = Parser::new(data, FORMAT);
    // Every entry takes at least one byte, so a page has at most `len` of them.
    for _ in 0..=data.len() {
        match p.next() {
            Ok(Some(Entry::Series { series, .. })) => {
                let name = p.metric_name().expect("a series has a metric name");
                assert!(series.starts_with(name.as_bytes()), "series {series:?} does not start with {name:?}");
                if let Ok(labels) = p.labels() {
                    assert_eq!(labels.metric_name(), Some(name));
                    let slice = labels.as_slice();
                    assert!(slice.windows(2).all(|w| w[0].name < w[1].name), "unsorted or repeated: {labels}");
                    assert!(slice.iter().all(|l| !l.value.is_empty()), "empty value kept: {labels}");
                }
                if FORMAT == Format::PrometheusText {
                    assert!(p.exemplar().is_none(), "the text format has no exemplars");
                } else {
                    let _ = p.exemplar();
                }
            }
            Ok(Some(_)) => assert!(p.labels().is_err(), "labels without a series"),
            Ok(None) => {
                assert_eq!(p.next(), Ok(None), "a finished page stays finished");
                return;
            }
            Err(e) => {
                assert!(e.line >= 1, "line numbers start at 1: {e}");
                assert!(e.line <= 1 + data.iter().filter(|&&b| b == b'\n').count(), "line {} past the page", e.line);
                assert_eq!(p.next(), Err(e), "an error sticks");
                return;
            }
        }
    }
    panic!("the parser did not finish a {}-byte page", data.len());
});
