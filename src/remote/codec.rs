//! Wire encodings shared by the remote-storage endpoints and their clients: snappy block
//! compression with a bound checked before allocating, the protobuf bodies of remote write
//! (1.0 and 2.0) and remote read, the length-delimited, CRC-checked frames of streamed remote
//! read, and XOR chunk re-encoding of sample runs.
//!
//! Everything here is pure (no I/O), so the sender and the remote-read client reuse it.

use super::flat_v1::FlatWrite;
use super::pb::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use super::pb::prometheus::{self as pb, ChunkedReadResponse, ReadRequest, ReadResponse, WriteRequest};
use super::pb::write_v2;
use crate::tsdb::chunk::{MAX_SAMPLES_PER_CHUNK, XorChunk, XorIterator};
use crate::tsdb::varint;
use prost::Message;

/// Content-Type of remote write 1.0 and remote read bodies.
pub const PROTOBUF_CONTENT_TYPE: &str = "application/x-protobuf";
/// The `proto=` parameter value naming the remote write 1.0 message.
pub const PROTO_V1: &str = "prometheus.WriteRequest";
/// The `proto=` parameter value naming the remote write 2.0 message.
pub const PROTO_V2: &str = "io.prometheus.write.v2.Request";
/// Content-Type of a remote write 2.0 body.
pub const CONTENT_TYPE_V2: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
/// Content-Type of a streamed (`STREAMED_XOR_CHUNKS`) remote read response.
pub const STREAMED_CONTENT_TYPE: &str = "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse";
/// Largest decompressed body accepted by default (32 MiB, Prometheus's remote read limit).
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 32 << 20;
/// Default bound of one streamed remote read frame (Prometheus's
/// `--storage.remote.read-max-bytes-in-frame`, 1 MiB).
pub const DEFAULT_MAX_BYTES_IN_FRAME: usize = 1 << 20;

/// Why a body or frame does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The snappy block is malformed (bad length header or corrupt data).
    #[error("snappy: {0}")]
    Snappy(String),
    /// The snappy length header announces more than the bound; nothing was allocated.
    #[error("decompressed size {len} exceeds the limit of {max} bytes")]
    TooLarge {
        /// The announced decompressed length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// The protobuf message is malformed.
    #[error("{0}")]
    Protobuf(String),
    /// A streamed frame is malformed: bad length, truncated, or a CRC mismatch.
    #[error("chunked frame: {0}")]
    Frame(String),
    /// A chunk in a chunked response does not decode.
    #[error("chunk: {0}")]
    Chunk(String),
}

/// Decompresses a snappy block-format body, refusing (before allocating anything) one whose
/// length header announces more than `max` bytes.
pub fn snappy_decode(body: &[u8], max: usize) -> Result<Vec<u8>, CodecError> {
    let len = snap::raw::decompress_len(body).map_err(|e| CodecError::Snappy(e.to_string()))?;
    if len > max {
        return Err(CodecError::TooLarge { len, max });
    }
    snap::raw::Decoder::new().decompress_vec(body).map_err(|e| CodecError::Snappy(e.to_string()))
}

/// Compresses `raw` in the snappy block format.
pub fn snappy_encode(raw: &[u8]) -> Vec<u8> {
    // `compress_vec` only fails for inputs beyond snappy's 4 GiB block limit.
    snap::raw::Encoder::new().compress_vec(raw).unwrap_or_default()
}

fn decode_proto<M: Message + Default>(raw: &[u8]) -> Result<M, CodecError> {
    M::decode(raw).map_err(|e| CodecError::Protobuf(e.to_string()))
}

/// Decodes a snappy-compressed remote write 1.0 body.
pub fn decode_write_request(body: &[u8], max: usize) -> Result<WriteRequest, CodecError> {
    decode_proto(&snappy_decode(body, max)?)
}

/// Decodes a snappy-compressed remote write 1.0 body into its borrowed form and hands it to
/// `f`: without copying a string for well-formed bodies, through `prost` for the rest (whose
/// error is the one returned).
pub fn with_write_request<R>(body: &[u8], max: usize, f: impl FnOnce(&FlatWrite<'_>) -> R) -> Result<R, CodecError> {
    let raw = snappy_decode(body, max)?;
    match FlatWrite::decode(&raw) {
        Ok(w) => Ok(f(&w)),
        Err(_) => {
            let req: WriteRequest = decode_proto(&raw)?;
            Ok(f(&FlatWrite::from_request(&req)))
        }
    }
}

/// Decodes a snappy-compressed remote write 2.0 body.
pub fn decode_write_request_v2(body: &[u8], max: usize) -> Result<write_v2::Request, CodecError> {
    decode_proto(&snappy_decode(body, max)?)
}

/// Encodes a remote write 1.0 body: protobuf, then snappy.
pub fn encode_write_request(req: &WriteRequest) -> Vec<u8> {
    snappy_encode(&req.encode_to_vec())
}

/// Encodes a remote write 2.0 body: protobuf, then snappy.
pub fn encode_write_request_v2(req: &write_v2::Request) -> Vec<u8> {
    snappy_encode(&req.encode_to_vec())
}

/// Decodes a snappy-compressed remote read request.
pub fn decode_read_request(body: &[u8], max: usize) -> Result<ReadRequest, CodecError> {
    decode_proto(&snappy_decode(body, max)?)
}

/// Encodes a remote read request: protobuf, then snappy.
pub fn encode_read_request(req: &ReadRequest) -> Vec<u8> {
    snappy_encode(&req.encode_to_vec())
}

/// Decodes a snappy-compressed `SAMPLES` remote read response.
pub fn decode_read_response(body: &[u8], max: usize) -> Result<ReadResponse, CodecError> {
    decode_proto(&snappy_decode(body, max)?)
}

/// Encodes a `SAMPLES` remote read response: protobuf, then snappy.
pub fn encode_read_response(resp: &ReadResponse) -> Vec<u8> {
    snappy_encode(&resp.encode_to_vec())
}

/// Decodes an uncompressed OTLP metrics export request.
pub fn decode_export_request(raw: &[u8]) -> Result<ExportMetricsServiceRequest, CodecError> {
    decode_proto(raw)
}

/// Appends one streamed-read frame to `out`: the message length as a uvarint, the CRC32
/// (Castagnoli) of the message as 4 big-endian bytes, then the message.
pub fn write_frame(out: &mut Vec<u8>, msg: &[u8]) {
    varint::put_uvarint(out, msg.len() as u64);
    out.extend_from_slice(&crc32c::crc32c(msg).to_be_bytes());
    out.extend_from_slice(msg);
}

/// Encodes one `ChunkedReadResponse` as a frame appended to `out`.
pub fn write_chunked_response(out: &mut Vec<u8>, resp: &ChunkedReadResponse) {
    write_frame(out, &resp.encode_to_vec());
}

/// Reads the frame at the start of `buf`: `Ok(None)` when `buf` is empty, else the message
/// and the number of bytes the frame took. A frame longer than `max` is refused before its
/// bytes are looked at.
pub fn read_frame(buf: &[u8], max: usize) -> Result<Option<(&[u8], usize)>, CodecError> {
    if buf.is_empty() {
        return Ok(None);
    }
    let mut r = varint::ByteReader::new(buf);
    let len = r.uvarint().map_err(|e| CodecError::Frame(format!("bad length: {e:?}")))?;
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > max {
        return Err(CodecError::Frame(format!("frame of {len} bytes exceeds the limit of {max}")));
    }
    let body = r.position() + 4;
    let crc = buf.get(body - 4..body).and_then(|c| <[u8; 4]>::try_from(c).ok());
    let want = u32::from_be_bytes(crc.ok_or_else(|| CodecError::Frame("truncated checksum".into()))?);
    let end = body.checked_add(len).ok_or_else(|| CodecError::Frame("bad length".into()))?;
    let msg = buf.get(body..end).ok_or_else(|| CodecError::Frame("truncated message".into()))?;
    let got = crc32c::crc32c(msg);
    if got != want {
        return Err(CodecError::Frame(format!("checksum mismatch: want {want:#010x}, got {got:#010x}")));
    }
    Ok(Some((msg, end)))
}

/// Decodes every frame of a streamed remote read response body.
pub fn decode_chunked_responses(mut body: &[u8], max_frame: usize) -> Result<Vec<ChunkedReadResponse>, CodecError> {
    let mut out = Vec::new();
    while let Some((msg, used)) = read_frame(body, max_frame)? {
        out.push(decode_proto(msg)?);
        body = body.get(used..).unwrap_or_default();
    }
    Ok(out)
}

/// Encodes a time-ordered run of samples as XOR chunks of at most `max_samples` samples each
/// (0 means [`MAX_SAMPLES_PER_CHUNK`]), appending them to `out`.
pub fn encode_xor_chunks(samples: impl IntoIterator<Item = (i64, f64)>, max_samples: usize, out: &mut Vec<pb::Chunk>) {
    let max = if max_samples == 0 { MAX_SAMPLES_PER_CHUNK } else { max_samples.min(usize::from(u16::MAX)) };
    let mut chunk = XorChunk::new();
    let mut min_t = 0;
    let mut max_t = 0;
    let flush = |chunk: &XorChunk, min_t: i64, max_t: i64, out: &mut Vec<pb::Chunk>| {
        out.push(pb::Chunk {
            min_time_ms: min_t,
            max_time_ms: max_t,
            r#type: pb::chunk::Encoding::Xor as i32,
            data: chunk.bytes().to_vec(),
        });
    };
    for (t, v) in samples {
        if chunk.num_samples() == max {
            flush(&chunk, min_t, max_t, out);
            chunk = XorChunk::new();
        }
        if chunk.num_samples() == 0 {
            min_t = t;
        }
        chunk.append(t, v);
        max_t = t;
    }
    if chunk.num_samples() > 0 {
        flush(&chunk, min_t, max_t, out);
    }
}

/// Decodes the samples of one XOR chunk of a chunked response.
pub fn decode_xor_chunk(chunk: &pb::Chunk) -> Result<Vec<(i64, f64)>, CodecError> {
    if chunk.r#type != pb::chunk::Encoding::Xor as i32 {
        return Err(CodecError::Chunk(format!("unsupported chunk encoding {}", chunk.r#type)));
    }
    let mut it = XorIterator::new(&chunk.data);
    let samples: Vec<(i64, f64)> = it.by_ref().collect();
    match it.err() {
        Some(e) => Err(CodecError::Chunk(e.to_string())),
        None => Ok(samples),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn snappy_bound_is_checked_before_decompressing() {
        // A snappy block starts with the decompressed length as a uvarint: 0xffffffff (4 GiB)
        // followed by garbage. The bound must refuse it from the header alone.
        let bomb = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x01, 0x02];
        assert_eq!(snappy_decode(&bomb, 1 << 20), Err(CodecError::TooLarge { len: 0xffff_ffff, max: 1 << 20 }));
        // A header within the bound but corrupt data is a snappy error.
        assert!(matches!(snappy_decode(&[0x05, 0xff, 0xff], 1 << 20), Err(CodecError::Snappy(_))));
        assert!(matches!(snappy_decode(&[], 1 << 20), Err(CodecError::Snappy(_))));
        // Exactly at the bound is fine.
        let raw = vec![7u8; 4096];
        assert_eq!(snappy_decode(&snappy_encode(&raw), 4096).unwrap(), raw);
        assert_eq!(snappy_decode(&snappy_encode(&raw), 4095), Err(CodecError::TooLarge { len: 4096, max: 4095 }));
    }

    #[test]
    fn write_request_bytes_match_the_protobuf_wire_format() {
        // Hand-encoded per the protobuf spec: field 1 (timeseries, LEN) holding field 1
        // (labels, LEN, 14 bytes) {1: "__name__", 2: "up"} and field 2 (samples, LEN) {1: double 2.0
        // (fixed64 LE), 2: varint 5}.
        let want: Vec<u8> = [
            &[0x0a, 0x1d][..],
            &[0x0a, 0x0e, 0x0a, 0x08],
            b"__name__",
            &[0x12, 0x02],
            b"up",
            &[0x12, 0x0b, 0x09],
            &2.0f64.to_le_bytes(),
            &[0x10, 0x05],
        ]
        .concat();
        let req = WriteRequest {
            timeseries: vec![pb::TimeSeries {
                labels: vec![pb::Label { name: "__name__".into(), value: "up".into() }],
                samples: vec![pb::Sample { value: 2.0, timestamp: 5 }],
                ..Default::default()
            }],
            metadata: vec![],
        };
        assert_eq!(req.encode_to_vec(), want);
        assert_eq!(decode_write_request(&snappy_encode(&want), 1 << 20).unwrap(), req);
    }

    #[test]
    fn frames_round_trip_and_detect_damage() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"hello");
        write_frame(&mut buf, &[0u8; 300]);
        // First frame: length 5 as one uvarint byte, 4 CRC bytes, 5 message bytes.
        assert_eq!(buf[0], 5);
        assert_eq!(&buf[1..5], &crc32c::crc32c(b"hello").to_be_bytes());
        let (m, used) = read_frame(&buf, 1000).unwrap().unwrap();
        assert_eq!((m, used), (&b"hello"[..], 10));
        let (m, _) = read_frame(&buf[used..], 1000).unwrap().unwrap();
        assert_eq!(m.len(), 300);
        assert_eq!(read_frame(&[], 10), Ok(None));
        assert!(read_frame(&buf[used..], 100).is_err(), "frame larger than the bound");
        let mut bad = buf.clone();
        bad[6] ^= 1;
        assert!(matches!(read_frame(&bad, 1000), Err(CodecError::Frame(m)) if m.contains("checksum")));
        assert!(read_frame(&buf[..7], 1000).is_err(), "truncated");
        assert!(read_frame(&[0xff; 11], 1000).is_err(), "overlong varint");
    }

    #[test]
    fn xor_chunks_are_cut_and_decode() {
        let samples: Vec<(i64, f64)> = (0..250).map(|i| (i * 1000, i as f64 * 0.5)).collect();
        let mut chunks = Vec::new();
        encode_xor_chunks(samples.iter().copied(), 0, &mut chunks);
        assert_eq!(chunks.len(), 3, "120 + 120 + 10");
        assert_eq!((chunks[0].min_time_ms, chunks[0].max_time_ms), (0, 119_000));
        assert_eq!((chunks[2].min_time_ms, chunks[2].max_time_ms), (240_000, 249_000));
        let back: Vec<(i64, f64)> = chunks.iter().flat_map(|c| decode_xor_chunk(c).unwrap()).collect();
        assert_eq!(back, samples);
        let mut none = Vec::new();
        encode_xor_chunks(std::iter::empty(), 0, &mut none);
        assert!(none.is_empty());
        let bad = pb::Chunk { r#type: 2, ..chunks[0].clone() };
        assert!(decode_xor_chunk(&bad).is_err());
    }

    proptest! {
        #[test]
        fn write_request_round_trips(
            series in proptest::collection::vec(
                (
                    proptest::collection::vec(("[a-z_]{1,8}", "\\PC{0,12}"), 0..5),
                    proptest::collection::vec((any::<i64>(), any::<u64>()), 0..20),
                ),
                0..8,
            )
        ) {
            let req = WriteRequest {
                timeseries: series.into_iter().map(|(ls, ss)| pb::TimeSeries {
                    labels: ls.into_iter().map(|(name, value)| pb::Label { name, value }).collect(),
                    samples: ss.into_iter().map(|(t, bits)| pb::Sample { value: f64::from_bits(bits), timestamp: t }).collect(),
                    ..Default::default()
                }).collect(),
                metadata: vec![],
            };
            let back = decode_write_request(&encode_write_request(&req), usize::MAX).unwrap();
            prop_assert_eq!(back.timeseries.len(), req.timeseries.len());
            for (a, b) in back.timeseries.iter().zip(&req.timeseries) {
                prop_assert_eq!(&a.labels, &b.labels);
                let bits = |ss: &[pb::Sample]| ss.iter().map(|s| (s.timestamp, s.value.to_bits())).collect::<Vec<_>>();
                prop_assert_eq!(bits(&a.samples), bits(&b.samples));
            }
        }

        #[test]
        fn xor_chunks_round_trip(deltas in proptest::collection::vec((1i64..100_000, any::<u64>()), 0..400), per in 0usize..200) {
            let mut t = -1_000_000i64;
            let samples: Vec<(i64, u64)> = deltas.into_iter().map(|(d, b)| { t += d; (t, b) }).collect();
            let mut chunks = Vec::new();
            encode_xor_chunks(samples.iter().map(|&(t, b)| (t, f64::from_bits(b))), per, &mut chunks);
            let back: Vec<(i64, u64)> = chunks.iter().flat_map(|c| decode_xor_chunk(c).unwrap()).map(|(t, v)| (t, v.to_bits())).collect();
            prop_assert_eq!(back, samples);
        }

        #[test]
        fn frames_round_trip(msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..10)) {
            let mut buf = Vec::new();
            for m in &msgs {
                write_frame(&mut buf, m);
            }
            let mut rest = &buf[..];
            let mut back = Vec::new();
            while let Some((m, used)) = read_frame(rest, 1000).unwrap() {
                back.push(m.to_vec());
                rest = &rest[used..];
            }
            prop_assert_eq!(back, msgs);
        }
    }
}
