//! The storage engine's error type.

use crate::model::LabelsError;
use crate::tsdb::block::BlockError;
use crate::tsdb::wal::WalError;
use std::path::PathBuf;

/// Why an append was refused. Each reason is counted separately in the metrics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The label set is invalid (duplicate or empty names, or no labels).
    #[error("invalid labels: {0}")]
    InvalidLabels(#[from] LabelsError),
    /// The sample is older than the newest sample of its series (and outside the
    /// out-of-order window).
    #[error("out of order sample")]
    OutOfOrder,
    /// The sample is older than the head accepts (already persisted time).
    #[error("out of bounds")]
    OutOfBounds,
    /// Same timestamp as the newest sample of the series, different value.
    #[error("duplicate sample for timestamp")]
    DuplicateTimestamp,
    /// The sample is older than the out-of-order window allows.
    #[error("too old sample")]
    TooOld,
    /// No series with that reference exists.
    #[error("unknown series reference {0}")]
    UnknownRef(u64),
}

impl AppendError {
    /// The reason label used in `cairn_tsdb_append_rejected_total{reason=...}`.
    pub fn reason(&self) -> &'static str {
        match self {
            AppendError::InvalidLabels(_) => "invalid_labels",
            AppendError::OutOfOrder => "out_of_order",
            AppendError::OutOfBounds => "out_of_bounds",
            AppendError::DuplicateTimestamp => "duplicate_timestamp",
            AppendError::TooOld => "too_old",
            AppendError::UnknownRef(_) => "unknown_ref",
        }
    }
}

/// A storage engine failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An append was refused.
    #[error(transparent)]
    Append(#[from] AppendError),
    /// The WAL failed.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// A block failed.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// Another I/O failure.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The data directory is locked by another process.
    #[error("data directory {0} is in use by another process")]
    Locked(PathBuf),
    /// The options are invalid.
    #[error("invalid storage options: {0}")]
    InvalidOptions(String),
    /// The database is closed.
    #[error("database is closed")]
    Closed,
}

/// Result alias for the storage engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Wraps an I/O error with its path.
pub fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
