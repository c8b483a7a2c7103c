//! Wiring: starts the storage engine (and, as they land, the scrape manager, rule engine and
//! HTTP API), and stops everything gracefully on SIGTERM or SIGINT.

pub mod units;

use crate::tsdb::{Db, Options};
use std::path::PathBuf;

/// What the server runs with (from the command line).
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// `--storage.tsdb.path`.
    pub data_dir: PathBuf,
    /// Storage engine options.
    pub tsdb: Options,
}

/// Opens the storage engine and runs until SIGTERM/SIGINT, then closes it cleanly (WAL
/// fsynced; the head is rebuilt from it on the next start).
pub fn run(opts: ServerOptions) -> Result<(), crate::tsdb::Error> {
    let db = Db::open(&opts.data_dir, opts.tsdb)?;
    tracing::info!(dir = %opts.data_dir.display(), series = db.head().num_series(), "storage engine ready");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(crate::tsdb::error_io(&opts.data_dir))?;
    rt.block_on(wait_for_shutdown());
    tracing::info!("shutting down");
    db.close()
}

async fn wait_for_shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
