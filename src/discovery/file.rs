//! Placeholder.

use super::provider::Sink;

/// Runs the provider until aborted.
pub(crate) async fn run(cfg: super::FileSdConfig, sink: Sink) {
    let _ = (cfg, sink);
}
