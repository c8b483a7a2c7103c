//! Request bodies for a batch: remote write 1.0 (`prometheus.WriteRequest`) and 2.0
//! (`io.prometheus.write.v2.Request`), samples grouped by series in first-seen order.

use super::metadata::MetadataIndex;
use super::{Encoder, Pending};
use crate::config::RemoteWriteConfig;
use crate::model::Labels;
use crate::remote::pb::{prometheus as v1, write_v2 as v2};
use prost::Message;
use std::collections::HashMap;
use std::sync::Arc;

/// `protobuf_message` value for remote write 2.0.
pub const V2_MESSAGE: &str = "io.prometheus.write.v2.Request";

/// One series of a batch: its samples and exemplars `(labels, t, v)`, in batch order.
struct Group<'a> {
    labels: &'a Labels,
    samples: Vec<(i64, f64)>,
    exemplars: Vec<(&'a Labels, i64, f64)>,
}

/// Groups a batch by series (by `Arc` identity), keeping first-seen order.
fn group(batch: &[Pending]) -> Vec<Group<'_>> {
    let mut index: HashMap<*const Labels, usize> = HashMap::new();
    let mut out: Vec<Group<'_>> = Vec::new();
    for p in batch {
        let key = Arc::as_ptr(&p.series);
        let i = *index.entry(key).or_insert_with(|| {
            out.push(Group { labels: &p.series, samples: Vec::new(), exemplars: Vec::new() });
            out.len() - 1
        });
        if let Some(g) = out.get_mut(i) {
            match &p.exemplar {
                None => g.samples.push((p.t, p.v)),
                Some(l) => g.exemplars.push((l, p.t, p.v)),
            }
        }
    }
    out
}

fn v1_labels(labels: &Labels) -> Vec<v1::Label> {
    labels.iter().map(|l| v1::Label { name: l.name.clone(), value: l.value.clone() }).collect()
}

/// Remote write 1.0 body.
pub fn encode_v1(batch: &[Pending]) -> Vec<u8> {
    let timeseries = group(batch)
        .into_iter()
        .map(|g| v1::TimeSeries {
            labels: v1_labels(g.labels),
            samples: g.samples.into_iter().map(|(timestamp, value)| v1::Sample { value, timestamp }).collect(),
            exemplars: g
                .exemplars
                .into_iter()
                .map(|(l, timestamp, value)| v1::Exemplar { labels: v1_labels(l), value, timestamp })
                .collect(),
            ..Default::default()
        })
        .collect();
    v1::WriteRequest { timeseries, metadata: Vec::new() }.encode_to_vec()
}

/// A symbol table under construction (the empty string is symbol 0).
struct Symbols<'a> {
    symbols: Vec<String>,
    ids: HashMap<&'a str, u32>,
}

impl<'a> Symbols<'a> {
    fn symbol(&mut self, s: &'a str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        *self.ids.entry(s).or_insert_with(|| {
            self.symbols.push(s.to_string());
            (self.symbols.len() - 1) as u32
        })
    }

    fn refs(&mut self, labels: &'a Labels) -> Vec<u32> {
        let mut refs = Vec::with_capacity(labels.len() * 2);
        for l in labels.iter() {
            refs.push(self.symbol(&l.name));
            refs.push(self.symbol(&l.value));
        }
        refs
    }
}

/// Remote write 2.0 body: one symbol table (the empty string first, as the spec requires).
pub fn encode_v2(batch: &[Pending]) -> Vec<u8> {
    encode_v2_with(batch, None)
}

/// Remote write 2.0 body whose series carry their family's metadata from `index` (type,
/// help and unit; none for a family the index does not know).
pub fn encode_v2_with(batch: &[Pending], index: Option<&MetadataIndex>) -> Vec<u8> {
    let groups = group(batch);
    // Metadata looked up first: the symbol table borrows the strings until the end.
    let metadata: Vec<_> = groups.iter().map(|g| index.and_then(|i| i.lookup(g.labels.get("__name__")?))).collect();
    let mut syms = Symbols { symbols: vec![String::new()], ids: HashMap::new() };
    let mut timeseries = Vec::with_capacity(groups.len());
    for (g, md) in groups.iter().zip(&metadata) {
        let labels_refs = syms.refs(g.labels);
        let exemplars = g
            .exemplars
            .iter()
            .map(|&(l, timestamp, value)| v2::Exemplar { labels_refs: syms.refs(l), value, timestamp })
            .collect();
        let metadata = md.as_ref().map(|m| v2::Metadata {
            r#type: m.kind.to_proto(),
            help_ref: syms.symbol(&m.help),
            unit_ref: syms.symbol(&m.unit),
        });
        timeseries.push(v2::TimeSeries {
            labels_refs,
            samples: g.samples.iter().map(|&(timestamp, value)| v2::Sample { value, timestamp }).collect(),
            exemplars,
            metadata,
            ..Default::default()
        });
    }
    v2::Request { symbols: syms.symbols, timeseries }.encode_to_vec()
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

    fn batch() -> Vec<Pending> {
        let a = Arc::new(Labels::from_pairs(&[("__name__", "up"), ("job", "x")]).unwrap());
        let b = Arc::new(Labels::from_pairs(&[("__name__", "up"), ("job", "y")]).unwrap());
        vec![
            Pending { series: a.clone(), t: 1, v: 1.0, exemplar: None, seq: 0 },
            Pending { series: b.clone(), t: 1, v: 0.0, exemplar: None, seq: 0 },
            Pending { series: a.clone(), t: 2, v: 1.5, exemplar: None, seq: 1 },
            Pending { series: a, t: 2, v: 0.25, exemplar: Some(Box::new(trace("abc"))), seq: 1 },
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
            exemplar: None,
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

    fn trace(id: &str) -> Labels {
        Labels::from_pairs(&[("trace_id", id)]).unwrap()
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
        assert_eq!(ts0.exemplars.len(), 1);
        let e = &ts0.exemplars[0];
        assert_eq!(
            (e.labels[0].name.as_str(), e.labels[0].value.as_str(), e.value, e.timestamp),
            ("trace_id", "abc", 0.25, 2)
        );
        assert!(r.timeseries[1].exemplars.is_empty());

        let r = v2::Request::decode(encode_v2(&batch()).as_slice()).unwrap();
        // Series labels first, then the exemplar's labels as the series that holds them is met.
        assert_eq!(r.symbols, vec!["", "__name__", "up", "job", "x", "trace_id", "abc", "y"]);
        assert_eq!(r.timeseries[0].labels_refs, vec![1, 2, 3, 4]);
        assert_eq!(r.timeseries[0].exemplars.len(), 1);
        assert_eq!(r.timeseries[0].exemplars[0].labels_refs, vec![5, 6]);
        assert_eq!((r.timeseries[0].exemplars[0].value, r.timeseries[0].exemplars[0].timestamp), (0.25, 2));
        assert_eq!(r.timeseries[0].samples.len(), 2);
        assert_eq!(r.timeseries[1].labels_refs, vec![1, 2, 3, 7]);
        assert_eq!(r.timeseries[1].samples.len(), 1);
    }
}
