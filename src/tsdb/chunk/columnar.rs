//! The persisted (block) sample encoding: separate timestamp and value columns.
//!
//! See `docs/format/chunks.md`.

use super::ChunkError;

/// Appends the encoding of `samples` (strictly increasing timestamps) to `out`.
pub fn encode(_samples: &[(i64, f64)], _out: &mut Vec<u8>) {}

/// Decodes one encoded run, appending its samples to `out`. Never panics on any input.
pub fn decode(_bytes: &[u8], _out: &mut Vec<(i64, f64)>) -> Result<(), ChunkError> {
    Ok(())
}
