//! Sample encodings.
//!
//! - [`XorChunk`]: the head's Gorilla chunk (delta-of-delta timestamps, XOR'd floats), the same
//!   bit layout as Prometheus's XOR chunk. Appendable, cut at [`MAX_SAMPLES_PER_CHUNK`].
//! - [`columnar`]: the persisted block encoding: timestamps and values as separate columns,
//!   dense, for a general compressor to work on.
//!
//! Formats: `docs/format/xor.md` and `docs/format/columnar.md`.

mod bstream;
pub mod columnar;
#[doc(hidden)]
pub mod testutil;
mod xor;

pub use xor::{XorChunk, XorIterator};

/// The head cuts a new chunk after this many samples (Prometheus: 120).
pub const MAX_SAMPLES_PER_CHUNK: usize = 120;

/// A chunk whose bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// The bytes end before the declared samples do.
    #[error("chunk truncated: {0}")]
    Truncated(&'static str),
    /// The bytes decode to something impossible (e.g. timestamps not increasing).
    #[error("chunk corrupt: {0}")]
    Corrupt(&'static str),
}
