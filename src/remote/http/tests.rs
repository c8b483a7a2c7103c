//! The routes through `web::app` and `oneshot`: status codes and headers of the write, OTLP
//! and read endpoints, as Prometheus's handlers set them.

use super::*;
use crate::model::{Labels, Matcher};
use crate::remote::pb::prometheus::{self as pb, ReadRequest, read_request::ResponseType};
use crate::remote::pb::write_v2;
use crate::tsdb::{Db, Options};
use crate::web::{AppState, StateOptions, app};
use axum::http::Request;
use prost::Message;
use std::sync::Arc;
use tower::ServiceExt;

struct Fixture {
    _dir: tempfile::TempDir,
    db: Arc<Db>,
    router: Router,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), Options { background_interval: None, ..Options::default() }).unwrap());
    let state = AppState::new(StateOptions::default());
    state.set_db(db.clone());
    Fixture { _dir: dir, db, router: app(state) }
}

struct Resp {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn post(router: &Router, uri: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Resp {
    let mut req = Request::post(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = router.clone().oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 64 << 20).await.unwrap().to_vec();
    Resp { status, headers, body }
}

fn now() -> i64 {
    now_ms()
}

fn v1_body(name: &str, t: i64) -> Vec<u8> {
    codec::encode_write_request(&pb::WriteRequest {
        timeseries: vec![pb::TimeSeries {
            labels: vec![pb::Label { name: "__name__".into(), value: name.into() }],
            samples: vec![pb::Sample { value: 1.0, timestamp: t }],
            ..Default::default()
        }],
        metadata: vec![],
    })
}

fn stored(db: &Db, name: &str) -> usize {
    let q = db.querier(i64::MIN, i64::MAX);
    q.select(&[Matcher::equal("__name__", name)]).unwrap().iter().map(|s| s.samples().unwrap().len()).sum()
}

const SNAPPY: (&str, &str) = ("content-encoding", "snappy");

#[tokio::test]
async fn write_headers_choose_the_message_and_refuse_the_unknown() {
    let f = fixture();
    let t = now();
    let v1 = [("content-type", "application/x-protobuf"), SNAPPY, ("x-prometheus-remote-write-version", "0.1.0")];
    let r = post(&f.router, "/api/v1/write", &v1, v1_body("a", t)).await;
    assert_eq!((r.status, r.text()), (204, String::new()));
    assert!(r.headers.get(SAMPLES_WRITTEN).is_none(), "1.0 answers carry no written counts");
    // No Content-Type and no Content-Encoding: 1.0 and snappy are assumed, as Prometheus does.
    assert_eq!(post(&f.router, "/api/v1/write", &[], v1_body("b", t)).await.status, 204);
    assert_eq!((stored(&f.db, "a"), stored(&f.db, "b")), (1, 1));

    let req = write_v2::Request {
        symbols: vec!["".into(), "__name__".into(), "c".into()],
        timeseries: vec![write_v2::TimeSeries {
            labels_refs: vec![1, 2],
            samples: vec![write_v2::Sample { value: 2.0, timestamp: t }],
            ..Default::default()
        }],
    };
    let r = post(
        &f.router,
        "/api/v1/write",
        &[("content-type", codec::CONTENT_TYPE_V2), SNAPPY],
        codec::encode_write_request_v2(&req),
    )
    .await;
    assert_eq!(r.status, 204);
    let hdr = |n: &str| r.headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    assert_eq!(
        (hdr(SAMPLES_WRITTEN), hdr(HISTOGRAMS_WRITTEN), hdr(EXEMPLARS_WRITTEN)),
        (Some("1".into()), Some("0".into()), Some("0".into()))
    );
    assert_eq!(stored(&f.db, "c"), 1);

    type Case<'a> = (&'a [(&'a str, &'a str)], u16, &'a str);
    let cases: &[Case] = &[
        (
            &[("content-type", "application/x-protobuf;proto=io.prometheus.write.v3.Request"), SNAPPY],
            415,
            "unknown remote write protobuf message",
        ),
        (&[("content-type", "application/json"), SNAPPY], 415, "expected application/x-protobuf"),
        (&[("content-type", "application/x-protobuf;garbage"), SNAPPY], 415, "key-values"),
        (&[("content-type", "application/x-protobuf"), ("content-encoding", "gzip")], 415, "gzip encoding"),
    ];
    for (headers, status, needle) in cases {
        let r = post(&f.router, "/api/v1/write", headers, v1_body("d", t)).await;
        assert_eq!(r.status, *status, "{headers:?}: {}", r.text());
        assert!(r.text().contains(needle), "{headers:?}: {}", r.text());
        assert_eq!(r.headers.get("content-type").unwrap(), "text/plain; charset=utf-8");
    }
    assert_eq!(stored(&f.db, "d"), 0);
}

#[tokio::test]
async fn malformed_write_bodies_are_bad_requests() {
    let f = fixture();
    let h = [("content-type", "application/x-protobuf"), SNAPPY];
    // Not snappy at all.
    let r = post(&f.router, "/api/v1/write", &h, b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff".to_vec()).await;
    assert_eq!(r.status, 400, "{}", r.text());
    // A header announcing 4 GiB: refused from the header (the limit is 32 MiB).
    let r = post(&f.router, "/api/v1/write", &h, vec![0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0]).await;
    assert_eq!(
        (r.status, r.text()),
        (400, "decompressed size 4294967295 exceeds the limit of 33554432 bytes\n".into())
    );
    // Valid snappy around bytes that are not a WriteRequest (field 1 with wire type 7).
    let r = post(&f.router, "/api/v1/write", &h, codec::snappy_encode(&[0x0f, 0x01])).await;
    assert_eq!(r.status, 400, "{}", r.text());
    // A 1.0 request refused by the storage: the storage error's text.
    let t = now();
    assert_eq!(post(&f.router, "/api/v1/write", &h, v1_body("x", t)).await.status, 204);
    let r = post(&f.router, "/api/v1/write", &h, v1_body("x", t - 1)).await;
    assert_eq!((r.status, r.text()), (400, "out of order sample\n".into()));
}

#[tokio::test]
async fn not_ready_answers_503() {
    let router = app(AppState::new(StateOptions::default()));
    for path in ["/api/v1/write", "/api/v1/read", "/api/v1/otlp/v1/metrics"] {
        assert_eq!(post(&router, path, &[], vec![]).await.status, 503, "{path}");
    }
}

#[tokio::test]
async fn otlp_accepts_protobuf_identity_and_gzip() {
    use crate::remote::pb::otlp::metrics::v1::{
        Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
    };
    use std::io::Write as _;
    let f = fixture();
    let req = |name: &str| ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: name.into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            time_unix_nano: now() as u64 * 1_000_000,
                            value: Some(number_data_point::Value::AsInt(3)),
                            ..Default::default()
                        }],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let pbh = ("content-type", "application/x-protobuf");
    let r = post(&f.router, "/api/v1/otlp/v1/metrics", &[pbh], req("o.one").encode_to_vec()).await;
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert_eq!(r.headers.get("content-type").unwrap(), "application/x-protobuf");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&req("o.two").encode_to_vec()).unwrap();
    let r =
        post(&f.router, "/api/v1/otlp/v1/metrics", &[pbh, ("content-encoding", "gzip")], gz.finish().unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!((stored(&f.db, "o_one"), stored(&f.db, "o_two")), (1, 1));
    let r = post(&f.router, "/api/v1/otlp/v1/metrics", &[("content-type", "application/json")], b"{}".to_vec()).await;
    assert_eq!(r.status, 415);
    let r = post(&f.router, "/api/v1/otlp/v1/metrics", &[pbh, ("content-encoding", "br")], vec![]).await;
    assert_eq!(r.status, 415);
    let r =
        post(&f.router, "/api/v1/otlp/v1/metrics", &[pbh, ("content-encoding", "gzip")], b"not gzip".to_vec()).await;
    assert_eq!(r.status, 400);
    let r = post(&f.router, "/api/v1/otlp/v1/metrics", &[pbh], vec![0x0f]).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn read_answers_both_response_types() {
    let f = fixture();
    let l = Labels::from_pairs(&[("__name__", "r"), ("k", "v")]).unwrap();
    let mut app = f.db.appender();
    for i in 0..500i64 {
        app.append(&l, i * 1000, i as f64).unwrap();
    }
    app.commit().unwrap();
    let query = pb::Query {
        start_timestamp_ms: 100_000,
        end_timestamp_ms: 399_000,
        matchers: vec![pb::LabelMatcher { r#type: 0, name: "__name__".into(), value: "r".into() }],
        hints: None,
    };
    let mut req = ReadRequest { queries: vec![query], accepted_response_types: vec![] };
    let h = [("content-type", "application/x-protobuf"), SNAPPY];
    let r = post(&f.router, "/api/v1/read", &h, codec::encode_read_request(&req)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.headers.get("content-encoding").unwrap(), "snappy");
    assert_eq!(r.headers.get("content-type").unwrap(), "application/x-protobuf");
    let resp = codec::decode_read_response(&r.body, 1 << 30).unwrap();
    let samples = &resp.results[0].timeseries[0].samples;
    assert_eq!((samples.len(), samples[0].timestamp, samples[299].value), (300, 100_000, 399.0));

    req.accepted_response_types = vec![ResponseType::StreamedXorChunks as i32, ResponseType::Samples as i32];
    let r = post(&f.router, "/api/v1/read", &h, codec::encode_read_request(&req)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.headers.get("content-type").unwrap(), codec::STREAMED_CONTENT_TYPE);
    let frames = codec::decode_chunked_responses(&r.body, 1 << 20).unwrap();
    let got: Vec<(i64, f64)> = frames
        .iter()
        .flat_map(|m| {
            m.chunked_series.iter().flat_map(|s| s.chunks.iter().flat_map(|c| codec::decode_xor_chunk(c).unwrap()))
        })
        .collect();
    assert_eq!(got.len(), 300);
    assert_eq!((got[0], got[299]), ((100_000, 100.0), (399_000, 399.0)));

    req.accepted_response_types = vec![5];
    let r = post(&f.router, "/api/v1/read", &h, codec::encode_read_request(&req)).await;
    assert_eq!(r.status, 400);
    req.accepted_response_types = vec![1];
    req.queries[0].matchers[0] = pb::LabelMatcher { r#type: 2, name: "__name__".into(), value: "(".into() };
    let r = post(&f.router, "/api/v1/read", &h, codec::encode_read_request(&req)).await;
    assert_eq!(r.status, 400, "a bad regex is refused before streaming starts: {}", r.text());
    let r = post(&f.router, "/api/v1/read", &h, b"junk".to_vec()).await;
    assert_eq!(r.status, 400);
}

#[test]
fn content_types_parse_as_prometheus_reads_them() {
    let cases: &[(&str, Result<WriteProto, ()>)] = &[
        ("", Ok(WriteProto::V1)),
        ("application/x-protobuf", Ok(WriteProto::V1)),
        ("application/x-protobuf;proto=prometheus.WriteRequest", Ok(WriteProto::V1)),
        ("application/x-protobuf;proto=io.prometheus.write.v2.Request", Ok(WriteProto::V2)),
        ("application/x-protobuf; proto=io.prometheus.write.v2.Request", Ok(WriteProto::V2)),
        ("application/x-protobuf;charset=utf-8", Ok(WriteProto::V1)),
        ("application/x-protobuf;proto=foo", Err(())),
        ("text/plain", Err(())),
        ("application/x-protobuf;x", Err(())),
    ];
    for (ct, want) in cases {
        assert_eq!(parse_write_content_type(ct).map_err(|_| ()), *want, "{ct:?}");
    }
}
