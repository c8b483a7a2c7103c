//! Checkpoints: the still-needed part of old segments, rewritten so the segments can go.

use super::record::{self, Record, RefExemplar, RefSample, RefSeries, RefTombstone};
use super::segment::{self, checkpoint_name, list_dir, read_segment, segment_name, sync_dir};
use super::{CheckpointStats, SyncPolicy, Wal, WalError, WalOptions};
use std::path::Path;

/// Series per record written to a checkpoint.
const SERIES_PER_RECORD: usize = 5_000;
/// Samples per record written to a checkpoint.
const SAMPLES_PER_RECORD: usize = 10_000;
/// Tombstones per record written to a checkpoint.
const TOMBSTONES_PER_RECORD: usize = 10_000;
/// Exemplars per record written to a checkpoint.
const EXEMPLARS_PER_RECORD: usize = 10_000;

/// Writes `checkpoint.<to>` from the previous checkpoint and segments `..=to`, keeping series
/// for which `keep(ref)` holds, and their samples at or after `mint` and tombstones.
/// Crash-safe: written under a `.tmp` name, fsynced, renamed; older checkpoints are removed.
/// The caller then calls [`Wal::truncate_before`]`(to + 1)`.
///
/// Exemplars are kept like samples. Tombstones are kept when `keep(ref)` holds and they end
/// at or after `mint`; records of
/// unknown type are dropped. Output records are batched (up to 5,000 series or 10,000
/// samples or tombstones each), and every series record is written before the samples and
/// tombstones that follow it in the source, so replay meets a series before its samples.
///
/// Segment `to` must be closed (not the one being written). Damage in any source (the old
/// checkpoint or a segment) fails with [`WalError::Corrupt`] and leaves the WAL unchanged;
/// [`super::replay`] has already cut torn tails on open. If a checkpoint numbered `to` or
/// later already exists, nothing is done and empty stats are returned.
pub fn checkpoint(dir: &Path, to: u32, keep: &dyn Fn(u64) -> bool, mint: i64) -> Result<CheckpointStats, WalError> {
    let listing = list_dir(dir)?;
    let prev = listing.checkpoints.last().copied();
    if prev.is_some_and(|p| p >= to) {
        return Ok(CheckpointStats::default());
    }
    let tmp = dir.join(format!("{}.tmp", checkpoint_name(to)));
    segment::remove_dir_all(&tmp)?;
    let opts = WalOptions { sync: SyncPolicy::OnSegmentClose, ..WalOptions::default() };
    let mut out = Batcher::new(Wal::open(&tmp, opts)?);

    let mut sources = Vec::new();
    if let Some(p) = prev {
        let cdir = dir.join(checkpoint_name(p));
        sources.extend(list_dir(&cdir)?.segments.iter().map(|&s| cdir.join(segment_name(s))));
    }
    let in_range = |s: &&u32| prev.is_none_or(|p| **s > p) && **s <= to;
    sources.extend(listing.segments.iter().filter(in_range).map(|&s| dir.join(segment_name(s))));

    let mut buf = Vec::new();
    for path in sources {
        let bad = read_segment(&path, &mut buf, &mut |rec| out.add(rec, keep, mint))?;
        if let Some(e) = out.err.take() {
            return Err(e);
        }
        if let Some(bad) = bad {
            return Err(WalError::Corrupt { path, offset: bad.offset, msg: bad.msg });
        }
    }
    let (wal, stats) = out.finish()?;
    wal.close()?;
    sync_dir(&tmp)?;
    let dest = dir.join(checkpoint_name(to));
    std::fs::rename(&tmp, &dest).map_err(|e| segment::io_err(&dest, e))?;
    sync_dir(dir)?;
    for old in listing.checkpoints {
        segment::remove_dir_all(&dir.join(checkpoint_name(old)))?;
    }
    Ok(stats)
}

/// Filters records and writes them out in batches.
struct Batcher {
    wal: Wal,
    series: Vec<RefSeries>,
    samples: Vec<RefSample>,
    stones: Vec<RefTombstone>,
    exemplars: Vec<RefExemplar>,
    enc: Vec<u8>,
    stats: CheckpointStats,
    /// The first write error; once set, further records are ignored.
    err: Option<WalError>,
}

impl Batcher {
    fn new(wal: Wal) -> Self {
        Batcher {
            wal,
            series: Vec::new(),
            samples: Vec::new(),
            stones: Vec::new(),
            exemplars: Vec::new(),
            enc: Vec::new(),
            stats: CheckpointStats::default(),
            err: None,
        }
    }

    fn add(&mut self, rec: Record, keep: &dyn Fn(u64) -> bool, mint: i64) {
        if self.err.is_some() {
            return;
        }
        let res = match rec {
            Record::Series(s) => {
                let before = self.series.len();
                self.series.extend(s.into_iter().filter(|s| keep(s.series_ref)));
                self.stats.series += (self.series.len() - before) as u64;
                self.flush_series_if(SERIES_PER_RECORD)
            }
            Record::Samples(s) => {
                let before = self.samples.len();
                self.samples.extend(s.into_iter().filter(|s| keep(s.series_ref) && s.t >= mint));
                self.stats.samples += (self.samples.len() - before) as u64;
                self.flush_samples_if(SAMPLES_PER_RECORD)
            }
            Record::Tombstones(s) => {
                let before = self.stones.len();
                self.stones.extend(s.into_iter().filter(|s| keep(s.series_ref) && s.maxt >= mint));
                self.stats.tombstones += (self.stones.len() - before) as u64;
                self.flush_stones_if(TOMBSTONES_PER_RECORD)
            }
            Record::Exemplars(e) => {
                self.exemplars.extend(e.into_iter().filter(|e| keep(e.series_ref) && e.t >= mint));
                self.flush_exemplars_if(EXEMPLARS_PER_RECORD)
            }
            Record::Unknown(_) => Ok(()),
        };
        if let Err(e) = res {
            self.err = Some(e);
        }
    }

    /// Writes pending series if there are at least `min` (and at least one).
    fn flush_series_if(&mut self, min: usize) -> Result<(), WalError> {
        if self.series.is_empty() || self.series.len() < min {
            return Ok(());
        }
        self.enc.clear();
        record::encode_series(&self.series, &mut self.enc);
        self.series.clear();
        self.wal.log(&[&self.enc])
    }

    /// Writes pending samples if there are at least `min`, pending series first.
    fn flush_samples_if(&mut self, min: usize) -> Result<(), WalError> {
        if self.samples.is_empty() || self.samples.len() < min {
            return Ok(());
        }
        self.flush_series_if(1)?;
        self.enc.clear();
        record::encode_samples(&self.samples, &mut self.enc);
        self.samples.clear();
        self.wal.log(&[&self.enc])
    }

    /// Writes pending tombstones if there are at least `min`, pending series first.
    fn flush_stones_if(&mut self, min: usize) -> Result<(), WalError> {
        if self.stones.is_empty() || self.stones.len() < min {
            return Ok(());
        }
        self.flush_series_if(1)?;
        self.enc.clear();
        record::encode_tombstones(&self.stones, &mut self.enc);
        self.stones.clear();
        self.wal.log(&[&self.enc])
    }

    /// Writes pending exemplars if there are at least `min`, pending series first.
    fn flush_exemplars_if(&mut self, min: usize) -> Result<(), WalError> {
        if self.exemplars.is_empty() || self.exemplars.len() < min {
            return Ok(());
        }
        self.flush_series_if(1)?;
        self.enc.clear();
        record::encode_exemplars(&self.exemplars, &mut self.enc);
        self.exemplars.clear();
        self.wal.log(&[&self.enc])
    }

    fn finish(mut self) -> Result<(Wal, CheckpointStats), WalError> {
        if let Some(e) = self.err.take() {
            return Err(e);
        }
        self.flush_series_if(1)?;
        self.flush_samples_if(1)?;
        self.flush_stones_if(1)?;
        self.flush_exemplars_if(1)?;
        Ok((self.wal, self.stats))
    }
}
