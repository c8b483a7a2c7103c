use super::*;
use crate::remote::pb::prometheus::{Exemplar, Histogram, Label, MetricMetadata, Sample, TimeSeries, WriteRequest};
use proptest::prelude::*;
use prost::Message;

fn lbl(n: &str, v: &str) -> Label {
    Label { name: n.into(), value: v.into() }
}

fn request() -> WriteRequest {
    WriteRequest {
        timeseries: vec![
            TimeSeries {
                labels: vec![lbl("__name__", "up"), lbl("job", "a\u{e9}")],
                samples: vec![Sample { value: 1.5, timestamp: 10 }, Sample { value: f64::NAN, timestamp: -3 }],
                exemplars: vec![Exemplar { labels: vec![lbl("trace_id", "x")], value: 2.0, timestamp: 11 }],
                histograms: vec![],
            },
            TimeSeries { labels: vec![], samples: vec![Sample::default()], exemplars: vec![], histograms: vec![] },
        ],
        metadata: vec![MetricMetadata {
            r#type: 2,
            metric_family_name: "up".into(),
            help: "h".into(),
            unit: "u".into(),
        }],
    }
}

/// Flat decoding agrees with prost: same content whenever it decodes, and every body prost
/// refuses is refused too.
fn agrees(buf: &[u8]) -> bool {
    let flat = FlatWrite::decode(buf);
    match (flat, WriteRequest::decode(buf)) {
        (Ok(f), Ok(p)) => {
            assert_eq!(format!("{:?}", f), format!("{:?}", FlatWrite::from_request(&p)), "content differs");
            true
        }
        (Ok(_), Err(e)) => panic!("flat decoded a body prost refuses: {e}"),
        (Err(Refused), _) => false,
    }
}

#[test]
fn decodes_what_prost_decodes() {
    let req = request();
    let buf = req.encode_to_vec();
    assert!(agrees(&buf));
    let f = FlatWrite::decode(&buf).unwrap();
    let series: Vec<_> = f.iter().collect();
    assert_eq!(series.len(), 2);
    assert_eq!(series[0].pairs, &[("__name__", "up"), ("job", "a\u{e9}")]);
    assert_eq!(series[0].samples[0], (10, 1.5));
    assert_eq!(series[0].samples[1].0, -3);
    assert!(series[0].samples[1].1.is_nan());
    assert_eq!(f.exemplar_labels(&series[0].exemplars[0]), &[("trace_id", "x")]);
    assert_eq!(series[0].exemplars[0].timestamp, 11);
    assert!(series[1].pairs.is_empty());
    assert_eq!(series[1].samples, &[(0, 0.0)]);
    assert_eq!(f.metadata, vec![FlatMetadata { kind: 2, name: "up", help: "h", unit: "u" }]);
}

#[test]
fn every_truncation_is_refused_or_agrees() {
    let buf = request().encode_to_vec();
    for n in 0..buf.len() {
        agrees(&buf[..n]);
    }
}

#[test]
fn unknown_fields_are_skipped_and_strange_shapes_left_to_prost() {
    let mut buf = request().encode_to_vec();
    // Field 7 varint, field 8 fixed32, field 9 length-delimited: skipped as prost does.
    buf.extend_from_slice(&[7 << 3, 0x96, 0x01, (8 << 3) | 5, 1, 2, 3, 4, (9 << 3) | 2, 2, b'h', b'i']);
    assert!(agrees(&buf));
    // A group (wire type 3): prost skips it, the flat decoder leaves it to prost.
    let mut grouped = request().encode_to_vec();
    grouped.extend_from_slice(&[(7 << 3) | 3, (7 << 3) | 4]);
    assert_eq!(FlatWrite::decode(&grouped), Err(Refused));
    assert!(WriteRequest::decode(grouped.as_slice()).is_ok());
    // Invalid UTF-8 in a label value.
    let bad = WriteRequest {
        timeseries: vec![TimeSeries { labels: vec![lbl("a", "\u{ff}")], ..TimeSeries::default() }],
        metadata: vec![],
    }
    .encode_to_vec();
    let at = bad.iter().position(|&b| b == 0xc3).unwrap();
    let mut bad = bad;
    bad[at] = 0xff;
    assert_eq!(FlatWrite::decode(&bad), Err(Refused));
    assert!(WriteRequest::decode(bad.as_slice()).is_err());
    // Native histograms are left to prost.
    let h = WriteRequest {
        timeseries: vec![TimeSeries { histograms: vec![Histogram::default()], ..TimeSeries::default() }],
        metadata: vec![],
    };
    assert_eq!(FlatWrite::decode(&h.encode_to_vec()), Err(Refused));
    assert_eq!(FlatWrite::from_request(&h).series[0].histograms, 1);
}

#[test]
fn wrong_wire_types_and_bad_varints_are_refused() {
    // timeseries as a varint; a sample timestamp as fixed64; an 11-byte varint.
    for buf in [
        vec![1 << 3, 5],
        vec![(1 << 3) | 2, 11, (2 << 3) | 2, 9, (2 << 3) | 1, 0, 0, 0, 0, 0, 0, 0, 0],
        vec![(1 << 3) | 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        vec![0],
    ] {
        assert_eq!(FlatWrite::decode(&buf), Err(Refused), "{buf:?}");
        assert!(WriteRequest::decode(buf.as_slice()).is_err(), "{buf:?}");
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_agree(buf in proptest::collection::vec(any::<u8>(), 0..64)) {
        agrees(&buf);
    }

    #[test]
    fn mutated_requests_agree(at in 0usize..200, byte in any::<u8>()) {
        let mut buf = request().encode_to_vec();
        let i = at % buf.len();
        buf[i] = byte;
        agrees(&buf);
    }
}
