//! Remote storage: the remote-write receiver (Prometheus remote write 1.0 and 2.0), the OTLP
//! metrics receiver, the remote-read server, the remote-write sender that tails the WAL, and
//! remote reads merged into local queries.
//!
//! Principal items:
//! - [`pb`]: the protobuf messages, generated from Cairn's own `proto/` files and committed.
//! - [`codec`]: snappy with a bound checked before allocating, request/response encoding,
//!   streamed-read frames, XOR chunk re-encoding (shared with the sender and the client).
//! - [`mod@write`]: `POST /api/v1/write` semantics ([`write::write_v1`], [`write::write_v2()`]).
//! - [`otlp`]: `POST /api/v1/otlp/v1/metrics`, translated as Prometheus 3 does
//!   ([`otlp::translate`]; the mapping is documented there).
//! - [`read`]: `POST /api/v1/read` ([`read::read_samples`], [`read::stream_chunks`]).
//! - [`http`]: the axum routes ([`http::routes`]).
//! - [`sender`]: `remote_write` queues following the WAL ([`sender::QueueManager`]).
//! - [`fanout`]: local storage plus `remote_read` endpoints as one `Queryable`.
//! - [`Remote`]: what the endpoints share: [`Options`], [`metrics::Metrics`] and the
//!   [`metadata::MetadataStore`]; one process-wide instance behind [`state`], with
//!   [`metadata()`] for `/api/v1/metadata` and [`metrics()`] for `/metrics`.
//!
//! Every way in ends at one `tsdb::Appender` per request, run on tokio's blocking pool; every
//! way out starts at one `tsdb::Querier`.

pub mod codec;
pub mod fanout;
pub mod flat_v1;
pub mod gate;
pub mod http;
pub mod metadata;
pub mod metrics;
pub mod otlp;
mod otlp_names;
pub mod pb;
pub mod read;
pub mod read_client;
pub mod sender;
pub mod write;

use std::sync::OnceLock;

/// Limits of the remote endpoints.
#[derive(Clone, Debug)]
pub struct Options {
    /// Largest decompressed request body (snappy or gzip) accepted.
    pub max_decompressed_bytes: usize,
    /// Samples more than this far (ms) ahead of the clock are out of bounds (Prometheus: 10m).
    pub max_ahead_ms: i64,
    /// Largest number of samples one `SAMPLES` remote read answers
    /// (`--storage.remote.read-sample-limit`, 5e7); 0 means no limit.
    pub read_sample_limit: usize,
    /// Bound of one streamed remote read frame (`--storage.remote.read-max-bytes-in-frame`).
    pub read_max_bytes_in_frame: usize,
    /// Remote reads served at once; more wait (`--storage.remote.read-concurrent-limit`,
    /// 10; 0 means no limit).
    pub read_concurrent_limit: usize,
    /// Error messages listed in one 400 answer before the rest are summarised.
    pub max_listed_errors: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_decompressed_bytes: codec::DEFAULT_MAX_DECOMPRESSED_BYTES,
            max_ahead_ms: 10 * 60 * 1000,
            read_sample_limit: 50_000_000,
            read_max_bytes_in_frame: codec::DEFAULT_MAX_BYTES_IN_FRAME,
            read_concurrent_limit: 10,
            max_listed_errors: 20,
        }
    }
}

/// What the remote endpoints share.
#[derive(Debug, Default)]
pub struct Remote {
    /// Limits.
    pub opts: Options,
    /// Counters.
    pub metrics: metrics::Metrics,
    /// Metadata received.
    pub metadata: metadata::MetadataStore,
    /// Bounds concurrent remote reads.
    pub read_gate: gate::Gate,
}

impl Remote {
    /// A fresh instance (tests; the server uses [`state`]).
    pub fn new(opts: Options) -> Remote {
        Remote { read_gate: gate::Gate::new(opts.read_concurrent_limit), opts, ..Remote::default() }
    }
}

static STATE: OnceLock<Remote> = OnceLock::new();

/// Sets the process-wide instance's limits (from the command line). Must run before the
/// first request; returns false (and changes nothing) if the instance already exists.
pub fn configure(opts: Options) -> bool {
    STATE.set(Remote::new(opts)).is_ok()
}

/// The process-wide instance the HTTP routes use.
pub fn state() -> &'static Remote {
    STATE.get_or_init(Remote::default)
}

/// Metadata received by remote write and OTLP, for `/api/v1/metadata`.
pub fn metadata() -> &'static metadata::MetadataStore {
    &state().metadata
}

/// The remote endpoints' counters, for `/metrics` ([`metrics::Metrics::render`]).
pub fn metrics() -> &'static metrics::Metrics {
    &state().metrics
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
