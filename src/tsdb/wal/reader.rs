//! Replay: the newest checkpoint, then every later segment, cutting a torn or corrupt tail.

use super::record::Record;
use super::segment::{self, BadFrame, checkpoint_name, io_err, list_dir, read_segment, segment_name, sync_dir};
use super::{ReplayProgress, ReplayStats, WalError};
use std::fs::OpenOptions;
use std::path::Path;
use std::sync::atomic::Ordering;

/// Reads the latest checkpoint and then every later segment of `dir` in order, handing each
/// decoded record to `f`. A torn or corrupt record ends the replay: the WAL is cut back to the
/// last good record (the segment truncated, later segments removed), with a warning logged.
/// Never panics on any file content.
///
/// Details (see `docs/format/wal.md`): a missing `dir` replays nothing; leftover
/// `checkpoint.*.tmp` directories are deleted; segments numbered at or below the newest
/// checkpoint are skipped; a gap in the numbering of later segments is a corruption cut at
/// the gap; records of unknown type are skipped and counted. Damage inside the checkpoint is
/// not cut (its data exists nowhere else): it returns [`WalError::Corrupt`].
pub fn replay(dir: &Path, f: &mut dyn FnMut(Record)) -> Result<ReplayStats, WalError> {
    replay_with_progress(dir, &ReplayProgress::default(), f)
}

/// [`replay`], reporting which segment it is reading in `progress` (what
/// `/api/v1/status/walreplay` shows).
pub fn replay_with_progress(
    dir: &Path,
    progress: &ReplayProgress,
    f: &mut dyn FnMut(Record),
) -> Result<ReplayStats, WalError> {
    replay_from(dir, progress, 0, f)
}

/// Whether the WAL in `dir` still holds everything written from segment `first` on, so a
/// head restored from a snapshot covering the segments before `first` can be completed by
/// [`replay_from`]: segment `first` exists and no checkpoint at or after it was taken (a
/// checkpoint means the head was truncated after the snapshot).
pub fn can_replay_from(dir: &Path, first: u32) -> Result<bool, WalError> {
    let listing = list_dir(dir)?;
    Ok(listing.segments.contains(&first) && listing.checkpoints.last().is_none_or(|&cp| cp < first))
}

/// [`replay_with_progress`] skipping what comes before segment `first`: checkpoints older
/// than it and earlier segments (0 replays everything).
pub fn replay_from(
    dir: &Path,
    progress: &ReplayProgress,
    first: u32,
    f: &mut dyn FnMut(Record),
) -> Result<ReplayStats, WalError> {
    let mut stats = ReplayStats::default();
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(stats),
        Err(e) => return Err(io_err(dir, e)),
        Ok(_) => {}
    }
    let listing = list_dir(dir)?;
    for tmp in &listing.tmp {
        tracing::info!(dir = %tmp.display(), "wal: deleting unfinished checkpoint");
        segment::remove_dir_all(tmp)?;
    }
    let mut buf = Vec::new();
    let mut deliver = |rec: Record, stats: &mut ReplayStats| match rec {
        Record::Unknown(_) => stats.unknown_records += 1,
        rec => {
            stats.records += 1;
            f(rec);
        }
    };

    let after = listing.checkpoints.last().copied().filter(|&cp| first == 0 || cp >= first);
    if let Some(cp) = after {
        let cdir = dir.join(checkpoint_name(cp));
        let segs = list_dir(&cdir)?.segments;
        for (i, &s) in segs.iter().enumerate() {
            if s as usize != i {
                return Err(WalError::Corrupt {
                    path: cdir,
                    offset: 0,
                    msg: format!("checkpoint segment {i} missing"),
                });
            }
            let path = cdir.join(segment_name(s));
            if let Some(bad) = read_segment(&path, &mut buf, &mut |r| deliver(r, &mut stats))? {
                return Err(WalError::Corrupt { path, offset: bad.offset, msg: bad.msg });
            }
        }
    }

    let segs: Vec<u32> =
        listing.segments.into_iter().filter(|&s| s >= first && after.is_none_or(|cp| s > cp)).collect();
    if let (Some(&first), Some(&last)) = (segs.first(), segs.last()) {
        progress.start(first, last);
    }
    if let (Some(cp), Some(&first)) = (after, segs.first())
        && u64::from(first) != u64::from(cp) + 1
    {
        tracing::warn!(checkpoint = cp, first, "wal: segments missing after the checkpoint");
    }
    for (i, &s) in segs.iter().enumerate() {
        if let Some(prev) = i.checked_sub(1).map(|p| segs[p])
            && s != prev + 1
        {
            // `prev + 1` cannot overflow: `s > prev`, so `prev < u32::MAX`.
            tracing::warn!(dir = %dir.display(), missing = prev + 1, "wal: gap in segments, cutting");
            remove_segments(dir, &segs[i..])?;
            stats.corruptions = 1;
            stats.cut_at = Some((prev + 1, 0));
            break;
        }
        progress.current.store(i64::from(s), Ordering::Relaxed);
        let path = dir.join(segment_name(s));
        let Some(BadFrame { offset, msg }) = read_segment(&path, &mut buf, &mut |r| deliver(r, &mut stats))? else {
            continue;
        };
        tracing::warn!(
            segment = s,
            offset,
            reason = %msg,
            dir = %dir.display(),
            "wal: corrupt or torn record, cutting the wal here"
        );
        let file = OpenOptions::new().write(true).open(&path).map_err(|e| io_err(&path, e))?;
        file.set_len(offset).and_then(|()| file.sync_all()).map_err(|e| io_err(&path, e))?;
        remove_segments(dir, &segs[i + 1..])?;
        stats.corruptions = 1;
        stats.cut_at = Some((s, offset));
        break;
    }
    progress.done();
    Ok(stats)
}

/// Deletes segments `segs` of `dir` and makes the deletion durable, so a later segment cannot
/// come back after a crash and be replayed behind the cut.
fn remove_segments(dir: &Path, segs: &[u32]) -> Result<(), WalError> {
    for &s in segs {
        segment::remove_file(&dir.join(segment_name(s)))?;
    }
    sync_dir(dir)
}
