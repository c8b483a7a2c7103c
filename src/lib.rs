//! Cairn: a drop-in Prometheus replacement in one binary.
//!
//! Modules follow `ARCHITECTURE.md`: [`model`] (labels, samples, matchers) and [`tsdb`] (the
//! storage engine), [`promql`], [`web`] (the HTTP API) and [`server`] (wiring).

#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod discovery;
pub mod model;
pub mod promql;
pub mod relabel;
pub mod remote;
pub mod rules;
pub mod scrape;
pub mod server;
pub mod tsdb;
pub mod web;
