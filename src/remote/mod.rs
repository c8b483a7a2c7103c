//! Remote storage: the remote-write receiver (Prometheus remote write 1.0 and 2.0, OTLP
//! metrics), the remote-write sender that tails the WAL, and remote read (server and client).
//!
//! SKELETON: filled in by the remote helpers.

pub mod fanout;
pub mod sender;
