//! Request bodies for a batch: remote write 1.0 (`prometheus.WriteRequest`) and 2.0
//! (`io.prometheus.write.v2.Request`), samples grouped by series in first-seen order.

use super::metadata::MetadataIndex;
use super::{Encoder, Pending};
use crate::config::RemoteWriteConfig;
use crate::remote::pb::{prometheus as v1, write_v2 as v2};
use prost::Message;
use std::collections::HashMap;
use std::sync::Arc;

/// `protobuf_message` value for remote write 2.0.
pub const V2_MESSAGE: &str = "io.prometheus.write.v2.Request";

/// Groups a batch by series (by `Arc` identity, then by value), keeping first-seen order.
fn group(batch: &[Pending]) -> Vec<(&crate::model::Labels, Vec<(i64, f64)>)> {
    let mut index: HashMap<*const crate::model::Labels, usize> = HashMap::new();
    let mut out: Vec<(&crate::model::Labels, Vec<(i64, f64)>)> = Vec::new();
    for p in batch {
        let key = Arc::as_ptr(&p.series);
        let i = *index.entry(key).or_insert_with(|| {
            out.push((&p.series, Vec::new()));
            out.len() - 1
        });
        if let Some(s) = out.get_mut(i) {
            s.1.push((p.t, p.v));
        }
    }
    out
}

/// Remote write 1.0 body.
pub fn encode_v1(batch: &[Pending]) -> Vec<u8> {
    let timeseries = group(batch)
        .into_iter()
        .map(|(labels, samples)| v1::TimeSeries {
            labels: labels.iter().map(|l| v1::Label { name: l.name.clone(), value: l.value.clone() }).collect(),
            samples: samples.into_iter().map(|(timestamp, value)| v1::Sample { value, timestamp }).collect(),
            ..Default::default()
        })
        .collect();
    v1::WriteRequest { timeseries, metadata: Vec::new() }.encode_to_vec()
}

/// Remote write 2.0 body: one symbol table (the empty string first, as the spec requires).
pub fn encode_v2(batch: &[Pending]) -> Vec<u8> {
    encode_v2_with(batch, None)
}

/// Remote write 2.0 body whose series carry their family's metadata from `index` (type,
/// help and unit; none for a family the index does not know).
pub fn encode_v2_with(batch: &[Pending], index: Option<&MetadataIndex>) -> Vec<u8> {
    let mut symbols: Vec<String> = vec![String::new()];
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut symbol = |s: &str| -> u32 {
        if s.is_empty() {
            return 0;
        }
        if let Some(&id) = ids.get(s) {
            return id;
        }
        symbols.push(s.to_string());
        let id = (symbols.len() - 1) as u32;
        ids.insert(s.to_string(), id);
        id
    };
    let groups = group(batch);
    let mut timeseries = Vec::with_capacity(groups.len());
    for (labels, samples) in &groups {
        let mut refs = Vec::with_capacity(labels.len() * 2);
        for l in labels.iter() {
            refs.push(symbol(&l.name));
            refs.push(symbol(&l.value));
        }
        let metadata = index.and_then(|i| i.lookup(labels.get("__name__")?)).map(|m| v2::Metadata {
            r#type: m.kind.to_proto(),
            help_ref: symbol(&m.help),
            unit_ref: symbol(&m.unit),
        });
        timeseries.push(v2::TimeSeries {
            labels_refs: refs,
            samples: samples.iter().map(|&(timestamp, value)| v2::Sample { value, timestamp }).collect(),
            metadata,
            ..Default::default()
        });
    }
    v2::Request { symbols, timeseries }.encode_to_vec()
}

/// The encoder, `Content-Type` and version header for an entry's `protobuf_message`.
/// A 2.0 encoder attaches metadata from `index` when given.
pub fn for_config(
    rw: &RemoteWriteConfig,
    index: Option<Arc<MetadataIndex>>,
) -> Result<(Encoder, &'static str, &'static str), String> {
    const V2_TYPE: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
    match rw.protobuf_message.as_str() {
        "" | "prometheus.WriteRequest" => Ok((Arc::new(encode_v1), "application/x-protobuf", "0.1.0")),
        V2_MESSAGE => match index {
            None => Ok((Arc::new(encode_v2), V2_TYPE, "2.0.0")),
            Some(i) => Ok((Arc::new(move |b: &[Pending]| encode_v2_with(b, Some(&i))), V2_TYPE, "2.0.0")),
        },
        other => Err(format!("unknown protobuf_message {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;

    fn batch() -> Vec<Pending> {
        let a = Arc::new(Labels::from_pairs(&[("__name__", "up"), ("job", "x")]).unwrap());
        let b = Arc::new(Labels::from_pairs(&[("__name__", "up"), ("job", "y")]).unwrap());
        vec![
            Pending { series: a.clone(), t: 1, v: 1.0, seq: 0 },
            Pending { series: b.clone(), t: 1, v: 0.0, seq: 0 },
            Pending { series: a, t: 2, v: 1.5, seq: 1 },
        ]
    }

    /// A 2.0 series carries its family's metadata, help and unit as symbols; a series of a
    /// family the index does not know carries none.
    #[test]
    fn v2_series_carry_family_metadata() {
        use crate::remote::metadata::MetricType;
        use crate::remote::sender::metadata::FamilyMetadata;
        let idx = MetadataIndex::default();
        idx.refresh(vec![FamilyMetadata {
            family: "up".into(),
            kind: MetricType::Gauge,
            help: "Target health.".into(),
            unit: String::new(),
        }]);
        let mut b = batch();
        b.push(Pending {
            series: Arc::new(Labels::from_pairs(&[("__name__", "other")]).unwrap()),
            t: 1,
            v: 1.0,
            seq: 0,
        });
        let r = v2::Request::decode(encode_v2_with(&b, Some(&idx)).as_slice()).unwrap();
        let md = r.timeseries[0].metadata.expect("metadata of up");
        assert_eq!(md.r#type, v2::metadata::MetricType::Gauge as i32);
        assert_eq!(r.symbols[md.help_ref as usize], "Target health.");
        assert_eq!(md.unit_ref, 0, "empty unit is symbol 0");
        assert_eq!(r.timeseries[1].metadata, Some(md), "same family, same metadata");
        assert_eq!(r.timeseries[2].metadata, None);
    }

    /// Decoded with the generated types (the receiver's codec), the bodies hold every
    /// sample once, grouped by series in first-seen order.
    #[test]
    fn v1_and_v2_bodies_decode_to_the_batch() {
        let r = v1::WriteRequest::decode(encode_v1(&batch()).as_slice()).unwrap();
        assert_eq!(r.timeseries.len(), 2);
        let ts0 = &r.timeseries[0];
        let names: Vec<(&str, &str)> = ts0.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
        assert_eq!(names, vec![("__name__", "up"), ("job", "x")]);
        let got: Vec<(i64, f64)> = ts0.samples.iter().map(|s| (s.timestamp, s.value)).collect();
        assert_eq!(got, vec![(1, 1.0), (2, 1.5)]);

        let r = v2::Request::decode(encode_v2(&batch()).as_slice()).unwrap();
        assert_eq!(r.symbols, vec!["", "__name__", "up", "job", "x", "y"]);
        assert_eq!(r.timeseries[0].labels_refs, vec![1, 2, 3, 4]);
        assert_eq!(r.timeseries[1].labels_refs, vec![1, 2, 3, 5]);
        assert_eq!(r.timeseries[1].samples.len(), 1);
    }
}
