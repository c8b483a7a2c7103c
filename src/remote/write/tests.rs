//! Receiver semantics on a real database. The expected outcomes follow Prometheus's
//! `write_handler.go` (1.0: the first refused sample rolls the request back with 400; 2.0:
//! partial writes with a 400 listing what was refused); `tests/it/remote.rs` checks the 1.0
//! cases against a running Prometheus 2.42.

use super::*;
use crate::model::Matcher;
use crate::remote::metadata::MetricType;
use crate::tsdb::Options;

const NOW: i64 = 1_700_000_000_000;

fn open() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options { background_interval: None, ..Options::default() }).unwrap();
    (dir, db)
}

/// Every series of metric `name` with its samples.
fn stored(db: &Db, name: &str) -> Vec<(String, Vec<(i64, f64)>)> {
    let q = db.querier(i64::MIN, i64::MAX);
    q.select(&[Matcher::equal("__name__", name)])
        .unwrap()
        .iter()
        .map(|s| (s.labels().to_string(), s.samples().unwrap().iter().map(|x| (x.t, x.v)).collect()))
        .collect()
}

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> pb::TimeSeries {
    pb::TimeSeries {
        labels: labels.iter().map(|(n, v)| pb::Label { name: (*n).into(), value: (*v).into() }).collect(),
        samples: samples.iter().map(|&(t, v)| pb::Sample { value: v, timestamp: t }).collect(),
        ..Default::default()
    }
}

fn v1(ts: Vec<pb::TimeSeries>) -> pb::WriteRequest {
    pb::WriteRequest { timeseries: ts, metadata: vec![] }
}

#[test]
fn v1_writes_valid_requests_and_keeps_metadata() {
    let (_d, db) = open();
    let r = Remote::default();
    let mut req = v1(vec![
        // Unsorted labels are accepted and sorted, as Prometheus's `ToLabels` sorts.
        series(&[("job", "a"), ("__name__", "up")], &[(NOW - 2000, 1.0), (NOW - 1000, 0.0)]),
        series(&[("__name__", "up"), ("job", "b")], &[(NOW - 1000, f64::from_bits(crate::model::STALE_NAN_BITS))]),
    ]);
    req.timeseries[0].exemplars.push(pb::Exemplar { labels: vec![], value: 1.0, timestamp: NOW });
    req.timeseries[0].histograms.push(pb::Histogram::default());
    req.metadata.push(pb::MetricMetadata {
        r#type: 2,
        metric_family_name: "up".into(),
        help: "Target up.".into(),
        unit: String::new(),
    });
    assert_eq!(write_v1(&db, &r, req, NOW), Ok(WriteStats { samples: 3, histograms: 0, exemplars: 0 }));
    let got = stored(&db, "up");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], ("{__name__=\"up\", job=\"a\"}".into(), vec![(NOW - 2000, 1.0), (NOW - 1000, 0.0)]));
    assert_eq!(got[1].1[0].1.to_bits(), crate::model::STALE_NAN_BITS, "stale markers are stored bit for bit");
    assert_eq!(r.metadata.get("up")[0].kind, MetricType::Gauge);
    assert_eq!(r.metrics.samples_written(Protocol::V1), 3);
}

#[test]
fn v1_refusals() {
    struct Case {
        name: &'static str,
        /// Written first, in its own request.
        before: Vec<pb::TimeSeries>,
        req: Vec<pb::TimeSeries>,
        want: Result<u64, &'static str>,
        /// (metric, samples stored afterwards).
        after: Vec<(&'static str, usize)>,
    }
    let cases = vec![
        Case {
            name: "out of order rolls back the whole request",
            before: vec![series(&[("__name__", "b")], &[(NOW - 1000, 1.0)])],
            req: vec![
                series(&[("__name__", "a")], &[(NOW - 1000, 1.0)]),
                series(&[("__name__", "b")], &[(NOW - 2000, 1.0)]),
            ],
            want: Err("out of order sample"),
            after: vec![("a", 0), ("b", 1)],
        },
        Case {
            name: "duplicate timestamp with another value",
            before: vec![series(&[("__name__", "b")], &[(NOW - 1000, 1.0)])],
            req: vec![series(&[("__name__", "b")], &[(NOW - 1000, 2.0)])],
            want: Err("duplicate sample for timestamp"),
            after: vec![("b", 1)],
        },
        Case {
            name: "same timestamp and value is accepted and dropped",
            before: vec![series(&[("__name__", "b")], &[(NOW - 1000, 1.0)])],
            req: vec![series(&[("__name__", "b")], &[(NOW - 1000, 1.0), (NOW, 2.0)])],
            want: Ok(2),
            after: vec![("b", 2)],
        },
        Case {
            name: "more than ten minutes ahead is out of bounds",
            before: vec![],
            req: vec![
                series(&[("__name__", "a")], &[(NOW, 1.0)]),
                series(&[("__name__", "b")], &[(NOW + 10 * 60 * 1000 + 1, 1.0)]),
            ],
            want: Err("out of bounds: timestamp is too far in the future"),
            after: vec![("a", 0), ("b", 0)],
        },
        Case {
            name: "older than half a block behind the head is out of bounds",
            before: vec![series(&[("__name__", "b")], &[(NOW, 1.0)])],
            req: vec![series(&[("__name__", "a")], &[(NOW - 2 * 3600 * 1000, 1.0)])],
            want: Err("out of bounds"),
            after: vec![("a", 0)],
        },
        Case {
            name: "invalid labels are skipped, the rest written, 400",
            before: vec![],
            req: vec![
                series(&[("job", "x")], &[(NOW, 1.0)]),
                series(&[("__name__", "a"), ("job", "x"), ("job", "y")], &[(NOW, 1.0)]),
                series(&[("__name__", "a"), ("", "x")], &[(NOW, 1.0)]),
                series(&[("__name__", "b")], &[(NOW, 1.0)]),
            ],
            want: Err("invalid metric name or labels, got {job=\"x\"}\n\
                 invalid labels for series, labels {__name__=\"a\", job=\"x\", job=\"y\"}, duplicated label job\n\
                 invalid metric name or labels, got {__name__=\"a\", =\"x\"}"),
            after: vec![("a", 0), ("b", 1)],
        },
    ];
    for c in cases {
        let (_d, db) = open();
        let r = Remote::default();
        if !c.before.is_empty() {
            write_v1(&db, &r, v1(c.before), NOW).unwrap();
        }
        let got = write_v1(&db, &r, v1(c.req), NOW);
        let want = c
            .want
            .map(|n| WriteStats { samples: n, ..WriteStats::default() })
            .map_err(|m| WriteError::BadRequest(m.into()));
        assert_eq!(got, want, "{}", c.name);
        for (metric, n) in c.after {
            let have: usize = stored(&db, metric).iter().map(|s| s.1.len()).sum();
            assert_eq!(have, n, "{}: samples of {metric}", c.name);
        }
    }
}

#[test]
fn v1_counts_rejections_by_reason() {
    let (_d, db) = open();
    let r = Remote::default();
    write_v1(&db, &r, v1(vec![series(&[("__name__", "b")], &[(NOW, 1.0)])]), NOW).unwrap();
    let req = v1(vec![
        series(&[("job", "nameless")], &[(NOW, 1.0), (NOW + 1, 1.0)]),
        series(&[("__name__", "a")], &[(NOW, 1.0), (NOW + 1, 1.0)]),
        series(&[("__name__", "b")], &[(NOW - 5, 1.0)]),
        series(&[("__name__", "c")], &[(NOW, 1.0)]),
    ]);
    assert!(write_v1(&db, &r, req, NOW).is_err());
    assert_eq!(r.metrics.samples_rejected(Protocol::V1, Reason::OutOfOrder), 1);
    assert_eq!(r.metrics.samples_rejected(Protocol::V1, Reason::InvalidLabels), 2);
    // 6 received: 2 with invalid labels, 1 out of order, the other 3 rolled back.
    assert_eq!(r.metrics.samples_rejected(Protocol::V1, Reason::RolledBack), 3);
}

/// A 2.0 request from label pairs, interning the strings.
/// Label pairs and samples of one series.
type SeriesSpec<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);

fn v2(series: &[SeriesSpec]) -> write_v2::Request {
    let mut symbols = vec![String::new()];
    let mut sym = |s: &str| match symbols.iter().position(|x| x == s) {
        Some(i) => i as u32,
        None => {
            symbols.push(s.to_string());
            symbols.len() as u32 - 1
        }
    };
    let mut timeseries = Vec::new();
    for (labels, samples) in series {
        let mut refs = Vec::new();
        for (n, v) in labels.iter() {
            refs.push(sym(n));
            refs.push(sym(v));
        }
        timeseries.push(write_v2::TimeSeries {
            labels_refs: refs,
            samples: samples.iter().map(|&(t, v)| write_v2::Sample { value: v, timestamp: t }).collect(),
            ..Default::default()
        });
    }
    write_v2::Request { symbols, timeseries }
}

#[test]
fn v2_writes_partially_and_reports_counts() {
    let (_d, db) = open();
    let r = Remote::default();
    let (stats, err) = write_v2(&db, &r, v2(&[(&[("__name__", "b")], &[(NOW - 1000, 1.0)])]), NOW);
    assert_eq!((stats.samples, err), (1, None));
    let mut req = v2(&[
        (&[("__name__", "a"), ("job", "j")], &[(NOW - 1000, 1.0), (NOW, 2.0)]),
        (&[("__name__", "b")], &[(NOW - 2000, 5.0), (NOW, 6.0)]),
        (&[("job", "nameless")], &[(NOW, 1.0)]),
    ]);
    // A series with a dangling symbol reference and one with an odd reference list.
    req.timeseries.push(write_v2::TimeSeries { labels_refs: vec![1, 99], ..Default::default() });
    req.timeseries.push(write_v2::TimeSeries { labels_refs: vec![1], ..Default::default() });
    req.timeseries[0].metadata = Some(write_v2::Metadata { r#type: 1, help_ref: 4, unit_ref: 0 });
    req.timeseries[0].exemplars.push(write_v2::Exemplar { labels_refs: vec![], value: 1.0, timestamp: NOW });
    let (stats, err) = write_v2(&db, &r, req, NOW);
    assert_eq!(stats, WriteStats { samples: 3, histograms: 0, exemplars: 0 });
    let msg = match err {
        Some(WriteError::BadRequest(m)) => m,
        other => panic!("want a bad request, got {other:?}"),
    };
    assert_eq!(
        msg.lines().collect::<Vec<_>>(),
        [
            "out of order sample for series {__name__=\"b\"}",
            "invalid metric name or labels, got {job=\"nameless\"}",
            "invalid labels_refs: symbol reference 99 out of range (7 symbols)",
            "invalid labels_refs: odd length 1",
        ]
    );
    assert_eq!(stored(&db, "a")[0].1, vec![(NOW - 1000, 1.0), (NOW, 2.0)]);
    assert_eq!(stored(&db, "b")[0].1, vec![(NOW - 1000, 1.0), (NOW, 6.0)]);
    // Symbol 4 is "j": the help text of `a` is whatever its reference names.
    assert_eq!(r.metadata.get("a")[0].help, "j");
    assert_eq!(r.metadata.get("a")[0].kind, MetricType::Counter);
}

#[test]
fn error_lists_are_bounded() {
    let errs: Vec<String> = (0..5).map(|i| format!("e{i}")).collect();
    assert_eq!(join_errors(&errs, 2), "e0\ne1\n(and 3 more errors)");
    assert_eq!(join_errors(&errs[..2], 2), "e0\ne1");
}

fn open_with_exemplars() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options { background_interval: None, max_exemplars: Some(100), ..Options::default() };
    let db = Db::open(dir.path(), opts).unwrap();
    (dir, db)
}

/// `(trace_id, value, ts)` of every stored exemplar of metric `name`.
fn stored_exemplars(db: &Db, name: &str) -> Vec<(String, f64, i64)> {
    db.select_exemplars(i64::MIN, i64::MAX, &[vec![Matcher::equal("__name__", name)]])
        .into_iter()
        .flat_map(|s| s.exemplars)
        .map(|e| (e.labels.get("trace_id").unwrap_or("").to_string(), e.value, e.ts))
        .collect()
}

fn pb_exemplar(trace: &str, value: f64, ts: i64) -> pb::Exemplar {
    pb::Exemplar { labels: vec![pb::Label { name: "trace_id".into(), value: trace.into() }], value, timestamp: ts }
}

#[test]
fn v1_stores_exemplars_and_skips_out_of_order_ones() {
    let (_d, db) = open_with_exemplars();
    let r = Remote::default();
    let mut req = v1(vec![series(&[("__name__", "c_total")], &[(NOW - 1000, 1.0)])]);
    req.timeseries[0].exemplars = vec![pb_exemplar("a", 0.5, NOW - 1500), pb_exemplar("b", 0.7, NOW - 1200)];
    assert_eq!(write_v1(&db, &r, req, NOW), Ok(WriteStats { samples: 1, histograms: 0, exemplars: 2 }));
    assert_eq!(stored_exemplars(&db, "c_total"), [("a".into(), 0.5, NOW - 1500), ("b".into(), 0.7, NOW - 1200)]);
    // An older exemplar is skipped without failing the request; a newer one is stored; an
    // exemplar-only series (no samples) still attaches to the existing series.
    let mut req = v1(vec![series(&[("__name__", "c_total")], &[(NOW, 2.0)]), series(&[("__name__", "c_total")], &[])]);
    req.timeseries[0].exemplars = vec![pb_exemplar("old", 0.1, NOW - 5000)];
    req.timeseries[1].exemplars = vec![pb_exemplar("c", 0.9, NOW - 100)];
    assert_eq!(write_v1(&db, &r, req, NOW), Ok(WriteStats { samples: 1, histograms: 0, exemplars: 1 }));
    assert_eq!(stored_exemplars(&db, "c_total").len(), 3);
    assert_eq!(stored_exemplars(&db, "c_total")[2], ("c".into(), 0.9, NOW - 100));
}

#[test]
fn v2_reports_exemplars_written() {
    let (_d, db) = open_with_exemplars();
    let r = Remote::default();
    let mut req = v2(&[(&[("__name__", "h_bucket"), ("le", "1")], &[(NOW - 1000, 1.0)])]);
    let (k, v) = (req.symbols.len() as u32, req.symbols.len() as u32 + 1);
    req.symbols.push("trace_id".into());
    req.symbols.push("abc".into());
    req.timeseries[0].exemplars = vec![
        write_v2::Exemplar { labels_refs: vec![k, v], value: 0.25, timestamp: NOW - 1100 },
        // A dangling symbol reference: dropped, not counted.
        write_v2::Exemplar { labels_refs: vec![k, 999], value: 0.5, timestamp: NOW - 1050 },
    ];
    let (stats, err) = write_v2(&db, &r, req, NOW);
    assert_eq!((stats, err), (WriteStats { samples: 1, histograms: 0, exemplars: 1 }, None));
    assert_eq!(stored_exemplars(&db, "h_bucket"), [("abc".into(), 0.25, NOW - 1100)]);
    // Without exemplar storage nothing is written or reported.
    let (_d2, off) = open();
    let mut req = v2(&[(&[("__name__", "h_bucket")], &[(NOW - 1000, 1.0)])]);
    req.timeseries[0].exemplars = vec![write_v2::Exemplar { labels_refs: vec![], value: 0.25, timestamp: NOW }];
    assert_eq!(write_v2(&off, &r, req, NOW).0.exemplars, 0);
}
