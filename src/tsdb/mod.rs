//! The storage engine: a WAL-backed head of Gorilla chunks, persisted as immutable blocks.
//!
//! Principal types: [`Db`] (open, append, query, compact, retention), [`Appender`],
//! [`Querier`], [`ExemplarStorage`]. Submodules: [`chunk`] (encodings), [`wal`], [`block`],
//! [`tombstones`], [`exemplar`].

pub mod block;
pub mod chunk;
mod compact;
mod db;
mod error;
pub mod exemplar;
pub mod head;
pub mod metrics;
mod postings;
mod querier;
pub mod tombstones;
pub(crate) mod varint;
pub mod wal;

pub use db::{Db, Options};
pub use error::{AppendError, Error, Result, io_err as error_io};
pub use exemplar::{Exemplar, ExemplarError, ExemplarSeries, ExemplarStorage};
pub use head::{Appender, Head, HeadOptions};
pub use metrics::Metrics;
pub use querier::{Querier, Series, SeriesIterator};
pub use wal::SyncPolicy;
