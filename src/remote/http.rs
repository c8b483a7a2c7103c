//! The HTTP face of the remote endpoints, mounted under `/api/v1` by [`routes`]:
//! `POST /write` (remote write 1.0 and 2.0), `POST /otlp/v1/metrics` (OTLP over HTTP,
//! protobuf, identity or gzip) and `POST /read` (remote read).
//!
//! Header handling follows Prometheus: the protobuf message is chosen by the `proto=`
//! parameter of `Content-Type` (1.0 when absent or when the header is missing; an unknown
//! message or media type is 415), `Content-Encoding` must be `snappy` or absent (else 415).
//! Decoding and storage work run on tokio's blocking pool. Until the storage is open every
//! endpoint answers 503. Errors are `text/plain` bodies, as Go's `http.Error` writes them.

use super::codec::{self, CodecError, PROTO_V1, PROTO_V2, PROTOBUF_CONTENT_TYPE, STREAMED_CONTENT_TYPE};
use super::pb::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use super::read::{self, ReadError};
use super::write::{self, WriteError, WriteStats};
use super::{Remote, now_ms, state};
use crate::web::AppState;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use std::io::Read as _;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Response header: float samples written (remote write 2.0).
pub const SAMPLES_WRITTEN: &str = "X-Prometheus-Remote-Write-Samples-Written";
/// Response header: native histogram samples written (remote write 2.0).
pub const HISTOGRAMS_WRITTEN: &str = "X-Prometheus-Remote-Write-Histograms-Written";
/// Response header: exemplars written (remote write 2.0).
pub const EXEMPLARS_WRITTEN: &str = "X-Prometheus-Remote-Write-Exemplars-Written";

/// The routes, relative to `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/write", post(write_handler))
        .route("/read", post(read_handler))
        .route("/otlp/v1/metrics", post(otlp_handler))
}

/// A plain-text error answer, as Go's `http.Error`.
fn text_error(status: u16, msg: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (status, format!("{msg}\n")).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> &str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").trim()
}

/// The remote write message a `Content-Type` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteProto {
    /// `prometheus.WriteRequest`.
    V1,
    /// `io.prometheus.write.v2.Request`.
    V2,
}

/// Parses a remote write `Content-Type`: `application/x-protobuf` with an optional
/// `proto=` parameter; empty means 1.0. The error is the 415 message.
pub fn parse_write_content_type(ct: &str) -> Result<WriteProto, String> {
    let ct = ct.trim();
    if ct.is_empty() {
        return Ok(WriteProto::V1);
    }
    let mut parts = ct.split(';');
    let media = parts.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case(PROTOBUF_CONTENT_TYPE) {
        return Err(format!("expected {PROTOBUF_CONTENT_TYPE} as the first (media) part, got {ct} content-type"));
    }
    for p in parts {
        let Some((k, v)) = p.split_once('=') else {
            return Err(format!("expected parameters to be key-values, got {p} in {ct} content-type"));
        };
        if k.trim() == "proto" {
            return match v.trim().trim_matches('"') {
                PROTO_V1 => Ok(WriteProto::V1),
                PROTO_V2 => Ok(WriteProto::V2),
                other => Err(format!(
                    "got {ct} content type; unknown remote write protobuf message {other}, supported: {PROTO_V1}, {PROTO_V2}"
                )),
            };
        }
    }
    Ok(WriteProto::V1)
}

fn v2_headers(r: &mut Response, s: &WriteStats) {
    let h = r.headers_mut();
    for (name, n) in
        [(SAMPLES_WRITTEN, s.samples), (HISTOGRAMS_WRITTEN, s.histograms), (EXEMPLARS_WRITTEN, s.exemplars)]
    {
        h.insert(name, HeaderValue::from(n));
    }
}

/// The outcome of the blocking part of a write.
enum Written {
    V1(Result<WriteStats, WriteError>),
    V2(WriteStats, Option<WriteError>),
}

fn decode_error(e: &CodecError) -> Response {
    text_error(400, &e.to_string())
}

async fn write_handler(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(db) = s.db() else { return crate::web::not_ready() };
    let proto = match parse_write_content_type(header_str(&headers, header::CONTENT_TYPE)) {
        Ok(p) => p,
        Err(msg) => return text_error(415, &msg),
    };
    let enc = header_str(&headers, header::CONTENT_ENCODING);
    if !enc.is_empty() && !enc.eq_ignore_ascii_case("snappy") {
        return text_error(
            415,
            &format!("{enc} encoding (compression) is not accepted by this server; only snappy is acceptable"),
        );
    }
    let remote: &'static Remote = state();
    let job = tokio::task::spawn_blocking(move || -> Result<Written, CodecError> {
        let max = remote.opts.max_decompressed_bytes;
        Ok(match proto {
            WriteProto::V1 => Written::V1(codec::with_write_request(&body, max, |req| {
                write::write_v1_flat(&db, remote, req, now_ms())
            })?),
            WriteProto::V2 => {
                let (stats, err) = write::write_v2(&db, remote, codec::decode_write_request_v2(&body, max)?, now_ms());
                Written::V2(stats, err)
            }
        })
    })
    .await;
    match job {
        Ok(Ok(Written::V1(Ok(_)))) => StatusCode::NO_CONTENT.into_response(),
        Ok(Ok(Written::V1(Err(e)))) => write_error(&e),
        Ok(Ok(Written::V2(stats, err))) => {
            let mut r = match err {
                None => StatusCode::NO_CONTENT.into_response(),
                Some(e) => write_error(&e),
            };
            v2_headers(&mut r, &stats);
            r
        }
        Ok(Err(e)) => decode_error(&e),
        Err(e) => text_error(500, &format!("write failed: {e}")),
    }
}

fn write_error(e: &WriteError) -> Response {
    if e.status() >= 500 {
        tracing::error!(error = %e, "remote write failed");
    } else {
        tracing::debug!(error = %e, "remote write refused");
    }
    text_error(e.status(), &e.to_string())
}

/// Decodes an OTLP body: protobuf, identity or gzip (bounded like snappy bodies).
fn decode_otlp(headers: &HeaderMap, body: &[u8], max: usize) -> Result<ExportMetricsServiceRequest, (u16, String)> {
    let ct = header_str(headers, header::CONTENT_TYPE);
    let media = ct.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case(PROTOBUF_CONTENT_TYPE) {
        return Err((415, format!("unsupported content type: {ct}, supported: [{PROTOBUF_CONTENT_TYPE}]")));
    }
    let enc = header_str(headers, header::CONTENT_ENCODING);
    let raw;
    let bytes: &[u8] = if enc.is_empty() || enc.eq_ignore_ascii_case("identity") {
        if body.len() > max {
            return Err((400, format!("body of {} bytes exceeds the limit of {max} bytes", body.len())));
        }
        body
    } else if enc.eq_ignore_ascii_case("gzip") {
        let mut out = Vec::new();
        let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
        flate2::read::GzDecoder::new(body)
            .take(limit)
            .read_to_end(&mut out)
            .map_err(|e| (400, format!("gzip: {e}")))?;
        if out.len() > max {
            return Err((400, format!("decompressed size exceeds the limit of {max} bytes")));
        }
        raw = out;
        &raw
    } else {
        return Err((415, format!("unsupported compression: {enc}. Only \"gzip\" or no compression supported")));
    };
    codec::decode_export_request(bytes).map_err(|e| (400, e.to_string()))
}

async fn otlp_handler(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(db) = s.db() else { return crate::web::not_ready() };
    let remote: &'static Remote = state();
    let lookback = s.shared().opts.engine.lookback_delta_ms;
    let job = tokio::task::spawn_blocking(move || {
        let req = decode_otlp(&headers, &body, remote.opts.max_decompressed_bytes)?;
        super::otlp::write_otlp(&db, remote, &req, lookback, now_ms()).map_err(|e| (e.status(), e.to_string()))
    })
    .await;
    match job {
        Ok(Ok(_)) => {
            let mut r = (StatusCode::OK, Vec::<u8>::new()).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROTOBUF_CONTENT_TYPE));
            r
        }
        Ok(Err((status, msg))) => {
            if status >= 500 {
                tracing::error!(error = %msg, "OTLP write failed");
            }
            text_error(status, &msg)
        }
        Err(e) => text_error(500, &format!("OTLP write failed: {e}")),
    }
}

/// A response body fed by the blocking producer of a streamed read: the first frame (already
/// received, to pick the status), then the rest as they come.
struct FrameStream {
    first: Option<Bytes>,
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

impl futures_core::Stream for FrameStream {
    type Item = Result<Bytes, std::io::Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(f) = self.first.take() {
            return Poll::Ready(Some(Ok(f)));
        }
        self.rx.poll_recv(cx)
    }
}

/// Frames buffered between the producer and the socket.
const FRAMES_IN_FLIGHT: usize = 4;

async fn read_handler(State(s): State<AppState>, body: Bytes) -> Response {
    let Some(db) = s.db() else { return crate::web::not_ready() };
    let remote: &'static Remote = state();
    // Beyond the concurrent-read limit, wait for a running read to finish; the slot is held
    // until the answer (or the last streamed frame) is produced.
    let slot = remote.read_gate.enter().await;
    let req = match codec::decode_read_request(&body, remote.opts.max_decompressed_bytes) {
        Ok(r) => r,
        Err(e) => return decode_error(&e),
    };
    let kind = match read::negotiate(&req.accepted_response_types) {
        Ok(k) => k,
        Err(e) => return text_error(e.status(), &e.to_string()),
    };
    tracing::debug!(response_type = kind.as_str_name(), queries = req.queries.len(), "remote read");
    use super::pb::prometheus::read_request::ResponseType;
    if kind == ResponseType::Samples {
        let job = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let _g = remote.metrics.read_started(false);
            read::read_samples(&db, &req, remote.opts.read_sample_limit).map(|r| codec::encode_read_response(&r))
        })
        .await;
        return match job {
            Ok(Ok(bytes)) => {
                let mut r = (StatusCode::OK, bytes).into_response();
                let h = r.headers_mut();
                h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROTOBUF_CONTENT_TYPE));
                h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("snappy"));
                r
            }
            Ok(Err(e)) => read_error(&e),
            Err(e) => text_error(500, &format!("remote read failed: {e}")),
        };
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(FRAMES_IN_FLIGHT);
    let producer = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let _g = remote.metrics.read_started(true);
        let res = read::stream_chunks(&db, &req, remote.opts.read_max_bytes_in_frame, |frame| {
            tx.blocking_send(Ok(Bytes::from(frame))).is_ok()
        });
        if let Err(e) = res {
            // Before the first frame this becomes the status; later it cuts the stream short.
            let _ = tx.blocking_send(Err(std::io::Error::other(e)));
        }
    });
    let first = match rx.recv().await {
        Some(Err(e)) => {
            let status = e.get_ref().and_then(|inner| inner.downcast_ref::<ReadError>()).map_or(500, ReadError::status);
            return read_error_text(status, &e.to_string());
        }
        Some(Ok(frame)) => Some(frame),
        None => {
            if let Err(e) = producer.await {
                return text_error(500, &format!("remote read failed: {e}"));
            }
            None
        }
    };
    let mut r = Response::new(Body::from_stream(FrameStream { first, rx }));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(STREAMED_CONTENT_TYPE));
    r
}

fn read_error(e: &ReadError) -> Response {
    read_error_text(e.status(), &e.to_string())
}

fn read_error_text(status: u16, msg: &str) -> Response {
    if status >= 500 {
        tracing::error!(error = %msg, "remote read failed");
    }
    text_error(status, msg)
}

#[cfg(test)]
mod tests;
