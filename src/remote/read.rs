//! The remote-read server (`POST /api/v1/read`): each query's matchers select series through
//! one `tsdb::Querier` over its `[start, end]` (hints are ignored), answered either as raw
//! samples (`SAMPLES`, one snappy-compressed `ReadResponse`) or as a stream of frames
//! (`STREAMED_XOR_CHUNKS`), each a `ChunkedReadResponse` holding (part of) one series as XOR
//! chunks of at most 120 samples, re-encoded from the stored samples, cut so that a frame
//! stays near the frame bound (1 MiB by default), as Prometheus does.
//!
//! Response type negotiation follows Prometheus: the first accepted type the server supports;
//! SAMPLES when the list is empty; 400 when none is supported. The SAMPLES answer is refused
//! with 400 beyond the sample limit. There are no external labels yet.

use super::codec;
use super::pb::prometheus::{
    self as pb, ChunkedReadResponse, ChunkedSeries, QueryResult, ReadRequest, ReadResponse, TimeSeries,
    label_matcher, read_request::ResponseType,
};
use crate::model::{Labels, MatchType, Matcher};
use crate::tsdb::Db;
use crate::tsdb::chunk::{MAX_SAMPLES_PER_CHUNK, XorChunk};
use prost::Message;

/// Why a read failed; each variant fixes the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The request is invalid or exceeds a limit: 400.
    #[error("{0}")]
    BadRequest(String),
    /// The storage failed: 500.
    #[error("{0}")]
    Internal(String),
}

impl ReadError {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            ReadError::BadRequest(_) => 400,
            ReadError::Internal(_) => 500,
        }
    }
}

/// Picks the response type: the first of `accepted` the server supports, SAMPLES for none.
pub fn negotiate(accepted: &[i32]) -> Result<ResponseType, ReadError> {
    if accepted.is_empty() {
        return Ok(ResponseType::Samples);
    }
    accepted.iter().find_map(|&t| ResponseType::try_from(t).ok()).ok_or_else(|| {
        ReadError::BadRequest(format!(
            "server does not support any of the requested response types: {accepted:?}; supported: [SAMPLES STREAMED_XOR_CHUNKS]"
        ))
    })
}

/// Converts protobuf matchers to ours; bad regexes and unknown types are bad requests.
pub fn to_matchers(ms: &[pb::LabelMatcher]) -> Result<Vec<Matcher>, ReadError> {
    ms.iter()
        .map(|m| {
            let kind = match label_matcher::Type::try_from(m.r#type) {
                Ok(label_matcher::Type::Eq) => MatchType::Equal,
                Ok(label_matcher::Type::Neq) => MatchType::NotEqual,
                Ok(label_matcher::Type::Re) => MatchType::Regex,
                Ok(label_matcher::Type::Nre) => MatchType::NotRegex,
                Err(_) => return Err(ReadError::BadRequest(format!("invalid matcher type {}", m.r#type))),
            };
            Matcher::new(kind, m.name.clone(), m.value.clone()).map_err(|e| ReadError::BadRequest(e.to_string()))
        })
        .collect()
}

/// Converts a label set to its protobuf form.
pub fn to_pb_labels(labels: &Labels) -> Vec<pb::Label> {
    labels.iter().map(|l| pb::Label { name: l.name.clone(), value: l.value.clone() }).collect()
}

fn select(db: &Db, q: &pb::Query) -> Result<Vec<crate::tsdb::Series>, ReadError> {
    let matchers = to_matchers(&q.matchers)?;
    db.querier(q.start_timestamp_ms, q.end_timestamp_ms).select(&matchers).map_err(|e| ReadError::Internal(e.to_string()))
}

/// Answers every query with raw samples. More than `sample_limit` samples in all (0: no
/// limit) is a bad request, as Prometheus's `--storage.remote.read-sample-limit`.
pub fn read_samples(db: &Db, req: &ReadRequest, sample_limit: usize) -> Result<ReadResponse, ReadError> {
    let mut results = Vec::with_capacity(req.queries.len());
    let mut total = 0usize;
    for q in &req.queries {
        let mut timeseries = Vec::new();
        for series in select(db, q)? {
            let mut it = series.iter();
            let mut samples = Vec::new();
            for (t, v) in it.by_ref() {
                total += 1;
                if sample_limit > 0 && total > sample_limit {
                    return Err(ReadError::BadRequest(format!("exceeded sample limit ({sample_limit})")));
                }
                samples.push(pb::Sample { value: v, timestamp: t });
            }
            if let Some(e) = it.err() {
                return Err(ReadError::Internal(e.to_string()));
            }
            if !samples.is_empty() {
                timeseries.push(TimeSeries { labels: to_pb_labels(series.labels()), samples, ..Default::default() });
            }
        }
        results.push(QueryResult { timeseries });
    }
    Ok(ReadResponse { results })
}

/// Builds the frames of one series and hands each to `emit`; returns false when `emit` did
/// (the client went away).
struct FrameCutter<'a, F: FnMut(Vec<u8>) -> bool> {
    emit: &'a mut F,
    max_frame: usize,
    query_index: i64,
    buf: Vec<u8>,
}

impl<F: FnMut(Vec<u8>) -> bool> FrameCutter<'_, F> {
    fn series(&mut self, labels: Vec<pb::Label>, samples: impl Iterator<Item = (i64, f64)>) -> bool {
        let labels_len: usize = labels.iter().map(Message::encoded_len).sum();
        let budget = self.max_frame.saturating_sub(labels_len) as i64;
        let mut left = budget;
        let mut msg = ChunkedReadResponse {
            chunked_series: vec![ChunkedSeries { labels, chunks: Vec::new() }],
            query_index: self.query_index,
        };
        let mut chunk = XorChunk::new();
        let mut min_t = 0;
        let mut samples = samples.peekable();
        while let Some((t, v)) = samples.next() {
            if chunk.num_samples() == 0 {
                min_t = t;
            }
            chunk.append(t, v);
            if chunk.num_samples() < MAX_SAMPLES_PER_CHUNK && samples.peek().is_some() {
                continue;
            }
            let c = pb::Chunk {
                min_time_ms: min_t,
                max_time_ms: t,
                r#type: pb::chunk::Encoding::Xor as i32,
                data: std::mem::take(&mut chunk).bytes().to_vec(),
            };
            left -= c.encoded_len() as i64;
            if let Some(s) = msg.chunked_series.first_mut() {
                s.chunks.push(c);
            }
            // A frame may exceed the bound by at most one chunk, as in Prometheus.
            if left <= 0 || samples.peek().is_none() {
                if !self.flush(&mut msg) {
                    return false;
                }
                left = budget;
            }
        }
        true
    }

    fn flush(&mut self, msg: &mut ChunkedReadResponse) -> bool {
        self.buf.clear();
        codec::write_chunked_response(&mut self.buf, msg);
        if let Some(s) = msg.chunked_series.first_mut() {
            s.chunks.clear();
        }
        (self.emit)(std::mem::take(&mut self.buf))
    }
}

/// Answers every query as streamed XOR chunk frames, handing each encoded frame to `emit`
/// in order; stops early when `emit` returns false.
pub fn stream_chunks(
    db: &Db,
    req: &ReadRequest,
    max_frame: usize,
    mut emit: impl FnMut(Vec<u8>) -> bool,
) -> Result<(), ReadError> {
    for (i, q) in req.queries.iter().enumerate() {
        let mut cutter = FrameCutter { emit: &mut emit, max_frame, query_index: i as i64, buf: Vec::new() };
        for series in select(db, q)? {
            let mut it = series.iter();
            if !cutter.series(to_pb_labels(series.labels()), it.by_ref()) {
                return Ok(());
            }
            if let Some(e) = it.err() {
                return Err(ReadError::Internal(e.to_string()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
