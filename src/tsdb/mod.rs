//! The storage engine: a WAL-backed head of Gorilla chunks, persisted as immutable blocks.
//!
//! Principal types: [`Db`] (open, append, query, compact, retention), [`Appender`],
//! [`Querier`]. Submodules: [`chunk`] (encodings), [`wal`], [`block`], [`tombstones`].

pub mod block;
pub mod chunk;
pub mod tombstones;
pub mod wal;
