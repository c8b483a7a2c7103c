//! WAL record encodings: series, samples, tombstones (exemplars and metadata reserved).
//!
//! Each encoded record starts with a one-byte [`RecordType`].

use crate::model::Labels;

/// Record type bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordType {
    /// Series definitions.
    Series = 1,
    /// Float samples.
    Samples = 2,
    /// Deletion intervals.
    Tombstones = 3,
    /// Reserved for exemplars.
    Exemplars = 4,
    /// Reserved for metadata.
    Metadata = 5,
}

/// A series definition: the head's reference for a label set.
#[derive(Clone, Debug, PartialEq)]
pub struct RefSeries {
    /// Head series reference.
    pub series_ref: u64,
    /// Its labels.
    pub labels: Labels,
}

/// A sample of a series by reference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RefSample {
    /// Head series reference.
    pub series_ref: u64,
    /// Timestamp, ms.
    pub t: i64,
    /// Value (bit-exact).
    pub v: f64,
}

/// A deletion of `[mint, maxt]` from a series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefTombstone {
    /// Head series reference.
    pub series_ref: u64,
    /// First deleted timestamp, inclusive.
    pub mint: i64,
    /// Last deleted timestamp, inclusive.
    pub maxt: i64,
}

/// A decoded record.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// Series definitions.
    Series(Vec<RefSeries>),
    /// Samples.
    Samples(Vec<RefSample>),
    /// Tombstones.
    Tombstones(Vec<RefTombstone>),
    /// A record of a type this version does not read (skipped on replay).
    Unknown(u8),
}

/// A record whose payload does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid wal record: {0}")]
pub struct RecordError(pub String);

/// Appends an encoded series record to `buf`.
pub fn encode_series(_series: &[RefSeries], _buf: &mut Vec<u8>) {}

/// Appends an encoded samples record to `buf`.
pub fn encode_samples(_samples: &[RefSample], _buf: &mut Vec<u8>) {}

/// Appends an encoded tombstones record to `buf`.
pub fn encode_tombstones(_stones: &[RefTombstone], _buf: &mut Vec<u8>) {}

/// Decodes one record. Never panics on any input.
pub fn decode(_bytes: &[u8]) -> Result<Record, RecordError> {
    Err(RecordError("unimplemented".into()))
}
