//! Remote read against a small database: both response types must carry exactly the stored
//! samples of the selected series, in the range asked for.

use super::*;
use crate::tsdb::Options;

/// `m{i="0".."2"}` every 10 s from 0 to 3,000 s (301 samples each, value = t/1000 + i), and
/// `other` once.
fn db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options { background_interval: None, ..Options::default() }).unwrap();
    let mut app = db.appender();
    for i in 0..3 {
        let l = Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]).unwrap();
        for k in 0..=300i64 {
            app.append(&l, k * 10_000, (k * 10 + i) as f64).unwrap();
        }
    }
    app.append(&Labels::from_pairs(&[("__name__", "other")]).unwrap(), 0, 1.0).unwrap();
    app.commit().unwrap();
    (dir, db)
}

/// Per query, `(labels, samples)` of each series.
type PerQuery = Vec<Vec<(Vec<pb::Label>, Vec<(i64, f64)>)>>;

fn matcher(t: label_matcher::Type, name: &str, value: &str) -> pb::LabelMatcher {
    pb::LabelMatcher { r#type: t as i32, name: name.into(), value: value.into() }
}

fn query(start: i64, end: i64, ms: Vec<pb::LabelMatcher>) -> pb::Query {
    pb::Query { start_timestamp_ms: start, end_timestamp_ms: end, matchers: ms, hints: None }
}

fn request(queries: Vec<pb::Query>, types: &[ResponseType]) -> ReadRequest {
    ReadRequest { queries, accepted_response_types: types.iter().map(|&t| t as i32).collect() }
}

/// What both response types must say for the request below: per query, `(labels, samples)`.
fn expected(db: &Db, req: &ReadRequest) -> PerQuery {
    req.queries
        .iter()
        .map(|q| {
            let ms = to_matchers(&q.matchers).unwrap();
            db.querier(q.start_timestamp_ms, q.end_timestamp_ms)
                .select(&ms)
                .unwrap()
                .iter()
                .map(|s| {
                    (to_pb_labels(s.labels()), s.samples().unwrap().iter().map(|x| (x.t, x.v)).collect::<Vec<_>>())
                })
                .filter(|(_, s)| !s.is_empty())
                .collect()
        })
        .collect()
}

fn two_queries() -> ReadRequest {
    use label_matcher::Type::*;
    request(
        vec![
            query(1_000_000, 2_000_000, vec![matcher(Eq, "__name__", "m"), matcher(Nre, "i", "1")]),
            query(0, 3_000_000, vec![matcher(Re, "__name__", "m|other"), matcher(Neq, "i", "0")]),
        ],
        &[],
    )
}

#[test]
fn samples_answer_holds_the_selected_range() {
    let (_d, db) = db();
    let req = two_queries();
    let resp = read_samples(&db, &req, 0).unwrap();
    let got: PerQuery = resp
        .results
        .iter()
        .map(|r| {
            r.timeseries
                .iter()
                .map(|ts| (ts.labels.clone(), ts.samples.iter().map(|s| (s.timestamp, s.value)).collect()))
                .collect()
        })
        .collect();
    // Worked out by hand: query 0 keeps i="0" and i="2" in [1000 s, 2000 s] (101 samples
    // each); query 1 keeps i="1", i="2" and `other` over the whole range.
    let shape: Vec<Vec<usize>> = got.iter().map(|q| q.iter().map(|s| s.1.len()).collect()).collect();
    assert_eq!(shape, [vec![101, 101], vec![301, 301, 1]]);
    assert_eq!(got[0][1].1[0], (1_000_000, 1002.0));
    assert_eq!(got, expected(&db, &req));
    assert_eq!(read_samples(&db, &req, 804), Err(ReadError::BadRequest("exceeded sample limit (804)".into())));
    assert!(read_samples(&db, &req, 805).is_ok(), "805 samples in all");
}

#[test]
fn streamed_chunks_carry_the_same_samples_in_bounded_frames() {
    let (_d, db) = db();
    let req = two_queries();
    for max_frame in [200usize, 1 << 20] {
        let mut frames = Vec::new();
        stream_chunks(&db, &req, max_frame, |f| {
            frames.push(f);
            true
        })
        .unwrap();
        let mut got: PerQuery = vec![Vec::new(), Vec::new()];
        for f in &frames {
            let msgs = codec::decode_chunked_responses(f, usize::MAX).unwrap();
            assert_eq!(msgs.len(), 1, "one message per frame");
            let m = &msgs[0];
            assert_eq!(m.chunked_series.len(), 1, "one series per frame");
            let s = &m.chunked_series[0];
            for c in &s.chunks {
                assert!(c.data.len() > 2 && codec::decode_xor_chunk(c).unwrap().len() <= 120);
            }
            let samples: Vec<(i64, f64)> = s.chunks.iter().flat_map(|c| codec::decode_xor_chunk(c).unwrap()).collect();
            let q = &mut got[m.query_index as usize];
            // A series split over frames continues in the next frame, never interleaved.
            match q.last_mut() {
                Some((l, prev)) if *l == s.labels => prev.extend(samples),
                _ => q.push((s.labels.clone(), samples)),
            }
            // The bound holds up to one chunk (~120 samples of XOR data) past it.
            assert!(f.len() <= max_frame + 400, "frame of {} bytes", f.len());
        }
        assert_eq!(got, expected(&db, &req), "max_frame {max_frame}");
        if max_frame == 200 {
            assert!(frames.len() > 5, "small frames split series: {}", frames.len());
        } else {
            assert_eq!(frames.len(), 5, "one frame per series");
        }
    }
    // The consumer going away stops the stream.
    let mut n = 0;
    stream_chunks(&db, &req, 200, |_| {
        n += 1;
        false
    })
    .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn negotiation_and_bad_matchers() {
    use ResponseType::*;
    assert_eq!(negotiate(&[]), Ok(Samples));
    assert_eq!(negotiate(&[StreamedXorChunks as i32, Samples as i32]), Ok(StreamedXorChunks));
    assert_eq!(negotiate(&[7, Samples as i32]), Ok(Samples));
    assert!(
        matches!(negotiate(&[7]), Err(ReadError::BadRequest(m)) if m.contains("server does not support any of the requested response types"))
    );
    let (_d, db) = db();
    let bad_re = request(vec![query(0, 1, vec![matcher(label_matcher::Type::Re, "a", "(")])], &[]);
    assert_eq!(read_samples(&db, &bad_re, 0).unwrap_err().status(), 400);
    let bad_type = request(
        vec![pb::Query { matchers: vec![pb::LabelMatcher { r#type: 9, ..Default::default() }], ..query(0, 1, vec![]) }],
        &[],
    );
    assert_eq!(read_samples(&db, &bad_type, 0), Err(ReadError::BadRequest("invalid matcher type 9".into())));
    // A range with nothing in it answers an empty result per query.
    let empty =
        request(vec![query(10_000_000, 20_000_000, vec![matcher(label_matcher::Type::Eq, "__name__", "m")])], &[]);
    assert_eq!(read_samples(&db, &empty, 0).unwrap().results, vec![QueryResult { timeseries: vec![] }]);
}
