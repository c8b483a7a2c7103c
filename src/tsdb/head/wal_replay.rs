//! Rebuilding the head from the WAL.

use super::{FastMap, Head, MemSeries};
use crate::tsdb::exemplar::Exemplar;
use crate::tsdb::wal::record::Record;
use std::sync::Arc;

/// Replay state: WAL references mapped to head series (they can differ when a series was
/// logged twice under different references).
#[derive(Default)]
pub(crate) struct Replayer {
    refs: FastMap<u64, Arc<MemSeries>>,
    /// Samples whose series record was never seen.
    pub(crate) unknown_refs: u64,
    /// Samples read.
    pub(crate) samples: u64,
    /// Exemplars read.
    pub(crate) exemplars: u64,
}

impl Replayer {
    /// Applies one WAL record to `head`. Samples older than the head's persisted time are
    /// skipped (they are already in blocks).
    pub(crate) fn apply(&mut self, head: &Head, rec: Record) {
        match rec {
            Record::Series(series) => {
                for s in series {
                    let hash = s.labels.stable_hash();
                    let (ms, _) = head.create(hash, &s.labels, Some(s.series_ref));
                    self.refs.insert(s.series_ref, ms);
                }
            }
            Record::Samples(samples) => {
                let min_valid = head.min_valid_time.load(std::sync::atomic::Ordering::Relaxed);
                let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
                for s in samples {
                    self.samples += 1;
                    // Below persisted time a sample is only kept as out-of-order data.
                    let ooo = s.t < min_valid;
                    if ooo && head.opts.ooo_window == 0 {
                        continue;
                    }
                    let Some(series) = self.refs.get(&s.series_ref) else {
                        self.unknown_refs += 1;
                        continue;
                    };
                    if head.apply(series, s.t, s.v, ooo) {
                        mint = mint.min(s.t);
                        maxt = maxt.max(s.t);
                    }
                }
                if mint <= maxt {
                    head.update_time_bounds(mint, maxt);
                }
            }
            Record::Tombstones(stones) => {
                let mut ts = head.tombstones.write();
                for st in stones {
                    if let Some(ms) = self.refs.get(&st.series_ref) {
                        ts.add(ms.series_ref, st.mint, st.maxt);
                    }
                }
            }
            Record::Exemplars(exemplars) => {
                self.exemplars += exemplars.len() as u64;
                if !head.exemplars_enabled() {
                    return;
                }
                let min_valid = head.min_valid_time.load(std::sync::atomic::Ordering::Relaxed);
                let batch: Vec<_> = {
                    let syms = head.symbols.read();
                    exemplars
                        .into_iter()
                        .filter(|e| e.t >= min_valid)
                        .filter_map(|e| {
                            let series = self.refs.get(&e.series_ref)?;
                            let ex = Exemplar { labels: e.labels, value: e.v, ts: e.t, has_ts: true };
                            Some((series.labels(&syms), ex))
                        })
                        .collect()
                };
                // As Prometheus, replay adds through the normal path: out-of-order ones
                // (not expected in a WAL the head wrote) are skipped.
                head.exemplars.add_batch(batch);
            }
            Record::Unknown(_) => {}
        }
    }
}
